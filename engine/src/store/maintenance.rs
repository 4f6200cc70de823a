//! The database file's life outside transactions: how a store is opened (for writing, or
//! read-only so a read never changes a byte), what counts as a database (a missing file is
//! created only by a write; an empty file, a directory or a foreign file is an error naming
//! it), the automatic backup before a migration or a recovery, file modes (folder 0700, file,
//! lock and backups 0600, a warning when an existing file is readable by others), and the
//! `sam db` operations: `check` (redb's integrity check, run on a copy), `repair` (copies the
//! file aside first), `backup` (a consistent copy, also while this process writes) and
//! `restore` (refuses a newer schema). A panic inside redb on a damaged file is contained
//! here and reported as [`OpenError::Damaged`]; no open repairs a file unless the file's
//! lock records that a sam session was interrupted on it, and then only after a copy.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use redb::{
    Database, DatabaseError, ReadableDatabase, ReadableTableMetadata, StorageError, TableHandle,
};
use serde::Serialize;

use super::error::{contain, first_line};
use super::lock::{DbLock, LastSession};
use super::schema::{self, CURRENT_VERSION, VERSION_KEY};
use super::tables::*;
use super::{CACHE_BYTES, Handle, OpenError, Store};

/// What a read-only look at an existing file found.
enum Found {
    /// redb says the file needs recovery (not closed cleanly, or a damaged header).
    NeedsRecovery,
    /// A redb file with no table at all (created, never committed): a new database.
    Blank,
    /// A sam database of this schema version.
    Version(u64),
}

/// Whether a file exists at `path`; an error when something is there that cannot be a
/// database (a directory, an empty file, not a regular file).
fn existing_file(path: &Path) -> Result<bool, OpenError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(OpenError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let not = |reason: &str| OpenError::NotADatabase {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if meta.is_dir() {
        return Err(not("it is a directory"));
    }
    if !meta.is_file() {
        return Err(not("it is not a regular file"));
    }
    if meta.len() == 0 {
        return Err(not("it is an empty file (0 bytes)"));
    }
    Ok(true)
}

/// Maps redb's open error for the file at `path`.
fn open_error(path: &Path, e: DatabaseError) -> OpenError {
    match e {
        DatabaseError::DatabaseAlreadyOpen => OpenError::InUse {
            path: path.to_path_buf(),
            holder: super::LockHolder {
                pid: 0,
                host: String::new(),
                since: 0,
                closed: None,
            },
        },
        DatabaseError::RepairAborted => OpenError::NeedsRepair {
            path: path.to_path_buf(),
        },
        DatabaseError::Storage(StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::InvalidData =>
        {
            OpenError::NotADatabase {
                path: path.to_path_buf(),
                reason: first_line(&io.to_string()),
            }
        }
        DatabaseError::Storage(StorageError::Io(source)) => OpenError::Io {
            path: path.to_path_buf(),
            source,
        },
        DatabaseError::UpgradeRequired(v) => OpenError::NotADatabase {
            path: path.to_path_buf(),
            reason: format!("a redb file of format {v}, which this sam does not read"),
        },
        other => OpenError::Damaged {
            path: path.to_path_buf(),
            detail: first_line(&other.to_string()),
        },
    }
}

fn damaged(path: &Path) -> impl FnOnce(String) -> OpenError + '_ {
    move |detail| OpenError::Damaged {
        path: path.to_path_buf(),
        detail,
    }
}

fn storage(path: &Path) -> impl Fn(redb::Error) -> OpenError + '_ {
    move |e| match e {
        redb::Error::Corrupted(detail) => OpenError::Damaged {
            path: path.to_path_buf(),
            detail: first_line(&detail),
        },
        other => OpenError::Storage {
            path: path.to_path_buf(),
            source: other,
        },
    }
}

fn read_only_builder() -> redb::Builder {
    let mut builder = redb::Builder::new();
    builder.set_cache_size(CACHE_BYTES);
    builder
}

/// Opens `path` read-only (panics contained).
fn open_read_only_db(path: &Path) -> Result<redb::ReadOnlyDatabase, OpenError> {
    contain(
        || {
            read_only_builder()
                .open_read_only(path)
                .map_err(|e| open_error(path, e))
        },
        damaged(path),
    )
}

/// The schema version recorded in an open database; `Ok(None)` for a file without tables.
fn recorded_version(db: &impl ReadableDatabase, path: &Path) -> Result<Found, OpenError> {
    let st = storage(path);
    contain(
        || {
            let tx = db.begin_read().map_err(|e| st(e.into()))?;
            let meta = match tx.open_table(META) {
                Ok(meta) => meta,
                Err(redb::TableError::TableDoesNotExist(_)) => {
                    let any = tx.list_tables().map_err(|e| st(e.into()))?.next().is_some();
                    return if any {
                        Err(OpenError::NotADatabase {
                            path: path.to_path_buf(),
                            reason: "a redb file without sam's tables".into(),
                        })
                    } else {
                        Ok(Found::Blank)
                    };
                }
                Err(e) => return Err(st(e.into())),
            };
            match meta.get(VERSION_KEY).map_err(|e| st(e.into()))? {
                Some(v) => Ok(Found::Version(v.value())),
                None => Err(OpenError::NotADatabase {
                    path: path.to_path_buf(),
                    reason: "a redb file without a sam schema version".into(),
                }),
            }
        },
        damaged(path),
    )
}

/// A read-only look at an existing file, changing nothing: whether it needs recovery, its
/// schema version, and (with `walk`) a pass over every row of every table, so structural
/// damage is found before a writer could build on it.
fn inspect(path: &Path, walk: bool) -> Result<Found, OpenError> {
    let db = match open_read_only_db(path) {
        Ok(db) => db,
        Err(OpenError::NeedsRepair { .. }) => return Ok(Found::NeedsRecovery),
        Err(e) => return Err(e),
    };
    let found = recorded_version(&db, path)?;
    if walk && matches!(found, Found::Version(_)) {
        table_rows(&db, path)?;
    }
    Ok(found)
}

/// One table's name and row count, as `sam db check` and `repair` report them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableRows {
    /// The table.
    pub table: String,
    /// Its rows; `None` for a table of a type this sam does not know (not read).
    pub rows: Option<u64>,
}

/// Reads every row of every table (panics contained): the rows per table.
fn table_rows(db: &impl ReadableDatabase, path: &Path) -> Result<Vec<TableRows>, OpenError> {
    let st = storage(path);
    contain(
        || {
            let tx = db.begin_read().map_err(|e| st(e.into()))?;
            let names: Vec<String> = tx
                .list_tables()
                .map_err(|e| st(e.into()))?
                .map(|h| h.name().to_string())
                .collect();
            let mut out = Vec::with_capacity(names.len());
            for name in names {
                let rows = count_rows(&tx, &name).map_err(&st)?;
                // A table of sam's own with a type it does not recognise is damage (its
                // stored type definition was overwritten), not a table of another sam.
                if rows.is_none()
                    && super::tables::RECORD_TABLES
                        .iter()
                        .any(|def| redb::TableHandle::name(def) == name)
                {
                    return Err(st(redb::Error::Corrupted(format!(
                        "table `{name}` has a type this sam did not write"
                    ))));
                }
                out.push(TableRows { table: name, rows });
            }
            Ok(out)
        },
        damaged(path),
    )
}

/// Walks one table by name, trying the key and value types sam's tables use.
fn count_rows(tx: &redb::ReadTransaction, name: &str) -> Result<Option<u64>, redb::Error> {
    fn walk<K: redb::Key + 'static, V: redb::Value + 'static>(
        tx: &redb::ReadTransaction,
        def: redb::TableDefinition<K, V>,
    ) -> Result<Option<u64>, redb::Error> {
        let table = match tx.open_table(def) {
            Ok(t) => t,
            Err(redb::TableError::TableTypeMismatch { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut rows = 0u64;
        for row in redb::ReadableTable::iter(&table)? {
            let (k, v) = row?;
            // Touch the bytes: a damaged page shows here, not later in a writer.
            let _ = (k.value(), v.value());
            rows += 1;
        }
        if rows != table.len()? {
            return Err(redb::Error::Corrupted(format!(
                "table `{}`: {rows} rows read, {} recorded",
                def.name(),
                table.len()?
            )));
        }
        Ok(Some(rows))
    }
    if let Some(rows) = walk(tx, redb::TableDefinition::<&str, &[u8]>::new(name))? {
        return Ok(Some(rows));
    }
    if let Some(rows) = walk(tx, redb::TableDefinition::<u64, &[u8]>::new(name))? {
        return Ok(Some(rows));
    }
    if let Some(rows) = walk(tx, redb::TableDefinition::<&str, u64>::new(name))? {
        return Ok(Some(rows));
    }
    walk(tx, redb::TableDefinition::<&str, i64>::new(name))
}

/// Creates the folder of a new database, 0700 (every folder it creates).
fn create_private_dir(dir: &Path) -> Result<(), OpenError> {
    if dir.as_os_str().is_empty() || dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| OpenError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// Creates a new, empty file readable by its owner only; fails if one exists.
fn create_private_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

static WARNED_READABLE: AtomicBool = AtomicBool::new(false);

/// Whether the file's mode lets other local accounts read it.
pub fn readable_by_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o077 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// Warns (once per process) when an existing database is readable by other accounts.
fn warn_if_readable(path: &Path) {
    if readable_by_others(path) && !WARNED_READABLE.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "database {} is readable by other users (it holds names, e-mail addresses and activity): chmod 600 it",
            path.display()
        );
    }
}

/// `<db>.<label>-v<version>-<UTC time>.bak` next to the database: the name a backup is kept
/// under (the time makes each new; the version says which sam can open it).
pub fn backup_path(db: &Path, label: &str, version: u64, at: i64) -> PathBuf {
    numbered_backup_path(db, label, version, at, 1)
}

/// [`backup_path`], the `n`th of its second (`-n` before `.bak` from the second on).
fn numbered_backup_path(db: &Path, label: &str, version: u64, at: i64, n: u32) -> PathBuf {
    let stamp = chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|| at.to_string());
    let nth = if n > 1 {
        format!("-{n}")
    } else {
        String::new()
    };
    let mut name = db.as_os_str().to_owned();
    name.push(format!(".{label}-v{version}-{stamp}{nth}.bak"));
    PathBuf::from(name)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Copies `from` to a new file `to` (0600, fails if `to` exists), flushed to disk.
fn copy_private(from: &Path, to: &Path) -> std::io::Result<u64> {
    let mut src = File::open(from)?;
    let mut dst = create_private_file(to)?;
    let copied = std::io::copy(&mut src, &mut dst)?;
    dst.flush()?;
    dst.sync_all()?;
    Ok(copied)
}

/// Keeps a copy of the database before a change sam makes on its own (a migration, a
/// recovery): `<db>.<label>-v<version>-<time>.bak`, 0600.
fn keep_copy(path: &Path, label: &str, version: u64) -> Result<PathBuf, OpenError> {
    let mut backup = backup_path(path, label, version, now());
    let mut n = 1;
    while backup.exists() {
        let mut name = backup_path(path, label, version, now()).into_os_string();
        name.push(format!(".{n}"));
        backup = PathBuf::from(name);
        n += 1;
    }
    copy_private(path, &backup).map_err(|source| OpenError::Backup {
        path: path.to_path_buf(),
        backup: backup.clone(),
        source,
    })?;
    Ok(backup)
}

/// [`Store::open`].
pub(super) fn open_write(path: &Path) -> Result<Store, OpenError> {
    if !existing_file(path)?
        && let Some(parent) = path.parent()
    {
        create_private_dir(parent)?;
    }
    let (mut lock, last) = DbLock::acquire(path)?;
    let opened = open_write_locked(path, last);
    match opened {
        Ok(db) => {
            let store = Store {
                db: Handle::Write(db),
                path: path.to_path_buf(),
                lock: Some(lock),
            };
            if let Handle::Write(db) = &store.db {
                contain(|| schema::prepare(db, path), damaged(path))?;
            }
            Ok(store)
        }
        Err(e) => {
            // Nothing was opened: the lock file keeps what it said of the last session.
            lock.restore_previous();
            Err(e)
        }
    }
}

/// The body of [`open_write`], under the writer's lock.
fn open_write_locked(path: &Path, last: LastSession) -> Result<Database, OpenError> {
    let mut allow_recovery = false;
    let mut migrate_from = None;
    let exists = existing_file(path)?;
    if exists {
        warn_if_readable(path);
        match inspect(path, true)? {
            Found::NeedsRecovery => {
                if last != LastSession::Interrupted {
                    return Err(OpenError::NeedsRepair {
                        path: path.to_path_buf(),
                    });
                }
                let copy = keep_copy(path, "before-recovery", 0)?;
                tracing::warn!(
                    "database {} was not closed (sam was interrupted): recovering it; the file as it was is kept at {}",
                    path.display(),
                    copy.display()
                );
                allow_recovery = true;
            }
            Found::Blank => {}
            Found::Version(v) if v > CURRENT_VERSION => {
                return Err(OpenError::NewerSchema {
                    path: path.to_path_buf(),
                    found: v,
                    supported: CURRENT_VERSION,
                });
            }
            Found::Version(v) if v < CURRENT_VERSION => migrate_from = Some(v),
            Found::Version(_) => {}
        }
    } else {
        create_private_file(path).map_err(|source| OpenError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    }
    if let Some(from) = migrate_from {
        let copy = keep_copy(path, "before-migration", from)?;
        tracing::warn!(
            "database {}: upgrading schema version {from} to {CURRENT_VERSION}; the file as it was is kept at {}",
            path.display(),
            copy.display()
        );
    }
    let db = contain(
        || {
            let mut builder = redb::Builder::new();
            builder.set_cache_size(CACHE_BYTES);
            builder.set_repair_callback(move |session| {
                if !allow_recovery {
                    session.abort();
                }
            });
            // `create` initialises only the empty file made above; an existing file is opened.
            if exists {
                builder.open(path)
            } else {
                builder.create(path)
            }
            .map_err(|e| open_error(path, e))
        },
        damaged(path),
    )
    .inspect_err(|_| {
        if !exists {
            // Leave no empty file behind: it would read as "not a database" next time.
            let _ = std::fs::remove_file(path);
        }
    })?;
    Ok(db)
}

/// [`Store::open_read_only`].
pub(super) fn open_read(path: &Path) -> Result<Store, OpenError> {
    if !existing_file(path)? {
        return Ok(Store {
            db: Handle::Absent,
            path: path.to_path_buf(),
            lock: None,
        });
    }
    let lock = DbLock::acquire_shared(path)?;
    warn_if_readable(path);
    let db = match open_read_only_db(path) {
        Err(OpenError::NeedsRepair { .. }) => {
            return Err(OpenError::NeedsRecovery {
                path: path.to_path_buf(),
            });
        }
        other => other?,
    };
    match recorded_version(&db, path)? {
        Found::Version(v) if v > CURRENT_VERSION => Err(OpenError::NewerSchema {
            path: path.to_path_buf(),
            found: v,
            supported: CURRENT_VERSION,
        }),
        Found::Version(v) if v < CURRENT_VERSION => Err(OpenError::OlderSchema {
            path: path.to_path_buf(),
            found: v,
            current: CURRENT_VERSION,
        }),
        _ => Ok(Store {
            db: Handle::Read(db),
            path: path.to_path_buf(),
            lock,
        }),
    }
}

/// What `sam db check` found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The file.
    pub path: PathBuf,
    /// Its schema version, when it could be read.
    pub schema_version: Option<u64>,
    /// Whether redb needs to recover the file (not closed cleanly, or a damaged header).
    pub needs_recovery: bool,
    /// Whether redb's integrity check passed (every page's checksum, the allocator state).
    pub intact: bool,
    /// What was wrong, for people.
    pub problems: Vec<String>,
    /// The tables and their rows (read from a repaired copy when the file needs a repair).
    pub tables: Vec<TableRows>,
}

/// A private temporary copy of a database, removed on drop.
struct TempCopy(PathBuf);

impl TempCopy {
    fn of(path: &Path) -> Result<TempCopy, OpenError> {
        let name = format!(
            "sam-check-{}-{:016x}.redb",
            std::process::id(),
            rand::random::<u64>()
        );
        let copy = std::env::temp_dir().join(name);
        copy_private(path, &copy).map_err(|source| OpenError::Backup {
            path: path.to_path_buf(),
            backup: copy.clone(),
            source,
        })?;
        Ok(TempCopy(copy))
    }
}

impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs redb's integrity check on the database open at `db` (it may repair what it opened);
/// returns whether it was intact, and the rows per table afterwards.
fn integrity(db: &mut Database, path: &Path) -> Result<(bool, Vec<TableRows>), OpenError> {
    let intact = contain(
        || db.check_integrity().map_err(|e| open_error(path, e)),
        damaged(path),
    )?;
    let tables = table_rows(db, path)?;
    Ok((intact, tables))
}

/// `sam db check`: runs redb's integrity check on a private copy of the file (so nothing of
/// the file changes) and reports. The file must not be held by a writer.
pub fn check(path: &Path) -> Result<CheckReport, OpenError> {
    if !existing_file(path)? {
        return Err(OpenError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let _lock = DbLock::acquire_shared(path)?;
    check_file(path)
}

/// [`check`] of a file nobody else writes (no lock taken).
fn check_file(path: &Path) -> Result<CheckReport, OpenError> {
    let mut report = CheckReport {
        path: path.to_path_buf(),
        schema_version: None,
        needs_recovery: false,
        intact: false,
        problems: Vec::new(),
        tables: Vec::new(),
    };
    match inspect(path, false) {
        Ok(Found::NeedsRecovery) => report.needs_recovery = true,
        Ok(Found::Version(v)) => report.schema_version = Some(v),
        Ok(Found::Blank) => {}
        Err(
            e @ (OpenError::NotADatabase { .. } | OpenError::InUse { .. } | OpenError::Io { .. }),
        ) => {
            return Err(e);
        }
        Err(e) => report.problems.push(e.to_string()),
    }
    let copy = TempCopy::of(path)?;
    let opened = contain(
        || {
            redb::Builder::new()
                .set_cache_size(CACHE_BYTES)
                .open(&copy.0)
                .map_err(|e| open_error(path, e))
        },
        damaged(path),
    );
    match opened {
        Ok(mut db) => match integrity(&mut db, path) {
            Ok((intact, tables)) => {
                report.intact = intact && !report.needs_recovery && report.problems.is_empty();
                if !intact {
                    report
                        .problems
                        .push("redb's integrity check failed: `sam db repair` can rebuild what is readable".into());
                }
                report.tables = tables;
                if report.schema_version.is_none()
                    && let Ok(Found::Version(v)) = recorded_version(&db, path)
                {
                    report.schema_version = Some(v);
                }
            }
            Err(e) => report.problems.push(e.to_string()),
        },
        Err(e) => report.problems.push(e.to_string()),
    }
    if report.needs_recovery {
        report.problems.insert(
            0,
            "the file was not closed cleanly or its header is damaged: it needs `sam db repair`"
                .into(),
        );
    }
    Ok(report)
}

/// What `sam db repair` did.
#[derive(Debug, Clone, Serialize)]
pub struct RepairReport {
    /// The file.
    pub path: PathBuf,
    /// Where the file as it was before the repair is kept.
    pub original: PathBuf,
    /// Whether redb found the file intact (nothing to repair).
    pub was_intact: bool,
    /// The tables and rows the repaired file holds.
    pub kept: Vec<TableRows>,
}

/// `sam db repair`: copies the file aside, then lets redb repair it in place and runs its
/// integrity check; reports what the repaired file holds. On failure the file is put back as
/// it was.
pub fn repair(path: &Path) -> Result<RepairReport, OpenError> {
    if !existing_file(path)? {
        return Err(OpenError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let (mut lock, _) = DbLock::acquire(path)?;
    let version = match inspect(path, false) {
        Ok(Found::Version(v)) => v,
        Ok(_) => 0,
        Err(
            e @ (OpenError::NotADatabase { .. } | OpenError::InUse { .. } | OpenError::Io { .. }),
        ) => {
            return Err(e);
        }
        Err(_) => 0,
    };
    if version > CURRENT_VERSION {
        return Err(OpenError::NewerSchema {
            path: path.to_path_buf(),
            found: version,
            supported: CURRENT_VERSION,
        });
    }
    let original = keep_copy(path, "before-repair", version)?;
    let result = contain(
        || {
            let mut db = redb::Builder::new()
                .set_cache_size(CACHE_BYTES)
                .open(path)
                .map_err(|e| open_error(path, e))?;
            let (was_intact, kept) = integrity(&mut db, path)?;
            db.close().map_err(|e| open_error(path, e))?;
            Ok((was_intact, kept))
        },
        damaged(path),
    );
    match result {
        Ok((was_intact, kept)) => {
            lock.mark_closed();
            Ok(RepairReport {
                path: path.to_path_buf(),
                original,
                was_intact,
                kept,
            })
        }
        Err(e) => {
            // Put the file back as it was: a failed repair must not leave it half-rewritten.
            let _ = std::fs::copy(&original, path);
            Err(e)
        }
    }
}

/// A finished backup.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct BackupReport {
    /// The backup file.
    #[schema(value_type = String)]
    pub path: PathBuf,
    /// Its schema version.
    pub schema_version: u64,
    /// Its size in bytes.
    pub bytes: u64,
}

impl Store {
    /// Copies the database to `dest` (a new file, 0600), consistently: a store open for
    /// writing first makes every commit durable, then holds the write lock while the file is
    /// copied, so no commit lands half in the copy; the copy is then recovered and checked on
    /// its own. A read-only store copies the file as it is (no writer can hold it).
    pub fn backup_to(&self, dest: &Path) -> Result<BackupReport, OpenError> {
        let path = self.path.clone();
        let st = storage(&path);
        if dest.exists() {
            return Err(OpenError::Io {
                path: dest.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the backup file exists already",
                ),
            });
        }
        let mut partial = dest.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let _ = std::fs::remove_file(&partial);
        let copy_err = |source| OpenError::Backup {
            path: path.clone(),
            backup: dest.to_path_buf(),
            source,
        };
        match &self.db {
            Handle::Absent => {
                return Err(OpenError::Io {
                    path: path.clone(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "no database yet"),
                });
            }
            Handle::Read(_) => {
                copy_private(&path, &partial).map_err(copy_err)?;
            }
            Handle::Write(db) => {
                contain(
                    || {
                        // Every earlier (deferred) commit becomes durable.
                        let flush = db.begin_write().map_err(|e| st(e.into()))?;
                        flush.commit().map_err(|e| st(e.into()))?;
                        // No commit while the file is copied.
                        let hold = db.begin_write().map_err(|e| st(e.into()))?;
                        let copied = copy_private(&path, &partial).map_err(copy_err);
                        hold.abort().map_err(|e| st(e.into()))?;
                        copied.map(|_| ())
                    },
                    damaged(&path),
                )?;
            }
        }
        let verified = (|| {
            // The copy of a file open for writing is marked as needing recovery: recover the
            // copy (ours alone), check it, close it cleanly.
            let mut db = contain(
                || {
                    redb::Builder::new()
                        .set_cache_size(CACHE_BYTES)
                        .open(&partial)
                        .map_err(|e| open_error(&partial, e))
                },
                damaged(&partial),
            )?;
            let (intact, _) = integrity(&mut db, &partial)?;
            if !intact {
                return Err(OpenError::Damaged {
                    path: path.clone(),
                    detail: "the copy failed redb's integrity check".into(),
                });
            }
            let version = match recorded_version(&db, &partial)? {
                Found::Version(v) => v,
                _ => 0,
            };
            db.close().map_err(|e| open_error(&partial, e))?;
            Ok(version)
        })();
        let version = match verified {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                return Err(e);
            }
        };
        std::fs::rename(&partial, dest).map_err(copy_err)?;
        let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
        Ok(BackupReport {
            path: dest.to_path_buf(),
            schema_version: version,
            bytes,
        })
    }

    /// A backup next to the database, named with the time and schema version
    /// (`<db>.backup-v<version>-<time>.bak`): the only place the daemon's API writes one.
    pub fn backup_beside(&self) -> Result<BackupReport, OpenError> {
        let version = self.schema_version().unwrap_or(CURRENT_VERSION);
        let at = now();
        // Two backups in one second (a double click, two admins) each get their own file:
        // `...Z.bak`, then `...Z-2.bak`, ...
        let mut dest = backup_path(&self.path, "backup", version, at);
        let mut n = 1;
        while dest.exists() && n < 1000 {
            n += 1;
            dest = numbered_backup_path(&self.path, "backup", version, at, n);
        }
        self.backup_to(&dest)
    }
}

/// What `sam db restore` did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// The database now holding the backup's contents.
    pub path: PathBuf,
    /// The backup restored.
    pub from: PathBuf,
    /// Its schema version.
    pub schema_version: u64,
    /// Where the database as it was before is kept (when there was one).
    pub previous: Option<PathBuf>,
}

/// `sam db restore`: replaces the database at `path` with the backup `from` after checking
/// it (a database file, intact, not of a newer schema); the current file is kept aside.
/// Needs the database free (no daemon or other sam holding it).
pub fn restore(from: &Path, path: &Path) -> Result<RestoreReport, OpenError> {
    if !existing_file(from)? {
        return Err(OpenError::Io {
            path: from.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let version = match inspect(from, true)? {
        Found::Version(v) if v > CURRENT_VERSION => {
            return Err(OpenError::NewerSchema {
                path: from.to_path_buf(),
                found: v,
                supported: CURRENT_VERSION,
            });
        }
        Found::Version(v) => v,
        Found::NeedsRecovery => {
            return Err(OpenError::NeedsRepair {
                path: from.to_path_buf(),
            });
        }
        Found::Blank => 0,
    };
    let report = check_file(from)?;
    if !report.intact {
        return Err(OpenError::Damaged {
            path: from.to_path_buf(),
            detail: report.problems.join("; "),
        });
    }
    let exists = existing_file(path).unwrap_or(true);
    if !exists && let Some(parent) = path.parent() {
        create_private_dir(parent)?;
    }
    let (mut lock, _) = DbLock::acquire(path)?;
    let previous = if path.exists() {
        let found = match inspect(path, false) {
            Ok(Found::Version(v)) => v,
            _ => 0,
        };
        Some(keep_copy(path, "before-restore", found)?)
    } else {
        None
    };
    let mut staged = path.as_os_str().to_owned();
    staged.push(".restoring");
    let staged = PathBuf::from(staged);
    let _ = std::fs::remove_file(&staged);
    let io = |source| OpenError::Backup {
        path: from.to_path_buf(),
        backup: path.to_path_buf(),
        source,
    };
    copy_private(from, &staged).map_err(io)?;
    std::fs::rename(&staged, path).map_err(io)?;
    lock.mark_closed();
    Ok(RestoreReport {
        path: path.to_path_buf(),
        from: from.to_path_buf(),
        schema_version: version,
        previous,
    })
}

/// Every table's rows as raw key and value bytes, by table name.
pub type TableDump = Vec<(String, Vec<(Vec<u8>, Vec<u8>)>)>;

/// Rows of every known table through a read-only open (for tests comparing two databases).
pub fn dump_rows(path: &Path) -> Result<TableDump, OpenError> {
    let db = open_read_only_db(path)?;
    let st = storage(path);
    let tx = db.begin_read().map_err(|e| st(e.into()))?;
    let mut out = Vec::new();
    let mut names: Vec<String> = tx
        .list_tables()
        .map_err(|e| st(e.into()))?
        .map(|h| h.name().to_string())
        .collect();
    names.sort();
    for name in names {
        let mut rows = Vec::new();
        macro_rules! take {
            ($k:ty, $v:ty, $kb:expr, $vb:expr) => {{
                match tx.open_table(redb::TableDefinition::<$k, $v>::new(&name)) {
                    Ok(table) => {
                        for row in redb::ReadableTable::iter(&table).map_err(|e| st(e.into()))? {
                            let (k, v) = row.map_err(|e| st(e.into()))?;
                            rows.push(($kb(k.value()), $vb(v.value())));
                        }
                        true
                    }
                    Err(redb::TableError::TableTypeMismatch { .. }) => false,
                    Err(e) => return Err(st(e.into())),
                }
            }};
        }
        let _ = take!(
            &str,
            &[u8],
            |k: &str| k.as_bytes().to_vec(),
            |v: &[u8]| v.to_vec()
        ) || take!(
            u64,
            &[u8],
            |k: u64| k.to_be_bytes().to_vec(),
            |v: &[u8]| v.to_vec()
        ) || take!(&str, u64, |k: &str| k.as_bytes().to_vec(), |v: u64| v
            .to_be_bytes()
            .to_vec())
            || take!(&str, i64, |k: &str| k.as_bytes().to_vec(), |v: i64| v
                .to_be_bytes()
                .to_vec());
        out.push((name, rows));
    }
    Ok(out)
}
