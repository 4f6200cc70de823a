//! The conformance kit as a library: [`Kit`] picks what the contract suite
//! ([`super::run_suite`]) runs against and runs it, for `sam plugin check` and for a spoke
//! author's own Rust tests (`sam-engine` as a dev-dependency). It owns starting the bundled
//! simulators (Confluence, GitHub, Example Seats; feature `simulator`) and building the
//! [`CheckTarget`] for them or for a vendor URL, recording a run's exchanges to a cassette
//! ([`super::cassette`]) and replaying one with no network, and the [`Report`] of a run
//! (table, JSON, [`Report::assert_passed`]).
//!
//! ```ignore
//! // tests/kit.rs of a spoke crate; the component is built first (`cargo build --release
//! // --target wasm32-wasip2`).
//! use sam_engine::conformance::Kit;
//!
//! const WASM: &str = "target/wasm32-wasip2/release/my_spoke.wasm";
//!
//! #[tokio::test]
//! async fn passes_the_kit_from_the_recording() {
//!     Kit::load(WASM).await.unwrap()
//!         .replay("tests/exchanges.json")
//!         .run().await.unwrap()
//!         .assert_passed();
//! }
//!
//! // Once, by hand, against a test tenant (the token is never written to the file):
//! // Kit::load(WASM).await?.record(url, token, "tests/exchanges.json")
//! //     .config("account", "acme").allow_writes().run().await?.assert_passed();
//! ```
//!
//! Doc examples are `ignore`d: each would link a test binary with wasmtime.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::cassette::{Cassette, CassetteError, FORMAT, Playback, Tape};
use super::{CheckTarget, Outcome, RuleResult, VendorControls};
use crate::contract::Config;
use crate::host::{HostError, HostOptions, LoadError, LoadedSpoke, SpokeHost, StaticToken};

/// The token of the kit's second session, which the vendor must reject.
const REJECTED_TOKEN: &str = "sam-conformance-invalid-token";
/// The sessions' names in a cassette.
const MAIN: &str = "main";
const REJECTED: &str = "rejected";

/// The kit could not run.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// The host could not start.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The spoke did not load.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// `run` was called before a target was chosen.
    #[error(
        "no target: call against_example, against_simulator, against_url, record or replay first"
    )]
    NoTarget,
    /// The target's connection URL is unusable for this spoke.
    #[error("{0}")]
    Session(String),
    /// A bundled simulator did not start.
    #[error("{0}")]
    Simulator(String),
    /// This build has no bundled simulators.
    #[error("{0}")]
    NoSimulator(String),
    /// The cassette could not be read or written.
    #[error(transparent)]
    Cassette(#[from] CassetteError),
    /// The cassette was recorded for another spoke.
    #[error("recording {path} was made with spoke `{recorded}`, not `{spoke}`")]
    OtherSpoke {
        /// The cassette.
        path: PathBuf,
        /// The spoke it was recorded with.
        recorded: String,
        /// The spoke checked now.
        spoke: String,
    },
}

/// What the kit runs against.
#[derive(Debug, Clone)]
enum Against {
    None,
    /// The bundled Confluence simulator (or the GitHub one, for a spoke reaching
    /// api.github.com).
    Simulator,
    /// The Example Seats simulator.
    Example,
    /// A vendor connection URL and a bearer token.
    Url {
        url: String,
        token: String,
    },
    /// A cassette, with no network.
    Replay(PathBuf),
}

/// The conformance kit, as a builder: load a spoke, choose a target, set what the target
/// needs, [`Kit::run`]. In a spoke's own tests:
///
/// ```ignore
/// Kit::load("target/wasm32-wasip2/release/my_spoke.wasm")
///     .await?
///     .against_example()
///     .run()
///     .await?
///     .assert_passed();
/// ```
pub struct Kit {
    spoke: LoadedSpoke,
    against: Against,
    record: Option<PathBuf>,
    values: Vec<(String, String)>,
    groups: Vec<String>,
    grant_hosts: Vec<String>,
    allow_writes: bool,
    users: usize,
}

impl std::fmt::Debug for Kit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kit")
            .field("spoke", &self.spoke.id())
            .field("record", &self.record)
            .field("groups", &self.groups)
            .field("allow_writes", &self.allow_writes)
            .finish_non_exhaustive()
    }
}

impl Kit {
    /// Loads the spoke component at `path` in a host of its own (default sandbox limits, no
    /// compile cache).
    pub async fn load(path: impl AsRef<Path>) -> Result<Self, KitError> {
        let host = SpokeHost::new(HostOptions::default())?;
        let spoke = host.load_file(path).await?;
        Ok(Self::new(spoke))
    }

    /// The kit for a spoke already loaded.
    pub fn new(spoke: LoadedSpoke) -> Self {
        Self {
            spoke,
            against: Against::None,
            record: None,
            values: Vec::new(),
            groups: Vec::new(),
            grant_hosts: Vec::new(),
            allow_writes: false,
            users: 600,
        }
    }

    /// Against the bundled Confluence simulator, or the GitHub one for a spoke whose
    /// manifest reaches api.github.com, started on loopback for the run (its config, groups
    /// and writes are the kit's; `config`, `group` and `allow_writes` do not apply).
    pub fn against_simulator(mut self) -> Self {
        self.against = Against::Simulator;
        self
    }

    /// Against the Example Seats simulator (the vendor of `sam plugin new`'s templates),
    /// started on loopback for the run (as [`Self::against_simulator`]).
    pub fn against_example(mut self) -> Self {
        self.against = Against::Example;
        self
    }

    /// Against a vendor: the connection URL and a bearer token. The reclaim and restore
    /// rules run only after [`Self::allow_writes`].
    pub fn against_url(mut self, url: impl Into<String>, token: impl Into<String>) -> Self {
        self.against = Against::Url {
            url: url.into(),
            token: token.into(),
        };
        self
    }

    /// [`Self::against_url`], recording every exchange to the cassette `file` (written when
    /// the run ends; the token and the engine's headers are never in it).
    pub fn record(
        self,
        url: impl Into<String>,
        token: impl Into<String>,
        file: impl Into<PathBuf>,
    ) -> Self {
        self.against_url(url, token).record_to(file)
    }

    /// Records the run's exchanges to the cassette `file`, whatever the target (a bundled
    /// simulator too).
    pub fn record_to(mut self, file: impl Into<PathBuf>) -> Self {
        self.record = Some(file.into());
        self
    }

    /// Replays the cassette `file`: no network; its config, groups, "now" and writes are
    /// the recorded ones (`config`, `group` and `allow_writes` do not apply). A request the
    /// recording lacks fails, naming it; the quota-storm rule is skipped.
    pub fn replay(mut self, file: impl Into<PathBuf>) -> Self {
        self.against = Against::Replay(file.into());
        self
    }

    /// A config field, with a URL target.
    pub fn config(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.values.push((name.into(), value.into()));
        self
    }

    /// A selected group, with a URL target.
    pub fn group(mut self, id: impl Into<String>) -> Self {
        self.groups.push(id.into());
        self
    }

    /// A host the spoke may reach beyond its manifest's (a loopback test vendor).
    pub fn grant_host(mut self, host: impl Into<String>) -> Self {
        self.grant_hosts.push(host.into());
        self
    }

    /// Lets the reclaim and restore rules write to a URL target (they leave it as found).
    pub fn allow_writes(mut self) -> Self {
        self.allow_writes = true;
        self
    }

    /// How many users a bundled simulator's tenant has (default 600).
    pub fn users(mut self, users: usize) -> Self {
        self.users = users;
        self
    }

    /// Runs the suite and reports every rule's verdict. An `Err` is a kit that could not
    /// run (spoke, target, cassette); a spoke that breaks rules is an `Ok` report that did
    /// not pass.
    pub async fn run(self) -> Result<Report, KitError> {
        let spoke = &self.spoke;
        let (built, against) = match &self.against {
            Against::None => return Err(KitError::NoTarget),
            Against::Replay(file) => return self.run_replay(file).await,
            Against::Simulator => (simulator_target(spoke, self.users).await?, "simulator"),
            Against::Example => (example_target(spoke, self.users).await?, "example"),
            Against::Url { url, token } => (
                build_target(
                    spoke,
                    Spec {
                        url: url.clone(),
                        grants: self.grant_hosts.clone(),
                        token: token.clone(),
                        values: self.values.clone(),
                        groups: self.groups.clone(),
                        allow_writes: self.allow_writes,
                        protected_users: Vec::new(),
                        vendor: None,
                    },
                )?,
                url.as_str(),
            ),
        };
        let tape = Tape::default();
        if self.record.is_some() {
            built.target.session.set_exchange_hook(tape.recorder(MAIN));
            built
                .target
                .rejected_session
                .set_exchange_hook(tape.recorder(REJECTED));
        }
        let results = super::run_suite(spoke, &built.target).await;
        if let Some(file) = &self.record {
            let target = &built.target;
            Cassette {
                format: FORMAT,
                spoke: spoke.id().to_string(),
                connection_url: built.url.clone(),
                grant_hosts: built.grants.clone(),
                now: target.now,
                config: target.config.values.clone(),
                groups: target.config.selected_groups.clone(),
                allow_writes: target.allow_writes,
                protected_users: target.protected_users.clone(),
                exchanges: tape.exchanges(),
            }
            .save(file)?;
        }
        Ok(Report {
            spoke: spoke.id().to_string(),
            against: against.to_string(),
            results,
            unrecorded: Vec::new(),
        })
    }

    async fn run_replay(&self, file: &Path) -> Result<Report, KitError> {
        let spoke = &self.spoke;
        let cassette = Cassette::load(file)?;
        if cassette.spoke != spoke.id() {
            return Err(KitError::OtherSpoke {
                path: file.to_path_buf(),
                recorded: cassette.spoke,
                spoke: spoke.id().to_string(),
            });
        }
        let playback = Playback::new(&cassette, file)?;
        let mut built = build_target(
            spoke,
            Spec {
                url: cassette.connection_url.clone(),
                grants: cassette.grant_hosts.clone(),
                // Never sent: every request is answered from the recording.
                token: "sam-replay-sends-no-token".into(),
                values: cassette.config.clone(),
                groups: cassette.groups.clone(),
                allow_writes: cassette.allow_writes,
                protected_users: cassette.protected_users.clone(),
                vendor: None,
            },
        )?;
        built.target.now = cassette.now;
        built
            .target
            .session
            .set_exchange_hook(playback.player(MAIN));
        built
            .target
            .rejected_session
            .set_exchange_hook(playback.player(REJECTED));
        let mut results = super::run_suite(spoke, &built.target).await;
        for result in &mut results {
            if result.rule == "rate-limit.typed" && matches!(result.outcome, Outcome::Skip(_)) {
                result.outcome = Outcome::Skip(
                    "replayed from a recording: a quota storm needs a live simulator".into(),
                );
            }
        }
        Ok(Report {
            spoke: spoke.id().to_string(),
            against: format!("recording {}", file.display()),
            results,
            unrecorded: playback.unrecorded(),
        })
    }
}

/// The verdicts of one kit run.
#[derive(Debug, Clone)]
pub struct Report {
    spoke: String,
    against: String,
    results: Vec<RuleResult>,
    unrecorded: Vec<String>,
}

impl Report {
    /// Every rule's verdict, in the suite's order.
    pub fn results(&self) -> &[RuleResult] {
        &self.results
    }

    /// On replay, the requests the recording could not answer (`METHOD URL (session)`).
    pub fn unrecorded(&self) -> &[String] {
        &self.unrecorded
    }

    /// The rules that failed.
    pub fn failed(&self) -> Vec<&'static str> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
            .map(|r| r.rule)
            .collect()
    }

    /// Whether every rule passed or was skipped and, on replay, every request was recorded.
    pub fn passed(&self) -> bool {
        super::all_passed(&self.results) && self.unrecorded.is_empty()
    }

    /// The verdict of rule `id`, if the suite has it.
    pub fn outcome(&self, id: &str) -> Option<&Outcome> {
        self.results
            .iter()
            .find(|r| r.rule == id)
            .map(|r| &r.outcome)
    }

    /// Panics, with the table of every rule and the requests a replay lacked, unless the
    /// report [passed](Self::passed). Meant for a spoke's own tests (a failed kit fails the
    /// test with the reasons); code that must not panic reads [`Self::results`].
    #[track_caller]
    pub fn assert_passed(&self) {
        if !self.passed() {
            panic!("the conformance kit failed:\n{}", self.table());
        }
    }

    /// The pass/fail table `sam plugin check` prints.
    pub fn table(&self) -> String {
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(110)
            .set_header(["Rule", "Result", "Detail"]);
        for result in &self.results {
            let (verdict, detail) = match &result.outcome {
                Outcome::Pass => ("PASS", result.title.to_string()),
                Outcome::Fail(why) => ("FAIL", why.clone()),
                Outcome::Skip(why) => ("SKIP", why.clone()),
            };
            table.add_row([result.rule, verdict, detail.as_str()]);
        }
        let passed = self
            .results
            .iter()
            .filter(|r| r.outcome == Outcome::Pass)
            .count();
        let failed = self.failed().len();
        let mut text = format!(
            "Conformance of `{}` against {}\n{table}\n{passed} passed, {failed} failed, {} skipped\n",
            self.spoke,
            self.against,
            self.results.len() - passed - failed
        );
        if !self.unrecorded.is_empty() {
            text.push_str("not in the recording (record again):\n");
            for request in &self.unrecorded {
                text.push_str(&format!("  {request}\n"));
            }
        }
        text
    }

    /// The report as `sam plugin check --json` prints it.
    pub fn to_json(&self) -> serde_json::Value {
        let mut document = serde_json::json!({
            "spoke": self.spoke,
            "against": self.against,
            "passed": self.passed(),
            "rules": self.results,
        });
        if !self.unrecorded.is_empty()
            && let Some(map) = document.as_object_mut()
        {
            map.insert("unrecorded".into(), self.unrecorded.clone().into());
        }
        document
    }
}

fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// What a target is built from: a connection URL (hosts `grants` granted), a working token,
/// the profile settings, and what the kit may do there.
struct Spec {
    url: String,
    grants: Vec<String>,
    token: String,
    values: Vec<(String, String)>,
    groups: Vec<String>,
    allow_writes: bool,
    protected_users: Vec<String>,
    vendor: Option<Arc<dyn VendorControls>>,
}

/// A target and where it points (for the cassette).
struct Built {
    target: CheckTarget,
    url: String,
    grants: Vec<String>,
}

/// The kit's target: a session with the token and one with a token the vendor rejects.
fn build_target(spoke: &LoadedSpoke, spec: Spec) -> Result<Built, KitError> {
    let session = |token: String| {
        spoke
            .session(&spec.url, &spec.grants, Arc::new(StaticToken::new(token)))
            .map_err(|e| KitError::Session(e.to_string()))
    };
    let target = CheckTarget {
        session: session(spec.token)?,
        rejected_session: session(REJECTED_TOKEN.into())?,
        config: Config {
            values: spec.values,
            selected_groups: spec.groups,
        },
        now: now_epoch(),
        allow_writes: spec.allow_writes,
        protected_users: spec.protected_users,
        vendor: spec.vendor,
    };
    Ok(Built {
        target,
        url: spec.url,
        grants: spec.grants,
    })
}

fn loopback() -> Vec<String> {
    vec!["127.0.0.1".to_string()]
}

/// The kit against the bundled GitHub simulator (for a spoke whose manifest reaches
/// api.github.com): a classic owner token, the organization's every seat in scope, a storm of
/// secondary rate limits on the seat listing as the quota storm. The simulator lives as long
/// as the target (its controls hold it).
#[cfg(feature = "simulator")]
async fn github_target(spoke: &LoadedSpoke, seats: usize) -> Result<Built, KitError> {
    use github_sim::{Endpoint, FaultConfig, RateLimitConfig, SimConfig, SimHandle, Simulator};

    struct Controls(Arc<SimHandle>);
    impl VendorControls for Controls {
        fn start_quota_storm(&self) {
            self.0.set_fault(
                Endpoint::ListSeats,
                FaultConfig {
                    secondary_storm: u32::MAX,
                    ..FaultConfig::default()
                },
            );
        }
        fn calm(&self) {
            self.0.clear_faults();
        }
    }

    let sim = Simulator::start(SimConfig {
        seats,
        rate_limit: RateLimitConfig::unlimited(),
        log_calls: false,
        ..SimConfig::default()
    })
    .await
    .map_err(|e| KitError::Simulator(format!("cannot start the GitHub simulator: {e}")))?;
    let sim = Arc::new(sim);
    let token = sim
        .mint_classic_token(&["manage_billing:copilot", "admin:org"])
        .map_err(|e| KitError::Simulator(format!("the GitHub simulator minted no token: {e}")))?;
    build_target(
        spoke,
        Spec {
            url: sim.base_url(),
            grants: loopback(),
            token,
            values: vec![("org".into(), sim.org().to_string())],
            groups: Vec::new(),
            allow_writes: true,
            protected_users: vec![sim.owner_login()],
            vendor: Some(Arc::new(Controls(sim.clone()))),
        },
    )
}

/// The kit against the bundled Confluence simulator (or the GitHub one, for a spoke whose
/// manifest reaches api.github.com).
#[cfg(feature = "simulator")]
async fn simulator_target(spoke: &LoadedSpoke, users: usize) -> Result<Built, KitError> {
    if spoke
        .manifest()
        .allowed_hosts
        .iter()
        .any(|h| h == "api.github.com")
    {
        return github_target(spoke, users).await;
    }
    use confluence_sim::{FaultConfig, RateLimitConfig, SimConfig, SimHandle, Simulator};

    struct Controls(Arc<SimHandle>);
    impl VendorControls for Controls {
        fn start_quota_storm(&self) {
            self.0.set_fault_all(FaultConfig {
                storm_429: u32::MAX,
                storm_retry_after_secs: 3_600,
                ..FaultConfig::default()
            });
        }
        fn calm(&self) {
            self.0.clear_faults();
        }
    }

    let sim = Simulator::start(SimConfig {
        users,
        rate_limit: RateLimitConfig::unlimited(),
        log_calls: false,
        ..SimConfig::default()
    })
    .await
    .map_err(|e| KitError::Simulator(format!("cannot start the simulator: {e}")))?;
    let sim = Arc::new(sim);
    let scopes: Vec<&str> = spoke
        .manifest()
        .processes
        .iter()
        .flat_map(|p| p.scopes.iter().map(String::as_str))
        .collect();
    // The simulator serves Confluence: fill the fields it knows.
    let values = spoke
        .manifest()
        .config_fields
        .iter()
        .filter(|f| f.name == "cloud-id")
        .map(|f| (f.name.clone(), sim.cloud_id().to_string()))
        .collect();
    build_target(
        spoke,
        Spec {
            url: sim.connection_url(),
            grants: loopback(),
            token: sim.mint_token(&scopes),
            values,
            groups: sim.groups().into_iter().map(|g| g.id).collect(),
            allow_writes: true,
            protected_users: vec![sim.consenting_account_id()],
            vendor: Some(Arc::new(Controls(sim.clone()))),
        },
    )
}

/// The kit against the Example Seats simulator (the vendor the `sam plugin new` templates are
/// written for): a token with both scopes, the tenant's account as the `account` config
/// field, a 429 storm with a long `Retry-After` as the quota storm.
#[cfg(feature = "simulator")]
async fn example_target(spoke: &LoadedSpoke, seats: usize) -> Result<Built, KitError> {
    use example_sim::{SCOPE_READ, SCOPE_WRITE, SimConfig, SimHandle, Simulator};

    struct Controls(Arc<SimHandle>);
    impl VendorControls for Controls {
        fn start_quota_storm(&self) {
            self.0.start_quota_storm(3_600);
        }
        fn calm(&self) {
            self.0.calm();
        }
    }

    let sim = Simulator::start(SimConfig {
        seats: seats.min(5_000),
        ..SimConfig::default()
    })
    .await
    .map_err(|e| KitError::Simulator(format!("cannot start the example simulator: {e}")))?;
    let sim = Arc::new(sim);
    build_target(
        spoke,
        Spec {
            url: sim.base_url(),
            grants: loopback(),
            token: sim.mint_token(&[SCOPE_READ, SCOPE_WRITE]),
            values: vec![("account".into(), sim.account().to_string())],
            groups: Vec::new(),
            allow_writes: true,
            protected_users: Vec::new(),
            vendor: Some(Arc::new(Controls(sim.clone()))),
        },
    )
}

#[cfg(not(feature = "simulator"))]
async fn example_target(_spoke: &LoadedSpoke, _seats: usize) -> Result<Built, KitError> {
    Err(KitError::NoSimulator(
        "this sam was built without the bundled simulators; pass --against URL".into(),
    ))
}

#[cfg(not(feature = "simulator"))]
async fn simulator_target(_spoke: &LoadedSpoke, _users: usize) -> Result<Built, KitError> {
    Err(KitError::NoSimulator(
        "this sam was built without the bundled simulator; pass --against URL".into(),
    ))
}
