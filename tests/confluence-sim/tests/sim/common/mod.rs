//! Shared helpers for the integration tests: starting a simulator with test-friendly
//! defaults and a plain reqwest client that does not follow redirects.

#![allow(dead_code)]

use confluence_sim::{RateLimitConfig, SimClock, SimConfig, SimHandle, Simulator};
use serde_json::Value;

/// 2025-06-15T12:00:00Z.
pub const T0: i64 = 1_749_988_800_000;

pub const ALL_SCOPES: &[&str] = &[
    "read:confluence-groups",
    "read:confluence-user",
    "search:confluence",
    "write:confluence-groups",
    "offline_access",
];

pub fn config() -> SimConfig {
    SimConfig {
        users: 600,
        clock: SimClock::fixed(T0),
        rate_limit: RateLimitConfig::unlimited(),
        ..SimConfig::default()
    }
}

pub async fn start() -> SimHandle {
    Simulator::start(config()).await.expect("simulator starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// GET `{connection_url}{path}` with a bearer token; returns status and JSON (Null if none).
pub async fn get(sim: &SimHandle, token: &str, path: &str) -> (u16, Value) {
    let r = client()
        .get(format!("{}{}", sim.connection_url(), path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts a Confluence v1 error body.
pub fn assert_confluence_error(body: &Value, status: u16) {
    assert_eq!(body["statusCode"], status, "{body}");
    assert_eq!(body["data"]["successful"], false, "{body}");
    assert!(body["data"]["errors"].is_array(), "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Follows `_links.next` (relative to `{connection_url}/wiki`) and collects `results`.
pub async fn collect_pages(sim: &SimHandle, token: &str, first: &str) -> (Vec<Value>, usize) {
    let mut out = Vec::new();
    let mut path = first.to_string();
    let mut pages = 0;
    loop {
        let (s, body) = get(sim, token, &path).await;
        assert_eq!(s, 200, "{path}: {body}");
        pages += 1;
        out.extend(body["results"].as_array().cloned().unwrap_or_default());
        match body["_links"]["next"].as_str() {
            Some(next) => path = format!("/wiki{next}"),
            None => return (out, pages),
        }
    }
}
