//! `sam jobs list|show|set`: the scheduled jobs publishing creates ("SAM - Refresh <display
//! name> Subscriptions", "... Activity" when activity is on, "SAM - Updating Existing
//! Reclamation Candidates (<display name>)" and the weekly reconciliation), their cron
//! schedules and next runs, the results of their recent runs, and editing a schedule or
//! pausing a job. Running them on schedule is the daemon's work (`sam daemon`).

use std::io::Write;

use clap::Subcommand;

use super::profile::{open_read_store, open_store, store_failure, write_failure};
use super::{CliError, write_out};
use crate::config::Settings;
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

pub(super) fn run(
    settings: &Settings,
    command: JobsCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let store = if matches!(command, JobsCommand::Set { .. }) {
        open_store(Some(&settings.db))?
    } else {
        open_read_store(Some(&settings.db))?
    };
    if let JobsCommand::Set {
        name,
        schedule,
        active,
    } = command
    {
        return set(&store, &name, schedule, active, out);
    }
    let read = store.read().map_err(store_failure)?;
    match command {
        JobsCommand::Set { .. } => Ok(()),
        JobsCommand::List { profile, format } => {
            let jobs: Vec<_> = read
                .scheduled_jobs()
                .map_err(store_failure)?
                .into_iter()
                .filter(|j| profile.as_ref().is_none_or(|p| &j.profile == p))
                .collect();
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
            let job = read
                .scheduled_job(&name)
                .map_err(store_failure)?
                .ok_or_else(|| {
                    CliError::User(format!(
                        "no scheduled job named `{name}`: see `sam jobs list`"
                    ))
                })?;
            let results: Vec<_> = read
                .job_results()
                .map_err(store_failure)?
                .into_iter()
                .filter(|r| r.profile == job.profile && r.process == job.process)
                .rev()
                .take(10)
                .collect();
            if json {
                let doc = serde_json::json!({ "job": job, "recent_results": results });
                let text = serde_json::to_string_pretty(&doc).map_err(store_failure)?;
                return write_out(out, &format!("{text}\n"));
            }
            let mut text = format!(
                "Job:      {}\nProfile:  {}\nProcess:  {}\nSchedule: {}\nNext run: {}\nActive:   {}\n",
                job.name,
                job.profile,
                job.process,
                job.schedule,
                format_utc(job.next_run),
                job.active
            );
            for r in &results {
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

fn set(
    store: &crate::store::Store,
    name: &str,
    schedule: Option<String>,
    active: Option<bool>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    use crate::pipeline::Clock;
    let now = crate::pipeline::SystemClock.now();
    let next = match &schedule {
        Some(expr) => Some(
            crate::daemon::schedule::Schedule::parse(expr)
                .map_err(|e| CliError::User(e.to_string()))?
                .next_after(now)
                .ok_or_else(|| {
                    CliError::User(format!("the schedule `{expr}` never fires again"))
                })?,
        ),
        None => None,
    };
    let job = store
        .write(|tx| {
            let Some(mut job) = tx.scheduled_job(name)? else {
                return Ok(None);
            };
            if let (Some(expr), Some(next)) = (&schedule, next) {
                job.schedule = expr.trim().to_string();
                job.next_run = next;
            }
            if let Some(active) = active {
                job.active = active;
            }
            tx.put_scheduled_job(&job)?;
            Ok::<_, crate::store::WriteError>(Some(job))
        })
        .map_err(write_failure)?
        .ok_or_else(|| {
            CliError::User(format!(
                "no scheduled job named `{name}`: see `sam jobs list`"
            ))
        })?;
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
