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
