//! The HTTP gate as a spoke meets it, observed at a loopback server: hosts outside the
//! allow-list are refused before any connection; a guest-set `Authorization` never reaches
//! the vendor while the engine's token does; 429 waits out `Retry-After`; 5xx is retried with
//! backoff up to the limit and then surfaces as a typed error; a 401 refreshes once; an
//! oversized body is refused; `send-all` keeps order; requests and retries are counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use sam_engine::contract::{HttpError, Method, Request, SpokeError};
use sam_engine::host::{
    BearerToken, CredentialError, CredentialProvider, GatePolicy, SandboxLimits,
};
use sam_tests::loopback::{ConnectionCounter, Scripted, ScriptedServer};

use crate::{config, fixture, host, host_with, quick_retries, session, session_with};

#[tokio::test]
async fn a_host_outside_the_allow_list_is_refused_with_no_connection_made() {
    let host = host();
    let spoke = fixture(&host).await;
    let server = ScriptedServer::start().await.unwrap();
    let counter = ConnectionCounter::start().await.unwrap();
    let session = session(&spoke, server.port(), "t");

    // `localhost` resolves to the listener, but only 127.0.0.1 is in the fixture's allow-list.
    let outside = format!("http://localhost:{}/steal", counter.port());
    let error = spoke
        .list_groups(&session, &config(&[("path", &outside)]), None)
        .await
        .unwrap_err();
    assert!(
        matches!(error.spoke_error(), Some(SpokeError::InvalidConfig(m)) if m.contains("not in the spoke's allowed hosts")),
        "{error}"
    );
    assert_eq!(session.counts().refused, 1);
    assert_eq!(session.counts().requests, 0);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        counter.connections(),
        0,
        "a refused request must not connect"
    );

    // The same listener is reached when it is the connection's own origin (plain http goes
    // only there): the check above can fail.
    let own = crate::session(&spoke, counter.port(), "t");
    let _ = spoke
        .list_groups(&own, &config(&[("path", "/x")]), None)
        .await;
    assert!(counter.connections() >= 1);
}

#[tokio::test]
async fn a_guest_set_authorization_never_reaches_the_server_but_the_engines_token_does() {
    let host = host();
    let spoke = fixture(&host).await;
    let server = ScriptedServer::start().await.unwrap();
    let session = session(&spoke, server.port(), "engine-token");
    spoke
        .list_groups(
            &session,
            &config(&[("authorization", "Bearer guest-token")]),
            None,
        )
        .await
        .expect("call succeeds");
    let seen = server.seen_at("/api/groups");
    assert_eq!(seen.len(), 1);
    let values: Vec<_> = seen[0].headers.get_all("authorization").iter().collect();
    assert_eq!(values.len(), 1, "exactly one Authorization header");
    assert_eq!(values[0], "Bearer engine-token");
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_no_earlier_than_it_says() {
    let host = host();
    let spoke = fixture(&host).await;
    let server = ScriptedServer::start().await.unwrap();
    server.push(
        "/api/groups",
        Scripted::new(429, "slow down").header("Retry-After", "2"),
    );
    let session = session(&spoke, server.port(), "t");
    let page = spoke
        .list_groups(&session, &config(&[]), None)
        .await
        .expect("succeeds after the wait");
    assert_eq!(page.groups.len(), 1);
    let seen = server.seen_at("/api/groups");
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_secs(2), "retried after only {gap:?}");
    assert!(gap < Duration::from_secs(4), "waited too long: {gap:?}");
    let counts = session.counts();
    assert_eq!((counts.requests, counts.retries), (2, 1));
}

#[tokio::test]
async fn an_answer_saying_the_budget_is_spent_holds_the_next_request_until_its_reset() {
    // Pacing by the vendor's own accounting (issue 19): `X-RateLimit-Remaining: 0` with a
    // reset two seconds ahead; the next request of the session waits for the reset instead
    // of being sent only to be refused.
    let host = host();
    let spoke = fixture(&host).await;
    let server = ScriptedServer::start().await.unwrap();
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 2;
    server.push(
        "/api/groups",
        Scripted::new(200, "g-1:Group One\n")
            .header("X-RateLimit-Remaining", "0")
            .header("X-RateLimit-Reset", &reset.to_string()),
    );
    let session = session(&spoke, server.port(), "t");
    for _ in 0..2 {
        spoke
            .list_groups(&session, &config(&[]), None)
            .await
            .expect("answers");
    }
    let seen = server.seen_at("/api/groups");
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(900), "sent after only {gap:?}");
    assert!(gap < Duration::from_secs(4), "waited too long: {gap:?}");
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_goes_back_to_the_spoke_as_rate_limited() {
    let host = host();
    let spoke = fixture(&host).await;
    let server = ScriptedServer::start().await.unwrap();
    server.push(
        "/api/groups",
        Scripted::new(429, "quota").header("Retry-After", "3600"),
    );
    let session = session(&spoke, server.port(), "t");
    let error = spoke
        .list_groups(&session, &config(&[]), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error.spoke_error(),
            Some(SpokeError::RateLimited(r)) if r.retry_after_seconds == Some(3600)
        ),
        "{error}"
    );
    assert_eq!(server.seen_at("/api/groups").len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_up_to_the_limit_then_a_typed_error() {
    let policy = GatePolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        ..GatePolicy::default()
    };
    let host = host_with(SandboxLimits::default(), policy);
    let spoke = fixture(&host).await;
    let server = ScriptedServer::start().await.unwrap();
    for _ in 0..10 {
        server.push("/api/groups", Scripted::new(502, "bad gateway"));
    }
    let session = session(&spoke, server.port(), "t");
    let error = spoke
        .list_groups(&session, &config(&[]), None)
        .await
        .unwrap_err();
    assert!(
        matches!(error.spoke_error(), Some(SpokeError::Transient(m)) if m.contains("502")),
        "{error}"
    );
    let seen = server.seen_at("/api/groups");
    assert_eq!(seen.len(), 4, "max_attempts requests, no more");
    // Equal jitter: each wait is at least half its exponential ceiling (100, 200, 400 ms).
    for (i, pair) in seen.windows(2).enumerate() {
        let gap = pair[1].at - pair[0].at;
        let floor = Duration::from_millis(50 << i);
        assert!(
            gap >= floor,
            "retry {} came after {gap:?} < {floor:?}",
            i + 1
        );
    }
    assert_eq!(session.counts().retries, 3);
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let policy = GatePolicy {
        max_body_bytes: 1024,
        ..quick_retries()
    };
    let host = host_with(SandboxLimits::default(), policy);
    let spoke = fixture(&host).await;
    let server = ScriptedServer::start().await.unwrap();
    server.push("/api/groups", Scripted::new(200, vec![b'a'; 4096]));
    let session = session(&spoke, server.port(), "t");
    let error = spoke
        .list_groups(&session, &config(&[]), None)
        .await
        .unwrap_err();
    assert!(
        matches!(error.spoke_error(), Some(SpokeError::Vendor(m)) if m.contains("larger than 1024")),
        "{error}"
    );
    // At the cap exactly is fine.
    server.push("/api/groups", Scripted::new(200, vec![b'a'; 1024]));
    let error = spoke
        .list_groups(&session, &config(&[]), None)
        .await
        .unwrap_err();
    assert!(
        matches!(error.spoke_error(), Some(SpokeError::Vendor(m)) if m.contains("not an id:name line")),
        "a 1024-byte body reaches the spoke: {error}"
    );
}

/// Hands out `old` until told it was rejected, then `new`.
struct Rotating {
    rejected: AtomicUsize,
}

impl CredentialProvider for Rotating {
    fn bearer_token(&self) -> BoxFuture<'_, Result<BearerToken, CredentialError>> {
        let token = if self.rejected.load(Ordering::SeqCst) == 0 {
            "old"
        } else {
            "new"
        };
        Box::pin(async move { Ok(BearerToken::new(token)) })
    }

    fn token_rejected<'a>(
        &'a self,
        _rejected: &'a BearerToken,
    ) -> BoxFuture<'a, Result<bool, CredentialError>> {
        self.rejected.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(true) })
    }
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_and_retries() {
    let host = host();
    let spoke = fixture(&host).await;
    let server = ScriptedServer::start().await.unwrap();
    server.push("/api/groups", Scripted::new(401, "expired"));
    server.push("/api/groups", Scripted::new(401, "still no"));
    let credentials = Arc::new(Rotating {
        rejected: AtomicUsize::new(0),
    });
    let session = session_with(&spoke, server.port(), credentials.clone());
    let error = spoke
        .list_groups(&session, &config(&[]), None)
        .await
        .unwrap_err();
    assert!(
        matches!(error.spoke_error(), Some(SpokeError::Unauthorized(_))),
        "{error}"
    );
    let seen = server.seen_at("/api/groups");
    assert_eq!(seen.len(), 2, "one refresh, not a loop");
    assert_eq!(seen[0].headers["authorization"], "Bearer old");
    assert_eq!(seen[1].headers["authorization"], "Bearer new");
    assert_eq!(credentials.rejected.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn send_all_answers_in_request_order_and_posts_are_not_retried_on_5xx() {
    let host = host();
    let spoke = fixture(&host).await;
    let server = ScriptedServer::start().await.unwrap();
    let session = session(&spoke, server.port(), "t");
    for i in 0..20 {
        server.push(
            &format!("/api/item/{i}"),
            Scripted::new(200, format!("item {i}")),
        );
    }
    let requests = (0..20)
        .map(|i| Request {
            method: Method::Get,
            path: format!("/item/{i}"),
            query: vec![],
            headers: vec![],
            body: None,
        })
        .collect();
    let responses = session.send_all(requests).await;
    for (i, response) in responses.into_iter().enumerate() {
        assert_eq!(response.unwrap().body, format!("item {i}").into_bytes());
    }

    server.push("/api/write", Scripted::new(503, "unavailable"));
    let response = session
        .send(Request {
            method: Method::Post,
            path: "/write".into(),
            query: vec![],
            headers: vec![],
            body: Some(b"{}".to_vec()),
        })
        .await
        .expect("a response");
    assert_eq!(response.status, 503, "a POST is not replayed on 5xx");
    assert_eq!(server.seen_at("/api/write").len(), 1);

    let refused = session
        .send(Request {
            method: Method::Get,
            path: "/../escape".into(),
            query: vec![],
            headers: vec![],
            body: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(refused, HttpError::Denied(_)));
}
