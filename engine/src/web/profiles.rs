//! Profiles: each integration profile's status, processes, validation, product-access groups
//! (picked from the vendor's own list), scheduled jobs with their next run, and recent runs;
//! the admin's actions: validate (the reference guide's results table), publish, back to
//! draft, and run a
//! process now, whose progress (pages and records so far) the page shows live, reloading
//! itself while a run is in flight.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::{Fields, Shared, auth, error_page, html_page, layout, q, see_other, when};
use crate::app::AppError;
use crate::app::profiles::{ChangeGroups, GroupsQuery, ProfileName, ProfilesQuery};
use crate::app::runs::RunBody;
use crate::model::{JobStatus, ProcessKind, ProfileStatus, Role};

/// `?notice=`.
#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    notice: Option<String>,
}

/// `GET /profiles`.
pub async fn list(State(console): State<Shared>, headers: HeaderMap) -> Response {
    let session = match auth::require(&console, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let list = match console
        .engine(&session.actor)
        .profiles_list(ProfilesQuery {})
        .await
    {
        Ok(l) => l,
        Err(e) => return error_page(&e, Some(&session)),
    };
    let body = html! {
        h1 { "Profiles" }
        @if list.profiles.is_empty() { p { "No profile yet: " code { "sam profile create" } " makes one." } }
        table {
            thead { tr { th scope="col" { "Name" } th scope="col" { "Display name" } th scope="col" { "Spoke" } th scope="col" { "Status" } } }
            tbody {
                @for p in &list.profiles {
                    tr {
                        td { a href=(format!("/profiles/{}", q(&p.name))) { (p.name) } }
                        td { (p.display_name) } td { (p.spoke_id) }
                        td { (format!("{:?}", p.status)) }
                    }
                }
            }
        }
    };
    html_page(
        StatusCode::OK,
        layout::page("Profiles", Some(&session), Some("/profiles"), body),
    )
}

/// `GET /profiles/{name}`.
pub async fn show(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(n): Query<Notice>,
) -> Response {
    let session = match auth::require(&console, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let v = match console
        .engine(&session.actor)
        .profiles_show(ProfileName { name: name.clone() })
        .await
    {
        Ok(v) => v,
        Err(e) => return error_page(&e, Some(&session)),
    };
    let admin = session.actor.role.allows(Role::Admin);
    let running = v.recent_jobs.iter().any(|j| j.status == JobStatus::Running);
    let p = &v.profile;
    let body = html! {
        h1 { "Profile " (p.name) }
        (layout::notice(n.notice.as_deref()))
        @if running { p.notice role="status" data-live-reload="2000" { "A run is in progress; this page refreshes every 2 seconds." } }
        dl {
            dt { "Status" } dd { (format!("{:?}", p.status)) @if v.validated { " · validated" } @else { " · not validated for its current settings" } }
            dt { "Spoke" } dd { (p.spoke_id) }
            dt { "Processes" } dd { "download" @if p.processes.activity { ", activity" } @if p.processes.reclaim { ", reclaim" } }
            dt { "Subscriptions" } dd { (v.subscriptions.active) " active, " (v.subscriptions.ended) " ended" }
            dt { "Groups" } dd {
                @if v.selected_groups.is_empty() { "none selected" }
                @for g in &v.selected_groups { (g.group_id) " " }
                " · " a href=(format!("/profiles/{}/groups", q(&p.name))) { "pick groups" }
            }
        }
        @if admin {
            form.actions method="post" action=(format!("/profiles/{}/act", q(&p.name))) {
                (layout::csrf(&session))
                button type="submit" name="action" value="validate" { "Validate" }
                @if p.status == ProfileStatus::Draft { button type="submit" name="action" value="publish" { "Publish" } }
                @else { button.secondary type="submit" name="action" value="unpublish" { "Back to draft" } }
                label for="process" { "Run now:" }
                select #process name="process" {
                    option value="download-subscriptions" { "Download subscriptions" }
                    option value="download-activity" { "Download activity" }
                    option value="reclaim" { "Reclaim" }
                    option value="reconcile" { "Reconcile" }
                }
                button.secondary type="submit" name="action" value="run" { "Run" }
            }
        }
        h2 { "Scheduled jobs" }
        table {
            thead { tr { th scope="col" { "Job" } th scope="col" { "Process" } th scope="col" { "Schedule" } th scope="col" { "Next run" } th scope="col" { "Active" } } }
            tbody { @for j in &v.scheduled_jobs { tr { td { (j.name) } td { (j.process.key()) } td { code { (j.schedule) } } td { (when(Some(j.next_run))) } td { (if j.active { "yes" } else { "paused" }) } } } }
        }
        h2 { "Recent runs" }
        table {
            thead { tr { th scope="col" { "Run" } th scope="col" { "Process" } th scope="col" { "Started" } th scope="col" { "Status" } th.num scope="col" { "Pages" } th.num scope="col" { "Records" } th scope="col" { "Errors" } } }
            tbody { @for j in &v.recent_jobs { tr {
                td { (j.id) } td { (j.process.key()) } td { (when(Some(j.started_at))) } td { (j.status.name()) }
                td.num { (j.pages) } td.num { (j.records_seen) } td { (j.errors.join("; ")) }
            } } }
        }
    };
    html_page(
        StatusCode::OK,
        layout::page(
            &format!("Profile {name}"),
            Some(&session),
            Some("/profiles"),
            body,
        ),
    )
}

/// `POST /profiles/{name}/act`: validate, publish or run now.
pub async fn act(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    let session = match auth::require_post(&console, &headers, &fields) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let engine = console.engine(&session.actor);
    let back = format!("/profiles/{}", q(&name));
    match fields.get("action").unwrap_or_default() {
        "validate" => {
            let report = match engine
                .profiles_validate(ProfileName { name: name.clone() })
                .await
            {
                Ok(r) => r,
                Err(e) => return error_page(&e, Some(&session)),
            };
            let body = html! {
                h1 { "Validation of " (name) }
                p { @if report.passed { span.status-ok { "Passed" } } @else { span.status-bad { "Failed" } } }
                table {
                    thead { tr { th scope="col" { "Process" } th scope="col" { "Check" } th scope="col" { "Result" } } }
                    tbody { @for c in &report.checks { tr {
                        td { (c.process) } td { (c.description) }
                        td { @match &c.error { None => span.status-ok { "OK" }, Some(e) => span.status-bad { (e) } } }
                    } } }
                }
                @if let Some(r) = &report.recheck { p.hint { (r) } }
                p { a href=(back) { "Back to the profile" } }
            };
            html_page(
                StatusCode::OK,
                layout::page("Validation", Some(&session), Some("/profiles"), body),
            )
        }
        "publish" => match engine
            .profiles_publish(ProfileName { name: name.clone() })
            .await
        {
            Ok(p) => see_other(&format!(
                "{back}?notice={}",
                q(&format!(
                    "Published: {} models, {} rules, {} jobs",
                    p.models.len(),
                    p.rules_created,
                    p.jobs.len()
                ))
            )),
            Err(e) => error_page(&e, Some(&session)),
        },
        "unpublish" => match engine
            .profiles_unpublish(ProfileName { name: name.clone() })
            .await
        {
            Ok(u) => see_other(&format!(
                "{back}?notice={}",
                q(&format!("Back to Draft. {}", u.notes.join("; ")))
            )),
            Err(e) => error_page(&e, Some(&session)),
        },
        "run" => {
            let process = match fields.get("process").unwrap_or_default() {
                "download-subscriptions" => ProcessKind::DownloadSubscriptions,
                "download-activity" => ProcessKind::DownloadActivity,
                "reclaim" => ProcessKind::Reclaim,
                "reconcile" => ProcessKind::Reconcile,
                other => {
                    return error_page(
                        &AppError::Invalid(format!("unknown process `{other}`")),
                        Some(&session),
                    );
                }
            };
            if let Err(e) = session.actor.require(Role::Admin, "running a process") {
                return error_page(&e, Some(&session));
            }
            let run = RunBody {
                profile: name.clone(),
                process,
                // The console's "run now" is on a profile's page, explicit: a Draft one runs.
                draft: true,
            };
            // The run goes on after this answer; the profile page shows its progress.
            tokio::spawn(async move {
                if let Err(e) = engine.runs_start(run).await {
                    tracing::warn!(error = %e, "a run started from the console failed");
                }
            });
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            see_other(&format!(
                "{back}?notice={}",
                q(&format!("Started {}", process.key()))
            ))
        }
        other => error_page(
            &AppError::Invalid(format!("unknown action `{other}`")),
            Some(&session),
        ),
    }
}

/// `GET /profiles/{name}/groups`: the vendor's groups, the selected ones ticked.
pub async fn groups(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let session = match auth::require(&console, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let list = match console
        .engine(&session.actor)
        .groups_list(GroupsQuery {
            profile: name.clone(),
        })
        .await
    {
        Ok(l) => l,
        Err(e) => return error_page(&e, Some(&session)),
    };
    let admin = session.actor.role.allows(Role::Admin);
    let body = html! {
        h1 { "Product-access groups of " (name) }
        form method="post" action=(format!("/profiles/{}/groups", q(&name))) {
            (layout::csrf(&session))
            fieldset {
                legend { "Seats are counted for members of the groups ticked" }
                table {
                    thead { tr { th scope="col" { "Selected" } th scope="col" { "Group" } th scope="col" { "Access" } th.num scope="col" { "Members" } } }
                    tbody { @for g in &list.groups { tr {
                        td { input type="checkbox" name="groups" value=(g.id) id=(format!("g-{}", g.id)) checked[g.selected] disabled[!admin]; }
                        td { label for=(format!("g-{}", g.id)) { (g.name) } }
                        td { (g.access) }
                        td.num { (g.members.map_or("-".to_string(), |m| m.to_string())) }
                    } } }
                }
            }
            @if admin { button type="submit" { "Save groups" } }
        }
    };
    html_page(
        StatusCode::OK,
        layout::page("Groups", Some(&session), Some("/profiles"), body),
    )
}

/// `POST /profiles/{name}/groups`: select the ticked groups, unselect the others.
pub async fn change_groups(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    let session = match auth::require_post(&console, &headers, &fields) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let engine = console.engine(&session.actor);
    let list = match engine
        .groups_list(GroupsQuery {
            profile: name.clone(),
        })
        .await
    {
        Ok(l) => l,
        Err(e) => return error_page(&e, Some(&session)),
    };
    let ticked = fields.all("groups");
    let add: Vec<String> = list
        .groups
        .iter()
        .filter(|g| !g.selected && ticked.contains(&g.id.as_str()))
        .map(|g| g.id.clone())
        .collect();
    let remove: Vec<String> = list
        .groups
        .iter()
        .filter(|g| g.selected && !ticked.contains(&g.id.as_str()))
        .map(|g| g.id.clone())
        .collect();
    if !add.is_empty()
        && let Err(e) = engine
            .groups_add(ChangeGroups {
                profile: name.clone(),
                groups: add.clone(),
            })
            .await
    {
        return error_page(&e, Some(&session));
    }
    if !remove.is_empty()
        && let Err(e) = engine
            .groups_remove(ChangeGroups {
                profile: name.clone(),
                groups: remove.clone(),
            })
            .await
    {
        return error_page(&e, Some(&session));
    }
    see_other(&format!(
        "/profiles/{}?notice={}",
        q(&name),
        q(&format!(
            "Groups: {} added, {} removed",
            add.len(),
            remove.len()
        ))
    ))
}
