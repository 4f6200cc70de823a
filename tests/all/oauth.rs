//! Bad input on the admin path, through the `sam` binary against the simulator: a wrong
//! client secret, denied consent, a state mismatch, an expired code, a callback port already
//! taken, a site the token cannot reach, several sites without `--site`, an unknown spoke,
//! and a refresh token the vendor refuses (the connection is then marked "re-consent
//! needed"). Each gets a one-line error saying what to do, and leaves nothing half-written.

use std::sync::Arc;
use std::time::Duration;

use confluence_sim::{SimHandle, SiteConfig};
use serde_json::Value;

use crate::admin::{
    Admin, blocking, consent, free_port, one_line_error, redirect_location, sim_with,
};

/// A profile `p` created on a fresh admin.
async fn admin_with_profile() -> Arc<Admin> {
    let admin = Arc::new(Admin::new());
    let a = admin.clone();
    blocking(move || a.ok(&["profile", "create", "p", "--spoke", "confluence-cloud"])).await;
    admin
}

async fn oauth_state(admin: &Arc<Admin>) -> Value {
    let a = admin.clone();
    blocking(move || a.json(&["profile", "show", "p", "--json"])).await["oauth"].clone()
}

async fn connect(
    admin: &Arc<Admin>,
    sim: &Arc<SimHandle>,
    redirect: &str,
    secret: &str,
    extra: &'static [&'static str],
    browser: fn(&str),
) -> std::process::Output {
    let (a, s, r, secret) = (
        admin.clone(),
        sim.clone(),
        redirect.to_string(),
        secret.to_string(),
    );
    blocking(move || a.connect(&s, "p", &r, &secret, extra, browser)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_secret_denied_consent_and_a_taken_port_write_nothing() {
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let sim = Arc::new(sim_with(&redirect, 50, |_| {}).await);
    let admin = admin_with_profile().await;

    let out = connect(&admin, &sim, &redirect, "not-the-secret", &[], consent).await;
    let err = one_line_error(&out, 2, &"wrong secret");
    assert!(err.contains("refused the OAuth client"), "{err}");
    assert!(err.contains("--client-secret-env"), "{err}");
    assert_eq!(oauth_state(&admin).await, Value::Null, "nothing written");

    sim.set_deny_consent(true);
    let secret = sim.client_secret().to_string();
    let out = connect(&admin, &sim, &redirect, &secret, &[], consent).await;
    let err = one_line_error(&out, 2, &"denied");
    assert!(err.contains("consent was denied (access_denied"), "{err}");
    assert_eq!(oauth_state(&admin).await, Value::Null);
    sim.set_deny_consent(false);

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = format!(
        "http://127.0.0.1:{}/callback",
        taken.local_addr().unwrap().port()
    );
    let out = connect(&admin, &sim, &busy, &secret, &[], consent).await;
    let err = one_line_error(&out, 2, &"port taken");
    assert!(
        err.contains("already in use") && err.contains("--redirect-uri"),
        "{err}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("/authorize?"),
        "the port is checked before the URL is printed"
    );
    assert_eq!(oauth_state(&admin).await, Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_url_with_a_wrong_state_or_an_expired_code_is_refused() {
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let sim = Arc::new(sim_with(&redirect, 50, |_| {}).await);
    let admin = admin_with_profile().await;
    let secret = sim.client_secret().to_string();

    // Headless: print the URL, keep the state, finish later with --code.
    fn no_browser(_: &str) {}
    let out = connect(
        &admin,
        &sim,
        &redirect,
        &secret,
        &["--no-listen"],
        no_browser,
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("--code"), "{stdout}");
    let url = stdout
        .lines()
        .find(|l| l.contains("/authorize?"))
        .unwrap()
        .to_string();
    let location = redirect_location(&url);
    assert!(location.contains("code=") && location.contains("state="));
    let forged = {
        let start = location.find("state=").unwrap() + "state=".len();
        let end = location[start..]
            .find('&')
            .map_or(location.len(), |e| start + e);
        format!("{}forged{}", &location[..start], &location[end..])
    };
    let a = admin.clone();
    let err = blocking(move || {
        a.fails(
            &[
                "connect",
                "p",
                "--code",
                &forged,
                "--redirect-uri",
                &format!("http://127.0.0.1:{port}/callback"),
            ],
            2,
        )
    })
    .await;
    assert!(err.contains("state does not match"), "{err}");
    assert_eq!(oauth_state(&admin).await["status"], "not-connected");

    // The right state, but the code is older than its 10 minutes.
    sim.clock().advance(Duration::from_secs(11 * 60));
    let a = admin.clone();
    let err = blocking(move || {
        a.fails(
            &[
                "connect",
                "p",
                "--code",
                &location,
                "--redirect-uri",
                &format!("http://127.0.0.1:{port}/callback"),
            ],
            2,
        )
    })
    .await;
    assert!(err.contains("authorization code was refused"), "{err}");
    assert_eq!(oauth_state(&admin).await["status"], "not-connected");

    // A fresh consent, pasted in time, connects.
    let out = connect(
        &admin,
        &sim,
        &redirect,
        &secret,
        &["--no-listen"],
        no_browser,
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let url = stdout
        .lines()
        .find(|l| l.contains("/authorize?"))
        .unwrap()
        .to_string();
    let location = redirect_location(&url);
    let a = admin.clone();
    let out = blocking(move || a.ok(&["connect", "p", "--code", &location])).await;
    assert!(out.contains("connected profile `p`"), "{out}");
    assert_eq!(oauth_state(&admin).await["status"], "connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sites_the_token_cannot_reach_and_several_sites_need_a_choice() {
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let sim = Arc::new(
        sim_with(&redirect, 50, |c| {
            c.extra_sites = vec![SiteConfig {
                cloud_id: "11111111-2222-3333-4444-555555555555".into(),
                url: "https://second.atlassian.net".into(),
                name: "second".into(),
            }];
        })
        .await,
    );
    let admin = admin_with_profile().await;
    let secret = sim.client_secret().to_string();

    let out = connect(&admin, &sim, &redirect, &secret, &[], consent).await;
    let err = one_line_error(&out, 2, &"several sites");
    assert!(
        err.contains("several sites") && err.contains("--site"),
        "{err}"
    );
    assert_eq!(oauth_state(&admin).await, Value::Null);

    let out = connect(
        &admin,
        &sim,
        &redirect,
        &secret,
        &["--site", "https://elsewhere.atlassian.net"],
        consent,
    )
    .await;
    let err = one_line_error(&out, 2, &"unreachable site");
    assert!(
        err.contains("cannot reach site https://elsewhere.atlassian.net"),
        "{err}"
    );
    assert!(err.contains("sam-sim.atlassian.net"), "{err}");
    assert_eq!(oauth_state(&admin).await, Value::Null);

    let out = connect(
        &admin,
        &sim,
        &redirect,
        &secret,
        &["--site", "https://sam-sim.atlassian.net/"],
        consent,
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(oauth_state(&admin).await["site"]["id"], sim.cloud_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_marks_the_connection_re_consent_needed() {
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let sim = Arc::new(sim_with(&redirect, 50, |_| {}).await);
    let admin = admin_with_profile().await;
    let secret = sim.client_secret().to_string();
    let out = connect(&admin, &sim, &redirect, &secret, &[], consent).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = admin.clone();
    blocking(move || a.ok(&["groups", "add", "p", "confluence-users"])).await;

    // 91 days later the refresh token has died of inactivity.
    sim.clock().advance(Duration::from_secs(91 * 86_400));
    let a = admin.clone();
    let out = blocking(move || a.run(&["run", "download", "--draft", "--profile", "p"])).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    // Said once, as what it is (the error line; the HTTP gate also logs the refusal).
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    assert_eq!(line.matches("sam connect p").count(), 1, "{err}");
    assert_eq!(line.matches("refresh token").count(), 1, "{err}");
    assert!(
        line.contains("rotated or revoked while sam was stopped"),
        "{err}"
    );
    assert!(!line.contains("invalid config"), "{err}");
    let state = oauth_state(&admin).await;
    assert!(
        state["status"]["reconsent-needed"]
            .as_str()
            .is_some_and(|s| s.contains("refresh_token is invalid")),
        "{state}"
    );
    // Every later command says so at once.
    let a = admin.clone();
    let err = blocking(move || a.fails(&["groups", "list", "p"], 2)).await;
    assert!(
        err.contains("not connected") && err.contains("sam connect p"),
        "{err}"
    );
}

#[test]
fn an_unknown_spoke_and_bad_profile_input_are_one_line_errors() {
    let admin = Admin::new();
    let err = admin.fails(&["profile", "create", "p", "--spoke", "no-such-spoke"], 2);
    assert!(err.contains("unknown spoke `no-such-spoke`"), "{err}");
    let err = admin.fails(
        &[
            "profile",
            "create",
            "p",
            "--spoke",
            "confluence-cloud",
            "--analyze-from",
            "2001-01-01",
        ],
        2,
    );
    assert!(err.contains("look-back"), "{err}");
    assert_eq!(
        admin.json(&["profile", "list", "--json"]),
        serde_json::json!([])
    );
    admin.ok(&["profile", "create", "p", "--spoke", "confluence-cloud"]);
    let err = admin.fails(
        &[
            "profile",
            "create",
            "q",
            "--spoke",
            "confluence-cloud",
            "--display-name",
            "p",
        ],
        2,
    );
    assert!(err.contains("already displayed as `p`"), "{err}");
    let err = admin.fails(&["connect", "p"], 2);
    assert!(err.contains("--client-id"), "{err}");
    let err = admin.fails(&["jobs", "show", "nope"], 2);
    assert!(err.contains("no scheduled job"), "{err}");
}

#[test]
fn plain_http_oauth_endpoints_off_loopback_are_refused_before_anything_is_sent() {
    let admin = Admin::new();
    admin.ok(&["profile", "create", "p", "--spoke", "confluence-cloud"]);
    // `.invalid` never resolves: had sam tried to send, it would fail as unreachable (exit
    // 3); it must refuse the URL first (exit 2).
    let args = [
        "connect",
        "p",
        "--client-id",
        "id",
        "--client-secret-env",
        "SAM_TEST_SECRET",
        "--auth-base",
        "http://sam-oauth.invalid:9",
        "--no-listen",
    ];
    let out = admin
        .cmd(&args)
        .env("SAM_TEST_SECRET", "s3cret")
        .output()
        .unwrap();
    let err = one_line_error(&out, 2, &args);
    assert!(
        err.contains("plain http") && err.contains("sam-oauth.invalid"),
        "{err}"
    );
}
