//! `validate`: proves, with the granted token, that the APIs behind download-subscriptions
//! (members of each selected group, reading users) and download-activity (CQL search)
//! answer, without ever writing (reclaim is not checked, as in the reference guide). All
//! checks go out in one `send_all` batch; a failed check carries its mapped error, so a
//! missing scope is named (`forbidden` with `missing-scope`). The call itself fails only
//! when the config is unusable (no cloud id).

use crate::activity::ACTIVITY_TYPES;
use crate::api;
use crate::errors::{self, Endpoint, SpokeError};
use crate::http::{Http, Request};
use crate::manifest::CLOUD_ID;
use crate::model::{Config, Process, ValidationCheck};

/// Checks the config's cloud id: present, and only letters, digits and dashes.
pub fn check_cloud_id(config: &Config) -> Result<&str, SpokeError> {
    let id = config
        .value(CLOUD_ID)
        .ok_or_else(|| SpokeError::InvalidConfig(format!("the {CLOUD_ID} field is missing")))?;
    if id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Ok(id)
    } else {
        Err(SpokeError::InvalidConfig(format!(
            "the {CLOUD_ID} {id:?} is not a cloud id (letters, digits and dashes)"
        )))
    }
}

/// Runs the checks for `processes` (the profile's enabled processes; reclaim is never
/// checked, and download-subscriptions always is, since a profile cannot turn it off).
pub fn validate(
    http: &dyn Http,
    config: &Config,
    processes: &[Process],
) -> Result<Vec<ValidationCheck>, SpokeError> {
    check_cloud_id(config)?;
    let groups = config.sorted_groups();
    let mut planned: Vec<(Process, String, Endpoint, Request)> = Vec::new();
    if groups.is_empty() {
        planned.push((
            Process::DownloadSubscriptions,
            "list groups".into(),
            Endpoint::ListGroups,
            api::list_groups(0, 1),
        ));
    }
    for g in &groups {
        planned.push((
            Process::DownloadSubscriptions,
            format!("list members of selected group {g}"),
            Endpoint::GroupMembers,
            api::group_members(g, 0, 1, false),
        ));
    }
    planned.push((
        Process::DownloadSubscriptions,
        "read users (current user)".into(),
        Endpoint::CurrentUser,
        api::current_user(),
    ));
    planned.push((
        Process::DownloadActivity,
        "search content with CQL".into(),
        Endpoint::Search,
        api::search(
            &format!("{ACTIVITY_TYPES} order by lastmodified desc"),
            1,
            &[],
        ),
    ));
    planned.retain(|(process, ..)| {
        *process == Process::DownloadSubscriptions || processes.contains(process)
    });
    let requests = planned.iter().map(|(_, _, _, r)| r.clone()).collect();
    let outcomes = http.send_all(requests);
    let mut checks: Vec<ValidationCheck> = planned
        .into_iter()
        .zip(outcomes)
        .map(
            |((process, description, endpoint, _), outcome)| ValidationCheck {
                process,
                description,
                outcome: errors::check(endpoint, outcome).map(|_| ()),
            },
        )
        .collect();
    if groups.is_empty() {
        checks.push(ValidationCheck {
            process: Process::DownloadSubscriptions,
            description: "product-access groups are selected".into(),
            outcome: Err(SpokeError::InvalidConfig(
                "no product-access groups are selected; choose them from list-groups".into(),
            )),
        });
    }
    Ok(checks)
}
