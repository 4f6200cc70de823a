//! `reclaim` and `restore`: taking a Confluence seat back by removing the user from every
//! selected product-access group they are in, and putting exactly those memberships back.
//! Memberships are read first (`/user/memberof`), so the changes returned are exactly the
//! ones made; removal (`DELETE userByGroupId`) is idempotent, and restore skips groups the
//! user is already back in, so both can be re-run safely. Should a removal fail halfway,
//! the memberships already removed are put back before the error is returned, because the
//! contract cannot return changes together with an error. A 403 means the consenting user
//! is not a site admin.

use std::collections::BTreeSet;

use crate::api::{self, GroupArray, PAGE_LIMIT};
use crate::errors::{self, Endpoint, SpokeError};
use crate::http::Http;
use crate::manifest::PRODUCT_ID;
use crate::model::{Config, Group, SeatChange, SubscriptionRef};

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

/// Removes the user from every selected group they are in; returns those memberships.
pub fn reclaim(
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
    let mut targets: Vec<Group> = memberships(http, account)?
        .into_iter()
        .filter(|g| selected.contains(&g.id))
        .collect();
    targets.sort_by(|a, b| a.id.cmp(&b.id));
    targets.dedup_by(|a, b| a.id == b.id);

    let mut changes: Vec<SeatChange> = Vec::new();
    for group in &targets {
        if let Err(error) = send_write(
            http,
            Endpoint::RemoveMember,
            api::remove_member(&group.id, account),
        ) {
            let undone = changes
                .iter()
                .filter(|c| {
                    send_write(
                        http,
                        Endpoint::AddMember,
                        api::add_member(&c.target_id, account),
                    )
                    .is_err()
                })
                .map(|c| c.target_id.clone())
                .collect::<Vec<_>>();
            if undone.is_empty() {
                return Err(error);
            }
            return Err(append(
                error,
                &format!(
                    "; the user stays removed from groups {} (re-adding failed)",
                    undone.join(", ")
                ),
            ));
        }
        changes.push(SeatChange {
            kind: MEMBERSHIP_REMOVED.into(),
            target_id: group.id.clone(),
            target_name: Some(group.name.clone()),
        });
    }
    http.debug(&format!(
        "reclaim: removed {account} from {} groups",
        changes.len()
    ));
    Ok(changes)
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

/// Re-adds the user to exactly the groups `changes` removed (skipping those they are
/// already in).
pub fn restore(
    http: &dyn Http,
    subscription: &SubscriptionRef,
    changes: &[SeatChange],
) -> Result<(), SpokeError> {
    let account = user_id(subscription)?;
    for change in changes {
        if change.kind != MEMBERSHIP_REMOVED || change.target_id.trim().is_empty() {
            return Err(SpokeError::InvalidConfig(format!(
                "cannot restore change {:?} on {:?}: this spoke only makes {MEMBERSHIP_REMOVED:?}",
                change.kind, change.target_id
            )));
        }
    }
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
