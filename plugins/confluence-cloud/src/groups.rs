//! `list-groups`: every group of the site, one page (up to 200, the spec's maximum) per
//! call, so the admin can pick the product-access groups. The cursor is the next offset,
//! taken from `_links.next`.
//!
//! Each group says what membership grants (issue 19): the page's groups are matched against
//! `GET /group?accessType=user|admin|site-admin` (the v1 filter by permission level; `user`
//! is product access), the most privileged level winning, and a group in none of them grants
//! none. Each also carries its member count: `totalSize` of
//! `membersByGroupId?limit=1&shouldReturnTotalSize=true`, one call per group, concurrently
//! (Atlassian leaves suspended and deactivated users out of this count, as out of the
//! listing). A filter or count the site refuses leaves the field unknown rather than failing
//! the page. Cost per page: 1 + 3 + one per group.
//!
//! [`is_protected`] names the groups a reclaim never touches unless the profile's
//! `reclaim-admin-groups` names them: `site-admins` and every `*-admins` group (Atlassian's
//! admin groups, the organization's included).

use std::collections::BTreeSet;

use crate::api::{self, GroupArray, PAGE_LIMIT, UserArray};
use crate::cursor;
use crate::errors::{Endpoint, SpokeError};
use crate::http::Http;
use crate::model::{GroupAccess, GroupPage};

/// Whether a group's name marks it as an admin group a reclaim never touches by default.
pub fn is_protected(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    n == "site-admins" || n.ends_with("-admins")
}

/// The ids of the groups the site lists under `access_type` (first page: products have a
/// handful), or `None` when the filter was refused.
fn ids_with_access(http: &dyn Http, access_type: &str) -> Option<BTreeSet<String>> {
    let page: GroupArray = api::fetch(
        http,
        Endpoint::ListGroups,
        api::list_groups_with_access(access_type, 0, PAGE_LIMIT),
    )
    .ok()?;
    Some(page.groups().into_iter().map(|g| g.id).collect())
}

/// One page of groups.
pub fn list_groups(http: &dyn Http, cursor: Option<&str>) -> Result<GroupPage, SpokeError> {
    let start = cursor.map(cursor::decode_groups).transpose()?.unwrap_or(0);
    let page: GroupArray = api::fetch(
        http,
        Endpoint::ListGroups,
        api::list_groups(start, PAGE_LIMIT),
    )?;
    http.debug(&format!(
        "list-groups: {} groups at offset {start}",
        page.results.len()
    ));
    let next = api::next_start(&page.links, start, page.results.len());
    let mut groups = page.groups();
    let site_admin = ids_with_access(http, "site-admin");
    let admin = ids_with_access(http, "admin");
    let user = ids_with_access(http, "user");
    let counts = http.send_all(
        groups
            .iter()
            .map(|g| api::group_members(&g.id, 0, 1, true))
            .collect(),
    );
    for (group, count) in groups.iter_mut().zip(counts) {
        let known = site_admin.is_some() && admin.is_some() && user.is_some();
        let in_set =
            |set: &Option<BTreeSet<String>>| set.as_ref().is_some_and(|s| s.contains(&group.id));
        group.access = if in_set(&site_admin) {
            GroupAccess::SiteAdmin
        } else if in_set(&admin) {
            GroupAccess::Admin
        } else if in_set(&user) {
            GroupAccess::Product
        } else if known {
            GroupAccess::None
        } else {
            GroupAccess::Unknown
        };
        group.member_count = api::parse_outcome::<UserArray>(Endpoint::GroupMembers, count)
            .ok()
            .and_then(|members| members.total_size);
    }
    Ok(GroupPage {
        groups,
        next_cursor: next.map(cursor::encode_groups),
    })
}
