//! The reclamation and license-position commands while `sam daemon` holds the database:
//! candidates, rules, exclusions, entitlements, the position, reconcile and a reclaim dry
//! run, each served by the daemon's API (the file is locked), with what they change visible
//! afterwards; an approver token may decide candidates but not reclaim, a viewer may read
//! but not change an exclusion.

use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::daemon_cli::DaemonUnderTest;
use crate::pipeline::sam_bin;

/// `sam ARGS` against the daemon's database with `SAM_TOKEN=token`.
fn with_token(d: &DaemonUnderTest, token: &str, args: &[&str]) -> Output {
    Command::new(sam_bin())
        .arg("--db")
        .arg(d.db())
        .arg("--key-file")
        .arg(d.dir.path().join("key"))
        .env("XDG_CONFIG_HOME", d.dir.path().join("config"))
        .env("SAM_LOG", "warn")
        .env_remove("SAM_KEY")
        .env_remove("SAM_CONFIG")
        .env("SAM_TOKEN", token)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn token(d: &DaemonUnderTest, role: &str) -> String {
    let created = d.ok(&["tokens", "create", role, "--role", role]);
    created.lines().last().unwrap().trim().to_string()
}

fn refused(out: &Output, role: &str) {
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{role} role")), "{stderr}");
}

#[test]
fn reclamation_commands_work_through_the_daemon() {
    let d = DaemonUnderTest::start(120);
    d.assert_held();

    // Candidates: list, filters, show.
    let all = d.json(&["candidates", "list", "--all", "--json"]);
    let list = all.as_array().unwrap().clone();
    assert!(!list.is_empty(), "the demo left candidates");
    let limited = d.json(&["candidates", "list", "--all", "--limit", "1", "--json"]);
    assert_eq!(limited.as_array().unwrap().len(), 1);
    let open: Vec<&Value> = list
        .iter()
        .filter(|c| {
            [
                "ready",
                "awaiting-user",
                "awaiting-approval",
                "awaiting-revocation",
            ]
            .iter()
            .any(|s| c["state"] == *s)
        })
        .collect();
    let id = list[0]["id"].as_u64().unwrap().to_string();
    let shown = d.json(&["candidates", "show", &id, "--json"]);
    assert_eq!(shown["id"], list[0]["id"]);
    assert!(d.ok(&["candidates", "show", &id]).contains("history:"));
    assert_eq!(
        d.sam(&["candidates", "show", "999999"]).status.code(),
        Some(2)
    );
    assert_eq!(
        d.sam(&["candidates", "list", "--state", "bogus"])
            .status
            .code(),
        Some(2)
    );

    // Rules: show and set (the change is visible).
    let rules = d.json(&["rules", "show", "--json"]);
    let model = rules[0]["model"].as_str().unwrap().to_string();
    d.ok(&["rules", "set", &model, "--threshold-days", "45"]);
    let rule = d.json(&["rules", "show", &model, "--json"]);
    assert_eq!(rule[0]["inactivity_days"], 45, "{rule}");

    // Exclusions: add, list, set, remove.
    let added = d.ok(&["exclusions", "add", "--user", "someone@example.com"]);
    let xid = added.split_whitespace().nth(1).unwrap().to_string();
    let listed = d.json(&["exclusions", "list", "--json"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == xid.as_str())
    );
    d.ok(&["exclusions", "set", &xid, "--active", "false"]);
    let listed = d.json(&["exclusions", "list", "--json"]);
    let x = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == xid.as_str())
        .unwrap();
    assert_eq!(x["active"], false);

    // A viewer reads but cannot change an exclusion.
    let viewer = token(&d, "viewer");
    assert!(
        with_token(&d, &viewer, &["exclusions", "list"])
            .status
            .success()
    );
    refused(
        &with_token(&d, &viewer, &["exclusions", "remove", &xid]),
        "admin",
    );
    d.ok(&["exclusions", "remove", &xid]);
    let listed = d.json(&["exclusions", "list", "--json"]);
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == xid.as_str())
    );

    // Entitlements: add, list, set, cost, remove.
    let added = d.ok(&[
        "entitlements",
        "add",
        &model,
        "--rights",
        "7",
        "--unit-cost",
        "3.50",
    ]);
    let eid = added.split_whitespace().nth(1).unwrap().to_string();
    d.ok(&["entitlements", "set", &eid, "--active", "false"]);
    let ents = d.json(&["entitlements", "list", "--model", &model, "--json"]);
    let e = ents
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == eid.as_str())
        .unwrap();
    assert_eq!(e["active"], false);
    assert!(
        d.ok(&["entitlements", "cost", &model, "--unit-cost", "9"])
            .contains("9.00")
    );
    d.ok(&["entitlements", "cost", &model, "--clear"]);
    d.ok(&["entitlements", "remove", &eid]);
    let ents = d.json(&["entitlements", "list", "--json"]);
    assert!(
        !ents
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == eid.as_str())
    );

    // The position: reconcile, read, refresh.
    let reconciled = d.json(&["run", "reconcile", "--json"]);
    assert!(!reconciled.as_array().unwrap().is_empty());
    let position = d.json(&["position", "--json"]);
    assert!(!position.as_array().unwrap().is_empty());
    d.ok(&["position", "--refresh"]);
    let trend = d.json(&["position", "--model", &model, "--json"]);
    assert!(trend.as_array().unwrap().len() >= 2, "{trend}");

    // An approver decides candidates but cannot reclaim.
    let approver = token(&d, "approver");
    let target = open
        .first()
        .expect("an open candidate")
        .get("id")
        .unwrap()
        .to_string();
    let out = with_token(&d, &approver, &["candidates", "reject", &target]);
    assert!(out.status.success(), "{out:?}");
    let rejected = d.json(&["candidates", "show", &target, "--json"]);
    assert_eq!(rejected["state"], "closed-skipped", "{rejected}");
    refused(
        &with_token(
            &d,
            &approver,
            &[
                "run",
                "reclaim",
                "--draft",
                "--profile",
                list[0]["profile"].as_str().unwrap(),
                "--dry-run",
            ],
        ),
        "admin",
    );

    // Undo of what does not exist is the caller's error, answered by the daemon.
    assert_eq!(d.sam(&["undo", "999999"]).status.code(), Some(2));

    // The audit log names the daemon's token on the writes.
    let audit = d.json(&["audit", "list", "--limit", "3", "--json"]);
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"].as_str().unwrap().contains("local-admin")),
        "{audit}"
    );
    d.assert_held();
    d.stop();
}
