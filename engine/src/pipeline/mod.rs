//! The pipeline: runs a spoke's subflows page by page into the store, crash-safe and
//! resumable. Each page and the run's checkpoint (its id, phase and cursor) are written in
//! one write transaction, so a crash loses at most the page in flight and a rerun resumes
//! from the stored cursor of the unfinished run. Only the end of a complete run ends the
//! subscriptions it did not see. Pages are validated before anything is written: a malformed
//! record, a duplicate key, a cursor that does not advance or that cycles back to an earlier
//! page's, a record or field over its size limit ([`record_limits`]), a run past its page limit
//! ([`MAX_PAGES`] unless set; a profile's own limits, [`limits`], win) or a failed call stops the run with a [`PipelineError`] naming the
//! spoke, the page and the reason, and the job result says so. Display names and e-mails are
//! made inert (control characters escaped) before they are stored.
//! The pipeline is the only place that joins the plugin host ([`source::SpokeSource`]) and
//! the store; it knows nothing of any vendor.

pub mod activity;
pub mod clock;
pub mod concurrency;
pub mod download;
pub mod limits;
mod prefetch;
pub mod progress;
pub mod seat_activity;
pub mod source;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

pub use clock::{Clock, FixedClock, SystemClock};
pub use concurrency::AdaptiveConcurrency;
pub use prefetch::{ReadAhead, ReadAheadPaging};
pub use progress::{BarProgress, LogProgress, NoProgress, Progress};
pub use source::{CallCounts, PageSource, ProductInfo, SourceError, SourceInfo, SpokeSource};

use crate::model::{
    AuditAction, Checkpoint, EpochSeconds, JobResult, JobStatus, JobTrigger, ProcessKind, RunPhase,
};
use crate::store::{ReadError, Store, WriteError, WriteTx};

/// Why a page was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PageFault {
    /// The spoke call failed.
    #[error("the call `{call}` failed: {message}")]
    Call {
        /// WIT export name.
        call: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The vendor refused the call for its rate limit or quota, after the engine's retries.
    #[error("the call `{call}` was rate limited: {message}")]
    RateLimited {
        /// WIT export name.
        call: &'static str,
        /// What went wrong.
        message: String,
        /// Seconds until the vendor accepts requests again, where it said so.
        retry_after_seconds: Option<u64>,
    },
    /// A record is not well formed.
    #[error("record {index} is malformed: {reason}")]
    Malformed {
        /// Position in the page (0-based).
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// Two records of the page have the same key.
    #[error("duplicate key {key} within the page")]
    DuplicateKey {
        /// The key.
        key: String,
    },
    /// A record repeats one an earlier page of the same run returned.
    #[error("key {key} was already returned by an earlier page of this run")]
    RepeatedKey {
        /// The key.
        key: String,
    },
    /// The next cursor equals the one the page was asked with.
    #[error(
        "the next cursor does not advance (it is the cursor the page was asked with: {cursor:?})"
    )]
    CursorDidNotAdvance {
        /// The cursor.
        cursor: String,
    },
    /// The run reached its page limit without the spoke reporting the last page.
    #[error("the run reached its limit of {limit} pages (an endless cursor?)")]
    TooManyPages {
        /// The limit.
        limit: u64,
    },
    /// A next cursor repeats one an earlier page of the run returned: the listing cycles.
    #[error("the cursor cycles: {cursor:?} was already returned by an earlier page of this run")]
    CursorCycle {
        /// The cursor (shown inert and cut short).
        cursor: String,
    },
    /// A record, or one of its fields, is larger than the engine stores.
    #[error("record {key} is refused: {reason}")]
    Oversized {
        /// The record's key (shown inert and cut short).
        key: String,
        /// Which limit.
        reason: String,
    },
    /// A lookup answered about a user it was not asked about.
    #[error("the answer is about user {user:?}, who was not asked about")]
    UnexpectedUser {
        /// The user id.
        user: String,
    },
}

/// A run failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// No such profile.
    #[error("no profile named `{0}`")]
    UnknownProfile(String),
    /// The spoke returned something the pipeline refuses, or its call failed.
    #[error("spoke `{spoke}`, {process} run {run}, page {page}: {fault}")]
    Page {
        /// The spoke's id.
        spoke: String,
        /// The process.
        process: ProcessKind,
        /// The run (job result id).
        run: u64,
        /// The page that failed (1-based; counts pages of this run, earlier attempts
        /// included).
        page: u64,
        /// Why.
        fault: PageFault,
    },
    /// A commit hook stopped the run (tests' failure injection).
    #[error("{process} run {run} stopped after committing page {page}: {reason}")]
    Interrupted {
        /// The process.
        process: ProcessKind,
        /// The run.
        run: u64,
        /// The last committed page.
        page: u64,
        /// What the hook said.
        reason: String,
    },
    /// The stop flag ([`Pipeline::stop_when`]) was raised: the page in flight was committed
    /// and the run stopped; its checkpoint stays, so the next run resumes.
    #[error("{process} run {run} stopped after committing page {page} (shutting down)")]
    Stopped {
        /// The process.
        process: ProcessKind,
        /// The run.
        run: u64,
        /// The last committed page.
        page: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The store failed.
    #[error(transparent)]
    Read(#[from] ReadError),
}

impl PipelineError {
    /// When the run failed on the vendor's rate limit or quota: `Some(retry-after seconds,
    /// where the vendor said)`.
    pub fn rate_limited(&self) -> Option<Option<u64>> {
        match self {
            PipelineError::Page {
                fault:
                    PageFault::RateLimited {
                        retry_after_seconds,
                        ..
                    },
                ..
            } => Some(*retry_after_seconds),
            _ => None,
        }
    }
}

/// The fault of a failed source call (typed when the spoke says it was rate limited).
pub(crate) fn call_fault(e: SourceError) -> PageFault {
    match e.spoke_error {
        Some(crate::contract::SpokeError::RateLimited(r)) => PageFault::RateLimited {
            call: e.call,
            message: e.message,
            retry_after_seconds: r.retry_after_seconds,
        },
        _ => PageFault::Call {
            call: e.call,
            message: e.message,
        },
    }
}

/// Called after every committed page; an error stops the run as a crash would (tests inject
/// failures through it).
pub trait CommitHook: Send + Sync {
    /// `page` was just committed.
    fn after_commit(&self, process: ProcessKind, page: u64) -> Result<(), String>;
}

/// Runs subflows against one store.
pub struct Pipeline<'a> {
    store: &'a Store,
    clock: &'a dyn Clock,
    progress: &'a dyn Progress,
    hook: Option<&'a dyn CommitHook>,
    stop: Option<&'a AtomicBool>,
    trigger: JobTrigger,
    lookup_batch: usize,
    activity_overlap: EpochSeconds,
    limits: limits::PipelineLimits,
}

/// Users per `lookup-activity` call by default: enough for a spoke that batches users into
/// queries (Confluence: about 40 per query) to keep the gate's 8 concurrent requests busy.
pub const LOOKUP_BATCH: usize = 400;

/// Pages one run may fetch by default: 20 million records at the Confluence spoke's 200 per
/// page, 200 times what a tenant of 100 000 users needs.
pub const MAX_PAGES: u64 = 100_000;

/// Size limits of what a page may carry, checked before anything of the page is written.
pub mod record_limits {
    /// A display name, e-mail or activity source, in bytes.
    pub const FIELD_BYTES: usize = 1024;
    /// A next cursor, in bytes.
    pub const CURSOR_BYTES: usize = 4096;
    /// Groups granting one subscription.
    pub const GRANTS: usize = 1000;
    /// One record, all its strings together, in bytes.
    pub const RECORD_BYTES: usize = 64 * 1024;
}

/// The paging rules of one run: at most `max_pages` pages, and no next cursor twice (a
/// cycle). The cursors seen are remembered from the start of this attempt (a resumed run
/// starts with the checkpoint's cursor).
pub(crate) struct PagingGuard {
    max_pages: u64,
    cursor_bytes: usize,
    seen: HashSet<String>,
}

impl PagingGuard {
    pub(crate) fn new(limits: &limits::PipelineLimits, resume_cursor: Option<&str>) -> Self {
        Self {
            max_pages: limits.max_pages,
            cursor_bytes: limits.cursor_bytes,
            seen: resume_cursor.map(str::to_string).into_iter().collect(),
        }
    }

    /// Before fetching a page when `pages_done` pages were committed.
    pub(crate) fn before_page(&self, pages_done: u64) -> Result<(), PageFault> {
        if pages_done >= self.max_pages {
            return Err(PageFault::TooManyPages {
                limit: self.max_pages,
            });
        }
        Ok(())
    }

    /// A page came back with `next`: refuses an oversized cursor or one seen before.
    pub(crate) fn next_cursor(&mut self, next: Option<&str>) -> Result<(), PageFault> {
        let Some(next) = next else { return Ok(()) };
        if next.len() > self.cursor_bytes {
            return Err(PageFault::Malformed {
                index: 0,
                reason: format!(
                    "the next cursor is {} bytes, more than {}",
                    next.len(),
                    self.cursor_bytes
                ),
            });
        }
        if !self.seen.insert(next.to_string()) {
            return Err(PageFault::CursorCycle {
                cursor: crate::host::untrusted::inert_bounded(next, 120),
            });
        }
        Ok(())
    }
}

static SYSTEM_CLOCK: SystemClock = SystemClock;
static NO_PROGRESS: NoProgress = NoProgress;

impl<'a> Pipeline<'a> {
    /// A pipeline over `store` with the system clock, no progress output, manual trigger,
    /// lookups of [`LOOKUP_BATCH`] users per call and a one-day activity overlap.
    pub fn new(store: &'a Store) -> Self {
        Self {
            store,
            clock: &SYSTEM_CLOCK,
            progress: &NO_PROGRESS,
            hook: None,
            stop: None,
            trigger: JobTrigger::Manual,
            lookup_batch: LOOKUP_BATCH,
            activity_overlap: crate::model::DAY,
            limits: limits::PipelineLimits::default(),
        }
    }

    /// The most pages one run may fetch (at least 1); past it the run fails with
    /// [`PageFault::TooManyPages`]. A profile's own limit (`sam profile limits`) wins.
    pub fn max_pages(mut self, pages: u64) -> Self {
        self.limits.max_pages = pages.max(1);
        self
    }

    /// The page and record limits of runs whose profile sets none of its own.
    pub fn limits(mut self, limits: limits::PipelineLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Uses `clock` for "now".
    pub fn clock(mut self, clock: &'a dyn Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Reports progress to `progress`.
    pub fn progress(mut self, progress: &'a dyn Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Calls `hook` after every committed page.
    pub fn hook(mut self, hook: &'a dyn CommitHook) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Stops the run after the page in flight is committed once `flag` is raised
    /// ([`PipelineError::Stopped`]; the checkpoint stays for the next run).
    pub fn stop_when(mut self, flag: &'a AtomicBool) -> Self {
        self.stop = Some(flag);
        self
    }

    /// Records runs as started by `trigger`.
    pub fn trigger(mut self, trigger: JobTrigger) -> Self {
        self.trigger = trigger;
        self
    }

    /// Users per `lookup-activity` call (at least 1).
    pub fn lookup_batch(mut self, users: usize) -> Self {
        self.lookup_batch = users.max(1);
        self
    }

    /// How far before the last complete run an incremental activity run starts.
    pub fn activity_overlap(mut self, seconds: EpochSeconds) -> Self {
        self.activity_overlap = seconds.max(0);
        self
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.store
    }
}

/// A run in progress: its checkpoint and the call counts at the start of this attempt.
pub(crate) struct Run {
    pub checkpoint: Checkpoint,
    /// The page and record limits of this run (the profile's own over the pipeline's).
    pub limits: limits::PipelineLimits,
    pub spoke_id: String,
    pub counts_at_start: CallCounts,
    pub calls_before: (u64, u64),
    pub durability: CommitPacer,
}

/// Most page commits between two durable ones.
pub const DURABLE_EVERY_PAGES: u32 = 64;
/// Longest time between two durable page commits.
pub const DURABLE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// When a page commit must be durable. Every page commits (with its checkpoint) at once, but
/// only every [`DURABLE_EVERY_PAGES`] pages or [`DURABLE_EVERY`] is the commit flushed to
/// disk; the end of a run, a failure and closing the store are always durable. A crash in
/// between rolls the database back to the last durable page, whole, and the rerun fetches the
/// pages after it again: at most one second of work, for one flush per 64 pages instead of one
/// per page (the flush was most of the host's time per page at 0 ms latency).
#[derive(Debug)]
pub(crate) struct CommitPacer {
    since_durable: u32,
    last_durable: std::time::Instant,
}

impl CommitPacer {
    fn new() -> Self {
        Self {
            since_durable: 0,
            last_durable: std::time::Instant::now(),
        }
    }

    /// Whether the next page commit is to be durable.
    pub fn next_is_durable(&self) -> bool {
        self.since_durable + 1 >= DURABLE_EVERY_PAGES
            || self.last_durable.elapsed() >= DURABLE_EVERY
    }

    /// A page commit succeeded.
    pub fn committed(&mut self, durable: bool) {
        if durable {
            self.since_durable = 0;
            self.last_durable = std::time::Instant::now();
        } else {
            self.since_durable += 1;
        }
    }
}

impl Run {
    /// Folds the source's counts into the checkpoint.
    pub fn sync_counts(&mut self, now: CallCounts) {
        self.checkpoint.api_calls =
            self.calls_before.0 + now.requests.saturating_sub(self.counts_at_start.requests);
        self.checkpoint.retries =
            self.calls_before.1 + now.retries.saturating_sub(self.counts_at_start.retries);
    }

    pub fn fault(&self, fault: PageFault) -> PipelineError {
        PipelineError::Page {
            spoke: self.spoke_id.clone(),
            process: self.checkpoint.process,
            run: self.checkpoint.run_id,
            page: self.checkpoint.pages + 1,
            fault,
        }
    }
}

impl Pipeline<'_> {
    /// Starts a run, or resumes the unfinished one. `since` computes a new run's window start
    /// (inside the transaction).
    pub(crate) fn begin<S: PageSource>(
        &self,
        source: &S,
        profile: &str,
        process: ProcessKind,
        since: impl FnOnce(&WriteTx) -> Result<EpochSeconds, WriteError>,
    ) -> Result<Run, PipelineError> {
        let now = self.clock.now();
        let mut limits = self.limits;
        let (checkpoint, resumed) = self.store.write(|tx| {
            if tx.profile(profile)?.is_none() {
                return Err(PipelineError::UnknownProfile(profile.to_string()));
            }
            limits = self.limits.with(&tx.profile_limits(profile)?);
            if let Some(cp) = tx.checkpoint(profile, process)? {
                if let Some(mut job) = tx.job_result(cp.run_id)? {
                    job.attempts += 1;
                    job.status = JobStatus::Running;
                    job.ended_at = None;
                    tx.put_job_result(&job)?;
                }
                return Ok((cp, true));
            }
            let run_id = tx.next_seq("job")?;
            let cp = Checkpoint {
                profile: profile.to_string(),
                process,
                run_id,
                phase: RunPhase::Paging,
                cursor: None,
                since: since(tx)?,
                pages: 0,
                records_seen: 0,
                upserted: 0,
                api_calls: 0,
                retries: 0,
            };
            tx.put_checkpoint(&cp)?;
            tx.put_job_result(&JobResult {
                id: run_id,
                profile: profile.to_string(),
                process,
                trigger: self.trigger,
                started_at: now,
                ended_at: None,
                status: JobStatus::Running,
                attempts: 1,
                pages: 0,
                records_seen: 0,
                upserted: 0,
                ended: 0,
                api_calls: 0,
                retries: 0,
                errors: Vec::new(),
            })?;
            Ok((cp, false))
        })?;
        self.progress.begin(
            profile,
            process,
            checkpoint.run_id,
            resumed.then_some(checkpoint.pages),
        );
        Ok(Run {
            calls_before: (checkpoint.api_calls, checkpoint.retries),
            checkpoint,
            limits,
            spoke_id: source.info().spoke_id.clone(),
            counts_at_start: source.counts(),
            durability: CommitPacer::new(),
        })
    }

    /// Writes the checkpoint and the job result's running counts (inside a page's
    /// transaction).
    pub(crate) fn save_progress(&self, tx: &WriteTx, run: &Run) -> Result<(), WriteError> {
        tx.put_checkpoint(&run.checkpoint)?;
        if let Some(mut job) = tx.job_result(run.checkpoint.run_id)? {
            copy_counts(&mut job, &run.checkpoint);
            tx.put_job_result(&job)?;
        }
        Ok(())
    }

    /// After a committed page (`durable` as [`CommitPacer`] chose): progress and the hook.
    pub(crate) fn committed(&self, run: &mut Run, durable: bool) -> Result<(), PipelineError> {
        run.durability.committed(durable);
        self.progress
            .page(run.checkpoint.pages, run.checkpoint.records_seen);
        if let Some(hook) = self.hook {
            hook.after_commit(run.checkpoint.process, run.checkpoint.pages)
                .map_err(|reason| PipelineError::Interrupted {
                    process: run.checkpoint.process,
                    run: run.checkpoint.run_id,
                    page: run.checkpoint.pages,
                    reason,
                })?;
        }
        if self.stop.is_some_and(|f| f.load(Ordering::SeqCst))
            && run.checkpoint.phase == RunPhase::Paging
        {
            tracing::info!(
                process = %run.checkpoint.process,
                run = run.checkpoint.run_id,
                page = run.checkpoint.pages,
                "stopping after the committed page"
            );
            return Err(PipelineError::Stopped {
                process: run.checkpoint.process,
                run: run.checkpoint.run_id,
                page: run.checkpoint.pages,
            });
        }
        Ok(())
    }

    /// Records a failed run (the checkpoint stays, so a rerun resumes) and returns `error`.
    pub(crate) fn fail(
        &self,
        run: &mut Run,
        source_counts: CallCounts,
        error: PipelineError,
    ) -> PipelineError {
        run.sync_counts(source_counts);
        let now = self.clock.now();
        let message = error.to_string();
        let outcome = self.store.write(|tx| {
            if let Some(mut job) = tx.job_result(run.checkpoint.run_id)? {
                copy_counts(&mut job, &run.checkpoint);
                job.status = JobStatus::Failed;
                job.ended_at = Some(now);
                job.errors.push(message.clone());
                tx.put_job_result(&job)?;
            }
            tx.audit(
                now,
                Some(&run.checkpoint.profile),
                AuditAction::RunFailed,
                message.clone(),
                Some(run.checkpoint.run_id),
            )?;
            Ok::<_, WriteError>(())
        });
        if let Err(e) = outcome {
            tracing::error!(error = %e, "could not record the failed run");
        }
        if let Ok(Some(job)) = self
            .store
            .read()
            .and_then(|r| r.job_result(run.checkpoint.run_id))
        {
            self.progress.end(&job);
        }
        error
    }

    /// Ends a run successfully: `finish` does the process's final writes in the same
    /// transaction that clears the checkpoint and completes the job result.
    pub(crate) fn complete(
        &self,
        run: &mut Run,
        source_counts: CallCounts,
        finish: impl FnOnce(&WriteTx, &mut JobResult) -> Result<(), WriteError>,
    ) -> Result<JobResult, PipelineError> {
        run.sync_counts(source_counts);
        let now = self.clock.now();
        let cp = &run.checkpoint;
        let job = self.store.write(|tx| {
            let mut job = tx
                .job_result(cp.run_id)?
                .ok_or_else(|| WriteError::NotFound {
                    what: format!("job result {}", cp.run_id),
                })?;
            copy_counts(&mut job, cp);
            finish(tx, &mut job)?;
            job.status = JobStatus::Succeeded;
            job.ended_at = Some(now);
            tx.put_job_result(&job)?;
            tx.clear_checkpoint(&cp.profile, cp.process)?;
            tx.audit(
                now,
                Some(&cp.profile),
                AuditAction::RunCompleted,
                format!(
                    "{} run {}: {} pages, {} records, {} upserted, {} ended",
                    cp.process, cp.run_id, job.pages, job.records_seen, job.upserted, job.ended
                ),
                Some(cp.run_id),
            )?;
            Ok::<_, WriteError>(job)
        })?;
        self.progress.end(&job);
        Ok(job)
    }
}

fn copy_counts(job: &mut JobResult, cp: &Checkpoint) {
    job.pages = cp.pages;
    job.records_seen = cp.records_seen;
    job.upserted = cp.upserted;
    job.api_calls = cp.api_calls;
    job.retries = cp.retries;
}

/// Checks an id from a spoke: not blank, no control characters, not absurdly long.
pub(crate) fn check_id(what: &str, id: &str) -> Result<(), String> {
    if id.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    if id.len() > 512 {
        return Err(format!("{what} is longer than 512 bytes"));
    }
    if id.chars().any(char::is_control) {
        return Err(format!("{what} {id:?} contains control characters"));
    }
    Ok(())
}

/// Checks that a page's next cursor advances.
pub(crate) fn check_cursor(asked: Option<&str>, next: Option<&str>) -> Result<(), PageFault> {
    match (asked, next) {
        (Some(a), Some(n)) if a == n => Err(PageFault::CursorDidNotAdvance {
            cursor: n.to_string(),
        }),
        (_, Some("")) => Err(PageFault::Malformed {
            index: 0,
            reason: "the next cursor is empty".into(),
        }),
        _ => Ok(()),
    }
}

/// Finds the first duplicate among keys.
pub(crate) fn first_duplicate<'k>(keys: impl IntoIterator<Item = &'k str>) -> Option<String> {
    let mut seen = HashSet::new();
    keys.into_iter()
        .find(|k| !seen.insert(*k))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_64th_page_commit_is_durable() {
        let mut pacer = CommitPacer::new();
        let mut durable_at = Vec::new();
        for page in 1..=200u32 {
            let durable = pacer.next_is_durable();
            if durable {
                durable_at.push(page);
            }
            pacer.committed(durable);
        }
        // Within a second (these commits take microseconds), only the page count decides.
        assert_eq!(durable_at, vec![64, 128, 192]);
    }

    #[test]
    fn a_page_commit_a_second_after_the_last_durable_one_is_durable() {
        let mut pacer = CommitPacer::new();
        pacer.committed(false);
        assert!(!pacer.next_is_durable());
        pacer.last_durable = std::time::Instant::now()
            .checked_sub(DURABLE_EVERY)
            .expect("the clock is more than a second past boot");
        assert!(pacer.next_is_durable());
        pacer.committed(true);
        assert!(!pacer.next_is_durable());
    }
}
