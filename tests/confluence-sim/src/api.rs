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
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Value, json};

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

fn ok(body: &impl Serialize, objects: u64, unit_cost: u64) -> Response {
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

#[cfg(test)] // The reference document of the search writer below (see its test).
fn version_json(site: &str, d: &Directory, it: &Item) -> Value {
    version_of(site, d, it, it.version, it.last_editor, it.modified_ms)
}

#[cfg(test)] // The reference document of the search writer below (see its test).
fn previous_version_json(site: &str, d: &Directory, it: &Item) -> Option<Value> {
    let (number, by, when) = previous_version(it)?;
    Some(version_of(site, d, it, number, by, when))
}

#[cfg(test)] // The reference document of the search writer below (see its test).
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

/// An item's web UI path.
fn webui_of(space_key: &str, it: &Item, title: &str) -> String {
    match it.kind {
        ContentType::BlogPost => format!("/spaces/{space_key}/blog/{}", it.id),
        _ => format!("/spaces/{space_key}/pages/{}/{}", it.id, enc(title)),
    }
}

#[cfg(test)] // The reference document of the search writer below (see its test).
fn content_json(sim: &Sim, d: &Directory, it: &Item, ex: ContentExpand) -> Value {
    let site = &sim.site.url;
    let (space_key, space_name) = &sim.content.spaces[it.space as usize];
    let t = title(it);
    let kind = it.kind.as_str();
    let webui = webui_of(space_key, it, &t);
    let mut expandable = serde_json::Map::new();
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
            let ids = contributors(it);
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
    let size = end - pos;
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
    let body = SearchPageOut {
        results: ResultsOut {
            sim: &sim,
            d: &d,
            items: &matches[pos..end],
            ex,
            excerpt: excerpt != "none",
        },
        start: pos,
        limit,
        size,
        total_size: matches.len(),
        cql_query: &cql_src,
        search_duration: t0.elapsed().as_millis() as u64,
        links,
    };
    let response = ok(&body, size as u64, core_cost(&sim));
    drop(d);
    Ok(response)
}

// Search results written straight to JSON. A scan page carries 200 items with their history
// and contributors expanded (close to 1 MB); building it as a `Value` tree first made the
// simulator, not the client, the slowest part of a scan. These write the same document
// (`content_json` is the reference, and a test holds them equal) without the tree.

/// A formatted string, serialized without an intermediate `String`.
struct Text<F>(F);

impl<F: Fn(&mut std::fmt::Formatter<'_>) -> std::fmt::Result> std::fmt::Display for Text<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (self.0)(f)
    }
}

impl<F: Fn(&mut std::fmt::Formatter<'_>) -> std::fmt::Result> Serialize for Text<F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A query-string value, form-encoded as `enc` does.
struct Enc<'a>(&'a str);

impl std::fmt::Display for Enc<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        form_urlencoded::byte_serialize(self.0.as_bytes()).try_for_each(|s| f.write_str(s))
    }
}

/// An object of string values (`_expandable` and `_links`), each written as it comes.
struct Strs<'a>(&'a [(&'a str, &'a dyn std::fmt::Display)]);

impl Serialize for Strs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, &Text(|f: &mut std::fmt::Formatter<'_>| v.fmt(f)))?;
        }
        m.end()
    }
}

/// `{}`.
struct Empty;

impl Serialize for Empty {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_map(Some(0))?.end()
    }
}

/// `user_json` with no expansion.
struct UserOut<'a> {
    site: &'a str,
    d: &'a Directory,
    u: u32,
}

impl Serialize for UserOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let rec = &self.d.users[self.u as usize];
        let id = rec.account_id.as_ref();
        let guest = rec.kind == UserKind::Guest;
        let site = self.site;
        let mut m = s.serialize_map(Some(12))?;
        m.serialize_entry("type", "known")?;
        m.serialize_entry("accountId", id)?;
        m.serialize_entry(
            "accountType",
            if rec.kind == UserKind::App {
                "app"
            } else {
                "atlassian"
            },
        )?;
        m.serialize_entry("email", rec.email.as_ref())?;
        m.serialize_entry("publicName", rec.display_name.as_ref())?;
        m.serialize_entry(
            "profilePicture",
            &Picture::new(Text(|f: &mut std::fmt::Formatter<'_>| {
                write!(f, "/wiki/aa-avatar/{id}")
            })),
        )?;
        m.serialize_entry("displayName", rec.display_name.as_ref())?;
        m.serialize_entry(
            "timeZone",
            crate::data::TIME_ZONES[rec.tz as usize % crate::data::TIME_ZONES.len()],
        )?;
        m.serialize_entry("isExternalCollaborator", &guest)?;
        m.serialize_entry("isGuest", &guest)?;
        m.serialize_entry(
            "_expandable",
            &Strs(&[("operations", &""), ("personalSpace", &"")]),
        )?;
        let link = Text(|f: &mut std::fmt::Formatter<'_>| {
            write!(f, "{site}/wiki/rest/api/user?accountId={}", Enc(id))
        });
        m.serialize_entry("_links", &Strs(&[("self", &link)]))?;
        m.end()
    }
}

/// A user's `profilePicture`: the avatar at `path`, 48 pixels square.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Picture<P> {
    path: P,
    width: u32,
    height: u32,
    is_default: bool,
}

impl<P> Picture<P> {
    fn new(path: P) -> Self {
        Self {
            path,
            width: 48,
            height: 48,
            is_default: false,
        }
    }
}

/// A version (`Version`).
struct VersionOut<'a> {
    site: &'a str,
    d: &'a Directory,
    it: &'a Item,
    number: u16,
    by: u32,
    when: i64,
}

impl<'a> VersionOut<'a> {
    /// The item's current version, by its last editor.
    fn current(site: &'a str, d: &'a Directory, it: &'a Item) -> Self {
        Self {
            site,
            d,
            it,
            number: it.version,
            by: it.last_editor,
            when: it.modified_ms,
        }
    }
}

impl Serialize for VersionOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (site, id, number) = (self.site, self.it.id, self.number);
        let mut m = s.serialize_map(Some(9))?;
        m.serialize_entry(
            "by",
            &UserOut {
                site,
                d: self.d,
                u: self.by,
            },
        )?;
        m.serialize_entry("when", &rfc3339_ms(self.when))?;
        m.serialize_entry("friendlyWhen", &friendly(self.when))?;
        m.serialize_entry("message", "")?;
        m.serialize_entry("number", &number)?;
        m.serialize_entry("minorEdit", &false)?;
        m.serialize_entry("contentTypeModified", &false)?;
        let content = Text(|f: &mut std::fmt::Formatter<'_>| write!(f, "/rest/api/content/{id}"));
        m.serialize_entry(
            "_expandable",
            &Strs(&[("collaborators", &""), ("content", &content)]),
        )?;
        let link = Text(|f: &mut std::fmt::Formatter<'_>| {
            write!(f, "{site}/wiki/rest/api/content/{id}/version/{number}")
        });
        m.serialize_entry("_links", &Strs(&[("self", &link)]))?;
        m.end()
    }
}

/// The version before the current one (number, author, time). Version 1 is the creator's; when an intermediate
/// editor exists, theirs is the previous version; otherwise the last editor also made it
/// (consecutive edits), at the item's midpoint. Ground truth (`last_activity`) agrees.
fn previous_version(it: &Item) -> Option<(u16, u32, i64)> {
    let number = it.version.checked_sub(1).filter(|n| *n >= 1)?;
    Some(if number == 1 {
        (number, it.creator, it.created_ms)
    } else if it.mid_editor != NO_USER {
        (number, it.mid_editor, it.mid_ms())
    } else {
        (number, it.last_editor, it.mid_ms())
    })
}

/// The item's contributors: its creator, then its other editors, each once.
fn contributors(it: &Item) -> Vec<u32> {
    let mut ids = vec![it.creator];
    for u in [it.mid_editor, it.last_editor] {
        if u != NO_USER && !ids.contains(&u) {
            ids.push(u);
        }
    }
    ids
}

/// A content item (`Content`) with the expansions asked.
struct ContentOut<'a> {
    sim: &'a Sim,
    d: &'a Directory,
    it: &'a Item,
    ex: ContentExpand,
    title: &'a str,
    webui: &'a str,
}

impl Serialize for ContentOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (d, it, ex) = (self.d, self.it, self.ex);
        let site = self.sim.site.url.as_str();
        let id = it.id;
        let (space_key, space_name) = &self.sim.content.spaces[it.space as usize];
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(
            "id",
            &Text(|f: &mut std::fmt::Formatter<'_>| write!(f, "{id}")),
        )?;
        m.serialize_entry("type", it.kind.as_str())?;
        m.serialize_entry("status", "current")?;
        m.serialize_entry("title", self.title)?;
        m.serialize_entry("childTypes", &Empty)?;
        m.serialize_entry("macroRenderedOutput", &Empty)?;
        m.serialize_entry("restrictions", &Empty)?;
        let this =
            Text(|f: &mut std::fmt::Formatter<'_>| write!(f, "{site}/wiki/rest/api/content/{id}"));
        let tiny = Text(|f: &mut std::fmt::Formatter<'_>| {
            write!(f, "/x/{}", URL_SAFE_NO_PAD.encode(id.to_le_bytes()))
        });
        m.serialize_entry(
            "_links",
            &Strs(&[("webui", &self.webui), ("self", &this), ("tinyui", &tiny)]),
        )?;
        if ex.version {
            m.serialize_entry("version", &VersionOut::current(site, d, it))?;
        }
        if ex.history {
            m.serialize_entry("history", &HistoryOut { site, d, it, ex })?;
        }
        if ex.space {
            let webui = Text(|f: &mut std::fmt::Formatter<'_>| write!(f, "/spaces/{space_key}"));
            let this = Text(|f: &mut std::fmt::Formatter<'_>| {
                write!(f, "{site}/wiki/rest/api/space/{space_key}")
            });
            m.serialize_entry(
                "space",
                &SpaceOut {
                    id: 2_000 + u64::from(it.space),
                    key: space_key,
                    name: space_name,
                    kind: "global",
                    status: "current",
                    expandable: Strs(&[
                        ("settings", &""),
                        ("metadata", &""),
                        ("operations", &""),
                        ("lookAndFeel", &""),
                        ("identifiers", &""),
                        ("permissions", &""),
                        ("icon", &""),
                        ("description", &""),
                        ("theme", &""),
                        ("history", &""),
                        ("homepage", &""),
                    ]),
                    links: Strs(&[("webui", &webui), ("self", &this)]),
                },
            )?;
        }
        let history =
            Text(|f: &mut std::fmt::Formatter<'_>| write!(f, "/rest/api/content/{id}/history"));
        let space =
            Text(|f: &mut std::fmt::Formatter<'_>| write!(f, "/rest/api/space/{space_key}"));
        let all: [(&str, &dyn std::fmt::Display, bool); 11] = [
            ("container", &"", true),
            ("metadata", &"", true),
            ("extensions", &"", true),
            ("operations", &"", true),
            ("children", &"", true),
            ("history", &history, !ex.history),
            ("ancestors", &"", true),
            ("body", &"", true),
            ("version", &"", !ex.version),
            ("descendants", &"", true),
            ("space", &space, !ex.space),
        ];
        let left: Vec<(&str, &dyn std::fmt::Display)> = all
            .iter()
            .filter(|e| e.2)
            .map(|&(k, v, _)| (k, v))
            .collect();
        m.serialize_entry("_expandable", &Strs(&left))?;
        m.end()
    }
}

#[derive(Serialize)]
struct SpaceOut<'a> {
    id: u64,
    key: &'a str,
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    status: &'static str,
    #[serde(rename = "_expandable")]
    expandable: Strs<'a>,
    #[serde(rename = "_links")]
    links: Strs<'a>,
}

/// A content item's `history`.
struct HistoryOut<'a> {
    site: &'a str,
    d: &'a Directory,
    it: &'a Item,
    ex: ContentExpand,
}

impl Serialize for HistoryOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (site, d, it, ex) = (self.site, self.d, self.it, self.ex);
        let id = it.id;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("latest", &true)?;
        m.serialize_entry(
            "createdBy",
            &UserOut {
                site,
                d,
                u: it.creator,
            },
        )?;
        m.serialize_entry("createdDate", &rfc3339_ms(it.created_ms))?;
        let all: [(&str, bool); 4] = [
            ("lastUpdated", !ex.history_last_updated),
            ("previousVersion", !ex.history_previous),
            ("contributors", !ex.history_contributors),
            ("nextVersion", true),
        ];
        let left: Vec<(&str, &dyn std::fmt::Display)> = all
            .iter()
            .filter(|e| e.1)
            .map(|&(k, _)| (k, &"" as &dyn std::fmt::Display))
            .collect();
        m.serialize_entry("_expandable", &Strs(&left))?;
        let this = Text(|f: &mut std::fmt::Formatter<'_>| {
            write!(f, "{site}/wiki/rest/api/content/{id}/history")
        });
        m.serialize_entry("_links", &Strs(&[("self", &this)]))?;
        if ex.history_last_updated {
            m.serialize_entry("lastUpdated", &VersionOut::current(site, d, it))?;
        }
        if ex.history_previous
            && let Some((number, by, when)) = previous_version(it)
        {
            m.serialize_entry(
                "previousVersion",
                &VersionOut {
                    site,
                    d,
                    it,
                    number,
                    by,
                    when,
                },
            )?;
        }
        if ex.history_contributors {
            let ids = contributors(it);
            m.serialize_entry(
                "contributors",
                &Publishers {
                    publishers: PublishersOut { site, d, ids: &ids },
                },
            )?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct Publishers<'a> {
    publishers: PublishersOut<'a>,
}

struct PublishersOut<'a> {
    site: &'a str,
    d: &'a Directory,
    ids: &'a [u32],
}

impl Serialize for PublishersOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (site, d) = (self.site, self.d);
        let users: Vec<UserOut<'_>> = self.ids.iter().map(|&u| UserOut { site, d, u }).collect();
        let account_ids: Vec<&str> = self
            .ids
            .iter()
            .map(|&u| d.users[u as usize].account_id.as_ref())
            .collect();
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("users", &users)?;
        m.serialize_entry("userAccountIds", &account_ids)?;
        m.end()
    }
}

/// One search result (`SearchResult`) for a content item.
struct SearchResultOut<'a> {
    sim: &'a Sim,
    d: &'a Directory,
    it: &'a Item,
    ex: ContentExpand,
    excerpt: bool,
}

impl Serialize for SearchResultOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let it = self.it;
        let (space_key, space_name) = &self.sim.content.spaces[it.space as usize];
        let t = title(it);
        let webui = webui_of(space_key, it, &t);
        let mut m = s.serialize_map(Some(11))?;
        m.serialize_entry("title", &t)?;
        if self.excerpt {
            m.serialize_entry(
                "excerpt",
                &Text(|f: &mut std::fmt::Formatter<'_>| write!(f, "{t} …")),
            )?;
        } else {
            m.serialize_entry("excerpt", "")?;
        }
        m.serialize_entry("url", &webui)?;
        let display = Text(|f: &mut std::fmt::Formatter<'_>| write!(f, "/spaces/{space_key}"));
        m.serialize_entry(
            "resultGlobalContainer",
            &Strs(&[("title", space_name), ("displayUrl", &display)]),
        )?;
        m.serialize_entry("breadcrumbs", &[(); 0])?;
        m.serialize_entry("entityType", "content")?;
        let kind = it.kind.as_str();
        m.serialize_entry(
            "iconCssClass",
            &Text(|f: &mut std::fmt::Formatter<'_>| write!(f, "aui-icon content-type-{kind}")),
        )?;
        m.serialize_entry("lastModified", &rfc3339_ms(it.modified_ms))?;
        m.serialize_entry("friendlyLastModified", &friendly(it.modified_ms))?;
        m.serialize_entry("score", &0.0f64)?;
        m.serialize_entry(
            "content",
            &ContentOut {
                sim: self.sim,
                d: self.d,
                it,
                ex: self.ex,
                title: &t,
                webui: &webui,
            },
        )?;
        m.end()
    }
}

/// `SearchPageResponseSearchResult`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SearchPageOut<'a> {
    results: ResultsOut<'a>,
    start: usize,
    limit: u64,
    size: usize,
    total_size: usize,
    cql_query: &'a str,
    search_duration: u64,
    #[serde(rename = "_links")]
    links: Value,
}

/// The search page's `results`, written item by item.
struct ResultsOut<'a> {
    sim: &'a Sim,
    d: &'a Directory,
    items: &'a [u32],
    ex: ContentExpand,
    excerpt: bool,
}

impl Serialize for ResultsOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.items.len()))?;
        for &i in self.items {
            seq.serialize_element(&SearchResultOut {
                sim: self.sim,
                d: self.d,
                it: &self.sim.content.items[i as usize],
                ex: self.ex,
                excerpt: self.excerpt,
            })?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SimConfig, Simulator};

    /// The search result as the `Value` tree it was built as before: the reference.
    fn reference(sim: &Sim, d: &Directory, it: &Item, ex: ContentExpand, excerpt: bool) -> Value {
        let c = content_json(sim, d, it, ex);
        let (space_key, space_name) = &sim.content.spaces[it.space as usize];
        json!({
            "title": c["title"].clone(),
            "excerpt": if excerpt { format!("{} …", c["title"].as_str().unwrap_or("")) } else { String::new() },
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
    }

    #[tokio::test]
    async fn search_results_written_directly_equal_the_content_documents() {
        let handle = Simulator::start(SimConfig {
            users: 120,
            ..SimConfig::default()
        })
        .await
        .expect("simulator");
        let sim = &handle.sim;
        let d = sim.dir.read();
        let mut checked = 0;
        for bits in 0u8..64 {
            let ex = ContentExpand {
                version: bits & 1 != 0,
                history: bits & 2 != 0 || bits & 0b11100 != 0,
                history_last_updated: bits & 4 != 0,
                history_contributors: bits & 8 != 0,
                history_previous: bits & 16 != 0,
                space: bits & 32 != 0,
            };
            for (i, it) in sim.content.items.iter().enumerate().step_by(7).take(40) {
                let excerpt = i % 2 == 0;
                let direct = serde_json::to_value(SearchResultOut {
                    sim,
                    d: &d,
                    it,
                    ex,
                    excerpt,
                })
                .expect("serializes");
                assert_eq!(
                    direct,
                    reference(sim, &d, it, ex, excerpt),
                    "item {i}, expand bits {bits:06b}"
                );
                checked += 1;
            }
        }
        assert!(checked > 1000, "{checked} documents compared");
        assert!(
            sim.content
                .items
                .iter()
                .any(|it| it.mid_editor != NO_USER && it.version > 2),
            "the sample has items with an intermediate editor"
        );
    }
}
