//! The daemon (`sam daemon`): runs each published profile's scheduled jobs on their cron
//! schedule, serves on-demand runs (`sam run` while the daemon holds the database), health
//! and metrics. Design: a scheduler loop over an injected [`DaemonClock`] finds the due jobs
//! (active, next run in the past — so a run missed while the daemon was down runs once at
//! start; a Draft profile's jobs are held, not run, until it is published again), groups them
//! by profile and runs each profile's jobs in order (download, activity, candidates,
//! reconciliation) while profiles run concurrently up to a limit (a tokio
//! semaphore). A per-profile lock serialises scheduled and on-demand runs: never two runs of
//! one profile at once. A failed attempt is retried with capped exponential backoff; a
//! rate-limited one (the vendor's quota, resetting at the top of the hour) pauses until
//! `Retry-After`, else the next full hour, and resumes from the pipeline's checkpoint without
//! counting as a failure. Shutdown raises a flag the pipeline checks after each committed
//! page: the run stops with its checkpoint kept, the job keeps its past next-run time, and
//! the next start resumes it. The jobs themselves run behind the [`JobRunner`] trait (the
//! CLI provides the real one), so the scheduler is tested with a fake runner and a
//! [`ManualClock`].

pub mod clock;
pub mod http;
pub mod metrics;
pub mod schedule;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, Semaphore};

pub use clock::{DaemonClock, ManualClock, SystemDaemonClock};
pub use metrics::Metrics;

use crate::model::{EpochSeconds, JobTrigger, ProcessKind, ScheduledJob};
use crate::store::Store;

/// One run to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    /// The profile.
    pub profile: String,
    /// The process.
    pub process: ProcessKind,
    /// Scheduled or on demand.
    pub trigger: JobTrigger,
    /// Run a Draft profile (asked explicitly, on demand only; a schedule never runs one).
    #[serde(default)]
    pub draft: bool,
}

/// A successful run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunOutcome {
    /// The job result id, where one was recorded.
    pub job_id: Option<u64>,
    /// What happened, for people.
    pub summary: String,
    /// Vendor requests made.
    pub api_calls: u64,
    /// Seats reclaimed.
    pub reclaimed: u64,
}

/// Why a run did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunFailure {
    /// The vendor's rate limit or quota: retry after the reset.
    #[error("rate limited: {message}")]
    RateLimited {
        /// Seconds until the vendor accepts requests again, where it said so.
        retry_after_seconds: Option<u64>,
        /// What went wrong.
        message: String,
    },
    /// The stop flag was raised; the checkpoint is kept.
    #[error("stopped for shutdown: {0}")]
    Stopped(String),
    /// A failure worth retrying.
    #[error("{0}")]
    Failed(String),
    /// A failure retrying cannot fix (unknown profile, bad configuration).
    #[error("{0}")]
    Fatal(String),
}

impl From<crate::pipeline::PipelineError> for RunFailure {
    fn from(e: crate::pipeline::PipelineError) -> Self {
        use crate::pipeline::PipelineError;
        if let Some(retry_after_seconds) = e.rate_limited() {
            return RunFailure::RateLimited {
                retry_after_seconds,
                message: e.to_string(),
            };
        }
        match e {
            PipelineError::Stopped { .. } => RunFailure::Stopped(e.to_string()),
            PipelineError::UnknownProfile(_) => RunFailure::Fatal(e.to_string()),
            other => RunFailure::Failed(other.to_string()),
        }
    }
}

/// Runs one job (the CLI's implementation opens the profile's session and runs the pipeline,
/// the reclaimer or the reconciliation).
pub trait JobRunner: Send + Sync {
    /// Runs `request`, checking `stop` between pages.
    fn run<'a>(
        &'a self,
        request: &'a RunRequest,
        stop: &'a AtomicBool,
    ) -> BoxFuture<'a, Result<RunOutcome, RunFailure>>;
}

/// Tunables.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// Profiles running at once.
    pub max_concurrent: usize,
    /// Attempts per job before it is given up until its next scheduled time.
    pub max_attempts: u32,
    /// First retry delay; doubled per failed attempt.
    pub backoff_base_seconds: i64,
    /// Longest retry delay.
    pub backoff_cap_seconds: i64,
    /// Quota pauses per run before it is given up (a vendor that never resets).
    pub max_quota_pauses: u32,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        Self {
            max_concurrent: 4,
            max_attempts: 3,
            backoff_base_seconds: 60,
            backoff_cap_seconds: 900,
            max_quota_pauses: 48,
        }
    }
}

/// The daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The store failed.
    #[error("database: {0}")]
    Store(String),
    /// A job's schedule does not parse.
    #[error("job `{job}`: {source}")]
    Schedule {
        /// The job.
        job: String,
        /// Why.
        #[source]
        source: schedule::ScheduleError,
    },
}

/// One job's run by the scheduler, as reported by [`Daemon::run_due`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    /// The job's name.
    pub job: String,
    /// When it started.
    pub started_at: EpochSeconds,
    /// How it ended.
    pub outcome: Result<RunOutcome, RunFailure>,
}

/// The scheduler and on-demand runner.
pub struct Daemon {
    store: Arc<Store>,
    clock: Arc<dyn DaemonClock>,
    runner: Arc<dyn JobRunner>,
    options: DaemonOptions,
    metrics: Metrics,
    semaphore: Semaphore,
    profile_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    stop: AtomicBool,
    stop_notify: Notify,
    wake: Notify,
}

/// The top of the hour after `now` (when the vendor's quota resets, by its API notes).
pub fn next_hour(now: EpochSeconds) -> EpochSeconds {
    (now.div_euclid(3600) + 1) * 3600
}

impl Daemon {
    /// A daemon over `store`, running jobs through `runner`.
    pub fn new(
        store: Arc<Store>,
        clock: Arc<dyn DaemonClock>,
        runner: Arc<dyn JobRunner>,
        options: DaemonOptions,
    ) -> Self {
        let permits = options.max_concurrent.max(1);
        Self {
            store,
            clock,
            runner,
            options,
            metrics: Metrics::default(),
            semaphore: Semaphore::new(permits),
            profile_locks: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            stop_notify: Notify::new(),
            wake: Notify::new(),
        }
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Asks every run to stop after its page in flight, and the loop to end.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.stop_notify.notify_waiters();
        self.wake.notify_waiters();
    }

    /// Whether [`Daemon::shutdown`] was called.
    pub fn is_stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Wakes the loop to re-read the schedules (after `sam jobs set`, say).
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    async fn sleep_until(&self, at: EpochSeconds) {
        if self.is_stopping() {
            return;
        }
        let stopped = self.stop_notify.notified();
        tokio::select! {
            _ = self.clock.sleep_until(at) => {}
            _ = stopped => {}
        }
    }

    fn profile_lock(&self, profile: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.profile_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(profile.to_string()).or_default().clone()
    }

    /// The jobs a schedule may run: active ones whose profile is not Draft. A Draft
    /// profile's jobs are held as they are (not run, not recorded, their next run not
    /// moved) until publishing resumes them; the runner refuses a scheduled Draft run too.
    fn schedulable_jobs(&self) -> Result<Vec<ScheduledJob>, DaemonError> {
        let failed = |e: crate::store::ReadError| DaemonError::Store(e.to_string());
        let read = self.store.read().map_err(failed)?;
        let draft: std::collections::BTreeSet<String> = read
            .profiles()
            .map_err(failed)?
            .into_iter()
            .filter(|p| p.status == crate::model::ProfileStatus::Draft)
            .map(|p| p.name)
            .collect();
        Ok(read
            .scheduled_jobs()
            .map_err(failed)?
            .into_iter()
            .filter(|job| job.active && !draft.contains(&job.profile))
            .collect())
    }

    /// When the next job a schedule may run is due (`None` when there is none).
    pub fn next_due(&self) -> Result<Option<EpochSeconds>, DaemonError> {
        Ok(self.schedulable_jobs()?.iter().map(|j| j.next_run).min())
    }

    /// Runs every job due now (profiles concurrently, each profile's jobs in order) and
    /// moves each finished job's next run to its schedule's next time after now. A job
    /// stopped by shutdown keeps its next run, so the next start runs it (resuming).
    pub async fn run_due(&self) -> Result<Vec<JobRun>, DaemonError> {
        let now = self.clock.now();
        let mut by_profile: BTreeMap<String, Vec<ScheduledJob>> = BTreeMap::new();
        for job in self.schedulable_jobs()? {
            if job.next_run <= now {
                by_profile.entry(job.profile.clone()).or_default().push(job);
            }
        }
        let tasks = by_profile.into_values().map(|mut jobs| {
            jobs.sort_by_key(|j| (schedule::process_order(j.process), j.name.clone()));
            self.run_profile_jobs(jobs)
        });
        let mut runs = Vec::new();
        for result in futures::future::join_all(tasks).await {
            runs.extend(result?);
        }
        Ok(runs)
    }

    async fn run_profile_jobs(&self, jobs: Vec<ScheduledJob>) -> Result<Vec<JobRun>, DaemonError> {
        let mut runs = Vec::new();
        let Ok(_permit) = self.semaphore.acquire().await else {
            return Ok(runs);
        };
        for job in jobs {
            if self.is_stopping() {
                break;
            }
            let parsed = schedule::Schedule::parse(&job.schedule).map_err(|source| {
                DaemonError::Schedule {
                    job: job.name.clone(),
                    source,
                }
            })?;
            let request = RunRequest {
                profile: job.profile.clone(),
                process: job.process,
                trigger: JobTrigger::Schedule,
                draft: false,
            };
            let started_at = self.clock.now();
            let outcome = {
                let lock = self.profile_lock(&job.profile);
                let _held = lock.lock().await;
                self.run_with_retry(&request).await
            };
            if !matches!(outcome, Err(RunFailure::Stopped(_))) {
                let after = self.clock.now().max(job.next_run);
                let next = parsed.next_after(after);
                let name = job.name.clone();
                let moved = self.store.write(|tx| {
                    // Re-read: the schedule may have been edited meanwhile.
                    if let Some(mut current) = tx.scheduled_job(&name)? {
                        match next {
                            Some(n) if current.schedule == job.schedule => current.next_run = n,
                            Some(_) => {
                                current.next_run =
                                    schedule::next_run(&current.schedule, after).unwrap_or(after)
                            }
                            None => current.active = false,
                        }
                        tx.put_scheduled_job(&current)?;
                    }
                    Ok::<_, crate::store::WriteError>(())
                });
                moved.map_err(|e| DaemonError::Store(e.to_string()))?;
            }
            tracing::info!(job = %job.name, outcome = ?outcome, "job finished");
            runs.push(JobRun {
                job: job.name,
                started_at,
                outcome,
            });
        }
        Ok(runs)
    }

    /// Runs `request` now, serialised with the profile's scheduled jobs (on-demand runs from
    /// `sam run` or `POST /runs`).
    pub async fn run_now(&self, request: &RunRequest) -> Result<RunOutcome, RunFailure> {
        // Metrics labels and profile locks are keyed by profile: only a stored profile gets
        // one, so unknown names sent to `POST /runs` add nothing that lasts.
        let request = &self.known_request(request)?;
        let Ok(_permit) = self.semaphore.acquire().await else {
            return Err(RunFailure::Stopped("the daemon is stopping".into()));
        };
        let lock = self.profile_lock(&request.profile);
        let _held = lock.lock().await;
        self.run_with_retry(request).await
    }

    /// Runs `work` (a reclaim, an undo: anything that calls the profile's vendor or changes
    /// its seats outside a scheduled job) the way [`Daemon::run_now`] runs a job: with a
    /// permit of the daemon's concurrency and under the profile's lock, so it never runs
    /// beside the profile's scheduled or on-demand job. Only a stored profile gets a lock.
    pub async fn serialised<F: std::future::Future>(
        &self,
        profile: &str,
        work: F,
    ) -> Result<F::Output, RunFailure> {
        let exists = self
            .store
            .read()
            .and_then(|r| r.profile(profile))
            .map_err(|e| RunFailure::Failed(e.to_string()))?
            .is_some();
        if !exists {
            return Err(RunFailure::Fatal(format!("no profile named `{profile}`")));
        }
        let Ok(_permit) = self.semaphore.acquire().await else {
            return Err(RunFailure::Stopped("the daemon is stopping".into()));
        };
        let lock = self.profile_lock(profile);
        let _held = lock.lock().await;
        Ok(work.await)
    }

    /// The flag [`Daemon::shutdown`] raises: long work run through [`Daemon::serialised`]
    /// stops after its item in flight when it is set.
    pub fn stop_flag(&self) -> &AtomicBool {
        &self.stop
    }

    /// `request` if its profile exists (a reconcile, which covers every model, is labelled
    /// `all` unless it names a stored profile); a fatal failure otherwise.
    fn known_request(&self, request: &RunRequest) -> Result<RunRequest, RunFailure> {
        let exists = self
            .store
            .read()
            .and_then(|r| r.profile(&request.profile))
            .map_err(|e| RunFailure::Failed(e.to_string()))?
            .is_some();
        match (exists, request.process) {
            (true, _) => Ok(request.clone()),
            (false, ProcessKind::Reconcile) => Ok(RunRequest {
                profile: "all".into(),
                ..request.clone()
            }),
            (false, _) => Err(RunFailure::Fatal(format!(
                "no profile named `{}`",
                request.profile
            ))),
        }
    }

    /// One job with retries (capped exponential backoff) and quota pauses.
    pub async fn run_with_retry(&self, request: &RunRequest) -> Result<RunOutcome, RunFailure> {
        let (profile, process) = (request.profile.as_str(), request.process);
        let mut failures = 0u32;
        let mut pauses = 0u32;
        loop {
            if self.is_stopping() {
                return Err(RunFailure::Stopped("before the run started".into()));
            }
            self.metrics.run_started(profile, process);
            match self.runner.run(request, &self.stop).await {
                Ok(outcome) => {
                    self.metrics.run_succeeded(
                        profile,
                        process,
                        self.clock.now(),
                        outcome.api_calls,
                        outcome.reclaimed,
                    );
                    return Ok(outcome);
                }
                Err(RunFailure::RateLimited {
                    retry_after_seconds,
                    message,
                }) => {
                    pauses += 1;
                    self.metrics.quota_paused(profile, process);
                    if pauses > self.options.max_quota_pauses {
                        self.metrics.run_failed(profile, process);
                        return Err(RunFailure::RateLimited {
                            retry_after_seconds,
                            message,
                        });
                    }
                    let now = self.clock.now();
                    let resume = match retry_after_seconds {
                        Some(s) => now.saturating_add(s.min(86_400) as i64),
                        None => next_hour(now),
                    };
                    tracing::warn!(profile, %process, resume, %message, "quota exhausted: pausing until the reset");
                    self.sleep_until(resume).await;
                }
                Err(RunFailure::Failed(message)) => {
                    failures += 1;
                    self.metrics.run_failed(profile, process);
                    if failures >= self.options.max_attempts {
                        return Err(RunFailure::Failed(message));
                    }
                    let delay = self
                        .options
                        .backoff_base_seconds
                        .saturating_mul(1i64 << (failures - 1).min(30))
                        .min(self.options.backoff_cap_seconds);
                    tracing::warn!(profile, %process, attempt = failures, delay, %message, "run failed: retrying");
                    self.sleep_until(self.clock.now() + delay).await;
                }
                Err(other) => {
                    if !matches!(other, RunFailure::Stopped(_)) {
                        self.metrics.run_failed(profile, process);
                    }
                    return Err(other);
                }
            }
        }
    }

    /// The scheduler loop: runs what is due, then sleeps until the next due job (or a wake),
    /// until shutdown — or, with `until`, until the next due time is past it (tests).
    pub async fn run_loop(&self, until: Option<EpochSeconds>) -> Result<Vec<JobRun>, DaemonError> {
        let mut all = Vec::new();
        loop {
            if self.is_stopping() {
                break;
            }
            all.extend(self.run_due().await?);
            if self.is_stopping() {
                break;
            }
            let next = self.next_due()?;
            if let (Some(limit), next) = (until, next)
                && next.is_none_or(|n| n > limit)
            {
                break;
            }
            let woken = self.wake.notified();
            match next {
                Some(at) => {
                    tokio::select! {
                        _ = self.sleep_until(at) => {}
                        _ = woken => {}
                    }
                }
                None => {
                    let stopped = self.stop_notify.notified();
                    tokio::select! {
                        _ = woken => {}
                        _ = stopped => {}
                    }
                }
            }
        }
        Ok(all)
    }
}
