//! Errors, all in one place: [`SpokeError`] (the WIT `spoke-error` variant as a typed
//! error), and the translation of a vendor's answers (status, headers, body) and of the
//! engine's `http-error` into errors the engine can act on. The common table: 401
//! unauthorized, 403 forbidden, 404 not found, 429 rate limited (with `Retry-After`
//! seconds), 5xx transient, anything else a vendor error; a 2xx whose JSON does not parse is
//! a vendor error. A vendor whose answers say more (a scope named in a 401, a rate limit
//! answered as 403) refines the table through [`Call`], implemented per call or endpoint.

use serde::de::DeserializeOwned;

use crate::http::{HttpError, Response};
use crate::wit;

/// Why a spoke call failed; the WIT `spoke-error` variant.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpokeError {
    /// The credential was rejected: refresh or re-consent.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The credential lacks a permission or scope.
    #[error("forbidden{}: {message}", missing_scope.as_ref().map(|s| format!(" (missing scope {s})")).unwrap_or_default())]
    Forbidden {
        message: String,
        missing_scope: Option<String>,
    },
    /// The object (group, user, site) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The vendor's quota or burst limit.
    #[error("rate limited: {message}")]
    RateLimited {
        message: String,
        retry_after_seconds: Option<u64>,
    },
    /// The profile's config is wrong (missing field, malformed value, bad cursor).
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// A failure worth retrying later (timeouts, 5xx after retries).
    #[error("transient: {0}")]
    Transient(String),
    /// The vendor answered something the spoke did not expect.
    #[error("vendor: {0}")]
    Vendor(String),
}

impl From<SpokeError> for wit::SpokeError {
    fn from(e: SpokeError) -> Self {
        match e {
            SpokeError::Unauthorized(m) => wit::SpokeError::Unauthorized(m),
            SpokeError::Forbidden {
                message,
                missing_scope,
            } => wit::SpokeError::Forbidden(wit::Forbidden {
                message,
                missing_scope,
            }),
            SpokeError::NotFound(m) => wit::SpokeError::NotFound(m),
            SpokeError::RateLimited {
                message,
                retry_after_seconds,
            } => wit::SpokeError::RateLimited(wit::RateLimited {
                message,
                retry_after_seconds,
            }),
            SpokeError::InvalidConfig(m) => wit::SpokeError::InvalidConfig(m),
            SpokeError::Transient(m) => wit::SpokeError::Transient(m),
            SpokeError::Vendor(m) => wit::SpokeError::Vendor(m),
        }
    }
}

impl From<wit::SpokeError> for SpokeError {
    fn from(e: wit::SpokeError) -> Self {
        match e {
            wit::SpokeError::Unauthorized(m) => SpokeError::Unauthorized(m),
            wit::SpokeError::Forbidden(f) => SpokeError::Forbidden {
                message: f.message,
                missing_scope: f.missing_scope,
            },
            wit::SpokeError::NotFound(m) => SpokeError::NotFound(m),
            wit::SpokeError::RateLimited(r) => SpokeError::RateLimited {
                message: r.message,
                retry_after_seconds: r.retry_after_seconds,
            },
            wit::SpokeError::InvalidConfig(m) => SpokeError::InvalidConfig(m),
            wit::SpokeError::Transient(m) => SpokeError::Transient(m),
            wit::SpokeError::Vendor(m) => SpokeError::Vendor(m),
        }
    }
}

/// One kind of call to a vendor, and how that vendor words its errors. `what` names the
/// call in messages ("list members of a group"); the other methods refine the common table
/// and default to it. `&str` implements it with the defaults.
pub trait Call {
    /// What was called, in words.
    fn what(&self) -> &str;

    /// The human message of an error body; by default [`json_message`].
    fn message(&self, body: &[u8]) -> Option<String> {
        json_message(body)
    }

    /// The vendor-specific reading of a non-2xx answer, before the common table: `Some` to
    /// decide (`message` is the formatted message, `said` what the vendor said).
    fn classify(&self, _response: &Response, _message: &str, _said: &str) -> Option<SpokeError> {
        None
    }

    /// The scope or permission a 401/403 lacked, where the answer says; none by default.
    fn missing_scope(&self, _response: &Response) -> Option<String> {
        None
    }
}

impl Call for &str {
    fn what(&self) -> &str {
        self
    }
}

impl Call for String {
    fn what(&self) -> &str {
        self
    }
}

/// The longest body excerpt put into an error message.
pub const EXCERPT_CHARS: usize = 200;

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

/// The non-blank string at `value`, trimmed.
pub fn json_str(value: Option<&serde_json::Value>) -> Option<String> {
    value
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The human message the usual JSON error bodies carry: `message`, `reason`,
/// `error_description` (OAuth), `errors[0].title` (JSON:API), `errors[0].message`, then a
/// string `error` (`{"error":"not_found"}`).
pub fn json_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let first_error = value.get("errors").and_then(|e| e.get(0));
    json_str(value.get("message"))
        .or_else(|| json_str(value.get("reason")))
        .or_else(|| json_str(value.get("error_description")))
        .or_else(|| json_str(first_error.and_then(|e| e.get("title"))))
        .or_else(|| json_str(first_error.and_then(|e| e.get("message"))))
        .or_else(|| json_str(value.get("error")))
}

/// The `Retry-After` header in seconds (the delta-seconds form), where given.
pub fn retry_after(response: &Response) -> Option<u64> {
    response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Maps a non-2xx answer to `call` to a [`SpokeError`]: the call's own reading first, then
/// the common table. The message is `<what> answered HTTP <status>[: <what the vendor said>]`.
pub fn from_status(call: &(impl Call + ?Sized), response: &Response) -> SpokeError {
    let status = response.status;
    let said = call
        .message(&response.body)
        .unwrap_or_else(|| excerpt(&response.body));
    let message = if said.is_empty() {
        format!("{} answered HTTP {status}", call.what())
    } else {
        format!("{} answered HTTP {status}: {said}", call.what())
    };
    if let Some(error) = call.classify(response, &message, &said) {
        return error;
    }
    match status {
        401 => SpokeError::Unauthorized(message),
        403 => SpokeError::Forbidden {
            missing_scope: call.missing_scope(response),
            message,
        },
        404 => SpokeError::NotFound(message),
        429 => SpokeError::RateLimited {
            message,
            retry_after_seconds: retry_after(response),
        },
        500..=599 => SpokeError::Transient(message),
        _ => SpokeError::Vendor(message),
    }
}

/// Maps the engine's `http-error` for `call`: a refused request is the profile's fault
/// (invalid config), a timeout or broken connection transient, an oversized body the
/// vendor's.
pub fn from_http_error(call: &(impl Call + ?Sized), error: HttpError) -> SpokeError {
    let what = call.what();
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

/// Checks one outcome: a 2xx answer passes, anything else becomes the error.
pub fn check(
    call: &(impl Call + ?Sized),
    outcome: Result<Response, HttpError>,
) -> Result<Response, SpokeError> {
    match outcome {
        Ok(response) if response.is_success() => Ok(response),
        Ok(response) => Err(from_status(call, &response)),
        Err(error) => Err(from_http_error(call, error)),
    }
}

/// The answer of one outcome whatever its status (only `http-error` fails), for callers
/// that read a status themselves (a 404 that means "already done").
pub fn answered(
    call: &(impl Call + ?Sized),
    outcome: Result<Response, HttpError>,
) -> Result<Response, SpokeError> {
    outcome.map_err(|e| from_http_error(call, e))
}

/// Parses a 2xx body as `T`; a body that does not parse is a vendor error.
pub fn parse_json<T: DeserializeOwned>(
    call: &(impl Call + ?Sized),
    response: &Response,
) -> Result<T, SpokeError> {
    serde_json::from_slice(&response.body).map_err(|e| {
        SpokeError::Vendor(format!(
            "{} answered unexpected JSON ({e}): {}",
            call.what(),
            excerpt(&response.body)
        ))
    })
}

/// Checks one outcome and parses its JSON.
pub fn json_outcome<T: DeserializeOwned>(
    call: &(impl Call + ?Sized),
    outcome: Result<Response, HttpError>,
) -> Result<T, SpokeError> {
    let response = check(call, outcome)?;
    parse_json(call, &response)
}

/// Sends one request, checks the answer and parses its JSON.
pub fn fetch_json<T: DeserializeOwned>(
    http: &(impl crate::Http + ?Sized),
    call: &(impl Call + ?Sized),
    request: crate::Request,
) -> Result<T, SpokeError> {
    json_outcome(call, http.send(request))
}

/// Sends one request and checks that it succeeded.
pub fn send_ok(
    http: &(impl crate::Http + ?Sized),
    call: &(impl Call + ?Sized),
    request: crate::Request,
) -> Result<Response, SpokeError> {
    check(call, http.send(request))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_common_table() {
        let call = "list seats";
        assert!(matches!(
            from_status(&call, &resp(401, &[], r#"{"error":"unauthorized"}"#)),
            SpokeError::Unauthorized(m) if m == "list seats answered HTTP 401: unauthorized"
        ));
        assert!(matches!(
            from_status(&call, &resp(403, &[], "")),
            SpokeError::Forbidden {
                missing_scope: None,
                ..
            }
        ));
        assert!(matches!(
            from_status(&call, &resp(404, &[], "{}")),
            SpokeError::NotFound(_)
        ));
        assert_eq!(
            from_status(&call, &resp(429, &[("Retry-After", " 17 ")], "")),
            SpokeError::RateLimited {
                message: "list seats answered HTTP 429".into(),
                retry_after_seconds: Some(17)
            }
        );
        assert_eq!(
            from_status(
                &call,
                &resp(429, &[("retry-after", "Wed, 21 Oct 2015")], "")
            ),
            SpokeError::RateLimited {
                message: "list seats answered HTTP 429".into(),
                retry_after_seconds: None
            }
        );
        for s in [500, 502, 503, 599] {
            assert!(matches!(
                from_status(&call, &resp(s, &[], "")),
                SpokeError::Transient(_)
            ));
        }
        for s in [400, 409, 422, 302] {
            assert!(matches!(
                from_status(&call, &resp(s, &[], "<html>bad</html>")),
                SpokeError::Vendor(m) if m.contains("bad")
            ));
        }
    }

    #[test]
    fn messages_come_from_the_usual_fields() {
        for (body, want) in [
            (r#"{"message":" m ","error":"e"}"#, Some("m")),
            (r#"{"reason":"r"}"#, Some("r")),
            (r#"{"error_description":"d","error":"e"}"#, Some("d")),
            (r#"{"errors":[{"title":"t"}]}"#, Some("t")),
            (r#"{"errors":[{"message":"em"}]}"#, Some("em")),
            (
                r#"{"error":"forbidden","missing_scope":"x"}"#,
                Some("forbidden"),
            ),
            (r#"{"error":{"code":1}}"#, None),
            ("not json", None),
        ] {
            assert_eq!(json_message(body.as_bytes()).as_deref(), want, "{body}");
        }
    }

    struct Scoped;
    impl Call for Scoped {
        fn what(&self) -> &str {
            "read"
        }
        fn missing_scope(&self, response: &Response) -> Option<String> {
            serde_json::from_slice::<serde_json::Value>(&response.body)
                .ok()
                .and_then(|v| json_str(v.get("missing_scope")))
        }
        fn classify(&self, response: &Response, message: &str, said: &str) -> Option<SpokeError> {
            (response.status == 401 && said.contains("scope")).then(|| SpokeError::Forbidden {
                message: message.into(),
                missing_scope: Some("s".into()),
            })
        }
    }

    #[test]
    fn a_call_refines_the_table() {
        assert_eq!(
            from_status(
                &Scoped,
                &resp(
                    403,
                    &[],
                    r#"{"error":"forbidden","missing_scope":"seats:write"}"#
                )
            ),
            SpokeError::Forbidden {
                message: "read answered HTTP 403: forbidden".into(),
                missing_scope: Some("seats:write".into())
            }
        );
        assert!(matches!(
            from_status(&Scoped, &resp(401, &[], r#"{"message":"scope does not match"}"#)),
            SpokeError::Forbidden { missing_scope: Some(s), .. } if s == "s"
        ));
        assert!(matches!(
            from_status(&Scoped, &resp(401, &[], "{}")),
            SpokeError::Unauthorized(_)
        ));
    }

    #[test]
    fn http_errors_map() {
        let c = "x";
        assert!(matches!(
            from_http_error(&c, HttpError::Denied("host".into())),
            SpokeError::InvalidConfig(_)
        ));
        assert!(matches!(
            from_http_error(&c, HttpError::Timeout),
            SpokeError::Transient(_)
        ));
        assert!(matches!(
            from_http_error(&c, HttpError::Connection("reset".into())),
            SpokeError::Transient(_)
        ));
        assert!(matches!(
            from_http_error(&c, HttpError::BodyTooLarge(10)),
            SpokeError::Vendor(_)
        ));
    }

    #[test]
    fn json_is_checked_and_parsed() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Me {
            account: String,
        }
        let ok = resp(200, &[], r#"{"account":"acme","extra":1}"#);
        assert_eq!(
            json_outcome::<Me>(&"me", Ok(ok)),
            Ok(Me {
                account: "acme".into()
            })
        );
        assert!(matches!(
            json_outcome::<Me>(&"me", Ok(resp(200, &[], "[1,"))),
            Err(SpokeError::Vendor(m)) if m.starts_with("me answered unexpected JSON")
        ));
        assert!(matches!(
            json_outcome::<Me>(&"me", Ok(resp(503, &[], ""))),
            Err(SpokeError::Transient(_))
        ));
        assert_eq!(
            answered(&"me", Ok(resp(404, &[], ""))).map(|r| r.status),
            Ok(404)
        );
    }

    #[test]
    fn errors_convert_to_the_contract_and_back() {
        let all = [
            SpokeError::Unauthorized("a".into()),
            SpokeError::Forbidden {
                message: "b".into(),
                missing_scope: Some("s".into()),
            },
            SpokeError::NotFound("c".into()),
            SpokeError::RateLimited {
                message: "d".into(),
                retry_after_seconds: Some(3),
            },
            SpokeError::InvalidConfig("e".into()),
            SpokeError::Transient("f".into()),
            SpokeError::Vendor("g".into()),
        ];
        for e in all {
            let back = SpokeError::from(wit::SpokeError::from(e.clone()));
            assert_eq!(back, e);
        }
        assert_eq!(
            SpokeError::Forbidden {
                message: "m".into(),
                missing_scope: Some("x".into())
            }
            .to_string(),
            "forbidden (missing scope x): m"
        );
    }

    #[test]
    fn excerpt_is_short_and_flat() {
        let long = "x\n".repeat(500);
        let e = excerpt(long.as_bytes());
        assert!(e.chars().count() <= EXCERPT_CHARS + 1);
        assert!(!e.contains('\n'));
    }
}
