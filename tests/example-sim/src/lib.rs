//! `example-sim`: a simulator of "Example Seats", the fictional SaaS vendor that the spoke
//! templates of `sam plugin new` are written for, speaking its wire format exactly (see the
//! crate README): bearer tokens with scopes (`seats:read`, `seats:write`), `GET /v1/me`, the
//! seat listing with an opaque cursor, seat removal (`DELETE`) and assignment (`POST`), the
//! plans with purchased and assigned counts, the typed JSON errors (401, 403 naming the
//! missing scope, 404, 409, 400), and a quota storm answering 429 with `Retry-After`. The
//! tenant is generated deterministically: humans and bots, on the `pro` and `basic` plans,
//! some never active, a few directory users without a seat; writes change it. `now` is
//! injected ([`SimConfig::now`]), so activity dates are reproducible. It serves on
//! 127.0.0.1 only, for tests, the conformance kit (`sam plugin check --against example`),
//! the spoke-language benchmark and authors developing a spoke.
//!
//! ```no_run
//! # async fn demo() -> Result<(), example_sim::SimError> {
//! use example_sim::{SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::default()).await?;
//! let token = sim.mint_token(&["seats:read"]);
//! let url = format!("{}/v1/seats?limit=100", sim.base_url());
//! # let _ = (token, url);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::oneshot;

/// The scope that reads seats and plans.
pub const SCOPE_READ: &str = "seats:read";
/// The scope that removes and assigns seats.
pub const SCOPE_WRITE: &str = "seats:write";
/// The seat listing's default page size.
pub const DEFAULT_LIMIT: usize = 50;
/// The seat listing's largest page size.
pub const MAX_LIMIT: usize = 100;

/// How the tenant is generated.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seats in the tenant.
    pub seats: usize,
    /// Directory users that hold no seat (they can be assigned one).
    pub seatless_users: usize,
    /// The account name `/v1/me` reports.
    pub account: String,
    /// "Now", in epoch seconds: activity dates lie before it, assignments get it.
    pub now: i64,
    /// Port on 127.0.0.1 (0 = a free port).
    pub port: u16,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seats: 120,
            seatless_users: 10,
            account: "acme".into(),
            now: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or_default(),
            port: 0,
        }
    }
}

/// The simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A configuration value is out of range.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    /// The listener could not be bound.
    #[error("cannot bind the simulator's listener: {0}")]
    Io(#[from] std::io::Error),
}

/// Whether a seat belongs to a person or to an automation account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Human,
    Bot,
}

/// A directory user of the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub kind: Kind,
    /// Last activity, epoch seconds; `None` when the user was never active.
    pub last_active_at: Option<i64>,
}

/// A seat as the vendor lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seat {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub kind: Kind,
    pub plan: String,
    pub assigned_at: String,
    pub last_active_at: Option<String>,
}

/// A plan's vendor-side seat counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanCount {
    pub plan: String,
    pub purchased: u64,
    pub assigned: u64,
}

/// Plans the tenant buys, in listing order.
pub const PLANS: [&str; 2] = ["pro", "basic"];

const FIRST_NAMES: [&str; 16] = [
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis",
    "Radia", "John", "Hedy", "Niklaus", "Karen", "Tim",
];

/// The seat assignment of one user: plan and when.
#[derive(Debug, Clone)]
struct Assignment {
    plan: &'static str,
    assigned_at: i64,
}

#[derive(Debug)]
struct Tenant {
    users: BTreeMap<String, User>,
    seats: BTreeMap<String, Assignment>,
    purchased: BTreeMap<&'static str, u64>,
    tokens: HashMap<String, Vec<String>>,
    storm: Option<u64>,
}

struct Sim {
    account: String,
    now: i64,
    tenant: Mutex<Tenant>,
    requests: AtomicU64,
    writes: AtomicU64,
    next_token: AtomicU64,
}

impl Sim {
    fn tenant(&self) -> MutexGuard<'_, Tenant> {
        // A panic while holding the lock leaves consistent data (every write is one insert
        // or remove), so a poisoned lock is still usable.
        self.tenant.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn rfc3339(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Tenant {
    fn generate(cfg: &SimConfig) -> Self {
        let mut users = BTreeMap::new();
        let mut seats = BTreeMap::new();
        let total = cfg.seats + cfg.seatless_users;
        for i in 1..=total {
            let user_id = format!("u-{i:04}");
            let first = FIRST_NAMES[i % FIRST_NAMES.len()];
            let kind = if i % 9 == 0 { Kind::Bot } else { Kind::Human };
            let (name, email) = match kind {
                Kind::Human => (
                    format!("{first} {i}"),
                    format!("{}.{i}@{}.example", first.to_lowercase(), cfg.account),
                ),
                Kind::Bot => (
                    format!("build-bot-{i}"),
                    format!("bot-{i}@{}.example", cfg.account),
                ),
            };
            // One in six never active; the rest at a spread of days before now.
            let last_active_at =
                (i % 6 != 0).then(|| cfg.now - ((i * 37) % 180) as i64 * 86_400 - i as i64);
            users.insert(
                user_id.clone(),
                User {
                    user_id: user_id.clone(),
                    email,
                    name,
                    kind,
                    last_active_at,
                },
            );
            if i <= cfg.seats {
                seats.insert(
                    user_id,
                    Assignment {
                        plan: if i % 3 == 0 { "basic" } else { "pro" },
                        assigned_at: cfg.now - 400 * 86_400 + i as i64 * 3_600,
                    },
                );
            }
        }
        let mut purchased = BTreeMap::new();
        for (extra, plan) in [(5, "pro"), (3, "basic")] {
            let held = seats.values().filter(|a| a.plan == plan).count() as u64;
            purchased.insert(plan, held + extra);
        }
        Self {
            users,
            seats,
            purchased,
            tokens: HashMap::new(),
            storm: None,
        }
    }

    fn seat(&self, user_id: &str) -> Option<Seat> {
        let assignment = self.seats.get(user_id)?;
        let user = self.users.get(user_id)?;
        Some(Seat {
            user_id: user.user_id.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            kind: user.kind,
            plan: assignment.plan.to_string(),
            assigned_at: rfc3339(assignment.assigned_at),
            last_active_at: user.last_active_at.map(rfc3339),
        })
    }

    fn plans(&self) -> Vec<PlanCount> {
        PLANS
            .iter()
            .map(|plan| PlanCount {
                plan: plan.to_string(),
                purchased: self.purchased.get(plan).copied().unwrap_or_default(),
                assigned: self.seats.values().filter(|a| a.plan == *plan).count() as u64,
            })
            .collect()
    }
}

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Generates the tenant for `cfg`, binds `127.0.0.1:cfg.port` and serves in a background
    /// task of the current tokio runtime.
    pub async fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
        if cfg.seats + cfg.seatless_users > 9_999 {
            return Err(SimError::Config("at most 9 999 users".into()));
        }
        if cfg.account.is_empty() || !cfg.account.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SimError::Config(format!(
                "account must be letters and digits: {:?}",
                cfg.account
            )));
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", cfg.port)).await?;
        let addr = listener.local_addr()?;
        let sim = Arc::new(Sim {
            account: cfg.account.clone(),
            now: cfg.now,
            tenant: Mutex::new(Tenant::generate(&cfg)),
            requests: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            next_token: AtomicU64::new(1),
        });
        let app = Router::new()
            .route("/v1/me", get(me))
            .route("/v1/seats", get(list_seats).post(assign_seat))
            .route("/v1/seats/{user_id}", delete(remove_seat))
            .route("/v1/plans", get(plans))
            .fallback(|| async { ApiError::NotFound })
            .with_state(sim.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("example-sim server error: {e}");
            }
        });
        Ok(SimHandle {
            sim,
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }
}

/// A running simulator. Dropping it stops the server (without waiting).
pub struct SimHandle {
    sim: Arc<Sim>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`, the connection URL a spoke is given.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The account name `/v1/me` reports (the spoke's `account` config field).
    pub fn account(&self) -> &str {
        &self.sim.account
    }

    /// The simulator's "now", epoch seconds.
    pub fn now(&self) -> i64 {
        self.sim.now
    }

    /// A new bearer token holding `scopes`.
    pub fn mint_token(&self, scopes: &[&str]) -> String {
        let n = self.sim.next_token.fetch_add(1, Ordering::Relaxed);
        let token = format!("exs_{}_{n:06}", self.sim.account);
        self.sim.tenant().tokens.insert(
            token.clone(),
            scopes.iter().map(|s| s.to_string()).collect(),
        );
        token
    }

    /// Every API request from now on answers 429 with `Retry-After: retry_after_secs`, until
    /// [`SimHandle::calm`].
    pub fn start_quota_storm(&self, retry_after_secs: u64) {
        self.sim.tenant().storm = Some(retry_after_secs);
    }

    /// Ends a quota storm.
    pub fn calm(&self) {
        self.sim.tenant().storm = None;
    }

    /// Every seat, in listing order.
    pub fn seats(&self) -> Vec<Seat> {
        let tenant = self.sim.tenant();
        tenant
            .seats
            .keys()
            .filter_map(|id| tenant.seat(id))
            .collect()
    }

    /// The seat `user_id` holds, if any.
    pub fn seat(&self, user_id: &str) -> Option<Seat> {
        self.sim.tenant().seat(user_id)
    }

    /// The directory's users, seat holders or not.
    pub fn users(&self) -> Vec<User> {
        self.sim.tenant().users.values().cloned().collect()
    }

    /// The plans' counts, as `/v1/plans` reports them.
    pub fn plans(&self) -> Vec<PlanCount> {
        self.sim.tenant().plans()
    }

    /// API requests served so far (every answer counted, errors too).
    pub fn requests(&self) -> u64 {
        self.sim.requests.load(Ordering::Relaxed)
    }

    /// Requests that changed the tenant.
    pub fn writes(&self) -> u64 {
        self.sim.writes.load(Ordering::Relaxed)
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// An error answer of the vendor's API.
#[derive(Debug)]
enum ApiError {
    Unauthorized,
    Forbidden(&'static str),
    NotFound,
    AlreadyAssigned,
    BadRequest(String),
    RateLimited(u64),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, json!({"error": "unauthorized"})),
            ApiError::Forbidden(scope) => (
                StatusCode::FORBIDDEN,
                json!({"error": "forbidden", "missing_scope": scope}),
            ),
            ApiError::NotFound => (StatusCode::NOT_FOUND, json!({"error": "not_found"})),
            ApiError::AlreadyAssigned => {
                (StatusCode::CONFLICT, json!({"error": "already_assigned"}))
            }
            ApiError::BadRequest(message) => (
                StatusCode::BAD_REQUEST,
                json!({"error": "bad_request", "message": message}),
            ),
            ApiError::RateLimited(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                json!({"error": "rate_limited"}),
            ),
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::RateLimited(secs) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Counts the request, answers the storm, checks the bearer token and its scope.
fn admit(sim: &Sim, headers: &HeaderMap, scope: Option<&'static str>) -> Result<(), ApiError> {
    sim.requests.fetch_add(1, Ordering::Relaxed);
    let tenant = sim.tenant();
    if let Some(secs) = tenant.storm {
        return Err(ApiError::RateLimited(secs));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    let scopes = tenant.tokens.get(token).ok_or(ApiError::Unauthorized)?;
    match scope {
        Some(scope) if !scopes.iter().any(|s| s == scope) => Err(ApiError::Forbidden(scope)),
        _ => Ok(()),
    }
}

async fn me(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Result<Response, ApiError> {
    admit(&sim, &headers, None)?;
    let scopes = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| sim.tenant().tokens.get(token).cloned())
        .unwrap_or_default();
    Ok(Json(json!({"account": sim.account, "scopes": scopes})).into_response())
}

#[derive(Debug, Deserialize)]
struct SeatQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// The cursor: the last user id of the previous page, hex-encoded behind a prefix.
fn encode_cursor(after: &str) -> String {
    format!("c1.{}", hex::encode(after))
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = hex::decode(cursor.strip_prefix("c1.")?).ok()?;
    let after = String::from_utf8(bytes).ok()?;
    after.starts_with("u-").then_some(after)
}

async fn list_seats(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Query(query): Query<SeatQuery>,
) -> Result<Response, ApiError> {
    admit(&sim, &headers, Some(SCOPE_READ))?;
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "limit must be 1..={MAX_LIMIT}"
                )));
            }
        },
    };
    let after = match query.cursor.as_deref() {
        None => None,
        Some(raw) => {
            Some(decode_cursor(raw).ok_or_else(|| ApiError::BadRequest("unknown cursor".into()))?)
        }
    };
    let tenant = sim.tenant();
    let range = match &after {
        Some(after) => tenant
            .seats
            .range::<String, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            .map(|(id, _)| id)
            .collect::<Vec<_>>(),
        None => tenant.seats.keys().collect(),
    };
    let page: Vec<Seat> = range
        .iter()
        .take(limit)
        .filter_map(|id| tenant.seat(id))
        .collect();
    let next_cursor = (range.len() > limit)
        .then(|| page.last().map(|s| encode_cursor(&s.user_id)))
        .flatten();
    Ok(Json(json!({"seats": page, "next_cursor": next_cursor})).into_response())
}

async fn remove_seat(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> Result<Response, ApiError> {
    admit(&sim, &headers, Some(SCOPE_WRITE))?;
    if sim.tenant().seats.remove(&user_id).is_none() {
        return Err(ApiError::NotFound);
    }
    sim.writes.fetch_add(1, Ordering::Relaxed);
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
struct AssignBody {
    user_id: String,
    plan: String,
}

async fn assign_seat(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Result<Json<AssignBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    admit(&sim, &headers, Some(SCOPE_WRITE))?;
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let Some(plan) = PLANS.iter().find(|p| **p == body.plan) else {
        return Err(ApiError::BadRequest(format!(
            "unknown plan {:?}",
            body.plan
        )));
    };
    let mut tenant = sim.tenant();
    if !tenant.users.contains_key(&body.user_id) {
        return Err(ApiError::NotFound);
    }
    if tenant.seats.contains_key(&body.user_id) {
        return Err(ApiError::AlreadyAssigned);
    }
    tenant.seats.insert(
        body.user_id.clone(),
        Assignment {
            plan,
            assigned_at: sim.now,
        },
    );
    sim.writes.fetch_add(1, Ordering::Relaxed);
    let seat = tenant.seat(&body.user_id);
    Ok((StatusCode::CREATED, Json(seat)).into_response())
}

async fn plans(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Result<Response, ApiError> {
    admit(&sim, &headers, Some(SCOPE_READ))?;
    let plans = sim.tenant().plans();
    Ok(Json(json!({"plans": plans})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(
            decode_cursor(&encode_cursor("u-0042")).as_deref(),
            Some("u-0042")
        );
        assert_eq!(decode_cursor("c1.zz"), None);
        assert_eq!(decode_cursor("\u{1}not a cursor"), None);
        assert_eq!(decode_cursor(&format!("c1.{}", hex::encode("x"))), None);
    }

    #[test]
    fn the_tenant_has_bots_idle_users_and_spare_seats() {
        let tenant = Tenant::generate(&SimConfig {
            now: 1_780_000_000,
            ..SimConfig::default()
        });
        let seats: Vec<Seat> = tenant
            .seats
            .keys()
            .filter_map(|id| tenant.seat(id))
            .collect();
        assert_eq!(seats.len(), 120);
        assert!(seats.iter().any(|s| s.kind == Kind::Bot));
        assert!(seats.iter().any(|s| s.last_active_at.is_none()));
        assert!(seats.iter().any(|s| s.plan == "basic"));
        for plan in tenant.plans() {
            assert!(plan.purchased > plan.assigned, "{plan:?}");
        }
        assert_eq!(tenant.users.len(), 130);
    }
}
