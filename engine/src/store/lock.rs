//! The single-process guard: a sidecar `<db>.lock` file held with an exclusive advisory lock
//! (`flock`, released by the OS when the process dies, even on `kill -9`) and holding the
//! holder's pid, host and start time, so a second process gets an "in use by ..." error at
//! once instead of waiting or corrupting anything. A writer holds it exclusively, readers
//! (read-only opens) share it. The file also records whether the last writer closed the
//! database (`closed`): a file redb says needs recovery is an interrupted session's to recover
//! only when its lock says that session never closed; otherwise the file is damaged and left
//! alone. Created 0600: it names the host and process.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::OpenError;

/// Who holds a database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// When it opened the database (seconds since the epoch).
    pub since: i64,
    /// Whether the holder closed the database (absent in lock files of earlier versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<bool>,
}

/// What the lock file said about the previous writer when a writer took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastSession {
    /// No lock file, or one without a record: nothing is known.
    Unknown,
    /// The last writer closed the database.
    Closed,
    /// The last writer did not close it (killed, crashed, power loss), or was a sam from
    /// before the lock recorded it.
    Interrupted,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.pid == 0 {
            return f.write_str("another process (holder unknown)");
        }
        write!(
            f,
            "process {} on host {} (since {})",
            self.pid,
            self.host,
            crate::model::format_utc(self.since)
        )
    }
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct DbLock {
    file: File,
    path: PathBuf,
    holder: Option<LockHolder>,
    previous: String,
}

fn open_lock_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn unknown_holder() -> LockHolder {
    LockHolder {
        pid: 0,
        host: String::new(),
        since: 0,
        closed: None,
    }
}

impl DbLock {
    /// The lock file's path for a database file.
    pub fn path_for(db: &Path) -> PathBuf {
        let mut name = db.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Takes the lock for writing or says who holds it; also says what the lock file recorded
    /// of the previous writer.
    pub fn acquire(db: &Path) -> Result<(DbLock, LastSession), OpenError> {
        let path = Self::path_for(db);
        let io = |source| OpenError::Io {
            path: path.clone(),
            source,
        };
        let mut file = open_lock_file(&path).map_err(io)?;
        let mut text = String::new();
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(in_use(db, &mut file)),
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let _ = file.read_to_string(&mut text);
        let last = match serde_json::from_str::<LockHolder>(&text) {
            Ok(LockHolder {
                closed: Some(true), ..
            }) => LastSession::Closed,
            Ok(_) => LastSession::Interrupted,
            Err(_) => LastSession::Unknown,
        };
        let holder = LockHolder {
            pid: std::process::id(),
            host: host_name(),
            since: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
            closed: Some(false),
        };
        write_holder(&mut file, &holder).map_err(io)?;
        Ok((
            DbLock {
                file,
                path,
                holder: Some(holder),
                previous: text,
            },
            last,
        ))
    }

    /// Takes the lock shared, for a read-only open, or says who holds it for writing. `None`
    /// when there is no lock file and none can be created (a read-only folder): redb's own
    /// lock on the database file still keeps writers out.
    pub fn acquire_shared(db: &Path) -> Result<Option<DbLock>, OpenError> {
        let path = Self::path_for(db);
        let io = |source| OpenError::Io {
            path: path.clone(),
            source,
        };
        let mut file = match open_lock_file(&path) {
            Ok(file) => file,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                match File::open(&path) {
                    Ok(file) => file,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(io(e)),
                }
            }
            Err(e) => return Err(io(e)),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(Some(DbLock {
                file,
                path,
                holder: None,
                previous: String::new(),
            })),
            Err(TryLockError::WouldBlock) => Err(in_use(db, &mut file)),
            Err(TryLockError::Error(e)) => Err(io(e)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Puts back what the lock file said before this writer took it: an open that failed
    /// before it opened the file leaves the record of the previous session as it was.
    pub fn restore_previous(&mut self) {
        if self.holder.take().is_some() {
            let _ = self.file.set_len(0);
            let _ = self.file.seek(SeekFrom::Start(0));
            let _ = self.file.write_all(self.previous.as_bytes());
            let _ = self.file.flush();
        }
    }

    /// Records that this writer closed the database (called after redb closed the file).
    pub fn mark_closed(&mut self) {
        if let Some(holder) = &mut self.holder {
            holder.closed = Some(true);
            let holder = holder.clone();
            let _ = write_holder(&mut self.file, &holder);
        }
    }
}

fn in_use(db: &Path, file: &mut File) -> OpenError {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let holder = serde_json::from_str(&text)
        .ok()
        .filter(|h: &LockHolder| h.closed != Some(true))
        .unwrap_or_else(unknown_holder);
    OpenError::InUse {
        path: db.to_path_buf(),
        holder,
    }
}

fn write_holder(file: &mut File, holder: &LockHolder) -> std::io::Result<()> {
    let text = serde_json::to_string(holder).unwrap_or_default();
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(text.as_bytes())?;
    file.flush()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
