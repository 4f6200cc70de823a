//! Confluence REST v1 behind the gateway: groups, members, writes, users, CQL search,
//! scopes, cloud ids, rate limits, faults and the inspection API, driven with plain
//! reqwest.

use crate::common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{ALL_SCOPES, T0, assert_confluence_error, client, collect_pages, get, start};
use confluence_sim::{
    Endpoint, FaultConfig, REASON_BURST, REASON_QUOTA, RateLimitConfig, SimConfig, Simulator,
    UserKind,
};
use serde_json::{Value, json};

const DAY_MS: i64 = 86_400_000;

#[tokio::test]
async fn gateway_rejects_bad_tokens_cloud_ids_and_scopes() {
    let sim = start().await;
    let url = format!("{}/wiki/rest/api/group", sim.connection_url());
    // No token, unknown token.
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let (s, b) = get(&sim, "unknown-token", "/wiki/rest/api/group").await;
    assert_eq!(
        (s, b),
        (401, json!({"code": 401, "message": "Unauthorized"}))
    );
    // Wrong cloud id.
    let tok = sim.mint_token(ALL_SCOPES);
    let r = client()
        .get(format!(
            "{}/wiki/rest/api/group",
            sim.site_connection_url("00000000-0000-4000-8000-000000000000")
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], 401);
    // A missing scope on every endpoint.
    let scope_err = json!({"code": 401, "message": "Unauthorized; scope does not match"});
    let gid = sim.group_id("confluence-users").unwrap();
    let me = sim.consenting_account_id();
    let reads = [
        ("/wiki/rest/api/group".to_string(), "read:confluence-groups"),
        (
            format!("/wiki/rest/api/group/by-id?id={gid}"),
            "read:confluence-groups",
        ),
        (
            "/wiki/rest/api/group/picker?query=conf".to_string(),
            "read:confluence-groups",
        ),
        (
            format!("/wiki/rest/api/group/{gid}/membersByGroupId"),
            "read:confluence-groups",
        ),
        (
            format!("/wiki/rest/api/user?accountId={me}"),
            "read:confluence-user",
        ),
        (
            format!("/wiki/rest/api/user/bulk?accountId={me}"),
            "read:confluence-user",
        ),
        (
            format!("/wiki/rest/api/user/memberof?accountId={me}"),
            "read:confluence-user",
        ),
        (
            "/wiki/rest/api/search?cql=type%3Dpage".to_string(),
            "search:confluence",
        ),
    ];
    for (path, needed) in &reads {
        let others: Vec<&str> = ALL_SCOPES.iter().copied().filter(|s| s != needed).collect();
        let (s, b) = get(&sim, &sim.mint_token(&others), path).await;
        assert_eq!((s, &b), (401, &scope_err), "{path}");
        let (s, _) = get(&sim, &sim.mint_token(&[needed]), path).await;
        assert_eq!(s, 200, "{path}");
    }
    let read_only = sim.mint_token(&["read:confluence-groups", "read:confluence-user"]);
    let r = client()
        .delete(format!(
            "{}/wiki/rest/api/group/userByGroupId?groupId={gid}&accountId={me}",
            sim.connection_url()
        ))
        .bearer_auth(&read_only)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap(), scope_err);
    let r = client()
        .post(format!(
            "{}/wiki/rest/api/group/userByGroupId?groupId={gid}",
            sim.connection_url()
        ))
        .bearer_auth(&read_only)
        .json(&json!({"accountId": me}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Granular scopes are accepted as the spec's alternative set.
    let granular = sim.mint_token(&["read:group:confluence", "read:user:confluence"]);
    let (s, _) = get(
        &sim,
        &granular,
        &format!("/wiki/rest/api/group/{gid}/membersByGroupId"),
    )
    .await;
    assert_eq!(s, 200);
    let only_group = sim.mint_token(&["read:group:confluence"]);
    let (s, _) = get(
        &sim,
        &only_group,
        &format!("/wiki/rest/api/group/{gid}/membersByGroupId"),
    )
    .await;
    assert_eq!(
        s, 401,
        "members need read:user:confluence too in the granular set"
    );
    // Unknown paths under the gateway.
    let (s, _) = get(&sim, &tok, "/wiki/rest/api/group/by-name?name=x").await;
    assert_eq!(s, 404, "name-based group endpoints are not served");
}

#[tokio::test]
async fn groups_list_by_id_and_picker() {
    let sim = start().await;
    let tok = sim.mint_token(ALL_SCOPES);
    let (s, b) = get(&sim, &tok, "/wiki/rest/api/group").await;
    assert_eq!(s, 200);
    let names: Vec<&str> = b["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 5);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "sorted by name");
    assert!(names.contains(&"confluence-users") && names.contains(&"confluence-admins"));
    assert_eq!(b["results"][0]["type"], "group");
    assert_eq!(b["size"], 5);
    assert!(b["_links"]["next"].is_null());
    assert_eq!(b["_links"]["base"], format!("{}/wiki", sim.site_url()));

    // Paging with _links.next.
    let (all, pages) = collect_pages(&sim, &tok, "/wiki/rest/api/group?limit=2").await;
    assert_eq!((all.len(), pages), (5, 3));
    let (s, b) = get(&sim, &tok, "/wiki/rest/api/group?start=4&limit=2").await;
    assert_eq!(
        (s, b["size"].clone(), b["start"].clone()),
        (200, json!(1), json!(4))
    );

    // accessType filter.
    let (_, b) = get(&sim, &tok, "/wiki/rest/api/group?accessType=site-admin").await;
    assert_eq!(b["results"][0]["name"], "site-admins");
    assert_eq!(b["size"], 1);
    let (_, b) = get(&sim, &tok, "/wiki/rest/api/group?accessType=user").await;
    assert_eq!(b["results"][0]["name"], "confluence-users");
    for bad in ["accessType=root", "start=-1", "limit=abc"] {
        let (s, b) = get(&sim, &tok, &format!("/wiki/rest/api/group?{bad}")).await;
        assert_eq!(s, 400, "{bad}");
        assert_confluence_error(&b, 400);
    }

    // by-id.
    let gid = sim.group_id("confluence-admins").unwrap();
    let (s, b) = get(&sim, &tok, &format!("/wiki/rest/api/group/by-id?id={gid}")).await;
    assert_eq!(s, 200);
    assert_eq!(b["name"], "confluence-admins");
    assert_eq!(b["id"], gid.as_str());
    let (s, b) = get(&sim, &tok, "/wiki/rest/api/group/by-id?id=nope").await;
    assert_eq!(s, 404);
    assert_confluence_error(&b, 404);
    let (s, _) = get(&sim, &tok, "/wiki/rest/api/group/by-id").await;
    assert_eq!(s, 400);

    // picker.
    let (s, b) = get(
        &sim,
        &tok,
        "/wiki/rest/api/group/picker?query=CONFLUENCE&shouldReturnTotalSize=true",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["totalSize"], 2);
    let (_, b) = get(
        &sim,
        &tok,
        "/wiki/rest/api/group/picker?query=confluence&limit=1",
    )
    .await;
    assert_eq!(b["size"], 1);
    assert!(b["_links"]["next"].as_str().unwrap().contains("start=1"));
    let (s, _) = get(&sim, &tok, "/wiki/rest/api/group/picker").await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn members_pagination_limits_and_shapes() {
    let sim = Simulator::start(SimConfig {
        users: 1500,
        ..common::config()
    })
    .await
    .unwrap();
    let tok = sim.mint_token(ALL_SCOPES);
    let gid = sim.group_id("confluence-users").unwrap();
    let expected = sim.memberships(&gid).unwrap();
    assert!(expected.len() > 1000);
    let (all, pages) = collect_pages(
        &sim,
        &tok,
        &format!("/wiki/rest/api/group/{gid}/membersByGroupId?limit=200"),
    )
    .await;
    assert_eq!(pages, expected.len().div_ceil(200));
    let got: Vec<&str> = all
        .iter()
        .map(|u| u["accountId"].as_str().unwrap())
        .collect();
    assert_eq!(got, expected.iter().map(String::as_str).collect::<Vec<_>>());
    // Bots are members too, with accountType app; guests are flagged.
    assert!(all.iter().any(|u| u["accountType"] == "app"));
    assert!(all.iter().any(|u| u["isExternalCollaborator"] == true));
    assert!(all.iter().all(|u| u["type"] == "known"));

    let (s, b) = get(
        &sim,
        &tok,
        &format!("/wiki/rest/api/group/{gid}/membersByGroupId?limit=201"),
    )
    .await;
    assert_eq!(s, 400);
    assert_confluence_error(&b, 400);
    let (s, b) = get(&sim, &tok, &format!("/wiki/rest/api/group/{gid}/membersByGroupId?limit=5&shouldReturnTotalSize=true&expand=operations,personalSpace")).await;
    assert_eq!(s, 200);
    assert_eq!(b["totalSize"], expected.len());
    assert_eq!(b["size"], 5);
    assert!(b["results"][0]["operations"].is_array());
    assert!(b["_links"]["next"].as_str().unwrap().contains("start=5"));
    let (s, _) = get(&sim, &tok, "/wiki/rest/api/group/nope/membersByGroupId").await;
    assert_eq!(s, 404);
    let (s, _) = get(
        &sim,
        &tok,
        &format!("/wiki/rest/api/group/{gid}/membersByGroupId?start=x"),
    )
    .await;
    assert_eq!(s, 400);
    let (s, b) = get(
        &sim,
        &tok,
        &format!("/wiki/rest/api/group/{gid}/membersByGroupId?start=100000"),
    )
    .await;
    assert_eq!((s, b["size"].clone()), (200, json!(0)));
}

#[tokio::test]
async fn writes_change_state_and_need_a_site_admin() {
    let sim = start().await;
    let admin = sim.mint_token(ALL_SCOPES);
    let gid = sim.group_id("confluence-users").unwrap();
    let members = sim.memberships(&gid).unwrap();
    let victim = members
        .iter()
        .find(|a| **a != sim.consenting_account_id())
        .unwrap()
        .clone();
    let base = sim.connection_url();
    let del = |tok: String, q: String| {
        let url = format!("{base}/wiki/rest/api/group/userByGroupId?{q}");
        async move { client().delete(url).bearer_auth(tok).send().await.unwrap() }
    };
    let add = |tok: String, q: String, body: Value| {
        let url = format!("{base}/wiki/rest/api/group/userByGroupId?{q}");
        async move {
            client()
                .post(url)
                .bearer_auth(tok)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };

    // Remove: 204, then gone from the next listing and from memberof.
    let r = del(admin.clone(), format!("groupId={gid}&accountId={victim}")).await;
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
    assert!(!sim.memberships(&gid).unwrap().contains(&victim));
    let (all, _) = collect_pages(
        &sim,
        &admin,
        &format!("/wiki/rest/api/group/{gid}/membersByGroupId"),
    )
    .await;
    assert!(all.iter().all(|u| u["accountId"] != victim.as_str()));
    assert_eq!(all.len(), members.len() - 1);
    let (_, b) = get(
        &sim,
        &admin,
        &format!("/wiki/rest/api/user/memberof?accountId={victim}"),
    )
    .await;
    assert!(
        b["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["id"] != gid.as_str())
    );
    // Idempotent: 204 again when not a member.
    let r = del(admin.clone(), format!("groupId={gid}&accountId={victim}")).await;
    assert_eq!(r.status(), 204);
    // Add back: 201 with an empty body.
    let r = add(
        admin.clone(),
        format!("groupId={gid}"),
        json!({"accountId": victim}),
    )
    .await;
    assert_eq!(r.status(), 201);
    assert!(sim.memberships(&gid).unwrap().contains(&victim));
    assert!(sim.user_groups(&victim).unwrap().contains(&gid));

    // Errors.
    for (q, status) in [
        (format!("groupId={gid}"), 400),
        (format!("accountId={victim}"), 400),
        (format!("groupId=nope&accountId={victim}"), 404),
        (format!("groupId={gid}&accountId=nobody"), 404),
    ] {
        let r = del(admin.clone(), q.clone()).await;
        assert_eq!(r.status().as_u16(), status, "{q}");
        assert_confluence_error(&r.json().await.unwrap(), status);
    }
    let r = add(admin.clone(), format!("groupId={gid}"), json!({"nope": 1})).await;
    assert_eq!(r.status(), 400);
    let r = add(
        admin.clone(),
        format!("groupId={gid}"),
        json!({"accountId": "nobody"}),
    )
    .await;
    assert_eq!(r.status(), 404);
    let r = add(
        admin.clone(),
        "groupId=nope".into(),
        json!({"accountId": victim}),
    )
    .await;
    assert_eq!(r.status(), 404);

    // A non-admin gets 403 with Confluence's permission body, and nothing changes.
    let plain = sim
        .users()
        .into_iter()
        .find(|u| !u.site_admin && u.kind == UserKind::Human)
        .unwrap();
    let user_tok = sim.mint_token_for(&plain.account_id, ALL_SCOPES).unwrap();
    let r = del(
        user_tok.clone(),
        format!("groupId={gid}&accountId={victim}"),
    )
    .await;
    assert_eq!(r.status(), 403);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["statusCode"], 403);
    assert_eq!(b["data"]["authorized"], false);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("PermissionException")
    );
    let r = add(
        user_tok,
        format!("groupId={gid}"),
        json!({"accountId": victim}),
    )
    .await;
    assert_eq!(r.status(), 403);
    assert!(sim.memberships(&gid).unwrap().contains(&victim));
}

#[tokio::test]
async fn users_one_bulk_and_memberof() {
    let sim = start().await;
    let tok = sim.mint_token(ALL_SCOPES);
    let users = sim.users();
    let bot = users.iter().find(|u| u.kind == UserKind::App).unwrap();
    let (s, b) = get(
        &sim,
        &tok,
        &format!("/wiki/rest/api/user?accountId={}", bot.account_id),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["accountType"], "app");
    assert_eq!(b["displayName"], bot.display_name.as_str());
    let (s, b) = get(&sim, &tok, "/wiki/rest/api/user?accountId=nobody").await;
    assert_eq!(s, 404);
    assert_confluence_error(&b, 404);
    let (s, _) = get(&sim, &tok, "/wiki/rest/api/user").await;
    assert_eq!(s, 400);

    let ids: Vec<&str> = users
        .iter()
        .take(5)
        .map(|u| u.account_id.as_str())
        .collect();
    let (s, b) = get(
        &sim,
        &tok,
        &format!(
            "/wiki/rest/api/user/bulk?accountId={},nobody",
            ids.join(",")
        ),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["size"], 5);
    let got: Vec<&str> = b["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["accountId"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids);
    let (_, b) = get(
        &sim,
        &tok,
        &format!(
            "/wiki/rest/api/user/bulk?accountId={}&accountId={}&limit=1",
            ids[0], ids[1]
        ),
    )
    .await;
    assert_eq!(b["size"], 1);
    let (s, _) = get(&sim, &tok, "/wiki/rest/api/user/bulk").await;
    assert_eq!(s, 400);
    let (s, _) = get(
        &sim,
        &tok,
        &format!("/wiki/rest/api/user/bulk?accountId={}&limit=0", ids[0]),
    )
    .await;
    assert_eq!(s, 400);

    let me = sim.consenting_account_id();
    let (s, b) = get(
        &sim,
        &tok,
        &format!("/wiki/rest/api/user/memberof?accountId={me}"),
    )
    .await;
    assert_eq!(s, 200);
    let got: HashSet<String> = b["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_string())
        .collect();
    let want: HashSet<String> = sim.user_groups(&me).unwrap().into_iter().collect();
    assert_eq!(got, want);
    assert!(got.contains(&sim.group_id("site-admins").unwrap()));
    let (s, _) = get(&sim, &tok, "/wiki/rest/api/user/memberof?accountId=nobody").await;
    assert_eq!(s, 404);
    let (s, _) = get(&sim, &tok, "/wiki/rest/api/user/memberof").await;
    assert_eq!(s, 400);
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn search_bulk_scan_with_cursor_pagination() {
    let sim = start().await;
    let tok = sim.mint_token(ALL_SCOPES);
    let cutoff = T0 - 60 * DAY_MS;
    let cql = r#"type in (page,blogpost,comment,attachment) and lastmodified >= "2025-04-16 12:00" order by lastmodified desc"#;
    let first = format!(
        "/wiki/rest/api/search?cql={}&limit=100&excerpt=none&expand=content.version",
        enc(cql)
    );
    let (s, b) = get(&sim, &tok, &first).await;
    assert_eq!(s, 200, "{b}");
    let total = b["totalSize"].as_u64().unwrap() as usize;
    assert!(total > 100);
    assert_eq!(b["cqlQuery"], cql);
    assert!(b["_links"]["next"].as_str().unwrap().contains("cursor="));
    let (all, pages) = collect_pages(&sim, &tok, &first).await;
    assert_eq!(all.len(), total);
    assert_eq!(pages, total.div_ceil(100));
    let mut last = String::from("9999");
    let mut seen = HashSet::new();
    let mut active = HashSet::new();
    for r in &all {
        let lm = r["lastModified"].as_str().unwrap().to_string();
        assert!(lm <= last, "descending order");
        assert!(lm.as_str() >= "2025-04-16T12:00:00.000Z");
        last = lm.clone();
        assert_eq!(r["content"]["version"]["when"].as_str().unwrap(), lm);
        assert!(r["content"]["version"]["number"].as_u64().unwrap() >= 1);
        assert!(
            seen.insert(r["content"]["id"].as_str().unwrap().to_string()),
            "no duplicates"
        );
        assert_eq!(r["excerpt"], "");
        active.insert(
            r["content"]["version"]["by"]["accountId"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // Every user whose ground-truth last activity is after the cutoff shows up, as last editor
    // or via a per-user contributor query.
    let mut missing = 0;
    for u in sim.users() {
        let truth = sim.last_activity(&u.account_id);
        if truth.is_some_and(|t| t >= cutoff) && !active.contains(&u.account_id) {
            missing += 1;
        }
    }
    assert!(
        missing < 30,
        "most active users are last editors of something ({missing} are not)"
    );
    // The limit is capped by the expansion: 200 with expansions, 1000 without.
    let (_, b) = get(
        &sim,
        &tok,
        &format!(
            "/wiki/rest/api/search?cql={}&limit=5000&expand=content.version",
            enc(cql)
        ),
    )
    .await;
    assert_eq!(b["limit"], 200);
    let (_, b) = get(
        &sim,
        &tok,
        &format!("/wiki/rest/api/search?cql={}&limit=5000", enc(cql)),
    )
    .await;
    assert_eq!(b["limit"], 1000);
    assert!(b["results"][0]["content"].get("version").is_none());
    // prev link on a later page.
    let (_, b) = get(&sim, &tok, &first).await;
    let (_, b2) = get(
        &sim,
        &tok,
        &format!("/wiki{}", b["_links"]["next"].as_str().unwrap()),
    )
    .await;
    assert_eq!(b2["start"], 100);
    let (_, b1) = get(
        &sim,
        &tok,
        &format!("/wiki{}", b2["_links"]["prev"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        b1["results"][0]["content"]["id"],
        b["results"][0]["content"]["id"]
    );
}

#[tokio::test]
async fn search_per_user_queries_and_cql_errors() {
    let sim = start().await;
    let tok = sim.mint_token(ALL_SCOPES);
    let users = sim.users();
    let mut checked = 0;
    for u in users.iter().take(80) {
        let cql = format!(
            r#"contributor = "{}" order by lastmodified desc"#,
            u.account_id
        );
        let (s, b) = get(
            &sim,
            &tok,
            &format!(
                "/wiki/rest/api/search?cql={}&limit=1&excerpt=none",
                enc(&cql)
            ),
        )
        .await;
        assert_eq!(s, 200);
        match sim.last_activity(&u.account_id) {
            None => assert_eq!(b["size"], 0, "{}", u.account_id),
            Some(t) => {
                // lastModified is the item's last change by anyone: never older than the
                // user's own last activity.
                let lm = b["results"][0]["lastModified"].as_str().unwrap();
                assert!(lm >= confluence_sim::clock::rfc3339_ms(t).as_str());
                checked += 1;
            }
        }
    }
    assert!(checked > 30);
    // creator with history expansion.
    let me = sim.consenting_account_id();
    let cql = format!(r#"creator = "{me}" order by created desc"#);
    let (s, b) = get(&sim, &tok, &format!("/wiki/rest/api/search?cql={}&limit=10&expand=content.history,content.history.lastUpdated,content.history.contributors.publishers,content.space", enc(&cql))).await;
    assert_eq!(s, 200);
    for r in b["results"].as_array().unwrap() {
        assert_eq!(
            r["content"]["history"]["createdBy"]["accountId"],
            me.as_str()
        );
        assert!(r["content"]["history"]["createdDate"].is_string());
        assert!(r["content"]["history"]["lastUpdated"]["by"]["accountId"].is_string());
        assert!(r["content"]["space"]["key"].is_string());
    }
    let dates: Vec<&str> = b["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["content"]["history"]["createdDate"].as_str().unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]));
    // and / or / parentheses / not / type = x / date-only literal / currentUser().
    for cql in [
        r#"(type = page or type = blogpost) and lastmodified > "2025-06-01""#,
        r#"type = comment and not contributor = currentUser()"#,
        r#"type not in (comment, attachment) AND created >= "2025/01/01" ORDER BY lastmodified ASC"#,
        r#"contributor in ("nobody", currentUser())"#,
    ] {
        let (s, b) = get(
            &sim,
            &tok,
            &format!("/wiki/rest/api/search?cql={}", enc(cql)),
        )
        .await;
        assert_eq!(s, 200, "{cql}: {b}");
        assert!(b["totalSize"].as_u64().unwrap() > 0, "{cql}");
    }
    let (_, pages) = get(
        &sim,
        &tok,
        &format!(
            "/wiki/rest/api/search?cql={}&limit=1000",
            enc("type = page")
        ),
    )
    .await;
    assert!(
        pages["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["content"]["type"] == "page")
    );
    // Unknown CQL, unsupported fields, bad dates, missing cql, bad cursor: 400.
    for bad in [
        "type = page and",
        "title ~ \"x\"",
        "user.accountid = \"abc\"",
        "lastmodified >= \"last tuesday\"",
        "type = spaceship",
        "lastmodified >= startOfYear()",
    ] {
        let (s, b) = get(
            &sim,
            &tok,
            &format!("/wiki/rest/api/search?cql={}", enc(bad)),
        )
        .await;
        assert_eq!(s, 400, "{bad}");
        assert_confluence_error(&b, 400);
    }
    let (s, _) = get(&sim, &tok, "/wiki/rest/api/search").await;
    assert_eq!(s, 400);
    let (s, _) = get(
        &sim,
        &tok,
        "/wiki/rest/api/search?cql=type%3Dpage&cursor=garbage",
    )
    .await;
    assert_eq!(s, 400);
    // A cursor from another query is refused.
    let (_, b) = get(&sim, &tok, "/wiki/rest/api/search?cql=type%3Dpage&limit=1").await;
    let next = b["_links"]["next"].as_str().unwrap();
    let cursor = next.split("cursor=").nth(1).unwrap();
    let (s, _) = get(
        &sim,
        &tok,
        &format!("/wiki/rest/api/search?cql=type%3Dcomment&cursor={cursor}"),
    )
    .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn points_budget_and_burst_limits() {
    let sim = Simulator::start(SimConfig {
        rate_limit: RateLimitConfig {
            points_per_hour: Some(30),
            burst_get: 0,
            ..RateLimitConfig::default()
        },
        ..common::config()
    })
    .await
    .unwrap();
    let tok = sim.mint_token(ALL_SCOPES);
    // GET /group returns 5 groups: 1 + 5 × 2 = 11 points.
    let r = client()
        .get(format!("{}/wiki/rest/api/group", sim.connection_url()))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ratelimit-limit"], "30");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "19");
    let r = client()
        .get(format!("{}/wiki/rest/api/group", sim.connection_url()))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-ratelimit-remaining"], "8");
    assert!(
        !r.headers().contains_key("x-ratelimit-nearlimit"),
        "8 of 30 is above 20%"
    );
    let r = client()
        .get(format!("{}/wiki/rest/api/group", sim.connection_url()))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(r.headers()["x-ratelimit-nearlimit"], "true");
    let r = client()
        .get(format!("{}/wiki/rest/api/group", sim.connection_url()))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let h = r.headers().clone();
    assert_eq!(h["ratelimit-reason"], REASON_QUOTA);
    assert_eq!(h["x-ratelimit-remaining"], "0");
    // T0 is 12:00:00 exactly, so the reset is at 13:00.
    assert_eq!(h["retry-after"], "3600");
    assert_eq!(h["x-ratelimit-reset"], "2025-06-15T13:00Z");
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["code"], 429);
    // Everything is denied until the top of the hour.
    let (s, _) = get(
        &sim,
        &tok,
        &format!(
            "/wiki/rest/api/user?accountId={}",
            sim.consenting_account_id()
        ),
    )
    .await;
    assert_eq!(s, 429);
    sim.clock().advance(Duration::from_secs(3600));
    let tok = sim.mint_token(ALL_SCOPES); // the old one expired with the hour
    let (s, _) = get(&sim, &tok, "/wiki/rest/api/group").await;
    assert_eq!(s, 200);

    // Burst: 3 GETs per second per endpoint on a frozen clock.
    sim.set_rate_limit(RateLimitConfig {
        points_per_hour: None,
        burst_get: 3,
        ..RateLimitConfig::default()
    });
    sim.reset_rate_limit();
    for _ in 0..3 {
        assert_eq!(
            get(&sim, &tok, "/wiki/rest/api/group/picker?query=a")
                .await
                .0,
            200
        );
    }
    let r = client()
        .get(format!(
            "{}/wiki/rest/api/group/picker?query=a",
            sim.connection_url()
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.headers()["ratelimit-reason"], REASON_BURST);
    // Another endpoint has its own window; the next second admits again.
    assert_eq!(get(&sim, &tok, "/wiki/rest/api/group").await.0, 200);
    sim.clock().advance(Duration::from_secs(1));
    assert_eq!(
        get(&sim, &tok, "/wiki/rest/api/group/picker?query=a")
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn faults_per_endpoint() {
    let sim = start().await;
    let tok = sim.mint_token(ALL_SCOPES);
    let gid = sim.group_id("confluence-users").unwrap();
    let members = format!("/wiki/rest/api/group/{gid}/membersByGroupId?limit=50");
    let url = format!("{}{}", sim.connection_url(), members);

    // 5xx.
    sim.set_fault(
        Endpoint::GroupMembers,
        FaultConfig {
            error_rate: 1.0,
            ..Default::default()
        },
    );
    let r = client().get(&url).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(
        get(&sim, &tok, "/wiki/rest/api/group").await.0,
        200,
        "other endpoints unaffected"
    );
    sim.set_fault(
        Endpoint::GroupMembers,
        FaultConfig {
            error_rate: 1.0,
            error_status: 500,
            ..Default::default()
        },
    );
    assert_eq!(
        client()
            .get(&url)
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .status(),
        500
    );

    // 429 storm: the next two calls, then normal service.
    sim.set_fault(
        Endpoint::GroupMembers,
        FaultConfig {
            storm_429: 2,
            storm_retry_after_secs: 7,
            ..Default::default()
        },
    );
    for _ in 0..2 {
        let r = client().get(&url).bearer_auth(&tok).send().await.unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "7");
        assert!(r.headers().contains_key("ratelimit-reason"));
    }
    assert_eq!(
        client()
            .get(&url)
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Truncated JSON: a clean 200 whose body does not parse.
    sim.set_fault(
        Endpoint::GroupMembers,
        FaultConfig {
            truncated_json_rate: 1.0,
            ..Default::default()
        },
    );
    let r = client().get(&url).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.starts_with("{\"") && serde_json::from_str::<Value>(&text).is_err());

    // Malformed JSON.
    sim.set_fault(
        Endpoint::GroupMembers,
        FaultConfig {
            malformed_json_rate: 1.0,
            ..Default::default()
        },
    );
    let r = client().get(&url).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(serde_json::from_str::<Value>(&r.text().await.unwrap()).is_err());

    // Connection dropped mid-body: headers arrive, the body read fails.
    sim.set_fault(
        Endpoint::GroupMembers,
        FaultConfig {
            drop_connection_rate: 1.0,
            ..Default::default()
        },
    );
    let r = client().get(&url).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err(), "the body must fail");

    // Latency.
    sim.clear_faults();
    sim.set_latency(Endpoint::GroupMembers, Duration::from_millis(150));
    let t = Instant::now();
    assert_eq!(
        client()
            .get(&url)
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(t.elapsed() >= Duration::from_millis(150));

    // Faults on the OAuth endpoints too.
    sim.clear_faults();
    sim.set_fault(
        Endpoint::Token,
        FaultConfig {
            error_rate: 1.0,
            error_status: 502,
            ..Default::default()
        },
    );
    let r = client()
        .post(format!("{}/oauth/token", sim.auth_base_url()))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);

    // Partial rates are drawn from the seeded generator.
    sim.clear_faults();
    sim.set_fault(
        Endpoint::GetGroups,
        FaultConfig {
            error_rate: 0.5,
            ..Default::default()
        },
    );
    let mut errors = 0;
    for _ in 0..40 {
        if get(&sim, &tok, "/wiki/rest/api/group").await.0 == 503 {
            errors += 1;
        }
    }
    assert!((8..=32).contains(&errors), "{errors}");
}

#[tokio::test]
async fn inspection_api_logs_calls() {
    let sim = start().await;
    let tok = sim.mint_token(ALL_SCOPES);
    sim.reset_calls();
    get(&sim, &tok, "/wiki/rest/api/group?limit=2").await;
    get(&sim, &tok, "/wiki/rest/api/group").await;
    get(&sim, "bad", "/wiki/rest/api/group").await;
    get(&sim, &tok, "/wiki/rest/api/user?accountId=nobody").await;
    let me = get(&sim, &tok, "/wiki/rest/api/user/current").await;
    assert_eq!(me.0, 200, "{:?}", me.1);
    assert_eq!(me.1["accountId"], sim.consenting_account_id());
    let calls: Vec<_> = sim
        .calls()
        .into_iter()
        .filter(|c| c.endpoint != Some(Endpoint::CurrentUser))
        .collect();
    assert_eq!(calls.len(), 4);
    assert_eq!(calls[0].method, "GET");
    assert_eq!(
        calls[0].path,
        format!("/ex/confluence/{}/wiki/rest/api/group", sim.cloud_id())
    );
    assert_eq!(calls[0].query, "limit=2");
    assert_eq!(calls[0].status, 200);
    assert_eq!(calls[2].status, 401);
    assert_eq!(calls[3].status, 404);
    assert_eq!(calls[3].endpoint, Some(Endpoint::GetUser));
    assert_eq!(calls[0].at_ms, T0);
    let per = sim.calls_per_endpoint();
    assert_eq!(per[Endpoint::GetGroups.name()], 3);
    assert_eq!(sim.calls_to(Endpoint::GetUser), 1);
    sim.reset_calls();
    assert!(sim.calls().is_empty());
    assert_eq!(sim.calls_to(Endpoint::GetGroups), 0);
}

#[tokio::test]
async fn state_is_deterministic_per_seed() {
    let a = Simulator::start(common::config()).await.unwrap();
    let b = Simulator::start(common::config()).await.unwrap();
    let c = Simulator::start(SimConfig {
        seed: 99,
        ..common::config()
    })
    .await
    .unwrap();
    assert_eq!(a.cloud_id(), b.cloud_id());
    assert_eq!(a.client_id(), b.client_id());
    assert_eq!(a.client_secret(), b.client_secret());
    assert_eq!(a.users(), b.users());
    assert_eq!(a.groups(), b.groups());
    assert_ne!(a.users(), c.users());
    assert_ne!(a.cloud_id(), c.cloud_id());
    let users = a.users();
    let bots = users.iter().filter(|u| u.kind == UserKind::App).count();
    let guests = users.iter().filter(|u| u.kind == UserKind::Guest).count();
    assert!(bots > 5 && guests > 2, "{bots} bots, {guests} guests");
    let multi = users
        .iter()
        .filter(|u| a.user_groups(&u.account_id).unwrap().len() > 1)
        .count();
    assert!(multi > 100, "{multi} users in several groups");
    let stale = users
        .iter()
        .filter(|u| {
            a.last_activity(&u.account_id)
                .is_none_or(|t| t < T0 - 60 * DAY_MS)
        })
        .count();
    assert!(
        stale > 100 && stale < 400,
        "{stale} users without activity in 60 days"
    );
}
