//! `download-subscriptions`: one subscription (identifier `confluence`) per member of the
//! selected product-access groups, each user exactly once across all pages, with every
//! selected group that grants the seat in `granted-by`.
//!
//! Without state between calls, uniqueness comes from an order: the selected group ids are
//! walked sorted, one member page (`membersByGroupId`, limit 200, `_links.next`) per call,
//! and a member is emitted only on the page of the *first* selected group that contains
//! them. To decide that (and to fill `granted-by`) the spoke needs, for the members of the
//! page, their membership in the other selected groups. It takes the cheaper of two ways,
//! per page:
//! - **scan**: read every other selected group's member list in full (all pages fanned out
//!   through `send_all`), costing the sum of their page counts; or
//! - **memberof**: ask `/user/memberof` for each member of the page (one `send_all` batch),
//!   costing one call per member.
//!
//! Typical tenants have one large group (`confluence-users`) and a few small ones, where the
//! scan costs one or two calls per page instead of 200. Group sizes come from a first call
//! that fetches the first page of every selected group in one batch (with
//! `shouldReturnTotalSize=true`) and travel in the cursor. With a single selected group
//! neither is needed.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::{self, GroupArray, PAGE_LIMIT, UserArray, UserDto};
use crate::cursor::{self, DownloadCursor};
use crate::errors::{self, Endpoint, SpokeError};
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

fn pages_of(size: u64) -> u64 {
    size.div_ceil(u64::from(PAGE_LIMIT)).max(1)
}

/// The size learnt from a first page fetched with `shouldReturnTotalSize=true`.
fn size_from_first_page(page: &UserArray) -> Option<u64> {
    let got = page.results.len() as u64;
    if page.links.next.is_none() {
        Some(got)
    } else {
        page.total_size.filter(|t| *t > got)
    }
}

/// The members of `page` with an account id, deduplicated, in page order.
fn members(page: &UserArray) -> Vec<UserDto> {
    let mut seen = BTreeSet::new();
    page.results
        .iter()
        .filter(|u| u.id().is_some_and(|id| seen.insert(id.to_string())))
        .cloned()
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
    let mut prefetched: Vec<Option<UserArray>> = groups.iter().map(|_| None).collect();
    let mut pos = match cursor {
        Some(c) => cursor::decode_download(c, &groups)?,
        None => DownloadCursor {
            group: 0,
            start: 0,
            sizes: vec![None; groups.len()],
            fingerprint: cursor::fingerprint(&groups),
        },
    };
    if cursor.is_none() && groups.len() > 1 {
        let requests = groups
            .iter()
            .map(|g| api::group_members(g, 0, PAGE_LIMIT, true))
            .collect();
        for (j, outcome) in http.send_all(requests).into_iter().enumerate() {
            let page: UserArray = api::parse_outcome(Endpoint::GroupMembers, outcome)
                .map_err(|e| in_group(e, &groups[j]))?;
            pos.sizes[j] = size_from_first_page(&page);
            prefetched[j] = Some(page);
        }
    }

    let i = pos.group;
    let page = match prefetched[i].take() {
        Some(first) if pos.start == 0 => first,
        _ => api::fetch(
            http,
            Endpoint::GroupMembers,
            api::group_members(&groups[i], pos.start, PAGE_LIMIT, false),
        )
        .map_err(|e| in_group(e, &groups[i]))?,
    };
    let users = members(&page);

    // For each member: the indexes of the selected groups that contain them.
    let memberships: BTreeMap<String, BTreeSet<usize>> = if groups.len() == 1 {
        users
            .iter()
            .filter_map(|u| u.id())
            .map(|id| (id.to_string(), BTreeSet::from([0])))
            .collect()
    } else {
        let scan_cost: Option<u64> = (0..groups.len())
            .filter(|j| *j != i)
            .map(|j| pos.sizes[j].map(|s| pages_of(s) - u64::from(prefetched[j].is_some())))
            .sum();
        match scan_cost {
            Some(cost) if cost <= users.len() as u64 => {
                let sets = scan_other_groups(http, &groups, i, &mut pos.sizes, &mut prefetched)?;
                users
                    .iter()
                    .filter_map(|u| u.id())
                    .map(|id| {
                        let mut set: BTreeSet<usize> = sets
                            .iter()
                            .filter(|(_, members)| members.contains(id))
                            .map(|(j, _)| *j)
                            .collect();
                        set.insert(i);
                        (id.to_string(), set)
                    })
                    .collect()
            }
            _ => memberships_by_user(http, &groups, i, &users)?,
        }
    };

    let subscriptions: Vec<Subscription> = users
        .iter()
        .filter_map(|u| {
            let id = u.id()?;
            let set = memberships.get(id)?;
            if set.first() != Some(&i) {
                return None; // emitted with an earlier group, or gone
            }
            Some(Subscription {
                external_user_id: id.to_string(),
                identifier: PRODUCT_ID.to_string(),
                display_name: u.name(),
                email: u.visible_email(),
                account_type: u.account_type(),
                granted_by: set.iter().map(|j| groups[*j].clone()).collect(),
                granted_at: None,
            })
        })
        .collect();

    http.debug(&format!(
        "download-subscriptions: group {}/{} offset {}: {} members, {} new subscriptions",
        i + 1,
        groups.len(),
        pos.start,
        users.len(),
        subscriptions.len()
    ));

    let next = match api::next_start(&page.links, pos.start, page.results.len()) {
        Some(start) => Some((i, start)),
        None if i + 1 < groups.len() => Some((i + 1, 0)),
        None => None,
    };
    let next_cursor = next.map(|(group, start)| {
        cursor::encode_download(&DownloadCursor {
            group,
            start,
            ..pos.clone()
        })
    });
    Ok(SubscriptionPage {
        subscriptions,
        next_cursor,
    })
}

/// Reads every selected group other than `current` in full: known page offsets fanned out
/// in one `send_all`, then `_links.next` followed for any group that grew. Records the exact
/// sizes it learns.
fn scan_other_groups(
    http: &dyn Http,
    groups: &[String],
    current: usize,
    sizes: &mut [Option<u64>],
    prefetched: &mut [Option<UserArray>],
) -> Result<BTreeMap<usize, BTreeSet<String>>, SpokeError> {
    let mut sets: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    // (group, start) of each page still to read; last page of each group is followed on.
    let mut wanted: Vec<(usize, u64)> = Vec::new();
    let mut pages: BTreeMap<(usize, u64), UserArray> = BTreeMap::new();
    for j in (0..groups.len()).filter(|j| *j != current) {
        sets.insert(j, BTreeSet::new());
        let count = pages_of(sizes[j].unwrap_or(0));
        let first = match prefetched[j].take() {
            Some(p) => {
                pages.insert((j, 0), p);
                1
            }
            None => 0,
        };
        wanted.extend((first..count).map(|k| (j, k * u64::from(PAGE_LIMIT))));
    }
    let requests = wanted
        .iter()
        .map(|(j, start)| api::group_members(&groups[*j], *start, PAGE_LIMIT, false))
        .collect();
    for ((j, start), outcome) in wanted.iter().zip(http.send_all(requests)) {
        let page: UserArray = api::parse_outcome(Endpoint::GroupMembers, outcome)
            .map_err(|e| in_group(e, &groups[*j]))?;
        pages.insert((*j, *start), page);
    }
    for j in (0..groups.len()).filter(|j| *j != current) {
        let Some(set) = sets.get_mut(&j) else {
            continue;
        };
        let mut last: Option<(u64, usize, api::Links)> = None;
        for ((_, start), page) in pages.range((j, 0)..=(j, u64::MAX)) {
            set.extend(
                page.results
                    .iter()
                    .filter_map(|u| u.id().map(str::to_string)),
            );
            last = Some((
                *start,
                page.results.len(),
                api::Links {
                    next: page.links.next.clone(),
                    ..api::Links::default()
                },
            ));
        }
        // Follow on if the group has more pages than its recorded size said.
        let mut guard = 0;
        while let Some((start, got, links)) = last.take() {
            let Some(next) = api::next_start(&links, start, got) else {
                break;
            };
            guard += 1;
            if guard > 10_000 {
                return Err(SpokeError::Vendor(
                    "group member paging does not end".into(),
                ));
            }
            let page: UserArray = api::fetch(
                http,
                Endpoint::GroupMembers,
                api::group_members(&groups[j], next, PAGE_LIMIT, false),
            )
            .map_err(|e| in_group(e, &groups[j]))?;
            set.extend(
                page.results
                    .iter()
                    .filter_map(|u| u.id().map(str::to_string)),
            );
            last = Some((next, page.results.len(), page.links));
        }
        sizes[j] = Some(set.len() as u64);
    }
    Ok(sets)
}

/// Asks `/user/memberof` for every member of the page in one `send_all` batch (following
/// `_links.next` for users in more than 200 groups). A user the API no longer knows (404)
/// is left out: they hold no seat, and emitting them could repeat an earlier page.
fn memberships_by_user(
    http: &dyn Http,
    groups: &[String],
    current: usize,
    users: &[UserDto],
) -> Result<BTreeMap<String, BTreeSet<usize>>, SpokeError> {
    let ids: Vec<&str> = users.iter().filter_map(|u| u.id()).collect();
    let requests = ids
        .iter()
        .map(|id| api::user_memberof(id, 0, PAGE_LIMIT))
        .collect();
    let index: BTreeMap<&str, usize> = groups
        .iter()
        .enumerate()
        .map(|(j, g)| (g.as_str(), j))
        .collect();
    let mut out = BTreeMap::new();
    for (id, outcome) in ids.iter().zip(http.send_all(requests)) {
        let first: GroupArray = match errors::check(Endpoint::UserMemberOf, outcome) {
            Ok(response) => errors::parse(Endpoint::UserMemberOf, &response)?,
            Err(SpokeError::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        let mut set: BTreeSet<usize> = api::all_memberships(http, id, first)?
            .iter()
            .filter_map(|g| index.get(g.id.as_str()).copied())
            .collect();
        set.insert(current);
        out.insert((*id).to_string(), set);
    }
    Ok(out)
}
