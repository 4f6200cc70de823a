//! `sam run download|activity|reclaim --profile NAME` and `sam run reconcile`: runs one
//! subflow now (reclaim and reconcile live in `reclaim.rs` and `reconcile.rs`; a download is
//! followed by reconciliation). Download and activity run (trigger
//! "manual") through the pipeline, with a progress bar on a terminal or tracing logs
//! otherwise, and prints the job summary (or `--json`). A run that stopped resumes from its
//! checkpoint the next time. While `sam daemon` holds the database, download and activity
//! runs are handed to it (`POST /runs`), which runs them after the profile's job in flight;
//! `run all` through a daemon is one operation (`POST /runs/all`), printed the same way.

use std::io::{IsTerminal, Write};

use clap::Subcommand;

use super::profile::store_failure;
use super::{CliError, write_out};
use crate::app::Engine;
use crate::config::Settings;
use crate::host::SpokeHost;
use crate::model::{JobResult, JobTrigger, format_utc};
use crate::pipeline::{BarProgress, LogProgress, Pipeline, PipelineError, Progress, SpokeSource};

/// `sam run` subcommands.
#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// Download subscriptions (who holds a seat).
    Download {
        /// The profile.
        #[arg(long)]
        profile: String,
        /// Print the job result as JSON.
        #[arg(long)]
        json: bool,
        /// Run a Draft profile (runs are explicit until it is published).
        #[arg(long)]
        draft: bool,
    },
    /// Download user activity.
    Activity {
        /// The profile.
        #[arg(long)]
        profile: String,
        /// Print the job result as JSON.
        #[arg(long)]
        json: bool,
        /// Run a Draft profile (runs are explicit until it is published).
        #[arg(long)]
        draft: bool,
    },
    /// Reclaim unused seats: evaluate the rules, then act on the candidates (cap, dry run).
    Reclaim(super::reclaim::RunReclaimArgs),
    /// Every subflow of a profile in order: download, activity (when the profile has it on),
    /// reclaim (`--dry-run` and the cap apply), then reconcile; stops at the first failure.
    All(super::reclaim::RunReclaimArgs),
    /// Compute the license position of every software model now.
    Reconcile {
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(
    host: &SpokeHost,
    settings: &Settings,
    command: RunCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let db = Some(settings.db.as_path());
    let (profile_name, json, draft, activity) = match command {
        RunCommand::Download {
            profile,
            json,
            draft,
        } => (profile, json, draft, false),
        RunCommand::Activity {
            profile,
            json,
            draft,
        } => (profile, json, draft, true),
        RunCommand::Reclaim(args) => {
            return super::reclaim::run_reclaim(host, settings, args, out).await;
        }
        RunCommand::Reconcile { json } => {
            return super::reconcile::run_reconcile(host, settings, json, out).await;
        }
        RunCommand::All(args) => return Box::pin(run_all(host, settings, args, out)).await,
    };
    let process = if activity {
        crate::model::ProcessKind::DownloadActivity
    } else {
        crate::model::ProcessKind::DownloadSubscriptions
    };
    let store = match super::profile::open_store(db) {
        Ok(store) => std::sync::Arc::new(store),
        Err(error) => {
            let daemon = match db {
                Some(path) => super::engine::daemon_for(path).await?,
                None => None,
            };
            let Some(daemon) = daemon else {
                return Err(error);
            };
            let base = daemon.base().to_string();
            let outcome = crate::app::Engine::Remote(daemon)
                .runs_start(crate::app::runs::RunBody {
                    profile: profile_name,
                    process,
                    draft,
                })
                .await?;
            return write_out(
                out,
                &format!("run by the daemon at {base}: {}\n", outcome.summary),
            );
        }
    };
    let settings = crate::config::current().map_err(|e| CliError::User(e.to_string()))?;
    // Other commands read (and back up) through this process while it holds the file.
    let holder = super::engine::Holder::start(
        &crate::app::App::new(
            store.clone(),
            host.clone(),
            (*settings).clone(),
            std::sync::Arc::new(crate::daemon::SystemDaemonClock),
        ),
        &format!(
            "`sam run {}` (pid {})",
            if activity { "activity" } else { "download" },
            std::process::id()
        ),
    )
    .await;
    let result: Result<(), CliError> = async {
        let opened =
            crate::app::session::open_profile_session(host, &store, &settings, &profile_name)
                .await?;
        crate::app::runnable(&opened.profile, draft)?;
        if activity && !opened.profile.processes.activity {
            return Err(CliError::User(format!(
                "profile `{profile_name}` does not enable activity download"
            )));
        }
        let source = SpokeSource::new(opened.spoke, opened.session, opened.config);
        let bar = BarProgress::default();
        let log = LogProgress;
        let progress: &dyn Progress = if std::io::stderr().is_terminal() && !json {
            &bar
        } else {
            &log
        };
        let stop = super::StopOnSignal::install();
        let pipeline = Pipeline::new(&store)
            .progress(progress)
            .trigger(JobTrigger::Manual)
            .stop_when(stop.flag());
        let outcome = if activity {
            pipeline.download_activity(&source, &profile_name).await
        } else {
            pipeline
                .download_subscriptions(&source, &profile_name)
                .await
        };
        match outcome {
            Ok(job) => {
                let mut text = summary(&job, json)?;
                let reconciled = after_download(&store, &profile_name);
                if !json {
                    text.push_str(&reconciled);
                }
                write_out(out, &text)
            }
            Err(PipelineError::UnknownProfile(name)) => {
                Err(CliError::User(format!("no profile named `{name}`")))
            }
            Err(error) => {
                if json
                    && let Some(job) = store
                        .read()
                        .ok()
                        .and_then(|r| r.job_results().ok())
                        .and_then(|jobs| jobs.into_iter().rev().find(|j| j.profile == profile_name))
                {
                    write_out(out, &summary(&job, true)?)?;
                }
                Err(
                    crate::app::session::explain_failure(&store, &profile_name, error.to_string())
                        .into(),
                )
            }
        }
    }
    .await;
    // The run's store must be free when this returns (the next command may open it).
    if let Some(holder) = holder {
        holder.finish().await;
    }
    result
}

/// `sam run all`: download, activity (when on), reclaim, reconcile, each as its own command
/// would run it, with a heading per step for people. Through a daemon it is one operation
/// (each step serialised with the profile's jobs), printed the same way at the end.
async fn run_all(
    host: &SpokeHost,
    settings: &Settings,
    args: super::reclaim::RunReclaimArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let profile = args.profile.clone();
    let json = args.json;
    let heading = |out: &mut dyn Write, step: &str| -> Result<(), CliError> {
        if json {
            Ok(())
        } else {
            write_out(out, &format!("== {step}\n"))
        }
    };
    let reclaim_heading = if args.dry_run {
        "reclaim (dry run)"
    } else {
        "reclaim"
    };
    let engine = super::engine::engine(host, settings, true).await?;
    let activity_on = match &engine {
        Engine::Local { app, .. } => {
            let read = app.store().read().map_err(store_failure)?;
            read.profile(&profile)
                .map_err(store_failure)?
                .ok_or_else(|| CliError::User(format!("no profile named `{profile}`")))?
                .processes
                .activity
        }
        Engine::Remote(remote) => {
            let base = remote.base().to_string();
            let report = engine.runs_all(args.request()).await?;
            let by_daemon = |outcome: &crate::daemon::RunOutcome| -> Result<String, CliError> {
                if json {
                    serde_json::to_string_pretty(outcome)
                        .map(|s| s + "\n")
                        .map_err(store_failure)
                } else {
                    Ok(format!(
                        "run by the daemon at {base}: {}\n",
                        outcome.summary
                    ))
                }
            };
            heading(out, "download subscriptions")?;
            write_out(out, &by_daemon(&report.download)?)?;
            if let Some(activity) = &report.activity {
                heading(out, "download activity")?;
                write_out(out, &by_daemon(activity)?)?;
            }
            heading(out, reclaim_heading)?;
            super::reclaim::print_report(out, &report.reclaim, json)?;
            heading(out, "reconcile")?;
            let format = super::output::ListFormat { json, csv: false };
            return super::reconcile::print_positions(out, &report.positions, format);
        }
    };
    drop(engine);
    heading(out, "download subscriptions")?;
    run(
        host,
        settings,
        RunCommand::Download {
            profile: profile.clone(),
            json,
            draft: args.draft,
        },
        out,
    )
    .await?;
    if activity_on {
        heading(out, "download activity")?;
        run(
            host,
            settings,
            RunCommand::Activity {
                profile: profile.clone(),
                json,
                draft: args.draft,
            },
            out,
        )
        .await?;
    }
    heading(out, reclaim_heading)?;
    super::reclaim::run_reclaim(host, settings, args, out).await?;
    heading(out, "reconcile")?;
    super::reconcile::run_reconcile(host, settings, json, out).await
}

fn summary(job: &JobResult, json: bool) -> Result<String, CliError> {
    if json {
        return serde_json::to_string_pretty(job)
            .map(|s| s + "\n")
            .map_err(store_failure);
    }
    let mut text = format!(
        "Run {} ({} on profile {}, {}): {}\n  started {}, ended {}\n  pages {}, records seen {}, upserted {}, ended {}\n  API calls {} (retries {}), attempts {}\n",
        job.id,
        job.process,
        job.profile,
        job.trigger.name(),
        job.status.name(),
        format_utc(job.started_at),
        job.ended_at.map_or("-".into(), format_utc),
        job.pages,
        job.records_seen,
        job.upserted,
        job.ended,
        job.api_calls,
        job.retries,
        job.attempts,
    );
    for e in &job.errors {
        text.push_str(&format!("  error: {e}\n"));
    }
    Ok(text)
}

/// After a download (subscriptions or activity): the default reclamation rules of new models,
/// then reconciliation. A failure here does not fail the download (it is logged and reported
/// in the text).
fn after_download(store: &crate::store::Store, profile: &str) -> String {
    use crate::pipeline::Clock;
    let clock = crate::pipeline::SystemClock;
    let now = clock.now();
    let rules = store.write(|tx| crate::reclaim::ensure_rules(tx, profile, now));
    if let Err(e) = rules {
        tracing::warn!(error = %e, "could not create the default reclamation rules");
    }
    match crate::reconcile::run(store, &clock) {
        Ok(results) => format!(
            "  reconciled {} software model{} (`sam position`)\n",
            results.len(),
            if results.len() == 1 { "" } else { "s" }
        ),
        Err(e) => {
            tracing::warn!(error = %e, "reconciliation after the download failed");
            format!("  reconciliation failed: {e}\n")
        }
    }
}
