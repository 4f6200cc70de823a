//! `github-sim`: a faithful simulator of the GitHub REST API subset a Copilot-seat spoke
//! uses (`shared/specs/github-copilot.openapi.json`): Copilot billing and seats, seat
//! assignment and cancellation for users and teams (pending cancellation until the next
//! billing cycle, the 422 for team-granted seats), org members and teams, `GET /rate_limit`,
//! and the GitHub App endpoints, with classic and fine-grained token auth, GitHub App RS256
//! JWTs and one-hour installation tokens, `Link` pagination, primary and secondary rate
//! limits, faults, latency and jitter. The organization is generated deterministically from
//! a seed; writes change it; an injected [`SimClock`] moves activity retention, cycle
//! boundaries and token expiry. [`SimHandle`] and the HTTP inspection API under `/_sim/`
//! expose the state and the call log. See the crate README.
//!
//! ```no_run
//! # async fn demo() -> Result<(), github_sim::SimError> {
//! use github_sim::{SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::default()).await?;
//! let token = sim.mint_classic_token(&["manage_billing:copilot", "read:org"])?;
//! let url = format!("{}/orgs/{}/copilot/billing/seats?per_page=100", sim.base_url(), sim.org());
//! # let _ = (token, url);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod api;
mod auth;
pub mod clock;
mod config;
mod data;
mod errors;
mod gateway;
mod inspect;
mod ratelimit;
mod rng;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post, put};
use parking_lot::{Mutex, RwLock};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use clock::SimClock;
pub use config::{
    Endpoint, FaultConfig, LimitStatus, PlanType, RateLimitConfig, SecondaryLimitConfig, SimConfig,
};
pub use errors::{ApiError, FieldError, SimError};
pub use inspect::{CallRecord, TeamInfo, UserInfo};
pub use ratelimit::{
    PRIMARY_DOCS, RateSnapshot, SECONDARY_DOCS, SECONDARY_MESSAGE, UNLIMITED_REPORTED,
};

use crate::auth::{AppKeys, Credential, StoredToken, TokenStore, new_token};
use crate::data::Org;
use crate::inspect::CallLog;
use crate::ratelimit::Limiter;
use crate::rng::SplitMix64;

/// The path prefix of the inspection API (GitHub serves nothing under it).
pub const INSPECT: &str = "/_sim";

/// Knobs that can change while the simulator runs.
#[derive(Debug)]
pub(crate) struct Runtime {
    pub faults: HashMap<Endpoint, FaultConfig>,
    pub rate: RateLimitConfig,
    pub latency: Duration,
    pub jitter: Duration,
    pub installation_token_ttl: Duration,
}

/// Everything a running simulator shares between requests.
pub(crate) struct Sim {
    pub base_url: String,
    pub web_url: String,
    pub org_login: String,
    pub clock: SimClock,
    pub created_ms: i64,
    pub org: RwLock<Org>,
    pub tokens: Mutex<TokenStore>,
    pub token_rng: Mutex<SplitMix64>,
    pub keys: AppKeys,
    pub app_id: u64,
    pub app_client_id: String,
    pub app_slug: String,
    pub installation_id: u64,
    pub installation_permissions: RwLock<Vec<(String, String)>>,
    pub synced_teams: RwLock<HashSet<String>>,
    pub runtime: RwLock<Runtime>,
    pub limiter: Mutex<Limiter>,
    pub fault_rng: Mutex<SplitMix64>,
    pub in_flight: AtomicU32,
    /// The most requests in flight at once since the call log was last reset.
    pub max_in_flight: AtomicU32,
    pub calls: CallLog,
    pub log_calls: bool,
}

/// What a minted user token carries.
pub(crate) enum TokenSpec<'a> {
    Classic(&'a [&'a str]),
    FineGrained(&'a [(&'a str, &'a str)]),
}

pub(crate) fn mint_user_token(
    sim: &Sim,
    login: &str,
    spec: TokenSpec<'_>,
    ttl: Option<Duration>,
) -> Result<String, SimError> {
    let user = sim
        .org
        .read()
        .user(login)
        .ok_or_else(|| SimError::Config(format!("unknown login {login}")))?;
    let cred = match spec {
        TokenSpec::Classic(scopes) => Credential::Classic {
            user,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        },
        TokenSpec::FineGrained(perms) => Credential::FineGrained {
            user,
            permissions: perms
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
    };
    let token = new_token(&mut sim.token_rng.lock(), &cred);
    let expires_ms =
        ttl.map(|t| sim.clock.now_ms() + i64::try_from(t.as_millis()).unwrap_or(i64::MAX / 4));
    sim.tokens
        .lock()
        .insert(token.clone(), StoredToken { cred, expires_ms });
    Ok(token)
}

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Generates the organization for `cfg`, binds `127.0.0.1:cfg.port` and serves in a
    /// background task of the current tokio runtime.
    pub async fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
        if cfg.org.is_empty()
            || !cfg
                .org
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(SimError::Config(format!(
                "org must be a GitHub login (letters, digits, '-'): {:?}",
                cfg.org
            )));
        }
        if cfg.teams < 2 {
            return Err(SimError::Config("teams must be at least 2".into()));
        }
        if !(1..=31).contains(&cfg.billing_cycle_day) {
            return Err(SimError::Config(
                "billing_cycle_day must be in 1..=31".into(),
            ));
        }
        let started = Instant::now();
        let keys = match &cfg.app_private_key_pem {
            Some(pem) => AppKeys::from_private_pem(pem)?,
            None => AppKeys::from_seed(cfg.seed)?,
        };
        let now = cfg.clock.now_ms();
        let org = Org::generate(&cfg, now);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", cfg.port)).await?;
        let addr = listener.local_addr()?;
        let mut ids = SplitMix64::derive(cfg.seed, 3);
        let app_client_id = cfg
            .app_client_id
            .clone()
            .unwrap_or_else(|| format!("Iv23li{}", ids.alnum(14)));
        let installation_id = 50_000_000 + ids.below(10_000_000);
        let sim = Arc::new(Sim {
            base_url: format!("http://{addr}"),
            web_url: "https://github.com".to_string(),
            org_login: cfg.org.clone(),
            clock: cfg.clock.clone(),
            created_ms: now,
            org: RwLock::new(org),
            tokens: Mutex::new(TokenStore::default()),
            token_rng: Mutex::new(SplitMix64::derive(cfg.seed, 4)),
            keys,
            app_id: cfg.app_id,
            app_client_id,
            app_slug: "sam-seat-manager".to_string(),
            installation_id,
            installation_permissions: RwLock::new(cfg.installation_permissions.clone()),
            synced_teams: RwLock::new(HashSet::new()),
            runtime: RwLock::new(Runtime {
                faults: HashMap::new(),
                rate: cfg.rate_limit.clone(),
                latency: cfg.latency,
                jitter: cfg.jitter,
                installation_token_ttl: cfg.installation_token_ttl,
            }),
            limiter: Mutex::new(Limiter::default()),
            fault_rng: Mutex::new(SplitMix64::derive(cfg.seed, 5)),
            in_flight: AtomicU32::new(0),
            max_in_flight: AtomicU32::new(0),
            calls: CallLog::default(),
            log_calls: cfg.log_calls,
        });
        let app = router(sim.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("github-sim server error: {e}");
            }
        });
        Ok(SimHandle {
            sim,
            addr,
            startup: started.elapsed(),
            shutdown: Mutex::new(Some(tx)),
            task: Mutex::new(Some(task)),
        })
    }
}

fn router(sim: Arc<Sim>) -> Router {
    let billing = "/orgs/{org}/copilot/billing";
    let api = Router::new()
        .route(billing, get(api::copilot_billing))
        .route(&format!("{billing}/seats"), get(api::list_seats))
        .route(
            &format!("{billing}/selected_users"),
            post(api::add_selected_users).delete(api::remove_selected_users),
        )
        .route(
            &format!("{billing}/selected_teams"),
            post(api::add_selected_teams).delete(api::remove_selected_teams),
        )
        .route(
            "/orgs/{org}/members/{username}/copilot",
            get(api::member_copilot),
        )
        .route("/orgs/{org}/members", get(api::list_members))
        .route("/orgs/{org}/teams", get(api::list_teams))
        .route(
            "/orgs/{org}/teams/{team_slug}/members",
            get(api::list_team_members),
        )
        .route(
            "/orgs/{org}/teams/{team_slug}/memberships/{username}",
            put(api::put_team_membership).delete(api::delete_team_membership),
        )
        .route("/rate_limit", get(api::rate_limit))
        .route("/app/installations", get(api::list_installations))
        .route("/orgs/{org}/installation", get(api::org_installation))
        .route(
            "/app/installations/{installation_id}/access_tokens",
            post(api::create_installation_token),
        )
        .route_layer(from_fn_with_state(sim.clone(), gateway::api_layer));
    let inspect = Router::new()
        .route("/_sim/state", get(inspect::state))
        .route("/_sim/seats", get(inspect::seats))
        .route("/_sim/users/{login}", get(inspect::user))
        .route("/_sim/teams", get(inspect::teams))
        .route(
            "/_sim/calls",
            get(inspect::calls).delete(inspect::reset_calls),
        )
        .route("/_sim/calls/counts", get(inspect::counts))
        .route("/_sim/clock", get(inspect::clock).post(inspect::set_clock))
        .route("/_sim/tokens", post(inspect::mint))
        .route("/_sim/app", get(inspect::app))
        .route("/_sim/activity", post(inspect::activity));
    Router::new()
        .merge(api)
        .merge(inspect)
        .fallback(gateway::not_found)
        .layer(from_fn_with_state(sim.clone(), gateway::log_layer))
        .with_state(sim)
}

/// A running simulator. Dropping it stops the server (without waiting).
pub struct SimHandle {
    sim: Arc<Sim>,
    addr: SocketAddr,
    startup: Duration,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.lock().take() {
            let _ = tx.send(());
        }
    }
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`, the stand-in for `https://api.github.com`.
    pub fn base_url(&self) -> String {
        self.sim.base_url.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The organization's login.
    pub fn org(&self) -> &str {
        &self.sim.org_login
    }

    /// The login of the org owner tokens are minted for by default.
    pub fn owner_login(&self) -> String {
        self.sim.org.read().users[0].login.to_string()
    }

    /// How long generating the state (and the app key, unless cached) took.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// A classic token (`ghp_…`) of the org owner with these scopes.
    pub fn mint_classic_token(&self, scopes: &[&str]) -> Result<String, SimError> {
        mint_user_token(
            &self.sim,
            &self.owner_login(),
            TokenSpec::Classic(scopes),
            None,
        )
    }

    /// A fine-grained token (`github_pat_…`) of the org owner with these permissions,
    /// e.g. `[("organization_copilot_seat_management", "write")]`.
    pub fn mint_fine_grained_token(
        &self,
        permissions: &[(&str, &str)],
    ) -> Result<String, SimError> {
        mint_user_token(
            &self.sim,
            &self.owner_login(),
            TokenSpec::FineGrained(permissions),
            None,
        )
    }

    /// A classic token for any member (e.g. a non-owner), optionally expiring after `ttl`.
    pub fn mint_classic_token_for(
        &self,
        login: &str,
        scopes: &[&str],
        ttl: Option<Duration>,
    ) -> Result<String, SimError> {
        mint_user_token(&self.sim, login, TokenSpec::Classic(scopes), ttl)
    }

    /// Revokes a token (later use gives 401); false when unknown.
    pub fn revoke_token(&self, token: &str) -> bool {
        self.sim.tokens.lock().remove(token)
    }

    /// The GitHub App's numeric id.
    pub fn app_id(&self) -> u64 {
        self.sim.app_id
    }

    /// The GitHub App's client id (`Iv23li…`).
    pub fn app_client_id(&self) -> &str {
        &self.sim.app_client_id
    }

    /// The app's private key (PKCS#1 PEM), to sign JWTs with.
    pub fn app_private_key_pem(&self) -> &str {
        &self.sim.keys.private_pem
    }

    /// The app's public key (SPKI PEM), with which the simulator verifies JWTs.
    pub fn app_public_key_pem(&self) -> &str {
        &self.sim.keys.public_pem
    }

    /// The id of the app's installation on the organization (another installation, on a
    /// user account, is listed too, as `installation_id() + 1`).
    pub fn installation_id(&self) -> u64 {
        self.sim.installation_id
    }

    /// Replaces the permissions the installation was granted (tokens minted later get them).
    pub fn set_installation_permissions(&self, permissions: &[(&str, &str)]) {
        *self.sim.installation_permissions.write() = permissions
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }

    /// Lifetime of installation tokens minted from now on.
    pub fn set_installation_token_ttl(&self, ttl: Duration) {
        self.sim.runtime.write().installation_token_ttl = ttl;
    }

    /// Every member and invitee, in id order.
    pub fn users(&self) -> Vec<UserInfo> {
        let now = self.sim.clock.now_ms();
        let mut org = self.sim.org.write();
        org.settle(now);
        (0..org.users.len() as u32)
            .map(|u| inspect::user_info(&org, u))
            .collect()
    }

    /// One user (case-insensitive login).
    pub fn user(&self, login: &str) -> Option<UserInfo> {
        let now = self.sim.clock.now_ms();
        let mut org = self.sim.org.write();
        org.settle(now);
        org.user(login).map(|u| inspect::user_info(&org, u))
    }

    /// The seat holders (including seats pending cancellation), in id order.
    pub fn seats(&self) -> Vec<UserInfo> {
        let now = self.sim.clock.now_ms();
        let mut org = self.sim.org.write();
        org.settle(now);
        let seated = org.seated().to_vec();
        seated
            .iter()
            .map(|&u| inspect::user_info(&org, u))
            .collect()
    }

    /// Number of seats currently billed.
    pub fn seat_count(&self) -> usize {
        let now = self.sim.clock.now_ms();
        let mut org = self.sim.org.write();
        org.settle(now);
        org.seated().len()
    }

    /// Every team.
    pub fn teams(&self) -> Vec<TeamInfo> {
        let org = self.sim.org.read();
        (0..org.teams.len())
            .map(|t| inspect::team_info(&org, t))
            .collect()
    }

    /// Records Copilot activity for `login` at the current clock time.
    pub fn record_activity(&self, login: &str) -> bool {
        let now = self.sim.clock.now_ms();
        let mut org = self.sim.org.write();
        match org.user(login) {
            Some(u) => {
                org.record_activity(u, 0, now);
                true
            }
            None => false,
        }
    }

    /// Marks a team as synchronized with an IdP (membership writes then get 403).
    pub fn set_team_synced(&self, slug: &str, synced: bool) {
        let mut s = self.sim.synced_teams.write();
        if synced {
            s.insert(slug.to_string());
        } else {
            s.remove(slug);
        }
    }

    /// Every call recorded (when the call log is on).
    pub fn calls(&self) -> Vec<CallRecord> {
        self.sim.calls.calls()
    }

    /// Calls per endpoint (`METHOD template`; unmatched paths as `METHOD (unmatched)`).
    pub fn calls_per_endpoint(&self) -> BTreeMap<String, u64> {
        self.sim.calls.counts()
    }

    /// Calls made to one endpoint.
    pub fn calls_to(&self, endpoint: Endpoint) -> u64 {
        self.sim
            .calls
            .counts()
            .get(endpoint.name())
            .copied()
            .unwrap_or(0)
    }

    /// Clears the call log and counters (and the most requests seen in flight at once).
    pub fn reset_calls(&self) {
        self.sim.calls.reset();
        self.sim
            .max_in_flight
            .store(0, std::sync::atomic::Ordering::SeqCst);
    }

    /// The most API requests in flight at once since the call log was last reset.
    pub fn max_in_flight(&self) -> u32 {
        self.sim
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Sets the faults of one endpoint (replacing earlier ones).
    pub fn set_fault(&self, endpoint: Endpoint, fault: FaultConfig) {
        self.sim.runtime.write().faults.insert(endpoint, fault);
    }

    /// Removes all faults.
    pub fn clear_faults(&self) {
        self.sim.runtime.write().faults.clear();
    }

    /// Latency and jitter added to every API response.
    pub fn set_latency(&self, latency: Duration, jitter: Duration) {
        let mut rt = self.sim.runtime.write();
        rt.latency = latency;
        rt.jitter = jitter;
    }

    /// Replaces the rate-limit configuration (counts so far are kept).
    pub fn set_rate_limit(&self, rate: RateLimitConfig) {
        self.sim.runtime.write().rate = rate;
    }

    /// Forgets all rate-limit counts.
    pub fn reset_rate_limit(&self) {
        self.sim.limiter.lock().reset();
    }

    /// The simulator's clock.
    pub fn clock(&self) -> &SimClock {
        &self.sim.clock
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(self) {
        if let Some(tx) = self.shutdown.lock().take() {
            let _ = tx.send(());
        }
        let task = self.task.lock().take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}
