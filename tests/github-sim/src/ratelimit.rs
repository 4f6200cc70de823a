//! GitHub's rate limits. Primary: an hourly bucket per token owner (a user's classic and
//! fine-grained tokens share the user's bucket; each installation has its own), whose window
//! starts with its first request and resets an hour later; reported on every answer as
//! `x-ratelimit-limit/remaining/used/reset/resource`, refused with 403 or 429 and
//! `x-ratelimit-remaining: 0` when spent; `GET /rate_limit` is not counted. Secondary: too
//! many requests in flight, too many points per minute on one endpoint (GET 1, writes 5), too
//! many writes per minute, refused with 403 or 429, the secondary-limit message and
//! (optionally) `retry-after`.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::json;

use crate::config::{Endpoint, LimitStatus, SecondaryLimitConfig};
use crate::errors::json_response;

const HOUR_MS: i64 = 3_600_000;
/// What `x-ratelimit-limit` says for an unlimited bucket.
pub const UNLIMITED_REPORTED: u64 = 1_000_000;

/// Where GitHub's primary-limit answers point.
pub const PRIMARY_DOCS: &str =
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits";
/// Where GitHub's secondary-limit answers point.
pub const SECONDARY_DOCS: &str = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits";
/// The start of GitHub's secondary-limit message.
pub const SECONDARY_MESSAGE: &str =
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.";

#[derive(Clone, Copy, Debug)]
struct Bucket {
    reset_ms: i64,
    used: u64,
}

/// The state of one primary bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateSnapshot {
    /// `x-ratelimit-limit`.
    pub limit: u64,
    /// `x-ratelimit-remaining`.
    pub remaining: u64,
    /// `x-ratelimit-used`.
    pub used: u64,
    /// `x-ratelimit-reset` (epoch seconds).
    pub reset_secs: i64,
}

#[derive(Debug, Default)]
pub(crate) struct Limiter {
    buckets: HashMap<String, Bucket>,
    minute: i64,
    writes: u32,
    points: HashMap<Endpoint, u32>,
}

impl Limiter {
    fn bucket(&mut self, key: &str, now_ms: i64) -> &mut Bucket {
        let b = self.buckets.entry(key.to_string()).or_insert(Bucket {
            reset_ms: now_ms + HOUR_MS,
            used: 0,
        });
        if now_ms >= b.reset_ms {
            *b = Bucket {
                reset_ms: now_ms + HOUR_MS,
                used: 0,
            };
        }
        b
    }

    /// The bucket without counting (for `GET /rate_limit`).
    pub(crate) fn peek(&mut self, key: &str, limit: Option<u64>, now_ms: i64) -> RateSnapshot {
        let b = *self.bucket(key, now_ms);
        snapshot(b, limit)
    }

    /// Counts one request; Err when the bucket is spent (the request is not counted).
    pub(crate) fn take(
        &mut self,
        key: &str,
        limit: Option<u64>,
        now_ms: i64,
    ) -> Result<RateSnapshot, RateSnapshot> {
        let b = self.bucket(key, now_ms);
        if limit.is_some_and(|l| b.used >= l) {
            return Err(snapshot(*b, limit));
        }
        b.used += 1;
        Ok(snapshot(*b, limit))
    }

    /// Counts the request against the per-minute secondary limits; false when over.
    pub(crate) fn secondary(
        &mut self,
        cfg: &SecondaryLimitConfig,
        ep: Endpoint,
        now_ms: i64,
    ) -> bool {
        let minute = now_ms.div_euclid(60_000);
        if minute != self.minute {
            self.minute = minute;
            self.writes = 0;
            self.points.clear();
        }
        let cost = if ep.is_write() { 5 } else { 1 };
        let p = self.points.entry(ep).or_default();
        *p += cost;
        if ep.is_write() {
            self.writes += 1;
        }
        *p <= cfg.points_per_minute_per_endpoint
            && (!ep.is_write() || self.writes <= cfg.writes_per_minute)
    }

    /// Forgets all counts.
    pub(crate) fn reset(&mut self) {
        *self = Self::default();
    }
}

fn snapshot(b: Bucket, limit: Option<u64>) -> RateSnapshot {
    let limit = limit.unwrap_or(UNLIMITED_REPORTED);
    RateSnapshot {
        limit,
        remaining: limit.saturating_sub(b.used),
        used: b.used,
        reset_secs: b.reset_ms.div_euclid(1000),
    }
}

pub(crate) fn add_rate_headers(h: &mut HeaderMap, s: &RateSnapshot) {
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    put("x-ratelimit-limit", s.limit.to_string());
    put("x-ratelimit-remaining", s.remaining.to_string());
    put("x-ratelimit-used", s.used.to_string());
    put("x-ratelimit-reset", s.reset_secs.to_string());
    put("x-ratelimit-resource", "core".to_string());
}

fn status_of(s: LimitStatus) -> StatusCode {
    StatusCode::from_u16(s.code()).unwrap_or(StatusCode::FORBIDDEN)
}

/// The primary-limit refusal.
pub(crate) fn primary_refusal(status: LimitStatus, who: &str, s: &RateSnapshot) -> Response {
    let st = status_of(status);
    let mut r = json_response(
        st,
        &json!({
            "message": format!("API rate limit exceeded for {who}. If you reach out to GitHub Support for help, please include the request ID."),
            "documentation_url": PRIMARY_DOCS,
            "status": st.as_u16().to_string(),
        }),
    );
    add_rate_headers(r.headers_mut(), s);
    r
}

/// The secondary-limit refusal.
pub(crate) fn secondary_refusal(
    status: LimitStatus,
    retry_after: Option<u64>,
    s: Option<&RateSnapshot>,
) -> Response {
    let st = status_of(status);
    let mut r = json_response(
        st,
        &json!({
            "message": format!("{SECONDARY_MESSAGE} If you reach out to GitHub Support for help, please include the request ID."),
            "documentation_url": SECONDARY_DOCS,
            "status": st.as_u16().to_string(),
        }),
    );
    if let Some(secs) = retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert("retry-after", v);
    }
    if let Some(s) = s {
        add_rate_headers(r.headers_mut(), s);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_window_starts_with_first_request() {
        let mut l = Limiter::default();
        assert_eq!(l.take("u", Some(2), 1000).unwrap().remaining, 1);
        assert_eq!(l.take("u", Some(2), 2000).unwrap().remaining, 0);
        let refused = l.take("u", Some(2), 3000).unwrap_err();
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.reset_secs, (1000 + HOUR_MS) / 1000);
        // Another owner has its own bucket; the window rolls an hour after it began.
        assert!(l.take("v", Some(2), 3000).is_ok());
        assert!(l.take("u", Some(2), 1000 + HOUR_MS).is_ok());
    }

    #[test]
    fn secondary_counts_writes_and_points() {
        let cfg = SecondaryLimitConfig {
            points_per_minute_per_endpoint: 10,
            writes_per_minute: 3,
            ..SecondaryLimitConfig::default()
        };
        let mut l = Limiter::default();
        for _ in 0..10 {
            assert!(l.secondary(&cfg, Endpoint::ListSeats, 0));
        }
        assert!(!l.secondary(&cfg, Endpoint::ListSeats, 0));
        assert!(l.secondary(&cfg, Endpoint::ListTeams, 0));
        assert!(l.secondary(&cfg, Endpoint::AddSelectedUsers, 0));
        assert!(l.secondary(&cfg, Endpoint::RemoveSelectedUsers, 0));
        assert!(l.secondary(&cfg, Endpoint::PutTeamMembership, 0));
        assert!(!l.secondary(&cfg, Endpoint::DeleteTeamMembership, 0));
        // A new minute starts afresh.
        assert!(l.secondary(&cfg, Endpoint::ListSeats, 60_000));
    }
}
