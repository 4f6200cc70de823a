//! Error mapping, all in one place: the spoke's `SpokeError` (a mirror of the WIT
//! `spoke-error` variant), the `Endpoint` catalogue that knows which OAuth scope each
//! Confluence call needs, and the translation of vendor answers (status, body, headers) and
//! of the engine's `http-error` into errors the engine can act on. Atlassian's gateway
//! answers a missing scope with 401 "scope does not match", so that case becomes
//! `Forbidden` naming the endpoint's scope; a 403 on a group write means the consenting user
//! is not a site admin.

use std::fmt;

use crate::http::{HttpError, Response};

/// Scope constants (classic scopes, as in the reference guide's permissions table).
pub const SCOPE_READ_GROUPS: &str = "read:confluence-groups";
pub const SCOPE_WRITE_GROUPS: &str = "write:confluence-groups";
pub const SCOPE_READ_USER: &str = "read:confluence-user";
pub const SCOPE_SEARCH: &str = "search:confluence";

/// Message for a 403 on a group write.
pub const NOT_SITE_ADMIN: &str = "the consenting user must be a site admin";

/// Why a spoke call failed; mirrors the WIT `spoke-error` variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpokeError {
    Unauthorized(String),
    Forbidden {
        message: String,
        missing_scope: Option<String>,
    },
    NotFound(String),
    RateLimited {
        message: String,
        retry_after_seconds: Option<u64>,
    },
    InvalidConfig(String),
    Transient(String),
    Vendor(String),
}

impl fmt::Display for SpokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpokeError::Unauthorized(m) => write!(f, "unauthorized: {m}"),
            SpokeError::Forbidden {
                message,
                missing_scope: Some(s),
            } => write!(f, "forbidden (missing scope {s}): {message}"),
            SpokeError::Forbidden { message, .. } => write!(f, "forbidden: {message}"),
            SpokeError::NotFound(m) => write!(f, "not found: {m}"),
            SpokeError::RateLimited { message, .. } => write!(f, "rate limited: {message}"),
            SpokeError::InvalidConfig(m) => write!(f, "invalid config: {m}"),
            SpokeError::Transient(m) => write!(f, "transient: {m}"),
            SpokeError::Vendor(m) => write!(f, "vendor: {m}"),
        }
    }
}

impl std::error::Error for SpokeError {}

/// The Confluence operations the spoke calls, each with the scope it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /wiki/rest/api/group`
    ListGroups,
    /// `GET /wiki/rest/api/group/{groupId}/membersByGroupId`
    GroupMembers,
    /// `GET /wiki/rest/api/user/memberof`
    UserMemberOf,
    /// `GET /wiki/rest/api/user/current`
    CurrentUser,
    /// `GET /wiki/rest/api/search`
    Search,
    /// `DELETE /wiki/rest/api/group/userByGroupId`
    RemoveMember,
    /// `POST /wiki/rest/api/group/userByGroupId`
    AddMember,
}

impl Endpoint {
    /// The classic OAuth scope the endpoint requires (per the v1 spec's security section).
    pub fn scope(self) -> &'static str {
        match self {
            Endpoint::ListGroups | Endpoint::GroupMembers => SCOPE_READ_GROUPS,
            Endpoint::UserMemberOf | Endpoint::CurrentUser => SCOPE_READ_USER,
            Endpoint::Search => SCOPE_SEARCH,
            Endpoint::RemoveMember | Endpoint::AddMember => SCOPE_WRITE_GROUPS,
        }
    }

    /// Whether the endpoint writes group membership (403 = not a site admin).
    pub fn is_group_write(self) -> bool {
        matches!(self, Endpoint::RemoveMember | Endpoint::AddMember)
    }

    /// What was called, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Endpoint::ListGroups => "list groups",
            Endpoint::GroupMembers => "list members of a group",
            Endpoint::UserMemberOf => "list a user's groups",
            Endpoint::CurrentUser => "read the current user",
            Endpoint::Search => "search content with CQL",
            Endpoint::RemoveMember => "remove a user from a group",
            Endpoint::AddMember => "add a user to a group",
        }
    }
}

/// The longest body excerpt put into an error message.
const EXCERPT_CHARS: usize = 200;

/// A short, single-line excerpt of a body for error messages.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.trim();
    let mut out: String = flat.chars().take(EXCERPT_CHARS).collect();
    if flat.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

/// The human message a Confluence or gateway error body carries, if any: `message`, then
/// `data.errors[0].message.translation`, then `reason`, then OAuth `error_description`.
pub fn vendor_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let pick = |v: Option<&serde_json::Value>| {
        v.and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    pick(value.get("message"))
        .or_else(|| {
            pick(
                value
                    .get("data")
                    .and_then(|d| d.get("errors"))
                    .and_then(|e| e.get(0))
                    .and_then(|e| e.get("message"))
                    .and_then(|m| m.get("translation")),
            )
        })
        .or_else(|| pick(value.get("reason")))
        .or_else(|| pick(value.get("error_description")))
        .or_else(|| {
            pick(
                value
                    .get("errors")
                    .and_then(|e| e.get(0))
                    .and_then(|e| e.get("title")),
            )
        })
}

/// Maps a non-2xx response from `endpoint` to a `SpokeError`.
pub fn from_status(endpoint: Endpoint, response: &Response) -> SpokeError {
    let status = response.status;
    let said = vendor_message(&response.body).unwrap_or_else(|| excerpt(&response.body));
    let message = if said.is_empty() {
        format!("{} answered HTTP {status}", endpoint.describe())
    } else {
        format!("{} answered HTTP {status}: {said}", endpoint.describe())
    };
    match status {
        401 if said.to_ascii_lowercase().contains("scope does not match") => {
            SpokeError::Forbidden {
                message,
                missing_scope: Some(endpoint.scope().to_string()),
            }
        }
        401 => SpokeError::Unauthorized(message),
        403 if endpoint.is_group_write() => SpokeError::Forbidden {
            message: format!("{NOT_SITE_ADMIN} ({message})"),
            missing_scope: None,
        },
        403 => SpokeError::Forbidden {
            message,
            missing_scope: None,
        },
        404 => SpokeError::NotFound(message),
        429 => SpokeError::RateLimited {
            message,
            retry_after_seconds: response
                .header("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok()),
        },
        500..=599 => SpokeError::Transient(message),
        _ => SpokeError::Vendor(message),
    }
}

/// Maps the engine's `http-error` for a call to `endpoint`.
pub fn from_http_error(endpoint: Endpoint, error: HttpError) -> SpokeError {
    let what = endpoint.describe();
    match error {
        HttpError::Denied(reason) => {
            SpokeError::InvalidConfig(format!("the engine refused to {what}: {reason}"))
        }
        HttpError::Timeout => SpokeError::Transient(format!("{what}: no answer in time")),
        HttpError::Connection(reason) => {
            SpokeError::Transient(format!("{what}: connection failed: {reason}"))
        }
        HttpError::BodyTooLarge(cap) => SpokeError::Vendor(format!(
            "{what}: the response was larger than the engine's cap of {cap} bytes"
        )),
    }
}

/// A 2xx body that did not parse as the expected JSON.
pub fn unparsable(endpoint: Endpoint, body: &[u8], error: &serde_json::Error) -> SpokeError {
    SpokeError::Vendor(format!(
        "{} answered unexpected JSON ({error}): {}",
        endpoint.describe(),
        excerpt(body)
    ))
}

/// Checks the outcome of one call: a 2xx response passes, anything else becomes an error.
pub fn check(
    endpoint: Endpoint,
    outcome: Result<Response, HttpError>,
) -> Result<Response, SpokeError> {
    match outcome {
        Ok(response) if response.is_success() => Ok(response),
        Ok(response) => Err(from_status(endpoint, &response)),
        Err(error) => Err(from_http_error(endpoint, error)),
    }
}

/// Parses a 2xx body as `T`, mapping failures to `Vendor`.
pub fn parse<T: serde::de::DeserializeOwned>(
    endpoint: Endpoint,
    response: &Response,
) -> Result<T, SpokeError> {
    serde_json::from_slice(&response.body).map_err(|e| unparsable(endpoint, &response.body, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("retry-after".into(), "17".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn scope_mismatch_names_the_endpoint_scope() {
        let e = from_status(
            Endpoint::Search,
            &resp(
                401,
                r#"{"code":401,"message":"Unauthorized; scope does not match"}"#,
            ),
        );
        assert!(matches!(
            e,
            SpokeError::Forbidden { missing_scope: Some(ref s), .. } if s == SCOPE_SEARCH
        ));
        let e = from_status(
            Endpoint::GroupMembers,
            &resp(401, r#"{"code":401,"message":"Unauthorized"}"#),
        );
        assert!(matches!(e, SpokeError::Unauthorized(_)));
    }

    #[test]
    fn statuses_map() {
        let forbidden = r#"{"statusCode":403,"data":{"authorized":false,"valid":true,"errors":[],"successful":false},"message":"com.atlassian.confluence.api.service.exceptions.PermissionException: nope"}"#;
        match from_status(Endpoint::RemoveMember, &resp(403, forbidden)) {
            SpokeError::Forbidden {
                message,
                missing_scope: None,
            } => assert!(message.starts_with(NOT_SITE_ADMIN)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            from_status(Endpoint::ListGroups, &resp(403, "")),
            SpokeError::Forbidden { .. }
        ));
        assert!(matches!(
            from_status(Endpoint::GroupMembers, &resp(404, "{}")),
            SpokeError::NotFound(_)
        ));
        assert_eq!(
            from_status(Endpoint::Search, &resp(429, "")),
            SpokeError::RateLimited {
                message: "search content with CQL answered HTTP 429".into(),
                retry_after_seconds: Some(17)
            }
        );
        assert!(matches!(
            from_status(Endpoint::Search, &resp(503, "")),
            SpokeError::Transient(_)
        ));
        match from_status(Endpoint::Search, &resp(400, "<html>bad cql</html>")) {
            SpokeError::Vendor(m) => assert!(m.contains("bad cql")),
            other => panic!("{other:?}"),
        }
        let e = from_status(
            Endpoint::Search,
            &resp(
                400,
                r#"{"statusCode":400,"data":{"errors":[{"message":{"translation":"Could not parse cql","args":[]}}]}}"#,
            ),
        );
        assert!(matches!(e, SpokeError::Vendor(ref m) if m.contains("Could not parse cql")));
    }

    #[test]
    fn http_errors_map() {
        assert!(matches!(
            from_http_error(Endpoint::Search, HttpError::Denied("host".into())),
            SpokeError::InvalidConfig(_)
        ));
        assert!(matches!(
            from_http_error(Endpoint::Search, HttpError::Timeout),
            SpokeError::Transient(_)
        ));
        assert!(matches!(
            from_http_error(Endpoint::Search, HttpError::Connection("reset".into())),
            SpokeError::Transient(_)
        ));
        assert!(matches!(
            from_http_error(Endpoint::Search, HttpError::BodyTooLarge(10)),
            SpokeError::Vendor(_)
        ));
    }

    #[test]
    fn excerpt_is_short_and_flat() {
        let long = "x\n".repeat(500);
        let e = excerpt(long.as_bytes());
        assert!(e.chars().count() <= EXCERPT_CHARS + 1);
        assert!(!e.contains('\n'));
    }
}
