//! `sam db …`: the database file's care — `check` (redb's integrity check, on a copy),
//! `repair` (copies the file aside, then repairs and says what it kept), `backup` (a
//! consistent copy, through the daemon's API when the daemon holds the file), `restore`
//! (refuses a newer schema or a damaged backup; keeps the current file aside) and `migrate`
//! (upgrades an older schema after an automatic backup). The logic is in
//! [`crate::store::maintenance`]; this module parses and prints.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::profile::{db_path, open_failure};
use super::{CliError, write_out};
use crate::store::maintenance::{self, BackupReport, TableRows};
use crate::store::{OpenError, Store};

/// `sam db` subcommands.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Run redb's integrity check on a copy of the database and report (the file is not
    /// changed).
    Check {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Repair the database: the file is first copied aside (kept), then repaired in place.
    Repair,
    /// Write a consistent copy of the database to FILE (also while the daemon runs).
    Backup {
        /// The backup file to create (must not exist).
        file: PathBuf,
    },
    /// Replace the database with the backup FILE (the current file is kept aside).
    Restore {
        /// The backup file.
        file: PathBuf,
    },
    /// Upgrade an older database to this sam's schema (a backup is kept first).
    Migrate,
}

pub(super) async fn run(
    db: Option<&Path>,
    command: DbCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let path = db_path(db)?;
    match command {
        DbCommand::Check { json } => check(&path, json, out),
        DbCommand::Repair => {
            let report = maintenance::repair(&path).map_err(open_failure)?;
            write_out(
                out,
                &format!(
                    "repaired {}{}\nthe file as it was is kept at {}\nkept:\n{}",
                    path.display(),
                    if report.was_intact {
                        " (it was intact: nothing to repair)"
                    } else {
                        ""
                    },
                    report.original.display(),
                    rows_text(&report.kept)
                ),
            )
        }
        DbCommand::Backup { file } => {
            let report = backup(&path, &file).await?;
            write_out(
                out,
                &format!(
                    "backed up {} to {} (schema version {}, {} bytes)\n",
                    path.display(),
                    report.path.display(),
                    report.schema_version,
                    report.bytes
                ),
            )
        }
        DbCommand::Restore { file } => {
            let report = maintenance::restore(&file, &path).map_err(open_failure)?;
            let previous = report
                .previous
                .map(|p| format!("; the database as it was is kept at {}", p.display()))
                .unwrap_or_default();
            write_out(
                out,
                &format!(
                    "restored {} from {} (schema version {}){previous}\n",
                    path.display(),
                    file.display(),
                    report.schema_version
                ),
            )
        }
        DbCommand::Migrate => {
            let store = Store::open(&path).map_err(open_failure)?;
            let version = store
                .schema_version()
                .map_err(|e| CliError::Failure(e.to_string()))?;
            write_out(
                out,
                &format!("{} is at schema version {version}\n", path.display()),
            )
        }
    }
}

fn rows_text(tables: &[TableRows]) -> String {
    let mut text = String::new();
    for t in tables {
        match t.rows {
            Some(n) => text.push_str(&format!("  {:<28} {n} rows\n", t.table)),
            None => text.push_str(&format!("  {:<28} (not read: unknown table)\n", t.table)),
        }
    }
    text
}

fn check(path: &Path, json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let report = maintenance::check(path).map_err(open_failure)?;
    if json {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| CliError::Failure(e.to_string()))?;
        write_out(out, &format!("{text}\n"))?;
    } else {
        let version = report
            .schema_version
            .map_or("unknown".to_string(), |v| v.to_string());
        write_out(
            out,
            &format!(
                "{}: schema version {version}, {}\n{}",
                path.display(),
                if report.intact {
                    "intact"
                } else {
                    "NOT intact"
                },
                rows_text(&report.tables)
            ),
        )?;
    }
    if report.intact {
        Ok(())
    } else {
        Err(CliError::Failure(format!(
            "database {} is not intact: {}",
            path.display(),
            report.problems.join("; ")
        )))
    }
}

/// Backs `path` up to `dest`: in this process when the database is free, else through the
/// daemon that holds it (which writes next to the database; the copy is then moved).
async fn backup(path: &Path, dest: &Path) -> Result<BackupReport, CliError> {
    if dest.exists() {
        return Err(CliError::User(format!(
            "{} exists already: give a new file",
            dest.display()
        )));
    }
    match Store::open_read_only(path) {
        Ok(_) if !path.exists() => Err(CliError::User(format!(
            "there is no database at {} to back up",
            path.display()
        ))),
        Ok(store) => store.backup_to(dest).map_err(open_failure),
        Err(error @ OpenError::InUse { .. }) => {
            let Some(daemon) = super::engine::daemon_for(path).await? else {
                return Err(open_failure(error));
            };
            let made = crate::app::Engine::Remote(daemon)
                .db_backup(crate::app::runs::BackupBody {})
                .await?;
            // The daemon wrote next to the database; move it where the admin asked.
            if std::fs::rename(&made.path, dest).is_err() {
                std::fs::copy(&made.path, dest).map_err(|e| {
                    CliError::Failure(format!(
                        "the daemon wrote the backup to {}, but copying it to {} failed: {e}",
                        made.path.display(),
                        dest.display()
                    ))
                })?;
                let _ = std::fs::remove_file(&made.path);
            }
            Ok(BackupReport {
                path: dest.to_path_buf(),
                ..made
            })
        }
        Err(e) => Err(open_failure(e)),
    }
}
