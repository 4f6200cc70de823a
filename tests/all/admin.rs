//! The admin path through the real `sam` binary against the Confluence simulator, as the
//! reference guide walks it: create a profile (Draft), see its alias and scopes, connect it
//! through the real OAuth 2.0 (3LO) flow (the test plays the browser: it GETs the printed
//! authorize URL and follows the redirect to sam's loopback listener), list and select
//! groups, validate, publish (models, rules, jobs), run download while the access token
//! expires and the refresh token rotates mid-run, run activity on the rotated token, the
//! status rules (clearing activity after publishing returns to Draft and deletes the activity
//! job), and delete. Also: `sam demo` runs the whole path on its own.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use confluence_sim::{Endpoint, RateLimitConfig, SimConfig, SimHandle, Simulator};
use sam_engine::store::Store;
use serde_json::Value;

use crate::pipeline::sam_bin;

/// One admin's machine: a database, a key file and a config folder of its own.
pub struct Admin {
    pub dir: tempfile::TempDir,
}

impl Admin {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("sam.redb")
    }

    /// `sam` with this admin's files; the compiled spoke is cached across tests.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(sam_bin());
        cmd.arg("--db")
            .arg(self.db())
            .arg("--key-file")
            .arg(self.dir.path().join("key"))
            .arg("--cache-dir")
            .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("admin-cache"))
            .args(args)
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("SAM_LOG", "warn")
            .env("SAM_NO_BROWSER", "1")
            .env_remove("SAM_KEY")
            .env_remove("SAM_CONFIG")
            .env_remove("SAM_REDIRECT_URI")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "sam {args:?} failed ({:?}):\n{}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and asserts a one-line error with exit code `code`; returns the line.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        one_line_error(&out, code, args)
    }

    pub fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// `sam connect` with the simulator standing in for Atlassian, the secret in
    /// $SIM_SECRET; `browser` plays the browser with the printed URL.
    pub fn connect(
        &self,
        sim: &SimHandle,
        profile: &str,
        redirect: &str,
        secret: &str,
        extra: &[&str],
        browser: impl FnOnce(&str),
    ) -> Output {
        let base = sim.base_url();
        let mut args = vec![
            "connect",
            profile,
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
        ];
        args.extend_from_slice(extra);
        let mut cmd = self.cmd(&args);
        cmd.env("SIM_SECRET", secret);
        play_browser(cmd, browser)
    }
}

/// Asserts that `out` failed with `code` and exactly one `error:` line on stderr.
pub fn one_line_error(out: &Output, code: i32, what: &(impl std::fmt::Debug + ?Sized)) -> String {
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what:?}: stdout {} stderr {err}",
        String::from_utf8_lossy(&out.stdout)
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what:?}: not one line: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    lines[0].to_string()
}

/// A free loopback port (for a callback URL).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A simulator whose OAuth app has `redirect` registered.
pub async fn sim_with(
    redirect: &str,
    users: usize,
    extra: impl FnOnce(&mut SimConfig),
) -> SimHandle {
    let mut cfg = SimConfig {
        users,
        seed: 21,
        redirect_uris: vec![redirect.to_string()],
        rate_limit: RateLimitConfig::unlimited(),
        ..SimConfig::default()
    };
    extra(&mut cfg);
    Simulator::start(cfg).await.unwrap()
}

/// Plays a browser that consents: GET the URL, following the redirect to the listener.
pub fn consent(url: &str) {
    let url = url.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let _ = reqwest::get(&url).await;
        });
    })
    .join()
    .unwrap();
}

/// The authorize URL's redirect target, without following it (the code and state).
pub fn redirect_location(url: &str) -> String {
    let url = url.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let r = client.get(&url).send().await.unwrap();
            r.headers()["location"].to_str().unwrap().to_string()
        })
    })
    .join()
    .unwrap()
}

/// Runs blocking work (a child process) off the runtime's workers.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn job_names(admin: &Admin) -> Vec<String> {
    let jobs = admin.json(&["jobs", "list", "--json"]);
    let mut names: Vec<String> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_path_end_to_end_with_token_expiry_and_rotation_mid_run() {
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let sim = Arc::new(sim_with(&redirect, 1_500, |_| {}).await);
    let admin = Arc::new(Admin::new());

    // Create: Draft, all processes, the guide's alias and the exact scopes.
    let a = admin.clone();
    let out = blocking(move || {
        a.ok(&[
            "profile",
            "create",
            "acme",
            "--spoke",
            "confluence-cloud",
            "--display-name",
            "Acme Confluence",
        ])
    })
    .await;
    assert!(out.contains("Draft"), "{out}");
    let a = admin.clone();
    let show = blocking(move || a.ok(&["profile", "show", "acme"])).await;
    assert!(
        show.contains("confluence-cloud.subscription_activity_reclaim.acme"),
        "{show}"
    );
    assert!(
        show.contains("read:confluence-groups read:confluence-user search:confluence write:confluence-groups offline_access"),
        "{show}"
    );

    // Not connected yet: validate says what to do.
    let a = admin.clone();
    let err = blocking(move || a.fails(&["profile", "validate", "acme"], 2)).await;
    assert!(err.contains("sam connect acme"), "{err}");

    // Connect through the real flow.
    let (a, s, r) = (admin.clone(), sim.clone(), redirect.clone());
    let secret = sim.client_secret().to_string();
    let out = blocking(move || a.connect(&s, "acme", &r, &secret, &[], consent)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("connected profile `acme`"), "{stdout}");
    assert!(stdout.contains(sim.cloud_id()), "{stdout}");
    assert!(stdout.contains("prompt=consent") && stdout.contains("audience=api.atlassian.com"));

    // The secrets are not in the database in the clear.
    {
        let bytes = std::fs::read(admin.db()).unwrap();
        let needle = sim.client_secret().as_bytes();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
    }

    // Groups: list through the spoke, select the product-access group.
    let a = admin.clone();
    let groups = blocking(move || a.json(&["groups", "list", "acme", "--json"])).await;
    assert!(
        groups
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "confluence-users" && g["selected"] == false)
    );
    let a = admin.clone();
    blocking(move || a.ok(&["groups", "add", "acme", "confluence-users"])).await;

    // Publish needs validation first.
    let a = admin.clone();
    let err = blocking(move || a.fails(&["profile", "publish", "acme"], 2)).await;
    assert!(err.contains("sam profile validate acme"), "{err}");
    let a = admin.clone();
    let out = blocking(move || a.ok(&["profile", "validate", "acme"])).await;
    assert!(
        out.contains("Pull user activity") && out.contains("OK"),
        "{out}"
    );
    let a = admin.clone();
    let out = blocking(move || a.ok(&["profile", "publish", "acme"])).await;
    assert!(out.contains("atlassian/confluence"), "{out}");
    assert_eq!(
        job_names(&admin),
        [
            "SAM - Reconcile Acme Confluence Licenses",
            "SAM - Refresh Acme Confluence Activity",
            "SAM - Refresh Acme Confluence Subscriptions",
            "SAM - Updating Existing Reclamation Candidates (Acme Confluence)",
        ]
    );
    let a = admin.clone();
    let err = blocking(move || a.fails(&["profile", "publish", "acme"], 2)).await;
    assert!(err.contains("already Published"), "{err}");

    // Download while tokens expire: a 1 s lifetime for new tokens, slow member pages, and the
    // vendor's clock jumping two hours once the run is under way (the stored token is then
    // refused with 401: refresh once and retry); the rotated refresh token must be the one
    // persisted, or the next command could not refresh.
    sim.set_access_token_ttl(Duration::from_secs(1));
    sim.set_latency(Endpoint::GroupMembers, Duration::from_millis(350));
    let tokens_before = sim.calls_to(Endpoint::Token);
    let done = Arc::new(AtomicBool::new(false));
    let jumper = {
        let (sim, done) = (sim.clone(), done.clone());
        tokio::spawn(async move {
            while sim.calls_to(Endpoint::GroupMembers) < 2 && !done.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            sim.clock().advance(Duration::from_secs(2 * 3600));
        })
    };
    let a = admin.clone();
    let job =
        blocking(move || a.json(&["run", "download", "--draft", "--profile", "acme", "--json"]))
            .await;
    done.store(true, Ordering::SeqCst);
    jumper.await.unwrap();
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(job["records_seen"].as_u64().unwrap() > 1_000, "{job}");
    let refreshes = sim.calls_to(Endpoint::Token) - tokens_before;
    assert!(
        refreshes >= 2,
        "expected refreshes mid-run, saw {refreshes}"
    );
    let a = admin.clone();
    let shown = blocking(move || a.json(&["profile", "show", "acme", "--json"])).await;
    assert!(
        shown["oauth"]["refresh_count"].as_u64().unwrap() >= 2,
        "{shown}"
    );
    sim.set_latency(Endpoint::GroupMembers, Duration::ZERO);
    sim.set_access_token_ttl(Duration::from_secs(3600));
    let a = admin.clone();
    let job =
        blocking(move || a.json(&["run", "activity", "--draft", "--profile", "acme", "--json"]))
            .await;
    assert_eq!(job["status"], "succeeded", "{job}");

    // Clearing activity after publishing: Draft, no activity job, validate again.
    let a = admin.clone();
    let out = blocking(move || a.ok(&["profile", "set", "acme", "--activity", "off"])).await;
    assert!(out.contains("Draft again"), "{out}");
    assert_eq!(
        job_names(&admin),
        [
            "SAM - Reconcile Acme Confluence Licenses",
            "SAM - Refresh Acme Confluence Subscriptions",
            "SAM - Updating Existing Reclamation Candidates (Acme Confluence)",
        ]
    );
    let a = admin.clone();
    let shown = blocking(move || a.json(&["profile", "show", "acme", "--json"])).await;
    assert_eq!(shown["profile"]["status"], "draft");
    assert_eq!(
        shown["alias"]["child"],
        "confluence-cloud.subscription_reclaim.acme"
    );
    assert_eq!(
        shown["scopes"],
        serde_json::json!([
            "read:confluence-groups",
            "read:confluence-user",
            "write:confluence-groups",
            "offline_access"
        ])
    );
    let a = admin.clone();
    let err = blocking(move || a.fails(&["profile", "publish", "acme"], 2)).await;
    assert!(err.contains("not validated"), "{err}");
    let a = admin.clone();
    let err =
        blocking(move || a.fails(&["run", "activity", "--draft", "--profile", "acme"], 2)).await;
    assert!(err.contains("does not enable activity"), "{err}");
    let a = admin.clone();
    blocking(move || a.ok(&["profile", "validate", "acme"])).await;
    let a = admin.clone();
    blocking(move || a.ok(&["profile", "publish", "acme"])).await;

    // Delete: confirmation needed without a terminal; then subscriptions and jobs go, rules stay.
    let a = admin.clone();
    let err = blocking(move || a.fails(&["profile", "delete", "acme"], 2)).await;
    assert!(err.contains("--yes"), "{err}");
    let a = admin.clone();
    let out = blocking(move || a.ok(&["profile", "delete", "acme", "--yes"])).await;
    assert!(out.contains("deleted profile `acme`"), "{out}");
    assert!(job_names(&admin).is_empty());
    let a = admin.clone();
    let list = blocking(move || a.json(&["profile", "list", "--json"])).await;
    assert_eq!(list, serde_json::json!([]));
    let store = Store::open(admin.db()).unwrap();
    let read = store.read().unwrap();
    assert!(read.subscriptions("acme").unwrap().is_empty());
    assert!(read.activities("acme").unwrap().is_empty());
    assert!(
        read.rule("atlassian/confluence").unwrap().is_some(),
        "rules are kept"
    );
}

#[test]
fn sam_demo_runs_the_whole_path_on_its_own_and_its_numbers_agree() {
    demo_numbers_agree(
        &[],
        "atlassian/confluence",
        &[
            "connected profile `demo`",
            "SAM - Refresh Confluence Demo Subscriptions",
        ],
    );
}

/// `sam demo --spoke github-copilot`: the GitHub App profile, seats with their activity on
/// the same pages, and the same agreement of every printed figure.
#[test]
fn the_github_demo_runs_the_whole_path_and_its_numbers_agree() {
    demo_numbers_agree(
        &["--spoke", "github-copilot"],
        "github/github copilot/business",
        &[
            "authenticated as the GitHub App",
            "SAM - Refresh GitHub Copilot Demo Subscriptions",
            "API calls 0",
        ],
    );
}

/// Runs `sam demo ARGS --users 300 --reclaim` and checks that each figure it printed is the
/// one `position` and `candidates list` give for `model`, by the same definition (issue 24).
fn demo_numbers_agree(args: &[&str], model: &str, steps: &[&str]) {
    let admin = Admin::new();
    let keep = tempfile::tempdir().unwrap();
    let mut argv = vec!["demo", "--users", "300", "--reclaim", "--keep"];
    argv.push(keep.path().to_str().unwrap());
    argv.extend_from_slice(args);
    let out = admin.ok(&argv);
    for step in [
        "validated",
        "published profile `demo`",
        "succeeded",
        "first open removal candidates",
    ]
    .iter()
    .chain(steps)
    {
        assert!(out.contains(step), "missing {step:?} in:\n{out}");
    }
    assert!(
        !admin.db().exists(),
        "the demo never touches the admin's database"
    );

    // Issue 24: every figure the demo printed is the one `position` and `candidates list`
    // give, by the same definition.
    let db = keep.path().join("sam-demo.redb");
    let on_demo = |args: &[&str]| -> Value {
        let out = Command::new(sam_bin())
            .arg("--db")
            .arg(&db)
            .arg("--key-file")
            .arg(keep.path().join("key"))
            .args(args)
            .env("SAM_LOG", "warn")
            .env_remove("SAM_KEY")
            .env_remove("SAM_CONFIG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let positions = on_demo(&["position", "--json"]);
    let candidates = on_demo(&["candidates", "list", "--all", "--json"]);
    let number_after = |text: &str, marker: &str| -> u64 {
        let at = text
            .find(marker)
            .unwrap_or_else(|| panic!("no {marker:?} in:\n{text}"));
        let digits: String = text[..at]
            .chars()
            .rev()
            .skip_while(|c| *c == ' ')
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        digits.parse().unwrap()
    };
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{model}: ")))
        .expect("the model's line");
    let p = &positions
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["model"] == model)
        .unwrap()["position"];
    let (used, inactive, excluded) = (
        p["rights_used"].as_u64().unwrap(),
        p["inactive"].as_u64().unwrap(),
        p["excluded"].as_u64().unwrap(),
    );
    assert_eq!(number_after(line, " holders"), used + excluded, "{line}");
    assert_eq!(number_after(line, " using a right"), used, "{line}");
    assert_eq!(number_after(line, " active,"), used - inactive, "{line}");
    assert_eq!(number_after(line, " inactive:"), inactive, "{line}");
    assert_eq!(number_after(line, " excluded"), excluded, "{line}");
    let list = candidates.as_array().unwrap();
    let open = list
        .iter()
        .filter(|c| !c["state"].as_str().unwrap().starts_with("closed"))
        .count() as u64;
    let line = out
        .lines()
        .find(|l| l.starts_with("removal candidates"))
        .expect("the candidates line");
    assert_eq!(number_after(line, " open"), open, "{line}");
    // The open candidates are the inactive holders less those a rule never proposes (apps,
    // seats the vendor already cancelled, reclamation exclusions), as the model's line says.
    let model_line = out
        .lines()
        .find(|l| l.starts_with(&format!("{model}: ")))
        .unwrap();
    let kept_out = if model_line.contains(" of them kept out of reclaim") {
        number_after(model_line, " of them kept out of reclaim")
    } else {
        0
    };
    assert_eq!(open, inactive - kept_out, "{model_line}");
    // The reclaim run said the same of the seats it kept out.
    let run_kept_out = out
        .lines()
        .find(|l| l.contains(" unused seats kept out of reclaim"))
        .map_or(0, |l| number_after(l, " unused seats kept out of reclaim"));
    assert_eq!(run_kept_out, kept_out, "{out}");
    assert_eq!(number_after(line, " in all"), list.len() as u64, "{line}");
    // The reclaim's own summary: what it created is every candidate (the first run), what
    // it reclaimed is every closed-complete one.
    let reclaim = out
        .lines()
        .find(|l| l.trim_start().starts_with("candidates: "))
        .expect("the reclaim's candidates line");
    assert_eq!(
        number_after(reclaim, " created"),
        list.len() as u64,
        "{reclaim}"
    );
    let reclaimed = out
        .lines()
        .find(|l| l.trim_start().starts_with("reclaimed "))
        .expect("the reclaim's result line");
    let done = list
        .iter()
        .filter(|c| c["state"] == "closed-complete")
        .count() as u64;
    assert_eq!(number_after(reclaimed, " seats"), done, "{reclaimed}");
    // A holder counts once: no more inactive than used, no more excluded than held.
    assert!(inactive <= used);
}

#[test]
fn completions_and_plugin_list_and_config() {
    let admin = Admin::new();
    let bash = admin.ok(&["completions", "bash"]);
    assert!(
        bash.contains("_sam()") || bash.contains("complete"),
        "{bash}"
    );
    let plugins = admin.json(&["plugin", "list", "--json"]);
    assert!(
        plugins
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "confluence-cloud" && p["source"] == "bundled"),
        "{plugins}"
    );
    let config = admin.ok(&["config"]);
    assert!(
        config.contains(&admin.db().display().to_string()),
        "{config}"
    );
}

/// Runs a `sam connect` command, playing the browser with the authorize URL it prints;
/// returns its output with everything it printed.
pub(crate) fn play_browser(mut cmd: Command, browser: impl FnOnce(&str)) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
        if line.starts_with("http") && line.contains("/authorize?") {
            browser(line.trim());
            break;
        }
    }
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let mut out = child.wait_with_output().unwrap();
    seen.push_str(&rest);
    out.stdout = seen.into_bytes();
    out
}
