//! The per-call store data of a spoke instance ([`HostState`]) and the engine's side of the
//! spoke's imports. WASI is linked because wasm32-wasip2 guests import it, but the context is
//! locked down: no preopened directories, no environment, no arguments, no sockets or name
//! lookups, stdin empty; stdout and stderr go to bounded in-memory pipes that are logged
//! through tracing after the call. The `http` import forwards to the call's [`GateSession`];
//! the `log` import becomes a tracing event carrying the spoke id, made inert (control
//! characters escaped) and counted against the call's log budget (what is dropped over it is
//! noted once at the end of the call). The resource limiter caps the whole component, not
//! one memory: linear memory summed over all its memories, and the number of memories,
//! tables and instances; it remembers what it refused so the error can say so. Each import
//! runs against the call's [`CallBudget`] and ends at the call's deadline (the requests in
//! flight are dropped, which cancels them); the guest then gets a timeout and the epoch
//! check interrupts it. Each contract version's generated import traits are implemented
//! here, all forwarding to the same methods ([`HostState::send`], [`HostState::send_all`],
//! [`HostState::log_message`]); a 0.1.0 guest's messages are converted by `super::adapt`.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::adapt::{Down, Up};
use super::bindings::v0_1::sam::spoke as v0_1;
use super::bindings::v0_2::sam::spoke::{http, log, types};
use super::http_gate::{BudgetHit, CallBudget, GateSession};
use super::untrusted::{inert, inert_bounded};
use super::{CallStats, SandboxLimits};
use crate::contract::{HttpError, LogLevel, Request, Response};

/// The resource limiter of one call's store: linear memory summed over every memory of the
/// component (a component may define many), and the number of memories, tables and
/// instances. Remembers the first refusal so the error names it.
pub(crate) struct CallLimiter {
    /// The most linear memory, in bytes, all memories of the call together may hold.
    pub(crate) cap: usize,
    /// Linear memory the call's memories hold now, in bytes.
    pub(crate) total: usize,
    pub(crate) max_memories: usize,
    pub(crate) max_tables: usize,
    pub(crate) max_instances: usize,
    pub(crate) max_table_elements: usize,
    /// The total the refused growth would have reached.
    pub(crate) refused: Option<usize>,
}

impl CallLimiter {
    pub(crate) fn new(limits: &SandboxLimits) -> Self {
        Self {
            cap: limits.memory_cap,
            total: 0,
            max_memories: limits.max_memories,
            max_tables: limits.max_tables,
            max_instances: limits.max_instances,
            max_table_elements: limits.max_table_elements,
            refused: None,
        }
    }
}

impl wasmtime::ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.total.saturating_sub(current).saturating_add(desired);
        if total > self.cap {
            self.refused.get_or_insert(total);
            return Ok(false);
        }
        self.total = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.max_table_elements)
    }

    fn instances(&self) -> usize {
        self.max_instances
    }

    fn tables(&self) -> usize {
        self.max_tables
    }

    fn memories(&self) -> usize {
        self.max_memories
    }
}

/// What the guest logged beyond the call's log budget.
#[derive(Debug, Default)]
struct LogBudget {
    cap: usize,
    left: usize,
    dropped_messages: u64,
    dropped_bytes: u64,
}

/// The data of one spoke instance's store.
pub(crate) struct HostState {
    spoke_id: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    session: Arc<GateSession>,
    pub(crate) limiter: CallLimiter,
    pub(crate) deadline: Instant,
    /// The deadline's length, for the error.
    pub(crate) call_deadline: std::time::Duration,
    pub(crate) budget: Arc<CallBudget>,
    log: LogBudget,
    log_message_max: usize,
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
        let deadline = Instant::now() + limits.call_deadline;
        Self {
            spoke_id: Arc::from(spoke_id),
            wasi,
            table: ResourceTable::new(),
            stdout,
            stderr,
            session,
            limiter: CallLimiter::new(limits),
            deadline,
            call_deadline: limits.call_deadline,
            budget: Arc::new(CallBudget::new(
                deadline,
                limits.requests_per_call,
                limits.response_bytes_per_call,
            )),
            log: LogBudget {
                cap: limits.log_bytes_per_call,
                left: limits.log_bytes_per_call,
                ..LogBudget::default()
            },
            log_message_max: limits.log_message_max,
            stats,
        }
    }

    /// Serves `http.send`: through the session, within the call's budget, and never past
    /// the call's deadline (the request in flight is dropped, which cancels it).
    pub(crate) async fn send(&mut self, request: Request) -> Result<Response, HttpError> {
        let started = Instant::now();
        let budget = self.budget.clone();
        let response = match tokio::time::timeout_at(
            budget.deadline().into(),
            self.session.send_within(request, &budget),
        )
        .await
        {
            Ok(response) => response,
            Err(_) => {
                budget.mark(BudgetHit::Deadline);
                Err(HttpError::Timeout)
            }
        };
        self.stats.add_import(started.elapsed());
        response
    }

    /// Serves `http.send-all` like [`Self::send`], the requests sharing the call's budget.
    pub(crate) async fn send_all(
        &mut self,
        requests: Vec<Request>,
    ) -> Vec<Result<Response, HttpError>> {
        let started = Instant::now();
        let budget = self.budget.clone();
        let count = requests.len();
        let responses = match tokio::time::timeout_at(
            budget.deadline().into(),
            self.session.send_all_within(requests, &budget),
        )
        .await
        {
            Ok(responses) => responses,
            Err(_) => {
                budget.mark(BudgetHit::Deadline);
                (0..count).map(|_| Err(HttpError::Timeout)).collect()
            }
        };
        self.stats.add_import(started.elapsed());
        responses
    }

    /// Serves `log.log`: the message made inert and bounded, counted against the call's log
    /// budget; what does not fit is dropped and noted at the end of the call.
    pub(crate) fn log_message(&mut self, level: LogLevel, message: &str) {
        let started = Instant::now();
        let cost = message.len().min(self.log_message_max).max(1);
        if cost > self.log.left {
            self.log.left = 0;
            self.log.dropped_messages += 1;
            self.log.dropped_bytes += message.len() as u64;
        } else {
            self.log.left -= cost;
            let message = inert_bounded(message, self.log_message_max);
            let spoke = &*self.spoke_id;
            match level {
                LogLevel::Trace => tracing::trace!(spoke, "{message}"),
                LogLevel::Debug => tracing::debug!(spoke, "{message}"),
                LogLevel::Info => tracing::info!(spoke, "{message}"),
                LogLevel::Warn => tracing::warn!(spoke, "{message}"),
                LogLevel::Error => tracing::error!(spoke, "{message}"),
            }
        }
        self.stats.add_import(started.elapsed());
    }

    /// Messages and bytes of log dropped over the budget so far.
    pub(crate) fn log_dropped(&self) -> (u64, u64) {
        (self.log.dropped_messages, self.log.dropped_bytes)
    }

    /// Logs what the guest wrote to stdout and stderr during the call.
    /// Logs what the guest wrote to stdout and stderr during the call (made inert), and
    /// notes the log messages dropped over the budget.
    pub(crate) fn flush_output(&self) {
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = pipe.contents();
            for line in String::from_utf8_lossy(&bytes).lines() {
                if !line.trim().is_empty() {
                    let line = inert(line);
                    tracing::info!(spoke = %self.spoke_id, stream, "{line}");
                }
            }
        }
        let (messages, bytes) = self.log_dropped();
        if messages > 0 {
            tracing::warn!(
                spoke = %self.spoke_id,
                dropped_messages = messages,
                dropped_bytes = bytes,
                "the spoke logged more than its budget of {} bytes per call; the rest was dropped",
                self.log.cap
            );
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
        self.log_message(level, &message);
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
        self.log_message(level.up(), &message);
    }
}
