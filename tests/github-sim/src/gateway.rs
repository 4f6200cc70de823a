//! The request pipeline in front of the REST handlers, in GitHub's order: the call log
//! (outermost), the configured latency and jitter, the API-version check, per-endpoint
//! faults (secondary-limit storms, 5xx, added latency), authentication (401), the primary
//! rate limit, the secondary limits (requests in flight, points and writes per minute), the
//! scope / permission / owner check (403), then the handler; on the way out the
//! `x-ratelimit-*`, `x-oauth-scopes`, `x-accepted-oauth-scopes` and
//! `x-accepted-github-permissions` headers, and the body faults (malformed JSON, connection
//! dropped mid-body).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Sim;
use crate::auth::{
    Credential, JWT_UNDECODABLE, Presented, Principal, level_ok, looks_like_jwt, presented,
    verify_jwt,
};
use crate::config::{Access, Endpoint, FaultConfig, scope_implies};
use crate::errors::{ApiError, basic_error, json_response};
use crate::inspect::CallRecord;
use crate::ratelimit::{RateSnapshot, add_rate_headers, primary_refusal, secondary_refusal};

/// Who is calling, for the handlers.
#[derive(Clone, Debug)]
pub(crate) struct AuthCtx(pub Principal);

/// The API version a request selected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ApiVersion {
    V20221128,
    V20260310,
}

#[derive(Clone, Copy, Debug)]
struct Tag(Endpoint);

#[derive(Clone, Copy, Debug)]
struct Dropped;

fn endpoint_of(req: &Request) -> Option<Endpoint> {
    let m = req.extensions().get::<MatchedPath>()?;
    Endpoint::from_route(req.method().as_str(), m.as_str())
}

/// Outermost layer: records every API call (the inspection API is not recorded).
pub(crate) async fn log_layer(State(sim): State<Arc<Sim>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with(crate::INSPECT) {
        return next.run(req).await;
    }
    let method = req.method().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let at_ms = sim.clock.now_ms();
    let resp = next.run(req).await;
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

/// Unknown paths: GitHub's 404.
pub(crate) async fn not_found() -> Response {
    ApiError::NotFound.into_response()
}

struct InFlight<'a>(&'a Sim);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn roll(sim: &Sim, rate: f64) -> bool {
    rate > 0.0 && sim.fault_rng.lock().chance(rate)
}

/// The REST pipeline.
pub(crate) async fn api_layer(State(sim): State<Arc<Sim>>, req: Request, next: Next) -> Response {
    let Some(ep) = endpoint_of(&req) else {
        return next.run(req).await;
    };
    let in_flight = sim.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    sim.max_in_flight.fetch_max(in_flight, Ordering::SeqCst);
    let _guard = InFlight(&sim);
    let (latency, jitter, fault, rate) = {
        let rt = sim.runtime.read();
        (
            rt.latency,
            rt.jitter,
            rt.faults.get(&ep).cloned(),
            rt.rate.clone(),
        )
    };
    let mut delay = latency;
    if !jitter.is_zero() {
        let span = u64::try_from(jitter.as_micros()).unwrap_or(u64::MAX);
        let extra = sim.fault_rng.lock().below(span.saturating_add(1));
        delay = delay.saturating_add(Duration::from_micros(extra));
    }
    if let Some(f) = &fault {
        delay = delay.saturating_add(f.latency);
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut resp = pipeline(&sim, ep, in_flight, fault, rate, req, next).await;
    resp.extensions_mut().insert(Tag(ep));
    resp
}

async fn pipeline(
    sim: &Sim,
    ep: Endpoint,
    in_flight: u32,
    fault: Option<FaultConfig>,
    rate: crate::config::RateLimitConfig,
    mut req: Request,
    next: Next,
) -> Response {
    let version = match req
        .headers()
        .get("x-github-api-version")
        .map(|v| v.to_str().unwrap_or(""))
    {
        None | Some("2022-11-28") => ApiVersion::V20221128,
        Some("2026-03-10") => ApiVersion::V20260310,
        Some(other) => {
            return ApiError::BadRequest(format!("API version {other} is not supported."))
                .into_response();
        }
    };
    if let Some(f) = &fault {
        if f.secondary_storm > 0 {
            let fire = {
                let mut rt = sim.runtime.write();
                match rt.faults.get_mut(&ep) {
                    Some(cur) if cur.secondary_storm > 0 => {
                        cur.secondary_storm -= 1;
                        true
                    }
                    _ => false,
                }
            };
            if fire {
                let sec = rate.secondary.clone().unwrap_or_default();
                return secondary_refusal(sec.status, sec.retry_after_secs, None);
            }
        }
        if roll(sim, f.error_rate) {
            let code = if f.error_status == 0 {
                500
            } else {
                f.error_status
            };
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return json_response(
                status,
                &basic_error(status, status.canonical_reason().unwrap_or("Server Error")),
            );
        }
    }
    let now = sim.clock.now_ms();
    let principal = match authenticate(sim, ep, &req, now) {
        Ok(p) => p,
        Err(e) => {
            // A failed authentication counts against the unauthenticated bucket, as on GitHub.
            let snap = match sim.limiter.lock().take(
                &Principal::Anonymous.bucket(),
                rate.unauthenticated_per_hour,
                now,
            ) {
                Ok(s) | Err(s) => s,
            };
            let mut r = e.into_response();
            finish_headers(&mut r, Some(&snap), &[]);
            return r;
        }
    };
    // Primary limit (GET /rate_limit is not counted).
    let (bucket_limit, who) = match &principal {
        Principal::Anonymous => (rate.unauthenticated_per_hour, "127.0.0.1".to_string()),
        Principal::App => (rate.installation_per_hour, "app".to_string()),
        Principal::Token(Credential::Installation { installation, .. }) => (
            rate.installation_per_hour,
            format!("installation ID {installation}"),
        ),
        Principal::Token(Credential::Classic { user, .. })
        | Principal::Token(Credential::FineGrained { user, .. }) => (
            rate.user_per_hour,
            format!(
                "user ID {}",
                sim.org.read().users.get(*user as usize).map_or(0, |u| u.id)
            ),
        ),
    };
    let snapshot: Option<RateSnapshot> = if ep == Endpoint::RateLimit {
        Some(
            sim.limiter
                .lock()
                .peek(&principal.bucket(), bucket_limit, now),
        )
    } else {
        match sim
            .limiter
            .lock()
            .take(&principal.bucket(), bucket_limit, now)
        {
            Ok(s) => Some(s),
            Err(s) => return primary_refusal(rate.primary_status, &who, &s),
        }
    };
    if let Some(sec) = &rate.secondary {
        let over_points = !sim.limiter.lock().secondary(sec, ep, now);
        if in_flight > sec.max_concurrent || over_points {
            return secondary_refusal(sec.status, sec.retry_after_secs, snapshot.as_ref());
        }
    }
    let mut extra_headers: Vec<(&'static str, String)> = Vec::new();
    if let Err(e) = authorize(sim, ep, &principal, &mut extra_headers) {
        let mut r = e.into_response();
        finish_headers(&mut r, snapshot.as_ref(), &extra_headers);
        return r;
    }
    req.extensions_mut().insert(AuthCtx(principal));
    req.extensions_mut().insert(version);
    let mut resp = next.run(req).await;
    finish_headers(&mut resp, snapshot.as_ref(), &extra_headers);
    match fault {
        Some(f) if resp.status().is_success() => body_faults(sim, f, resp).await,
        _ => resp,
    }
}

fn finish_headers(
    r: &mut Response,
    snapshot: Option<&RateSnapshot>,
    extra: &[(&'static str, String)],
) {
    if let Some(s) = snapshot {
        add_rate_headers(r.headers_mut(), s);
    }
    for (k, v) in extra {
        if let Ok(v) = HeaderValue::from_str(v) {
            r.headers_mut().insert(*k, v);
        }
    }
    r.headers_mut().insert(
        "x-github-media-type",
        HeaderValue::from_static("github.v3; format=json"),
    );
}

fn authenticate(sim: &Sim, ep: Endpoint, req: &Request, now: i64) -> Result<Principal, ApiError> {
    let bad = || ApiError::Unauthorized("Bad credentials".to_string());
    let jwt_only = ep.access() == Access::AppJwt;
    match presented(req.headers()) {
        Presented::None => {
            if jwt_only {
                Err(ApiError::Unauthorized(
                    "You must authenticate with an access token authorized to a GitHub App in order to list installations".to_string(),
                ))
            } else {
                Ok(Principal::Anonymous)
            }
        }
        Presented::Malformed => Err(bad()),
        Presented::Token(t) if looks_like_jwt(t) => {
            Err(ApiError::Unauthorized(JWT_UNDECODABLE.to_string()))
        }
        Presented::Bearer(t) if looks_like_jwt(t) => {
            if !jwt_only {
                // A JWT authenticates only the /app endpoints.
                return Err(bad());
            }
            verify_jwt(
                t,
                &sim.keys,
                sim.app_id,
                &sim.app_client_id,
                now.div_euclid(1000),
            )
            .map_err(|m| ApiError::Unauthorized(m.to_string()))?;
            Ok(Principal::App)
        }
        Presented::Bearer(t) | Presented::Token(t) => {
            if jwt_only {
                return Err(ApiError::Unauthorized(JWT_UNDECODABLE.to_string()));
            }
            sim.tokens
                .lock()
                .check(t, now)
                .map(Principal::Token)
                .ok_or_else(bad)
        }
    }
}

fn accepted_permissions(perms: &[(&str, &str)]) -> String {
    perms
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn authorize(
    sim: &Sim,
    ep: Endpoint,
    p: &Principal,
    headers: &mut Vec<(&'static str, String)>,
) -> Result<(), ApiError> {
    let Access::Token {
        scopes,
        permissions,
        owner,
    } = ep.access()
    else {
        return Ok(());
    };
    if let Principal::Token(Credential::Classic { scopes: held, .. }) = p {
        headers.push(("x-oauth-scopes", held.join(", ")));
        headers.push(("x-accepted-oauth-scopes", scopes.join(", ")));
    } else {
        headers.push((
            "x-accepted-github-permissions",
            accepted_permissions(permissions),
        ));
    }
    let perm_ok = |granted: &[(String, String)]| {
        permissions
            .iter()
            .any(|(k, want)| granted.iter().any(|(gk, gv)| gk == k && level_ok(gv, want)))
    };
    let user = match p {
        Principal::Anonymous => {
            return Err(ApiError::Unauthorized(
                "Requires authentication".to_string(),
            ));
        }
        Principal::App => return Err(ApiError::Unauthorized("Bad credentials".to_string())),
        Principal::Token(Credential::Classic { user, scopes: held }) => {
            let ok = scopes
                .iter()
                .any(|want| held.iter().any(|h| scope_implies(h, want)));
            if !ok {
                return Err(ApiError::Forbidden(format!(
                    "Resource not accessible by personal access token: this endpoint needs one of the scopes {}",
                    scopes.join(", ")
                )));
            }
            *user
        }
        Principal::Token(Credential::FineGrained {
            user,
            permissions: g,
        }) => {
            if !perm_ok(g) {
                return Err(ApiError::Forbidden(
                    "Resource not accessible by personal access token".to_string(),
                ));
            }
            *user
        }
        Principal::Token(Credential::Installation {
            installation,
            permissions: g,
        }) => {
            if *installation != sim.installation_id || !perm_ok(g) {
                return Err(ApiError::Forbidden(
                    "Resource not accessible by integration".to_string(),
                ));
            }
            return Ok(());
        }
    };
    if owner {
        let org = sim.org.read();
        let is_owner = org.users.get(user as usize).is_some_and(|u| u.owner);
        if !is_owner {
            return Err(ApiError::Forbidden(format!(
                "You must be an owner of the {} organization to do this.",
                org.login
            )));
        }
    }
    Ok(())
}

async fn body_faults(sim: &Sim, f: FaultConfig, resp: Response) -> Response {
    let want_drop = roll(sim, f.drop_connection_rate);
    let want_mal = !want_drop && roll(sim, f.malformed_json_rate);
    if !(want_drop || want_mal) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if want_drop {
        // Announce the full length, send half, then fail the body: the client sees an
        // incomplete message on a reset connection.
        let full = bytes.len().max(2);
        let half = bytes.slice(..bytes.len() / 2);
        let head = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(half)]);
        let tail = futures_util::stream::once(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err::<axum::body::Bytes, _>(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "github-sim: connection dropped mid-body",
            ))
        });
        parts.headers.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from_str(&full.to_string()).unwrap_or(HeaderValue::from_static("2")),
        );
        let mut r = Response::from_parts(
            parts,
            Body::from_stream(futures_util::StreamExt::chain(head, tail)),
        );
        r.extensions_mut().insert(Dropped);
        return r;
    }
    let mut v = bytes.to_vec();
    let pos = v
        .iter()
        .position(|b| *b == b'{' || *b == b'[')
        .map_or(0, |p| p + 1);
    v.splice(pos..pos, b"<html>".iter().copied());
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(v))
}
