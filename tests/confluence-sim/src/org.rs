//! The Atlassian organization API in front of the simulated tenant (the stand-in for
//! `https://api.atlassian.com/admin/v1`): `GET /admin/v1/orgs` (org id discovery) and
//! `GET /admin/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates` (per-product
//! last-active dates, viewing counts). It owns the organization's identity and API key,
//! the seeded views of every user (readers who never edit included, generated from their
//! own random stream so the rest of the data set does not change), the data lag, the
//! per-organization requests-per-minute limit and the admin API's `{"errors":[…]}` bodies.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::Sim;
use crate::clock::{MS_PER_DAY, civil_from_days, iso_minute};
use crate::config::SimConfig;
use crate::data::{ContentStore, Directory, UserKind};
use crate::errors::json_response;
use crate::oauth::bearer;
use crate::rng::SplitMix64;

/// No view recorded.
pub(crate) const NEVER: i64 = i64::MIN;

const MS_PER_MINUTE: i64 = 60_000;

/// What the organization knows about one user's product use (epoch ms, [`NEVER`] when
/// none).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Views {
    /// Latest Confluence page view.
    pub confluence: i64,
    /// The view before it (reported while the latest one is still inside the data lag).
    pub confluence_prev: i64,
    /// Latest Jira view (another product of the same organization).
    pub jira: i64,
    /// When the account joined the organization.
    pub added_ms: i64,
}

/// The organization and its per-minute request window.
#[derive(Debug)]
pub(crate) struct OrgState {
    pub org_id: String,
    pub name: String,
    pub api_key: String,
    pub views: parking_lot::RwLock<Vec<Views>>,
    /// (minute since epoch, requests counted in it).
    pub window: parking_lot::Mutex<(i64, u32)>,
}

/// Seeds the organization for `cfg`.
pub(crate) fn generate(
    cfg: &SimConfig,
    dir: &Directory,
    content: &ContentStore,
    now_ms: i64,
) -> OrgState {
    let mut ids = SplitMix64::derive(cfg.seed, 9);
    let org_id = cfg.org.org_id.clone().unwrap_or_else(|| ids.uuid());
    let api_key = cfg
        .org
        .api_key
        .clone()
        .unwrap_or_else(|| format!("ATCTT3xFfGN0{}", ids.alnum(48)));
    let mut rng = SplitMix64::derive(cfg.seed, 6);
    let window = 60 * MS_PER_DAY;
    let views = (0..dir.users.len() as u32)
        .map(|u| {
            // Draw the same number of values for everyone, so one user's class does not
            // shift another's.
            let r_reader = rng.unit();
            let r_recent = rng.range_i64(3_600_000, 30 * MS_PER_DAY);
            let r_prev = rng.range_i64(MS_PER_DAY, 20 * MS_PER_DAY);
            let r_old = rng.unit();
            let r_old_at = rng.range_i64(90 * MS_PER_DAY, 400 * MS_PER_DAY);
            let r_jira = rng.unit();
            let r_jira_at = rng.range_i64(0, 200 * MS_PER_DAY);
            let r_added = rng.range_i64(0, 365 * MS_PER_DAY);
            let edited = content.last_activity(u);
            let recent_edit = edited.filter(|&t| t >= now_ms - window);
            let confluence = if let Some(t) = recent_edit {
                // Editors view at least when they edit, and usually since.
                t.max(now_ms - r_recent)
            } else if r_reader < cfg.org.reader_fraction {
                // A reader: recent views, no (recent) content activity.
                now_ms - r_recent
            } else if let Some(t) = edited {
                t
            } else if r_old < 0.5 {
                now_ms - r_old_at
            } else {
                NEVER
            };
            let confluence_prev = if confluence == NEVER {
                NEVER
            } else {
                confluence - r_prev
            };
            let jira = if confluence != NEVER && r_jira < 0.4 {
                now_ms - r_jira_at
            } else {
                NEVER
            };
            Views {
                confluence,
                confluence_prev,
                jira,
                added_ms: now_ms - 2 * 365 * MS_PER_DAY - r_added,
            }
        })
        .collect();
    OrgState {
        org_id,
        name: cfg.org.name.clone(),
        api_key,
        views: parking_lot::RwLock::new(views),
        window: parking_lot::Mutex::new((i64::MIN, 0)),
    }
}

/// `YYYY-MM-DD` (UTC), the admin API's date format.
pub(crate) fn date(epoch_ms: i64) -> String {
    let (y, m, d) = civil_from_days(epoch_ms.div_euclid(MS_PER_DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The Confluence view the API reports at `now_ms` with `lag_ms` of data lag.
pub(crate) fn reported(v: &Views, now_ms: i64, lag_ms: i64) -> i64 {
    let horizon = now_ms - lag_ms;
    if v.confluence != NEVER && v.confluence <= horizon {
        v.confluence
    } else if v.confluence_prev != NEVER && v.confluence_prev <= horizon {
        v.confluence_prev
    } else {
        NEVER
    }
}

/// An admin API error: `{"errors":[{"id","status","code","title","detail"}]}`.
fn error(status: StatusCode, code: &str, title: &str, detail: &str) -> Response {
    let body = json!({
        "errors": [{
            "id": format!("{:016x}", crate::rng::fnv1a(detail.as_bytes())),
            "status": status.as_u16().to_string(),
            "code": code,
            "title": title,
            "detail": detail,
        }]
    });
    json_response(status, &body)
}

fn unauthorized() -> Response {
    let mut r = error(
        StatusCode::UNAUTHORIZED,
        "ADMIN-401",
        "Unauthorized",
        "The API key is missing, invalid, expired or revoked. Use an organization API key as a Bearer token.",
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"api.atlassian.com\""),
    );
    r
}

fn put(h: &mut HeaderMap, k: &'static str, v: String) {
    if let Ok(v) = HeaderValue::from_str(&v) {
        h.insert(k, v);
    }
}

/// Authenticates the key and counts the request against the organization's minute.
/// `Ok` carries the headers to add to the answer.
fn admit(sim: &Sim, headers: &HeaderMap) -> Result<HeaderMap, Box<Response>> {
    let key = bearer(headers).ok_or_else(|| Box::new(unauthorized()))?;
    if key != sim.org.api_key {
        return Err(Box::new(unauthorized()));
    }
    let per_minute = sim.runtime.read().org_requests_per_minute;
    let mut out = HeaderMap::new();
    if per_minute == 0 {
        return Ok(out);
    }
    let now = sim.clock.now_ms();
    let minute = now.div_euclid(MS_PER_MINUTE);
    let reset_ms = (minute + 1) * MS_PER_MINUTE;
    let mut w = sim.org.window.lock();
    if w.0 != minute {
        *w = (minute, 0);
    }
    put(&mut out, "x-ratelimit-limit", per_minute.to_string());
    put(&mut out, "x-ratelimit-reset", iso_minute(reset_ms));
    if w.1 >= per_minute {
        drop(w);
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            "ADMIN-429",
            "Too Many Requests",
            "Rate limit exceeded for this organization; retry after the time in Retry-After.",
        );
        let retry = ((reset_ms - now) as u64).div_ceil(1000).max(1);
        put(&mut out, "x-ratelimit-remaining", "0".to_string());
        put(&mut out, "retry-after", retry.to_string());
        r.headers_mut().extend(out);
        return Err(Box::new(r));
    }
    w.1 += 1;
    put(
        &mut out,
        "x-ratelimit-remaining",
        per_minute.saturating_sub(w.1).to_string(),
    );
    Ok(out)
}

fn with_headers(mut r: Response, h: HeaderMap) -> Response {
    r.headers_mut().extend(h);
    r
}

/// `GET /admin/v1/orgs`.
pub(crate) async fn list_orgs(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Response {
    let h = match admit(&sim, &headers) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    let base = "https://api.atlassian.com/admin/v1/orgs";
    let data: Vec<Value> = if sim.org_list_empty {
        Vec::new()
    } else {
        vec![json!({
            "id": sim.org.org_id,
            "type": "orgs",
            "attributes": { "name": sim.org.name },
            "links": { "self": format!("{base}/{}", sim.org.org_id) },
        })]
    };
    let body = json!({ "data": data, "links": { "self": base }, "meta": null });
    with_headers(json_response(StatusCode::OK, &body), h)
}

/// `GET /admin/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates`.
pub(crate) async fn last_active_dates(
    State(sim): State<Arc<Sim>>,
    Path((org_id, account_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let h = match admit(&sim, &headers) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    if org_id != sim.org.org_id {
        return with_headers(
            error(
                StatusCode::FORBIDDEN,
                "ADMIN-403",
                "Forbidden",
                "The API key does not grant access to this organization.",
            ),
            h,
        );
    }
    let not_found = || {
        error(
            StatusCode::NOT_FOUND,
            "ADMIN-404",
            "Not Found",
            &format!("User {account_id} was not found in the organization directory."),
        )
    };
    let d = sim.dir.read();
    let Some(u) = d.user_by_account(&account_id) else {
        return with_headers(not_found(), h);
    };
    // App (bot) accounts are not in the organization's user directory.
    if d.users[u as usize].kind == UserKind::App {
        return with_headers(not_found(), h);
    }
    drop(d);
    let now = sim.clock.now_ms();
    let lag = sim.runtime.read().org_data_lag.as_millis() as i64;
    let v = sim.org.views.read()[u as usize];
    let mut products = Vec::new();
    let conf = reported(&v, now, lag);
    let jira = if v.jira != NEVER && v.jira <= now - lag {
        Some(v.jira)
    } else {
        None
    };
    let conf_entry = (conf != NEVER).then(|| {
        json!({
            "id": format!("ari:cloud:confluence::site/{}", sim.site.cloud_id),
            "key": "confluence",
            "last_active": date(conf),
        })
    });
    let jira_entry = jira.map(|t| {
        json!({
            "id": format!("ari:cloud:jira::site/{}", sim.site.cloud_id),
            "key": "jira-software",
            "last_active": date(t),
        })
    });
    // The order of products is not documented: alternate it so clients match on `key`.
    if u % 2 == 0 {
        products.extend(jira_entry);
        products.extend(conf_entry);
    } else {
        products.extend(conf_entry);
        products.extend(jira_entry);
    }
    let body = json!({
        "data": {
            "product_access": products,
            "added_to_org": date(v.added_ms),
        },
        "links": {},
    });
    with_headers(json_response(StatusCode::OK, &body), h)
}
