//! Crash-safe reclaim (intent before action), the way a crash would test it. In process: a
//! vendor with real group memberships whose calls can stop for good at any point (before or
//! after each membership it removes, while planning or re-checking); the test drops the run
//! there, as a `kill -9` would, then reruns (possibly crashing again) and checks that every
//! membership the vendor lost is recorded against its candidate, that nothing is left
//! planned, that the cap holds across the resumes, and that undoing every reclaim puts the
//! vendor back exactly as it was (a proptest over the kill points). Through the real binary:
//! `sam run reclaim` killed with SIGKILL while a loopback proxy holds the Confluence
//! simulator's answer to a membership removal the simulator has already made, then rerun and
//! undone with `sam undo`; and `sam daemon` stopped with SIGTERM during a `POST /api/v1/runs`
//! reclaim, whose client still gets an answer and whose removals are all recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use sam_engine::contract::{ActivityStatus, UserActivity};
use sam_engine::model::{
    AccountType, ActivityState, CandidateState, DAY, IntentStatus, ProcessSet, SeatChange,
    Subscription, UserActivityRecord,
};
use sam_engine::pipeline::{CallCounts, FixedClock, SourceError};
use sam_engine::reclaim::{
    self, Outcome, ReclaimOptions, Reclaimer, SeatActions, SeatPlan, SeatRef, UndoTarget,
};
use sam_engine::store::Store;

use crate::reclaim::{NOW, Recorder, store_with};

const SELECTED: [&str; 2] = ["g1", "g2"];
const KIND: &str = "group-membership-removed";

/// A vendor with memberships (user -> groups) whose calls stop forever at step `kill_at`.
/// Steps are counted at every point a crash can fall between two effects: entering a plan or
/// a lookup, and before and after each membership removal or re-add.
struct CrashVendor {
    members: Mutex<BTreeMap<String, BTreeSet<String>>>,
    steps: AtomicU64,
    kill_at: Option<u64>,
    killed: tokio::sync::Notify,
    writes: AtomicU64,
}

impl CrashVendor {
    fn new(members: BTreeMap<String, BTreeSet<String>>, kill_at: Option<u64>) -> Self {
        Self {
            members: Mutex::new(members),
            steps: AtomicU64::new(0),
            kill_at,
            killed: tokio::sync::Notify::new(),
            writes: AtomicU64::new(0),
        }
    }

    /// Counts a step; at the kill point, never returns.
    async fn step(&self) {
        let n = self.steps.fetch_add(1, Ordering::SeqCst);
        if Some(n) == self.kill_at {
            self.killed.notify_one();
            std::future::pending::<()>().await;
        }
    }

    fn snapshot(&self) -> BTreeMap<String, BTreeSet<String>> {
        self.members.lock().unwrap().clone()
    }
}

impl SeatActions for CrashVendor {
    fn spoke_id(&self) -> &str {
        "fake"
    }

    async fn plan(&self, seat: &SeatRef) -> Result<SeatPlan, SourceError> {
        self.step().await;
        let groups = self.members.lock().unwrap()[&seat.external_user_id].clone();
        Ok(SeatPlan::Planned(
            groups
                .into_iter()
                .filter(|g| SELECTED.contains(&g.as_str()))
                .map(|g| SeatChange {
                    kind: KIND.into(),
                    target_id: g,
                    target_name: None,
                })
                .collect(),
        ))
    }

    async fn apply(&self, seat: &SeatRef, plan: &SeatPlan) -> Result<Vec<SeatChange>, SourceError> {
        let changes = plan.changes().expect("a planned reclaim").to_vec();
        for change in &changes {
            self.step().await;
            self.writes.fetch_add(1, Ordering::SeqCst);
            self.members
                .lock()
                .unwrap()
                .get_mut(&seat.external_user_id)
                .unwrap()
                .remove(&change.target_id);
            self.step().await;
        }
        Ok(changes)
    }

    async fn restore(&self, seat: &SeatRef, changes: &[SeatChange]) -> Result<(), SourceError> {
        for change in changes {
            self.step().await;
            self.members
                .lock()
                .unwrap()
                .get_mut(&seat.external_user_id)
                .unwrap()
                .insert(change.target_id.clone());
        }
        Ok(())
    }

    async fn lookup(&self, _since: i64, ids: &[String]) -> Result<Vec<UserActivity>, SourceError> {
        self.step().await;
        Ok(ids
            .iter()
            .map(|id| UserActivity {
                external_user_id: id.clone(),
                status: ActivityStatus::NoneInWindow,
            })
            .collect())
    }

    fn counts(&self) -> CallCounts {
        CallCounts::default()
    }
}

/// The candidate of `user` (there is one per user in these tenants).
fn candidate_of(store: &Store, user: &str) -> sam_engine::model::RemovalCandidate {
    store
        .read()
        .unwrap()
        .candidates("p")
        .unwrap()
        .into_iter()
        .find(|c| c.external_user_id == user)
        .unwrap()
}

/// `users` inactive seats; user i is in g1, in g2 when i is odd, and always in `other`.
fn tenant(users: usize) -> (tempfile::TempDir, Store, BTreeMap<String, BTreeSet<String>>) {
    let (dir, store) = store_with("fake", ProcessSet::default(), &["g1".into(), "g2".into()]);
    let mut members = BTreeMap::new();
    store
        .write(|tx| {
            for i in 0..users {
                let user = format!("u{i:02}");
                let mut groups: BTreeSet<String> = ["g1", "other"].map(String::from).into();
                if i % 2 == 1 {
                    groups.insert("g2".into());
                }
                tx.put_subscription(&Subscription {
                    profile: "p".into(),
                    external_user_id: user.clone(),
                    identifier: "widget".into(),
                    model: Some(crate::reclaim::MODEL.into()),
                    display_name: None,
                    email: Some(format!("{user}@example.com")),
                    account_type: AccountType::Human,
                    granted_by: groups
                        .iter()
                        .filter(|g| SELECTED.contains(&g.as_str()))
                        .cloned()
                        .collect(),
                    granted_at: None,
                    active: true,
                    first_seen_at: NOW - 400 * DAY,
                    ended_at: None,
                })?;
                tx.put_activity(&UserActivityRecord {
                    profile: "p".into(),
                    external_user_id: user.clone(),
                    last_activity: Some(NOW - 90 * DAY),
                    source: Some("page updated".into()),
                    state: ActivityState::NoneInWindow,
                    kind: None,
                    checked_at: None,
                })?;
                members.insert(user, groups);
            }
            Ok::<_, sam_engine::store::WriteError>(())
        })
        .unwrap();
    (dir, store, members)
}

fn options(max: Option<u64>) -> ReclaimOptions {
    ReclaimOptions {
        max_percent: None,
        max_count: max,
        ..ReclaimOptions::default()
    }
}

/// Runs a reclaim against `vendor`; `true` when it completed, `false` when it was killed.
async fn run_until_killed(store: &Store, vendor: &CrashVendor, max: Option<u64>) -> bool {
    let clock = FixedClock::new(NOW);
    let reclaimer = Reclaimer::new(store).clock(&clock).options(options(max));
    let run = reclaimer.run(vendor, "p");
    tokio::select! {
        outcome = run => { outcome.unwrap(); true }
        _ = vendor.killed.notified() => false,
    }
}

/// The invariants after a run completed: nothing left planned; every membership the vendor
/// lost is recorded, exactly, on a reclaimed candidate; undoing them all restores the vendor.
async fn check_recorded_and_undo(
    store: &Store,
    vendor: &CrashVendor,
    initial: &BTreeMap<String, BTreeSet<String>>,
) -> Result<usize, TestCaseError> {
    let read = store.read().unwrap();
    prop_assert!(
        read.reclaim_intents("p").unwrap().is_empty(),
        "nothing left planned"
    );
    prop_assert!(read.reclaim_run("p").unwrap().is_none(), "the run is over");
    let now = vendor.snapshot();
    let candidates = read.candidates("p").unwrap();
    let mut reclaimed = 0;
    for (user, before) in initial {
        let lost: BTreeSet<String> = before.difference(&now[user]).cloned().collect();
        prop_assert!(
            lost.iter().all(|g| SELECTED.contains(&g.as_str())),
            "{user} lost {lost:?}"
        );
        let complete: Vec<_> = candidates
            .iter()
            .filter(|c| &c.external_user_id == user && c.state == CandidateState::ClosedComplete)
            .collect();
        if lost.is_empty() {
            prop_assert!(
                complete.is_empty(),
                "{user} lost nothing but was recorded reclaimed"
            );
            continue;
        }
        prop_assert_eq!(complete.len(), 1, "{} lost {:?}", user, lost);
        let recorded: BTreeSet<String> = complete[0]
            .reclaim
            .as_ref()
            .unwrap()
            .changes
            .iter()
            .map(|c| c.target_id.clone())
            .collect();
        prop_assert_eq!(&recorded, &lost, "{} lost exactly what was recorded", user);
        reclaimed += 1;
    }
    drop(read);
    let ids: Vec<u64> = store
        .read()
        .unwrap()
        .candidates("p")
        .unwrap()
        .into_iter()
        .filter(|c| c.state == CandidateState::ClosedComplete)
        .map(|c| c.id)
        .collect();
    for id in ids {
        reclaim::undo(
            store,
            vendor,
            &Recorder::default(),
            UndoTarget::Candidate(id),
            "admin",
            NOW + 60,
        )
        .await
        .unwrap();
    }
    prop_assert_eq!(
        &vendor.snapshot(),
        initial,
        "undo put the vendor back exactly"
    );
    Ok(reclaimed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Up to three crashes at arbitrary steps, then a clean run: every lost membership is
    /// recorded, the cap holds across the resumes, and undo restores the vendor exactly.
    #[test]
    fn a_crash_at_any_point_loses_no_membership(
        kills in proptest::collection::vec(0u64..40, 1..=3),
        max in proptest::option::of(1u64..6),
    ) {
        let (_dir, store, initial) = tenant(6);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut members = initial.clone();
        let mut logical_runs = 1;
        for kill in kills {
            let vendor = CrashVendor::new(members.clone(), Some(kill));
            let done = rt.block_on(run_until_killed(&store, &vendor, max));
            members = vendor.snapshot();
            if done {
                // That run completed before the kill point: the next one is a new run.
                logical_runs += 1;
                break;
            }
        }
        let vendor = CrashVendor::new(members, None);
        // The runs are one logical run until one completes: finish it.
        let completed = rt.block_on(run_until_killed(&store, &vendor, max));
        prop_assert!(completed);
        let reclaimed = rt.block_on(check_recorded_and_undo(&store, &vendor, &initial))?;
        if let Some(max) = max {
            // Seats acted on across every resume of one run never exceed its cap.
            prop_assert!(reclaimed as u64 <= max * logical_runs, "{} > {} x {}", reclaimed, max, logical_runs);
        }
    }
}

#[tokio::test]
async fn a_resumed_run_finishes_the_stored_plan_without_planning_again() {
    let (_dir, store, initial) = tenant(2);
    // Kill after the first membership of u01 (in g1 and g2) is removed: u00 has one change
    // (4 steps: plan, lookup came first), so count the steps of a clean run to find it.
    let probe = CrashVendor::new(initial.clone(), None);
    let (_d2, probe_store, _) = tenant(2);
    assert!(run_until_killed(&probe_store, &probe, None).await);
    // Steps: lookup(0), plan u00(1), g1 before/after (2,3), plan u01(4), g1 (5,6), g2 (7,8).
    assert_eq!(probe.steps.load(Ordering::SeqCst), 9);
    let vendor = CrashVendor::new(initial.clone(), Some(6));
    assert!(!run_until_killed(&store, &vendor, None).await);
    let after_crash = vendor.snapshot();
    assert!(!after_crash["u01"].contains("g1") && after_crash["u01"].contains("g2"));
    {
        let read = store.read().unwrap();
        let intents = read.reclaim_intents("p").unwrap();
        assert_eq!(intents.len(), 1);
        assert_eq!(intents[0].external_user_id, "u01");
        assert_eq!(intents[0].status, IntentStatus::Pending);
        let planned: Vec<String> = intents[0]
            .planned
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.target_id.clone())
            .collect();
        assert_eq!(planned, vec!["g1", "g2"]);
        let c = read
            .candidates("p")
            .unwrap()
            .into_iter()
            .find(|c| c.external_user_id == "u01")
            .unwrap();
        assert_eq!(c.state, CandidateState::Reclaiming);
    }
    // The rerun finishes u01 from the stored plan: a fresh plan would now see only g2.
    let vendor = CrashVendor::new(after_crash, None);
    let clock = FixedClock::new(NOW);
    let report = Reclaimer::new(&store)
        .clock(&clock)
        .options(options(None))
        .run(&vendor, "p")
        .await
        .unwrap();
    assert_eq!(report.resumed, 1);
    let resumed: Vec<_> = report.outcomes.iter().filter(|o| o.resumed).collect();
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].outcome, Outcome::Reclaimed);
    let recorded: Vec<&str> = resumed[0]
        .changes
        .iter()
        .map(|c| c.target_id.as_str())
        .collect();
    assert_eq!(recorded, vec!["g1", "g2"], "the whole plan, g1 included");
    // Only the resume's apply ran for u01: no plan call (plan would step once more).
    let c = candidate_of(&store, "u01");
    assert_eq!(c.state, CandidateState::ClosedComplete);
    // And undo gives back both memberships.
    reclaim::undo(
        &store,
        &vendor,
        &Recorder::default(),
        UndoTarget::Candidate(c.id),
        "admin",
        NOW + 60,
    )
    .await
    .unwrap();
    assert_eq!(vendor.snapshot()["u01"], initial["u01"]);
}

#[tokio::test]
async fn undo_before_any_rerun_restores_an_interrupted_plan() {
    let (_dir, store, initial) = tenant(2);
    // Kill after u01's g1 removal (step 6, as above), then undo instead of rerunning.
    let vendor = CrashVendor::new(initial.clone(), Some(6));
    assert!(!run_until_killed(&store, &vendor, None).await);
    let c = candidate_of(&store, "u01");
    assert_eq!(c.state, CandidateState::Reclaiming);
    let vendor = CrashVendor::new(vendor.snapshot(), None);
    let report = reclaim::undo(
        &store,
        &vendor,
        &Recorder::default(),
        UndoTarget::Candidate(c.id),
        "admin",
        NOW + 60,
    )
    .await
    .unwrap();
    assert_eq!(report.changes.len(), 2, "the whole stored plan is restored");
    assert_eq!(vendor.snapshot()["u01"], initial["u01"]);
    let read = store.read().unwrap();
    assert!(read.reclaim_intent("p", c.id).unwrap().is_none());
    assert_eq!(
        read.candidates("p")
            .unwrap()
            .into_iter()
            .find(|x| x.id == c.id)
            .unwrap()
            .state,
        CandidateState::ClosedCanceled
    );
}

#[tokio::test]
async fn the_cap_counts_seats_acted_on_before_a_crash() {
    let (_dir, store, initial) = tenant(6);
    // With --max 3: kill inside the second seat's apply; the resume finishes it and takes
    // one more, three in all.
    let vendor = CrashVendor::new(initial.clone(), Some(6));
    assert!(!run_until_killed(&store, &vendor, Some(3)).await);
    let vendor = CrashVendor::new(vendor.snapshot(), None);
    let clock = FixedClock::new(NOW);
    let report = Reclaimer::new(&store)
        .clock(&clock)
        .options(options(Some(3)))
        .run(&vendor, "p")
        .await
        .unwrap();
    assert_eq!(
        report.acted_before, 2,
        "two seats were planned before the crash"
    );
    let reclaimed = store
        .read()
        .unwrap()
        .candidates("p")
        .unwrap()
        .into_iter()
        .filter(|c| c.state == CandidateState::ClosedComplete)
        .count();
    assert_eq!(reclaimed, 3, "the cap of 3 held across the resume");
    assert_eq!(report.deferred_by_cap.len(), 3);
    // The run is over: the next run has a fresh count.
    assert!(store.read().unwrap().reclaim_run("p").unwrap().is_none());
}

#[tokio::test]
async fn a_failed_apply_keeps_its_plan_for_a_retry_or_an_undo() {
    struct Failing(CrashVendor);
    impl SeatActions for Failing {
        fn spoke_id(&self) -> &str {
            "fake"
        }
        async fn plan(&self, seat: &SeatRef) -> Result<SeatPlan, SourceError> {
            self.0.plan(seat).await
        }
        async fn apply(
            &self,
            seat: &SeatRef,
            plan: &SeatPlan,
        ) -> Result<Vec<SeatChange>, SourceError> {
            // Removes the first membership, then fails.
            let first = plan.changes().unwrap()[0].clone();
            self.0
                .members
                .lock()
                .unwrap()
                .get_mut(&seat.external_user_id)
                .unwrap()
                .remove(&first.target_id);
            Err(SourceError {
                call: "apply-reclaim",
                message: "vendor error: 500".into(),
                spoke_error: None,
                deadline_exceeded: false,
            })
        }
        async fn restore(&self, seat: &SeatRef, changes: &[SeatChange]) -> Result<(), SourceError> {
            self.0.restore(seat, changes).await
        }
        async fn lookup(
            &self,
            since: i64,
            ids: &[String],
        ) -> Result<Vec<UserActivity>, SourceError> {
            self.0.lookup(since, ids).await
        }
        fn counts(&self) -> CallCounts {
            CallCounts::default()
        }
    }
    let (_dir, store, initial) = tenant(2);
    let failing = Failing(CrashVendor::new(initial.clone(), None));
    let clock = FixedClock::new(NOW);
    let report = Reclaimer::new(&store)
        .clock(&clock)
        .options(options(None))
        .run(&failing, "p")
        .await
        .unwrap();
    assert!(report.outcomes.iter().all(|o| o.outcome == Outcome::Failed));
    let intents = store.read().unwrap().reclaim_intents("p").unwrap();
    assert_eq!(intents.len(), 2);
    assert!(
        intents
            .iter()
            .all(|i| matches!(i.status, IntentStatus::Failed(_)))
    );
    // A later run does not touch them (they wait for an admin) and proposes nothing new.
    let vendor = CrashVendor::new(failing.0.snapshot(), None);
    let again = Reclaimer::new(&store)
        .clock(&clock)
        .options(options(None))
        .run(&vendor, "p")
        .await
        .unwrap();
    assert!(again.outcomes.is_empty(), "{:?}", again.outcomes);
    assert!(again.identify.created.is_empty());
    // The admin retries u01 (applies the same plan), and undoes u00 (restores its plan).
    let u = |name: &str| {
        intents
            .iter()
            .find(|i| i.external_user_id == name)
            .unwrap()
            .candidate
    };
    let retry = Reclaimer::new(&store)
        .clock(&clock)
        .options(ReclaimOptions {
            only: Some(vec![u("u01")]),
            ..options(None)
        })
        .run(&vendor, "p")
        .await
        .unwrap();
    assert_eq!(retry.reclaimed, 1);
    assert_eq!(retry.outcomes[0].changes.len(), 2);
    reclaim::undo(
        &store,
        &vendor,
        &Recorder::default(),
        UndoTarget::Candidate(u("u00")),
        "admin",
        NOW + 60,
    )
    .await
    .unwrap();
    assert_eq!(vendor.snapshot()["u00"], initial["u00"]);
    let after = vendor.snapshot();
    assert!(!after["u01"].contains("g1") && !after["u01"].contains("g2"));
    assert!(
        store
            .read()
            .unwrap()
            .reclaim_intents("p")
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------
// The real binary, behind a proxy that holds the vendor's answer to a removal

mod binary {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;
    use std::time::Duration;

    use confluence_sim::SimHandle;
    use sam_engine::model::CandidateState;
    use sam_engine::store::Store;
    use sam_tests::loopback::HoldingProxy;

    use crate::pipeline::{sam, scopes};

    type Memberships = BTreeMap<String, BTreeSet<String>>;

    /// A 60-user tenant whose even-numbered users are also in a second selected group,
    /// downloaded (subscriptions and activity) into a template database through `proxy`.
    pub(super) struct Setup {
        pub sim: SimHandle,
        pub proxy: HoldingProxy,
        pub token: String,
        pub dir: tempfile::TempDir,
        pub template: std::path::PathBuf,
        pub selected: Vec<String>,
    }

    pub(super) async fn setup() -> Setup {
        let sim = crate::pipeline::sim(60).await;
        let token = sim.mint_token(&scopes());
        let proxy = HoldingProxy::start(&sim.base_url()).await.unwrap();
        let users_group = sim.group_id("confluence-users").unwrap();
        let second = sim
            .groups()
            .into_iter()
            .find(|g| {
                !["confluence-users", "confluence-admins", "site-admins"].contains(&g.name.as_str())
            })
            .expect("a fourth group")
            .id;
        let client = reqwest::Client::new();
        for (i, user) in sim.memberships(&users_group).unwrap().iter().enumerate() {
            if i % 2 == 0 {
                let answer = client
                    .post(format!(
                        "{}/wiki/rest/api/group/userByGroupId",
                        sim.connection_url()
                    ))
                    .query(&[("groupId", second.as_str())])
                    .bearer_auth(&token)
                    .json(&serde_json::json!({ "accountId": user }))
                    .send()
                    .await
                    .unwrap();
                assert!(answer.status().is_success(), "{}", answer.status());
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("template.redb");
        let connection = sim
            .connection_url()
            .replacen(&sim.base_url(), &proxy.url(), 1);
        let cloud = format!("cloud-id={}", sim.cloud_id());
        let (db, t) = (template.clone(), token.clone());
        let (g1, g2) = (users_group.clone(), second.clone());
        tokio::task::block_in_place(|| {
            ok(sam(
                &db,
                &t,
                &[
                    "profile",
                    "create",
                    "p",
                    "--spoke",
                    sam_tests::confluence_spoke_wasm(),
                    "--connection-url",
                    &connection,
                    "--grant-host",
                    "127.0.0.1",
                    "--config",
                    &cloud,
                    "--group",
                    &g1,
                    "--group",
                    &g2,
                    "--token-env",
                    "SAM_TEST_TOKEN",
                ],
            ));
            ok(sam(
                &db,
                &t,
                &["run", "download", "--draft", "--profile", "p"],
            ));
            ok(sam(
                &db,
                &t,
                &["run", "activity", "--draft", "--profile", "p"],
            ));
        });
        Setup {
            sim,
            proxy,
            token,
            dir,
            template,
            selected: vec![users_group, second],
        }
    }

    pub(super) fn ok(mut cmd: std::process::Command) -> String {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{:?}: {}{}",
            cmd.get_args().collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(super) fn memberships(sim: &SimHandle) -> Memberships {
        sim.users()
            .into_iter()
            .map(|u| {
                let groups = sim
                    .user_groups(&u.account_id)
                    .unwrap()
                    .into_iter()
                    .collect();
                (u.account_id, groups)
            })
            .collect()
    }

    /// Every membership the vendor lost is recorded, exactly, on the user's reclaimed
    /// candidate, and nothing is left planned; returns the reclaimed candidates' ids.
    pub(super) fn check_recorded(
        db: &Path,
        before: &Memberships,
        after: &Memberships,
        selected: &[String],
    ) -> Vec<u64> {
        let store = Store::open(db).unwrap();
        let read = store.read().unwrap();
        assert!(
            read.reclaim_intents("p").unwrap().is_empty(),
            "nothing left planned"
        );
        let candidates = read.candidates("p").unwrap();
        let mut ids = Vec::new();
        for (user, groups) in before {
            let lost: BTreeSet<String> = groups.difference(&after[user]).cloned().collect();
            assert!(
                lost.iter().all(|g| selected.contains(g)),
                "{user} lost {lost:?}"
            );
            let complete: Vec<_> = candidates
                .iter()
                .filter(|c| {
                    &c.external_user_id == user && c.state == CandidateState::ClosedComplete
                })
                .collect();
            if lost.is_empty() {
                assert!(
                    complete.is_empty(),
                    "{user} is recorded reclaimed but lost nothing"
                );
                continue;
            }
            assert_eq!(complete.len(), 1, "{user} lost {lost:?} with no record");
            let recorded: BTreeSet<String> = complete[0]
                .reclaim
                .as_ref()
                .unwrap()
                .changes
                .iter()
                .map(|c| c.target_id.clone())
                .collect();
            assert_eq!(
                recorded, lost,
                "{user}: recorded {recorded:?}, lost {lost:?}"
            );
            ids.push(complete[0].id);
        }
        ids
    }

    pub(super) async fn wait_for_deletes(
        proxy: &HoldingProxy,
        n: u64,
        child: &mut std::process::Child,
    ) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while proxy.deletes_answered() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "no removal reached the vendor"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "sam exited before the kill point"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// SIGKILL while the vendor's answer to a removal it has already made is held: the rerun
/// records it (from the stored plan), and `sam undo` puts the vendor back exactly. Three
/// kill points: the first, second and fourth removal of the run (users in one and in two
/// selected groups).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_the_vendors_write_and_the_record_loses_no_membership() {
    use binary::*;
    let s = setup().await;
    let before = memberships(&s.sim);
    for (i, kill_after) in [1u64, 2, 4].into_iter().enumerate() {
        let db = s.dir.path().join(format!("kill-{i}.redb"));
        std::fs::copy(&s.template, &db).unwrap();
        let start = s.proxy.deletes_answered();
        s.proxy.hold_nth(kill_after, Duration::from_secs(600));
        let mut child = crate::pipeline::sam(
            &db,
            &s.token,
            &[
                "run",
                "reclaim",
                "--draft",
                "--profile",
                "p",
                "--max",
                "3",
                "--max-percent",
                "100",
            ],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
        wait_for_deletes(&s.proxy, start + kill_after, &mut child).await;
        child.kill().unwrap(); // SIGKILL, with the vendor's answer still held
        tokio::task::block_in_place(|| child.wait()).unwrap();
        s.proxy.hold_nth(0, Duration::ZERO);
        assert_ne!(memberships(&s.sim), before, "the vendor made the change");

        let (d, t) = (db.clone(), s.token.clone());
        let out = tokio::task::block_in_place(|| {
            ok(crate::pipeline::sam(
                &d,
                &t,
                &[
                    "run",
                    "reclaim",
                    "--draft",
                    "--profile",
                    "p",
                    "--max",
                    "3",
                    "--max-percent",
                    "100",
                    "--json",
                ],
            ))
        });
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["resumed"], 1, "{report}");
        let after = memberships(&s.sim);
        let ids = check_recorded(&db, &before, &after, &s.selected);
        assert_eq!(ids.len(), 3, "the cap of 3 held across the kill");
        for id in ids {
            let (d, t) = (db.clone(), s.token.clone());
            tokio::task::block_in_place(|| {
                ok(crate::pipeline::sam(&d, &t, &["undo", &id.to_string()]))
            });
        }
        assert_eq!(
            memberships(&s.sim),
            before,
            "undo put the vendor back exactly"
        );
    }
}

/// SIGTERM to `sam daemon` during a `POST /api/v1/runs` reclaim whose removal answer is held: the
/// seat in flight is finished and recorded, the client gets an answer (not an empty reply),
/// the daemon exits cleanly, and nothing was removed without a record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_to_the_daemon_mid_reclaim_answers_the_client_and_records_the_seat() {
    use binary::*;
    let s = setup().await;
    let before = memberships(&s.sim);
    let db = s.dir.path().join("daemon.redb");
    std::fs::copy(&s.template, &db).unwrap();
    s.proxy.hold_nth(1, Duration::from_millis(1500));
    let mut child = crate::pipeline::sam(&db, &s.token, &["daemon", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr = crate::daemon::daemon_addr(&db, &mut child).await;
    let start = s.proxy.deletes_answered();
    let api_token = sam_engine::app::tokens::read_local_token(&db).expect("the daemon's token");
    let post = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("http://{addr}/api/v1/runs"))
            .bearer_auth(api_token)
            .json(&serde_json::json!({ "profile": "p", "process": "reclaim", "draft": true }))
            .send()
            .await
    });
    wait_for_deletes(&s.proxy, start + 1, &mut child).await;
    crate::daemon::signal(child.id(), "TERM");
    let answer = post
        .await
        .unwrap()
        .expect("the client gets an answer, not an empty reply");
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    assert!(
        body["reclaimed"].as_u64().unwrap() >= 1,
        "the seat in flight was finished: {body}"
    );
    let exit = tokio::task::block_in_place(|| child.wait()).unwrap();
    assert!(exit.success(), "a clean exit: {exit:?}");
    s.proxy.hold_nth(0, Duration::ZERO);
    let after = memberships(&s.sim);
    let ids = check_recorded(&db, &before, &after, &s.selected);
    assert!(!ids.is_empty());
    // The stopped run is not over: it resumes (and may take more) on the next run.
    for id in ids {
        let (d, t) = (db.clone(), s.token.clone());
        tokio::task::block_in_place(|| {
            ok(crate::pipeline::sam(&d, &t, &["undo", &id.to_string()]))
        });
    }
    assert_eq!(memberships(&s.sim), before);
}
