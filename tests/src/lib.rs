//! Support for sam's integration tests and benchmarks: paths of the guest components that
//! `build.rs` compiled, and [`loopback`], small HTTP and TCP peers on 127.0.0.1 that record
//! what reaches them. Vendor simulators live in their own crates (`confluence-sim`).

pub mod loopback;

/// A benchmark's own arguments: the process's, without the `--bench` flag `cargo bench` adds
/// for a bench target without the libtest harness.
pub fn bench_args() -> impl Iterator<Item = String> {
    std::env::args().filter(|a| a != "--bench")
}

/// The fixture spoke component (`tests/fixture-spokes`), built for wasm32-wasip2.
pub fn fixture_spoke_wasm() -> &'static str {
    env!("FIXTURE_SPOKE_WASM")
}

/// The hostile spoke component (`tests/hostile-spokes`): the sandbox attacks.
pub fn hostile_spoke_wasm() -> &'static str {
    env!("HOSTILE_SPOKE_WASM")
}

/// The Confluence Cloud spoke component (`plugins/confluence-cloud`), built for wasm32-wasip2.
pub fn confluence_spoke_wasm() -> &'static str {
    sam_engine::bundled::CONFLUENCE_WASM_PATH
}

/// The GitHub Copilot spoke component (`plugins/github-copilot`), built for wasm32-wasip2.
pub fn github_copilot_spoke_wasm() -> &'static str {
    sam_engine::bundled::GITHUB_COPILOT_WASM_PATH
}

/// The fixture spoke built with its `broken` feature: it repeats records across pages.
pub fn broken_spoke_wasm() -> &'static str {
    env!("BROKEN_SPOKE_WASM")
}
