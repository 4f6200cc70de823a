//! `sam daemon [--listen ADDR] [--max-concurrent N]`: holds the database, runs the published
//! profiles' scheduled jobs (see [`crate::daemon`]), serves `/healthz`, `/metrics` and
//! `POST /runs` on a loopback address (written to `<db>.daemon` so `sam run` can find it),
//! and on SIGTERM or SIGINT finishes the page in flight, commits and exits. Also the
//! [`EngineRunner`] that runs a job for real (the profile's spoke session, the pipeline, the
//! reclaimer, the reconciliation) and the client `sam run` uses while a daemon runs.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Args;
use futures::future::BoxFuture;

use super::profile::open_store;
use super::{CliError, write_out};
use crate::config::Settings;
use crate::daemon::http::{RunAnswer, RunBody, read_runtime_file, runtime_file};
use crate::daemon::{
    Daemon, DaemonClock, DaemonOptions, JobRunner, RunFailure, RunOutcome, RunRequest,
    SystemDaemonClock,
};
use crate::host::SpokeHost;
use crate::model::{JobResult, JobStatus, ProcessKind};
use crate::pipeline::{Clock, Pipeline, SpokeSource};
use crate::store::Store;

/// Arguments of `sam daemon`.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Loopback address to serve /healthz, /metrics and /runs on [default: config `listen`,
    /// 127.0.0.1:8977]; port 0 picks a free one.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Profiles running at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub max_concurrent: usize,
}

/// Runs jobs for real.
pub struct EngineRunner {
    host: SpokeHost,
    store: Arc<Store>,
    settings: Settings,
    clock: Arc<dyn DaemonClock>,
}

impl EngineRunner {
    /// A runner over `store`, loading spokes with `host`.
    pub fn new(
        host: SpokeHost,
        store: Arc<Store>,
        settings: Settings,
        clock: Arc<dyn DaemonClock>,
    ) -> Self {
        Self {
            host,
            store,
            settings,
            clock,
        }
    }

    fn cli_failure(e: CliError) -> RunFailure {
        match e {
            CliError::User(m) => RunFailure::Fatal(m),
            CliError::Failure(m) => RunFailure::Failed(m),
        }
    }

    /// Default rules of new models, then the reconciliation (after a subscription download).
    fn after_download(&self, profile: &str) -> String {
        let clock: &dyn Clock = &*self.clock;
        let now = clock.now();
        if let Err(e) = self
            .store
            .write(|tx| crate::reclaim::ensure_rules(tx, profile, now))
        {
            tracing::warn!(error = %e, "could not create the default reclamation rules");
        }
        match crate::reconcile::run(&self.store, clock) {
            Ok(results) => format!("; reconciled {} software models", results.len()),
            Err(e) => format!("; reconciliation failed: {e}"),
        }
    }

    /// The reconciliation job, recorded as a job result.
    fn reconcile(&self, request: &RunRequest) -> Result<RunOutcome, RunFailure> {
        let clock: &dyn Clock = &*self.clock;
        let started = clock.now();
        let outcome = crate::reconcile::run(&self.store, clock);
        let ended = clock.now();
        let (status, errors, summary) = match &outcome {
            Ok(results) => (
                JobStatus::Succeeded,
                Vec::new(),
                format!("reconciled {} software models", results.len()),
            ),
            Err(e) => (JobStatus::Failed, vec![e.to_string()], e.to_string()),
        };
        let job_id = self
            .store
            .write(|tx| {
                let id = tx.next_seq("job")?;
                tx.put_job_result(&JobResult {
                    id,
                    profile: request.profile.clone(),
                    process: ProcessKind::Reconcile,
                    trigger: request.trigger,
                    started_at: started,
                    ended_at: Some(ended),
                    status,
                    attempts: 1,
                    pages: 0,
                    records_seen: 0,
                    upserted: 0,
                    ended: 0,
                    api_calls: 0,
                    retries: 0,
                    errors,
                })?;
                Ok::<_, crate::store::WriteError>(id)
            })
            .map_err(|e| RunFailure::Failed(e.to_string()))?;
        match outcome {
            Ok(_) => Ok(RunOutcome {
                job_id: Some(job_id),
                summary,
                api_calls: 0,
                reclaimed: 0,
            }),
            Err(_) => Err(RunFailure::Failed(summary)),
        }
    }

    async fn run_inner(
        &self,
        request: &RunRequest,
        stop: &AtomicBool,
    ) -> Result<RunOutcome, RunFailure> {
        if request.process == ProcessKind::Reconcile {
            return self.reconcile(request);
        }
        let opened = super::session::open_profile_session(
            &self.host,
            &self.store,
            &self.settings,
            &request.profile,
        )
        .await
        .map_err(Self::cli_failure)?;
        let clock: &dyn Clock = &*self.clock;
        match request.process {
            ProcessKind::DownloadSubscriptions | ProcessKind::DownloadActivity => {
                let activity = request.process == ProcessKind::DownloadActivity;
                if activity && !opened.profile.processes.activity {
                    return Err(RunFailure::Fatal(format!(
                        "profile `{}` does not enable activity download",
                        request.profile
                    )));
                }
                let source = SpokeSource::new(opened.spoke, opened.session, opened.config);
                let pipeline = Pipeline::new(&self.store)
                    .clock(clock)
                    .trigger(request.trigger)
                    .stop_when(stop);
                let job = if activity {
                    pipeline.download_activity(&source, &request.profile).await
                } else {
                    pipeline
                        .download_subscriptions(&source, &request.profile)
                        .await
                }
                .map_err(RunFailure::from)?;
                let mut summary = format!(
                    "{} run {} on profile {}: {} pages, {} records, {} upserted, {} ended, {} API calls, {} attempts",
                    job.process,
                    job.id,
                    job.profile,
                    job.pages,
                    job.records_seen,
                    job.upserted,
                    job.ended,
                    job.api_calls,
                    job.attempts
                );
                if !activity {
                    summary.push_str(&self.after_download(&request.profile));
                }
                Ok(RunOutcome {
                    job_id: Some(job.id),
                    summary,
                    api_calls: job.api_calls,
                    reclaimed: 0,
                })
            }
            ProcessKind::Reclaim => {
                let seats =
                    crate::reclaim::SpokeSeats::new(opened.spoke, opened.session, opened.config)
                        .with_granted_scopes(opened.granted_scopes);
                let notifier = crate::reclaim::LogNotifier;
                let report = crate::reclaim::Reclaimer::new(&self.store)
                    .clock(clock)
                    .notifier(&notifier)
                    .stop_when(stop)
                    .run(&seats, &request.profile)
                    .await
                    .map_err(|e| RunFailure::Failed(e.to_string()))?;
                let mut summary = format!(
                    "reclaim on profile {}: {} candidates created, {} canceled, {} reclaimed",
                    report.profile,
                    report.identify.created.len(),
                    report.identify.canceled.len(),
                    report.reclaimed
                );
                if report.resumed > 0 {
                    summary.push_str(&format!(
                        " ({} interrupted reclaims finished first)",
                        report.resumed
                    ));
                }
                if report.stopped {
                    summary.push_str(
                        "; stopped for shutdown after the seat in flight (the run resumes next time)",
                    );
                }
                if let Some(why) = &report.halted {
                    summary.push_str(&format!("; {why}"));
                }
                Ok(RunOutcome {
                    job_id: report.job,
                    summary,
                    api_calls: report.api_calls,
                    reclaimed: report.reclaimed,
                })
            }
            ProcessKind::Reconcile => self.reconcile(request),
        }
    }
}

impl EngineRunner {
    /// Finishes, profile by profile, the reclaims an interrupted process left planned; a
    /// profile that cannot be opened is logged and left for its next run.
    async fn finish_interrupted_reclaims(&self) {
        let intents = match self.store.read().and_then(|r| r.all_reclaim_intents()) {
            Ok(intents) => intents,
            Err(e) => {
                tracing::error!(error = %e, "cannot read interrupted reclaims");
                return;
            }
        };
        let profiles: std::collections::BTreeSet<String> = intents
            .into_iter()
            .filter(|i| i.status == crate::model::IntentStatus::Pending)
            .map(|i| i.profile)
            .collect();
        for profile in profiles {
            let opened = match super::session::open_profile_session(
                &self.host,
                &self.store,
                &self.settings,
                &profile,
            )
            .await
            {
                Ok(opened) => opened,
                Err(e) => {
                    tracing::error!(%profile, error = %e, "cannot finish interrupted reclaims");
                    continue;
                }
            };
            let seats =
                crate::reclaim::SpokeSeats::new(opened.spoke, opened.session, opened.config)
                    .with_granted_scopes(opened.granted_scopes);
            let clock: &dyn Clock = &*self.clock;
            match crate::reclaim::Reclaimer::new(&self.store)
                .clock(clock)
                .finish_interrupted(&seats, &profile)
                .await
            {
                Ok(done) => tracing::info!(
                    %profile,
                    finished = done.len(),
                    "interrupted reclaims finished from their stored plans"
                ),
                Err(e) => {
                    tracing::error!(%profile, error = %e, "cannot finish interrupted reclaims")
                }
            }
        }
    }
}

impl JobRunner for EngineRunner {
    fn run<'a>(
        &'a self,
        request: &'a RunRequest,
        stop: &'a AtomicBool,
    ) -> BoxFuture<'a, Result<RunOutcome, RunFailure>> {
        Box::pin(self.run_inner(request, stop))
    }
}

pub(super) async fn run(
    host: &SpokeHost,
    settings: &Settings,
    args: DaemonArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let listen = args.listen.unwrap_or_else(|| settings.listen.clone());
    let addr: SocketAddr = listen
        .parse()
        .map_err(|e| CliError::User(format!("invalid listen address `{listen}`: {e}")))?;
    if !addr.ip().is_loopback() {
        return Err(CliError::User(format!(
            "the daemon listens on loopback only; `{addr}` is not a loopback address"
        )));
    }
    let store = Arc::new(open_store(Some(&settings.db))?);
    let clock: Arc<dyn DaemonClock> = Arc::new(SystemDaemonClock);
    let runner = Arc::new(EngineRunner::new(
        host.clone(),
        store.clone(),
        settings.clone(),
        clock.clone(),
    ));
    let daemon = Arc::new(Daemon::new(
        store,
        clock,
        runner.clone(),
        DaemonOptions {
            max_concurrent: args.max_concurrent.max(1),
            ..DaemonOptions::default()
        },
    ));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::Failure(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| CliError::Failure(e.to_string()))?;
    let runtime = runtime_file(&settings.db);
    std::fs::write(&runtime, format!("{bound}\n"))
        .map_err(|e| CliError::Failure(format!("cannot write {}: {e}", runtime.display())))?;
    write_out(out, &format!("sam daemon listening on http://{bound}\n"))?;
    let _ = out.flush();
    tracing::info!(%bound, "daemon started");

    let signals = {
        let daemon = daemon.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("signal received: finishing the pages in flight");
            daemon.shutdown();
        })
    };
    let server = {
        let daemon = daemon.clone();
        let app = crate::daemon::http::router(daemon.clone());
        tokio::spawn(async move {
            let stopping = async move {
                while !daemon.is_stopping() {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            };
            axum::serve(listener, app)
                .with_graceful_shutdown(stopping)
                .await
        })
    };
    // Reclaims an interrupted process left planned are finished before anything else.
    runner.finish_interrupted_reclaims().await;
    let outcome = daemon.run_loop(None).await;
    daemon.shutdown();
    let _ = std::fs::remove_file(&runtime);
    signals.abort();
    // In-flight requests (a `POST /runs` reclaim finishing its seat in flight) get their
    // answer: the seat's apply is bounded by the call deadline.
    let grace = host.limits().call_deadline + std::time::Duration::from_secs(30);
    let _ = tokio::time::timeout(grace, server).await;
    outcome.map_err(|e| CliError::Failure(e.to_string()))?;
    write_out(out, "sam daemon stopped\n")
}

pub(super) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Asks the daemon that holds `db` to run `process` on `profile` (`sam run` while the daemon
/// runs). `Ok(None)` when no daemon answers (the caller reports the in-use error).
pub(super) async fn run_via_daemon(
    db: &Path,
    profile: &str,
    process: ProcessKind,
) -> Result<Option<String>, CliError> {
    let Some(addr) = read_runtime_file(db) else {
        return Ok(None);
    };
    let client = reqwest::Client::new();
    let response = client
        .post(format!("http://{addr}/runs"))
        .json(&RunBody {
            profile: profile.to_string(),
            process,
        })
        .send()
        .await;
    let Ok(response) = response else {
        return Ok(None);
    };
    let answer: RunAnswer = response
        .json()
        .await
        .map_err(|e| CliError::Failure(format!("the daemon at {addr} answered oddly: {e}")))?;
    match answer.outcome {
        Ok(outcome) => Ok(Some(format!(
            "run by the daemon at {addr}: {}\n",
            outcome.summary
        ))),
        Err(RunFailure::Fatal(m)) => Err(CliError::User(m)),
        Err(e) => Err(CliError::Failure(format!(
            "the daemon at {addr} ran it: {e}"
        ))),
    }
}

/// What `sam run` gets: the store, or the text of a run the daemon made for it.
pub(super) enum Opened {
    /// The database was free.
    Store(Arc<Store>),
    /// A daemon holds it and ran the job; its summary.
    Delegated(String),
}

/// Opens the database for `sam run`; when a daemon holds it, asks the daemon to run
/// `process` on `profile` instead (serialised with its scheduled jobs) and waits.
pub(super) async fn open_or_delegate(
    db: Option<&Path>,
    profile: &str,
    process: ProcessKind,
) -> Result<Opened, CliError> {
    match open_store(db) {
        Ok(store) => Ok(Opened::Store(Arc::new(store))),
        Err(error) => {
            let in_use = db.is_some_and(|p| {
                matches!(Store::open(p), Err(crate::store::OpenError::InUse { .. }))
            });
            if let (true, Some(path)) = (in_use, db)
                && let Some(text) = run_via_daemon(path, profile, process).await?
            {
                return Ok(Opened::Delegated(text));
            }
            Err(error)
        }
    }
}
