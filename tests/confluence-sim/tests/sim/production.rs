//! Atlassian's production rules (each behind a setting that is OFF by default): the XSRF
//! header and JSON content type on writes, the empty 201 declared as JSON, suspended
//! users left out of member listings, admin and product-access groups, member counts
//! through `shouldReturnTotalSize` (and offset pages fetched concurrently from it), the
//! points spent as the inspection API reports them, every contributor of an item, and
//! latency and jitter on every response (also through the binary's flags).

use crate::common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use common::{ALL_SCOPES, T0, client, collect_pages, config, get, start};
use confluence_sim::{
    AccessType, Endpoint, ProductionRules, RateLimitConfig, SimConfig, SimHandle, Simulator,
};
use serde_json::{Value, json};

const DAY_MS: i64 = 86_400_000;

fn member_url(sim: &SimHandle, q: &str) -> String {
    format!(
        "{}/wiki/rest/api/group/userByGroupId?{q}",
        sim.connection_url()
    )
}

fn victim(sim: &SimHandle, gid: &str) -> String {
    sim.memberships(gid)
        .unwrap()
        .into_iter()
        .find(|a| *a != sim.consenting_account_id())
        .unwrap()
}

#[tokio::test]
async fn writes_need_the_xsrf_header_when_the_rule_is_on() {
    let sim = start().await;
    let tok = sim.mint_token(ALL_SCOPES);
    let gid = sim.group_id("confluence-users").unwrap();
    let v = victim(&sim, &gid);
    let del_q = format!("groupId={gid}&accountId={v}");

    // Off by default: today's clients keep working without the header.
    assert!(!sim.rules().require_xsrf_header);
    let r = client()
        .delete(member_url(&sim, &del_q))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = client()
        .post(member_url(&sim, &format!("groupId={gid}")))
        .bearer_auth(&tok)
        .json(&json!({ "accountId": v }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    sim.set_rules(ProductionRules {
        require_xsrf_header: true,
        ..ProductionRules::default()
    });
    // Missing or wrong header: 403 "XSRF check failed", and nothing changes.
    for token in [None, Some("nocheck"), Some("")] {
        let mut rb = client().delete(member_url(&sim, &del_q)).bearer_auth(&tok);
        if let Some(t) = token {
            rb = rb.header("X-Atlassian-Token", t);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 403, "{token:?}");
        assert_eq!(r.text().await.unwrap(), "XSRF check failed");
        assert!(sim.memberships(&gid).unwrap().contains(&v));
    }
    let r = client()
        .post(member_url(&sim, &format!("groupId={gid}")))
        .bearer_auth(&tok)
        .json(&json!({ "accountId": v }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // With the header both writes go through.
    let r = client()
        .delete(member_url(&sim, &del_q))
        .bearer_auth(&tok)
        .header("X-Atlassian-Token", "no-check")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(!sim.memberships(&gid).unwrap().contains(&v));
    let r = client()
        .post(member_url(&sim, &format!("groupId={gid}")))
        .bearer_auth(&tok)
        .header("X-Atlassian-Token", "no-check")
        .json(&json!({ "accountId": v }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(sim.memberships(&gid).unwrap().contains(&v));
    // Reads never need it.
    let (s, _) = get(&sim, &tok, "/wiki/rest/api/group").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn json_content_type_and_the_empty_201_declared_as_json() {
    let sim = Simulator::start(SimConfig {
        rules: ProductionRules {
            require_json_content_type: true,
            empty_201_declared_json: true,
            ..ProductionRules::default()
        },
        ..config()
    })
    .await
    .unwrap();
    let tok = sim.mint_token(ALL_SCOPES);
    let gid = sim.group_id("confluence-users").unwrap();
    let v = victim(&sim, &gid);
    let r = client()
        .delete(member_url(&sim, &format!("groupId={gid}&accountId={v}")))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "a DELETE has no body to type");
    let body = json!({ "accountId": v }).to_string();
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut rb = client()
            .post(member_url(&sim, &format!("groupId={gid}")))
            .bearer_auth(&tok)
            .body(body.clone());
        if let Some(c) = ct {
            rb = rb.header("Content-Type", c);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 415, "{ct:?}");
        assert!(!sim.memberships(&gid).unwrap().contains(&v));
    }
    let r = client()
        .post(member_url(&sim, &format!("groupId={gid}")))
        .bearer_auth(&tok)
        .header("Content-Type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.is_empty(), "the 201 body is empty");
    assert!(serde_json::from_slice::<Value>(&bytes).is_err());
    assert!(sim.memberships(&gid).unwrap().contains(&v));
}

async fn listed(sim: &SimHandle, tok: &str, gid: &str) -> HashSet<String> {
    let (all, _) = collect_pages(
        sim,
        tok,
        &format!("/wiki/rest/api/group/{gid}/membersByGroupId"),
    )
    .await;
    all.iter()
        .map(|u| u["accountId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn suspended_users_are_left_out_of_member_listings_and_counts() {
    let sim = Simulator::start(SimConfig {
        suspended_fraction: 0.05,
        ..config()
    })
    .await
    .unwrap();
    let tok = sim.mint_token(ALL_SCOPES);
    let users = sim.users();
    let suspended: HashSet<String> = users
        .iter()
        .filter(|u| u.suspended)
        .map(|u| u.account_id.clone())
        .collect();
    assert!(suspended.len() > 10, "{} suspended", suspended.len());
    assert!(!suspended.contains(&sim.consenting_account_id()));
    let mut hidden_members = 0;
    for g in sim.groups() {
        let truth = sim.memberships(&g.id).unwrap();
        let (listed, _) = collect_pages(
            &sim,
            &tok,
            &format!("/wiki/rest/api/group/{}/membersByGroupId?limit=50", g.id),
        )
        .await;
        let listed: Vec<String> = listed
            .iter()
            .map(|u| u["accountId"].as_str().unwrap().to_string())
            .collect();
        let expected: Vec<String> = truth
            .iter()
            .filter(|a| !suspended.contains(*a))
            .cloned()
            .collect();
        assert_eq!(listed, expected, "group {}", g.name);
        assert_eq!(g.listed_members, expected.len());
        hidden_members += truth.len() - expected.len();
        // The total counts listed members only.
        let (_, page) = get(
            &sim,
            &tok,
            &format!(
                "/wiki/rest/api/group/{}/membersByGroupId?limit=1&shouldReturnTotalSize=true",
                g.id
            ),
        )
        .await;
        assert_eq!(page["totalSize"], expected.len(), "group {}", g.name);
    }
    assert!(hidden_members > 10);
    // A suspended user is still findable, with an empty operations list.
    let s = suspended.iter().next().unwrap();
    let (st, u) = get(
        &sim,
        &tok,
        &format!("/wiki/rest/api/user?accountId={s}&expand=operations"),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(u["operations"], json!([]));
    let active = sim.consenting_account_id();
    let (_, u) = get(
        &sim,
        &tok,
        &format!("/wiki/rest/api/user?accountId={active}&expand=operations"),
    )
    .await;
    assert!(!u["operations"].as_array().unwrap().is_empty());

    // Suspending at runtime hides at once; restoring shows again.
    let gid = sim.group_id("confluence-users").unwrap();
    let v = victim(&sim, &gid);
    let v = if suspended.contains(&v) {
        sim.memberships(&gid)
            .unwrap()
            .into_iter()
            .find(|a| !suspended.contains(a) && *a != active)
            .unwrap()
    } else {
        v
    };
    assert!(listed(&sim, &tok, &gid).await.contains(&v));
    assert!(sim.set_suspended(&v, true));
    assert!(!listed(&sim, &tok, &gid).await.contains(&v));
    assert!(
        sim.memberships(&gid).unwrap().contains(&v),
        "still a member"
    );
    assert!(sim.users().iter().any(|u| u.account_id == v && u.suspended));
    sim.set_suspended(&v, false);
    assert!(listed(&sim, &tok, &gid).await.contains(&v));
    assert!(!sim.set_suspended("712020:nobody", true));
}

#[tokio::test]
async fn admin_and_product_access_groups_by_access_type() {
    let plain = start().await;
    let sim = Simulator::start(SimConfig {
        rules: ProductionRules {
            extra_groups: true,
            ..ProductionRules::default()
        },
        ..config()
    })
    .await
    .unwrap();
    // The base groups keep their ids and members when the extra groups are seeded.
    for g in plain.groups() {
        assert_eq!(sim.group_id(&g.name), Some(g.id.clone()));
        assert_eq!(sim.memberships(&g.id), plain.memberships(&g.id));
    }
    assert!(plain.group_id("jira-admins").is_none());
    let tok = sim.mint_token(ALL_SCOPES);
    let names = |body: &Value| -> Vec<String> {
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, all) = get(&sim, &tok, "/wiki/rest/api/group").await;
    let all = names(&all);
    for n in [
        "jira-admins",
        "org-admins",
        "confluence-contractors",
        "site-admins",
    ] {
        assert!(all.contains(&n.to_string()), "{n} in {all:?}");
    }
    let (_, users) = get(&sim, &tok, "/wiki/rest/api/group?accessType=user").await;
    assert_eq!(
        names(&users),
        vec!["confluence-contractors", "confluence-users"]
    );
    let (_, admins) = get(&sim, &tok, "/wiki/rest/api/group?accessType=admin").await;
    assert_eq!(names(&admins), vec!["confluence-admins", "org-admins"]);
    let (_, site) = get(&sim, &tok, "/wiki/rest/api/group?accessType=site-admin").await;
    assert_eq!(names(&site), vec!["site-admins"]);
    let (s, _) = get(&sim, &tok, "/wiki/rest/api/group?accessType=owner").await;
    assert_eq!(s, 400);
    // `jira-admins` grants no Confluence access: only its name marks it as an admin group.
    let info = sim.groups();
    let jira = info.iter().find(|g| g.name == "jira-admins").unwrap();
    assert_eq!(jira.access_type, None);
    assert!(jira.members > 1);
    assert_eq!(
        info.iter()
            .find(|g| g.name == "confluence-contractors")
            .unwrap()
            .access_type,
        Some(AccessType::User)
    );
}

#[tokio::test]
async fn total_size_lets_a_client_fetch_offset_pages_concurrently() {
    let sim = start().await;
    let tok = sim.mint_token(ALL_SCOPES);
    let gid = sim.group_id("confluence-users").unwrap();
    let sequential: Vec<String> = collect_pages(
        &sim,
        &tok,
        &format!("/wiki/rest/api/group/{gid}/membersByGroupId?limit=50"),
    )
    .await
    .0
    .iter()
    .map(|u| u["accountId"].as_str().unwrap().to_string())
    .collect();
    sim.reset_calls();
    let (s, first) = get(
        &sim,
        &tok,
        &format!("/wiki/rest/api/group/{gid}/membersByGroupId?limit=50&shouldReturnTotalSize=true"),
    )
    .await;
    assert_eq!(s, 200);
    let total = first["totalSize"].as_u64().unwrap() as usize;
    assert_eq!(total, sequential.len());
    assert!(
        first["_links"]["next"]
            .as_str()
            .unwrap()
            .contains("shouldReturnTotalSize=true")
    );
    let mut set = tokio::task::JoinSet::new();
    for start in (50..total).step_by(50) {
        let url = format!(
            "{}/wiki/rest/api/group/{gid}/membersByGroupId?limit=50&start={start}",
            sim.connection_url()
        );
        let tok = tok.clone();
        set.spawn(async move {
            let body: Value = client()
                .get(url)
                .bearer_auth(tok)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (start, body)
        });
    }
    let mut pages = vec![(0, first)];
    while let Some(r) = set.join_next().await {
        pages.push(r.unwrap());
    }
    pages.sort_by_key(|p| p.0);
    let concurrent: Vec<String> = pages
        .iter()
        .flat_map(|(_, b)| b["results"].as_array().unwrap().clone())
        .map(|u| u["accountId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(concurrent, sequential);
    // One call per page, as sequentially.
    assert_eq!(
        sim.calls_to(Endpoint::GroupMembers) as usize,
        total.div_ceil(50)
    );
    // Without the flag there is no total (it is documented as optional and expensive).
    let (_, plain) = get(
        &sim,
        &tok,
        &format!("/wiki/rest/api/group/{gid}/membersByGroupId?limit=50"),
    )
    .await;
    assert!(plain.get("totalSize").is_none());
}

#[tokio::test]
async fn points_spent_are_reported_and_match_the_headers() {
    let sim = Simulator::start(SimConfig {
        rate_limit: RateLimitConfig {
            points_per_hour: Some(10_000),
            burst_get: 0,
            request_cost: 3,
            ..RateLimitConfig::default()
        },
        ..config()
    })
    .await
    .unwrap();
    let tok = sim.mint_token(ALL_SCOPES);
    let gid = sim.group_id("confluence-users").unwrap();
    assert_eq!(sim.points_spent().this_hour, 0);
    let r = client()
        .get(format!(
            "{}/wiki/rest/api/group/{gid}/membersByGroupId?limit=200",
            sim.connection_url()
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    let remaining: u64 = r.headers()["x-ratelimit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // 3 base points + 200 users × 2.
    let used = sim.points_spent();
    assert_eq!(used.this_hour, 403);
    assert_eq!(used.limit, Some(10_000));
    assert_eq!(remaining, 10_000 - 403);
    // A write costs the base points only.
    let v = victim(&sim, &gid);
    client()
        .delete(member_url(&sim, &format!("groupId={gid}&accountId={v}")))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(sim.points_spent().this_hour, 406);
    // The admin API does not spend Confluence points.
    let r = client()
        .get(format!("{}/admin/v1/orgs", sim.admin_base_url()))
        .bearer_auth(sim.org_api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(sim.points_spent().this_hour, 406);
    // The hour rolls; the total stays.
    sim.clock().advance(Duration::from_secs(3600));
    let used = sim.points_spent();
    assert_eq!((used.this_hour, used.total), (0, 406));
}

#[tokio::test]
async fn history_names_every_contributor_not_only_the_last_editor() {
    let sim = start().await;
    let tok = sim.mint_token(ALL_SCOPES);
    // 2025-04-16T00:00Z, the first instant the CQL date below matches.
    let since = T0 - 60 * DAY_MS - DAY_MS / 2;
    let hidden: HashSet<String> = sim.hidden_contributors(since).into_iter().collect();
    assert!(hidden.len() > 20, "{} hidden contributors", hidden.len());
    let cql = "type%20in%20(page%2Cblogpost%2Ccomment%2Cattachment)%20and%20lastmodified%20%3E%3D%20%222025-04-16%22";
    let (items, _) = collect_pages(
        &sim,
        &tok,
        &format!(
            "/wiki/rest/api/search?cql={cql}&limit=200&excerpt=none&expand=content.version,content.history.contributors.publishers,content.history.previousVersion"
        ),
    )
    .await;
    let mut last_editors = HashSet::new();
    let mut everyone = HashSet::new();
    let mut with_previous = 0;
    for r in &items {
        let c = &r["content"];
        let by = c["version"]["by"]["accountId"]
            .as_str()
            .unwrap()
            .to_string();
        let creator = c["history"]["createdBy"]["accountId"]
            .as_str()
            .unwrap()
            .to_string();
        let publishers: HashSet<String> =
            c["history"]["contributors"]["publishers"]["userAccountIds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
        let users: HashSet<String> = c["history"]["contributors"]["publishers"]["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["accountId"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(publishers, users);
        assert!(publishers.contains(&by) && publishers.contains(&creator));
        let number = c["version"]["number"].as_u64().unwrap();
        if number > 1 {
            let pv = &c["history"]["previousVersion"];
            assert_eq!(pv["number"].as_u64(), Some(number - 1), "{pv}");
            let pby = pv["by"]["accountId"].as_str().unwrap().to_string();
            assert!(publishers.contains(&pby));
            assert!(pv["when"].as_str().unwrap() <= c["version"]["when"].as_str().unwrap());
            with_previous += 1;
        } else {
            assert!(c["history"].get("previousVersion").is_none());
            assert_eq!(creator, by);
        }
        last_editors.insert(by);
        everyone.extend(publishers);
    }
    assert!(with_previous > 10);
    // Every hidden contributor is named by the expansion and by no `version.by`.
    for h in &hidden {
        assert!(everyone.contains(h), "{h} not named");
        assert!(!last_editors.contains(h));
    }
}

#[tokio::test]
async fn latency_and_jitter_delay_every_response() {
    let sim = Simulator::start(SimConfig {
        latency: Duration::from_millis(60),
        ..config()
    })
    .await
    .unwrap();
    let tok = sim.mint_token(ALL_SCOPES);
    for path in ["/wiki/rest/api/group", "/wiki/rest/api/nothing-here"] {
        let t = Instant::now();
        get(&sim, &tok, path).await;
        assert!(t.elapsed() >= Duration::from_millis(60), "{path}");
    }
    let t = Instant::now();
    client()
        .get(format!("{}/admin/v1/orgs", sim.admin_base_url()))
        .send()
        .await
        .unwrap();
    assert!(t.elapsed() >= Duration::from_millis(60));
    sim.set_base_latency(Duration::ZERO, Duration::from_millis(30));
    let t = Instant::now();
    for _ in 0..5 {
        get(&sim, &tok, "/wiki/rest/api/group").await;
    }
    assert!(t.elapsed() < Duration::from_millis(5 * 60));
}

/// The binary takes `--latency-ms` and `--jitter-ms` (and the org and rule flags) and
/// prints what a user needs to call it.
#[tokio::test]
async fn the_binary_adds_latency_from_its_flags() {
    /// Kills the binary when the test ends, also when an assertion fails first.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_confluence-sim"))
        .args([
            "--users",
            "50",
            "--latency-ms",
            "80",
            "--jitter-ms",
            "10",
            "--require-xsrf-header",
            "--no-call-log",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let mut base = None;
    let mut key = None;
    let mut conn = None;
    let mut token = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let mut words = line.split_whitespace();
        let (a, b) = (words.next(), words.next());
        match (a, b) {
            (Some("base"), Some("url")) => base = words.next().map(str::to_string),
            (Some("org"), Some("api")) => key = words.nth(1).map(str::to_string),
            (Some("connection"), Some("url")) => conn = words.next().map(str::to_string),
            (Some("admin"), Some("token")) => token = words.next().map(str::to_string),
            _ => {}
        }
        if line.starts_with("Ctrl-C") {
            break;
        }
    }
    let (base, key, conn, token) = (base.unwrap(), key.unwrap(), conn.unwrap(), token.unwrap());
    let t = Instant::now();
    let r = client()
        .get(format!("{base}/admin/v1/orgs"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let took = t.elapsed();
    assert_eq!(r.status(), 200);
    assert!(took >= Duration::from_millis(80), "{took:?}");
    // The rule flag is on: a write without the header is refused.
    let r = client()
        .delete(format!(
            "{conn}/wiki/rest/api/group/userByGroupId?groupId=x&accountId=y"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}
