//! `download-activity` and `lookup-activity`: each user's last activity since `since`, as
//! the reference guide defines it (create or update of a page, blog post, comment or
//! attachment), with the fewest calls.
//!
//! The scan is one date-bounded CQL search over content changed since the cutoff
//! (`expand=content.version`, `excerpt=none`, 200 per page, newest first), following the
//! search's `_links.next` cursor; each page yields the latest change per author
//! (`content.version.by` at `content.version.when`).
//!
//! Users the scan did not see are asked through `lookup-activity`, in batches: the distinct
//! ids are cut into chunks of at most [`MAX_BATCH_IDS`] ids whose query stays within
//! [`MAX_BATCH_CQL_BYTES`], and each chunk is one search for
//! `contributor in ("a", "b", ...)` over the same types and cutoff (200 per page, newest
//! first, `expand=content.version,content.history.contributors.publishers.users`). The first
//! page of every chunk goes out in one `send_all`. Walking a page newest first, every member
//! named among a result's contributors (the publishers' `userAccountIds` and `users`, and the
//! last version's author) is attributed at its first, newest, sighting: at the version's time
//! when the member wrote the last version, else at the item's last change ("contributed to
//! a ... changed since", an upper bound: search shows who contributed, not when). A chunk
//! whose members are not all attributed, whose page has not reached changes older than
//! `since` and that has a `_links.next` reads its next page; the follow-up pages of all such
//! chunks go out together, round after round. Members never attributed are "none in
//! window". A chunk of one id is asked directly with the per-user query below.
//!
//! The safety property (nobody who contributed to content changed in the window is reported
//! "none in window") does not rest on the batch alone. The still-unattributed members of a
//! chunk are asked one by one, with the per-user query, when: a result in the window has no
//! readable date or contributor list, or names none of the chunk's members (the list cannot
//! be trusted to be complete); the chunk's request fails for that request only (400, 403
//! without a missing scope, 404, unparsable answer or next link), so one bad id cannot
//! poison the others; or the chunk has read [`MAX_BATCH_PAGES`] pages. The per-user query is
//! `contributor = "<id>"` with `limit=1`: zero results means "none in window", a
//! 400/403/404 for that user means "unknown". Rate limits, transport errors and a missing
//! scope fail the whole call, as everywhere.
//!
//! Cost: `ceil(users / 50)` calls (a few more when long account ids shorten chunks), plus
//! one per follow-up page, plus one per member asked one by one; down from one call per
//! user. The answers are larger (up to 200 results per chunk instead of one per user).
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

use crate::api::{self, LOOKUP_EXPAND, SEARCH_LIMIT, SearchPage, SearchResultDto};
use crate::cursor::{self, ActivityCursor};
use crate::errors::{self, Endpoint, SpokeError};
use crate::http::{Http, HttpError, Response};
use crate::model::{ActivityPage, ActivityStatus, EpochSeconds, UserActivity};
use crate::time::{cql_date, parse_timestamp};

/// The content types whose create/update counts as activity.
pub const ACTIVITY_TYPES: &str = "type in (page, blogpost, comment, attachment)";
/// Margin for the site time zone in the CQL cutoff.
const TZ_MARGIN: i64 = 86_400;
/// Parameters the spoke sets itself on every search; not carried in the cursor.
const OWN_PARAMS: [&str; 4] = ["cql", "limit", "expand", "excerpt"];
/// Most account ids in one batched lookup query: cuts the calls ~50-fold while a chunk's
/// page of 200 results usually covers all its members.
pub const MAX_BATCH_IDS: usize = 50;
/// Longest CQL of a batched lookup query, in bytes before URL encoding: account ids can be
/// up to 128 characters, and the query travels in the URL. An id too long to share a query
/// with another is asked alone.
pub const MAX_BATCH_CQL_BYTES: usize = 2_000;
/// Most pages read for one batched query; its members still unattributed after that are
/// asked one by one. Bounds the cost when members contributed to many items (and guards
/// against a cursor that never ends).
pub const MAX_BATCH_PAGES: usize = 10;

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

/// The batched CQL for `ids` (with none, only its fixed part, which [`batches`] measures).
pub fn batch_cql(ids: &[&str], since: EpochSeconds) -> String {
    let quoted: Vec<String> = ids.iter().map(|id| api::cql_string(id)).collect();
    format!(
        "contributor in ({}) and {ACTIVITY_TYPES} and lastmodified >= \"{}\" order by lastmodified desc",
        quoted.join(", "),
        cutoff(since)
    )
}

/// Cuts `ids` (in order) into chunks of at most [`MAX_BATCH_IDS`] ids whose [`batch_cql`]
/// is at most [`MAX_BATCH_CQL_BYTES`] long (an id too long for that is a chunk of its own).
pub fn batches<'a>(ids: &[&'a str], since: EpochSeconds) -> Vec<Vec<&'a str>> {
    let fixed = batch_cql(&[], since).len();
    let mut out = Vec::new();
    let mut current: Vec<&'a str> = Vec::new();
    let mut len = fixed;
    for &id in ids {
        let quoted = api::cql_string(id).len();
        if !current.is_empty()
            && (current.len() >= MAX_BATCH_IDS || len + ", ".len() + quoted > MAX_BATCH_CQL_BYTES)
        {
            out.push(std::mem::take(&mut current));
            len = fixed;
        }
        if !current.is_empty() {
            len += ", ".len();
        }
        len += quoted;
        current.push(id);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
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

/// Everyone the result names as a contributor: the publishers (`userAccountIds` and
/// `users`) and the last version's author. `None` when the result carries no readable
/// publisher list.
fn contributors(result: &SearchResultDto) -> Option<Vec<&str>> {
    let content = result.content.as_ref()?;
    let publishers = content
        .history
        .as_ref()?
        .contributors
        .as_ref()?
        .publishers
        .as_ref()?;
    let mut named: Vec<&str> = publishers.account_ids().collect();
    if named.is_empty() {
        return None;
    }
    if let Some(author) = content
        .version
        .as_ref()
        .and_then(|v| v.by.as_ref())
        .and_then(|u| u.id())
    {
        named.push(author);
    }
    Some(named)
}

/// The status of someone who contributed to the result's item, changed at `changed`, but
/// did not write its last version: the item's last change is the best (upper) bound search
/// offers.
fn contributed(result: &SearchResultDto, changed: EpochSeconds) -> ActivityStatus {
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

/// The paging parameters of a search's `_links.next`: its query without the parameters
/// the spoke sets itself.
fn next_paging(link: &str) -> Result<Vec<(String, String)>, SpokeError> {
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
    Ok(paging)
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
            let paging = next_paging(link)?;
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

/// One request of a lookup round.
enum Job<'a> {
    /// A page of chunk `chunk` (the first when `paging` is empty).
    Page {
        chunk: usize,
        paging: Vec<(String, String)>,
    },
    /// The per-user query.
    User(&'a str),
}

/// What a page of a chunk's query leaves to do.
enum ChunkStep {
    /// Every member is attributed, or the page reached the end of the window or of the
    /// results.
    Done,
    /// Read the page after, with these paging parameters.
    Next(Vec<(String, String)>),
    /// The page cannot be trusted to name every member who contributed: ask the rest one
    /// by one.
    Untrusted(&'static str),
}

/// The message of an error that concerns one request only (mapped to "unknown" for a
/// single user, and to the per-user fallback for a chunk); `None` for errors that concern
/// the whole call (rate limits, transport, authorization, missing scope).
fn request_error(error: &SpokeError) -> Option<&str> {
    match error {
        SpokeError::NotFound(m)
        | SpokeError::Vendor(m)
        | SpokeError::Forbidden {
            message: m,
            missing_scope: None,
        } => Some(m),
        _ => None,
    }
}

/// The last activity of each given user (one entry per distinct non-blank id, in the
/// order asked).
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
    let chunks = batches(&ids, since);
    let cqls: Vec<String> = chunks.iter().map(|c| batch_cql(c, since)).collect();
    let mut pages_read = vec![0usize; chunks.len()];
    let mut found: BTreeMap<&str, ActivityStatus> = BTreeMap::new();
    let mut jobs: Vec<Job> = chunks
        .iter()
        .enumerate()
        .map(|(chunk, members)| match members.as_slice() {
            [one] => Job::User(one),
            _ => Job::Page {
                chunk,
                paging: Vec::new(),
            },
        })
        .collect();
    let (mut chunk_calls, mut user_calls, mut rounds) = (0usize, 0usize, 0usize);
    while !jobs.is_empty() {
        rounds += 1;
        let requests = jobs
            .iter()
            .map(|job| match job {
                Job::Page { chunk, paging } => {
                    api::search_expanded(&cqls[*chunk], SEARCH_LIMIT, LOOKUP_EXPAND, paging)
                }
                Job::User(id) => api::search(&user_cql(id, since), 1, &[]),
            })
            .collect();
        let outcomes = http.send_all(requests);
        let mut next = Vec::new();
        for (job, outcome) in jobs.into_iter().zip(outcomes) {
            let chunk = match job {
                Job::User(id) => {
                    user_calls += 1;
                    found.insert(id, user_status(id, since, outcome)?);
                    continue;
                }
                Job::Page { chunk, .. } => chunk,
            };
            chunk_calls += 1;
            pages_read[chunk] += 1;
            let members = &chunks[chunk];
            let step = api::parse_outcome::<SearchPage>(Endpoint::Search, outcome)
                .and_then(|page| read_chunk_page(members, since, &page, &mut found));
            let why = match step {
                Ok(ChunkStep::Done) => continue,
                Ok(ChunkStep::Next(paging)) if pages_read[chunk] < MAX_BATCH_PAGES => {
                    next.push(Job::Page { chunk, paging });
                    continue;
                }
                Ok(ChunkStep::Next(_)) => format!("{MAX_BATCH_PAGES} pages read"),
                Ok(ChunkStep::Untrusted(why)) => why.to_string(),
                Err(e) => match request_error(&e) {
                    Some(_) => e.to_string(),
                    None => return Err(e),
                },
            };
            let rest: Vec<&str> = members
                .iter()
                .copied()
                .filter(|m| !found.contains_key(m))
                .collect();
            http.debug(&format!(
                "lookup-activity: asking {} of {} users one by one ({why})",
                rest.len(),
                members.len()
            ));
            next.extend(rest.into_iter().map(Job::User));
        }
        jobs = next;
    }
    http.debug(&format!(
        "lookup-activity: {} users, {} chunks, {chunk_calls} chunk pages, {user_calls} single queries, {rounds} rounds",
        ids.len(),
        chunks.len()
    ));
    Ok(ids
        .iter()
        .map(|id| UserActivity {
            external_user_id: (*id).to_string(),
            status: found.remove(id).unwrap_or(ActivityStatus::NoneInWindow),
        })
        .collect())
}

/// Attributes the members of a chunk that the page names (newest first, first sighting
/// wins) and says what is left to do.
fn read_chunk_page<'a>(
    members: &[&'a str],
    since: EpochSeconds,
    page: &SearchPage,
    found: &mut BTreeMap<&'a str, ActivityStatus>,
) -> Result<ChunkStep, SpokeError> {
    for result in &page.results {
        let Some(changed) = changed_at(result) else {
            return Ok(ChunkStep::Untrusted("a result carries no readable date"));
        };
        if changed < since {
            return Ok(ChunkStep::Done);
        }
        let Some(named) = contributors(result) else {
            return Ok(ChunkStep::Untrusted("a result carries no contributor list"));
        };
        let last = last_version(result);
        let mut any = false;
        for &member in members {
            if !named.contains(&member) {
                continue;
            }
            any = true;
            if found.contains_key(member) {
                continue;
            }
            let status = match &last {
                Some((author, at, source)) if author == member => ActivityStatus::Seen {
                    at: *at,
                    source: source.clone(),
                },
                _ => contributed(result, changed),
            };
            found.insert(member, status);
        }
        if !any {
            return Ok(ChunkStep::Untrusted(
                "a result names none of the users asked about",
            ));
        }
    }
    if members.iter().all(|m| found.contains_key(m)) || page.results.is_empty() {
        return Ok(ChunkStep::Done);
    }
    match page.links.next.as_deref() {
        Some(link) => Ok(ChunkStep::Next(next_paging(link)?)),
        None => Ok(ChunkStep::Done),
    }
}

/// The status the per-user query's answer says.
fn user_status(
    id: &str,
    since: EpochSeconds,
    outcome: Result<Response, HttpError>,
) -> Result<ActivityStatus, SpokeError> {
    Ok(match errors::check(Endpoint::Search, outcome) {
        Ok(response) => match errors::parse::<SearchPage>(Endpoint::Search, &response) {
            Ok(page) => status_of(id, since, page.results.first()),
            Err(e) => ActivityStatus::Unknown(e.to_string()),
        },
        Err(e) => match request_error(&e) {
            Some(m) => ActivityStatus::Unknown(m.to_string()),
            None => return Err(e),
        },
    })
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
        _ => contributed(result, changed),
    }
}
