//! The schema version and its migrations. Version 1 is the first released layout (the tables
//! of [`super::tables`], postcard-encoded model records). Opening a file: a new file gets the
//! current version; an older one is migrated step by step, in the same write transaction
//! that records the new version (so a failed migration leaves the file as it was); a newer
//! one is refused with [`OpenError::NewerSchema`]. Every table is created if missing.

use std::path::Path;

use redb::{Database, ReadableTable};

use super::error::{OpenError, WriteError};
use super::tables::*;
use super::{decode, encode};

/// The schema version this build writes.
pub const CURRENT_VERSION: u64 = 8;

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
/// interval (the daemon, issue 8). 2 -> 3: a download run's seen-markers are one appended
/// row per page (the seen-log) instead of one row per subscription (issue 9: the random-key
/// writes were a third of a page's cost). 3 -> 4: a download run stages its pages (the
/// staging log, with each subscription's facts) and merges them when it completes, instead
/// of upserting each page (issue 9: random-key upserts were most of a page's cost). 4 -> 5:
/// reclaim intents and runs (issue 15). 5 -> 6: audit entries record their actor (issue 16).
/// 6 -> 7: plugin pins and operator limits per profile, in tables of their own (issue 17).
/// 7 -> 8: activity records carry their kind of evidence and when a lookup last asked
/// (issue 19).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        from: 1,
        description: "scheduled jobs: interval -> cron schedule",
        run: jobs_to_cron,
    },
    Migration {
        from: 2,
        description: "download seen-markers -> seen-log",
        run: seen_markers_to_log,
    },
    Migration {
        from: 3,
        description: "download seen-log -> staging log",
        run: seen_log_to_staging,
    },
    Migration {
        from: 4,
        description: "reclaim intents and runs (crash-safe reclaim)",
        run: reclaim_intents,
    },
    Migration {
        from: 5,
        description: "audit entries record their actor",
        run: audit_actors,
    },
    Migration {
        from: 6,
        description: "plugin pins and operator limits per profile",
        run: pins_and_limits,
    },
    Migration {
        from: 7,
        description: "activity records carry their kind of evidence and lookup time",
        run: activity_kinds,
    },
];

/// Re-encodes every audit entry with an actor (`system`: schema 5 did not record one).
fn audit_actors(tx: &redb::WriteTransaction) -> Result<(), WriteError> {
    use crate::model::{AuditEntry, AuditEntryV5};
    let mut rows = Vec::new();
    {
        let table = tx.open_table(AUDIT_LOG)?;
        for row in table.iter()? {
            let (k, v) = row?;
            let seq = k.value();
            let old: AuditEntryV5 = decode("audit_log", &seq, v.value())?;
            rows.push(AuditEntry {
                seq: old.seq,
                at: old.at,
                profile: old.profile,
                action: old.action,
                detail: old.detail,
                run: old.run,
                actor: "system".to_string(),
            });
        }
    }
    let mut table = tx.open_table(AUDIT_LOG)?;
    for entry in rows {
        let bytes = encode("audit_log", &entry)?;
        table.insert(entry.seq, bytes.as_slice())?;
    }
    Ok(())
}

/// Rewrites every version-5 activity record with its kind of evidence (guessed from the
/// spoke's words, which is all a version-5 record kept) and no lookup time (issue 19).
fn activity_kinds(tx: &redb::WriteTransaction) -> Result<(), WriteError> {
    use crate::model::{UserActivityRecord, UserActivityRecordV5};
    let table_name = "user_activity";
    let mut table = tx.open_table(ACTIVITY)?;
    let mut rows = Vec::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        rows.push((k.value().to_string(), v.value().to_vec()));
    }
    for (key, bytes) in rows {
        let new = match decode::<UserActivityRecordV5>(table_name, &key, &bytes) {
            Ok(old) => UserActivityRecord::from(old),
            // Already in this layout (a file relabelled, or a step repeated): kept.
            Err(e) => match decode::<UserActivityRecord>(table_name, &key, &bytes) {
                Ok(_) => continue,
                Err(_) => return Err(e.into()),
            },
        };
        let encoded = encode(table_name, &new)?;
        table.insert(key.as_str(), encoded.as_slice())?;
    }
    Ok(())
}

/// Creates the tables of plugin pins and operator limits (they start empty: a profile created
/// before pinning is pinned by its first use).
fn pins_and_limits(tx: &redb::WriteTransaction) -> Result<(), WriteError> {
    tx.open_table(PLUGIN_PINS)?;
    tx.open_table(PROFILE_LIMITS)?;
    Ok(())
}

/// Creates the tables of the crash-safe reclaim (they start empty).
fn reclaim_intents(tx: &redb::WriteTransaction) -> Result<(), WriteError> {
    tx.open_table(RECLAIM_INTENTS)?;
    tx.open_table(RECLAIM_RUNS)?;
    Ok(())
}

/// Turns every version-3 seen-log row into a staging row, then deletes the seen-log. A
/// version-3 run upserted each page as it came, so the facts of what a page reported are the
/// subscription's own; the entry keeps the groups that page reported. An entry whose
/// subscription is gone (deleted since) is dropped: the merge has nothing to keep.
fn seen_log_to_staging(tx: &redb::WriteTransaction) -> Result<(), WriteError> {
    use crate::model::{SeenEntry, StagedSubscription, Subscription};
    let mut rows: Vec<(String, Vec<StagedSubscription>)> = Vec::new();
    {
        let log = tx.open_table(SEEN_LOG_V3)?;
        let subscriptions = tx.open_table(SUBSCRIPTIONS)?;
        for row in log.iter()? {
            let (k, v) = row?;
            let key = k.value().to_string();
            let entries: Vec<SeenEntry> = decode("download_seen_log", &key, v.value())?;
            let profile = key.split('\0').next().unwrap_or_default();
            let mut staged = Vec::with_capacity(entries.len());
            for e in entries {
                let sub_key = format!("{profile}\0{}\0{}", e.external_user_id, e.identifier);
                let Some(bytes) = subscriptions.get(sub_key.as_str())? else {
                    continue;
                };
                let sub: Subscription = decode("subscriptions", &sub_key, bytes.value())?;
                staged.push(StagedSubscription {
                    external_user_id: e.external_user_id,
                    identifier: e.identifier,
                    model: sub.model,
                    display_name: sub.display_name,
                    email: sub.email,
                    account_type: sub.account_type,
                    granted_by: e.granted_by,
                    granted_at: sub.granted_at,
                    staged_at: sub.first_seen_at,
                });
            }
            rows.push((key, staged));
        }
    }
    let mut staging = tx.open_table(STAGING)?;
    for (key, staged) in rows {
        let bytes = encode("download_staging", &staged)?;
        staging.insert(key.as_str(), bytes.as_slice())?;
    }
    drop(staging);
    tx.delete_table(SEEN_LOG_V3)?;
    Ok(())
}

/// Moves every version-2 seen-marker (`profile\0user\0identifier` -> run and groups) into
/// the seen-log, 512 entries per row, grouped by profile and run, then deletes the old
/// table. Only an unfinished run reads its log, so a resumed run sees what it saw before.
fn seen_markers_to_log(tx: &redb::WriteTransaction) -> Result<(), WriteError> {
    use crate::model::{SeenEntry, SubscriptionSeen};
    use std::collections::BTreeMap;
    let table_name = "subscription_seen";
    let mut runs: BTreeMap<(String, u64), Vec<SeenEntry>> = BTreeMap::new();
    {
        let old = tx.open_table(SUBSCRIPTION_SEEN_V2)?;
        for entry in old.iter()? {
            let (k, v) = entry?;
            let key = k.value().to_string();
            let seen: SubscriptionSeen = decode(table_name, &key, v.value())?;
            let mut parts = key.split('\0');
            let (Some(profile), Some(user), Some(identifier), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            runs.entry((profile.to_string(), seen.run))
                .or_default()
                .push(SeenEntry {
                    external_user_id: user.to_string(),
                    identifier: identifier.to_string(),
                    granted_by: seen.granted_by,
                });
        }
    }
    let mut log = tx.open_table(SEEN_LOG_V3)?;
    for ((profile, run), entries) in runs {
        for (page, chunk) in entries.chunks(512).enumerate() {
            let key = format!("{profile}\0{run:020}\0{page:020}");
            let bytes = encode("download_seen_log", &chunk)?;
            log.insert(key.as_str(), bytes.as_slice())?;
        }
    }
    drop(log);
    tx.delete_table(SUBSCRIPTION_SEEN_V2)?;
    Ok(())
}

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
        let old: ScheduledJobV1 = decode(table_name, &key, &bytes)?;
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
        let encoded = encode(table_name, &new)?;
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
