//! `confluence-sim`: a faithful simulator of Atlassian Confluence Cloud for the "sam"
//! seat-management engine. One HTTP server on `127.0.0.1:<port>` serves the three hosts a
//! Confluence spoke talks to: `auth.atlassian.com` (`/authorize`, `/oauth/token`),
//! `api.atlassian.com` (`/oauth/token/accessible-resources`) and the Confluence REST v1
//! gateway (`/ex/confluence/{cloudId}/wiki/rest/api/...`), in Atlassian's wire format
//! (OAuth 2.0 3LO with rotating refresh tokens, gateway scope checks, points-based rate
//! limits, v1 error bodies, offset and cursor pagination, a CQL subset), plus the
//! organization admin API (`/admin/v1/orgs...`: org discovery and per-user last-active
//! dates, with its own API key and rate limit). State is generated deterministically from
//! a seed; writes change it; faults and latency can be injected; production rules the spec
//! does not state are settings ([`ProductionRules`], OFF by default); [`SimHandle`]
//! exposes inspection and runtime knobs for tests. See the crate README.
//!
//! ```no_run
//! # async fn demo() -> Result<(), confluence_sim::SimError> {
//! use confluence_sim::{SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::default()).await?;
//! let token = sim.mint_token(&["read:confluence-groups"]);
//! let url = format!("{}/wiki/rest/api/group", sim.connection_url());
//! # let _ = (token, url);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod api;
pub mod clock;
mod config;
pub mod cql;
mod data;
mod errors;
mod gateway;
mod inspect;
mod oauth;
mod org;
mod ratelimit;
mod rng;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use parking_lot::{Mutex, RwLock};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use clock::SimClock;
pub use config::{
    CONNECTOR_SCOPES, Endpoint, FaultConfig, OrgConfig, ProductionRules, RateLimitConfig,
    SimConfig, SiteConfig,
};
pub use data::{AccessType, ContentType, UserKind};
pub use errors::{ApiError, GatewayError, OAuthError, SimError};
pub use inspect::CallRecord;
pub use ratelimit::{PointsUsage, REASON_BURST, REASON_QUOTA};

use crate::data::{ContentStore, Directory};
use crate::inspect::CallLog;
use crate::oauth::TokenStore;
use crate::org::OrgState;
use crate::ratelimit::Limiter;
use crate::rng::SplitMix64;

/// Knobs that can change while the simulator runs.
#[derive(Debug)]
pub(crate) struct Runtime {
    pub faults: HashMap<Endpoint, FaultConfig>,
    pub deny_consent: bool,
    pub token_ttl: Duration,
    pub rate: RateLimitConfig,
    pub rules: ProductionRules,
    pub latency: Duration,
    pub jitter: Duration,
    /// A latency that grows with every request: (added per request, the most), with the
    /// requests counted so far.
    pub ramp: Option<(Duration, Duration, u64)>,
    pub org_requests_per_minute: u32,
    pub org_data_lag: Duration,
}

/// Everything a running simulator shares between requests.
pub(crate) struct Sim {
    pub site: SiteConfig,
    pub extra_sites: Vec<SiteConfig>,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    pub consenting_user: u32,
    pub log_calls: bool,
    pub clock: SimClock,
    pub dir: RwLock<Directory>,
    pub content: ContentStore,
    pub tokens: Mutex<TokenStore>,
    pub runtime: RwLock<Runtime>,
    pub limiter: Mutex<Limiter>,
    pub fault_rng: Mutex<SplitMix64>,
    pub calls: CallLog,
    pub search_cache: Mutex<HashMap<String, Arc<Vec<u32>>>>,
    pub org: OrgState,
    pub org_list_empty: bool,
    pub latency_rng: Mutex<SplitMix64>,
}

/// Facts about one group, for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    /// Group id (UUID).
    pub id: String,
    /// Group name.
    pub name: String,
    /// Permission level, if any.
    pub access_type: Option<AccessType>,
    /// Number of members.
    pub members: usize,
    /// Number of members that member listings show (suspended users are left out).
    pub listed_members: usize,
}

/// Facts about one user, for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    /// Account id.
    pub account_id: String,
    /// Display name.
    pub display_name: String,
    /// Email (empty when hidden).
    pub email: String,
    /// Human, bot or guest.
    pub kind: UserKind,
    /// Whether the user is in a site-admin group.
    pub site_admin: bool,
    /// Whether the account is suspended or deactivated (left out of member listings).
    pub suspended: bool,
}

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Generates the state for `cfg`, binds `127.0.0.1:cfg.port` and serves in a
    /// background task of the current tokio runtime.
    pub async fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
        if cfg.users == 0 {
            return Err(SimError::Config("users must be at least 1".into()));
        }
        if cfg.consenting_user >= cfg.users {
            return Err(SimError::Config(format!(
                "consenting_user {} is out of range (users = {})",
                cfg.consenting_user, cfg.users
            )));
        }
        if cfg.redirect_uris.is_empty() {
            return Err(SimError::Config(
                "at least one redirect URI is needed".into(),
            ));
        }
        let started = Instant::now();
        let now = cfg.clock.now_ms();
        if !(0.0..=1.0).contains(&cfg.suspended_fraction)
            || !(0.0..=1.0).contains(&cfg.org.reader_fraction)
        {
            return Err(SimError::Config(
                "suspended_fraction and org.reader_fraction must be within 0..=1".into(),
            ));
        }
        let generated = data::generate(&cfg, now);
        let org = org::generate(&cfg, &generated.directory, &generated.content, now);
        let mut ids = SplitMix64::derive(cfg.seed, 4);
        let site = cfg.site.clone().unwrap_or_else(|| SiteConfig {
            cloud_id: ids.uuid(),
            url: "https://sam-sim.atlassian.net".to_string(),
            name: "sam-sim".to_string(),
        });
        let client_id = cfg.client_id.clone().unwrap_or_else(|| ids.alnum(32));
        let client_secret = cfg
            .client_secret
            .clone()
            .unwrap_or_else(|| format!("ATOA{}", ids.alnum(60)));
        let mut rate = cfg.rate_limit.clone();
        if rate.points_per_hour == Some(RateLimitConfig::TIER_DEFAULT) {
            rate.points_per_hour = Some(RateLimitConfig::budget_for(cfg.users));
        }
        let sim = Arc::new(Sim {
            site,
            extra_sites: cfg.extra_sites.clone(),
            client_id,
            client_secret,
            redirect_uris: cfg.redirect_uris.clone(),
            consenting_user: cfg.consenting_user as u32,
            log_calls: cfg.log_calls,
            clock: cfg.clock.clone(),
            dir: RwLock::new(generated.directory),
            content: generated.content,
            tokens: Mutex::new(TokenStore::default()),
            runtime: RwLock::new(Runtime {
                faults: HashMap::new(),
                deny_consent: cfg.deny_consent,
                token_ttl: cfg.access_token_ttl,
                rate,
                rules: cfg.rules.clone(),
                latency: cfg.latency,
                jitter: cfg.jitter,
                ramp: None,
                org_requests_per_minute: cfg.org.requests_per_minute,
                org_data_lag: cfg.org.data_lag,
            }),
            limiter: Mutex::new(Limiter::default()),
            fault_rng: Mutex::new(SplitMix64::derive(cfg.seed, 5)),
            calls: CallLog::default(),
            search_cache: Mutex::new(HashMap::new()),
            org,
            org_list_empty: cfg.org.list_orgs_empty,
            latency_rng: Mutex::new(SplitMix64::derive(cfg.seed, 10)),
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", cfg.port)).await?;
        let addr = listener.local_addr()?;
        let app = router(sim.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("confluence-sim server error: {e}");
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

const API: &str = "/ex/confluence/{cloud_id}/wiki/rest/api";
const ORGS: &str = "/admin/v1/orgs";

fn router(sim: Arc<Sim>) -> Router {
    let confluence = Router::new()
        .route(&format!("{API}/group"), get(api::get_groups))
        .route(&format!("{API}/group/by-id"), get(api::get_group_by_id))
        .route(&format!("{API}/group/picker"), get(api::group_picker))
        .route(
            &format!("{API}/group/{{group_id}}/membersByGroupId"),
            get(api::group_members),
        )
        .route(
            &format!("{API}/group/userByGroupId"),
            post(api::add_member).delete(api::remove_member),
        )
        .route(&format!("{API}/user"), get(api::get_user))
        .route(&format!("{API}/user/current"), get(api::current_user))
        .route(&format!("{API}/user/bulk"), get(api::bulk_users))
        .route(&format!("{API}/user/memberof"), get(api::user_member_of))
        .route(&format!("{API}/search"), get(api::search))
        .route_layer(from_fn_with_state(sim.clone(), gateway::gateway_layer))
        .route_layer(from_fn_with_state(sim.clone(), gateway::fault_layer));
    let auth = Router::new()
        .route("/authorize", get(oauth::authorize))
        .route("/oauth/token", post(oauth::token))
        .route(
            "/oauth/token/accessible-resources",
            get(oauth::accessible_resources),
        )
        .route_layer(from_fn_with_state(sim.clone(), gateway::fault_layer));
    let admin = Router::new()
        .route(ORGS, get(org::list_orgs))
        .route(
            &format!("{ORGS}/{{org_id}}/directory/users/{{account_id}}/last-active-dates"),
            get(org::last_active_dates),
        )
        .route_layer(from_fn_with_state(sim.clone(), gateway::fault_layer));
    Router::new()
        .merge(confluence)
        .merge(auth)
        .merge(admin)
        .fallback(gateway::not_found)
        .layer(from_fn_with_state(sim.clone(), gateway::latency_layer))
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
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stand-in for `https://auth.atlassian.com` (serves `/authorize`, `/oauth/token`).
    pub fn auth_base_url(&self) -> String {
        self.base_url()
    }

    /// Stand-in for `https://api.atlassian.com` (serves
    /// `/oauth/token/accessible-resources` and `/ex/confluence/{cloudId}/...`).
    pub fn api_base_url(&self) -> String {
        self.base_url()
    }

    /// `{base}/ex/confluence/{cloudId}` for the primary site: the base that relative paths
    /// such as `/wiki/rest/api/group` are joined to.
    pub fn connection_url(&self) -> String {
        self.site_connection_url(&self.sim.site.cloud_id)
    }

    /// `{base}/ex/confluence/{cloud_id}` for any cloud id.
    pub fn site_connection_url(&self, cloud_id: &str) -> String {
        format!("{}/ex/confluence/{}", self.base_url(), cloud_id)
    }

    /// The primary site's cloud id.
    pub fn cloud_id(&self) -> &str {
        &self.sim.site.cloud_id
    }

    /// The primary site's URL (e.g. `https://sam-sim.atlassian.net`).
    pub fn site_url(&self) -> &str {
        &self.sim.site.url
    }

    /// The OAuth app's client id.
    pub fn client_id(&self) -> &str {
        &self.sim.client_id
    }

    /// The OAuth app's client secret.
    pub fn client_secret(&self) -> &str {
        &self.sim.client_secret
    }

    /// The first registered callback URL.
    pub fn redirect_uri(&self) -> &str {
        &self.sim.redirect_uris[0]
    }

    /// How long generating the state took.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The account id of the user who consents on `/authorize`.
    pub fn consenting_account_id(&self) -> String {
        self.sim.dir.read().users[self.sim.consenting_user as usize]
            .account_id
            .to_string()
    }

    /// An access token for the consenting user with these scopes, as if issued by OAuth.
    pub fn mint_token(&self, scopes: &[&str]) -> String {
        let user = self.sim.consenting_user;
        self.sim
            .mint_access(user, scopes.iter().map(|s| s.to_string()).collect())
    }

    /// An access token for any user (e.g. a non-admin) with these scopes.
    pub fn mint_token_for(&self, account_id: &str, scopes: &[&str]) -> Result<String, SimError> {
        let user = self
            .sim
            .dir
            .read()
            .user_by_account(account_id)
            .ok_or_else(|| SimError::Config(format!("unknown account id {account_id}")))?;
        Ok(self
            .sim
            .mint_access(user, scopes.iter().map(|s| s.to_string()).collect()))
    }

    /// All groups, in name order.
    pub fn groups(&self) -> Vec<GroupInfo> {
        let d = self.sim.dir.read();
        d.groups
            .iter()
            .map(|g| GroupInfo {
                id: g.id.clone(),
                name: g.name.clone(),
                access_type: g.access,
                members: g.members.len(),
                listed_members: g
                    .members
                    .iter()
                    .filter(|&&u| !d.users[u as usize].suspended)
                    .count(),
            })
            .collect()
    }

    /// The id of the group with this name.
    pub fn group_id(&self, name: &str) -> Option<String> {
        self.sim
            .dir
            .read()
            .groups
            .iter()
            .find(|g| g.name == name)
            .map(|g| g.id.clone())
    }

    /// All users, in generation order (the consenting user is index `consenting_user`).
    pub fn users(&self) -> Vec<UserInfo> {
        let d = self.sim.dir.read();
        (0..d.users.len() as u32)
            .map(|i| {
                let u = &d.users[i as usize];
                UserInfo {
                    account_id: u.account_id.to_string(),
                    display_name: u.display_name.to_string(),
                    email: u.email.to_string(),
                    kind: u.kind,
                    site_admin: d.is_site_admin(i),
                    suspended: u.suspended,
                }
            })
            .collect()
    }

    /// Account ids of a group's members (None when no such group).
    pub fn memberships(&self, group_id: &str) -> Option<Vec<String>> {
        let d = self.sim.dir.read();
        let g = d.group_by_id(group_id)?;
        Some(
            d.groups[g]
                .members
                .iter()
                .map(|&u| d.users[u as usize].account_id.to_string())
                .collect(),
        )
    }

    /// Group ids of a user's groups (None when no such user).
    pub fn user_groups(&self, account_id: &str) -> Option<Vec<String>> {
        let d = self.sim.dir.read();
        let u = d.user_by_account(account_id)?;
        Some(
            d.user_groups(u)
                .into_iter()
                .map(|g| d.groups[g].id.clone())
                .collect(),
        )
    }

    /// Ground truth: the user's latest content creation or edit (epoch ms).
    pub fn last_activity(&self, account_id: &str) -> Option<i64> {
        let u = self.sim.dir.read().user_by_account(account_id)?;
        self.sim.content.last_activity(u)
    }

    /// Number of content items.
    pub fn content_count(&self) -> usize {
        self.sim.content.items.len()
    }

    /// The log of calls made (empty when `log_calls` is off).
    pub fn calls(&self) -> Vec<CallRecord> {
        self.sim.calls.calls()
    }

    /// Calls per endpoint, keyed by [`Endpoint::name`] (unmatched paths as
    /// `"METHOD (unmatched)"`).
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
    }

    /// The most requests answered at once since the call log was last reset.
    pub fn max_in_flight(&self) -> u64 {
        self.sim.calls.max_in_flight()
    }

    /// Sets the faults of one endpoint (replacing earlier ones).
    pub fn set_fault(&self, endpoint: Endpoint, fault: FaultConfig) {
        self.sim.runtime.write().faults.insert(endpoint, fault);
    }

    /// Sets the same faults on every endpoint.
    pub fn set_fault_all(&self, fault: FaultConfig) {
        let mut rt = self.sim.runtime.write();
        for e in Endpoint::ALL {
            rt.faults.insert(e, fault.clone());
        }
    }

    /// Removes all faults.
    pub fn clear_faults(&self) {
        self.sim.runtime.write().faults.clear();
    }

    /// Adds latency to one endpoint (keeping its other faults).
    pub fn set_latency(&self, endpoint: Endpoint, latency: Duration) {
        self.sim
            .runtime
            .write()
            .faults
            .entry(endpoint)
            .or_default()
            .latency = latency;
    }

    /// Replaces the rate-limit configuration (the used budget is kept).
    pub fn set_rate_limit(&self, rate: RateLimitConfig) {
        self.sim.runtime.write().rate = rate;
    }

    /// Sets the hourly points budget (`None` = no quota).
    pub fn set_points_budget(&self, points_per_hour: Option<u64>) {
        self.sim.runtime.write().rate.points_per_hour = points_per_hour;
    }

    /// The current rate-limit configuration.
    pub fn rate_limit(&self) -> RateLimitConfig {
        self.sim.runtime.read().rate.clone()
    }

    /// Forgets the points used this hour and the burst windows.
    pub fn reset_rate_limit(&self) {
        self.sim.limiter.lock().reset();
    }

    /// Makes `/authorize` deny (or grant) consent.
    pub fn set_deny_consent(&self, deny: bool) {
        self.sim.runtime.write().deny_consent = deny;
    }

    /// Lifetime of access tokens issued from now on.
    pub fn set_access_token_ttl(&self, ttl: Duration) {
        self.sim.runtime.write().token_ttl = ttl;
    }

    /// The simulator's clock (advance it to expire tokens or roll rate-limit windows).
    pub fn clock(&self) -> &SimClock {
        &self.sim.clock
    }

    /// Points spent on the Confluence API: this UTC hour, since start, and the budget.
    pub fn points_spent(&self) -> PointsUsage {
        let rate = self.sim.runtime.read().rate.clone();
        self.sim
            .limiter
            .lock()
            .usage(&rate, self.sim.clock.now_ms())
    }

    /// The production rules in force.
    pub fn rules(&self) -> ProductionRules {
        self.sim.runtime.read().rules.clone()
    }

    /// Switches production rules on or off while running.
    pub fn set_rules(&self, rules: ProductionRules) {
        self.sim.runtime.write().rules = rules;
    }

    /// Latency (plus up to `jitter` more) added to every response from now on.
    pub fn set_base_latency(&self, latency: Duration, jitter: Duration) {
        let mut rt = self.sim.runtime.write();
        rt.latency = latency;
        rt.jitter = jitter;
    }

    /// From now on each response is delayed by `step` more than the one before, up to `max`
    /// (a vendor slowing down under load), on top of the base latency; `None` stops it.
    pub fn set_latency_ramp(&self, ramp: Option<(Duration, Duration)>) {
        self.sim.runtime.write().ramp = ramp.map(|(step, max)| (step, max, 0));
    }

    /// Suspends (or restores) an account: a suspended user stays in its groups but is left
    /// out of member listings. False when no such user.
    pub fn set_suspended(&self, account_id: &str, suspended: bool) -> bool {
        let mut d = self.sim.dir.write();
        match d.user_by_account(account_id) {
            Some(u) => {
                d.users[u as usize].suspended = suspended;
                true
            }
            None => false,
        }
    }

    /// The organization id (what `GET /admin/v1/orgs` lists).
    pub fn org_id(&self) -> &str {
        &self.sim.org.org_id
    }

    /// The organization API key (bearer token of the admin API).
    pub fn org_api_key(&self) -> &str {
        &self.sim.org.api_key
    }

    /// Stand-in for `https://api.atlassian.com` for the admin API (serves
    /// `/admin/v1/orgs...`).
    pub fn admin_base_url(&self) -> String {
        self.base_url()
    }

    /// Requests per minute allowed on the admin API (0 = unlimited).
    pub fn set_org_rate_limit(&self, requests_per_minute: u32) {
        self.sim.runtime.write().org_requests_per_minute = requests_per_minute;
    }

    /// Data lag of `last-active-dates`.
    pub fn set_org_data_lag(&self, lag: Duration) {
        self.sim.runtime.write().org_data_lag = lag;
    }

    /// Ground truth: the user's latest Confluence view (epoch ms, without the data lag).
    pub fn org_last_active(&self, account_id: &str) -> Option<i64> {
        let u = self.sim.dir.read().user_by_account(account_id)?;
        let t = self.sim.org.views.read()[u as usize].confluence;
        (t != org::NEVER).then_some(t)
    }

    /// What `last-active-dates` reports for Confluence right now (epoch ms of the view,
    /// the API gives its date), after the data lag.
    pub fn org_reported_last_active(&self, account_id: &str) -> Option<i64> {
        let u = self.sim.dir.read().user_by_account(account_id)?;
        let v = self.sim.org.views.read()[u as usize];
        let lag = self.sim.runtime.read().org_data_lag.as_millis() as i64;
        let t = org::reported(&v, self.sim.clock.now_ms(), lag);
        (t != org::NEVER).then_some(t)
    }

    /// Records a Confluence page view by the user at `at_ms` (the previous latest view
    /// becomes the one reported while this one is inside the data lag). False when no
    /// such user.
    pub fn record_view(&self, account_id: &str, at_ms: i64) -> bool {
        let Some(u) = self.sim.dir.read().user_by_account(account_id) else {
            return false;
        };
        let mut views = self.sim.org.views.write();
        let v = &mut views[u as usize];
        if at_ms > v.confluence {
            v.confluence_prev = v.confluence;
            v.confluence = at_ms;
        }
        true
    }

    /// Human or guest users who read Confluence within the last `days` days (by their
    /// latest view) but created or edited nothing in that time: the accounts a content
    /// scan alone shows as inactive.
    pub fn readers(&self, days: i64) -> Vec<String> {
        let since = self.sim.clock.now_ms() - days * clock::MS_PER_DAY;
        let d = self.sim.dir.read();
        let views = self.sim.org.views.read();
        (0..d.users.len() as u32)
            .filter(|&u| {
                d.users[u as usize].kind != UserKind::App
                    && views[u as usize].confluence >= since
                    && self.sim.content.last_activity(u).is_none_or(|t| t < since)
            })
            .map(|u| d.users[u as usize].account_id.to_string())
            .collect()
    }

    /// Users who created or edited an item last modified at or after `since_ms` without
    /// being the last editor of any such item: the contributors a scan that reads only
    /// `version.by` misses.
    pub fn hidden_contributors(&self, since_ms: i64) -> Vec<String> {
        let d = self.sim.dir.read();
        let items = &self.sim.content.items;
        let end = items.partition_point(|it| it.modified_ms >= since_ms);
        let mut last = vec![false; d.users.len()];
        let mut other = vec![false; d.users.len()];
        for it in &items[..end] {
            last[it.last_editor as usize] = true;
            other[it.creator as usize] = true;
            if it.mid_editor != data::NO_USER {
                other[it.mid_editor as usize] = true;
            }
        }
        (0..d.users.len())
            .filter(|&u| other[u] && !last[u])
            .map(|u| d.users[u].account_id.to_string())
            .collect()
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
