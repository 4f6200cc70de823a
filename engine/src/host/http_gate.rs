//! The HTTP gate behind the spoke's `http` import: the only way a spoke reaches its vendor.
//! [`HttpGate`] is process-wide (one reqwest client, one retry policy); a [`GateSession`] is one
//! spoke talking to one connection. For each request the session joins the spoke's relative
//! path to the connection URL, refuses hosts outside the allow-list before any connection is
//! made, strips headers a spoke may not set (`Authorization` among them) and adds the bearer
//! token from its [`CredentialProvider`], retries 429 and 503 after `Retry-After`, retries other
//! 5xx and connection failures of idempotent requests with capped exponential backoff and
//! jitter, refreshes the token once on a 401, enforces a per-attempt timeout (the policy's, or
//! twice the slowest answer the session has seen when a vendor slows down, so a request still
//! being served is not sent again) and a body cap, and counts requests and retries. Within an export call every request also draws on the
//! call's [`CallBudget`]: a number of requests (re-sends included), a number of response bytes
//! (counted chunk by chunk as the body streams in, before it is buffered) and the call's
//! wall-clock deadline, which bounds connecting, sending, reading and every wait between
//! attempts. A session may carry an [`ExchangeHook`] (the conformance kit's recorded
//! exchanges): it sits where one attempt goes on the wire, after the allow-list, header and
//! budget checks, and either answers the attempt itself (replay) or sees each real answer
//! (record). It knows nothing of wasm and is tested without it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use rand::Rng;
use url::Url;

use super::allowed_hosts::AllowedHosts;
use super::credentials::CredentialProvider;
use crate::contract::{HttpError, Method, Request, Response};

/// Request headers a spoke may not set; the engine owns them.
pub const FORBIDDEN_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
];

/// Retry, timeout and size rules for every request through the gate.
#[derive(Debug, Clone)]
pub struct GatePolicy {
    /// Attempts per request for server errors and connection failures, the first included
    /// (default 5).
    pub max_attempts: u32,
    /// Retries per request after a 429 (or 503 with `Retry-After`), counted apart from
    /// `max_attempts` because waiting out a burst limit is normal operation (default 10).
    pub max_rate_limit_retries: u32,
    /// Backoff before the first retry of a 5xx or connection failure (default 500 ms); it
    /// doubles per attempt, with jitter, up to `max_backoff`.
    pub initial_backoff: Duration,
    /// The longest backoff between two attempts (default 30 s).
    pub max_backoff: Duration,
    /// A `Retry-After` longer than this is not waited out inside the call: the 429 goes back
    /// to the spoke, which reports `rate-limited` so the job can pause (default 120 s).
    pub max_retry_after: Duration,
    /// Time allowed for one attempt, body included (default 30 s).
    pub request_timeout: Duration,
    /// Time allowed to connect (default 10 s).
    pub connect_timeout: Duration,
    /// The largest response body accepted, in bytes (default 32 MiB).
    pub max_body_bytes: u64,
    /// How many requests of one `send-all` run at once (default 8).
    pub max_concurrency: usize,
}

impl Default for GatePolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            max_rate_limit_retries: 10,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_body_bytes: 32 * 1024 * 1024,
            max_concurrency: 8,
        }
    }
}

/// The gate could not be built.
#[derive(Debug, thiserror::Error)]
#[error("could not build the HTTP client: {0}")]
pub struct GateBuildError(#[from] reqwest::Error);

/// The process-wide HTTP gate: one client, one policy.
#[derive(Debug, Clone)]
pub struct HttpGate {
    client: reqwest::Client,
    policy: GatePolicy,
}

impl HttpGate {
    /// Builds the gate. Redirects are not followed (a redirect could leave the allow-list).
    pub fn new(policy: GatePolicy) -> Result<Self, GateBuildError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(policy.connect_timeout)
            .user_agent(concat!("sam/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, policy })
    }

    /// The policy in force.
    pub fn policy(&self) -> &GatePolicy {
        &self.policy
    }
}

/// Request counts of one session, for job results.
#[derive(Debug, Default)]
pub struct RequestStats {
    requests: AtomicU64,
    retries: AtomicU64,
    refused: AtomicU64,
    writes: AtomicU64,
}

/// A snapshot of [`RequestStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestCounts {
    /// Requests sent to the vendor, retries included.
    pub requests: u64,
    /// Of those, how many were retries.
    pub retries: u64,
    /// Requests the gate refused without sending.
    pub refused: u64,
    /// Of the requests sent, how many were writes (any method but GET and HEAD).
    pub writes: u64,
}

impl RequestStats {
    /// The counts so far.
    pub fn snapshot(&self) -> RequestCounts {
        RequestCounts {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
        }
    }
}

/// What one export call may still spend through the gate: requests (every attempt, re-sends
/// included), response bytes (across `send` and `send-all`, reserved chunk by chunk before the
/// chunk is kept) and time (the call's wall-clock deadline). Shared by the concurrent requests
/// of a `send-all`. Once a limit is hit it stays hit for the rest of the call.
#[derive(Debug)]
pub struct CallBudget {
    deadline: Instant,
    request_cap: u64,
    requests_left: AtomicU64,
    byte_cap: u64,
    bytes_left: AtomicU64,
    hit: std::sync::Mutex<Option<BudgetHit>>,
}

/// Which limit of a [`CallBudget`] a call ran into first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetHit {
    /// The call's deadline passed while the host was serving a request.
    Deadline,
    /// The call asked for more requests than its budget.
    Requests(u64),
    /// The call's responses came to more bytes than its budget.
    ResponseBytes(u64),
}

impl CallBudget {
    /// A budget of `requests` requests and `response_bytes` bytes until `deadline`.
    pub fn new(deadline: Instant, requests: u64, response_bytes: u64) -> Self {
        Self {
            deadline,
            request_cap: requests,
            requests_left: AtomicU64::new(requests),
            byte_cap: response_bytes,
            bytes_left: AtomicU64::new(response_bytes),
            hit: std::sync::Mutex::new(None),
        }
    }

    /// A budget with no request or byte limit and a deadline far away (for callers outside an
    /// export call, such as tests of the gate and `plugin check`'s probes).
    pub fn unlimited() -> Self {
        Self::new(
            Instant::now() + Duration::from_secs(365 * 24 * 3600),
            u64::MAX,
            u64::MAX,
        )
    }

    /// The call's deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The first limit the call ran into, if any.
    pub fn hit(&self) -> Option<BudgetHit> {
        *self.hit.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Requests the call has left.
    pub fn requests_left(&self) -> u64 {
        self.requests_left.load(Ordering::Relaxed)
    }

    /// Records the limit hit (the first one wins).
    pub fn mark(&self, hit: BudgetHit) {
        let mut slot = self.hit.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(hit);
    }

    /// Whether the deadline has passed (and records it).
    pub fn expired(&self) -> bool {
        if Instant::now() >= self.deadline {
            self.mark(BudgetHit::Deadline);
            true
        } else {
            false
        }
    }

    fn take_request(&self) -> Result<(), HttpError> {
        let taken = self
            .requests_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            });
        match taken {
            Ok(_) => Ok(()),
            Err(_) => {
                self.mark(BudgetHit::Requests(self.request_cap));
                Err(HttpError::Denied(format!(
                    "this call used up its budget of {} requests",
                    self.request_cap
                )))
            }
        }
    }

    fn take_bytes(&self, bytes: u64) -> Result<(), HttpError> {
        let taken = self
            .bytes_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(bytes)
            });
        match taken {
            Ok(_) => Ok(()),
            Err(_) => {
                self.mark(BudgetHit::ResponseBytes(self.byte_cap));
                Err(HttpError::BodyTooLarge(self.byte_cap))
            }
        }
    }

    fn give_back_bytes(&self, bytes: u64) {
        self.bytes_left.fetch_add(bytes, Ordering::Relaxed);
    }

    fn bytes_left(&self) -> u64 {
        self.bytes_left.load(Ordering::Relaxed)
    }
}

/// One attempt as an [`ExchangeHook`] sees it: never the credential or the headers the
/// engine adds.
#[derive(Debug, Clone, Copy)]
pub struct ExchangeRequest<'a> {
    /// The method.
    pub method: Method,
    /// The URL relative to the connection URL (`/path?query`), or the whole URL when it
    /// lies outside it (a routed prefix, an absolute URL the spoke chose).
    pub url: &'a str,
    /// The request body.
    pub body: Option<&'a [u8]>,
}

/// A seam where one attempt of a session goes on the wire (see the module docs). Calls are
/// synchronous and quick: the hook keeps its exchanges in memory.
pub trait ExchangeHook: Send + Sync {
    /// Answers the attempt without sending it (`Some`, replay: a recorded answer, or an error
    /// for a request the recording lacks), or lets it go on the wire (`None`).
    fn answer(&self, request: &ExchangeRequest<'_>) -> Option<Result<Response, HttpError>>;
    /// Sees the real answer to an attempt that was sent (record). `secret` is the credential
    /// the attempt carried, so the hook can keep it out of whatever it writes.
    fn observe(&self, request: &ExchangeRequest<'_>, response: &Response, secret: &str);
}

/// One spoke's access to one connection.
pub struct GateSession {
    gate: Arc<HttpGate>,
    spoke_id: String,
    base: Option<Url>,
    allowed: AllowedHosts,
    credentials: Arc<dyn CredentialProvider>,
    stats: RequestStats,
    /// When the vendor said to come back: every request of the session waits for it, so
    /// concurrent requests do not all hit a burst limit again at once.
    paused_until: std::sync::Mutex<Option<Instant>>,
    /// The operator's per-profile limits for the calls of this session.
    overrides: super::LimitOverrides,
    /// The earliest instant the next request on the connection's own lane may leave, when
    /// the operator set a `rate` ([`super::LimitOverrides::requests_per_second`]).
    next_slot: std::sync::Mutex<Option<Instant>>,
    /// The longest any attempt of this session took to answer (or to time out), in
    /// nanoseconds: the next attempts wait twice as long before giving up.
    slowest_answer: AtomicU64,
    /// Second credentials, each for the requests under one URL prefix (issue 19).
    routes: Vec<CredentialRoute>,
    /// Answers on the connection's own lane that said its limit is reached or near
    /// ([`limit_signal`]): what adaptive paging concurrency backs off on.
    limit_signals: AtomicU64,
    /// The recorded-exchange hook, when the conformance kit records or replays.
    exchanges: std::sync::OnceLock<Arc<dyn ExchangeHook>>,
}

/// A second credential of a session and the requests it authenticates: those whose URL, as
/// the spoke writes it, starts with `declared` (the manifest's `url-prefix`). They are sent
/// under `target` (the same prefix, rebased onto a simulator when the connection is), with
/// `credential` and never the connection's own; a request the spoke addresses to `target`
/// directly is routed the same way. With no credential (the admin supplied none) such a
/// request is refused before it leaves. A route has its own pause, so a limit the
/// organization API reports does not hold up the connection's other requests, and the
/// reverse.
pub struct CredentialRoute {
    /// The manifest's name for the credential.
    pub name: String,
    /// The prefix as the spoke writes it.
    pub declared: String,
    /// Where such requests go.
    pub target: String,
    /// The credential, when the admin supplied one.
    pub credential: Option<Arc<dyn CredentialProvider>>,
    paused_until: std::sync::Mutex<Option<Instant>>,
}

impl CredentialRoute {
    /// A route for `declared` sent to `target` (both absolute URL prefixes).
    pub fn new(
        name: impl Into<String>,
        declared: impl Into<String>,
        target: impl Into<String>,
        credential: Option<Arc<dyn CredentialProvider>>,
    ) -> Self {
        Self {
            name: name.into(),
            declared: declared.into(),
            target: target.into(),
            credential,
            paused_until: std::sync::Mutex::new(None),
        }
    }
}

impl std::fmt::Debug for CredentialRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialRoute")
            .field("name", &self.name)
            .field("declared", &self.declared)
            .field("target", &self.target)
            .field("credential", &self.credential.is_some())
            .finish()
    }
}

/// Which credential and pause a request uses: the connection's own, or a route's.
#[derive(Clone, Copy)]
enum Lane<'a> {
    Main,
    Route(&'a CredentialRoute),
}

impl std::fmt::Debug for GateSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateSession")
            .field("spoke_id", &self.spoke_id)
            .field("base", &self.base.as_ref().map(Url::as_str))
            .field("allowed", &self.allowed)
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

/// The connection URL given to a session is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Not a URL.
    #[error("connection URL `{url}` is not a valid URL: {reason}")]
    BadUrl {
        url: String,
        reason: url::ParseError,
    },
    /// The URL's host is not allowed.
    #[error("connection URL `{url}`: {reason}")]
    Refused {
        url: String,
        reason: super::allowed_hosts::HostRefused,
    },
}

impl GateSession {
    /// A session sending to `connection_url` (requests' paths are joined to it), allowed to
    /// reach `allowed` hosts, authenticating with `credentials`.
    pub fn new(
        gate: Arc<HttpGate>,
        spoke_id: impl Into<String>,
        connection_url: &str,
        allowed: AllowedHosts,
        credentials: Arc<dyn CredentialProvider>,
    ) -> Result<Self, SessionError> {
        let base = Url::parse(connection_url).map_err(|reason| SessionError::BadUrl {
            url: connection_url.to_string(),
            reason,
        })?;
        allowed
            .check(&base)
            .map_err(|reason| SessionError::Refused {
                url: connection_url.to_string(),
                reason,
            })?;
        Ok(Self {
            gate,
            spoke_id: spoke_id.into(),
            base: Some(base),
            allowed,
            credentials,
            stats: RequestStats::default(),
            paused_until: std::sync::Mutex::new(None),
            overrides: super::LimitOverrides::default(),
            next_slot: std::sync::Mutex::new(None),
            slowest_answer: AtomicU64::new(0),
            routes: Vec::new(),
            limit_signals: AtomicU64::new(0),
            exchanges: std::sync::OnceLock::new(),
        })
    }

    /// A session that refuses every request (for calls that must not touch the network).
    pub fn closed(gate: Arc<HttpGate>, spoke_id: impl Into<String>) -> Self {
        Self {
            gate,
            spoke_id: spoke_id.into(),
            base: None,
            allowed: AllowedHosts::default(),
            credentials: Arc::new(super::credentials::NoCredential),
            stats: RequestStats::default(),
            paused_until: std::sync::Mutex::new(None),
            overrides: super::LimitOverrides::default(),
            next_slot: std::sync::Mutex::new(None),
            slowest_answer: AtomicU64::new(0),
            routes: Vec::new(),
            limit_signals: AtomicU64::new(0),
            exchanges: std::sync::OnceLock::new(),
        }
    }

    /// The session with second credentials, each for the requests under its prefix.
    pub fn with_routes(mut self, routes: Vec<CredentialRoute>) -> Self {
        self.routes = routes;
        self
    }

    /// The second credentials' routes of this session.
    pub fn routes(&self) -> &[CredentialRoute] {
        &self.routes
    }

    /// A spoke's request with a routed prefix rewritten to its target, and the lane it uses.
    fn route<'s>(&'s self, request: &Request) -> (Option<String>, Lane<'s>) {
        let path = request.path.trim();
        for route in &self.routes {
            if let Some(rest) = path.strip_prefix(route.declared.as_str()) {
                return (Some(format!("{}{rest}", route.target)), Lane::Route(route));
            }
        }
        (None, Lane::Main)
    }

    /// The route whose target `url` lies under, if any (so a spoke cannot reach a routed
    /// prefix with the connection's own credential by writing the target URL itself).
    fn route_of_url(&self, url: &Url) -> Option<&CredentialRoute> {
        self.routes
            .iter()
            .find(|r| url.as_str().starts_with(r.target.as_str()))
    }

    /// Puts `hook` where this session's attempts go on the wire (record or replay). Set once,
    /// before the first request; `false` when a hook was already set (it stays).
    pub fn set_exchange_hook(&self, hook: Arc<dyn ExchangeHook>) -> bool {
        self.exchanges.set(hook).is_ok()
    }

    /// `url` as an [`ExchangeRequest`] names it: relative to the connection URL when it lies
    /// under it, else whole.
    fn exchange_url(&self, url: &Url) -> String {
        if let Some(base) = &self.base {
            let root = base.as_str().trim_end_matches('/');
            if let Some(rest) = url.as_str().strip_prefix(root)
                && (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
            {
                return if rest.starts_with('/') {
                    rest.to_string()
                } else {
                    format!("/{rest}")
                };
            }
        }
        url.to_string()
    }

    /// The session with the operator's per-profile limits for its calls.
    pub fn with_limits(mut self, overrides: super::LimitOverrides) -> Self {
        self.overrides = overrides;
        self
    }

    /// The operator's per-profile limits of this session.
    pub fn limit_overrides(&self) -> &super::LimitOverrides {
        &self.overrides
    }

    /// The longest an attempt of this session has taken to answer (or to time out).
    pub fn slowest_answer(&self) -> Duration {
        Duration::from_nanos(self.slowest_answer.load(Ordering::Relaxed))
    }

    /// How long the next attempt may take before it is given up: the policy's per-request
    /// timeout, or twice the slowest answer seen on this session when that is longer, so a
    /// vendor that slows down is waited for instead of sent the same request again while it
    /// still serves the first.
    pub fn attempt_timeout(&self) -> Duration {
        self.gate
            .policy
            .request_timeout
            .max(self.slowest_answer().saturating_mul(2))
    }

    fn observe_answer(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.slowest_answer.fetch_max(nanos, Ordering::Relaxed);
    }

    /// Answers on the connection's own lane so far that said the vendor's limit is reached
    /// or near ([`limit_signal`]); monotonic.
    pub fn limit_signals(&self) -> u64 {
        self.limit_signals.load(Ordering::Relaxed)
    }

    /// Counts so far.
    pub fn counts(&self) -> RequestCounts {
        self.stats.snapshot()
    }

    /// The policy in force.
    pub fn policy(&self) -> &GatePolicy {
        &self.gate.policy
    }

    /// Resolves a spoke's path against the connection URL and checks it against the
    /// allow-list. A relative path must stay under the connection URL's path: dot segments
    /// are refused whether written plainly, percent-encoded (`%2e%2e`) or with backslashes,
    /// and the joined URL is checked again after parsing. URLs carrying a user name or
    /// password are refused. Exposed for tests and for `plugin check`.
    pub fn resolve(&self, request: &Request) -> Result<Url, String> {
        let Some(base) = &self.base else {
            return Err("this call may not make HTTP requests".to_string());
        };
        let shown = super::untrusted::inert_bounded(request.path.trim(), 200);
        let path = request.path.trim();
        let mut url = if path.starts_with("https://") || path.starts_with("http://") {
            Url::parse(path).map_err(|e| format!("malformed URL `{shown}`: {e}"))?
        } else {
            let path_only = path.split(['?', '#']).next().unwrap_or_default();
            let decoded = percent_encoding::percent_decode_str(path_only).decode_utf8_lossy();
            if decoded
                .split(['/', '\\'])
                .any(|segment| segment == ".." || segment == ".")
                || decoded.contains('\\')
                || decoded.to_ascii_lowercase().contains("%2e")
                || decoded.to_ascii_lowercase().contains("%5c")
            {
                return Err(format!(
                    "path `{shown}` may not contain `.` or `..` segments or backslashes"
                ));
            }
            let joined = format!(
                "{}/{}",
                base.as_str().trim_end_matches('/'),
                path.trim_start_matches('/')
            );
            let url = Url::parse(&joined).map_err(|e| format!("malformed path `{shown}`: {e}"))?;
            let base_path = base.path().trim_end_matches('/');
            let inside = url.path() == base_path
                || url
                    .path()
                    .strip_prefix(base_path)
                    .is_some_and(|rest| rest.starts_with('/'));
            if url.origin() != base.origin() || !inside {
                return Err(format!(
                    "path `{shown}` leaves the connection URL's path `{base_path}`"
                ));
            }
            url
        };
        if !request.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &request.query {
                pairs.append_pair(name, value);
            }
        }
        url.set_fragment(None);
        self.allowed
            .check_request(&url, base)
            .map_err(|e| e.to_string())?;
        Ok(url)
    }

    /// Sends one request with the gate's rules and no call budget; see the module docs.
    pub async fn send(&self, request: Request) -> Result<Response, HttpError> {
        self.send_within(request, &CallBudget::unlimited()).await
    }

    /// Sends one request with the gate's rules, drawing on `budget`: every attempt takes one
    /// request, every body chunk its bytes, and no attempt or wait runs past the deadline.
    pub async fn send_within(
        &self,
        request: Request,
        budget: &CallBudget,
    ) -> Result<Response, HttpError> {
        let (rewritten, mut lane) = self.route(&request);
        let url = match &rewritten {
            Some(path) => {
                let routed = Request {
                    path: path.clone(),
                    ..request.clone()
                };
                self.resolve(&routed)
            }
            None => self.resolve(&request),
        };
        let url = match url {
            Ok(url) => url,
            Err(reason) => return Err(self.refuse(reason)),
        };
        if let (Lane::Main, Some(route)) = (lane, self.route_of_url(&url)) {
            lane = Lane::Route(route);
        }
        let credentials: Arc<dyn CredentialProvider> = match lane {
            Lane::Main => self.credentials.clone(),
            Lane::Route(route) => match &route.credential {
                Some(c) => c.clone(),
                None => {
                    // Not a sandbox refusal: an optional second credential the admin did not
                    // supply, which is how a spoke learns that the source is not configured.
                    let reason = format!(
                        "no `{}` is configured for this profile, so requests under {} are not sent",
                        route.name, route.declared
                    );
                    tracing::debug!(spoke = %self.spoke_id, %reason, "optional source not configured");
                    return Err(HttpError::Denied(reason));
                }
            },
        };
        let pause = match lane {
            Lane::Main => &self.paused_until,
            Lane::Route(route) => &route.paused_until,
        };
        let headers = match self.allowed_headers(&request.headers) {
            Ok(headers) => headers,
            Err(reason) => return Err(self.refuse(reason)),
        };
        let policy = &self.gate.policy;
        let idempotent = request.method.is_idempotent();
        let mut token_refreshed = false;
        let mut attempt: u32 = 0;
        let mut rate_limited: u32 = 0;
        loop {
            if budget.expired() || !wait_for_pause(pause, budget.deadline).await {
                budget.mark(BudgetHit::Deadline);
                return Err(HttpError::Timeout);
            }
            if let (Lane::Main, Some(rate)) = (lane, self.overrides.requests_per_second)
                && !self.wait_for_slot(rate, budget.deadline).await
            {
                budget.mark(BudgetHit::Deadline);
                return Err(HttpError::Timeout);
            }
            let token =
                match tokio::time::timeout_at(budget.deadline.into(), credentials.bearer_token())
                    .await
                {
                    Err(_) => {
                        budget.mark(BudgetHit::Deadline);
                        return Err(HttpError::Timeout);
                    }
                    Ok(token) => token.map_err(|e| {
                        HttpError::Denied(format!("no credential for this connection: {e}"))
                    })?,
                };
            budget.take_request()?;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            if !matches!(request.method, Method::Get | Method::Head) {
                self.stats.writes.fetch_add(1, Ordering::Relaxed);
            }
            // One attempt (connect, send, read) ends at its timeout (adapted to the answer
            // times seen) or at the call's deadline, whichever comes first; dropping it
            // cancels the request.
            let attempt_timeout = self.attempt_timeout();
            let attempt_started = Instant::now();
            let attempt_ends = (attempt_started + attempt_timeout).min(budget.deadline);
            let outcome = match tokio::time::timeout_at(
                attempt_ends.into(),
                self.send_once(
                    &url,
                    request.method,
                    &headers,
                    &request.body,
                    token.expose(),
                    budget,
                ),
            )
            .await
            {
                Ok(outcome) => outcome,
                Err(_) => {
                    budget.expired();
                    Err(HttpError::Timeout)
                }
            };
            if matches!(&outcome, Ok(_) | Err(HttpError::Timeout)) {
                self.observe_answer(attempt_started.elapsed());
            }
            if matches!(&outcome, Err(HttpError::BodyTooLarge(_))) && budget.hit().is_some() {
                return outcome;
            }
            // Pace by the vendor's own accounting: an answer saying the budget is spent
            // (`X-RateLimit-Remaining: 0`) holds this lane's next requests until
            // `X-RateLimit-Reset`, so they are not sent only to be refused.
            if let Ok(response) = &outcome
                && let Some(wait) = spent_until_reset(&response.headers, policy.max_retry_after)
            {
                pause_for(pause, wait);
            }
            if let (Ok(response), Lane::Main) = (&outcome, lane)
                && limit_signal(response.status, &response.headers)
            {
                self.limit_signals.fetch_add(1, Ordering::Relaxed);
            }
            let wait = match &outcome {
                Ok(response) if response.status == 401 && !token_refreshed => {
                    token_refreshed = true;
                    match credentials.token_rejected(&token).await {
                        Ok(true) => Some(Duration::ZERO),
                        Ok(false) => None,
                        Err(e) => {
                            tracing::warn!(spoke = %self.spoke_id, error = %e, "token refresh failed");
                            None
                        }
                    }
                }
                Ok(response)
                    if (response.status == 429 || response.status == 503)
                        && retry_after(&response.headers).is_some() =>
                {
                    let wait = retry_after(&response.headers).unwrap_or_default();
                    let retryable = response.status == 429 || idempotent;
                    rate_limited += 1;
                    if !retryable
                        || rate_limited > policy.max_rate_limit_retries
                        || wait > policy.max_retry_after
                    {
                        None
                    } else {
                        // Jitter spreads the requests that were paused together.
                        let wait = wait + jitter(wait / 4 + Duration::from_millis(50));
                        pause_for(pause, wait);
                        Some(Duration::ZERO)
                    }
                }
                Ok(response) if response.status == 429 => {
                    rate_limited += 1;
                    (rate_limited <= policy.max_rate_limit_retries)
                        .then(|| self.backoff(rate_limited))
                }
                Ok(response) if response.status >= 500 && idempotent => {
                    attempt += 1;
                    (attempt < policy.max_attempts).then(|| self.backoff(attempt))
                }
                Err(HttpError::Timeout | HttpError::Connection(_)) if idempotent => {
                    attempt += 1;
                    (attempt < policy.max_attempts).then(|| self.backoff(attempt))
                }
                _ => None,
            };
            // A timed-out attempt is sent again only when an answer as slow as the slowest
            // seen can still arrive before the deadline: a copy that cannot finish only adds
            // load on a vendor that is already slow.
            let needs = if matches!(&outcome, Err(HttpError::Timeout)) {
                self.slowest_answer()
            } else {
                Duration::ZERO
            };
            match wait {
                None => return outcome,
                // A wait that would end past the call's deadline is not started: the spoke
                // gets the last answer while it still has time to use it.
                Some(wait) if Instant::now() + wait + needs >= budget.deadline => return outcome,
                Some(wait) => {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(
                        spoke = %self.spoke_id,
                        url = %redact_query(&url),
                        attempt,
                        rate_limited,
                        wait_ms = wait.as_millis() as u64,
                        status = outcome.as_ref().map(|r| r.status).ok(),
                        "retrying request"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Sends independent requests concurrently (at most `max_concurrency` at once), answers
    /// in request order, with no call budget.
    pub async fn send_all(&self, requests: Vec<Request>) -> Vec<Result<Response, HttpError>> {
        self.send_all_within(requests, &CallBudget::unlimited())
            .await
    }

    /// [`Self::send_all`] drawing on `budget` (shared by the concurrent requests).
    pub async fn send_all_within(
        &self,
        requests: Vec<Request>,
        budget: &CallBudget,
    ) -> Vec<Result<Response, HttpError>> {
        let limit = self.gate.policy.max_concurrency.max(1);
        futures::stream::iter(requests)
            .map(|request| self.send_within(request, budget))
            .buffered(limit)
            .collect()
            .await
    }

    fn refuse(&self, reason: String) -> HttpError {
        self.stats.refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            spoke = %self.spoke_id,
            reason = %super::untrusted::inert(&reason),
            "request refused"
        );
        HttpError::Denied(reason)
    }

    /// The spoke's headers less those the engine owns; a name or value HTTP does not allow
    /// refuses the request (it would fail the same way on every retry).
    fn allowed_headers(
        &self,
        headers: &[(String, String)],
    ) -> Result<Vec<(String, String)>, String> {
        for (name, value) in headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(format!(
                    "header name `{name}` is not a valid HTTP header name"
                ));
            }
            if reqwest::header::HeaderValue::from_str(value).is_err() {
                return Err(format!(
                    "the value of header `{name}` is not a valid HTTP header value"
                ));
            }
        }
        Ok(headers
            .iter()
            .filter(|(name, _)| {
                let forbidden = FORBIDDEN_HEADERS
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(name.trim()));
                if forbidden {
                    tracing::warn!(
                        spoke = %self.spoke_id,
                        header = %name,
                        "spoke tried to set a header the engine owns; dropped"
                    );
                }
                !forbidden
            })
            .cloned()
            .collect())
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let policy = &self.gate.policy;
        let exp = attempt.saturating_sub(1).min(20);
        let ceiling = policy
            .initial_backoff
            .saturating_mul(1u32 << exp)
            .min(policy.max_backoff);
        // "Equal jitter": half fixed, half random, so waits stay spread but never collapse.
        ceiling / 2 + jitter(ceiling / 2)
    }

    async fn send_once(
        &self,
        url: &Url,
        method: Method,
        headers: &[(String, String)],
        body: &Option<Vec<u8>>,
        token: &str,
        budget: &CallBudget,
    ) -> Result<Response, HttpError> {
        let policy = &self.gate.policy;
        let hook = self.exchanges.get();
        let exchange_url = hook.map(|_| self.exchange_url(url)).unwrap_or_default();
        let exchange = ExchangeRequest {
            method,
            url: &exchange_url,
            body: body.as_deref(),
        };
        if let Some(answer) = hook.and_then(|h| h.answer(&exchange)) {
            // A replayed answer draws on the same caps as one read from the wire.
            let response = answer?;
            let len = response.body.len() as u64;
            if len > policy.max_body_bytes {
                return Err(HttpError::BodyTooLarge(policy.max_body_bytes));
            }
            budget.take_bytes(len)?;
            return Ok(response);
        }
        let method = reqwest::Method::from_bytes(method.as_str().as_bytes())
            .map_err(|e| HttpError::Denied(e.to_string()))?;
        let mut builder = self
            .gate
            .client
            .request(method, url.clone())
            .timeout(self.attempt_timeout());
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if !token.is_empty() {
            builder = builder.bearer_auth(token);
        }
        if let Some(body) = body {
            builder = builder.body(body.clone());
        }
        let mut response = builder.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        if let Some(len) = response.content_length() {
            if len > policy.max_body_bytes {
                return Err(HttpError::BodyTooLarge(policy.max_body_bytes));
            }
            if len > budget.bytes_left() {
                return Err(budget
                    .take_bytes(len)
                    .err()
                    .unwrap_or(HttpError::BodyTooLarge(len)));
            }
        }
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        // The body streams in against the per-request cap and the call's byte budget: each
        // chunk's bytes are reserved before the chunk is kept. A body refused half-way gives
        // its bytes back (they are dropped with it).
        let mut body = Vec::new();
        let give_back = |kept: usize| budget.give_back_bytes(kept as u64);
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    give_back(body.len());
                    return Err(classify(e));
                }
            };
            if body.len() as u64 + chunk.len() as u64 > policy.max_body_bytes {
                give_back(body.len());
                return Err(HttpError::BodyTooLarge(policy.max_body_bytes));
            }
            if let Err(e) = budget.take_bytes(chunk.len() as u64) {
                give_back(body.len());
                return Err(e);
            }
            body.extend_from_slice(&chunk);
        }
        let response = Response {
            status,
            headers,
            body,
        };
        if let Some(hook) = hook {
            hook.observe(&exchange, &response, token);
        }
        Ok(response)
    }

    /// Takes the next of `rate` request slots a second and waits for it; `false` (taking
    /// none) when the next slot comes after `deadline`. Slots are spaced evenly, so
    /// no second ever sees more than `rate` requests leave, however many calls run at once.
    async fn wait_for_slot(&self, rate: u64, deadline: Instant) -> bool {
        let spacing = Duration::from_secs(1) / u32::try_from(rate.max(1)).unwrap_or(u32::MAX);
        let slot = {
            let mut next = self.next_slot.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            if slot >= deadline {
                return false;
            }
            *next = Some(slot + spacing);
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
        true
    }
}

fn pause_for(pause: &std::sync::Mutex<Option<Instant>>, wait: Duration) {
    let until = Instant::now() + wait;
    let mut paused = pause.lock().unwrap_or_else(|e| e.into_inner());
    if paused.is_none_or(|current| current < until) {
        *paused = Some(until);
    }
}

/// Waits out a pause; `false` (without waiting) when it ends after `deadline`.
async fn wait_for_pause(pause: &std::sync::Mutex<Option<Instant>>, deadline: Instant) -> bool {
    let until = *pause.lock().unwrap_or_else(|e| e.into_inner());
    match until {
        Some(until) if until >= deadline => false,
        Some(until) => {
            tokio::time::sleep_until(until.into()).await;
            true
        }
        None => true,
    }
}

/// How long to hold a lane after an answer that says its budget is spent
/// (`X-RateLimit-Remaining: 0`, or `X-Beta-RateLimit-Remaining: 0`) until its
/// `X-RateLimit-Reset` (epoch seconds, or an ISO 8601 time such as Atlassian's
/// `yyyy-MM-ddTHH:mmZ`). `None` when the budget is not spent, the reset is unreadable or past,
/// or it is further than `max` away (a quota that long is the caller's to wait out).
pub fn spent_until_reset(headers: &[(String, String)], max: Duration) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    let remaining =
        header("x-ratelimit-remaining").or_else(|| header("x-beta-ratelimit-remaining"))?;
    if remaining.parse::<f64>().ok()? > 0.0 {
        return None;
    }
    let reset = header("x-ratelimit-reset").or_else(|| header("x-beta-ratelimit-reset"))?;
    let reset_at = parse_reset(reset)?;
    let wait = reset_at.duration_since(SystemTime::now()).ok()?;
    (wait <= max).then_some(wait)
}

/// Whether an answer says the vendor's limit is reached or near: a 429; a `Retry-After`; a
/// `RateLimit-Reason` (Atlassian's reason for a refusal); `X-RateLimit-NearLimit: true`
/// (Atlassian's warning); or an `X-RateLimit-Remaining` (or GitHub's beta form) of 0 or under a
/// tenth of its `X-RateLimit-Limit`. Adaptive paging backs off on it.
pub fn limit_signal(status: u16, headers: &[(String, String)]) -> bool {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    if status == 429
        || header("retry-after").is_some()
        || header("ratelimit-reason").is_some()
        || header("x-ratelimit-nearlimit").is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return true;
    }
    let number = |name: &str| header(name).and_then(|v| v.parse::<f64>().ok());
    let remaining =
        number("x-ratelimit-remaining").or_else(|| number("x-beta-ratelimit-remaining"));
    let limit = number("x-ratelimit-limit").or_else(|| number("x-beta-ratelimit-limit"));
    match (remaining, limit) {
        (Some(remaining), Some(limit)) => remaining <= 0.0 || remaining * 10.0 < limit,
        (Some(remaining), None) => remaining <= 0.0,
        _ => false,
    }
}

/// Reads a rate-limit reset time: epoch seconds, RFC 3339, or `yyyy-MM-ddTHH:mm[Z]`.
fn parse_reset(value: &str) -> Option<SystemTime> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(value.trim_end_matches('Z'), "%Y-%m-%dT%H:%M")
                .ok()
                .map(|t| t.and_utc())
        })?;
    let secs = u64::try_from(at.timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

fn classify(error: reqwest::Error) -> HttpError {
    if error.is_timeout() {
        HttpError::Timeout
    } else {
        // Never echo the URL: its query may carry ids the logs should not.
        HttpError::Connection(error.without_url().to_string())
    }
}

fn jitter(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let nanos = rand::rng().random_range(0..=max.as_nanos().min(u64::MAX as u128) as u64);
    Duration::from_nanos(nanos)
}

/// Parses `Retry-After` (seconds or an HTTP date); `None` when absent or unreadable.
pub fn retry_after(headers: &[(String, String)]) -> Option<Duration> {
    let value = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
        .map(|(_, value)| value.trim())?;
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn redact_query(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::credentials::StaticToken;

    fn session(base: &str, allowed: &[&str]) -> GateSession {
        let gate = Arc::new(HttpGate::new(GatePolicy::default()).unwrap());
        GateSession::new(
            gate,
            "test",
            base,
            AllowedHosts::new(allowed),
            Arc::new(StaticToken::new("t")),
        )
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rate_spaces_the_sessions_requests_evenly() {
        // 50 a second: a slot every 20 ms, whichever of six concurrent callers takes it.
        let paced = Arc::new(session("http://127.0.0.1:1", &["127.0.0.1"]).with_limits(
            super::super::LimitOverrides {
                requests_per_second: Some(50),
                ..Default::default()
            },
        ));
        let start = Instant::now();
        let far = start + Duration::from_secs(60);
        let waits: Vec<_> = (0..6)
            .map(|_| {
                let s = paced.clone();
                tokio::spawn(async move { s.wait_for_slot(50, far).await.then(Instant::now) })
            })
            .collect();
        let mut woke = Vec::new();
        for w in waits {
            woke.push(w.await.unwrap().expect("a slot before the deadline"));
        }
        woke.sort();
        for (k, at) in woke.iter().enumerate() {
            // A sleep never ends early: the k-th request leaves k slots after the first.
            assert!(
                *at >= start + Duration::from_millis(20) * k as u32,
                "request {k} left {:?} after the start",
                at.duration_since(start)
            );
        }
        // A slot past the call's deadline is not taken: the call gives up at once.
        let soon = Instant::now() + Duration::from_millis(1);
        assert!(!paced.wait_for_slot(50, soon).await);
    }

    fn get(path: &str) -> Request {
        Request {
            method: Method::Get,
            path: path.to_string(),
            query: vec![],
            headers: vec![],
            body: None,
        }
    }

    #[test]
    fn joins_paths_under_the_connection_url() {
        let s = session(
            "https://api.atlassian.com/ex/confluence/abc",
            &["api.atlassian.com"],
        );
        let mut request = get("/wiki/rest/api/group?start=0");
        request.query = vec![("limit".into(), "200".into())];
        assert_eq!(
            s.resolve(&request).unwrap().as_str(),
            "https://api.atlassian.com/ex/confluence/abc/wiki/rest/api/group?start=0&limit=200"
        );
        assert_eq!(
            s.resolve(&get("wiki/rest/api/user")).unwrap().as_str(),
            "https://api.atlassian.com/ex/confluence/abc/wiki/rest/api/user"
        );
    }

    #[test]
    fn refuses_escapes_and_foreign_hosts() {
        let s = session(
            "https://api.atlassian.com/ex/confluence/abc",
            &["api.atlassian.com"],
        );
        assert!(s.resolve(&get("/../../oauth/token")).is_err());
        assert!(s.resolve(&get("https://evil.example/steal")).is_err());
        assert!(s.resolve(&get("https://api.atlassian.com/other")).is_ok());
        let closed =
            GateSession::closed(Arc::new(HttpGate::new(GatePolicy::default()).unwrap()), "t");
        assert!(closed.resolve(&get("/x")).is_err());
    }

    #[test]
    fn encoded_dot_segments_and_backslashes_cannot_leave_the_base_path() {
        let s = session(
            "https://api.atlassian.com/ex/confluence/abc",
            &["api.atlassian.com"],
        );
        for escape in [
            "/%2e%2e/%2e%2e/oauth/token",
            "/.%2E/x",
            "/%2E%2e/x",
            "/..\\..\\oauth",
            "/x/..\\..\\..\\oauth",
            "/%252e%252e/x",
            "/a/%2e%2e%2f%2e%2e%2f",
            "/a%5c..%5c..%5coauth",
        ] {
            let refused = s.resolve(&get(escape));
            assert!(refused.is_err(), "`{escape}` resolved to {refused:?}");
        }
        assert!(s.resolve(&get("/wiki/a.b/..c/x%20y")).is_ok());
    }

    #[test]
    fn userinfo_is_refused() {
        let s = session("http://127.0.0.1:9/api", &["127.0.0.1"]);
        assert!(
            s.resolve(&get("http://user:pass@127.0.0.1:9/api/x"))
                .is_err()
        );
        assert!(s.resolve(&get("http://user@127.0.0.1:9/api/x")).is_err());
        assert!(s.resolve(&get("/x")).is_ok());
    }

    #[test]
    fn connection_url_must_be_allowed() {
        let gate = Arc::new(HttpGate::new(GatePolicy::default()).unwrap());
        let err = GateSession::new(
            gate,
            "t",
            "https://evil.example/",
            AllowedHosts::new(["api.atlassian.com"]),
            Arc::new(StaticToken::new("t")),
        )
        .unwrap_err();
        assert!(err.to_string().contains("evil.example"), "{err}");
    }

    #[test]
    fn a_spent_budget_pauses_until_its_reset() {
        let max = Duration::from_secs(120);
        let at = |secs: u64| {
            let t = SystemTime::now() + Duration::from_secs(secs);
            t.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                .to_string()
        };
        let h = |remaining: &str, reset: String| {
            vec![
                ("x-ratelimit-remaining".to_string(), remaining.to_string()),
                ("x-ratelimit-reset".to_string(), reset),
            ]
        };
        let wait = spent_until_reset(&h("0", at(30)), max).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(spent_until_reset(&h("3", at(30)), max), None, "budget left");
        assert_eq!(
            spent_until_reset(&h("0", at(600)), max),
            None,
            "too far off"
        );
        assert_eq!(spent_until_reset(&h("0", "1000".into()), max), None, "past");
        // Atlassian's form, a minute ahead.
        let next = chrono::Utc::now() + chrono::Duration::seconds(90);
        let iso = next.format("%Y-%m-%dT%H:%MZ").to_string();
        let wait = spent_until_reset(&h("0", iso), max).unwrap();
        assert!(wait <= Duration::from_secs(90), "{wait:?}");
    }

    #[test]
    fn parses_retry_after_forms() {
        let h = |v: &str| vec![("Retry-After".to_string(), v.to_string())];
        assert_eq!(retry_after(&h("2")), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(&h("garbage")), None);
        assert_eq!(retry_after(&[]), None);
        let past = httpdate::fmt_http_date(SystemTime::UNIX_EPOCH);
        assert_eq!(retry_after(&h(&past)), Some(Duration::ZERO));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let s = session("https://api.atlassian.com/", &["api.atlassian.com"]);
        for attempt in 1..30 {
            let wait = s.backoff(attempt);
            let ceiling = (s.policy().initial_backoff * (1u32 << (attempt - 1).min(20)))
                .min(s.policy().max_backoff);
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "{attempt}: {wait:?}"
            );
        }
    }

    #[test]
    fn limit_signals_are_429_retry_after_reasons_and_a_low_remaining_budget() {
        let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(limit_signal(429, &[]));
        assert!(limit_signal(200, &h(&[("Retry-After", "1")])));
        assert!(limit_signal(
            200,
            &h(&[("RateLimit-Reason", "confluence-burst-based")])
        ));
        assert!(limit_signal(200, &h(&[("X-RateLimit-NearLimit", "true")])));
        assert!(!limit_signal(
            200,
            &h(&[("X-RateLimit-NearLimit", "false")])
        ));
        let budget = |remaining: &str| {
            h(&[
                ("x-ratelimit-limit", "5000"),
                ("x-ratelimit-remaining", remaining),
            ])
        };
        assert!(!limit_signal(200, &budget("4999")));
        assert!(!limit_signal(200, &budget("500")));
        assert!(limit_signal(200, &budget("499")));
        assert!(limit_signal(200, &h(&[("x-ratelimit-remaining", "0")])));
        assert!(!limit_signal(200, &h(&[("x-ratelimit-remaining", "3")])));
        assert!(!limit_signal(503, &[]));
    }
}
