//! The plugin host: loads spokes (WebAssembly components implementing `sam:spoke`) and runs
//! their exports in a sandbox. One [`SpokeHost`] per process holds the wasmtime engine, the
//! linker, the epoch ticker, the compile cache and the HTTP gate. A [`LoadedSpoke`] is a
//! compiled, pre-instantiated component plus its manifest; every export call gets a fresh
//! instance, so no state or damage carries over from one call to the next. The sandbox: no
//! filesystem, no environment, no sockets, no inherited stdio (guest stdout and stderr are
//! captured and logged through tracing), a wall-clock deadline per call (epoch interruption
//! for guest code, the same deadline bounding every import the host serves), resource limits
//! for the whole component (linear memory summed over its memories; memories, tables and
//! instances counted), a budget of requests, response bytes and log bytes per call, and
//! bounds on the component's size and on its manifest. Everything the spoke says is made
//! inert ([`untrusted`]) before it reaches a terminal or a log line. A trap, a panic, a blown
//! deadline, limit or budget becomes a
//! [`CallError`] naming the spoke and the call; the host keeps running. Every component is
//! instantiated against the contract version it declares (`sam:spoke@0.1.0` or `@0.2.0`, see
//! [`bindings`]); a 0.1.0 component's values are converted to the current types (`adapt`).
//! The host knows nothing of the store or the pipeline.

mod adapt;
pub mod allowed_hosts;
pub(crate) mod bindings;
pub mod compile_cache;
pub mod credentials;
pub mod http_gate;
mod sandbox;
pub mod trust;
pub mod untrusted;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store};

pub use allowed_hosts::AllowedHosts;
pub use compile_cache::{CacheOutcome, CompileCache};
pub use credentials::{BearerToken, CredentialError, CredentialProvider, StaticToken};
pub use http_gate::{
    BudgetHit, CallBudget, CredentialRoute, ExchangeHook, ExchangeRequest, GatePolicy, GateSession,
    HttpGate, RequestCounts,
};

use crate::contract::{
    ActivityPage, Config, EpochSeconds, GroupPage, Manifest, Process, SeatChange, SpokeError,
    SubscriptionPage, SubscriptionRef, UserActivity, ValidationCheck,
};
use adapt::{Down, Up};
use bindings::{v0_1, v0_2};
use sandbox::HostState;

/// How often the epoch ticker advances; the granularity of call deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Per-call sandbox limits. The spoke cannot change any of them; the operator sets them.
#[derive(Debug, Clone)]
pub struct SandboxLimits {
    /// Wall-clock time one export call may take, the host's HTTP (connecting, sending,
    /// reading, waiting between attempts) included (default 60 s).
    pub call_deadline: Duration,
    /// Wall-clock time of the `manifest()` call made at load, which may not use the network
    /// (default 5 s).
    pub manifest_deadline: Duration,
    /// The most linear memory one call's component may hold, summed over all its memories,
    /// in bytes (default 256 MiB).
    pub memory_cap: usize,
    /// Linear memories one call may create (default 16).
    pub max_memories: usize,
    /// Tables one call may create (default 64).
    pub max_tables: usize,
    /// Core instances one call may create (default 64).
    pub max_instances: usize,
    /// Elements one table may hold (default 1 000 000).
    pub max_table_elements: usize,
    /// Requests one call may send, every attempt counted (default 2 000; the Confluence
    /// spoke sends at most 16 per call).
    pub requests_per_call: u64,
    /// Response bytes one call may receive across `send` and `send-all`, counted as they
    /// stream in (default 128 MiB; a Confluence page of 200 members is under 1 MiB).
    pub response_bytes_per_call: u64,
    /// Bytes of `log.log` messages one call may log; the rest is dropped and noted
    /// (default 256 KiB).
    pub log_bytes_per_call: usize,
    /// The longest single log message shown, in bytes; longer ones are cut (default 4 KiB).
    pub log_message_max: usize,
    /// Bytes of guest stdout and of stderr kept per call for the logs (default 64 KiB).
    pub output_capture: usize,
    /// The largest component file accepted, in bytes (default 64 MiB).
    pub max_component_bytes: usize,
    /// How long compiling a new component may take before loading gives up (default 300 s:
    /// a Python spoke carries its interpreter, 18 MiB of wasm that Cranelift compiles in
    /// about 55 s on an idle 2-core machine and in 115 s on a busy one; the compile cache
    /// makes every later load take under a second).
    pub compile_deadline: Duration,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            call_deadline: Duration::from_secs(60),
            manifest_deadline: Duration::from_secs(5),
            memory_cap: 256 * 1024 * 1024,
            max_memories: 16,
            max_tables: 64,
            max_instances: 64,
            max_table_elements: 1_000_000,
            requests_per_call: 2_000,
            response_bytes_per_call: 128 * 1024 * 1024,
            log_bytes_per_call: 256 * 1024,
            log_message_max: 4 * 1024,
            output_capture: 64 * 1024,
            max_component_bytes: 64 * 1024 * 1024,
            compile_deadline: Duration::from_secs(300),
        }
    }
}

/// Everything a [`SpokeHost`] is built from.
#[derive(Debug, Clone, Default)]
pub struct HostOptions {
    /// Sandbox limits for every call.
    pub limits: SandboxLimits,
    /// HTTP rules for every request.
    pub gate: GatePolicy,
    /// Where compiled artifacts are cached; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
}

/// The host could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// wasmtime rejected the configuration.
    #[error("could not configure the WebAssembly engine: {0}")]
    Engine(String),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Gate(#[from] http_gate::GateBuildError),
    /// The compile cache could not be opened.
    #[error(transparent)]
    Cache(#[from] compile_cache::CacheError),
}

/// A spoke could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read spoke {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not a component, or not compilable.
    #[error("spoke {origin}: {source}")]
    Artifact {
        origin: String,
        source: compile_cache::LoadArtifactError,
    },
    /// The component does not implement the contract version it declares (missing or
    /// mistyped imports/exports).
    #[error("spoke {origin} does not implement the sam:spoke@{version} contract: {reason}")]
    Contract {
        origin: String,
        version: String,
        reason: String,
    },
    /// The component declares no contract version this engine supports.
    #[error(
        "spoke {origin} {declared}; this engine supports {}",
        supported_versions()
    )]
    UnsupportedContract { origin: String, declared: String },
    /// `manifest()` failed.
    #[error("spoke {origin}: {source}")]
    Manifest { origin: String, source: CallError },
    /// The component is larger than the limit, or took longer to compile than allowed.
    #[error("spoke {origin} was refused: {reason}")]
    Bounds { origin: String, reason: String },
    /// The manifest is not well formed.
    #[error("spoke {origin} has an invalid manifest: {}", problems.join("; "))]
    InvalidManifest {
        origin: String,
        problems: Vec<String>,
    },
}

/// Why an export call failed.
#[derive(Debug, thiserror::Error)]
#[error("spoke `{spoke}`, call `{call}`: {kind}")]
pub struct CallError {
    /// The spoke's id.
    pub spoke: String,
    /// The export called (WIT name).
    pub call: &'static str,
    /// What went wrong.
    #[source]
    pub kind: CallErrorKind,
}

/// The kinds of [`CallError`].
#[derive(Debug, thiserror::Error)]
pub enum CallErrorKind {
    /// The spoke returned an error of the contract's `spoke-error` variant (shown inert).
    #[error("{}", untrusted::inert(&.0.describe()))]
    Spoke(SpokeError),
    /// The call ran past its wall-clock deadline and was interrupted.
    #[error("interrupted after exceeding its deadline of {0:?}")]
    DeadlineExceeded(Duration),
    /// The component tried to hold more linear memory, summed over its memories, than the
    /// cap.
    #[error("exceeded the memory cap of {cap} bytes (asked for {requested} bytes)")]
    MemoryCap { cap: usize, requested: usize },
    /// The component tried to create more memories, tables or instances than allowed.
    #[error("exceeded a resource limit: {0}")]
    ResourceLimit(String),
    /// The call sent more requests (retries included) than its budget.
    #[error("used up its budget of {0} requests per call")]
    RequestBudget(u64),
    /// The call's responses came to more bytes than its budget.
    #[error("received more than its budget of {0} response bytes per call")]
    ResponseBudget(u64),
    /// The guest trapped (a panic, `unreachable`, a bad memory access); with its stderr tail.
    #[error("the guest trapped: {0}")]
    Trap(String),
    /// A fresh instance could not be created.
    #[error("could not instantiate: {0}")]
    Instantiate(String),
    /// The export is not part of the contract version the spoke was built against.
    #[error("not an export of sam:spoke@{0}")]
    NotInContract(&'static str),
}

impl CallError {
    /// The spoke's own error, when that is what failed.
    pub fn spoke_error(&self) -> Option<&SpokeError> {
        match &self.kind {
            CallErrorKind::Spoke(e) => Some(e),
            _ => None,
        }
    }
}

struct HostShared {
    engine: Engine,
    linker: Linker<HostState>,
    gate: Arc<HttpGate>,
    limits: SandboxLimits,
    cache: Option<CompileCache>,
}

/// The process-wide plugin host. Cheap to clone.
#[derive(Clone)]
pub struct SpokeHost {
    shared: Arc<HostShared>,
}

impl std::fmt::Debug for SpokeHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpokeHost")
            .field("limits", &self.shared.limits)
            .field("cache", &self.shared.cache)
            .finish_non_exhaustive()
    }
}

impl SpokeHost {
    /// Builds the engine, the linker (WASI locked down plus the `sam:spoke` imports) and
    /// starts the epoch ticker.
    pub fn new(options: HostOptions) -> Result<Self, HostError> {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config).map_err(|e| HostError::Engine(e.to_string()))?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| HostError::Engine(e.to_string()))?;
        v0_1::Spoke::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(|e| HostError::Engine(e.to_string()))?;
        v0_2::Spoke::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(|e| HostError::Engine(e.to_string()))?;
        spawn_epoch_ticker(&engine);
        let cache = options.cache_dir.map(CompileCache::open).transpose()?;
        Ok(Self {
            shared: Arc::new(HostShared {
                engine,
                linker,
                gate: Arc::new(HttpGate::new(options.gate)?),
                limits: options.limits,
                cache,
            }),
        })
    }

    /// The HTTP gate shared by every session.
    pub fn gate(&self) -> Arc<HttpGate> {
        self.shared.gate.clone()
    }

    /// The sandbox limits in force.
    pub fn limits(&self) -> &SandboxLimits {
        &self.shared.limits
    }

    /// Loads a spoke from a `.wasm` file.
    pub async fn load_file(&self, path: impl AsRef<Path>) -> Result<LoadedSpoke, LoadError> {
        let path = path.as_ref();
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|source| LoadError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        self.load_bytes(bytes, &path.display().to_string()).await
    }

    /// Loads a spoke from component bytes; `origin` names it in errors.
    pub async fn load_bytes(&self, wasm: Vec<u8>, origin: &str) -> Result<LoadedSpoke, LoadError> {
        let started = Instant::now();
        let limits = &self.shared.limits;
        let artifact = |source| LoadError::Artifact {
            origin: origin.to_string(),
            source,
        };
        let bounds = |reason: String| LoadError::Bounds {
            origin: origin.to_string(),
            reason,
        };
        if wasm.len() > limits.max_component_bytes {
            return Err(bounds(format!(
                "the component is {} bytes, more than the limit of {} bytes",
                wasm.len(),
                limits.max_component_bytes
            )));
        }
        let sha256: Arc<str> = {
            use sha2::Digest;
            Arc::from(hex::encode(sha2::Sha256::digest(&wasm)))
        };
        let shared = self.shared.clone();
        let compile = tokio::task::spawn_blocking(move || {
            let engine = &shared.engine;
            match &shared.cache {
                Some(cache) => cache.load_or_compile(engine, &wasm),
                None => Component::from_binary(engine, &wasm)
                    .map(|c| (c, CacheOutcome::Uncached))
                    .map_err(|e| compile_cache::LoadArtifactError::Compile(e.to_string())),
            }
        });
        // Cranelift cannot be stopped half-way: past the bound the load gives up and the
        // compile thread's result is dropped when it ends.
        let (component, outcome) = tokio::time::timeout(limits.compile_deadline, compile)
            .await
            .map_err(|_| {
                bounds(format!(
                    "compiling took longer than {:?}",
                    limits.compile_deadline
                ))
            })?
            .map_err(|e| {
                artifact(compile_cache::LoadArtifactError::Compile(format!(
                    "compile task failed: {e}"
                )))
            })?
            .map_err(artifact)?;
        let version = declared_version(&self.shared.engine, &component).map_err(|declared| {
            LoadError::UnsupportedContract {
                origin: origin.to_string(),
                declared,
            }
        })?;
        let contract = |reason: String| LoadError::Contract {
            origin: origin.to_string(),
            version: version.to_string(),
            reason,
        };
        let instance_pre = self
            .shared
            .linker
            .instantiate_pre(&component)
            .map_err(|e| contract(format!("{e:#}")))?;
        let pre = match version {
            "0.1.0" => Pre::V0_1(
                v0_1::SpokePre::new(instance_pre).map_err(|e| contract(format!("{e:#}")))?,
            ),
            _ => Pre::V0_2(
                v0_2::SpokePre::new(instance_pre).map_err(|e| contract(format!("{e:#}")))?,
            ),
        };
        if version == "0.1.0" {
            tracing::warn!(
                spoke = origin,
                "built against sam:spoke@0.1.0: its reclaims are not crash-safe (no plan is \
                 recorded before the vendor write); rebuild it against sam:spoke@{}",
                crate::contract::CONTRACT_VERSION
            );
        }
        let mut spoke = LoadedSpoke {
            host: self.clone(),
            pre,
            id: origin.to_string(),
            manifest: None,
            cache_outcome: outcome,
            load_time: started.elapsed(),
            stats: Arc::new(CallStats::default()),
            sha256,
        };
        let session = Arc::new(GateSession::closed(self.gate(), origin));
        let manifest =
            spoke
                .manifest_call(&session)
                .await
                .map_err(|source| LoadError::Manifest {
                    origin: origin.to_string(),
                    source,
                })?;
        let problems = manifest_problems(&manifest);
        let mut manifest = manifest;
        make_manifest_inert(&mut manifest);
        if !problems.is_empty() {
            return Err(LoadError::InvalidManifest {
                origin: origin.to_string(),
                problems,
            });
        }
        spoke.id = manifest.id.clone();
        spoke.manifest = Some(manifest);
        Ok(spoke)
    }
}

/// How long loading a component takes here: cold (compiled by Cranelift, as on a first load
/// or without a compile cache) and warm (its compiled artifact deserialized, as on a compile
/// cache hit); both include preparing instantiation against the linker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadTimes {
    /// Compile, deserialize and prepare.
    pub cold: Duration,
    /// Deserialize and prepare.
    pub warm: Duration,
}

impl SpokeHost {
    /// Measures [`LoadTimes`] for a component: compiles it once (bounded by the compile
    /// deadline and the size limit, as a load is), then loads the compiled artifact again.
    pub async fn measure_load(&self, wasm: Vec<u8>, origin: &str) -> Result<LoadTimes, LoadError> {
        let limits = &self.shared.limits;
        let failed = |reason: String| LoadError::Bounds {
            origin: origin.to_string(),
            reason,
        };
        if wasm.len() > limits.max_component_bytes {
            return Err(failed(format!(
                "the component is {} bytes, more than the limit of {} bytes",
                wasm.len(),
                limits.max_component_bytes
            )));
        }
        let shared = self.shared.clone();
        let measure = tokio::task::spawn_blocking(move || -> Result<LoadTimes, String> {
            let prepare = |artifact: &[u8]| -> Result<(), String> {
                // SAFETY: `artifact` was produced by this engine's `precompile_component`
                // in this call.
                let component = unsafe { Component::deserialize(&shared.engine, artifact) }
                    .map_err(|e| e.to_string())?;
                shared
                    .linker
                    .instantiate_pre(&component)
                    .map(drop)
                    .map_err(|e| format!("{e:#}"))
            };
            let started = Instant::now();
            let artifact = shared
                .engine
                .precompile_component(&wasm)
                .map_err(|e| e.to_string())?;
            prepare(&artifact)?;
            let cold = started.elapsed();
            let started = Instant::now();
            prepare(&artifact)?;
            Ok(LoadTimes {
                cold,
                warm: started.elapsed(),
            })
        });
        tokio::time::timeout(limits.compile_deadline, measure)
            .await
            .map_err(|_| {
                failed(format!(
                    "compiling took longer than {:?}",
                    limits.compile_deadline
                ))
            })?
            .map_err(|e| failed(format!("the measuring task failed: {e}")))?
            .map_err(failed)
    }
}

/// The contract versions this engine loads, for people (`sam:spoke@0.1.0 and sam:spoke@0.2.0`).
pub fn supported_versions() -> String {
    let names: Vec<String> = crate::contract::SUPPORTED_VERSIONS
        .iter()
        .map(|v| format!("sam:spoke@{v}"))
        .collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The contract version a component declares through its `sam:spoke/connector@<version>`
/// export; `Err` says what it declares instead, for a one-line refusal.
fn declared_version(engine: &Engine, component: &Component) -> Result<&'static str, String> {
    let ty = component.component_type();
    let mut declared = Vec::new();
    for (name, _) in ty.exports(engine) {
        if let Some(version) = name.strip_prefix("sam:spoke/connector@") {
            if let Some(known) = crate::contract::SUPPORTED_VERSIONS
                .iter()
                .find(|v| **v == version)
            {
                return Ok(known);
            }
            declared.push(format!("sam:spoke@{version}"));
        } else if name == "sam:spoke/connector" {
            declared.push("sam:spoke without a version".into());
        }
    }
    Err(if declared.is_empty() {
        "exports no sam:spoke/connector interface".into()
    } else {
        format!("declares {}", declared.join(" and "))
    })
}

fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("sam-epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning a thread at start-up");
}

/// Bounds on a manifest's size, checked at load (a manifest is shown in tables and stored
/// with every profile).
pub mod manifest_bounds {
    /// All strings of a manifest together, in bytes.
    pub const TOTAL_BYTES: usize = 256 * 1024;
    /// The description, in bytes.
    pub const DESCRIPTION_BYTES: usize = 16 * 1024;
    /// Any other string, in bytes.
    pub const STRING_BYTES: usize = 1024;
    /// Entries of any list (config fields, hosts, products, scopes, parameters).
    pub const LIST_ENTRIES: usize = 64;
    /// Problems reported at most; the rest are counted.
    pub const PROBLEMS_SHOWN: usize = 12;
}

/// Every string of a manifest with the name of its field, for bounds and for making them
/// inert.
fn manifest_strings(manifest: &mut Manifest) -> Vec<(&'static str, &mut String)> {
    let mut out: Vec<(&'static str, &mut String)> = vec![
        ("id", &mut manifest.id),
        ("display-name", &mut manifest.display_name),
        ("publisher", &mut manifest.publisher),
        ("version", &mut manifest.version),
        ("description", &mut manifest.description),
        (
            "connection-url-template",
            &mut manifest.connection_url_template,
        ),
    ];
    for extra in &mut manifest.extra_credentials {
        out.push(("extra-credentials", &mut extra.name));
        out.push(("extra-credentials", &mut extra.label));
        out.push(("extra-credentials", &mut extra.description));
        out.push(("extra-credentials", &mut extra.url_prefix));
    }
    for permission in &mut manifest.processes {
        out.push(("vendor-role", &mut permission.vendor_role));
        out.extend(permission.scopes.iter_mut().map(|s| ("scopes", s)));
    }
    if let crate::contract::AuthScheme::Oauth2AuthorizationCode(oauth) = &mut manifest.auth {
        out.push(("authorize-url", &mut oauth.authorize_url));
        out.push(("token-url", &mut oauth.token_url));
        if let Some(audience) = &mut oauth.audience {
            out.push(("audience", audience));
        }
        out.extend(oauth.base_scopes.iter_mut().map(|s| ("base-scopes", s)));
        for (name, value) in &mut oauth.extra_parameters {
            out.push(("extra-parameters", name));
            out.push(("extra-parameters", value));
        }
        if let Some(url) = &mut oauth.accessible_resources_url {
            out.push(("accessible-resources-url", url));
        }
    }
    for field in &mut manifest.config_fields {
        out.push(("config-fields", &mut field.name));
        out.push(("config-fields", &mut field.label));
        out.push(("config-fields", &mut field.description));
    }
    out.extend(
        manifest
            .allowed_hosts
            .iter_mut()
            .map(|s| ("allowed-hosts", s)),
    );
    for product in &mut manifest.products {
        out.push(("products", &mut product.identifier));
        out.push(("products", &mut product.name));
        if let Some(edition) = &mut product.edition {
            out.push(("products", edition));
        }
    }
    out
}

/// The size bounds a manifest breaks (checked before anything else is looked at, so a huge
/// manifest costs one pass).
fn manifest_size_problems(manifest: &Manifest) -> Vec<String> {
    use manifest_bounds::*;
    let mut problems = Vec::new();
    let mut lists = vec![
        ("config-fields", manifest.config_fields.len()),
        ("allowed-hosts", manifest.allowed_hosts.len()),
        ("products", manifest.products.len()),
        ("processes", manifest.processes.len()),
        ("extra-credentials", manifest.extra_credentials.len()),
    ];
    for permission in &manifest.processes {
        lists.push(("scopes", permission.scopes.len()));
    }
    if let crate::contract::AuthScheme::Oauth2AuthorizationCode(oauth) = &manifest.auth {
        lists.push(("base-scopes", oauth.base_scopes.len()));
        lists.push(("extra-parameters", oauth.extra_parameters.len()));
    }
    for (field, len) in lists {
        if len > LIST_ENTRIES {
            problems.push(format!(
                "{field} has {len} entries, more than {LIST_ENTRIES}"
            ));
        }
    }
    if !problems.is_empty() {
        return problems;
    }
    let mut copy = manifest.clone();
    let mut total = 0usize;
    for (field, value) in manifest_strings(&mut copy) {
        total = total.saturating_add(value.len());
        let max = if field == "description" {
            DESCRIPTION_BYTES
        } else {
            STRING_BYTES
        };
        if value.len() > max {
            problems.push(format!("{field} is {} bytes, more than {max}", value.len()));
        }
    }
    if total > TOTAL_BYTES {
        problems.push(format!(
            "the manifest's strings are {total} bytes, more than {TOTAL_BYTES}"
        ));
    }
    problems
}

/// Replaces control characters in every string of the manifest by visible escapes.
fn make_manifest_inert(manifest: &mut Manifest) {
    for (_, value) in manifest_strings(manifest) {
        untrusted::make_inert(value);
    }
}

/// What is wrong with a manifest, if anything (empty when well formed). Values are shown
/// inert and cut short.
pub fn manifest_problems(manifest: &Manifest) -> Vec<String> {
    let shown = |value: &str| untrusted::inert_bounded(value, 80);
    let mut problems = manifest_size_problems(manifest);
    if !problems.is_empty() {
        problems.truncate(manifest_bounds::PROBLEMS_SHOWN);
        return problems;
    }
    let id_ok = !manifest.id.is_empty()
        && manifest
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !manifest.id.starts_with('-');
    if !id_ok {
        problems.push(format!(
            "id `{}` must be lowercase letters, digits and dashes",
            shown(&manifest.id)
        ));
    }
    for (field, value) in [
        ("display-name", &manifest.display_name),
        ("publisher", &manifest.publisher),
        ("version", &manifest.version),
        ("connection-url-template", &manifest.connection_url_template),
    ] {
        if value.trim().is_empty() {
            problems.push(format!("{field} is empty"));
        }
    }
    let version_ok = manifest.version.split('.').count() >= 3
        && manifest
            .version
            .split(['-', '+'])
            .next()
            .unwrap_or_default()
            .split('.')
            .all(|part| part.parse::<u64>().is_ok());
    if !version_ok {
        problems.push(format!(
            "version `{}` is not semver",
            shown(&manifest.version)
        ));
    }
    let mut seen = Vec::new();
    for permission in &manifest.processes {
        if seen.contains(&permission.process) {
            problems.push(format!(
                "process {} is listed twice",
                permission.process.key()
            ));
        }
        seen.push(permission.process);
    }
    if !seen.contains(&Process::DownloadSubscriptions) {
        problems.push("download-subscriptions is not among the processes".into());
    }
    if manifest.allowed_hosts.is_empty() {
        problems.push("allowed-hosts is empty".into());
    }
    for host in &manifest.allowed_hosts {
        if let Err(reason) = allowed_hosts::check_pattern(host) {
            problems.push(format!("allowed-hosts: {reason}"));
        }
    }
    if manifest.products.is_empty() {
        problems.push("products is empty".into());
    }
    for field in &manifest.config_fields {
        if field.name.trim().is_empty() {
            problems.push("a config field has an empty name".into());
        }
    }
    let patterns = AllowedHosts::new(&manifest.allowed_hosts);
    for extra in &manifest.extra_credentials {
        let name_ok = !extra.name.is_empty()
            && extra
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !name_ok {
            problems.push(format!(
                "extra credential `{}` must be named with lowercase letters, digits and dashes",
                shown(&extra.name)
            ));
        }
        match url::Url::parse(&extra.url_prefix) {
            Ok(url)
                if url.scheme() == "https"
                    && extra.url_prefix.ends_with('/')
                    && patterns.check_request(&url, &url::Url::parse("https://invalid.").unwrap_or(url.clone())).is_ok() => {}
            _ => problems.push(format!(
                "extra credential `{}`: url-prefix `{}` must be an https URL ending in `/` on an allowed host",
                shown(&extra.name),
                shown(&extra.url_prefix)
            )),
        }
    }
    if problems.len() > manifest_bounds::PROBLEMS_SHOWN {
        let more = problems.len() - manifest_bounds::PROBLEMS_SHOWN;
        problems.truncate(manifest_bounds::PROBLEMS_SHOWN);
        problems.push(format!("and {more} more"));
    }
    problems
}

fn budget_error(hit: BudgetHit, deadline: Duration) -> CallErrorKind {
    match hit {
        BudgetHit::Deadline => CallErrorKind::DeadlineExceeded(deadline),
        BudgetHit::Requests(cap) => CallErrorKind::RequestBudget(cap),
        BudgetHit::ResponseBytes(cap) => CallErrorKind::ResponseBudget(cap),
    }
}

/// The operator's settings for one profile, over the host's [`SandboxLimits`]: each `Some`
/// replaces the host's value for the calls of sessions carrying it. Nothing a spoke does
/// reaches them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitOverrides {
    /// Replaces [`SandboxLimits::call_deadline`].
    pub call_deadline: Option<Duration>,
    /// Replaces [`SandboxLimits::memory_cap`].
    pub memory_cap: Option<usize>,
    /// Replaces [`SandboxLimits::requests_per_call`].
    pub requests_per_call: Option<u64>,
    /// Replaces [`SandboxLimits::response_bytes_per_call`].
    pub response_bytes_per_call: Option<u64>,
    /// Replaces [`SandboxLimits::log_bytes_per_call`].
    pub log_bytes_per_call: Option<usize>,
    /// Replaces [`SandboxLimits::max_memories`].
    pub max_memories: Option<usize>,
    /// Replaces [`SandboxLimits::max_tables`].
    pub max_tables: Option<usize>,
    /// Replaces [`SandboxLimits::max_instances`].
    pub max_instances: Option<usize>,
    /// Replaces [`SandboxLimits::log_message_max`].
    pub log_message_max: Option<usize>,
    /// Requests per second the session sends on its connection's own lane, at most (every
    /// call of the session together; 0 or `None`: no pacing but the vendor's signals). Not a
    /// per-call limit: the session's gate paces by it ([`http_gate::GateSession`]).
    pub requests_per_second: Option<u64>,
}

impl LimitOverrides {
    /// `base` with these overrides applied.
    pub fn apply(&self, base: &SandboxLimits) -> SandboxLimits {
        let mut limits = base.clone();
        macro_rules! overridden {
            ($($field:ident),+) => {$(
                if let Some(v) = self.$field {
                    limits.$field = v;
                }
            )+};
        }
        overridden!(
            call_deadline,
            memory_cap,
            requests_per_call,
            response_bytes_per_call,
            log_bytes_per_call,
            max_memories,
            max_tables,
            max_instances,
            log_message_max
        );
        limits
    }
}

/// A compiled, pre-instantiated spoke and its manifest. Cheap to clone.
#[derive(Clone)]
pub struct LoadedSpoke {
    host: SpokeHost,
    pre: Pre,
    id: String,
    manifest: Option<Manifest>,
    cache_outcome: CacheOutcome,
    load_time: Duration,
    stats: Arc<CallStats>,
    sha256: Arc<str>,
}

/// A profile's second credentials, opened: `(name, target prefix, provider)` each.
pub type ExtraCredentials = Vec<(String, String, Arc<dyn CredentialProvider>)>;

/// A pre-instantiated component, per the contract version it declares.
#[derive(Clone)]
enum Pre {
    V0_1(v0_1::SpokePre<HostState>),
    V0_2(v0_2::SpokePre<HostState>),
}

/// Time and call counters of one loaded spoke (shared by its clones): export calls and the
/// wall time they took (instantiation included), and the imports the guest made (`http.send`,
/// `http.send-all`, `log.log`) and the wall time spent serving them in the host, and the most
/// linear memory one call's instance held. Guest time is export time minus import time.
#[derive(Debug, Default)]
pub struct CallStats {
    export_calls: AtomicU64,
    export_nanos: AtomicU64,
    import_calls: AtomicU64,
    import_nanos: AtomicU64,
    peak_memory: AtomicU64,
}

/// A snapshot of [`CallStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallTimes {
    /// Export calls made (host to guest).
    pub export_calls: u64,
    /// Wall time inside export calls, instantiation and imports included.
    pub export_time: Duration,
    /// Import calls the guests made (guest to host).
    pub import_calls: u64,
    /// Wall time the host spent serving those imports.
    pub import_time: Duration,
    /// The most linear memory one call's instance held, in bytes (all its memories).
    pub peak_memory: u64,
}

impl CallTimes {
    /// Time inside the guest (and its instantiation): export time minus import time.
    pub fn guest_time(&self) -> Duration {
        self.export_time.saturating_sub(self.import_time)
    }
}

impl CallStats {
    /// The counters so far.
    pub fn snapshot(&self) -> CallTimes {
        CallTimes {
            export_calls: self.export_calls.load(Ordering::Relaxed),
            export_time: Duration::from_nanos(self.export_nanos.load(Ordering::Relaxed)),
            import_calls: self.import_calls.load(Ordering::Relaxed),
            import_time: Duration::from_nanos(self.import_nanos.load(Ordering::Relaxed)),
            peak_memory: self.peak_memory.load(Ordering::Relaxed),
        }
    }

    fn add_export(&self, elapsed: Duration) {
        self.export_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_import(&self, elapsed: Duration) {
        self.import_calls.fetch_add(1, Ordering::Relaxed);
        self.import_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for LoadedSpoke {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedSpoke")
            .field("id", &self.id)
            .field("cache_outcome", &self.cache_outcome)
            .finish_non_exhaustive()
    }
}

/// Calls one export on a fresh instance: `$v2` on a 0.2.0 component, `$v1` (whose result is
/// converted with `Up`) on a 0.1.0 one.
macro_rules! spoke_call {
    ($self:ident, $session:expr, $name:literal, |$guest:ident, $store:ident| $v2:expr, $v1:expr) => {{
        let started = Instant::now();
        let mut $store = $self.new_store($name, $session);
        let outcome = match &$self.pre {
            Pre::V0_2(pre) => {
                let instance =
                    $self.instantiate($name, pre.instantiate_async(&mut $store).await, &$store)?;
                let $guest = instance.sam_spoke_connector();
                $v2.await
            }
            Pre::V0_1(pre) => {
                let instance =
                    $self.instantiate($name, pre.instantiate_async(&mut $store).await, &$store)?;
                let $guest = instance.sam_spoke_connector();
                $v1.await.map(Up::up)
            }
        };
        $self.stats.add_export(started.elapsed());
        $self.finish($name, $store, outcome)
    }};
}

impl LoadedSpoke {
    /// The spoke's id (from its manifest).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The manifest read at load time.
    pub fn manifest(&self) -> &Manifest {
        self.manifest
            .as_ref()
            .expect("a LoadedSpoke is only handed out after its manifest was read")
    }

    /// The sha256 of the component's bytes as loaded, lowercase hex (what a profile pins).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Whether loading compiled the component or found it in the cache.
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.cache_outcome
    }

    /// How long loading took (compile or cache read, linking, manifest call).
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// Export calls made so far through this spoke (all clones).
    pub fn call_count(&self) -> u64 {
        self.stats.export_calls.load(Ordering::Relaxed)
    }

    /// Export and import counters and times so far (all clones).
    pub fn call_times(&self) -> CallTimes {
        self.stats.snapshot()
    }

    /// The deadline of one call made through `session` (the operator's override, else the
    /// host's).
    pub fn call_deadline(&self, session: &GateSession) -> Duration {
        session
            .limit_overrides()
            .call_deadline
            .unwrap_or(self.host.shared.limits.call_deadline)
    }

    /// A session for `connection_url`, allowed to reach the manifest's hosts plus
    /// `granted_hosts` (operator grants, such as a loopback simulator).
    pub fn session(
        &self,
        connection_url: &str,
        granted_hosts: &[String],
        credentials: Arc<dyn CredentialProvider>,
    ) -> Result<Arc<GateSession>, http_gate::SessionError> {
        self.session_full(
            connection_url,
            granted_hosts,
            credentials,
            LimitOverrides::default(),
            Vec::new(),
        )
    }

    /// [`Self::session`] whose calls run under the operator's `overrides` (a profile's
    /// limits).
    pub fn session_with_limits(
        &self,
        connection_url: &str,
        granted_hosts: &[String],
        credentials: Arc<dyn CredentialProvider>,
        overrides: LimitOverrides,
    ) -> Result<Arc<GateSession>, http_gate::SessionError> {
        self.session_full(
            connection_url,
            granted_hosts,
            credentials,
            overrides,
            Vec::new(),
        )
    }

    /// [`Self::session`] with the profile's second credentials.
    pub fn session_with_extra(
        &self,
        connection_url: &str,
        granted_hosts: &[String],
        credentials: Arc<dyn CredentialProvider>,
        extra: ExtraCredentials,
    ) -> Result<Arc<GateSession>, http_gate::SessionError> {
        self.session_full(
            connection_url,
            granted_hosts,
            credentials,
            LimitOverrides::default(),
            extra,
        )
    }

    /// A session under the operator's `overrides` (a profile's limits) with the profile's
    /// second credentials: `(name, target prefix, provider)` for each the admin supplied.
    /// Every `extra-credentials` entry of the manifest becomes a route (see
    /// [`http_gate::CredentialRoute`]); one the admin did not supply refuses its requests. A
    /// target left empty is the manifest's prefix.
    pub fn session_full(
        &self,
        connection_url: &str,
        granted_hosts: &[String],
        credentials: Arc<dyn CredentialProvider>,
        overrides: LimitOverrides,
        mut extra: ExtraCredentials,
    ) -> Result<Arc<GateSession>, http_gate::SessionError> {
        let mut allowed = AllowedHosts::new(&self.manifest().allowed_hosts);
        allowed.extend(granted_hosts);
        let routes = self
            .manifest()
            .extra_credentials
            .iter()
            .map(|declared| {
                let supplied = extra
                    .iter()
                    .position(|(name, ..)| name == &declared.name)
                    .map(|i| extra.swap_remove(i));
                match supplied {
                    Some((_, target, provider)) => http_gate::CredentialRoute::new(
                        declared.name.clone(),
                        declared.url_prefix.clone(),
                        if target.is_empty() {
                            declared.url_prefix.clone()
                        } else {
                            target
                        },
                        Some(provider),
                    ),
                    None => http_gate::CredentialRoute::new(
                        declared.name.clone(),
                        declared.url_prefix.clone(),
                        declared.url_prefix.clone(),
                        None,
                    ),
                }
            })
            .collect();
        Ok(Arc::new(
            GateSession::new(
                self.host.gate(),
                self.id.clone(),
                connection_url,
                allowed,
                credentials,
            )?
            .with_limits(overrides)
            .with_routes(routes),
        ))
    }

    async fn manifest_call(&self, session: &Arc<GateSession>) -> Result<Manifest, CallError> {
        spoke_call!(
            self,
            session,
            "manifest",
            |guest, store| async { guest.call_manifest(&mut store).await.map(Ok) },
            async {
                guest
                    .call_manifest(&mut store)
                    .await
                    .map(Ok::<_, v0_1::sam::spoke::types::SpokeError>)
            }
        )
    }

    /// The contract version the component declares (`0.1.0` or `0.2.0`).
    pub fn contract_version(&self) -> &'static str {
        match self.pre {
            Pre::V0_1(_) => "0.1.0",
            Pre::V0_2(_) => "0.2.0",
        }
    }

    /// Whether the spoke plans its reclaims before applying them (contract 0.2.0 on), so an
    /// interrupted reclaim can be finished or undone from the stored plan.
    pub fn plans_reclaims(&self) -> bool {
        matches!(self.pre, Pre::V0_2(_))
    }

    /// Calls `validate`.
    pub async fn validate(
        &self,
        session: &Arc<GateSession>,
        config: &Config,
        processes: &[Process],
    ) -> Result<Vec<ValidationCheck>, CallError> {
        let old: Vec<_> = processes.iter().map(|p| p.down()).collect();
        spoke_call!(
            self,
            session,
            "validate",
            |guest, store| guest.call_validate(&mut store, config, processes),
            guest.call_validate(&mut store, &config.down(), &old)
        )
    }

    /// Calls `list-groups`.
    pub async fn list_groups(
        &self,
        session: &Arc<GateSession>,
        config: &Config,
        cursor: Option<&str>,
    ) -> Result<GroupPage, CallError> {
        spoke_call!(
            self,
            session,
            "list-groups",
            |guest, store| guest.call_list_groups(&mut store, config, cursor),
            guest.call_list_groups(&mut store, &config.down(), cursor)
        )
    }

    /// Calls `download-subscriptions`.
    pub async fn download_subscriptions(
        &self,
        session: &Arc<GateSession>,
        config: &Config,
        cursor: Option<&str>,
    ) -> Result<SubscriptionPage, CallError> {
        spoke_call!(
            self,
            session,
            "download-subscriptions",
            |guest, store| guest.call_download_subscriptions(&mut store, config, cursor),
            guest.call_download_subscriptions(&mut store, &config.down(), cursor)
        )
    }

    /// Calls `download-activity`.
    pub async fn download_activity(
        &self,
        session: &Arc<GateSession>,
        config: &Config,
        since: EpochSeconds,
        cursor: Option<&str>,
    ) -> Result<ActivityPage, CallError> {
        spoke_call!(
            self,
            session,
            "download-activity",
            |guest, store| guest.call_download_activity(&mut store, config, since, cursor),
            guest.call_download_activity(&mut store, &config.down(), since, cursor)
        )
    }

    /// Calls `lookup-activity`.
    pub async fn lookup_activity(
        &self,
        session: &Arc<GateSession>,
        config: &Config,
        since: EpochSeconds,
        user_ids: &[String],
    ) -> Result<Vec<UserActivity>, CallError> {
        spoke_call!(
            self,
            session,
            "lookup-activity",
            |guest, store| guest.call_lookup_activity(&mut store, config, since, user_ids),
            guest.call_lookup_activity(&mut store, &config.down(), since, user_ids)
        )
    }

    /// Calls `plan-reclaim` (contract 0.2.0 on): what a reclaim would change, read-only.
    /// A 0.1.0 spoke cannot plan: the error says so (check [`Self::plans_reclaims`] first).
    pub async fn plan_reclaim(
        &self,
        session: &Arc<GateSession>,
        config: &Config,
        subscription: &SubscriptionRef,
    ) -> Result<Vec<SeatChange>, CallError> {
        let Pre::V0_2(pre) = &self.pre else {
            return Err(self.error("plan-reclaim", CallErrorKind::NotInContract("0.1.0")));
        };
        let started = Instant::now();
        let mut store = self.new_store("plan-reclaim", session);
        let instance = self.instantiate(
            "plan-reclaim",
            pre.instantiate_async(&mut store).await,
            &store,
        )?;
        let outcome = instance
            .sam_spoke_connector()
            .call_plan_reclaim(&mut store, config, subscription)
            .await;
        self.stats.add_export(started.elapsed());
        self.finish("plan-reclaim", store, outcome)
    }

    /// Calls `apply-reclaim` (contract 0.2.0 on): performs exactly `changes`, idempotently.
    pub async fn apply_reclaim(
        &self,
        session: &Arc<GateSession>,
        config: &Config,
        subscription: &SubscriptionRef,
        changes: &[SeatChange],
    ) -> Result<Vec<SeatChange>, CallError> {
        let Pre::V0_2(pre) = &self.pre else {
            return Err(self.error("apply-reclaim", CallErrorKind::NotInContract("0.1.0")));
        };
        let started = Instant::now();
        let mut store = self.new_store("apply-reclaim", session);
        let instance = self.instantiate(
            "apply-reclaim",
            pre.instantiate_async(&mut store).await,
            &store,
        )?;
        let outcome = instance
            .sam_spoke_connector()
            .call_apply_reclaim(&mut store, config, subscription, changes)
            .await;
        self.stats.add_export(started.elapsed());
        self.finish("apply-reclaim", store, outcome)
    }

    /// Calls a 0.1.0 spoke's single `reclaim` export (not crash-safe: the changes are known
    /// only once it returns). A 0.2.0 spoke has no such export: use plan and apply.
    pub async fn reclaim_legacy(
        &self,
        session: &Arc<GateSession>,
        config: &Config,
        subscription: &SubscriptionRef,
    ) -> Result<Vec<SeatChange>, CallError> {
        let Pre::V0_1(pre) = &self.pre else {
            return Err(self.error("reclaim", CallErrorKind::NotInContract("0.2.0")));
        };
        let started = Instant::now();
        let mut store = self.new_store("reclaim", session);
        let instance =
            self.instantiate("reclaim", pre.instantiate_async(&mut store).await, &store)?;
        let outcome = instance
            .sam_spoke_connector()
            .call_reclaim(&mut store, &config.down(), &subscription.down())
            .await
            .map(Up::up);
        self.stats.add_export(started.elapsed());
        self.finish("reclaim", store, outcome)
    }

    /// Calls `restore`.
    pub async fn restore(
        &self,
        session: &Arc<GateSession>,
        config: &Config,
        subscription: &SubscriptionRef,
        changes: &[SeatChange],
    ) -> Result<(), CallError> {
        let old_changes: Vec<_> = changes.iter().map(|c| c.down()).collect();
        spoke_call!(
            self,
            session,
            "restore",
            |guest, store| guest.call_restore(&mut store, config, subscription, changes),
            guest.call_restore(
                &mut store,
                &config.down(),
                &subscription.down(),
                &old_changes
            )
        )
    }

    /// Calls `vendor-seat-counts` (0.2.0). A 0.1.0 spoke has no such export and reports no
    /// counts: the answer is an empty list, without instantiating it.
    pub async fn vendor_seat_counts(
        &self,
        session: &Arc<GateSession>,
        config: &Config,
    ) -> Result<Vec<crate::contract::VendorSeatCount>, CallError> {
        let Pre::V0_2(pre) = &self.pre else {
            return Ok(Vec::new());
        };
        let started = Instant::now();
        let mut store = self.new_store("vendor-seat-counts", session);
        let instance = self.instantiate(
            "vendor-seat-counts",
            pre.instantiate_async(&mut store).await,
            &store,
        )?;
        let outcome = instance
            .sam_spoke_connector()
            .call_vendor_seat_counts(&mut store, config)
            .await;
        self.stats.add_export(started.elapsed());
        self.finish("vendor-seat-counts", store, outcome)
    }

    /// A store for one call: the sandbox's limits, the memory limiter and the deadline.
    fn new_store(&self, call: &'static str, session: &Arc<GateSession>) -> Store<HostState> {
        self.stats.export_calls.fetch_add(1, Ordering::Relaxed);
        let mut limits = session.limit_overrides().apply(&self.host.shared.limits);
        if call == "manifest" {
            limits.call_deadline = limits.manifest_deadline;
        }
        let state = HostState::new(&self.id, session.clone(), &limits, self.stats.clone());
        let mut store = Store::new(&self.host.shared.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|context| {
            if Instant::now() >= context.data().deadline {
                Ok(wasmtime::UpdateDeadline::Interrupt)
            } else {
                Ok(wasmtime::UpdateDeadline::Yield(1))
            }
        });
        store
    }

    /// The outcome of instantiating a component for `call`, as a [`CallError`] on failure.
    fn instantiate<T>(
        &self,
        call: &'static str,
        outcome: wasmtime::Result<T>,
        store: &Store<HostState>,
    ) -> Result<T, CallError> {
        outcome.map_err(|error| {
            let kind = match self.classify_trap(store, error) {
                CallErrorKind::Trap(message) => CallErrorKind::Instantiate(message),
                other => other,
            };
            self.error(call, kind)
        })
    }

    fn finish<T>(
        &self,
        call: &'static str,
        store: Store<HostState>,
        outcome: wasmtime::Result<Result<T, SpokeError>>,
    ) -> Result<T, CallError> {
        store.data().flush_output();
        let state = store.data();
        self.stats
            .peak_memory
            .fetch_max(state.limiter.total as u64, Ordering::Relaxed);
        match outcome {
            // A call that has its answers keeps them, whatever limit it ran into on the way.
            Ok(Ok(value)) => Ok(value),
            // A spoke reporting the failure of a request the engine cut short gets the
            // engine's typed error instead: that is the cause.
            Ok(Err(spoke_error)) => Err(self.error(
                call,
                match state.budget.hit() {
                    Some(hit) => budget_error(hit, state.call_deadline),
                    None => CallErrorKind::Spoke(spoke_error),
                },
            )),
            Err(error) => {
                let kind = match (self.classify_trap(&store, error), state.budget.hit()) {
                    (CallErrorKind::Trap(_), Some(hit)) => budget_error(hit, state.call_deadline),
                    (kind, _) => kind,
                };
                tracing::warn!(spoke = %self.id, call, error = %kind, "spoke call failed");
                Err(self.error(call, kind))
            }
        }
    }

    fn classify_trap(&self, store: &Store<HostState>, error: wasmtime::Error) -> CallErrorKind {
        let state = store.data();
        if let Some(requested) = state.limiter.refused {
            return CallErrorKind::MemoryCap {
                cap: state.limiter.cap,
                requested,
            };
        }
        if error.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
            return CallErrorKind::DeadlineExceeded(state.call_deadline);
        }
        let text = format!("{error:#}");
        if text.contains("resource limit exceeded") {
            return CallErrorKind::ResourceLimit(untrusted::inert_bounded(&text, 300));
        }
        let stderr = state.stderr_tail(2048);
        let mut message = format!("{error}");
        if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
            message = format!("{trap}");
        }
        if !stderr.trim().is_empty() {
            message.push_str("; guest stderr: ");
            message.push_str(&untrusted::inert(stderr.trim()));
        }
        CallErrorKind::Trap(message)
    }

    fn error(&self, call: &'static str, kind: CallErrorKind) -> CallError {
        CallError {
            spoke: self.id.clone(),
            call,
            kind,
        }
    }
}
