//! The REST handlers, in GitHub's wire format for the subset in
//! `shared/specs/github-copilot.openapi.json`: Copilot billing and seats, seat assignment and
//! cancellation for users and teams, one member's seat, org members, teams and team
//! memberships, `GET /rate_limit`, and the GitHub App endpoints (installations and
//! installation tokens). Page-based lists follow `page`/`per_page` (seats: default 50,
//! others 30, at most 100) with a `Link` header (`prev`, `next`, `last`, `first`, absolute
//! URLs on the simulator's own host, omitted on single pages).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::Sim;
use crate::auth::{Credential, Principal, StoredToken, level_ok, new_token};
use crate::clock::{MS_PER_DAY, date_string, rfc3339};
use crate::data::{EDITORS, MemberState, Org, WriteError};
use crate::errors::{ApiError, json_response};
use crate::gateway::{ApiVersion, AuthCtx};

type Res = Result<Response, ApiError>;

/// After 90 days without activity GitHub reports `last_activity_at` as null.
pub(crate) const ACTIVITY_RETENTION_MS: i64 = 90 * MS_PER_DAY;

fn check_org(sim: &Sim, org: &str) -> Result<(), ApiError> {
    if org.eq_ignore_ascii_case(&sim.org_login) {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

/// Sweeps due cancellations and makes sure the seat index is built, then reads.
fn read_settled<R>(sim: &Sim, f: impl FnOnce(&Org, &[u32]) -> R) -> R {
    let now = sim.clock.now_ms();
    {
        let org = sim.org.read();
        if !org.needs_settle(now)
            && let Some(seated) = org.seated_if_cached()
        {
            return f(&org, seated);
        }
    }
    let mut org = sim.org.write();
    org.settle(now);
    org.seated();
    let org = parking_lot::RwLockWriteGuard::downgrade(org);
    f(&org, org.seated_if_cached().unwrap_or(&[]))
}

// ---- paging -------------------------------------------------------------------------------

struct Paging {
    page: usize,
    per_page: usize,
    /// Other query pairs, kept in the links.
    rest: Vec<(String, String)>,
}

fn paging(query: Option<&str>, default: usize) -> Paging {
    let mut p = Paging {
        page: 1,
        per_page: default,
        rest: Vec::new(),
    };
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "page" => p.page = v.parse::<usize>().ok().filter(|n| *n >= 1).unwrap_or(1),
            "per_page" => {
                p.per_page = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .unwrap_or(default)
                    .min(100)
            }
            _ => p.rest.push((k.into_owned(), v.into_owned())),
        }
    }
    p
}

fn param<'a>(p: &'a Paging, name: &str) -> Option<&'a str> {
    p.rest
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl Paging {
    fn range(&self, len: usize) -> std::ops::Range<usize> {
        let start = (self.page - 1).saturating_mul(self.per_page).min(len);
        start..(start + self.per_page).min(len)
    }

    fn last(&self, len: usize) -> usize {
        len.div_ceil(self.per_page).max(1)
    }

    fn link(&self, base: &str, path: &str, len: usize) -> Option<HeaderValue> {
        let last = self.last(len);
        if last <= 1 && self.page <= 1 {
            return None;
        }
        let url = |page: usize| {
            let mut s = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &self.rest {
                s.append_pair(k, v);
            }
            s.append_pair("per_page", &self.per_page.to_string());
            s.append_pair("page", &page.to_string());
            format!("<{base}{path}?{}>", s.finish())
        };
        let mut parts = Vec::new();
        if self.page > 1 {
            parts.push(format!("{}; rel=\"prev\"", url((self.page - 1).min(last))));
        }
        if self.page < last {
            parts.push(format!("{}; rel=\"next\"", url(self.page + 1)));
            parts.push(format!("{}; rel=\"last\"", url(last)));
        }
        if self.page > 1 {
            parts.push(format!("{}; rel=\"first\"", url(1)));
        }
        HeaderValue::from_str(&parts.join(", ")).ok()
    }
}

fn with_link(mut r: Response, link: Option<HeaderValue>) -> Response {
    if let Some(l) = link {
        r.headers_mut().insert(header::LINK, l);
    }
    r
}

fn ok(body: &Value) -> Response {
    json_response(StatusCode::OK, body)
}

// ---- rendering ----------------------------------------------------------------------------

pub(crate) fn simple_user(sim: &Sim, login: &str, id: u64, kind: &str) -> Value {
    let base = &sim.base_url;
    let u = format!("{base}/users/{login}");
    json!({
        "login": login,
        "id": id,
        "node_id": format!("U_kgDO{id:08X}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": u,
        "html_url": format!("{}/{login}", sim.web_url),
        "followers_url": format!("{u}/followers"),
        "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"),
        "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"),
        "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"),
        "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"),
        "type": kind,
        "user_view_type": "public",
        "site_admin": false,
    })
}

fn user_json(sim: &Sim, org: &Org, u: u32) -> Value {
    let user = &org.users[u as usize];
    simple_user(sim, &user.login, user.id, "User")
}

fn team_json(sim: &Sim, org: &Org, t: u16) -> Value {
    let team = &org.teams[t as usize];
    let url = format!("{}/organizations/{}/team/{}", sim.base_url, org.id, team.id);
    json!({
        "id": team.id,
        "node_id": format!("T_kwDO{:08X}", team.id),
        "url": url,
        "html_url": format!("{}/orgs/{}/teams/{}", sim.web_url, org.login, team.slug),
        "name": team.name,
        "slug": team.slug,
        "description": team.description,
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": format!("{url}/members{{/member}}"),
        "repositories_url": format!("{url}/repos"),
        "type": "organization",
        "organization_id": org.id,
        "parent": null,
    })
}

fn seat_json(sim: &Sim, org: &Org, u: u32, now: i64) -> Value {
    let user = &org.users[u as usize];
    let Some(seat) = user.seat else {
        return Value::Null;
    };
    let fresh = |t: Option<i64>| t.filter(|a| now - *a < ACTIVITY_RETENTION_MS);
    let activity = fresh(user.last_activity_ms);
    let mut m = Map::new();
    m.insert("created_at".into(), json!(rfc3339(seat.created_ms)));
    m.insert("updated_at".into(), json!(rfc3339(seat.created_ms)));
    m.insert(
        "pending_cancellation_date".into(),
        json!(seat.pending_day.map(date_string)),
    );
    m.insert("last_activity_at".into(), json!(activity.map(rfc3339)));
    m.insert(
        "last_activity_editor".into(),
        json!(activity.map(|_| EDITORS[user.editor as usize % EDITORS.len()])),
    );
    m.insert(
        "last_authenticated_at".into(),
        json!(fresh(user.last_auth_ms).map(rfc3339)),
    );
    m.insert("plan_type".into(), json!(org.plan_type));
    m.insert("assignee".into(), user_json(sim, org, u));
    if let Some(t) = org.assigning_team(u) {
        m.insert("assigning_team".into(), team_json(sim, org, t));
    }
    Value::Object(m)
}

// ---- Copilot ------------------------------------------------------------------------------

pub(crate) async fn copilot_billing(State(sim): State<Arc<Sim>>, Path(org): Path<String>) -> Res {
    check_org(&sim, &org)?;
    let now = sim.clock.now_ms();
    let body = read_settled(&sim, |o, _| {
        let b = o.breakdown(now);
        json!({
            "seat_breakdown": {
                "total": b[0],
                "added_this_cycle": b[1],
                "pending_cancellation": b[2],
                "pending_invitation": b[3],
                "active_this_cycle": b[4],
                "inactive_this_cycle": b[0] - b[4],
            },
            "seat_management_setting": o.seat_management_setting,
            "public_code_suggestions": o.public_code_suggestions,
            "ide_chat": "enabled",
            "platform_chat": "enabled",
            "cli": "enabled",
            "plan_type": o.plan_type,
        })
    });
    Ok(ok(&body))
}

pub(crate) async fn list_seats(
    State(sim): State<Arc<Sim>>,
    Path(org): Path<String>,
    RawQuery(q): RawQuery,
) -> Res {
    check_org(&sim, &org)?;
    let p = paging(q.as_deref(), 50);
    let now = sim.clock.now_ms();
    let (body, len) = read_settled(&sim, |o, seated| {
        let seats: Vec<Value> = seated[p.range(seated.len())]
            .iter()
            .map(|&u| seat_json(&sim, o, u, now))
            .collect();
        (
            json!({ "total_seats": seated.len(), "seats": seats }),
            seated.len(),
        )
    });
    let path = format!("/orgs/{org}/copilot/billing/seats");
    Ok(with_link(ok(&body), p.link(&sim.base_url, &path, len)))
}

pub(crate) async fn member_copilot(
    State(sim): State<Arc<Sim>>,
    Path((org, username)): Path<(String, String)>,
) -> Res {
    check_org(&sim, &org)?;
    let now = sim.clock.now_ms();
    read_settled(&sim, |o, _| {
        let u = o.user(&username).ok_or(ApiError::NotFound)?;
        if o.users[u as usize].state == MemberState::Invited {
            return Err(ApiError::Unprocessable(format!(
                "{} has a pending invitation to the {} organization.",
                o.users[u as usize].login, o.login
            )));
        }
        match seat_json(&sim, o, u, now) {
            Value::Null => Err(ApiError::NotFound),
            v => Ok(ok(&v)),
        }
    })
}

/// Reads `{field: [string, …]}` with `minItems: 1`; 400 for bad JSON, 422 otherwise.
fn string_list(body: &Bytes, field: &str) -> Result<Vec<String>, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::BadRequest("Problems parsing JSON".to_string()))?;
    let Some(obj) = v.as_object() else {
        return Err(ApiError::BadRequest("Problems parsing JSON".to_string()));
    };
    let Some(list) = obj.get(field) else {
        return Err(ApiError::invalid_field(
            "Copilot",
            field,
            "missing_field",
            &format!("Invalid request.\n\n\"{field}\" wasn't supplied."),
        ));
    };
    let items = list.as_array().ok_or_else(|| {
        ApiError::invalid_field(
            "Copilot",
            field,
            "invalid",
            &format!("Invalid request.\n\nFor '{field}', {list} is not an array."),
        )
    })?;
    if items.is_empty() {
        return Err(ApiError::invalid_field(
            "Copilot",
            field,
            "invalid",
            &format!(
                "Invalid request.\n\nFor '{field}', [] has fewer items than the minimum of 1."
            ),
        ));
    }
    items
        .iter()
        .map(|i| {
            i.as_str().map(str::to_string).ok_or_else(|| {
                ApiError::invalid_field(
                    "Copilot",
                    field,
                    "invalid",
                    &format!("Invalid request.\n\nFor '{field}', {i} is not a string."),
                )
            })
        })
        .collect()
}

fn write_result(r: Result<u64, WriteError>, key: &str, status: StatusCode) -> Res {
    match r {
        Ok(n) => Ok(json_response(status, &json!({ key: n }))),
        Err(WriteError::Unprocessable(m)) => Err(ApiError::Unprocessable(m)),
    }
}

fn seat_write(
    sim: &Sim,
    org: &str,
    body: &Bytes,
    field: &str,
    op: fn(&mut Org, &[String], i64) -> Result<u64, WriteError>,
    key: &str,
    status: StatusCode,
) -> Res {
    check_org(sim, org)?;
    let names = string_list(body, field)?;
    let now = sim.clock.now_ms();
    let mut o = sim.org.write();
    o.settle(now);
    write_result(op(&mut o, &names, now), key, status)
}

pub(crate) async fn add_selected_users(
    State(sim): State<Arc<Sim>>,
    Path(org): Path<String>,
    body: Bytes,
) -> Res {
    seat_write(
        &sim,
        &org,
        &body,
        "selected_usernames",
        Org::add_users,
        "seats_created",
        StatusCode::CREATED,
    )
}

pub(crate) async fn remove_selected_users(
    State(sim): State<Arc<Sim>>,
    Path(org): Path<String>,
    body: Bytes,
) -> Res {
    seat_write(
        &sim,
        &org,
        &body,
        "selected_usernames",
        Org::remove_users,
        "seats_cancelled",
        StatusCode::OK,
    )
}

pub(crate) async fn add_selected_teams(
    State(sim): State<Arc<Sim>>,
    Path(org): Path<String>,
    body: Bytes,
) -> Res {
    seat_write(
        &sim,
        &org,
        &body,
        "selected_teams",
        Org::add_teams,
        "seats_created",
        StatusCode::CREATED,
    )
}

pub(crate) async fn remove_selected_teams(
    State(sim): State<Arc<Sim>>,
    Path(org): Path<String>,
    body: Bytes,
) -> Res {
    seat_write(
        &sim,
        &org,
        &body,
        "selected_teams",
        Org::remove_teams,
        "seats_cancelled",
        StatusCode::OK,
    )
}

// ---- members and teams --------------------------------------------------------------------

fn invalid_param(name: &str, value: &str) -> ApiError {
    ApiError::invalid_field(
        "Request",
        name,
        "invalid",
        &format!("Invalid value '{value}' for parameter '{name}'"),
    )
}

pub(crate) async fn list_members(
    State(sim): State<Arc<Sim>>,
    Path(org): Path<String>,
    RawQuery(q): RawQuery,
) -> Res {
    check_org(&sim, &org)?;
    let p = paging(q.as_deref(), 30);
    let role = param(&p, "role").unwrap_or("all");
    if !matches!(role, "all" | "admin" | "member") {
        return Err(invalid_param("role", role));
    }
    let filter = param(&p, "filter").unwrap_or("all");
    if !matches!(filter, "all" | "2fa_disabled" | "2fa_insecure") {
        return Err(invalid_param("filter", filter));
    }
    let o = sim.org.read();
    let members: Vec<u32> = if filter == "all" {
        (0..o.users.len() as u32)
            .filter(|&u| {
                let x = &o.users[u as usize];
                x.state == MemberState::Active
                    && match role {
                        "admin" => x.owner,
                        "member" => !x.owner,
                        _ => true,
                    }
            })
            .collect()
    } else {
        // Every simulated member has two-factor authentication set up.
        Vec::new()
    };
    let page: Vec<Value> = members[p.range(members.len())]
        .iter()
        .map(|&u| user_json(&sim, &o, u))
        .collect();
    let path = format!("/orgs/{org}/members");
    Ok(with_link(
        ok(&json!(page)),
        p.link(&sim.base_url, &path, members.len()),
    ))
}

pub(crate) async fn list_teams(
    State(sim): State<Arc<Sim>>,
    Path(org): Path<String>,
    RawQuery(q): RawQuery,
) -> Res {
    check_org(&sim, &org)?;
    let p = paging(q.as_deref(), 30);
    let team_type = param(&p, "team_type").unwrap_or("all");
    if !matches!(team_type, "all" | "organization" | "enterprise") {
        return Err(invalid_param("team_type", team_type));
    }
    let o = sim.org.read();
    let n = if team_type == "enterprise" {
        0
    } else {
        o.teams.len()
    };
    let page: Vec<Value> = p.range(n).map(|t| team_json(&sim, &o, t as u16)).collect();
    let path = format!("/orgs/{org}/teams");
    Ok(with_link(ok(&json!(page)), p.link(&sim.base_url, &path, n)))
}

pub(crate) async fn list_team_members(
    State(sim): State<Arc<Sim>>,
    Path((org, slug)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Res {
    check_org(&sim, &org)?;
    let p = paging(q.as_deref(), 30);
    let role = param(&p, "role").unwrap_or("all");
    if !matches!(role, "all" | "member" | "maintainer") {
        return Err(invalid_param("role", role));
    }
    let o = sim.org.read();
    let t = o.team(&slug).ok_or(ApiError::NotFound)?;
    let team = &o.teams[t as usize];
    let members: Vec<u32> = {
        let mut v: Vec<u32> = team
            .members
            .iter()
            .copied()
            .filter(|u| match role {
                "maintainer" => team.maintainers.contains(u),
                "member" => !team.maintainers.contains(u),
                _ => true,
            })
            .collect();
        v.sort_by_key(|u| o.users[*u as usize].id);
        v
    };
    let page: Vec<Value> = members[p.range(members.len())]
        .iter()
        .map(|&u| {
            let mut v = user_json(&sim, &o, u);
            v["role"] = json!(if team.maintainers.contains(&u) {
                "maintainer"
            } else {
                "member"
            });
            v["inherited"] = json!(false);
            v
        })
        .collect();
    let path = format!("/orgs/{org}/teams/{slug}/members");
    Ok(with_link(
        ok(&json!(page)),
        p.link(&sim.base_url, &path, members.len()),
    ))
}

fn team_sync_error() -> ApiError {
    ApiError::Forbidden(
        "This team is synchronized with an identity provider; change its members there."
            .to_string(),
    )
}

pub(crate) async fn put_team_membership(
    State(sim): State<Arc<Sim>>,
    Path((org, slug, username)): Path<(String, String, String)>,
    body: Bytes,
) -> Res {
    check_org(&sim, &org)?;
    let maintainer = if body.iter().all(u8::is_ascii_whitespace) {
        false
    } else {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|_| ApiError::BadRequest("Problems parsing JSON".to_string()))?;
        match v.get("role") {
            None => false,
            Some(Value::String(r)) if r == "member" => false,
            Some(Value::String(r)) if r == "maintainer" => true,
            Some(other) => {
                return Err(ApiError::invalid_field(
                    "TeamMember",
                    "role",
                    "invalid",
                    &format!(
                        "Invalid request.\n\n{other} is not a member of [\"member\", \"maintainer\"]."
                    ),
                ));
            }
        }
    };
    let now = sim.clock.now_ms();
    let mut o = sim.org.write();
    o.settle(now);
    let t = o.team(&slug).ok_or(ApiError::NotFound)?;
    let u = o.user(&username).ok_or(ApiError::NotFound)?;
    if sim.synced_teams.read().contains(&o.teams[t as usize].slug) {
        return Err(team_sync_error());
    }
    let (state, role) = o.put_membership(t, u, maintainer, now);
    let url = format!(
        "{}/organizations/{}/team/{}/memberships/{}",
        sim.base_url, o.id, o.teams[t as usize].id, o.users[u as usize].login
    );
    Ok(ok(&json!({ "url": url, "role": role, "state": state })))
}

pub(crate) async fn delete_team_membership(
    State(sim): State<Arc<Sim>>,
    Path((org, slug, username)): Path<(String, String, String)>,
) -> Res {
    check_org(&sim, &org)?;
    let now = sim.clock.now_ms();
    let mut o = sim.org.write();
    o.settle(now);
    let t = o.team(&slug).ok_or(ApiError::NotFound)?;
    let u = o.user(&username).ok_or(ApiError::NotFound)?;
    if sim.synced_teams.read().contains(&o.teams[t as usize].slug) {
        return Err(team_sync_error());
    }
    if o.delete_membership(t, u, now) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound)
    }
}

// ---- rate limit ---------------------------------------------------------------------------

pub(crate) async fn rate_limit(
    State(sim): State<Arc<Sim>>,
    Extension(AuthCtx(p)): Extension<AuthCtx>,
    Extension(version): Extension<ApiVersion>,
) -> Res {
    let now = sim.clock.now_ms();
    let rate = sim.runtime.read().rate.clone();
    let limit = match &p {
        Principal::Anonymous => rate.unauthenticated_per_hour,
        Principal::Token(Credential::Installation { .. }) => rate.installation_per_hour,
        _ => rate.user_per_hour,
    };
    let core = sim.limiter.lock().peek(&p.bucket(), limit, now);
    let reset_min = now.div_euclid(1000) + 60;
    let core = json!({ "limit": core.limit, "used": core.used, "remaining": core.remaining, "reset": core.reset_secs });
    let other =
        |limit: u64| json!({ "limit": limit, "used": 0, "remaining": limit, "reset": reset_min });
    let mut body = json!({
        "resources": {
            "core": core,
            "search": other(30),
            "code_search": other(10),
            "graphql": other(5000),
            "integration_manifest": other(5000),
        }
    });
    if version == ApiVersion::V20221128 {
        body["rate"] = core;
    }
    Ok(ok(&body))
}

// ---- GitHub App ---------------------------------------------------------------------------

fn permissions_json(perms: &[(String, String)]) -> Value {
    Value::Object(perms.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

fn installation_json(sim: &Sim, id: u64) -> Option<Value> {
    let o = sim.org.read();
    let (account, target_id, target_type, perms) = if id == sim.installation_id {
        let mut acc = simple_user(sim, &o.login, o.id, "Organization");
        acc["url"] = json!(format!("{}/orgs/{}", sim.base_url, o.login));
        (
            acc,
            o.id,
            "Organization",
            sim.installation_permissions.read().clone(),
        )
    } else if id == sim.installation_id + 1 {
        (
            simple_user(sim, "octo-user", 583_231, "User"),
            583_231,
            "User",
            vec![("metadata".to_string(), "read".to_string())],
        )
    } else {
        return None;
    };
    let created = rfc3339(sim.created_ms - 400 * MS_PER_DAY);
    Some(json!({
        "id": id,
        "client_id": sim.app_client_id,
        "account": account,
        "repository_selection": "all",
        "access_tokens_url": format!("{}/app/installations/{id}/access_tokens", sim.base_url),
        "repositories_url": format!("{}/installation/repositories", sim.base_url),
        "html_url": format!("{}/organizations/{}/settings/installations/{id}", sim.web_url, o.login),
        "app_id": sim.app_id,
        "app_slug": sim.app_slug,
        "target_id": target_id,
        "target_type": target_type,
        "permissions": permissions_json(&perms),
        "events": [],
        "created_at": created,
        "updated_at": created,
        "single_file_name": null,
        "has_multiple_single_files": false,
        "single_file_paths": [],
        "suspended_by": null,
        "suspended_at": null,
    }))
}

pub(crate) async fn list_installations(State(sim): State<Arc<Sim>>, RawQuery(q): RawQuery) -> Res {
    let p = paging(q.as_deref(), 30);
    let all: Vec<u64> = vec![sim.installation_id, sim.installation_id + 1];
    let page: Vec<Value> = all[p.range(all.len())]
        .iter()
        .filter_map(|&id| installation_json(&sim, id))
        .collect();
    Ok(with_link(
        ok(&json!(page)),
        p.link(&sim.base_url, "/app/installations", all.len()),
    ))
}

pub(crate) async fn org_installation(State(sim): State<Arc<Sim>>, Path(org): Path<String>) -> Res {
    check_org(&sim, &org)?;
    installation_json(&sim, sim.installation_id)
        .map(|v| ok(&v))
        .ok_or(ApiError::NotFound)
}

pub(crate) async fn create_installation_token(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Res {
    let id: u64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let granted: Vec<(String, String)> = if id == sim.installation_id {
        sim.installation_permissions.read().clone()
    } else if id == sim.installation_id + 1 {
        vec![("metadata".to_string(), "read".to_string())]
    } else {
        return Err(ApiError::NotFound);
    };
    let mut perms = granted.clone();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|_| ApiError::BadRequest("Problems parsing JSON".to_string()))?;
        if v.get("repositories")
            .is_some_and(|r| r.as_array().is_some_and(|a| !a.is_empty()))
            || v.get("repository_ids")
                .is_some_and(|r| r.as_array().is_some_and(|a| !a.is_empty()))
        {
            return Err(ApiError::Unprocessable(
                "There is at least one repository that does not exist or is not accessible to the parent installation.".to_string(),
            ));
        }
        if let Some(want) = v.get("permissions") {
            let Some(want) = want.as_object() else {
                return Err(ApiError::invalid_field(
                    "Permissions",
                    "permissions",
                    "invalid",
                    "Invalid request.\n\npermissions is not an object.",
                ));
            };
            let mut narrowed = Vec::new();
            for (k, level) in want {
                let level = level.as_str().unwrap_or("");
                let ok = granted
                    .iter()
                    .any(|(gk, gv)| gk == k && level_ok(gv, level));
                if !ok || !matches!(level, "read" | "write" | "admin") {
                    return Err(ApiError::Unprocessable(
                        "The permissions requested are not granted to this installation."
                            .to_string(),
                    ));
                }
                narrowed.push((k.clone(), level.to_string()));
            }
            perms = narrowed;
        }
    }
    let now = sim.clock.now_ms();
    let ttl = sim.runtime.read().installation_token_ttl;
    let expires = now + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 4);
    let cred = Credential::Installation {
        installation: id,
        permissions: perms.clone(),
    };
    let token = new_token(&mut sim.token_rng.lock(), &cred);
    sim.tokens.lock().insert(
        token.clone(),
        StoredToken {
            cred,
            expires_ms: Some(expires),
        },
    );
    Ok(json_response(
        StatusCode::CREATED,
        &json!({
            "token": token,
            "expires_at": rfc3339(expires),
            "permissions": permissions_json(&perms),
            "repository_selection": "all",
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_have_next_last_prev_first() {
        let p = paging(Some("per_page=10&page=2&role=admin"), 30);
        let link = p.link("http://h", "/x", 35).unwrap();
        let s = link.to_str().unwrap();
        assert!(
            s.contains("<http://h/x?role=admin&per_page=10&page=1>; rel=\"prev\""),
            "{s}"
        );
        assert!(s.contains("page=3>; rel=\"next\""), "{s}");
        assert!(s.contains("page=4>; rel=\"last\""), "{s}");
        assert!(s.contains("page=1>; rel=\"first\""), "{s}");
        // One page: no header; the last page: no next.
        assert!(paging(None, 30).link("http://h", "/x", 30).is_none());
        let last = paging(Some("per_page=10&page=4"), 30)
            .link("http://h", "/x", 35)
            .unwrap();
        assert!(!last.to_str().unwrap().contains("next"));
        // per_page is capped at 100 and a bad page is page 1.
        let p = paging(Some("per_page=1000&page=-3"), 50);
        assert_eq!((p.page, p.per_page), (1, 100));
    }
}
