//! sam in scripts, through the real binary: a closed pipe ends quietly with success, the
//! completion script of every shell generates (and survives a closed pipe), every list
//! prints CSV that parses, JSON speaks the flags' vocabulary (`awaiting-user`,
//! `download-subscriptions`), unknown values are errors (exit 2), `candidates list` limits,
//! sorts and filters by user, a run's report shows its first rows and counts the rest, and a
//! failed job's error is in the text view. The database comes from `sam demo --reclaim`.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use sam_engine::model::{CandidateState, JobResult, JobStatus, JobTrigger, ProcessKind};
use sam_engine::store::Store;
use serde_json::Value;

use crate::pipeline::sam_bin;

/// `sam` with the files of `dir` (the demo keeps its database and key there).
fn sam(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(sam_bin());
    cmd.arg("--db")
        .arg(dir.join("sam-demo.redb"))
        .arg("--key-file")
        .arg(dir.join("key"))
        .arg("--cache-dir")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("admin-cache"))
        .args(args)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("SAM_LOG", "warn")
        .env_remove("SAM_KEY")
        .env_remove("SAM_CONFIG")
        .stdin(Stdio::null());
    cmd
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = sam(dir, args).output().unwrap();
    assert!(
        out.status.success(),
        "sam {args:?} failed ({:?}):\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(dir: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&ok(dir, args)).unwrap()
}

/// Runs `sam` with its stdout a pipe whose reading end is closed before sam writes.
fn with_closed_pipe(dir: &Path, args: &[&str]) -> Output {
    let mut child = sam(dir, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

fn assert_quiet_success(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{what}: {stderr}");
    assert!(stderr.trim().is_empty(), "{what}: {stderr}");
}

#[test]
fn a_closed_pipe_ends_quietly_with_success() {
    let dir = tempfile::tempdir().unwrap();
    let out = with_closed_pipe(dir.path(), &["config"]);
    assert_quiet_success(&out, "sam config | (closed)");
}

#[test]
fn every_shell_gets_a_completion_script_and_none_panics_on_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = ok(dir.path(), &["completions", shell]);
        assert!(
            script.contains("sam") && script.contains("candidates"),
            "{shell}: {script}"
        );
        let out = with_closed_pipe(dir.path(), &["completions", shell]);
        assert_quiet_success(&out, shell);
    }
}

/// The rows of a CSV text: the header first.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    let width = rows[0].len();
    assert!(rows.iter().all(|r| r.len() == width), "ragged CSV: {text}");
    rows
}

/// A kept `sam demo --reclaim` (300 users): a published profile, its jobs and runs, an
/// entitlement, rules, positions and candidates in several states.
fn demo() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().to_str().unwrap().to_string();
    let output = ok(
        dir.path(),
        &["demo", "--users", "300", "--reclaim", "--keep", &keep],
    );
    (dir, output)
}

#[test]
fn lists_speak_one_vocabulary_in_json_csv_and_text() {
    let (dir, demo_output) = demo();
    let dir = dir.path();

    // A run's report shows its first 20 rows and counts the rest.
    let report = demo_output
        .split("$ sam run reclaim")
        .nth(1)
        .and_then(|s| s.split("$ sam").next())
        .unwrap();
    let rows = report.lines().filter(|l| l.starts_with('│')).count();
    assert!(rows <= 21, "a header and at most 20 rows: {report}");
    assert!(report.contains("... and "), "{report}");

    // JSON names are the flags' names.
    let all = json(dir, &["candidates", "list", "--all", "--json"]);
    let all = all.as_array().unwrap();
    assert!(all.len() > 20, "{all:?}");
    for c in all {
        let state = c["state"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                c["state"]
                    .as_object()
                    .map(|o| o.keys().next().unwrap().clone())
            })
            .unwrap();
        assert!(CandidateState::KEYS.contains(&state.as_str()), "{c}");
    }
    assert!(all.iter().any(|c| c["state"] == "closed-complete"));
    let jobs = json(dir, &["jobs", "list", "--json"]);
    assert!(
        jobs.as_array()
            .unwrap()
            .iter()
            .any(|j| j["process"] == "download-subscriptions"),
        "{jobs}"
    );
    let shown = json(dir, &["profile", "show", "demo", "--json"]);
    assert_eq!(shown["profile"]["status"], "published", "{shown}");
    // ... and the flag takes them.
    let closed = json(
        dir,
        &["candidates", "list", "--state", "closed-complete", "--json"],
    );
    assert!(!closed.as_array().unwrap().is_empty());

    // Unknown values are errors, not empty lists.
    for args in [
        &["candidates", "list", "--state", "bogus"][..],
        &["candidates", "list", "--sort", "bogus"],
        &["candidates", "list", "--state", "AwaitingUser"],
    ] {
        let out = sam(dir, args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }

    // Limit, sort and user.
    let oldest = json(
        dir,
        &[
            "candidates",
            "list",
            "--all",
            "--sort",
            "last-activity",
            "--limit",
            "5",
            "--json",
        ],
    );
    let oldest = oldest.as_array().unwrap();
    assert_eq!(oldest.len(), 5);
    let times: Vec<Option<i64>> = oldest.iter().map(|c| c["last_activity"].as_i64()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let user = all[7]["external_user_id"].as_str().unwrap();
    let mine = json(
        dir,
        &["candidates", "list", "--all", "--user", user, "--json"],
    );
    let mine = mine.as_array().unwrap();
    assert!(!mine.is_empty() && mine.iter().all(|c| c["external_user_id"] == user));
    let text = ok(dir, &["candidates", "list", "--all", "--limit", "3"]);
    assert!(
        text.contains(&format!("3 of {} candidates", all.len())),
        "{text}"
    );
    let by_user = json(
        dir,
        &["candidates", "list", "--all", "--sort", "user", "--json"],
    );
    let users: Vec<&str> = by_user
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["external_user_id"].as_str().unwrap())
        .collect();
    assert!(users.windows(2).all(|w| w[0] <= w[1]));

    // CSV on every list, parsed by a CSV reader.
    let candidates = csv_rows(&ok(dir, &["candidates", "list", "--all", "--csv"]));
    assert_eq!(candidates[0][0], "Id");
    assert_eq!(candidates.len(), all.len() + 1);
    for (args, first) in [
        (&["profile", "list", "--csv"][..], "Name"),
        (&["jobs", "list", "--csv"], "Name"),
        (&["entitlements", "list", "--csv"], "Id"),
        (&["position", "--csv"], "Model"),
        (&["rules", "show", "--csv"], "Model"),
        (&["exclusions", "list", "--csv"], "Id"),
        (&["plugin", "list", "--csv"], "Spoke"),
    ] {
        let rows = csv_rows(&ok(dir, args));
        assert_eq!(rows[0][0], first, "{args:?}");
        if args[0] != "exclusions" {
            assert!(rows.len() > 1, "{args:?}: {rows:?}");
        }
    }

    // A failed job's error is in the text view.
    let job_name = "SAM - Refresh Confluence Demo Subscriptions";
    {
        let store = Store::open(dir.join("sam-demo.redb")).unwrap();
        store
            .write(|tx| {
                tx.put_job_result(&JobResult {
                    id: 1_000_000,
                    profile: "demo".into(),
                    process: ProcessKind::DownloadSubscriptions,
                    trigger: JobTrigger::Schedule,
                    started_at: 1_700_000_000,
                    ended_at: Some(1_700_000_100),
                    status: JobStatus::Failed,
                    attempts: 1,
                    pages: 0,
                    records_seen: 0,
                    upserted: 0,
                    ended: 0,
                    api_calls: 1,
                    retries: 0,
                    errors: vec!["the vendor said 401: token revoked".into()],
                })
            })
            .unwrap();
    }
    let shown = ok(dir, &["jobs", "show", job_name]);
    assert!(shown.contains("schedule failed"), "{shown}");
    assert!(
        shown.contains("error: the vendor said 401: token revoked"),
        "{shown}"
    );
    let profile = ok(dir, &["profile", "show", "demo"]);
    assert!(profile.contains("token revoked"), "{profile}");
}
