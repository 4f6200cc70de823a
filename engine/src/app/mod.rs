//! The application layer: every operation an admin, approver, auditor or end user can do, as
//! typed requests and answers with typed errors ([`AppError`]), each run for an [`Actor`]
//! whose role is checked and whose name every audit entry it writes carries. The surfaces are
//! thin adapters over it: the CLI parses flags, calls an [`Engine`] and prints; the daemon's
//! HTTP API ([`crate::daemon::api`]) authenticates a token, calls the same operations and
//! answers JSON. An [`Engine`] is either this process over the database ([`App`]) or the
//! daemon that holds the database (over its API), so a command behaves the same with or
//! without a daemon running. Nothing below this layer knows which surface called.

pub mod connections;
pub mod jobs;
pub mod notices;
pub mod ops;
pub mod plugins;
pub mod profiles;
pub mod reclaim;
pub mod runs;
pub mod session;
pub mod tokens;
pub mod users;
pub mod views;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::daemon::DaemonClock;
use crate::host::SpokeHost;
use crate::model::Role;
use crate::store::Store;

pub use ops::{Engine, OPERATIONS, OperationInfo};

/// Why an operation did not happen. The kind decides the CLI's exit code (2 for what the
/// caller can fix, 3 for an engine or vendor failure) and the API's status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", content = "message", rename_all = "kebab-case")]
pub enum AppError {
    /// The request cannot be done as asked (bad value, wrong state).
    #[error("{0}")]
    Invalid(String),
    /// What the request names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (already exists, in use).
    #[error("{0}")]
    Conflict(String),
    /// No valid credential.
    #[error("{0}")]
    Unauthorized(String),
    /// The caller's role does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// The engine or a vendor failed.
    #[error("{0}")]
    Failed(String),
    /// The daemon is stopping, or could not be reached.
    #[error("{0}")]
    Unavailable(String),
}

impl AppError {
    /// Whether the caller can fix it (exit 2) rather than a failure (exit 3).
    pub fn is_user_error(&self) -> bool {
        !matches!(self, AppError::Failed(_) | AppError::Unavailable(_))
    }

    /// The HTTP status the API answers it with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Invalid(_) => 422,
            AppError::NotFound(_) => 404,
            AppError::Conflict(_) => 409,
            AppError::Unauthorized(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::Failed(_) => 502,
            AppError::Unavailable(_) => 503,
        }
    }
}

/// A store failure as an application failure.
pub fn store_failure(e: impl std::fmt::Display) -> AppError {
    AppError::Failed(e.to_string())
}

/// A write error: what the caller asked wrong is theirs, the rest a failure.
pub fn write_failure(e: crate::store::WriteError) -> AppError {
    use crate::store::WriteError;
    match e {
        WriteError::AlreadyExists { .. } => AppError::Conflict(e.to_string()),
        WriteError::NotFound { .. } => AppError::NotFound(e.to_string()),
        WriteError::InvalidKey(_) => AppError::Invalid(e.to_string()),
        other => store_failure(other),
    }
}

/// An open error: what the admin can fix is theirs.
pub fn open_failure(e: crate::store::OpenError) -> AppError {
    use crate::store::OpenError;
    match e {
        OpenError::InUse { .. } => AppError::Conflict(e.to_string()),
        OpenError::NewerSchema { .. }
        | OpenError::OlderSchema { .. }
        | OpenError::NotADatabase { .. } => AppError::Invalid(e.to_string()),
        other => AppError::Failed(other.to_string()),
    }
}

/// Who asks: a name for the audit log and a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `token:<id> (<name>)`, `cli:<user>`, `scheduler`.
    pub name: String,
    /// What the actor may do.
    pub role: Role,
}

impl Actor {
    /// The person at this terminal, working on a database file they can open: an admin (who
    /// can read the file can do anything to it).
    pub fn terminal() -> Actor {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Actor {
            name: format!("cli:{user}"),
            role: Role::Admin,
        }
    }

    /// The daemon's scheduler.
    pub fn scheduler() -> Actor {
        Actor {
            name: "scheduler".into(),
            role: Role::Admin,
        }
    }

    /// Refuses unless the actor's role includes `needed`.
    pub fn require(&self, needed: Role, what: &str) -> Result<(), AppError> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "{what} needs the {needed} role; {} is a {}",
                self.name, self.role
            )))
        }
    }
}

/// The engine in this process: the database, the plugin host, the settings and the clock.
/// Cheap to clone.
#[derive(Clone)]
pub struct App {
    store: Arc<Store>,
    host: SpokeHost,
    settings: Arc<Settings>,
    clock: Arc<dyn DaemonClock>,
    daemon: Option<Arc<crate::daemon::Daemon>>,
}

impl App {
    /// An application over `store`.
    pub fn new(
        store: Arc<Store>,
        host: SpokeHost,
        settings: Settings,
        clock: Arc<dyn DaemonClock>,
    ) -> Self {
        Self {
            store,
            host,
            settings: Arc::new(settings),
            clock,
            daemon: None,
        }
    }

    /// The same engine inside a daemon: runs go through `daemon` (serialised with its
    /// scheduled jobs, counted in its metrics).
    pub fn with_daemon(mut self, daemon: Arc<crate::daemon::Daemon>) -> Self {
        self.daemon = Some(daemon);
        self
    }

    /// The daemon this engine runs in, if any.
    pub fn daemon(&self) -> Option<&Arc<crate::daemon::Daemon>> {
        self.daemon.as_ref()
    }

    /// Refuses to run a Draft profile unless the caller asked for it (`--draft`): a Draft
    /// profile is still being set up, so its runs are explicit (and scheduled jobs never run
    /// one).
    pub fn check_runnable(&self, profile: &str, draft: bool) -> Result<(), AppError> {
        let found = self
            .store()
            .read()?
            .profile(profile)?
            .ok_or_else(|| AppError::NotFound(format!("no profile named `{profile}`")))?;
        runnable(&found, draft)
    }

    /// The database.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The plugin host.
    pub fn host(&self) -> &SpokeHost {
        &self.host
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn DaemonClock> {
        &self.clock
    }

    /// Now, by the clock.
    pub fn now(&self) -> crate::model::EpochSeconds {
        self.clock.now()
    }
}

impl From<crate::store::WriteError> for AppError {
    fn from(e: crate::store::WriteError) -> Self {
        write_failure(e)
    }
}

impl From<crate::store::ReadError> for AppError {
    fn from(e: crate::store::ReadError) -> Self {
        store_failure(e)
    }
}

/// Whether `profile` may run: Published, or Draft with `draft` asked (see
/// [`App::check_runnable`]).
pub fn runnable(profile: &crate::model::IntegrationProfile, draft: bool) -> Result<(), AppError> {
    if profile.status == crate::model::ProfileStatus::Draft && !draft {
        return Err(AppError::Invalid(format!(
            "profile `{0}` is Draft: publish it (`sam profile publish {0}`) or run it explicitly with --draft",
            profile.name
        )));
    }
    Ok(())
}
