//! The OAuth 2.0 (3LO) side: `GET /authorize` (auth.atlassian.com consent, answered with
//! an immediate redirect carrying `code` and `state`, or an error), `POST /oauth/token`
//! (authorization_code and refresh_token grants, JSON or form body, rotating refresh
//! tokens issued only with `offline_access`), `GET /oauth/token/accessible-resources`
//! (api.atlassian.com), and the [`TokenStore`] of codes, access and refresh tokens whose
//! expiry follows the simulator clock.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::{Value, json};

use crate::Sim;
use crate::clock::MS_PER_DAY;
use crate::data::UserKind;
use crate::errors::{GatewayError, OAuthError, json_response};

/// Authorization codes live 10 minutes.
const CODE_TTL_MS: i64 = 10 * 60 * 1000;
/// Refresh tokens expire after 90 days without use...
const REFRESH_IDLE_MS: i64 = 90 * MS_PER_DAY;
/// ...and 365 days after the first consent.
const REFRESH_ABSOLUTE_MS: i64 = 365 * MS_PER_DAY;

#[derive(Clone, Debug)]
pub(crate) struct AccessToken {
    pub user: u32,
    pub scopes: Vec<String>,
    pub expires_ms: i64,
}

#[derive(Clone, Debug)]
struct RefreshToken {
    user: u32,
    scopes: Vec<String>,
    consent_ms: i64,
    last_used_ms: i64,
}

#[derive(Clone, Debug)]
struct AuthCode {
    user: u32,
    scopes: Vec<String>,
    redirect_uri: String,
    expires_ms: i64,
}

/// Issued codes and tokens.
#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    codes: HashMap<String, AuthCode>,
}

fn random_token(prefix: &str, len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    let mut s = String::with_capacity(prefix.len() + len);
    s.push_str(prefix);
    for _ in 0..len {
        s.push(CHARS[rng.random_range(0..CHARS.len())] as char);
    }
    s
}

/// Why a bearer token was refused.
pub(crate) enum TokenProblem {
    Unknown,
    Expired,
}

impl Sim {
    pub(crate) fn mint_access(&self, user: u32, scopes: Vec<String>) -> String {
        let ttl = self.runtime.read().token_ttl;
        let expires_ms = self.clock.now_ms() + ttl.as_millis() as i64;
        let token = random_token("eyJsaW0iOiJjb25mbHVlbmNlLXNpbSJ9.", 96);
        self.tokens.lock().access.insert(
            token.clone(),
            AccessToken {
                user,
                scopes,
                expires_ms,
            },
        );
        token
    }

    /// Validates a bearer token against the clock.
    pub(crate) fn check_access(&self, token: &str) -> Result<AccessToken, TokenProblem> {
        let t = self
            .tokens
            .lock()
            .access
            .get(token)
            .cloned()
            .ok_or(TokenProblem::Unknown)?;
        if self.clock.now_ms() >= t.expires_ms {
            return Err(TokenProblem::Expired);
        }
        Ok(t)
    }

    /// Issues an access token (and a refresh token when `offline_access` was granted).
    fn issue(&self, user: u32, scopes: Vec<String>, consent_ms: i64) -> Value {
        let ttl = self.runtime.read().token_ttl;
        let access = self.mint_access(user, scopes.clone());
        let mut body = json!({
            "access_token": access,
            "expires_in": ttl.as_secs(),
            "token_type": "Bearer",
            "scope": scopes.join(" "),
        });
        if scopes.iter().any(|s| s == "offline_access") {
            let refresh = random_token("", 128);
            self.tokens.lock().refresh.insert(
                refresh.clone(),
                RefreshToken {
                    user,
                    scopes,
                    consent_ms,
                    last_used_ms: self.clock.now_ms(),
                },
            );
            body["refresh_token"] = Value::String(refresh);
        }
        body
    }
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
        Some(token.trim())
    } else {
        None
    }
}

/// Scopes an app may request: every OAuth scope the spec declares, plus `offline_access`.
fn known_scope(s: &str) -> bool {
    const GRANULAR_SUFFIX: &str = ":confluence";
    s == "offline_access"
        || s.ends_with(GRANULAR_SUFFIX)
        || matches!(
            s,
            "read:confluence-content.all"
                | "read:confluence-content.permission"
                | "read:confluence-content.summary"
                | "write:confluence-content"
                | "read:confluence-space.summary"
                | "write:confluence-space"
                | "write:confluence-file"
                | "read:confluence-props"
                | "write:confluence-props"
                | "search:confluence"
                | "manage:confluence-configuration"
                | "read:confluence-groups"
                | "write:confluence-groups"
                | "read:confluence-user"
                | "read:me"
                | "read:account"
        )
}

fn error_page(status: StatusCode, msg: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html><head><title>Something went wrong</title></head>\
         <body><h1>Something went wrong</h1><p>{msg}</p></body></html>"
    );
    let mut r = (status, html).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/html;charset=UTF-8"),
    );
    r
}

fn redirect(uri: &str, params: &[(&str, &str)]) -> Response {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    let sep = if uri.contains('?') { '&' } else { '?' };
    let location = format!("{uri}{sep}{}", ser.finish());
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = header::HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

pub(crate) fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `GET /authorize`: the consent screen, answered at once.
pub(crate) async fn authorize(State(sim): State<Arc<Sim>>, RawQuery(q): RawQuery) -> Response {
    let p = query_pairs(q.as_deref());
    match first(&p, "client_id") {
        Some(c) if c == sim.client_id => {}
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Invalid client_id: the app is not registered.",
            );
        }
    }
    let redirect_uri = match first(&p, "redirect_uri") {
        Some(r) if sim.redirect_uris.iter().any(|u| u == r) => r.to_string(),
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Invalid redirect_uri: it does not match the callback URL of the app.",
            );
        }
    };
    let state = first(&p, "state").unwrap_or("").to_string();
    let fail = |error: &str, desc: &str| {
        let mut params = vec![("error", error), ("error_description", desc)];
        if !state.is_empty() {
            params.push(("state", state.as_str()));
        }
        redirect(&redirect_uri, &params)
    };
    if first(&p, "response_type") != Some("code") {
        return fail("unsupported_response_type", "response_type must be code");
    }
    if first(&p, "audience") != Some("api.atlassian.com") {
        return fail("invalid_request", "audience must be api.atlassian.com");
    }
    if state.is_empty() {
        return fail("invalid_request", "state is required");
    }
    let scopes: Vec<String> = first(&p, "scope")
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if scopes.is_empty() {
        return fail("invalid_scope", "scope is required");
    }
    if let Some(bad) = scopes.iter().find(|s| !known_scope(s)) {
        return fail("invalid_scope", &format!("Unknown scope: {bad}"));
    }
    if sim.runtime.read().deny_consent {
        return fail("access_denied", "User did not authorize the request");
    }
    let code = random_token("", 40);
    sim.tokens.lock().codes.insert(
        code.clone(),
        AuthCode {
            user: sim.consenting_user,
            scopes,
            redirect_uri: redirect_uri.clone(),
            expires_ms: sim.clock.now_ms() + CODE_TTL_MS,
        },
    );
    redirect(&redirect_uri, &[("code", &code), ("state", &state)])
}

/// `POST /oauth/token`.
pub(crate) async fn token(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match token_inner(&sim, &headers, &body) {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}

fn token_inner(sim: &Sim, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let fields: HashMap<String, String> = if ct.starts_with("application/x-www-form-urlencoded") {
        form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    } else {
        let v: Value = serde_json::from_slice(body).map_err(|_| {
            OAuthError::new(400, "invalid_request", "The request body is not valid JSON")
        })?;
        let obj = v.as_object().ok_or_else(|| {
            OAuthError::new(
                400,
                "invalid_request",
                "The request body must be a JSON object",
            )
        })?;
        obj.iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
            .collect()
    };
    let get = |k: &str| fields.get(k).map(String::as_str);
    let grant = get("grant_type").unwrap_or("");
    if grant != "authorization_code" && grant != "refresh_token" {
        return Err(OAuthError::new(
            400,
            "unsupported_grant_type",
            format!("Unsupported grant type: {grant}"),
        ));
    }
    if get("client_id") != Some(sim.client_id.as_str())
        || get("client_secret") != Some(sim.client_secret.as_str())
    {
        return Err(OAuthError::new(401, "access_denied", "Unauthorized"));
    }
    let now = sim.clock.now_ms();
    if grant == "authorization_code" {
        let code = get("code").unwrap_or("");
        let rec = sim.tokens.lock().codes.remove(code);
        let rec = match rec {
            Some(r) if r.expires_ms > now => r,
            _ => {
                return Err(OAuthError::new(
                    403,
                    "invalid_grant",
                    "Invalid authorization code",
                ));
            }
        };
        if get("redirect_uri") != Some(rec.redirect_uri.as_str()) {
            return Err(OAuthError::new(
                403,
                "invalid_grant",
                "redirect_uri does not match the one used to obtain the code",
            ));
        }
        return Ok(sim.issue(rec.user, rec.scopes, now));
    }
    let presented = get("refresh_token").unwrap_or("");
    // Rotation: the presented token is consumed whatever happens next.
    let rec = sim.tokens.lock().refresh.remove(presented);
    let rec = match rec {
        Some(r)
            if now - r.last_used_ms < REFRESH_IDLE_MS
                && now - r.consent_ms < REFRESH_ABSOLUTE_MS =>
        {
            r
        }
        _ => {
            return Err(OAuthError::new(
                403,
                "unauthorized_client",
                "refresh_token is invalid",
            ));
        }
    };
    Ok(sim.issue(rec.user, rec.scopes, rec.consent_ms))
}

/// `GET /oauth/token/accessible-resources`.
pub(crate) async fn accessible_resources(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return GatewayError::Unauthorized.into_response();
    };
    let Ok(tok) = sim.check_access(token) else {
        return GatewayError::Unauthorized.into_response();
    };
    // Guests get an empty list (OAUTH20-2485).
    if sim.dir.read().users[tok.user as usize].kind == UserKind::Guest {
        return json_response(StatusCode::OK, &json!([]));
    }
    let scopes: Vec<&str> = tok
        .scopes
        .iter()
        .map(String::as_str)
        .filter(|s| *s != "offline_access")
        .collect();
    let sites: Vec<Value> = std::iter::once(&sim.site)
        .chain(sim.extra_sites.iter())
        .map(|s| {
            json!({
                "id": s.cloud_id,
                "url": s.url,
                "name": s.name,
                "scopes": scopes,
                "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png",
            })
        })
        .collect();
    json_response(StatusCode::OK, &Value::Array(sites))
}
