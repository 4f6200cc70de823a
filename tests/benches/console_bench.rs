//! `console-bench`: how fast the web console's pages answer at tenant scale. It writes a
//! store with 100 000 subscriptions (three in four with activity), 2 000 removal candidates
//! and a reconciled license position, serves the daemon's router (API and console) on
//! loopback, signs in with a token, and times each page over HTTP: median and worst of 10
//! requests, against the 100 ms target (the ratio is printed; nothing here fails on time).
//!
//! ```text
//! cargo bench --bench console-bench [-- --subscriptions 100000]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use sam_engine::app::{App, tokens};
use sam_engine::config::{Overrides, Settings};
use sam_engine::daemon::SystemDaemonClock;
use sam_engine::daemon::http::Guard;
use sam_engine::host::{HostOptions, SpokeHost};
use sam_engine::model::{
    AccountType, AuthKind, CandidateState, Connection, DAY, IntegrationProfile, ProcessSet,
    ProfileStatus, RemovalCandidate, Role, Subscription, Transition, UserActivityRecord,
};
use sam_engine::pipeline::SystemClock;
use sam_engine::store::Store;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Parser)]
#[command(name = "console-bench")]
struct Args {
    /// Subscriptions in the store.
    #[arg(long, default_value_t = 100_000)]
    subscriptions: usize,
    /// Requests per page.
    #[arg(long, default_value_t = 10)]
    repeat: usize,
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn fill(store: &Store, n: usize) -> Result<(), BoxError> {
    let profile = IntegrationProfile {
        name: "big".into(),
        display_name: "big".into(),
        spoke_id: "confluence-cloud".into(),
        spoke_path: "-".into(),
        status: ProfileStatus::Draft,
        processes: ProcessSet::default(),
        analyze_from: None,
        config: Vec::new(),
        connection: "big".into(),
        created_at: 0,
    };
    let connection = Connection {
        alias: "big".into(),
        connection_url: "https://example.atlassian.net".into(),
        granted_hosts: Vec::new(),
        auth: AuthKind::StaticTokenEnv {
            variable: "-".into(),
        },
    };
    store.write(|tx| tx.create_profile(&profile, &connection, &[]))?;
    let now = now_secs();
    let mut written = 0;
    while written < n {
        let end = (written + 50_000).min(n);
        store.write(|tx| {
            for i in written..end {
                let id = format!("user-{i:07}");
                tx.put_subscription(&Subscription {
                    profile: "big".into(),
                    external_user_id: id.clone(),
                    identifier: "confluence".into(),
                    model: Some("atlassian/confluence".into()),
                    display_name: Some(format!("User {i}")),
                    email: Some(format!("user{i}@example.com")),
                    account_type: AccountType::Human,
                    granted_by: vec!["confluence-users".into()],
                    granted_at: Some(now - 400 * DAY),
                    active: true,
                    first_seen_at: now - 400 * DAY,
                    ended_at: None,
                })?;
                if i % 4 != 0 {
                    tx.put_activity(&UserActivityRecord {
                        profile: "big".into(),
                        external_user_id: id.clone(),
                        last_activity: Some(now - (i as i64 % 200) * DAY),
                        source: Some("page updated".into()),
                        state: sam_engine::model::ActivityState::Seen,
                        kind: None,
                        checked_at: None,
                    })?;
                }
                if i % 50 == 0 {
                    tx.put_candidate(&RemovalCandidate {
                        id: i as u64 / 50 + 1,
                        profile: "big".into(),
                        external_user_id: id,
                        identifier: "confluence".into(),
                        model: "atlassian/confluence".into(),
                        display_name: Some(format!("User {i}")),
                        email: Some(format!("user{i}@example.com")),
                        rule: "default".into(),
                        justification: "Low Usage".into(),
                        last_activity: None,
                        state: CandidateState::Ready,
                        created_at: now,
                        notified_at: None,
                        auto_reclaim_at: None,
                        answer: None,
                        reclaim: None,
                        history: vec![Transition {
                            at: now,
                            from: None,
                            to: CandidateState::Ready,
                            actor: "sam".into(),
                            reason: "created".into(),
                        }],
                    })?;
                }
            }
            Ok::<_, sam_engine::store::WriteError>(())
        })?;
        written = end;
    }
    sam_engine::reconcile::run(store, &SystemClock)?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse_from(sam_tests::bench_args());
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("console.redb");
    let store = Arc::new(Store::open(&db)?);
    let t = Instant::now();
    fill(&store, args.subscriptions)?;
    eprintln!(
        "console-bench: wrote {} subscriptions in {:.1} s",
        args.subscriptions,
        t.elapsed().as_secs_f64()
    );
    let settings = Settings::resolve(
        &Overrides {
            db: Some(db.clone()),
            cache_dir: Some(dir.path().join("cache")),
            plugins_dir: Some(dir.path().join("plugins")),
            key_file: Some(dir.path().join("key")),
            config_file: None,
        },
        &|_| None,
        None,
    )?;
    let host = SpokeHost::new(HostOptions::default())?;
    let app = App::new(store.clone(), host, settings, Arc::new(SystemDaemonClock));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = sam_engine::daemon::http::router(app, Guard::new(addr, &[], false));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let token = tokens::create(&store, now_secs(), "bench", Role::Admin)?.token;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let signed = client
        .post(format!("http://{addr}/signin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await?;
    let cookie = signed
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or("no session cookie")?
        .to_string();
    let pages = [
        "/",
        "/subscriptions",
        "/subscriptions?user=user-0042",
        "/subscriptions?inactive_for=90",
        "/subscriptions/user?user=user-0000042",
        "/candidates",
        "/candidates?state=any",
        "/candidates/1",
        "/profiles",
        "/profiles/big",
        "/catalog",
        "/audit",
    ];
    println!(
        "console-bench: {} subscriptions, {} requests per page (target: 100 ms)",
        args.subscriptions, args.repeat
    );
    println!(
        "{:<40} {:>10} {:>10} {:>12}",
        "page", "median ms", "worst ms", "worst/target"
    );
    let mut worst_all = Duration::ZERO;
    for page in pages {
        let mut times = Vec::new();
        for _ in 0..args.repeat {
            let t = Instant::now();
            let response = client
                .get(format!("http://{addr}{page}"))
                .header("cookie", &cookie)
                .send()
                .await?;
            let status = response.status();
            let body = response.bytes().await?;
            times.push(t.elapsed());
            if !status.is_success() {
                return Err(format!(
                    "{page} answered {status}: {}",
                    String::from_utf8_lossy(&body)
                )
                .into());
            }
        }
        times.sort();
        let median = times[times.len() / 2];
        let worst = *times.last().unwrap_or(&Duration::ZERO);
        worst_all = worst_all.max(worst);
        println!(
            "{page:<40} {:>10.1} {:>10.1} {:>12.2}",
            median.as_secs_f64() * 1e3,
            worst.as_secs_f64() * 1e3,
            worst.as_secs_f64() * 1e3 / 100.0
        );
    }
    println!(
        "console-bench: slowest request {:.1} ms ({:.2} of the 100 ms target)",
        worst_all.as_secs_f64() * 1e3,
        worst_all.as_secs_f64() * 1e3 / 100.0
    );
    Ok(())
}
