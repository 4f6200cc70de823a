//! The sandbox rules: a deadline interrupts runaway guests, the memory cap stops hoarding,
//! a panic becomes a typed error, and none of them hurts the next call; the guest sees no
//! files and no environment; its output goes to the logs, not to our stdio.

use std::time::{Duration, Instant};

use sam_engine::contract::SpokeError;
use sam_engine::host::{CallErrorKind, GatePolicy, SandboxLimits};
use sam_tests::loopback::ScriptedServer;

use crate::{config, fixture, host, host_with, session};

#[tokio::test]
async fn an_infinite_loop_is_interrupted_at_the_deadline_and_the_next_call_works() {
    let deadline = Duration::from_millis(300);
    let host = host_with(
        SandboxLimits {
            call_deadline: deadline,
            ..SandboxLimits::default()
        },
        GatePolicy::default(),
    );
    let spoke = fixture(&host).await;
    let server = ScriptedServer::start().await.unwrap();
    let session = session(&spoke, server.port(), "t");

    let started = Instant::now();
    let error = spoke
        .list_groups(&session, &config(&[("behaviour", "spin")]), None)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(error.kind, CallErrorKind::DeadlineExceeded(d) if d == deadline),
        "{error}"
    );
    assert_eq!(error.spoke, "fixture-spoke");
    assert_eq!(error.call, "list-groups");
    assert!(took >= deadline, "interrupted too early: {took:?}");
    assert!(took < deadline * 20, "interrupted far too late: {took:?}");

    let page = spoke
        .list_groups(&session, &config(&[]), None)
        .await
        .expect("the next call works");
    assert_eq!(page.groups[0].id, "g-1");
}

#[tokio::test]
async fn allocating_past_the_memory_cap_fails_clearly_and_the_next_call_works() {
    let cap = 48 * 1024 * 1024;
    let host = host_with(
        SandboxLimits {
            memory_cap: cap,
            ..SandboxLimits::default()
        },
        GatePolicy::default(),
    );
    let spoke = fixture(&host).await;
    let server = ScriptedServer::start().await.unwrap();
    let session = session(&spoke, server.port(), "t");

    let error = spoke
        .list_groups(&session, &config(&[("behaviour", "allocate")]), None)
        .await
        .unwrap_err();
    match &error.kind {
        CallErrorKind::MemoryCap {
            cap: reported,
            requested,
        } => {
            assert_eq!(*reported, cap);
            assert!(*requested > cap);
        }
        other => panic!("expected a memory-cap error, got {other}"),
    }
    assert!(error.to_string().contains("memory cap"), "{error}");
    assert!(
        spoke
            .list_groups(&session, &config(&[]), None)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_panic_becomes_a_typed_error_naming_spoke_and_call_and_the_next_call_works() {
    let host = host();
    let spoke = fixture(&host).await;
    let server = ScriptedServer::start().await.unwrap();
    let session = session(&spoke, server.port(), "t");

    let error = spoke
        .reclaim_legacy(
            &session,
            &config(&[("behaviour", "panic")]),
            &sam_engine::contract::SubscriptionRef {
                external_user_id: "u-1".into(),
                identifier: "fixture".into(),
                granted_by: vec![],
            },
        )
        .await
        .unwrap_err();
    let CallErrorKind::Trap(message) = &error.kind else {
        panic!("expected a trap, got {error}");
    };
    assert!(
        message.contains("fixture panics on purpose"),
        "the guest's panic message is kept: {message}"
    );
    let shown = error.to_string();
    assert!(
        shown.contains("fixture-spoke") && shown.contains("reclaim"),
        "{shown}"
    );
    assert!(
        spoke
            .list_groups(&session, &config(&[]), None)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn the_guest_sees_no_files_no_environment_and_no_arguments() {
    // SAFETY: tests in this binary do not read this variable concurrently.
    unsafe { std::env::set_var("SAM_TEST_SECRET_ENV", "leak") };
    let host = host();
    let spoke = fixture(&host).await;
    let server = ScriptedServer::start().await.unwrap();
    let session = session(&spoke, server.port(), "t");
    let error = spoke
        .list_groups(&session, &config(&[("behaviour", "probe-sandbox")]), None)
        .await
        .unwrap_err();
    let Some(SpokeError::Vendor(report)) = error.spoke_error() else {
        panic!("expected the probe report, got {error}");
    };
    assert_eq!(
        report, "root-dir=false etc-passwd=false env-vars=0 args=0 dot-dir=false",
        "the sandbox let something through"
    );
}
