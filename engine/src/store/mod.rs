//! The embedded store: one redb file holding the SAM domain ([`crate::model`]) in typed
//! tables, guarded by a sidecar lock so one process at a time holds it, with a schema version
//! and a migration chain from the first released layout ([`schema`]). Writes happen in
//! [`WriteTx`] (one redb write transaction: all of it commits or none of it does); reads in
//! [`ReadTx`] (a consistent snapshot). The store knows nothing of WebAssembly or HTTP.
//!
//! Encoding: keys are strings whose parts are joined with NUL (so one profile's records are
//! one contiguous key range), or big-endian `u64` sequence numbers; values are the model's
//! serde records encoded with **postcard**: a compact, non-self-describing binary format
//! (varints, no field names), typically 3-5x smaller than JSON for these records, fast,
//! `no_std`-grade and maintained by the Rust embedded working group's ecosystem, with a
//! stable, documented wire format (1.0 specification). Not being self-describing means a
//! layout change must bump [`schema::CURRENT_VERSION`] and add a migration — which is what
//! the schema version is for; a test pins the v1 layout byte for byte.

mod admin;
mod brief;
mod domain;
mod error;
mod lock;
pub mod maintenance;
mod profile_settings;
pub mod schema;
mod staging;
mod vendor;

use std::fmt::Display;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use admin::DeleteSummary;
pub use brief::{ActivityBrief, Counted, SubscriptionBrief, SubscriptionRow};
pub use error::{DecodeError, OpenError, ReadError, WriteError};
pub use lock::{DbLock, LastSession, LockHolder};
pub use staging::{MergeOutcome, RepeatedGrant, StagedRun, staged_key};

use crate::model::{
    AuditAction, AuditEntry, Checkpoint, Connection, EpochSeconds, IntegrationProfile, JobResult,
    ProcessKind, SelectedGroup, SoftwareModel, Subscription, SubscriptionIdentifier,
    UserActivityRecord,
};

/// A table of postcard-encoded records under string keys.
pub type Def = TableDefinition<'static, &'static str, &'static [u8]>;
/// A table of postcard-encoded records under sequence numbers.
pub type SeqDef = TableDefinition<'static, u64, &'static [u8]>;

/// The tables, by name. Every table is created when a database is opened for writing; a
/// read-only open sees a missing table as empty.
pub mod tables {
    use super::{Def, SeqDef};
    use redb::TableDefinition;

    /// Schema version and sequence counters.
    pub const META: TableDefinition<'static, &'static str, u64> = TableDefinition::new("meta");
    /// Integration profiles, by name.
    pub const PROFILES: Def = TableDefinition::new("profiles");
    /// Connections, by alias.
    pub const CONNECTIONS: Def = TableDefinition::new("connections");
    /// Selected groups, by profile + group id.
    pub const SELECTED_GROUPS: Def = TableDefinition::new("selected_groups");
    /// Software models, by id.
    pub const SOFTWARE_MODELS: Def = TableDefinition::new("software_models");
    /// Subscription identifiers, by spoke id + identifier.
    pub const IDENTIFIERS: Def = TableDefinition::new("subscription_identifiers");
    /// Subscriptions, by profile + external user id + identifier.
    pub const SUBSCRIPTIONS: Def = TableDefinition::new("subscriptions");
    /// Schema version 2's seen-markers, one per subscription (same key); emptied and
    /// deleted by the migration to version 3.
    pub const SUBSCRIPTION_SEEN_V2: Def = TableDefinition::new("subscription_seen");
    /// Schema version 3's seen-log of unfinished download runs (by profile + run + page,
    /// `Vec<SeenEntry>`); turned into staging rows and deleted by the migration to version 4.
    pub const SEEN_LOG_V3: Def = TableDefinition::new("download_seen_log");
    /// The staging log of unfinished download runs: by profile + run + page (zero-padded),
    /// the subscriptions that page reported (`Vec<StagedSubscription>`). Appended once per
    /// page, in key order; merged into the subscriptions and cleared when the run completes.
    pub const STAGING: Def = TableDefinition::new("download_staging");
    /// User activity, by profile + external user id.
    pub const ACTIVITY: Def = TableDefinition::new("user_activity");
    /// Seen-marker: the activity run that last reported a user (same key).
    pub const ACTIVITY_SEEN: Def = TableDefinition::new("activity_seen");
    /// Reclamation rules, by id.
    pub const RECLAMATION_RULES: Def = TableDefinition::new("reclamation_rules");
    /// Exclusion rules, by id.
    pub const EXCLUSION_RULES: Def = TableDefinition::new("exclusion_rules");
    /// Removal candidates, by profile + external user id + identifier.
    pub const REMOVAL_CANDIDATES: Def = TableDefinition::new("removal_candidates");
    /// Entitlements, by id.
    pub const ENTITLEMENTS: Def = TableDefinition::new("entitlements");
    /// Reconciliation results, by model + computed-at (zero-padded).
    pub const RECONCILIATION_RESULTS: Def = TableDefinition::new("reconciliation_results");
    /// Scheduled jobs, by name.
    pub const SCHEDULED_JOBS: Def = TableDefinition::new("scheduled_jobs");
    /// Job results, by run id.
    pub const JOB_RESULTS: SeqDef = TableDefinition::new("job_results");
    /// The audit log, by sequence number.
    pub const AUDIT_LOG: SeqDef = TableDefinition::new("audit_log");
    /// Checkpoints of unfinished runs, by profile + process.
    pub const CHECKPOINTS: Def = TableDefinition::new("checkpoints");
    /// License cost overrides, by software model.
    pub const COST_OVERRIDES: Def = TableDefinition::new("license_cost_overrides");
    /// Per profile and process: the window start of the last complete run (activity).
    pub const WATERMARKS: TableDefinition<'static, &'static str, i64> =
        TableDefinition::new("watermarks");

    /// Reclaim plans written before the spoke's write call (`profile\0candidate id`).
    pub const RECLAIM_INTENTS: Def = TableDefinition::new("reclaim_intents");
    /// A profile's reclaim run in progress (`profile`): the cap's count across resumes.
    pub const RECLAIM_RUNS: Def = TableDefinition::new("reclaim_runs");
    /// Seats the vendor reports cancelled and still held, by profile + identifier + user.
    pub const PENDING_CANCELLATIONS: Def = TableDefinition::new("pending_cancellations");
    /// The vendor's own seat counts, by profile + identifier.
    pub const VENDOR_SEAT_COUNTS: Def = TableDefinition::new("vendor_seat_counts");
    /// Each profile's share of a model's latest position, by model + profile.
    pub const RECONCILIATION_SHARES: Def = TableDefinition::new("reconciliation_shares");

    /// The component each profile's runs are pinned to (`profile`).
    pub const PLUGIN_PINS: Def = TableDefinition::new("plugin_pins");
    /// The operator's limits per profile (`profile`).
    pub const PROFILE_LIMITS: Def = TableDefinition::new("profile_limits");

    /// Every string-keyed record table.
    pub const RECORD_TABLES: [Def; 24] = [
        PROFILES,
        CONNECTIONS,
        SELECTED_GROUPS,
        SOFTWARE_MODELS,
        IDENTIFIERS,
        SUBSCRIPTIONS,
        STAGING,
        ACTIVITY,
        ACTIVITY_SEEN,
        RECLAMATION_RULES,
        EXCLUSION_RULES,
        REMOVAL_CANDIDATES,
        ENTITLEMENTS,
        RECONCILIATION_RESULTS,
        SCHEDULED_JOBS,
        CHECKPOINTS,
        COST_OVERRIDES,
        RECLAIM_INTENTS,
        RECLAIM_RUNS,
        PLUGIN_PINS,
        PROFILE_LIMITS,
        PENDING_CANCELLATIONS,
        VENDOR_SEAT_COUNTS,
        RECONCILIATION_SHARES,
    ];
}

use tables::*;

/// Joins key parts with NUL; `None` when a part holds NUL.
pub fn key(parts: &[&str]) -> Option<String> {
    if parts.iter().any(|p| p.contains('\0')) {
        return None;
    }
    Some(parts.join("\0"))
}

fn write_key(parts: &[&str]) -> Result<String, WriteError> {
    key(parts).ok_or_else(|| WriteError::InvalidKey(parts.join("/")))
}

/// The key range of every record under a prefix of parts.
fn prefix_range(parts: &[&str]) -> Option<(String, String)> {
    let base = key(parts)?;
    Some((format!("{base}\0"), format!("{base}\u{1}")))
}

fn printable(key: &str) -> String {
    key.replace('\0', "/")
}

fn encode<T: Serialize>(table: &'static str, value: &T) -> Result<Vec<u8>, WriteError> {
    encode_into(table, value, Vec::with_capacity(RECORD_BYTES))
}

/// Room reserved for one encoded record: most fit, so encoding seldom reallocates.
const RECORD_BYTES: usize = 256;

/// Encodes `value` after the bytes already in `buffer` (whose capacity is a size hint).
fn encode_into<T: Serialize>(
    table: &'static str,
    value: &T,
    buffer: Vec<u8>,
) -> Result<Vec<u8>, WriteError> {
    postcard::to_extend(value, buffer).map_err(|source| WriteError::Encode { table, source })
}

fn decode<'a, T: Deserialize<'a>>(
    table: &'static str,
    key: &dyn Display,
    bytes: &'a [u8],
) -> Result<T, DecodeError> {
    let err = |source| DecodeError {
        table,
        key: printable(&key.to_string()),
        source,
    };
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(err)?;
    if !rest.is_empty() {
        return Err(err(postcard::Error::DeserializeBadEncoding));
    }
    Ok(value)
}

fn get_in<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &'static str,
    key: &str,
) -> Result<Option<T>, ReadError> {
    match table.get(key)? {
        Some(guard) => Ok(Some(decode(name, &key, guard.value())?)),
        None => Ok(None),
    }
}

/// Decoded records of a key range, at most `limit`.
fn range_in<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &'static str,
    lower: Bound<&str>,
    upper: Bound<&str>,
    limit: usize,
) -> Result<Vec<(String, T)>, ReadError> {
    let mut out = Vec::new();
    for item in table.range::<&str>((lower, upper))? {
        if out.len() >= limit {
            break;
        }
        let (k, v) = item?;
        let k = k.value().to_string();
        let value = decode(name, &k, v.value())?;
        out.push((k, value));
    }
    Ok(out)
}

/// Every value of `table` whose key starts with `prefix` (all of them for an empty prefix), in
/// key order; shared by read and write transactions.
fn rows_with_prefix<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &'static str,
    prefix: &[&str],
) -> Result<Vec<T>, ReadError> {
    let rows = if prefix.is_empty() {
        range_in(table, name, Bound::Unbounded, Bound::Unbounded, usize::MAX)?
    } else {
        let Some((lo, hi)) = prefix_range(prefix) else {
            return Ok(Vec::new());
        };
        range_in(
            table,
            name,
            Bound::Included(lo.as_str()),
            Bound::Excluded(hi.as_str()),
            usize::MAX,
        )?
    };
    Ok(rows.into_iter().map(|(_, v)| v).collect())
}

/// Records read per chunk by the streaming scans of a write transaction.
pub const SCAN_CHUNK: usize = 512;

/// Memory redb may use to cache database pages. redb's default (1 GiB) let the cache grow
/// with the file: a 100 000-user tenant's 76 MiB database sat in memory in full. The OS page
/// cache still holds recently read pages, so a small cache costs little time.
pub const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// How the store holds its file.
enum Handle {
    /// Opened for writing (write commands, the daemon).
    Write(Database),
    /// Opened read-only (read commands): nothing is ever written to the file.
    Read(redb::ReadOnlyDatabase),
    /// Read-only, and no file exists: every table reads as empty.
    Absent,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handle::Write(_) => "Write",
            Handle::Read(_) => "Read",
            Handle::Absent => "Absent",
        })
    }
}

/// An open database, held by this process until dropped.
#[derive(Debug)]
pub struct Store {
    db: Handle,
    path: PathBuf,
    lock: Option<DbLock>,
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Handle::Write(db) = std::mem::replace(&mut self.db, Handle::Absent) {
            // Closing flushes; a panic in redb here (a damaged file) must not abort the drop.
            let _ = error::contain(|| db.close().map_err(|_| ()), |_| ());
        }
        // Past this point the process did not crash: a later open that finds the file needing
        // recovery knows it was not an interrupted session of ours (see `lock`).
        if let Some(lock) = &mut self.lock {
            lock.mark_closed();
        }
    }
}

impl Store {
    /// Opens the database at `path` for writing, creating it only where no file exists: takes
    /// the lock, refuses a file that is not a database, damaged, or of a newer schema (all left
    /// unchanged), backs up and migrates an older one, and creates missing tables. A file an
    /// interrupted sam left needing recovery is copied aside and then recovered; any other
    /// file needing a repair is refused (`sam db repair`). See [`maintenance`].
    pub fn open(path: impl AsRef<Path>) -> Result<Store, OpenError> {
        maintenance::open_write(path.as_ref())
    }

    /// Opens the database at `path` read-only: nothing is written to it (no migration, no
    /// table created, no repair), so a read-only file or a newer sam's file stays as it is. A
    /// missing file reads as an empty database; a table a newer minor version added reads as
    /// empty.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Store, OpenError> {
        maintenance::open_read(path.as_ref())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        !matches!(self.db, Handle::Write(_))
    }

    fn writable(&self) -> Result<&Database, WriteError> {
        match &self.db {
            Handle::Write(db) => Ok(db),
            _ => Err(WriteError::ReadOnly(self.path.clone())),
        }
    }

    fn damaged_write(&self, detail: String) -> WriteError {
        WriteError::Damaged {
            path: self.path.clone(),
            detail,
        }
    }

    /// Starts a write transaction.
    pub fn begin_write(&self) -> Result<WriteTx, WriteError> {
        let db = self.writable()?;
        let tx = error::contain(
            || db.begin_write().map_err(WriteError::from),
            |d| self.damaged_write(d),
        )?;
        Ok(WriteTx { tx })
    }

    /// Runs `f` in one write transaction and commits it if `f` succeeds; on error nothing
    /// is written. A panic inside redb (a damaged file) is a [`WriteError::Damaged`].
    pub fn write<R, E>(&self, f: impl FnOnce(&WriteTx) -> Result<R, E>) -> Result<R, E>
    where
        E: From<WriteError>,
    {
        self.write_deferred(true, f)
    }

    /// Like [`Store::write`], but the commit is durable only when `durable` is set. A
    /// non-durable commit is visible at once to every later transaction of this process and
    /// costs no disk flush; it becomes durable with the next durable commit or when the store
    /// is closed. A crash before then rolls the file back to the last durable commit, whole:
    /// a pipeline that batches its page commits this way resumes from an earlier checkpoint
    /// and fetches those pages again.
    pub fn write_deferred<R, E>(
        &self,
        durable: bool,
        f: impl FnOnce(&WriteTx) -> Result<R, E>,
    ) -> Result<R, E>
    where
        E: From<WriteError>,
    {
        error::contain(
            || {
                let mut tx = self.begin_write()?;
                if !durable {
                    tx.tx
                        .set_durability(redb::Durability::None)
                        .map_err(|e| WriteError::from(redb::Error::from(e)))?;
                }
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            },
            |d| E::from(self.damaged_write(d)),
        )
    }

    /// Starts a read transaction (a consistent snapshot).
    pub fn read(&self) -> Result<ReadTx, ReadError> {
        let damaged = |detail| ReadError::Damaged {
            path: self.path.clone(),
            detail,
        };
        let tx = error::contain(
            || match &self.db {
                Handle::Write(db) => db.begin_read().map(Some).map_err(ReadError::from),
                Handle::Read(db) => db.begin_read().map(Some).map_err(ReadError::from),
                Handle::Absent => Ok(None),
            },
            damaged,
        )?;
        Ok(ReadTx {
            tx,
            path: self.path.clone(),
        })
    }

    /// The schema version in the file (0 when it has none: no file).
    pub fn schema_version(&self) -> Result<u64, ReadError> {
        let read = self.read()?;
        read.guard(|| {
            Ok(read
                .table(META)?
                .map(|meta| meta.get(schema::VERSION_KEY).map(|g| g.map(|g| g.value())))
                .transpose()?
                .flatten()
                .unwrap_or(0))
        })
    }
}

tokio::task_local! {
    /// Who the writes of the current task are made for (see [`with_actor`]).
    static ACTOR: String;
}

/// Runs `fut` with every audit entry it writes attributed to `actor`. The application layer
/// wraps each command in it; code below never passes actors around.
pub async fn with_actor<F: std::future::Future>(actor: impl Into<String>, fut: F) -> F::Output {
    ACTOR.scope(actor.into(), fut).await
}

/// Runs `f` with `actor` as the current actor (synchronous code).
pub fn with_actor_sync<R>(actor: impl Into<String>, f: impl FnOnce() -> R) -> R {
    ACTOR.sync_scope(actor.into(), f)
}

/// The actor audit entries are written for now: the innermost [`with_actor`], else `system`.
pub fn current_actor() -> String {
    ACTOR
        .try_with(|a| a.clone())
        .unwrap_or_else(|_| "system".to_string())
}

/// One write transaction with typed access to the tables.
pub struct WriteTx {
    tx: redb::WriteTransaction,
}

impl WriteTx {
    /// Commits everything written.
    pub fn commit(self) -> Result<(), WriteError> {
        self.tx.commit()?;
        Ok(())
    }

    fn get<T: DeserializeOwned>(&self, def: Def, key: &str) -> Result<Option<T>, WriteError> {
        let table = self.tx.open_table(def)?;
        Ok(get_in(&table, table_name(def), key)?)
    }

    fn put<T: Serialize>(&self, def: Def, key: &str, value: &T) -> Result<(), WriteError> {
        let name = table_name(def);
        let bytes = encode(name, value)?;
        self.tx.open_table(def)?.insert(key, bytes.as_slice())?;
        Ok(())
    }

    fn delete(&self, def: Def, key: &str) -> Result<bool, WriteError> {
        Ok(self.tx.open_table(def)?.remove(key)?.is_some())
    }

    fn put_seq<T: Serialize>(&self, def: SeqDef, id: u64, value: &T) -> Result<(), WriteError> {
        let bytes = encode(seq_table_name(def), value)?;
        self.tx.open_table(def)?.insert(id, bytes.as_slice())?;
        Ok(())
    }

    /// The next number of a named sequence (starting at 1).
    pub fn next_seq(&self, sequence: &str) -> Result<u64, WriteError> {
        let mut meta = self.tx.open_table(META)?;
        let name = format!("seq.{sequence}");
        let next = meta.get(name.as_str())?.map(|g| g.value()).unwrap_or(0) + 1;
        meta.insert(name.as_str(), next)?;
        Ok(next)
    }

    /// Creates a profile with its connection and selected groups.
    pub fn create_profile(
        &self,
        profile: &IntegrationProfile,
        connection: &Connection,
        groups: &[SelectedGroup],
    ) -> Result<(), WriteError> {
        let pkey = write_key(&[&profile.name])?;
        if self.get::<IntegrationProfile>(PROFILES, &pkey)?.is_some() {
            return Err(WriteError::AlreadyExists {
                what: format!("profile `{}`", profile.name),
            });
        }
        self.put(PROFILES, &pkey, profile)?;
        self.put(CONNECTIONS, &write_key(&[&connection.alias])?, connection)?;
        for group in groups {
            self.put(
                SELECTED_GROUPS,
                &write_key(&[&group.profile, &group.group_id])?,
                group,
            )?;
        }
        Ok(())
    }

    /// Replaces a profile record.
    pub fn put_profile(&self, profile: &IntegrationProfile) -> Result<(), WriteError> {
        self.put(PROFILES, &write_key(&[&profile.name])?, profile)
    }

    /// A profile.
    pub fn profile(&self, name: &str) -> Result<Option<IntegrationProfile>, WriteError> {
        match key(&[name]) {
            Some(k) => self.get(PROFILES, &k),
            None => Ok(None),
        }
    }

    /// A subscription.
    pub fn subscription(
        &self,
        profile: &str,
        external_user_id: &str,
        identifier: &str,
    ) -> Result<Option<Subscription>, WriteError> {
        match key(&[profile, external_user_id, identifier]) {
            Some(k) => self.get(SUBSCRIPTIONS, &k),
            None => Ok(None),
        }
    }

    /// Inserts or replaces a subscription.
    pub fn put_subscription(&self, s: &Subscription) -> Result<(), WriteError> {
        let k = write_key(&[&s.profile, &s.external_user_id, &s.identifier])?;
        self.put(SUBSCRIPTIONS, &k, s)
    }

    /// Calls `f` with the key and value of each of `profile`'s subscriptions, in key order,
    /// [`SCAN_CHUNK`] at a time: memory stays bounded by a chunk, and `f` may write any table
    /// (the subscriptions table too: each chunk is read before `f` sees it).
    pub fn for_each_profile_subscription<E: From<WriteError>>(
        &self,
        profile: &str,
        mut f: impl FnMut(String, Subscription) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some((lo, hi)) = prefix_range(&[profile]) else {
            return Ok(());
        };
        let mut after: Option<String> = None;
        loop {
            let chunk: Vec<(String, Subscription)> = {
                let table = self
                    .tx
                    .open_table(SUBSCRIPTIONS)
                    .map_err(WriteError::from)?;
                let lower = match &after {
                    Some(a) => Bound::Excluded(a.as_str()),
                    None => Bound::Included(lo.as_str()),
                };
                range_in(
                    &table,
                    "subscriptions",
                    lower,
                    Bound::Excluded(hi.as_str()),
                    SCAN_CHUNK,
                )
                .map_err(WriteError::from)?
            };
            let Some((last, _)) = chunk.last() else {
                return Ok(());
            };
            after = Some(last.clone());
            let done = chunk.len() < SCAN_CHUNK;
            for (k, sub) in chunk {
                f(k, sub)?;
            }
            if done {
                return Ok(());
            }
        }
    }

    /// Adds `delta` to an identifier's active-subscription count (if the identifier exists).
    pub fn adjust_identifier_count(
        &self,
        spoke_id: &str,
        identifier: &str,
        delta: i64,
    ) -> Result<(), WriteError> {
        if let Some(mut id) = self.identifier(spoke_id, identifier)? {
            id.subscription_count = id.subscription_count.saturating_add_signed(delta);
            self.put_identifier(&id)?;
        }
        Ok(())
    }

    /// A subscription identifier.
    pub fn identifier(
        &self,
        spoke_id: &str,
        identifier: &str,
    ) -> Result<Option<SubscriptionIdentifier>, WriteError> {
        match key(&[spoke_id, identifier]) {
            Some(k) => self.get(IDENTIFIERS, &k),
            None => Ok(None),
        }
    }

    /// Inserts or replaces a subscription identifier.
    pub fn put_identifier(&self, id: &SubscriptionIdentifier) -> Result<(), WriteError> {
        self.put(
            IDENTIFIERS,
            &write_key(&[&id.spoke_id, &id.identifier])?,
            id,
        )
    }

    /// A software model.
    pub fn model(&self, id: &str) -> Result<Option<SoftwareModel>, WriteError> {
        match key(&[id]) {
            Some(k) => self.get(SOFTWARE_MODELS, &k),
            None => Ok(None),
        }
    }

    /// Inserts or replaces a software model.
    pub fn put_model(&self, model: &SoftwareModel) -> Result<(), WriteError> {
        self.put(SOFTWARE_MODELS, &write_key(&[&model.id])?, model)
    }

    /// Assigns `model` to an identifier and to every subscription that carries it (in every
    /// profile listed on the identifier). Returns the number of subscriptions updated.
    pub fn assign_model(
        &self,
        spoke_id: &str,
        identifier: &str,
        model: &str,
    ) -> Result<u64, WriteError> {
        if self.model(model)?.is_none() {
            return Err(WriteError::NotFound {
                what: format!("software model `{model}`"),
            });
        }
        let mut record =
            self.identifier(spoke_id, identifier)?
                .ok_or_else(|| WriteError::NotFound {
                    what: format!("subscription identifier `{identifier}` of spoke `{spoke_id}`"),
                })?;
        record.model = Some(model.to_string());
        self.put_identifier(&record)?;
        let mut updated = 0;
        for profile in &record.profiles {
            self.for_each_profile_subscription(profile, |k, mut sub| {
                if sub.identifier == identifier && sub.model.as_deref() != Some(model) {
                    sub.model = Some(model.to_string());
                    self.put(SUBSCRIPTIONS, &k, &sub)?;
                    updated += 1;
                }
                Ok::<_, WriteError>(())
            })?;
        }
        Ok(updated)
    }

    /// A user's activity record.
    pub fn activity(
        &self,
        profile: &str,
        external_user_id: &str,
    ) -> Result<Option<UserActivityRecord>, WriteError> {
        match key(&[profile, external_user_id]) {
            Some(k) => self.get(ACTIVITY, &k),
            None => Ok(None),
        }
    }

    /// Inserts or replaces an activity record.
    pub fn put_activity(&self, record: &UserActivityRecord) -> Result<(), WriteError> {
        let k = write_key(&[&record.profile, &record.external_user_id])?;
        self.put(ACTIVITY, &k, record)
    }

    /// The activity run that last reported a user.
    pub fn activity_seen(
        &self,
        profile: &str,
        external_user_id: &str,
    ) -> Result<Option<u64>, WriteError> {
        match key(&[profile, external_user_id]) {
            Some(k) => self.get(ACTIVITY_SEEN, &k),
            None => Ok(None),
        }
    }

    /// Marks a user as reported by activity run `run`.
    pub fn mark_activity_seen(
        &self,
        profile: &str,
        external_user_id: &str,
        run: u64,
    ) -> Result<(), WriteError> {
        self.put(
            ACTIVITY_SEEN,
            &write_key(&[profile, external_user_id])?,
            &run,
        )
    }

    /// The unfinished run of a process on a profile.
    pub fn checkpoint(
        &self,
        profile: &str,
        process: ProcessKind,
    ) -> Result<Option<Checkpoint>, WriteError> {
        match key(&[profile, process.key()]) {
            Some(k) => self.get(CHECKPOINTS, &k),
            None => Ok(None),
        }
    }

    /// Stores a checkpoint.
    pub fn put_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), WriteError> {
        let k = write_key(&[&checkpoint.profile, checkpoint.process.key()])?;
        self.put(CHECKPOINTS, &k, checkpoint)
    }

    /// Removes a checkpoint (the run completed).
    pub fn clear_checkpoint(&self, profile: &str, process: ProcessKind) -> Result<(), WriteError> {
        self.delete(CHECKPOINTS, &write_key(&[profile, process.key()])?)?;
        Ok(())
    }

    /// The window start of the last complete run of a process.
    pub fn watermark(
        &self,
        profile: &str,
        process: ProcessKind,
    ) -> Result<Option<EpochSeconds>, WriteError> {
        let k = write_key(&[profile, process.key()])?;
        Ok(self
            .tx
            .open_table(WATERMARKS)?
            .get(k.as_str())?
            .map(|g| g.value()))
    }

    /// Sets the window start of the last complete run.
    pub fn set_watermark(
        &self,
        profile: &str,
        process: ProcessKind,
        at: EpochSeconds,
    ) -> Result<(), WriteError> {
        let k = write_key(&[profile, process.key()])?;
        self.tx.open_table(WATERMARKS)?.insert(k.as_str(), at)?;
        Ok(())
    }

    /// A job result.
    pub fn job_result(&self, id: u64) -> Result<Option<JobResult>, WriteError> {
        let table = self.tx.open_table(JOB_RESULTS)?;
        let value = match table.get(id)? {
            Some(g) => Some(decode("job_results", &id, g.value())?),
            None => None,
        };
        Ok(value)
    }

    /// Inserts or replaces a job result.
    pub fn put_job_result(&self, job: &JobResult) -> Result<(), WriteError> {
        self.put_seq(JOB_RESULTS, job.id, job)
    }

    /// Appends to the audit log; returns the entry's sequence number.
    pub fn audit(
        &self,
        at: EpochSeconds,
        profile: Option<&str>,
        action: AuditAction,
        detail: impl Into<String>,
        run: Option<u64>,
    ) -> Result<u64, WriteError> {
        let seq = self.next_seq("audit")?;
        let entry = AuditEntry {
            seq,
            at,
            profile: profile.map(str::to_string),
            action,
            detail: detail.into(),
            run,
            actor: current_actor(),
        };
        self.put_seq(AUDIT_LOG, seq, &entry)?;
        Ok(seq)
    }
}

fn table_name(def: Def) -> &'static str {
    const NAMES: [&str; 22] = [
        "profiles",
        "connections",
        "selected_groups",
        "software_models",
        "subscription_identifiers",
        "subscriptions",
        "download_staging",
        "user_activity",
        "activity_seen",
        "reclamation_rules",
        "exclusion_rules",
        "removal_candidates",
        "entitlements",
        "reconciliation_results",
        "scheduled_jobs",
        "checkpoints",
        "license_cost_overrides",
        "plugin_pins",
        "profile_limits",
        "pending_cancellations",
        "vendor_seat_counts",
        "reconciliation_shares",
    ];
    let name = redb::TableHandle::name(&def);
    NAMES.into_iter().find(|n| *n == name).unwrap_or("record")
}

fn seq_table_name(def: SeqDef) -> &'static str {
    if redb::TableHandle::name(&def) == redb::TableHandle::name(&JOB_RESULTS) {
        "job_results"
    } else {
        "audit_log"
    }
}

/// One read transaction (a consistent snapshot) with typed access to the tables. A table
/// that does not exist (a read-only open of a file from before the table was added, or of no
/// file) reads as empty. Every method contains a panic inside redb (a damaged file) as
/// [`ReadError::Damaged`].
pub struct ReadTx {
    tx: Option<redb::ReadTransaction>,
    path: PathBuf,
}

impl ReadTx {
    /// A table, or `None` when it does not exist.
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: TableDefinition<'static, K, V>,
    ) -> Result<Option<redb::ReadOnlyTable<K, V>>, ReadError> {
        let Some(tx) = &self.tx else {
            return Ok(None);
        };
        match tx.open_table(def) {
            Ok(table) => Ok(Some(table)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Runs `f`, containing a panic inside redb as [`ReadError::Damaged`].
    fn guard<R, E: From<ReadError>>(&self, f: impl FnOnce() -> Result<R, E>) -> Result<R, E> {
        error::contain(f, |detail| {
            E::from(ReadError::Damaged {
                path: self.path.clone(),
                detail,
            })
        })
    }

    fn get<T: DeserializeOwned>(&self, def: Def, key: &str) -> Result<Option<T>, ReadError> {
        self.guard(|| match self.table(def)? {
            Some(table) => get_in(&table, table_name(def), key),
            None => Ok(None),
        })
    }

    fn all<T: DeserializeOwned>(&self, def: Def, prefix: &[&str]) -> Result<Vec<T>, ReadError> {
        self.guard(|| match self.table(def)? {
            Some(table) => rows_with_prefix(&table, table_name(def), prefix),
            None => Ok(Vec::new()),
        })
    }

    /// A profile.
    pub fn profile(&self, name: &str) -> Result<Option<IntegrationProfile>, ReadError> {
        match key(&[name]) {
            Some(k) => self.get(PROFILES, &k),
            None => Ok(None),
        }
    }

    /// All profiles, by name.
    pub fn profiles(&self) -> Result<Vec<IntegrationProfile>, ReadError> {
        self.all(PROFILES, &[])
    }

    /// A connection.
    pub fn connection(&self, alias: &str) -> Result<Option<Connection>, ReadError> {
        match key(&[alias]) {
            Some(k) => self.get(CONNECTIONS, &k),
            None => Ok(None),
        }
    }

    /// A profile's selected groups.
    pub fn selected_groups(&self, profile: &str) -> Result<Vec<SelectedGroup>, ReadError> {
        self.all(SELECTED_GROUPS, &[profile])
    }

    /// All software models.
    pub fn models(&self) -> Result<Vec<SoftwareModel>, ReadError> {
        self.all(SOFTWARE_MODELS, &[])
    }

    /// All subscription identifiers.
    pub fn identifiers(&self) -> Result<Vec<SubscriptionIdentifier>, ReadError> {
        self.all(IDENTIFIERS, &[])
    }

    /// One subscription.
    pub fn subscription(
        &self,
        profile: &str,
        external_user_id: &str,
        identifier: &str,
    ) -> Result<Option<Subscription>, ReadError> {
        match key(&[profile, external_user_id, identifier]) {
            Some(k) => self.get(SUBSCRIPTIONS, &k),
            None => Ok(None),
        }
    }

    /// All of a profile's subscriptions, in key order (loads them all: for small tenants,
    /// tests and reports; use [`ReadTx::for_each_subscription`] to stream).
    pub fn subscriptions(&self, profile: &str) -> Result<Vec<Subscription>, ReadError> {
        self.all(SUBSCRIPTIONS, &[profile])
    }

    /// Calls `f` for each of a profile's subscriptions, in key order, without loading them
    /// all.
    pub fn for_each_subscription(
        &self,
        profile: &str,
        mut f: impl FnMut(Subscription),
    ) -> Result<(), ReadError> {
        self.for_each_subscription_row(profile, |row| {
            f(row.full()?);
            Ok(())
        })
    }

    /// Calls `f` for each of a profile's subscriptions, in key order, with its holder's
    /// activity record: one pass over both tables, joined by user (both are keyed
    /// profile, user, ... so they are in the same user order), instead of a lookup per seat
    /// or a map of every record.
    pub fn for_each_subscription_with_activity(
        &self,
        profile: &str,
        mut f: impl FnMut(Subscription, Option<&UserActivityRecord>),
    ) -> Result<(), ReadError> {
        self.for_each_subscription_row_with_activity(profile, |row, activity| {
            let record = activity.map(ActivityBrief::to_record);
            f(row.full()?, record.as_ref());
            Ok(())
        })
    }

    /// Calls `f` for each of a profile's subscriptions read in place, in key order: the
    /// row's fields are borrowed from the database page ([`SubscriptionRow`]; nothing is
    /// allocated unless `f` asks for the whole record), so a scan that filters or counts
    /// costs little per row.
    pub fn for_each_subscription_row(
        &self,
        profile: &str,
        mut f: impl FnMut(&SubscriptionRow<'_>) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        let Some((lo, hi)) = prefix_range(&[profile]) else {
            return Ok(());
        };
        self.guard(|| {
            let Some(table) = self.table(SUBSCRIPTIONS)? else {
                return Ok(());
            };
            for item in table.range::<&str>(lo.as_str()..hi.as_str())? {
                let (k, v) = item?;
                f(&SubscriptionRow::read(k.value(), v.value())?)?;
            }
            Ok(())
        })
    }

    /// [`ReadTx::for_each_subscription_row`] with each holder's activity record, read in
    /// place too: one ordered pass over both tables, joined on the user part of their keys
    /// (subscriptions are keyed profile, user, identifier; activity profile, user).
    pub fn for_each_subscription_row_with_activity(
        &self,
        profile: &str,
        mut f: impl FnMut(&SubscriptionRow<'_>, Option<&ActivityBrief<'_>>) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        let Some((lo, hi)) = prefix_range(&[profile]) else {
            return Ok(());
        };
        self.guard(|| {
            let Some(subscriptions) = self.table(SUBSCRIPTIONS)? else {
                return Ok(());
            };
            let activity_table = self.table(ACTIVITY)?;
            let mut activities = match &activity_table {
                Some(t) => Some(t.range::<&str>(lo.as_str()..hi.as_str())?),
                None => None,
            };
            // The activity row at or after the current seat's user.
            let mut current: Option<(
                redb::AccessGuard<'_, &'static str>,
                redb::AccessGuard<'_, &'static [u8]>,
            )> = None;
            let mut exhausted = activities.is_none();
            for item in subscriptions.range::<&str>(lo.as_str()..hi.as_str())? {
                let (k, v) = item?;
                let row = SubscriptionRow::read(k.value(), v.value())?;
                let user = row.brief.external_user_id;
                loop {
                    let behind = match &current {
                        Some((ak, _)) => ak.value().get(lo.len()..).unwrap_or_default() < user,
                        None => true,
                    };
                    if exhausted || !behind {
                        break;
                    }
                    match activities.as_mut().and_then(Iterator::next) {
                        Some(entry) => current = Some(entry?),
                        None => {
                            current = None;
                            exhausted = true;
                        }
                    }
                }
                let activity = match &current {
                    Some((ak, av)) if ak.value().get(lo.len()..) == Some(user) => {
                        Some(ActivityBrief::read(ak.value(), av.value())?)
                    }
                    _ => None,
                };
                f(&row, activity.as_ref())?;
            }
            Ok(())
        })
    }

    /// Up to `limit` distinct external user ids holding an active subscription on `profile`,
    /// after `after` (exclusive), in order; and the last user id examined.
    pub fn active_holders_after(
        &self,
        profile: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, ReadError> {
        let Some((lo, hi)) = prefix_range(&[profile]) else {
            return Ok(Vec::new());
        };
        // Keys are profile\0user\0identifier: start after every key of `after`.
        let start = match after {
            Some(a) => match key(&[profile, a]) {
                Some(k) => format!("{k}\u{1}"),
                None => return Ok(Vec::new()),
            },
            None => lo,
        };
        self.guard(|| {
            let mut out: Vec<String> = Vec::new();
            let Some(table) = self.table(SUBSCRIPTIONS)? else {
                return Ok(out);
            };
            for item in table.range::<&str>(start.as_str()..hi.as_str())? {
                let (k, v) = item?;
                let sub: Subscription = decode("subscriptions", &k.value(), v.value())?;
                if !sub.active || out.last() == Some(&sub.external_user_id) {
                    continue;
                }
                if out.len() >= limit {
                    break;
                }
                out.push(sub.external_user_id);
            }
            Ok(out)
        })
    }

    /// Counts of a profile's subscriptions: (active, ended).
    pub fn subscription_counts(&self, profile: &str) -> Result<(u64, u64), ReadError> {
        let (mut active, mut ended) = (0, 0);
        self.for_each_subscription_row(profile, |s| {
            if s.brief.active {
                active += 1;
            } else {
                ended += 1;
            }
            Ok(())
        })?;
        Ok((active, ended))
    }

    /// A user's activity record.
    pub fn activity(
        &self,
        profile: &str,
        external_user_id: &str,
    ) -> Result<Option<UserActivityRecord>, ReadError> {
        match key(&[profile, external_user_id]) {
            Some(k) => self.get(ACTIVITY, &k),
            None => Ok(None),
        }
    }

    /// All of a profile's activity records, in key order.
    pub fn activities(&self, profile: &str) -> Result<Vec<UserActivityRecord>, ReadError> {
        self.all(ACTIVITY, &[profile])
    }

    /// The activity run that last reported a user.
    pub fn activity_seen(
        &self,
        profile: &str,
        external_user_id: &str,
    ) -> Result<Option<u64>, ReadError> {
        match key(&[profile, external_user_id]) {
            Some(k) => self.get(ACTIVITY_SEEN, &k),
            None => Ok(None),
        }
    }

    /// The unfinished run of a process on a profile.
    pub fn checkpoint(
        &self,
        profile: &str,
        process: ProcessKind,
    ) -> Result<Option<Checkpoint>, ReadError> {
        match key(&[profile, process.key()]) {
            Some(k) => self.get(CHECKPOINTS, &k),
            None => Ok(None),
        }
    }

    /// The window start of the last complete run of a process.
    pub fn watermark(
        &self,
        profile: &str,
        process: ProcessKind,
    ) -> Result<Option<EpochSeconds>, ReadError> {
        let Some(k) = key(&[profile, process.key()]) else {
            return Ok(None);
        };
        self.guard(|| match self.table(WATERMARKS)? {
            Some(table) => Ok(table.get(k.as_str())?.map(|g| g.value())),
            None => Ok(None),
        })
    }

    /// Every record of a sequence-keyed table, in order.
    fn seq_all<T: DeserializeOwned>(
        &self,
        def: SeqDef,
        name: &'static str,
    ) -> Result<Vec<T>, ReadError> {
        self.guard(|| {
            let mut out = Vec::new();
            let Some(table) = self.table(def)? else {
                return Ok(out);
            };
            for item in table.range::<u64>(..)? {
                let (k, v) = item?;
                out.push(decode(name, &k.value(), v.value())?);
            }
            Ok(out)
        })
    }

    /// One record of a sequence-keyed table.
    pub(crate) fn seq_get<T: DeserializeOwned>(
        &self,
        def: SeqDef,
        name: &'static str,
        id: u64,
    ) -> Result<Option<T>, ReadError> {
        self.guard(|| {
            let Some(table) = self.table(def)? else {
                return Ok(None);
            };
            let value = match table.get(id)? {
                Some(g) => Some(decode(name, &id, g.value())?),
                None => None,
            };
            Ok(value)
        })
    }

    /// All job results, oldest first.
    pub fn job_results(&self) -> Result<Vec<JobResult>, ReadError> {
        self.seq_all(JOB_RESULTS, "job_results")
    }

    /// One job result.
    pub fn job_result(&self, id: u64) -> Result<Option<JobResult>, ReadError> {
        self.seq_get(JOB_RESULTS, "job_results", id)
    }

    /// The audit log, oldest first.
    pub fn audit_log(&self) -> Result<Vec<AuditEntry>, ReadError> {
        self.seq_all(AUDIT_LOG, "audit_log")
    }

    /// Number of entries in a record table.
    pub fn len(&self, def: Def) -> Result<u64, ReadError> {
        self.guard(|| match self.table(def)? {
            Some(table) => Ok(table.len()?),
            None => Ok(0),
        })
    }
}

#[cfg(test)]
mod tests;
