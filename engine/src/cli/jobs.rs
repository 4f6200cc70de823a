//! `sam jobs list|show`: the scheduled jobs publishing creates ("SAM - Refresh <display name>
//! Subscriptions", "... Activity" when activity is on, the weekly reclaim job), with the
//! results of their recent runs. Running them on schedule is the daemon's work.

use std::io::Write;

use clap::Subcommand;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::profile::{csv_text, every_text, open_store, store_failure};
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
        /// Print JSON instead of a table.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print CSV instead of a table.
        #[arg(long)]
        csv: bool,
    },
    /// Show one job and its recent results.
    Show {
        /// The job's name.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn run(
    settings: &Settings,
    command: JobsCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let store = open_store(Some(&settings.db))?;
    let read = store.read().map_err(store_failure)?;
    match command {
        JobsCommand::List { profile, json, csv } => {
            let jobs: Vec<_> = read
                .scheduled_jobs()
                .map_err(store_failure)?
                .into_iter()
                .filter(|j| profile.as_ref().is_none_or(|p| &j.profile == p))
                .collect();
            if json {
                let text = serde_json::to_string_pretty(&jobs).map_err(store_failure)?;
                return write_out(out, &format!("{text}\n"));
            }
            let header = ["Name", "Profile", "Process", "Every", "Next run", "Active"];
            let rows: Vec<Vec<String>> = jobs
                .iter()
                .map(|j| {
                    vec![
                        j.name.clone(),
                        j.profile.clone(),
                        j.process.to_string(),
                        every_text(j.every_seconds),
                        format_utc(j.next_run),
                        if j.active { "yes" } else { "no" }.to_string(),
                    ]
                })
                .collect();
            if csv {
                return write_out(out, &csv_text(&header, &rows));
            }
            let mut table = Table::new();
            table
                .load_preset(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(header);
            for row in rows {
                table.add_row(row);
            }
            write_out(out, &format!("{table}\n"))
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
                "Job:      {}\nProfile:  {}\nProcess:  {}\nEvery:    {}\nNext run: {}\nActive:   {}\n",
                job.name,
                job.profile,
                job.process,
                every_text(job.every_seconds),
                format_utc(job.next_run),
                job.active
            );
            for r in &results {
                text.push_str(&format!(
                    "Run {}: {:?} {:?}, started {}, {} records, {} calls, {} errors\n",
                    r.id,
                    r.trigger,
                    r.status,
                    format_utc(r.started_at),
                    r.records_seen,
                    r.api_calls,
                    r.errors.len()
                ));
            }
            write_out(out, &text)
        }
    }
}
