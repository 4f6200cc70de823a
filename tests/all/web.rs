//! The web console in a real browser: Debian's chromium, headless, driven through
//! chromedriver (WebDriver, fantoccini) against `sam demo --serve` (the demo's database, its
//! daemon and the Confluence simulator behind it), with notices e-mailed to an SMTP sink
//! this test starts on loopback. One session covers: sign in with a token; the overview after
//! the demo's download (screenshot for the README); a notice's e-mailed link answered "keep"
//! by the end user without signing in, and refused when used again; the manager's approval,
//! a reclaim now and its undo; forged POSTs (no or a wrong CSRF token) refused with no
//! effect; an expired link refused; a viewer (password sign-in) sees no reclaim button.
//! Without chromium and chromedriver the test fails and says how to install them.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use crate::pipeline::sam_bin;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A loopback SMTP sink: accepts every message and keeps its text.
async fn smtp_sink() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let kept = mails.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = tokio::io::BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            kept.lock().unwrap().push(data.take().unwrap());
                            let _ = write.write_all(b"250 kept\r\n").await;
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
    (port, mails)
}

struct Served {
    child: Child,
    dir: tempfile::TempDir,
    url: String,
    token: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        crate::daemon::signal(self.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn db(&self) -> PathBuf {
        self.dir.path().join("sam-demo.redb")
    }

    fn sam(&self, args: &[&str], stdin: Option<&str>) -> String {
        let mut cmd = Command::new(sam_bin());
        cmd.arg("--db")
            .arg(self.db())
            .arg("--key-file")
            .arg(self.dir.path().join("key"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("SAM_LOG", "warn")
            .env_remove("SAM_KEY")
            .env_remove("SAM_TOKEN")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(text) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "sam {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.sam(args, None)).unwrap()
    }
}

/// `sam demo --serve` on a fresh folder, notices to the SMTP sink on `smtp_port`.
fn serve_demo(smtp_port: u16) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config").join("sam");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.toml"),
        format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\ntls = \"none\"\nfrom = \"sam <sam@example.org>\"\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(sam_bin())
        .arg("--cache-dir")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("admin-cache"))
        .args(["demo", "--serve", "--users", "60", "--keep"])
        .arg(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("SAM_LISTEN", "127.0.0.1:0")
        .env("SAM_LOG", "warn")
        .env_remove("SAM_KEY")
        .env_remove("SAM_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut token) = (None, None);
    while token.is_none() {
        let Some(Ok(line)) = lines.next() else {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("sam demo --serve stopped before serving: {err}");
        };
        if let Some(u) = line.strip_prefix("web console: ") {
            url = Some(u.split_whitespace().next().unwrap().to_string());
        }
        if let Some(t) = line.strip_prefix("sign-in token: ") {
            token = Some(t.trim().to_string());
        }
    }
    // Keep draining the demo's output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Served {
        child,
        dir,
        url: url.expect("the demo printed the console's URL"),
        token: token.unwrap(),
    }
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// chromedriver on a free port, and a headless chromium session through it.
async fn browser(profile: &Path) -> (Driver, Client) {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            Path::new(path).exists(),
            "the web console's browser test needs {path}: install Debian's packages with `apt-get install -y chromium chromium-driver` (.ci/run does this); package {package} is missing"
        );
    }
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-dev-shm-usage", "--window-size=1100,760",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a chromium session through chromedriver");
    (driver, client)
}

async fn source(c: &Client) -> String {
    c.source().await.unwrap()
}

/// The page once it shows `text` (a click's navigation may still be loading).
async fn page_with(c: &Client, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let page = source(c).await;
        if page.contains(text) {
            return page;
        }
        assert!(
            Instant::now() < deadline,
            "the page never showed {text:?}:\n{page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn sign_in_token(c: &Client, url: &str, token: &str) {
    c.goto(&format!("{url}/")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/signin"));
    c.find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    click(c, "form[action='/signin'] button[type=submit]").await;
}

/// A POST from the page's own origin with the session cookie: its status.
async fn forged_post(c: &Client, path: &str, body: &str) -> u64 {
    let script = format!(
        "return fetch('{path}', {{method: 'POST', credentials: 'same-origin', headers: {{'Content-Type': 'application/x-www-form-urlencoded'}}, body: '{body}'}}).then(r => r.status);"
    );
    c.execute(&script, vec![]).await.unwrap().as_u64().unwrap()
}

fn state_of(s: &Served, id: u64) -> Value {
    s.json(&["candidates", "show", &id.to_string(), "--json"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_browser() {
    let (smtp_port, mails) = smtp_sink().await;
    let s = serve_demo(smtp_port);
    let profile = tempfile::tempdir().unwrap();
    let (_driver, c) = browser(profile.path()).await;

    // Sign in with the printed token; the overview after the demo's download.
    sign_in_token(&c, &s.url, &s.token).await;
    let overview = page_with(&c, "License position by software model").await;
    assert!(overview.contains("atlassian/confluence"), "{overview}");
    assert!(overview.contains("<svg"), "the server-drawn chart");
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    std::fs::write(
        docs.join("console-overview.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // The rule notifies users; a reclaim run asks them, by e-mail with an answer link.
    s.sam(
        &["rules", "set", "atlassian/confluence", "--notify", "true"],
        None,
    );
    s.sam(&["run", "reclaim", "--profile", "demo"], None);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mail = loop {
        if let Some(m) = mails.lock().unwrap().first().cloned() {
            break m;
        }
        assert!(Instant::now() < deadline, "no notice reached the SMTP sink");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The body is quoted-printable: join its soft line breaks, decode `=3D`.
    let mail = mail.replace("=\n", "").replace("=3D", "=");
    let link = mail
        .split_whitespace()
        .find(|w| w.contains("/answer?t="))
        .unwrap_or_else(|| panic!("no answer link in the mail:\n{mail}"))
        .to_string();
    assert!(link.starts_with(&s.url), "{link}");

    // The candidates page (the README's screenshot) shows the users being asked.
    c.goto(&format!("{}/candidates", s.url)).await.unwrap();
    page_with(&c, "Awaiting User").await;
    std::fs::write(
        docs.join("console-candidates.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // The engine's link key (from its key file) reads which candidate the link names.
    let settings = sam_engine::config::Settings::resolve(
        &sam_engine::config::Overrides {
            db: Some(s.db()),
            key_file: Some(s.dir.path().join("key")),
            cache_dir: Some(s.dir.path().join("cache")),
            plugins_dir: Some(s.dir.path().join("plugins")),
            config_file: None,
        },
        &|_| None,
        None,
    )
    .unwrap();
    let key = sam_engine::web::links::LinkKey::from_settings(&settings).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let token = link.split("/answer?t=").nth(1).unwrap();
    let linked = key
        .verify(token, now)
        .unwrap_or_else(|e| panic!("the mailed link: {e:?}\n{mail}"))
        .candidate;

    // A forged POST (no CSRF token, then a wrong one) from the admin's own session does
    // nothing: it would reject a candidate.
    let asked = s.json(&["candidates", "list", "--state", "awaiting-user", "--json"]);
    let victim = asked
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .find(|id| *id != linked)
        .expect("two users were asked");
    for body in [
        format!("ids={victim}&action=reject"),
        format!("ids={victim}&action=reject&csrf={}", "0".repeat(64)),
    ] {
        assert_eq!(
            forged_post(&c, "/candidates/act", &body).await,
            403,
            "{body}"
        );
    }
    assert_eq!(
        state_of(&s, victim)["state"],
        "awaiting-user",
        "nothing changed"
    );

    // The end user opens the link (no sign-in needed) and keeps the seat.
    c.goto(&link).await.unwrap();
    page_with(&c, "Do you still need this seat?").await;
    click(&c, "button[value=keep]").await;
    page_with(&c, "Thank you").await;
    let kept = s.json(&[
        "candidates",
        "list",
        "--state",
        "awaiting-approval",
        "--json",
    ]);
    let id = kept[0]["id"].as_u64().expect("the answer went through");
    assert_eq!(id, linked);
    assert_eq!(state_of(&s, id)["answer"], "keep");
    c.goto(&link).await.unwrap();
    page_with(&c, "already used").await;

    // The manager approves it, the admin reclaims it now, then undoes it.
    c.goto(&format!("{}/candidates?state=awaiting-approval", s.url))
        .await
        .unwrap();
    click(&c, &format!("#c{id}")).await;
    click(&c, "button[value=approve]").await;
    page_with(&c, "Approved 1 candidate").await;
    c.goto(&format!("{}/candidates/{id}", s.url)).await.unwrap();
    click(&c, "button[value=reclaim]").await;
    page_with(&c, "Reclaimed 1 seat").await;
    assert_eq!(state_of(&s, id)["state"], "closed-complete");
    c.goto(&format!("{}/candidates/{id}", s.url)).await.unwrap();
    click(&c, "button[value=undo]").await;
    page_with(&c, "Gave back 1 seat").await;
    assert!(state_of(&s, id)["reclaim"]["restored_at"].is_number());

    // A link past its expiry (signed with the engine's own key) is refused.
    let expired = sam_engine::web::links::answer_url(&s.url, &key.sign(victim, now - 60));
    c.goto(&expired).await.unwrap();
    page_with(&c, "This link has expired").await;
    let tampered = link.replace("/answer?t=", "/answer?t=A");
    c.goto(&tampered).await.unwrap();
    page_with(&c, "This link is not valid").await;
    assert_eq!(state_of(&s, victim)["state"], "awaiting-user");

    // A viewer signs in with a password: no action buttons, and a forged reclaim is refused.
    s.sam(
        &["users", "add", "vic", "--role", "viewer"],
        Some("a viewer password\n"),
    );
    c.goto(&format!("{}/", s.url)).await.unwrap();
    click(&c, "form.signout button").await;
    page_with(&c, "Sign in to sam").await;
    c.find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys("vic")
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("a viewer password")
        .await
        .unwrap();
    click(&c, "form[action='/signin'] button[type=submit]").await;
    page_with(&c, "License position").await;
    c.goto(&format!("{}/candidates?state=any", s.url))
        .await
        .unwrap();
    let viewer = page_with(&c, "web:vic").await;
    assert!(
        !viewer.contains("value=\"reclaim\""),
        "no reclaim button for a viewer"
    );
    assert!(!viewer.contains("Reclaim now"));
    assert_eq!(
        forged_post(
            &c,
            "/candidates/act",
            &format!("ids={victim}&action=reclaim")
        )
        .await,
        403
    );
    assert_eq!(state_of(&s, victim)["state"], "awaiting-user");
    c.close().await.unwrap();
}

/// A console (the daemon's router) on a fresh store, its clock at `T0`, also answering as
/// `sam.example.org` (an operator's proxy).
struct TestConsole {
    _dir: tempfile::TempDir,
    store: Arc<sam_engine::store::Store>,
    addr: std::net::SocketAddr,
    /// Does not follow redirects.
    client: reqwest::Client,
    clock: sam_engine::daemon::ManualClock,
}

async fn console_on_a_fresh_store() -> TestConsole {
    use sam_engine::app::App;
    use sam_engine::daemon::ManualClock;
    use sam_engine::daemon::http::Guard;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sam.redb");
    let store = Arc::new(sam_engine::store::Store::open(&db).unwrap());
    let settings = sam_engine::config::Settings::resolve(
        &sam_engine::config::Overrides {
            db: Some(db.clone()),
            cache_dir: Some(dir.path().join("cache")),
            plugins_dir: Some(dir.path().join("plugins")),
            key_file: Some(dir.path().join("key")),
            config_file: None,
        },
        &|_| None,
        None,
    )
    .unwrap();
    let clock = ManualClock::new(crate::daemon::T0);
    let app = App::new(
        store.clone(),
        crate::host(),
        settings,
        Arc::new(clock.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = sam_engine::daemon::http::router(
        app,
        Guard::new(addr, &["sam.example.org".to_string()], false),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestConsole {
        _dir: dir,
        store,
        addr,
        client,
        clock,
    }
}

/// Signs in with a form body (`token=...`, or `name=...&password=...`); the session cookie.
async fn signed_in(client: &reqwest::Client, addr: std::net::SocketAddr, body: String) -> String {
    let signed = client
        .post(format!("http://{addr}/signin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303, "signed in");
    signed.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// A console session checks what it signed in with on every request: revoking its token,
/// resetting its user's password or removing the user ends it at once (the next page is the
/// sign-in page, a form is refused), and a changed role applies to the next page. Guessing a
/// password is throttled per name.
#[tokio::test]
async fn a_session_ends_with_its_sign_in_and_password_guessing_waits() {
    use sam_engine::app::tokens;
    use sam_engine::model::{ConsoleUser, Role};

    let TestConsole {
        _dir,
        store,
        addr,
        client,
        clock,
    } = console_on_a_fresh_store().await;
    let page = |session: String| {
        let client = client.clone();
        async move {
            client
                .get(format!("http://{addr}/candidates"))
                .header("cookie", session)
                .send()
                .await
                .unwrap()
        }
    };

    // A token's session ends when the token is revoked.
    let token = tokens::create(&store, crate::daemon::T0, "web", Role::Viewer)
        .unwrap()
        .token;
    let session = signed_in(&client, addr, format!("token={token}")).await;
    assert_eq!(page(session.clone()).await.status(), 200);
    let id = token.split('_').nth(1).unwrap().to_string();
    tokens::revoke(&store, crate::daemon::T0 + 1, &id).unwrap();
    let after = page(session.clone()).await;
    assert_eq!(after.status(), 303, "a revoked token's session is over");
    assert_eq!(after.headers()["location"], "/signin");
    let post = client
        .post(format!("http://{addr}/signout"))
        .header("cookie", &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=x")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 401, "a form of that session is refused");

    // A user's session follows the user's role, and ends on a new password or removal.
    let put_user = |role: Role, password: &str| {
        let user = ConsoleUser {
            name: "ann".into(),
            role,
            password_hash: sam_engine::app::users::hash_password(password).unwrap(),
            created_at: crate::daemon::T0,
            created_by: "test".into(),
        };
        store.write(|tx| tx.put_console_user(&user)).unwrap();
        user
    };
    let ann = put_user(Role::Admin, "first password!");
    let session = signed_in(
        &client,
        addr,
        "name=ann&password=first+password%21".to_string(),
    )
    .await;
    let html = page(session.clone()).await.text().await.unwrap();
    assert!(html.contains("web:ann · admin"), "{html}");
    store
        .write(|tx| {
            tx.put_console_user(&ConsoleUser {
                role: Role::Viewer,
                ..ann.clone()
            })
        })
        .unwrap();
    let html = page(session.clone()).await.text().await.unwrap();
    assert!(
        html.contains("web:ann · viewer"),
        "the new role applies: {html}"
    );
    put_user(Role::Admin, "second password");
    assert_eq!(
        page(session).await.status(),
        303,
        "a new password ends the sessions of the old one"
    );
    let session = signed_in(
        &client,
        addr,
        "name=ann&password=second+password".to_string(),
    )
    .await;
    assert_eq!(page(session.clone()).await.status(), 200);
    store
        .write(|tx| tx.delete_console_user("ann").map(drop))
        .unwrap();
    assert_eq!(page(session).await.status(), 303, "a removed user is out");

    // Password guessing: five wrong passwords (the name in any case), then even the right
    // one waits (429, with Retry-After, no cookie, the password not even checked) until the
    // delay is over.
    put_user(Role::Viewer, "the right password");
    let try_password = |name: &'static str, password: &'static str| {
        let client = client.clone();
        async move {
            client
                .post(format!("http://{addr}/signin"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("name={name}&password={password}"))
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..5 {
        assert_eq!(try_password("ANN", "guess+guess+guess").await.status(), 401);
    }
    let held = try_password("ann", "the+right+password").await;
    assert_eq!(held.status(), 429);
    assert_eq!(held.headers()["retry-after"], "30");
    assert!(held.headers().get("set-cookie").is_none());
    clock.set(crate::daemon::T0 + 31);
    let after = try_password("ann", "the+right+password").await;
    assert_eq!(
        after.status(),
        303,
        "after the delay the right password works"
    );
}

/// The console behind the daemon's guard, without a browser: the Host and Origin checks
/// apply to it, a page needs a session, and the session cookie's flags (`Secure` only when
/// the operator's proxy, named by `--allow-host`, says the browser came over https).
#[tokio::test]
async fn the_console_is_guarded_and_its_cookie_flags_follow_the_transport() {
    use sam_engine::app::tokens;
    use sam_engine::model::Role;

    let TestConsole {
        _dir,
        store,
        addr,
        client,
        ..
    } = console_on_a_fresh_store().await;
    let token = tokens::create(&store, crate::daemon::T0, "web", Role::Viewer)
        .unwrap()
        .token;
    let url = |path: &str| format!("http://{addr}{path}");
    let sign_in = |host: Option<&'static str>, proto: Option<&'static str>| {
        let mut request = client
            .post(url("/signin"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"));
        if let Some(h) = host {
            request = request.header("host", h);
        }
        if let Some(p) = proto {
            request = request.header("x-forwarded-proto", p);
        }
        request.send()
    };

    // A page needs a session; the sign-in page labels its fields.
    let page = client.get(url("/candidates")).send().await.unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/signin");
    let signin = client.get(url("/signin")).send().await.unwrap();
    assert_eq!(signin.status(), 200);
    let html = signin.text().await.unwrap();
    assert!(html.contains("<label for=\"token\">"), "{html}");

    // DNS rebinding (a foreign Host) and a foreign Origin are refused before the console.
    let rebound = client
        .get(url("/signin"))
        .header("host", "attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403);
    let foreign = client
        .post(url("/signin"))
        .header("origin", "http://attacker.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    assert!(foreign.headers().get("set-cookie").is_none());

    // A wrong token gets the sign-in page again, no cookie.
    let wrong = client
        .post(url("/signin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=sam_000000000000_00")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());

    // Plain http on loopback: HttpOnly, SameSite=Strict, not Secure; and a forwarded https
    // claim from a loopback request is not believed.
    for proto in [None, Some("https")] {
        let signed = sign_in(None, proto).await.unwrap();
        assert_eq!(signed.status(), 303);
        let cookie = signed.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        assert!(!cookie.contains("Secure"), "{cookie}");
    }
    // Through the operator's https proxy: Secure.
    let proxied = sign_in(Some("sam.example.org"), Some("https"))
        .await
        .unwrap();
    let cookie = proxied.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.ends_with("; Secure"), "{cookie}");

    // With the session, a page answers; a viewer's POST without the form's token is refused.
    let session = cookie.split(';').next().unwrap().to_string();
    let page = client
        .get(url("/candidates"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(!page.text().await.unwrap().contains("Reclaim now"));
    let forged = client
        .post(url("/catalog/act"))
        .header("cookie", &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("action=exclusion-add&user=x%40example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    // A bad form value and a vendor that cannot be reached each get a page that says so
    // in words (an admin's session this time), never a trace.
    crate::daemon::with_profile(&store, "p");
    let admin = tokens::create(&store, crate::daemon::T0, "web admin", Role::Admin)
        .unwrap()
        .token;
    let signed = client
        .post(url("/signin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={admin}"))
        .send()
        .await
        .unwrap();
    let admin_session = signed.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let bad = client
        .get(url("/subscriptions?inactive_for=soon"))
        .header("cookie", &admin_session)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let text = bad.text().await.unwrap();
    assert!(text.contains("whole number of days"), "{text}");
    let lost = client
        .get(url("/profiles/p/groups"))
        .header("cookie", &admin_session)
        .send()
        .await
        .unwrap();
    assert!(lost.status().is_client_error() || lost.status().is_server_error());
    let text = lost.text().await.unwrap();
    assert!(text.contains("role=\"alert\""), "{text}");
    for trace in ["panicked", "RUST_BACKTRACE", "src/"] {
        assert!(!text.contains(trace), "{text}");
    }

    // Back to draft, with the form's CSRF token: the profile is Draft and its jobs are held
    // with their schedules (one of them the admin's own).
    store
        .write(|tx| {
            let mut p = tx.profile("p")?.unwrap();
            p.status = sam_engine::model::ProfileStatus::Published;
            tx.put_profile(&p)?;
            for mut job in sam_engine::daemon::schedule::jobs_for(&p, crate::daemon::T0) {
                if job.process == sam_engine::model::ProcessKind::DownloadSubscriptions {
                    job.schedule = "0 15 5 * * *".into();
                }
                tx.put_scheduled_job(&job)?;
            }
            Ok::<_, sam_engine::store::WriteError>(())
        })
        .unwrap();
    let page = client
        .get(url("/profiles/p"))
        .header("cookie", &admin_session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Back to draft"), "{page}");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    // The profile page's form, as the admin's browser sends it.
    let act = |fields: String| {
        client
            .post(url("/profiles/p/act"))
            .header("cookie", &admin_session)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}&{fields}"))
            .send()
    };
    let done = act("action=unpublish".into()).await.unwrap();
    assert_eq!(done.status(), 303);
    let read = store.read().unwrap();
    assert_eq!(
        read.profile("p").unwrap().unwrap().status,
        sam_engine::model::ProfileStatus::Draft
    );
    let kept = read.scheduled_jobs().unwrap();
    assert!(
        kept.iter().any(|j| j.profile == "p"
            && j.process == sam_engine::model::ProcessKind::DownloadSubscriptions
            && j.schedule == "0 15 5 * * *"),
        "{kept:?}"
    );
    drop(read);

    // "Run now" from the profile's page (the admin's form): the run is started, answered
    // with a notice, and recorded as a manual job result of the profile.
    let ran = act("action=run&process=reconcile".into()).await.unwrap();
    assert_eq!(ran.status(), 303);
    let location = ran.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("Started"), "{location}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let results = store.read().unwrap().job_results().unwrap();
        if results.iter().any(|r| {
            r.profile == "p"
                && r.process == sam_engine::model::ProcessKind::Reconcile
                && r.trigger == sam_engine::model::JobTrigger::Manual
        }) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no manual reconcile was recorded: {results:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Text from a vendor (a display name, an e-mail, a user id: anyone can set their own name on
/// their SaaS account) and from an admin (an exclusion's note) is shown as text on every page
/// that shows it, never as markup: a name that is a script tag does not run. Hostile query
/// strings and paths get a 4xx page, never a 5xx or a dropped connection.
#[tokio::test]
async fn vendor_and_admin_text_is_escaped_and_hostile_urls_get_a_4xx() {
    use sam_engine::app::tokens;
    use sam_engine::model::*;

    let TestConsole {
        _dir,
        store,
        addr,
        client,
        ..
    } = console_on_a_fresh_store().await;
    let name = "<script>alert('name')</script>";
    let email = "\"><img src=x onerror=alert(1)>@example.com";
    let user = "u<b>1</b>";
    crate::daemon::with_profile(&store, "p");
    let now = crate::daemon::T0;
    store
        .write(|tx| {
            tx.put_subscription(&Subscription {
                profile: "p".into(),
                external_user_id: user.into(),
                identifier: "widget".into(),
                model: Some("acme/widget".into()),
                display_name: Some(name.into()),
                email: Some(email.into()),
                account_type: AccountType::Human,
                granted_by: vec!["<i>group</i>".into()],
                granted_at: Some(now - 400 * 86_400),
                active: true,
                first_seen_at: now - 400 * 86_400,
                ended_at: None,
            })?;
            tx.put_activity(&UserActivityRecord {
                profile: "p".into(),
                external_user_id: user.into(),
                last_activity: Some(now - 200 * 86_400),
                source: Some("<u>page updated</u>".into()),
                state: ActivityState::Seen,
                kind: None,
                checked_at: None,
            })?;
            tx.put_exclusion(&ExclusionRule {
                id: "1".into(),
                target: ExclusionTarget::User("<svg onload=alert(2)>".into()),
                scope: ExclusionScope::Reconciliation,
                active: true,
                note: Some("<iframe src=//evil.example>".into()),
                created_at: now,
            })?;
            let profile = tx.profile("p")?.unwrap();
            sam_engine::reclaim::identify(tx, &profile, now)?;
            tx.audit(now, Some("p"), AuditAction::ProfileChanged, name, None)
        })
        .unwrap();
    let candidates = store.read().unwrap().candidates("p").unwrap();
    assert_eq!(candidates.len(), 1, "the seat is a candidate");
    let token = tokens::create(&store, now, "web", Role::Admin)
        .unwrap()
        .token;
    let session = signed_in(&client, addr, format!("token={token}")).await;
    let pages = [
        "/".to_string(),
        "/subscriptions".to_string(),
        format!("/subscriptions?user={}", sam_engine::web::q(user)),
        format!("/subscriptions/user?user={}", sam_engine::web::q(user)),
        "/candidates".to_string(),
        format!("/candidates/{}", candidates[0].id),
        "/catalog".to_string(),
        "/audit".to_string(),
    ];
    let mut shown = 0;
    for path in &pages {
        let answer = client
            .get(format!("http://{addr}{path}"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        let html = answer.text().await.unwrap();
        for raw in [
            "<script>alert",
            "<img src=x",
            "<b>1</b>",
            "<i>group</i>",
            "<svg onload",
            "<iframe",
            "<u>page",
        ] {
            assert!(
                !html.contains(raw),
                "{path} shows {raw:?} as markup:\n{html}"
            );
        }
        if html.contains("&lt;script&gt;alert(") {
            shown += 1;
        }
    }
    assert!(
        shown >= 4,
        "the name is shown, escaped, on the pages that list it ({shown})"
    );

    // Hostile query strings and paths get a page that says what is wrong (a 4xx), never a
    // dropped connection or a 5xx.
    for path in [
        "/subscriptions?inactive_for=4294967295",
        "/subscriptions?inactive_for=-1",
        "/subscriptions?inactive_for=99999999999999999999",
        "/subscriptions?user=%00%ff",
        "/subscriptions?model=%E2%80%AE&state=%3Cx%3E",
        "/subscriptions/user?user=",
        "/candidates?state=nonsense",
        "/candidates/18446744073709551616",
        "/candidates/-1",
        "/candidates/%3Cscript%3E",
        "/audit?since=99999-99-99",
        "/audit?since=0000-01-01",
        "/audit?since=9999-12-31&actor=%00",
        "/profiles/%2e%2e%2fetc",
        "/profiles/nobody/groups",
    ] {
        let answer = client
            .get(format!("http://{addr}{path}"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: the connection failed: {e}"));
        let status = answer.status();
        assert!(
            status.is_success() || status.is_client_error(),
            "{path}: {status}"
        );
    }
}
