//! The daemon's API as an attacker meets it: no token, a wrong or revoked token, a foreign
//! Host (DNS rebinding), a foreign Origin, a role too small — each refused with no effect —
//! and the OpenAPI document: it parses as OpenAPI 3.1, every `$ref` resolves, and every
//! documented route is served (and an undocumented one is not).

use std::net::SocketAddr;
use std::sync::Arc;

use sam_engine::app::ops::OPERATIONS;
use sam_engine::app::{App, tokens};
use sam_engine::config::{Overrides, Settings};
use sam_engine::daemon::http::Guard;
use sam_engine::daemon::{Daemon, DaemonOptions, ManualClock};
use sam_engine::model::{ProcessKind, Role};
use sam_engine::store::Store;

use crate::daemon::{FakeRunner, T0, with_profile};

/// A daemon's API on a loopback port over a store with profile `p`, a fake job runner (its
/// log shows whether anything ran) and an admin token.
pub(crate) struct Served {
    pub addr: SocketAddr,
    pub runner: Arc<FakeRunner>,
    pub store: Arc<Store>,
    pub admin: String,
    pub daemon: Arc<Daemon>,
    _dir: tempfile::TempDir,
}

impl Served {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn token(&self, role: Role) -> String {
        tokens::create(&self.store, T0, &format!("{role} test"), role)
            .unwrap()
            .token
    }

    pub(crate) fn runs(&self) -> usize {
        self.runner.log.lock().unwrap().len()
    }
}

pub(crate) async fn serve(public_metrics: bool) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sam.redb");
    let store = Arc::new(Store::open(&db).unwrap());
    with_profile(&store, "p");
    let clock = Arc::new(ManualClock::new(T0));
    let runner = Arc::new(FakeRunner {
        clock: ManualClock::new(T0),
        ..FakeRunner::default()
    });
    let daemon = Arc::new(Daemon::new(
        store.clone(),
        clock.clone(),
        runner.clone(),
        DaemonOptions::default(),
    ));
    let settings = Settings::resolve(
        &Overrides {
            db: Some(db.clone()),
            cache_dir: Some(dir.path().join("cache")),
            plugins_dir: Some(dir.path().join("plugins")),
            key_file: Some(dir.path().join("key")),
            config_file: None,
        },
        &|_| None,
        None,
    )
    .unwrap();
    let app = App::new(store.clone(), crate::host(), settings, clock).with_daemon(daemon.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = sam_engine::daemon::http::router(app, Guard::new(addr, &[], public_metrics));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let admin = tokens::create(&store, T0, "admin test", Role::Admin)
        .unwrap()
        .token;
    Served {
        addr,
        runner,
        store,
        admin,
        daemon,
        _dir: dir,
    }
}

fn run_body() -> serde_json::Value {
    serde_json::json!({ "profile": "p", "process": ProcessKind::Reclaim, "draft": true })
}

#[tokio::test]
async fn no_token_a_wrong_token_or_a_revoked_token_changes_nothing() {
    let s = serve(false).await;
    let client = reqwest::Client::new();
    let health = client.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "/healthz needs no token");

    let none = client
        .post(s.url("/api/v1/runs"))
        .json(&run_body())
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");

    let forged = format!("{}0", &s.admin[..s.admin.len() - 1]);
    for token in [
        "nonsense",
        "sam_000000000000_0000",
        forged.as_str(),
        &format!("{} ", s.admin.replace("sam_", "sam-")),
    ] {
        let answer = client
            .post(s.url("/api/v1/runs"))
            .bearer_auth(token)
            .json(&run_body())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401, "token {token:?}");
    }
    // Reads need a token too, and so does /metrics unless the operator opens it.
    for path in ["/api/v1/subscriptions", "/api/v1/openapi.json", "/metrics"] {
        let answer = client.get(s.url(path)).send().await.unwrap();
        assert_eq!(answer.status(), 401, "{path}");
    }

    let viewer = s.token(Role::Viewer);
    let id = viewer.split('_').nth(1).unwrap().to_string();
    let list = client
        .get(s.url("/api/v1/subscriptions"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    tokens::revoke(&s.store, T0 + 1, &id).unwrap();
    let after = client
        .get(s.url("/api/v1/subscriptions"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401, "a revoked token is refused");
    assert_eq!(s.runs(), 0, "nothing ran");
}

#[tokio::test]
async fn a_dns_rebinding_request_or_a_foreign_origin_removes_nothing() {
    let s = serve(true).await;
    let client = reqwest::Client::new();
    // The attack of the issue: a page on attacker.example rebinds its name to 127.0.0.1.
    // Even with a valid token (a browser would not have one; this shows the Host check
    // alone stops it) the request is refused before anything runs.
    let rebinding = client
        .post(s.url("/api/v1/runs"))
        .header("Host", "attacker.example")
        .header("Origin", "http://attacker.example")
        .bearer_auth(&s.admin)
        .json(&run_body())
        .send()
        .await
        .unwrap();
    assert_eq!(rebinding.status(), 403);
    let foreign_host_read = client
        .get(s.url("/healthz"))
        .header("Host", format!("attacker.example:{}", s.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign_host_read.status(), 403, "every route checks Host");
    let metrics = client
        .get(s.url("/metrics"))
        .header("Host", "evil.test")
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 403, "public metrics still check Host");

    // The right Host but a foreign Origin: a page elsewhere posting to the API.
    let foreign_origin = client
        .post(s.url("/api/v1/runs"))
        .header("Origin", "http://attacker.example")
        .bearer_auth(&s.admin)
        .json(&run_body())
        .send()
        .await
        .unwrap();
    assert_eq!(foreign_origin.status(), 403);
    assert_eq!(s.runs(), 0, "nothing ran");

    // Loopback names with the daemon's port, and its own origin, are fine.
    for host in [
        format!("localhost:{}", s.addr.port()),
        format!("127.0.0.1:{}", s.addr.port()),
    ] {
        let ok = client
            .post(s.url("/api/v1/runs"))
            .header("Host", &host)
            .header("Origin", format!("http://{host}"))
            .bearer_auth(&s.admin)
            .json(&run_body())
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200, "{host}: {}", ok.text().await.unwrap());
    }
    assert_eq!(s.runs(), 2);
    let open = client.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(open.status(), 200, "--public-metrics opens /metrics");
}

#[tokio::test]
async fn roles_limit_what_a_token_may_do() {
    let s = serve(false).await;
    let client = reqwest::Client::new();
    let viewer = s.token(Role::Viewer);
    let approver = s.token(Role::Approver);
    for token in [&viewer, &approver] {
        let answer = client
            .post(s.url("/api/v1/runs"))
            .bearer_auth(token)
            .json(&run_body())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 403, "only an admin reclaims");
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["kind"], "forbidden", "{body}");
        let mint = client
            .post(s.url("/api/v1/tokens"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "name": "mine", "role": "admin" }))
            .send()
            .await
            .unwrap();
        assert_eq!(mint.status(), 403, "no token mints a bigger one");
    }
    assert_eq!(s.runs(), 0);
    assert_eq!(
        tokens::list(&s.store).unwrap().len(),
        3,
        "no token was added"
    );
    // An admin may; the audit log names the token that did it.
    let made = client
        .post(s.url("/api/v1/tokens"))
        .bearer_auth(&s.admin)
        .json(&serde_json::json!({ "name": "ci", "role": "viewer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 200);
    let audit: serde_json::Value = client
        .get(s.url("/api/v1/audit?limit=1"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actor = audit["entries"][0]["actor"].as_str().unwrap();
    assert!(
        actor.starts_with("token:") && actor.ends_with("(admin test)"),
        "{audit}"
    );
    // A request the API cannot parse is a 422 naming the problem, not a crash.
    let bad = client
        .post(s.url("/api/v1/runs"))
        .bearer_auth(&s.admin)
        .json(&serde_json::json!({ "profile": "p", "process": "DownloadEverything" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let _ = &s.daemon;
}

#[tokio::test]
async fn the_openapi_document_is_valid_and_lists_every_route() {
    let s = serve(false).await;
    let client = reqwest::Client::new();
    let doc: serde_json::Value = client
        .get(s.url("/api/v1/openapi.json"))
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // It is OpenAPI 3.1 as a typed parser reads it.
    let spec: oas3::OpenApiV3Spec =
        serde_json::from_value(doc.clone()).expect("a valid OpenAPI 3.1 document");
    assert!(spec.openapi.starts_with("3.1"), "{}", spec.openapi);
    // Every $ref names a schema that exists.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in &refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(schemas.contains_key(name), "dangling $ref {r}");
    }
    // Every operation of the table is documented with its method, and served.
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = 0;
    for (path, item) in paths {
        for (method, _) in item.as_object().unwrap() {
            documented += 1;
            let url = s.url(path);
            let request = match method.as_str() {
                "get" => client.get(&url),
                "post" => client.post(&url).json(&serde_json::json!({})),
                other => panic!("unexpected method {other} on {path}"),
            };
            let response = request.bearer_auth(&s.admin).send().await.unwrap();
            let status = response.status();
            // A 404 of the engine (an empty request names nothing) carries its error
            // document; the router's own 404 does not.
            let engine_answer = response
                .json::<serde_json::Value>()
                .await
                .is_ok_and(|v| v["error"]["kind"].is_string());
            assert!(
                status != 405 && (status != 404 || engine_answer),
                "{method} {path} is documented but not served ({status})"
            );
        }
    }
    assert_eq!(
        documented,
        OPERATIONS.len() + 3,
        "the operations plus /healthz, /metrics and /api/v1/openapi.json"
    );
    for op in OPERATIONS {
        let item = &paths[&format!("/api/v1{}", op.path)];
        let method = op.method.as_str().to_lowercase();
        assert!(
            item[&method].is_object(),
            "{} {} undocumented",
            op.method.as_str(),
            op.path
        );
    }
    // Every documented query parameter of every GET, given a hostile value (negative, past
    // u64, a NUL, markup, an impossible date, 10 000 characters): the engine answers with its
    // error document or its answer, never a 5xx.
    let long = "x".repeat(10_000);
    let hostile = [
        "-1",
        "18446744073709551616",
        "%00",
        "%3Cscript%3E",
        "9999-99-99",
        long.as_str(),
    ];
    let mut asked = 0;
    for (path, item) in paths {
        let Some(get) = item.get("get") else {
            continue;
        };
        let names: Vec<&str> = get["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| p["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        if names.is_empty() {
            continue;
        }
        for value in hostile {
            let query: Vec<String> = names.iter().map(|n| format!("{n}={value}")).collect();
            let url = format!("{}?{}", s.url(path), query.join("&"));
            let response = client
                .get(&url)
                .bearer_auth(&s.admin)
                .send()
                .await
                .unwrap_or_else(|e| panic!("GET {path} with {value:.20}: {e}"));
            asked += 1;
            assert!(
                !response.status().is_server_error(),
                "GET {path} with {:.40}: {}",
                query.join("&"),
                response.status()
            );
        }
    }
    assert!(
        asked >= 30,
        "the documented GETs take query parameters ({asked})"
    );
    // Every POST, given a body that is not its request (broken JSON, 10 000 nested arrays,
    // invalid UTF-8, the wrong JSON type, 3 MB): a 4xx, never a 5xx or a dropped connection.
    let deep = "[".repeat(10_000);
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(3 << 20));
    let bodies: [&[u8]; 6] = [
        b"{\"name\":",
        deep.as_bytes(),
        b"{\"name\": \"\xff\xfe\"}",
        b"[1, 2, 3]",
        b"\"just a string\"",
        big.as_bytes(),
    ];
    let mut posted = 0;
    for (path, item) in paths {
        if item.get("post").is_none() {
            continue;
        }
        for body in bodies {
            let response = client
                .post(s.url(path))
                .bearer_auth(&s.admin)
                .header("content-type", "application/json")
                .body(body.to_vec())
                .send()
                .await
                .unwrap_or_else(|e| panic!("POST {path}: {e}"));
            posted += 1;
            assert!(
                response.status().is_client_error(),
                "POST {path} with a {}-byte hostile body: {}",
                body.len(),
                response.status()
            );
        }
    }
    assert!(posted >= 6 * 20, "the POSTs were asked ({posted})");
    // A misspelt field is refused by name, not dropped (the run would go ahead without it),
    // and a body that is not sent as JSON is refused.
    let misspelt = client
        .post(s.url("/api/v1/runs"))
        .bearer_auth(&s.admin)
        .json(&serde_json::json!({"profile": "p", "process": "reconcile", "drafft": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(misspelt.status(), 422);
    let said = misspelt.text().await.unwrap();
    assert!(said.contains("`drafft`"), "{said}");
    let untyped = client
        .post(s.url("/api/v1/runs"))
        .bearer_auth(&s.admin)
        .header("content-type", "text/plain")
        .body(r#"{"profile": "p", "process": "reconcile"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(untyped.status(), 422);
    // So is a misspelt query parameter (the list would otherwise cover every profile).
    let misspelt = client
        .get(s.url("/api/v1/candidates?profil=p"))
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(misspelt.status(), 422);
    let said = misspelt.text().await.unwrap();
    assert!(said.contains("`profil`"), "{said}");
    assert_eq!(s.runs(), 0, "no hostile body started a run");
    // And what is not documented is not served.
    let unknown = client
        .get(s.url("/api/v1/not-a-route"))
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

fn collect_refs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    out.push(v.as_str().unwrap_or_default().to_string());
                } else {
                    collect_refs(v, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
