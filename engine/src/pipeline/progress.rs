//! Progress of a run: a [`Progress`] sink the pipeline reports pages to. On a terminal the
//! CLI uses [`BarProgress`] (an indicatif spinner with pages, records and rate); elsewhere
//! [`LogProgress`] emits structured `tracing` events; [`NoProgress`] says nothing.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::model::{JobResult, JobStatus, ProcessKind};

/// Where a run reports its progress.
pub trait Progress: Send + Sync {
    /// A run starts (or resumes, with the pages already committed).
    fn begin(&self, profile: &str, process: ProcessKind, run: u64, resumed_at_page: Option<u64>);
    /// A page was committed.
    fn page(&self, pages: u64, records: u64);
    /// The run ended (successfully or not).
    fn end(&self, job: &JobResult);
}

/// Says nothing.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &str, _: ProcessKind, _: u64, _: Option<u64>) {}
    fn page(&self, _: u64, _: u64) {}
    fn end(&self, _: &JobResult) {}
}

/// Structured tracing events (for logs and non-terminals).
#[derive(Debug, Default)]
pub struct LogProgress;

impl Progress for LogProgress {
    fn begin(&self, profile: &str, process: ProcessKind, run: u64, resumed_at_page: Option<u64>) {
        tracing::info!(
            profile,
            process = process.key(),
            run,
            resumed_at_page,
            "run started"
        );
    }
    fn page(&self, pages: u64, records: u64) {
        tracing::info!(pages, records, "page committed");
    }
    fn end(&self, job: &JobResult) {
        tracing::info!(
            run = job.id,
            profile = job.profile,
            process = job.process.key(),
            status = ?job.status,
            pages = job.pages,
            records = job.records_seen,
            upserted = job.upserted,
            ended = job.ended,
            api_calls = job.api_calls,
            "run ended"
        );
    }
}

/// An indicatif spinner on stderr.
#[derive(Debug, Default)]
pub struct BarProgress {
    bar: Mutex<Option<ProgressBar>>,
}

impl Progress for BarProgress {
    fn begin(&self, profile: &str, process: ProcessKind, run: u64, resumed_at_page: Option<u64>) {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {prefix} {msg} ({per_sec})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        let resumed = resumed_at_page
            .map(|p| format!(" (resumed after page {p})"))
            .unwrap_or_default();
        bar.set_prefix(format!("{profile} {} run {run}{resumed}", process.key()));
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(bar);
        }
    }
    fn page(&self, pages: u64, records: u64) {
        if let Ok(slot) = self.bar.lock()
            && let Some(bar) = slot.as_ref()
        {
            bar.set_position(records);
            bar.set_message(format!("{pages} pages, {records} records"));
        }
    }
    fn end(&self, job: &JobResult) {
        if let Ok(mut slot) = self.bar.lock()
            && let Some(bar) = slot.take()
        {
            let status = match job.status {
                JobStatus::Succeeded => "done",
                JobStatus::Failed => "failed",
                JobStatus::Running => "stopped",
            };
            bar.finish_with_message(format!(
                "{status}: {} pages, {} records",
                job.pages, job.records_seen
            ));
        }
    }
}
