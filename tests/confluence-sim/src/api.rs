//! The Confluence REST v1 handlers behind the gateway (`/wiki/rest/api/...`): groups
//! (list, by id, picker, members by id, add and remove a member by id), users (one, bulk,
//! groups of a user) and CQL search. They parse parameters the way Confluence does
//! (bad values give the v1 400 body), enforce the site-admin rule on writes (and, when
//! the production rules say so, the XSRF header and JSON content type), leave suspended
//! users out of member listings, shape
//! bodies after the spec's schemas (`GroupArrayWithLinks`, `UserArray`, `User`,
//! `BulkUserLookupArray`, `SearchPageResponseSearchResult`), build `_links` for offset and
//! cursor pagination, and report the points each answer costs.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::Sim;
use crate::clock::{friendly, rfc3339_ms};
use crate::cql;
use crate::data::{AccessType, ContentType, Directory, GroupRec, Item, NO_USER, UserKind};
use crate::errors::{ApiError, json_response};
use crate::gateway::{AuthCtx, Cost};
use crate::oauth::query_pairs;
use crate::rng::fnv1a;

type ApiResult = Result<Response, ApiError>;

/// Parsed query parameters (repeated keys kept in order).
struct Params(Vec<(String, String)>);

impl Params {
    fn new(q: Option<String>) -> Self {
        Self(query_pairs(q.as_deref()))
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(kk, _)| kk == k)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a multi-valued parameter, also splitting comma lists.
    fn all(&self, k: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(kk, _)| kk == k)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    }

    fn required(&self, k: &str) -> Result<&str, ApiError> {
        match self.get(k) {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(ApiError::BadRequest(format!(
                "The required parameter '{k}' is missing"
            ))),
        }
    }

    fn uint(&self, k: &str, default: u64) -> Result<u64, ApiError> {
        match self.get(k) {
            None | Some("") => Ok(default),
            Some(v) => v.trim().parse::<u64>().map_err(|_| {
                ApiError::BadRequest(format!(
                    "Parameter '{k}' must be a non-negative integer, got '{v}'"
                ))
            }),
        }
    }

    fn boolean(&self, k: &str) -> Result<bool, ApiError> {
        match self.get(k) {
            None | Some("") => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(ApiError::BadRequest(format!(
                "Parameter '{k}' must be true or false, got '{v}'"
            ))),
        }
    }
}

fn ok(body: &Value, objects: u64, unit_cost: u64) -> Response {
    let mut r = json_response(StatusCode::OK, body);
    r.extensions_mut().insert(Cost(objects * unit_cost));
    r
}

fn identity_cost(sim: &Sim) -> u64 {
    sim.runtime.read().rate.identity_object_cost
}

fn core_cost(sim: &Sim) -> u64 {
    sim.runtime.read().rate.core_object_cost
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn group_json(site: &str, g: &GroupRec) -> Value {
    json!({
        "type": "group",
        "name": g.name,
        "id": g.id,
        "_links": { "self": format!("{site}/wiki/rest/api/group/by-id?id={}", g.id) }
    })
}

/// `GroupArrayWithLinks` for a slice of groups.
#[allow(clippy::too_many_arguments)]
fn group_page(
    site: &str,
    all: &[&GroupRec],
    start: u64,
    limit: u64,
    self_path: &str,
    next_query: &str,
    total: bool,
) -> (Value, u64) {
    let from = (start as usize).min(all.len());
    let to = from.saturating_add(limit as usize).min(all.len());
    let results: Vec<Value> = all[from..to].iter().map(|g| group_json(site, g)).collect();
    let size = results.len();
    let mut links = json!({
        "base": format!("{site}/wiki"),
        "context": "/wiki",
        "self": format!("{site}/wiki{self_path}"),
    });
    if to < all.len() {
        links["next"] = Value::String(format!(
            "{self_path}?next=true{next_query}&limit={limit}&start={}",
            start + size as u64
        ));
    }
    let mut body = json!({
        "results": results,
        "start": start,
        "limit": limit,
        "size": size,
        "_links": links,
    });
    if total {
        body["totalSize"] = json!(all.len());
    }
    (body, size as u64)
}

#[derive(Clone, Copy, Default)]
struct UserExpand {
    operations: bool,
    personal_space: bool,
}

impl UserExpand {
    fn from(p: &Params) -> Self {
        let all = p.all("expand");
        Self {
            operations: all.contains(&"operations"),
            personal_space: all.contains(&"personalSpace"),
        }
    }
}

fn user_json(site: &str, d: &Directory, u: u32, ex: UserExpand) -> Value {
    let rec = &d.users[u as usize];
    let id = rec.account_id.as_ref();
    let guest = rec.kind == UserKind::Guest;
    let mut v = json!({
        "type": "known",
        "accountId": id,
        "accountType": if rec.kind == UserKind::App { "app" } else { "atlassian" },
        "email": rec.email.as_ref(),
        "publicName": rec.display_name.as_ref(),
        "profilePicture": {
            "path": format!("/wiki/aa-avatar/{id}"),
            "width": 48,
            "height": 48,
            "isDefault": false
        },
        "displayName": rec.display_name.as_ref(),
        "timeZone": crate::data::TIME_ZONES[rec.tz as usize % crate::data::TIME_ZONES.len()],
        "isExternalCollaborator": guest,
        "isGuest": guest,
        "_expandable": { "operations": "", "personalSpace": "" },
        "_links": { "self": format!("{site}/wiki/rest/api/user?accountId={}", enc(id)) }
    });
    if ex.operations && rec.suspended {
        // A deactivated account may do nothing: an empty list marks it.
        v["operations"] = json!([]);
        if let Some(e) = v["_expandable"].as_object_mut() {
            e.remove("operations");
        }
    } else if ex.operations {
        let mut ops = vec![
            json!({"operation": "use", "targetType": "application"}),
            json!({"operation": "create", "targetType": "page"}),
            json!({"operation": "create", "targetType": "blogpost"}),
            json!({"operation": "create", "targetType": "comment"}),
            json!({"operation": "create", "targetType": "attachment"}),
        ];
        if d.is_site_admin(u) {
            ops.push(json!({"operation": "administer", "targetType": "application"}));
        }
        v["operations"] = Value::Array(ops);
        if let Some(e) = v["_expandable"].as_object_mut() {
            e.remove("operations");
        }
    }
    if ex.personal_space && rec.kind != UserKind::App {
        let key = format!("~{}", id.replace([':', '-'], ""));
        v["personalSpace"] = json!({
            "id": 1_000_000 + u64::from(u),
            "key": key,
            "name": rec.display_name.as_ref(),
            "type": "personal",
            "status": "current",
            "_expandable": { "settings": "", "metadata": "", "operations": "", "lookAndFeel": "",
                             "identifiers": "", "permissions": "", "icon": "", "description": "",
                             "theme": "", "history": "", "homepage": "" },
            "_links": { "webui": format!("/spaces/{key}"), "self": format!("{site}/wiki/rest/api/space/{key}") }
        });
        if let Some(e) = v["_expandable"].as_object_mut() {
            e.remove("personalSpace");
        }
    }
    v
}

/// The write checks Atlassian makes before the resource runs (each behind a setting):
/// the XSRF token header, then (for bodies) a JSON content type. `Some` is the refusal.
fn write_checks(sim: &Sim, headers: &HeaderMap, has_body: bool) -> Option<Response> {
    let rules = sim.runtime.read().rules.clone();
    if rules.require_xsrf_header {
        let ok = headers
            .get("x-atlassian-token")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("no-check"));
        if !ok {
            let mut r = (StatusCode::FORBIDDEN, "XSRF check failed").into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain;charset=UTF-8"),
            );
            return Some(r);
        }
    }
    if has_body && rules.require_json_content_type {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json {
            return Some(StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response());
        }
    }
    None
}

fn forbidden_unless_admin(d: &Directory, ctx: &AuthCtx, action: &str) -> Result<(), ApiError> {
    if d.is_site_admin(ctx.user) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "User {} is not permitted to {action}; site admin permission is required",
            d.users[ctx.user as usize].account_id
        )))
    }
}

// ---------------------------------------------------------------- groups

/// `GET /group`.
pub(crate) async fn get_groups(State(sim): State<Arc<Sim>>, RawQuery(q): RawQuery) -> ApiResult {
    let p = Params::new(q);
    let start = p.uint("start", 0)?;
    let limit = p.uint("limit", 200)?.min(200);
    let access = match p.get("accessType") {
        None | Some("") => None,
        Some(a) => Some(AccessType::parse(a).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Invalid accessType '{a}'; expected one of user, admin, site-admin"
            ))
        })?),
    };
    let d = sim.dir.read();
    let all: Vec<&GroupRec> = d
        .groups
        .iter()
        .filter(|g| access.is_none() || g.access == access)
        .collect();
    let nq = p
        .get("accessType")
        .map(|a| format!("&accessType={}", enc(a)))
        .unwrap_or_default();
    let (body, n) = group_page(
        &sim.site.url,
        &all,
        start,
        limit,
        "/rest/api/group",
        &nq,
        false,
    );
    Ok(ok(&body, n, identity_cost(&sim)))
}

/// `GET /group/by-id`.
pub(crate) async fn get_group_by_id(
    State(sim): State<Arc<Sim>>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let p = Params::new(q);
    let id = p.required("id")?;
    let d = sim.dir.read();
    let g = d
        .group_by_id(id)
        .ok_or_else(|| ApiError::NotFound(format!("No group found with id: {id}")))?;
    Ok(ok(
        &group_json(&sim.site.url, &d.groups[g]),
        1,
        identity_cost(&sim),
    ))
}

/// `GET /group/picker`.
pub(crate) async fn group_picker(State(sim): State<Arc<Sim>>, RawQuery(q): RawQuery) -> ApiResult {
    let p = Params::new(q);
    let query = p.required("query")?.to_lowercase();
    let start = p.uint("start", 0)?;
    let limit = p.uint("limit", 200)?.min(200);
    let total = p.boolean("shouldReturnTotalSize")?;
    let d = sim.dir.read();
    let all: Vec<&GroupRec> = d
        .groups
        .iter()
        .filter(|g| g.name.to_lowercase().contains(&query))
        .collect();
    let nq = format!("&query={}", enc(&query));
    let (body, n) = group_page(
        &sim.site.url,
        &all,
        start,
        limit,
        "/rest/api/group/picker",
        &nq,
        total,
    );
    Ok(ok(&body, n, identity_cost(&sim)))
}

/// `GET /group/{groupId}/membersByGroupId`.
pub(crate) async fn group_members(
    State(sim): State<Arc<Sim>>,
    Path((_cloud, group_id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let p = Params::new(q);
    let start = p.uint("start", 0)?;
    let limit = p.uint("limit", 200)?;
    if limit > 200 {
        return Err(ApiError::BadRequest(format!(
            "The limit {limit} exceeds the maximum allowed page size of 200"
        )));
    }
    let total = p.boolean("shouldReturnTotalSize")?;
    let ex = UserExpand::from(&p);
    let d = sim.dir.read();
    let g = d
        .group_by_id(&group_id)
        .ok_or_else(|| ApiError::NotFound(format!("No group found with id: {group_id}")))?;
    // Suspended and deactivated users are left out, of the pages and of the total.
    let listed = d.listed_members(g);
    let members: &[u32] = &listed;
    let site = &sim.site.url;
    let from = (start as usize).min(members.len());
    let to = from.saturating_add(limit as usize).min(members.len());
    let results: Vec<Value> = members[from..to]
        .iter()
        .map(|&u| user_json(site, &d, u, ex))
        .collect();
    let size = results.len();
    let self_path = format!("/rest/api/group/{group_id}/membersByGroupId");
    let mut links = json!({
        "base": format!("{site}/wiki"),
        "context": "/wiki",
        "self": format!("{site}/wiki{self_path}"),
    });
    if to < members.len() {
        let mut extra = String::new();
        for e in p.all("expand") {
            extra.push_str(&format!("&expand={}", enc(e)));
        }
        if total {
            extra.push_str("&shouldReturnTotalSize=true");
        }
        links["next"] = Value::String(format!(
            "{self_path}?next=true{extra}&limit={limit}&start={}",
            start + size as u64
        ));
    }
    let mut body = json!({
        "results": results,
        "start": start,
        "limit": limit,
        "size": size,
        "_links": links,
    });
    if total {
        body["totalSize"] = json!(members.len());
    }
    Ok(ok(&body, size as u64, identity_cost(&sim)))
}

/// `POST /group/userByGroupId?groupId=` with `{"accountId": "..."}`.
pub(crate) async fn add_member(
    State(sim): State<Arc<Sim>>,
    Extension(ctx): Extension<AuthCtx>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    if let Some(r) = write_checks(&sim, &headers, true) {
        return Ok(r);
    }
    let p = Params::new(q);
    let group_id = p.required("groupId")?.to_string();
    let account_id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| {
            v.get("accountId")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest("The request body must be {\"accountId\": \"...\"}".into())
        })?;
    let mut d = sim.dir.write();
    forbidden_unless_admin(&d, &ctx, "add members to groups")?;
    let g = d
        .group_by_id(&group_id)
        .ok_or_else(|| ApiError::NotFound(format!("No group found with id: {group_id}")))?;
    let u = d
        .user_by_account(&account_id)
        .ok_or_else(|| ApiError::NotFound(format!("No user found with accountId: {account_id}")))?;
    d.add_member(g, u);
    drop(d);
    let mut r = StatusCode::CREATED.into_response();
    if sim.runtime.read().rules.empty_201_declared_json {
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=UTF-8"),
        );
    }
    Ok(r)
}

/// `DELETE /group/userByGroupId?groupId=&accountId=`.
pub(crate) async fn remove_member(
    State(sim): State<Arc<Sim>>,
    Extension(ctx): Extension<AuthCtx>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    if let Some(r) = write_checks(&sim, &headers, false) {
        return Ok(r);
    }
    let p = Params::new(q);
    let group_id = p.required("groupId")?.to_string();
    let account_id = p.required("accountId")?.to_string();
    let mut d = sim.dir.write();
    forbidden_unless_admin(&d, &ctx, "remove members from groups")?;
    let g = d
        .group_by_id(&group_id)
        .ok_or_else(|| ApiError::NotFound(format!("No group found with id: {group_id}")))?;
    let u = d
        .user_by_account(&account_id)
        .ok_or_else(|| ApiError::NotFound(format!("No user found with accountId: {account_id}")))?;
    // 204 also when the user was not a member.
    d.remove_member(g, u);
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- users

/// `GET /user?accountId=`.
pub(crate) async fn get_user(State(sim): State<Arc<Sim>>, RawQuery(q): RawQuery) -> ApiResult {
    let p = Params::new(q);
    let id = p.required("accountId")?;
    let d = sim.dir.read();
    let u = d
        .user_by_account(id)
        .ok_or_else(|| ApiError::NotFound(format!("No user found with accountId: {id}")))?;
    Ok(ok(
        &user_json(&sim.site.url, &d, u, UserExpand::from(&p)),
        1,
        identity_cost(&sim),
    ))
}

/// `GET /user/current`: the user the token was issued to.
pub(crate) async fn current_user(
    State(sim): State<Arc<Sim>>,
    Extension(ctx): Extension<AuthCtx>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let p = Params::new(q);
    let d = sim.dir.read();
    if ctx.user as usize >= d.users.len() {
        return Err(ApiError::NotFound("No current user".into()));
    }
    Ok(ok(
        &user_json(&sim.site.url, &d, ctx.user, UserExpand::from(&p)),
        1,
        identity_cost(&sim),
    ))
}

/// `GET /user/bulk?accountId=a,b,c`.
pub(crate) async fn bulk_users(State(sim): State<Arc<Sim>>, RawQuery(q): RawQuery) -> ApiResult {
    let p = Params::new(q);
    p.required("accountId")?;
    let ids = p.all("accountId");
    let limit = p.uint("limit", 200)?;
    if limit == 0 {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 200".into(),
        ));
    }
    let limit = limit.min(200);
    let ex = UserExpand::from(&p);
    let d = sim.dir.read();
    let site = &sim.site.url;
    let results: Vec<Value> = ids
        .iter()
        .take(limit as usize)
        .filter_map(|id| d.user_by_account(id))
        .map(|u| user_json(site, &d, u, ex))
        .collect();
    let size = results.len();
    let body = json!({
        "results": results,
        "start": 0,
        "limit": limit,
        "size": size,
        "_links": {
            "base": format!("{site}/wiki"),
            "context": "/wiki",
            "self": format!("{site}/wiki/rest/api/user/bulk"),
        }
    });
    Ok(ok(&body, size as u64, identity_cost(&sim)))
}

/// `GET /user/memberof?accountId=`.
pub(crate) async fn user_member_of(
    State(sim): State<Arc<Sim>>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let p = Params::new(q);
    let id = p.required("accountId")?.to_string();
    let start = p.uint("start", 0)?;
    let limit = p.uint("limit", 200)?.min(200);
    let d = sim.dir.read();
    let u = d
        .user_by_account(&id)
        .ok_or_else(|| ApiError::NotFound(format!("No user found with accountId: {id}")))?;
    let all: Vec<&GroupRec> = d.user_groups(u).into_iter().map(|g| &d.groups[g]).collect();
    let nq = format!("&accountId={}", enc(&id));
    let (body, n) = group_page(
        &sim.site.url,
        &all,
        start,
        limit,
        "/rest/api/user/memberof",
        &nq,
        false,
    );
    Ok(ok(&body, n, identity_cost(&sim)))
}

// ---------------------------------------------------------------- search

const TITLE_WORDS: &[&str] = &[
    "Roadmap",
    "Retrospective",
    "Onboarding",
    "Architecture",
    "Release",
    "Notes",
    "Runbook",
    "Planning",
    "Design",
    "Review",
    "Quarterly",
    "Incident",
    "Postmortem",
    "Guide",
    "Budget",
    "Meeting",
    "Decisions",
    "Requirements",
    "Strategy",
    "Handbook",
];

fn title(it: &Item) -> String {
    let w = |k: u32| {
        TITLE_WORDS
            [(it.id.wrapping_mul(2_654_435_761).rotate_left(k) % TITLE_WORDS.len() as u32) as usize]
    };
    match it.kind {
        ContentType::Page => format!("{} {} {}", w(3), w(11), it.id),
        ContentType::BlogPost => format!("Blog: {} {}", w(5), it.id),
        ContentType::Comment => format!("Re: {} {}", w(7), it.id),
        ContentType::Attachment => format!("{}-{}.png", w(13).to_lowercase(), it.id),
    }
}

#[derive(Clone, Copy, Default)]
struct ContentExpand {
    version: bool,
    history: bool,
    history_last_updated: bool,
    history_contributors: bool,
    history_previous: bool,
    space: bool,
}

fn version_json(site: &str, d: &Directory, it: &Item) -> Value {
    version_of(site, d, it, it.version, it.last_editor, it.modified_ms)
}

/// The version before the current one. Version 1 is the creator's; when an intermediate
/// editor exists, theirs is the previous version; otherwise the last editor also made it
/// (consecutive edits), at the item's midpoint. Ground truth (`last_activity`) agrees.
fn previous_version_json(site: &str, d: &Directory, it: &Item) -> Option<Value> {
    let number = it.version.checked_sub(1).filter(|n| *n >= 1)?;
    let (by, when) = if number == 1 {
        (it.creator, it.created_ms)
    } else if it.mid_editor != NO_USER {
        (it.mid_editor, it.mid_ms())
    } else {
        (it.last_editor, it.mid_ms())
    };
    Some(version_of(site, d, it, number, by, when))
}

fn version_of(site: &str, d: &Directory, it: &Item, number: u16, by: u32, when: i64) -> Value {
    json!({
        "by": user_json(site, d, by, UserExpand::default()),
        "when": rfc3339_ms(when),
        "friendlyWhen": friendly(when),
        "message": "",
        "number": number,
        "minorEdit": false,
        "contentTypeModified": false,
        "_expandable": { "collaborators": "", "content": format!("/rest/api/content/{}", it.id) },
        "_links": { "self": format!("{site}/wiki/rest/api/content/{}/version/{}", it.id, number) }
    })
}

fn content_json(sim: &Sim, d: &Directory, it: &Item, ex: ContentExpand) -> Value {
    let site = &sim.site.url;
    let (space_key, space_name) = &sim.content.spaces[it.space as usize];
    let t = title(it);
    let kind = it.kind.as_str();
    let webui = match it.kind {
        ContentType::BlogPost => format!("/spaces/{space_key}/blog/{}", it.id),
        _ => format!("/spaces/{space_key}/pages/{}/{}", it.id, enc(&t)),
    };
    let mut expandable = Map::new();
    for k in [
        "container",
        "metadata",
        "extensions",
        "operations",
        "children",
        "history",
        "ancestors",
        "body",
        "version",
        "descendants",
        "space",
    ] {
        expandable.insert(k.to_string(), Value::String(String::new()));
    }
    expandable.insert(
        "history".into(),
        Value::String(format!("/rest/api/content/{}/history", it.id)),
    );
    expandable.insert(
        "space".into(),
        Value::String(format!("/rest/api/space/{space_key}")),
    );
    let mut v = json!({
        "id": it.id.to_string(),
        "type": kind,
        "status": "current",
        "title": t,
        "childTypes": {},
        "macroRenderedOutput": {},
        "restrictions": {},
        "_links": {
            "webui": webui,
            "self": format!("{site}/wiki/rest/api/content/{}", it.id),
            "tinyui": format!("/x/{}", URL_SAFE_NO_PAD.encode(it.id.to_le_bytes())),
        }
    });
    if ex.version {
        v["version"] = version_json(site, d, it);
        expandable.remove("version");
    }
    if ex.history {
        let mut h = json!({
            "latest": true,
            "createdBy": user_json(site, d, it.creator, UserExpand::default()),
            "createdDate": rfc3339_ms(it.created_ms),
            "_expandable": {
                "lastUpdated": "", "previousVersion": "", "contributors": "", "nextVersion": ""
            },
            "_links": { "self": format!("{site}/wiki/rest/api/content/{}/history", it.id) }
        });
        if ex.history_last_updated {
            h["lastUpdated"] = version_json(site, d, it);
            if let Some(e) = h["_expandable"].as_object_mut() {
                e.remove("lastUpdated");
            }
        }
        if ex.history_previous {
            if let Some(pv) = previous_version_json(site, d, it) {
                h["previousVersion"] = pv;
            }
            if let Some(e) = h["_expandable"].as_object_mut() {
                e.remove("previousVersion");
            }
        }
        if ex.history_contributors {
            let mut ids = vec![it.creator];
            for u in [it.mid_editor, it.last_editor] {
                if u != NO_USER && !ids.contains(&u) {
                    ids.push(u);
                }
            }
            let users: Vec<Value> = ids
                .iter()
                .map(|&u| user_json(site, d, u, UserExpand::default()))
                .collect();
            let account_ids: Vec<&str> = ids
                .iter()
                .map(|&u| d.users[u as usize].account_id.as_ref())
                .collect();
            h["contributors"] =
                json!({ "publishers": { "users": users, "userAccountIds": account_ids } });
            if let Some(e) = h["_expandable"].as_object_mut() {
                e.remove("contributors");
            }
        }
        v["history"] = h;
        expandable.remove("history");
    }
    if ex.space {
        v["space"] = json!({
            "id": 2_000 + u64::from(it.space),
            "key": space_key,
            "name": space_name,
            "type": "global",
            "status": "current",
            "_expandable": { "settings": "", "metadata": "", "operations": "", "lookAndFeel": "",
                             "identifiers": "", "permissions": "", "icon": "", "description": "",
                             "theme": "", "history": "", "homepage": "" },
            "_links": { "webui": format!("/spaces/{space_key}"), "self": format!("{site}/wiki/rest/api/space/{space_key}") }
        });
        expandable.remove("space");
    }
    v["_expandable"] = Value::Object(expandable);
    v
}

fn encode_cursor(pos: usize, fp: u64) -> String {
    let mut b = [0u8; 12];
    b[..4].copy_from_slice(&((pos as u32) ^ (fp as u32)).to_le_bytes());
    b[4..].copy_from_slice(&fp.to_le_bytes());
    URL_SAFE_NO_PAD.encode(b)
}

fn decode_cursor(c: &str, fp: u64) -> Option<usize> {
    let b = URL_SAFE_NO_PAD.decode(c.as_bytes()).ok()?;
    if b.len() != 12 || b[4..] != fp.to_le_bytes() {
        return None;
    }
    let x = u32::from_le_bytes(b[..4].try_into().ok()?);
    Some((x ^ fp as u32) as usize)
}

/// `GET /search?cql=...`.
pub(crate) async fn search(
    State(sim): State<Arc<Sim>>,
    Extension(ctx): Extension<AuthCtx>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let t0 = Instant::now();
    let p = Params::new(q);
    let cql_src = p.required("cql")?.to_string();
    let excerpt = p.get("excerpt").unwrap_or("highlight");
    if ![
        "highlight",
        "indexed",
        "none",
        "highlight_unescaped",
        "indexed_unescaped",
    ]
    .contains(&excerpt)
    {
        return Err(ApiError::BadRequest(format!(
            "Invalid excerpt strategy '{excerpt}'"
        )));
    }
    let expands = p.all("expand");
    let mut ex = ContentExpand::default();
    for e in &expands {
        match *e {
            "content.version" => ex.version = true,
            "content.history" => ex.history = true,
            "content.history.lastUpdated" => {
                ex.history = true;
                ex.history_last_updated = true;
            }
            "content.history.contributors.publishers.users"
            | "content.history.contributors.publishers"
            | "content.history.contributors" => {
                ex.history = true;
                ex.history_contributors = true;
            }
            "content.history.previousVersion" => {
                ex.history = true;
                ex.history_previous = true;
            }
            "content.space" => ex.space = true,
            _ => {}
        }
    }
    // Fixed system limits, by expansion.
    let cap = if expands
        .iter()
        .any(|e| e.contains("body.export_view") || e.contains("body.styled_view"))
    {
        25
    } else if expands.iter().any(|e| e.contains("body")) {
        50
    } else if !expands.is_empty() {
        200
    } else {
        1000
    };
    let limit = p.uint("limit", 25)?.clamp(1, cap);
    let parsed = cql::parse(&cql_src).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let fp = fnv1a(cql_src.as_bytes());
    let d = sim.dir.read();
    let key = format!("{cql_src}\u{0}{}", ctx.user);
    let cached = sim.search_cache.lock().get(&key).cloned();
    let matches = match cached {
        Some(m) => m,
        None => {
            let compiled = parsed
                .compile(&d, &sim.content, ctx.user)
                .map_err(|e| ApiError::BadRequest(e.to_string()))?;
            let m = Arc::new(compiled.run(&sim.content));
            let mut cache = sim.search_cache.lock();
            if cache.len() >= 256 {
                cache.clear();
            }
            cache.insert(key, m.clone());
            m
        }
    };
    let pos = match p.get("cursor") {
        Some(c) if !c.is_empty() => decode_cursor(c, fp)
            .ok_or_else(|| ApiError::BadRequest(format!("Invalid cursor: {c}")))?,
        _ => p.uint("start", 0)? as usize,
    }
    .min(matches.len());
    let end = pos.saturating_add(limit as usize).min(matches.len());
    let site = &sim.site.url;
    let results: Vec<Value> = matches[pos..end]
        .iter()
        .map(|&i| {
            let it = &sim.content.items[i as usize];
            let c = content_json(&sim, &d, it, ex);
            let (space_key, space_name) = &sim.content.spaces[it.space as usize];
            json!({
                "title": c["title"].clone(),
                "excerpt": if excerpt == "none" { String::new() } else { format!("{} …", c["title"].as_str().unwrap_or("")) },
                "url": c["_links"]["webui"].clone(),
                "resultGlobalContainer": { "title": space_name, "displayUrl": format!("/spaces/{space_key}") },
                "breadcrumbs": [],
                "entityType": "content",
                "iconCssClass": format!("aui-icon content-type-{}", it.kind.as_str()),
                "lastModified": rfc3339_ms(it.modified_ms),
                "friendlyLastModified": friendly(it.modified_ms),
                "score": 0.0,
                "content": c,
            })
        })
        .collect();
    drop(d);
    let size = results.len();
    let mut carry = format!("cql={}&limit={limit}", enc(&cql_src));
    for e in &expands {
        carry.push_str(&format!("&expand={}", enc(e)));
    }
    if let Some(e) = p.get("excerpt") {
        carry.push_str(&format!("&excerpt={}", enc(e)));
    }
    let mut links = json!({
        "base": format!("{site}/wiki"),
        "context": "/wiki",
        "self": format!("{site}/wiki/rest/api/search?{carry}"),
    });
    if end < matches.len() {
        links["next"] = Value::String(format!(
            "/rest/api/search?{carry}&next=true&cursor={}",
            encode_cursor(end, fp)
        ));
    }
    if pos > 0 {
        links["prev"] = Value::String(format!(
            "/rest/api/search?{carry}&prev=true&cursor={}",
            encode_cursor(pos.saturating_sub(limit as usize), fp)
        ));
    }
    let body = json!({
        "results": results,
        "start": pos,
        "limit": limit,
        "size": size,
        "totalSize": matches.len(),
        "cqlQuery": cql_src,
        "searchDuration": t0.elapsed().as_millis() as u64,
        "_links": links,
    });
    Ok(ok(&body, size as u64, core_cost(&sim)))
}
