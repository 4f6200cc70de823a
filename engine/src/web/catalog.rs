//! Entitlements and exclusions: what was bought (rights, unit cost, term) per software
//! model, and who or what is kept out of license counts or reclaims; an admin adds them,
//! turns them on or off, and removes them (each through the application layer, audited).

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::{Fields, Shared, auth, error_page, html_page, layout, money, q, see_other, when};
use crate::app::AppError;
use crate::app::reclaim::{
    AddEntitlement, AddExclusion, EntitlementsQuery, ExclusionsQuery, RemoveById, SetActive,
    target_text,
};
use crate::model::{ExclusionScope, Rights, Role};

/// `?notice=`.
#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    notice: Option<String>,
}

/// `GET /catalog`.
pub async fn page(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(n): Query<Notice>,
) -> Response {
    let session = match auth::require(&console, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let engine = console.engine(&session.actor);
    let ents = match engine.entitlements_list(EntitlementsQuery::default()).await {
        Ok(l) => l,
        Err(e) => return error_page(&e, Some(&session)),
    };
    let excl = match engine.exclusions_list(ExclusionsQuery {}).await {
        Ok(l) => l,
        Err(e) => return error_page(&e, Some(&session)),
    };
    let admin = session.actor.role.allows(Role::Admin);
    let body = html! {
        h1 { "Entitlements & exclusions" }
        (layout::notice(n.notice.as_deref()))
        h2 { "Entitlements" }
        div.table-wrap { table {
            thead { tr { th scope="col" { "Model" } th.num scope="col" { "Rights" } th.num scope="col" { "Unit cost" } th scope="col" { "Term" } th scope="col" { "Active" } th scope="col" { "Note" } @if admin { th scope="col" { "Change" } } } }
            tbody { @for e in &ents.entitlements { tr {
                td { (e.model) }
                td.num { @match e.rights { Rights::Count(n) => (n), Rights::Unlimited => "unlimited" } }
                td.num { (money(e.unit_cost_minor, Some(&e.currency))) }
                td { (when(Some(e.start))) " – " (when(e.end)) }
                td { (if e.active { "yes" } else { "no" }) }
                td { (e.note.as_deref().unwrap_or("")) }
                @if admin { td { form.actions method="post" action="/catalog/act" {
                    (layout::csrf(&session))
                    input type="hidden" name="id" value=(e.id);
                    input type="hidden" name="active" value=(if e.active { "off" } else { "on" });
                    button.secondary type="submit" name="action" value="entitlement-active" { (if e.active { "Turn off" } else { "Turn on" }) }
                    button.danger type="submit" name="action" value="entitlement-remove" aria-label=(format!("Remove entitlement {}", e.id)) { "Remove" }
                } } }
            } } }
        } }
        @if admin {
            form.filters method="post" action="/catalog/act" {
                (layout::csrf(&session))
                input type="hidden" name="action" value="entitlement-add";
                div { label for="e-model" { "Model" } input #e-model name="model" required; }
                div { label for="e-rights" { "Rights" } input #e-rights name="rights" inputmode="numeric" placeholder="number or blank for unlimited"; }
                div { label for="e-cost" { "Unit cost" } input #e-cost name="unit_cost" required placeholder="5.16"; }
                div { label for="e-currency" { "Currency" } input #e-currency name="currency" required value="USD" size="4"; }
                div { label for="e-start" { "Start" } input #e-start type="date" name="start"; }
                div { label for="e-end" { "End" } input #e-end type="date" name="end"; }
                div { label for="e-note" { "Note" } input #e-note name="note"; }
                button type="submit" { "Add entitlement" }
            }
        }
        h2 { "Exclusions" }
        div.table-wrap { table {
            thead { tr { th scope="col" { "Target" } th scope="col" { "Scope" } th scope="col" { "Active" } th scope="col" { "Note" } @if admin { th scope="col" { "Change" } } } }
            tbody { @for x in &excl.exclusions { tr {
                td { (target_text(&x.target)) }
                td { (format!("{:?}", x.scope)) }
                td { (if x.active { "yes" } else { "no" }) }
                td { (x.note.as_deref().unwrap_or("")) }
                @if admin { td { form.actions method="post" action="/catalog/act" {
                    (layout::csrf(&session))
                    input type="hidden" name="id" value=(x.id);
                    input type="hidden" name="active" value=(if x.active { "off" } else { "on" });
                    button.secondary type="submit" name="action" value="exclusion-active" { (if x.active { "Turn off" } else { "Turn on" }) }
                    button.danger type="submit" name="action" value="exclusion-remove" aria-label=(format!("Remove exclusion {}", x.id)) { "Remove" }
                } } }
            } } }
        } }
        @if admin {
            form.filters method="post" action="/catalog/act" {
                (layout::csrf(&session))
                input type="hidden" name="action" value="exclusion-add";
                div { label for="x-user" { "User (e-mail or id)" } input #x-user name="user"; }
                div { label for="x-scope" { "Keep out of" } select #x-scope name="scope" {
                    option value="both" { "License counts and reclaims" }
                    option value="license" { "License counts" }
                    option value="reclamation" { "Reclaims" }
                } }
                div { label for="x-note" { "Note" } input #x-note name="note"; }
                button type="submit" { "Add exclusion" }
            }
        }
    };
    html_page(
        StatusCode::OK,
        layout::page(
            "Entitlements & exclusions",
            Some(&session),
            Some("/catalog"),
            body,
        ),
    )
}

/// `POST /catalog/act`.
pub async fn act(State(console): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = Fields::parse(&body);
    let session = match auth::require_post(&console, &headers, &fields) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let engine = console.engine(&session.actor);
    let id = || fields.get("id").unwrap_or_default().to_string();
    let active = fields.get("active") == Some("on");
    let text = |s: Option<&str>| s.map(str::to_string);
    let outcome: Result<String, AppError> = match fields.get("action").unwrap_or_default() {
        "entitlement-add" => {
            let rights = match fields.get("rights").map(str::parse::<u64>) {
                None => None,
                Some(Ok(n)) => Some(n),
                Some(Err(_)) => {
                    return error_page(
                        &AppError::Invalid(
                            "Rights must be a whole number (or blank for unlimited)".into(),
                        ),
                        Some(&session),
                    );
                }
            };
            engine
                .entitlements_add(AddEntitlement {
                    model: fields.get("model").unwrap_or_default().to_string(),
                    unlimited: rights.is_none(),
                    rights,
                    unit_cost: fields.get("unit_cost").unwrap_or_default().to_string(),
                    currency: fields.get("currency").unwrap_or_default().to_string(),
                    start: text(fields.get("start")),
                    end: text(fields.get("end")),
                    inactive: false,
                    note: text(fields.get("note")),
                })
                .await
                .map(|e| format!("Entitlement {} added", e.id))
        }
        "entitlement-active" => engine
            .entitlements_set(SetActive { id: id(), active })
            .await
            .map(|e| {
                format!(
                    "Entitlement {} turned {}",
                    e.id,
                    if active { "on" } else { "off" }
                )
            }),
        "entitlement-remove" => engine
            .entitlements_remove(RemoveById { id: id() })
            .await
            .map(|r| format!("Entitlement {} removed", r.id)),
        "exclusion-add" => {
            let scope = match fields.get("scope").unwrap_or("both") {
                "license" => ExclusionScope::Reconciliation,
                "reclamation" => ExclusionScope::Reclamation,
                _ => ExclusionScope::Both,
            };
            engine
                .exclusions_add(AddExclusion {
                    user: text(fields.get("user")),
                    identifier: None,
                    spoke: None,
                    scope,
                    inactive: false,
                    note: text(fields.get("note")),
                })
                .await
                .map(|x| format!("Exclusion {} added", x.id))
        }
        "exclusion-active" => engine
            .exclusions_set(SetActive { id: id(), active })
            .await
            .map(|x| {
                format!(
                    "Exclusion {} turned {}",
                    x.id,
                    if active { "on" } else { "off" }
                )
            }),
        "exclusion-remove" => engine
            .exclusions_remove(RemoveById { id: id() })
            .await
            .map(|r| format!("Exclusion {} removed", r.id)),
        other => Err(AppError::Invalid(format!("unknown action `{other}`"))),
    };
    match outcome {
        Ok(t) => see_other(&format!("/catalog?notice={}", q(&t))),
        Err(e) => error_page(&e, Some(&session)),
    }
}
