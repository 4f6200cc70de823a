//! The REST surface against the seeded organization: seat listing and `Link` pagination,
//! the billing summary, one member's seat, assigning and cancelling seats for users and
//! teams (pending cancellation until the next cycle, the 422 for team-granted seats, restore
//! by team membership), activity retention, members and teams, errors and the inspection API.

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use github_sim::{Endpoint, SimClock, SimConfig};
use reqwest::Method;
use serde_json::{Value, json};

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test]
async fn seats_paginate_with_link_headers_and_match_the_state() {
    let sim = start().await;
    let tok = sim.mint_classic_token(OWNER_SCOPES).unwrap();
    let org = sim.org().to_string();
    // Default page: 50, with next/last and no prev/first on page 1.
    let a = get(&sim, &tok, &format!("/orgs/{org}/copilot/billing/seats")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["total_seats"], 300);
    assert_eq!(a.body["seats"].as_array().unwrap().len(), 50);
    let rels: Vec<String> = links(&a).into_iter().map(|(r, _)| r).collect();
    assert_eq!(rels, ["next", "last"]);
    assert!(link(&a, "last").unwrap().contains("per_page=50&page=6"));
    assert!(link(&a, "next").unwrap().starts_with(&sim.base_url()));
    // Page 2 has all four.
    let a2 = get(&sim, &tok, &link(&a, "next").unwrap()).await;
    let rels: HashSet<String> = links(&a2).into_iter().map(|(r, _)| r).collect();
    assert_eq!(
        rels,
        HashSet::from(["prev", "next", "last", "first"].map(String::from))
    );
    // per_page above 100 is clamped; following next visits every seat exactly once.
    let (seats, pages) = collect(
        &sim,
        &tok,
        &format!("/orgs/{org}/copilot/billing/seats?per_page=1000"),
        Some("seats"),
    )
    .await;
    assert_eq!(pages, 3);
    let logins: HashSet<String> = seats
        .iter()
        .map(|s| s["assignee"]["login"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(logins.len(), 300);
    let truth: HashSet<String> = sim.seats().into_iter().map(|s| s.login).collect();
    assert_eq!(logins, truth);
    // Team-granted seats carry assigning_team; direct ones do not; pending ones have a date.
    for s in &seats {
        let login = s["assignee"]["login"].as_str().unwrap();
        let info = sim.user(login).unwrap();
        assert_eq!(
            s["assigning_team"]["slug"].as_str().map(str::to_string),
            info.assigning_team,
            "{login}"
        );
        assert_eq!(
            s["pending_cancellation_date"].as_str().map(str::to_string),
            info.pending_cancellation_date
        );
        assert_eq!(s["plan_type"], "business");
    }
    assert!(seats.iter().any(|s| s["assigning_team"].is_object()));
    assert!(
        seats
            .iter()
            .any(|s| s["pending_cancellation_date"] == "2025-07-01")
    );
    // A single page has no Link header at all.
    let one = get(
        &sim,
        &tok,
        &format!("/orgs/{org}/copilot/billing/seats?per_page=100&page=9"),
    )
    .await;
    assert_eq!(one.body["seats"].as_array().unwrap().len(), 0);
    let small = start_with(SimConfig {
        seats: 10,
        ..config()
    })
    .await;
    let t2 = small.mint_classic_token(OWNER_SCOPES).unwrap();
    let a = get(
        &small,
        &t2,
        &format!("/orgs/{}/copilot/billing/seats", small.org()),
    )
    .await;
    assert_eq!(a.body["total_seats"], 10);
    assert!(a.header("link").is_none());
}

#[tokio::test]
async fn idle_users_have_null_activity_and_the_clock_moves_it() {
    let sim = start().await;
    let tok = sim.mint_classic_token(OWNER_SCOPES).unwrap();
    let org = sim.org().to_string();
    let (seats, _) = collect(
        &sim,
        &tok,
        &format!("/orgs/{org}/copilot/billing/seats?per_page=100"),
        Some("seats"),
    )
    .await;
    let null = seats
        .iter()
        .filter(|s| s["last_activity_at"].is_null())
        .count();
    assert!(null > 30 && null < 150, "{null}");
    for s in &seats {
        assert_eq!(
            s["last_activity_at"].is_null(),
            s["last_activity_editor"].is_null()
        );
    }
    // An idle-for-90+-days holder: the simulator knows the old activity, the API says null.
    let idle = sim
        .seats()
        .into_iter()
        .find(|u| u.last_activity_ms.is_some_and(|a| T0 - a > 90 * 86_400_000))
        .unwrap();
    let a = get(
        &sim,
        &tok,
        &format!("/orgs/{org}/members/{}/copilot", idle.login),
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(a.body["last_activity_at"].is_null());
    // Activity now shows; 90 days later it is null again.
    assert!(sim.record_activity(&idle.login));
    let a = get(
        &sim,
        &tok,
        &format!("/orgs/{org}/members/{}/copilot", idle.login),
    )
    .await;
    assert_eq!(a.body["last_activity_at"], "2025-06-15T12:00:00Z");
    assert!(a.body["last_activity_editor"].is_string());
    sim.clock().advance(DAY * 89);
    let a = get(
        &sim,
        &tok,
        &format!("/orgs/{org}/members/{}/copilot", idle.login),
    )
    .await;
    assert!(a.body["last_activity_at"].is_string());
    sim.clock().advance(DAY);
    let a = get(
        &sim,
        &tok,
        &format!("/orgs/{org}/members/{}/copilot", idle.login),
    )
    .await;
    assert!(a.body["last_activity_at"].is_null());
}

fn direct_active(sim: &github_sim::SimHandle, n: usize) -> Vec<String> {
    sim.seats()
        .into_iter()
        .filter(|u| u.direct && u.assigning_team.is_none() && u.pending_cancellation_date.is_none())
        .take(n)
        .map(|u| u.login)
        .collect()
}

#[tokio::test]
async fn cancelling_a_direct_seat_leaves_it_until_the_next_cycle_and_restoring_refreshes_it() {
    let sim = start().await;
    let tok = sim.mint_classic_token(OWNER_SCOPES).unwrap();
    let org = sim.org().to_string();
    let users = direct_active(&sim, 2);
    let before = sim.seat_count();
    let a = call(
        &sim,
        Method::DELETE,
        Some(&tok),
        &format!("/orgs/{org}/copilot/billing/selected_users"),
        Some(json!({ "selected_usernames": users })),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body, json!({ "seats_cancelled": 2 }));
    // Cancelling again counts nothing (already pending).
    let again = call(
        &sim,
        Method::DELETE,
        Some(&tok),
        &format!("/orgs/{org}/copilot/billing/selected_users"),
        Some(json!({ "selected_usernames": [users[0]] })),
    )
    .await;
    assert_eq!(again.body, json!({ "seats_cancelled": 0 }));
    let a = get(
        &sim,
        &tok,
        &format!("/orgs/{org}/members/{}/copilot", users[0]),
    )
    .await;
    assert_eq!(a.body["pending_cancellation_date"], "2025-07-01");
    assert_eq!(sim.seat_count(), before);
    let billing = get(&sim, &tok, &format!("/orgs/{org}/copilot/billing")).await;
    let pending = billing.body["seat_breakdown"]["pending_cancellation"]
        .as_u64()
        .unwrap();
    // Restore the second one before the boundary: the pending date is cleared.
    let a = call(
        &sim,
        Method::POST,
        Some(&tok),
        &format!("/orgs/{org}/copilot/billing/selected_users"),
        Some(json!({ "selected_usernames": [users[1]] })),
    )
    .await;
    assert_eq!(a.status, 201);
    assert_eq!(a.body, json!({ "seats_created": 1 }));
    let a = get(
        &sim,
        &tok,
        &format!("/orgs/{org}/members/{}/copilot", users[1]),
    )
    .await;
    assert!(a.body["pending_cancellation_date"].is_null());
    // The cycle ends (2025-07-01): every pending seat disappears, the restored one stays.
    sim.clock().set_ms(T0 + 16 * 86_400_000 - 12 * 3_600_000);
    assert_eq!(sim.seat_count(), (before as u64 - pending + 1) as usize);
    let a = get(
        &sim,
        &tok,
        &format!("/orgs/{org}/members/{}/copilot", users[0]),
    )
    .await;
    assert_eq!(a.status, 404);
    let a = get(
        &sim,
        &tok,
        &format!("/orgs/{org}/members/{}/copilot", users[1]),
    )
    .await;
    assert_eq!(a.status, 200);
    let billing = get(&sim, &tok, &format!("/orgs/{org}/copilot/billing")).await;
    assert_eq!(billing.body["seat_breakdown"]["pending_cancellation"], 0);
    assert_eq!(billing.body["seat_breakdown"]["total"], sim.seat_count());
    // Re-assigning after the boundary creates a new seat, created now.
    let a = call(
        &sim,
        Method::POST,
        Some(&tok),
        &format!("/orgs/{org}/copilot/billing/selected_users"),
        Some(json!({ "selected_usernames": [users[0]] })),
    )
    .await;
    assert_eq!(a.status, 201);
    let a = get(
        &sim,
        &tok,
        &format!("/orgs/{org}/members/{}/copilot", users[0]),
    )
    .await;
    assert_eq!(a.body["created_at"], "2025-07-01T00:00:00Z");
}

#[tokio::test]
async fn a_team_granted_seat_gives_422_and_is_reclaimed_through_the_team() {
    let sim = start().await;
    let tok = sim.mint_classic_token(OWNER_SCOPES).unwrap();
    let org = sim.org().to_string();
    let seats = sim.seats();
    let via_team = seats
        .iter()
        .find(|u| u.assigning_team.is_some() && !u.direct && u.teams.len() == 1)
        .unwrap()
        .clone();
    let direct = direct_active(&sim, 1).remove(0);
    // All or nothing: the direct seat in the same request is not cancelled either.
    let a = call(
        &sim,
        Method::DELETE,
        Some(&tok),
        &format!("/orgs/{org}/copilot/billing/selected_users"),
        Some(json!({ "selected_usernames": [direct, via_team.login] })),
    )
    .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(a.body["message"].as_str().unwrap().contains("via a team"));
    assert_eq!(a.body["documentation_url"], "https://docs.github.com/rest");
    assert!(
        sim.user(&direct)
            .unwrap()
            .pending_cancellation_date
            .is_none()
    );
    // Removing the user from the granting team makes the seat pending.
    let team = via_team.assigning_team.clone().unwrap();
    let a = call(
        &sim,
        Method::DELETE,
        Some(&tok),
        &format!("/orgs/{org}/teams/{team}/memberships/{}", via_team.login),
        None,
    )
    .await;
    assert_eq!(a.status, 204);
    let s = get(
        &sim,
        &tok,
        &format!("/orgs/{org}/members/{}/copilot", via_team.login),
    )
    .await;
    assert_eq!(s.body["pending_cancellation_date"], "2025-07-01");
    assert!(s.body.get("assigning_team").is_none());
    // Removing again: not a member any more.
    let a = call(
        &sim,
        Method::DELETE,
        Some(&tok),
        &format!("/orgs/{org}/teams/{team}/memberships/{}", via_team.login),
        None,
    )
    .await;
    assert_eq!(a.status, 404);
    // Restore: put them back in the team.
    let a = call(
        &sim,
        Method::PUT,
        Some(&tok),
        &format!("/orgs/{org}/teams/{team}/memberships/{}", via_team.login),
        None,
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["state"], "active");
    assert_eq!(a.body["role"], "member");
    let s = get(
        &sim,
        &tok,
        &format!("/orgs/{org}/members/{}/copilot", via_team.login),
    )
    .await;
    assert!(s.body["pending_cancellation_date"].is_null());
    assert_eq!(s.body["assigning_team"]["slug"], team.as_str());
    // Adding an invitee keeps the membership pending; they still have no seat (422).
    let invited = sim.users().into_iter().find(|u| u.invited).unwrap();
    let a = call(
        &sim,
        Method::PUT,
        Some(&tok),
        &format!("/orgs/{org}/teams/{team}/memberships/{}", invited.login),
        Some(json!({ "role": "maintainer" })),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["state"], "pending");
    assert_eq!(a.body["role"], "maintainer");
    assert!(!sim.user(&invited.login).unwrap().has_seat);
    let s = get(
        &sim,
        &tok,
        &format!("/orgs/{org}/members/{}/copilot", invited.login),
    )
    .await;
    assert_eq!(s.status, 422);
    // A team synchronized with an IdP refuses membership writes.
    sim.set_team_synced(&team, true);
    let a = call(
        &sim,
        Method::DELETE,
        Some(&tok),
        &format!("/orgs/{org}/teams/{team}/memberships/{}", via_team.login),
        None,
    )
    .await;
    assert_eq!(a.status, 403);
    assert!(sim.user(&via_team.login).unwrap().teams.contains(&team));
}

#[tokio::test]
async fn assigning_and_cancelling_whole_teams() {
    let sim = start().await;
    let tok = sim.mint_classic_token(OWNER_SCOPES).unwrap();
    let org = sim.org().to_string();
    let teams = sim.teams();
    let plain = teams
        .iter()
        .find(|t| !t.copilot && !t.members.is_empty())
        .unwrap()
        .clone();
    let a = call(
        &sim,
        Method::POST,
        Some(&tok),
        &format!("/orgs/{org}/copilot/billing/selected_teams"),
        Some(json!({ "selected_teams": [plain.slug] })),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["seats_created"], plain.members.len());
    for m in &plain.members {
        let u = sim.user(m).unwrap();
        assert!(u.has_seat && u.pending_cancellation_date.is_none(), "{m}");
    }
    // Cancelling the team: members with no other cover go pending, the others keep theirs.
    let covered_elsewhere = plain
        .members
        .iter()
        .filter(|m| {
            let u = sim.user(m).unwrap();
            u.direct
                || u.teams
                    .iter()
                    .any(|t| t != &plain.slug && teams.iter().any(|x| &x.slug == t && x.copilot))
        })
        .count();
    let a = call(
        &sim,
        Method::DELETE,
        Some(&tok),
        &format!("/orgs/{org}/copilot/billing/selected_teams"),
        Some(json!({ "selected_teams": [plain.slug] })),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body["seats_cancelled"],
        plain.members.len() - covered_elsewhere
    );
    // Unknown team: 422, nothing changes.
    let a = call(
        &sim,
        Method::POST,
        Some(&tok),
        &format!("/orgs/{org}/copilot/billing/selected_teams"),
        Some(json!({ "selected_teams": ["no-such-team"] })),
    )
    .await;
    assert_eq!(a.status, 422);
}

#[tokio::test]
async fn bad_bodies_and_wrong_orgs_get_githubs_errors() {
    let sim = start().await;
    let tok = sim.mint_classic_token(OWNER_SCOPES).unwrap();
    let org = sim.org().to_string();
    let path = format!("/orgs/{org}/copilot/billing/selected_users");
    for (body, status, code) in [
        (json!({ "selected_usernames": [] }), 422, Some("invalid")),
        (json!({}), 422, Some("missing_field")),
        (
            json!({ "selected_usernames": "alice" }),
            422,
            Some("invalid"),
        ),
        (json!({ "selected_usernames": [1] }), 422, Some("invalid")),
        (json!(["x"]), 400, None),
    ] {
        let a = call(&sim, Method::POST, Some(&tok), &path, Some(body.clone())).await;
        assert_eq!(a.status, status, "{body}: {}", a.body);
        if let Some(c) = code {
            assert_eq!(a.body["errors"][0]["code"], c, "{body}");
            assert_eq!(a.body["errors"][0]["field"], "selected_usernames");
        }
    }
    let raw = client()
        .post(format!("{}{path}", sim.base_url()))
        .bearer_auth(&tok)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    // A non-member in the list: 422 and nobody is assigned.
    let someone = sim
        .users()
        .into_iter()
        .find(|u| !u.has_seat && !u.invited)
        .unwrap();
    let a = call(
        &sim,
        Method::POST,
        Some(&tok),
        &path,
        Some(json!({ "selected_usernames": [someone.login, "ghost-user"] })),
    )
    .await;
    assert_eq!(a.status, 422);
    assert!(!sim.user(&someone.login).unwrap().has_seat);
    // Another org, an unknown path, an unknown member: 404 with GitHub's body.
    let a = get(&sim, &tok, "/orgs/other-org/copilot/billing/seats").await;
    assert_eq!(a.status, 404);
    assert_eq!(a.body["message"], "Not Found");
    assert_eq!(get(&sim, &tok, "/orgs/x/nothing").await.status, 404);
    assert_eq!(
        get(
            &sim,
            &tok,
            &format!("/orgs/{org}/members/ghost-user/copilot")
        )
        .await
        .status,
        404
    );
    // Org names are case-insensitive.
    assert_eq!(
        get(
            &sim,
            &tok,
            &format!("/orgs/{}/copilot/billing", org.to_uppercase())
        )
        .await
        .status,
        200
    );
    // An invited user: 422; a member without a seat: 404.
    let invited = sim.users().into_iter().find(|u| u.invited).unwrap();
    let a = get(
        &sim,
        &tok,
        &format!("/orgs/{org}/members/{}/copilot", invited.login),
    )
    .await;
    assert_eq!(a.status, 422);
    let a = get(
        &sim,
        &tok,
        &format!("/orgs/{org}/members/{}/copilot", someone.login),
    )
    .await;
    assert_eq!(a.status, 404);
    // An unsupported API version: 400.
    let r = client()
        .get(format!("{}/orgs/{org}/copilot/billing", sim.base_url()))
        .bearer_auth(&tok)
        .header("X-GitHub-Api-Version", "2019-01-01")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn writes_need_assign_selected() {
    let sim = start_with(SimConfig {
        seat_management_setting: "assign_all".into(),
        seats: 20,
        ..config()
    })
    .await;
    let tok = sim.mint_classic_token(OWNER_SCOPES).unwrap();
    let u = sim.seats()[0].login.clone();
    let a = call(
        &sim,
        Method::POST,
        Some(&tok),
        &format!("/orgs/{}/copilot/billing/selected_users", sim.org()),
        Some(json!({ "selected_usernames": [u] })),
    )
    .await;
    assert_eq!(a.status, 422);
    let b = get(&sim, &tok, &format!("/orgs/{}/copilot/billing", sim.org())).await;
    assert_eq!(b.body["seat_management_setting"], "assign_all");
}

#[tokio::test]
async fn members_teams_and_team_members_paginate() {
    let sim = start().await;
    let tok = sim.mint_classic_token(&["read:org"]).unwrap();
    let org = sim.org().to_string();
    let (members, pages) = collect(
        &sim,
        &tok,
        &format!("/orgs/{org}/members?per_page=100"),
        None,
    )
    .await;
    let expected = sim.users().iter().filter(|u| !u.invited).count();
    assert_eq!(members.len(), expected);
    assert_eq!(pages, expected.div_ceil(100));
    let admins = get(&sim, &tok, &format!("/orgs/{org}/members?role=admin")).await;
    assert_eq!(admins.body.as_array().unwrap().len(), 2);
    assert_eq!(
        get(&sim, &tok, &format!("/orgs/{org}/members?role=boss"))
            .await
            .status,
        422
    );
    let (teams, _) = collect(&sim, &tok, &format!("/orgs/{org}/teams?per_page=3"), None).await;
    assert_eq!(teams.len(), 8);
    assert_eq!(teams[0]["slug"], "platform");
    assert_eq!(teams[0]["type"], "organization");
    let t = &sim.teams()[0];
    let (tm, _) = collect(
        &sim,
        &tok,
        &format!("/orgs/{org}/teams/{}/members?per_page=7", t.slug),
        None,
    )
    .await;
    let got: HashSet<&str> = tm.iter().map(|m| m["login"].as_str().unwrap()).collect();
    assert_eq!(got, t.members.iter().map(String::as_str).collect());
    assert!(tm.iter().any(|m| m["role"] == "maintainer"));
    assert!(tm.iter().all(|m| m["inherited"] == false));
    assert_eq!(
        get(&sim, &tok, &format!("/orgs/{org}/teams/nope/members"))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn the_organization_is_deterministic_from_the_seed_and_has_every_kind_of_seat() {
    let a = start().await;
    let b = start().await;
    assert_eq!(a.users(), b.users());
    assert_eq!(a.app_client_id(), b.app_client_id());
    assert_eq!(a.app_private_key_pem(), b.app_private_key_pem());
    let c = start_with(SimConfig {
        seed: 8,
        ..config()
    })
    .await;
    assert_ne!(a.users(), c.users());
    let seats = a.seats();
    assert!(seats.iter().any(|u| u.direct && u.assigning_team.is_none()));
    assert!(
        seats
            .iter()
            .any(|u| !u.direct && u.assigning_team.is_some())
    );
    assert!(seats.iter().any(|u| u.direct && u.assigning_team.is_some()));
    assert!(seats.iter().any(|u| u.pending_cancellation_date.is_some()));
    assert!(seats.iter().any(|u| u.last_activity_ms.is_none()));
    assert!(a.users().iter().any(|u| u.suspended));
    assert!(a.users().iter().any(|u| u.invited));
}

#[tokio::test]
async fn one_hundred_thousand_seats_start_fast_and_page_to_the_end() {
    let sim = start_with(SimConfig {
        seats: 100_000,
        log_calls: false,
        clock: SimClock::fixed(T0),
        ..config()
    })
    .await;
    assert!(
        sim.startup_time() < Duration::from_secs(10),
        "{:?}",
        sim.startup_time()
    );
    let tok = sim.mint_classic_token(OWNER_SCOPES).unwrap();
    let first = get(
        &sim,
        &tok,
        &format!("/orgs/{}/copilot/billing/seats?per_page=100", sim.org()),
    )
    .await;
    assert_eq!(first.body["total_seats"], 100_000);
    let last = link(&first, "last").unwrap();
    assert!(last.ends_with("page=1000"), "{last}");
    let a = get(&sim, &tok, &last).await;
    assert_eq!(a.body["seats"].as_array().unwrap().len(), 100);
    assert!(link(&a, "next").is_none());
    assert_eq!(sim.calls_to(Endpoint::ListSeats), 2);
}

#[tokio::test]
async fn the_inspection_api_reads_state_and_moves_the_clock() {
    let sim = start().await;
    let base = sim.base_url();
    let c = client();
    let state: Value = c
        .get(format!("{base}/_sim/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["seats"], 300);
    assert_eq!(state["now"], "2025-06-15T12:00:00Z");
    let seats: Value = c
        .get(format!("{base}/_sim/seats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seats.as_array().unwrap().len(), 300);
    let teams: Value = c
        .get(format!("{base}/_sim/teams"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(teams.as_array().unwrap().len(), 8);
    // Mint a token over HTTP and use it; the call is logged, inspection calls are not.
    let t: Value = c
        .post(format!("{base}/_sim/tokens"))
        .json(&json!({"type": "classic", "scopes": ["read:org"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tok = t["token"].as_str().unwrap();
    assert!(tok.starts_with("ghp_"));
    assert_eq!(
        get(&sim, tok, &format!("/orgs/{}/copilot/billing", sim.org()))
            .await
            .status,
        200
    );
    let calls: Value = c
        .get(format!("{base}/_sim/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls.as_array().unwrap().len(), 1);
    assert_eq!(calls[0]["endpoint"], "GET /orgs/{org}/copilot/billing");
    assert_eq!(calls[0]["status"], 200);
    let counts: Value = c
        .get(format!("{base}/_sim/calls/counts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counts["GET /orgs/{org}/copilot/billing"], 1);
    let clock: Value = c
        .post(format!("{base}/_sim/clock"))
        .json(&json!({"advance_secs": 86400}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(clock["now"], "2025-06-16T12:00:00Z");
    let clock: Value = c
        .post(format!("{base}/_sim/clock"))
        .json(&json!({"set": "2025-07-01T00:00:00Z"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(clock["epoch_ms"], 1_751_328_000_000i64);
    // The cycle boundary has passed: the pending seats are gone.
    let state: Value = c
        .get(format!("{base}/_sim/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["pending_cancellation"], 0);
    assert!(state["seats"].as_u64().unwrap() < 300);
    let bad = c
        .post(format!("{base}/_sim/clock"))
        .json(&json!({"set": "yesterday"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let app: Value = c
        .get(format!("{base}/_sim/app"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        app["private_key_pem"]
            .as_str()
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY")
    );
}
