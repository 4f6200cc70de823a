//! Removal candidates: the list filtered by state and profile, each candidate's page with
//! its history, and the actions on a selection (one or many, "bulk"): approve and reject
//! (approver), reclaim now with the run's checks and cap, and undo (admin). A viewer sees the
//! list without the action buttons, and the engine refuses the action anyway if posted.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::{Fields, Shared, auth, error_page, html_page, layout, q, see_other, when};
use crate::app::AppError;
use crate::app::reclaim::{
    CandidateQuery, CandidatesQuery, DecideCandidate, ReclaimCandidates, UndoRequest,
};
use crate::model::{CandidateState, RemovalCandidate, Role};

/// The list's filters.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    state: Option<String>,
    profile: Option<String>,
    user: Option<String>,
    notice: Option<String>,
}

fn state_label(key: &str) -> &'static str {
    match key {
        "attention-required" => "Attention Required",
        "ready" => "Ready",
        "awaiting-user" => "Awaiting User",
        "awaiting-approval" => "Awaiting Approval",
        "awaiting-revocation" => "Awaiting Revocation",
        "closed-complete" => "Closed Complete",
        "closed-skipped" => "Closed Skipped",
        "closed-canceled" => "Closed Canceled",
        _ => "Reclaiming",
    }
}

fn undoable(c: &RemovalCandidate) -> bool {
    c.state == CandidateState::ClosedComplete
        && c.reclaim.as_ref().is_some_and(|r| r.restored_at.is_none())
}

/// `GET /candidates`.
pub async fn list(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(f): Query<Filters>,
) -> Response {
    let session = match auth::require(&console, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let empty = |s: &Option<String>| s.clone().filter(|v| !v.trim().is_empty());
    let state = empty(&f.state);
    let query = CandidatesQuery {
        profile: empty(&f.profile),
        state: state.clone().filter(|s| s != "open" && s != "any"),
        user: empty(&f.user),
        all: state.as_deref() == Some("any"),
        limit: Some(500),
        ..CandidatesQuery::default()
    };
    let list = match console.engine(&session.actor).candidates_list(query).await {
        Ok(l) => l,
        Err(e) => return error_page(&e, Some(&session)),
    };
    let role = session.actor.role;
    let selected = state.as_deref().unwrap_or("open");
    let body = html! {
        h1 { "Removal candidates" }
        (layout::notice(f.notice.as_deref()))
        form.filters method="get" action="/candidates" {
            div {
                label for="state" { "State" }
                select #state name="state" {
                    option value="open" selected[selected == "open"] { "Open (not closed)" }
                    option value="any" selected[selected == "any"] { "Any" }
                    @for key in CandidateState::KEYS {
                        option value=(key) selected[selected == key] { (state_label(key)) }
                    }
                }
            }
            div {
                label for="profile" { "Profile" }
                input #profile name="profile" value=[f.profile.as_deref()];
            }
            div {
                label for="user" { "User" }
                input #user name="user" value=[f.user.as_deref()] placeholder="id, e-mail or name";
            }
            button type="submit" { "Filter" }
        }
        p.hint { (list.total) " candidates" @if list.total > list.candidates.len() { ", the first " (list.candidates.len()) " shown" } "." }
        form method="post" action="/candidates/act" {
            (layout::csrf(&session))
            input type="hidden" name="back" value=(format!("/candidates?state={}", q(selected)));
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { input #select-all type="checkbox" aria-label="Select all"; }
                    th scope="col" { "Id" } th scope="col" { "User" } th scope="col" { "Model" }
                    th scope="col" { "Profile" } th scope="col" { "State" } th scope="col" { "Last activity" }
                    th scope="col" { "Why" }
                } }
                tbody {
                    @for c in &list.candidates {
                        tr data-candidate=(c.id) {
                            td { input type="checkbox" name="ids" value=(c.id) id=(format!("c{}", c.id)) aria-label=(format!("Select candidate {}", c.id)); }
                            td { a href=(format!("/candidates/{}", c.id)) { (c.id) } }
                            td { (c.display_name.as_deref().unwrap_or(&c.external_user_id)) @if let Some(e) = &c.email { br; span.hint { (e) } } }
                            td { (c.model) }
                            td { (c.profile) }
                            td.state { (c.state) }
                            td { (when(c.last_activity)) }
                            td { (c.justification) }
                        }
                    }
                }
            } }
            @if role.allows(Role::Approver) {
                div.actions {
                    label for="reason" { "Reason (optional)" }
                    input #reason name="reason";
                    button type="submit" name="action" value="approve" { "Approve" }
                    button.secondary type="submit" name="action" value="reject" { "Reject" }
                    @if role.allows(Role::Admin) {
                        button.danger type="submit" name="action" value="reclaim" { "Reclaim now" }
                        button.secondary type="submit" name="action" value="undo" { "Undo reclaim" }
                    }
                }
                p.hint { "Reclaim now applies the run's checks and cap to the selected candidates of one profile." }
            }
        }
    };
    html_page(
        StatusCode::OK,
        layout::page(
            "Removal candidates",
            Some(&session),
            Some("/candidates"),
            body,
        ),
    )
}

/// `GET /candidates/{id}`: one candidate and its history.
pub async fn show(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(f): Query<Filters>,
) -> Response {
    let session = match auth::require(&console, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = id.parse::<u64>() else {
        return error_page(
            &AppError::Invalid(format!("`{id}` is not a candidate id")),
            Some(&session),
        );
    };
    let c = match console
        .engine(&session.actor)
        .candidates_show(CandidateQuery { id })
        .await
    {
        Ok(c) => c,
        Err(e) => return error_page(&e, Some(&session)),
    };
    let role = session.actor.role;
    let body = html! {
        h1 { "Candidate " (c.id) }
        (layout::notice(f.notice.as_deref()))
        dl {
            dt { "User" } dd { (c.display_name.as_deref().unwrap_or(&c.external_user_id)) " (" (c.external_user_id) ")" @if let Some(e) = &c.email { " · " (e) } }
            dt { "Seat" } dd { (c.model) " · " (c.identifier) " · profile " (c.profile) }
            dt { "State" } dd.state { (c.state) }
            dt { "Why" } dd { (c.justification) " (rule " (c.rule) ")" }
            dt { "Last activity" } dd { (when(c.last_activity)) }
            dt { "Notified" } dd { (when(c.notified_at)) }
            dt { "Reclaimed without an answer at" } dd { (when(c.auto_reclaim_at)) }
            @if let Some(r) = &c.reclaim {
                dt { "Reclaimed" } dd { (when(Some(r.at))) @if let Some(at) = r.restored_at { ", restored " (when(Some(at))) } }
            }
        }
        @if role.allows(Role::Approver) {
            form.actions method="post" action="/candidates/act" {
                (layout::csrf(&session))
                input type="hidden" name="ids" value=(c.id);
                input type="hidden" name="back" value=(format!("/candidates/{}", c.id));
                button type="submit" name="action" value="approve" { "Approve" }
                button.secondary type="submit" name="action" value="reject" { "Reject" }
                @if role.allows(Role::Admin) {
                    button.danger type="submit" name="action" value="reclaim" { "Reclaim now" }
                    @if undoable(&c) { button.secondary type="submit" name="action" value="undo" { "Undo reclaim" } }
                }
            }
        }
        h2 { "History" }
        table {
            thead { tr { th scope="col" { "When" } th scope="col" { "From" } th scope="col" { "To" } th scope="col" { "Who" } th scope="col" { "Why" } } }
            tbody {
                @for t in &c.history {
                    tr {
                        td { (when(Some(t.at))) }
                        td { (t.from.as_ref().map_or("-".to_string(), |s| s.to_string())) }
                        td { (t.to) }
                        td { (t.actor) }
                        td { (t.reason) }
                    }
                }
            }
        }
    };
    html_page(
        StatusCode::OK,
        layout::page(
            &format!("Candidate {}", c.id),
            Some(&session),
            Some("/candidates"),
            body,
        ),
    )
}

/// `POST /candidates/act`: approve, reject, reclaim or undo the selected candidates.
pub async fn act(State(console): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = Fields::parse(&body);
    let session = match auth::require_post(&console, &headers, &fields) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut ids = Vec::new();
    for raw in fields.all("ids") {
        match raw.parse::<u64>() {
            Ok(id) => ids.push(id),
            Err(_) => {
                return error_page(
                    &AppError::Invalid(format!("`{raw}` is not a candidate id")),
                    Some(&session),
                );
            }
        }
    }
    if ids.is_empty() {
        return error_page(
            &AppError::Invalid("select at least one candidate".into()),
            Some(&session),
        );
    }
    let engine = console.engine(&session.actor);
    let actor = session.actor.name.clone();
    let reason = fields.get("reason").map(str::to_string);
    let action = fields.get("action").unwrap_or_default();
    let outcome: Result<String, AppError> = match action {
        "approve" | "reject" => {
            let mut done = 0;
            for id in &ids {
                let req = DecideCandidate {
                    id: *id,
                    actor: actor.clone(),
                    reason: reason.clone(),
                };
                let r = if action == "approve" {
                    engine.candidates_approve(req).await
                } else {
                    engine.candidates_reject(req).await
                };
                if let Err(e) = r {
                    return error_page(&e, Some(&session));
                }
                done += 1;
            }
            Ok(format!(
                "{} {done} candidate{}",
                if action == "approve" {
                    "Approved"
                } else {
                    "Rejected"
                },
                if done == 1 { "" } else { "s" }
            ))
        }
        "reclaim" => engine
            .candidates_reclaim(ReclaimCandidates {
                ids: ids.clone(),
                dry_run: false,
                actor,
                notify_webhook: None,
            })
            .await
            .map(|r| {
                format!(
                    "Reclaimed {} seat{} ({} selected)",
                    r.reclaimed,
                    if r.reclaimed == 1 { "" } else { "s" },
                    ids.len()
                )
            }),
        "undo" => {
            let mut done = 0;
            for id in &ids {
                let r = engine
                    .undo(UndoRequest {
                        id: *id,
                        audit: false,
                        actor: actor.clone(),
                        notify_webhook: None,
                    })
                    .await;
                if let Err(e) = r {
                    return error_page(&e, Some(&session));
                }
                done += 1;
            }
            Ok(format!(
                "Gave back {done} seat{}",
                if done == 1 { "" } else { "s" }
            ))
        }
        other => Err(AppError::Invalid(format!("unknown action `{other}`"))),
    };
    match outcome {
        Ok(text) => {
            let back = fields
                .get("back")
                .filter(|b| b.starts_with("/candidates") && !b.starts_with("//"))
                .unwrap_or("/candidates");
            let sep = if back.contains('?') { '&' } else { '?' };
            see_other(&format!("{back}{sep}notice={}", q(&text)))
        }
        Err(e) => error_page(&e, Some(&session)),
    }
}
