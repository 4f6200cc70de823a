//! The web console (issue 20): server-rendered HTML pages served by `sam daemon` on its own
//! address beside `/api/v1`, for admins, approvers and viewers (signed in with an API token
//! or a password from `sam users add`) and for end users answering a removal notice through
//! a signed link (no sign-in). Pages are maud templates compiled into the binary, styled by
//! one embedded stylesheet and a few lines of embedded JavaScript (no Node step); every page
//! calls the application layer ([`crate::app::Engine`]) with the signed-in [`Actor`], so the
//! roles, the audit and the errors are the API's. This module owns the router, the shared
//! state (sessions, the link key), form parsing and the error page; the page groups live in
//! the submodules.

pub mod answer;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod candidates;
pub mod catalog;
pub mod layout;
pub mod links;
pub mod overview;
pub mod profiles;
pub mod subscriptions;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};

use crate::app::ops::Engine;
use crate::app::{Actor, App, AppError};

/// The console's state: the engine, the signed-in sessions, the answer-link key and the
/// names a reverse proxy addresses the daemon by (whose `X-Forwarded-Proto` is believed).
pub struct Console {
    app: App,
    sessions: auth::Sessions,
    throttle: auth::SignInThrottle,
    links: Option<links::LinkKey>,
    proxied_hosts: Vec<String>,
}

/// The console shared between requests.
pub type Shared = Arc<Console>;

impl Console {
    /// The console over `app`; `proxied_hosts` are the `--allow-host` names.
    pub fn new(app: App, proxied_hosts: &[String]) -> Self {
        let links = links::LinkKey::from_settings(app.settings())
            .map_err(|e| tracing::warn!(error = %e, "answer links are off: no key"))
            .ok();
        Self {
            app,
            sessions: auth::Sessions::default(),
            throttle: auth::SignInThrottle::default(),
            links,
            proxied_hosts: proxied_hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect(),
        }
    }

    /// The engine as `actor` sees it (role checks and audit attribution included).
    pub fn engine(&self, actor: &Actor) -> Engine {
        Engine::Local {
            app: self.app.clone(),
            actor: actor.clone(),
        }
    }

    /// The application.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// Whether the request came over https through the operator's proxy: its `Host` is an
    /// `--allow-host` name and it says `X-Forwarded-Proto: https`.
    pub fn over_https(&self, headers: &HeaderMap) -> bool {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| h.trim().to_ascii_lowercase());
        let proto = headers
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
            .map(|p| p.trim().eq_ignore_ascii_case("https"));
        proto == Some(true)
            && host.is_some_and(|h| {
                self.proxied_hosts.contains(&h)
                    || self
                        .proxied_hosts
                        .iter()
                        .any(|p| h.split(':').next() == Some(p.as_str()))
            })
    }
}

/// The console's routes over `app` (mounted at `/` by the daemon, inside its Host and
/// Origin guard).
pub fn router(app: App, proxied_hosts: &[String]) -> Router {
    let console: Shared = Arc::new(Console::new(app, proxied_hosts));
    Router::new()
        .route("/", get(overview::page))
        .route("/signin", get(auth::signin_page).post(auth::signin))
        .route("/signout", post(auth::signout))
        .route("/subscriptions", get(subscriptions::list))
        .route("/subscriptions/user", get(subscriptions::user))
        .route("/candidates", get(candidates::list))
        .route("/candidates/act", post(candidates::act))
        .route("/candidates/{id}", get(candidates::show))
        .route("/profiles", get(profiles::list))
        .route("/profiles/{name}", get(profiles::show))
        .route("/profiles/{name}/act", post(profiles::act))
        .route(
            "/profiles/{name}/groups",
            get(profiles::groups).post(profiles::change_groups),
        )
        .route("/catalog", get(catalog::page))
        .route("/catalog/act", post(catalog::act))
        .route("/audit", get(audit::page))
        .route("/answer", get(answer::page).post(answer::submit))
        .route("/assets/console.css", get(assets::css))
        .route("/assets/console.js", get(assets::js))
        .with_state(console)
}

/// The fields of a submitted form (`application/x-www-form-urlencoded`), repeated names
/// kept (a bulk selection).
#[derive(Debug, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// Parses a form body.
    pub fn parse(body: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`, trimmed; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// Whether the checkbox `name` is ticked.
    pub fn ticked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// An HTML answer with `status`.
pub fn html_page(status: StatusCode, markup: Markup) -> Response {
    let mut response = Html(markup.into_string()).into_response();
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
    headers.insert("x-content-type-options", "nosniff".parse().expect("static"));
    headers.insert("x-frame-options", "DENY".parse().expect("static"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'"
            .parse()
            .expect("static"),
    );
    response
}

/// The page for an error: what happened in words, never a trace. A vendor failure says so
/// and points at the profile's connection.
pub fn error_page(error: &AppError, session: Option<&auth::Session>) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (title, advice) = match error {
        AppError::Invalid(_) => (
            "That value was not accepted",
            "Go back, correct the form and send it again.",
        ),
        AppError::NotFound(_) => ("Not found", "It may have been removed or renamed."),
        AppError::Conflict(_) => (
            "That conflicts with the current state",
            "Reload the page to see the current state.",
        ),
        AppError::Unauthorized(_) => ("Please sign in", "Your session ended or was not valid."),
        AppError::Forbidden(_) => (
            "Your role does not allow this",
            "Ask an admin if you need it.",
        ),
        AppError::Failed(_) => (
            "The engine or the vendor failed",
            "If the vendor could not be reached, check the profile's connection on its Profiles page and try again later; nothing was changed beyond what the audit log shows.",
        ),
        AppError::Unavailable(_) => (
            "The daemon is stopping or unavailable",
            "Try again in a moment.",
        ),
    };
    let body = html! {
        div.error role="alert" {
            h1 { (title) }
            p { (error.to_string()) }
            p { (advice) }
            p { a href="/" { "Back to the overview" } }
        }
    };
    html_page(status, layout::page(title, session, None, body))
}

/// A 303 to `location` (after a form).
pub fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

/// `text` made safe for a query string value.
pub fn q(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Money in minor units as `12,345.67 EUR`.
pub fn money(minor: u64, currency: Option<&str>) -> String {
    let units = minor / 100;
    let cents = minor % 100;
    let digits = units.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match currency {
        Some(c) => format!("{grouped}.{cents:02} {c}"),
        None => format!("{grouped}.{cents:02}"),
    }
}

/// A date-time for people (UTC, to the minute).
pub fn when(at: Option<crate::model::EpochSeconds>) -> String {
    at.map_or("-".into(), |t| {
        let text = crate::model::format_utc(t);
        format!("{} UTC", text.get(..16).unwrap_or(&text).replace('T', " "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_groups_thousands() {
        assert_eq!(money(123_456_789, Some("EUR")), "1,234,567.89 EUR");
        assert_eq!(money(5, None), "0.05");
        assert_eq!(money(100_000, None), "1,000.00");
    }

    #[test]
    fn forms_keep_repeated_fields() {
        let f = Fields::parse(b"ids=1&ids=2&csrf=abc&empty=&note=a+b%21");
        assert_eq!(f.all("ids"), vec!["1", "2"]);
        assert_eq!(f.get("empty"), None);
        assert_eq!(f.get("note"), Some("a b!"));
    }
}
