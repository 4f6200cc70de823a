//! The daemon (issue 8): the scheduler driven by a [`ManualClock`] (cron firing times, the
//! order of a profile's jobs, a run missed while the daemon was down runs once at start,
//! retries with capped backoff), a quota pause against the simulator that resumes at the
//! top of the hour from the checkpoint, the HTTP API (/healthz, /metrics, POST /api/v1/runs), and
//! the real binary: SIGTERM mid-run, restart, and the result equals an uninterrupted run
//! (no duplicate, no lost record), with `sam run` handed to the running daemon.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confluence_sim::{Endpoint, RateLimitConfig, SimClock, SimConfig, Simulator};
use futures::future::BoxFuture;
use sam_engine::daemon::schedule::{self, DEFAULT_DAILY, DEFAULT_WEEKLY};
use sam_engine::daemon::{
    Daemon, DaemonOptions, JobRunner, ManualClock, RunFailure, RunOutcome, RunRequest,
};
use sam_engine::model::{JobStatus, ProcessKind, ScheduledJob};
use sam_engine::pipeline::{Clock, Pipeline};
use sam_engine::store::Store;

use crate::pipeline::{
    confluence, create_profile, facts, members, run_download, sam, scopes, store_with_profile,
};

/// 2026-01-01T00:00:00Z, a Thursday.
pub(crate) const T0: i64 = 1_767_225_600;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// A runner that records when each request ran and fails as told.
#[derive(Default)]
pub(crate) struct FakeRunner {
    pub(crate) clock: ManualClock,
    pub(crate) log: Mutex<Vec<(String, ProcessKind, i64)>>,
    pub(crate) fail_first: AtomicU32,
}

impl JobRunner for FakeRunner {
    fn run<'a>(
        &'a self,
        request: &'a RunRequest,
        _stop: &'a AtomicBool,
    ) -> BoxFuture<'a, Result<RunOutcome, RunFailure>> {
        Box::pin(async move {
            self.log.lock().unwrap().push((
                request.profile.clone(),
                request.process,
                self.clock.now(),
            ));
            if self
                .fail_first
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(RunFailure::Failed("vendor said no".into()));
            }
            Ok(RunOutcome {
                summary: "ok".into(),
                api_calls: 3,
                ..RunOutcome::default()
            })
        })
    }
}

fn job(profile: &str, name: &str, process: ProcessKind, cron: &str, next_run: i64) -> ScheduledJob {
    ScheduledJob {
        name: name.into(),
        profile: profile.into(),
        process,
        schedule: cron.into(),
        next_run,
        active: true,
    }
}

fn store_with_jobs(jobs: &[ScheduledJob]) -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("sam.redb")).unwrap();
    store
        .write(|tx| {
            for j in jobs {
                tx.put_scheduled_job(j)?;
            }
            Ok::<_, sam_engine::store::WriteError>(())
        })
        .unwrap();
    (dir, Arc::new(store))
}

fn daemon(store: Arc<Store>, runner: Arc<FakeRunner>, options: DaemonOptions) -> Daemon {
    let clock = Arc::new(runner.clock.clone());
    Daemon::new(store, clock, runner, options)
}

#[tokio::test]
async fn schedules_fire_at_their_cron_times_and_a_profiles_jobs_run_in_order() {
    let at = |cron: &str| schedule::next_run(cron, T0).unwrap();
    let (_dir, store) = store_with_jobs(&[
        // Activity is listed first (by name) but must run after the download.
        job(
            "p",
            "A activity",
            ProcessKind::DownloadActivity,
            DEFAULT_DAILY,
            at(DEFAULT_DAILY),
        ),
        job(
            "p",
            "B subs",
            ProcessKind::DownloadSubscriptions,
            DEFAULT_DAILY,
            at(DEFAULT_DAILY),
        ),
        job(
            "p",
            "C candidates",
            ProcessKind::Reclaim,
            DEFAULT_WEEKLY,
            at(DEFAULT_WEEKLY),
        ),
    ]);
    let runner = Arc::new(FakeRunner {
        clock: ManualClock::new(T0),
        ..FakeRunner::default()
    });
    let d = daemon(store.clone(), runner.clone(), DaemonOptions::default());
    d.run_loop(Some(T0 + 8 * DAY)).await.unwrap();
    let log = runner.log.lock().unwrap().clone();
    let mut expected = Vec::new();
    for day in 0..8 {
        expected.push((
            "p".to_string(),
            ProcessKind::DownloadSubscriptions,
            T0 + day * DAY + HOUR,
        ));
        expected.push((
            "p".to_string(),
            ProcessKind::DownloadActivity,
            T0 + day * DAY + HOUR,
        ));
        if day == 3 {
            // Sunday 2026-01-04 at 03:00.
            expected.push((
                "p".to_string(),
                ProcessKind::Reclaim,
                T0 + 3 * DAY + 3 * HOUR,
            ));
        }
    }
    assert_eq!(log, expected);
    let next = store
        .read()
        .unwrap()
        .scheduled_job("B subs")
        .unwrap()
        .unwrap()
        .next_run;
    assert_eq!(next, T0 + 8 * DAY + HOUR);
}

#[tokio::test]
async fn a_run_missed_while_the_daemon_was_down_runs_once_at_start() {
    // Due three days ago: three daily runs were missed.
    let (_dir, store) = store_with_jobs(&[job(
        "p",
        "subs",
        ProcessKind::DownloadSubscriptions,
        DEFAULT_DAILY,
        T0 - 3 * DAY + HOUR,
    )]);
    let runner = Arc::new(FakeRunner {
        clock: ManualClock::new(T0 + 10 * HOUR),
        ..FakeRunner::default()
    });
    let d = daemon(store.clone(), runner.clone(), DaemonOptions::default());
    let runs = d.run_loop(Some(T0 + 20 * HOUR)).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].started_at, T0 + 10 * HOUR);
    let next = store
        .read()
        .unwrap()
        .scheduled_job("subs")
        .unwrap()
        .unwrap()
        .next_run;
    assert_eq!(
        next,
        T0 + DAY + HOUR,
        "the next run is the schedule's next time after now"
    );
}

#[tokio::test]
async fn a_failed_job_is_retried_with_capped_backoff() {
    let (_dir, store) = store_with_jobs(&[job(
        "p",
        "subs",
        ProcessKind::DownloadSubscriptions,
        DEFAULT_DAILY,
        T0,
    )]);
    let runner = Arc::new(FakeRunner {
        clock: ManualClock::new(T0),
        fail_first: AtomicU32::new(3),
        ..FakeRunner::default()
    });
    let options = DaemonOptions {
        max_attempts: 5,
        backoff_base_seconds: 60,
        backoff_cap_seconds: 150,
        ..DaemonOptions::default()
    };
    let d = daemon(store, runner.clone(), options);
    let runs = d.run_due().await.unwrap();
    assert!(runs[0].outcome.is_ok(), "{runs:?}");
    let times: Vec<i64> = runner.log.lock().unwrap().iter().map(|e| e.2).collect();
    // 60 s, 120 s, then capped at 150 s.
    assert_eq!(times, vec![T0, T0 + 60, T0 + 180, T0 + 330]);
    let metrics = d.metrics().render();
    assert!(
        metrics.contains("sam_runs_total{profile=\"p\",process=\"download-subscriptions\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("sam_run_failures_total{profile=\"p\",process=\"download-subscriptions\"} 3"),
        "{metrics}"
    );

    // Giving up after max_attempts leaves the job for its next scheduled time.
    runner.fail_first.store(10, Ordering::SeqCst);
    let failed = d
        .run_with_retry(&RunRequest {
            draft: false,
            profile: "p".into(),
            process: ProcessKind::DownloadSubscriptions,
            trigger: sam_engine::model::JobTrigger::Schedule,
        })
        .await;
    assert!(matches!(failed, Err(RunFailure::Failed(_))));
}

/// Runs downloads through the real pipeline, with the simulator's clock following the
/// daemon's.
struct PipelineRunner {
    store: Arc<Store>,
    clock: ManualClock,
    sim_clock: SimClock,
    source: sam_engine::pipeline::SpokeSource,
    attempts: Mutex<Vec<i64>>,
}

impl JobRunner for PipelineRunner {
    fn run<'a>(
        &'a self,
        request: &'a RunRequest,
        stop: &'a AtomicBool,
    ) -> BoxFuture<'a, Result<RunOutcome, RunFailure>> {
        Box::pin(async move {
            self.sim_clock.set_ms(self.clock.now() * 1000);
            self.attempts.lock().unwrap().push(self.clock.now());
            let job = Pipeline::new(&self.store)
                .clock(&self.clock)
                .trigger(request.trigger)
                .stop_when(stop)
                .download_subscriptions(&self.source, &request.profile)
                .await?;
            Ok(RunOutcome {
                job_id: Some(job.id),
                summary: String::new(),
                api_calls: job.api_calls,
                reclaimed: 0,
            })
        })
    }
}

#[tokio::test]
async fn a_quota_429_pauses_the_job_until_the_reset_and_resumes_from_the_checkpoint() {
    let start = T0 + 10; // just after the top of an hour: the reset is ~an hour away
    let sim_clock = SimClock::fixed(start * 1000);
    let sim = Simulator::start(SimConfig {
        users: 450,
        seed: 11,
        // Under one page's cost (a member page of 200 costs about 400 points): the first
        // page, read alone, spends the hour's budget, so every page after it is refused
        // whether it is requested alone or concurrently with the next (the vendor admits a
        // request while budget is left and charges it when answered, so with a larger budget
        // concurrent pages could all be admitted before the first is charged).
        rate_limit: RateLimitConfig {
            points_per_hour: Some(200),
            ..RateLimitConfig::unlimited()
        },
        // The run may take three hours (a page an hour when its pages come one at a time):
        // the static token must outlive them.
        access_token_ttl: Duration::from_secs(6 * HOUR as u64),
        clock: sim_clock.clone(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let host = crate::host();
    let spoke = confluence(&host).await;
    let token = sim.mint_token(&scopes());
    let session = spoke
        .session(
            &sim.connection_url(),
            &["127.0.0.1".to_string()],
            Arc::new(sam_engine::host::StaticToken::new(token)),
        )
        .unwrap();
    let source = sam_engine::pipeline::SpokeSource::new(
        spoke.clone(),
        session,
        crate::pipeline::confluence_config(&sim, &["confluence-users"]),
    );
    let (_dir, store) = store_with_profile("confluence-cloud", None);
    let store = Arc::new(store);
    store
        .write(|tx| {
            // Published: a schedule holds a Draft profile's jobs.
            let mut profile = tx.profile("p")?.unwrap();
            profile.status = sam_engine::model::ProfileStatus::Published;
            tx.put_profile(&profile)?;
            tx.put_scheduled_job(&job(
                "p",
                "subs",
                ProcessKind::DownloadSubscriptions,
                DEFAULT_DAILY,
                start,
            ))
        })
        .unwrap();
    let clock = ManualClock::new(start);
    let runner = Arc::new(PipelineRunner {
        store: store.clone(),
        clock: clock.clone(),
        sim_clock,
        source,
        attempts: Mutex::new(Vec::new()),
    });
    let d = Daemon::new(
        store.clone(),
        Arc::new(clock.clone()),
        runner.clone(),
        DaemonOptions::default(),
    );
    let runs = d.run_due().await.unwrap();
    assert_eq!(runs.len(), 1);
    assert!(runs[0].outcome.is_ok(), "{runs:?}");

    let attempts = runner.attempts.lock().unwrap().clone();
    assert!(
        attempts.len() >= 2,
        "the quota paused the run at least once: {attempts:?}"
    );
    for (i, at) in attempts.iter().enumerate().skip(1) {
        // Each resume happens at a top of the hour (Retry-After = seconds to the reset).
        let past = at.rem_euclid(HOUR);
        assert!(past <= 1, "attempt {i} at {at} is {past} s past the hour");
        assert!(*at > attempts[i - 1]);
    }
    let metrics = d.metrics().render();
    assert!(
        metrics
            .contains("sam_quota_pauses_total{profile=\"p\",process=\"download-subscriptions\"}")
    );
    assert!(
        metrics
            .contains("sam_run_failures_total{profile=\"p\",process=\"download-subscriptions\"} 0"),
        "{metrics}"
    );

    // One run, resumed: every attempt recorded, nothing lost, nothing twice.
    let read = store.read().unwrap();
    let results = read.job_results().unwrap();
    assert_eq!(results.len(), 1, "{results:?}");
    let result = &results[0];
    assert_eq!(result.status, JobStatus::Succeeded);
    assert_eq!(result.attempts as usize, attempts.len());
    assert_eq!(
        result.errors.len(),
        attempts.len() - 1,
        "{:?}",
        result.errors
    );
    assert!(result.errors.iter().all(|e| e.contains("rate limited")));
    let subs = read.subscriptions("p").unwrap();
    let mut users: Vec<String> = subs.iter().map(|s| s.external_user_id.clone()).collect();
    users.sort();
    users.dedup();
    assert_eq!(users, members(&sim, "confluence-users"));
    assert_eq!(subs.len(), users.len());
}

#[tokio::test]
async fn healthz_metrics_and_on_demand_runs_over_http() {
    let served = crate::api::serve(false).await;
    let (addr, runner, token) = (served.addr, served.runner.clone(), served.admin.clone());
    let client = reqwest::Client::new();

    let health: serde_json::Value = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));

    let answer = client
        .post(format!("http://{addr}/api/v1/runs"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "profile": "p", "process": "download-subscriptions", "draft": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let answer: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(answer["summary"], "ok", "{answer}");
    assert_eq!(runner.log.lock().unwrap().len(), 1);

    let metrics = client
        .get(format!("http://{addr}/metrics"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    for line in [
        "# TYPE sam_runs_total counter",
        "sam_runs_total{profile=\"p\",process=\"download-subscriptions\"} 1",
        "sam_run_failures_total{profile=\"p\",process=\"download-subscriptions\"} 0",
        &format!(
            "sam_last_success_timestamp_seconds{{profile=\"p\",process=\"download-subscriptions\"}} {T0}"
        ),
        "sam_api_calls_total{profile=\"p\"} 3",
        "sam_reclaimed_seats_total{profile=\"p\"} 0",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    // Runs of profiles that do not exist are refused and leave no series behind.
    for i in 0..50 {
        let answer = client
            .post(format!("http://{addr}/api/v1/runs"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "profile": format!("nobody-{i}"), "process": "download-subscriptions" }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 404, "an unknown profile is not found");
    }
    let after = client
        .get(format!("http://{addr}/metrics"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(after, text, "unknown profiles added metrics lines");
    assert_eq!(runner.log.lock().unwrap().len(), 1);

    // A backup while the daemon holds the file: written where the daemon chooses (next to
    // the database, named with the schema version); a request that names a path is refused
    // (the body has no such field) and writes nothing there.
    let elsewhere = served.store.path().with_file_name("elsewhere.redb");
    let named = client
        .post(format!("http://{addr}/api/v1/backup"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "path": elsewhere }))
        .send()
        .await
        .unwrap();
    assert_eq!(named.status(), 422);
    assert!(named.text().await.unwrap().contains("`path`"));
    assert!(!elsewhere.exists());
    let answer: serde_json::Value = client
        .post(format!("http://{addr}/api/v1/backup"))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let made = std::path::PathBuf::from(answer["path"].as_str().unwrap());
    assert_eq!(made.parent(), served.store.path().parent(), "{answer}");

    let name = made.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("sam.redb.backup-v"), "{name}");
    assert!(!std::path::Path::new("/tmp/elsewhere.redb").exists());
    let copy = Store::open_read_only(&made).unwrap();
    assert!(copy.read().unwrap().profile("p").unwrap().is_some());
}

/// Stores a profile `name` (the daemon runs only stored profiles on demand).
pub(crate) fn with_profile(store: &Store, name: &str) {
    use sam_engine::model::*;
    let profile = IntegrationProfile {
        name: name.into(),
        display_name: name.into(),
        spoke_id: "fixture".into(),
        spoke_path: String::new(),
        status: ProfileStatus::Draft,
        processes: ProcessSet::default(),
        analyze_from: None,
        config: Vec::new(),
        connection: format!("fixture.{name}"),
        created_at: T0,
    };
    let connection = Connection {
        alias: profile.connection.clone(),
        connection_url: "http://127.0.0.1:1".into(),
        granted_hosts: Vec::new(),
        auth: AuthKind::StaticTokenEnv {
            variable: "T".into(),
        },
    };
    store
        .write(|tx| tx.create_profile(&profile, &connection, &[]))
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// The real binary

pub(crate) fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for `<db>.daemon` and returns the address in it.
pub(crate) async fn daemon_addr(db: &Path, child: &mut std::process::Child) -> String {
    let file = sam_engine::daemon::http::runtime_file(db);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(&file)
            && !text.trim().is_empty()
        {
            return text.trim().to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon did not start"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the daemon exited early"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Schedules `p`'s download now, as publishing would have (the profile is Published: a
/// schedule never runs a Draft profile).
fn schedule_download_now(db: &Path) {
    let store = Store::open(db).unwrap();
    store
        .write(|tx| {
            if let Some(mut p) = tx.profile("p")? {
                p.status = sam_engine::model::ProfileStatus::Published;
                tx.put_profile(&p)?;
            }
            tx.put_scheduled_job(&job(
                "p",
                "subs",
                ProcessKind::DownloadSubscriptions,
                DEFAULT_DAILY,
                0,
            ))
        })
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_run_then_restart_completes_with_no_duplicate_and_no_lost_record() {
    let sim = crate::pipeline::sim(2400).await;
    let token = sim.mint_token(&scopes());
    let dir = tempfile::tempdir().unwrap();
    let (db, clean_db) = (dir.path().join("d.redb"), dir.path().join("clean.redb"));
    let (s, t, k, c) = (&sim, token.clone(), db.clone(), clean_db.clone());
    tokio::task::block_in_place(|| {
        create_profile(&k, s, &t);
        create_profile(&c, s, &t);
    });
    schedule_download_now(&db);
    sim.set_latency(Endpoint::GroupMembers, Duration::from_millis(250));
    sim.reset_calls();

    let daemon_cmd = |db: &Path| {
        let mut cmd = sam(db, &token, &["daemon", "--listen", "127.0.0.1:0"]);
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd
    };
    let mut child = daemon_cmd(&db).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while sim.calls_to(Endpoint::GroupMembers) < 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "the run did not get going"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the daemon exited early"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(child.id(), "TERM");
    let status = tokio::task::block_in_place(|| child.wait()).unwrap();
    assert!(status.success(), "SIGTERM is a clean exit: {status:?}");
    assert!(!sam_engine::daemon::http::runtime_file(&db).exists());
    {
        let store = Store::open(&db).unwrap();
        let read = store.read().unwrap();
        let cp = read
            .checkpoint("p", ProcessKind::DownloadSubscriptions)
            .unwrap()
            .expect("the stopped run kept its checkpoint");
        assert!(cp.pages >= 1, "{cp:?}");
        assert_eq!(
            crate::pipeline::staged_users(&read, &cp).len() as u64,
            cp.records_seen
        );
        assert!(
            read.subscriptions("p").unwrap().is_empty(),
            "not merged yet"
        );
        let job = read.scheduled_job("subs").unwrap().unwrap();
        assert_eq!(job.next_run, 0, "the stopped job is still due");
    }

    // Restart: the due job resumes and completes.
    sim.set_latency(Endpoint::GroupMembers, Duration::ZERO);
    let mut child = daemon_cmd(&db).spawn().unwrap();
    let addr = daemon_addr(&db, &mut child).await;
    let client = reqwest::Client::new();
    let health: serde_json::Value = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let api_token = sam_engine::app::tokens::read_local_token(&db).expect("the daemon's token");
    loop {
        let text = client
            .get(format!("http://{addr}/metrics"))
            .bearer_auth(&api_token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains(
            "sam_last_success_timestamp_seconds{profile=\"p\",process=\"download-subscriptions\"}",
        ) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the resumed run did not finish:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // `sam run` while the daemon holds the database: the daemon runs it.
    let (k, t) = (db.clone(), token.clone());
    let out = tokio::task::block_in_place(|| {
        sam(&k, &t, &["run", "download", "--draft", "--profile", "p"])
            .output()
            .unwrap()
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("run by the daemon"), "{stdout}");

    signal(child.id(), "INT");
    let status = tokio::task::block_in_place(|| child.wait()).unwrap();
    assert!(status.success());

    let (c, t) = (clean_db.clone(), token.clone());
    let clean = tokio::task::block_in_place(|| run_download(&c, &t));
    assert_eq!(clean["status"], "succeeded");
    let resumed = Store::open(&db).unwrap();
    let clean_store = Store::open(&clean_db).unwrap();
    let results = resumed.read().unwrap().job_results().unwrap();
    assert_eq!(
        results.len(),
        2,
        "the resumed run and the on-demand run: {results:?}"
    );
    assert_eq!(results[0].status, JobStatus::Succeeded);
    assert_eq!(results[0].attempts, 2);
    assert_eq!(
        results[0].records_seen,
        clean["records_seen"].as_u64().unwrap()
    );
    assert_eq!(
        results[1].upserted, 0,
        "a rerun on unchanged data changes nothing"
    );
    let (a, b) = (facts(&resumed), facts(&clean_store));
    assert_eq!(a.len(), members(&sim, "confluence-users").len());
    assert_eq!(a, b);
}

#[test]
fn jobs_set_edits_a_schedule_and_jobs_list_shows_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.redb");
    schedule_download_now(&db);
    let out = sam(
        &db,
        "t",
        &["jobs", "set", "subs", "--schedule", "0 30 2 * * *"],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sam(&db, "t", &["jobs", "list", "--json"]).output().unwrap();
    let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(jobs[0]["schedule"], "0 30 2 * * *");
    let next = jobs[0]["next_run"].as_i64().unwrap();
    assert_eq!(
        next.rem_euclid(DAY),
        2 * HOUR + 30 * 60,
        "next run at 02:30 UTC"
    );
    let table = sam(&db, "t", &["jobs", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&table.stdout).contains("Next run"));

    let bad = sam(
        &db,
        "t",
        &["jobs", "set", "subs", "--schedule", "every day"],
    )
    .output()
    .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid schedule"));
}

/// Issue 24: a schedule never runs a Draft profile, with the real runner: the job is due,
/// the daemon's tick holds it (no run, no result, its next run unmoved, not counted as due)
/// and the vendor (a loopback peer counting connections) is never called; the runner itself
/// refuses a scheduled Draft run naming the reason; the same runner asked on demand with
/// `--draft` goes past the check (and then reaches for the vendor).
#[tokio::test]
async fn a_schedule_never_runs_a_draft_profile_even_with_the_real_runner() {
    use sam_engine::app::jobs::EngineRunner;
    use sam_engine::config::{Overrides, Settings};
    use sam_engine::model::JobTrigger;

    let vendor = sam_tests::loopback::ConnectionCounter::start()
        .await
        .unwrap();
    let (dir, store) = store_with_profile("confluence-cloud", None);
    store
        .write(|tx| {
            let mut connection = tx
                .connection("confluence-cloud.subscription_activity_reclaim.p")?
                .unwrap();
            connection.connection_url = format!("http://127.0.0.1:{}", vendor.port());
            tx.put_connection(&connection)?;
            tx.put_scheduled_job(&job(
                "p",
                "refresh",
                ProcessKind::DownloadSubscriptions,
                DEFAULT_DAILY,
                T0,
            ))
        })
        .unwrap();
    assert_eq!(
        store.read().unwrap().profile("p").unwrap().unwrap().status,
        sam_engine::model::ProfileStatus::Draft
    );
    let store = Arc::new(store);
    let settings = Settings::resolve(
        &Overrides {
            db: Some(dir.path().join("sam.redb")),
            cache_dir: Some(dir.path().join("cache")),
            plugins_dir: Some(dir.path().join("plugins")),
            key_file: Some(dir.path().join("key")),
            config_file: None,
        },
        &|_| None,
        None,
    )
    .unwrap();
    let clock = ManualClock::new(T0);
    let runner = Arc::new(EngineRunner::new(
        crate::host(),
        store.clone(),
        settings,
        Arc::new(clock.clone()),
    ));
    let daemon = Daemon::new(
        store.clone(),
        Arc::new(clock.clone()),
        runner.clone(),
        DaemonOptions::default(),
    );
    clock.set(T0 + 2 * 86_400);
    let runs = daemon.run_due().await.unwrap();
    assert!(
        runs.is_empty(),
        "a Draft profile's due job is held: {runs:?}"
    );
    assert_eq!(daemon.next_due().unwrap(), None, "nothing schedulable");
    let held = store
        .read()
        .unwrap()
        .scheduled_job("refresh")
        .unwrap()
        .unwrap();
    assert_eq!(held.next_run, T0, "a held job keeps its next run");
    assert!(
        store.read().unwrap().job_results().unwrap().is_empty(),
        "a held job records nothing"
    );
    assert_eq!(vendor.connections(), 0, "a held Draft job calls no vendor");

    // The same runner on demand with `--draft` passes the check and goes to the vendor.
    let stop = AtomicBool::new(false);
    let asked = RunRequest {
        profile: "p".into(),
        process: ProcessKind::DownloadSubscriptions,
        trigger: JobTrigger::Manual,
        draft: true,
    };
    let outcome = sam_engine::daemon::JobRunner::run(&*runner, &asked, &stop).await;
    assert!(
        !format!("{outcome:?}").contains("Draft"),
        "on demand with --draft is not refused: {outcome:?}"
    );
    // And scheduled with the flag forced on, still refused: the trigger decides.
    let forced = RunRequest {
        trigger: JobTrigger::Schedule,
        ..asked
    };
    let before = vendor.connections();
    let outcome = sam_engine::daemon::JobRunner::run(&*runner, &forced, &stop).await;
    assert!(format!("{outcome:?}").contains("Draft"), "{outcome:?}");
    assert_eq!(vendor.connections(), before);
}
