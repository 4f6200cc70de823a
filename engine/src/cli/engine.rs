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
