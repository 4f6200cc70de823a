//! Subscriptions: the seats, searched by user and filtered by profile, model, state and
//! inactivity (the first 200 shown with the total), and a user's page listing every seat
//! they hold across profiles with its last activity and where that activity came from.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Shared, auth, error_page, html_page, layout, q, when};
use crate::app::AppError;
use crate::app::views::{SubscriptionState, SubscriptionView, SubscriptionsQuery, UserSeatsQuery};

/// The list's filters (as typed: a bad number is a clear error, not an empty list).
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    user: Option<String>,
    profile: Option<String>,
    model: Option<String>,
    state: Option<String>,
    inactive_for: Option<String>,
}

fn seats_table(seats: &[SubscriptionView], link_users: bool) -> Markup {
    html! {
        div.table-wrap { table {
            thead { tr {
                th scope="col" { "User" } th scope="col" { "Model" } th scope="col" { "Identifier" }
                th scope="col" { "Profile" } th scope="col" { "State" } th scope="col" { "Last activity" }
                th scope="col" { "Activity source" } th scope="col" { "Granted by" }
            } }
            tbody {
                @for s in seats {
                    tr {
                        td {
                            @let who = s.display_name.as_deref().unwrap_or(&s.user);
                            @if link_users { a href=(format!("/subscriptions/user?user={}", q(&s.user))) { (who) } } @else { (who) }
                            @if let Some(e) = &s.email { br; span.hint { (e) } }
                        }
                        td { (s.model.as_deref().unwrap_or("unrecognized")) }
                        td { (s.identifier) }
                        td { (s.profile) }
                        td { @if s.active { "active" } @else { "ended " (when(s.ended_at)) } }
                        td { (when(s.last_activity)) @if let Some(d) = s.activity_age_days { " (" (d) " days ago)" } @else { " (" (s.activity) ")" } }
                        td { (s.activity_source.as_deref().unwrap_or("-")) }
                        td { (s.granted_by.join(", ")) }
                    }
                }
            }
        } }
    }
}

/// `GET /subscriptions`.
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
    let inactive_for = match empty(&f.inactive_for).map(|d| d.trim().parse::<u32>()) {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(_)) => {
            return error_page(
                &AppError::Invalid("\"Inactive for\" must be a whole number of days".into()),
                Some(&session),
            );
        }
    };
    let state = match f.state.as_deref().unwrap_or("active") {
        "active" | "" => SubscriptionState::Active,
        "ended" => SubscriptionState::Ended,
        "all" => SubscriptionState::All,
        other => {
            return error_page(
                &AppError::Invalid(format!("unknown state `{other}`")),
                Some(&session),
            );
        }
    };
    let query = SubscriptionsQuery {
        profile: empty(&f.profile),
        model: empty(&f.model),
        user: empty(&f.user),
        state: Some(state),
        inactive_for,
        limit: Some(200),
    };
    let list = match console
        .engine(&session.actor)
        .subscriptions_list(query)
        .await
    {
        Ok(l) => l,
        Err(e) => return error_page(&e, Some(&session)),
    };
    let st = f.state.as_deref().unwrap_or("active");
    let body = html! {
        h1 { "Subscriptions" }
        form.filters method="get" action="/subscriptions" role="search" {
            div { label for="user" { "User" } input #user type="search" name="user" value=[f.user.as_deref()] placeholder="id, e-mail or name"; }
            div { label for="profile" { "Profile" } input #profile name="profile" value=[f.profile.as_deref()]; }
            div { label for="model" { "Model" } input #model name="model" value=[f.model.as_deref()]; }
            div { label for="state" { "State" } select #state name="state" {
                option value="active" selected[st == "active"] { "Active" }
                option value="ended" selected[st == "ended"] { "Ended" }
                option value="all" selected[st == "all"] { "All" }
            } }
            div { label for="inactive_for" { "Inactive for (days)" } input #inactive_for name="inactive_for" inputmode="numeric" value=[f.inactive_for.as_deref()]; }
            button type="submit" { "Search" }
        }
        p.hint { (list.total) " seats" @if list.total as usize > list.subscriptions.len() { ", the first " (list.subscriptions.len()) " shown" } "." }
        (seats_table(&list.subscriptions, true))
    };
    html_page(
        StatusCode::OK,
        layout::page(
            "Subscriptions",
            Some(&session),
            Some("/subscriptions"),
            body,
        ),
    )
}

/// `?user=`.
#[derive(Debug, Default, Deserialize)]
pub struct UserParam {
    user: Option<String>,
}

/// `GET /subscriptions/user?user=...`: every seat one user holds.
pub async fn user(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(p): Query<UserParam>,
) -> Response {
    let session = match auth::require(&console, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(user) = p.user.filter(|u| !u.trim().is_empty()) else {
        return error_page(&AppError::Invalid("name a user".into()), Some(&session));
    };
    let seats = match console
        .engine(&session.actor)
        .subscriptions_user(UserSeatsQuery {
            user: user.clone(),
            all: true,
        })
        .await
    {
        Ok(s) => s,
        Err(e) => return error_page(&e, Some(&session)),
    };
    let body = html! {
        h1 { "Seats of " (user) }
        p.hint { (seats.seats.len()) " seats across profiles, ended ones included. " a href=(format!("/candidates?state=any&user={}", q(&user))) { "Their removal candidates" } }
        (seats_table(&seats.seats, false))
    };
    html_page(
        StatusCode::OK,
        layout::page(
            &format!("Seats of {user}"),
            Some(&session),
            Some("/subscriptions"),
            body,
        ),
    )
}
