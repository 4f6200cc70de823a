//! The organization admin API: org discovery, per-user last-active dates (readers who never
//! edit included), its errors, its own per-organization rate limit and the data lag. Its
//! answers are checked against the shapes Atlassian documents (the API is not in the
//! Confluence spec, so the documented example is the reference).

use crate::common;

use std::time::Duration;

use common::{ALL_SCOPES, T0, client, config, get, start};
use confluence_sim::{Endpoint, OrgConfig, SimConfig, SimHandle, Simulator, UserKind};
use serde_json::{Value, json};

const DAY_MS: i64 = 86_400_000;

/// GET `{admin base}{path}` with an optional bearer; status, headers and JSON.
async fn admin(
    sim: &SimHandle,
    key: Option<&str>,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut rb = client().get(format!("{}{}", sim.admin_base_url(), path));
    if let Some(k) = key {
        rb = rb.bearer_auth(k);
    }
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn last_active_path(sim: &SimHandle, account_id: &str) -> String {
    format!(
        "/admin/v1/orgs/{}/directory/users/{account_id}/last-active-dates",
        sim.org_id()
    )
}

/// `YYYY-MM-DD` of an epoch-ms instant, computed independently of the simulator.
fn ymd(ms: i64) -> String {
    let days = ms.div_euclid(DAY_MS);
    // Civil-from-days (Hinnant), written out again here on purpose.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Every field of `actual` exists in the documented `example` with the same JSON type
/// (arrays checked element-wise against the example's first element), and every field
/// named in `required` is present.
fn matches_documented(example: &Value, actual: &Value, at: &str, errors: &mut Vec<String>) {
    match (example, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in a {
                match e.get(k) {
                    Some(ev) => matches_documented(ev, v, &format!("{at}.{k}"), errors),
                    None => errors.push(format!("{at}.{k} is not in the documented shape")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if let Some(first) = e.first() {
                for (i, v) in a.iter().enumerate() {
                    matches_documented(first, v, &format!("{at}[{i}]"), errors);
                }
            }
        }
        (Value::String(_), Value::String(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Null, Value::Null) => {}
        (Value::String(_), Value::Null) if at.ends_with("next") => {}
        (e, a) => errors.push(format!("{at}: documented {e}, got {a}")),
    }
}

fn documented_errors(body: &Value, status: u16) {
    let example = json!({ "errors": [{
        "id": "<string>", "status": "<string>", "code": "<string>", "title": "<string>", "detail": "<string>"
    }]});
    let mut errors = Vec::new();
    matches_documented(&example, body, "$", &mut errors);
    assert!(errors.is_empty(), "{errors:?} in {body}");
    assert_eq!(body["errors"][0]["status"], status.to_string(), "{body}");
}

#[tokio::test]
async fn orgs_and_last_active_dates_have_the_documented_shapes_and_readers_show_up() {
    let sim = start().await;
    let key = sim.org_api_key().to_string();

    // Org discovery.
    let (s, h, body) = admin(&sim, Some(&key), "/admin/v1/orgs").await;
    assert_eq!(s, 200, "{body}");
    let orgs_example = json!({
        "data": [{ "id": "<string>", "type": "<string>", "attributes": { "name": "<string>" },
                   "links": { "self": "<string>" } }],
        "links": { "self": "<string>", "prev": "<string>", "next": "<string>" },
        "meta": null
    });
    let mut errors = Vec::new();
    matches_documented(&orgs_example, &body, "$", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(body["data"][0]["id"], sim.org_id());
    assert_eq!(body["data"][0]["type"], "orgs");
    assert!(h.contains_key("x-ratelimit-remaining"));

    // Readers: a recent view, no content activity in the window.
    let readers = sim.readers(60);
    assert!(
        readers.len() > 30,
        "only {} readers among 600 users",
        readers.len()
    );
    let la_example = json!({
        "data": {
            "product_access": [{ "id": "<string>", "key": "<string>", "last_active": "<string>" }],
            "added_to_org": "<string>"
        },
        "links": { "next": "<string>" }
    });
    let tok = sim.mint_token(ALL_SCOPES);
    // Some readers never created or edited anything at all.
    let pure: Vec<&String> = readers
        .iter()
        .filter(|r| sim.last_activity(r).is_none())
        .take(5)
        .collect();
    assert_eq!(pure.len(), 5);
    for reader in pure {
        let (s, _, body) = admin(&sim, Some(&key), &last_active_path(&sim, reader)).await;
        assert_eq!(s, 200, "{body}");
        let mut errors = Vec::new();
        matches_documented(&la_example, &body, "$", &mut errors);
        assert!(errors.is_empty(), "{errors:?} in {body}");
        let products = body["data"]["product_access"].as_array().unwrap();
        let conf: Vec<&Value> = products
            .iter()
            .filter(|p| p["key"] == "confluence")
            .collect();
        assert_eq!(conf.len(), 1, "{body}");
        let truth = sim.org_last_active(reader).expect("a reader has a view");
        assert_eq!(conf[0]["last_active"], ymd(truth));
        assert!(truth >= T0 - 60 * DAY_MS);
        assert!(
            conf[0]["id"]
                .as_str()
                .unwrap()
                .ends_with(&format!("site/{}", sim.cloud_id()))
        );
        // ... while the content scan finds nothing by them.
        let cql = format!("contributor = \"{reader}\"");
        let q: String = form_urlencoded_encode(&cql);
        let (s, found) = get(&sim, &tok, &format!("/wiki/rest/api/search?cql={q}")).await;
        assert_eq!(s, 200, "{found}");
        assert_eq!(
            found["totalSize"], 0,
            "reader {reader} has content: {found}"
        );
        let added = body["data"]["added_to_org"].as_str().unwrap();
        assert_eq!(added.len(), 10);
        assert!(added < conf[0]["last_active"].as_str().unwrap());
    }

    // A user who never viewed has an empty product_access list (documented), and an
    // editor active in the window is active for the org too.
    let users = sim.users();
    let never = users
        .iter()
        .find(|u| u.kind == UserKind::Human && sim.org_last_active(&u.account_id).is_none())
        .expect("some users never viewed");
    let (s, _, body) = admin(&sim, Some(&key), &last_active_path(&sim, &never.account_id)).await;
    assert_eq!(s, 200);
    assert!(
        body["data"]["product_access"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["key"] != "confluence"),
        "{body}"
    );
    for u in users.iter().filter(|u| u.kind == UserKind::Human).take(100) {
        if let Some(t) = sim.last_activity(&u.account_id) {
            let seen = sim.org_last_active(&u.account_id).expect("editors view");
            assert!(
                seen >= t,
                "{}: viewed {seen} before editing {t}",
                u.account_id
            );
        }
    }
    // Calls are logged under their own endpoints.
    assert_eq!(sim.calls_to(Endpoint::Orgs), 1);
    assert_eq!(sim.calls_to(Endpoint::OrgLastActive), 6);
}

fn form_urlencoded_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn org_api_errors_401_403_404() {
    let sim = start().await;
    let key = sim.org_api_key().to_string();
    let me = sim.consenting_account_id();
    let path = last_active_path(&sim, &me);

    // No key, a wrong key, and an OAuth access token (not an org key): 401.
    let oauth = sim.mint_token(ALL_SCOPES);
    for k in [None, Some("not-a-key"), Some(oauth.as_str())] {
        for p in ["/admin/v1/orgs", path.as_str()] {
            let (s, h, body) = admin(&sim, k, p).await;
            assert_eq!(s, 401, "{k:?} {p}: {body}");
            documented_errors(&body, 401);
            assert!(h.contains_key("www-authenticate"));
        }
    }
    // The org key is no Confluence token either.
    let (s, _) = get(&sim, &key, "/wiki/rest/api/group").await;
    assert_eq!(s, 401);

    // Another organization's id: 403.
    let other =
        "/admin/v1/orgs/00000000-0000-4000-8000-000000000000/directory/users/x/last-active-dates";
    let (s, _, body) = admin(&sim, Some(&key), other).await;
    assert_eq!(s, 403, "{body}");
    documented_errors(&body, 403);

    // Unknown account, and a bot (apps are not in the org directory): 404.
    let bot = sim
        .users()
        .into_iter()
        .find(|u| u.kind == UserKind::App)
        .unwrap();
    for acc in ["712020:no-such-user", bot.account_id.as_str()] {
        let (s, _, body) = admin(&sim, Some(&key), &last_active_path(&sim, acc)).await;
        assert_eq!(s, 404, "{acc}: {body}");
        documented_errors(&body, 404);
    }
    // The right key works.
    let (s, _, _) = admin(&sim, Some(&key), &path).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn org_rate_limit_is_per_minute_with_headers_and_separate_from_confluence() {
    let sim = Simulator::start(SimConfig {
        org: OrgConfig {
            requests_per_minute: 5,
            ..OrgConfig::default()
        },
        ..config()
    })
    .await
    .unwrap();
    let key = sim.org_api_key().to_string();
    let path = last_active_path(&sim, &sim.consenting_account_id());
    for i in 0..5 {
        let (s, h, _) = admin(&sim, Some(&key), &path).await;
        assert_eq!(s, 200);
        assert_eq!(h["x-ratelimit-limit"], "5");
        assert_eq!(h["x-ratelimit-remaining"], (4 - i).to_string().as_str());
    }
    let (s, h, body) = admin(&sim, Some(&key), &path).await;
    assert_eq!(s, 429, "{body}");
    documented_errors(&body, 429);
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert_eq!(h["x-ratelimit-limit"], "5");
    // T0 is on a minute boundary: the window resets 60 s later.
    assert_eq!(h["retry-after"], "60");
    assert_eq!(h["x-ratelimit-reset"], "2025-06-15T12:01Z");
    // Discovery counts against the same organization limit.
    let (s, _, _) = admin(&sim, Some(&key), "/admin/v1/orgs").await;
    assert_eq!(s, 429);
    // Confluence calls are not affected, and do not count.
    let tok = sim.mint_token(ALL_SCOPES);
    let (s, _) = get(&sim, &tok, "/wiki/rest/api/group").await;
    assert_eq!(s, 200);
    // A bad key is refused before counting (401, not 429).
    let (s, _, _) = admin(&sim, Some("wrong"), &path).await;
    assert_eq!(s, 401);
    sim.clock().advance(Duration::from_secs(60));
    let (s, h, _) = admin(&sim, Some(&key), &path).await;
    assert_eq!(s, 200);
    assert_eq!(h["x-ratelimit-remaining"], "4");
    // The limit can be lifted at runtime.
    sim.set_org_rate_limit(0);
    for _ in 0..10 {
        let (s, _, _) = admin(&sim, Some(&key), &path).await;
        assert_eq!(s, 200);
    }
}

#[tokio::test]
async fn data_lag_hides_views_until_they_are_a_day_old() {
    let sim = Simulator::start(SimConfig {
        org: OrgConfig {
            data_lag: Duration::from_secs(24 * 3600),
            ..OrgConfig::default()
        },
        ..config()
    })
    .await
    .unwrap();
    let key = sim.org_api_key().to_string();
    let users = sim.users();
    let never = users
        .iter()
        .find(|u| u.kind == UserKind::Human && sim.org_last_active(&u.account_id).is_none())
        .expect("some users never viewed");
    let path = last_active_path(&sim, &never.account_id);
    let confluence_dates = |body: &Value| -> Vec<String> {
        body["data"]["product_access"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["key"] == "confluence")
            .map(|p| p["last_active"].as_str().unwrap().to_string())
            .collect()
    };
    // A view an hour ago is not reported yet.
    assert!(sim.record_view(&never.account_id, T0 - 3_600_000));
    let (_, _, body) = admin(&sim, Some(&key), &path).await;
    assert!(confluence_dates(&body).is_empty(), "{body}");
    assert_eq!(sim.org_reported_last_active(&never.account_id), None);
    // A day later it is.
    sim.clock().advance(Duration::from_secs(24 * 3600));
    let (_, _, body) = admin(&sim, Some(&key), &path).await;
    assert_eq!(confluence_dates(&body), vec![ymd(T0 - 3_600_000)]);
    // A newer view inside the lag: the older date is still what the API says.
    let now = sim.clock().now_ms();
    sim.record_view(&never.account_id, now - 60_000);
    let (_, _, body) = admin(&sim, Some(&key), &path).await;
    assert_eq!(confluence_dates(&body), vec![ymd(T0 - 3_600_000)]);
    // Without lag it shows at once.
    sim.set_org_data_lag(Duration::ZERO);
    let (_, _, body) = admin(&sim, Some(&key), &path).await;
    assert_eq!(confluence_dates(&body), vec![ymd(now - 60_000)]);
}

#[tokio::test]
async fn org_list_can_come_back_empty_as_for_some_real_keys() {
    let sim = Simulator::start(SimConfig {
        org: OrgConfig {
            list_orgs_empty: true,
            org_id: Some("a1b2c3d4-0000-4000-8000-0000000000aa".into()),
            ..OrgConfig::default()
        },
        ..config()
    })
    .await
    .unwrap();
    let key = sim.org_api_key().to_string();
    let (s, _, body) = admin(&sim, Some(&key), "/admin/v1/orgs").await;
    assert_eq!(s, 200);
    assert_eq!(body["data"], json!([]));
    // The configured org id still answers.
    assert_eq!(sim.org_id(), "a1b2c3d4-0000-4000-8000-0000000000aa");
    let path = last_active_path(&sim, &sim.consenting_account_id());
    let (s, _, _) = admin(&sim, Some(&key), &path).await;
    assert_eq!(s, 200);
}
