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

use crate::api::{self, LOOKUP_EXPAND, SCAN_EXPAND, SEARCH_LIMIT, SearchPage, SearchResultDto};
use crate::cursor::{self, ActivityCursor, SliceCursor};
use crate::errors::{self, Endpoint, SpokeError};
use crate::http::{Http, HttpError, Response};
use crate::model::{ActivityKind, ActivityPage, ActivityStatus, EpochSeconds, UserActivity};
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

/// The author, time, description and kind of the result's last version, if readable.
fn last_version(result: &SearchResultDto) -> Option<(String, EpochSeconds, String, ActivityKind)> {
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
    let (verb, evidence) = if version.number == Some(1) {
        ("created", ActivityKind::ContentCreated)
    } else {
        ("updated", ActivityKind::ContentUpdated)
    };
    Some((author, at, format!("{kind} {verb}"), evidence))
}

/// Every contribution one scan result proves inside the window, with its own time where the
/// result says it (the last version's author; the creator at the creation time; the author
/// of the version before the last at its time) and otherwise at the item's last change (the
/// other publishers: search names them but not when they wrote, so the item's change is an
/// upper bound, the safe direction for a reclaim). Only contributions at or after `since`.
fn scan_contributions(
    result: &SearchResultDto,
    since: EpochSeconds,
) -> Vec<(String, EpochSeconds, String, ActivityKind)> {
    let mut out = Vec::new();
    let Some(changed) = changed_at(result) else {
        return out;
    };
    if changed < since {
        return out;
    }
    let noun = kind_name(
        result
            .content
            .as_ref()
            .and_then(|c| c.kind.as_deref())
            .or(result.entity_type.as_deref())
            .unwrap_or(""),
    )
    .to_string();
    if let Some(last) = last_version(result) {
        out.push(last);
    }
    let history = result.content.as_ref().and_then(|c| c.history.as_ref());
    if let Some(history) = history {
        if let (Some(by), Some(at)) = (
            history.created_by.as_ref().and_then(|u| u.id()),
            history.created_date.as_deref().and_then(parse_timestamp),
        ) && at >= since
        {
            out.push((
                by.to_string(),
                at,
                format!("{noun} created"),
                ActivityKind::ContentCreated,
            ));
        }
        if let Some(previous) = &history.previous_version
            && let (Some(by), Some(at)) = (
                previous.by.as_ref().and_then(|u| u.id()),
                previous.when.as_deref().and_then(parse_timestamp),
            )
            && at >= since
        {
            let (verb, evidence) = if previous.number == Some(1) {
                ("created", ActivityKind::ContentCreated)
            } else {
                ("updated", ActivityKind::ContentUpdated)
            };
            out.push((by.to_string(), at, format!("{noun} {verb}"), evidence));
        }
        if let Some(publishers) = history
            .contributors
            .as_ref()
            .and_then(|c| c.publishers.as_ref())
        {
            for id in publishers.account_ids() {
                if !out.iter().any(|(who, ..)| who == id) {
                    out.push((
                        id.to_string(),
                        changed,
                        format!("contributed to a {noun} changed since"),
                        ActivityKind::Contributor,
                    ));
                }
            }
        }
    }
    out
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
        kind: ActivityKind::Contributor,
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

/// The CQL of one time slice of the scan: items changed from `from` (and before `until`,
/// unless it is the newest slice). Adjacent slices share their bound's text, so they are
/// disjoint and leave no gap whatever time zone the site reads the dates in.
pub fn slice_cql(from: EpochSeconds, until: Option<EpochSeconds>) -> String {
    match until {
        Some(until) => format!(
            "{ACTIVITY_TYPES} and lastmodified >= \"{}\" and lastmodified < \"{}\" order by lastmodified desc",
            cql_date(from),
            cql_date(until)
        ),
        None => format!(
            "{ACTIVITY_TYPES} and lastmodified >= \"{}\" order by lastmodified desc",
            cql_date(from)
        ),
    }
}

/// Time slices a scan is split into, at most.
const MAX_SLICES: u64 = 16;
/// Search pages per slice a split aims at (fewer slices, fewer extra pages).
const PAGES_PER_SLICE: u64 = 8;

/// The slices of a scan whose first page reported `total` matches, the newest changed at
/// `newest`: none when the scan is two pages or fewer; else up to [`MAX_SLICES`] slices of
/// equal time, minute-aligned, from the cutoff to `newest`'s next minute, the newest
/// unbounded above (it repeats the first page, its one extra page).
fn slices(since: EpochSeconds, total: u64, newest: EpochSeconds) -> Vec<String> {
    let pages = total.div_ceil(u64::from(SEARCH_LIMIT));
    if pages <= 2 {
        return Vec::new();
    }
    let count = (pages / PAGES_PER_SLICE).clamp(2, MAX_SLICES) as i64;
    let from = since.saturating_sub(TZ_MARGIN).div_euclid(60) * 60;
    let to = (newest.div_euclid(60) + 1) * 60;
    let minutes = (to - from) / 60;
    if minutes < count {
        return Vec::new();
    }
    let bound = |i: i64| from + minutes * i / count * 60;
    (0..count)
        .map(|i| {
            cursor::encode_slice(&SliceCursor {
                since,
                from: bound(i),
                until: (i + 1 < count).then(|| bound(i + 1)),
                paging: Vec::new(),
            })
        })
        .collect()
}

/// One page of the scan. Its first page (no cursor) reads the whole window's newest items
/// and, for a scan of more than two pages, names the window's time slices
/// (`activity-page.slices`) instead of a next cursor: each slice is a cursor chain of its
/// own the engine may follow concurrently, their union the whole window, at most one page
/// more each than its share.
pub fn download(
    http: &dyn Http,
    since: EpochSeconds,
    cursor: Option<&str>,
) -> Result<ActivityPage, SpokeError> {
    let slice = match cursor {
        Some(c) if c.starts_with("a2.") => Some(cursor::decode_slice(c, since)?),
        _ => None,
    };
    let (cql, paging) = match (&slice, cursor) {
        (Some(s), _) => (slice_cql(s.from, s.until), s.paging.clone()),
        (None, Some(c)) => (scan_cql(since), cursor::decode_activity(c, since)?.paging),
        (None, None) => (scan_cql(since), Vec::new()),
    };
    let page: SearchPage = api::fetch(
        http,
        Endpoint::Search,
        api::search_expanded(&cql, SEARCH_LIMIT, SCAN_EXPAND, &paging),
    )?;

    // Each user's latest contribution on this page; at equal times the more exact evidence
    // (created/updated over "contributed to") wins.
    let mut latest: BTreeMap<String, (EpochSeconds, String, ActivityKind)> = BTreeMap::new();
    for result in &page.results {
        for (who, at, source, kind) in scan_contributions(result, since) {
            let better = match latest.get(&who) {
                None => true,
                Some((seen, _, seen_kind)) => {
                    at > *seen
                        || (at == *seen
                            && *seen_kind == ActivityKind::Contributor
                            && kind != ActivityKind::Contributor)
                }
            };
            if better {
                latest.insert(who, (at, source, kind));
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

    let mut next_cursor = match page.links.next.as_deref() {
        Some(link) if !reached_older && !page.results.is_empty() => {
            let paging = next_paging(link)?;
            Some(match &slice {
                Some(s) => cursor::encode_slice(&SliceCursor {
                    paging,
                    ..s.clone()
                }),
                None => cursor::encode_activity(&ActivityCursor { since, paging }),
            })
        }
        _ => None,
    };
    let mut slices = Vec::new();
    if cursor.is_none()
        && next_cursor.is_some()
        && let (Some(total), Some(newest)) =
            (page.total_size, page.results.first().and_then(changed_at))
    {
        slices = self::slices(since, total, newest);
        if !slices.is_empty() {
            // The slices cover the whole window, this page's items included.
            next_cursor = None;
        }
    }
    Ok(ActivityPage {
        activities: latest
            .into_iter()
            .map(|(id, (at, source, kind))| UserActivity {
                external_user_id: id,
                status: ActivityStatus::Seen { at, source, kind },
            })
            .collect(),
        next_cursor,
        slices,
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

/// The last activity of each given user from every source the profile allows: the CQL
/// lookup ([`lookup`]), then, for users it did not show active inside the window, the
/// organization's last-active dates when an organization API key is configured
/// ([`crate::org`]). A CQL lookup refused for a missing scope (a profile that may not search
/// content, such as a reclaim-only one) is skipped when the organization source is there,
/// and fails the call when it is not.
pub fn lookup_all_sources(
    http: &dyn Http,
    config: &crate::model::Config,
    since: EpochSeconds,
    ids: &[String],
) -> Result<Vec<UserActivity>, SpokeError> {
    let cql = match lookup(http, since, ids) {
        Ok(found) => Ok(found),
        Err(SpokeError::Forbidden {
            missing_scope: Some(scope),
            message,
        }) => Err(SpokeError::Forbidden {
            missing_scope: Some(scope),
            message,
        }),
        Err(other) => return Err(other),
    };
    let pending: Vec<&str> = match &cql {
        Ok(found) => found
            .iter()
            .filter(|a| !matches!(a.status, ActivityStatus::Seen { at, .. } if at >= since))
            .map(|a| a.external_user_id.as_str())
            .collect(),
        Err(_) => {
            let mut seen = BTreeSet::new();
            ids.iter()
                .map(|s| s.trim())
                .filter(|s| !s.is_empty() && seen.insert(*s))
                .collect()
        }
    };
    if pending.is_empty() {
        return cql;
    }
    let org = match crate::org::source(http, config) {
        crate::org::OrgSource::Org(org) => org,
        crate::org::OrgSource::NotConfigured => return cql,
        crate::org::OrgSource::Unusable(why) => {
            http.debug(&format!(
                "lookup-activity: organization source unusable: {why}"
            ));
            return match cql {
                Ok(mut found) => {
                    // Users the CQL lookup left unknown keep that; the others keep what
                    // content said, with no reader evidence.
                    for a in &mut found {
                        if let ActivityStatus::Unknown(reason) = &mut a.status {
                            reason.push_str(&format!("; organization last-active dates: {why}"));
                        }
                    }
                    Ok(found)
                }
                Err(e) => Err(e),
            };
        }
    };
    let statuses = crate::org::lookup(
        http,
        &org,
        config.value(crate::manifest::CLOUD_ID),
        since,
        &pending,
    );
    let mut by_id: BTreeMap<String, ActivityStatus> = pending
        .iter()
        .map(|s| s.to_string())
        .zip(statuses)
        .collect();
    let merged = match cql {
        Ok(found) => found
            .into_iter()
            .map(|a| match by_id.remove(&a.external_user_id) {
                Some(org_status) => UserActivity {
                    status: merge(a.status, org_status),
                    external_user_id: a.external_user_id,
                },
                None => a,
            })
            .collect(),
        Err(_) => pending
            .iter()
            .map(|id| UserActivity {
                external_user_id: (*id).to_string(),
                status: by_id
                    .remove(*id)
                    .unwrap_or(ActivityStatus::Unknown("not asked".into())),
            })
            .collect(),
    };
    Ok(merged)
}

/// One user's status from content and from the organization: the later sighting wins; a
/// definite "none in window" from either beats an "unknown" from the other only when the
/// organization says it (it sees readers; content alone cannot rule them out).
fn merge(content: ActivityStatus, org: ActivityStatus) -> ActivityStatus {
    match (content, org) {
        (
            ActivityStatus::Seen {
                at: a,
                source,
                kind,
            },
            ActivityStatus::Seen { at: b, .. },
        ) if a >= b => ActivityStatus::Seen {
            at: a,
            source,
            kind,
        },
        (_, org @ ActivityStatus::Seen { .. }) => org,
        (seen @ ActivityStatus::Seen { .. }, _) => seen,
        (_, ActivityStatus::NoneInWindow) => ActivityStatus::NoneInWindow,
        (ActivityStatus::NoneInWindow, ActivityStatus::Unknown(reason)) => {
            // Content shows no edit, but whether they read is not known.
            ActivityStatus::Unknown(reason)
        }
        (ActivityStatus::Unknown(a), ActivityStatus::Unknown(b)) => {
            ActivityStatus::Unknown(format!("{a}; {b}"))
        }
    }
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
                Some((author, at, source, kind)) if author == member => ActivityStatus::Seen {
                    at: *at,
                    source: source.clone(),
                    kind: *kind,
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
        Some((author, at, source, kind)) if author == id => {
            ActivityStatus::Seen { at, source, kind }
        }
        _ => contributed(result, changed),
    }
}
