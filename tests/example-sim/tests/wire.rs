//! The simulator's wire format, over real HTTP on loopback: auth, scopes, paging, writes,
//! the typed errors and the quota storm.

use example_sim::{SCOPE_READ, SCOPE_WRITE, SimConfig, SimHandle, Simulator};
use serde_json::{Value, json};

async fn start() -> SimHandle {
    Simulator::start(SimConfig {
        seats: 120,
        now: 1_780_000_000,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

async fn call(
    sim: &SimHandle,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let client = reqwest::Client::new();
    let mut request = client.request(method, format!("{}{path}", sim.base_url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("JSON body")
    };
    (status, headers, value)
}

#[tokio::test]
async fn auth_and_scopes_are_enforced() {
    let sim = start().await;
    let (status, _, body) = call(&sim, reqwest::Method::GET, "/v1/me", None, None).await;
    assert_eq!((status, body), (401, json!({"error": "unauthorized"})));
    let (status, _, _) = call(&sim, reqwest::Method::GET, "/v1/me", Some("nope"), None).await;
    assert_eq!(status, 401);

    let reader = sim.mint_token(&[SCOPE_READ]);
    let (status, _, body) = call(&sim, reqwest::Method::GET, "/v1/me", Some(&reader), None).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"account": "acme", "scopes": ["seats:read"]}));
    let (status, _, body) = call(
        &sim,
        reqwest::Method::DELETE,
        "/v1/seats/u-0001",
        Some(&reader),
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (
            403,
            json!({"error": "forbidden", "missing_scope": "seats:write"})
        )
    );
    let writer = sim.mint_token(&[SCOPE_WRITE]);
    let (status, _, body) =
        call(&sim, reqwest::Method::GET, "/v1/seats", Some(&writer), None).await;
    assert_eq!(body["missing_scope"], "seats:read");
    assert_eq!(status, 403);
    assert!(
        sim.seat("u-0001").is_some(),
        "a refused call changed nothing"
    );
}

#[tokio::test]
async fn paging_walks_every_seat_once_and_refuses_bad_input() {
    let sim = start().await;
    let token = sim.mint_token(&[SCOPE_READ]);
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/seats?limit=33&cursor={c}"),
            None => "/v1/seats?limit=33".to_string(),
        };
        let (status, _, body) = call(&sim, reqwest::Method::GET, &path, Some(&token), None).await;
        assert_eq!(status, 200, "{body}");
        let seats = body["seats"].as_array().expect("seats");
        assert!(seats.len() <= 33);
        for seat in seats {
            seen.push(seat["user_id"].as_str().expect("user_id").to_string());
            assert!(matches!(seat["kind"].as_str(), Some("human" | "bot")));
            assert!(matches!(seat["plan"].as_str(), Some("pro" | "basic")));
            assert!(
                seat["assigned_at"]
                    .as_str()
                    .is_some_and(|s| s.ends_with('Z'))
            );
            assert!(seat["last_active_at"].is_null() || seat["last_active_at"].is_string());
        }
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let expected: Vec<String> = sim.seats().into_iter().map(|s| s.user_id).collect();
    assert_eq!(seen, expected);
    assert_eq!(seen.len(), 120);

    let (_, _, body) = call(&sim, reqwest::Method::GET, "/v1/seats", Some(&token), None).await;
    assert_eq!(
        body["seats"].as_array().map(Vec::len),
        Some(50),
        "default limit"
    );
    for bad in ["limit=0", "limit=101", "limit=x", "cursor=garbage"] {
        let (status, _, body) = call(
            &sim,
            reqwest::Method::GET,
            &format!("/v1/seats?{bad}"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(
            (status, &body["error"]),
            (400, &json!("bad_request")),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn remove_and_assign_change_the_tenant_and_the_plan_counts() {
    let sim = start().await;
    let token = sim.mint_token(&[SCOPE_READ, SCOPE_WRITE]);
    let plan = sim.seat("u-0002").expect("u-0002 holds a seat").plan;
    let assigned = |sim: &SimHandle| {
        sim.plans()
            .into_iter()
            .find(|p| p.plan == plan)
            .map(|p| p.assigned)
    };
    let before = assigned(&sim);

    let (status, _, _) = call(
        &sim,
        reqwest::Method::DELETE,
        "/v1/seats/u-0002",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert!(sim.seat("u-0002").is_none());
    assert_eq!(assigned(&sim), before.map(|n| n - 1));
    let (status, _, body) = call(
        &sim,
        reqwest::Method::DELETE,
        "/v1/seats/u-0002",
        Some(&token),
        None,
    )
    .await;
    assert_eq!((status, body), (404, json!({"error": "not_found"})));

    let assign = json!({"user_id": "u-0002", "plan": plan});
    let (status, _, body) = call(
        &sim,
        reqwest::Method::POST,
        "/v1/seats",
        Some(&token),
        Some(assign.clone()),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(body["user_id"], "u-0002");
    assert_eq!(body["plan"], json!(plan));
    assert_eq!(assigned(&sim), before);
    let (status, _, body) = call(
        &sim,
        reqwest::Method::POST,
        "/v1/seats",
        Some(&token),
        Some(assign),
    )
    .await;
    assert_eq!((status, body), (409, json!({"error": "already_assigned"})));
    let (status, _, _) = call(
        &sim,
        reqwest::Method::POST,
        "/v1/seats",
        Some(&token),
        Some(json!({"user_id": "u-0003", "plan": "gold"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(sim.writes(), 2);

    let (status, _, body) = call(&sim, reqwest::Method::GET, "/v1/plans", Some(&token), None).await;
    assert_eq!(status, 200);
    let plans = body["plans"].as_array().expect("plans");
    assert_eq!(plans.len(), 2);
    assert_eq!(plans[0]["plan"], "pro");
    assert!(plans[0]["purchased"].as_u64() >= plans[0]["assigned"].as_u64());
}

#[tokio::test]
async fn a_quota_storm_answers_429_with_retry_after() {
    let sim = start().await;
    let token = sim.mint_token(&[SCOPE_READ]);
    sim.start_quota_storm(120);
    let (status, headers, body) =
        call(&sim, reqwest::Method::GET, "/v1/seats", Some(&token), None).await;
    assert_eq!((status, body), (429, json!({"error": "rate_limited"})));
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("120")
    );
    sim.calm();
    let (status, _, _) = call(&sim, reqwest::Method::GET, "/v1/seats", Some(&token), None).await;
    assert_eq!(status, 200);
}
