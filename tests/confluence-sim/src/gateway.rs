//! The request pipeline around the handlers: the call log (outermost), the base latency
//! and jitter of every response, per-endpoint fault
//! injection (latency, 5xx, 429 storms, malformed or truncated JSON, connections dropped
//! mid-body), and the api.atlassian.com gateway checks for Confluence calls (bearer token,
//! expiry, cloud id, the spec's scopes, then the points budget and burst limits, with the
//! budget charged after the handler reports what it returned).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Sim;
use crate::config::{Endpoint, FaultConfig};
use crate::errors::{ApiError, GatewayError, json_response};
use crate::inspect::CallRecord;
use crate::oauth::{TokenProblem, bearer};
use crate::ratelimit::{REASON_BURST, add_budget_headers, too_many};

/// Who is calling, put in request extensions by the gateway.
#[derive(Clone, Debug)]
pub(crate) struct AuthCtx {
    pub user: u32,
}

/// Points a handler's response costs beyond the base point (objects returned × cost).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cost(pub u64);

#[derive(Clone, Copy, Debug)]
struct Tag(Endpoint);

#[derive(Clone, Copy, Debug)]
struct Dropped;

fn endpoint_of(method: &Method, matched: &str) -> Option<Endpoint> {
    let rest = matched.strip_prefix(crate::API);
    Some(match (method.as_str(), rest, matched) {
        ("GET", _, "/authorize") => Endpoint::Authorize,
        ("POST", _, "/oauth/token") => Endpoint::Token,
        ("GET", _, "/oauth/token/accessible-resources") => Endpoint::AccessibleResources,
        ("GET", Some("/group"), _) => Endpoint::GetGroups,
        ("GET", Some("/group/by-id"), _) => Endpoint::GetGroupById,
        ("GET", Some("/group/picker"), _) => Endpoint::GroupPicker,
        ("GET", Some("/group/{group_id}/membersByGroupId"), _) => Endpoint::GroupMembers,
        ("POST", Some("/group/userByGroupId"), _) => Endpoint::AddMember,
        ("DELETE", Some("/group/userByGroupId"), _) => Endpoint::RemoveMember,
        ("GET", Some("/user"), _) => Endpoint::GetUser,
        ("GET", Some("/user/current"), _) => Endpoint::CurrentUser,
        ("GET", Some("/user/bulk"), _) => Endpoint::BulkUsers,
        ("GET", Some("/user/memberof"), _) => Endpoint::UserMemberOf,
        ("GET", Some("/search"), _) => Endpoint::Search,
        ("GET", _, "/admin/v1/orgs") => Endpoint::Orgs,
        ("GET", _, "/admin/v1/orgs/{org_id}/directory/users/{account_id}/last-active-dates") => {
            Endpoint::OrgLastActive
        }
        _ => return None,
    })
}

fn request_endpoint(req: &Request) -> Option<Endpoint> {
    let m = req.extensions().get::<MatchedPath>()?;
    endpoint_of(req.method(), m.as_str())
}

/// Outermost layer: records every call.
pub(crate) async fn log_layer(State(sim): State<Arc<Sim>>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let at_ms = sim.clock.now_ms();
    let in_flight = sim.calls.begin();
    let resp = next.run(req).await;
    drop(in_flight);
    let endpoint = resp.extensions().get::<Tag>().map(|t| t.0);
    let status = if resp.extensions().get::<Dropped>().is_some() {
        0
    } else {
        resp.status().as_u16()
    };
    sim.calls.record(
        CallRecord {
            method,
            path,
            query,
            status,
            endpoint,
            at_ms,
        },
        sim.log_calls,
    );
    resp
}

/// Delays every response by the configured latency plus a uniform share of the jitter
/// (a WAN between client and Atlassian), before anything else runs.
pub(crate) async fn latency_layer(
    State(sim): State<Arc<Sim>>,
    req: Request,
    next: Next,
) -> Response {
    let (latency, jitter) = {
        let mut rt = sim.runtime.write();
        let ramped = match &mut rt.ramp {
            Some((step, max, count)) => {
                *count += 1;
                step.saturating_mul(u32::try_from(*count).unwrap_or(u32::MAX))
                    .min(*max)
            }
            None => Duration::ZERO,
        };
        (rt.latency + ramped, rt.jitter)
    };
    let extra_ms = if jitter.is_zero() {
        0
    } else {
        sim.latency_rng.lock().below(jitter.as_millis() as u64 + 1)
    };
    let delay = latency + std::time::Duration::from_millis(extra_ms);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    next.run(req).await
}

/// Unknown paths.
pub(crate) async fn not_found(req: Request) -> Response {
    if req.uri().path().starts_with("/ex/confluence/") {
        ApiError::NotFound(format!("null for uri: {}", req.uri().path())).into_response()
    } else {
        json_response(
            StatusCode::NOT_FOUND,
            &json!({ "code": 404, "message": "Not Found" }),
        )
    }
}

fn roll(sim: &Sim, rate: f64) -> bool {
    rate > 0.0 && sim.fault_rng.lock().chance(rate)
}

/// Injects the configured faults of the matched endpoint.
pub(crate) async fn fault_layer(State(sim): State<Arc<Sim>>, req: Request, next: Next) -> Response {
    let Some(ep) = request_endpoint(&req) else {
        return next.run(req).await;
    };
    let fault: Option<FaultConfig> = sim.runtime.read().faults.get(&ep).cloned();
    let mut resp = match fault {
        None => next.run(req).await,
        Some(f) => apply_faults(&sim, ep, f, req, next).await,
    };
    resp.extensions_mut().insert(Tag(ep));
    resp
}

async fn apply_faults(
    sim: &Sim,
    ep: Endpoint,
    f: FaultConfig,
    req: Request,
    next: Next,
) -> Response {
    if !f.latency.is_zero() {
        tokio::time::sleep(f.latency).await;
    }
    if f.storm_429 > 0 {
        let fire = {
            let mut rt = sim.runtime.write();
            match rt.faults.get_mut(&ep) {
                Some(cur) if cur.storm_429 > 0 => {
                    cur.storm_429 -= 1;
                    true
                }
                _ => false,
            }
        };
        if fire {
            let secs = if f.storm_retry_after_secs == 0 {
                1
            } else {
                f.storm_retry_after_secs
            };
            return too_many(secs, REASON_BURST, None, sim.clock.now_ms());
        }
    }
    if roll(sim, f.error_rate) {
        let code = if f.error_status == 0 {
            503
        } else {
            f.error_status
        };
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut r = json_response(
            status,
            &json!({ "code": status.as_u16(), "message": status.canonical_reason().unwrap_or("Error") }),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        return r;
    }
    let resp = next.run(req).await;
    let want_drop = roll(sim, f.drop_connection_rate);
    let want_trunc = !want_drop && resp.status().is_success() && roll(sim, f.truncated_json_rate);
    let want_mal =
        !want_drop && !want_trunc && resp.status().is_success() && roll(sim, f.malformed_json_rate);
    if !(want_drop || want_trunc || want_mal) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    if want_drop {
        // Announce the full length, send half, then fail the body: hyper aborts the
        // connection and the client sees an incomplete message.
        let full = bytes.len().max(2);
        let half = bytes.slice(..bytes.len() / 2);
        // The half body is flushed first (with the headers); the failure comes a moment later.
        let head = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(half)]);
        let tail = futures_util::stream::once(async {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Err::<axum::body::Bytes, _>(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "confluence-sim: connection dropped mid-body",
            ))
        });
        let chunks = futures_util::StreamExt::chain(head, tail);
        parts.headers.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from_str(&full.to_string()).unwrap_or(HeaderValue::from_static("2")),
        );
        let mut r = Response::from_parts(parts, Body::from_stream(chunks));
        r.extensions_mut().insert(Dropped);
        return r;
    }
    let new_body: Vec<u8> = if want_trunc {
        bytes[..bytes.len() / 2].to_vec()
    } else {
        // Malformed: a stray token after the first `{` or `[` makes the JSON invalid.
        let mut v = bytes.to_vec();
        let pos = v
            .iter()
            .position(|b| *b == b'{' || *b == b'[')
            .map_or(0, |p| p + 1);
        v.splice(pos..pos, b"<!-- upstream -->,".iter().copied());
        v
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(new_body))
}

/// The api.atlassian.com gateway in front of Confluence.
pub(crate) async fn gateway_layer(
    State(sim): State<Arc<Sim>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(ep) = request_endpoint(&req) else {
        return next.run(req).await;
    };
    let Some(token) = bearer(req.headers()) else {
        return GatewayError::Unauthorized.into_response();
    };
    let tok = match sim.check_access(token) {
        Ok(t) => t,
        Err(TokenProblem::Unknown | TokenProblem::Expired) => {
            return GatewayError::Unauthorized.into_response();
        }
    };
    let cloud_id = req.uri().path().split('/').nth(3).unwrap_or("");
    if cloud_id != sim.site.cloud_id {
        return GatewayError::WrongCloudId.into_response();
    }
    let allowed = ep
        .scope_sets()
        .iter()
        .any(|set| set.iter().all(|s| tok.scopes.iter().any(|t| t == s)));
    if !allowed {
        return GatewayError::ScopeMismatch.into_response();
    }
    let now = sim.clock.now_ms();
    let rate = sim.runtime.read().rate.clone();
    let checked = sim.limiter.lock().check(&rate, ep, req.method(), now);
    if let Err(l) = checked {
        return too_many(l.retry_after_secs, l.reason, Some(&l.snapshot), now);
    }
    req.extensions_mut().insert(AuthCtx { user: tok.user });
    let mut resp = next.run(req).await;
    let extra = resp.extensions().get::<Cost>().map_or(0, |c| c.0);
    let snap = sim
        .limiter
        .lock()
        .charge(&rate, rate.request_cost + extra, sim.clock.now_ms());
    add_budget_headers(resp.headers_mut(), &snap);
    resp
}
