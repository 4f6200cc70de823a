//! The pipeline: download and activity with the Confluence spoke against the simulator
//! (models, ending, idempotence, a vendor error mid-run and its resume, a real `kill -9` of
//! the `sam` binary), bad spoke output through an in-process page source (malformed records,
//! duplicate keys, a stuck cursor, repeated keys), and two property tests: a failure injected
//! after a random page then a rerun gives exactly the state of an uninterrupted run, and a
//! second run on unchanged data changes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use confluence_sim::{Endpoint, FaultConfig, RateLimitConfig, SimConfig, SimHandle, Simulator};
use proptest::prelude::*;
use sam_engine::contract::{
    AccountType, ActivityPage, ActivitySeen, ActivityStatus, Config, Subscription as WitSub,
    SubscriptionPage, SubscriptionRef, UserActivity,
};
use sam_engine::host::{LoadedSpoke, SpokeHost, StaticToken};
use sam_engine::model::{
    ActivityState, AuditAction, AuthKind, Checkpoint, Connection, DAY, IntegrationProfile,
    JobStatus, ProcessKind, ProcessSet, ProfileStatus, SelectedGroup, SoftwareModel, Subscription,
    SubscriptionIdentifier, UserActivityRecord,
};
use sam_engine::pipeline::{
    CallCounts, CommitHook, FixedClock, PageFault, PageSource, Pipeline, PipelineError,
    ProductInfo, SourceError, SourceInfo, SpokeSource,
};
use sam_engine::store::{ReadError, ReadTx, Store};

use crate::host;

const NOW: i64 = 1_750_000_000;

// ---------------------------------------------------------------------------------------
// Helpers

/// A store in a fresh temp dir, with a profile `p` (spoke `spoke_id`).
pub fn store_with_profile(spoke_id: &str, analyze_from: Option<i64>) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("sam.redb")).unwrap();
    add_profile(&store, "p", spoke_id, analyze_from);
    (dir, store)
}

fn add_profile(store: &Store, name: &str, spoke_id: &str, analyze_from: Option<i64>) {
    let profile = IntegrationProfile {
        name: name.into(),
        display_name: name.into(),
        spoke_id: spoke_id.into(),
        spoke_path: String::new(),
        status: ProfileStatus::Draft,
        processes: ProcessSet::default(),
        analyze_from,
        config: Vec::new(),
        connection: format!("{spoke_id}.subscription_activity_reclaim.{name}"),
        created_at: NOW,
    };
    let connection = Connection {
        alias: profile.connection.clone(),
        connection_url: "http://127.0.0.1:1".into(),
        granted_hosts: vec!["127.0.0.1".into()],
        auth: AuthKind::StaticTokenEnv {
            variable: "T".into(),
        },
    };
    let groups = [SelectedGroup {
        profile: name.into(),
        group_id: "g".into(),
        name: None,
    }];
    store
        .write(|tx| tx.create_profile(&profile, &connection, &groups))
        .unwrap();
}

/// The domain state of profile `p` (everything a run writes except bookkeeping).
#[derive(Debug, PartialEq)]
struct Snapshot {
    subscriptions: Vec<Subscription>,
    identifiers: Vec<SubscriptionIdentifier>,
    models: Vec<SoftwareModel>,
    activity: Vec<UserActivityRecord>,
}

fn snapshot(store: &Store) -> Snapshot {
    let r = store.read().unwrap();
    Snapshot {
        subscriptions: r.subscriptions("p").unwrap(),
        identifiers: r.identifiers().unwrap(),
        models: r.models().unwrap(),
        activity: r.activities("p").unwrap(),
    }
}

pub(crate) async fn sim(users: usize) -> SimHandle {
    Simulator::start(SimConfig {
        users,
        seed: 11,
        rate_limit: RateLimitConfig::unlimited(),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

pub(crate) fn scopes() -> Vec<&'static str> {
    confluence_sim::CONNECTOR_SCOPES.to_vec()
}

pub(crate) async fn confluence(host: &SpokeHost) -> LoadedSpoke {
    host.load_file(sam_tests::confluence_spoke_wasm())
        .await
        .expect("the Confluence spoke loads")
}

pub(crate) fn confluence_config(sim: &SimHandle, groups: &[&str]) -> Config {
    Config {
        values: vec![("cloud-id".into(), sim.cloud_id().to_string())],
        selected_groups: groups
            .iter()
            .map(|g| sim.group_id(g).expect("group exists"))
            .collect(),
    }
}

fn confluence_source(spoke: &LoadedSpoke, sim: &SimHandle, groups: &[&str]) -> SpokeSource {
    let token = sim.mint_token(&scopes());
    let session = spoke
        .session(
            &sim.connection_url(),
            &["127.0.0.1".to_string()],
            std::sync::Arc::new(StaticToken::new(token)),
        )
        .unwrap();
    SpokeSource::new(spoke.clone(), session, confluence_config(sim, groups))
}

/// Account ids of the members of a group.
pub(crate) fn members(sim: &SimHandle, group: &str) -> Vec<String> {
    let mut m = sim.memberships(&sim.group_id(group).unwrap()).unwrap();
    m.sort();
    m
}

// ---------------------------------------------------------------------------------------
// With the Confluence spoke and the simulator

#[tokio::test]
async fn download_stores_one_subscription_per_member_and_creates_the_model() {
    let sim = sim(450).await;
    let host = host();
    let spoke = confluence(&host).await;
    let source = confluence_source(&spoke, &sim, &["confluence-users"]);
    let (_dir, store) = store_with_profile("confluence-cloud", None);
    let clock = FixedClock::new(NOW);
    let job = Pipeline::new(&store)
        .clock(&clock)
        .download_subscriptions(&source, "p")
        .await
        .unwrap();

    let expected = members(&sim, "confluence-users");
    let subs = store.read().unwrap().subscriptions("p").unwrap();
    let got: Vec<_> = subs.iter().map(|s| s.external_user_id.clone()).collect();
    assert_eq!(got, expected);
    assert!(subs.iter().all(|s| s.identifier == "confluence"
        && s.model.as_deref() == Some("atlassian/confluence")
        && s.active));

    let snap = snapshot(&store);
    assert_eq!(snap.models.len(), 1);
    assert_eq!(snap.models[0].publisher, "Atlassian");
    assert_eq!(snap.models[0].product, "Confluence");
    assert_eq!(snap.identifiers.len(), 1);
    assert!(snap.identifiers[0].recognized());
    assert_eq!(
        snap.identifiers[0].subscription_count,
        expected.len() as u64
    );

    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(job.process, ProcessKind::DownloadSubscriptions);
    assert_eq!(job.records_seen, expected.len() as u64);
    assert_eq!(job.upserted, expected.len() as u64);
    assert_eq!(job.ended, 0);
    assert!(job.pages >= expected.len().div_ceil(200) as u64, "{job:?}");
    assert_eq!(job.api_calls, source.session().counts().requests);
    assert_eq!(
        job.api_calls, job.pages,
        "one call per page: the pages read ahead are all used, none past the last"
    );
    assert_eq!(job.started_at, NOW);
    assert_eq!(job.ended_at, Some(NOW));
    let read = store.read().unwrap();
    assert!(
        read.checkpoint("p", ProcessKind::DownloadSubscriptions)
            .unwrap()
            .is_none()
    );
    assert_eq!(read.job_results().unwrap(), vec![job]);
}

/// Two selected groups: the spoke reports a member of both once per group; the store keeps
/// one seat per user whose `granted_by` is the union; a rerun changes nothing; a user who
/// loses one group keeps the seat through the other.
#[tokio::test]
async fn two_selected_groups_give_one_seat_per_user_granted_by_both() {
    let sim = sim(450).await;
    let host = host();
    let spoke = confluence(&host).await;
    let groups = ["confluence-users", "confluence-admins"];
    let source = confluence_source(&spoke, &sim, &groups);
    let (_dir, store) = store_with_profile("confluence-cloud", None);
    let clock = FixedClock::new(NOW);
    let pipeline = Pipeline::new(&store).clock(&clock);
    pipeline.download_subscriptions(&source, "p").await.unwrap();

    let mut expected: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for name in groups {
        let id = sim.group_id(name).unwrap();
        for member in members(&sim, name) {
            expected.entry(member).or_default().push(id.clone());
        }
    }
    for granted in expected.values_mut() {
        granted.sort();
    }
    let got: std::collections::BTreeMap<String, Vec<String>> = store
        .read()
        .unwrap()
        .subscriptions("p")
        .unwrap()
        .into_iter()
        .map(|s| (s.external_user_id, s.granted_by))
        .collect();
    assert_eq!(got, expected);
    let (both, granted) = expected
        .iter()
        .find(|(_, g)| g.len() == 2)
        .map(|(u, g)| (u.clone(), g.clone()))
        .expect("someone is in both groups");

    let before = snapshot(&store);
    clock.advance(3600);
    let again = pipeline.download_subscriptions(&source, "p").await.unwrap();
    assert_eq!((again.upserted, again.ended), (0, 0));
    assert_eq!(snapshot(&store), before, "a rerun changes nothing");

    // The user leaves the admins group only (a reclaim with just that group selected, and
    // named as an admin group a reclaim may touch).
    let admins = sim.group_id("confluence-admins").unwrap();
    let mut admins_only = confluence_config(&sim, &["confluence-admins"]);
    admins_only
        .values
        .push(("reclaim-admin-groups".into(), "confluence-admins".into()));
    take_seat(
        &spoke,
        source.session(),
        &admins_only,
        &SubscriptionRef {
            external_user_id: both.clone(),
            identifier: "confluence".into(),
            granted_by: vec![admins.clone()],
        },
    )
    .await;
    clock.advance(3600);
    let third = pipeline.download_subscriptions(&source, "p").await.unwrap();
    assert_eq!((third.upserted, third.ended), (1, 0));
    let seat = store
        .read()
        .unwrap()
        .subscriptions("p")
        .unwrap()
        .into_iter()
        .find(|s| s.external_user_id == both)
        .unwrap();
    assert!(seat.active);
    let remaining: Vec<String> = granted.into_iter().filter(|g| *g != admins).collect();
    assert_eq!(seat.granted_by, remaining);
}

/// Takes a seat back through a 0.2.0 spoke: plan, then apply exactly the plan.
pub(crate) async fn take_seat(
    spoke: &LoadedSpoke,
    session: &std::sync::Arc<sam_engine::host::GateSession>,
    config: &sam_engine::contract::Config,
    seat: &SubscriptionRef,
) -> Vec<sam_engine::contract::SeatChange> {
    let plan = spoke.plan_reclaim(session, config, seat).await.unwrap();
    spoke
        .apply_reclaim(session, config, seat, &plan)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_second_download_changes_nothing_and_a_removed_member_is_ended() {
    let sim = sim(300).await;
    let host = host();
    let spoke = confluence(&host).await;
    let source = confluence_source(&spoke, &sim, &["confluence-users"]);
    let (_dir, store) = store_with_profile("confluence-cloud", None);
    let clock = FixedClock::new(NOW);
    let pipeline = Pipeline::new(&store).clock(&clock);
    pipeline.download_subscriptions(&source, "p").await.unwrap();
    let before = snapshot(&store);

    clock.advance(3600);
    let second = pipeline.download_subscriptions(&source, "p").await.unwrap();
    assert_eq!((second.upserted, second.ended), (0, 0));
    assert_eq!(snapshot(&store), before);

    // The vendor takes one seat away (through the spoke's own reclaim).
    let gone = members(&sim, "confluence-users")[3].clone();
    let group = sim.group_id("confluence-users").unwrap();
    let changes = take_seat(
        &spoke,
        source.session(),
        &confluence_config(&sim, &["confluence-users"]),
        &SubscriptionRef {
            external_user_id: gone.clone(),
            identifier: "confluence".into(),
            granted_by: vec![group],
        },
    )
    .await;
    assert_eq!(changes.len(), 1);
    clock.advance(3600);
    let third = pipeline.download_subscriptions(&source, "p").await.unwrap();
    assert_eq!(third.ended, 1);
    let read = store.read().unwrap();
    let s = read
        .subscription("p", &gone, "confluence")
        .unwrap()
        .unwrap();
    assert!(!s.active);
    assert_eq!(s.ended_at, Some(NOW + 7200));
    let count = read.identifiers().unwrap()[0].subscription_count;
    assert_eq!(count, before.subscriptions.len() as u64 - 1);
    assert!(
        read.audit_log()
            .unwrap()
            .iter()
            .any(|e| e.action == AuditAction::SubscriptionsEnded(1) && e.run == Some(third.id))
    );
}

/// The pipeline's limits with one page request in flight at a time.
fn sequential() -> sam_engine::pipeline::limits::PipelineLimits {
    sam_engine::pipeline::limits::PipelineLimits {
        concurrency: 1,
        ..Default::default()
    }
}

/// Sets a fault on the simulator once `page` is committed.
struct FaultAfter<'a> {
    sim: &'a SimHandle,
    page: u64,
}

impl CommitHook for FaultAfter<'_> {
    fn after_commit(&self, _: ProcessKind, page: u64) -> Result<(), String> {
        if page == self.page {
            self.sim.set_fault(
                Endpoint::GroupMembers,
                FaultConfig {
                    error_rate: 1.0,
                    error_status: 500,
                    ..FaultConfig::default()
                },
            );
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_vendor_error_mid_run_stops_with_a_typed_error_and_the_rerun_resumes() {
    let sim = sim(900).await;
    let host = host();
    let spoke = confluence(&host).await;
    let source = confluence_source(&spoke, &sim, &["confluence-users"]);
    let (_dir, store) = store_with_profile("confluence-cloud", None);
    let clock = FixedClock::new(NOW);
    let hook = FaultAfter { sim: &sim, page: 2 };
    // One page request at a time, so the fault set after page 2 meets page 3 (concurrent
    // paging would have read it already).
    let err = Pipeline::new(&store)
        .clock(&clock)
        .limits(sequential())
        .hook(&hook)
        .download_subscriptions(&source, "p")
        .await
        .unwrap_err();
    match &err {
        PipelineError::Page {
            spoke, page, fault, ..
        } => {
            assert_eq!(spoke, "confluence-cloud");
            assert_eq!(*page, 3);
            assert!(matches!(
                fault,
                PageFault::Call {
                    call: "download-subscriptions",
                    ..
                }
            ));
        }
        other => panic!("expected a page error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("spoke `confluence-cloud`") && text.contains("page 3"),
        "{text}"
    );
    {
        let read = store.read().unwrap();
        let job = &read.job_results().unwrap()[0];
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.pages, 2);
        assert_eq!(job.errors, vec![text.clone()]);
        assert!(job.retries > 0, "the gate retried the 500s: {job:?}");
        let cp = read
            .checkpoint("p", ProcessKind::DownloadSubscriptions)
            .unwrap()
            .unwrap();
        assert_eq!(cp.pages, 2);
        assert_eq!(
            staged_users(&read, &cp).len(),
            400,
            "two pages of 200 staged"
        );
        assert!(
            read.subscriptions("p").unwrap().is_empty(),
            "nothing merged before the run completes"
        );
    }

    sim.clear_faults();
    let job = Pipeline::new(&store)
        .clock(&clock)
        .download_subscriptions(&source, "p")
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(job.attempts, 2);
    assert_eq!(job.errors.len(), 1);

    let (_dir2, clean) = store_with_profile("confluence-cloud", None);
    Pipeline::new(&clean)
        .clock(&clock)
        .download_subscriptions(&source, "p")
        .await
        .unwrap();
    assert_eq!(snapshot(&store), snapshot(&clean));
}

/// A spoke source that cannot read ahead: the subflows prefetch one page at a time.
struct OnePageAhead<'a>(&'a SpokeSource);

impl PageSource for OnePageAhead<'_> {
    fn info(&self) -> &SourceInfo {
        self.0.info()
    }

    async fn subscriptions(&self, cursor: Option<&str>) -> Result<SubscriptionPage, SourceError> {
        self.0.subscriptions(cursor).await
    }

    async fn activity(
        &self,
        since: i64,
        cursor: Option<&str>,
    ) -> Result<ActivityPage, SourceError> {
        self.0.activity(since, cursor).await
    }

    async fn lookup(&self, since: i64, ids: &[String]) -> Result<Vec<UserActivity>, SourceError> {
        self.0.lookup(since, ids).await
    }

    fn counts(&self) -> CallCounts {
        self.0.counts()
    }
}

#[tokio::test]
async fn reading_ahead_changes_neither_the_calls_nor_the_result() {
    // 900 members (five download pages) and a scan of several pages.
    let sim = sim(900).await;
    let host = host();
    let spoke = confluence(&host).await;
    // Real time, fixed: the simulator's content is dated relative to now.
    let clock = FixedClock::new({
        use sam_engine::pipeline::Clock;
        sam_engine::pipeline::SystemClock.now()
    });
    let mut runs = Vec::new();
    for read_ahead in [true, false] {
        let spoke_source = confluence_source(&spoke, &sim, &["confluence-users"]);
        let one_page = OnePageAhead(&spoke_source);
        let (_dir, store) = store_with_profile("confluence-cloud", None);
        let pipeline = Pipeline::new(&store).clock(&clock);
        let (download, activity) = if read_ahead {
            let download = pipeline.download_subscriptions(&spoke_source, "p").await;
            (
                download,
                pipeline.download_activity(&spoke_source, "p").await,
            )
        } else {
            let download = pipeline.download_subscriptions(&one_page, "p").await;
            (download, pipeline.download_activity(&one_page, "p").await)
        };
        let (download, activity) = (download.unwrap(), activity.unwrap());
        runs.push((
            (download.api_calls, download.pages),
            (activity.api_calls, activity.pages),
            snapshot(&store),
        ));
    }
    assert_eq!(runs[0].0, (5, 5), "one download call per page");
    assert!(runs[0].1.1 > 2, "a scan of several pages: {:?}", runs[0].1);
    assert_eq!(runs[0], runs[1], "with a read-ahead, then one page ahead");
}

/// Issue 17's slow vendor, at 1/66 scale (a unit of 15 ms for a second): a call's deadline of
/// 60 units, a per-attempt timeout of 10 units, below what the vendor comes to take, and a
/// vendor whose latency grows with every request from 0 to 20 units (0 to 20 s at full scale).
/// The activity run succeeds, every holder gets a record, and no request is sent again: the
/// gate waits twice the slowest answer it has seen rather than its 10 units, and the lookups
/// get smaller while answers are slow. Without the adaptive timeout each request past 10 units
/// is re-sent until its attempts run out and the run fails.
#[tokio::test]
async fn a_vendor_slowing_to_twenty_seconds_a_request_still_finishes_without_re_sends() {
    const UNIT: u64 = 15;
    let sim = sim(2000).await;
    let host = crate::host_with(
        sam_engine::host::SandboxLimits {
            call_deadline: Duration::from_millis(60 * UNIT),
            ..Default::default()
        },
        sam_engine::host::GatePolicy {
            request_timeout: Duration::from_millis(10 * UNIT),
            initial_backoff: Duration::from_millis(UNIT),
            max_backoff: Duration::from_millis(4 * UNIT),
            ..Default::default()
        },
    );
    let spoke = confluence(&host).await;
    let source = confluence_source(&spoke, &sim, &["confluence-users"]);
    let (_dir, store) = store_with_profile("confluence-cloud", None);
    // The scan's slices one at a time: this is about one request's timeout, and concurrent
    // pages on a loaded 2-core machine would spend the calls' deadlines on each other.
    let pipeline = Pipeline::new(&store).limits(sequential());
    pipeline.download_subscriptions(&source, "p").await.unwrap();
    let before = source.session().counts();
    // From 0 to 20 units, two thirds of a unit more per request: the ceiling after 30
    // requests (the run makes about 26; the ramp, not the simulator's own work, sets the
    // answer times).
    sim.set_latency_ramp(Some((
        Duration::from_millis(UNIT) * 2 / 3,
        Duration::from_millis(20 * UNIT),
    )));
    let job = pipeline.download_activity(&source, "p").await.unwrap();
    sim.set_latency_ramp(None);
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    let counts = source.session().counts();
    let re_sends = counts.retries - before.retries;
    assert!(re_sends <= 2, "{re_sends} re-sends: {job:?}");
    // Well past the 10-unit attempt timeout: without the adaptive timeout these answers
    // would have been re-sent. (The sliced scan makes fewer requests than the one chain
    // did, so the ramp ends lower than its 20-unit ceiling.)
    assert!(
        source.session().slowest_answer() >= Duration::from_millis(12 * UNIT),
        "the ramp reached the vendor's answers: {:?}",
        source.session().slowest_answer()
    );
    let read = store.read().unwrap();
    for user in members(&sim, "confluence-users") {
        assert!(read.activity("p", &user).unwrap().is_some(), "{user}");
    }
}

#[tokio::test]
async fn activity_records_last_activity_and_users_without_any() {
    let sim = sim(400).await;
    let host = host();
    let spoke = confluence(&host).await;
    let source = confluence_source(&spoke, &sim, &["confluence-users"]);
    let (_dir, store) = store_with_profile("confluence-cloud", None);
    // Real time: the simulator's content is dated relative to now.
    let pipeline = Pipeline::new(&store);
    pipeline.download_subscriptions(&source, "p").await.unwrap();
    let job = pipeline.download_activity(&source, "p").await.unwrap();
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(job.process, ProcessKind::DownloadActivity);
    let since = job.started_at - 60 * DAY;

    let read = store.read().unwrap();
    let holders = members(&sim, "confluence-users");
    let (mut seen, mut none) = (0, 0);
    for user in &holders {
        let record = read
            .activity("p", user)
            .unwrap()
            .unwrap_or_else(|| panic!("no activity record for holder {user}"));
        let truth = sim.last_activity(user).map(|ms| ms / 1000);
        match record.state {
            ActivityState::Seen => {
                seen += 1;
                let at = record.last_activity.unwrap();
                assert!(at >= since - DAY, "{record:?}");
                let source = record.source.as_deref().unwrap_or_default();
                // A user found by lookup through an item someone else changed last gets the
                // item's last change (the spoke's documented upper bound); the scan sees only
                // each item's last author, so it may report an earlier own change.
                assert!(
                    source.starts_with("contributed") || truth.is_some_and(|t| t >= at),
                    "{record:?} vs {truth:?}"
                );
            }
            ActivityState::NoneInWindow => {
                none += 1;
                assert!(
                    truth.is_none_or(|t| t < since + DAY),
                    "{record:?} vs {truth:?}"
                );
            }
            ActivityState::Unknown(_) => {}
            ActivityState::NoneOrNever => panic!("Confluence never says none-or-never: {record:?}"),
        }
    }
    assert!(seen > holders.len() / 3, "seen {seen} of {}", holders.len());
    assert!(none > 0, "some holders have no activity in the window");
    // Every holder the scan missed was looked up, in batches of at most 100.
    assert!(job.pages > (none as u64).div_ceil(100), "{job:?}");
    assert!(
        read.watermark("p", ProcessKind::DownloadActivity)
            .unwrap()
            .is_some()
    );
    drop(read);

    // The second run is incremental: a shorter window, far fewer calls, no changes.
    let before = snapshot(&store);
    let second = pipeline.download_activity(&source, "p").await.unwrap();
    assert_eq!(second.upserted, 0, "{second:?}");
    assert!(second.api_calls < job.api_calls, "{second:?} vs {job:?}");
    assert_eq!(snapshot(&store), before);
}

// ---------------------------------------------------------------------------------------
// An in-process page source, for bad output and the property tests

#[derive(Debug, Clone, Copy, PartialEq)]
enum Bad {
    None,
    Malformed,
    Duplicate,
    StuckCursor,
    Repeat,
    FailCall,
    /// The page's next cursor goes back to the second page's.
    CycleCursor,
    /// A 2 MiB display name.
    Oversized,
}

struct FakeSource {
    info: SourceInfo,
    subs: Vec<WitSub>,
    page_size: usize,
    scan: Vec<UserActivity>,
    lookup: BTreeMap<String, ActivityStatus>,
    /// Bad output on this page (1-based) of the subscription download.
    bad_page: usize,
    bad: Bad,
    /// Fail the subscription call with this number (1-based) once.
    fail_call: AtomicU64,
    calls: AtomicU64,
    sinces: Mutex<Vec<i64>>,
    lookups: Mutex<Vec<usize>>,
    /// The scan's first page names this many slices (1: one chain): contiguous parts of the
    /// scan, each a cursor chain `<slice>/<offset>` of its own.
    slices: usize,
}

impl FakeSource {
    fn new(users: &[(u32, &str)], page_size: usize) -> Self {
        let subs = users
            .iter()
            .map(|(u, ident)| WitSub {
                external_user_id: format!("user-{u:03}"),
                identifier: ident.to_string(),
                display_name: Some(format!("User {u}")),
                email: None,
                account_type: AccountType::Human,
                granted_by: vec!["g".into()],
                granted_at: Some(1_600_000_000),
                pending_cancellation: None,
                activity: None,
            })
            .collect();
        Self {
            info: SourceInfo {
                spoke_id: "fake".into(),
                publisher: "Fake Inc".into(),
                products: vec![ProductInfo {
                    identifier: "pro".into(),
                    name: "Fake Pro".into(),
                    edition: None,
                }],
                activity_lookback_days: 60,
                daily_lookups: false,
                activity_from_download: false,
            },
            subs,
            page_size: page_size.max(1),
            scan: Vec::new(),
            lookup: BTreeMap::new(),
            bad_page: 0,
            bad: Bad::None,
            fail_call: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            sinces: Mutex::new(Vec::new()),
            lookups: Mutex::new(Vec::new()),
            slices: 1,
        }
    }

    fn sliced(mut self, slices: usize) -> Self {
        self.slices = slices.max(1);
        self
    }

    /// A page of the sliced scan at `cursor` (`<slice>/<offset>`; none: slice 0's first).
    fn slice_page(&self, cursor: Option<&str>) -> ActivityPage {
        let n = self.scan.len();
        let bounds = |i: usize| (i * n / self.slices, (i + 1) * n / self.slices);
        let (slice, start) = cursor
            .and_then(|c| c.split_once('/'))
            .and_then(|(s, o)| Some((s.parse::<usize>().ok()?, o.parse::<usize>().ok()?)))
            .unwrap_or((0, 0));
        let end = (start + self.page_size).min(bounds(slice).1);
        ActivityPage {
            activities: self.scan[start.min(end)..end].to_vec(),
            next_cursor: (end < bounds(slice).1).then(|| format!("{slice}/{end}")),
            slices: match cursor {
                None => (1..self.slices)
                    .map(|i| format!("{i}/{}", bounds(i).0))
                    .collect(),
                Some(_) => Vec::new(),
            },
        }
    }

    fn bad(mut self, page: usize, bad: Bad) -> Self {
        self.bad_page = page;
        self.bad = bad;
        self
    }

    /// Activity: user `u` seen at `at` by the scan, or (negative `at`) only by lookup
    /// (`-1`: none in window, `-2`: unknown).
    fn activity(mut self, entries: &[(u32, i64)]) -> Self {
        let mut scan = BTreeMap::new();
        for (u, at) in entries {
            let id = format!("user-{u:03}");
            let status = match *at {
                -1 => ActivityStatus::NoneInWindow,
                -2 => ActivityStatus::Unknown("hidden".into()),
                at => ActivityStatus::Seen(ActivitySeen {
                    at,
                    source: "page updated".into(),
                    kind: sam_engine::contract::ActivitySource::ContentUpdated,
                }),
            };
            if *at >= 0 {
                scan.insert(id.clone(), status.clone());
            }
            self.lookup.insert(id, status);
        }
        self.scan = scan
            .into_iter()
            .map(|(external_user_id, status)| UserActivity {
                external_user_id,
                status,
            })
            .collect();
        self
    }

    fn page<T: Clone>(items: &[T], cursor: Option<&str>, size: usize) -> (Vec<T>, Option<String>) {
        let start: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let end = (start + size).min(items.len());
        let next = (end < items.len()).then(|| end.to_string());
        (items[start.min(end)..end].to_vec(), next)
    }
}

impl PageSource for FakeSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    async fn subscriptions(&self, cursor: Option<&str>) -> Result<SubscriptionPage, SourceError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self
            .fail_call
            .compare_exchange(call, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return Err(SourceError {
                call: "download-subscriptions",
                message: "transient failure: injected".into(),
                spoke_error: None,
                deadline_exceeded: false,
            });
        }
        let (mut subscriptions, mut next_cursor) = Self::page(&self.subs, cursor, self.page_size);
        let page_no =
            cursor.and_then(|c| c.parse::<usize>().ok()).unwrap_or(0) / self.page_size + 1;
        if page_no == self.bad_page {
            match self.bad {
                Bad::None => {}
                Bad::Malformed => subscriptions[1].external_user_id = " ".into(),
                Bad::Duplicate => subscriptions[1] = subscriptions[0].clone(),
                Bad::StuckCursor => next_cursor = cursor.map(str::to_string),
                Bad::Repeat => subscriptions = Self::page(&self.subs, None, self.page_size).0,
                Bad::CycleCursor => next_cursor = Some(self.page_size.to_string()),
                Bad::Oversized => {
                    subscriptions[1].display_name = Some("x".repeat(2 * 1024 * 1024));
                }
                Bad::FailCall => {
                    return Err(SourceError {
                        call: "download-subscriptions",
                        message: "vendor said no".into(),
                        spoke_error: None,
                        deadline_exceeded: false,
                    });
                }
            }
        }
        Ok(SubscriptionPage {
            subscriptions,
            next_cursor,
            following_cursors: Vec::new(),
        })
    }

    async fn activity(
        &self,
        since: i64,
        cursor: Option<&str>,
    ) -> Result<ActivityPage, SourceError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.sinces.lock().unwrap().push(since);
        if self.slices > 1 {
            return Ok(self.slice_page(cursor));
        }
        let (activities, next_cursor) = Self::page(&self.scan, cursor, self.page_size);
        Ok(ActivityPage {
            activities,
            next_cursor,
            slices: Vec::new(),
        })
    }

    async fn lookup(&self, _since: i64, ids: &[String]) -> Result<Vec<UserActivity>, SourceError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.lookups.lock().unwrap().push(ids.len());
        Ok(ids
            .iter()
            .map(|id| UserActivity {
                external_user_id: id.clone(),
                status: self
                    .lookup
                    .get(id)
                    .cloned()
                    .unwrap_or(ActivityStatus::NoneInWindow),
            })
            .collect())
    }

    fn counts(&self) -> CallCounts {
        CallCounts {
            requests: self.calls.load(Ordering::SeqCst),
            retries: 0,
        }
    }
}

fn users(n: u32) -> Vec<(u32, &'static str)> {
    (0..n).map(|u| (u, "pro")).collect()
}

async fn bad_output(bad: Bad) -> (PipelineError, Store, tempfile::TempDir) {
    let source = FakeSource::new(&users(12), 4).bad(2, bad);
    let (dir, store) = store_with_profile("fake", None);
    let clock = FixedClock::new(NOW);
    let err = Pipeline::new(&store)
        .clock(&clock)
        .download_subscriptions(&source, "p")
        .await
        .unwrap_err();
    (err, store, dir)
}

async fn assert_page_two_refused(bad: Bad, expect: fn(&PageFault) -> bool) {
    let (err, store, _dir) = bad_output(bad).await;
    let PipelineError::Page {
        spoke,
        page,
        fault,
        process,
        ..
    } = &err
    else {
        panic!("expected a page error, got {err:?}");
    };
    assert_eq!(
        (spoke.as_str(), *page, *process),
        ("fake", 2, ProcessKind::DownloadSubscriptions)
    );
    assert!(expect(fault), "{bad:?}: {fault:?}");
    let text = err.to_string();
    assert!(
        text.contains("spoke `fake`") && text.contains("page 2"),
        "{text}"
    );
    let read = store.read().unwrap();
    let job = &read.job_results().unwrap()[0];
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.pages, 1);
    assert_eq!(job.errors, vec![text]);
    let cp = read
        .checkpoint("p", ProcessKind::DownloadSubscriptions)
        .unwrap()
        .unwrap();
    assert_eq!((cp.pages, cp.cursor.as_deref()), (1, Some("4")));
    assert_eq!(
        staged_users(&read, &cp),
        ["user-000", "user-001", "user-002", "user-003"],
        "{bad:?}: only page 1 staged"
    );
    assert!(read.subscriptions("p").unwrap().is_empty(), "{bad:?}");
    assert_eq!(read.identifiers().unwrap()[0].subscription_count, 0);
}

/// The users an unfinished download run has staged, in the order staged.
pub(crate) fn staged_users(read: &ReadTx, cp: &Checkpoint) -> Vec<String> {
    let mut users = Vec::new();
    read.for_each_staged(&cp.profile, cp.run_id, |e| {
        users.push(e.external_user_id);
        Ok::<_, ReadError>(())
    })
    .unwrap();
    users
}

#[tokio::test]
async fn a_malformed_record_stops_the_run_and_commits_nothing_of_its_page() {
    assert_page_two_refused(Bad::Malformed, |f| {
        matches!(f, PageFault::Malformed { index: 1, reason } if reason.contains("external-user-id"))
    })
    .await;
}

#[tokio::test]
async fn a_duplicate_key_within_a_page_stops_the_run() {
    assert_page_two_refused(
        Bad::Duplicate,
        |f| matches!(f, PageFault::DuplicateKey { key } if key == "user-004/pro"),
    )
    .await;
}

#[tokio::test]
async fn a_cursor_that_does_not_advance_stops_the_run() {
    assert_page_two_refused(
        Bad::StuckCursor,
        |f| matches!(f, PageFault::CursorDidNotAdvance { cursor } if cursor == "4"),
    )
    .await;
}

#[tokio::test]
/// The same user, identifier and group on two pages of one run is a repeat (the same user
/// with another group is not: see `two_selected_groups_give_one_seat_per_user_granted_by_both`).
async fn a_key_repeated_from_an_earlier_page_stops_the_run() {
    assert_page_two_refused(
        Bad::Repeat,
        |f| matches!(f, PageFault::RepeatedKey { key } if key == "user-000/pro granted by g"),
    )
    .await;
}

#[tokio::test]
async fn an_oversized_field_is_refused_with_its_key_before_the_page_is_written() {
    assert_page_two_refused(Bad::Oversized, |f| {
        matches!(f, PageFault::Oversized { key, reason } if key == "user-005/pro" && reason.contains("display-name"))
    })
    .await;
}

#[tokio::test]
async fn a_cursor_cycle_stops_the_run() {
    // Pages at cursors none, 4, 8; the third answers "go back to 4".
    let source = FakeSource::new(&users(12), 4).bad(3, Bad::CycleCursor);
    let (_dir, store) = store_with_profile("fake", None);
    let clock = FixedClock::new(NOW);
    let err = tokio::time::timeout(
        Duration::from_secs(20),
        Pipeline::new(&store)
            .clock(&clock)
            .download_subscriptions(&source, "p"),
    )
    .await
    .expect("the run stops instead of cycling")
    .unwrap_err();
    assert!(
        matches!(&err, PipelineError::Page { page: 3, fault: PageFault::CursorCycle { cursor }, .. } if cursor == "4"),
        "{err}"
    );
    assert!(store.read().unwrap().subscriptions("p").unwrap().is_empty());
}

#[tokio::test]
async fn a_run_stops_at_its_page_limit() {
    let source = FakeSource::new(&users(12), 4);
    let (_dir, store) = store_with_profile("fake", None);
    let clock = FixedClock::new(NOW);
    let err = Pipeline::new(&store)
        .clock(&clock)
        .max_pages(2)
        .download_subscriptions(&source, "p")
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            PipelineError::Page {
                page: 3,
                fault: PageFault::TooManyPages { limit: 2 },
                ..
            }
        ),
        "{err}"
    );
    assert!(store.read().unwrap().subscriptions("p").unwrap().is_empty());
    // The same listing within the limit completes.
    Pipeline::new(&store)
        .clock(&clock)
        .max_pages(3)
        .download_subscriptions(&FakeSource::new(&users(12), 4), "p")
        .await
        .expect("three pages are within a limit of three");
}

#[tokio::test]
async fn a_profiles_stored_limits_bound_its_runs_over_the_pipelines() {
    let (_dir, store) = store_with_profile("fake", None);
    let clock = FixedClock::new(NOW);
    store
        .write(|tx| {
            let mut limits = tx.profile_limits("p")?;
            limits.values.insert("pages".into(), 2);
            tx.put_profile_limits(&limits)
        })
        .unwrap();
    // The embedding program allows ten pages; the operator's two win.
    let err = Pipeline::new(&store)
        .clock(&clock)
        .max_pages(10)
        .download_subscriptions(&FakeSource::new(&users(12), 4), "p")
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            PipelineError::Page {
                fault: PageFault::TooManyPages { limit: 2 },
                ..
            }
        ),
        "{err}"
    );
    // A field limit below the fake's display names refuses the first page.
    store
        .write(|tx| {
            let mut limits = tx.profile_limits("p")?;
            limits.values.clear();
            limits.values.insert("field-bytes".into(), 3);
            tx.put_profile_limits(&limits)
        })
        .unwrap();
    let err = Pipeline::new(&store)
        .clock(&clock)
        .download_subscriptions(&FakeSource::new(&users(12), 4), "p")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PipelineError::Page { fault: PageFault::Oversized { reason, .. }, .. } if reason.contains("more than 3")),
        "{err}"
    );
    store
        .write(|tx| {
            tx.put_profile_limits(&sam_engine::model::ProfileLimits {
                profile: "p".into(),
                ..Default::default()
            })
        })
        .unwrap();
    Pipeline::new(&store)
        .clock(&clock)
        .download_subscriptions(&FakeSource::new(&users(12), 4), "p")
        .await
        .expect("without the operator's limits the run completes");
}

#[tokio::test]
async fn a_failed_call_stops_the_run() {
    assert_page_two_refused(Bad::FailCall, |f| {
        matches!(f, PageFault::Call { call: "download-subscriptions", message } if message == "vendor said no")
    })
    .await;
}

#[tokio::test]
async fn unrecognized_identifiers_are_listed_with_counts_until_a_model_is_assigned() {
    let mut tenant = users(5);
    tenant.extend([(10, "legacy"), (11, "legacy"), (12, "legacy")]);
    let source = FakeSource::new(&tenant, 3);
    let (_dir, store) = store_with_profile("fake", None);
    let clock = FixedClock::new(NOW);
    Pipeline::new(&store)
        .clock(&clock)
        .download_subscriptions(&source, "p")
        .await
        .unwrap();
    let snap = snapshot(&store);
    assert_eq!(
        snap.models.len(),
        1,
        "one model, for the manifest's product"
    );
    assert_eq!(snap.models[0].id, "fake inc/fake pro");
    let legacy = snap
        .identifiers
        .iter()
        .find(|i| i.identifier == "legacy")
        .unwrap();
    assert!(!legacy.recognized());
    assert_eq!(legacy.subscription_count, 3);
    assert_eq!(legacy.profiles, ["p"]);

    store
        .write(|tx| {
            tx.put_model(&SoftwareModel {
                id: "fake inc/legacy".into(),
                publisher: "Fake Inc".into(),
                product: "Legacy".into(),
                edition: None,
                auto_created: false,
                created_at: NOW,
            })?;
            tx.assign_model("fake", "legacy", "fake inc/legacy")
        })
        .unwrap();
    let read = store.read().unwrap();
    let models: Vec<_> = read
        .subscriptions("p")
        .unwrap()
        .into_iter()
        .filter(|s| s.identifier == "legacy")
        .map(|s| s.model)
        .collect();
    assert_eq!(models, vec![Some("fake inc/legacy".to_string()); 3]);
    drop(read);
    // A later download keeps the assignment.
    Pipeline::new(&store)
        .clock(&clock)
        .download_subscriptions(&source, "p")
        .await
        .unwrap();
    let sub = store
        .read()
        .unwrap()
        .subscription("p", "user-010", "legacy")
        .unwrap()
        .unwrap();
    assert_eq!(sub.model.as_deref(), Some("fake inc/legacy"));
}

#[tokio::test]
async fn the_activity_window_starts_at_analyze_from_then_runs_incrementally() {
    let tenant = users(6);
    let source = FakeSource::new(&tenant, 2).activity(&[
        (0, NOW - 5 * DAY),
        (1, NOW - 100),
        (2, -1),
        (3, -2),
    ]);
    // analyze-from 10 days back is honoured ...
    let (_dir, store) = store_with_profile("fake", Some(NOW - 10 * DAY));
    let clock = FixedClock::new(NOW);
    let pipeline = Pipeline::new(&store).clock(&clock).lookup_batch(2);
    pipeline.download_subscriptions(&source, "p").await.unwrap();
    let first = pipeline.download_activity(&source, "p").await.unwrap();
    assert_eq!(source.sinces.lock().unwrap()[0], NOW - 10 * DAY);
    // users 2..5 were not in the scan: looked up two at a time.
    assert_eq!(*source.lookups.lock().unwrap(), [2, 2]);
    assert_eq!(first.pages, 1 + 2);
    let read = store.read().unwrap();
    let state = |u: &str| read.activity("p", u).unwrap().unwrap();
    assert_eq!(state("user-000").last_activity, Some(NOW - 5 * DAY));
    assert_eq!(state("user-000").source.as_deref(), Some("page updated"));
    assert_eq!(state("user-002").state, ActivityState::NoneInWindow);
    assert_eq!(state("user-002").last_activity, None);
    assert_eq!(
        state("user-003").state,
        ActivityState::Unknown("hidden".into())
    );
    assert_eq!(state("user-005").state, ActivityState::NoneInWindow);
    drop(read);

    // ... then the next run starts one overlap before the last run's start, and only asks
    // about users with no record or an unknown state.
    clock.advance(DAY / 2);
    source.lookups.lock().unwrap().clear();
    let second = pipeline.download_activity(&source, "p").await.unwrap();
    assert_eq!(source.sinces.lock().unwrap()[1], NOW - DAY);
    assert_eq!(*source.lookups.lock().unwrap(), [1], "only user-003");
    assert_eq!(second.upserted, 0);

    // An analyze-from older than the look-back is clamped to it.
    let (_dir2, store2) = store_with_profile("fake", Some(NOW - 400 * DAY));
    let pipeline2 = Pipeline::new(&store2).clock(&clock);
    pipeline2.download_activity(&source, "p").await.unwrap();
    assert_eq!(
        source.sinces.lock().unwrap()[2],
        clock_now(&clock) - 60 * DAY
    );
}

fn clock_now(clock: &FixedClock) -> i64 {
    use sam_engine::pipeline::Clock;
    clock.now()
}

#[test]
fn update_if_later_keeps_the_latest_activity() {
    use sam_engine::pipeline::activity::apply_status;
    let seen = |at| {
        ActivityStatus::Seen(ActivitySeen {
            at,
            source: format!("at {at}"),
            kind: sam_engine::contract::ActivitySource::Other,
        })
    };
    let r1 = apply_status(None, "p", "u", &seen(100), 50).unwrap();
    assert_eq!(r1.last_activity, Some(100));
    assert!(
        apply_status(Some(&r1), "p", "u", &seen(90), 50).is_none(),
        "earlier: no change"
    );
    let r2 = apply_status(Some(&r1), "p", "u", &seen(120), 50).unwrap();
    assert_eq!(
        (r2.last_activity, r2.source.as_deref()),
        (Some(120), Some("at 120"))
    );
    // None in a window that still contains the last activity changes nothing ...
    assert!(apply_status(Some(&r2), "p", "u", &ActivityStatus::NoneInWindow, 110).is_none());
    // ... but a window after it records "none in window", keeping the last activity.
    let r3 = apply_status(Some(&r2), "p", "u", &ActivityStatus::NoneInWindow, 130).unwrap();
    assert_eq!(
        (&r3.state, r3.last_activity),
        (&ActivityState::NoneInWindow, Some(120))
    );
    assert!(
        apply_status(
            Some(&r3),
            "p",
            "u",
            &ActivityStatus::Unknown("x".into()),
            130
        )
        .is_none()
    );
}

// ---------------------------------------------------------------------------------------
// Property tests

/// Stops the run after committing page `at` of process `process`.
struct CrashAt {
    process: ProcessKind,
    at: u64,
}

impl CommitHook for CrashAt {
    fn after_commit(&self, process: ProcessKind, page: u64) -> Result<(), String> {
        if process == self.process && page == self.at {
            Err("injected crash".into())
        } else {
            Ok(())
        }
    }
}

/// Users with their identifier, activity entries, page size.
type Tenant = (Vec<(u32, &'static str)>, Vec<(u32, i64)>, usize);

fn tenant_strategy() -> impl Strategy<Value = Tenant> {
    (
        prop::collection::btree_map(0u32..80, prop::bool::weighted(0.15), 1..40),
        prop::collection::btree_map(0u32..80, -2i64..40, 0..40),
        1usize..7,
    )
        .prop_map(|(users, activity, page)| {
            let users = users
                .into_iter()
                .map(|(u, legacy)| (u, if legacy { "legacy" } else { "pro" }))
                .collect();
            let activity = activity
                .into_iter()
                .map(|(u, d)| (u, if d < 0 { d } else { NOW - d * 3600 }))
                .collect();
            (users, activity, page)
        })
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// A failure after a random committed page (or a failed call), then a rerun, gives
    /// exactly the state of an uninterrupted run, for download and for activity, on top of
    /// an earlier complete run (so ending and updates are exercised).
    #[test]
    fn a_crash_after_any_page_then_a_rerun_equals_an_uninterrupted_run(
        (old_users, _, _) in tenant_strategy(),
        (new_users, activity, page_size) in tenant_strategy(),
        crash_seed in 1u64..1000,
        crash_activity in any::<bool>(),
        fail_call in any::<bool>(),
        slices in 1usize..4,
    ) {
        block_on(async {
            let clock = FixedClock::new(NOW);
            let old = FakeSource::new(&old_users, 5);
            // The activity scan in `slices` chains (issue 23) when more than one.
            let new = FakeSource::new(&new_users, page_size)
                .activity(&activity)
                .sliced(slices);
            let (_d1, crashed) = store_with_profile("fake", None);
            let (_d2, clean) = store_with_profile("fake", None);
            for store in [&crashed, &clean] {
                Pipeline::new(store).clock(&clock).download_subscriptions(&old, "p").await.unwrap();
            }
            clock.advance(3600);

            let download_pages = new_users.len().div_ceil(page_size) as u64;
            let (process, pages) = if crash_activity {
                (ProcessKind::DownloadActivity, 1 + new_users.len() as u64 / 3)
            } else {
                (ProcessKind::DownloadSubscriptions, download_pages)
            };
            let at = 1 + crash_seed % pages.max(1);
            let hook = CrashAt { process, at };
            let p = Pipeline::new(&crashed).clock(&clock).lookup_batch(3);
            if fail_call && !crash_activity {
                new.fail_call.store(at, Ordering::SeqCst);
            }
            let first = async {
                p.hook(&hook).download_subscriptions(&new, "p").await?;
                Pipeline::new(&crashed).clock(&clock).lookup_batch(3).hook(&hook)
                    .download_activity(&new, "p").await
            }.await;
            let stopped = first.is_err();
            // Rerun to completion.
            let p = Pipeline::new(&crashed).clock(&clock).lookup_batch(3);
            p.download_subscriptions(&new, "p").await.unwrap();
            p.download_activity(&new, "p").await.unwrap();

            let p = Pipeline::new(&clean).clock(&clock).lookup_batch(3);
            p.download_subscriptions(&new, "p").await.unwrap();
            p.download_activity(&new, "p").await.unwrap();

            prop_assert_eq!(snapshot(&crashed), snapshot(&clean));
            if slices > 1 {
                // Sliced and single scans give the same state.
                let single = FakeSource::new(&new_users, page_size).activity(&activity);
                let (_d3, one) = store_with_profile("fake", None);
                let p = Pipeline::new(&one).clock(&clock).lookup_batch(3);
                clock.advance(-3600);
                p.download_subscriptions(&old, "p").await.unwrap();
                clock.advance(3600);
                p.download_subscriptions(&single, "p").await.unwrap();
                p.download_activity(&single, "p").await.unwrap();
                prop_assert_eq!(snapshot(&one), snapshot(&clean));
            }
            let read = crashed.read().unwrap();
            for process in [ProcessKind::DownloadSubscriptions, ProcessKind::DownloadActivity] {
                prop_assert!(read.checkpoint("p", process).unwrap().is_none());
            }
            let jobs = read.job_results().unwrap();
            prop_assert!(jobs.iter().all(|j| j.status == JobStatus::Succeeded));
            if stopped {
                prop_assert!(jobs.iter().any(|j| j.attempts == 2));
            }
            Ok(())
        })?;
    }

    /// A second run on unchanged vendor data changes nothing.
    #[test]
    fn a_second_run_on_unchanged_data_changes_nothing(
        (users, activity, page_size) in tenant_strategy(),
    ) {
        block_on(async {
            let clock = FixedClock::new(NOW);
            let source = FakeSource::new(&users, page_size).activity(&activity);
            let (_d, store) = store_with_profile("fake", None);
            let p = Pipeline::new(&store).clock(&clock).lookup_batch(4);
            p.download_subscriptions(&source, "p").await.unwrap();
            p.download_activity(&source, "p").await.unwrap();
            let before = snapshot(&store);
            clock.advance(600);
            let d = p.download_subscriptions(&source, "p").await.unwrap();
            let a = p.download_activity(&source, "p").await.unwrap();
            prop_assert_eq!((d.upserted, d.ended, a.upserted), (0, 0, 0));
            prop_assert_eq!(snapshot(&store), before);
            Ok(())
        })?;
    }
}

// ---------------------------------------------------------------------------------------
// kill -9 of the real binary

/// The `sam` executable next to this test binary. `cargo test --workspace` builds it fresh
/// before any test runs (the engine package has integration tests of its own); only a run
/// limited to this package may have to build it here.
pub fn sam_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let bin = dir.join("sam");
    if !bin.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", "sam-engine", "--bin", "sam"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building sam failed");
    }
    bin
}

pub(crate) fn sam(db: &Path, token: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(sam_bin());
    cmd.arg("--db")
        .arg(db)
        .arg("--no-cache")
        .args(args)
        .env("SAM_TEST_TOKEN", token)
        .env("SAM_LOG", "warn")
        .stdin(std::process::Stdio::null());
    cmd
}

pub(crate) fn create_profile(db: &Path, sim: &SimHandle, token: &str) {
    let group = sim.group_id("confluence-users").unwrap();
    let cloud = format!("cloud-id={}", sim.cloud_id());
    let out = sam(
        db,
        token,
        &[
            "profile",
            "create",
            "p",
            "--spoke",
            sam_tests::confluence_spoke_wasm(),
            "--connection-url",
            &sim.connection_url(),
            "--grant-host",
            "127.0.0.1",
            "--config",
            &cloud,
            "--group",
            &group,
            "--token-env",
            "SAM_TEST_TOKEN",
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn run_download(db: &Path, token: &str) -> serde_json::Value {
    let out = sam(
        db,
        token,
        &["run", "download", "--draft", "--profile", "p", "--json"],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// User, display name, granted by, active, model.
pub(crate) type Facts = (String, Option<String>, Vec<String>, bool, Option<String>);

pub(crate) fn facts(store: &Store) -> Vec<Facts> {
    store
        .read()
        .unwrap()
        .subscriptions("p")
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.external_user_id,
                s.display_name,
                s.granted_by,
                s.active,
                s.model,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_download_then_rerun_equals_an_uninterrupted_run() {
    let sim = sim(2400).await;
    let token = sim.mint_token(&scopes());
    let dir = tempfile::tempdir().unwrap();
    let (killed_db, clean_db) = (
        dir.path().join("killed.redb"),
        dir.path().join("clean.redb"),
    );
    let (s, t, k, c) = (&sim, token.clone(), killed_db.clone(), clean_db.clone());
    tokio::task::block_in_place(|| {
        create_profile(&k, s, &t);
        create_profile(&c, s, &t);
    });
    // Slow enough that the pages read concurrently (issue 23) still span a durable
    // checkpoint (one a second) before the kill.
    sim.set_latency(Endpoint::GroupMembers, Duration::from_millis(600));
    sim.reset_calls();

    let mut child = sam(
        &killed_db,
        &token,
        &["run", "download", "--draft", "--profile", "p"],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while sim.calls_to(Endpoint::GroupMembers) < 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "the run did not get going"
        );
        assert!(child.try_wait().unwrap().is_none(), "sam exited early");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    let status = tokio::task::block_in_place(|| child.wait()).unwrap();
    assert!(!status.success());
    // The group's first page told its size, so the killed run read the later pages
    // concurrently (issue 23): it was killed mid parallel download.
    assert!(sim.max_in_flight() > 1, "the pages were read concurrently");

    // The killed run left committed pages and its checkpoint.
    {
        let store = Store::open(&killed_db).unwrap();
        let read = store.read().unwrap();
        let cp = read
            .checkpoint("p", ProcessKind::DownloadSubscriptions)
            .unwrap()
            .expect("an unfinished run");
        assert!(cp.pages >= 1, "{cp:?}");
        assert_eq!(staged_users(&read, &cp).len() as u64, cp.records_seen);
        assert!(read.subscriptions("p").unwrap().is_empty());
    }

    sim.set_latency(Endpoint::GroupMembers, Duration::ZERO);
    let (k, c, t) = (killed_db.clone(), clean_db.clone(), token.clone());
    let resumed = tokio::task::block_in_place(|| run_download(&k, &t));
    sim.reset_calls();
    let clean = tokio::task::block_in_place(|| run_download(&c, &t));
    // Calls per page unchanged: one call per member page, none twice.
    assert_eq!(
        serde_json::Value::from(sim.calls_to(Endpoint::GroupMembers)),
        clean["pages"]
    );
    assert_eq!(resumed["status"], "succeeded");
    assert_eq!(resumed["attempts"], 2);
    assert_eq!(clean["attempts"], 1);
    assert_eq!(resumed["records_seen"], clean["records_seen"]);
    assert_eq!(resumed["pages"], clean["pages"]);

    let killed = Store::open(&killed_db).unwrap();
    let clean = Store::open(&clean_db).unwrap();
    let (a, b) = (facts(&killed), facts(&clean));
    assert_eq!(a.len(), members(&sim, "confluence-users").len());
    assert_eq!(a, b);
    assert_eq!(
        killed.read().unwrap().identifiers().unwrap(),
        clean.read().unwrap().identifiers().unwrap()
    );
}
