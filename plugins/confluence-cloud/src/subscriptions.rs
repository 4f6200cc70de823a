//! `download-subscriptions`: the members of the selected product-access groups, as
//! subscriptions with identifier `confluence`, in one streaming pass with the fewest calls
//! the API allows: the selected group ids are walked in sorted order and each call reads
//! exactly one member page (`membersByGroupId`, limit 200, following `_links.next`), so a
//! download costs the sum over groups of ceil(members / 200) calls.
//!
//! A user in several selected groups is reported once per group, on that group's page, with
//! `granted-by` naming that group; the contract lets the engine union `granted-by` within a
//! run, which it can do cheaply in its database while the spoke, holding no state between
//! calls, could only do it by re-reading groups. Within one page a user appears once.
//! The cursor holds the group index, the member offset and a fingerprint of the selection,
//! so it resumes exactly and refuses a cursor made for another selection.
//!
//! A group's first page asks for the group's size (`shouldReturnTotalSize=true`) and tells
//! the cursors of the group's later pages (`following-cursors`: offsets are independently
//! addressable), so the engine may request them concurrently, one call per page as before.
//! A group that changed size meanwhile only shifts where the chain ends: the page at the
//! last offset still names what follows it.

use std::collections::BTreeSet;

use crate::api::{self, PAGE_LIMIT, UserArray, UserDto};
use crate::cursor::{self, DownloadCursor};
use crate::errors::{Endpoint, SpokeError};
use crate::http::Http;
use crate::manifest::PRODUCT_ID;
use crate::model::{Config, Subscription, SubscriptionPage};

fn in_group(error: SpokeError, group: &str) -> SpokeError {
    match error {
        SpokeError::NotFound(m) => SpokeError::NotFound(format!(
            "{m} (selected group {group}; was it deleted? choose the groups again)"
        )),
        other => other,
    }
}

/// The members of `page` with an account id, deduplicated, in page order.
fn members(page: &UserArray) -> Vec<&UserDto> {
    let mut seen = BTreeSet::new();
    page.results
        .iter()
        .filter(|u| u.id().is_some_and(|id| seen.insert(id)))
        .collect()
}

/// One page of subscriptions.
pub fn download(
    http: &dyn Http,
    config: &Config,
    cursor: Option<&str>,
) -> Result<SubscriptionPage, SpokeError> {
    let groups = config.sorted_groups();
    if groups.is_empty() {
        return Err(SpokeError::InvalidConfig(
            "no product-access groups are selected; choose them from list-groups".into(),
        ));
    }
    let pos = match cursor {
        Some(c) => cursor::decode_download(c, &groups)?,
        None => DownloadCursor {
            group: 0,
            start: 0,
            fingerprint: cursor::fingerprint(&groups),
        },
    };
    let i = pos.group;
    // A group's first page asks for the group's size: the pages after it are then known
    // (offsets under the total), and the engine may ask for them concurrently.
    let first_of_group = pos.start == 0;
    let page: UserArray = api::fetch(
        http,
        Endpoint::GroupMembers,
        api::group_members(&groups[i], pos.start, PAGE_LIMIT, first_of_group),
    )
    .map_err(|e| in_group(e, &groups[i]))?;
    let subscriptions: Vec<Subscription> = members(&page)
        .iter()
        .filter_map(|u| {
            Some(Subscription {
                external_user_id: u.id()?.to_string(),
                identifier: PRODUCT_ID.to_string(),
                display_name: u.name(),
                email: u.visible_email(),
                account_type: u.account_type(),
                granted_by: vec![groups[i].clone()],
                granted_at: None,
            })
        })
        .collect();
    http.debug(&format!(
        "download-subscriptions: group {}/{} offset {}: {} members",
        i + 1,
        groups.len(),
        pos.start,
        subscriptions.len()
    ));
    let next = match api::next_start(&page.links, pos.start, page.results.len()) {
        Some(start) => Some((i, start)),
        None if i + 1 < groups.len() => Some((i + 1, 0)),
        None => None,
    };
    let encode = |group: usize, start: u64| {
        cursor::encode_download(&DownloadCursor {
            group,
            start,
            fingerprint: pos.fingerprint,
        })
    };
    let next_cursor = next.map(|(group, start)| encode(group, start));
    // The group's later pages, when its size came with this page: every page of the same
    // size as this one (the vendor's own page size), up to the total.
    let following_cursors = match (next, page.total_size) {
        (Some((group, next_start)), Some(total)) if group == i && first_of_group => {
            let step = next_start.saturating_sub(pos.start).max(1);
            sam_spoke::paging::following_offsets(next_start, step, total)
                .into_iter()
                .map(|start| encode(i, start))
                .collect()
        }
        _ => Vec::new(),
    };
    Ok(SubscriptionPage {
        subscriptions,
        next_cursor,
        following_cursors,
    })
}
