//! `sam jobs list|show|set`: the scheduled jobs publishing creates ("SAM - Refresh <display
//! name> Subscriptions", "... Activity" when activity is on, "SAM - Updating Existing
//! Reclamation Candidates (<display name>)" and the weekly reconciliation), their cron
//! schedules and next runs, the results of their recent runs, and editing a schedule or
//! pausing a job. Running them on schedule is the daemon's work (`sam daemon`).

use std::io::Write;

use clap::Subcommand;

use super::{CliError, write_out};
use crate::app::profiles::{JobQuery, JobsQuery, SetJob};
use crate::config::Settings;
use crate::host::SpokeHost;
use crate::model::format_utc;

/// `sam jobs` subcommands.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List the scheduled jobs.
    List {
        /// Only this profile's jobs.
        #[arg(long)]
        profile: Option<String>,
        #[command(flatten)]
        format: super::output::ListFormat,
    },
    /// Show one job and its recent results.
    Show {
        /// The job's name.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Edit a job: its schedule (cron with seconds, UTC) or whether it runs.
    Set {
        /// The job's name.
        name: String,
        /// The new schedule, e.g. "0 30 2 * * *" (daily at 02:30 UTC).
        #[arg(long)]
        schedule: Option<String>,
        /// Run it (`true`) or pause it (`false`).
        #[arg(long)]
        active: Option<bool>,
    },
}

pub(super) async fn run(
    host: &SpokeHost,
    settings: &Settings,
    command: JobsCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let read_only = !matches!(command, JobsCommand::Set { .. });
    let engine = super::engine::engine(host, settings, read_only).await?;
    match command {
        JobsCommand::Set {
            name,
            schedule,
            active,
        } => {
            let job = engine
                .jobs_set(SetJob {
                    name,
                    schedule,
                    active,
                })
                .await?;
            write_out(
                out,
                &format!(
                    "job `{}`: schedule `{}`, next run {}, {}\n",
                    job.name,
                    job.schedule,
                    format_utc(job.next_run),
                    if job.active { "active" } else { "paused" }
                ),
            )
        }
        JobsCommand::List { profile, format } => {
            let jobs = engine.jobs_list(JobsQuery { profile }).await?.jobs;
            let rows: Vec<Vec<String>> = jobs
                .iter()
                .map(|j| {
                    vec![
                        j.name.clone(),
                        j.profile.clone(),
                        j.process.to_string(),
                        j.schedule.clone(),
                        format_utc(j.next_run),
                        if j.active { "yes" } else { "no" }.to_string(),
                    ]
                })
                .collect();
            super::output::Listing {
                records: &jobs,
                header: &[
                    "Name", "Profile", "Process", "Schedule", "Next run", "Active",
                ],
                rows,
                footer: None,
            }
            .print(format, out)
        }
        JobsCommand::Show { name, json } => {
            let view = engine.jobs_show(JobQuery { name }).await?;
            if json {
                return super::output::json_out(out, &view);
            }
            let job = &view.job;
            let mut text = format!(
                "Job:      {}\nProfile:  {}\nProcess:  {}\nSchedule: {}\nNext run: {}\nActive:   {}\n",
                job.name,
                job.profile,
                job.process,
                job.schedule,
                format_utc(job.next_run),
                job.active
            );
            for r in &view.recent_results {
                text.push_str(&format!(
                    "Run {}: {} {}, started {}, {} records, {} calls, {} errors\n",
                    r.id,
                    r.trigger.name(),
                    r.status.name(),
                    format_utc(r.started_at),
                    r.records_seen,
                    r.api_calls,
                    r.errors.len()
                ));
                for error in &r.errors {
                    text.push_str(&format!("  error: {error}\n"));
                }
            }
            write_out(out, &text)
        }
    }
}
