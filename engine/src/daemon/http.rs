//! The daemon's loopback HTTP API (axum): `GET /healthz` (ok and the version), `GET /metrics`
//! (Prometheus text) and `POST /runs` (`{"profile": .., "process": ..}`: run it now,
//! serialised with the profile's scheduled jobs, and answer with the outcome — what `sam
//! run` uses while the daemon holds the database) and `POST /backup` (a consistent copy of
//! the database, written where the daemon chooses — next to the database, named with the time
//! and schema version — never where the caller says, since the API has no authentication
//! yet; the answer names the file). The runtime file next to the database (`<db>.daemon`)
//! names the address, so `sam run` and `sam db backup` find the daemon.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{Daemon, RunFailure, RunOutcome, RunRequest};
use crate::model::{JobTrigger, ProcessKind};

/// The body of `POST /runs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunBody {
    /// The profile (ignored for `reconcile`, which covers every model).
    pub profile: String,
    /// `download-subscriptions`, `download-activity`, `reclaim` or `reconcile`.
    pub process: ProcessKind,
}

/// The answer of `POST /runs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunAnswer {
    /// The outcome.
    pub outcome: Result<RunOutcome, RunFailure>,
}

/// The API's routes over `daemon`.
pub fn router(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/runs", post(runs))
        .route("/backup", post(backup))
        .with_state(daemon)
}

/// The answer of `POST /backup`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupAnswer {
    /// The backup file the daemon wrote, or why it could not.
    pub outcome: Result<crate::store::maintenance::BackupReport, String>,
}

async fn backup(State(daemon): State<Arc<Daemon>>) -> impl IntoResponse {
    let store = daemon.store().clone();
    let outcome = tokio::task::spawn_blocking(move || store.backup_beside())
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    let status = if outcome.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    (status, Json(BackupAnswer { outcome }))
}

async fn healthz(State(daemon): State<Arc<Daemon>>) -> impl IntoResponse {
    let status = if daemon.is_stopping() {
        "stopping"
    } else {
        "ok"
    };
    Json(serde_json::json!({ "status": status, "version": env!("CARGO_PKG_VERSION") }))
}

async fn metrics(State(daemon): State<Arc<Daemon>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        daemon.metrics().render(),
    )
}

async fn runs(State(daemon): State<Arc<Daemon>>, Json(body): Json<RunBody>) -> impl IntoResponse {
    let request = RunRequest {
        profile: body.profile,
        process: body.process,
        trigger: JobTrigger::Manual,
    };
    let outcome = daemon.run_now(&request).await;
    let status = match &outcome {
        Ok(_) => StatusCode::OK,
        Err(RunFailure::Fatal(_)) => StatusCode::UNPROCESSABLE_ENTITY,
        Err(RunFailure::Stopped(_)) => StatusCode::SERVICE_UNAVAILABLE,
        Err(_) => StatusCode::BAD_GATEWAY,
    };
    (status, Json(RunAnswer { outcome }))
}

/// The runtime file that names a running daemon's address: `<db>.daemon`.
pub fn runtime_file(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".daemon");
    PathBuf::from(name)
}

/// The address a running daemon wrote next to `db`, if any.
pub fn read_runtime_file(db: &Path) -> Option<SocketAddr> {
    std::fs::read_to_string(runtime_file(db))
        .ok()?
        .trim()
        .parse()
        .ok()
}
