//! Shared helpers for the integration tests: a simulator with a frozen clock and no rate
//! limits (tests that exercise limits set their own), a plain reqwest client, request
//! helpers, a `Link` header parser and a JWT signer for the GitHub App.

#![allow(dead_code)]

use github_sim::{RateLimitConfig, SimClock, SimConfig, SimHandle, Simulator};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// 2025-06-15T12:00:00Z.
pub const T0: i64 = 1_749_988_800_000;

pub const OWNER_SCOPES: &[&str] = &["manage_billing:copilot", "admin:org"];

pub fn config() -> SimConfig {
    SimConfig {
        seats: 300,
        clock: SimClock::fixed(T0),
        rate_limit: RateLimitConfig::unlimited(),
        ..SimConfig::default()
    }
}

pub async fn start() -> SimHandle {
    Simulator::start(config()).await.expect("simulator starts")
}

pub async fn start_with(cfg: SimConfig) -> SimHandle {
    Simulator::start(cfg).await.expect("simulator starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A request to `{base}{path}` (or to `path` when it is absolute), bearer token if any.
pub async fn call(
    sim: &SimHandle,
    method: Method,
    token: Option<&str>,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let url = if path.starts_with("http") {
        path.to_string()
    } else {
        format!("{}{}", sim.base_url(), path)
    };
    let mut rb = client()
        .request(method, url)
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28");
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

pub async fn get(sim: &SimHandle, token: &str, path: &str) -> Answer {
    call(sim, Method::GET, Some(token), path, None).await
}

/// `rel` -> URL from a `Link` header.
pub fn links(a: &Answer) -> Vec<(String, String)> {
    let Some(h) = a.header("link") else {
        return Vec::new();
    };
    h.split(',')
        .filter_map(|part| {
            let (url, rel) = part.split_once(';')?;
            let url = url.trim().trim_start_matches('<').trim_end_matches('>');
            let rel = rel.trim().strip_prefix("rel=\"")?.strip_suffix('"')?;
            Some((rel.to_string(), url.to_string()))
        })
        .collect()
}

pub fn link(a: &Answer, rel: &str) -> Option<String> {
    links(a).into_iter().find(|(r, _)| r == rel).map(|(_, u)| u)
}

/// Follows `rel="next"` from `first`; returns every item of `field` (or of the array body)
/// and the number of pages.
pub async fn collect(
    sim: &SimHandle,
    token: &str,
    first: &str,
    field: Option<&str>,
) -> (Vec<Value>, usize) {
    let mut out = Vec::new();
    let mut url = first.to_string();
    let mut pages = 0;
    loop {
        let a = get(sim, token, &url).await;
        assert_eq!(a.status, 200, "{url}: {}", a.body);
        pages += 1;
        let items = match field {
            Some(f) => a.body[f].as_array().cloned().unwrap_or_default(),
            None => a.body.as_array().cloned().unwrap_or_default(),
        };
        out.extend(items);
        match link(&a, "next") {
            Some(n) => url = n,
            None => return (out, pages),
        }
    }
}

/// An app JWT with these claims, signed RS256 with `pem`.
pub fn jwt(pem: &str, claims: &Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).expect("rsa pem");
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        claims,
        &key,
    )
    .expect("sign")
}

/// A valid JWT for the simulator's app at its clock's time.
pub fn app_jwt(sim: &SimHandle) -> String {
    let now = sim.clock().now_secs();
    jwt(
        sim.app_private_key_pem(),
        &serde_json::json!({ "iat": now - 60, "exp": now + 540, "iss": sim.app_client_id() }),
    )
}

/// Mints an installation token through the real endpoint.
pub async fn installation_token(sim: &SimHandle) -> Value {
    let a = call(
        sim,
        Method::POST,
        Some(&app_jwt(sim)),
        &format!("/app/installations/{}/access_tokens", sim.installation_id()),
        None,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    a.body
}
