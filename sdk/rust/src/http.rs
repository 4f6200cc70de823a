//! HTTP as a spoke sees it: plain mirrors of the WIT `http` interface (request, response,
//! `http-error`, method), the [`Http`] trait a spoke's logic is written against (so it
//! unit-tests on the host with a scripted fake), [`Engine`], the implementation over the
//! engine's imports, JSON request bodies, and the URL helpers request builders need
//! (percent-encoding a path segment, decoding a query component, splitting a link into its
//! path and query).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::Serialize;

use crate::bindings::sam::spoke::http as wit_http;

/// HTTP method, as in the WIT `method` enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

/// One request. `path` is relative to the connection URL (or an absolute URL on an allowed
/// host); `query` is appended, in order, by the engine, which encodes it. A spoke never sets
/// `Authorization`: the engine adds the credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// A request without query, headers or body.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Request {
            method,
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// A GET with `Accept: application/json`.
    pub fn get(path: impl Into<String>, query: Vec<(String, String)>) -> Self {
        Request::new(Method::Get, path)
            .with_query(query)
            .with_header("accept", "application/json")
    }

    /// Appends query parameters.
    pub fn with_query(mut self, query: Vec<(String, String)>) -> Self {
        self.query.extend(query);
        self
    }

    /// Appends one query parameter.
    pub fn with_param(mut self, name: &str, value: impl ToString) -> Self {
        self.query.push((name.to_string(), value.to_string()));
        self
    }

    /// Appends a header (names are sent as given; use lowercase).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets a JSON body (and `Content-Type: application/json`).
    pub fn with_json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        // Serialising plain data (no maps with non-string keys) cannot fail; a type that
        // can is the caller's bug, so it becomes an empty JSON object rather than a panic.
        let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
        self.headers
            .push(("content-type".into(), "application/json".into()));
        self.body = Some(bytes);
        self
    }

    /// The value of the first query parameter named `name`.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One response; header names are lowercase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The first header named `name` (any case) of `headers`.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Why no response came back, as in the WIT `http-error` variant.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The engine refused the request (host not allowed, malformed path).
    #[error("the engine refused the request: {0}")]
    Denied(String),
    /// No answer in time.
    #[error("no answer in time")]
    Timeout,
    /// The connection failed or broke mid-body.
    #[error("connection failed: {0}")]
    Connection(String),
    /// The response body was larger than the engine's cap (bytes).
    #[error("the response was larger than the engine's cap of {0} bytes")]
    BodyTooLarge(u64),
}

/// The engine's HTTP (and debug log), as seen by a spoke's logic.
pub trait Http {
    /// Sends one request.
    fn send(&self, request: Request) -> Result<Response, HttpError>;
    /// Sends independent requests concurrently; outcomes in the same order.
    fn send_all(&self, requests: Vec<Request>) -> Vec<Result<Response, HttpError>>;
    /// A debug log line. No-op by default (a host fake logs nothing).
    fn debug(&self, _message: &str) {}
}

/// [`Http`] over the engine's `http` and `log` imports (what a spoke uses in wasm; on the
/// host its calls are unreachable, so host tests use a fake).
#[derive(Clone, Copy, Debug, Default)]
pub struct Engine;

fn to_wit_method(method: Method) -> wit_http::Method {
    match method {
        Method::Get => wit_http::Method::Get,
        Method::Head => wit_http::Method::Head,
        Method::Post => wit_http::Method::Post,
        Method::Put => wit_http::Method::Put,
        Method::Patch => wit_http::Method::Patch,
        Method::Delete => wit_http::Method::Delete,
    }
}

impl From<Request> for wit_http::Request {
    fn from(r: Request) -> Self {
        wit_http::Request {
            method: to_wit_method(r.method),
            path: r.path,
            query: r.query,
            headers: r.headers,
            body: r.body,
        }
    }
}

impl From<wit_http::Response> for Response {
    fn from(r: wit_http::Response) -> Self {
        Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }
    }
}

impl From<wit_http::HttpError> for HttpError {
    fn from(e: wit_http::HttpError) -> Self {
        match e {
            wit_http::HttpError::Denied(m) => HttpError::Denied(m),
            wit_http::HttpError::Timeout => HttpError::Timeout,
            wit_http::HttpError::Connection(m) => HttpError::Connection(m),
            wit_http::HttpError::BodyTooLarge(n) => HttpError::BodyTooLarge(n),
        }
    }
}

fn from_wit_outcome(
    outcome: Result<wit_http::Response, wit_http::HttpError>,
) -> Result<Response, HttpError> {
    outcome.map(Response::from).map_err(HttpError::from)
}

impl Http for Engine {
    fn send(&self, request: Request) -> Result<Response, HttpError> {
        from_wit_outcome(wit_http::send(&request.into()))
    }

    fn send_all(&self, requests: Vec<Request>) -> Vec<Result<Response, HttpError>> {
        if requests.is_empty() {
            return Vec::new();
        }
        let requests: Vec<wit_http::Request> = requests.into_iter().map(Into::into).collect();
        wit_http::send_all(&requests)
            .into_iter()
            .map(from_wit_outcome)
            .collect()
    }

    fn debug(&self, message: &str) {
        crate::log::log(crate::log::Level::Debug, message);
    }
}

/// What a path segment may hold unescaped: RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a path segment (RFC 3986 unreserved characters stay as they are).
pub fn encode_segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// Decodes `%XX` escapes and `+` (as space) in a query component; invalid escapes stay as
/// they are, invalid UTF-8 becomes U+FFFD.
pub fn decode_component(value: &str) -> String {
    percent_decode_str(&value.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Splits a path-with-query (a vendor's "next" link) into the path and its decoded query
/// pairs; a fragment is dropped.
pub fn split_query(link: &str) -> (String, Vec<(String, String)>) {
    let link = link.split('#').next().unwrap_or_default();
    match link.split_once('?') {
        None => (link.to_string(), Vec::new()),
        Some((path, query)) => (
            path.to_string(),
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes() {
        assert_eq!(encode_segment("a b/c.d~é"), "a%20b%2Fc.d~%C3%A9");
        assert_eq!(decode_component("a%20b+c%2"), "a b c%2");
        assert_eq!(decode_component("%zz"), "%zz");
        let (p, q) = split_query("/rest/api/search?cql=type%3Dpage&limit=25&cursor=ab%3D#frag");
        assert_eq!(p, "/rest/api/search");
        assert_eq!(
            q,
            vec![
                ("cql".into(), "type=page".into()),
                ("limit".into(), "25".into()),
                ("cursor".into(), "ab=".into())
            ]
        );
        assert_eq!(split_query("/x"), ("/x".into(), Vec::new()));
    }

    #[test]
    fn builds_json_requests() {
        let r = Request::new(Method::Post, "/v1/seats")
            .with_json(&serde_json::json!({"user_id": "u-1"}))
            .with_param("dry", 1);
        assert_eq!(r.body.as_deref(), Some(br#"{"user_id":"u-1"}"#.as_slice()));
        assert_eq!(header(&r.headers, "Content-Type"), Some("application/json"));
        assert_eq!(r.query_value("dry"), Some("1"));
        let g = Request::get("/v1/me", Vec::new());
        assert_eq!(g.method, Method::Get);
        assert_eq!(header(&g.headers, "accept"), Some("application/json"));
        assert!(g.body.is_none());
    }

    proptest::proptest! {
        #[test]
        fn a_segment_round_trips_and_holds_no_separator(s in "\\PC*") {
            let e = encode_segment(&s);
            proptest::prop_assert!(!e.contains(['/', '?', '#', '&', '=', ' ']));
            proptest::prop_assert_eq!(decode_component(&e), s);
        }
    }
}
