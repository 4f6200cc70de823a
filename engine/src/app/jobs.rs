//! Running a job for real: [`EngineRunner`] opens the profile's spoke session and runs the
//! pipeline (subscription or activity download), the reclaimer or the reconciliation, and
//! records the outcome. The daemon's scheduler and every on-demand run (`sam run`, `POST
//! /api/v1/runs`) go through it; it also finishes the reclaims an interrupted process left
//! planned before a daemon starts scheduling.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use futures::future::BoxFuture;

use super::AppError;
use crate::config::Settings;
use crate::daemon::{DaemonClock, JobRunner, RunFailure, RunOutcome, RunRequest};
use crate::host::SpokeHost;
use crate::model::{JobResult, JobStatus, ProcessKind};
use crate::pipeline::{Clock, Pipeline, SpokeSource};
use crate::store::Store;

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

    fn app_failure(e: AppError) -> RunFailure {
        if e.is_user_error() {
            RunFailure::Fatal(e.to_string())
        } else {
            RunFailure::Failed(e.to_string())
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
        let (outcome, job_id) =
            reconcile_as_job(&self.store, &*self.clock, &request.profile, request.trigger);
        let job_id = job_id.map_err(|e| RunFailure::Failed(e.to_string()))?;
        match outcome {
            Ok(results) => Ok(RunOutcome {
                job_id: Some(job_id),
                summary: format!("reconciled {} software models", results.len()),
                api_calls: 0,
                reclaimed: 0,
            }),
            Err(e) => Err(RunFailure::Failed(e.to_string())),
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
        // A schedule never runs a Draft profile; on demand only when asked (`--draft`). Checked
        // before the session opens: no secret is read and no vendor is called for a refusal.
        let found = || -> Result<_, AppError> {
            self.store
                .read()?
                .profile(&request.profile)?
                .ok_or_else(|| {
                    AppError::NotFound(format!("no profile named `{}`", request.profile))
                })
        };
        let profile = found().map_err(Self::app_failure)?;
        super::runnable(
            &profile,
            request.draft && request.trigger != crate::model::JobTrigger::Schedule,
        )
        .map_err(Self::app_failure)?;
        let opened = super::session::open_profile_session(
            &self.host,
            &self.store,
            &self.settings,
            &request.profile,
        )
        .await
        .map_err(Self::app_failure)?;
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
                let notifier = crate::app::notices::wrap(
                    &self.settings,
                    self.clock.now(),
                    Box::new(crate::reclaim::LogNotifier),
                );
                let report = crate::reclaim::Reclaimer::new(&self.store)
                    .clock(clock)
                    .notifier(notifier.as_ref())
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
    pub async fn finish_interrupted_reclaims(&self) {
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

/// A reconciliation recorded as a job result (issue 24: every reconcile, manual or
/// scheduled, is one): the positions (or the failure) and the job result's id.
pub(crate) fn reconcile_as_job(
    store: &Store,
    clock: &dyn Clock,
    profile: &str,
    trigger: crate::model::JobTrigger,
) -> (
    Result<Vec<crate::model::ReconciliationResult>, crate::reconcile::ReconcileError>,
    Result<u64, crate::store::WriteError>,
) {
    let started = clock.now();
    let outcome = crate::reconcile::run(store, clock);
    let ended = clock.now();
    let (status, errors) = match &outcome {
        Ok(_) => (JobStatus::Succeeded, Vec::new()),
        Err(e) => (JobStatus::Failed, vec![e.to_string()]),
    };
    let job_id = store.write(|tx| {
        let id = tx.next_seq("job")?;
        tx.put_job_result(&JobResult {
            id,
            profile: profile.to_string(),
            process: ProcessKind::Reconcile,
            trigger,
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
    });
    (outcome, job_id)
}
