//! The schema version and its migrations. Version 1 is the first released layout (the tables
//! of [`super::tables`], postcard-encoded model records). Opening a file: a new file gets the
//! current version; an older one is migrated step by step, in the same write transaction
//! that records the new version (so a failed migration leaves the file as it was); a newer
//! one is refused with [`OpenError::NewerSchema`]. Every table is created if missing.

use std::path::Path;

use redb::{Database, ReadableTable};

use super::error::{OpenError, WriteError};
use super::tables::*;

/// The schema version this build writes.
pub const CURRENT_VERSION: u64 = 2;

/// The key of the version in the `meta` table.
pub const VERSION_KEY: &str = "schema_version";

/// One step of the migration chain: turns a database at `from` into `from + 1`.
pub struct Migration {
    /// The version it migrates from.
    pub from: u64,
    /// What it does, for the logs.
    pub description: &'static str,
    /// The step, inside the open write transaction.
    pub run: fn(&redb::WriteTransaction) -> Result<(), WriteError>,
}

/// The chain, oldest first. 1 -> 2: scheduled jobs carry a cron expression instead of an
/// interval (the daemon, issue 8).
pub const MIGRATIONS: &[Migration] = &[Migration {
    from: 1,
    description: "scheduled jobs: interval -> cron schedule",
    run: jobs_to_cron,
}];

/// Rewrites every scheduled job from the version-1 layout: a weekly interval becomes the
/// default weekly schedule, anything else the default daily one.
fn jobs_to_cron(tx: &redb::WriteTransaction) -> Result<(), WriteError> {
    use crate::model::{ScheduledJob, ScheduledJobV1};
    let table_name = "scheduled_jobs";
    let mut table = tx.open_table(SCHEDULED_JOBS)?;
    let mut rows = Vec::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        rows.push((k.value().to_string(), v.value().to_vec()));
    }
    for (key, bytes) in rows {
        let old: ScheduledJobV1 =
            postcard::from_bytes(&bytes).map_err(|source| super::error::DecodeError {
                table: table_name,
                key: key.clone(),
                source,
            })?;
        let schedule = if old.every_seconds >= 7 * crate::model::DAY as u64 {
            crate::daemon::schedule::DEFAULT_WEEKLY
        } else {
            crate::daemon::schedule::DEFAULT_DAILY
        };
        let new = ScheduledJob {
            name: old.name,
            profile: old.profile,
            process: old.process,
            schedule: schedule.to_string(),
            next_run: old.next_run,
            active: old.active,
        };
        let encoded = postcard::to_allocvec(&new).map_err(|source| WriteError::Encode {
            table: table_name,
            source,
        })?;
        table.insert(key.as_str(), encoded.as_slice())?;
    }
    Ok(())
}

/// Brings `db` to [`CURRENT_VERSION`] (see the module doc).
pub fn prepare(db: &Database, path: &Path) -> Result<(), OpenError> {
    migrate_with(db, path, CURRENT_VERSION, MIGRATIONS)
}

/// [`prepare`] with an explicit target and chain (for tests of the machinery).
pub fn migrate_with(
    db: &Database,
    path: &Path,
    target: u64,
    chain: &[Migration],
) -> Result<(), OpenError> {
    let storage = |e: redb::Error| OpenError::Storage {
        path: path.to_path_buf(),
        source: e,
    };
    let tx = db.begin_write().map_err(|e| storage(e.into()))?;
    let found = {
        let meta = tx.open_table(META).map_err(|e| storage(e.into()))?;
        meta.get(VERSION_KEY)
            .map_err(|e| storage(e.into()))?
            .map(|g| g.value())
    };
    let mut version = match found {
        Some(v) if v > target => {
            return Err(OpenError::NewerSchema {
                path: path.to_path_buf(),
                found: v,
                supported: target,
            });
        }
        Some(v) => v,
        None => target,
    };
    while version < target {
        let step =
            chain
                .iter()
                .find(|m| m.from == version)
                .ok_or_else(|| OpenError::Migration {
                    path: path.to_path_buf(),
                    from: version,
                    source: Box::new(WriteError::NotFound {
                        what: format!("a migration from schema version {version}"),
                    }),
                })?;
        tracing::info!(
            from = version,
            step = step.description,
            "migrating database"
        );
        (step.run)(&tx).map_err(|source| OpenError::Migration {
            path: path.to_path_buf(),
            from: version,
            source: Box::new(source),
        })?;
        version += 1;
    }
    for def in RECORD_TABLES {
        tx.open_table(def).map_err(|e| storage(e.into()))?;
    }
    tx.open_table(JOB_RESULTS).map_err(|e| storage(e.into()))?;
    tx.open_table(AUDIT_LOG).map_err(|e| storage(e.into()))?;
    tx.open_table(WATERMARKS).map_err(|e| storage(e.into()))?;
    tx.open_table(META)
        .map_err(|e| storage(e.into()))?
        .insert(VERSION_KEY, version)
        .map_err(|e| storage(e.into()))?;
    tx.commit().map_err(|e| storage(e.into()))?;
    Ok(())
}
