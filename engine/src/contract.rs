//! The current contract (`sam:spoke@0.2.0`) as Rust types: the records, variants and enums
//! that cross the boundary between the engine and a spoke (manifest, config, pages, errors,
//! HTTP messages). They are generated from `wit/0.2.0/spoke.wit` by wasmtime's `bindgen!`
//! (see [`crate::host`]) and re-exported here so the rest of the engine and its users never
//! name the generated modules. Components of older versions are adapted to these types by the
//! host.

pub use crate::host::bindings::v0_2::sam::spoke::http::{HttpError, Method, Request, Response};
pub use crate::host::bindings::v0_2::sam::spoke::log::Level as LogLevel;
pub use crate::host::bindings::v0_2::sam::spoke::types::*;

/// The version of the WIT package this engine implements (and new spokes should target).
pub const CONTRACT_VERSION: &str = "0.2.0";

/// Every contract version this engine loads, oldest first.
pub const SUPPORTED_VERSIONS: &[&str] = crate::host::bindings::SUPPORTED_VERSIONS;

impl Process {
    /// The process's name as the reference guide writes it.
    pub fn label(self) -> &'static str {
        match self {
            Process::DownloadSubscriptions => "Download subscriptions",
            Process::DownloadActivity => "Pull user activity",
            Process::Reclaim => "Reclaim subscription",
        }
    }

    /// The process's machine name, as in the WIT enum.
    pub fn key(self) -> &'static str {
        match self {
            Process::DownloadSubscriptions => "download-subscriptions",
            Process::DownloadActivity => "download-activity",
            Process::Reclaim => "reclaim",
        }
    }
}

impl SpokeError {
    /// A one-line description for people (the generated `Display` is the debug form).
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let _ = self.write_description(&mut out);
        out
    }

    fn write_description(&self, f: &mut impl std::fmt::Write) -> std::fmt::Result {
        match self {
            SpokeError::Unauthorized(m) => write!(f, "unauthorized: {m}"),
            SpokeError::Forbidden(Forbidden {
                message,
                missing_scope: Some(scope),
            }) => write!(f, "forbidden (missing scope {scope}): {message}"),
            SpokeError::Forbidden(Forbidden { message, .. }) => write!(f, "forbidden: {message}"),
            SpokeError::NotFound(m) => write!(f, "not found: {m}"),
            SpokeError::RateLimited(RateLimited {
                message,
                retry_after_seconds: Some(s),
            }) => write!(f, "rate limited (retry after {s} s): {message}"),
            SpokeError::RateLimited(RateLimited { message, .. }) => {
                write!(f, "rate limited: {message}")
            }
            SpokeError::InvalidConfig(m) => write!(f, "invalid config: {m}"),
            SpokeError::Transient(m) => write!(f, "transient failure: {m}"),
            SpokeError::Vendor(m) => write!(f, "unexpected vendor response: {m}"),
        }
    }
}

impl HttpError {
    /// A one-line description for people (the generated `Display` is the debug form).
    pub fn describe(&self) -> String {
        match self {
            HttpError::Denied(reason) => format!("request denied by the engine: {reason}"),
            HttpError::Timeout => "request timed out".to_string(),
            HttpError::Connection(m) => format!("connection failed: {m}"),
            HttpError::BodyTooLarge(cap) => format!("response body larger than {cap} bytes"),
        }
    }
}

impl Method {
    /// Whether repeating the request cannot change the outcome (RFC 9110 §9.2.2).
    pub fn is_idempotent(self) -> bool {
        !matches!(self, Method::Post | Method::Patch)
    }

    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}
