//! `sam run download|activity --profile NAME`: runs one subflow of a profile now (trigger
//! "manual") through the pipeline, with a progress bar on a terminal or tracing logs
//! otherwise, and prints the job summary (or `--json`). A run that stopped resumes from its
//! checkpoint the next time.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use clap::Subcommand;

use super::profile::{open_store, store_failure};
use super::{CliError, write_out};
use crate::contract::Config;
use crate::host::{SpokeHost, StaticToken};
use crate::model::{AuthKind, JobResult, JobTrigger, format_utc};
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
    },
    /// Download user activity.
    Activity {
        /// The profile.
        #[arg(long)]
        profile: String,
        /// Print the job result as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(
    host: &SpokeHost,
    db: Option<&Path>,
    command: RunCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (profile_name, json, activity) = match command {
        RunCommand::Download { profile, json } => (profile, json, false),
        RunCommand::Activity { profile, json } => (profile, json, true),
    };
    let store = open_store(db)?;
    let (profile, connection, groups) = {
        let read = store.read().map_err(store_failure)?;
        let profile = read
            .profile(&profile_name)
            .map_err(store_failure)?
            .ok_or_else(|| CliError::User(format!("no profile named `{profile_name}`")))?;
        let connection = read
            .connection(&profile.connection)
            .map_err(store_failure)?
            .ok_or_else(|| {
                CliError::Failure(format!(
                    "profile `{profile_name}` refers to connection `{}`, which does not exist",
                    profile.connection
                ))
            })?;
        let groups = read.selected_groups(&profile_name).map_err(store_failure)?;
        (profile, connection, groups)
    };
    if activity && !profile.processes.activity {
        return Err(CliError::User(format!(
            "profile `{profile_name}` does not enable activity download"
        )));
    }
    let token = match &connection.auth {
        AuthKind::StaticTokenEnv { variable } => std::env::var(variable).map_err(|_| {
            CliError::User(format!(
                "the bearer token of profile `{profile_name}` is read from ${variable}, which is not set"
            ))
        })?,
        AuthKind::OAuth2 { .. } => {
            return Err(CliError::User(
                "OAuth connections are not supported by this build yet".into(),
            ));
        }
    };
    let spoke = host
        .load_file(&profile.spoke_path)
        .await
        .map_err(|e| CliError::User(e.to_string()))?;
    if spoke.id() != profile.spoke_id {
        return Err(CliError::User(format!(
            "{} is spoke `{}`, but profile `{profile_name}` was created for `{}`",
            profile.spoke_path,
            spoke.id(),
            profile.spoke_id
        )));
    }
    let session = spoke
        .session(
            &connection.connection_url,
            &connection.granted_hosts,
            Arc::new(StaticToken::new(token)),
        )
        .map_err(|e| CliError::User(e.to_string()))?;
    let config = Config {
        values: profile.config.clone(),
        selected_groups: groups.into_iter().map(|g| g.group_id).collect(),
    };
    let source = SpokeSource::new(spoke, session, config);
    let bar = BarProgress::default();
    let log = LogProgress;
    let progress: &dyn Progress = if std::io::stderr().is_terminal() && !json {
        &bar
    } else {
        &log
    };
    let pipeline = Pipeline::new(&store)
        .progress(progress)
        .trigger(JobTrigger::Manual);
    let outcome = if activity {
        pipeline.download_activity(&source, &profile_name).await
    } else {
        pipeline
            .download_subscriptions(&source, &profile_name)
            .await
    };
    match outcome {
        Ok(job) => write_out(out, &summary(&job, json)?),
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
            Err(CliError::Failure(error.to_string()))
        }
    }
}

fn summary(job: &JobResult, json: bool) -> Result<String, CliError> {
    if json {
        return serde_json::to_string_pretty(job)
            .map(|s| s + "\n")
            .map_err(store_failure);
    }
    let mut text = format!(
        "Run {} ({} on profile {}, {:?}): {:?}\n  started {}, ended {}\n  pages {}, records seen {}, upserted {}, ended {}\n  API calls {} (retries {}), attempts {}\n",
        job.id,
        job.process,
        job.profile,
        job.trigger,
        job.status,
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
