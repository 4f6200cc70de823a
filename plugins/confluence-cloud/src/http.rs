//! Plain HTTP types and the `Http` trait through which every other module talks to
//! Confluence. They mirror the WIT `http` interface (request, response, http-error, method)
//! so that all logic is host-testable with a scripted fake; the wasm glue implements the
//! trait over the engine's imports. This module also owns the small URL helpers
//! (percent-encoding and decoding, query-string parsing) the request builders need.

/// HTTP method, as in the WIT `method` enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

/// One request; `path` is relative to the connection URL and `query` is appended, in order,
/// by the engine (which encodes it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// A GET with `Accept: application/json`.
    pub fn get(path: impl Into<String>, query: Vec<(String, String)>) -> Self {
        Request {
            method: Method::Get,
            path: path.into(),
            query,
            headers: vec![("accept".into(), "application/json".into())],
            body: None,
        }
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
    /// The first header named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why no response came back, as in the WIT `http-error` variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    Denied(String),
    Timeout,
    Connection(String),
    BodyTooLarge(u64),
}

/// The engine's HTTP (and debug log), as seen by the spoke's logic.
pub trait Http {
    /// Sends one request.
    fn send(&self, request: Request) -> Result<Response, HttpError>;
    /// Sends independent requests concurrently; outcomes in the same order.
    fn send_all(&self, requests: Vec<Request>) -> Vec<Result<Response, HttpError>>;
    /// A debug log line (one per page at most). No-op by default.
    fn debug(&self, _message: &str) {}
}

/// Percent-encodes a path segment (RFC 3986 unreserved characters stay as they are).
pub fn encode_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes and `+` (as space) in a query component; invalid escapes stay as
/// they are.
pub fn decode_component(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a path-with-query into the path and its decoded query pairs.
pub fn split_query(link: &str) -> (String, Vec<(String, String)>) {
    let link = link.split('#').next().unwrap_or_default();
    match link.split_once('?') {
        None => (link.to_string(), Vec::new()),
        Some((path, query)) => {
            let pairs = query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (decode_component(k), decode_component(v)),
                    None => (decode_component(p), String::new()),
                })
                .collect();
            (path.to_string(), pairs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes() {
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(decode_component("a%20b+c%2"), "a b c%2");
        assert_eq!(decode_component("%zz"), "%zz");
        let (p, q) = split_query("/rest/api/search?cql=type%3Dpage&limit=25&cursor=ab%3D");
        assert_eq!(p, "/rest/api/search");
        assert_eq!(
            q,
            vec![
                ("cql".into(), "type=page".into()),
                ("limit".into(), "25".into()),
                ("cursor".into(), "ab=".into())
            ]
        );
    }
}
