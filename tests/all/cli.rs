//! `sam plugin inspect` in both forms and `sam plugin check` (the conformance kit) on the
//! Confluence spoke and on a deliberately broken fixture, run in-process through the CLI.

use clap::Parser;
use sam_engine::cli::{Cli, CliError, run};

fn inspect(args: &[&str]) -> Result<String, CliError> {
    let mut argv = vec!["sam", "--no-cache", "plugin", "inspect"];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).expect("arguments parse");
    let mut out = Vec::new();
    run(cli, &mut out)?;
    Ok(String::from_utf8(out).expect("UTF-8 output"))
}

#[test]
fn inspect_prints_the_manifest_and_the_permissions_table() {
    let text = inspect(&[sam_tests::fixture_spoke_wasm()]).unwrap();
    assert!(
        text.contains("Fixture spoke (fixture-spoke) 0.1.0 by sam tests"),
        "{text}"
    );
    assert!(text.contains("Minimal user permissions"), "{text}");
    for expected in [
        "Download subscriptions",
        "Pull user activity",
        "Reclaim subscription",
        "Administrator",
        "• write:groups",
        "127.0.0.1",
        "30 days",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    // The component's size and its cold and warm load times.
    let size = std::fs::metadata(sam_tests::fixture_spoke_wasm())
        .unwrap()
        .len();
    assert!(text.contains(&format!("size: {size} bytes")), "{text}");
    let load = text.lines().find(|l| l.starts_with("load: ")).unwrap_or("");
    assert!(
        load.contains("ms cold") && load.contains("ms warm"),
        "{text}"
    );
}

#[test]
fn inspect_json_carries_the_same_manifest() {
    let json = inspect(&[sam_tests::confluence_spoke_wasm(), "--json"]).unwrap();
    let document: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(document["contract"], "sam:spoke@0.2.0");
    assert_eq!(document["crash_safe_reclaim"], true);
    assert!(document["size_bytes"].as_u64().is_some_and(|n| n > 0));
    assert!(
        document["load_ms"]["cold"]
            .as_f64()
            .is_some_and(|ms| ms > 0.0)
    );
    assert!(
        document["load_ms"]["warm"]
            .as_f64()
            .is_some_and(|ms| ms > 0.0)
    );
    let manifest = &document["manifest"];
    assert_eq!(manifest["id"], "confluence-cloud");
    assert_eq!(manifest["publisher"], "Atlassian");
    assert_eq!(manifest["activity_lookback_days"], 60);
    let processes = manifest["processes"].as_array().unwrap();
    assert_eq!(processes.len(), 3);
    let reclaim = processes
        .iter()
        .find(|p| p["process"] == "Reclaim")
        .unwrap();
    assert_eq!(
        reclaim["scopes"],
        serde_json::json!(["read:confluence-groups", "write:confluence-groups"])
    );
}

#[test]
fn inspect_of_a_missing_file_is_a_user_error() {
    let error = inspect(&["/nonexistent.wasm"]).unwrap_err();
    assert!(matches!(error, CliError::User(_)), "{error}");
    assert!(error.to_string().contains("/nonexistent.wasm"));
}

fn check(args: &[&str]) -> (Result<(), CliError>, String) {
    let mut argv = vec!["sam", "--no-cache", "plugin", "check"];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).expect("arguments parse");
    let mut out = Vec::new();
    let result = run(cli, &mut out);
    (result, String::from_utf8(out).expect("UTF-8 output"))
}

#[test]
fn the_confluence_spoke_passes_the_conformance_kit_against_the_simulator() {
    let (result, json) = check(&[sam_tests::confluence_spoke_wasm(), "--json"]);
    let document: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(result.is_ok(), "{json}");
    assert_eq!(document["passed"], true, "{json}");
    let rules = document["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 15);
    assert!(
        rules.iter().all(|r| r["outcome"]["status"] == "pass"),
        "every rule runs and passes against the simulator: {json}"
    );
    for name in ["reclaim.plan-read-only", "reclaim.apply-finishes-partial"] {
        assert!(
            rules.iter().any(|r| r["rule"] == name),
            "{name} runs: {json}"
        );
    }
}

/// The longevity test of the frozen contract: a spoke built from `wit/0.1.0` (the fixture)
/// keeps passing the kit, through the adapter, against its own vendor (a loopback server
/// with state): its single `reclaim` is idempotent and `restore` undoes it; the plan/apply
/// rules are skipped as not in its contract, and `plugin inspect` says so.
#[test]
fn a_spoke_built_against_the_frozen_0_1_0_contract_still_passes_the_kit() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let vendor = runtime
        .block_on(sam_tests::loopback::FixtureVendor::start("fixture-token"))
        .unwrap();
    // SAFETY: set once, before the kit reads it; no other test reads this variable.
    unsafe { std::env::set_var("SAM_FIXTURE_VENDOR_TOKEN", "fixture-token") };
    let url = format!("http://127.0.0.1:{}/api", vendor.port());
    let port = format!("port={}", vendor.port());
    let (result, json) = check(&[
        sam_tests::fixture_spoke_wasm(),
        "--against",
        &url,
        "--token-env",
        "SAM_FIXTURE_VENDOR_TOKEN",
        "--config",
        &port,
        "--group",
        "g-1",
        "--allow-writes",
        "--json",
    ]);
    let document: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(result.is_ok(), "{json}");
    assert_eq!(document["passed"], true, "{json}");
    let rules = document["rules"].as_array().unwrap();
    let status = |id: &str| {
        rules
            .iter()
            .find(|r| r["rule"] == id)
            .map(|r| {
                r["outcome"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_default()
    };
    for rule in [
        "validate.good-config",
        "validate.bad-config",
        "validate.bad-credential",
        "download.no-repeats",
        "reclaim.idempotent",
        "restore.undoes-reclaim",
    ] {
        assert_eq!(status(rule), "pass", "{rule}: {json}");
    }
    assert_eq!(status("reclaim.plan-read-only"), "skip", "{json}");
    // The kit left the vendor as it found it.
    assert_eq!(vendor.groups_of("u-5"), vec!["g-1", "g-2"]);
    let text = inspect(&[sam_tests::fixture_spoke_wasm()]).unwrap();
    assert!(
        text.contains("contract: sam:spoke@0.1.0 (older than this engine's 0.2.0"),
        "{text}"
    );
}

#[test]
fn a_broken_spoke_fails_the_kit_naming_the_rule() {
    let (result, table) = check(&[sam_tests::broken_spoke_wasm()]);
    let error = result.unwrap_err();
    assert!(matches!(error, CliError::Failure(_)), "{error}");
    assert!(error.to_string().contains("download.no-repeats"), "{error}");
    let row = table
        .lines()
        .find(|line| line.contains("download.no-repeats"))
        .expect("the rule is in the table");
    assert!(row.contains("FAIL"), "{row}");
    assert!(table.contains("already"), "{table}");
    assert!(table.contains("failed"), "{table}");
}

#[test]
fn checking_against_a_url_needs_a_token() {
    let (result, _) = check(&[
        sam_tests::fixture_spoke_wasm(),
        "--against",
        "http://127.0.0.1:9/api",
    ]);
    let error = result.unwrap_err();
    assert!(matches!(error, CliError::User(_)), "{error}");
    assert!(error.to_string().contains("--token-env"), "{error}");
}

#[test]
fn a_bundled_spoke_is_found_by_name() {
    let text = inspect(&["confluence-cloud"]).unwrap();
    assert!(
        text.contains("Confluence Cloud (confluence-cloud)"),
        "{text}"
    );
    let error = inspect(&["no-such-spoke"]).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("bundled spoke (confluence-cloud, github-copilot)"),
        "{error}"
    );
}

/// `sam run all --dry-run`: download, activity, a reclaim dry run and reconcile in one
/// command, through the real binary against the simulator, with nothing reclaimed.
#[tokio::test(flavor = "multi_thread")]
async fn run_all_runs_every_subflow_in_order_and_a_dry_run_reclaims_nothing() {
    use confluence_sim::{Endpoint, RateLimitConfig, SimConfig, Simulator};

    let sim = Simulator::start(SimConfig {
        users: 200,
        rate_limit: RateLimitConfig::unlimited(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sam.redb");
    let token = sim.mint_token(confluence_sim::CONNECTOR_SCOPES);
    let group = sim.group_id("confluence-users").unwrap();
    let cloud_id = format!("cloud-id={}", sim.cloud_id());
    let connection_url = sim.connection_url();
    let sam = |args: Vec<String>| {
        let db = db.clone();
        let token = token.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(crate::pipeline::sam_bin())
                .arg("--db")
                .arg(&db)
                .arg("--no-cache")
                .args(&args)
                .env("SAM_TEST_RUN_ALL_TOKEN", token)
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap()
        })
    };
    let created = sam(vec![
        "profile".into(),
        "create".into(),
        "acme".into(),
        "--spoke".into(),
        "confluence-cloud".into(),
        "--connection-url".into(),
        connection_url,
        "--grant-host".into(),
        "127.0.0.1".into(),
        "--config".into(),
        cloud_id,
        "--group".into(),
        group,
        "--token-env".into(),
        "SAM_TEST_RUN_ALL_TOKEN".into(),
    ])
    .await
    .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    // A Draft profile runs only when asked explicitly (issue 24): nothing is called.
    for run in [["run", "download"], ["run", "all"]] {
        let refused = sam([run[0], run[1], "--profile", "acme"]
            .map(String::from)
            .to_vec())
        .await
        .unwrap();
        let err = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{err}");
        assert!(err.contains("is Draft") && err.contains("--draft"), "{err}");
    }
    assert_eq!(
        sim.calls_to(Endpoint::GroupMembers),
        0,
        "a refused run calls nothing"
    );

    let ran = sam(["run", "all", "--draft", "--profile", "acme", "--dry-run"]
        .map(String::from)
        .to_vec())
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&ran.stdout);
    assert!(
        ran.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let steps: Vec<&str> = text.lines().filter(|l| l.starts_with("== ")).collect();
    assert_eq!(
        steps,
        [
            "== download subscriptions",
            "== download activity",
            "== reclaim (dry run)",
            "== reconcile"
        ]
    );
    assert!(
        text.contains("download-subscriptions on profile acme"),
        "{text}"
    );
    assert!(text.contains("download-activity on profile acme"), "{text}");
    assert_eq!(
        sim.calls_to(Endpoint::RemoveMember),
        0,
        "a dry run writes nothing"
    );
}

/// Recorded exchanges: `sam plugin check --against URL --record FILE` against the Confluence
/// simulator, the simulator stopped, then `--replay FILE`: every rule that passed passes
/// again with nothing to connect to, and the cassette holds no token. Through the library
/// ([`sam_engine::conformance::Kit`]): a cassette whose second member page repeats a user of
/// the first fails `download.no-repeats`; one missing a request names it and fails.
#[test]
fn a_recorded_kit_run_replays_with_no_network_and_a_tampered_recording_fails() {
    use sam_engine::conformance::{Kit, Outcome};
    use serde_json::Value;

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(confluence_sim::Simulator::start(
            confluence_sim::SimConfig {
                users: 250,
                rate_limit: confluence_sim::RateLimitConfig::unlimited(),
                log_calls: false,
                ..confluence_sim::SimConfig::default()
            },
        ))
        .unwrap();
    let token = sim.mint_token(confluence_sim::CONNECTOR_SCOPES);
    // SAFETY: set once, before the kit reads it; no other test reads this variable.
    unsafe { std::env::set_var("SAM_TEST_RECORD_TOKEN", &token) };
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("exchanges.json");
    let cassette_arg = cassette.to_str().unwrap();
    let cloud_id = format!("cloud-id={}", sim.cloud_id());
    let url = sim.connection_url();
    let mut args = vec![
        sam_tests::confluence_spoke_wasm(),
        "--against",
        &url,
        "--token-env",
        "SAM_TEST_RECORD_TOKEN",
        "--config",
        &cloud_id,
        "--grant-host",
        "127.0.0.1",
        "--allow-writes",
        "--record",
        cassette_arg,
        "--json",
    ];
    let groups: Vec<String> = sim.groups().into_iter().map(|g| g.id).collect();
    for group in &groups {
        args.extend(["--group", group.as_str()]);
    }
    let (result, json) = check(&args);
    assert!(result.is_ok(), "{json}");
    let recorded: Value = serde_json::from_str(&json).unwrap();
    runtime.block_on(sim.shutdown());

    let text = std::fs::read_to_string(&cassette).unwrap();
    assert!(!text.contains(&token), "the token is in the cassette");
    assert!(
        !text.to_ascii_lowercase().contains("bearer"),
        "{}",
        &text[..500]
    );
    let mut document: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(document["format"], 1);

    // Replayed through the CLI, with the simulator gone.
    let (result, json) = check(&[
        sam_tests::confluence_spoke_wasm(),
        "--replay",
        cassette_arg,
        "--json",
    ]);
    assert!(result.is_ok(), "{json}");
    let replayed: Value = serde_json::from_str(&json).unwrap();
    let status = |report: &Value, id: &str| {
        report["rules"]
            .as_array()
            .and_then(|rules| rules.iter().find(|r| r["rule"] == id))
            .map(|r| {
                r["outcome"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_default()
    };
    let passed: Vec<&str> = recorded["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"]["status"] == "pass")
        .filter_map(|r| r["rule"].as_str())
        .collect();
    for rule in [
        "download.no-repeats",
        "download.resumes",
        "restore.undoes-reclaim",
    ] {
        assert!(passed.contains(&rule), "{rule} did not pass when recorded");
    }
    for rule in &passed {
        assert_eq!(status(&replayed, rule), "pass", "{rule}: {json}");
    }
    assert_eq!(status(&replayed, "rate-limit.typed"), "skip", "{json}");

    // The first later page of a group's members repeats the first member of its first page.
    let exchanges = document["exchanges"].as_array_mut().unwrap();
    let page = |e: &Value| {
        let url = url::Url::parse(&format!("http://x{}", e["url"].as_str()?)).ok()?;
        if !url.path().ends_with("/membersByGroupId") || e["session"] != "main" {
            return None;
        }
        let start = url.query_pairs().find(|(k, _)| k == "start")?.1.to_string();
        Some((url.path().to_string(), start))
    };
    let later = exchanges
        .iter()
        .position(|e| page(e).is_some_and(|(_, start)| start != "0"))
        .expect("a group with two member pages");
    let (group, _) = page(&exchanges[later]).unwrap();
    let first = exchanges
        .iter()
        .find(|e| page(e).is_some_and(|(g, start)| g == group && start == "0"))
        .unwrap();
    let first_body: Value = serde_json::from_str(first["body"]["text"].as_str().unwrap()).unwrap();
    let repeated = first_body["results"][0].clone();
    let mut body: Value =
        serde_json::from_str(exchanges[later]["body"]["text"].as_str().unwrap()).unwrap();
    body["results"].as_array_mut().unwrap().push(repeated);
    let original = exchanges[later]["body"].clone();
    exchanges[later]["body"] = serde_json::json!({ "text": body.to_string() });
    let tampered = dir.path().join("tampered.json");
    std::fs::write(&tampered, document.to_string()).unwrap();

    // A request the recording lacks: the rejected credential's first one.
    let exchanges = document["exchanges"].as_array_mut().unwrap();
    exchanges[later]["body"] = original;
    let missing = exchanges
        .iter()
        .position(|e| e["session"] == "rejected")
        .unwrap();
    let missing_url = exchanges.remove(missing)["url"]
        .as_str()
        .unwrap()
        .to_string();
    let truncated = dir.path().join("truncated.json");
    std::fs::write(&truncated, document.to_string()).unwrap();

    runtime.block_on(async {
        let host = sam_engine::host::SpokeHost::new(Default::default()).unwrap();
        let spoke = host
            .load_file(sam_tests::confluence_spoke_wasm())
            .await
            .unwrap();
        let report = Kit::new(spoke.clone())
            .replay(&tampered)
            .run()
            .await
            .unwrap();
        assert!(
            matches!(report.outcome("download.no-repeats"), Some(Outcome::Fail(why)) if why.contains("already reported")),
            "{}",
            report.table()
        );
        assert!(!report.passed());

        let report = Kit::new(spoke).replay(&truncated).run().await.unwrap();
        assert!(!report.passed(), "{}", report.table());
        let unrecorded = report.unrecorded().join("\n");
        let shown = missing_url.split('?').next().unwrap();
        assert!(
            unrecorded.starts_with("GET ") && unrecorded.contains(shown),
            "{unrecorded}"
        );
        assert!(report.table().contains("record again"), "{}", report.table());
    });
}
