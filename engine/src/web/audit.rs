//! The audit log: what sam changed, when and for whom, newest first, filtered by actor,
//! action, profile and date (from a day on).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::{Shared, auth, error_page, html_page, layout, when};
use crate::app::AppError;
use crate::app::views::{AuditQuery, action_name};

/// The filters.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    actor: Option<String>,
    action: Option<String>,
    profile: Option<String>,
    since: Option<String>,
}

/// `GET /audit`.
pub async fn page(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(f): Query<Filters>,
) -> Response {
    let session = match auth::require(&console, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let empty = |s: &Option<String>| s.clone().filter(|v| !v.trim().is_empty());
    let since = match empty(&f.since) {
        None => None,
        Some(d) => match crate::model::parse_date(&d) {
            Some(at) => Some(at),
            None => {
                return error_page(
                    &AppError::Invalid(format!("`{d}` is not a date (YYYY-MM-DD)")),
                    Some(&session),
                );
            }
        },
    };
    let query = AuditQuery {
        profile: empty(&f.profile),
        actor: empty(&f.actor),
        action: empty(&f.action),
        since,
        limit: Some(300),
    };
    let list = match console.engine(&session.actor).audit_list(query).await {
        Ok(l) => l,
        Err(e) => return error_page(&e, Some(&session)),
    };
    let body = html! {
        h1 { "Audit log" }
        form.filters method="get" action="/audit" {
            div { label for="actor" { "Actor" } input #actor name="actor" value=[f.actor.as_deref()]; }
            div { label for="action" { "Action" } input #action name="action" value=[f.action.as_deref()] placeholder="e.g. seat-reclaimed"; }
            div { label for="profile" { "Profile" } input #profile name="profile" value=[f.profile.as_deref()]; }
            div { label for="since" { "Since" } input #since type="date" name="since" value=[f.since.as_deref()]; }
            button type="submit" { "Filter" }
        }
        p.hint { (list.total) " entries" @if list.total as usize > list.entries.len() { ", the newest " (list.entries.len()) " shown" } "." }
        div.table-wrap { table {
            thead { tr { th scope="col" { "#" } th scope="col" { "When" } th scope="col" { "Actor" } th scope="col" { "Action" } th scope="col" { "Profile" } th scope="col" { "Detail" } } }
            tbody {
                @for e in &list.entries {
                    tr {
                        td { (e.seq) } td { (when(Some(e.at))) } td { (e.actor) }
                        td { (action_name(&e.action)) } td { (e.profile.as_deref().unwrap_or("-")) } td { (e.detail) }
                    }
                }
            }
        } }
    };
    html_page(
        StatusCode::OK,
        layout::page("Audit log", Some(&session), Some("/audit"), body),
    )
}
