//! The per-call store data of a spoke instance ([`HostState`]) and the engine's side of the
//! spoke's imports. WASI is linked because wasm32-wasip2 guests import it, but the context is
//! locked down: no preopened directories, no environment, no arguments, no sockets or name
//! lookups, stdin empty; stdout and stderr go to bounded in-memory pipes that are logged
//! through tracing after the call. The `http` import forwards to the call's [`GateSession`];
//! the `log` import becomes a tracing event carrying the spoke id. Each contract version's
//! generated import traits are implemented here, all forwarding to the same methods
//! ([`HostState::send`], [`HostState::send_all`], [`HostState::log`]); a 0.1.0 guest's
//! messages are converted by `super::adapt`. The memory limiter refuses
//! growth past the cap and remembers the request so the error can say so.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::adapt::{Down, Up};
use super::bindings::v0_1::sam::spoke as v0_1;
use super::bindings::v0_2::sam::spoke::{http, log, types};
use super::http_gate::GateSession;
use super::{CallStats, SandboxLimits};

/// Refuses linear-memory growth past `cap` and records the refused size.
pub(crate) struct MemoryLimiter {
    pub(crate) cap: usize,
    pub(crate) refused: Option<usize>,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.refused = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// The data of one spoke instance's store.
pub(crate) struct HostState {
    spoke_id: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    session: Arc<GateSession>,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) deadline: Instant,
    stats: Arc<CallStats>,
}

impl HostState {
    pub(crate) fn new(
        spoke_id: &str,
        session: Arc<GateSession>,
        limits: &SandboxLimits,
        stats: Arc<CallStats>,
    ) -> Self {
        let stdout = MemoryOutputPipe::new(limits.output_capture);
        let stderr = MemoryOutputPipe::new(limits.output_capture);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            spoke_id: Arc::from(spoke_id),
            wasi,
            table: ResourceTable::new(),
            stdout,
            stderr,
            session,
            limiter: MemoryLimiter {
                cap: limits.memory_cap,
                refused: None,
            },
            deadline: Instant::now() + limits.call_deadline,
            stats,
        }
    }

    /// Logs what the guest wrote to stdout and stderr during the call.
    pub(crate) fn flush_output(&self) {
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = pipe.contents();
            for line in String::from_utf8_lossy(&bytes).lines() {
                if !line.trim().is_empty() {
                    tracing::info!(spoke = %self.spoke_id, stream, "{line}");
                }
            }
        }
    }

    /// The last `max` bytes of the guest's stderr, for trap messages.
    pub(crate) fn stderr_tail(&self, max: usize) -> String {
        let bytes = self.stderr.contents();
        let start = bytes.len().saturating_sub(max);
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl HostState {
    /// `http.send`: one request through the call's gate session.
    async fn send(&mut self, request: http::Request) -> Result<http::Response, http::HttpError> {
        let started = Instant::now();
        let response = self.session.send(request).await;
        self.stats.add_import(started.elapsed());
        response
    }

    /// `http.send-all`: several requests through the call's gate session.
    async fn send_all(
        &mut self,
        requests: Vec<http::Request>,
    ) -> Vec<Result<http::Response, http::HttpError>> {
        let started = Instant::now();
        let responses = self.session.send_all(requests).await;
        self.stats.add_import(started.elapsed());
        responses
    }

    /// `log.log`: a tracing event carrying the spoke id.
    fn log(&mut self, level: log::Level, message: &str) {
        let started = Instant::now();
        let spoke = &*self.spoke_id;
        match level {
            log::Level::Trace => tracing::trace!(spoke, "{message}"),
            log::Level::Debug => tracing::debug!(spoke, "{message}"),
            log::Level::Info => tracing::info!(spoke, "{message}"),
            log::Level::Warn => tracing::warn!(spoke, "{message}"),
            log::Level::Error => tracing::error!(spoke, "{message}"),
        }
        self.stats.add_import(started.elapsed());
    }
}

impl types::Host for HostState {}

impl http::Host for HostState {
    async fn send(&mut self, request: http::Request) -> Result<http::Response, http::HttpError> {
        HostState::send(self, request).await
    }

    async fn send_all(
        &mut self,
        requests: Vec<http::Request>,
    ) -> Vec<Result<http::Response, http::HttpError>> {
        HostState::send_all(self, requests).await
    }
}

impl log::Host for HostState {
    async fn log(&mut self, level: log::Level, message: String) {
        HostState::log(self, level, &message)
    }
}

impl v0_1::types::Host for HostState {}

impl v0_1::http::Host for HostState {
    async fn send(
        &mut self,
        request: v0_1::http::Request,
    ) -> Result<v0_1::http::Response, v0_1::http::HttpError> {
        HostState::send(self, request.up()).await.down()
    }

    async fn send_all(
        &mut self,
        requests: Vec<v0_1::http::Request>,
    ) -> Vec<Result<v0_1::http::Response, v0_1::http::HttpError>> {
        HostState::send_all(self, requests.up())
            .await
            .into_iter()
            .map(Down::down)
            .collect()
    }
}

impl v0_1::log::Host for HostState {
    async fn log(&mut self, level: v0_1::log::Level, message: String) {
        HostState::log(self, level.up(), &message)
    }
}
