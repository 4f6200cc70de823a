//! Atlassian's organization API as an activity source: each user's last-active date for
//! Confluence (`GET /admin/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates`),
//! which counts viewing, so readers who never edit count as active. It is authenticated with
//! an organization API key, the manifest's second credential [`ORG_CREDENTIAL`]: the engine
//! adds that key only to requests under [`ORG_API_PREFIX`] and refuses such requests
//! (`denied`, nothing sent) when the admin supplied none, which is how this module learns
//! that the source is not configured.
//!
//! The org id is the `org-id` config value, else the first organization `GET /admin/v1/orgs`
//! lists for the key (one call per lookup call that needs it). One call per user, answered
//! concurrently through `send-all`; the engine's gate paces them by the API's own
//! `X-RateLimit-*` headers and its `Retry-After`. Shapes relied on (developer.atlassian.com
//! /cloud/admin/organization/rest, "Get last active dates"; v1 `last-active-dates` and
//! `GET /admin/v1/orgs` were not among the v1 endpoints retired on 30 June 2026):
//! `{"data":{"product_access":[{"id":"<site ARI>","key":"confluence","last_active":"YYYY-MM-DD"}],"added_to_org":"YYYY-MM-DD"}}`.
//! A date is a UTC day; the user counts as active until the end of that day (the later end,
//! the safe direction for a reclaim). No `confluence` entry for the site means never active.

use serde::Deserialize;

use crate::http::{Http, HttpError, Request, Response};
use crate::model::{ActivityKind, ActivityStatus, Config, EpochSeconds};
use crate::time::parse_day;

/// Where the organization API lives; the engine rebases it with the connection.
pub const ORG_API_PREFIX: &str = "https://api.atlassian.com/admin/";
/// The manifest's name of the organization API key.
pub const ORG_CREDENTIAL: &str = "org-api-key";
/// The config field naming the organization (optional: discovered when absent).
pub const ORG_ID: &str = "org-id";
/// The product key of Confluence in `product_access`.
const PRODUCT_KEY: &str = "confluence";

/// Where the organization source stands for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgSource {
    /// No organization API key was supplied.
    NotConfigured,
    /// The organization to ask.
    Org(String),
    /// The key is there but the organization could not be found or the API refused; why.
    Unusable(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OrgList {
    data: Vec<OrgEntry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OrgEntry {
    id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LastActive {
    data: Option<LastActiveData>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LastActiveData {
    product_access: Vec<ProductAccess>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ProductAccess {
    id: Option<String>,
    key: Option<String>,
    last_active: Option<String>,
}

fn describe(outcome: &Result<Response, HttpError>) -> String {
    match outcome {
        Ok(r) => format!("HTTP {}: {}", r.status, crate::errors::excerpt(&r.body)),
        Err(HttpError::Denied(m)) => format!("refused by the engine: {m}"),
        Err(HttpError::Timeout) => "no answer in time".into(),
        Err(HttpError::Connection(m)) => format!("connection failed: {m}"),
        Err(HttpError::BodyTooLarge(n)) => format!("answer larger than {n} bytes"),
    }
}

/// Which organization to ask, if any (see the module doc).
pub fn source(http: &dyn Http, config: &Config) -> OrgSource {
    if let Some(id) = config.value(ORG_ID) {
        return OrgSource::Org(id.to_string());
    }
    let outcome = http.send(Request::get(format!("{ORG_API_PREFIX}v1/orgs"), Vec::new()));
    match &outcome {
        Err(HttpError::Denied(_)) => OrgSource::NotConfigured,
        Ok(r) if r.is_success() => match serde_json::from_slice::<OrgList>(&r.body) {
            Ok(list) => match list
                .data
                .into_iter()
                .filter_map(|o| o.id)
                .find(|id| !id.trim().is_empty())
            {
                Some(id) => OrgSource::Org(id.trim().to_string()),
                None => OrgSource::Unusable(
                    "the organization API lists no organization for this key: set the profile's `org-id`".into(),
                ),
            },
            Err(e) => OrgSource::Unusable(format!("unreadable organization list: {e}")),
        },
        _ => OrgSource::Unusable(format!(
            "listing the organizations failed ({})",
            describe(&outcome)
        )),
    }
}

/// The request for one user's last-active dates.
pub fn last_active_request(org: &str, account_id: &str) -> Request {
    Request::get(
        format!(
            "{ORG_API_PREFIX}v1/orgs/{}/directory/users/{}/last-active-dates",
            crate::http::encode_segment(org),
            crate::http::encode_segment(account_id)
        ),
        Vec::new(),
    )
}

/// What one answer says of the user's Confluence activity on site `cloud_id` since `since`.
pub fn status_of(
    outcome: &Result<Response, HttpError>,
    cloud_id: Option<&str>,
    since: EpochSeconds,
) -> ActivityStatus {
    let response = match outcome {
        Ok(r) if r.is_success() => r,
        Ok(r) if r.status == 404 => {
            return ActivityStatus::Unknown(
                "the organization API does not know this account (not in the directory)".into(),
            );
        }
        _ => {
            return ActivityStatus::Unknown(format!(
                "organization last-active dates: {}",
                describe(outcome)
            ));
        }
    };
    let parsed: LastActive = match serde_json::from_slice(&response.body) {
        Ok(p) => p,
        Err(e) => {
            return ActivityStatus::Unknown(format!(
                "unreadable organization last-active dates: {e}"
            ));
        }
    };
    let entries: Vec<&ProductAccess> = parsed
        .data
        .as_ref()
        .map(|d| {
            d.product_access
                .iter()
                .filter(|p| p.key.as_deref() == Some(PRODUCT_KEY))
                .collect()
        })
        .unwrap_or_default();
    // The entry of this site when the ARI names it; else any Confluence entry (an org with
    // one Confluence site, or an ARI in a shape this spoke does not know).
    let of_site = cloud_id.and_then(|cloud| {
        entries
            .iter()
            .find(|p| p.id.as_deref().is_some_and(|id| id.ends_with(cloud)))
    });
    let entry = of_site.or_else(|| entries.iter().max_by_key(|p| p.last_active.clone()));
    let Some(entry) = entry else {
        return ActivityStatus::NoneInWindow;
    };
    let Some(day) = entry.last_active.as_deref() else {
        return ActivityStatus::NoneInWindow;
    };
    let Some(start) = parse_day(day) else {
        return ActivityStatus::Unknown(format!(
            "unreadable last-active date `{}`",
            crate::errors::excerpt(day.as_bytes())
        ));
    };
    let at = start + 86_399;
    if at < since {
        return ActivityStatus::NoneInWindow;
    }
    ActivityStatus::Seen {
        at,
        source: format!("used Confluence on {day} (organization last-active date)"),
        kind: ActivityKind::LastActive,
    }
}

/// The last-active status of each of `ids` (in order), one call per user, concurrently.
pub fn lookup(
    http: &dyn Http,
    org: &str,
    cloud_id: Option<&str>,
    since: EpochSeconds,
    ids: &[&str],
) -> Vec<ActivityStatus> {
    if ids.is_empty() {
        return Vec::new();
    }
    let requests = ids.iter().map(|id| last_active_request(org, id)).collect();
    let outcomes = http.send_all(requests);
    let statuses: Vec<ActivityStatus> = outcomes
        .iter()
        .map(|o| status_of(o, cloud_id, since))
        .collect();
    http.debug(&format!(
        "lookup-activity: asked the organization API about {} users, {} active",
        ids.len(),
        statuses
            .iter()
            .filter(|s| matches!(s, ActivityStatus::Seen { .. }))
            .count()
    ));
    statuses
}
