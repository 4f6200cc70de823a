//! `plan-reclaim`, `apply-reclaim` and `restore`: taking a Confluence seat back by removing
//! the user from every selected product-access group they are in, and putting exactly those
//! memberships back. The plan reads the user's memberships (`/user/memberof`, no write) and
//! names the selected groups they are in; apply removes exactly those (`DELETE
//! userByGroupId`, one call per group), treating Confluence's 204 for a non-member and a 404
//! for a group that is gone as done, so applying a plan again after an interruption finishes
//! the rest; restore skips groups the user is already back in. Should a removal fail
//! halfway, apply returns the error and leaves the rest to the engine, which keeps the plan
//! and applies it again or restores it. A 403 means the consenting user is not a site admin.
//! Admin groups (`site-admins`, `*-admins`, see [`crate::groups::is_protected`]) are left out
//! of a plan unless the profile's `reclaim-admin-groups` names them; a seat held only through
//! them is refused with that reason. Writes carry `X-Atlassian-Token: no-check`; a 201 or 204
//! with an empty body (whatever content type it declares) is success.

use std::collections::BTreeSet;

use crate::api::{self, GroupArray, PAGE_LIMIT};
use crate::errors::{self, Endpoint, SpokeError};
use crate::http::Http;
use crate::manifest::PRODUCT_ID;
use crate::model::{Config, Group, SeatChange, SubscriptionRef};

/// The config field naming (by id or name, comma-separated) the admin groups a reclaim may
/// remove members from; without it `site-admins` and `*-admins` are never touched.
pub const RECLAIM_ADMIN_GROUPS: &str = "reclaim-admin-groups";

/// The `kind` of the one change this spoke makes.
pub const MEMBERSHIP_REMOVED: &str = "group-membership-removed";

fn user_id(subscription: &SubscriptionRef) -> Result<&str, SpokeError> {
    if subscription.identifier != PRODUCT_ID {
        return Err(SpokeError::InvalidConfig(format!(
            "unknown subscription identifier {:?}; this spoke reports {PRODUCT_ID:?}",
            subscription.identifier
        )));
    }
    let id = subscription.external_user_id.trim();
    if id.is_empty() {
        return Err(SpokeError::InvalidConfig("empty external user id".into()));
    }
    Ok(id)
}

/// All groups the user is in.
fn memberships(http: &dyn Http, account_id: &str) -> Result<Vec<Group>, SpokeError> {
    let first: GroupArray = api::fetch(
        http,
        Endpoint::UserMemberOf,
        api::user_memberof(account_id, 0, PAGE_LIMIT),
    )?;
    api::all_memberships(http, account_id, first)
}

fn send_write(
    http: &dyn Http,
    endpoint: Endpoint,
    request: crate::http::Request,
) -> Result<(), SpokeError> {
    errors::check(endpoint, http.send(request)).map(|_| ())
}

/// The selected groups the user is in now, as the changes a reclaim would make (read-only).
pub fn plan(
    http: &dyn Http,
    config: &Config,
    subscription: &SubscriptionRef,
) -> Result<Vec<SeatChange>, SpokeError> {
    let account = user_id(subscription)?;
    let selected: BTreeSet<String> = config.sorted_groups().into_iter().collect();
    if selected.is_empty() {
        return Err(SpokeError::InvalidConfig(
            "no product-access groups are selected".into(),
        ));
    }
    let allowed_admin: BTreeSet<String> = config
        .value(RECLAIM_ADMIN_GROUPS)
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let (mut targets, protected): (Vec<Group>, Vec<Group>) = memberships(http, account)?
        .into_iter()
        .filter(|g| selected.contains(&g.id))
        .partition(|g| {
            !crate::groups::is_protected(&g.name)
                || allowed_admin.contains(&g.id)
                || allowed_admin.contains(&g.name)
        });
    targets.sort_by(|a, b| a.id.cmp(&b.id));
    targets.dedup_by(|a, b| a.id == b.id);
    if !protected.is_empty() {
        let names: Vec<&str> = protected.iter().map(|g| g.name.as_str()).collect();
        if targets.is_empty() {
            return Err(SpokeError::InvalidConfig(format!(
                "the seat comes only through admin groups ({}), which a reclaim never touches unless the profile's `{RECLAIM_ADMIN_GROUPS}` names them",
                names.join(", ")
            )));
        }
        http.debug(&format!(
            "plan-reclaim: left admin groups alone: {}",
            names.join(", ")
        ));
    }
    Ok(targets
        .into_iter()
        .map(|group| SeatChange {
            kind: MEMBERSHIP_REMOVED.into(),
            target_id: group.id,
            target_name: Some(group.name),
        })
        .collect())
}

/// Removes the user from exactly the groups `changes` names (one write per group, nothing
/// read); a membership already gone counts as removed. Returns the changes now in effect.
pub fn apply(
    http: &dyn Http,
    subscription: &SubscriptionRef,
    changes: &[SeatChange],
) -> Result<Vec<SeatChange>, SpokeError> {
    let account = user_id(subscription)?;
    check_changes(changes)?;
    let mut done: Vec<SeatChange> = Vec::with_capacity(changes.len());
    for change in changes {
        let group = change.target_id.trim();
        if done.iter().any(|d| d.target_id.trim() == group) {
            continue;
        }
        match send_write(
            http,
            Endpoint::RemoveMember,
            api::remove_member(group, account),
        ) {
            // 404: the group is gone, so the membership is too.
            Ok(()) | Err(SpokeError::NotFound(_)) => done.push(change.clone()),
            Err(error) => {
                return Err(append(
                    error,
                    &format!(
                        "; {} of {} memberships removed so far (applying the plan again finishes it)",
                        done.len(),
                        changes.len()
                    ),
                ));
            }
        }
    }
    http.debug(&format!(
        "apply-reclaim: removed {account} from {} groups",
        done.len()
    ));
    Ok(done)
}

/// Refuses changes this spoke does not make.
fn check_changes(changes: &[SeatChange]) -> Result<(), SpokeError> {
    for change in changes {
        if change.kind != MEMBERSHIP_REMOVED || change.target_id.trim().is_empty() {
            return Err(SpokeError::InvalidConfig(format!(
                "cannot apply or restore change {:?} on {:?}: this spoke only makes {MEMBERSHIP_REMOVED:?}",
                change.kind, change.target_id
            )));
        }
    }
    Ok(())
}

fn append(error: SpokeError, note: &str) -> SpokeError {
    match error {
        SpokeError::Unauthorized(m) => SpokeError::Unauthorized(m + note),
        SpokeError::Forbidden {
            message,
            missing_scope,
        } => SpokeError::Forbidden {
            message: message + note,
            missing_scope,
        },
        SpokeError::NotFound(m) => SpokeError::NotFound(m + note),
        SpokeError::RateLimited {
            message,
            retry_after_seconds,
        } => SpokeError::RateLimited {
            message: message + note,
            retry_after_seconds,
        },
        SpokeError::InvalidConfig(m) => SpokeError::InvalidConfig(m + note),
        SpokeError::Transient(m) => SpokeError::Transient(m + note),
        SpokeError::Vendor(m) => SpokeError::Vendor(m + note),
    }
}

/// Re-adds the user to exactly the groups `changes` names (skipping those they are already
/// in, so restoring a plan whose apply was cut short gives back only what was taken).
pub fn restore(
    http: &dyn Http,
    subscription: &SubscriptionRef,
    changes: &[SeatChange],
) -> Result<(), SpokeError> {
    let account = user_id(subscription)?;
    check_changes(changes)?;
    if changes.is_empty() {
        return Ok(());
    }
    let current: BTreeSet<String> = memberships(http, account)?
        .into_iter()
        .map(|g| g.id)
        .collect();
    let mut done = BTreeSet::new();
    for change in changes {
        let group = change.target_id.trim();
        if current.contains(group) || !done.insert(group.to_string()) {
            continue;
        }
        send_write(http, Endpoint::AddMember, api::add_member(group, account))?;
    }
    http.debug(&format!(
        "restore: re-added {account} to {} groups",
        done.len()
    ));
    Ok(())
}
