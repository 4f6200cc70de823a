//! {{name}}: a sam spoke for the Example Seats SaaS (`https://api.example-seats.test`), on the
//! `sam-spoke` SDK.
//!
//! - download: `GET /v1/seats?limit=100&cursor=…`, one subscription per seat (the plan as
//!   identifier), each with its last activity (`activity-from-download`; a null
//!   `last_active_at` is `none-or-never`);
//! - reclaim: a seat is removed (`DELETE /v1/seats/{user_id}`; 404 means already done) and
//!   restored (`POST /v1/seats`; 409 means already done);
//! - vendor seat counts from `GET /v1/plans`; `validate` reads `GET /v1/me` and names a missing
//!   scope.
//!
//! The logic runs over `&dyn Http` so the unit tests below drive it with a fake on the host;
//! the engine's HTTP is `sam_spoke::Engine`.

use serde::Deserialize;

use sam_spoke::cursor::{Reader, Writer};
use sam_spoke::error::{self, Call, json_str};
use sam_spoke::{
    Engine, Http, Method, Request, Response, Spoke, SpokeError, validation_check, wit,
};

/// Seats per page (the vendor allows 1..=100).
const PAGE: u32 = 100;
/// The change a reclaim makes: the user's seat removed; its target is the plan.
const SEAT_REMOVED: &str = "seat-removed";
const SCOPE_READ: &str = "seats:read";
const SCOPE_WRITE: &str = "seats:write";

/// One call to the vendor, named for messages, reading `missing_scope` from a 403's body.
struct Example<'a>(&'a str);

impl Call for Example<'_> {
    fn what(&self) -> &str {
        self.0
    }

    fn missing_scope(&self, response: &Response) -> Option<String> {
        let body: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
        json_str(body.get("missing_scope"))
    }
}

#[derive(Deserialize)]
struct Me {
    account: String,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Deserialize)]
struct SeatPage {
    seats: Vec<Seat>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct Seat {
    user_id: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    plan: String,
    #[serde(default)]
    assigned_at: Option<String>,
    #[serde(default)]
    last_active_at: Option<String>,
}

#[derive(Deserialize)]
struct Plans {
    plans: Vec<Plan>,
}

#[derive(Deserialize)]
struct Plan {
    plan: String,
    purchased: Option<u64>,
    assigned: Option<u64>,
}

/// The `account` config field.
fn account(config: &wit::Config) -> Result<&str, SpokeError> {
    config
        .values
        .iter()
        .find(|(k, _)| k == "account")
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| SpokeError::InvalidConfig("`account` is required".into()))
}

/// A user id as a path segment, refusing anything that is not one.
fn user_path(user_id: &str) -> Result<String, SpokeError> {
    if user_id.is_empty() || user_id.len() > 200 {
        return Err(SpokeError::InvalidConfig(format!(
            "`{user_id}` is not a user id"
        )));
    }
    Ok(format!(
        "/v1/seats/{}",
        sam_spoke::http::encode_segment(user_id)
    ))
}

/// The cursor: the vendor's own cursor, versioned (`v1.<vendor cursor>`).
fn encode_cursor(vendor: &str) -> String {
    Writer::new("v1").text(vendor).finish()
}

fn decode_cursor(cursor: &str) -> Result<String, SpokeError> {
    let mut r = Reader::new("download-subscriptions", cursor, "v1")?;
    let vendor = r.text()?;
    r.end()?;
    Ok(vendor)
}

/// One page of seats, from the vendor's cursor (none: the first page).
fn seat_page(http: &dyn Http, vendor_cursor: Option<&str>) -> Result<SeatPage, SpokeError> {
    let mut request = Request::get("/v1/seats", Vec::new()).with_param("limit", PAGE);
    if let Some(c) = vendor_cursor {
        request = request.with_param("cursor", c);
    }
    error::fetch_json(http, &Example("list seats"), request)
}

fn subscription(seat: Seat) -> wit::Subscription {
    let activity = match seat
        .last_active_at
        .as_deref()
        .and_then(sam_spoke::time::rfc3339_to_epoch)
    {
        Some(at) => wit::ActivityStatus::Seen(wit::ActivitySeen {
            at,
            source: "last active".into(),
            kind: wit::ActivitySource::LastActive,
        }),
        None => wit::ActivityStatus::NoneOrNever,
    };
    wit::Subscription {
        display_name: seat.name.filter(|n| !n.is_empty()),
        email: seat.email.filter(|e| !e.is_empty()),
        account_type: match seat.kind.as_deref() {
            Some("human") => wit::AccountType::Human,
            Some("bot") => wit::AccountType::App,
            _ => wit::AccountType::Other,
        },
        granted_by: Vec::new(),
        granted_at: seat
            .assigned_at
            .as_deref()
            .and_then(sam_spoke::time::rfc3339_to_epoch),
        pending_cancellation: None,
        activity: Some(activity),
        external_user_id: seat.user_id,
        identifier: seat.plan,
    }
}

fn validate(
    http: &dyn Http,
    config: &wit::Config,
    processes: Vec<wit::Process>,
) -> Result<Vec<wit::ValidationCheck>, SpokeError> {
    let account = account(config)?;
    let me: Result<Me, SpokeError> = error::fetch_json(
        http,
        &Example("read the account"),
        Request::get("/v1/me", Vec::new()),
    );
    let me = match me {
        Ok(me) if me.account != account => {
            return Err(SpokeError::InvalidConfig(format!(
                "the token belongs to account `{}`, not `{account}`",
                me.account
            )));
        }
        other => other,
    };
    let needs = |scope: &str| match &me {
        Ok(me) if me.scopes.iter().any(|s| s == scope) => Ok(()),
        Ok(_) => Err(SpokeError::Forbidden {
            message: format!("the token lacks the scope {scope}"),
            missing_scope: Some(scope.to_string()),
        }),
        Err(e) => Err(e.clone()),
    };
    let mut checks = Vec::new();
    for process in processes {
        let description = match process {
            wit::Process::DownloadSubscriptions => "list seats (scope seats:read)",
            wit::Process::DownloadActivity => "read each seat's last activity (scope seats:read)",
            // Reclaim is never checked: validating never writes.
            wit::Process::Reclaim => continue,
        };
        checks.push(validation_check(process, description, needs(SCOPE_READ)));
    }
    Ok(checks)
}

fn download(
    http: &dyn Http,
    config: &wit::Config,
    cursor: Option<&str>,
) -> Result<wit::SubscriptionPage, SpokeError> {
    account(config)?;
    let vendor = cursor.map(decode_cursor).transpose()?;
    let page = seat_page(http, vendor.as_deref())?;
    sam_spoke::debug!("download: {} seats", page.seats.len());
    let mut seen = std::collections::BTreeSet::new();
    let subscriptions = page
        .seats
        .into_iter()
        .filter(|s| seen.insert(s.user_id.clone()))
        .map(subscription)
        .collect();
    Ok(wit::SubscriptionPage {
        subscriptions,
        next_cursor: page.next_cursor.as_deref().map(encode_cursor),
        following_cursors: Vec::new(),
    })
}

/// The plan of the seat `user_id` holds, if any (the vendor has no per-user read: the
/// listing is walked).
fn held_plan(http: &dyn Http, user_id: &str) -> Result<Option<String>, SpokeError> {
    let mut cursor: Option<String> = None;
    loop {
        let page = seat_page(http, cursor.as_deref())?;
        if let Some(seat) = page.seats.into_iter().find(|s| s.user_id == user_id) {
            return Ok(Some(seat.plan));
        }
        match page.next_cursor {
            Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
            _ => return Ok(None),
        }
    }
}

fn planned(changes: &[wit::SeatChange]) -> Result<(), SpokeError> {
    match changes.iter().find(|c| c.kind != SEAT_REMOVED) {
        Some(c) => Err(SpokeError::InvalidConfig(format!(
            "`{}` is not a change this spoke plans",
            c.kind
        ))),
        None => Ok(()),
    }
}

fn apply(
    http: &dyn Http,
    user_id: &str,
    changes: Vec<wit::SeatChange>,
) -> Result<Vec<wit::SeatChange>, SpokeError> {
    planned(&changes)?;
    let call = Example("remove the user's seat");
    for _ in &changes {
        let response = error::answered(
            &call,
            http.send(Request::new(Method::Delete, user_path(user_id)?)),
        )?;
        // 404: the user holds no seat (any more): already done.
        if response.status != 404 {
            error::check(&call, Ok(response))?;
        }
    }
    Ok(changes)
}

fn restore(
    http: &dyn Http,
    user_id: &str,
    changes: Vec<wit::SeatChange>,
) -> Result<(), SpokeError> {
    planned(&changes)?;
    let call = Example("assign the user's seat again");
    for change in &changes {
        let body = serde_json::json!({ "user_id": user_id, "plan": change.target_id });
        let response = error::answered(
            &call,
            http.send(Request::new(Method::Post, "/v1/seats").with_json(&body)),
        )?;
        // 409: the user holds a seat again: already done.
        if response.status != 409 {
            error::check(&call, Ok(response))?;
        }
    }
    Ok(())
}

fn seat_counts(http: &dyn Http) -> Result<Vec<wit::VendorSeatCount>, SpokeError> {
    let plans: Plans = error::fetch_json(
        http,
        &Example("read the plans"),
        Request::get("/v1/plans", Vec::new()),
    )?;
    Ok(plans
        .plans
        .into_iter()
        .map(|p| wit::VendorSeatCount {
            identifier: p.plan,
            purchased: p.purchased,
            in_use: p.assigned,
            pending_cancellation: None,
        })
        .collect())
}

struct Component;

impl Spoke for Component {
    fn manifest() -> wit::Manifest {
        let permission = |process, scopes: &[&str]| wit::ProcessPermission {
            process,
            vendor_role: "Account admin".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        };
        let product = |identifier: &str, edition: &str| wit::Product {
            identifier: identifier.into(),
            name: "Example Seats".into(),
            edition: Some(edition.into()),
        };
        wit::Manifest {
            id: "{{name}}".into(),
            display_name: "Example Seats".into(),
            publisher: "Example".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Seats of an Example Seats account".into(),
            processes: vec![
                permission(wit::Process::DownloadSubscriptions, &[SCOPE_READ]),
                permission(wit::Process::DownloadActivity, &[SCOPE_READ]),
                permission(wit::Process::Reclaim, &[SCOPE_READ, SCOPE_WRITE]),
            ],
            auth: wit::AuthScheme::BearerToken,
            auth_alternatives: Vec::new(),
            scope: None,
            activity_from_download: true,
            connection_url_template: "https://api.example-seats.test".into(),
            config_fields: vec![wit::ConfigField {
                name: "account".into(),
                label: "Account".into(),
                description: "The account's name (GET /v1/me shows it)".into(),
                required: true,
            }],
            allowed_hosts: vec!["api.example-seats.test".into()],
            activity_lookback_days: 90,
            products: vec![product("pro", "Pro"), product("basic", "Basic")],
            extra_credentials: Vec::new(),
        }
    }

    fn validate(
        config: wit::Config,
        processes: Vec<wit::Process>,
    ) -> Result<Vec<wit::ValidationCheck>, SpokeError> {
        validate(&Engine, &config, processes)
    }

    fn download_subscriptions(
        config: wit::Config,
        cursor: Option<String>,
    ) -> Result<wit::SubscriptionPage, SpokeError> {
        download(&Engine, &config, cursor.as_deref())
    }

    fn plan_reclaim(
        config: wit::Config,
        subscription: wit::SubscriptionRef,
    ) -> Result<Vec<wit::SeatChange>, SpokeError> {
        account(&config)?;
        Ok(held_plan(&Engine, &subscription.external_user_id)?
            .map(|plan| wit::SeatChange {
                kind: SEAT_REMOVED.into(),
                target_name: Some(format!("{plan} seat")),
                target_id: plan,
            })
            .into_iter()
            .collect())
    }

    fn apply_reclaim(
        config: wit::Config,
        subscription: wit::SubscriptionRef,
        changes: Vec<wit::SeatChange>,
    ) -> Result<Vec<wit::SeatChange>, SpokeError> {
        account(&config)?;
        apply(&Engine, &subscription.external_user_id, changes)
    }

    fn restore(
        config: wit::Config,
        subscription: wit::SubscriptionRef,
        changes: Vec<wit::SeatChange>,
    ) -> Result<(), SpokeError> {
        account(&config)?;
        restore(&Engine, &subscription.external_user_id, changes)
    }

    fn vendor_seat_counts(config: wit::Config) -> Result<Vec<wit::VendorSeatCount>, SpokeError> {
        account(&config)?;
        seat_counts(&Engine)
    }
}

sam_spoke::export!(Component);

#[cfg(test)]
mod tests {
    use super::*;
    use sam_spoke::HttpError;

    /// Answers every request with `(status, body)` and remembers the requests.
    struct Fake(std::cell::RefCell<Vec<Request>>, u16, &'static str);

    impl Http for Fake {
        fn send(&self, request: Request) -> Result<Response, HttpError> {
            self.0.borrow_mut().push(request);
            Ok(Response {
                status: self.1,
                headers: Vec::new(),
                body: self.2.as_bytes().to_vec(),
            })
        }
        fn send_all(&self, requests: Vec<Request>) -> Vec<Result<Response, HttpError>> {
            requests.into_iter().map(|r| self.send(r)).collect()
        }
    }

    fn config() -> wit::Config {
        wit::Config {
            values: vec![("account".into(), "acme".into())],
            selected_groups: Vec::new(),
        }
    }

    #[test]
    fn a_page_of_seats_becomes_subscriptions_and_a_versioned_cursor() {
        let fake = Fake(
            Default::default(),
            200,
            r#"{"seats":[{"user_id":"u-0001","email":"ada@acme.example","name":"Ada",
                "kind":"human","plan":"pro","assigned_at":"2026-01-02T03:04:05Z",
                "last_active_at":null}],"next_cursor":"c2"}"#,
        );
        let page = download(&fake, &config(), None).unwrap();
        assert_eq!(page.subscriptions.len(), 1);
        assert_eq!(page.subscriptions[0].identifier, "pro");
        assert!(matches!(
            page.subscriptions[0].activity,
            Some(wit::ActivityStatus::NoneOrNever)
        ));
        let next = page.next_cursor.unwrap();
        download(&fake, &config(), Some(&next)).unwrap();
        assert_eq!(fake.0.borrow()[1].query_value("cursor"), Some("c2"));
        assert!(matches!(
            download(&fake, &config(), Some("c2")),
            Err(SpokeError::InvalidConfig(_))
        ));
    }

    #[test]
    fn a_missing_scope_is_named() {
        let fake = Fake(
            Default::default(),
            200,
            r#"{"account":"acme","scopes":["seats:write"]}"#,
        );
        let checks = validate(&fake, &config(), vec![wit::Process::DownloadSubscriptions]).unwrap();
        assert!(matches!(
            &checks[0].outcome,
            Err(wit::SpokeError::Forbidden(f)) if f.missing_scope.as_deref() == Some("seats:read")
        ));
        let refused = Fake(
            Default::default(),
            403,
            r#"{"error":"forbidden","missing_scope":"seats:write"}"#,
        );
        assert!(matches!(
            apply(&refused, "u-1", vec![wit::SeatChange {
                kind: SEAT_REMOVED.into(),
                target_id: "pro".into(),
                target_name: None,
            }]),
            Err(SpokeError::Forbidden { missing_scope: Some(s), .. }) if s == "seats:write"
        ));
    }
}
