//! The store's errors, one type per operation in the redb style: [`OpenError`] for opening
//! (lock, schema, file), [`ReadError`] for reads and [`WriteError`] for write transactions.
//! Undecodable bytes in the file are a [`DecodeError`] naming the table and key, never a panic;
//! a file redb cannot read (a panic inside redb, contained at the store boundary, or a
//! structure redb reports as corrupted) is a `Damaged` error naming the file.

use std::path::PathBuf;

use super::lock::LockHolder;

/// A stored value could not be decoded (the file is damaged or was written by other code).
#[derive(Debug, thiserror::Error)]
#[error("table `{table}`, key `{key}`: cannot decode the stored value: {source}")]
pub struct DecodeError {
    /// The table.
    pub table: &'static str,
    /// The key, printable.
    pub key: String,
    /// What postcard said.
    #[source]
    pub source: postcard::Error,
}

/// The database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process holds the database.
    #[error("database {path} is in use by {holder}; stop that process or use another --db file")]
    InUse {
        /// The database file.
        path: PathBuf,
        /// Who holds it, as its lock file says.
        holder: LockHolder,
    },
    /// The file or its lock could not be created or read.
    #[error("cannot open database {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The database was written by a newer sam.
    #[error(
        "database {path} has schema version {found}, but this sam supports up to version {supported}: upgrade sam to open it"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Version in the file.
        found: u64,
        /// Newest version this build knows.
        supported: u64,
    },
    /// A migration failed; the file is unchanged.
    #[error("database {path}: migrating from schema version {from} failed: {source}")]
    Migration {
        /// The database file.
        path: PathBuf,
        /// Version migrated from.
        from: u64,
        /// Why.
        #[source]
        source: Box<WriteError>,
    },
    /// The file is not a database: empty, a directory, or not a redb file.
    #[error(
        "{path} is not a sam database ({reason}); give another --db file, or remove it to start a new database"
    )]
    NotADatabase {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// The file is damaged: nothing was changed in it.
    #[error(
        "database {path} is damaged ({detail}); sam changed none of its records: `sam db check` reports what is wrong, `sam db repair` repairs it (keeping a copy first)"
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What redb or the check found.
        detail: String,
    },
    /// The file was not closed cleanly by a process this sam does not know of (its lock file
    /// does not record an unfinished session), so recovering it is left to `sam db repair`.
    #[error(
        "database {path} needs a repair (it was not closed cleanly and the lock file does not say sam was interrupted); it was left unchanged: run `sam db repair`"
    )]
    NeedsRepair {
        /// The file.
        path: PathBuf,
    },
    /// A read-only open found the file not closed cleanly: recovering it writes, which a read
    /// never does.
    #[error(
        "database {path} needs recovery (it was not closed cleanly, or it is damaged); a read does not change it: a write command recovers it after an interrupted sam (keeping a copy first), otherwise run `sam db check`, then `sam db repair`"
    )]
    NeedsRecovery {
        /// The file.
        path: PathBuf,
    },
    /// The database has an older schema and the command only reads: reads never migrate.
    #[error(
        "database {path} has schema version {found} (this sam writes {current}); a read does not upgrade it: run `sam db migrate` (it keeps a backup first)"
    )]
    OlderSchema {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: u64,
        /// Version this build writes.
        current: u64,
    },
    /// A copy of the file (backup before a migration or a repair) could not be made.
    #[error("cannot back up database {path} to {backup}: {source}")]
    Backup {
        /// The database.
        path: PathBuf,
        /// The backup file.
        backup: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// redb refused the file (corrupt, wrong format, storage failure).
    #[error("database {path} cannot be opened: {source}")]
    Storage {
        /// The database file.
        path: PathBuf,
        /// redb's error.
        #[source]
        source: redb::Error,
    },
}

/// A read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// redb failed.
    #[error("database read failed: {0}")]
    Storage(#[from] redb::Error),
    /// redb panicked on the file's contents (contained at the store boundary).
    #[error("database {path} is damaged ({detail}); run `sam db check`")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What redb said.
        detail: String,
    },
    /// A value could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// A write transaction failed; nothing of it was committed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// redb failed.
    #[error("database write failed: {0}")]
    Storage(#[from] redb::Error),
    /// redb panicked on the file's contents (contained at the store boundary); nothing of the
    /// transaction was committed.
    #[error("database {path} is damaged ({detail}); run `sam db check`")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What redb said.
        detail: String,
    },
    /// The store was opened read-only (a read command).
    #[error("database {0} was opened read-only")]
    ReadOnly(PathBuf),
    /// A stored value could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A value could not be encoded.
    #[error("table `{table}`: cannot encode a value: {source}")]
    Encode {
        /// The table.
        table: &'static str,
        /// What postcard said.
        #[source]
        source: postcard::Error,
    },
    /// The record to create exists already.
    #[error("{what} already exists")]
    AlreadyExists {
        /// What, for people.
        what: String,
    },
    /// The record to change does not exist.
    #[error("{what} does not exist")]
    NotFound {
        /// What, for people.
        what: String,
    },
    /// A key part holds a character keys cannot hold (NUL).
    #[error("invalid key part {0:?}: keys cannot contain NUL characters")]
    InvalidKey(String),
}

impl From<ReadError> for WriteError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Storage(e) => WriteError::Storage(e),
            ReadError::Decode(e) => WriteError::Decode(e),
            ReadError::Damaged { path, detail } => WriteError::Damaged { path, detail },
        }
    }
}

macro_rules! redb_from {
    ($($t:ty),*) => {$(
        impl From<$t> for ReadError {
            fn from(e: $t) -> Self { ReadError::Storage(e.into()) }
        }
        impl From<$t> for WriteError {
            fn from(e: $t) -> Self { WriteError::Storage(e.into()) }
        }
    )*};
}
redb_from!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError
);

/// The text of a caught panic's payload.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "redb panicked".to_string()
    }
}

/// Runs `f`, turning a panic inside it (redb's, on a damaged file) into `damaged(detail)`.
pub(crate) fn contain<R, E>(
    f: impl FnOnce() -> Result<R, E>,
    damaged: impl FnOnce(String) -> E,
) -> Result<R, E> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => Err(damaged(first_line(&panic_text(payload.as_ref())))),
    }
}

/// The first line of a message, at most 200 characters (a panic message can be long).
pub(crate) fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    line.chars().take(200).collect()
}
