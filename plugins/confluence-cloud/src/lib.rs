//! Confluence Cloud spoke for sam: a WebAssembly component (wasm32-wasip2) implementing the
//! `sam:spoke@0.2.0` contract (`wit/0.2.0/spoke.wit`) against the Confluence Cloud REST API v1,
//! reached through the engine's `http` import at
//! `https://api.atlassian.com/ex/confluence/{cloud-id}`.
//!
//! All logic lives in plain modules over the [`http::Http`] trait and unit-tests on the host
//! (`cargo test -p confluence-cloud`); the wit-bindgen glue in `glue` (wasm only) implements
//! that trait over the imports and converts the plain types to the bindings.
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
//! - [`api`], [`cursor`], [`errors`], [`time`], [`http`], [`model`]: request builders and
//!   response shapes, cursor formats, error mapping, dates, HTTP types, plain records.

pub mod activity;
pub mod api;
pub mod cursor;
pub mod errors;
pub mod groups;
pub mod http;
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

#[cfg(target_arch = "wasm32")]
wit_bindgen::generate!({ path: "../../wit/0.2.0", world: "spoke" });
