//! Scheduled jobs (what runs when) and job results (what ran: profile, process, trigger,
//! start, end, status, pages, records seen, upserted and ended, API calls and retries, errors).

use serde::{Deserialize, Serialize};

use super::{EpochSeconds, ProcessKind};

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum JobTrigger {
    /// An admin, from the CLI.
    Manual,
    /// The scheduler.
    Schedule,
}

impl JobTrigger {
    /// Its name, as JSON and the CLI write it.
    pub fn name(self) -> &'static str {
        match self {
            JobTrigger::Manual => "manual",
            JobTrigger::Schedule => "schedule",
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum JobStatus {
    /// Still running, or interrupted before it could record its end.
    Running,
    /// Completed.
    Succeeded,
    /// Stopped with an error (see `errors`); resumable from its checkpoint.
    Failed,
}

impl JobStatus {
    /// Its name, as JSON and the CLI write it.
    pub fn name(&self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
        }
    }
}

/// A job on the schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScheduledJob {
    /// Name, e.g. "SAM - Refresh Acme Activity".
    pub name: String,
    /// The profile.
    pub profile: String,
    /// The process it runs.
    pub process: ProcessKind,
    /// When it runs: a cron expression with seconds (`sec min hour day-of-month month
    /// day-of-week [year]`, UTC), e.g. `0 0 1 * * *` = daily at 01:00 (see `daemon::schedule`).
    pub schedule: String,
    /// Next run.
    pub next_run: EpochSeconds,
    /// Whether it runs.
    pub active: bool,
}

impl ScheduledJob {
    /// Whether `result` is one of this job's runs (its recent results): the same process on
    /// the same profile, whatever triggered it; a reconciliation computes every model, so
    /// every reconcile result (manual ones included, `sam run reconcile`) is every reconcile
    /// job's.
    pub fn owns(&self, result: &JobResult) -> bool {
        result.process == self.process
            && (result.profile == self.profile || self.process == ProcessKind::Reconcile)
    }
}

/// The stored layout of [`ScheduledJob`] in schema version 1 (an interval instead of a cron
/// expression); read only by the migration to version 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScheduledJobV1 {
    /// Name.
    pub name: String,
    /// The profile.
    pub profile: String,
    /// The process it runs.
    pub process: ProcessKind,
    /// Seconds between runs.
    pub every_seconds: u64,
    /// Next run.
    pub next_run: EpochSeconds,
    /// Whether it runs.
    pub active: bool,
}

/// One run of one process on one profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobResult {
    /// Run id (unique, increasing).
    pub id: u64,
    /// The profile.
    pub profile: String,
    /// The process.
    pub process: ProcessKind,
    /// What started it.
    pub trigger: JobTrigger,
    /// When it started (the first attempt).
    pub started_at: EpochSeconds,
    /// When it ended.
    pub ended_at: Option<EpochSeconds>,
    /// How it ended.
    pub status: JobStatus,
    /// Times it was resumed after an interruption or failure.
    pub attempts: u32,
    /// Pages committed.
    pub pages: u64,
    /// Records the spoke returned.
    pub records_seen: u64,
    /// Records created or changed.
    pub upserted: u64,
    /// Subscriptions ended.
    pub ended: u64,
    /// HTTP requests made to the vendor.
    pub api_calls: u64,
    /// Of which retries.
    pub retries: u64,
    /// Errors, one line each.
    pub errors: Vec<String>,
}
