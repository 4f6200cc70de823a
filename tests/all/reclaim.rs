//! Reclamation: rule evaluation (thresholds, recent grants, apps, exclusions), the candidate
//! states and their transition log, the reclaim run through an in-process fake spoke (audit
//! before and after, undo, activity re-check, Reclaim toggle off, profile deletion), the
//! notify flow through a webhook on a loopback axum server, three property tests (an excluded
//! user is never reclaimed; a run never exceeds its cap; a dry run makes no write call), the
//! CLI in-process, and the end-to-end run against the Confluence simulator: download,
//! activity, candidates, reclaim (the users really leave the groups), undo (they are back),
//! and the license position before and after.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use confluence_sim::{Endpoint, RateLimitConfig, SimClock, SimConfig, SimHandle, Simulator};
use proptest::prelude::*;
use sam_engine::contract::{ActivitySeen, ActivityStatus, Config, UserActivity};
use sam_engine::host::{LoadedSpoke, StaticToken};
use sam_engine::model::{
    AccountType, ActivityState, AuditAction, AuthKind, CandidateState, ComplianceStatus,
    Connection, DAY, Entitlement, ExclusionRule, ExclusionScope, ExclusionTarget,
    IntegrationProfile, LicenseMetric, ProcessSet, ProfileStatus, ReclamationRule, Rights,
    SeatChange, SelectedGroup, Subscription, UserActivityRecord, UserAnswer,
};
use sam_engine::pipeline::{CallCounts, FixedClock, Pipeline, SourceError, SpokeSource};
use sam_engine::reclaim::{
    self, Notice, NoticeKind, Notifier, NotifyError, Outcome, ReclaimError, ReclaimOptions,
    Reclaimer, SeatActions, SeatPlan, SeatRef, SpokeSeats, UndoTarget, WebhookNotifier,
};
use sam_engine::store::Store;

use crate::host;

pub const NOW: i64 = 1_750_000_000;
pub const MODEL: &str = "acme/widget";
const SPOKE: &str = "fake";

// ---------------------------------------------------------------------------------------
// Helpers

/// A store with profile `p` of spoke `spoke_id` with the given processes.
pub fn store_with(
    spoke_id: &str,
    processes: ProcessSet,
    groups: &[String],
) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("sam.redb")).unwrap();
    let profile = IntegrationProfile {
        name: "p".into(),
        display_name: "p".into(),
        spoke_id: spoke_id.into(),
        spoke_path: String::new(),
        status: ProfileStatus::Published,
        processes,
        analyze_from: None,
        config: Vec::new(),
        connection: format!("{spoke_id}.subscription_activity_reclaim.p"),
        created_at: NOW,
    };
    let connection = Connection {
        alias: profile.connection.clone(),
        connection_url: "http://127.0.0.1:1".into(),
        granted_hosts: vec!["127.0.0.1".into()],
        auth: AuthKind::StaticTokenEnv {
            variable: "SAM_TEST_UNSET_TOKEN".into(),
        },
    };
    let groups: Vec<SelectedGroup> = groups
        .iter()
        .map(|g| SelectedGroup {
            profile: "p".into(),
            group_id: g.clone(),
            name: None,
        })
        .collect();
    store
        .write(|tx| tx.create_profile(&profile, &connection, &groups))
        .unwrap();
    (dir, store)
}

/// What a fake seat's user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Active 5 days ago.
    Recent,
    /// Last active 90 days ago.
    Old,
    /// No activity in the window.
    None,
    /// The activity download never asked.
    NoRecord,
    /// The vendor could not tell.
    Unknown,
}

/// One seat of the fake tenant.
#[derive(Debug, Clone)]
pub struct Seat {
    pub user: String,
    pub act: Act,
    pub app: bool,
    pub email: bool,
    pub granted_days_ago: Option<i64>,
}

pub fn seat(user: &str, act: Act) -> Seat {
    Seat {
        user: user.into(),
        act,
        app: false,
        email: true,
        granted_days_ago: None,
    }
}

/// Writes the seats (subscriptions of `MODEL` with identifier `widget`) and their activity.
pub fn put_seats(store: &Store, seats: &[Seat]) {
    store
        .write(|tx| {
            for s in seats {
                tx.put_subscription(&Subscription {
                    profile: "p".into(),
                    external_user_id: s.user.clone(),
                    identifier: "widget".into(),
                    model: Some(MODEL.into()),
                    display_name: Some(format!("User {}", s.user)),
                    email: s.email.then(|| format!("{}@example.com", s.user)),
                    account_type: if s.app {
                        AccountType::App
                    } else {
                        AccountType::Human
                    },
                    granted_by: vec!["g1".into()],
                    granted_at: s.granted_days_ago.map(|d| NOW - d * DAY),
                    active: true,
                    first_seen_at: NOW - 400 * DAY,
                    ended_at: None,
                })?;
                let (last, state) = match s.act {
                    Act::Recent => (Some(NOW - 5 * DAY), ActivityState::Seen),
                    Act::Old => (Some(NOW - 90 * DAY), ActivityState::NoneInWindow),
                    Act::None => (None, ActivityState::NoneInWindow),
                    Act::Unknown => (None, ActivityState::Unknown("hidden".into())),
                    Act::NoRecord => continue,
                };
                tx.put_activity(&UserActivityRecord {
                    profile: "p".into(),
                    external_user_id: s.user.clone(),
                    last_activity: last,
                    source: last.map(|_| "page updated".into()),
                    state,
                    kind: None,
                    checked_at: None,
                })?;
            }
            Ok::<_, sam_engine::store::WriteError>(())
        })
        .unwrap();
}

/// An in-process spoke: counts its calls, remembers the seats it took back.
#[derive(Default)]
pub struct FakeSeats {
    /// Users whose lookup says they were just active.
    pub active_now: Mutex<BTreeSet<String>>,
    /// Users whose reclaim fails.
    pub failing: BTreeSet<String>,
    pub reclaimed: Mutex<Vec<String>>,
    pub restored: Mutex<Vec<(String, Vec<SeatChange>)>>,
    pub writes: AtomicU64,
    pub lookups: AtomicU64,
    /// Users asked about, per lookup call.
    pub lookup_sizes: Mutex<Vec<usize>>,
}

impl SeatActions for FakeSeats {
    fn spoke_id(&self) -> &str {
        SPOKE
    }

    async fn plan(&self, seat: &SeatRef) -> Result<SeatPlan, SourceError> {
        Ok(SeatPlan::Planned(
            seat.granted_by
                .iter()
                .map(|g| SeatChange {
                    kind: "group-membership-removed".into(),
                    target_id: g.clone(),
                    target_name: None,
                })
                .collect(),
        ))
    }

    async fn apply(&self, seat: &SeatRef, plan: &SeatPlan) -> Result<Vec<SeatChange>, SourceError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        if self.failing.contains(&seat.external_user_id) {
            return Err(SourceError {
                call: "apply-reclaim",
                message: "forbidden: missing scope write:groups".into(),
                spoke_error: None,
                deadline_exceeded: false,
            });
        }
        self.reclaimed
            .lock()
            .unwrap()
            .push(seat.external_user_id.clone());
        Ok(plan.changes().unwrap_or_default().to_vec())
    }

    async fn restore(&self, seat: &SeatRef, changes: &[SeatChange]) -> Result<(), SourceError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.restored
            .lock()
            .unwrap()
            .push((seat.external_user_id.clone(), changes.to_vec()));
        Ok(())
    }

    async fn lookup(&self, _since: i64, ids: &[String]) -> Result<Vec<UserActivity>, SourceError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.lookup_sizes.lock().unwrap().push(ids.len());
        let active = self.active_now.lock().unwrap();
        Ok(ids
            .iter()
            .map(|id| UserActivity {
                external_user_id: id.clone(),
                status: if active.contains(id) {
                    ActivityStatus::Seen(ActivitySeen {
                        at: NOW - DAY,
                        source: "page created".into(),
                        kind: sam_engine::contract::ActivitySource::ContentCreated,
                    })
                } else {
                    ActivityStatus::NoneInWindow
                },
            })
            .collect())
    }

    fn counts(&self) -> CallCounts {
        CallCounts::default()
    }
}

/// A notifier that keeps what it was given.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<Notice>>);

impl Notifier for Recorder {
    fn notify<'a>(
        &'a self,
        notice: &'a Notice,
    ) -> futures::future::BoxFuture<'a, Result<(), NotifyError>> {
        self.0.lock().unwrap().push(notice.clone());
        Box::pin(async { Ok(()) })
    }
}

fn no_cap() -> ReclaimOptions {
    ReclaimOptions {
        max_percent: None,
        ..ReclaimOptions::default()
    }
}

fn states(store: &Store) -> BTreeMap<String, CandidateState> {
    store
        .read()
        .unwrap()
        .candidates("p")
        .unwrap()
        .into_iter()
        .map(|c| (c.external_user_id, c.state))
        .collect()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn profile(store: &Store) -> IntegrationProfile {
    store.read().unwrap().profile("p").unwrap().unwrap()
}

// ---------------------------------------------------------------------------------------
// Rule evaluation and the state machine

#[test]
fn inactive_seats_become_candidates_and_recent_grants_apps_and_excluded_users_do_not() {
    let (_dir, store) = store_with(SPOKE, ProcessSet::default(), &[]);
    let mut app = seat("app", Act::Old);
    app.app = true;
    let mut fresh = seat("fresh", Act::None);
    fresh.granted_days_ago = Some(10);
    let mut granted_long_ago = seat("granted-long-ago", Act::None);
    granted_long_ago.granted_days_ago = Some(100);
    put_seats(
        &store,
        &[
            seat("recent", Act::Recent),
            seat("old", Act::Old),
            seat("never", Act::None),
            seat("unasked", Act::NoRecord),
            seat("unknown", Act::Unknown),
            seat("vip", Act::Old),
            app,
            fresh,
            granted_long_ago,
        ],
    );
    store
        .write(|tx| {
            tx.put_exclusion(&ExclusionRule {
                id: "1".into(),
                target: ExclusionTarget::User("VIP@example.com".into()),
                scope: ExclusionScope::Reclamation,
                active: true,
                note: None,
                created_at: NOW,
            })
        })
        .unwrap();
    let summary = store
        .write(|tx| reclaim::identify(tx, &profile(&store), NOW))
        .unwrap();
    assert_eq!(summary.rules_created, [MODEL]);
    assert_eq!(summary.excluded_seats, 2, "the VIP and the app");
    let got: Vec<String> = states(&store).into_keys().collect();
    assert_eq!(got, ["granted-long-ago", "never", "old"]);
    let rule = store.read().unwrap().rule(MODEL).unwrap().unwrap();
    assert_eq!(
        (
            rule.inactivity_days,
            rule.notify_user,
            rule.include_no_activity,
            rule.exclude_apps
        ),
        (60, false, true, true)
    );
    // Each candidate starts Ready, its creation the first transition, with a reason.
    for c in store.read().unwrap().candidates("p").unwrap() {
        assert_eq!(c.state, CandidateState::Ready);
        assert_eq!(c.history.len(), 1);
        assert_eq!((c.history[0].at, c.history[0].actor.as_str()), (NOW, "sam"));
        assert!(c.history[0].reason.contains("threshold 60 days"), "{c:?}");
    }
    // Evaluating again creates nothing new.
    let again = store
        .write(|tx| reclaim::identify(tx, &profile(&store), NOW))
        .unwrap();
    assert!(again.created.is_empty() && again.rules_created.is_empty());

    // Without "include no activity", only the seat with old activity is a candidate.
    let (_dir2, store2) = store_with(SPOKE, ProcessSet::default(), &[]);
    put_seats(&store2, &[seat("old", Act::Old), seat("never", Act::None)]);
    store2
        .write(|tx| {
            let mut r = ReclamationRule::default_for(MODEL, NOW);
            r.include_no_activity = false;
            tx.put_rule(&r)
        })
        .unwrap();
    store2
        .write(|tx| reclaim::identify(tx, &profile(&store2), NOW))
        .unwrap();
    assert_eq!(states(&store2).into_keys().collect::<Vec<_>>(), ["old"]);
}

#[test]
fn activity_seen_later_cancels_an_open_candidate_and_a_new_exclusion_skips_one() {
    let (_dir, store) = store_with(SPOKE, ProcessSet::default(), &[]);
    put_seats(&store, &[seat("a", Act::Old), seat("b", Act::Old)]);
    store
        .write(|tx| reclaim::identify(tx, &profile(&store), NOW))
        .unwrap();
    store
        .write(|tx| {
            tx.put_activity(&UserActivityRecord {
                profile: "p".into(),
                external_user_id: "a".into(),
                last_activity: Some(NOW + DAY),
                source: Some("comment".into()),
                state: ActivityState::Seen,
                kind: None,
                checked_at: None,
            })?;
            tx.put_exclusion(&ExclusionRule {
                id: "1".into(),
                target: ExclusionTarget::User("b".into()),
                scope: ExclusionScope::Both,
                active: true,
                note: None,
                created_at: NOW,
            })
        })
        .unwrap();
    let summary = store
        .write(|tx| reclaim::identify(tx, &profile(&store), NOW + 2 * DAY))
        .unwrap();
    assert_eq!(summary.canceled.len(), 1);
    assert_eq!(summary.skipped.len(), 1);
    let s = states(&store);
    assert_eq!(s["a"], CandidateState::ClosedCanceled);
    assert_eq!(s["b"], CandidateState::ClosedSkipped);
    let a = store
        .read()
        .unwrap()
        .candidates("p")
        .unwrap()
        .into_iter()
        .find(|c| c.external_user_id == "a")
        .unwrap();
    let last = a.history.last().unwrap();
    assert_eq!(last.from, Some(CandidateState::Ready));
    assert!(last.reason.contains("activity detected"), "{last:?}");
    // A closed candidate's seat is not proposed again right away.
    let again = store
        .write(|tx| reclaim::identify(tx, &profile(&store), NOW + 3 * DAY))
        .unwrap();
    assert!(again.created.is_empty(), "{again:?}");
}

#[test]
fn deleting_a_profile_skips_its_open_candidates_and_keeps_the_rules() {
    let (_dir, store) = store_with(SPOKE, ProcessSet::default(), &[]);
    put_seats(&store, &[seat("a", Act::Old), seat("b", Act::None)]);
    store
        .write(|tx| reclaim::identify(tx, &profile(&store), NOW))
        .unwrap();
    let closed = store
        .write(|tx| reclaim::close_for_deleted_profile(tx, "p", NOW + 1, "admin"))
        .unwrap();
    assert_eq!(closed, 2);
    for c in store.read().unwrap().candidates("p").unwrap() {
        assert_eq!(c.state, CandidateState::ClosedSkipped);
        let t = c.history.last().unwrap();
        assert_eq!((t.at, t.actor.as_str()), (NOW + 1, "admin"));
        assert!(t.reason.contains("deleted"));
    }
    assert!(store.read().unwrap().rule(MODEL).unwrap().is_some());
}

// ---------------------------------------------------------------------------------------
// The reclaim run through a fake spoke

#[tokio::test]
async fn a_ready_candidate_is_reclaimed_audited_before_and_after_and_undone() {
    let (_dir, store) = store_with(SPOKE, ProcessSet::default(), &[]);
    put_seats(&store, &[seat("a", Act::Old), seat("r", Act::Recent)]);
    let fake = FakeSeats::default();
    let clock = FixedClock::new(NOW);
    let report = Reclaimer::new(&store)
        .clock(&clock)
        .options(no_cap())
        .run(&fake, "p")
        .await
        .unwrap();
    assert_eq!(report.reclaimed, 1);
    assert_eq!(report.write_calls, 1);
    assert_eq!(*fake.reclaimed.lock().unwrap(), ["a"]);
    assert_eq!(fake.lookups.load(Ordering::SeqCst), 1, "one re-check");
    let c = store.read().unwrap().candidates("p").unwrap().remove(0);
    assert_eq!(c.state, CandidateState::ClosedComplete);
    let record = c.reclaim.clone().unwrap();
    assert_eq!(record.changes.len(), 1);
    assert_eq!(record.changes[0].target_id, "g1");
    // Audited before and after, the after entry carrying the changes.
    let log = store.read().unwrap().audit_log().unwrap();
    let before = log.iter().find(|e| e.seq == record.audit_before).unwrap();
    let after = log.iter().find(|e| e.seq == record.audit_after).unwrap();
    assert!(before.seq < after.seq);
    assert_eq!(
        before.action,
        AuditAction::ReclaimStarted { candidate: c.id }
    );
    assert_eq!(
        after.action,
        AuditAction::Reclaimed {
            candidate: c.id,
            changes: record.changes.clone()
        }
    );
    // The seat is ended; the job result says what ran.
    let sub = store
        .read()
        .unwrap()
        .subscription("p", "a", "widget")
        .unwrap()
        .unwrap();
    assert!(!sub.active);
    let job = store
        .read()
        .unwrap()
        .job_result(report.job.unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(job.ended, 1);

    // Undo by the audit entry of the reclaim: restore gets exactly the changes.
    let report = reclaim::undo(
        &store,
        &fake,
        &Recorder::default(),
        UndoTarget::Audit(record.audit_after),
        "admin",
        NOW + 60,
    )
    .await
    .unwrap();
    assert_eq!(report.candidate, c.id);
    assert_eq!(
        *fake.restored.lock().unwrap(),
        [("a".to_string(), record.changes.clone())]
    );
    let c = store.read().unwrap().candidate(c.id).unwrap().unwrap();
    assert_eq!(c.state, CandidateState::ClosedCanceled);
    assert_eq!(c.reclaim.as_ref().unwrap().restored_at, Some(NOW + 60));
    assert!(
        store
            .read()
            .unwrap()
            .subscription("p", "a", "widget")
            .unwrap()
            .unwrap()
            .active
    );
    // A second undo is refused; the restored seat is not proposed again right away.
    let err = reclaim::undo(
        &store,
        &fake,
        &Recorder::default(),
        UndoTarget::Candidate(c.id),
        "admin",
        NOW + 61,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ReclaimError::NotUndoable { .. }), "{err}");
    clock.set(NOW + DAY);
    let again = Reclaimer::new(&store)
        .clock(&clock)
        .options(no_cap())
        .run(&fake, "p")
        .await
        .unwrap();
    assert!(again.identify.created.is_empty() && again.reclaimed == 0);
}

#[tokio::test]
async fn re_checks_are_batched_and_stop_at_the_cap() {
    let (_dir, store) = store_with(SPOKE, ProcessSet::default(), &[]);
    let seats: Vec<Seat> = (0..130)
        .map(|i| seat(&format!("u{i:03}"), Act::Old))
        .collect();
    put_seats(&store, &seats);
    let fake = FakeSeats::default();
    // One of the first batch was active a moment ago: the batched re-check still sees it.
    fake.active_now.lock().unwrap().insert("u007".into());
    let clock = FixedClock::new(NOW);
    let report = Reclaimer::new(&store)
        .clock(&clock)
        .options(ReclaimOptions {
            max_count: Some(100),
            max_percent: None,
            ..ReclaimOptions::default()
        })
        .run(&fake, "p")
        .await
        .unwrap();
    assert_eq!(report.write_calls, 100);
    assert_eq!(report.reclaimed, 100);
    // 50, then 50 (the cap's room), then 1 for the seat after the canceled one.
    assert_eq!(*fake.lookup_sizes.lock().unwrap(), [50, 50, 1]);
    let canceled: Vec<&str> = report
        .outcomes
        .iter()
        .filter(|o| o.outcome == Outcome::Canceled)
        .map(|o| o.external_user_id.as_str())
        .collect();
    assert_eq!(canceled, ["u007"]);
    assert!(!fake.reclaimed.lock().unwrap().contains(&"u007".to_string()));
    assert_eq!(report.deferred_by_cap.len(), 130 - 101);
}

#[tokio::test]
async fn activity_seen_just_before_revocation_cancels_and_a_failed_reclaim_needs_attention() {
    let (_dir, store) = store_with(SPOKE, ProcessSet::default(), &[]);
    put_seats(&store, &[seat("busy", Act::Old), seat("broken", Act::Old)]);
    let fake = FakeSeats {
        failing: ["broken".to_string()].into(),
        ..FakeSeats::default()
    };
    fake.active_now.lock().unwrap().insert("busy".into());
    let clock = FixedClock::new(NOW);
    let report = Reclaimer::new(&store)
        .clock(&clock)
        .options(no_cap())
        .run(&fake, "p")
        .await
        .unwrap();
    assert_eq!(report.reclaimed, 0);
    let outcomes: BTreeMap<String, Outcome> = report
        .outcomes
        .iter()
        .map(|o| (o.external_user_id.clone(), o.outcome))
        .collect();
    assert_eq!(outcomes["busy"], Outcome::Canceled);
    assert_eq!(outcomes["broken"], Outcome::Failed);
    let s = states(&store);
    assert_eq!(s["busy"], CandidateState::ClosedCanceled);
    assert!(
        matches!(&s["broken"], CandidateState::AttentionRequired(why) if why.contains("missing scope"))
    );
    // The re-check's activity is stored.
    let busy = store
        .read()
        .unwrap()
        .activity("p", "busy")
        .unwrap()
        .unwrap();
    assert_eq!(busy.last_activity, Some(NOW - DAY));
    // The failure is audited and the job failed with it.
    let log = store.read().unwrap().audit_log().unwrap();
    assert!(
        log.iter()
            .any(|e| matches!(e.action, AuditAction::ReclaimFailed { .. }))
    );
    let job = store
        .read()
        .unwrap()
        .job_result(report.job.unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(job.errors.len(), 1);
    // An admin retries the failed one by id once the scope is fixed.
    let fixed = FakeSeats::default();
    let id = store
        .read()
        .unwrap()
        .candidates("p")
        .unwrap()
        .into_iter()
        .find(|c| c.external_user_id == "broken")
        .unwrap()
        .id;
    let retry = Reclaimer::new(&store)
        .clock(&clock)
        .options(ReclaimOptions {
            only: Some(vec![id]),
            actor: "admin".into(),
            ..no_cap()
        })
        .run(&fixed, "p")
        .await
        .unwrap();
    assert_eq!(retry.reclaimed, 1);
    let c = store.read().unwrap().candidate(id).unwrap().unwrap();
    assert_eq!(c.state, CandidateState::ClosedComplete);
    assert_eq!(c.history.last().unwrap().actor, "admin");
}

#[tokio::test]
async fn with_the_reclaim_toggle_off_candidates_are_created_and_nothing_is_reclaimed() {
    let processes = ProcessSet {
        activity: true,
        reclaim: false,
    };
    let (_dir, store) = store_with(SPOKE, processes, &[]);
    put_seats(&store, &[seat("a", Act::Old), seat("b", Act::None)]);
    let fake = FakeSeats::default();
    let report = Reclaimer::new(&store)
        .clock(&FixedClock::new(NOW))
        .options(no_cap())
        .run(&fake, "p")
        .await
        .unwrap();
    assert!(!report.reclaim_enabled);
    assert_eq!(report.identify.created.len(), 2);
    assert_eq!(fake.writes.load(Ordering::SeqCst), 0);
    assert_eq!(fake.lookups.load(Ordering::SeqCst), 0);
    assert!(states(&store).values().all(|s| *s == CandidateState::Ready));
}

#[tokio::test]
async fn a_dry_run_reports_the_plan_and_savings_and_changes_nothing() {
    let (_dir, store) = store_with(SPOKE, ProcessSet::default(), &[]);
    put_seats(
        &store,
        &[
            seat("a", Act::Old),
            seat("b", Act::None),
            seat("c", Act::Recent),
        ],
    );
    store
        .write(|tx| {
            tx.put_model(&sam_engine::model::SoftwareModel {
                id: MODEL.into(),
                publisher: "Acme".into(),
                product: "Widget".into(),
                edition: None,
                auto_created: true,
                created_at: NOW,
            })?;
            tx.put_entitlement(&Entitlement {
                id: "1".into(),
                model: MODEL.into(),
                metric: LicenseMetric::UserSubscription,
                rights: Rights::Count(10),
                unit_cost_minor: 1_000,
                currency: "EUR".into(),
                start: NOW - 100 * DAY,
                end: None,
                active: true,
                note: None,
            })
        })
        .unwrap();
    let audit_before = store.read().unwrap().audit_log().unwrap().len();
    let fake = FakeSeats::default();
    let report = Reclaimer::new(&store)
        .clock(&FixedClock::new(NOW))
        .options(ReclaimOptions {
            dry_run: true,
            ..no_cap()
        })
        .run(&fake, "p")
        .await
        .unwrap();
    assert!(report.dry_run);
    assert_eq!(report.to_reclaim.len(), 2);
    assert_eq!(report.savings.len(), 1);
    assert_eq!(report.savings[0].minor, 2_000);
    assert_eq!(report.savings[0].currency.as_deref(), Some("EUR"));
    assert_eq!(fake.writes.load(Ordering::SeqCst), 0);
    assert!(store.read().unwrap().candidates("p").unwrap().is_empty());
    assert!(store.read().unwrap().rule(MODEL).unwrap().is_none());
    assert_eq!(
        store.read().unwrap().audit_log().unwrap().len(),
        audit_before
    );
}

// ---------------------------------------------------------------------------------------
// The notify flow, through a webhook on loopback

async fn webhook() -> (String, std::sync::Arc<Mutex<Vec<serde_json::Value>>>) {
    use axum::{Json, Router, extract::State, routing::post};
    let got = std::sync::Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State(got): State<std::sync::Arc<Mutex<Vec<serde_json::Value>>>>,
                 Json(body): Json<serde_json::Value>| async move {
                    got.lock().unwrap().push(body);
                    "ok"
                },
            ),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), got)
}

#[tokio::test]
async fn the_notify_flow_runs_end_to_end_through_a_webhook() {
    let (_dir, store) = store_with(SPOKE, ProcessSet::default(), &[]);
    let mut no_email = seat("nomail", Act::Old);
    no_email.email = false;
    put_seats(
        &store,
        &[
            seat("keeper", Act::Old),
            seat("releaser", Act::Old),
            seat("silent", Act::Old),
            seat("declined", Act::Old),
            no_email,
        ],
    );
    store
        .write(|tx| {
            let mut r = ReclamationRule::default_for(MODEL, NOW);
            r.notify_user = true;
            r.days_before_auto_reclaim = Some(7);
            tx.put_rule(&r)
        })
        .unwrap();
    let (url, got) = webhook().await;
    let notifier = WebhookNotifier::new(&url).unwrap();
    let fake = FakeSeats::default();
    let clock = FixedClock::new(NOW);
    async fn run(
        store: &Store,
        clock: &FixedClock,
        notifier: &dyn Notifier,
        fake: &FakeSeats,
    ) -> Result<sam_engine::reclaim::ReclaimReport, ReclaimError> {
        Reclaimer::new(store)
            .clock(clock)
            .notifier(notifier)
            .options(no_cap())
            .run(fake, "p")
            .await
    }
    let first = run(&store, &clock, &notifier, &fake).await.unwrap();
    assert_eq!(first.reclaimed, 0);
    assert_eq!(fake.writes.load(Ordering::SeqCst), 0);
    let s = states(&store);
    assert!(matches!(&s["nomail"], CandidateState::AttentionRequired(_)));
    for u in ["keeper", "releaser", "silent", "declined"] {
        assert_eq!(s[u], CandidateState::AwaitingUser, "{u}");
    }
    {
        let notices = got.lock().unwrap();
        assert_eq!(notices.len(), 4);
        assert!(notices.iter().all(|n| n["kind"] == "ask-user"));
        let silent = notices
            .iter()
            .find(|n| n["external_user_id"] == "silent")
            .unwrap();
        assert_eq!(silent["email"], "silent@example.com");
        assert_eq!(silent["auto_reclaim_at"], NOW + 7 * DAY);
    }
    let id = |u: &str| {
        store
            .read()
            .unwrap()
            .candidates("p")
            .unwrap()
            .into_iter()
            .find(|c| c.external_user_id == u)
            .unwrap()
            .id
    };
    // The answers and the manager's decisions.
    let keeper = reclaim::answer(
        &store,
        &notifier,
        id("keeper"),
        UserAnswer::Keep,
        "keeper@example.com",
        NOW + DAY,
    )
    .await
    .unwrap();
    assert_eq!(keeper.state, CandidateState::AwaitingApproval);
    assert_eq!(got.lock().unwrap().last().unwrap()["kind"], "ask-manager");
    reclaim::answer(
        &store,
        &notifier,
        id("declined"),
        UserAnswer::Keep,
        "declined",
        NOW + DAY,
    )
    .await
    .unwrap();
    reclaim::answer(
        &store,
        &notifier,
        id("releaser"),
        UserAnswer::Release,
        "releaser",
        NOW + DAY,
    )
    .await
    .unwrap();
    let approved =
        reclaim::decide(&store, id("keeper"), true, "boss", None, NOW + 2 * DAY).unwrap();
    assert_eq!(approved.state, CandidateState::AwaitingRevocation);
    let rejected = reclaim::decide(
        &store,
        id("declined"),
        false,
        "boss",
        Some("needs it for audits"),
        NOW + 2 * DAY,
    )
    .unwrap();
    assert_eq!(rejected.state, CandidateState::ClosedSkipped);
    // Answering twice is refused.
    let err = reclaim::answer(
        &store,
        &notifier,
        id("keeper"),
        UserAnswer::Release,
        "x",
        NOW,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ReclaimError::NotAwaiting { .. }), "{err}");

    // Day 3: the approved and the released are reclaimed; the silent one still waits.
    clock.set(NOW + 3 * DAY);
    let second = run(&store, &clock, &notifier, &fake).await.unwrap();
    let mut reclaimed = fake.reclaimed.lock().unwrap().clone();
    reclaimed.sort();
    assert_eq!(reclaimed, ["keeper", "releaser"]);
    assert_eq!(second.reclaimed, 2);
    assert_eq!(states(&store)["silent"], CandidateState::AwaitingUser);
    // Day 8: no answer within 7 days: reclaimed, through Awaiting Revocation.
    clock.set(NOW + 8 * DAY);
    run(&store, &clock, &notifier, &fake).await.unwrap();
    assert_eq!(states(&store)["silent"], CandidateState::ClosedComplete);
    let silent = store
        .read()
        .unwrap()
        .candidate(id("silent"))
        .unwrap()
        .unwrap();
    let path: Vec<&str> = silent.history.iter().map(|t| t.to.label()).collect();
    assert_eq!(
        path,
        [
            "Ready",
            "Awaiting User",
            "Awaiting Revocation",
            "Reclaiming",
            "Closed Complete"
        ]
    );
    assert!(silent.history[2].reason.contains("no answer"));
    let keeper = store
        .read()
        .unwrap()
        .candidate(id("keeper"))
        .unwrap()
        .unwrap();
    let actors: Vec<&str> = keeper.history.iter().map(|t| t.actor.as_str()).collect();
    assert_eq!(
        actors,
        ["sam", "sam", "keeper@example.com", "boss", "sam", "sam"],
        "the last two: planned (Reclaiming), then reclaimed"
    );
    // The users were told their seat was reclaimed.
    let kinds: Vec<String> = got
        .lock()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "reclaimed").count(), 3);
}

#[tokio::test]
async fn a_webhook_that_refuses_leaves_the_candidate_ready() {
    let (_dir, store) = store_with(SPOKE, ProcessSet::default(), &[]);
    put_seats(&store, &[seat("a", Act::Old)]);
    store
        .write(|tx| {
            let mut r = ReclamationRule::default_for(MODEL, NOW);
            r.notify_user = true;
            tx.put_rule(&r)
        })
        .unwrap();
    // Nothing listens on this port.
    let notifier = WebhookNotifier::new("http://127.0.0.1:9/hook").unwrap();
    let report = Reclaimer::new(&store)
        .clock(&FixedClock::new(NOW))
        .notifier(&notifier)
        .options(no_cap())
        .run(&FakeSeats::default(), "p")
        .await
        .unwrap();
    assert_eq!(report.outcomes[0].outcome, Outcome::NotifyFailed);
    assert_eq!(states(&store)["a"], CandidateState::Ready);
    assert!(WebhookNotifier::new("ftp://x").is_err());
    let _ = NoticeKind::Restored;
}

// ---------------------------------------------------------------------------------------
// Property tests

#[derive(Debug, Clone)]
struct Tenant {
    seats: Vec<Seat>,
    /// (user index, by email?, scope, active)
    exclusions: Vec<(usize, bool, ExclusionScope, bool)>,
    /// Exclusions are added after the candidates were created.
    late: bool,
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        Just(Act::Recent),
        Just(Act::Old),
        Just(Act::None),
        Just(Act::NoRecord),
        Just(Act::Unknown)
    ]
}

fn scope() -> impl Strategy<Value = ExclusionScope> {
    prop_oneof![
        Just(ExclusionScope::Reconciliation),
        Just(ExclusionScope::Reclamation),
        Just(ExclusionScope::Both)
    ]
}

fn tenant() -> impl Strategy<Value = Tenant> {
    (1usize..30)
        .prop_flat_map(|n| {
            (
                proptest::collection::vec((act(), any::<bool>(), any::<bool>()), n),
                proptest::collection::vec((0..n, any::<bool>(), scope(), any::<bool>()), 0..8),
                any::<bool>(),
            )
        })
        .prop_map(|(seats, exclusions, late)| Tenant {
            seats: seats
                .into_iter()
                .enumerate()
                .map(|(i, (act, app, email))| Seat {
                    user: format!("u{i:02}"),
                    act,
                    app: app && i % 3 == 0,
                    email,
                    granted_days_ago: None,
                })
                .collect(),
            exclusions,
            late,
        })
}

fn add_exclusions(store: &Store, t: &Tenant) {
    store
        .write(|tx| {
            for (i, (user, by_email, scope, active)) in t.exclusions.iter().enumerate() {
                let s = &t.seats[*user];
                let name = if *by_email && s.email {
                    format!("{}@EXAMPLE.com", s.user)
                } else {
                    s.user.clone()
                };
                tx.put_exclusion(&ExclusionRule {
                    id: format!("x{i}"),
                    target: ExclusionTarget::User(name),
                    scope: *scope,
                    active: *active,
                    note: None,
                    created_at: NOW,
                })?;
            }
            Ok::<_, sam_engine::store::WriteError>(())
        })
        .unwrap();
}

fn protected(t: &Tenant) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = t
        .exclusions
        .iter()
        .filter(|(_, _, scope, active)| *active && scope.covers_reclamation())
        .map(|(u, _, _, _)| t.seats[*u].user.clone())
        .collect();
    out.extend(t.seats.iter().filter(|s| s.app).map(|s| s.user.clone()));
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn an_excluded_user_is_never_reclaimed(t in tenant()) {
        let (_dir, store) = store_with(SPOKE, ProcessSet::default(), &[]);
        put_seats(&store, &t.seats);
        if t.late {
            store.write(|tx| reclaim::identify(tx, &profile(&store), NOW)).unwrap();
        }
        add_exclusions(&store, &t);
        let fake = FakeSeats::default();
        block_on(Reclaimer::new(&store).clock(&FixedClock::new(NOW)).options(no_cap()).run(&fake, "p")).unwrap();
        let reclaimed: BTreeSet<String> = fake.reclaimed.lock().unwrap().iter().cloned().collect();
        let protected = protected(&t);
        prop_assert!(reclaimed.is_disjoint(&protected), "reclaimed {reclaimed:?}, protected {protected:?}");
        // And every unprotected seat with old or no activity was reclaimed.
        let expected: BTreeSet<String> = t.seats.iter()
            .filter(|s| matches!(s.act, Act::Old | Act::None) && !protected.contains(&s.user))
            .map(|s| s.user.clone())
            .collect();
        prop_assert_eq!(reclaimed, expected);
    }

    #[test]
    fn a_run_never_exceeds_its_cap(
        t in tenant(),
        max_count in proptest::option::of(0u64..10),
        max_percent in proptest::option::of(0.0f64..100.0),
    ) {
        let (_dir, store) = store_with(SPOKE, ProcessSet::default(), &[]);
        put_seats(&store, &t.seats);
        let fake = FakeSeats::default();
        let options = ReclaimOptions { max_count, max_percent, ..ReclaimOptions::default() };
        let cap = options.cap(t.seats.len() as u64);
        let report = block_on(Reclaimer::new(&store).clock(&FixedClock::new(NOW)).options(options).run(&fake, "p")).unwrap();
        let writes = fake.writes.load(Ordering::SeqCst);
        prop_assert!(writes <= cap, "{writes} writes, cap {cap}");
        prop_assert!(report.reclaimed <= cap);
        prop_assert_eq!(report.cap, cap);
        let eligible = t.seats.iter().filter(|s| matches!(s.act, Act::Old | Act::None) && !s.app).count() as u64;
        prop_assert_eq!(report.reclaimed, eligible.min(cap));
        prop_assert_eq!(report.deferred_by_cap.len() as u64, eligible - eligible.min(cap));
    }

    #[test]
    fn a_dry_run_makes_no_write_call(
        t in tenant(),
        reclaim_on in any::<bool>(),
        notify in any::<bool>(),
        max_count in proptest::option::of(0u64..10),
    ) {
        let processes = ProcessSet { activity: true, reclaim: reclaim_on };
        let (_dir, store) = store_with(SPOKE, processes, &[]);
        put_seats(&store, &t.seats);
        add_exclusions(&store, &t);
        if notify {
            store.write(|tx| {
                let mut r = ReclamationRule::default_for(MODEL, NOW);
                r.notify_user = true;
                tx.put_rule(&r)
            }).unwrap();
        }
        let before = store.read().unwrap().audit_log().unwrap().len();
        let fake = FakeSeats::default();
        let recorder = Recorder::default();
        let options = ReclaimOptions { dry_run: true, max_count, max_percent: None, ..ReclaimOptions::default() };
        let report = block_on(Reclaimer::new(&store).clock(&FixedClock::new(NOW)).notifier(&recorder).options(options).run(&fake, "p")).unwrap();
        prop_assert_eq!(fake.writes.load(Ordering::SeqCst), 0);
        prop_assert_eq!(fake.lookups.load(Ordering::SeqCst), 0);
        prop_assert!(recorder.0.lock().unwrap().is_empty());
        prop_assert!(store.read().unwrap().candidates("p").unwrap().is_empty());
        prop_assert_eq!(store.read().unwrap().audit_log().unwrap().len(), before);
        prop_assert!(report.to_reclaim.len() as u64 <= report.cap);
    }

    /// Issue 24: a dry run and a real run of the same state agree on every count they
    /// both print (nobody was active in between), and the cap bounds notices as well as
    /// reclaims.
    #[test]
    fn a_dry_run_and_a_real_run_of_the_same_state_agree(
        t in tenant(),
        notify in any::<bool>(),
        max_count in proptest::option::of(0u64..10),
    ) {
        let run = |dry_run: bool| {
            let (dir, store) = store_with(SPOKE, ProcessSet::default(), &[]);
            put_seats(&store, &t.seats);
            add_exclusions(&store, &t);
            if notify {
                store.write(|tx| {
                    let mut r = ReclamationRule::default_for(MODEL, NOW);
                    r.notify_user = true;
                    tx.put_rule(&r)
                }).unwrap();
            }
            let fake = FakeSeats::default();
            let recorder = Recorder::default();
            let options = ReclaimOptions { dry_run, max_count, max_percent: None, ..ReclaimOptions::default() };
            let report = block_on(Reclaimer::new(&store).clock(&FixedClock::new(NOW)).notifier(&recorder).options(options).run(&fake, "p")).unwrap();
            let notices = recorder.0.lock().unwrap().len();
            drop(dir);
            (report, notices)
        };
        let (dry, _) = run(true);
        let (real, notices) = run(false);
        prop_assert_eq!(dry.identify.created.len(), real.identify.created.len());
        prop_assert_eq!(dry.identify.canceled.len(), real.identify.canceled.len());
        prop_assert_eq!(dry.identify.skipped.len(), real.identify.skipped.len());
        prop_assert_eq!(dry.cap, real.cap);
        prop_assert_eq!(&dry.cap_reason, &real.cap_reason);
        prop_assert_eq!(dry.to_reclaim.len() as u64, real.reclaimed);
        prop_assert_eq!(dry.to_notify.len(), notices);
        prop_assert_eq!(dry.deferred_by_cap.len(), real.deferred_by_cap.len());
        prop_assert!(notices as u64 <= real.cap, "{} notices, cap {}", notices, real.cap);
    }
}

// ---------------------------------------------------------------------------------------
// End to end against the Confluence simulator

async fn fixed_sim(users: usize) -> SimHandle {
    Simulator::start(SimConfig {
        users,
        seed: 11,
        rate_limit: RateLimitConfig::unlimited(),
        clock: SimClock::fixed(NOW * 1000),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

async fn confluence_spoke(host: &sam_engine::host::SpokeHost) -> LoadedSpoke {
    host.load_file(sam_tests::confluence_spoke_wasm())
        .await
        .expect("the Confluence spoke loads")
}

fn session_parts(
    spoke: &LoadedSpoke,
    sim: &SimHandle,
    group_ids: &[String],
) -> (std::sync::Arc<sam_engine::host::GateSession>, Config) {
    let token = sim.mint_token(confluence_sim::CONNECTOR_SCOPES);
    let session = spoke
        .session(
            &sim.connection_url(),
            &["127.0.0.1".to_string()],
            std::sync::Arc::new(StaticToken::new(token)),
        )
        .unwrap();
    let config = Config {
        values: vec![("cloud-id".into(), sim.cloud_id().to_string())],
        selected_groups: group_ids.to_vec(),
    };
    (session, config)
}

#[tokio::test]
async fn end_to_end_download_activity_candidates_reclaim_undo_and_the_position() {
    let sim = fixed_sim(300).await;
    let host = host();
    let spoke = confluence_spoke(&host).await;
    let group = sim.group_id("confluence-users").unwrap();
    let (session, config) = session_parts(&spoke, &sim, std::slice::from_ref(&group));
    let source = SpokeSource::new(spoke.clone(), session.clone(), config.clone());
    let seats = SpokeSeats::new(spoke.clone(), session, config);
    let (_dir, store) = store_with(
        "confluence-cloud",
        ProcessSet::default(),
        std::slice::from_ref(&group),
    );
    let clock = FixedClock::new(NOW);

    // Download and activity.
    let pipeline = Pipeline::new(&store).clock(&clock);
    pipeline.download_subscriptions(&source, "p").await.unwrap();
    pipeline.download_activity(&source, "p").await.unwrap();
    let members_before = {
        let mut m = sim.memberships(&group).unwrap();
        m.sort();
        m
    };
    let model = "atlassian/confluence";

    // What was bought: fewer rights than seats. The admin running sam is protected.
    store
        .write(|tx| {
            tx.put_entitlement(&Entitlement {
                id: "1".into(),
                model: model.into(),
                metric: LicenseMetric::UserSubscription,
                rights: Rights::Count(members_before.len() as u64 - 20),
                unit_cost_minor: 600,
                currency: "USD".into(),
                start: NOW - 30 * DAY,
                end: Some(NOW + 335 * DAY),
                active: true,
                note: None,
            })?;
            tx.put_exclusion(&ExclusionRule {
                id: "admin".into(),
                target: ExclusionTarget::User(sim.consenting_account_id()),
                scope: ExclusionScope::Reclamation,
                active: true,
                note: Some("the admin sam runs as".into()),
                created_at: NOW,
            })
        })
        .unwrap();
    let before = sam_engine::reconcile::run(&store, &clock).unwrap();
    let before = before
        .into_iter()
        .find(|r| r.model == model)
        .unwrap()
        .position;
    assert_eq!(before.rights_used, members_before.len() as u64);
    assert_eq!(before.rights_available, Some(-20));
    assert_eq!(before.unlicensed, 20);
    assert_eq!(before.status, ComplianceStatus::NotCompliant);
    assert_eq!(before.true_up_cost_minor, 20 * 600);
    assert!(before.inactive > 5, "{before:?}");
    assert_eq!(before.potential_savings_minor, before.inactive * 600);

    // A dry run: the plan, no write call.
    sim.reset_calls();
    let dry = Reclaimer::new(&store)
        .clock(&clock)
        .options(ReclaimOptions {
            dry_run: true,
            max_count: Some(8),
            max_percent: Some(100.0),
            ..ReclaimOptions::default()
        })
        .run(&seats, "p")
        .await
        .unwrap();
    assert_eq!(dry.to_reclaim.len(), 8);
    assert_eq!(sim.calls_to(Endpoint::RemoveMember), 0);
    assert_eq!(sim.calls_to(Endpoint::AddMember), 0);

    // The reclaim, capped at 8.
    let report = Reclaimer::new(&store)
        .clock(&clock)
        .options(ReclaimOptions {
            max_count: Some(8),
            max_percent: Some(100.0),
            ..ReclaimOptions::default()
        })
        .run(&seats, "p")
        .await
        .unwrap();
    assert!(report.write_calls <= 8);
    assert_eq!(report.recheck_calls, 1, "8 seats re-checked in one query");
    // Seeded and at a fixed time: every re-check confirms, so the cap is what stops it.
    assert_eq!(report.reclaimed, 8, "{report:#?}");
    assert_eq!(
        report.deferred_by_cap.len(),
        report.identify.created.len() - 8
    );
    let reclaimed: Vec<String> = report
        .outcomes
        .iter()
        .filter(|o| o.outcome == Outcome::Reclaimed)
        .map(|o| o.external_user_id.clone())
        .collect();
    let members_after = sim.memberships(&group).unwrap();
    for user in &reclaimed {
        assert!(!members_after.contains(user), "{user} still in the group");
        assert!(!sim.user_groups(user).unwrap().contains(&group));
    }
    assert_eq!(members_after.len(), members_before.len() - reclaimed.len());
    assert_eq!(
        sim.calls_to(Endpoint::RemoveMember),
        report
            .outcomes
            .iter()
            .map(|o| o.changes.len() as u64)
            .sum::<u64>()
    );
    assert!(!reclaimed.contains(&sim.consenting_account_id()));
    // No app account was reclaimed.
    let apps: BTreeSet<String> = store
        .read()
        .unwrap()
        .subscriptions("p")
        .unwrap()
        .into_iter()
        .filter(|s| s.account_type == AccountType::App)
        .map(|s| s.external_user_id)
        .collect();
    assert!(reclaimed.iter().all(|u| !apps.contains(u)));

    clock.advance(1);
    let after = sam_engine::reconcile::run(&store, &clock).unwrap();
    let after = after
        .into_iter()
        .find(|r| r.model == model)
        .unwrap()
        .position;
    assert_eq!(
        after.rights_used,
        before.rights_used - reclaimed.len() as u64
    );
    assert_eq!(after.inactive, before.inactive - reclaimed.len() as u64);

    // A download now agrees with the vendor: nothing more ends.
    clock.advance(60);
    let job = pipeline.download_subscriptions(&source, "p").await.unwrap();
    assert_eq!(job.ended, 0, "{job:?}");

    // Undo every reclaim: the users are back in the group.
    for o in report
        .outcomes
        .iter()
        .filter(|o| o.outcome == Outcome::Reclaimed)
    {
        let undone = reclaim::undo(
            &store,
            &seats,
            &Recorder::default(),
            UndoTarget::Candidate(o.candidate),
            "admin",
            NOW + 120,
        )
        .await
        .unwrap();
        assert_eq!(undone.changes, o.changes);
    }
    let mut members_restored = sim.memberships(&group).unwrap();
    members_restored.sort();
    assert_eq!(members_restored, members_before);
    clock.advance(60);
    let restored = sam_engine::reconcile::run(&store, &clock).unwrap();
    let restored = restored
        .into_iter()
        .find(|r| r.model == model)
        .unwrap()
        .position;
    assert_eq!(restored.rights_used, before.rights_used);
    // The trend keeps every result.
    assert_eq!(
        store
            .read()
            .unwrap()
            .reconciliation_history(model)
            .unwrap()
            .len(),
        3
    );
}
