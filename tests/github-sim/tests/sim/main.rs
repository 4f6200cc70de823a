//! The github-sim's wire tests, one binary (one link instead of one per file): each module drives
//! the simulator over loopback with plain reqwest.

mod api;
mod auth;
mod common;
mod limits;
mod schema;
