//! Recorded exchanges (a "cassette") for the conformance kit: what a spoke asked its vendor
//! and what the vendor answered during one kit run, so the run can be replayed later with no
//! network and no tenant. It owns the file format (JSON, pretty, `"format": 1`, exchanges in
//! the order they happened), the [`Recorder`] and [`Player`] hooks that sit in the HTTP gate
//! ([`crate::host::ExchangeHook`], where one attempt goes on the wire, after the allow-list,
//! header and budget checks), and the promise that no secret is written: an exchange holds
//! the method, the URL relative to the connection URL, the request body, the status, the
//! response headers and the response body, never the request headers (the bearer token and
//! every header the engine adds); response headers that carry credentials (`Set-Cookie`, ...)
//! are dropped, and the credential's own string is blanked wherever it would appear. On
//! replay a request is answered by the next unused exchange of the same session with the same
//! method, URL and body (the nth identical request gets the nth answer, so a reclaim's state
//! changes replay right); a request the recording lacks fails with an error naming it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

use crate::contract::{HttpError, Response};
use crate::host::{ExchangeHook, ExchangeRequest};

/// The cassette format this engine writes and reads.
pub const FORMAT: u32 = 1;

/// What replaces the credential wherever it would have been written.
pub const REDACTED: &str = "[redacted]";

/// Response headers never written to a cassette (they carry credentials).
const SECRET_RESPONSE_HEADERS: &[&str] = &[
    "set-cookie",
    "set-cookie2",
    "authorization",
    "proxy-authorization",
    "cookie",
    "www-authenticate",
    "proxy-authenticate",
];

/// A cassette could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CassetteError {
    /// The file could not be read or written.
    #[error("recording {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a cassette this engine reads.
    #[error("recording {path} is not readable: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A body as written: UTF-8 text as is, anything else base64.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Body {
    /// UTF-8 text.
    Text(String),
    /// Bytes that are not UTF-8, in standard base64.
    Base64(String),
}

impl Body {
    fn from_bytes(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Body::Text(text.to_string()),
            Err(_) => Body::Base64(base64::engine::general_purpose::STANDARD.encode(bytes)),
        }
    }

    /// The bytes; a base64 body that does not decode is an error.
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        match self {
            Body::Text(text) => Ok(text.as_bytes().to_vec()),
            Body::Base64(data) => base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|e| format!("a base64 body does not decode: {e}")),
        }
    }
}

/// One request and the vendor's answer to it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Exchange {
    /// Which of the kit's sessions sent it: `main` (the working credential) or `rejected`
    /// (the credential the vendor refuses).
    pub session: String,
    /// The method, e.g. `GET`.
    pub method: String,
    /// The URL relative to the connection URL (or whole, when outside it).
    pub url: String,
    /// The request body, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<Body>,
    /// The response status.
    pub status: u16,
    /// The response headers, in the order received (credential-bearing ones left out).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The response body.
    pub body: Body,
}

/// A recorded kit run: the exchanges and what the run needs to be repeated exactly (the
/// kit's "now", the config, the selected groups, the connection URL, the writes allowed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cassette {
    /// Always [`FORMAT`].
    pub format: u32,
    /// The spoke's manifest id at recording time.
    pub spoke: String,
    /// The connection URL the exchanges' URLs are relative to.
    pub connection_url: String,
    /// Hosts granted beyond the manifest's (a loopback simulator).
    #[serde(default)]
    pub grant_hosts: Vec<String>,
    /// The kit's "now", in epoch seconds.
    pub now: i64,
    /// The config fields, as `[name, value]`.
    #[serde(default)]
    pub config: Vec<(String, String)>,
    /// The selected groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Whether the reclaim and restore rules ran.
    #[serde(default)]
    pub allow_writes: bool,
    /// Users the kit did not reclaim.
    #[serde(default)]
    pub protected_users: Vec<String>,
    /// The exchanges, in the order they happened.
    pub exchanges: Vec<Exchange>,
}

impl Cassette {
    /// Reads a cassette; one of another format is refused.
    pub fn load(path: &Path) -> Result<Self, CassetteError> {
        let text = std::fs::read_to_string(path).map_err(|source| CassetteError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let malformed = |reason: String| CassetteError::Malformed {
            path: path.to_path_buf(),
            reason,
        };
        let header: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
        match header.get("format").and_then(serde_json::Value::as_u64) {
            Some(n) if n == u64::from(FORMAT) => {}
            Some(n) => {
                return Err(malformed(format!(
                    "format {n}; this sam reads format {FORMAT}"
                )));
            }
            None => return Err(malformed("no \"format\" field".into())),
        }
        let cassette: Cassette =
            serde_json::from_value(header).map_err(|e| malformed(e.to_string()))?;
        for exchange in &cassette.exchanges {
            for body in exchange.request_body.iter().chain([&exchange.body]) {
                body.to_bytes().map_err(&malformed)?;
            }
        }
        Ok(cassette)
    }

    /// Writes the cassette (pretty JSON), through a temporary file renamed into place.
    pub fn save(&self, path: &Path) -> Result<(), CassetteError> {
        let io = |source| CassetteError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut text = serde_json::to_string_pretty(self).map_err(|e| io(e.into()))?;
        text.push('\n');
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        std::fs::write(&partial, text).map_err(io)?;
        std::fs::rename(&partial, path).map_err(io)
    }
}

/// `haystack` with every occurrence of `secret` replaced by [`REDACTED`].
fn scrub(haystack: &[u8], secret: &str) -> Vec<u8> {
    let needle = secret.as_bytes();
    if needle.is_empty() || haystack.len() < needle.len() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(REDACTED.as_bytes());
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

fn scrub_text(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_string()
    } else {
        text.replace(secret, REDACTED)
    }
}

/// The exchanges of a recording run, shared by the sessions' [`Recorder`]s.
#[derive(Debug, Default, Clone)]
pub struct Tape(Arc<Mutex<Vec<Exchange>>>);

impl Tape {
    /// A hook recording `session`'s exchanges onto this tape.
    pub fn recorder(&self, session: &str) -> Arc<Recorder> {
        Arc::new(Recorder {
            session: session.to_string(),
            tape: self.clone(),
        })
    }

    /// The exchanges so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Records each real answer of one session (see the module docs for what is kept).
#[derive(Debug)]
pub struct Recorder {
    session: String,
    tape: Tape,
}

impl ExchangeHook for Recorder {
    fn answer(&self, _request: &ExchangeRequest<'_>) -> Option<Result<Response, HttpError>> {
        None
    }

    fn observe(&self, request: &ExchangeRequest<'_>, response: &Response, secret: &str) {
        let exchange = Exchange {
            session: self.session.clone(),
            method: request.method.as_str().to_string(),
            url: scrub_text(request.url, secret),
            request_body: request
                .body
                .map(|body| Body::from_bytes(&scrub(body, secret))),
            status: response.status,
            headers: response
                .headers
                .iter()
                .filter(|(name, _)| {
                    !SECRET_RESPONSE_HEADERS
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(name.trim()))
                })
                .map(|(name, value)| (name.clone(), scrub_text(value, secret)))
                .collect(),
            body: Body::from_bytes(&scrub(&response.body, secret)),
        };
        self.tape
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(exchange);
    }
}

/// A recording being replayed: its exchanges, which have been used, and the requests it
/// could not answer.
#[derive(Debug)]
pub struct Playback {
    file: String,
    state: Mutex<PlaybackState>,
}

#[derive(Debug)]
struct PlaybackState {
    exchanges: Vec<Recorded>,
    unrecorded: Vec<String>,
}

/// An exchange with its bodies decoded, and whether it has answered already.
#[derive(Debug)]
struct Recorded {
    exchange: Exchange,
    request_body: Option<Vec<u8>>,
    body: Vec<u8>,
    used: bool,
}

impl Playback {
    /// Replays `cassette` (read from `file`, named in errors).
    pub fn new(cassette: &Cassette, file: &Path) -> Result<Arc<Self>, CassetteError> {
        let malformed = |reason: String| CassetteError::Malformed {
            path: file.to_path_buf(),
            reason,
        };
        let exchanges = cassette
            .exchanges
            .iter()
            .map(|e| {
                let request = e.request_body.as_ref().map(Body::to_bytes).transpose();
                Ok(Recorded {
                    exchange: e.clone(),
                    request_body: request?,
                    body: e.body.to_bytes()?,
                    used: false,
                })
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(malformed)?;
        Ok(Arc::new(Self {
            file: file.display().to_string(),
            state: Mutex::new(PlaybackState {
                exchanges,
                unrecorded: Vec::new(),
            }),
        }))
    }

    /// A hook answering `session`'s requests from this recording.
    pub fn player(self: &Arc<Self>, session: &str) -> Arc<Player> {
        Arc::new(Player {
            session: session.to_string(),
            playback: self.clone(),
        })
    }

    /// The requests the recording could not answer, as `METHOD URL (session)`.
    pub fn unrecorded(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unrecorded
            .clone()
    }
}

/// Answers one session's requests from a recording; never lets one go on the wire.
#[derive(Debug)]
pub struct Player {
    session: String,
    playback: Arc<Playback>,
}

impl ExchangeHook for Player {
    fn answer(&self, request: &ExchangeRequest<'_>) -> Option<Result<Response, HttpError>> {
        let method = request.method.as_str();
        let body = request.body.unwrap_or_default();
        let mut state = self
            .playback
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let found = state.exchanges.iter_mut().find(|r| {
            !r.used
                && r.exchange.session == self.session
                && r.exchange.method == method
                && r.exchange.url == request.url
                && r.request_body.as_deref().unwrap_or_default() == body
        });
        if let Some(recorded) = found {
            recorded.used = true;
            return Some(Ok(Response {
                status: recorded.exchange.status,
                headers: recorded.exchange.headers.clone(),
                body: recorded.body.clone(),
            }));
        }
        let shown = crate::host::untrusted::inert_bounded(request.url, 300);
        state
            .unrecorded
            .push(format!("{method} {shown} ({} session)", self.session));
        Some(Err(HttpError::Denied(format!(
            "{method} {shown} is not in the recording {} (or was answered as often as recorded): \
             the spoke asks for what it did not ask for when recorded; record again",
            self.playback.file
        ))))
    }

    fn observe(&self, _request: &ExchangeRequest<'_>, _response: &Response, _secret: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_blanks_every_occurrence() {
        assert_eq!(
            scrub(b"a tok b tok", "tok"),
            b"a [redacted] b [redacted]".to_vec()
        );
        assert_eq!(scrub(b"abc", ""), b"abc".to_vec());
        assert_eq!(scrub(b"to", "tok"), b"to".to_vec());
    }

    fn get(url: &str) -> ExchangeRequest<'_> {
        ExchangeRequest {
            method: crate::contract::Method::Get,
            url,
            body: None,
        }
    }

    #[test]
    fn the_recorder_writes_no_credential() {
        let tape = Tape::default();
        let response = Response {
            status: 200,
            headers: vec![
                ("Set-Cookie".into(), "session=s3cr3t-token".into()),
                ("X-Echo".into(), "s3cr3t-token".into()),
            ],
            body: b"{\"token\":\"s3cr3t-token\"}".to_vec(),
        };
        let request = ExchangeRequest {
            method: crate::contract::Method::Post,
            url: "/x?key=s3cr3t-token",
            body: Some(b"s3cr3t-token"),
        };
        tape.recorder("main")
            .observe(&request, &response, "s3cr3t-token");
        let written = serde_json::to_string(&tape.exchanges()).unwrap();
        assert!(!written.contains("s3cr3t"), "{written}");
        assert!(
            !written.to_ascii_lowercase().contains("set-cookie"),
            "{written}"
        );
        assert!(written.contains("X-Echo"), "{written}");
    }

    #[test]
    fn replay_answers_in_order_and_names_what_it_lacks() {
        let exchange = |session: &str, url: &str, body: &str| Exchange {
            session: session.into(),
            method: "GET".into(),
            url: url.into(),
            request_body: None,
            status: 200,
            headers: vec![],
            body: Body::Text(body.into()),
        };
        let cassette = Cassette {
            format: FORMAT,
            spoke: "s".into(),
            connection_url: "http://127.0.0.1:9/".into(),
            grant_hosts: vec![],
            now: 0,
            config: vec![],
            groups: vec![],
            allow_writes: false,
            protected_users: vec![],
            exchanges: vec![
                exchange("main", "/a", "first"),
                exchange("rejected", "/a", "refused"),
                exchange("main", "/a", "second"),
            ],
        };
        let playback = Playback::new(&cassette, Path::new("c.json")).unwrap();
        let main = playback.player("main");
        let body = |answer: Option<Result<Response, HttpError>>| match answer {
            Some(Ok(response)) => String::from_utf8(response.body).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(body(main.answer(&get("/a"))), "first");
        assert_eq!(body(main.answer(&get("/a"))), "second");
        assert_eq!(
            body(playback.player("rejected").answer(&get("/a"))),
            "refused"
        );
        match main.answer(&get("/a")) {
            Some(Err(HttpError::Denied(why))) => {
                assert!(
                    why.contains("GET /a") && why.contains("record again"),
                    "{why}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(main.answer(&get("/b")), Some(Err(_))));
        assert_eq!(
            playback.unrecorded(),
            vec!["GET /a (main session)", "GET /b (main session)"]
        );
    }

    #[test]
    fn bodies_round_trip_text_and_bytes() {
        for bytes in [b"{\"a\":1}".to_vec(), vec![0xff, 0x00, 0x80]] {
            assert_eq!(Body::from_bytes(&bytes).to_bytes().unwrap(), bytes);
        }
    }
}
