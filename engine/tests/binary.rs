//! The `sam` executable itself: help, version, exit codes and a bundled spoke, through the
//! real binary. Being an integration test of the engine package, this also makes
//! `cargo test --workspace` build `target/debug/sam` fresh (with the workspace's features)
//! before any test runs, which the tests in `tests/all` that drive the binary rely on.

use std::process::Command;

fn sam() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sam"));
    command.env_remove("SAM_LOG");
    command
}

#[test]
fn help_lists_the_command_groups_and_version_prints() {
    let help = sam().arg("--help").output().expect("sam runs");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for group in ["plugin", "profile", "run", "demo"] {
        assert!(text.contains(group), "`{group}` missing from:\n{text}");
    }
    let version = sam().arg("--version").output().expect("sam runs");
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn a_bad_command_line_exits_2_with_usage() {
    let output = sam().arg("no-such-command").output().expect("sam runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Usage"));
}

#[test]
fn the_bundled_confluence_spoke_is_inspectable() {
    let cache = tempfile::tempdir().expect("temp dir");
    let output = sam()
        .args(["plugin", "inspect", "confluence-cloud", "--json"])
        .env("SAM_CACHE_DIR", cache.path())
        .output()
        .expect("sam runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let document: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(document["manifest"]["id"], "confluence-cloud");
}
