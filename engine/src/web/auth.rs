//! Signing in to the console and the protections of a signed-in browser: sessions (a random
//! id in a cookie that is `HttpOnly`, `SameSite=Strict` and `Secure` when the request came
//! over https through the operator's proxy), the CSRF token every form carries and every
//! POST is checked against, and the two ways in: an API token (its role) or a console user's
//! password (`sam users add`, argon2id-verified). Sessions live in the daemon's memory and
//! end after 12 hours, on sign-out, or when the daemon stops; each request checks what the
//! session signed in with again (one read, no hashing), so revoking its token, removing its
//! user or resetting the password ends it at once, and a changed role applies at once.
//! Password guessing is throttled per sign-in name ([`SignInThrottle`]): after
//! [`FREE_FAILURES`] wrong passwords in a row, each further attempt waits a delay that doubles
//! up to [`MAX_DELAY_SECONDS`], and an attempt inside the delay is refused (429) without
//! checking the password.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use rand::RngCore;
use subtle::ConstantTimeEq;

use super::{Fields, Shared, html_page, layout, see_other};
use crate::app::users::SignedInWith;
use crate::app::{Actor, AppError};
use crate::model::EpochSeconds;

/// The session cookie's name.
pub const COOKIE: &str = "sam_session";
/// Wrong passwords in a row a name may have before its attempts are delayed.
pub const FREE_FAILURES: u32 = 5;
/// The first delay, in seconds; it doubles with each further failure.
pub const FIRST_DELAY_SECONDS: i64 = 30;
/// The longest delay, in seconds.
pub const MAX_DELAY_SECONDS: i64 = 15 * 60;

/// Failed password sign-ins per name (in memory, like the sessions): the name's next allowed
/// attempt. Names are compared case-insensitively, known or not (so the answer does not tell
/// which names exist); a success clears the name. Token sign-ins are not throttled: a token's
/// secret is 256 random bits.
#[derive(Debug, Default)]
pub struct SignInThrottle {
    by_name: Mutex<HashMap<String, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    next_attempt: EpochSeconds,
}

/// The most names the throttle remembers; past it, names whose delay is over are forgotten
/// first (an attacker spraying names cannot grow the daemon's memory without bound).
const MAX_NAMES: usize = 10_000;

impl SignInThrottle {
    /// Admits a password attempt for `name` at `now` and counts it as failed until
    /// [`SignInThrottle::succeeded`] clears it (so attempts sent in parallel are counted
    /// before any of them is checked); `Err(seconds)` while the name must wait.
    pub fn attempt(&self, name: &str, now: EpochSeconds) -> Result<(), i64> {
        let Ok(mut map) = self.by_name.lock() else {
            return Ok(());
        };
        let key = name.to_ascii_lowercase();
        if let Some(wait) = map
            .get(&key)
            .map(|f| f.next_attempt - now)
            .filter(|&wait| wait > 0)
        {
            return Err(wait);
        }
        if map.len() >= MAX_NAMES && !map.contains_key(&key) {
            map.retain(|_, f| f.next_attempt > now);
            if map.len() >= MAX_NAMES {
                return Err(FIRST_DELAY_SECONDS);
            }
        }
        let failures = map.entry(key).or_insert(Failures {
            count: 0,
            next_attempt: now,
        });
        failures.count = failures.count.saturating_add(1);
        if failures.count >= FREE_FAILURES {
            let doublings = (failures.count - FREE_FAILURES).min(10);
            failures.next_attempt = now + (FIRST_DELAY_SECONDS << doublings).min(MAX_DELAY_SECONDS);
        }
        Ok(())
    }

    /// Clears `name` after a successful sign-in.
    pub fn succeeded(&self, name: &str) {
        if let Ok(mut map) = self.by_name.lock() {
            map.remove(&name.to_ascii_lowercase());
        }
    }
}
/// How long a session lasts.
pub const SESSION_SECONDS: i64 = 12 * 3600;

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who signed in, with the role (as of this request).
    pub actor: Actor,
    /// What they signed in with, checked again on every request.
    pub signed_in_with: SignedInWith,
    /// The token every form of this session carries.
    pub csrf: String,
    /// When it ends.
    pub expires_at: EpochSeconds,
}

/// The sessions of the console, by id.
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Sessions {
    /// Starts a session for `actor`; its id (for the cookie).
    pub fn start(
        &self,
        actor: Actor,
        signed_in_with: SignedInWith,
        now: EpochSeconds,
    ) -> (String, Session) {
        let id = random_hex();
        let session = Session {
            actor,
            signed_in_with,
            csrf: random_hex(),
            expires_at: now + SESSION_SECONDS,
        };
        if let Ok(mut map) = self.by_id.lock() {
            map.retain(|_, s| s.expires_at > now);
            map.insert(id.clone(), session.clone());
        }
        (id, session)
    }

    /// The live session `id`, if any.
    pub fn get(&self, id: &str, now: EpochSeconds) -> Option<Session> {
        let map = self.by_id.lock().ok()?;
        map.get(id).filter(|s| s.expires_at > now).cloned()
    }

    /// Ends session `id`.
    pub fn end(&self, id: &str) {
        if let Ok(mut map) = self.by_id.lock() {
            map.remove(id);
        }
    }
}

/// The `Set-Cookie` value of a session: `HttpOnly`, `SameSite=Strict`, `Path=/`, and
/// `Secure` when the browser came over https.
pub fn session_cookie(id: &str, secure: bool) -> String {
    let mut cookie =
        format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}");
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// The `Set-Cookie` value that ends the session cookie.
pub fn cleared_cookie(secure: bool) -> String {
    let mut cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// The session id in the request's cookies.
pub fn cookie_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `presented` is the session's CSRF token (compared in constant time).
pub fn csrf_ok(session: &Session, presented: Option<&str>) -> bool {
    presented.is_some_and(|p| {
        p.len() == session.csrf.len() && bool::from(p.as_bytes().ct_eq(session.csrf.as_bytes()))
    })
}

/// The live session of a request with its actor as of now: `None` when there is none, or
/// when what it signed in with is no longer valid (the session is ended then).
fn current(console: &Shared, headers: &HeaderMap) -> Result<Option<Session>, AppError> {
    let now = console.app().now();
    let Some((id, mut session)) =
        cookie_id(headers).and_then(|id| console.sessions.get(&id, now).map(|s| (id, s)))
    else {
        return Ok(None);
    };
    match console.app().signed_in_actor(&session.signed_in_with) {
        Ok(actor) => {
            session.actor = actor;
            Ok(Some(session))
        }
        Err(AppError::Unauthorized(_)) => {
            console.sessions.end(&id);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The signed-in session of a request, or the answer to send instead (to the sign-in page).
#[allow(clippy::result_large_err)] // the refusal is the response itself, sent at once
pub fn require(console: &Shared, headers: &HeaderMap) -> Result<Session, Response> {
    match current(console, headers) {
        Ok(Some(session)) => Ok(session),
        Ok(None) => Err(see_other("/signin")),
        Err(e) => Err(super::error_page(&e, None)),
    }
}

/// The session of a form POST, its CSRF token checked: a POST without the session's token
/// (a forged request from another page) changes nothing and is answered 403.
#[allow(clippy::result_large_err)] // the refusal is the response itself, sent at once
pub fn require_post(
    console: &Shared,
    headers: &HeaderMap,
    fields: &Fields,
) -> Result<Session, Response> {
    let session = current(console, headers).map_err(|e| super::error_page(&e, None))?;
    let Some(session) = session else {
        return Err(super::error_page(
            &AppError::Unauthorized("sign in first: this form has no session".into()),
            None,
        ));
    };
    if !csrf_ok(&session, fields.get("csrf")) {
        return Err(super::error_page(
            &AppError::Forbidden(
                "this form did not come from this console (its CSRF token is missing or wrong); reload the page and send it again".into(),
            ),
            Some(&session),
        ));
    }
    Ok(session)
}

/// `GET /signin`.
pub async fn signin_page(State(console): State<Shared>, headers: HeaderMap) -> Response {
    if require(&console, &headers).is_ok() {
        return see_other("/");
    }
    html_page(StatusCode::OK, signin_form(None))
}

fn signin_form(problem: Option<&str>) -> maud::Markup {
    let body = html! {
        section.signin {
            h1 { "Sign in to sam" }
            @if let Some(p) = problem { p.error role="alert" { (p) } }
            form method="post" action="/signin" {
                fieldset {
                    legend { "With your name and password" }
                    label for="name" { "Name" }
                    input #name type="text" name="name" autocomplete="username";
                    label for="password" { "Password" }
                    input #password type="password" name="password" autocomplete="current-password";
                }
                fieldset {
                    legend { "Or with an API token" }
                    label for="token" { "API token" }
                    input #token type="password" name="token" autocomplete="off" placeholder="sam_…";
                }
                button type="submit" { "Sign in" }
            }
            p.hint { "The daemon printed where its local admin token is (" code { "<db>.token" } "); " code { "sam users add NAME --role viewer" } " adds a password." }
        }
    };
    layout::page("Sign in", None, None, body)
}

/// `POST /signin`: a token or a name and password; a session cookie on success.
pub async fn signin(State(console): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = Fields::parse(&body);
    let now = console.app().now();
    let outcome = if let Some(token) = fields.get("token") {
        console.app().sign_in_with_token(token.to_string()).await
    } else {
        let name = fields.get("name").unwrap_or_default().to_string();
        if let Err(wait) = console.throttle.attempt(&name, now) {
            let mut response = html_page(
                StatusCode::TOO_MANY_REQUESTS,
                signin_form(Some(&format!(
                    "Too many wrong passwords for this name: try again in {wait} seconds."
                ))),
            );
            if let Ok(value) = wait.to_string().parse() {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
        let password = fields
            .0
            .iter()
            .find(|(k, _)| k == "password")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let outcome = console
            .app()
            .sign_in_with_password(name.clone(), password)
            .await;
        if outcome.is_ok() {
            console.throttle.succeeded(&name);
        }
        outcome
    };
    let (actor, signed_in_with) = match outcome {
        Ok(signed_in) => signed_in,
        Err(AppError::Unauthorized(_)) => {
            return html_page(
                StatusCode::UNAUTHORIZED,
                signin_form(Some("That name and password, or that token, is not valid.")),
            );
        }
        Err(e) => return super::error_page(&e, None),
    };
    let (id, _) = console.sessions.start(actor, signed_in_with, now);
    let secure = console.over_https(&headers);
    let mut response = see_other("/");
    if let Ok(value) = session_cookie(&id, secure).parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `POST /signout`.
pub async fn signout(State(console): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = Fields::parse(&body);
    if let Err(refused) = require_post(&console, &headers, &fields) {
        return refused;
    }
    if let Some(id) = cookie_id(&headers) {
        console.sessions.end(&id);
    }
    let mut response = see_other("/signin");
    if let Ok(value) = cleared_cookie(console.over_https(&headers)).parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;

    fn actor() -> Actor {
        Actor {
            name: "web:alice".into(),
            role: Role::Approver,
        }
    }

    /// Five free attempts, then a delay that doubles to its cap; a success clears the name;
    /// names are case-insensitive; other names are not affected; a spray of names is bounded.
    #[test]
    fn wrong_passwords_are_throttled_per_name_with_a_doubling_capped_delay() {
        let throttle = SignInThrottle::default();
        for _ in 0..FREE_FAILURES {
            assert_eq!(throttle.attempt("Ann", 100), Ok(()));
        }
        assert_eq!(throttle.attempt("ANN", 100), Err(FIRST_DELAY_SECONDS));
        assert_eq!(throttle.attempt("ann", 129), Err(1));
        assert_eq!(throttle.attempt("bob", 100), Ok(()));
        assert_eq!(throttle.attempt("ann", 100 + FIRST_DELAY_SECONDS), Ok(()));
        assert_eq!(
            throttle.attempt("ann", 131),
            Err(2 * FIRST_DELAY_SECONDS - 1)
        );
        let mut at = 1_000;
        for _ in 0..20 {
            let _ = throttle.attempt("ann", at);
            at += MAX_DELAY_SECONDS;
        }
        assert_eq!(
            throttle.attempt("ann", at - MAX_DELAY_SECONDS),
            Err(MAX_DELAY_SECONDS)
        );
        throttle.succeeded("ann");
        assert_eq!(throttle.attempt("ann", at), Ok(()));
        for i in 0..MAX_NAMES + 10 {
            let _ = throttle.attempt(&format!("spray{i}"), at);
        }
        assert!(throttle.by_name.lock().unwrap().len() <= MAX_NAMES);
    }

    #[test]
    fn the_cookie_is_httponly_strict_and_secure_only_over_https() {
        let plain = session_cookie(&"a".repeat(64), false);
        assert!(plain.contains("HttpOnly"), "{plain}");
        assert!(plain.contains("SameSite=Strict"), "{plain}");
        assert!(!plain.contains("Secure"), "{plain}");
        let secure = session_cookie(&"a".repeat(64), true);
        assert!(secure.ends_with("; Secure"), "{secure}");
        assert!(cleared_cookie(true).contains("Max-Age=0"));
    }

    #[test]
    fn csrf_needs_the_sessions_own_token() {
        let sessions = Sessions::default();
        let (id, session) = sessions.start(actor(), SignedInWith::Token("t".into()), 1_000);
        assert!(csrf_ok(&session, Some(&session.csrf)));
        assert!(!csrf_ok(&session, None));
        assert!(!csrf_ok(&session, Some("")));
        let mut other = session.csrf.clone();
        other.replace_range(0..1, if other.starts_with('0') { "1" } else { "0" });
        assert!(!csrf_ok(&session, Some(&other)));
        let (_, second) = sessions.start(actor(), SignedInWith::Token("t".into()), 1_000);
        assert!(
            !csrf_ok(&session, Some(&second.csrf)),
            "another session's token"
        );
        // The session itself: found while live, gone when expired or ended.
        assert!(sessions.get(&id, 1_000 + SESSION_SECONDS - 1).is_some());
        assert!(sessions.get(&id, 1_000 + SESSION_SECONDS).is_none());
        sessions.end(&id);
        assert!(sessions.get(&id, 1_001).is_none());
    }

    #[test]
    fn only_a_well_formed_session_cookie_is_read() {
        let mut headers = HeaderMap::new();
        let id = "ab".repeat(32);
        headers.insert(
            header::COOKIE,
            format!("other=1; {COOKIE}={id}").parse().unwrap(),
        );
        assert_eq!(cookie_id(&headers), Some(id));
        headers.insert(header::COOKIE, format!("{COOKIE}=../../x").parse().unwrap());
        assert_eq!(cookie_id(&headers), None);
    }
}
