//! Atlassian-style rate limiting for the Confluence API: an hourly points budget per
//! tenant (1 base point per request plus points per returned object, reset at the top of
//! each UTC hour, everything denied once exhausted) and a per-second burst limit per
//! endpoint and method. Produces the 429 answer with `Retry-After`, `X-RateLimit-*` and
//! `RateLimit-Reason` headers, and the informational headers on allowed responses.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::json;

use crate::clock::{MS_PER_HOUR, iso_minute};
use crate::config::{Endpoint, RateLimitConfig};
use crate::errors::json_response;

/// `RateLimit-Reason` when the hourly quota is exhausted.
pub const REASON_QUOTA: &str = "confluence-quota-tenant-based";
/// `RateLimit-Reason` when the per-second burst limit is hit.
pub const REASON_BURST: &str = "confluence-burst-based";

#[derive(Debug, Default)]
pub(crate) struct Limiter {
    hour: i64,
    used: u64,
    total: u64,
    burst: HashMap<(Endpoint, bool, bool), (i64, u32)>,
}

/// The budget after a check.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Snapshot {
    pub limit: Option<u64>,
    pub remaining: u64,
    pub reset_ms: i64,
}

/// Points spent on the Confluence API, as the inspection API reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PointsUsage {
    /// Points charged in the current UTC hour.
    pub this_hour: u64,
    /// Points charged since the simulator started (across hours and resets).
    pub total: u64,
    /// The hourly budget (`None` when the quota is off).
    pub limit: Option<u64>,
}

/// A refusal.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limited {
    pub retry_after_secs: u64,
    pub reason: &'static str,
    pub snapshot: Snapshot,
}

impl Limiter {
    fn roll(&mut self, now_ms: i64) {
        let hour = now_ms.div_euclid(MS_PER_HOUR);
        if hour != self.hour {
            self.hour = hour;
            self.used = 0;
        }
    }

    fn snapshot(&self, cfg: &RateLimitConfig) -> Snapshot {
        let reset_ms = (self.hour + 1) * MS_PER_HOUR;
        match cfg.points_per_hour {
            Some(limit) => Snapshot {
                limit: Some(limit),
                remaining: limit.saturating_sub(self.used),
                reset_ms,
            },
            None => Snapshot {
                limit: None,
                remaining: u64::MAX,
                reset_ms,
            },
        }
    }

    /// Admits or refuses one request (counting it against the burst window).
    pub(crate) fn check(
        &mut self,
        cfg: &RateLimitConfig,
        endpoint: Endpoint,
        method: &Method,
        now_ms: i64,
    ) -> Result<Snapshot, Limited> {
        self.roll(now_ms);
        let snap = self.snapshot(cfg);
        if let Some(limit) = cfg.points_per_hour
            && self.used >= limit
        {
            let secs = ((snap.reset_ms - now_ms) as u64).div_ceil(1000).max(1);
            return Err(Limited {
                retry_after_secs: secs,
                reason: REASON_QUOTA,
                snapshot: snap,
            });
        }
        let per_sec = if method == Method::DELETE || method == Method::PUT {
            cfg.burst_delete
        } else if method == Method::POST {
            cfg.burst_post
        } else {
            cfg.burst_get
        };
        if per_sec > 0 {
            let sec = now_ms.div_euclid(1000);
            let key = (endpoint, *method == Method::POST, *method == Method::DELETE);
            let slot = self.burst.entry(key).or_insert((sec, 0));
            if slot.0 != sec {
                *slot = (sec, 0);
            }
            if slot.1 >= per_sec {
                return Err(Limited {
                    retry_after_secs: 1,
                    reason: REASON_BURST,
                    snapshot: snap,
                });
            }
            slot.1 += 1;
        }
        Ok(snap)
    }

    /// Charges points for an answered request.
    pub(crate) fn charge(&mut self, cfg: &RateLimitConfig, points: u64, now_ms: i64) -> Snapshot {
        self.roll(now_ms);
        self.used = self.used.saturating_add(points);
        self.total = self.total.saturating_add(points);
        self.snapshot(cfg)
    }

    pub(crate) fn usage(&mut self, cfg: &RateLimitConfig, now_ms: i64) -> PointsUsage {
        self.roll(now_ms);
        PointsUsage {
            this_hour: self.used,
            total: self.total,
            limit: cfg.points_per_hour,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.used = 0;
        self.burst.clear();
    }
}

/// Adds `X-RateLimit-*` headers describing the budget.
pub(crate) fn add_budget_headers(h: &mut HeaderMap, snap: &Snapshot) {
    let Some(limit) = snap.limit else { return };
    let put = |h: &mut HeaderMap, k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    put(h, "x-ratelimit-limit", limit.to_string());
    put(h, "x-ratelimit-remaining", snap.remaining.to_string());
    put(h, "x-ratelimit-reset", iso_minute(snap.reset_ms));
    if snap.remaining.saturating_mul(5) < limit {
        put(h, "x-ratelimit-nearlimit", "true".to_string());
    }
}

/// The 429 answer.
pub(crate) fn too_many(
    retry_after_secs: u64,
    reason: &str,
    snap: Option<&Snapshot>,
    now_ms: i64,
) -> Response {
    let mut r = json_response(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({ "code": 429, "message": "Rate limit exceeded" }),
    );
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
        h.insert("retry-after", v);
    }
    if let Ok(v) = HeaderValue::from_str(reason) {
        h.insert("ratelimit-reason", v);
    }
    match snap {
        Some(s) if s.limit.is_some() => add_budget_headers(h, s),
        _ => {
            let reset = now_ms + (retry_after_secs as i64) * 1000;
            if let Ok(v) = HeaderValue::from_str(&iso_minute(reset)) {
                h.insert("x-ratelimit-reset", v);
            }
        }
    }
    r
}
