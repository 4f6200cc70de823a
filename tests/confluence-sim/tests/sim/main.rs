//! The confluence-sim's wire tests, one binary (one link instead of one per file): each module drives
//! the simulator over loopback with plain reqwest.

mod api;
mod common;
mod oauth;
mod org;
mod production;
mod schema;
