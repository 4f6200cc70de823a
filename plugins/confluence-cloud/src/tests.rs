//! Host tests of the exports' logic against a scripted fake `Http` that answers with JSON
//! shaped like the v1 spec's examples (`_links.next` relative to `/wiki`, as Confluence
//! writes it) and checks that every request the spoke sends conforms to the v1 spec:
//! id-based endpoints only, required parameters present, limits within 1..=200, no
//! Authorization header.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::errors::SpokeError;
use crate::http::{Http, HttpError, Method, Request, Response};
use crate::model::*;
use crate::{activity, api, cursor, groups, reclaim, subscriptions, validate};

const ALL_PROCESSES: [Process; 3] = [
    Process::DownloadSubscriptions,
    Process::DownloadActivity,
    Process::Reclaim,
];

type Handler = Box<dyn Fn(&Request) -> Result<Response, HttpError>>;

struct Fake {
    handler: Handler,
    sent: RefCell<Vec<Request>>,
    /// The size of each `send_all` batch.
    batches: RefCell<Vec<usize>>,
}

impl Fake {
    fn new(handler: impl Fn(&Request) -> Result<Response, HttpError> + 'static) -> Self {
        Fake {
            handler: Box::new(handler),
            sent: RefCell::new(Vec::new()),
            batches: RefCell::new(Vec::new()),
        }
    }
    fn count(&self) -> usize {
        self.sent.borrow().len()
    }
    fn take(&self) -> Vec<Request> {
        std::mem::take(&mut *self.sent.borrow_mut())
    }
    /// The sizes of the `send_all` batches so far (and forgets them).
    fn rounds(&self) -> Vec<usize> {
        std::mem::take(&mut *self.batches.borrow_mut())
    }
}

impl Http for Fake {
    fn send(&self, request: Request) -> Result<Response, HttpError> {
        assert_conforms(&request);
        self.sent.borrow_mut().push(request.clone());
        (self.handler)(&request)
    }
    fn send_all(&self, requests: Vec<Request>) -> Vec<Result<Response, HttpError>> {
        self.batches.borrow_mut().push(requests.len());
        requests.into_iter().map(|r| self.send(r)).collect()
    }
}

fn assert_conforms(r: &Request) {
    assert!(
        r.headers
            .iter()
            .all(|(k, _)| !k.eq_ignore_ascii_case("authorization")),
        "guest set Authorization"
    );
    assert!(
        !r.path.contains('?'),
        "query belongs in `query`: {}",
        r.path
    );
    let q = |k: &str| r.query_value(k);
    if let Some(limit) = q("limit") {
        let n: u32 = limit.parse().expect("numeric limit");
        assert!(
            (1..=200).contains(&n),
            "limit {n} out of bounds on {}",
            r.path
        );
    }
    if let Some(start) = q("start") {
        start.parse::<u64>().expect("numeric start");
    }
    let p = r.path.as_str();
    match (r.method, p) {
        (Method::Get, "/wiki/rest/api/group") => {}
        (Method::Get, "/wiki/rest/api/user/current") => {}
        (Method::Get, "/wiki/rest/api/user/memberof") => assert!(q("accountId").is_some()),
        (Method::Get, "/wiki/rest/api/search") => {
            assert!(q("cql").is_some());
            assert_eq!(q("excerpt"), Some("none"));
            let expand = q("expand");
            assert!(
                expand == Some(api::SEARCH_EXPAND)
                    || expand == Some(api::LOOKUP_EXPAND)
                    || expand == Some(api::SCAN_EXPAND),
                "{expand:?}"
            );
        }
        (Method::Delete, "/wiki/rest/api/group/userByGroupId") => {
            assert!(q("groupId").is_some() && q("accountId").is_some());
        }
        (Method::Post, "/wiki/rest/api/group/userByGroupId") => {
            assert!(q("groupId").is_some());
            let body: Value = serde_json::from_slice(r.body.as_deref().expect("body")).unwrap();
            assert!(body["accountId"].is_string());
            assert!(
                r.headers
                    .contains(&("content-type".into(), "application/json".into()))
            );
        }
        (Method::Get, p)
            if p.starts_with("/wiki/rest/api/group/") && p.ends_with("/membersByGroupId") =>
        {
            if let Some(e) = q("expand") {
                assert!(["operations", "personalSpace", "isExternalCollaborator"].contains(&e));
            }
        }
        (Method::Get, "https://api.atlassian.com/admin/v1/orgs") => {}
        (Method::Get, p)
            if p.starts_with("https://api.atlassian.com/admin/v1/orgs/")
                && p.ends_with("/last-active-dates") => {}
        other => panic!("request outside the allowed v1 id-based endpoints: {other:?}"),
    }
}

fn ok(body: Value) -> Result<Response, HttpError> {
    Ok(Response {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    })
}

fn status(code: u16, body: &str) -> Result<Response, HttpError> {
    Ok(Response {
        status: code,
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
    })
}

fn user(id: &str) -> Value {
    let kind = if id.starts_with("bot") {
        "app"
    } else {
        "atlassian"
    };
    let email = if id.ends_with('h') {
        "".to_string()
    } else {
        format!("{id}@example.com")
    };
    json!({
        "type": "known", "accountId": id, "accountType": kind, "email": email,
        "publicName": id, "displayName": format!("User {id}"),
        "isExternalCollaborator": id.starts_with("guest"),
        "_links": {"self": format!("https://example.atlassian.net/wiki/rest/api/user?accountId={id}")}
    })
}

/// An offset page shaped like `UserArray` / `GroupArrayWithLinks`.
fn offset_page(items: Vec<Value>, start: usize, limit: usize, path: &str, total: bool) -> Value {
    let total_len = items.len();
    let slice: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    let mut links = json!({
        "base": "https://example.atlassian.net/wiki",
        "context": "/wiki",
        "self": format!("https://example.atlassian.net/wiki{path}"),
    });
    if start + slice.len() < total_len {
        links["next"] = json!(format!(
            "{path}?start={}&limit={limit}",
            start + slice.len()
        ));
    }
    let mut page =
        json!({"results": slice, "start": start, "limit": limit, "size": 0, "_links": links});
    page["size"] = json!(page["results"].as_array().map_or(0, Vec::len));
    if total {
        page["totalSize"] = json!(total_len);
    }
    page
}

/// A tenant: groups (id -> name, members).
struct Tenant {
    groups: BTreeMap<String, (String, Vec<String>)>,
    total_size: bool,
}

impl Tenant {
    fn serve(&self, r: &Request) -> Result<Response, HttpError> {
        let start: usize = r.query_value("start").map_or(0, |s| s.parse().unwrap());
        let limit: usize = r.query_value("limit").map_or(200, |s| s.parse().unwrap());
        if r.path == "/wiki/rest/api/group" {
            let items = self
                .groups
                .iter()
                .map(|(id, (name, _))| json!({"type": "group", "id": id, "name": name}))
                .collect();
            return ok(offset_page(items, start, limit, "/rest/api/group", false));
        }
        if r.path == "/wiki/rest/api/user/memberof" {
            let who = r.query_value("accountId").unwrap();
            let items: Vec<Value> = self
                .groups
                .iter()
                .filter(|(_, (_, m))| m.iter().any(|u| u == who))
                .map(|(id, (name, _))| json!({"type": "group", "id": id, "name": name}))
                .collect();
            if who == "ghost" {
                return status(404, r#"{"statusCode":404,"message":"No user found"}"#);
            }
            return ok(offset_page(
                items,
                start,
                limit,
                "/rest/api/user/memberof",
                false,
            ));
        }
        if let Some(id) = r
            .path
            .strip_prefix("/wiki/rest/api/group/")
            .and_then(|p| p.strip_suffix("/membersByGroupId"))
        {
            let Some((_, members)) = self.groups.get(id) else {
                return status(404, r#"{"statusCode":404,"message":"Group not found"}"#);
            };
            let items = members.iter().map(|m| user(m)).collect();
            let total = self.total_size && r.query_value("shouldReturnTotalSize") == Some("true");
            let path = format!("/rest/api/group/{id}/membersByGroupId");
            return ok(offset_page(items, start, limit, &path, total));
        }
        panic!("unexpected request {r:?}");
    }
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:04}")).collect()
}

fn config(groups: &[&str]) -> Config {
    Config {
        values: vec![
            (
                "cloud-id".into(),
                "1324a887-45db-1bf4-1e99-ef0ff456d421".into(),
            ),
            // The fake directory's g2 is `confluence-admins`: named, so a reclaim may take it.
            ("reclaim-admin-groups".into(), "confluence-admins".into()),
        ],
        selected_groups: groups.iter().map(|g| (*g).to_string()).collect(),
    }
}

#[test]
fn a_plan_leaves_admin_groups_alone_unless_named() {
    let dir = std::rc::Rc::new(Directory::new(None));
    let d = dir.clone();
    let fake = Fake::new(move |r| d.serve(r));
    let mut cfg = config(&["g1", "g2"]);
    cfg.values.retain(|(k, _)| k != "reclaim-admin-groups");
    let planned = reclaim::plan(&fake, &cfg, &ann()).unwrap();
    assert_eq!(planned.len(), 1);
    assert_eq!(planned[0].target_id, "g1");
    assert!(matches!(
        reclaim::plan(&fake, &config(&["g2"]).tap_without_admins(), &ann()),
        Err(SpokeError::InvalidConfig(m)) if m.contains("admin groups")
    ));
    // Writes carry the XSRF header.
    let planned = reclaim::plan(&fake, &config(&["g1"]), &ann()).unwrap();
    fake.take();
    reclaim::apply(&fake, &ann(), &planned).unwrap();
    assert!(fake.take().iter().all(|r| {
        r.method == Method::Get
            || r.headers
                .contains(&("x-atlassian-token".into(), "no-check".into()))
    }));
}

trait WithoutAdmins {
    fn tap_without_admins(self) -> Self;
}

impl WithoutAdmins for Config {
    fn tap_without_admins(mut self) -> Self {
        self.values.retain(|(k, _)| k != "reclaim-admin-groups");
        self
    }
}

/// Runs a download to the end; returns the pages and the calls each took.
fn download_all(fake: &Fake, cfg: &Config) -> (Vec<SubscriptionPage>, Vec<usize>) {
    let mut pages = Vec::new();
    let mut calls = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let before = fake.count();
        let page = subscriptions::download(fake, cfg, cursor.as_deref()).expect("page");
        // Resuming with the same cursor gives the same page.
        let again = subscriptions::download(fake, cfg, cursor.as_deref()).expect("page");
        assert_eq!(page, again);
        calls.push((fake.count() - before) / 2);
        cursor = page.next_cursor.clone();
        pages.push(page);
        if cursor.is_none() {
            break;
        }
        assert!(pages.len() < 100);
    }
    (pages, calls)
}

/// Merges pages the way the engine does: one seat per user, `granted-by` unioned; a user
/// may appear once per page at most.
fn merge(pages: &[SubscriptionPage]) -> BTreeMap<String, Subscription> {
    let mut all: BTreeMap<String, Subscription> = BTreeMap::new();
    for page in pages {
        let mut on_page = BTreeSet::new();
        for s in &page.subscriptions {
            assert_eq!(s.identifier, "confluence");
            assert!(
                on_page.insert(&s.external_user_id),
                "{} twice on a page",
                s.external_user_id
            );
            match all.get_mut(&s.external_user_id) {
                Some(seen) => {
                    for g in &s.granted_by {
                        assert!(
                            !seen.granted_by.contains(g),
                            "{} repeated for {g}",
                            s.external_user_id
                        );
                        seen.granted_by.push(g.clone());
                    }
                    seen.granted_by.sort();
                }
                None => {
                    all.insert(s.external_user_id.clone(), s.clone());
                }
            }
        }
    }
    all
}

#[test]
fn list_groups_pages_with_cursor() {
    let mut groups = BTreeMap::new();
    for i in 0..250 {
        groups.insert(format!("id-{i:03}"), (format!("group {i}"), Vec::new()));
    }
    let tenant = Tenant {
        groups,
        total_size: false,
    };
    let fake = Fake::new(move |r| tenant.serve(r));
    let p1 = groups::list_groups(&fake, None).unwrap();
    assert_eq!(p1.groups.len(), 200);
    assert_eq!(p1.next_cursor.as_deref(), Some("g1.200"));
    let p2 = groups::list_groups(&fake, p1.next_cursor.as_deref()).unwrap();
    assert_eq!(p2.groups.len(), 50);
    assert_eq!(p2.next_cursor, None);
    // Per page: the page, the three access-type filters, one member count per group.
    assert_eq!(fake.count(), 2 + 2 * 3 + 250);
    assert!(matches!(
        groups::list_groups(&fake, Some("nope")),
        Err(SpokeError::InvalidConfig(_))
    ));
}

#[test]
fn single_group_download_is_one_call_per_page() {
    let mut members = ids("u", 448);
    members.push("bot-confluence-app".into());
    members.push("guest-1".into());
    let mut groups = BTreeMap::new();
    groups.insert(
        "g-users".to_string(),
        ("confluence-users".to_string(), members),
    );
    let tenant = Tenant {
        groups,
        total_size: true,
    };
    let fake = Fake::new(move |r| tenant.serve(r));
    let (pages, calls) = download_all(&fake, &config(&["g-users"]));
    assert_eq!(calls, vec![1, 1, 1]);
    let all = merge(&pages);
    assert_eq!(all.len(), 450);
    assert_eq!(all["bot-confluence-app"].account_type, AccountType::App);
    assert_eq!(all["guest-1"].account_type, AccountType::Guest);
    assert_eq!(all["u0000"].account_type, AccountType::Human);
    assert_eq!(all["u0000"].email.as_deref(), Some("u0000@example.com"));
    assert_eq!(all["u0000"].display_name.as_deref(), Some("User u0000"));
    assert_eq!(all["u0000"].granted_by, vec!["g-users".to_string()]);
}

fn two_group_tenant(total_size: bool) -> Tenant {
    // g-a: 3 admins (one also a user, one only admin), g-b: 450 users, g-c: not selected.
    let mut big = ids("u", 449);
    big.push("both".into());
    let mut groups = BTreeMap::new();
    groups.insert(
        "g-a".to_string(),
        (
            "confluence-admins".to_string(),
            vec!["both".into(), "admin-only".into(), "u0007".into()],
        ),
    );
    groups.insert("g-b".to_string(), ("confluence-users".to_string(), big));
    groups.insert(
        "g-c".to_string(),
        ("jira-users".to_string(), vec!["both".into()]),
    );
    Tenant { groups, total_size }
}

fn check_two_groups(pages: &[SubscriptionPage]) {
    let all = merge(pages);
    assert_eq!(all.len(), 451);
    assert_eq!(
        all["both"].granted_by,
        vec!["g-a".to_string(), "g-b".to_string()]
    );
    assert_eq!(
        all["u0007"].granted_by,
        vec!["g-a".to_string(), "g-b".to_string()]
    );
    assert_eq!(all["admin-only"].granted_by, vec!["g-a".to_string()]);
    assert_eq!(all["u0008"].granted_by, vec!["g-b".to_string()]);
}

#[test]
fn several_groups_cost_one_call_per_member_page() {
    let tenant = two_group_tenant(true);
    let fake = Fake::new(move |r| tenant.serve(r));
    // Selection order does not matter; duplicates are ignored.
    let (pages, calls) = download_all(&fake, &config(&["g-b", "g-a", "g-b"]));
    check_two_groups(&pages);
    // g-a: 3 members (1 page); g-b: 450 members (3 pages); nothing else.
    assert_eq!(calls, vec![1, 1, 1, 1]);
    let sent = fake.take();
    assert!(sent.iter().all(|r| r.path.ends_with("/membersByGroupId")));
}

#[test]
fn a_groups_first_page_asks_its_size_and_tells_the_later_pages() {
    let tenant = two_group_tenant(true);
    let fake = Fake::new(move |r| tenant.serve(r));
    let cfg = config(&["g-a", "g-b"]);
    // g-a (3 members): one page, nothing to tell; it leads to g-b's first page.
    let a = subscriptions::download(&fake, &cfg, None).unwrap();
    assert!(a.following_cursors.is_empty());
    let sent = fake.take();
    assert_eq!(sent[0].query_value("shouldReturnTotalSize"), Some("true"));
    // g-b (450 members): its first page tells the page after its next one (offset 400).
    let b0 = subscriptions::download(&fake, &cfg, a.next_cursor.as_deref()).unwrap();
    assert_eq!(b0.following_cursors.len(), 1, "{:?}", b0.following_cursors);
    assert_eq!(
        fake.take()[0].query_value("shouldReturnTotalSize"),
        Some("true")
    );
    // Each told cursor is the page the one before names next, and later pages neither ask
    // the size nor tell anything.
    let b1 = subscriptions::download(&fake, &cfg, b0.next_cursor.as_deref()).unwrap();
    assert_eq!(b1.next_cursor.as_ref(), b0.following_cursors.first());
    assert!(b1.following_cursors.is_empty());
    assert_eq!(fake.take()[0].query_value("shouldReturnTotalSize"), None);
    let b2 = subscriptions::download(&fake, &cfg, Some(&b0.following_cursors[0])).unwrap();
    assert_eq!(b2.next_cursor, None);
    assert_eq!(
        b0.subscriptions.len() + b1.subscriptions.len() + b2.subscriptions.len(),
        450
    );
    // Without a total (a vendor that does not say), nothing is told.
    let quiet = two_group_tenant(false);
    let fake = Fake::new(move |r| quiet.serve(r));
    let a = subscriptions::download(&fake, &cfg, None).unwrap();
    let b0 = subscriptions::download(&fake, &cfg, a.next_cursor.as_deref()).unwrap();
    assert!(b0.following_cursors.is_empty());
}

#[test]
fn download_rejects_bad_cursor_and_empty_selection() {
    let tenant = two_group_tenant(true);
    let fake = Fake::new(move |r| tenant.serve(r));
    let cfg = config(&["g-a", "g-b"]);
    for bad in ["", "zzz", "s2.1.0.0000000000000000", "s2.9.0.0", "g1.0"] {
        assert!(
            matches!(
                subscriptions::download(&fake, &cfg, Some(bad)),
                Err(SpokeError::InvalidConfig(_))
            ),
            "{bad}"
        );
    }
    let first = subscriptions::download(&fake, &cfg, None).unwrap();
    let c = first.next_cursor.unwrap();
    assert!(matches!(
        subscriptions::download(&fake, &config(&["g-a"]), Some(&c)),
        Err(SpokeError::InvalidConfig(_))
    ));
    assert!(matches!(
        subscriptions::download(&fake, &config(&[]), None),
        Err(SpokeError::InvalidConfig(_))
    ));
    // A deleted selected group is named.
    match subscriptions::download(&fake, &config(&["g-gone"]), None) {
        Err(SpokeError::NotFound(m)) => assert!(m.contains("g-gone")),
        other => panic!("{other:?}"),
    }
}

// ---- activity ----------------------------------------------------------------------

const SINCE: i64 = 1_709_251_200; // 2024-03-01 00:00 UTC

fn result(kind: &str, by: &str, when: &str, number: i64) -> Value {
    json!({
        "content": {
            "id": "123", "type": kind, "status": "current", "title": "T",
            "version": {"by": user(by), "when": when, "number": number, "minorEdit": false},
            "_links": {}
        },
        "title": "T", "excerpt": "", "url": "/spaces/S/pages/123", "breadcrumbs": [],
        "entityType": "content", "iconCssClass": "aui-icon content-type-page",
        "lastModified": when, "friendlyLastModified": "Mar 02, 2024"
    })
}

fn search_page(results: Vec<Value>, next: Option<&str>) -> Value {
    let mut links = json!({"base": "https://example.atlassian.net/wiki", "context": "/wiki", "self": "https://example.atlassian.net/wiki/rest/api/search"});
    if let Some(n) = next {
        links["next"] = json!(n);
    }
    let size = results.len();
    json!({"results": results, "start": 0, "limit": 200, "size": size, "totalSize": size,
           "cqlQuery": "…", "searchDuration": 12, "_links": links})
}

#[test]
fn activity_scan_pages_and_stops_at_the_cutoff() {
    let fake = Fake::new(|r| {
        let cql = r.query_value("cql").unwrap();
        assert_eq!(
            cql,
            "type in (page, blogpost, comment, attachment) and lastmodified >= \"2024-02-29 00:00\" order by lastmodified desc"
        );
        assert_eq!(r.query_value("limit"), Some("200"));
        match r.query_value("cursor") {
            None => ok(search_page(
                vec![
                    result("page", "alice", "2024-03-05T10:00:00.000Z", 3),
                    result("comment", "bob", "2024-03-04T09:00:00.000Z", 1),
                    result("blogpost", "alice", "2024-03-03T08:00:00.000Z", 1),
                ],
                Some(
                    "/rest/api/search?next=true&cursor=_f_MjU%3D_sa_WyJ&limit=200&start=200&expand=content.version&cql=type+in+%28page%29",
                ),
            )),
            Some("_f_MjU=_sa_WyJ") => {
                assert_eq!(r.query_value("next"), Some("true"));
                ok(search_page(
                    vec![
                        result("attachment", "carol", "2024-03-02T07:00:00.000Z", 2),
                        result("page", "dave", "2024-02-29T12:00:00.000Z", 4),
                    ],
                    Some("/rest/api/search?next=true&cursor=more&limit=200"),
                ))
            }
            other => panic!("{other:?}"),
        }
    });
    let p1 = activity::download(&fake, SINCE, None).unwrap();
    assert_eq!(
        p1.activities,
        vec![
            UserActivity {
                external_user_id: "alice".into(),
                status: ActivityStatus::Seen {
                    at: 1_709_632_800,
                    source: "page updated".into(),
                    kind: ActivityKind::ContentUpdated,
                }
            },
            UserActivity {
                external_user_id: "bob".into(),
                status: ActivityStatus::Seen {
                    at: 1_709_542_800,
                    source: "comment created".into(),
                    kind: ActivityKind::ContentCreated,
                }
            },
        ]
    );
    let c = p1.next_cursor.clone().unwrap();
    assert!(c.starts_with("a1.1709251200."));
    let p2 = activity::download(&fake, SINCE, Some(&c)).unwrap();
    assert_eq!(p2.activities.len(), 1);
    assert_eq!(p2.activities[0].external_user_id, "carol");
    assert_eq!(
        p2.next_cursor, None,
        "dave's change is before since: the scan is done"
    );
    assert_eq!(fake.count(), 2);
    assert!(matches!(
        activity::download(&fake, SINCE + 1, Some(&c)),
        Err(SpokeError::InvalidConfig(_))
    ));
    assert!(matches!(
        activity::download(&fake, SINCE, Some("a1.x")),
        Err(SpokeError::InvalidConfig(_))
    ));
}

#[test]
fn activity_lookup_of_one_user_keeps_the_per_user_query() {
    let fake = Fake::new(|r| {
        let cql = r.query_value("cql").unwrap();
        assert_eq!(r.query_value("limit"), Some("1"));
        let who = cql.split('"').nth(1).unwrap().to_string();
        assert!(cql.starts_with(&format!("contributor = \"{who}\" and type in (page, blogpost, comment, attachment) and lastmodified >= \"2024-02-29 00:00\"")));
        match who.as_str() {
            "self-edit" => ok(search_page(
                vec![result("page", "self-edit", "2024-03-10T00:00:00Z", 2)],
                None,
            )),
            "other-edit" => ok(search_page(
                vec![result("page", "someone", "2024-03-11T00:00:00Z", 5)],
                None,
            )),
            "old" => ok(search_page(
                vec![result("page", "old", "2024-02-29T06:00:00Z", 5)],
                None,
            )),
            "idle" => ok(search_page(vec![], None)),
            "hidden" => status(404, r#"{"statusCode":404,"message":"No user"}"#),
            "garbled" => status(200, "<html>"),
            other => panic!("{other}"),
        }
    });
    // One user per lookup: a chunk of one is asked with the per-user query.
    let mut by = BTreeMap::new();
    for who in [
        "self-edit",
        "other-edit",
        "old",
        "idle",
        "hidden",
        "garbled",
    ] {
        let asked = vec![who.to_string(), format!(" {who} "), " ".to_string()];
        let out = activity::lookup(&fake, SINCE, &asked).unwrap();
        assert_eq!(out.len(), 1, "one answer per distinct id");
        by.insert(out[0].external_user_id.clone(), out[0].status.clone());
    }
    assert_eq!(fake.count(), 6, "one query per user");
    assert_eq!(by.len(), 6);
    assert_eq!(
        by["self-edit"],
        ActivityStatus::Seen {
            at: 1_710_028_800,
            source: "page updated".into(),
            kind: ActivityKind::ContentUpdated,
        }
    );
    assert!(
        matches!(&by["other-edit"], ActivityStatus::Seen { at: 1_710_115_200, source, kind: ActivityKind::Contributor } if source.contains("contributed"))
    );
    assert_eq!(by["old"], ActivityStatus::NoneInWindow);
    assert_eq!(by["idle"], ActivityStatus::NoneInWindow);
    assert!(matches!(by["hidden"], ActivityStatus::Unknown(_)));
    assert!(matches!(by["garbled"], ActivityStatus::Unknown(_)));

    let limited = Fake::new(|_| {
        Ok(Response {
            status: 429,
            headers: vec![("retry-after".into(), "30".into())],
            body: Vec::new(),
        })
    });
    assert!(matches!(
        activity::lookup(&limited, SINCE, &["a".to_string()]),
        Err(SpokeError::RateLimited {
            retry_after_seconds: Some(30),
            ..
        })
    ));
    let scope = Fake::new(|_| {
        status(
            401,
            r#"{"code":401,"message":"Unauthorized; scope does not match"}"#,
        )
    });
    assert!(matches!(
        activity::download(&scope, SINCE, None),
        Err(SpokeError::Forbidden { missing_scope: Some(ref s), .. }) if s == "search:confluence"
    ));
}

// ---- batched activity lookup ----------------------------------------------------------

/// An RFC 3339 time, `minutes` after `SINCE`.
fn at(minutes: i64) -> String {
    crate::time::cql_date(SINCE + minutes * 60).replace(' ', "T") + ":00Z"
}

/// How an item's `history.contributors.publishers` is written.
#[derive(Clone, Copy, PartialEq)]
enum Listing {
    /// `users` and `userAccountIds`, as Confluence writes them.
    Both,
    /// `userAccountIds` only.
    AccountIds,
    /// `users` only (`userAccountIds: null`).
    Users,
    /// The last author only, although others contributed.
    AuthorOnly,
    /// No `contributors` at all.
    Missing,
}

/// A content item: last version by `author` at `minutes` after `SINCE`, other publishers.
#[derive(Clone)]
struct Item {
    kind: &'static str,
    author: String,
    others: Vec<String>,
    minutes: i64,
    number: i64,
    listing: Listing,
}

fn item(kind: &'static str, author: &str, others: &[&str], minutes: i64) -> Item {
    Item {
        kind,
        author: author.to_string(),
        others: others.iter().map(|o| (*o).to_string()).collect(),
        minutes,
        number: if others.is_empty() { 1 } else { 3 },
        listing: Listing::Both,
    }
}

impl Item {
    fn contributors(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.author.as_str()).chain(self.others.iter().map(String::as_str))
    }

    fn json(&self, with_history: bool) -> Value {
        let mut v = result(self.kind, &self.author, &at(self.minutes), self.number);
        if !with_history {
            return v;
        }
        let listed: Vec<&str> = match self.listing {
            Listing::AuthorOnly => vec![self.author.as_str()],
            _ => self.contributors().collect(),
        };
        let users: Vec<Value> = listed.iter().map(|u| user(u)).collect();
        let publishers = match self.listing {
            Listing::Both | Listing::AuthorOnly => {
                json!({"users": users, "userAccountIds": listed})
            }
            Listing::AccountIds => json!({"userAccountIds": listed}),
            Listing::Users => json!({"users": users, "userAccountIds": null}),
            Listing::Missing => Value::Null,
        };
        let mut history = json!({"latest": true, "createdBy": user(&self.author),
                                 "_expandable": {"lastUpdated": "", "contributors": ""}});
        if !publishers.is_null() {
            history["contributors"] = json!({"publishers": publishers});
        }
        v["content"]["history"] = history;
        v
    }
}

/// A site answering contributor searches over `items` (sorted newest first), with cursor
/// paging; some ids make any query naming them fail.
struct Site {
    items: Vec<Item>,
}

impl Site {
    fn new(mut items: Vec<Item>) -> Self {
        items.sort_by_key(|it| std::cmp::Reverse(it.minutes));
        Site { items }
    }

    fn serve(&self, r: &Request) -> Result<Response, HttpError> {
        let cql = r.query_value("cql").unwrap();
        let (who, rest) = cql.split_once(" and type in").unwrap();
        assert_eq!(
            rest,
            " (page, blogpost, comment, attachment) and lastmodified >= \"2024-02-29 00:00\" order by lastmodified desc"
        );
        let wanted: Vec<&str> = who.split('"').skip(1).step_by(2).collect();
        let batch = who.starts_with("contributor in (");
        if batch {
            assert_eq!(cql, activity::batch_cql(&wanted, SINCE));
            assert_eq!(r.query_value("expand"), Some(api::LOOKUP_EXPAND));
            assert_eq!(r.query_value("limit"), Some("200"));
            assert!(wanted.len() > 1 && wanted.len() <= activity::MAX_BATCH_IDS);
        } else {
            assert_eq!(cql, activity::user_cql(wanted[0], SINCE));
            assert_eq!(r.query_value("expand"), Some(api::SEARCH_EXPAND));
            assert_eq!(r.query_value("limit"), Some("1"));
        }
        assert_eq!(
            r.query.iter().filter(|(k, _)| k == "cql").count(),
            1,
            "the spoke's own parameters are not repeated from the next link"
        );
        for w in &wanted {
            match *w {
                "hidden" => return status(404, r#"{"statusCode":404,"message":"No user"}"#),
                "rejected" => {
                    return status(
                        400,
                        r#"{"statusCode":400,"data":{"errors":[{"message":{"translation":"Could not parse cql","args":[]}}]}}"#,
                    );
                }
                "secret" => return status(403, r#"{"statusCode":403,"message":"Not permitted"}"#),
                "garbled" => return status(200, "<html>"),
                "limited" => {
                    return Ok(Response {
                        status: 429,
                        headers: vec![("retry-after".into(), "30".into())],
                        body: Vec::new(),
                    });
                }
                "unscoped" => {
                    return status(
                        401,
                        r#"{"code":401,"message":"Unauthorized; scope does not match"}"#,
                    );
                }
                _ => {}
            }
        }
        let matching: Vec<&Item> = self
            .items
            .iter()
            .filter(|it| it.contributors().any(|c| wanted.contains(&c)))
            .collect();
        let limit: usize = r.query_value("limit").unwrap().parse().unwrap();
        let start: usize = r
            .query_value("cursor")
            .map_or(0, |c| c.strip_prefix("at-").unwrap().parse().unwrap());
        let results: Vec<Value> = matching
            .iter()
            .skip(start)
            .take(limit)
            .map(|it| it.json(batch))
            .collect();
        let end = start + results.len();
        let next = (end < matching.len()).then(|| {
            format!(
                "/rest/api/search?cql=contributor+in+%28%22x%22%29&limit={limit}&expand=content.version&excerpt=none&next=true&cursor=at-{end}"
            )
        });
        ok(search_page(results, next.as_deref()))
    }
}

fn site(items: Vec<Item>) -> Fake {
    let site = Site::new(items);
    Fake::new(move |r| site.serve(r))
}

fn strings(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| (*s).to_string()).collect()
}

fn statuses(out: Vec<UserActivity>) -> BTreeMap<String, ActivityStatus> {
    let n = out.len();
    let by: BTreeMap<_, _> = out
        .into_iter()
        .map(|a| (a.external_user_id, a.status))
        .collect();
    assert_eq!(by.len(), n, "one answer per user");
    by
}

fn seen(minutes: i64, source: &str) -> ActivityStatus {
    ActivityStatus::Seen {
        at: SINCE + minutes * 60,
        source: source.into(),
        kind: if source.contains("contributed") {
            ActivityKind::Contributor
        } else if source.ends_with("created") {
            ActivityKind::ContentCreated
        } else {
            ActivityKind::ContentUpdated
        },
    }
}

/// The `cql` of each request, whether batched, and its cursor.
fn searches(fake: &Fake) -> Vec<(bool, Option<String>)> {
    fake.take()
        .iter()
        .map(|r| {
            (
                r.query_value("cql")
                    .unwrap()
                    .starts_with("contributor in ("),
                r.query_value("cursor").map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn activity_batches_are_cut_by_count_and_by_length() {
    let short = ids("u", 120);
    let short: Vec<&str> = short.iter().map(String::as_str).collect();
    let chunks = activity::batches(&short, SINCE);
    let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![50, 50, 20]);
    assert_eq!(chunks.concat(), short, "every id once, in order");
    assert_eq!(
        activity::batch_cql(&["a", "b\"c"], SINCE),
        "contributor in (\"a\", \"b\\\"c\") and type in (page, blogpost, comment, attachment) and lastmodified >= \"2024-02-29 00:00\" order by lastmodified desc"
    );

    // 128-character account ids: the length bound cuts first.
    let long: Vec<String> = (0..100).map(|i| format!("{i:0>128}")).collect();
    let long: Vec<&str> = long.iter().map(String::as_str).collect();
    let chunks = activity::batches(&long, SINCE);
    assert_eq!(chunks.concat(), long);
    assert!(chunks.len() > 100 / activity::MAX_BATCH_IDS + 1);
    for (i, chunk) in chunks.iter().enumerate() {
        let cql = activity::batch_cql(chunk, SINCE);
        assert!(cql.len() <= activity::MAX_BATCH_CQL_BYTES, "{}", cql.len());
        if let Some(next) = chunks.get(i + 1) {
            // Chunks are full: the next id would not have fit.
            let mut more = chunk.clone();
            more.push(next[0]);
            assert!(activity::batch_cql(&more, SINCE).len() > activity::MAX_BATCH_CQL_BYTES);
        }
    }
    // An id too long to share a query is a chunk of its own, between full ones.
    let huge = "x".repeat(activity::MAX_BATCH_CQL_BYTES);
    let mixed = vec!["a", "b", huge.as_str(), "c"];
    assert_eq!(
        activity::batches(&mixed, SINCE),
        vec![vec!["a", "b"], vec![huge.as_str()], vec!["c"]]
    );
}

#[test]
fn activity_lookup_batches_users_into_few_queries() {
    // 120 users, nobody active: three queries in one round, each user asked once.
    let fake = site(vec![item("page", "someone-else", &[], 60)]);
    let asked = ids("u", 120);
    let out = activity::lookup(&fake, SINCE, &asked).unwrap();
    assert_eq!(out.len(), 120);
    assert!(out.iter().all(|a| a.status == ActivityStatus::NoneInWindow));
    assert_eq!(
        out.iter()
            .map(|a| a.external_user_id.clone())
            .collect::<Vec<_>>(),
        asked,
        "answers in the order asked"
    );
    let sent = fake.take();
    assert_eq!(sent.len(), 3, "ceil(120 / 50) queries");
    let mut named = Vec::new();
    for r in &sent {
        let cql = r.query_value("cql").unwrap();
        let (who, _) = cql.split_once(" and type in").unwrap();
        named.extend(who.split('"').skip(1).step_by(2).map(str::to_string));
    }
    assert_eq!(named, asked);
}

#[test]
fn activity_lookup_attributes_authors_and_contributors_from_one_page() {
    let mut only_ids = item("page", "boss", &["via-ids"], 400);
    only_ids.listing = Listing::AccountIds;
    let mut only_users = item("blogpost", "boss", &["via-users"], 350);
    only_users.listing = Listing::Users;
    let fake = site(vec![
        // Newest first: `both` wrote a comment late, and helped on a page earlier.
        item("comment", "both", &[], 500),
        item("page", "boss", &["both", "helper"], 450),
        only_ids,
        only_users,
        item("attachment", "author", &[], 300),
        item("page", "author", &[], 200),
        // Between the CQL cutoff and `since`: outside the window.
        item("page", "boss", &["old"], -600),
    ]);
    let asked = strings(&[
        "both",
        "helper",
        "via-ids",
        "via-users",
        "author",
        "old",
        "absent",
    ]);
    let by = statuses(activity::lookup(&fake, SINCE, &asked).unwrap());
    assert_eq!(
        by["both"],
        seen(500, "comment created"),
        "newest sighting wins"
    );
    assert_eq!(
        by["helper"],
        seen(450, "contributed to a page changed since")
    );
    assert_eq!(
        by["via-ids"],
        seen(400, "contributed to a page changed since")
    );
    assert_eq!(
        by["via-users"],
        seen(350, "contributed to a blog post changed since")
    );
    assert_eq!(by["author"], seen(300, "attachment created"));
    assert_eq!(by["old"], ActivityStatus::NoneInWindow);
    assert_eq!(by["absent"], ActivityStatus::NoneInWindow);
    assert_eq!(searches(&fake), vec![(true, None)], "one query");
}

#[test]
fn activity_lookup_reads_further_pages_only_while_needed() {
    // `busy` fills the first page; `late` shows up on the second.
    let mut items: Vec<Item> = (0..200)
        .map(|i| item("page", "busy", &[], 1_000 + i))
        .collect();
    items.push(item("page", "boss", &["late"], 900));
    // `done`'s first page is full too, but names everyone in its chunk.
    items.extend((0..201).map(|i| item("comment", "done", &["done-too"], 500 - i)));
    // `stale`'s first page is full and has a next link, but reaches changes before `since`.
    items.extend((0..250).map(|i| item("page", "stale", &[], 100 - i)));
    let fake = site(items);

    let by =
        statuses(activity::lookup(&fake, SINCE, &strings(&["busy", "late", "nobody"])).unwrap());
    assert_eq!(by["busy"], seen(1_199, "page created"));
    assert_eq!(by["late"], seen(900, "contributed to a page changed since"));
    assert_eq!(by["nobody"], ActivityStatus::NoneInWindow);
    // A second page for `late`, and no third: it would only hold older items.
    assert_eq!(
        searches(&fake),
        vec![(true, None), (true, Some("at-200".into()))]
    );

    let by = statuses(activity::lookup(&fake, SINCE, &strings(&["done", "done-too"])).unwrap());
    assert_eq!(by["done"], seen(500, "comment updated"));
    assert_eq!(
        by["done-too"],
        seen(500, "contributed to a comment changed since")
    );
    assert_eq!(searches(&fake), vec![(true, None)], "everyone attributed");

    let by = statuses(activity::lookup(&fake, SINCE, &strings(&["stale", "lazy"])).unwrap());
    assert_eq!(by["stale"], seen(100, "page created"));
    assert_eq!(by["lazy"], ActivityStatus::NoneInWindow);
    assert_eq!(
        searches(&fake),
        vec![(true, None)],
        "the window is read to its end"
    );
    fake.rounds();

    // Together: the first pages of all chunks in one round, follow-ups in the next.
    let asked: Vec<String> = strings(&["busy", "late", "nobody"])
        .into_iter()
        .chain((0..47).map(|i| format!("a{i}")))
        .chain(strings(&["stale", "lazy"]))
        .collect();
    let by = statuses(activity::lookup(&fake, SINCE, &asked).unwrap());
    assert_eq!(by["late"], seen(900, "contributed to a page changed since"));
    assert_eq!(by["stale"], seen(100, "page created"));
    assert_eq!(fake.rounds(), vec![2, 1]);
}

#[test]
fn activity_lookup_stops_paging_after_the_cap_and_asks_the_rest_one_by_one() {
    let pages = activity::MAX_BATCH_PAGES as i64 + 2;
    let mut items: Vec<Item> = (0..200 * pages)
        .map(|i| item("page", "busy", &[], 10_000 + i))
        .collect();
    items.push(item("page", "boss", &["late"], 9_000));
    let fake = site(items);
    let by = statuses(activity::lookup(&fake, SINCE, &strings(&["busy", "late", "idle"])).unwrap());
    assert_eq!(
        by["late"],
        seen(9_000, "contributed to a page changed since")
    );
    assert_eq!(by["idle"], ActivityStatus::NoneInWindow);
    let sent = searches(&fake);
    assert_eq!(sent.len(), activity::MAX_BATCH_PAGES + 2);
    assert!(
        sent[..activity::MAX_BATCH_PAGES]
            .iter()
            .all(|(batch, _)| *batch)
    );
    assert!(
        sent[activity::MAX_BATCH_PAGES..]
            .iter()
            .all(|(batch, _)| !*batch)
    );
}

#[test]
fn activity_lookup_falls_back_per_user_when_contributors_are_unreadable() {
    for broken in [Listing::Missing, Listing::AuthorOnly] {
        let mut unreadable = item("page", "boss", &["quiet", "shy"], 300);
        unreadable.listing = broken;
        let fake = site(vec![
            item("page", "early", &[], 400),
            unreadable,
            item("comment", "shy", &[], 200),
        ]);
        let by = statuses(
            activity::lookup(&fake, SINCE, &strings(&["early", "quiet", "shy", "idle"])).unwrap(),
        );
        assert_eq!(
            by["early"],
            seen(400, "page created"),
            "kept from the batch"
        );
        assert_eq!(
            by["quiet"],
            seen(300, "contributed to a page changed since")
        );
        assert_eq!(by["shy"], seen(300, "contributed to a page changed since"));
        assert_eq!(by["idle"], ActivityStatus::NoneInWindow);
        // The batch, then one query for each member it left unattributed, together.
        assert_eq!(
            searches(&fake),
            vec![(true, None), (false, None), (false, None), (false, None)]
        );
        assert_eq!(fake.rounds(), vec![1, 3]);
    }
}

#[test]
fn activity_lookup_falls_back_per_user_when_a_chunk_request_fails() {
    let items = vec![item("page", "active", &[], 300)];
    for bad in ["hidden", "rejected", "secret", "garbled"] {
        let fake = site(items.clone());
        let by =
            statuses(activity::lookup(&fake, SINCE, &strings(&[bad, "active", "idle"])).unwrap());
        assert!(
            matches!(by[bad], ActivityStatus::Unknown(_)),
            "{bad}: {:?}",
            by[bad]
        );
        assert_eq!(by["active"], seen(300, "page created"), "{bad}");
        assert_eq!(by["idle"], ActivityStatus::NoneInWindow, "{bad}");
        assert_eq!(
            searches(&fake),
            vec![(true, None), (false, None), (false, None), (false, None)],
            "{bad}"
        );
    }
    // A bad chunk does not touch the others.
    let fake = site(items.clone());
    let mut asked = ids("u", 50);
    asked[7] = "hidden".into();
    asked.push("active".into());
    asked.push("idle".into());
    let by = statuses(activity::lookup(&fake, SINCE, &asked).unwrap());
    assert!(matches!(by["hidden"], ActivityStatus::Unknown(_)));
    assert_eq!(by["active"], seen(300, "page created"));
    assert_eq!(
        fake.count(),
        2 + 50,
        "two chunks, then the bad one's members"
    );
    assert_eq!(fake.rounds(), vec![2, 50]);

    // Errors about the whole call still fail it.
    let fake = site(items.clone());
    assert!(matches!(
        activity::lookup(&fake, SINCE, &strings(&["limited", "active"])),
        Err(SpokeError::RateLimited {
            retry_after_seconds: Some(30),
            ..
        })
    ));
    let fake = site(items);
    assert!(matches!(
        activity::lookup(&fake, SINCE, &strings(&["unscoped", "active"])),
        Err(SpokeError::Forbidden { missing_scope: Some(ref s), .. }) if s == "search:confluence"
    ));
    let down = Fake::new(|_| Err(HttpError::Timeout));
    assert!(matches!(
        activity::lookup(&down, SINCE, &strings(&["a", "b"])),
        Err(SpokeError::Transient(_))
    ));
}

// ---- reclaim / restore --------------------------------------------------------------

struct Directory {
    groups: RefCell<BTreeMap<String, (String, BTreeSet<String>)>>,
    fail_delete: Option<(&'static str, u16)>,
}

impl Directory {
    fn new(fail_delete: Option<(&'static str, u16)>) -> Self {
        let mut g = BTreeMap::new();
        g.insert(
            "g1".to_string(),
            (
                "confluence-users".to_string(),
                BTreeSet::from(["ann".to_string()]),
            ),
        );
        g.insert(
            "g2".to_string(),
            (
                "confluence-admins".to_string(),
                BTreeSet::from(["ann".to_string()]),
            ),
        );
        g.insert(
            "g3".to_string(),
            (
                "jira-users".to_string(),
                BTreeSet::from(["ann".to_string()]),
            ),
        );
        g.insert(
            "g4".to_string(),
            ("confluence-guests".to_string(), BTreeSet::new()),
        );
        Directory {
            groups: RefCell::new(g),
            fail_delete,
        }
    }
    fn serve(&self, r: &Request) -> Result<Response, HttpError> {
        let who = r.query_value("accountId").map(str::to_string);
        match (r.method, r.path.as_str()) {
            (Method::Get, "/wiki/rest/api/user/memberof") => {
                let who = who.unwrap();
                let items = self
                    .groups
                    .borrow()
                    .iter()
                    .filter(|(_, (_, m))| m.contains(&who))
                    .map(|(id, (name, _))| json!({"type": "group", "id": id, "name": name}))
                    .collect();
                ok(offset_page(items, 0, 200, "/rest/api/user/memberof", false))
            }
            (Method::Delete, _) => {
                let g = r.query_value("groupId").unwrap();
                if let Some((fail, code)) = self.fail_delete
                    && fail == g
                {
                    return status(
                        code,
                        r#"{"statusCode":403,"data":{"authorized":false,"valid":true,"errors":[],"successful":false},"message":"com.atlassian.confluence.api.service.exceptions.PermissionException: Not permitted"}"#,
                    );
                }
                if let Some((_, m)) = self.groups.borrow_mut().get_mut(g) {
                    m.remove(&who.unwrap());
                }
                status(204, "")
            }
            (Method::Post, _) => {
                let g = r.query_value("groupId").unwrap();
                let body: Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
                self.groups
                    .borrow_mut()
                    .get_mut(g)
                    .unwrap()
                    .1
                    .insert(body["accountId"].as_str().unwrap().to_string());
                status(201, "")
            }
            other => panic!("{other:?}"),
        }
    }
    fn member_of(&self, g: &str) -> bool {
        self.groups.borrow()[g].1.contains("ann")
    }
}

fn ann() -> SubscriptionRef {
    SubscriptionRef {
        external_user_id: "ann".into(),
        identifier: "confluence".into(),
        granted_by: vec!["g1".into(), "g2".into()],
    }
}

#[test]
fn plan_reads_apply_writes_and_restore_undoes_them() {
    let dir = std::rc::Rc::new(Directory::new(None));
    let d = dir.clone();
    let fake = Fake::new(move |r| d.serve(r));
    let cfg = config(&["g1", "g2", "g4"]);
    let planned = reclaim::plan(&fake, &cfg, &ann()).unwrap();
    let want = vec![
        SeatChange {
            kind: "group-membership-removed".into(),
            target_id: "g1".into(),
            target_name: Some("confluence-users".into()),
        },
        SeatChange {
            kind: "group-membership-removed".into(),
            target_id: "g2".into(),
            target_name: Some("confluence-admins".into()),
        },
    ];
    assert_eq!(planned, want);
    assert!(
        fake.take().iter().all(|r| r.method == Method::Get),
        "the plan makes no write"
    );
    assert!(dir.member_of("g1") && dir.member_of("g2"));
    let changes = reclaim::apply(&fake, &ann(), &planned).unwrap();
    assert_eq!(changes, want);
    assert!(!dir.member_of("g1") && !dir.member_of("g2") && dir.member_of("g3"));
    let sent = fake.take();
    assert_eq!(sent.len(), 2, "two deletes, nothing read");
    assert!(sent.iter().all(|r| r.method == Method::Delete));
    // Idempotent: applying the same plan again reports it done (204 for a non-member).
    assert_eq!(reclaim::apply(&fake, &ann(), &planned).unwrap(), want);
    // A new plan finds nothing left.
    assert_eq!(reclaim::plan(&fake, &cfg, &ann()).unwrap(), vec![]);
    fake.take();
    reclaim::restore(&fake, &ann(), &changes).unwrap();
    assert!(dir.member_of("g1") && dir.member_of("g2"));
    fake.take();
    // Restoring twice changes nothing.
    reclaim::restore(&fake, &ann(), &changes).unwrap();
    assert!(fake.take().iter().all(|r| r.method == Method::Get));
    let bad = vec![SeatChange {
        kind: "license-removed".into(),
        target_id: "x".into(),
        target_name: None,
    }];
    assert!(matches!(
        reclaim::restore(&fake, &ann(), &bad),
        Err(SpokeError::InvalidConfig(_))
    ));
    assert!(matches!(
        reclaim::apply(&fake, &ann(), &bad),
        Err(SpokeError::InvalidConfig(_))
    ));
    assert!(fake.take().is_empty(), "nothing sent for an unknown change");
}

#[test]
fn apply_after_a_partial_apply_finishes_the_rest() {
    // The vendor already removed g1 (an interrupted apply): applying the whole plan again
    // removes g2 and reports both.
    let dir = std::rc::Rc::new(Directory::new(None));
    let d = dir.clone();
    let fake = Fake::new(move |r| d.serve(r));
    let planned = reclaim::plan(&fake, &config(&["g1", "g2"]), &ann()).unwrap();
    reclaim::apply(&fake, &ann(), &planned[..1]).unwrap();
    assert!(!dir.member_of("g1") && dir.member_of("g2"));
    fake.take();
    assert_eq!(reclaim::apply(&fake, &ann(), &planned).unwrap(), planned);
    assert!(!dir.member_of("g1") && !dir.member_of("g2"));
    // Restoring the plan puts back both, exactly.
    reclaim::restore(&fake, &ann(), &planned).unwrap();
    assert!(dir.member_of("g1") && dir.member_of("g2") && dir.member_of("g3"));
}

#[test]
fn apply_403_is_site_admin_and_a_partial_failure_is_left_to_the_engine() {
    let dir = std::rc::Rc::new(Directory::new(Some(("g1", 403))));
    let d = dir.clone();
    let fake = Fake::new(move |r| d.serve(r));
    let planned = reclaim::plan(&fake, &config(&["g1", "g2"]), &ann()).unwrap();
    match reclaim::apply(&fake, &ann(), &planned) {
        Err(SpokeError::Forbidden {
            message,
            missing_scope: None,
        }) => {
            assert!(message.starts_with("the consenting user must be a site admin"))
        }
        other => panic!("{other:?}"),
    }
    let dir = std::rc::Rc::new(Directory::new(Some(("g2", 503))));
    let d = dir.clone();
    let fake = Fake::new(move |r| d.serve(r));
    let planned = reclaim::plan(&fake, &config(&["g1", "g2"]), &ann()).unwrap();
    fake.take();
    match reclaim::apply(&fake, &ann(), &planned) {
        Err(SpokeError::Transient(m)) => assert!(m.contains("1 of 2 memberships removed"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(
        !dir.member_of("g1"),
        "no rollback: the engine keeps the plan"
    );
    let methods: Vec<Method> = fake.take().iter().map(|r| r.method).collect();
    assert_eq!(methods, vec![Method::Delete, Method::Delete]);
    let wrong = SubscriptionRef {
        identifier: "jira".into(),
        ..ann()
    };
    assert!(matches!(
        reclaim::plan(&fake, &config(&["g1"]), &wrong),
        Err(SpokeError::InvalidConfig(_))
    ));
}

// ---- validate ---------------------------------------------------------------------------

#[test]
fn validate_names_the_missing_scope() {
    let fake = Fake::new(|r| match r.path.as_str() {
        "/wiki/rest/api/search" => status(
            401,
            r#"{"code":401,"message":"Unauthorized; scope does not match"}"#,
        ),
        "/wiki/rest/api/user/current" => ok(user("me")),
        "/wiki/rest/api/group" => ok(offset_page(
            vec![json!({"type": "group", "id": "g1", "name": "n"})],
            0,
            1,
            "/rest/api/group",
            false,
        )),
        p if p.ends_with("/membersByGroupId") => ok(offset_page(
            vec![user("a")],
            0,
            1,
            "/rest/api/group/g1/membersByGroupId",
            false,
        )),
        other => panic!("{other}"),
    });
    let checks = validate::validate(&fake, &config(&["g1"]), &ALL_PROCESSES).unwrap();
    assert_eq!(fake.count(), 3);
    assert!(
        fake.take().iter().all(|r| r.method == Method::Get),
        "validate never writes"
    );
    assert_eq!(checks.len(), 3);
    assert!(checks[0].outcome.is_ok() && checks[1].outcome.is_ok());
    assert_eq!(checks[2].process, Process::DownloadActivity);
    assert!(matches!(
        &checks[2].outcome,
        Err(SpokeError::Forbidden { missing_scope: Some(s), .. }) if s == "search:confluence"
    ));
    let mut cfg = config(&["g1"]);
    cfg.values.clear();
    assert!(matches!(
        validate::validate(&fake, &cfg, &ALL_PROCESSES),
        Err(SpokeError::InvalidConfig(_))
    ));
    assert_eq!(fake.count(), 0);
    let no_groups = validate::validate(&fake, &config(&[]), &ALL_PROCESSES).unwrap();
    assert!(matches!(
        no_groups.last().unwrap().outcome,
        Err(SpokeError::InvalidConfig(_))
    ));
    // With activity off, search is not checked.
    let checks =
        validate::validate(&fake, &config(&["g1"]), &[Process::DownloadSubscriptions]).unwrap();
    assert!(
        checks
            .iter()
            .all(|c| c.process == Process::DownloadSubscriptions)
    );
}

#[test]
fn cursors_are_compact() {
    let c = cursor::encode_download(&cursor::DownloadCursor {
        group: 2,
        start: 4_000,
        fingerprint: 7,
    });
    assert!(c.len() < 64, "{c}");
}
