//! The store seen from outside: a second process gets a clear "in use" error naming the
//! holder (never a hang), and the `sam profile` commands create, list and show profiles in
//! the database given with `--db`.

use std::time::{Duration, Instant};

use sam_engine::model::AuthKind;
use sam_engine::store::Store;

use crate::pipeline::sam_bin;

fn sam(db: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(sam_bin())
        .arg("--db")
        .arg(db)
        .arg("--no-cache")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_second_process_gets_an_in_use_error_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sam.redb");
    let held = Store::open(&db).unwrap();
    let started = Instant::now();
    let out = sam(&db, &["profile", "list"]);
    assert!(started.elapsed() < Duration::from_secs(20), "no hang");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is in use by process") && err.contains(&std::process::id().to_string()),
        "{err}"
    );
    drop(held);
    let out = sam(&db, &["profile", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn profiles_are_created_listed_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested").join("sam.redb");
    let create = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "profile",
            "create",
            name,
            "--spoke",
            sam_tests::confluence_spoke_wasm(),
            "--connection-url",
            "http://127.0.0.1:9/ex/confluence/abc",
            "--grant-host",
            "127.0.0.1",
            "--config",
            "cloud-id=abc",
            "--group",
            "g-1",
            "--group",
            "g-2",
            "--token-env",
            "ACME_TOKEN",
        ];
        args.extend_from_slice(extra);
        sam(&db, &args)
    };
    let out = create("acme", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = create("acme", &[]);
    assert_eq!(out.status.code(), Some(2), "a duplicate is a user error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = create("lite", &["--no-activity", "--no-reclaim"]);
    assert!(out.status.success());
    let out = create("old", &["--analyze-from", "2001-01-01"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("look-back"));

    let out = sam(&db, &["profile", "list", "--json"]);
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, ["acme", "lite"]);
    assert_eq!(
        list[0]["connection"],
        "confluence-cloud.subscription_activity_reclaim.acme"
    );
    assert_eq!(list[1]["connection"], "confluence-cloud.subscription.lite");
    assert_eq!(list[0]["status"], "draft");

    let out = sam(&db, &["profile", "show", "acme"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bearer token from $ACME_TOKEN"), "{text}");
    assert!(text.contains("Group:        g-2"), "{text}");
    let out = sam(&db, &["profile", "show", "nope"]);
    assert_eq!(out.status.code(), Some(2));

    // No secret in the database: the connection names the variable only.
    let store = Store::open(&db).unwrap();
    let read = store.read().unwrap();
    let profile = read.profile("acme").unwrap().unwrap();
    let connection = read.connection(&profile.connection).unwrap().unwrap();
    assert_eq!(
        connection.auth,
        AuthKind::StaticTokenEnv {
            variable: "ACME_TOKEN".into()
        }
    );
    assert_eq!(read.selected_groups("acme").unwrap().len(), 2);
}

#[test]
fn a_run_without_its_token_is_a_user_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sam.redb");
    let out = sam(
        &db,
        &[
            "profile",
            "create",
            "acme",
            "--spoke",
            sam_tests::confluence_spoke_wasm(),
            "--connection-url",
            "http://127.0.0.1:9/x",
            "--token-env",
            "SAM_SURELY_UNSET_TOKEN",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sam(&db, &["run", "download", "--draft", "--profile", "acme"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SAM_SURELY_UNSET_TOKEN"));
    let out = sam(&db, &["run", "download", "--draft", "--profile", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}
