//! OAuth 2.0 (3LO): consent, code exchange, refresh rotation, accessible resources, and
//! every error path, driven with plain reqwest.

use crate::common;

use std::time::Duration;

use common::{ALL_SCOPES, client, start};
use confluence_sim::{SimConfig, SimHandle, Simulator, SiteConfig};
use serde_json::{Value, json};

fn authorize_url(sim: &SimHandle, overrides: &[(&str, &str)]) -> String {
    let mut params: Vec<(String, String)> = vec![
        ("audience".into(), "api.atlassian.com".into()),
        ("client_id".into(), sim.client_id().into()),
        ("scope".into(), ALL_SCOPES.join(" ")),
        ("redirect_uri".into(), sim.redirect_uri().into()),
        ("state".into(), "xyz-123".into()),
        ("response_type".into(), "code".into()),
        ("prompt".into(), "consent".into()),
    ];
    for (k, v) in overrides {
        params.retain(|(kk, _)| kk != k);
        if !v.is_empty() {
            params.push((k.to_string(), v.to_string()));
        }
    }
    let q: String = form_query(&params);
    format!("{}/authorize?{q}", sim.auth_base_url())
}

fn form_query(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.replace(' ', "%20")
                    .replace(':', "%3A")
                    .replace('/', "%2F")
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Follows /authorize and returns the callback's query parameters.
async fn consent(
    sim: &SimHandle,
    overrides: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, String) {
    let r = client()
        .get(authorize_url(sim, overrides))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let loc = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let params = reqwest::Url::parse(if loc.is_empty() { "http://x/" } else { &loc })
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (status, params, loc)
}

fn param<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.as_str())
}

async fn token(sim: &SimHandle, body: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}/oauth/token", sim.auth_base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn exchange(sim: &SimHandle, code: &str) -> (u16, Value) {
    token(
        sim,
        json!({
            "grant_type": "authorization_code",
            "client_id": sim.client_id(),
            "client_secret": sim.client_secret(),
            "code": code,
            "redirect_uri": sim.redirect_uri(),
        }),
    )
    .await
}

async fn refresh(sim: &SimHandle, rt: &str) -> (u16, Value) {
    token(
        sim,
        json!({
            "grant_type": "refresh_token",
            "client_id": sim.client_id(),
            "client_secret": sim.client_secret(),
            "refresh_token": rt,
        }),
    )
    .await
}

async fn groups_status(sim: &SimHandle, access: &str) -> u16 {
    common::get(sim, access, "/wiki/rest/api/group").await.0
}

#[tokio::test]
async fn full_flow_with_refresh_rotation() {
    let sim = start().await;
    let (status, p, loc) = consent(&sim, &[]).await;
    assert_eq!(status, 302);
    assert!(loc.starts_with(sim.redirect_uri()), "{loc}");
    assert_eq!(param(&p, "state"), Some("xyz-123"));
    let code = param(&p, "code").expect("code").to_string();

    let (s, t) = exchange(&sim, &code).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3600);
    assert_eq!(t["scope"], ALL_SCOPES.join(" "));
    let access = t["access_token"].as_str().unwrap().to_string();
    let rt1 = t["refresh_token"]
        .as_str()
        .expect("refresh token with offline_access")
        .to_string();

    // The code is single-use.
    let (s, e) = exchange(&sim, &code).await;
    assert_eq!(s, 403);
    assert_eq!(e["error"], "invalid_grant");

    // accessible-resources lists the site with the granted scopes.
    let r = client()
        .get(format!(
            "{}/oauth/token/accessible-resources",
            sim.api_base_url()
        ))
        .bearer_auth(&access)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sites: Value = r.json().await.unwrap();
    assert_eq!(sites[0]["id"], sim.cloud_id());
    assert_eq!(sites[0]["url"], sim.site_url());
    assert!(sites[0]["name"].is_string());
    assert!(sites[0]["avatarUrl"].is_string());
    let scopes: Vec<&str> = sites[0]["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(scopes.contains(&"read:confluence-groups"));
    assert!(!scopes.contains(&"offline_access"));

    assert_eq!(groups_status(&sim, &access).await, 200);

    // Refresh: a new refresh token every time; the previous one is then rejected.
    let (s, t2) = refresh(&sim, &rt1).await;
    assert_eq!(s, 200, "{t2}");
    let rt2 = t2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    let access2 = t2["access_token"].as_str().unwrap().to_string();
    assert_eq!(groups_status(&sim, &access2).await, 200);

    let (s, e) = refresh(&sim, &rt1).await;
    assert_eq!(s, 403);
    assert_eq!(
        e,
        json!({"error": "unauthorized_client", "error_description": "refresh_token is invalid"})
    );

    let (s, t3) = refresh(&sim, &rt2).await;
    assert_eq!(s, 200, "{t3}");
    let (s, _) = refresh(&sim, &rt2).await;
    assert_eq!(s, 403);
    sim.shutdown().await;
}

#[tokio::test]
async fn no_refresh_token_without_offline_access_and_form_bodies_work() {
    let sim = start().await;
    let (_, p, _) = consent(
        &sim,
        &[("scope", "read:confluence-groups read:confluence-user")],
    )
    .await;
    let code = param(&p, "code").unwrap().to_string();
    let body = format!(
        "grant_type=authorization_code&client_id={}&client_secret={}&code={}&redirect_uri={}",
        sim.client_id(),
        sim.client_secret(),
        code,
        sim.redirect_uri().replace(':', "%3A").replace('/', "%2F")
    );
    let r = client()
        .post(format!("{}/oauth/token", sim.auth_base_url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    assert!(t.get("refresh_token").is_none(), "{t}");
    assert_eq!(t["scope"], "read:confluence-groups read:confluence-user");
}

#[tokio::test]
async fn authorize_error_paths() {
    let sim = start().await;
    // Unknown client and unregistered callback: an error page, no redirect.
    let (s, _, loc) = consent(&sim, &[("client_id", "nope")]).await;
    assert_eq!((s, loc.as_str()), (400, ""));
    let (s, _, loc) = consent(&sim, &[("redirect_uri", "https://evil.example/cb")]).await;
    assert_eq!((s, loc.as_str()), (400, ""));
    let (s, _, _) = consent(&sim, &[("redirect_uri", "")]).await;
    assert_eq!(s, 400);
    // The rest redirect back with an OAuth error (and the state).
    for (over, err) in [
        (("response_type", "token"), "unsupported_response_type"),
        (("audience", "example.com"), "invalid_request"),
        (("audience", ""), "invalid_request"),
        (("state", ""), "invalid_request"),
        (
            ("scope", "read:confluence-groups bogus:scope"),
            "invalid_scope",
        ),
        (("scope", ""), "invalid_scope"),
    ] {
        let (s, p, _) = consent(&sim, &[over]).await;
        assert_eq!(s, 302, "{over:?}");
        assert_eq!(param(&p, "error"), Some(err), "{over:?}");
        assert!(param(&p, "code").is_none());
    }
    // Deny consent at runtime.
    sim.set_deny_consent(true);
    let (s, p, _) = consent(&sim, &[]).await;
    assert_eq!(s, 302);
    assert_eq!(param(&p, "error"), Some("access_denied"));
    assert_eq!(param(&p, "state"), Some("xyz-123"));
    assert!(param(&p, "code").is_none());
    sim.set_deny_consent(false);
    let (_, p, _) = consent(&sim, &[]).await;
    assert!(param(&p, "code").is_some());
}

#[tokio::test]
async fn token_endpoint_error_paths() {
    let sim = start().await;
    let (_, p, _) = consent(&sim, &[]).await;
    let code = param(&p, "code").unwrap().to_string();
    // Wrong secret.
    let (s, e) = token(
        &sim,
        json!({"grant_type": "authorization_code", "client_id": sim.client_id(), "client_secret": "wrong",
               "code": code, "redirect_uri": sim.redirect_uri()}),
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(e["error"], "access_denied");
    // Wrong client id.
    let (s, _) = token(
        &sim,
        json!({"grant_type": "authorization_code", "client_id": "other", "client_secret": sim.client_secret(),
               "code": code, "redirect_uri": sim.redirect_uri()}),
    )
    .await;
    assert_eq!(s, 401);
    // Redirect URI mismatch burns the code.
    let (s, e) = token(
        &sim,
        json!({"grant_type": "authorization_code", "client_id": sim.client_id(), "client_secret": sim.client_secret(),
               "code": code, "redirect_uri": "http://localhost:1/other"}),
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(e["error"], "invalid_grant");
    // Unknown code.
    let (s, e) = exchange(&sim, "not-a-code").await;
    assert_eq!(s, 403);
    assert_eq!(e["error"], "invalid_grant");
    // Unknown refresh token.
    let (s, e) = refresh(&sim, "not-a-refresh-token").await;
    assert_eq!(s, 403);
    assert_eq!(e["error"], "unauthorized_client");
    // Unsupported grant and a body that is not JSON.
    let (s, e) = token(&sim, json!({"grant_type": "client_credentials"})).await;
    assert_eq!(s, 400);
    assert_eq!(e["error"], "unsupported_grant_type");
    let r = client()
        .post(format!("{}/oauth/token", sim.auth_base_url()))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_request");
}

#[tokio::test]
async fn codes_and_tokens_expire_on_the_sim_clock() {
    let sim = start().await;
    let (_, p, _) = consent(&sim, &[]).await;
    let code = param(&p, "code").unwrap().to_string();
    sim.clock().advance(Duration::from_secs(601));
    let (s, _) = exchange(&sim, &code).await;
    assert_eq!(s, 403, "codes live ten minutes");

    sim.set_access_token_ttl(Duration::from_secs(60));
    let (_, p, _) = consent(&sim, &[]).await;
    let (s, t) = exchange(&sim, param(&p, "code").unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(t["expires_in"], 60);
    let access = t["access_token"].as_str().unwrap().to_string();
    assert_eq!(groups_status(&sim, &access).await, 200);
    sim.clock().advance(Duration::from_secs(61));
    let (s, body) = common::get(&sim, &access, "/wiki/rest/api/group").await;
    assert_eq!(s, 401);
    assert_eq!(body, json!({"code": 401, "message": "Unauthorized"}));
    let r = client()
        .get(format!(
            "{}/oauth/token/accessible-resources",
            sim.api_base_url()
        ))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The refresh token still works and yields a fresh access token.
    let (s, t2) = refresh(&sim, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(
        groups_status(&sim, t2["access_token"].as_str().unwrap()).await,
        200
    );
    // Refresh tokens die after 90 days without use.
    sim.clock().advance(Duration::from_secs(91 * 86_400));
    let (s, _) = refresh(&sim, t2["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn accessible_resources_lists_every_site_and_needs_a_token() {
    let extra = SiteConfig {
        cloud_id: "11111111-2222-4333-8444-555555555555".into(),
        url: "https://other-site.atlassian.net".into(),
        name: "other-site".into(),
    };
    let sim = Simulator::start(SimConfig {
        extra_sites: vec![extra.clone()],
        ..common::config()
    })
    .await
    .unwrap();
    let url = format!("{}/oauth/token/accessible-resources", sim.api_base_url());
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client()
        .get(&url)
        .bearer_auth("bogus")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let tok = sim.mint_token(&["read:confluence-groups"]);
    let sites: Value = client()
        .get(&url)
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sites.as_array().unwrap().len(), 2);
    assert_eq!(sites[1]["id"], extra.cloud_id.as_str());
    // The other site's cloud id is not served for this app.
    let r = client()
        .get(format!(
            "{}/wiki/rest/api/group",
            sim.site_connection_url(&extra.cloud_id)
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
