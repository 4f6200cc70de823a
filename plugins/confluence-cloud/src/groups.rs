//! `list-groups`: every group of the site, one page (up to 200, the spec's maximum) per
//! call, so the admin can pick the product-access groups. The cursor is the next offset,
//! taken from `_links.next`.

use crate::api::{self, GroupArray, PAGE_LIMIT};
use crate::cursor;
use crate::errors::{Endpoint, SpokeError};
use crate::http::Http;
use crate::model::GroupPage;

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
    Ok(GroupPage {
        groups: page.groups(),
        next_cursor: next.map(cursor::encode_groups),
    })
}
