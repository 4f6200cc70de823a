//! The sandbox's limits against a hostile spoke (issue 17's attacks), each observed where it
//! matters: at a loopback server (what left the engine), in what the guest got back, in the
//! error, in the time a call took. Each test fails when its limit is removed. The hostile
//! component is `tests/hostile-spokes`; attacks Rust cannot express (extra linear memories)
//! are added to a copy of it here, and its manifest variants are chosen by patching a marker
//! in a copy of the file.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sam_engine::contract::{Config, SpokeError};
use sam_engine::host::{
    CallBudget, CallErrorKind, GatePolicy, LimitOverrides, LoadError, LoadedSpoke, SandboxLimits,
    SpokeHost,
};
use sam_tests::loopback::{BulkServer, ConnectionCounter, HungServer, ScriptedServer};

use crate::{host_with, session};

pub(crate) fn hostile_bytes() -> Vec<u8> {
    std::fs::read(sam_tests::hostile_spoke_wasm()).expect("hostile spoke built")
}

async fn hostile(host: &SpokeHost) -> LoadedSpoke {
    host.load_bytes(hostile_bytes(), "hostile")
        .await
        .expect("the hostile spoke loads")
}

/// The hostile component with its manifest mode marker set to `mode`.
pub(crate) fn with_mode(mode: &str) -> Vec<u8> {
    let marker = b"SAM-HOSTILE-MODE:normal.........";
    let mut patched = format!("SAM-HOSTILE-MODE:{mode}").into_bytes();
    assert!(patched.len() <= marker.len());
    patched.resize(marker.len(), b'.');
    let mut bytes = hostile_bytes();
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("the mode marker is in the component");
    bytes[at..at + marker.len()].copy_from_slice(&patched);
    bytes
}

/// The hostile component plus one more core module defining `count` linear memories of
/// `pages` 64 KiB pages each, instantiated with the component (appended as a module section
/// and a core instance section, so no existing index moves).
fn with_extra_memories(count: u32, pages: u64) -> Vec<u8> {
    use wasmparser::{Parser, Payload};
    let mut bytes = hostile_bytes();
    let (mut depth, mut modules) = (0u32, 0u32);
    for payload in Parser::new(0).parse_all(&bytes) {
        match payload.expect("the component parses") {
            Payload::ModuleSection { .. } => {
                if depth == 0 {
                    modules += 1;
                }
                depth += 1;
            }
            Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let mut memories = wasm_encoder::MemorySection::new();
    for _ in 0..count {
        memories.memory(wasm_encoder::MemoryType {
            minimum: pages,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
    }
    let mut module = wasm_encoder::Module::new();
    module.section(&memories);
    let mut instances = wasm_encoder::InstanceSection::new();
    instances.instantiate(modules, Vec::<(&str, wasm_encoder::ModuleArg)>::new());
    let mut extra = wasm_encoder::Component::new();
    extra.section(&wasm_encoder::ModuleSection(&module));
    extra.section(&instances);
    bytes.extend_from_slice(&extra.finish()[8..]);
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&bytes)
        .expect("the component with extra memories is valid");
    bytes
}

fn attack(values: &[(&str, &str)]) -> Config {
    crate::config(values)
}

/// The report the hostile spoke returns as a vendor error.
fn report(result: Result<sam_engine::contract::GroupPage, sam_engine::host::CallError>) -> String {
    match result {
        Err(error) => match error.spoke_error() {
            Some(SpokeError::Vendor(report)) => report.clone(),
            _ => panic!("expected the spoke's report, got {error}"),
        },
        Ok(page) => panic!("expected the spoke's report, got {page:?}"),
    }
}

fn limits(change: impl FnOnce(&mut SandboxLimits)) -> SandboxLimits {
    let mut limits = SandboxLimits::default();
    change(&mut limits);
    limits
}

// Attack 1: memory across memories, and the number of memories.

#[tokio::test]
async fn extra_memories_count_against_one_cap_for_the_whole_component() {
    let cap = 64 * 1024 * 1024;
    let host = host_with(limits(|l| l.memory_cap = cap), GatePolicy::default());
    // Eight memories of 32 MiB each: each alone is under the cap, together four times it.
    let error = host
        .load_bytes(with_extra_memories(8, 512), "hoarder")
        .await
        .expect_err("a component holding 256 MiB under a 64 MiB cap must not load");
    let LoadError::Manifest { source, .. } = &error else {
        panic!("expected the manifest call to fail, got {error}");
    };
    match &source.kind {
        CallErrorKind::MemoryCap {
            cap: reported,
            requested,
        } => {
            assert_eq!(*reported, cap);
            assert!(*requested > cap, "{requested}");
        }
        other => panic!("expected the memory cap, got {other}"),
    }
    // The host is unharmed: the plain component loads and runs.
    let spoke = hostile(&host).await;
    let server = ScriptedServer::start().await.unwrap();
    let s = session(&spoke, server.port(), "t");
    assert!(spoke.list_groups(&s, &attack(&[]), None).await.is_ok());
}

#[tokio::test]
async fn a_component_may_not_create_more_memories_than_allowed() {
    let host = host_with(limits(|l| l.max_memories = 16), GatePolicy::default());
    let error = host
        .load_bytes(with_extra_memories(20, 1), "many-memories")
        .await
        .expect_err("20 extra memories must not load");
    let LoadError::Manifest { source, .. } = &error else {
        panic!("expected the manifest call to fail, got {error}");
    };
    assert!(
        matches!(&source.kind, CallErrorKind::ResourceLimit(m) if m.contains("memory")),
        "{error}"
    );
    // A few extra small memories stay within the defaults.
    host.load_bytes(with_extra_memories(2, 1), "two-more")
        .await
        .expect("a component with a few small memories loads");
}

// Attack 5: the deadline covers host calls; a request budget per call.

#[tokio::test]
async fn the_deadline_holds_while_the_guest_waits_on_a_slow_send_all() {
    let deadline = Duration::from_millis(600);
    let host = host_with(
        limits(|l| l.call_deadline = deadline),
        GatePolicy::default(),
    );
    let spoke = hostile(&host).await;
    let server = BulkServer::start(16, Duration::from_millis(300))
        .await
        .unwrap();
    let s = session(&spoke, server.port(), "t");
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        spoke.list_groups(
            &s,
            &attack(&[("attack", "send-all"), ("count", "10000")]),
            None,
        ),
    )
    .await
    .expect("the call ends near its deadline, not after 10 000 slow requests");
    let took = started.elapsed();
    let error = outcome.expect_err("the call ran out of time");
    assert!(
        matches!(error.kind, CallErrorKind::DeadlineExceeded(d) if d == deadline),
        "{error}"
    );
    assert!(
        took < deadline + Duration::from_millis(700),
        "took {took:?}"
    );
    assert!(server.requests() < 100, "{} requests", server.requests());
    // The next call is unharmed.
    assert!(spoke.list_groups(&s, &attack(&[]), None).await.is_ok());
}

#[tokio::test]
async fn a_call_may_send_only_its_budget_of_requests() {
    let host = host_with(limits(|l| l.requests_per_call = 25), GatePolicy::default());
    let spoke = hostile(&host).await;
    let server = ScriptedServer::start().await.unwrap();
    let s = session(&spoke, server.port(), "t");
    let error = spoke
        .list_groups(
            &s,
            &attack(&[("attack", "send-loop"), ("count", "400")]),
            None,
        )
        .await
        .expect_err("the budget stops the loop");
    assert!(
        matches!(error.kind, CallErrorKind::RequestBudget(25)),
        "{error}"
    );
    assert_eq!(server.seen().len(), 25, "requests that reached the vendor");
}

#[tokio::test]
async fn an_operator_override_sets_the_budget_for_one_profile() {
    let host = host_with(SandboxLimits::default(), GatePolicy::default());
    let spoke = hostile(&host).await;
    let server = ScriptedServer::start().await.unwrap();
    let s = Arc::new(
        Arc::try_unwrap(session(&spoke, server.port(), "t"))
            .expect("one owner")
            .with_limits(LimitOverrides {
                requests_per_call: Some(3),
                ..LimitOverrides::default()
            }),
    );
    let error = spoke
        .list_groups(
            &s,
            &attack(&[("attack", "send-loop"), ("count", "10")]),
            None,
        )
        .await
        .expect_err("the profile's budget applies");
    assert!(
        matches!(error.kind, CallErrorKind::RequestBudget(3)),
        "{error}"
    );
    assert_eq!(server.seen().len(), 3);
}

// Issue 18: a hung vendor gives the typed timeout within the deadline plus a small margin,
// and the request in flight is cancelled.

#[tokio::test]
async fn a_hung_vendor_gives_the_typed_timeout_at_the_deadline_and_the_request_is_cancelled() {
    let deadline = Duration::from_millis(700);
    // The gate's own per-request timeout (30 s) and five attempts would wait minutes.
    let host = host_with(
        limits(|l| l.call_deadline = deadline),
        GatePolicy::default(),
    );
    let spoke = hostile(&host).await;
    let server = HungServer::start().await.unwrap();
    let s = session(&spoke, server.port(), "t");
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        spoke.list_groups(
            &s,
            &attack(&[("attack", "send"), ("path", "/groups")]),
            None,
        ),
    )
    .await
    .expect("the call ends near its deadline");
    let took = started.elapsed();
    let error = outcome.expect_err("nothing answered");
    assert!(
        matches!(error.kind, CallErrorKind::DeadlineExceeded(d) if d == deadline),
        "{error}"
    );
    assert!(took >= deadline, "ended early: {took:?}");
    assert!(
        took < deadline + Duration::from_millis(500),
        "took {took:?}"
    );
    assert!(server.accepted() >= 1);
    let waited = Instant::now();
    while server.closed() < server.accepted() && waited.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        server.closed(),
        server.accepted(),
        "the request in flight was dropped (its connection closed)"
    );
}

#[tokio::test]
async fn the_gate_alone_stops_at_the_call_deadline_on_a_hung_vendor() {
    let server = HungServer::start().await.unwrap();
    let gate = Arc::new(sam_engine::host::HttpGate::new(GatePolicy::default()).unwrap());
    let s = sam_engine::host::GateSession::new(
        gate,
        "t",
        &format!("http://127.0.0.1:{}/api", server.port()),
        sam_engine::host::AllowedHosts::new(["127.0.0.1"]),
        Arc::new(sam_engine::host::StaticToken::new("t")),
    )
    .unwrap();
    let deadline = Duration::from_millis(400);
    let budget = CallBudget::new(Instant::now() + deadline, 100, 1 << 20);
    let started = Instant::now();
    let outcome = s
        .send_within(
            sam_engine::contract::Request {
                method: sam_engine::contract::Method::Get,
                path: "/x".into(),
                query: vec![],
                headers: vec![],
                body: None,
            },
            &budget,
        )
        .await;
    let took = started.elapsed();
    assert!(
        matches!(outcome, Err(sam_engine::contract::HttpError::Timeout)),
        "{outcome:?}"
    );
    assert!(
        took < deadline + Duration::from_millis(300),
        "took {took:?}"
    );
    assert_eq!(budget.hit(), Some(sam_engine::host::BudgetHit::Deadline));
}

// Attack 2: response bytes per call, across send-all, counted before buffering.

#[tokio::test]
async fn send_all_responses_count_against_one_byte_budget() {
    let budget = 8 * 1024 * 1024;
    let host = host_with(
        limits(|l| l.response_bytes_per_call = budget),
        GatePolicy::default(),
    );
    let spoke = hostile(&host).await;
    let server = BulkServer::start(1024 * 1024, Duration::ZERO)
        .await
        .unwrap();
    let s = session(&spoke, server.port(), "t");
    let error = spoke
        .list_groups(
            &s,
            &attack(&[("attack", "send-all"), ("count", "48")]),
            None,
        )
        .await
        .expect_err("48 MiB of answers exceed an 8 MiB budget");
    assert!(
        matches!(error.kind, CallErrorKind::ResponseBudget(b) if b == budget),
        "{error}"
    );
    // Within the budget the same attack succeeds, answers intact.
    let spoke_report = report(
        spoke
            .list_groups(&s, &attack(&[("attack", "send-all"), ("count", "6")]), None)
            .await,
    );
    assert!(
        spoke_report.starts_with(&format!("sent=6 ok=6 bytes={}", 6 * 1024 * 1024)),
        "{spoke_report}"
    );
}

// Attack 6: userinfo; attack 4: other loopback ports; attack 11: encoded dot segments.

#[tokio::test]
async fn userinfo_other_loopback_ports_and_encoded_dot_segments_never_leave_the_engine() {
    let host = host_with(SandboxLimits::default(), GatePolicy::default());
    let spoke = hostile(&host).await;
    let server = ScriptedServer::start().await.unwrap();
    let daemon = ConnectionCounter::start().await.unwrap();
    let s = session(&spoke, server.port(), "t");
    let port = server.port();
    for path in [
        format!("http://user:pass@127.0.0.1:{port}/api/groups"),
        format!("http://127.0.0.1:{}/runs", daemon.port()),
        format!("https://127.0.0.1:{}/runs", daemon.port()),
        "/%2e%2e/secret".to_string(),
        "/.%2E/%2e%2e/secret".to_string(),
        "/..\\secret".to_string(),
    ] {
        let seen = report(
            spoke
                .list_groups(&s, &attack(&[("attack", "send"), ("path", &path)]), None)
                .await,
        );
        assert!(
            seen.contains("ok=0") && seen.contains("denied("),
            "{path}: {seen}"
        );
    }
    assert!(
        server.seen().is_empty(),
        "reached the vendor: {:?}",
        server.seen()
    );
    assert_eq!(daemon.connections(), 0, "reached another loopback port");
}

// Attack 12: an invalid header value is refused at once, not retried as a connection failure.

#[tokio::test]
async fn an_invalid_header_value_is_refused_without_retries() {
    let host = host_with(SandboxLimits::default(), GatePolicy::default());
    let spoke = hostile(&host).await;
    let server = ScriptedServer::start().await.unwrap();
    let s = session(&spoke, server.port(), "t");
    let started = Instant::now();
    let seen = report(
        spoke
            .list_groups(
                &s,
                &attack(&[
                    ("attack", "send"),
                    ("header-name", "X-Trace"),
                    ("header-value", "a\nb"),
                ]),
                None,
            )
            .await,
    );
    assert!(seen.contains("denied("), "{seen}");
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.counts().retries, 0);
}

// Attack 12: a looping manifest does not hold a load for the whole call deadline.

#[tokio::test]
async fn a_looping_manifest_is_cut_at_the_manifest_deadline() {
    let host = host_with(
        limits(|l| l.manifest_deadline = Duration::from_millis(300)),
        GatePolicy::default(),
    );
    let started = Instant::now();
    let error = host
        .load_bytes(with_mode("spin"), "spinner")
        .await
        .expect_err("a manifest that never returns");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let LoadError::Manifest { source, .. } = &error else {
        panic!("{error}");
    };
    assert!(
        matches!(source.kind, CallErrorKind::DeadlineExceeded(d) if d == Duration::from_millis(300)),
        "{error}"
    );
}

// Attacks 7 and 9: wildcard hosts and a huge manifest are refused at load, quickly.

#[tokio::test]
async fn wildcard_and_empty_hosts_are_refused_at_load() {
    let host = host_with(SandboxLimits::default(), GatePolicy::default());
    let error = host
        .load_bytes(with_mode("wildcard"), "wildcard")
        .await
        .expect_err("`*`, `*.com` and an empty host");
    let LoadError::InvalidManifest { problems, .. } = &error else {
        panic!("{error}");
    };
    let text = problems.join("\n");
    assert!(text.contains("`*` is a bare wildcard"), "{text}");
    assert!(text.contains("`*.com` covers a public suffix"), "{text}");
    assert!(text.contains("an entry is empty"), "{text}");
}

#[tokio::test]
async fn a_huge_manifest_is_refused_at_load_with_a_short_message() {
    let host = host_with(SandboxLimits::default(), GatePolicy::default());
    let started = Instant::now();
    let error = host
        .load_bytes(with_mode("huge"), "huge")
        .await
        .expect_err("50 000 config fields and a 16 MiB description");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let text = error.to_string();
    assert!(text.contains("config-fields has 50000 entries"), "{text}");
    assert!(text.len() < 1000, "{} bytes of message", text.len());
}

#[tokio::test]
async fn a_component_over_the_size_limit_is_refused_before_compiling() {
    let host = host_with(
        limits(|l| l.max_component_bytes = 4096),
        GatePolicy::default(),
    );
    let error = host
        .load_bytes(hostile_bytes(), "big")
        .await
        .expect_err("over the size limit");
    assert!(matches!(error, LoadError::Bounds { .. }), "{error}");
}

// Attacks 8 and 10: terminal escapes in the manifest and in logs, and log volume.

#[test]
fn terminal_escapes_in_a_manifest_do_not_reach_plugin_inspect() {
    use clap::Parser;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("escapes.wasm");
    std::fs::write(&path, with_mode("escapes")).unwrap();
    let cli = sam_engine::cli::Cli::try_parse_from([
        "sam",
        "--no-cache",
        "plugin",
        "inspect",
        path.to_str().unwrap(),
    ])
    .unwrap();
    let mut out = Vec::new();
    sam_engine::cli::run(cli, &mut out).expect("inspect works");
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("Hostile"), "{text}");
    for forbidden in ['\u{1b}', '\r', '\u{7}', '\u{202e}', '\u{9b}'] {
        assert!(
            !text.contains(forbidden),
            "{forbidden:?} reached the terminal:\n{text}"
        );
    }
    assert!(
        text.contains("\\u{1b}"),
        "the escape is shown, inert: {text}"
    );
    let hash = text
        .lines()
        .find_map(|l| l.strip_prefix("sha256: "))
        .expect("inspect shows the component's hash");
    assert!(
        hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "{hash}"
    );
}

/// A tracing writer that keeps everything written, for the log tests.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn spoke_logs_are_capped_per_call_and_cannot_forge_lines() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let cap = 256 * 1024;
    let host = host_with(
        limits(|l| l.log_bytes_per_call = cap),
        GatePolicy::default(),
    );
    let spoke = hostile(&host).await;
    let server = ScriptedServer::start().await.unwrap();
    let s = session(&spoke, server.port(), "t");
    // 64 messages of 64 KiB: 4 MiB of log asked for.
    let _ = spoke
        .list_groups(
            &s,
            &attack(&[("attack", "log-flood"), ("count", "64"), ("size", "65536")]),
            None,
        )
        .await;
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.len() < cap * 2, "{} bytes of log", log.len());
    assert!(log.contains("the rest was dropped"), "no note of the drop");
    assert!(
        !log.lines()
            .any(|l| l.starts_with("2026-01-01T00:00:00.000000Z")),
        "a forged line reached the log"
    );
    assert!(!log.contains('\u{1b}'), "an escape reached the log");
}
