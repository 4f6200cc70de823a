//! GitHub's wire format, as plain Rust the host can unit-test: the seat and billing shapes
//! (unknown fields ignored, as GitHub adds fields within a version) and GitHub's reading of
//! an error answer as a `sam_spoke::Call` (rate limits told apart from permission 403s by
//! headers and message, the missing scope or permission named from GitHub's `X-Accepted-*`
//! headers). Paging (`Link` headers), timestamps and the common error table are the SDK's.

use sam_spoke::http::header;
use sam_spoke::{Call, Response, SpokeError, time};
use serde::Deserialize;

/// `GET /orgs/{org}/copilot/billing/seats`.
#[derive(Debug, Deserialize)]
pub struct SeatList {
    /// The seats on this page.
    #[serde(default)]
    pub seats: Vec<Seat>,
}

/// One `copilot-seat-details`.
#[derive(Debug, Deserialize)]
pub struct Seat {
    /// The holder (null for a seat without one).
    pub assignee: Option<Assignee>,
    /// The team granting the seat; absent or null for a direct assignment.
    #[serde(default)]
    pub assigning_team: Option<Team>,
    /// `YYYY-MM-DD` when the seat ends, for a cancelled one.
    #[serde(default)]
    pub pending_cancellation_date: Option<String>,
    /// The holder's last Copilot activity (null: none in 90 days, or never).
    #[serde(default)]
    pub last_activity_at: Option<String>,
    /// The editor of that activity.
    #[serde(default)]
    pub last_activity_editor: Option<String>,
    /// When the holder was granted the seat.
    #[serde(default)]
    pub created_at: Option<String>,
    /// `business`, `enterprise` or `unknown`.
    #[serde(default)]
    pub plan_type: Option<String>,
}

/// The seat holder (`simple-user`).
#[derive(Debug, Deserialize)]
pub struct Assignee {
    /// The login.
    pub login: String,
    /// `User`, `Bot`, `Organization`, ….
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The name, where visible.
    #[serde(default)]
    pub name: Option<String>,
    /// The public email, where visible.
    #[serde(default)]
    pub email: Option<String>,
}

/// A team (the fields the spoke uses).
#[derive(Debug, Deserialize)]
pub struct Team {
    /// The slug (what the membership endpoints take).
    pub slug: String,
    /// The name.
    #[serde(default)]
    pub name: Option<String>,
}

/// `GET /orgs/{org}/copilot/billing`.
#[derive(Debug, Deserialize)]
pub struct Billing {
    /// The seat breakdown.
    pub seat_breakdown: SeatBreakdown,
    /// `business` or `enterprise`.
    #[serde(default)]
    pub plan_type: Option<String>,
}

/// `seat_breakdown`.
#[derive(Debug, Deserialize)]
pub struct SeatBreakdown {
    /// Seats billed this cycle.
    #[serde(default)]
    pub total: Option<u64>,
    /// Seats ending at the end of this cycle.
    #[serde(default)]
    pub pending_cancellation: Option<u64>,
}

/// The subscription identifier of a plan type.
pub fn identifier(plan_type: Option<&str>) -> String {
    match plan_type {
        Some("business") => "copilot-business".into(),
        Some("enterprise") => "copilot-enterprise".into(),
        Some(other) if !other.is_empty() => format!("copilot-{other}"),
        _ => "copilot-unknown".into(),
    }
}

/// One call to GitHub, named for messages (`GitHub("list seats")`), with GitHub's reading
/// of an error answer on top of the SDK's common table: a rate limit told apart from a
/// permission 403 by headers and message, and the missing scope or permission of a 403
/// named from the `X-Accepted-*` headers.
#[derive(Clone, Copy, Debug)]
pub struct GitHub<'a>(pub &'a str);

impl Call for GitHub<'_> {
    fn what(&self) -> &str {
        self.0
    }

    fn classify(&self, response: &Response, message: &str, said: &str) -> Option<SpokeError> {
        let status = response.status;
        let remaining_zero = response.header("x-ratelimit-remaining").map(str::trim) == Some("0");
        let secondary = said.to_ascii_lowercase().contains("secondary rate limit");
        if !(status == 429 || (status == 403 && (remaining_zero || secondary))) {
            return None;
        }
        // GitHub's rule: retry-after if given; else the reset time when the bucket is spent;
        // else at least a minute.
        let until_reset = || {
            let reset: i64 = response.header("x-ratelimit-reset")?.trim().parse().ok()?;
            let now = response.header("date").and_then(time::http_date_to_epoch)?;
            Some(reset.saturating_sub(now).max(1) as u64)
        };
        let wait = sam_spoke::error::retry_after(response)
            .or_else(|| if remaining_zero { until_reset() } else { None })
            .or(Some(60));
        Some(SpokeError::RateLimited {
            message: message.to_string(),
            retry_after_seconds: wait,
        })
    }

    fn missing_scope(&self, response: &Response) -> Option<String> {
        missing_permission(&response.headers)
    }
}

/// The scope or permission a 403 lacked: for a classic token the accepted scopes it does not
/// hold (`X-Accepted-OAuth-Scopes` minus `X-OAuth-Scopes`), else the fine-grained or app
/// permissions the endpoint accepts (`X-Accepted-GitHub-Permissions`).
pub fn missing_permission(headers: &[(String, String)]) -> Option<String> {
    let list = |v: &str| -> Vec<String> {
        v.split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    if let Some(accepted) = header(headers, "x-accepted-oauth-scopes") {
        let held = header(headers, "x-oauth-scopes")
            .map(list)
            .unwrap_or_default();
        let accepted = list(accepted);
        if !accepted.is_empty() && !accepted.iter().any(|s| held.contains(s)) {
            return Some(accepted.join(" or "));
        }
    }
    header(headers, "x-accepted-github-permissions")
        .map(|v| {
            v.split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" or ")
        })
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn classify(status: u16, headers: &[(String, String)], body: &[u8], what: &str) -> SpokeError {
        let response = Response {
            status,
            headers: headers.to_vec(),
            body: body.to_vec(),
        };
        sam_spoke::error::from_status(&GitHub(what), &response)
    }

    #[test]
    fn rate_limits_are_told_from_permission_403s() {
        let primary = classify(
            403,
            &h(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1000"),
                ("date", "Thu, 01 Jan 1970 00:15:00 GMT"),
            ]),
            br#"{"message":"API rate limit exceeded for user ID 1."}"#,
            "list seats",
        );
        assert!(
            matches!(
                primary,
                SpokeError::RateLimited {
                    retry_after_seconds: Some(100),
                    ..
                }
            ),
            "{primary:?}"
        );
        let secondary = classify(
            403,
            &h(&[("x-ratelimit-remaining", "4000"), ("retry-after", "7")]),
            br#"{"message":"You have exceeded a secondary rate limit."}"#,
            "list seats",
        );
        assert_eq!(
            secondary,
            SpokeError::RateLimited {
                message: secondary_text(),
                retry_after_seconds: Some(7)
            }
        );
        let bare = classify(429, &[], b"{}", "x");
        assert!(matches!(
            bare,
            SpokeError::RateLimited {
                retry_after_seconds: Some(60),
                ..
            }
        ));
        let not_found = classify(404, &[], b"{}", "x");
        assert!(matches!(not_found, SpokeError::NotFound(_)));
        let denied = classify(
            403,
            &h(&[
                ("x-ratelimit-remaining", "4000"),
                (
                    "x-accepted-oauth-scopes",
                    "manage_billing:copilot, read:org",
                ),
                ("x-oauth-scopes", "repo"),
            ]),
            br#"{"message":"Resource not accessible by personal access token"}"#,
            "list seats",
        );
        assert!(
            matches!(&denied, SpokeError::Forbidden { missing_scope: Some(s), .. } if s == "manage_billing:copilot or read:org"),
            "{denied:?}"
        );
        let app = classify(
            403,
            &h(&[(
                "x-accepted-github-permissions",
                "organization_copilot_seat_management=read; organization_administration=read",
            )]),
            br#"{"message":"Resource not accessible by integration"}"#,
            "list seats",
        );
        assert!(
            matches!(&app, SpokeError::Forbidden { missing_scope: Some(s), .. } if s.starts_with("organization_copilot_seat_management=read or")),
            "{app:?}"
        );
    }

    fn secondary_text() -> String {
        "list seats answered HTTP 403: You have exceeded a secondary rate limit.".into()
    }

    #[test]
    fn seats_parse_with_unknown_fields_and_nulls() {
        let page: SeatList = serde_json::from_str(
            r#"{"total_seats":2,"seats":[
              {"created_at":"2021-08-03T18:00:00-06:00","assignee":{"login":"a","id":1,"type":"User","new":1},
               "assigning_team":{"slug":"t","name":"T","parent":null},"pending_cancellation_date":null,
               "last_activity_at":null,"plan_type":"business","brand_new_field":true},
              {"created_at":"2021-08-03T18:00:00Z","assignee":{"login":"b","type":"Bot"},
               "pending_cancellation_date":"2021-09-01","last_activity_at":"2021-08-03T18:00:00Z",
               "last_activity_editor":"vscode/1"}]}"#,
        )
        .unwrap();
        assert_eq!(page.seats.len(), 2);
        assert_eq!(page.seats[0].assigning_team.as_ref().unwrap().slug, "t");
        assert!(page.seats[1].assigning_team.is_none());
        assert_eq!(
            identifier(page.seats[0].plan_type.as_deref()),
            "copilot-business"
        );
        assert_eq!(identifier(None), "copilot-unknown");
    }
}
