//! The exports (wasm only), as the SDK's `Spoke`: the manifest, validate, teams as the
//! profile's optional scope, the seat download with activity, the activity lookup for the
//! reclaim's re-check, plan / apply / restore, and the vendor's seat counts, over the SDK's
//! `Engine` (the engine's `http` import) with GitHub's reading of errors (`wire::GitHub`).

use sam_spoke::error;
use sam_spoke::paging::{last_link, next_link, pages_between};
use sam_spoke::time::{date_to_epoch, rfc3339_to_epoch};
use sam_spoke::{
    Engine, Http, Method, Request, Response, Spoke, SpokeError, validation_check, wit,
};

use crate::wire::{self, GitHub};

/// Seats per page (GitHub's maximum).
const PER_PAGE: &str = "100";
/// A change: the user's direct seat cancelled through `selected_users`.
const SEAT_CANCELLED: &str = "copilot-seat-cancelled";
/// A change: the user removed from the team that grants their seat.
const TEAM_MEMBERSHIP_REMOVED: &str = "team-membership-removed";

struct Component;

fn org(config: &wit::Config) -> Result<String, SpokeError> {
    let org = config
        .values
        .iter()
        .find(|(k, _)| k == "org")
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    if org.is_empty()
        || !org
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(SpokeError::InvalidConfig(format!(
            "`org` must be the organization's login (letters, digits, dashes), not `{org}`"
        )));
    }
    Ok(org)
}

fn login_ok(login: &str) -> Result<(), SpokeError> {
    if login.is_empty()
        || !login.chars().all(|c| {
            c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' || c == '[' || c == ']'
        })
    {
        return Err(SpokeError::InvalidConfig(format!(
            "`{login}` is not a GitHub login"
        )));
    }
    Ok(())
}

fn request(
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Vec<u8>>,
) -> Request {
    let mut request = Request::new(method, path)
        .with_query(query)
        .with_header("accept", "application/vnd.github+json")
        .with_header("x-github-api-version", "2022-11-28");
    if body.is_some() {
        request = request.with_header("content-type", "application/json");
    }
    request.body = body;
    request
}

fn get(path: String, query: Vec<(String, String)>) -> Request {
    request(Method::Get, path, query, None)
}

/// Sends `r`; a non-2xx answer becomes the contract's error.
fn send_ok(r: Request, what: &str) -> Result<Response, SpokeError> {
    error::send_ok(&Engine, &GitHub(what), r)
}

/// Sends `r`; only a request that got no answer fails.
fn send(r: Request, what: &str) -> Result<Response, SpokeError> {
    error::answered(&GitHub(what), Engine.send(r))
}

fn check(response: Response, what: &str) -> Result<Response, SpokeError> {
    error::check(&GitHub(what), Ok(response))
}

fn parse<T: serde::de::DeserializeOwned>(response: &Response, what: &str) -> Result<T, SpokeError> {
    error::parse_json(&GitHub(what), response)
}

fn seats_path(org: &str) -> String {
    format!("/orgs/{org}/copilot/billing/seats")
}

fn first_seat_page(org: &str) -> Request {
    get(
        seats_path(org),
        vec![
            ("per_page".into(), PER_PAGE.into()),
            ("page".into(), "1".into()),
        ],
    )
}

/// A cursor is the `rel="next"` URL GitHub gave; it must stay on the seat listing of `org`.
fn seat_page_at(org: &str, cursor: &str) -> Result<Request, SpokeError> {
    let bad = || SpokeError::InvalidConfig(format!("`{cursor}` is not a cursor of this spoke"));
    let after_scheme = cursor
        .strip_prefix("https://")
        .or_else(|| cursor.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let path_start = after_scheme.find('/').ok_or_else(bad)?;
    let path_and_query = &after_scheme[path_start..];
    let (path, _query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    if !path.ends_with(&seats_path(org)) {
        return Err(bad());
    }
    Ok(get(cursor.to_string(), Vec::new()))
}

fn seat_activity(seat: &wire::Seat) -> wit::ActivityStatus {
    match seat.last_activity_at.as_deref().and_then(rfc3339_to_epoch) {
        Some(at) => wit::ActivityStatus::Seen(wit::ActivitySeen {
            at,
            source: match seat.last_activity_editor.as_deref() {
                Some(editor) if !editor.is_empty() => {
                    format!("Copilot last activity ({})", truncate(editor, 200))
                }
                _ => "Copilot last activity".into(),
            },
            // GitHub's own last-activity time for the seat (any Copilot use counts).
            kind: wit::ActivitySource::LastActive,
        }),
        None => wit::ActivityStatus::NoneOrNever,
    }
}

fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn subscription(seat: wire::Seat) -> Option<wit::Subscription> {
    let activity = seat_activity(&seat);
    let assignee = seat.assignee?;
    let account_type = match assignee.kind.as_deref() {
        Some("User") => wit::AccountType::Human,
        Some("Bot") => wit::AccountType::App,
        _ => wit::AccountType::Other,
    };
    Some(wit::Subscription {
        identifier: wire::identifier(seat.plan_type.as_deref()),
        display_name: Some(
            assignee
                .name
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| assignee.login.clone()),
        ),
        email: assignee.email.filter(|e| !e.is_empty()),
        external_user_id: assignee.login,
        account_type,
        granted_by: seat.assigning_team.map(|t| t.slug).into_iter().collect(),
        granted_at: seat.created_at.as_deref().and_then(rfc3339_to_epoch),
        pending_cancellation: seat
            .pending_cancellation_date
            .as_deref()
            .and_then(date_to_epoch),
        activity: Some(activity),
    })
}

/// The user's seat (`GET /orgs/{org}/members/{login}/copilot`); `None` when they hold none.
fn user_seat(org: &str, login: &str) -> Result<Option<wire::Seat>, SpokeError> {
    login_ok(login)?;
    let what = "read the user's Copilot seat";
    let response = send(
        get(format!("/orgs/{org}/members/{login}/copilot"), Vec::new()),
        what,
    )?;
    if response.status == 404 {
        return Ok(None);
    }
    let response = check(response, what)?;
    parse(&response, what).map(Some)
}

fn change(kind: &str, target_id: &str, target_name: Option<String>) -> wit::SeatChange {
    wit::SeatChange {
        kind: kind.into(),
        target_id: target_id.into(),
        target_name,
    }
}

fn selected_users(org: &str, method: Method, login: &str) -> Request {
    let body = serde_json::json!({ "selected_usernames": [login] }).to_string();
    request(
        method,
        format!("/orgs/{org}/copilot/billing/selected_users"),
        Vec::new(),
        Some(body.into_bytes()),
    )
}

fn membership(org: &str, method: Method, team: &str, login: &str) -> Result<Request, SpokeError> {
    login_ok(team)?;
    let body = (method == Method::Put).then(|| br#"{"role":"member"}"#.to_vec());
    Ok(request(
        method,
        format!("/orgs/{org}/teams/{team}/memberships/{login}"),
        Vec::new(),
        body,
    ))
}

impl Spoke for Component {
    fn manifest() -> wit::Manifest {
        let perm = |process, role: &str, scopes: &[&str]| wit::ProcessPermission {
            process,
            vendor_role: role.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        };
        wit::Manifest {
            // One credential serves every request (the token or the app installation's).
            extra_credentials: Vec::new(),
            id: "github-copilot".into(),
            display_name: "GitHub Copilot".into(),
            publisher: "GitHub".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "GitHub Copilot Business and Enterprise seats of one organization (REST API: Copilot billing and seats, teams)".into(),
            processes: vec![
                perm(
                    wit::Process::DownloadSubscriptions,
                    "Organization owner (app: Copilot Business: read)",
                    &["manage_billing:copilot"],
                ),
                perm(
                    wit::Process::DownloadActivity,
                    "Organization owner (app: Copilot Business: read)",
                    &["manage_billing:copilot"],
                ),
                perm(
                    wit::Process::Reclaim,
                    "Organization owner (app: Copilot Business: write, Members: write)",
                    &["manage_billing:copilot", "admin:org"],
                ),
            ],
            auth: wit::AuthScheme::BearerToken,
            auth_alternatives: vec![wit::AuthScheme::AppInstallation(wit::AppInstallation {
                token_path: "/app/installations/{installation-id}/access_tokens".into(),
                instructions: "Create a GitHub App owned by the organization with the organization permissions \"GitHub Copilot Business\" (read; write to reclaim) and \"Members\" (read; write to reclaim), install it on the organization, and give sam its app id (or client id), installation id and private key (.pem).".into(),
            })],
            scope: Some(wit::ScopeSelection {
                noun: "teams".into(),
                description: "only the seats these teams grant; none selected means every seat of the organization".into(),
                required: false,
            }),
            activity_from_download: true,
            connection_url_template: "https://api.github.com".into(),
            config_fields: vec![wit::ConfigField {
                name: "org".into(),
                label: "Organization".into(),
                description: "The organization's login (github.com/ORG)".into(),
                required: true,
            }],
            allowed_hosts: vec!["api.github.com".into()],
            activity_lookback_days: 90,
            products: vec![
                wit::Product {
                    identifier: "copilot-business".into(),
                    name: "GitHub Copilot".into(),
                    edition: Some("Business".into()),
                },
                wit::Product {
                    identifier: "copilot-enterprise".into(),
                    name: "GitHub Copilot".into(),
                    edition: Some("Enterprise".into()),
                },
            ],
        }
    }

    fn validate(
        config: wit::Config,
        processes: Vec<wit::Process>,
    ) -> Result<Vec<wit::ValidationCheck>, SpokeError> {
        let org = org(&config)?;
        let seats = send_ok(
            get(seats_path(&org), vec![("per_page".into(), "1".into())]),
            "list the organization's Copilot seats",
        )
        .and_then(|r| parse::<wire::SeatList>(&r, "list seats").map(|_| ()));
        let mut checks = Vec::new();
        for process in processes {
            match process {
                wit::Process::DownloadSubscriptions => {
                    checks.push(validation_check(
                        process,
                        "list the organization's Copilot seats",
                        seats.clone(),
                    ));
                    let billing = send_ok(
                        get(format!("/orgs/{org}/copilot/billing"), Vec::new()),
                        "read the Copilot billing summary",
                    )
                    .and_then(|r| parse::<wire::Billing>(&r, "billing").map(|_| ()));
                    checks.push(validation_check(
                        process,
                        "read the Copilot billing summary (seats bought and in use)",
                        billing,
                    ));
                }
                wit::Process::DownloadActivity => checks.push(validation_check(
                    process,
                    "read each seat's last activity (on the seat listing)",
                    seats.clone(),
                )),
                wit::Process::Reclaim => {}
            }
        }
        Ok(checks)
    }

    fn list_groups(
        config: wit::Config,
        cursor: Option<String>,
    ) -> Result<wit::GroupPage, SpokeError> {
        let org = org(&config)?;
        let page: u32 = match cursor.as_deref() {
            None => 1,
            Some(c) => c.parse().map_err(|_| {
                SpokeError::InvalidConfig(format!("`{c}` is not a cursor of this spoke"))
            })?,
        };
        let what = "list the organization's teams";
        let response = send_ok(
            get(
                format!("/orgs/{org}/teams"),
                vec![
                    ("per_page".into(), "100".into()),
                    ("page".into(), page.to_string()),
                ],
            ),
            what,
        )?;
        let teams: Vec<wire::Team> = parse(&response, what)?;
        let next = response.header("link").and_then(next_link);
        Ok(wit::GroupPage {
            groups: teams
                .into_iter()
                .map(|t| wit::Group {
                    name: t.name.unwrap_or_else(|| t.slug.clone()),
                    id: t.slug,
                    // A team grants a seat only once it is assigned Copilot; the team
                    // listing does not say which teams are, nor cheaply how many members.
                    access: wit::GroupAccess::Unknown,
                    member_count: None,
                })
                .collect(),
            next_cursor: next.map(|_| (page + 1).to_string()),
        })
    }

    fn download_subscriptions(
        config: wit::Config,
        cursor: Option<String>,
    ) -> Result<wit::SubscriptionPage, SpokeError> {
        let org = org(&config)?;
        let request = match cursor.as_deref() {
            None => first_seat_page(&org),
            Some(c) => seat_page_at(&org, c)?,
        };
        let what = "list the organization's Copilot seats";
        let response = send_ok(request, what)?;
        let list: wire::SeatList = parse(&response, what)?;
        let link = response.header("link");
        let next = link.and_then(next_link);
        // The pages after the next one, from the `Link` header's `last`: page numbers are
        // independently addressable, so the engine may request them concurrently.
        let following_cursors = match (next.as_deref(), link.and_then(last_link)) {
            (Some(next), Some(last)) => pages_between(next, &last),
            _ => Vec::new(),
        };
        let mut seen = std::collections::BTreeSet::new();
        let subscriptions = list
            .seats
            .into_iter()
            .filter_map(subscription)
            .filter(|s| {
                config.selected_groups.is_empty()
                    || s.granted_by
                        .iter()
                        .any(|t| config.selected_groups.contains(t))
            })
            .filter(|s| seen.insert((s.external_user_id.clone(), s.identifier.clone())))
            .collect();
        Ok(wit::SubscriptionPage {
            subscriptions,
            next_cursor: next,
            following_cursors,
        })
    }

    // download-activity: the default (an empty page): the activity comes with the seats
    // (`activity-from-download`), there is nothing to scan.

    fn lookup_activity(
        config: wit::Config,
        since: wit::EpochSeconds,
        external_user_ids: Vec<String>,
    ) -> Result<Vec<wit::UserActivity>, SpokeError> {
        let org = org(&config)?;
        let mut requests = Vec::with_capacity(external_user_ids.len());
        for login in &external_user_ids {
            login_ok(login)?;
            requests.push(get(
                format!("/orgs/{org}/members/{login}/copilot"),
                Vec::new(),
            ));
        }
        let answers = if requests.is_empty() {
            Vec::new()
        } else {
            Engine.send_all(requests)
        };
        let what = "read the user's Copilot seat";
        let mut out = Vec::with_capacity(answers.len());
        for (login, answer) in external_user_ids.into_iter().zip(answers) {
            let response = error::answered(&GitHub(what), answer)?;
            let status = if response.status == 404 {
                wit::ActivityStatus::Unknown("the user holds no Copilot seat".into())
            } else {
                let response = check(response, what)?;
                let seat: wire::Seat = parse(&response, what)?;
                match seat_activity(&seat) {
                    wit::ActivityStatus::Seen(s) if s.at < since => {
                        wit::ActivityStatus::NoneInWindow
                    }
                    other => other,
                }
            };
            out.push(wit::UserActivity {
                external_user_id: login,
                status,
            });
        }
        Ok(out)
    }

    fn plan_reclaim(
        config: wit::Config,
        subscription: wit::SubscriptionRef,
    ) -> Result<Vec<wit::SeatChange>, SpokeError> {
        let org = org(&config)?;
        let login = &subscription.external_user_id;
        let Some(seat) = user_seat(&org, login)? else {
            return Ok(Vec::new());
        };
        if seat.pending_cancellation_date.is_some() {
            // Already cancelled: it ends with the cycle.
            return Ok(Vec::new());
        }
        Ok(match seat.assigning_team {
            // GitHub refuses a per-user cancel of a team-granted seat (422): leave the team.
            Some(team) => vec![change(TEAM_MEMBERSHIP_REMOVED, &team.slug, team.name)],
            None => vec![change(
                SEAT_CANCELLED,
                login,
                Some(format!("{login}'s Copilot seat")),
            )],
        })
    }

    fn apply_reclaim(
        config: wit::Config,
        subscription: wit::SubscriptionRef,
        changes: Vec<wit::SeatChange>,
    ) -> Result<Vec<wit::SeatChange>, SpokeError> {
        let org = org(&config)?;
        let login = subscription.external_user_id.clone();
        login_ok(&login)?;
        for c in &changes {
            match c.kind.as_str() {
                SEAT_CANCELLED => {
                    let what = "cancel the user's Copilot seat";
                    let response = send(selected_users(&org, Method::Delete, &login), what)?;
                    if response.status == 422 {
                        // Already done counts as done: a seat pending cancellation, or gone.
                        match user_seat(&org, &login)? {
                            None => continue,
                            Some(seat) if seat.pending_cancellation_date.is_some() => continue,
                            Some(_) => {
                                check(response, what)?;
                            }
                        }
                    } else {
                        check(response, what)?;
                    }
                }
                TEAM_MEMBERSHIP_REMOVED => {
                    let what = "remove the user from the team granting the seat";
                    let response = send(
                        membership(&org, Method::Delete, &c.target_id, &login)?,
                        what,
                    )?;
                    // 404: not a member (any more): already done.
                    if response.status != 404 {
                        check(response, what)?;
                    }
                }
                other => {
                    return Err(SpokeError::InvalidConfig(format!(
                        "`{other}` is not a change this spoke plans"
                    )));
                }
            }
        }
        Ok(changes)
    }

    fn restore(
        config: wit::Config,
        subscription: wit::SubscriptionRef,
        changes: Vec<wit::SeatChange>,
    ) -> Result<(), SpokeError> {
        let org = org(&config)?;
        let login = subscription.external_user_id.clone();
        login_ok(&login)?;
        for c in changes.iter().rev() {
            match c.kind.as_str() {
                // Assigning again refreshes a seat pending cancellation (and is a no-op for a
                // live one), so restoring twice changes nothing.
                SEAT_CANCELLED => {
                    send_ok(
                        selected_users(&org, Method::Post, &login),
                        "assign the user's Copilot seat again",
                    )?;
                }
                TEAM_MEMBERSHIP_REMOVED => {
                    send_ok(
                        membership(&org, Method::Put, &c.target_id, &login)?,
                        "put the user back into the team granting the seat",
                    )?;
                }
                other => {
                    return Err(SpokeError::InvalidConfig(format!(
                        "`{other}` is not a change this spoke plans"
                    )));
                }
            }
        }
        Ok(())
    }

    fn vendor_seat_counts(config: wit::Config) -> Result<Vec<wit::VendorSeatCount>, SpokeError> {
        let org = org(&config)?;
        let what = "read the Copilot billing summary";
        let response = send_ok(
            get(format!("/orgs/{org}/copilot/billing"), Vec::new()),
            what,
        )?;
        let billing: wire::Billing = parse(&response, what)?;
        let total = billing.seat_breakdown.total;
        let pending = billing.seat_breakdown.pending_cancellation;
        Ok(vec![wit::VendorSeatCount {
            identifier: wire::identifier(billing.plan_type.as_deref().or(Some("business"))),
            purchased: total,
            in_use: total.map(|t| t.saturating_sub(pending.unwrap_or(0))),
            pending_cancellation: pending,
        }])
    }
}

sam_spoke::export!(Component);
