//! sam's integration tests: one test binary, one module per topic (as wasmtime does), so the
//! engine links once. Shared helpers live here.

mod activity_sources;
mod admin;
mod api;
mod cli;
mod confluence;
mod daemon;
mod daemon_cli;
mod daemon_cli_profiles;
mod daemon_cli_reclaim;
mod damage;
mod github;
mod http_gate;
mod limits;
mod loading;
mod oauth;
mod pipeline;
mod production_rules;
mod reclaim;
mod reclaim_crash;
mod reconcile;
mod sandbox;
mod scripting;
mod spoke_templates;
mod store;
mod trust;
mod web;

use std::sync::Arc;
use std::time::Duration;

use sam_engine::contract::Config;
use sam_engine::host::{
    CredentialProvider, GatePolicy, GateSession, HostOptions, LoadedSpoke, SandboxLimits,
    SpokeHost, StaticToken,
};

/// A host with test-friendly limits and no compile cache.
pub fn host_with(limits: SandboxLimits, gate: GatePolicy) -> SpokeHost {
    SpokeHost::new(HostOptions {
        limits,
        gate,
        cache_dir: None,
    })
    .expect("host starts")
}

/// A host with default limits, but quick retries.
pub fn host() -> SpokeHost {
    host_with(SandboxLimits::default(), quick_retries())
}

/// Default gate policy with short backoffs so retry tests stay fast.
pub fn quick_retries() -> GatePolicy {
    GatePolicy {
        initial_backoff: Duration::from_millis(40),
        max_backoff: Duration::from_millis(400),
        ..GatePolicy::default()
    }
}

/// Loads the fixture spoke.
pub async fn fixture(host: &SpokeHost) -> LoadedSpoke {
    host.load_file(sam_tests::fixture_spoke_wasm())
        .await
        .expect("fixture spoke loads")
}

/// A config with the given values.
pub fn config(values: &[(&str, &str)]) -> Config {
    Config {
        values: values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        selected_groups: vec!["g-1".into()],
    }
}

/// A session to `http://127.0.0.1:<port>/api` with a static token.
pub fn session(spoke: &LoadedSpoke, port: u16, token: &str) -> Arc<GateSession> {
    session_with(spoke, port, Arc::new(StaticToken::new(token)))
}

/// A session to `http://127.0.0.1:<port>/api` with the given credentials.
pub fn session_with(
    spoke: &LoadedSpoke,
    port: u16,
    credentials: Arc<dyn CredentialProvider>,
) -> Arc<GateSession> {
    spoke
        .session(&format!("http://127.0.0.1:{port}/api"), &[], credentials)
        .expect("session")
}
