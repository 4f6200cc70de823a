//! Rate limits, faults and latency: the primary hourly bucket (`x-ratelimit-*` on every
//! answer, 403 or 429 with `x-ratelimit-remaining: 0` when spent, `/rate_limit` not
//! counted, the window rolling on the sim clock, per-owner buckets), the secondary limits
//! (writes per minute, points per endpoint, requests in flight, with `retry-after`), and
//! injected faults (5xx, malformed JSON, dropped connections, secondary storms, latency).

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use github_sim::{
    Endpoint, FaultConfig, LimitStatus, RateLimitConfig, SECONDARY_MESSAGE, SecondaryLimitConfig,
    SimConfig,
};
use reqwest::Method;
use serde_json::json;

fn limited(user: u64, secondary: Option<SecondaryLimitConfig>) -> SimConfig {
    SimConfig {
        seats: 50,
        rate_limit: RateLimitConfig {
            user_per_hour: Some(user),
            installation_per_hour: Some(user),
            unauthenticated_per_hour: Some(2),
            primary_status: LimitStatus::Forbidden,
            secondary,
        },
        ..config()
    }
}

#[tokio::test]
async fn the_primary_limit_counts_down_refuses_and_resets_an_hour_later() {
    let sim = start_with(limited(3, None)).await;
    let tok = sim.mint_classic_token(OWNER_SCOPES).unwrap();
    let seats = format!("/orgs/{}/copilot/billing/seats", sim.org());
    let reset = (T0 / 1000 + 3600).to_string();
    for left in ["2", "1", "0"] {
        let a = get(&sim, &tok, &seats).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(a.header("x-ratelimit-remaining"), Some(left));
        assert_eq!(a.header("x-ratelimit-reset"), Some(reset.as_str()));
        assert_eq!(a.header("x-ratelimit-resource"), Some("core"));
    }
    // /rate_limit reports the bucket without spending it.
    let a = get(&sim, &tok, "/rate_limit").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["resources"]["core"]["remaining"], 0);
    assert_eq!(a.body["resources"]["core"]["used"], 3);
    assert_eq!(a.body["rate"]["used"], 3);
    let a = get(&sim, &tok, &seats).await;
    assert_eq!(a.status, 403);
    assert_eq!(a.header("x-ratelimit-remaining"), Some("0"));
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .starts_with("API rate limit exceeded for user ID")
    );
    assert!(a.header("retry-after").is_none());
    // Another token of the same user shares the bucket; an installation has its own.
    let tok2 = sim
        .mint_fine_grained_token(&[("organization_copilot_seat_management", "read")])
        .unwrap();
    assert_eq!(get(&sim, &tok2, &seats).await.status, 403);
    let inst = installation_token(&sim).await;
    assert_eq!(
        get(&sim, inst["token"].as_str().unwrap(), &seats)
            .await
            .status,
        200
    );
    // The window rolls an hour after it began.
    sim.clock().advance(Duration::from_secs(3600));
    let a = get(&sim, &tok, &seats).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-ratelimit-remaining"), Some("2"));
    // 2026-03-10 drops the top-level `rate`.
    let r = client()
        .get(format!("{}/rate_limit", sim.base_url()))
        .bearer_auth(&tok)
        .header("X-GitHub-Api-Version", "2026-03-10")
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body.get("rate").is_none());
    assert!(body["resources"]["core"].is_object());
    // Unauthenticated callers have their own small bucket, with 429 when so configured.
    sim.set_rate_limit(RateLimitConfig {
        primary_status: LimitStatus::TooMany,
        ..limited(3, None).rate_limit
    });
    for left in ["1", "0"] {
        let a = call(&sim, Method::GET, None, &seats, None).await;
        assert_eq!(a.status, 401);
        assert_eq!(a.header("x-ratelimit-limit"), Some("2"));
        assert_eq!(a.header("x-ratelimit-remaining"), Some(left));
    }
    let a = call(&sim, Method::GET, None, &seats, None).await;
    assert_eq!(a.status, 429);
    assert_eq!(a.header("x-ratelimit-remaining"), Some("0"));
}

#[tokio::test]
async fn secondary_limits_on_writes_points_and_concurrency() {
    let sec = SecondaryLimitConfig {
        max_concurrent: 3,
        points_per_minute_per_endpoint: 1000,
        writes_per_minute: 2,
        status: LimitStatus::TooMany,
        retry_after_secs: Some(42),
    };
    let sim = start_with(limited(5000, Some(sec.clone()))).await;
    let tok = sim.mint_classic_token(OWNER_SCOPES).unwrap();
    let org = sim.org().to_string();
    let users: Vec<String> = sim
        .seats()
        .iter()
        .filter(|u| u.direct)
        .take(3)
        .map(|u| u.login.clone())
        .collect();
    let path = format!("/orgs/{org}/copilot/billing/selected_users");
    for u in &users[..2] {
        let a = call(
            &sim,
            Method::POST,
            Some(&tok),
            &path,
            Some(json!({ "selected_usernames": [u] })),
        )
        .await;
        assert_eq!(a.status, 201);
    }
    let a = call(
        &sim,
        Method::POST,
        Some(&tok),
        &path,
        Some(json!({ "selected_usernames": [users[2]] })),
    )
    .await;
    assert_eq!(a.status, 429);
    assert_eq!(a.header("retry-after"), Some("42"));
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .starts_with(SECONDARY_MESSAGE)
    );
    // Not a primary refusal: requests remain.
    assert_ne!(a.header("x-ratelimit-remaining"), Some("0"));
    // Reads still pass; a new minute lets writes through again.
    assert_eq!(
        get(&sim, &tok, &format!("/orgs/{org}/copilot/billing"))
            .await
            .status,
        200
    );
    sim.clock().advance(Duration::from_secs(60));
    let a = call(
        &sim,
        Method::POST,
        Some(&tok),
        &path,
        Some(json!({ "selected_usernames": [users[2]] })),
    )
    .await;
    assert_eq!(a.status, 201);

    // Points per endpoint: 3 GETs a minute on one endpoint.
    sim.set_rate_limit(RateLimitConfig {
        secondary: Some(SecondaryLimitConfig {
            points_per_minute_per_endpoint: 3,
            retry_after_secs: None,
            status: LimitStatus::Forbidden,
            ..sec.clone()
        }),
        ..RateLimitConfig::unlimited()
    });
    sim.reset_rate_limit();
    let seats = format!("/orgs/{org}/copilot/billing/seats");
    for _ in 0..3 {
        assert_eq!(get(&sim, &tok, &seats).await.status, 200);
    }
    let a = get(&sim, &tok, &seats).await;
    assert_eq!(a.status, 403);
    assert!(a.header("retry-after").is_none());
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .contains("secondary rate limit")
    );

    // Concurrency: 6 requests at once with 800 ms latency (all arrive while the first are
    // still held), at most 3 in flight.
    sim.set_rate_limit(RateLimitConfig {
        secondary: Some(SecondaryLimitConfig {
            points_per_minute_per_endpoint: 1000,
            ..sec
        }),
        ..RateLimitConfig::unlimited()
    });
    sim.reset_rate_limit();
    sim.set_latency(Duration::from_millis(800), Duration::ZERO);
    let futs = (0..6).map(|_| get(&sim, &tok, &seats));
    let statuses: Vec<u16> = futures_util::future::join_all(futs)
        .await
        .iter()
        .map(|a| a.status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        3,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn faults_latency_and_jitter() {
    let sim = start_with(SimConfig {
        latency: Duration::from_millis(120),
        jitter: Duration::from_millis(40),
        ..limited(5000, None)
    })
    .await;
    let tok = sim.mint_classic_token(OWNER_SCOPES).unwrap();
    let seats = format!("/orgs/{}/copilot/billing/seats", sim.org());
    let t = Instant::now();
    assert_eq!(get(&sim, &tok, &seats).await.status, 200);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(120) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    sim.set_latency(Duration::ZERO, Duration::ZERO);

    sim.set_fault(
        Endpoint::ListSeats,
        FaultConfig {
            error_rate: 1.0,
            error_status: 502,
            ..Default::default()
        },
    );
    let a = get(&sim, &tok, &seats).await;
    assert_eq!(a.status, 502);
    assert_eq!(a.body["status"], "502");
    // Other endpoints are untouched.
    assert_eq!(
        get(&sim, &tok, &format!("/orgs/{}/copilot/billing", sim.org()))
            .await
            .status,
        200
    );

    sim.set_fault(
        Endpoint::ListSeats,
        FaultConfig {
            secondary_storm: 2,
            ..Default::default()
        },
    );
    assert_eq!(get(&sim, &tok, &seats).await.status, 403);
    assert_eq!(
        get(&sim, &tok, &seats).await.header("retry-after"),
        Some("60")
    );
    assert_eq!(get(&sim, &tok, &seats).await.status, 200);

    sim.set_fault(
        Endpoint::ListSeats,
        FaultConfig {
            malformed_json_rate: 1.0,
            ..Default::default()
        },
    );
    let r = client()
        .get(format!("{}{seats}", sim.base_url()))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_err());

    sim.set_fault(
        Endpoint::ListSeats,
        FaultConfig {
            drop_connection_rate: 1.0,
            ..Default::default()
        },
    );
    let r = client()
        .get(format!("{}{seats}", sim.base_url()))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert!(r.bytes().await.is_err());
    sim.clear_faults();
    assert_eq!(get(&sim, &tok, &seats).await.status, 200);
    let dropped = sim.calls().iter().filter(|c| c.status == 0).count();
    assert_eq!(dropped, 1);
}
