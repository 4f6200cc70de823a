//! The GitHub Copilot spoke end to end through the engine (the `sam` binary) against the
//! GitHub simulator: ten thousand seats over a hundred `Link` pages (direct and team-granted
//! seats, pending cancellations, activity from the same pages with null said apart, the
//! vendor's seat counts), reclaim and undo of direct and team seats, a GitHub App whose
//! one-hour installation tokens expire mid-run, secondary rate limits, and the conformance
//! kit.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use github_sim::{
    Endpoint, FaultConfig, LimitStatus, RateLimitConfig, SecondaryLimitConfig, SimConfig,
    SimHandle, Simulator,
};
use sam_engine::model::{ActivityState, CandidateState, DAY};
use sam_engine::store::Store;

use crate::pipeline::sam_bin;

/// `sam --db DB --no-cache ARGS` with the token in `SAM_TEST_GH_TOKEN`.
fn sam(db: &Path, token: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(sam_bin());
    cmd.arg("--db")
        .arg(db)
        .arg("--key-file")
        .arg(db.with_extension("key"))
        .arg("--no-cache")
        .args(args)
        .env("SAM_TEST_GH_TOKEN", token)
        .env("SAM_LOG", "warn")
        .stdin(std::process::Stdio::null());
    cmd
}

fn ok(mut cmd: std::process::Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}{}",
        cmd.get_args().collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(mut cmd: std::process::Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        !out.status.success(),
        "{:?} succeeded",
        cmd.get_args().collect::<Vec<_>>()
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn start(seats: usize, rate_limit: RateLimitConfig) -> SimHandle {
    Simulator::start(SimConfig {
        seats,
        seed: 21,
        rate_limit,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn owner_token(sim: &SimHandle) -> String {
    sim.mint_classic_token(&["manage_billing:copilot", "admin:org"])
        .unwrap()
}

/// Creates profile `p` authenticated with the token in `SAM_TEST_GH_TOKEN`.
fn create_token_profile(db: &Path, sim: &SimHandle, token: &str) {
    let org = format!("org={}", sim.org());
    ok(sam(
        db,
        token,
        &[
            "profile",
            "create",
            "p",
            "--spoke",
            sam_tests::github_copilot_spoke_wasm(),
            "--connection-url",
            &sim.base_url(),
            "--grant-host",
            "127.0.0.1",
            "--config",
            &org,
            "--token-env",
            "SAM_TEST_GH_TOKEN",
        ],
    ));
}

/// Whether GitHub shows the user's activity (its retention is 90 days).
fn visible_activity(last_ms: Option<i64>, now_ms: i64) -> Option<i64> {
    last_ms.filter(|&at| now_ms - at < 90 * DAY * 1000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_seats_download_in_one_call_per_page_with_activity_and_pending_cancellations()
{
    let sim = start(10_000, RateLimitConfig::unlimited()).await;
    let token = owner_token(&sim);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sam.redb");
    tokio::task::block_in_place(|| {
        create_token_profile(&db, &sim, &token);
        let validated = ok(sam(&db, &token, &["profile", "validate", "p"]));
        assert!(validated.contains("Copilot seats"), "{validated}");
        sim.reset_calls();
        ok(sam(
            &db,
            &token,
            &["run", "download", "--draft", "--profile", "p"],
        ));
    });
    // One call per page of 100, and one for the vendor's seat counts.
    assert_eq!(sim.calls_to(Endpoint::ListSeats), 100);
    assert_eq!(sim.calls_to(Endpoint::CopilotBilling), 1);
    sim.reset_calls();
    tokio::task::block_in_place(|| {
        ok(sam(
            &db,
            &token,
            &["run", "activity", "--draft", "--profile", "p"],
        ));
    });
    assert!(
        sim.calls_per_endpoint().values().all(|&n| n == 0),
        "the activity run called the vendor: {:?}",
        sim.calls_per_endpoint()
    );

    let now_ms = sim.clock().now_ms();
    let store = Store::open(&db).unwrap();
    let read = store.read().unwrap();
    let subs: BTreeMap<String, _> = read
        .subscriptions("p")
        .unwrap()
        .into_iter()
        .filter(|s| s.active)
        .map(|s| (s.external_user_id.clone(), s))
        .collect();
    let seats = sim.seats();
    assert_eq!(subs.len(), seats.len());
    let pending: BTreeMap<String, i64> = read
        .pending_cancellations("p")
        .unwrap()
        .into_iter()
        .map(|p| (p.external_user_id, p.ends_at))
        .collect();
    let (mut team, mut direct, mut never) = (0, 0, 0);
    for seat in &seats {
        let sub = &subs[&seat.login];
        assert_eq!(sub.identifier, "copilot-business");
        assert_eq!(
            sub.granted_by,
            seat.assigning_team.iter().cloned().collect::<Vec<_>>(),
            "{}",
            seat.login
        );
        if seat.assigning_team.is_some() {
            team += 1;
        } else {
            direct += 1;
        }
        assert_eq!(
            pending.contains_key(&seat.login),
            seat.pending_cancellation_date.is_some(),
            "{}",
            seat.login
        );
        let activity = read.activity("p", &seat.login).unwrap().unwrap();
        match visible_activity(seat.last_activity_ms, now_ms) {
            Some(ms) => {
                assert_eq!(activity.state, ActivityState::Seen, "{}", seat.login);
                assert_eq!(activity.last_activity, Some(ms / 1000), "{}", seat.login);
            }
            None => {
                never += 1;
                assert_eq!(activity.state, ActivityState::NoneOrNever, "{}", seat.login);
                assert_eq!(activity.last_activity, None);
            }
        }
    }
    assert!(
        team > 1000 && direct > 1000 && never > 500,
        "{team} {direct} {never}"
    );
    assert!(pending.len() > 100, "{}", pending.len());
    let counts = read.vendor_seat_counts().unwrap();
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert_eq!(counts[0].purchased, Some(seats.len() as u64));
    assert_eq!(counts[0].pending_cancellation, Some(pending.len() as u64));
    assert_eq!(
        counts[0].model.as_deref(),
        Some("github/github copilot/business")
    );
    drop(read);
    drop(store);
    // Reconciliation shows the vendor's counts beside the entitlement.
    tokio::task::block_in_place(|| {
        ok(sam(
            &db,
            &token,
            &[
                "entitlements",
                "add",
                "github/github copilot/business",
                "--rights",
                "9000",
            ],
        ));
        let text = ok(sam(&db, &token, &["run", "reconcile"]));
        assert!(text.contains("seats as the vendor reports them"), "{text}");
        assert!(
            text.contains(&format!(
                "the vendor bills {} seats, the entitlements own 9000",
                seats.len()
            )),
            "{text}"
        );
    });
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reclaim_cancels_direct_seats_and_leaves_teams_then_undo_restores_exactly_that() {
    let sim = start(300, RateLimitConfig::unlimited()).await;
    let token = owner_token(&sim);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sam.redb");
    tokio::task::block_in_place(|| {
        create_token_profile(&db, &sim, &token);
        ok(sam(
            &db,
            &token,
            &["run", "download", "--draft", "--profile", "p"],
        ));
        ok(sam(
            &db,
            &token,
            &["run", "activity", "--draft", "--profile", "p"],
        ));
        ok(sam(
            &db,
            &token,
            &["run", "reclaim", "--draft", "--profile", "p", "--max", "12"],
        ));
    });
    let store = Store::open(&db).unwrap();
    let candidates = store.read().unwrap().candidates("p").unwrap();
    drop(store);
    let reclaimed: Vec<_> = candidates
        .iter()
        .filter(|c| c.state == CandidateState::ClosedComplete)
        .collect();
    assert!(!reclaimed.is_empty(), "{candidates:?}");
    let (mut teams, mut directs) = (0, 0);
    let before_pending: BTreeMap<String, bool> = sim
        .seats()
        .into_iter()
        .map(|u| (u.login, u.pending_cancellation_date.is_some()))
        .collect();
    for c in &reclaimed {
        let user = sim.user(&c.external_user_id).unwrap();
        let record = c.reclaim.as_ref().unwrap();
        assert_eq!(record.changes.len(), 1, "{record:?}");
        let change = &record.changes[0];
        match change.kind.as_str() {
            "team-membership-removed" => {
                teams += 1;
                assert!(!user.teams.contains(&change.target_id), "{user:?}");
            }
            "copilot-seat-cancelled" => {
                directs += 1;
                assert!(user.pending_cancellation_date.is_some(), "{user:?}");
            }
            other => panic!("unexpected change {other}"),
        }
    }
    assert!(teams > 0 && directs > 0, "teams {teams}, direct {directs}");
    // A seat already pending cancellation was never a candidate.
    for c in &candidates {
        assert_ne!(
            before_pending.get(&c.external_user_id),
            None,
            "{} had no seat",
            c.external_user_id
        );
    }
    // Undo every reclaim: the direct seats are live again, the users back in their teams.
    tokio::task::block_in_place(|| {
        for c in &reclaimed {
            ok(sam(&db, &token, &["undo", &c.id.to_string()]));
        }
    });
    for c in &reclaimed {
        let user = sim.user(&c.external_user_id).unwrap();
        let change = &c.reclaim.as_ref().unwrap().changes[0];
        assert!(user.has_seat, "{user:?}");
        assert!(user.pending_cancellation_date.is_none(), "{user:?}");
        if change.kind == "team-membership-removed" {
            assert!(user.teams.contains(&change.target_id), "{user:?}");
            assert_eq!(
                user.assigning_team.as_deref(),
                Some(change.target_id.as_str())
            );
        }
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_app_profile_mints_installation_tokens_and_renews_them_when_they_expire() {
    let sim = start(6_000, RateLimitConfig::unlimited()).await;
    // Installation tokens that live two seconds, and pages that take 50 ms: the download
    // outlives several tokens.
    sim.set_installation_token_ttl(Duration::from_secs(2));
    sim.set_latency(Duration::from_millis(50), Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sam.redb");
    let key = dir.path().join("app.pem");
    std::fs::write(&key, sim.app_private_key_pem()).unwrap();
    let org = format!("org={}", sim.org());
    let app_id = sim.app_id().to_string();
    let installation = sim.installation_id().to_string();
    tokio::task::block_in_place(|| {
        // A file that is not an RSA key is refused at once.
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "not a key").unwrap();
        let refused = fails(sam(
            &db,
            "",
            &[
                "profile",
                "create",
                "bad",
                "--spoke",
                sam_tests::github_copilot_spoke_wasm(),
                "--connection-url",
                &sim.base_url(),
                "--grant-host",
                "127.0.0.1",
                "--config",
                &org,
                "--app-id",
                &app_id,
                "--installation-id",
                &installation,
                "--app-key-file",
                bad.to_str().unwrap(),
            ],
        ));
        assert!(refused.contains("not an RSA private key"), "{refused}");
        ok(sam(
            &db,
            "",
            &[
                "profile",
                "create",
                "p",
                "--spoke",
                sam_tests::github_copilot_spoke_wasm(),
                "--connection-url",
                &sim.base_url(),
                "--grant-host",
                "127.0.0.1",
                "--config",
                &org,
                "--app-id",
                &app_id,
                "--installation-id",
                &installation,
                "--app-key-file",
                key.to_str().unwrap(),
            ],
        ));
        // One page at a time, so the download outlives its tokens (concurrent pages would
        // finish within one).
        ok(sam(&db, "", &["profile", "limits", "p", "concurrency=1"]));
        sim.reset_calls();
        ok(sam(
            &db,
            "",
            &["run", "download", "--draft", "--profile", "p"],
        ));
    });
    assert_eq!(sim.calls_to(Endpoint::ListSeats), 60);
    let minted = sim.calls_to(Endpoint::CreateInstallationToken);
    assert!(
        minted >= 2,
        "only {minted} installation tokens for a run longer than their life"
    );
    let store = Store::open(&db).unwrap();
    let read = store.read().unwrap();
    let active = read
        .subscriptions("p")
        .unwrap()
        .iter()
        .filter(|s| s.active)
        .count();
    assert_eq!(active, sim.seat_count());
    // The key is stored sealed: its PEM text is nowhere in the database file.
    drop(read);
    drop(store);
    let bytes = std::fs::read(&db).unwrap();
    let marker = b"PRIVATE KEY";
    assert!(!bytes.windows(marker.len()).any(|w| w == marker));
    // Rotating sam's key re-seals the app key: the next run still signs its JWTs.
    sim.set_latency(Duration::ZERO, Duration::ZERO);
    tokio::task::block_in_place(|| {
        let rotated = ok(sam(&db, "", &["key", "rotate"]));
        assert!(rotated.contains("1 connection(s)"), "{rotated}");
        ok(sam(
            &db,
            "",
            &["run", "download", "--draft", "--profile", "p"],
        ));
    });
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secondary_rate_limits_are_waited_out_on_429_and_typed_on_403_then_the_run_resumes() {
    let limits = RateLimitConfig {
        secondary: Some(SecondaryLimitConfig {
            status: LimitStatus::TooMany,
            retry_after_secs: Some(1),
            ..SecondaryLimitConfig::default()
        }),
        ..RateLimitConfig::unlimited()
    };
    let sim = start(1_000, limits).await;
    let token = owner_token(&sim);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sam.redb");
    // A storm of 429 secondary limits with Retry-After: 1 is absorbed by the engine.
    sim.set_fault(
        Endpoint::ListSeats,
        FaultConfig {
            secondary_storm: 2,
            ..FaultConfig::default()
        },
    );
    tokio::task::block_in_place(|| {
        create_token_profile(&db, &sim, &token);
        ok(sam(
            &db,
            &token,
            &["run", "download", "--draft", "--profile", "p"],
        ));
    });
    // A 403 secondary limit (GitHub's other form) is not retried by the engine: the spoke
    // says rate-limited, with GitHub's wait; the run stops and a rerun resumes.
    sim.set_rate_limit(RateLimitConfig {
        secondary: Some(SecondaryLimitConfig {
            status: LimitStatus::Forbidden,
            retry_after_secs: Some(30),
            ..SecondaryLimitConfig::default()
        }),
        ..RateLimitConfig::unlimited()
    });
    sim.set_fault(
        Endpoint::ListSeats,
        FaultConfig {
            secondary_storm: 1,
            ..FaultConfig::default()
        },
    );
    tokio::task::block_in_place(|| {
        let text = fails(sam(
            &db,
            &token,
            &["run", "download", "--draft", "--profile", "p"],
        ));
        assert!(text.contains("rate limited"), "{text}");
        assert!(text.contains("secondary rate limit"), "{text}");
        ok(sam(
            &db,
            &token,
            &["run", "download", "--draft", "--profile", "p"],
        ));
    });
    // A primary limit spent: 403 with x-ratelimit-remaining 0 is rate-limited, not forbidden.
    sim.set_rate_limit(RateLimitConfig {
        user_per_hour: Some(1),
        ..RateLimitConfig::unlimited()
    });
    sim.clear_faults();
    tokio::task::block_in_place(|| {
        let text = fails(sam(
            &db,
            &token,
            &["run", "download", "--draft", "--profile", "p"],
        ));
        assert!(text.contains("rate limited"), "{text}");
        assert!(!text.contains("forbidden"), "{text}");
    });
    sim.shutdown().await;
}

/// Issue 23: the seat pages the `Link` header's `last` tells are requested concurrently, and
/// the concurrency backs off on GitHub's secondary limit on concurrent requests: the
/// simulator refuses a fourth request in flight (429, `Retry-After: 0`). The run succeeds with
/// one successful call per page, every seat stored, and few refusals (a run that grew to the
/// ceiling of 8 regardless would have most of its requests refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seat_pages_are_read_concurrently_and_back_off_on_a_concurrency_limit() {
    let limits = RateLimitConfig {
        secondary: Some(SecondaryLimitConfig {
            max_concurrent: 3,
            status: LimitStatus::TooMany,
            retry_after_secs: Some(0),
            ..SecondaryLimitConfig::default()
        }),
        ..RateLimitConfig::unlimited()
    };
    let sim = start(4_000, limits).await;
    sim.set_latency(Duration::from_millis(20), Duration::ZERO);
    let token = owner_token(&sim);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sam.redb");
    tokio::task::block_in_place(|| create_token_profile(&db, &sim, &token));
    sim.reset_calls();
    tokio::task::block_in_place(|| {
        ok(sam(
            &db,
            &token,
            &["run", "download", "--draft", "--profile", "p"],
        ));
    });
    let seat_calls: Vec<u16> = sim
        .calls()
        .into_iter()
        .filter(|c| c.endpoint == Some(Endpoint::ListSeats))
        .map(|c| c.status)
        .collect();
    let answered = seat_calls.iter().filter(|&&s| s == 200).count();
    let refused = seat_calls.iter().filter(|&&s| s == 429).count();
    assert_eq!(
        answered, 40,
        "one answered call per page of 100: {seat_calls:?}"
    );
    assert!(sim.max_in_flight() > 1, "the pages were read concurrently");
    // How soon the concurrency meets the limit depends on the machine's speed (a loaded one
    // may never grow past it in 40 pages); once met, it backs off: few refusals, where a
    // run growing to the ceiling of 8 regardless has most of its requests refused. The
    // growth and back-off themselves are tested in virtual time (`pipeline::prefetch`).
    assert!(
        refused <= 10,
        "it backed off at the limit: {refused} refusals for 40 pages"
    );
    let store = Store::open(&db).unwrap();
    let active = store
        .read()
        .unwrap()
        .subscriptions("p")
        .unwrap()
        .into_iter()
        .filter(|s| s.active)
        .count();
    assert_eq!(active, sim.seats().len());
    drop(store);
    // An operator ceiling of 1 pages one request at a time: no refusal at all.
    tokio::task::block_in_place(|| {
        ok(sam(
            &db,
            &token,
            &["profile", "limits", "p", "concurrency=1"],
        ));
    });
    sim.reset_calls();
    tokio::task::block_in_place(|| {
        ok(sam(
            &db,
            &token,
            &["run", "download", "--draft", "--profile", "p"],
        ));
    });
    assert_eq!(sim.max_in_flight(), 1, "the operator's ceiling holds");
    assert_eq!(sim.calls_to(Endpoint::ListSeats), 40);
    sim.shutdown().await;
}

#[test]
fn the_github_spoke_passes_the_conformance_kit_against_the_simulator() {
    use clap::Parser;
    use sam_engine::cli::{Cli, run};
    let cli = Cli::try_parse_from([
        "sam",
        "--no-cache",
        "plugin",
        "check",
        sam_tests::github_copilot_spoke_wasm(),
        "--json",
    ])
    .unwrap();
    let mut out = Vec::new();
    let result = run(cli, &mut out);
    let json = String::from_utf8(out).unwrap();
    assert!(result.is_ok(), "{json}");
    let document: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(document["passed"], true, "{json}");
    let rules = document["rules"].as_array().unwrap();
    for rule in [
        "download.resumes",
        "activity.terminates",
        "activity.lookup",
        "reclaim.plan-read-only",
        "reclaim.apply-finishes-partial",
        "reclaim.idempotent",
        "restore.undoes-reclaim",
        "rate-limit.typed",
    ] {
        let r = rules
            .iter()
            .find(|r| r["rule"] == rule)
            .unwrap_or_else(|| panic!("{rule}: {json}"));
        assert_eq!(r["outcome"]["status"], "pass", "{rule}: {json}");
    }
}

/// Issue 18's backup "while sam runs": a standalone `sam run download` holds the file, yet
/// another `sam` lists profiles and takes a consistent backup through it, while a change is
/// refused with the holder named (it would interleave with the run); when the run ends, its
/// runtime file goes and the file is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_a_run_holds_the_database_reads_and_a_backup_go_through_it_and_changes_wait() {
    let sim = start(600, RateLimitConfig::unlimited()).await;
    let token = owner_token(&sim);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sam.redb");
    let runtime = sam_engine::daemon::http::runtime_file(&db);
    tokio::task::block_in_place(|| create_token_profile(&db, &sim, &token));
    // Every answer takes 2 s until the checks are done: the run is surely in flight.
    sim.set_latency(Duration::from_secs(2), Duration::ZERO);
    let mut run = sam(
        &db,
        &token,
        &["run", "download", "--draft", "--profile", "p"],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sam_engine::daemon::http::read_runtime_file(&db).is_none() {
        assert!(std::time::Instant::now() < deadline, "the run never served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let backup = dir.path().join("copy.redb");
    tokio::task::block_in_place(|| {
        let listed = ok(sam(&db, &token, &["profile", "list", "--json"]));
        assert!(listed.contains("\"p\""), "{listed}");
        ok(sam(
            &db,
            &token,
            &["db", "backup", backup.to_str().unwrap()],
        ));
        let refused = fails(sam(
            &db,
            &token,
            &["exclusions", "add", "--user", "someone@example.com"],
        ));
        assert!(refused.contains("`sam run download`"), "{refused}");
    });
    assert!(run.try_wait().unwrap().is_none(), "the run was in flight");
    sim.set_latency(Duration::ZERO, Duration::ZERO);
    let out = tokio::task::block_in_place(|| run.wait_with_output().unwrap());
    assert!(out.status.success(), "{out:?}");
    assert!(!runtime.exists(), "the runtime file went with the run");
    // The copy is a database of its own, with the profile; the original is free again.
    let copy = Store::open_read_only(&backup).unwrap();
    assert!(copy.read().unwrap().profile("p").unwrap().is_some());
    drop(copy);
    let original = Store::open(&db).unwrap();
    assert!(
        !original
            .read()
            .unwrap()
            .subscriptions("p")
            .unwrap()
            .is_empty()
    );
}
