//! Runs on demand and backups: `sam run ...` while a daemon holds the database, and `POST
//! /api/v1/runs`. Inside a daemon a run goes through its scheduler's [`Daemon::run_now`]
//! (after the profile's job in flight, with its retries, counted in its metrics); in a
//! process of its own it runs at once through [`super::jobs::EngineRunner`].
//!
//! [`Daemon::run_now`]: crate::daemon::Daemon::run_now

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use super::jobs::EngineRunner;
use super::{Actor, App, AppError};
use crate::daemon::{JobRunner, RunFailure, RunOutcome, RunRequest};
use crate::model::{JobTrigger, ProcessKind};
use crate::store::maintenance::BackupReport;

/// `POST /api/v1/runs`: run a process of a profile now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunBody {
    /// The profile (ignored by `reconcile`, which covers every model).
    pub profile: String,
    /// `download-subscriptions`, `download-activity`, `reclaim` or `reconcile`.
    pub process: ProcessKind,
    /// Run a Draft profile (a Draft profile runs only when asked explicitly).
    #[serde(default)]
    pub draft: bool,
}

/// `POST /api/v1/backup`: no parameters (the daemon writes the copy beside the database,
/// named with the time and schema version, never where a caller says).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BackupBody {}

/// A run's failure as an application error.
pub fn run_failure(e: RunFailure) -> AppError {
    match e {
        RunFailure::Fatal(m) => AppError::Invalid(m),
        RunFailure::Stopped(m) => AppError::Unavailable(format!("stopped for shutdown: {m}")),
        other => AppError::Failed(other.to_string()),
    }
}

impl App {
    /// Runs a process now.
    pub async fn runs_start(&self, _actor: &Actor, body: RunBody) -> Result<RunOutcome, AppError> {
        if body.process != ProcessKind::Reconcile {
            self.check_runnable(&body.profile, body.draft)?;
        }
        let request = RunRequest {
            profile: body.profile,
            process: body.process,
            trigger: JobTrigger::Manual,
            draft: body.draft,
        };
        match self.daemon() {
            Some(daemon) => daemon.run_now(&request).await.map_err(run_failure),
            None => {
                let exists = self.store().read()?.profile(&request.profile)?.is_some();
                if !exists && request.process != ProcessKind::Reconcile {
                    return Err(AppError::NotFound(format!(
                        "no profile named `{}`",
                        request.profile
                    )));
                }
                let runner = EngineRunner::new(
                    self.host().clone(),
                    self.store().clone(),
                    self.settings().clone(),
                    self.clock().clone(),
                );
                let stop = AtomicBool::new(false);
                runner.run(&request, &stop).await.map_err(run_failure)
            }
        }
    }

    /// A consistent copy of the database beside it.
    pub async fn db_backup(
        &self,
        _actor: &Actor,
        _body: BackupBody,
    ) -> Result<BackupReport, AppError> {
        let store: Arc<crate::store::Store> = self.store().clone();
        tokio::task::spawn_blocking(move || store.backup_beside())
            .await
            .map_err(|e| AppError::Failed(e.to_string()))?
            .map_err(|e| AppError::Failed(e.to_string()))
    }
}
