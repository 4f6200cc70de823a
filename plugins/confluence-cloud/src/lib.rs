//! Confluence Cloud spoke for sam: a WebAssembly component (wasm32-wasip2) implementing the
//! `sam:spoke@0.2.0` contract (`wit/0.2.0/spoke.wit`) against the Confluence Cloud REST API v1,
//! reached through the engine's `http` import at
//! `https://api.atlassian.com/ex/confluence/{cloud-id}`.
//!
//! Built on the `sam-spoke` SDK: all logic lives in plain modules over the SDK's
//! [`http::Http`] trait and unit-tests on the host (`cargo test -p confluence-cloud`); `glue`
//! implements the SDK's `Spoke` trait over the SDK's `Engine` and converts the plain model
//! types to the contract's. HTTP types, error mapping, the cursor codec, paging arithmetic
//! and timestamp parsing come from the SDK.
//!
//! - [`manifest`]: identity, permissions table, OAuth 3LO, connection URL, look-back.
//! - [`validate`]: read-only checks of the download and activity APIs.
//! - [`groups`]: `list-groups`, 200 per page.
//! - [`subscriptions`]: `download-subscriptions`. Selected groups are walked in sorted-id
//!   order, one member page per call; a user is emitted only from the first selected group
//!   containing them, with all granting groups. Membership in the other groups comes from
//!   whichever is cheaper per page: scanning the other groups in full, or one
//!   `/user/memberof` per member (see the module docs for the call counts).
//! - [`activity`]: `download-activity` (one CQL scan, newest first) and `lookup-activity`
//!   (`contributor in (...)` queries for up to 50 users each, per-user queries as fallback,
//!   then the organization's last-active dates for those still not active).
//! - [`org`]: Atlassian's organization API (`last-active-dates`, org id discovery) through
//!   the manifest's second credential, the organization API key.
//! - [`reclaim`]: `plan-reclaim` (read), `apply-reclaim` / `restore` (writes) through
//!   `userByGroupId`.
//! - [`api`], [`cursor`], [`errors`], [`time`], [`model`]: request builders and response
//!   shapes, what the cursors hold, Confluence's reading of errors, CQL dates, plain records;
//!   [`http`] is the SDK's.

pub mod activity;
pub mod api;
pub mod cursor;
pub mod errors;
pub mod groups;
pub use sam_spoke::http;
pub mod manifest;
pub mod model;
pub mod org;
pub mod reclaim;
pub mod subscriptions;
pub mod time;
pub mod validate;

#[cfg(target_arch = "wasm32")]
mod glue;

#[cfg(test)]
mod tests;
