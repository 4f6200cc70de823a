//! `sam-spoke`: the SDK for writing a sam spoke (a SaaS vendor integration, a WebAssembly
//! component for wasm32-wasip2) in Rust, against the `sam:spoke@0.2.0` contract
//! (`wit/0.2.0/spoke.wit`, packaged as `wit/`).
//!
//! A spoke implements [`Spoke`] (required: `manifest`, `validate`, `download_subscriptions`;
//! the optional exports have defaults that say "this spoke does not do that") and registers
//! it with [`export!`]. Everything it needs to talk to a vendor is here:
//!
//! - [`http`]: plain request/response types, the [`Http`] trait the logic is written
//!   against (so it unit-tests on the host with a scripted fake) and [`Engine`], its
//!   implementation over the engine's `http` import; JSON bodies; URL helpers.
//! - [`error`]: [`SpokeError`] (the contract's `spoke-error`, as a typed error) and the
//!   mapping of answers (401/403/404/429 with `Retry-After`/5xx) and of `http-error` to it,
//!   with per-vendor refinements through the [`Call`] trait.
//! - [`paging`]: offset + limit with a total, `Link` headers (`rel="next"`/`"last"`), and
//!   the `following-cursors` a page may tell.
//! - [`cursor`]: versioned, validated cursor encoding (a spoke holds no state between calls;
//!   a cursor that does not decode is `invalid-config`, never a silent restart).
//! - [`time`]: RFC 3339 / ISO 8601 and calendar dates to and from epoch seconds.
//! - [`log`] and the [`trace!`], [`debug!`], [`info!`], [`warn!`], [`error!`] macros over the
//!   engine's `log` import.
//! - [`bindings`] and [`wit`]: the generated bindings, re-exported.
//!
//! The bindings also compile for the host (their imports are unreachable there), so a
//! spoke's logic and this crate's helpers unit-test with `cargo test` on the host.

extern crate self as sam_spoke;

pub mod cursor;
pub mod error;
pub mod http;
pub mod log;
pub mod paging;
mod spoke;
pub mod time;

pub use error::{Call, SpokeError};
pub use http::{Engine, Http, HttpError, Method, Request, Response};
pub use spoke::{Spoke, validation_check};

/// The bindings wit-bindgen generates for the `spoke` world of `sam:spoke@0.2.0`.
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "spoke",
        pub_export_macro: true,
        export_macro_name: "__export_spoke_world",
        default_bindings_module: "sam_spoke::bindings",
        runtime_path: "sam_spoke::__wit_bindgen::rt",
    });
}

/// The contract's types (`sam:spoke/types@0.2.0`): manifest, config, pages, changes, ….
pub use bindings::sam::spoke::types as wit;

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;
