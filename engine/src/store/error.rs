//! The store's errors, one type per operation in the redb style: [`OpenError`] for opening
//! (lock, schema, file), [`ReadError`] for reads and [`WriteError`] for write transactions.
//! Undecodable bytes in the file are a [`DecodeError`] naming the table and key, never a panic.

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
