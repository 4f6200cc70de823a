//! GitHub's wire format, as plain Rust the host can unit-test: the seat and billing shapes
//! (unknown fields ignored, as GitHub adds fields within a version), the `Link` header's
//! `rel="next"`, timestamps and dates, and the classification of an error answer (rate
//! limits told apart from permission 403s by headers and message, the missing scope or
//! permission named from GitHub's `X-Accepted-*` headers).

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

/// The `rel="next"` URL of a `Link` header, if any.
pub fn next_link(link: &str) -> Option<String> {
    rel_link(link, "next")
}

/// The `rel="last"` URL of a `Link` header, if any.
pub fn last_link(link: &str) -> Option<String> {
    rel_link(link, "last")
}

fn rel_link(link: &str, rel: &str) -> Option<String> {
    let quoted = format!("rel=\"{rel}\"");
    let bare = format!("rel={rel}");
    link.split(',').find_map(|part| {
        let mut pieces = part.split(';');
        let url = pieces.next()?.trim();
        let url = url.strip_prefix('<')?.strip_suffix('>')?;
        pieces
            .any(|p| {
                let p = p.trim();
                p == quoted || p == bare
            })
            .then(|| url.to_string())
    })
}

/// Page URLs told ahead from one page, at most (the engine takes no more).
const MAX_FOLLOWING: u64 = 10_000;

/// The URLs of the pages after `next` up to `last` (both GitHub's links, which differ only
/// in their `page` parameter): `next` with its `page` number replaced, in place, by each
/// number after it up to `last`'s, so each is the URL the page before names as its next.
/// Empty when either has no `page` number or the two differ otherwise.
pub fn pages_between(next: &str, last: &str) -> Vec<String> {
    // The URL around its page number, and the number.
    let split = |url: &str| -> Option<(String, u64, String)> {
        let query_at = url.find('?')?;
        let mut offset = query_at + 1;
        for pair in url[query_at + 1..].split('&') {
            if let Some(n) = pair.strip_prefix("page=") {
                let number = n.parse::<u64>().ok()?;
                let value_at = offset + "page=".len();
                return Some((
                    url[..value_at].to_string(),
                    number,
                    url[value_at + n.len()..].to_string(),
                ));
            }
            offset += pair.len() + 1;
        }
        None
    };
    let (Some((head, from, tail)), Some((last_head, to, last_tail))) = (split(next), split(last))
    else {
        return Vec::new();
    };
    if head != last_head || tail != last_tail || to <= from {
        return Vec::new();
    }
    (from + 1..=to.min(from + MAX_FOLLOWING))
        .map(|n| format!("{head}{n}{tail}"))
        .collect()
}

/// An RFC 3339 timestamp (any offset) as epoch seconds.
pub fn timestamp(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp())
}

/// A `YYYY-MM-DD` date as the epoch seconds of its midnight UTC.
pub fn date(text: &str) -> Option<i64> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
}

/// What an error answer means, for the contract's error variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 401.
    Unauthorized(String),
    /// A permission 403, with the scope or permission that would allow it where GitHub says.
    Forbidden(String, Option<String>),
    /// 404.
    NotFound(String),
    /// A primary or secondary rate limit (403 or 429), with the seconds to wait where known.
    RateLimited(String, Option<u64>),
    /// 5xx.
    Transient(String),
    /// Anything else (422 and other surprises).
    Vendor(String),
}

/// The header `name` (lowercase) of `headers`.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Classifies an answer that is not a success. `what` names the call for the message.
pub fn classify(status: u16, headers: &[(String, String)], body: &[u8], what: &str) -> Failure {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    let text = format!("{what}: HTTP {status}: {message}");
    let remaining_zero = header(headers, "x-ratelimit-remaining").map(str::trim) == Some("0");
    let secondary = message
        .to_ascii_lowercase()
        .contains("secondary rate limit");
    if status == 429 || (status == 403 && (remaining_zero || secondary)) {
        // GitHub's rule: retry-after if given; else the reset time when the bucket is spent;
        // else at least a minute.
        let retry_after = header(headers, "retry-after").and_then(|v| v.trim().parse().ok());
        let until_reset = || {
            let reset: i64 = header(headers, "x-ratelimit-reset")?.trim().parse().ok()?;
            let now = header(headers, "date")
                .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok())
                .map(|d| d.timestamp())?;
            Some((reset - now).max(1) as u64)
        };
        let wait = retry_after
            .or_else(|| if remaining_zero { until_reset() } else { None })
            .or(Some(60));
        return Failure::RateLimited(text, wait);
    }
    match status {
        401 => Failure::Unauthorized(text),
        403 => Failure::Forbidden(text, missing_permission(headers)),
        404 => Failure::NotFound(text),
        500..=599 => Failure::Transient(text),
        _ => Failure::Vendor(text),
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

    #[test]
    fn the_next_link_is_found_among_the_others() {
        let link = "<https://api.github.com/x?page=2&per_page=100>; rel=\"next\", <https://api.github.com/x?page=5>; rel=\"last\"";
        assert_eq!(
            next_link(link).as_deref(),
            Some("https://api.github.com/x?page=2&per_page=100")
        );
        let last = "<https://api.github.com/x?page=4>; rel=\"prev\", <https://api.github.com/x?page=1>; rel=\"first\"";
        assert_eq!(next_link(last), None);
        assert_eq!(last_link(last), None);
        assert_eq!(
            last_link(link).as_deref(),
            Some("https://api.github.com/x?page=5")
        );
        let next = "https://h/orgs/o/copilot/billing/seats?per_page=100&page=2";
        let last = "https://h/orgs/o/copilot/billing/seats?per_page=100&page=5";
        assert_eq!(
            pages_between(next, last),
            [3, 4, 5]
                .map(|n| format!("https://h/orgs/o/copilot/billing/seats?per_page=100&page={n}"))
        );
        assert!(pages_between(next, next).is_empty(), "next is the last");
        assert!(pages_between(next, "https://h/other?per_page=100&page=5").is_empty());
        assert!(
            pages_between(
                next,
                "https://h/orgs/o/copilot/billing/seats?per_page=50&page=5"
            )
            .is_empty()
        );
        assert!(pages_between("https://h/x?per_page=100", last).is_empty());
        assert!(pages_between("https://h/x?page=2&per_page=100", last).is_empty());
    }

    #[test]
    fn timestamps_with_offsets_and_dates() {
        assert_eq!(timestamp("2021-08-03T18:00:00-06:00"), Some(1_628_035_200));
        assert_eq!(timestamp("1970-01-01T00:00:10Z"), Some(10));
        assert_eq!(timestamp("yesterday"), None);
        assert_eq!(date("1970-01-02"), Some(86_400));
        assert_eq!(date("1970-13-02"), None);
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
            matches!(primary, Failure::RateLimited(_, Some(100))),
            "{primary:?}"
        );
        let secondary = classify(
            403,
            &h(&[("x-ratelimit-remaining", "4000"), ("retry-after", "7")]),
            br#"{"message":"You have exceeded a secondary rate limit."}"#,
            "list seats",
        );
        assert_eq!(secondary, Failure::RateLimited(secondary_text(), Some(7)));
        let bare = classify(429, &[], b"{}", "x");
        assert!(matches!(bare, Failure::RateLimited(_, Some(60))));
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
            matches!(&denied, Failure::Forbidden(_, Some(s)) if s == "manage_billing:copilot or read:org"),
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
            matches!(&app, Failure::Forbidden(_, Some(s)) if s.starts_with("organization_copilot_seat_management=read or")),
            "{app:?}"
        );
    }

    fn secondary_text() -> String {
        "list seats: HTTP 403: You have exceeded a secondary rate limit.".into()
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
