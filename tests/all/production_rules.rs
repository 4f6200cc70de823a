//! Atlassian's production rules (issue 19), the Confluence spoke against the simulator with
//! the rules switched ON: writes carry `X-Atlassian-Token: no-check` and an empty 201 that
//! declares JSON is success; groups say what they grant and how many members they list;
//! admin groups are never touched by a reclaim unless the profile names them; a reclaim-only
//! profile (no search scope, no organization key) refuses to reclaim instead of failing seat
//! by seat, and any run stops after five failures in a row.

use std::collections::BTreeSet;
use std::sync::Arc;

use confluence_sim::{
    Endpoint, FaultConfig, ProductionRules, RateLimitConfig, SimClock, SimConfig, SimHandle,
    Simulator,
};
use sam_engine::contract::{GroupAccess, SubscriptionRef};
use sam_engine::host::StaticToken;
use sam_engine::model::{CandidateState, DAY};
use sam_engine::pipeline::{FixedClock, Pipeline, SpokeSource};
use sam_engine::reclaim::{
    Outcome, ReclaimOptions, Reclaimer, SpokeSeats, run::MAX_CONSECUTIVE_FAILURES,
};

use crate::pipeline::{confluence, confluence_config, scopes, store_with_profile};

/// 2026-11-01T00:00:00Z.
const NOW: i64 = 1_793_491_200;

async fn tenant(users: usize) -> SimHandle {
    Simulator::start(SimConfig {
        users,
        seed: 23,
        clock: SimClock::fixed(NOW * 1000),
        rate_limit: RateLimitConfig::unlimited(),
        rules: ProductionRules {
            require_xsrf_header: true,
            require_json_content_type: true,
            empty_201_declared_json: true,
            extra_groups: true,
        },
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn session_for(
    spoke: &sam_engine::host::LoadedSpoke,
    sim: &SimHandle,
    scopes: &[&str],
) -> Arc<sam_engine::host::GateSession> {
    spoke
        .session(
            &sim.connection_url(),
            &["127.0.0.1".to_string()],
            Arc::new(StaticToken::new(sim.mint_token(scopes))),
        )
        .unwrap()
}

#[tokio::test]
async fn writes_carry_the_xsrf_header_admin_groups_stay_and_groups_say_what_they_grant() {
    let sim = tenant(200).await;
    let host = crate::host();
    let spoke = confluence(&host).await;
    let session = session_for(&spoke, &sim, &scopes());

    // Groups: access level from the accessType filters, member counts from totalSize.
    let page = spoke
        .list_groups(&session, &confluence_config(&sim, &[]), None)
        .await
        .unwrap();
    let by_name = |n: &str| page.groups.iter().find(|g| g.name == n).unwrap();
    assert_eq!(by_name("confluence-users").access, GroupAccess::Product);
    assert_eq!(
        by_name("confluence-contractors").access,
        GroupAccess::Product
    );
    assert_eq!(by_name("confluence-admins").access, GroupAccess::Admin);
    assert_eq!(by_name("site-admins").access, GroupAccess::SiteAdmin);
    assert_eq!(by_name("jira-admins").access, GroupAccess::None);
    for g in &page.groups {
        let listed = sim
            .groups()
            .into_iter()
            .find(|s| s.id == g.id)
            .unwrap()
            .listed_members;
        assert_eq!(g.member_count, Some(listed as u64), "{}", g.name);
    }

    // The consenting user holds confluence-users, confluence-admins, site-admins, org-admins.
    let admin = sim.consenting_account_id();
    let all = [
        "confluence-users",
        "confluence-admins",
        "site-admins",
        "org-admins",
    ];
    let config = confluence_config(&sim, &all);
    let seat = SubscriptionRef {
        external_user_id: admin.clone(),
        identifier: "confluence".into(),
        granted_by: config.selected_groups.clone(),
    };
    let plan = spoke.plan_reclaim(&session, &config, &seat).await.unwrap();
    let names: BTreeSet<String> = plan.iter().filter_map(|c| c.target_name.clone()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["confluence-users".to_string()]),
        "admin groups are left alone"
    );
    // Named explicitly, an admin group is part of the plan.
    let mut named = config.clone();
    named
        .values
        .push(("reclaim-admin-groups".into(), "confluence-admins".into()));
    let plan_named = spoke.plan_reclaim(&session, &named, &seat).await.unwrap();
    assert_eq!(plan_named.len(), 2, "{plan_named:?}");
    // A seat held only through admin groups is refused with the reason.
    let only_admin = confluence_config(&sim, &["site-admins", "org-admins"]);
    let err = spoke
        .plan_reclaim(&session, &only_admin, &seat)
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("admin groups"), "{err:?}");

    // Apply and restore with the XSRF rule and the JSON content-type rule on: the writes
    // carry the header (else 403 "XSRF check failed"), and the empty 201 that declares JSON
    // is success.
    let group = sim.group_id("confluence-users").unwrap();
    let done = spoke
        .apply_reclaim(&session, &config, &seat, &plan)
        .await
        .unwrap();
    assert_eq!(done, plan);
    assert!(!sim.memberships(&group).unwrap().contains(&admin));
    spoke
        .restore(&session, &config, &seat, &plan)
        .await
        .unwrap();
    assert!(sim.memberships(&group).unwrap().contains(&admin));
    assert!(
        sim.calls()
            .iter()
            .filter(|c| matches!(
                c.endpoint,
                Some(Endpoint::AddMember | Endpoint::RemoveMember)
            ))
            .all(|c| c.status == 201 || c.status == 204),
        "every write was accepted"
    );
}

/// A profile with candidates: downloaded and scanned with every scope, then evaluated.
async fn profile_with_candidates(
    sim: &SimHandle,
    spoke: &sam_engine::host::LoadedSpoke,
) -> (tempfile::TempDir, sam_engine::store::Store) {
    let (dir, store) = store_with_profile("confluence-cloud", None);
    store
        .write(|tx| {
            let mut p = tx.profile("p")?.unwrap();
            p.processes.reclaim = true;
            p.processes.activity = true;
            tx.put_profile(&p)
        })
        .unwrap();
    let source = SpokeSource::new(
        spoke.clone(),
        session_for(spoke, sim, &scopes()),
        confluence_config(sim, &["confluence-users"]),
    );
    let clock = FixedClock::new(NOW);
    Pipeline::new(&store)
        .clock(&clock)
        .download_subscriptions(&source, "p")
        .await
        .unwrap();
    Pipeline::new(&store)
        .clock(&clock)
        .download_activity(&source, "p")
        .await
        .unwrap();
    (dir, store)
}

#[tokio::test]
async fn a_reclaim_only_profile_refuses_and_any_run_stops_after_five_failures() {
    let sim = tenant(300).await;
    let host = crate::host();
    let spoke = confluence(&host).await;
    let (_dir, store) = profile_with_candidates(&sim, &spoke).await;
    let config = confluence_config(&sim, &["confluence-users"]);
    let clock = FixedClock::new(NOW + DAY);
    let options = ReclaimOptions {
        max_count: Some(50),
        max_percent: None,
        ..ReclaimOptions::default()
    };

    // The reference guide's least-privilege reclaim row: no search scope, no org key.
    let reclaim_only = ["read:confluence-groups", "write:confluence-groups"];
    let seats = SpokeSeats::new(
        spoke.clone(),
        session_for(&spoke, &sim, &reclaim_only),
        config.clone(),
    )
    .with_granted_scopes(Some(reclaim_only.iter().map(|s| s.to_string()).collect()));
    sim.reset_calls();
    let err = Reclaimer::new(&store)
        .clock(&clock)
        .options(options.clone())
        .run(&seats, "p")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot re-check"), "{err}");
    assert_eq!(sim.calls().len(), 0, "no call was made");
    let cands = store.read().unwrap().candidates("p").unwrap();
    assert!(cands.len() > 10, "there are candidates: {}", cands.len());
    assert!(
        cands.iter().all(|c| c.state == CandidateState::Ready),
        "no candidate was marked"
    );

    // With every scope but a failing membership read: five failures, then the run stops.
    sim.set_fault(
        Endpoint::UserMemberOf,
        FaultConfig {
            error_rate: 1.0,
            error_status: 500,
            ..FaultConfig::default()
        },
    );
    let seats = SpokeSeats::new(spoke.clone(), session_for(&spoke, &sim, &scopes()), config);
    let report = Reclaimer::new(&store)
        .clock(&clock)
        .options(options)
        .run(&seats, "p")
        .await
        .unwrap();
    let failed = report
        .outcomes
        .iter()
        .filter(|o| o.outcome == Outcome::Failed)
        .count();
    assert_eq!(failed, MAX_CONSECUTIVE_FAILURES, "{:?}", report.outcomes);
    assert!(report.halted.is_some());
    assert!(!report.halted_untouched.is_empty());
    let cands = store.read().unwrap().candidates("p").unwrap();
    let attention = cands
        .iter()
        .filter(|c| matches!(c.state, CandidateState::AttentionRequired(_)))
        .count();
    assert_eq!(attention, MAX_CONSECUTIVE_FAILURES);
}

#[tokio::test]
async fn a_suspended_users_seat_ends_saying_it_may_be_a_suspension() {
    let sim = tenant(120).await;
    let host = crate::host();
    let spoke = confluence(&host).await;
    let (_dir, store) = store_with_profile("confluence-cloud", None);
    let source = SpokeSource::new(
        spoke.clone(),
        session_for(&spoke, &sim, &scopes()),
        confluence_config(&sim, &["confluence-users"]),
    );
    let clock = FixedClock::new(NOW);
    Pipeline::new(&store)
        .clock(&clock)
        .download_subscriptions(&source, "p")
        .await
        .unwrap();
    // Suspended: still a member, but Atlassian leaves them out of the listing.
    let user = crate::pipeline::members(&sim, "confluence-users")
        .into_iter()
        .find(|u| *u != sim.consenting_account_id())
        .unwrap();
    assert!(sim.set_suspended(&user, true));
    let job = Pipeline::new(&store)
        .clock(&FixedClock::new(NOW + 3600))
        .download_subscriptions(&source, "p")
        .await
        .unwrap();
    assert_eq!(job.ended, 1);
    let seat = store
        .read()
        .unwrap()
        .subscription("p", &user, "confluence")
        .unwrap()
        .unwrap();
    assert!(!seat.active);
    let log = store.read().unwrap().audit_log().unwrap();
    let entry = log
        .iter()
        .rev()
        .find(|e| e.detail.contains("no longer reported"))
        .expect("the ended seat is audited");
    assert!(
        entry.detail.contains("suspended or deactivated") && entry.detail.contains("not proof"),
        "{}",
        entry.detail
    );
}
