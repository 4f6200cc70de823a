//! The profile commands while `sam daemon` holds the database: `sam profile
//! create|list|show|set|validate|publish|delete`, `sam connect` (the consent in the CLI, the
//! tokens stored through the daemon), `sam groups list|add|remove`, `sam jobs
//! list|show|set`, `sam profile limits` and `sam key rotate`, each served by the daemon's API against a live
//! simulator, with what each changed read back; and the roles: a viewer reads but cannot
//! change, an approver cannot publish.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use serde_json::Value;

use crate::admin::{blocking, consent, free_port, sim_with};
use crate::daemon_cli::DaemonUnderTest;
use crate::pipeline::sam_bin;

/// `sam ARGS` on the daemon's database, as the harness runs it, with `token` if given.
fn cmd(d: &DaemonUnderTest, token: Option<&str>, args: &[&str]) -> Command {
    let dir = d.dir.path();
    let mut cmd = Command::new(sam_bin());
    cmd.arg("--db")
        .arg(d.db())
        .arg("--key-file")
        .arg(dir.join("key"))
        .arg("--cache-dir")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("admin-cache"))
        .args(args)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("SAM_LOG", "warn")
        .env("SAM_NO_BROWSER", "1")
        .env_remove("SAM_KEY")
        .env_remove("SAM_CONFIG")
        .env_remove("SAM_TOKEN")
        .stdin(Stdio::null());
    if let Some(t) = token {
        cmd.env("SAM_TOKEN", t);
    }
    cmd
}

/// `sam ARGS` with `token`, which must fail with exit 2 for want of a role.
fn refused(d: &DaemonUnderTest, token: &str, args: &[&str]) {
    let out: Output = cmd(d, Some(token), args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "sam {args:?}: {err}");
    assert!(err.contains("role"), "sam {args:?}: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_commands_work_through_the_daemon_and_respect_roles() {
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let sim = Arc::new(sim_with(&redirect, 30, |_| {}).await);
    let d = Arc::new(blocking(|| DaemonUnderTest::start(120)).await);
    let (d2, s2) = (d.clone(), sim.clone());
    blocking(move || walk(&d2, &s2, &redirect)).await;
}

fn walk(d: &DaemonUnderTest, sim: &confluence_sim::SimHandle, redirect: &str) {
    d.assert_held();

    // Reads: the demo's profile and its jobs.
    let list = d.json(&["profile", "list", "--json"]);
    assert!(
        list.as_array().unwrap().iter().any(|p| p["name"] == "demo"),
        "{list}"
    );
    let demo = d.json(&["profile", "show", "demo", "--json"]);
    assert_eq!(demo["profile"]["name"], "demo", "{demo}");
    assert!(
        d.ok(&["profile", "show", "demo"])
            .contains("Profile:      demo")
    );
    let jobs = d.json(&["jobs", "list", "--profile", "demo", "--json"]);
    let job = jobs[0]["name"].as_str().unwrap().to_string();
    assert_eq!(
        d.json(&["jobs", "show", &job, "--json"])["job"]["name"],
        job.as_str()
    );
    assert!(
        d.ok(&["jobs", "set", &job, "--active", "false"])
            .contains("paused")
    );
    assert_eq!(
        d.json(&["jobs", "show", &job, "--json"])["job"]["active"],
        false
    );

    // A new profile, connected to the simulator: the consent here, the tokens stored by
    // the daemon.
    let created = d.ok(&["profile", "create", "p", "--spoke", "confluence-cloud"]);
    assert!(created.contains("created profile `p`"), "{created}");
    let out = connect(d, sim, redirect);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("connected profile `p`"), "{stdout}");
    let shown = d.json(&["profile", "show", "p", "--json"]);
    assert_eq!(shown["oauth"]["status"], "connected", "{shown}");
    // The engine keeps the secrets: what the API tells a consent holds none of them.
    let context = d.http_get("/api/v1/connections/context?name=p");
    assert!(context.starts_with("HTTP/1.1 200"), "{context}");
    assert!(context.contains("\"has_client_secret\":true"), "{context}");
    assert!(!context.contains(sim.client_secret()), "{context}");

    // Limits: set through the daemon, read back, audited.
    let limits = d.ok(&["profile", "limits", "p", "pages=5000"]);
    assert!(limits.contains("pages: "), "{limits}");
    let limits = d.json(&["profile", "limits", "p", "--json"]);
    let pages = limits["limits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "pages")
        .unwrap()
        .clone();
    assert_eq!(pages["set"], true, "{limits}");

    // Groups, through the vendor on the stored tokens.
    let selected = |d: &DaemonUnderTest| -> Vec<String> {
        d.json(&["groups", "list", "p", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["selected"] == true)
            .map(|g| g["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(selected(d).is_empty());
    assert!(
        d.ok(&["groups", "add", "p", "confluence-users"])
            .contains("selected on profile `p`")
    );
    assert_eq!(selected(d), ["confluence-users"]);
    d.ok(&["groups", "remove", "p", "confluence-users"]);
    assert!(selected(d).is_empty());
    d.ok(&["groups", "add", "p", "confluence-users"]);

    // Settings, validation, publishing.
    assert!(
        d.ok(&["profile", "set", "p", "--display-name", "Pee"])
            .contains("updated profile `p`")
    );
    let report = d.json(&["profile", "validate", "p", "--json"]);
    assert_eq!(report["passed"], true, "{report}");
    assert!(
        d.ok(&["profile", "publish", "p"])
            .contains("published profile `p`")
    );
    let shown = d.json(&["profile", "show", "p", "--json"]);
    assert_eq!(shown["profile"]["status"], "published", "{shown}");
    assert_eq!(shown["profile"]["display_name"], "Pee", "{shown}");
    let jobs = |d: &DaemonUnderTest| d.json(&["jobs", "list", "--profile", "p", "--json"]);
    let listed = jobs(d);
    let download = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["process"] == "download-subscriptions")
        .unwrap_or_else(|| panic!("{listed}"))["name"]
        .as_str()
        .unwrap()
        .to_string();
    // Back to Draft and published again: the admin's own schedule survives.
    d.ok(&["jobs", "set", &download, "--schedule", "0 15 5 * * *"]);
    let draft = d.ok(&["profile", "unpublish", "p"]);
    assert!(
        draft.contains("Draft again") && draft.contains("held"),
        "{draft}"
    );
    assert_eq!(
        d.json(&["profile", "show", "p", "--json"])["profile"]["status"],
        "draft"
    );
    d.ok(&["profile", "publish", "p"]);
    let again = jobs(d);
    let kept = again
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == download.as_str())
        .unwrap_or_else(|| panic!("{again}"));
    assert_eq!(kept["schedule"], "0 15 5 * * *", "{again}");

    // Runs through the daemon on the new profile: download, activity, a dry run, a capped
    // reclaim that removes one seat at the vendor, and its undo.
    d.ok(&["run", "download", "--draft", "--profile", "p"]);
    d.ok(&["run", "activity", "--draft", "--profile", "p"]);
    d.ok(&["run", "reclaim", "--draft", "--profile", "p", "--dry-run"]);
    d.ok(&["run", "reclaim", "--draft", "--profile", "p", "--max", "1"]);
    let candidates = d.json(&["candidates", "list", "--profile", "p", "--all", "--json"]);
    let reclaimed: Vec<String> = candidates
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["state"] == "closed-complete")
        .map(|c| c["id"].to_string())
        .collect();
    assert_eq!(reclaimed.len(), 1, "{candidates}");
    let undone = d.ok(&["undo", &reclaimed[0]]);
    assert!(undone.contains("restored"), "{undone}");
    // Decisions: with notices on, a run asks the users; an answer each way, the manager's
    // approval, a reclaim now, and every subflow in a dry run.
    d.ok(&[
        "rules",
        "set",
        "atlassian/confluence",
        "--notify",
        "true",
        "--days-before-auto",
        "7",
    ]);
    d.ok(&["run", "reclaim", "--draft", "--profile", "p", "--max", "3"]);
    let in_state = |state: &str| -> Vec<String> {
        d.json(&["candidates", "list", "--profile", "p", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["state"] == state)
            .map(|c| c["id"].to_string())
            .collect()
    };
    let asked = in_state("awaiting-user");
    assert!(asked.len() >= 2, "{asked:?}");
    d.ok(&["candidates", "answer", &asked[0], "keep"]);
    assert!(in_state("awaiting-approval").contains(&asked[0]));
    d.ok(&["candidates", "approve", &asked[0]]);
    d.ok(&["candidates", "answer", &asked[1], "release"]);
    assert!(in_state("awaiting-revocation").contains(&asked[1]));
    d.ok(&["candidates", "reclaim", &asked[1]]);
    let done = d.json(&["candidates", "show", &asked[1], "--json"]);
    assert_eq!(done["state"], "closed-complete", "{done}");
    d.ok(&["run", "all", "--draft", "--profile", "p", "--dry-run"]);

    // The component the profile runs is the approved one (asked through the daemon).
    assert!(
        d.ok(&["plugin", "trust", "p"])
            .contains("already runs the approved component")
    );

    // Roles: a viewer reads but changes nothing; an approver cannot publish.
    let token_of = |role: &str| {
        let created = d.ok(&["tokens", "create", role, "--role", role]);
        created.lines().last().unwrap().trim().to_string()
    };
    let viewer = token_of("viewer");
    let approver = token_of("approver");
    let listed = cmd(d, Some(&viewer), &["profile", "list", "--json"])
        .output()
        .unwrap();
    assert!(listed.status.success());
    refused(d, &viewer, &["profile", "delete", "p", "--yes"]);
    refused(d, &viewer, &["jobs", "set", &job, "--active", "true"]);
    refused(d, &viewer, &["key", "rotate"]);
    refused(
        d,
        &viewer,
        &["run", "reclaim", "--draft", "--profile", "p", "--max", "1"],
    );
    refused(d, &viewer, &["profile", "limits", "p", "pages=10"]);
    refused(d, &approver, &["profile", "publish", "p"]);
    refused(d, &approver, &["groups", "remove", "p", "confluence-users"]);
    assert_eq!(
        selected(d),
        ["confluence-users"],
        "the refused removal changed nothing"
    );

    // The key: every secret re-sealed by the daemon, which still opens them.
    let rotated = d.ok(&["key", "rotate"]);
    assert!(
        rotated.contains("re-encrypted the secrets of 2 connection(s)"),
        "{rotated}"
    );
    assert_eq!(
        selected(d),
        ["confluence-users"],
        "the tokens open with the new key"
    );

    // Deleting.
    let deleted = d.ok(&["profile", "delete", "p", "--yes"]);
    assert!(deleted.contains("deleted profile `p`"), "{deleted}");
    let list: Value = d.json(&["profile", "list", "--json"]);
    assert!(
        !list.as_array().unwrap().iter().any(|p| p["name"] == "p"),
        "{list}"
    );
    let audit = d.json(&[
        "audit",
        "list",
        "--profile",
        "p",
        "--limit",
        "100",
        "--json",
    ]);
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| match &e["action"] {
            Value::String(s) => s.as_str(),
            // Actions with data are `{"name": data}`.
            other => other.as_object().unwrap().keys().next().unwrap().as_str(),
        })
        .collect();
    for action in [
        "profile-created",
        "connection-changed",
        "limits-changed",
        "profile-published",
        "profile-deleted",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    d.assert_held();
}

/// `sam connect p` against the simulator, the test playing the browser.
fn connect(d: &DaemonUnderTest, sim: &confluence_sim::SimHandle, redirect: &str) -> Output {
    let base = sim.base_url();
    let mut command = cmd(
        d,
        None,
        &[
            "connect",
            "p",
            "--client-id",
            sim.client_id(),
            "--client-secret-env",
            "SIM_SECRET",
            "--auth-base",
            &base,
            "--api-base",
            &base,
            "--redirect-uri",
            redirect,
            "--no-browser",
            "--timeout",
            "30",
        ],
    );
    command.env("SIM_SECRET", sim.client_secret());
    crate::admin::play_browser(command, consent)
}
