//! `download-activity` and `lookup-activity`: each user's last activity since `since`, as
//! the reference guide defines it (create or update of a page, blog post, comment or
//! attachment), with the fewest calls.
//!
//! The scan is one date-bounded CQL search over content changed since the cutoff
//! (`expand=content.version`, `excerpt=none`, 200 per page, newest first), following the
//! search's `_links.next` cursor; each page yields the latest change per author
//! (`content.version.by` at `content.version.when`). Users the scan did not see are asked
//! through `lookup-activity`: one `contributor = "<id>"` query with `limit=1` per user, all
//! in one `send_all` batch; zero results means "none in window", a 400/403/404 for that
//! user means "unknown".
//!
//! CQL dates are read in the site's time zone, so the query's cutoff is one day earlier
//! than `since` (`yyyy-MM-dd HH:mm`, UTC) and the spoke drops anything before `since`
//! itself; the scan stops as soon as a page reaches changes older than `since`.
//!
//! Spaces: the guide also counts creating or updating a space. A space is not content, has
//! no version author in search results, and `contributor` does not apply to it, so spaces
//! are not scanned; creating a space creates its home page (authored by the creator),
//! which the scan does see.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::{self, SEARCH_LIMIT, SearchPage, SearchResultDto};
use crate::cursor::{self, ActivityCursor};
use crate::errors::{self, Endpoint, SpokeError};
use crate::http::Http;
use crate::model::{ActivityPage, ActivityStatus, EpochSeconds, UserActivity};
use crate::time::{cql_date, parse_timestamp};

/// The content types whose create/update counts as activity.
pub const ACTIVITY_TYPES: &str = "type in (page, blogpost, comment, attachment)";
/// Margin for the site time zone in the CQL cutoff.
const TZ_MARGIN: i64 = 86_400;
/// Parameters the spoke sets itself on every search; not carried in the cursor.
const OWN_PARAMS: [&str; 4] = ["cql", "limit", "expand", "excerpt"];

/// The CQL cutoff for `since`.
pub fn cutoff(since: EpochSeconds) -> String {
    cql_date(since.saturating_sub(TZ_MARGIN))
}

/// The scan's CQL.
pub fn scan_cql(since: EpochSeconds) -> String {
    format!(
        "{ACTIVITY_TYPES} and lastmodified >= \"{}\" order by lastmodified desc",
        cutoff(since)
    )
}

/// The per-user CQL.
pub fn user_cql(account_id: &str, since: EpochSeconds) -> String {
    format!(
        "contributor = {} and {ACTIVITY_TYPES} and lastmodified >= \"{}\" order by lastmodified desc",
        api::cql_string(account_id),
        cutoff(since)
    )
}

fn kind_name(kind: &str) -> &str {
    match kind {
        "blogpost" => "blog post",
        "" => "content",
        other => other,
    }
}

/// When the result's item last changed.
fn changed_at(result: &SearchResultDto) -> Option<EpochSeconds> {
    let version_when = result
        .content
        .as_ref()
        .and_then(|c| c.version.as_ref())
        .and_then(|v| v.when.as_deref())
        .and_then(parse_timestamp);
    version_when.or_else(|| result.last_modified.as_deref().and_then(parse_timestamp))
}

/// The author, time and description of the result's last version, if readable.
fn last_version(result: &SearchResultDto) -> Option<(String, EpochSeconds, String)> {
    let content = result.content.as_ref()?;
    let version = content.version.as_ref()?;
    let author = version.by.as_ref()?.id()?.to_string();
    let at = changed_at(result)?;
    let kind = kind_name(
        content
            .kind
            .as_deref()
            .or(result.entity_type.as_deref())
            .unwrap_or(""),
    );
    let verb = if version.number == Some(1) {
        "created"
    } else {
        "updated"
    };
    Some((author, at, format!("{kind} {verb}")))
}

/// One page of the scan.
pub fn download(
    http: &dyn Http,
    since: EpochSeconds,
    cursor: Option<&str>,
) -> Result<ActivityPage, SpokeError> {
    let paging = match cursor {
        Some(c) => cursor::decode_activity(c, since)?.paging,
        None => Vec::new(),
    };
    let page: SearchPage = api::fetch(
        http,
        Endpoint::Search,
        api::search(&scan_cql(since), SEARCH_LIMIT, &paging),
    )?;

    let mut latest: BTreeMap<String, (EpochSeconds, String)> = BTreeMap::new();
    for result in &page.results {
        let Some((author, at, source)) = last_version(result) else {
            continue;
        };
        if at < since {
            continue;
        }
        match latest.get(&author) {
            Some((seen, _)) if *seen >= at => {}
            _ => {
                latest.insert(author, (at, source));
            }
        }
    }
    let reached_older = page
        .results
        .last()
        .and_then(changed_at)
        .is_some_and(|at| at < since);
    http.debug(&format!(
        "download-activity: {} results, {} users{}",
        page.results.len(),
        latest.len(),
        if reached_older {
            ", reached the cutoff"
        } else {
            ""
        }
    ));

    let next_cursor = match page.links.next.as_deref() {
        Some(link) if !reached_older && !page.results.is_empty() => {
            let (_, query) = api::normalise_link(link).ok_or_else(|| {
                SpokeError::Vendor(format!(
                    "search answered a next link outside the REST API: {}",
                    errors::excerpt(link.as_bytes())
                ))
            })?;
            let paging: Vec<(String, String)> = query
                .into_iter()
                .filter(|(k, _)| !OWN_PARAMS.contains(&k.as_str()))
                .collect();
            if paging.is_empty() {
                return Err(SpokeError::Vendor(
                    "search answered a next link without a cursor".into(),
                ));
            }
            Some(cursor::encode_activity(&ActivityCursor { since, paging }))
        }
        _ => None,
    };
    Ok(ActivityPage {
        activities: latest
            .into_iter()
            .map(|(id, (at, source))| UserActivity {
                external_user_id: id,
                status: ActivityStatus::Seen { at, source },
            })
            .collect(),
        next_cursor,
    })
}

/// The last activity of each given user (one entry per distinct non-blank id).
pub fn lookup(
    http: &dyn Http,
    since: EpochSeconds,
    ids: &[String],
) -> Result<Vec<UserActivity>, SpokeError> {
    let mut seen = BTreeSet::new();
    let ids: Vec<&str> = ids
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty() && seen.insert(*s))
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let requests = ids
        .iter()
        .map(|id| api::search(&user_cql(id, since), 1, &[]))
        .collect();
    let outcomes = http.send_all(requests);
    http.debug(&format!("lookup-activity: {} users", ids.len()));
    ids.iter()
        .zip(outcomes)
        .map(|(id, outcome)| {
            let status = match errors::check(Endpoint::Search, outcome) {
                Ok(response) => match errors::parse::<SearchPage>(Endpoint::Search, &response) {
                    Ok(page) => status_of(id, since, page.results.first()),
                    Err(e) => ActivityStatus::Unknown(e.to_string()),
                },
                Err(SpokeError::NotFound(m)) => ActivityStatus::Unknown(m),
                Err(SpokeError::Forbidden {
                    message,
                    missing_scope: None,
                }) => ActivityStatus::Unknown(message),
                Err(SpokeError::Vendor(m)) => ActivityStatus::Unknown(m),
                Err(e) => return Err(e),
            };
            Ok(UserActivity {
                external_user_id: (*id).to_string(),
                status,
            })
        })
        .collect()
}

/// The status the newest item `id` contributed to says.
fn status_of(id: &str, since: EpochSeconds, first: Option<&SearchResultDto>) -> ActivityStatus {
    let Some(result) = first else {
        return ActivityStatus::NoneInWindow;
    };
    let Some(changed) = changed_at(result) else {
        return ActivityStatus::Unknown("the search result carries no readable date".into());
    };
    if changed < since {
        return ActivityStatus::NoneInWindow;
    }
    match last_version(result) {
        Some((author, at, source)) if author == id => ActivityStatus::Seen { at, source },
        _ => {
            // The user contributed to an item someone else changed last: the item's last
            // change is the best (upper) bound search offers.
            let kind = result
                .content
                .as_ref()
                .and_then(|c| c.kind.as_deref())
                .map(kind_name)
                .unwrap_or("content");
            ActivityStatus::Seen {
                at: changed,
                source: format!("contributed to a {kind} changed since"),
            }
        }
    }
}
