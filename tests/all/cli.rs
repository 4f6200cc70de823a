//! `sam plugin inspect`, run in-process through the CLI's entry point, in both forms.

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
}

#[test]
fn inspect_json_carries_the_same_manifest() {
    let json = inspect(&[sam_tests::confluence_spoke_wasm(), "--json"]).unwrap();
    let document: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(document["contract"], "sam:spoke@0.1.0");
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
