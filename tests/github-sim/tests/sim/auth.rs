//! Authentication and authorization: classic tokens and their scopes (403 with
//! `X-Accepted-OAuth-Scopes` / `X-OAuth-Scopes`), fine-grained permissions, owners only,
//! both `Bearer` and `token` schemes, expiry (401); the GitHub App flow (RS256 JWT checked
//! against the app's public key and GitHub's iat/exp rules, installations, one-hour
//! installation tokens that then give 401) and the attacks on it (another key, HS256 with
//! the public key, an unsigned token, a JWT outside /app, a token on /app).

use crate::common;

use std::time::Duration;

use common::*;
use github_sim::SimConfig;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn classic_scopes_decide_and_the_headers_say_which() {
    let sim = start().await;
    let org = sim.org().to_string();
    let seats = format!("/orgs/{org}/copilot/billing/seats");
    let write = format!("/orgs/{org}/copilot/billing/selected_users");
    let user = sim.seats()[0].login.clone();
    let body = json!({ "selected_usernames": [user] });

    let none = sim.mint_classic_token(&["repo"]).unwrap();
    let a = get(&sim, &none, &seats).await;
    assert_eq!(a.status, 403);
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Resource not accessible by personal access token")
    );
    assert_eq!(
        a.header("x-accepted-oauth-scopes"),
        Some("manage_billing:copilot, read:org")
    );
    assert_eq!(a.header("x-oauth-scopes"), Some("repo"));

    // read:org reads, but cannot write; admin:org implies read:org; manage_billing:copilot does both.
    let read = sim.mint_classic_token(&["read:org"]).unwrap();
    assert_eq!(get(&sim, &read, &seats).await.status, 200);
    let a = call(
        &sim,
        Method::DELETE,
        Some(&read),
        &write,
        Some(body.clone()),
    )
    .await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.header("x-accepted-oauth-scopes"),
        Some("manage_billing:copilot, admin:org")
    );
    let admin = sim.mint_classic_token(&["admin:org"]).unwrap();
    assert_eq!(get(&sim, &admin, &seats).await.status, 200);
    let billing = sim.mint_classic_token(&["manage_billing:copilot"]).unwrap();
    assert_eq!(get(&sim, &billing, &seats).await.status, 200);
    // The `token` scheme works as well as `Bearer`.
    let r = client()
        .get(format!("{}{seats}", sim.base_url()))
        .header("Authorization", format!("token {billing}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A member who is not an owner: 403 even with the scopes.
    let member = sim
        .users()
        .into_iter()
        .find(|u| !u.owner && !u.invited)
        .unwrap();
    let t = sim
        .mint_classic_token_for(&member.login, OWNER_SCOPES, None)
        .unwrap();
    let a = get(&sim, &t, &seats).await;
    assert_eq!(a.status, 403);
    assert!(a.body["message"].as_str().unwrap().contains("owner"));
    // …but may list members.
    assert_eq!(
        get(&sim, &t, &format!("/orgs/{org}/members")).await.status,
        200
    );
}

#[tokio::test]
async fn fine_grained_permissions_and_expired_or_unknown_tokens() {
    let sim = start().await;
    let org = sim.org().to_string();
    let seats = format!("/orgs/{org}/copilot/billing/seats");
    let read = sim
        .mint_fine_grained_token(&[("organization_copilot_seat_management", "read")])
        .unwrap();
    assert!(read.starts_with("github_pat_"));
    assert_eq!(get(&sim, &read, &seats).await.status, 200);
    let a = call(
        &sim,
        Method::POST,
        Some(&read),
        &format!("/orgs/{org}/copilot/billing/selected_users"),
        Some(json!({ "selected_usernames": ["x"] })),
    )
    .await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.header("x-accepted-github-permissions"),
        Some("organization_copilot_seat_management=write; organization_administration=write")
    );
    let admin = sim
        .mint_fine_grained_token(&[("organization_administration", "read")])
        .unwrap();
    assert_eq!(get(&sim, &admin, &seats).await.status, 200);
    let members_only = sim
        .mint_fine_grained_token(&[("members", "write")])
        .unwrap();
    assert_eq!(get(&sim, &members_only, &seats).await.status, 403);
    assert_eq!(
        get(&sim, &members_only, &format!("/orgs/{org}/teams"))
            .await
            .status,
        200
    );

    // Expiry (sim clock), revocation, unknown and malformed credentials: 401 Bad credentials.
    let owner = sim.owner_login();
    let short = sim
        .mint_classic_token_for(&owner, OWNER_SCOPES, Some(Duration::from_secs(60)))
        .unwrap();
    assert_eq!(get(&sim, &short, &seats).await.status, 200);
    sim.clock().advance(Duration::from_secs(60));
    let a = get(&sim, &short, &seats).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.body["message"], "Bad credentials");
    let t = sim.mint_classic_token(OWNER_SCOPES).unwrap();
    assert!(sim.revoke_token(&t));
    assert_eq!(get(&sim, &t, &seats).await.status, 401);
    assert_eq!(get(&sim, "ghp_notatoken", &seats).await.status, 401);
    let r = client()
        .get(format!("{}{seats}", sim.base_url()))
        .header("Authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // No token at all: 401 on the seat endpoints, but /rate_limit answers.
    let a = call(&sim, Method::GET, None, &seats, None).await;
    assert_eq!(a.status, 401);
    assert_eq!(
        call(&sim, Method::GET, None, "/rate_limit", None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn github_app_jwt_installation_token_and_its_expiry() {
    let sim = start().await;
    let org = sim.org().to_string();
    let jwt = app_jwt(&sim);
    // Find the installation for the org.
    let a = get(&sim, &jwt, "/app/installations").await;
    assert_eq!(a.status, 200, "{}", a.body);
    let list = a.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let inst = list
        .iter()
        .find(|i| i["account"]["login"] == org.as_str())
        .unwrap();
    assert_eq!(inst["target_type"], "Organization");
    assert_eq!(inst["id"], sim.installation_id());
    let a = get(&sim, &jwt, &format!("/orgs/{org}/installation")).await;
    assert_eq!(a.body["id"], sim.installation_id());
    // Mint a token: 201, ghs_, expires in an hour.
    let tok = installation_token(&sim).await;
    let token = tok["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ghs_"));
    assert_eq!(tok["expires_at"], "2025-06-15T13:00:00Z");
    assert_eq!(
        tok["permissions"]["organization_copilot_seat_management"],
        "write"
    );
    let seats = format!("/orgs/{org}/copilot/billing/seats");
    assert_eq!(get(&sim, &token, &seats).await.status, 200);
    // An installation token cannot call the /app endpoints, nor a JWT the org endpoints.
    let a = get(&sim, &token, "/app/installations").await;
    assert_eq!(a.status, 401);
    assert_eq!(get(&sim, &jwt, &seats).await.status, 401);
    // One hour later the installation token is dead; a fresh JWT mints a new one.
    sim.clock().advance(Duration::from_secs(3599));
    assert_eq!(get(&sim, &token, &seats).await.status, 200);
    sim.clock().advance(Duration::from_secs(1));
    let a = get(&sim, &token, &seats).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.body["message"], "Bad credentials");
    let fresh = installation_token(&sim).await;
    assert_eq!(
        get(&sim, fresh["token"].as_str().unwrap(), &seats)
            .await
            .status,
        200
    );
    // Narrowed permissions: read only cannot write; beyond the grant is 422.
    let a = call(
        &sim,
        Method::POST,
        Some(&app_jwt(&sim)),
        &format!("/app/installations/{}/access_tokens", sim.installation_id()),
        Some(json!({ "permissions": { "organization_copilot_seat_management": "read" } })),
    )
    .await;
    assert_eq!(a.status, 201);
    let ro = a.body["token"].as_str().unwrap();
    assert_eq!(get(&sim, ro, &seats).await.status, 200);
    let w = call(
        &sim,
        Method::DELETE,
        Some(ro),
        &format!("/orgs/{org}/copilot/billing/selected_users"),
        Some(json!({ "selected_usernames": ["x"] })),
    )
    .await;
    assert_eq!(w.status, 403);
    assert_eq!(w.body["message"], "Resource not accessible by integration");
    let a = call(
        &sim,
        Method::POST,
        Some(&app_jwt(&sim)),
        &format!("/app/installations/{}/access_tokens", sim.installation_id()),
        Some(json!({ "permissions": { "organization_administration": "write" } })),
    )
    .await;
    assert_eq!(a.status, 422);
    // The other installation (a user account) cannot reach the org; unknown ones are 404.
    let a = call(
        &sim,
        Method::POST,
        Some(&app_jwt(&sim)),
        &format!(
            "/app/installations/{}/access_tokens",
            sim.installation_id() + 1
        ),
        None,
    )
    .await;
    assert_eq!(a.status, 201);
    let other = a.body["token"].as_str().unwrap();
    assert_eq!(get(&sim, other, &seats).await.status, 403);
    let a = call(
        &sim,
        Method::POST,
        Some(&app_jwt(&sim)),
        "/app/installations/1/access_tokens",
        None,
    )
    .await;
    assert_eq!(a.status, 404);
    // A grant without the Copilot permission: the token is refused on the seats.
    sim.set_installation_permissions(&[("members", "read")]);
    let t = installation_token(&sim).await;
    let a = get(&sim, t["token"].as_str().unwrap(), &seats).await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.header("x-accepted-github-permissions"),
        Some("organization_copilot_seat_management=read; organization_administration=read")
    );
}

#[tokio::test]
async fn jwts_that_break_githubs_rules_get_401() {
    let sim = start().await;
    let now = sim.clock().now_secs();
    let pem = sim.app_private_key_pem().to_string();
    let id = sim.app_id();
    let cases = [
        // exp more than 10 minutes after iat.
        (
            json!({ "iat": now - 60, "exp": now + 600, "iss": id }),
            "too far",
        ),
        // expired.
        (
            json!({ "iat": now - 700, "exp": now - 100, "iss": id }),
            "Expiration",
        ),
        // issued in the future (beyond the 60 s drift allowance).
        (
            json!({ "iat": now + 120, "exp": now + 300, "iss": id }),
            "Issued at",
        ),
        // no iat / no exp.
        (json!({ "exp": now + 300, "iss": id }), "Issued at"),
        (json!({ "iat": now, "iss": id }), "Expiration"),
        // another app.
        (
            json!({ "iat": now - 60, "exp": now + 500, "iss": id + 1 }),
            "Integration not found",
        ),
    ];
    for (claims, msg) in cases {
        let a = get(&sim, &jwt(&pem, &claims), "/app/installations").await;
        assert_eq!(a.status, 401, "{claims}");
        assert!(
            a.body["message"].as_str().unwrap().contains(msg),
            "{claims}: {}",
            a.body
        );
    }
    // The numeric app id works as iss as well as the client id; iat up to 60 s ahead is fine.
    let ok = jwt(
        &pem,
        &json!({ "iat": now + 50, "exp": now + 600, "iss": id }),
    );
    assert_eq!(get(&sim, &ok, "/app/installations").await.status, 200);
    // Signed with another key (another seed's app): 401.
    let other = start_with(SimConfig {
        seed: 99,
        seats: 5,
        ..config()
    })
    .await;
    let forged = jwt(
        other.app_private_key_pem(),
        &json!({ "iat": now - 60, "exp": now + 500, "iss": id }),
    );
    let a = get(&sim, &forged, "/app/installations").await;
    assert_eq!(a.status, 401);
    assert_eq!(a.body["message"], "A JSON web token could not be decoded");
    // Algorithm confusion: HS256 keyed with the public key PEM.
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "iat": now - 60, "exp": now + 500, "iss": id }),
        &jsonwebtoken::EncodingKey::from_secret(sim.app_public_key_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(get(&sim, &hs, "/app/installations").await.status, 401);
    // alg "none" (unsigned).
    let valid = app_jwt(&sim);
    let payload = valid.split('.').nth(1).unwrap();
    let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    assert_eq!(get(&sim, &none, "/app/installations").await.status, 401);
    // A tampered payload with the original signature.
    let mut parts: Vec<String> = valid.split('.').map(str::to_string).collect();
    parts[1] = parts[1].chars().rev().collect();
    assert_eq!(
        get(&sim, &parts.join("."), "/app/installations")
            .await
            .status,
        401
    );
    // JWTs are not accepted with the `token` scheme.
    let r = client()
        .get(format!("{}/app/installations", sim.base_url()))
        .header("Authorization", format!("token {valid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // No credentials on /app: 401.
    assert_eq!(
        call(&sim, Method::GET, None, "/app/installations", None)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn a_given_private_key_is_used() {
    let base = start_with(SimConfig {
        seed: 123,
        seats: 5,
        ..config()
    })
    .await;
    let pem = base.app_private_key_pem().to_string();
    let sim = start_with(SimConfig {
        seed: 1,
        seats: 5,
        app_private_key_pem: Some(pem.clone()),
        ..config()
    })
    .await;
    assert_eq!(sim.app_private_key_pem(), pem);
    assert_eq!(
        get(&sim, &app_jwt(&sim), "/app/installations").await.status,
        200
    );
    let bad = github_sim::Simulator::start(SimConfig {
        app_private_key_pem: Some(
            "-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n".into(),
        ),
        ..config()
    })
    .await;
    assert!(matches!(bad, Err(github_sim::SimError::Key(_))));
}
