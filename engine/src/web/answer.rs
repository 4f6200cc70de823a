//! The end user's answer page (no sign-in): a notice's signed link opens a page that names
//! the seat meant (software, identifier, last activity, when it goes without an answer) and
//! offers "keep it" or "release it". The answer goes through the same flow as
//! `sam candidates answer` (the application's `candidates_answer`, audited as
//! `link:<candidate>`), and the link is then recorded as used: a second use, an expired link
//! or a changed one each get a clear page and change nothing.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::links::{LinkError, Verified};
use super::{Fields, Shared, html_page, layout, when};
use crate::app::reclaim::{AnswerCandidate, CandidateQuery};
use crate::app::{Actor, AppError};
use crate::model::{CandidateState, RemovalCandidate, Role, UsedAnswerLink, UserAnswer};

/// `?t=`.
#[derive(Debug, Default, Deserialize)]
pub struct Token {
    t: Option<String>,
}

fn refusal(status: StatusCode, title: &str, text: &str) -> Response {
    let body = html! {
        section.answer role="alert" {
            h1 { (title) }
            p { (text) }
            p.hint { "If you still need the seat, tell your admin; nothing was changed." }
        }
    };
    html_page(status, layout::page(title, None, None, body))
}

fn link_refusal(e: &LinkError) -> Response {
    match e {
        LinkError::Expired => refusal(
            StatusCode::GONE,
            "This link has expired",
            "The time to answer through this link is over.",
        ),
        LinkError::Invalid => refusal(
            StatusCode::BAD_REQUEST,
            "This link is not valid",
            "It may have been cut short when it was copied. Open it again from the original message.",
        ),
    }
}

fn used_refusal() -> Response {
    refusal(
        StatusCode::GONE,
        "This link was already used",
        "An answer was already given through it; each link answers once.",
    )
}

/// The actor an answer link stands for: the approver-level right to answer this one
/// candidate, and nothing else (the page calls only `candidates_show` and
/// `candidates_answer` for the candidate the signature names).
fn link_actor(candidate: u64) -> Actor {
    Actor {
        name: format!("link:{candidate}"),
        role: Role::Approver,
    }
}

/// The link's check: the signature and expiry, then the single use.
async fn check(console: &Shared, token: Option<&str>) -> Result<Verified, Response> {
    let Some(key) = &console.links else {
        return Err(refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "Answers are not available",
            "This console cannot check answer links (no key).",
        ));
    };
    let token = token.unwrap_or_default();
    let verified = key
        .verify(token, console.app().now())
        .map_err(|e| link_refusal(&e))?;
    match console.app().answer_link_used(&verified.id) {
        Ok(false) => Ok(verified),
        Ok(true) => Err(used_refusal()),
        Err(e) => Err(super::error_page(&e, None)),
    }
}

fn seat(c: &RemovalCandidate) -> Markup {
    html! {
        dl {
            dt { "Software" } dd { (c.model) }
            dt { "Seat" } dd { (c.identifier) " (" (c.profile) ")" }
            dt { "Account" } dd { (c.display_name.as_deref().unwrap_or(&c.external_user_id)) @if let Some(e) = &c.email { " · " (e) } }
            dt { "Last activity seen" } dd { (when(c.last_activity)) }
            @if c.auto_reclaim_at.is_some() {
                dt { "Released without an answer on" } dd { (when(c.auto_reclaim_at)) }
            }
        }
    }
}

/// `GET /answer?t=...`.
pub async fn page(State(console): State<Shared>, Query(token): Query<Token>) -> Response {
    let verified = match check(&console, token.t.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let engine = console.engine(&link_actor(verified.candidate));
    let c = match engine
        .candidates_show(CandidateQuery {
            id: verified.candidate,
        })
        .await
    {
        Ok(c) => c,
        Err(e) => return super::error_page(&e, None),
    };
    if c.state != CandidateState::AwaitingUser {
        return refusal(
            StatusCode::CONFLICT,
            "No answer is needed any more",
            &format!("This seat's request is now: {}.", c.state),
        );
    }
    let body = html! {
        section.answer {
            h1 { "Do you still need this seat?" }
            p { "Your organisation reviews software seats that look unused. This is the seat:" }
            (seat(&c))
            form method="post" action="/answer" {
                input type="hidden" name="t" value=(token.t.as_deref().unwrap_or_default());
                fieldset {
                    legend { "Your answer" }
                    div.choices {
                        button type="submit" name="answer" value="keep" { "Keep it, I still need it" }
                        button.secondary type="submit" name="answer" value="release" { "Release it" }
                    }
                }
            }
            p.hint { "This link works once and until " (when(Some(verified.expires_at))) "." }
        }
    };
    html_page(
        StatusCode::OK,
        layout::page("Do you still need this seat?", None, None, body),
    )
}

/// `POST /answer`: the user's answer through the link.
pub async fn submit(State(console): State<Shared>, _headers: HeaderMap, body: Bytes) -> Response {
    let fields = Fields::parse(&body);
    let verified = match check(&console, fields.get("t")).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let answer = match fields.get("answer") {
        Some("keep") => UserAnswer::Keep,
        Some("release") => UserAnswer::Release,
        _ => {
            return refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Please choose an answer",
                "Choose \"Keep it\" or \"Release it\".",
            );
        }
    };
    let actor = link_actor(verified.candidate);
    let engine = console.engine(&actor);
    let answered = engine
        .candidates_answer(AnswerCandidate {
            id: verified.candidate,
            answer,
            actor: format!("{} (answer link)", actor.name),
            notify_webhook: None,
        })
        .await;
    let c = match answered {
        Ok(c) => c,
        Err(AppError::Invalid(message)) => {
            return refusal(
                StatusCode::CONFLICT,
                "No answer is needed any more",
                &message,
            );
        }
        Err(e) => return super::error_page(&e, None),
    };
    let record = UsedAnswerLink {
        id: verified.id,
        candidate: verified.candidate,
        used_at: console.app().now(),
    };
    match console.app().use_answer_link(&record) {
        Ok(true) => {}
        Ok(false) => return used_refusal(),
        Err(e) => return super::error_page(&e, None),
    }
    let body = html! {
        section.answer role="status" {
            h1 { "Thank you" }
            @match answer {
                UserAnswer::Keep => p { "You keep the seat. Your manager will confirm." },
                UserAnswer::Release => p { "The seat will be released. Thank you for freeing it." },
            }
            (seat(&c))
        }
    };
    html_page(StatusCode::OK, layout::page("Thank you", None, None, body))
}

#[cfg(test)]
mod tests {
    use crate::model::UsedAnswerLink;
    use crate::store::Store;

    #[test]
    fn a_link_is_recorded_once_and_a_second_use_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("sam.redb")).unwrap();
        let link = UsedAnswerLink {
            id: "ab".repeat(24),
            candidate: 4,
            used_at: 10,
        };
        assert!(store.write(|tx| tx.use_answer_link(&link)).unwrap());
        assert!(
            !store.write(|tx| tx.use_answer_link(&link)).unwrap(),
            "reused"
        );
        let read = store.read().unwrap();
        assert_eq!(read.used_answer_link(&link.id).unwrap(), Some(link));
        assert_eq!(read.used_answer_link(&"cd".repeat(24)).unwrap(), None);
    }
}
