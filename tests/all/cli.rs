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
