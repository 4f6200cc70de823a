//! Loopback peers for tests of the HTTP gate: [`ScriptedServer`] answers each path from a
//! queue of scripted responses (falling back to a default) and records every request it
//! receives with its arrival time and headers, so tests observe retries and headers at the
//! server rather than trusting the client; [`ConnectionCounter`] is a bare TCP listener that
//! counts connection attempts, to prove a refused request never left the engine.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::Response;

/// A response the server will give.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Scripted {
    /// A response with `status` and a text body.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![],
            body: body.into(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
}

#[derive(Default)]
struct ServerState {
    queues: Mutex<HashMap<String, VecDeque<Scripted>>>,
    seen: Mutex<Vec<Seen>>,
}

/// A scripted HTTP server on 127.0.0.1:0; stops when dropped.
pub struct ScriptedServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedServer {
    /// Starts the server. Unscripted requests get 200 with `g-1:Group One`.
    pub async fn start() -> std::io::Result<Self> {
        let state = Arc::new(ServerState::default());
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, state, task })
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues `response` for the next request to `path`.
    pub fn push(&self, path: &str, response: Scripted) {
        self.state
            .queues
            .lock()
            .expect("lock")
            .entry(path.to_string())
            .or_default()
            .push_back(response);
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().expect("lock").clone()
    }

    /// The requests so far to `path`.
    pub fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(state): State<Arc<ServerState>>, request: Request<Body>) -> Response {
    let path = request.uri().path().to_string();
    state.seen.lock().expect("lock").push(Seen {
        at: Instant::now(),
        method: request.method().to_string(),
        path: path.clone(),
        query: request.uri().query().map(str::to_string),
        headers: request.headers().clone(),
    });
    let scripted = state
        .queues
        .lock()
        .expect("lock")
        .get_mut(&path)
        .and_then(VecDeque::pop_front)
        .unwrap_or_else(|| Scripted::new(200, "g-1:Group One\n"));
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(scripted.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    for (name, value) in &scripted.headers {
        builder = builder.header(name, value);
    }
    builder
        .body(Body::from(scripted.body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// A TCP listener on 127.0.0.1:0 that counts accepted connections.
pub struct ConnectionCounter {
    addr: SocketAddr,
    count: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl ConnectionCounter {
    /// Starts listening.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let count = Arc::new(AtomicU64::new(0));
        let counted = count.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Ok(Self { addr, count, task })
    }

    /// The listener's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for ConnectionCounter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A vendor that hangs: accepts connections, reads what is sent, never answers. Counts the
/// connections accepted and those the client has closed, so a test sees that requests in
/// flight were cancelled rather than left to the per-request timeout.
pub struct HungServer {
    addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    closed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl HungServer {
    /// Starts listening on 127.0.0.1:0.
    pub async fn start() -> std::io::Result<Self> {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accepted = Arc::new(AtomicU64::new(0));
        let closed = Arc::new(AtomicU64::new(0));
        let (a, c) = (accepted.clone(), closed.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                let c = c.clone();
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    while matches!(stream.read(&mut buffer).await, Ok(n) if n > 0) {}
                    c.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Ok(Self {
            addr,
            accepted,
            closed,
            task,
        })
    }

    /// The listener's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Connections the client closed so far.
    pub fn closed(&self) -> u64 {
        self.closed.load(Ordering::SeqCst)
    }
}

impl Drop for HungServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A vendor whose every answer is a 200 with a body of `body_bytes` zero bytes, streamed in
/// 64 KiB chunks, after an optional delay. Counts requests and the bytes it produced.
pub struct BulkServer {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl BulkServer {
    /// Starts the server on 127.0.0.1:0.
    pub async fn start(body_bytes: usize, delay: std::time::Duration) -> std::io::Result<Self> {
        let requests = Arc::new(AtomicU64::new(0));
        let counted = requests.clone();
        let app = Router::new().fallback(move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                let chunk = bytes_chunk();
                let chunks = body_bytes.div_ceil(chunk.len());
                let last = body_bytes - chunk.len() * chunks.saturating_sub(1);
                let stream = futures::stream::iter((0..chunks).map(move |i| {
                    let len = if i + 1 == chunks { last } else { chunk.len() };
                    Ok::<_, std::io::Error>(chunk.slice(..len))
                }));
                Body::from_stream(stream)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            requests,
            task,
        })
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

fn bytes_chunk() -> axum::body::Bytes {
    axum::body::Bytes::from(vec![0u8; 64 * 1024])
}

impl Drop for BulkServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A forwarding proxy on 127.0.0.1:0 in front of a vendor (a simulator): every request goes
/// upstream as it came; a membership removal (`DELETE`) is counted once the vendor has
/// answered it, and the answer of the one chosen with [`HoldingProxy::hold_nth`] is then held
/// back (until the hold ends or the test kills the client). That is the window a crash test
/// needs: the vendor made the change, the client does not know it yet.
pub struct HoldingProxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    task: tokio::task::JoinHandle<()>,
}

struct ProxyState {
    upstream: String,
    client: reqwest::Client,
    hold_ms: AtomicU64,
    hold_at: AtomicU64,
    deletes_answered: AtomicU64,
}

impl HoldingProxy {
    /// Starts a proxy to `upstream` (scheme, host and port; paths are kept).
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            hold_ms: AtomicU64::new(0),
            hold_at: AtomicU64::new(0),
            deletes_answered: AtomicU64::new(0),
        });
        let app = Router::new().fallback(forward).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, state, task })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Holds the answer of the `n`th `DELETE` from now (1 is the next) for `hold` after the
    /// vendor gave it; the others pass at once. `n` = 0 holds none.
    pub fn hold_nth(&self, n: u64, hold: std::time::Duration) {
        self.state
            .hold_ms
            .store(hold.as_millis() as u64, Ordering::SeqCst);
        let at = if n == 0 {
            0
        } else {
            self.deletes_answered() + n
        };
        self.state.hold_at.store(at, Ordering::SeqCst);
    }

    /// `DELETE`s the vendor has answered so far (held or not).
    pub fn deletes_answered(&self) -> u64 {
        self.state.deletes_answered.load(Ordering::SeqCst)
    }
}

impl Drop for HoldingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(State(state): State<Arc<ProxyState>>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let mut upstream = state
        .client
        .request(parts.method.clone(), format!("{}{path}", state.upstream))
        .body(bytes);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    let answer = match upstream.send().await {
        Ok(answer) => answer,
        Err(_) => return Response::builder().status(502).body(Body::empty()).unwrap(),
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = answer.bytes().await.unwrap_or_default();
    if parts.method == axum::http::Method::DELETE {
        let nth = state.deletes_answered.fetch_add(1, Ordering::SeqCst) + 1;
        if nth == state.hold_at.load(Ordering::SeqCst) {
            let hold = state.hold_ms.load(Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(hold)).await;
        }
    }
    let mut builder = Response::builder().status(status);
    for (name, value) in &headers {
        if name != "content-length" && name != "transfer-encoding" {
            builder = builder.header(name, value);
        }
    }
    builder
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// The vendor the fixture spoke speaks to: a bearer token it accepts, `/api/groups`
/// (`id:name` lines) and group memberships (`GET /api/memberships/{user}`, one group per
/// line; `DELETE` and `PUT /api/memberships/{user}/{group}`), with state, so the conformance
/// kit's reclaim rules can run against a spoke built from the frozen 0.1.0 contract.
pub struct FixtureVendor {
    addr: SocketAddr,
    members: Arc<Mutex<std::collections::BTreeMap<String, std::collections::BTreeSet<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct FixtureState {
    token: String,
    members: Arc<Mutex<std::collections::BTreeMap<String, std::collections::BTreeSet<String>>>>,
}

impl FixtureVendor {
    /// Starts the vendor: users `u-1` to `u-5`, each in `g-1` and `g-2`; `token` is the
    /// bearer token it accepts.
    pub async fn start(token: &str) -> std::io::Result<Self> {
        let members: std::collections::BTreeMap<_, _> = (1..=5)
            .map(|i| {
                (
                    format!("u-{i}"),
                    ["g-1", "g-2"].iter().map(|g| g.to_string()).collect(),
                )
            })
            .collect();
        let members = Arc::new(Mutex::new(members));
        let state = FixtureState {
            token: token.to_string(),
            members: members.clone(),
        };
        let app = Router::new().fallback(fixture_vendor).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            members,
            task,
        })
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A user's groups now.
    pub fn groups_of(&self, user: &str) -> Vec<String> {
        self.members
            .lock()
            .expect("lock")
            .get(user)
            .map(|g| g.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl Drop for FixtureVendor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fixture_vendor(State(state): State<FixtureState>, request: Request<Body>) -> Response {
    let reply = |status: u16, body: String| {
        Response::builder()
            .status(status)
            .body(Body::from(body))
            .unwrap_or_else(|_| Response::new(Body::empty()))
    };
    let authorized = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(format!("Bearer {}", state.token).as_str());
    if !authorized {
        return reply(401, "bad token".into());
    }
    let path = request.uri().path().to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut members = state.members.lock().expect("lock");
    match (request.method().as_str(), parts.as_slice()) {
        ("GET", ["api", "groups"]) => reply(200, "g-1:Group One\ng-2:Group Two\n".into()),
        ("GET", ["api", "memberships", user]) => match members.get(*user) {
            Some(groups) => reply(
                200,
                groups.iter().map(|g| format!("{g}\n")).collect::<String>(),
            ),
            None => reply(404, "no such user".into()),
        },
        ("DELETE", ["api", "memberships", user, group]) => {
            if let Some(groups) = members.get_mut(*user) {
                groups.remove(*group);
            }
            reply(204, String::new())
        }
        ("PUT", ["api", "memberships", user, group]) => {
            members
                .entry(user.to_string())
                .or_default()
                .insert(group.to_string());
            reply(204, String::new())
        }
        _ => reply(404, "not found".into()),
    }
}
