//! The daemon's HTTP server (axum): the engine API of [`crate::app::ops`] under `/api/v1`
//! (with its OpenAPI document at `/api/v1/openapi.json`), `GET /healthz` (status and
//! version) and `GET /metrics` (Prometheus text), behind three guards:
//!
//! - **Host.** Every request's `Host` must be the listen address, a loopback name with its
//!   port, or a name the operator allowed (`--allow-host`, behind a reverse proxy): a web page
//!   that rebinds its own name to 127.0.0.1 (DNS rebinding) is refused before anything runs.
//! - **Origin.** A request that changes state (anything but GET and HEAD) with an `Origin`
//!   header must come from one of those hosts: a page elsewhere cannot post to the API.
//! - **Token.** Everything except `/healthz` needs `Authorization: Bearer <token>`
//!   ([`crate::app::tokens`]); each operation checks the token's role. `/metrics` is open
//!   only when the operator says so (`--public-metrics`).
//!
//! The web console ([`crate::web`]) is served at `/` inside the same Host and Origin guard,
//! with its own sign-in (a session cookie and CSRF tokens instead of bearer tokens).
//!
//! The runtime file beside the database (`<db>.daemon`) names the address, so the CLI finds
//! the daemon; the local admin token is in `<db>.token` (mode 0600). A `sam` command that
//! holds the database for a long run serves the same API for reads and backups
//! ([`holder_router`]), so other commands keep working meanwhile.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::app::ops::error_response;
use crate::app::{Actor, App, AppError};
use crate::model::Role;

/// Who the server answers.
#[derive(Debug, Clone)]
pub struct Guard {
    /// Accepted `Host` values (lowercase `host:port`).
    hosts: Vec<String>,
    /// `/metrics` without a token.
    public_metrics: bool,
    /// The operator's extra names (a reverse proxy's), whose `X-Forwarded-Proto` the web
    /// console believes.
    proxied: Vec<String>,
}

impl Guard {
    /// The guard of a server bound to `bound`: its address and the loopback names with its
    /// port, plus `extra` (`host` or `host:port`, for a reverse proxy's name).
    pub fn new(bound: SocketAddr, extra: &[String], public_metrics: bool) -> Self {
        let port = bound.port();
        let mut hosts = vec![
            bound.to_string(),
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
        ];
        let proxied: Vec<String> = extra
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        hosts.extend(proxied.iter().cloned());
        hosts.sort();
        hosts.dedup();
        Self {
            hosts,
            public_metrics,
            proxied,
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        self.hosts.contains(&host)
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        let rest = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        rest.is_some_and(|host| self.host_allowed(host.trim_end_matches('/')))
    }
}

/// The server's routes over `app` (which runs inside a daemon), guarded by `guard`.
pub fn router(app: App, guard: Guard) -> Router {
    let api = crate::app::ops::routes()
        .route("/api/v1/openapi.json", get(openapi))
        .layer(middleware::from_fn_with_state(app.clone(), authenticate));
    let metrics_route = if guard.public_metrics {
        Router::new().route("/metrics", get(metrics))
    } else {
        Router::new()
            .route("/metrics", get(metrics))
            .layer(middleware::from_fn_with_state(app.clone(), authenticate))
    };
    let console = crate::web::router(app.clone(), &guard.proxied);
    Router::new()
        .route("/healthz", get(healthz))
        .merge(api)
        .merge(metrics_route)
        .with_state(app)
        .merge(console)
        .layer(middleware::from_fn_with_state(guard, check_host_and_origin))
}

/// The routes a `sam` command serves while it holds the database for a long run (no daemon
/// running): the same API and guards, but only reads and backups; a change is refused with
/// a conflict naming the holder, so it cannot interleave with the run.
pub fn holder_router(app: App, guard: Guard, holder: String) -> Router {
    router(app, guard).layer(middleware::from_fn_with_state(holder, reads_only))
}

async fn reads_only(State(holder): State<String>, request: Request, next: Next) -> Response {
    let read = matches!(*request.method(), Method::GET | Method::HEAD);
    if read || request.uri().path() == "/api/v1/backup" {
        return next.run(request).await;
    }
    refuse(
        StatusCode::CONFLICT,
        AppError::Conflict(format!(
            "the database is held by {holder} until it ends: reads and backups work meanwhile; run this change again then (or run `sam daemon`, which takes changes while it runs jobs)"
        )),
    )
}

fn refuse(status: StatusCode, error: AppError) -> Response {
    let mut response = error_response(error);
    *response.status_mut() = status;
    response
}

async fn check_host_and_origin(
    State(guard): State<Guard>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    let Some(host) = host.filter(|h| guard.host_allowed(h)) else {
        return refuse(
            StatusCode::FORBIDDEN,
            AppError::Forbidden(
                "this daemon answers only requests addressed to its own address (Host); start it with --allow-host NAME behind a proxy".into(),
            ),
        );
    };
    let _ = host;
    let safe = matches!(*request.method(), Method::GET | Method::HEAD);
    if !safe
        && let Some(origin) = headers.get(header::ORIGIN)
        && !origin.to_str().is_ok_and(|o| guard.origin_allowed(o))
    {
        return refuse(
            StatusCode::FORBIDDEN,
            AppError::Forbidden("a request from another origin cannot change anything".into()),
        );
    }
    next.run(request).await
}

/// The bearer token of `headers`, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

async fn authenticate(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let Some(token) = bearer(request.headers()) else {
        let mut response = refuse(
            StatusCode::UNAUTHORIZED,
            AppError::Unauthorized(
                "an API token is needed (Authorization: Bearer ...); the local admin token is in <db>.token, more with `sam tokens create`".into(),
            ),
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("static"));
        return response;
    };
    let store = app.store().clone();
    let token = token.to_string();
    let verified =
        tokio::task::spawn_blocking(move || crate::app::tokens::verify(&store, &token)).await;
    match verified {
        Ok(Ok(actor)) => {
            request.extensions_mut().insert(actor);
            next.run(request).await
        }
        Ok(Err(e)) => {
            let mut response = error_response(e);
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("static"));
            response
        }
        Err(e) => error_response(AppError::Failed(format!("token check failed: {e}"))),
    }
}

async fn openapi(axum::Extension(actor): axum::Extension<crate::app::Actor>) -> Response {
    if let Err(e) = actor.require(Role::Viewer, "the API document") {
        return error_response(e);
    }
    Json(crate::app::ops::openapi()).into_response()
}

async fn healthz(State(app): State<App>) -> impl IntoResponse {
    let stopping = app.daemon().is_some_and(|d| d.is_stopping());
    let status = if stopping { "stopping" } else { "ok" };
    Json(serde_json::json!({ "status": status, "version": env!("CARGO_PKG_VERSION") }))
}

async fn metrics(State(app): State<App>) -> Response {
    let Some(daemon) = app.daemon() else {
        return error_response(AppError::Unavailable("no daemon".into()));
    };
    let positions = match app
        .position(
            &Actor::scheduler(),
            crate::app::reclaim::PositionQuery::default(),
        )
        .await
    {
        Ok(p) => p.results,
        Err(e) => return error_response(e),
    };
    let mut body = daemon.metrics().render();
    body.push_str(&super::metrics::render_positions(&positions));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// The runtime file that names a running daemon's address: `<db>.daemon`.
pub fn runtime_file(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".daemon");
    PathBuf::from(name)
}

/// The address a running daemon wrote next to `db`, if any.
pub fn read_runtime_file(db: &Path) -> Option<SocketAddr> {
    read_runtime_file_path(&runtime_file(db))
}

/// The address in the runtime file `path`, if any.
pub fn read_runtime_file_path(path: &Path) -> Option<SocketAddr> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::Guard;

    #[test]
    fn only_the_daemons_own_names_and_the_operators_are_accepted() {
        let guard = Guard::new(
            "127.0.0.1:8977".parse().unwrap(),
            &["Sam.Example.org".to_string()],
            false,
        );
        for ok in [
            "127.0.0.1:8977",
            "localhost:8977",
            "[::1]:8977",
            "sam.example.org",
        ] {
            assert!(guard.host_allowed(ok), "{ok}");
        }
        for refused in [
            "localhost:8978",
            "localhost",
            "attacker.example",
            "sam.example.org.attacker.example",
            "",
        ] {
            assert!(!guard.host_allowed(refused), "{refused}");
        }
        assert!(guard.origin_allowed("https://sam.example.org"));
        assert!(guard.origin_allowed("http://localhost:8977"));
        for refused in [
            "null",
            "http://attacker.example",
            "sam.example.org",
            "file://x",
        ] {
            assert!(!guard.origin_allowed(refused), "{refused}");
        }
    }
}
