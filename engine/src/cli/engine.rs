//! Which engine a command talks to: the daemon that holds the database (over its API, with
//! the token from `SAM_TOKEN` or the daemon's `<db>.token`), or this process over the file
//! (read-only for commands that only read). So every command works the same with or without
//! a daemon running.

use std::path::Path;
use std::sync::Arc;

use super::CliError;
use crate::app::ops::Remote;
use crate::app::{Actor, App, AppError, Engine};
use crate::config::Settings;
use crate::daemon::SystemDaemonClock;
use crate::host::SpokeHost;
use crate::store::{OpenError, Store};

impl From<AppError> for CliError {
    fn from(e: AppError) -> Self {
        if e.is_user_error() {
            CliError::User(e.to_string())
        } else {
            CliError::Failure(e.to_string())
        }
    }
}

/// The daemon holding `db`, when one answers at the address in `<db>.daemon`.
pub(super) async fn daemon_for(db: &Path) -> Result<Option<Remote>, CliError> {
    let Some(addr) = crate::daemon::http::read_runtime_file(db) else {
        return Ok(None);
    };
    let base = format!("http://{addr}");
    let answers = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    if !answers {
        return Ok(None);
    }
    let token = std::env::var("SAM_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .or_else(|| crate::app::tokens::read_local_token(db))
        .ok_or_else(|| {
            CliError::User(format!(
                "the daemon at {base} holds {}; its admin token file {} is not readable by you: set SAM_TOKEN to a token from `sam tokens create`",
                db.display(),
                crate::app::tokens::token_file(db).display()
            ))
        })?;
    Ok(Some(Remote::new(base, token)))
}

/// The engine for a command: the daemon's API when a daemon holds the database, else this
/// process over the file (opened read-only when `read_only`).
pub(super) async fn engine(
    host: &SpokeHost,
    settings: &Settings,
    read_only: bool,
) -> Result<Engine, CliError> {
    let db = settings.db.as_path();
    let opened = if read_only {
        Store::open_read_only(db)
    } else {
        Store::open(db)
    };
    match opened {
        Ok(store) => Ok(Engine::Local {
            app: App::new(
                Arc::new(store),
                host.clone(),
                settings.clone(),
                Arc::new(SystemDaemonClock),
            ),
            actor: Actor::terminal(),
        }),
        Err(error @ OpenError::InUse { .. }) => match daemon_for(db).await? {
            Some(remote) => Ok(Engine::Remote(remote)),
            None => Err(CliError::from(crate::app::open_failure(error))),
        },
        Err(error) => Err(CliError::from(crate::app::open_failure(error))),
    }
}

/// While this process holds the database for a long run, it answers other `sam` commands
/// on a loopback port named in `<db>.daemon`: reads and backups through the daemon's API
/// (changes wait for the run). Dropping it stops answering and removes the runtime file.
pub(super) struct Holder {
    runtime: std::path::PathBuf,
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Holder {
    /// Serves `app`'s reads for `what` (e.g. "`sam run download` (pid 42)"); `None` (the run
    /// goes on alone) when no loopback port or token file can be had.
    pub(super) async fn start(app: &App, what: &str) -> Option<Holder> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.ok()?;
        let addr = listener.local_addr().ok()?;
        let now = crate::pipeline::Clock::now(&SystemDaemonClock);
        if let Err(e) = crate::app::tokens::ensure_local_admin(app.store(), now) {
            tracing::warn!(error = %e, "other commands cannot reach this run: no token file");
            return None;
        }
        let runtime = crate::daemon::http::runtime_file(app.store().path());
        std::fs::write(&runtime, format!("{addr}\n")).ok()?;
        let router = crate::daemon::http::holder_router(
            app.clone(),
            crate::daemon::http::Guard::new(addr, &[], false),
            what.to_string(),
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Some(Holder {
            runtime,
            addr,
            task,
        })
    }
}

impl Holder {
    /// Stops answering and waits until the server has let go of the store.
    pub(super) async fn finish(mut self) {
        self.task.abort();
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        let _ = task.await;
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.task.abort();
        // Only our own runtime file: never one a daemon wrote since.
        if crate::daemon::http::read_runtime_file_path(&self.runtime) == Some(self.addr) {
            let _ = std::fs::remove_file(&self.runtime);
        }
    }
}
