//! The CLI while `sam daemon` holds the database: the real binary, a real daemon on a
//! database `sam demo --reclaim` left, and commands that must behave as they do without a
//! daemon. While the daemon runs, the file is locked, so a command that succeeds was served
//! by the daemon's API; writes are audited with the daemon's local admin token as actor.
//! [`DaemonUnderTest`] is the harness other modules use for their commands.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use sam_engine::store::{OpenError, Store};
use serde_json::Value;

use crate::pipeline::sam_bin;

/// A demo database with a daemon holding it.
pub(crate) struct DaemonUnderTest {
    pub dir: tempfile::TempDir,
    pub addr: String,
    child: Child,
}

impl DaemonUnderTest {
    /// `sam demo --reclaim --users USERS --keep DIR`, then `sam daemon` on that database.
    pub(crate) fn start(users: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let demo = base(dir.path())
            .args(["demo", "--reclaim", "--users", &users.to_string(), "--keep"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            demo.status.success(),
            "{}",
            String::from_utf8_lossy(&demo.stderr)
        );
        let mut child = base(dir.path())
            .args(["daemon", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let runtime = sam_engine::daemon::http::runtime_file(&db(dir.path()));
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let addr = loop {
            if let Ok(text) = std::fs::read_to_string(&runtime)
                && !text.trim().is_empty()
            {
                break text.trim().to_string();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the daemon did not start"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "the daemon exited early"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Self { dir, addr, child }
    }

    /// The database file.
    pub(crate) fn db(&self) -> PathBuf {
        db(self.dir.path())
    }

    /// `sam ARGS` against the daemon's database.
    pub(crate) fn sam(&self, args: &[&str]) -> Output {
        base(self.dir.path()).args(args).output().unwrap()
    }

    /// `sam ARGS`, which must succeed; its stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.sam(args);
        assert!(
            out.status.success(),
            "sam {args:?} failed ({:?}):\n{}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `sam ARGS --json` (the args include it), parsed.
    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let text = self.ok(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("sam {args:?}: {e}\n{text}"))
    }

    /// A raw `GET path` to the daemon with its local admin token: the whole HTTP answer.
    pub(crate) fn http_get(&self, path: &str) -> String {
        use std::io::{Read, Write};
        let token =
            std::fs::read_to_string(sam_engine::app::tokens::token_file(&self.db())).unwrap();
        let mut stream = std::net::TcpStream::connect(&self.addr).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            self.addr,
            token.trim()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    /// The daemon holds the file: nothing else can open it (so what succeeded was served by
    /// the daemon).
    pub(crate) fn assert_held(&self) {
        assert!(
            matches!(Store::open(self.db()), Err(OpenError::InUse { .. })),
            "the daemon should hold the database"
        );
    }

    /// Stops the daemon (SIGTERM) and waits for it.
    pub(crate) fn stop(mut self) -> tempfile::TempDir {
        crate::daemon::signal(self.child.id(), "TERM");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status:?}");
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        std::mem::forget(self);
        dir
    }
}

impl Drop for DaemonUnderTest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn db(dir: &Path) -> PathBuf {
    dir.join("sam-demo.redb")
}

fn base(dir: &Path) -> Command {
    let mut cmd = Command::new(sam_bin());
    cmd.arg("--db")
        .arg(db(dir))
        .arg("--key-file")
        .arg(dir.join("key"))
        .arg("--cache-dir")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("admin-cache"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("SAM_LOG", "warn")
        .env_remove("SAM_KEY")
        .env_remove("SAM_CONFIG")
        .env_remove("SAM_TOKEN")
        .stdin(Stdio::null());
    cmd
}

#[test]
fn the_views_and_tokens_work_through_the_daemon() {
    let d = DaemonUnderTest::start(120);
    d.assert_held();
    // The token file is the owner's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let token = sam_engine::app::tokens::token_file(&d.db());
        let mode = std::fs::metadata(&token).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", token.display());
    }

    // The real daemon refuses a request without a token, and one for a foreign Host.
    for (host, expected) in [(d.addr.as_str(), "401"), ("attacker.example", "403")] {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&d.addr).unwrap();
        write!(
            stream,
            "GET /api/v1/subscriptions HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {expected}")),
            "{host}: {answer}"
        );
    }

    let subs = d.json(&["subscriptions", "list", "--json"]);
    let total = subs["total"].as_u64().unwrap();
    assert!(total > 0, "{subs}");
    // Each seat says where its holder's last activity comes from, and what kind it is.
    let rows = subs["subscriptions"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|s| s["activity_source"].is_string() && s["activity_kind"].is_string()),
        "{subs}"
    );
    let first = &subs["subscriptions"][0];
    let user = first["user"].as_str().unwrap().to_string();
    let seats = d.json(&["subscriptions", "show", &user, "--json"]);
    assert_eq!(seats["seats"][0]["user"], user.as_str(), "{seats}");
    let inactive = d.json(&["subscriptions", "list", "--inactive-for", "60", "--json"]);
    assert!(inactive["total"].as_u64().unwrap() <= total);
    let limited = d.json(&["subscriptions", "list", "--limit", "3", "--json"]);
    assert_eq!(limited["subscriptions"].as_array().unwrap().len(), 3);
    assert_eq!(limited["total"], total, "the limit keeps the total");
    let csv = d.ok(&["subscriptions", "list", "--csv"]);
    assert_eq!(
        csv.lines().count() as u64,
        total + 1,
        "a header and one row per seat"
    );

    let models = d.json(&["models", "list", "--json"]);
    let model = models["models"][0]["model"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    d.json(&["models", "show", &model, "--json"]);
    let identifiers = d.json(&["identifiers", "list", "--json"]);
    let first = &identifiers["identifiers"][0];
    let mapped = d.ok(&[
        "identifiers",
        "map",
        first["identifier"].as_str().unwrap(),
        &model,
        "--spoke",
        first["spoke_id"].as_str().unwrap(),
    ]);
    assert!(mapped.contains(&model), "{mapped}");
    // A backup while the daemon holds the file, made by the daemon.
    let copy = d.dir.path().join("copy.redb");
    d.ok(&["db", "backup", copy.to_str().unwrap()]);
    assert!(Store::open_read_only(&copy).is_ok(), "the backup opens");
    let unknown = d.sam(&["models", "show", "nobody/nothing"]);
    assert_eq!(
        unknown.status.code(),
        Some(2),
        "an unknown model is the caller's error"
    );

    // A write through the daemon: the audit log names the daemon's token as its actor.
    let created = d.ok(&["tokens", "create", "ci", "--role", "viewer"]);
    let token = created.lines().last().unwrap().trim().to_string();
    assert!(token.starts_with("sam_"), "{created}");
    let audit = d.json(&["audit", "list", "--limit", "1", "--json"]);
    let actor = audit["entries"][0]["actor"].as_str().unwrap();
    assert!(actor.contains("local-admin"), "{audit}");
    assert_eq!(audit["entries"][0]["action"], "token-created");
    // Times carry their zone: UTC, or the offset asked for.
    assert!(d.ok(&["audit", "list", "--limit", "1"]).contains(" UTC"));
    let shifted = d.ok(&["--tz", "+02:00", "audit", "list", "--limit", "1"]);
    assert!(shifted.contains(" +02:00"), "{shifted}");
    // A zone name from the tz database (`.ci/run` installs tzdata where it is missing): the
    // entry, written just now, is at Paris's winter or summer offset.
    let named = d.ok(&["--tz", "Europe/Paris", "audit", "list", "--limit", "1"]);
    assert!(
        named.contains(" +01:00") || named.contains(" +02:00"),
        "{named}"
    );
    assert_eq!(
        d.sam(&["--tz", "Mars/Olympus", "audit", "list"])
            .status
            .code(),
        Some(2)
    );
    // The config file's `tz` applies when no flag is given; `--tz` wins over it; `local` is
    // the machine's zone (`TZ` here: India has one offset all year); a bad zone in the file
    // is the caller's error, naming the file.
    let config = d.dir.path().join("tz.toml");
    let with_file = |tz: &str, args: &[&str]| {
        std::fs::write(&config, format!("tz = \"{tz}\"\n")).unwrap();
        base(d.dir.path())
            .env("TZ", "Asia/Kolkata")
            .arg("--config-file")
            .arg(&config)
            .args(args)
            .output()
            .unwrap()
    };
    let text = |out: &Output| String::from_utf8_lossy(&out.stdout).into_owned();
    let from_file = with_file("-03:00", &["audit", "list", "--limit", "1"]);
    assert!(text(&from_file).contains(" -03:00"), "{}", text(&from_file));
    let flag_wins = with_file("-03:00", &["--tz", "UTC", "audit", "list", "--limit", "1"]);
    assert!(text(&flag_wins).contains(" UTC"), "{}", text(&flag_wins));
    let local = with_file("local", &["audit", "list", "--limit", "1"]);
    assert!(text(&local).contains(" +05:30"), "{}", text(&local));
    let bad = with_file("Mars/Olympus", &["audit", "list"]);
    assert_eq!(bad.status.code(), Some(2));
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(
        said.contains("tz in ") && said.contains("tz.toml"),
        "{said}"
    );
    let seq = audit["entries"][0]["seq"].to_string();
    let entry = d.json(&["audit", "show", &seq, "--json"]);
    assert_eq!(entry["action"], "token-created", "{entry}");

    // The viewer token reads but cannot create tokens or run anything.
    let as_viewer = |args: &[&str]| {
        base(d.dir.path())
            .env("SAM_TOKEN", &token)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(as_viewer(&["subscriptions", "list"]).status.success());
    let refused = as_viewer(&["tokens", "create", "mine", "--role", "admin"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("admin role"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let id = token.split('_').nth(1).unwrap();
    d.ok(&["tokens", "revoke", id]);
    let revoked = as_viewer(&["subscriptions", "list"]);
    assert_eq!(revoked.status.code(), Some(2), "a revoked token is refused");

    // Issue 24: /metrics gives the license position by the figures `sam position` prints.
    let positions = d.json(&["position", "--json"]);
    let metrics = d.http_get("/metrics");
    let gauge = |name: &str, model: &str| -> Option<u64> {
        let prefix = format!("{name}{{model=\"{model}\"");
        metrics
            .lines()
            .find(|l| l.starts_with(&prefix))
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
    };
    let positions = positions.as_array().unwrap();
    assert!(!positions.is_empty(), "the demo reconciled");
    for r in positions {
        let model = r["model"].as_str().unwrap();
        let p = &r["position"];
        let field = |f: &str| p[f].as_u64();
        let used = field("rights_used").unwrap();
        let excluded = field("excluded").unwrap();
        let inactive = field("inactive").unwrap();
        assert_eq!(gauge("sam_license_used", model), Some(used), "{metrics}");
        assert_eq!(gauge("sam_license_held", model), Some(used + excluded));
        assert_eq!(gauge("sam_license_active", model), Some(used - inactive));
        assert_eq!(gauge("sam_license_inactive", model), Some(inactive));
        assert_eq!(gauge("sam_license_excluded", model), Some(excluded));
        assert_eq!(gauge("sam_license_owned", model), field("rights_owned"));
        assert_eq!(
            gauge("sam_license_over_licensed", model),
            p["rights_available"].as_i64().map(|a| a.max(0) as u64)
        );
        assert_eq!(
            gauge("sam_license_under_licensed", model),
            field("unlicensed")
        );
        assert_eq!(
            gauge("sam_license_potential_savings_minor", model),
            field("potential_savings_minor")
        );
    }
    d.assert_held();
    d.stop();
}
