//! The inspection side: the log of API calls (method, path, query, status, endpoint, clock
//! time) with per-endpoint counters, and the HTTP inspection API under `/_sim/` (a prefix
//! GitHub never serves; no auth, no rate limit, not logged) through which tests and people
//! read seats, members and teams as the simulator holds them, read the call log, mint
//! tokens, record Copilot activity, and read or move the clock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::Sim;
use crate::clock::{date_string, parse_rfc3339, rfc3339};
use crate::config::Endpoint;
use crate::data::{EDITORS, MemberState, Org};
use crate::errors::{ApiError, json_response};

/// One request as the simulator saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRecord {
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Raw query (empty when none).
    pub query: String,
    /// Status answered (0 when the connection was dropped mid-body).
    pub status: u16,
    /// The endpoint, when the path matched one.
    pub endpoint: Option<Endpoint>,
    /// Simulator clock time of the call (epoch ms).
    pub at_ms: i64,
}

#[derive(Debug, Default)]
pub(crate) struct CallLog {
    inner: Mutex<(Vec<CallRecord>, BTreeMap<String, u64>)>,
}

impl CallLog {
    pub(crate) fn record(&self, rec: CallRecord, keep: bool) {
        let key = rec
            .endpoint
            .map(|e| e.name().to_string())
            .unwrap_or_else(|| format!("{} (unmatched)", rec.method));
        let mut g = self.inner.lock();
        *g.1.entry(key).or_default() += 1;
        if keep {
            g.0.push(rec);
        }
    }

    pub(crate) fn calls(&self) -> Vec<CallRecord> {
        self.inner.lock().0.clone()
    }

    pub(crate) fn counts(&self) -> BTreeMap<String, u64> {
        self.inner.lock().1.clone()
    }

    pub(crate) fn reset(&self) {
        let mut g = self.inner.lock();
        g.0.clear();
        g.1.clear();
    }
}

/// Facts about one org member or invitee, as the simulator holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    /// Login.
    pub login: String,
    /// Numeric id.
    pub id: u64,
    /// Org owner.
    pub owner: bool,
    /// Suspended.
    pub suspended: bool,
    /// Invited, not yet a member.
    pub invited: bool,
    /// Team slugs (active memberships).
    pub teams: Vec<String>,
    /// Assigned directly (`selected_users`).
    pub direct: bool,
    /// Holds a seat (possibly pending cancellation).
    pub has_seat: bool,
    /// Slug of the Copilot team that grants the seat.
    pub assigning_team: Option<String>,
    /// `YYYY-MM-DD` when the seat is pending cancellation.
    pub pending_cancellation_date: Option<String>,
    /// Ground truth: latest Copilot activity (epoch ms), even past the 90-day retention.
    pub last_activity_ms: Option<i64>,
}

/// Facts about one team.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamInfo {
    /// Slug.
    pub slug: String,
    /// Name.
    pub name: String,
    /// Copilot assigned to the team.
    pub copilot: bool,
    /// Active members' logins.
    pub members: Vec<String>,
    /// Invited members' logins.
    pub pending: Vec<String>,
}

pub(crate) fn user_info(org: &Org, u: u32) -> UserInfo {
    let x = &org.users[u as usize];
    UserInfo {
        login: x.login.to_string(),
        id: x.id,
        owner: x.owner,
        suspended: x.suspended,
        invited: x.state == MemberState::Invited,
        teams: x
            .teams
            .iter()
            .map(|t| org.teams[*t as usize].slug.clone())
            .collect(),
        direct: x.direct,
        has_seat: x.seat.is_some(),
        assigning_team: x
            .seat
            .and(org.assigning_team(u))
            .map(|t| org.teams[t as usize].slug.clone()),
        pending_cancellation_date: x.seat.and_then(|s| s.pending_day).map(date_string),
        last_activity_ms: x.last_activity_ms,
    }
}

pub(crate) fn team_info(org: &Org, t: usize) -> TeamInfo {
    let team = &org.teams[t];
    let logins = |s: &std::collections::BTreeSet<u32>| {
        s.iter()
            .map(|u| org.users[*u as usize].login.to_string())
            .collect()
    };
    TeamInfo {
        slug: team.slug.clone(),
        name: team.name.clone(),
        copilot: team.copilot,
        members: logins(&team.members),
        pending: logins(&team.pending),
    }
}

fn user_value(i: &UserInfo) -> Value {
    json!({
        "login": i.login,
        "id": i.id,
        "owner": i.owner,
        "suspended": i.suspended,
        "invited": i.invited,
        "teams": i.teams,
        "direct": i.direct,
        "has_seat": i.has_seat,
        "assigning_team": i.assigning_team,
        "pending_cancellation_date": i.pending_cancellation_date,
        "last_activity_at": i.last_activity_ms.map(rfc3339),
    })
}

fn bad(msg: &str) -> Response {
    ApiError::BadRequest(msg.to_string()).into_response()
}

/// `GET /_sim/state`: a summary.
pub(crate) async fn state(State(sim): State<Arc<Sim>>) -> Response {
    let now = sim.clock.now_ms();
    let mut org = sim.org.write();
    org.settle(now);
    let seats = org.seated().len();
    let b = org.breakdown(now);
    let owner = org.users[0].login.to_string();
    json_response(
        StatusCode::OK,
        &json!({
            "org": org.login,
            "owner": owner,
            "members": org.users.iter().filter(|u| u.state == MemberState::Active).count(),
            "seats": seats,
            "pending_cancellation": b[2],
            "teams": org.teams.len(),
            "app_id": sim.app_id,
            "app_client_id": sim.app_client_id,
            "installation_id": sim.installation_id,
            "now": rfc3339(now),
        }),
    )
}

/// `GET /_sim/seats[?login=…]`: every seat holder (or one user).
pub(crate) async fn seats(State(sim): State<Arc<Sim>>, RawQuery(q): RawQuery) -> Response {
    let now = sim.clock.now_ms();
    let mut org = sim.org.write();
    org.settle(now);
    let login = form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "login")
        .map(|(_, v)| v.into_owned());
    let list: Vec<Value> = match login {
        Some(l) => org
            .user(&l)
            .map(|u| vec![user_value(&user_info(&org, u))])
            .unwrap_or_default(),
        None => {
            let seated = org.seated().to_vec();
            seated
                .iter()
                .map(|&u| user_value(&user_info(&org, u)))
                .collect()
        }
    };
    json_response(StatusCode::OK, &json!(list))
}

/// `GET /_sim/users/{login}`.
pub(crate) async fn user(State(sim): State<Arc<Sim>>, Path(login): Path<String>) -> Response {
    let now = sim.clock.now_ms();
    let mut org = sim.org.write();
    org.settle(now);
    match org.user(&login) {
        Some(u) => json_response(StatusCode::OK, &user_value(&user_info(&org, u))),
        None => ApiError::NotFound.into_response(),
    }
}

/// `GET /_sim/teams`.
pub(crate) async fn teams(State(sim): State<Arc<Sim>>) -> Response {
    let org = sim.org.read();
    let list: Vec<Value> = (0..org.teams.len())
        .map(|t| {
            let i = team_info(&org, t);
            json!({ "slug": i.slug, "name": i.name, "copilot": i.copilot, "members": i.members, "pending": i.pending })
        })
        .collect();
    json_response(StatusCode::OK, &json!(list))
}

/// `GET /_sim/calls`.
pub(crate) async fn calls(State(sim): State<Arc<Sim>>) -> Response {
    let list: Vec<Value> = sim
        .calls
        .calls()
        .iter()
        .map(|c| {
            json!({
                "method": c.method, "path": c.path, "query": c.query, "status": c.status,
                "endpoint": c.endpoint.map(|e| e.name()), "at": rfc3339(c.at_ms),
            })
        })
        .collect();
    json_response(StatusCode::OK, &json!(list))
}

/// `GET /_sim/calls/counts`.
pub(crate) async fn counts(State(sim): State<Arc<Sim>>) -> Response {
    json_response(StatusCode::OK, &json!(sim.calls.counts()))
}

/// `DELETE /_sim/calls`.
pub(crate) async fn reset_calls(State(sim): State<Arc<Sim>>) -> Response {
    sim.calls.reset();
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /_sim/clock`.
pub(crate) async fn clock(State(sim): State<Arc<Sim>>) -> Response {
    let now = sim.clock.now_ms();
    json_response(
        StatusCode::OK,
        &json!({ "now": rfc3339(now), "epoch_ms": now, "frozen": sim.clock.is_frozen() }),
    )
}

/// `POST /_sim/clock` with `{"set": "<RFC 3339>"}` or `{"advance_secs": N}`.
pub(crate) async fn set_clock(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return bad("body must be JSON");
    };
    if let Some(s) = v.get("set") {
        match s.as_str().and_then(parse_rfc3339) {
            Some(ms) => sim.clock.set_ms(ms),
            None => return bad("set must be an RFC 3339 timestamp"),
        }
    } else if let Some(n) = v.get("advance_secs") {
        match n.as_u64() {
            Some(n) => sim.clock.advance(Duration::from_secs(n)),
            None => return bad("advance_secs must be a non-negative integer"),
        }
    } else {
        return bad("give set or advance_secs");
    }
    clock(State(sim)).await
}

/// `POST /_sim/tokens`: `{"type":"classic","scopes":[…]}` or
/// `{"type":"fine_grained","permissions":{…}}`, optional `"login"` (default: the owner)
/// and `"ttl_secs"`.
pub(crate) async fn mint(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return bad("body must be JSON");
    };
    let login = v
        .get("login")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| sim.org.read().users[0].login.to_string());
    let ttl = v
        .get("ttl_secs")
        .and_then(Value::as_u64)
        .map(Duration::from_secs);
    let strings = |k: &str| -> Vec<String> {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let token = match v.get("type").and_then(Value::as_str) {
        Some("classic") => {
            let scopes = strings("scopes");
            let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
            crate::mint_user_token(&sim, &login, crate::TokenSpec::Classic(&scopes), ttl)
        }
        Some("fine_grained") => {
            let perms: Vec<(String, String)> = v
                .get("permissions")
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, l)| l.as_str().map(|l| (k.clone(), l.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            let perms: Vec<(&str, &str)> = perms
                .iter()
                .map(|(k, l)| (k.as_str(), l.as_str()))
                .collect();
            crate::mint_user_token(&sim, &login, crate::TokenSpec::FineGrained(&perms), ttl)
        }
        _ => return bad("type must be classic or fine_grained"),
    };
    match token {
        Ok(t) => json_response(StatusCode::CREATED, &json!({ "token": t })),
        Err(e) => bad(&e.to_string()),
    }
}

/// `GET /_sim/app`: the app's ids and key pair.
pub(crate) async fn app(State(sim): State<Arc<Sim>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "app_id": sim.app_id,
            "client_id": sim.app_client_id,
            "slug": sim.app_slug,
            "installation_id": sim.installation_id,
            "private_key_pem": sim.keys.private_pem,
            "public_key_pem": sim.keys.public_pem,
        }),
    )
}

/// `POST /_sim/activity` with `{"login": …, "editor"?: index}`: the user used Copilot now.
pub(crate) async fn activity(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return bad("body must be JSON");
    };
    let Some(login) = v.get("login").and_then(Value::as_str) else {
        return bad("login is required");
    };
    let editor = v.get("editor").and_then(Value::as_u64).unwrap_or(0) as usize % EDITORS.len();
    let now = sim.clock.now_ms();
    let mut org = sim.org.write();
    match org.user(login) {
        Some(u) => {
            org.record_activity(u, editor as u8, now);
            json_response(StatusCode::OK, &user_value(&user_info(&org, u)))
        }
        None => ApiError::NotFound.into_response(),
    }
}
