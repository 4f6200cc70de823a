//! sam engine: the library behind the `sam` binary. It owns the plugin host that loads and
//! sandboxes vendor spokes (WebAssembly components behind the `sam:spoke` WIT contract), the
//! HTTP gate spokes reach their vendor through, and the admin CLI. The binary in `main.rs` is a
//! thin layer over [`cli`].

pub mod app;
pub mod auth;
pub mod bundled;
pub mod cli;
pub mod config;
pub mod conformance;
pub mod contract;
pub mod contract_doc;
pub mod daemon;
pub mod host;
pub mod model;
pub mod pipeline;
pub mod reclaim;
pub mod reconcile;
pub mod scaffold;
pub mod store;
pub mod web;
