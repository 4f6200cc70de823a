//! Pipeline checkpoints: the unfinished run of one process on one profile (its id, phase,
//! cursor and running counts), committed with every page so a rerun after a crash resumes
//! exactly where the last committed page left off.

use serde::{Deserialize, Serialize};

use super::{EpochSeconds, ProcessKind};

/// Where an unfinished run is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RunPhase {
    /// Paging through the spoke's main listing; `cursor` is the next page's cursor.
    Paging,
    /// (Activity) asking about users the scan did not report; `after` is the last user
    /// key done.
    Lookup {
        /// Last external user id handled.
        after: Option<String>,
    },
    /// Every page is committed; what remains is the end of the run (ending unseen
    /// subscriptions, the watermark, the job result).
    Finishing,
}

/// The state of one unfinished run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Checkpoint {
    /// The profile.
    pub profile: String,
    /// The process.
    pub process: ProcessKind,
    /// The run (job result id).
    pub run_id: u64,
    /// The phase.
    pub phase: RunPhase,
    /// Cursor for the next page (None before the first page).
    pub cursor: Option<String>,
    /// (Activity) the window start of this run.
    pub since: EpochSeconds,
    /// Pages committed so far.
    pub pages: u64,
    /// Records seen so far.
    pub records_seen: u64,
    /// Records upserted so far.
    pub upserted: u64,
    /// API calls so far (previous attempts included).
    pub api_calls: u64,
    /// Retries so far.
    pub retries: u64,
}
