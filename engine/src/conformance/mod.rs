//! The conformance kit: a contract suite any spoke must pass before it touches a real tenant,
//! after the Airbyte connector acceptance tests. Given a loaded spoke and a [`CheckTarget`]
//! (a working session and config, plus optional hooks into a simulator), [`run_suite`] checks
//! that the manifest is well formed and complete; that `validate` passes with good config
//! and fails typed with bad config or a rejected credential; that downloads and activity
//! scans terminate, never repeat a record across pages, and resume from any cursor to the
//! same page; that `lookup-activity` answers once per user; that `plan-reclaim` writes
//! nothing, `apply-reclaim` is idempotent and finishes a partial apply, and `restore` puts
//! back exactly the plan (for a `sam:spoke@0.1.0` spoke: that `reclaim` is idempotent and
//! `restore` undoes it); and that a rate-limited vendor surfaces as a typed `rate-limited`
//! error. Each rule yields a [`RuleResult`]; nothing here panics on what a spoke returns.
//! [`Kit`] ([`kit`]) chooses the target (a bundled simulator, a vendor URL, a recording) and
//! runs the suite, for `sam plugin check` and for a spoke's own tests; [`cassette`] records a
//! run's exchanges and replays them with no network.

pub mod cassette;
pub mod kit;

pub use kit::{Kit, KitError, Report};

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::contract::{
    ActivityStatus, AuthScheme, Config, Process, SpokeError, Subscription, SubscriptionRef,
};
use crate::host::{CallError, CallErrorKind, GateSession, LoadedSpoke, manifest_problems};

/// Pages a walk may take before the kit calls it endless.
const MAX_PAGES: usize = 20_000;
/// Cursors re-requested to prove resumption (spread over the walk).
const RESUME_SAMPLES: usize = 12;

/// Hooks into a vendor simulator for the rules a real tenant cannot be asked to play along
/// with (a quota storm).
pub trait VendorControls: Send + Sync {
    /// Makes every vendor endpoint answer 429 with a long `Retry-After` until `calm` is called.
    fn start_quota_storm(&self);
    /// Ends the storm.
    fn calm(&self);
}

/// What the suite runs against.
pub struct CheckTarget {
    /// A session with a working credential.
    pub session: Arc<GateSession>,
    /// A session whose credential the vendor rejects.
    pub rejected_session: Arc<GateSession>,
    /// A working config (config fields and selected groups).
    pub config: Config,
    /// "Now", in epoch seconds, for the activity window.
    pub now: i64,
    /// Whether the kit may take a seat back and restore it (never on a real tenant unless
    /// the operator says so).
    pub allow_writes: bool,
    /// Users the kit must not reclaim (for example the consenting admin).
    pub protected_users: Vec<String>,
    /// Simulator hooks, when the target is one.
    pub vendor: Option<Arc<dyn VendorControls>>,
}

/// The verdict on one rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "lowercase")]
pub enum Outcome {
    /// The rule holds.
    Pass,
    /// The rule is broken; why.
    Fail(String),
    /// The rule could not be checked here; why.
    Skip(String),
}

/// One rule and its verdict.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleResult {
    /// Stable rule id, e.g. `download.no-repeats`.
    pub rule: &'static str,
    /// What the rule demands, in words.
    pub title: &'static str,
    /// The verdict.
    pub outcome: Outcome,
}

impl RuleResult {
    fn new(rule: &'static str, title: &'static str, outcome: Outcome) -> Self {
        Self {
            rule,
            title,
            outcome,
        }
    }
}

/// Whether every rule passed or was skipped.
pub fn all_passed(results: &[RuleResult]) -> bool {
    results
        .iter()
        .all(|r| !matches!(r.outcome, Outcome::Fail(_)))
}

fn fail(message: impl Into<String>) -> Outcome {
    Outcome::Fail(message.into())
}

fn describe(error: &CallError) -> String {
    error.kind.to_string()
}

/// Runs every rule, in order, and returns their verdicts.
pub async fn run_suite(spoke: &LoadedSpoke, target: &CheckTarget) -> Vec<RuleResult> {
    let mut results = vec![RuleResult::new(
        "manifest.complete",
        "the manifest is well formed and complete",
        check_manifest(spoke),
    )];
    let processes: Vec<Process> = spoke
        .manifest()
        .processes
        .iter()
        .map(|p| p.process)
        .filter(|p| *p != Process::Reclaim)
        .collect();

    results.push(RuleResult::new(
        "validate.good-config",
        "validate succeeds with good config",
        match spoke
            .validate(&target.session, &target.config, &processes)
            .await
        {
            Ok(checks) if checks.is_empty() => fail("validate checked nothing"),
            Ok(checks) => match checks.iter().find(|c| c.outcome.is_err()) {
                Some(failed) => fail(format!(
                    "check `{}` failed: {}",
                    failed.description,
                    failed
                        .outcome
                        .as_ref()
                        .err()
                        .map(SpokeError::describe)
                        .unwrap_or_default()
                )),
                None => Outcome::Pass,
            },
            Err(error) => fail(describe(&error)),
        },
    ));

    let bad_config = Config {
        values: vec![],
        selected_groups: vec![],
    };
    results.push(RuleResult::new(
        "validate.bad-config",
        "validate fails with a typed error when the config is empty",
        typed_failure(
            spoke
                .validate(&target.session, &bad_config, &processes)
                .await,
        ),
    ));
    results.push(RuleResult::new(
        "validate.bad-credential",
        "validate reports a rejected credential as a typed failure",
        typed_failure(
            spoke
                .validate(&target.rejected_session, &target.config, &processes)
                .await,
        ),
    ));

    let download = walk_download(spoke, target).await;
    let subscriptions = match &download {
        Ok(walk) => walk.subscriptions.clone(),
        Err(_) => vec![],
    };
    results.push(RuleResult::new(
        "download.terminates",
        "download-subscriptions ends, and every cursor advances",
        match &download {
            Ok(_) => Outcome::Pass,
            Err(reason) => fail(reason.clone()),
        },
    ));
    results.push(RuleResult::new(
        "download.no-repeats",
        "no (user, identifier, group) is reported twice in a run, nor a user twice on a page",
        match &download {
            Ok(walk) => walk.repeat.clone().map_or(Outcome::Pass, fail),
            Err(_) => Outcome::Skip("the download did not complete".into()),
        },
    ));
    results.push(RuleResult::new(
        "download.resumes",
        "re-requesting a page from its cursor gives the same page",
        match &download {
            Ok(walk) => check_download_resume(spoke, target, walk).await,
            Err(_) => Outcome::Skip("the download did not complete".into()),
        },
    ));

    let has_activity = spoke
        .manifest()
        .processes
        .iter()
        .any(|p| p.process == Process::DownloadActivity);
    let since = target.now - i64::from(spoke.manifest().activity_lookback_days.max(1)) * 86_400;
    if has_activity && spoke.manifest().activity_from_download {
        // The activity rides on the download pages: every seat must carry it, with a time
        // that is not in the future; the download's own rules cover ending and resuming.
        let missing = subscriptions.iter().find(|s| match &s.activity {
            None => true,
            Some(ActivityStatus::Seen(seen)) => seen.at < 0 || seen.at > target.now + 86_400,
            Some(_) => false,
        });
        results.push(RuleResult::new(
            "activity.terminates",
            "every downloaded seat carries its activity (activity-from-download)",
            match missing {
                Some(s) => fail(format!(
                    "{} has no activity, or one outside any window: {:?}",
                    s.external_user_id, s.activity
                )),
                None if subscriptions.is_empty() => {
                    Outcome::Skip("the download returned no seats".into())
                }
                None => Outcome::Pass,
            },
        ));
        results.push(RuleResult::new(
            "activity.resumes",
            "activity resumes with the download's cursor",
            Outcome::Skip("activity comes with the download pages (download.resumes)".into()),
        ));
        results.push(RuleResult::new(
            "activity.lookup",
            "lookup-activity answers exactly once for each user asked about",
            check_lookup(spoke, target, since, &subscriptions).await,
        ));
    } else if has_activity {
        let (terminates, resumes) = check_activity(spoke, target, since).await;
        results.push(RuleResult::new(
            "activity.terminates",
            "download-activity ends, repeats no record, and reports only the window",
            terminates,
        ));
        results.push(RuleResult::new(
            "activity.resumes",
            "re-requesting an activity page from its cursor gives the same page",
            resumes,
        ));
        results.push(RuleResult::new(
            "activity.lookup",
            "lookup-activity answers exactly once for each user asked about",
            check_lookup(spoke, target, since, &subscriptions).await,
        ));
    } else {
        for (rule, title) in [
            ("activity.terminates", "download-activity ends"),
            ("activity.resumes", "activity resumes from any cursor"),
            ("activity.lookup", "lookup-activity answers once per user"),
        ] {
            results.push(RuleResult::new(
                rule,
                title,
                Outcome::Skip("the spoke does not support download-activity".into()),
            ));
        }
    }

    let has_reclaim = spoke
        .manifest()
        .processes
        .iter()
        .any(|p| p.process == Process::Reclaim);
    let reclaim = if !has_reclaim {
        ReclaimChecks::skipped("the spoke does not support reclaim")
    } else if !target.allow_writes {
        ReclaimChecks::skipped("writes not allowed against this target (--allow-writes)")
    } else if spoke.plans_reclaims() {
        check_plan_apply(spoke, target, &subscriptions).await
    } else {
        let (idempotent, undo) = check_reclaim_legacy(spoke, target, &subscriptions).await;
        let why = Outcome::Skip(format!(
            "built against sam:spoke@{}, which has no plan-reclaim/apply-reclaim",
            spoke.contract_version()
        ));
        ReclaimChecks {
            plan_read_only: why.clone(),
            apply_finishes_partial: why,
            idempotent,
            undo,
        }
    };
    results.push(RuleResult::new(
        "reclaim.plan-read-only",
        "plan-reclaim makes no write request and plans the same changes twice",
        reclaim.plan_read_only,
    ));
    results.push(RuleResult::new(
        "reclaim.apply-finishes-partial",
        "apply-reclaim after a partial apply finishes the rest and reports the whole plan",
        reclaim.apply_finishes_partial,
    ));
    results.push(RuleResult::new(
        "reclaim.idempotent",
        "reclaiming a seat twice changes nothing the second time",
        reclaim.idempotent,
    ));
    results.push(RuleResult::new(
        "restore.undoes-reclaim",
        "restore puts back exactly what reclaim took",
        reclaim.undo,
    ));

    results.push(RuleResult::new(
        "rate-limit.typed",
        "a vendor quota storm surfaces as a typed rate-limited error, not a crash",
        match &target.vendor {
            Some(vendor) => check_rate_limit(spoke, target, vendor.as_ref()).await,
            None => Outcome::Skip("needs a simulator target to provoke a quota".into()),
        },
    ));
    results
}

fn check_manifest(spoke: &LoadedSpoke) -> Outcome {
    let manifest = spoke.manifest();
    let mut problems = manifest_problems(manifest);
    for permission in &manifest.processes {
        if permission.vendor_role.trim().is_empty() {
            problems.push(format!("{} has no vendor role", permission.process.key()));
        }
        if matches!(manifest.auth, AuthScheme::Oauth2AuthorizationCode(_))
            && permission.scopes.is_empty()
        {
            problems.push(format!(
                "{} lists no OAuth scopes",
                permission.process.key()
            ));
        }
    }
    if let AuthScheme::Oauth2AuthorizationCode(oauth) = &manifest.auth {
        for (name, url) in [
            ("authorize-url", &oauth.authorize_url),
            ("token-url", &oauth.token_url),
        ] {
            if url::Url::parse(url)
                .map(|u| u.scheme() != "https")
                .unwrap_or(true)
            {
                problems.push(format!("{name} `{url}` is not an https URL"));
            }
        }
    }
    let fields: BTreeSet<&str> = manifest
        .config_fields
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    for placeholder in placeholders(&manifest.connection_url_template) {
        if !fields.contains(placeholder.as_str()) {
            problems.push(format!(
                "connection URL placeholder {{{placeholder}}} is not a config field"
            ));
        }
    }
    if manifest.activity_lookback_days == 0 {
        problems.push("activity-lookback-days is 0".into());
    }
    if problems.is_empty() {
        Outcome::Pass
    } else {
        fail(problems.join("; "))
    }
}

/// The `{name}` placeholders of a URL template.
pub fn placeholders(template: &str) -> Vec<String> {
    template
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

fn typed_failure(outcome: Result<Vec<crate::contract::ValidationCheck>, CallError>) -> Outcome {
    match outcome {
        Ok(checks) if checks.iter().any(|c| c.outcome.is_err()) => Outcome::Pass,
        Ok(_) => fail("validate passed although it should not have"),
        Err(CallError {
            kind: CallErrorKind::Spoke(_),
            ..
        }) => Outcome::Pass,
        Err(error) => fail(format!("not a typed spoke error: {}", describe(&error))),
    }
}

struct DownloadWalk {
    cursors: Vec<Option<String>>,
    pages: Vec<Vec<Subscription>>,
    subscriptions: Vec<Subscription>,
    repeat: Option<String>,
}

async fn walk_download(spoke: &LoadedSpoke, target: &CheckTarget) -> Result<DownloadWalk, String> {
    let mut walk = DownloadWalk {
        cursors: vec![None],
        pages: vec![],
        subscriptions: vec![],
        repeat: None,
    };
    let products: BTreeSet<&str> = spoke
        .manifest()
        .products
        .iter()
        .map(|p| p.identifier.as_str())
        .collect();
    let selected: BTreeSet<&str> = target
        .config
        .selected_groups
        .iter()
        .map(String::as_str)
        .collect();
    let mut triples = BTreeSet::new();
    loop {
        let cursor = walk.cursors.last().cloned().flatten();
        let page = spoke
            .download_subscriptions(&target.session, &target.config, cursor.as_deref())
            .await
            .map_err(|e| format!("page {}: {}", walk.pages.len() + 1, describe(&e)))?;
        let mut on_page = BTreeSet::new();
        for s in &page.subscriptions {
            let page_no = walk.pages.len() + 1;
            if !products.contains(s.identifier.as_str()) {
                return Err(format!(
                    "page {page_no}: identifier `{}` is not among the manifest's products",
                    s.identifier
                ));
            }
            // With nothing selected (a spoke whose scope is optional or absent), every grant
            // is in scope.
            if let Some(group) = s
                .granted_by
                .iter()
                .find(|g| !selected.is_empty() && !selected.contains(g.as_str()))
            {
                return Err(format!(
                    "page {page_no}: {} is granted by `{group}`, which is not selected",
                    s.external_user_id
                ));
            }
            if walk.repeat.is_none() && !on_page.insert(s.external_user_id.clone()) {
                walk.repeat = Some(format!("page {page_no}: {} twice", s.external_user_id));
            }
            for group in &s.granted_by {
                let triple = (
                    s.external_user_id.clone(),
                    s.identifier.clone(),
                    group.clone(),
                );
                if walk.repeat.is_none() && !triples.insert(triple) {
                    walk.repeat = Some(format!(
                        "page {page_no}: {} for group {group} was already reported",
                        s.external_user_id
                    ));
                }
            }
        }
        walk.subscriptions
            .extend(page.subscriptions.iter().cloned());
        walk.pages.push(page.subscriptions);
        match page.next_cursor {
            None => return Ok(walk),
            Some(next) => {
                if Some(&next) == cursor.as_ref() {
                    return Err(format!(
                        "page {}: the cursor did not advance ({next})",
                        walk.pages.len()
                    ));
                }
                walk.cursors.push(Some(next));
            }
        }
        if walk.pages.len() >= MAX_PAGES {
            return Err(format!("no end after {MAX_PAGES} pages"));
        }
    }
}

fn samples(len: usize) -> Vec<usize> {
    if len <= RESUME_SAMPLES {
        return (0..len).collect();
    }
    let mut picked: Vec<usize> = (0..RESUME_SAMPLES)
        .map(|i| i * (len - 1) / (RESUME_SAMPLES - 1))
        .collect();
    picked.dedup();
    picked
}

async fn check_download_resume(
    spoke: &LoadedSpoke,
    target: &CheckTarget,
    walk: &DownloadWalk,
) -> Outcome {
    for index in samples(walk.pages.len()) {
        let cursor = walk.cursors[index].as_deref();
        match spoke
            .download_subscriptions(&target.session, &target.config, cursor)
            .await
        {
            Ok(page) if page.subscriptions == walk.pages[index] => {}
            Ok(_) => return fail(format!("page {} differs when resumed", index + 1)),
            Err(error) => return fail(format!("page {}: {}", index + 1, describe(&error))),
        }
    }
    let garbage = spoke
        .download_subscriptions(&target.session, &target.config, Some("\u{1}not a cursor"))
        .await;
    match garbage {
        Err(CallError {
            kind: CallErrorKind::Spoke(SpokeError::InvalidConfig(_)),
            ..
        }) => Outcome::Pass,
        Err(error) => fail(format!(
            "a malformed cursor should be invalid-config, got {}",
            describe(&error)
        )),
        Ok(_) => fail("a malformed cursor was accepted"),
    }
}

async fn check_activity(
    spoke: &LoadedSpoke,
    target: &CheckTarget,
    since: i64,
) -> (Outcome, Outcome) {
    let mut cursors: Vec<Option<String>> = vec![None];
    let mut pages = Vec::new();
    let mut seen = BTreeSet::new();
    loop {
        let cursor = cursors.last().cloned().flatten();
        let page = match spoke
            .download_activity(&target.session, &target.config, since, cursor.as_deref())
            .await
        {
            Ok(page) => page,
            Err(error) => {
                let why = format!("page {}: {}", pages.len() + 1, describe(&error));
                return (fail(why), Outcome::Skip("the scan did not complete".into()));
            }
        };
        for activity in &page.activities {
            if let ActivityStatus::Seen(s) = &activity.status {
                if s.at < since || s.at > target.now + 86_400 {
                    return (
                        fail(format!(
                            "{} reported at {}, outside the window",
                            activity.external_user_id, s.at
                        )),
                        Outcome::Skip("the scan failed".into()),
                    );
                }
                if !seen.insert((activity.external_user_id.clone(), s.at, s.source.clone())) {
                    return (
                        fail(format!(
                            "page {}: {} at {} repeated",
                            pages.len() + 1,
                            activity.external_user_id,
                            s.at
                        )),
                        Outcome::Skip("the scan failed".into()),
                    );
                }
            }
        }
        pages.push(page.activities);
        match page.next_cursor {
            None => break,
            Some(next) if Some(&next) == cursor.as_ref() => {
                return (
                    fail("the activity cursor did not advance"),
                    Outcome::Skip("the scan failed".into()),
                );
            }
            Some(next) => cursors.push(Some(next)),
        }
        if pages.len() >= MAX_PAGES {
            return (
                fail(format!("no end after {MAX_PAGES} pages")),
                Outcome::Skip("the scan failed".into()),
            );
        }
    }
    for index in samples(pages.len()) {
        match spoke
            .download_activity(
                &target.session,
                &target.config,
                since,
                cursors[index].as_deref(),
            )
            .await
        {
            Ok(page) if page.activities == pages[index] => {}
            Ok(_) => {
                return (
                    Outcome::Pass,
                    fail(format!("activity page {} differs when resumed", index + 1)),
                );
            }
            Err(error) => {
                return (
                    Outcome::Pass,
                    fail(format!("activity page {}: {}", index + 1, describe(&error))),
                );
            }
        }
    }
    (Outcome::Pass, Outcome::Pass)
}

async fn check_lookup(
    spoke: &LoadedSpoke,
    target: &CheckTarget,
    since: i64,
    subscriptions: &[Subscription],
) -> Outcome {
    let asked: Vec<String> = subscriptions
        .iter()
        .map(|s| s.external_user_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .take(25)
        .collect();
    if asked.is_empty() {
        return Outcome::Skip("the download returned no users to ask about".into());
    }
    match spoke
        .lookup_activity(&target.session, &target.config, since, &asked)
        .await
    {
        Ok(answers) => {
            let mut answered: Vec<String> =
                answers.iter().map(|a| a.external_user_id.clone()).collect();
            answered.sort();
            if answered == asked {
                Outcome::Pass
            } else {
                fail(format!(
                    "asked about {} users, got {} answers for {:?}…",
                    asked.len(),
                    answered.len(),
                    answered.iter().take(3).collect::<Vec<_>>()
                ))
            }
        }
        Err(error) => fail(describe(&error)),
    }
}

fn change_set(changes: &[crate::contract::SeatChange]) -> BTreeSet<(String, String)> {
    changes
        .iter()
        .map(|c| (c.kind.clone(), c.target_id.clone()))
        .collect()
}

/// The outcomes of the reclaim rules.
struct ReclaimChecks {
    plan_read_only: Outcome,
    apply_finishes_partial: Outcome,
    idempotent: Outcome,
    undo: Outcome,
}

impl ReclaimChecks {
    fn skipped(why: &str) -> Self {
        let why = Outcome::Skip(why.into());
        Self {
            plan_read_only: why.clone(),
            apply_finishes_partial: why.clone(),
            idempotent: why.clone(),
            undo: why,
        }
    }
}

/// The seat the reclaim rules act on: the last unprotected one the download reported, with
/// every group that granted it.
fn reclaim_victim(target: &CheckTarget, subscriptions: &[Subscription]) -> Option<SubscriptionRef> {
    // A seat the vendor already cancelled has nothing left to take.
    let victim = subscriptions.iter().rev().find(|s| {
        !target.protected_users.contains(&s.external_user_id) && s.pending_cancellation.is_none()
    })?;
    let granted_by: Vec<String> = subscriptions
        .iter()
        .filter(|s| {
            s.external_user_id == victim.external_user_id && s.identifier == victim.identifier
        })
        .flat_map(|s| s.granted_by.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Some(SubscriptionRef {
        external_user_id: victim.external_user_id.clone(),
        identifier: victim.identifier.clone(),
        granted_by,
    })
}

/// The contract 0.2.0 rules: plan is read-only and stable; apply is idempotent and finishes
/// a partial apply; restore puts back exactly the plan. The tenant is left as found.
async fn check_plan_apply(
    spoke: &LoadedSpoke,
    target: &CheckTarget,
    subscriptions: &[Subscription],
) -> ReclaimChecks {
    let Some(seat) = reclaim_victim(target, subscriptions) else {
        return ReclaimChecks::skipped("no unprotected subscription to reclaim");
    };
    let session = &target.session;
    let config = &target.config;
    let writes = || session.counts().writes;
    let before = writes();
    let plan = match spoke.plan_reclaim(session, config, &seat).await {
        Ok(plan) if plan.is_empty() => {
            let why = fail(format!(
                "plan-reclaim of {} planned nothing although the download reported the seat",
                seat.external_user_id
            ));
            return ReclaimChecks {
                plan_read_only: why,
                ..ReclaimChecks::skipped("nothing planned")
            };
        }
        Ok(plan) => plan,
        Err(error) => {
            return ReclaimChecks {
                plan_read_only: fail(describe(&error)),
                ..ReclaimChecks::skipped("plan-reclaim failed")
            };
        }
    };
    let replanned = spoke.plan_reclaim(session, config, &seat).await;
    let plan_read_only = match replanned {
        _ if writes() != before => fail(format!(
            "plan-reclaim sent {} write requests",
            writes() - before
        )),
        Ok(again) if change_set(&again) == change_set(&plan) => Outcome::Pass,
        Ok(again) => fail(format!(
            "planning twice gave {:?}, then {:?}",
            change_set(&plan),
            change_set(&again)
        )),
        Err(error) => fail(format!("the second plan failed: {}", describe(&error))),
    };
    // A partial apply (the first half of the plan, as an interrupted apply leaves it), then
    // the whole plan: it must finish the rest and report every change.
    let half = &plan[..plan.len() / 2];
    let partial = async {
        spoke
            .apply_reclaim(session, config, &seat, half)
            .await
            .map_err(|e| format!("applying part of the plan failed: {}", describe(&e)))?;
        let applied = spoke
            .apply_reclaim(session, config, &seat, &plan)
            .await
            .map_err(|e| format!("applying the plan failed: {}", describe(&e)))?;
        if change_set(&applied) != change_set(&plan) {
            return Err(format!(
                "after a partial apply, apply-reclaim reported {:?} instead of the plan {:?}",
                change_set(&applied),
                change_set(&plan)
            ));
        }
        let left = spoke
            .plan_reclaim(session, config, &seat)
            .await
            .map_err(|e| format!("planning after apply failed: {}", describe(&e)))?;
        if !left.is_empty() {
            return Err(format!("after apply, a new plan still finds {left:?}"));
        }
        Ok(())
    }
    .await;
    let apply_finishes_partial = match partial {
        Ok(()) => Outcome::Pass,
        Err(why) => fail(why),
    };
    let idempotent = match spoke.apply_reclaim(session, config, &seat, &plan).await {
        Ok(again) if change_set(&again) == change_set(&plan) => Outcome::Pass,
        Ok(again) => fail(format!(
            "applying the plan a second time reported {:?} instead of {:?}",
            change_set(&again),
            change_set(&plan)
        )),
        Err(error) => fail(format!("the second apply failed: {}", describe(&error))),
    };
    let undo: Result<(), String> = async {
        spoke
            .restore(session, config, &seat, &plan)
            .await
            .map_err(|e| format!("restore failed: {}", describe(&e)))?;
        // Planning again must find exactly the same seat to take: proof it was back.
        let again = spoke
            .plan_reclaim(session, config, &seat)
            .await
            .map_err(|e| format!("plan after restore failed: {}", describe(&e)))?;
        if change_set(&again) == change_set(&plan) {
            Ok(())
        } else {
            Err(format!(
                "after restore, plan-reclaim finds {:?} instead of {:?}",
                change_set(&again),
                change_set(&plan)
            ))
        }
    }
    .await;
    let undo = match undo {
        Ok(()) => Outcome::Pass,
        Err(why) => fail(why),
    };
    ReclaimChecks {
        plan_read_only,
        apply_finishes_partial,
        idempotent,
        undo,
    }
}

/// The contract 0.1.0 rules: the single `reclaim` is idempotent and `restore` undoes it.
async fn check_reclaim_legacy(
    spoke: &LoadedSpoke,
    target: &CheckTarget,
    subscriptions: &[Subscription],
) -> (Outcome, Outcome) {
    let Some(seat) = reclaim_victim(target, subscriptions) else {
        let why = Outcome::Skip("no unprotected subscription to reclaim".into());
        return (why.clone(), why);
    };
    let session = &target.session;
    let first = match spoke.reclaim_legacy(session, &target.config, &seat).await {
        Ok(changes) if changes.is_empty() => {
            let why = fail(format!(
                "reclaiming {} changed nothing although the download reported the seat",
                seat.external_user_id
            ));
            return (why, Outcome::Skip("nothing to restore".into()));
        }
        Ok(changes) => changes,
        Err(error) => {
            return (
                fail(describe(&error)),
                Outcome::Skip("reclaim failed".into()),
            );
        }
    };
    let idempotent = match spoke.reclaim_legacy(session, &target.config, &seat).await {
        Ok(again) if again.is_empty() => Outcome::Pass,
        Ok(again) => fail(format!("the second reclaim changed {} more", again.len())),
        Err(error) => fail(format!("the second reclaim failed: {}", describe(&error))),
    };
    let undo: Result<(), String> = async {
        spoke
            .restore(session, &target.config, &seat, &first)
            .await
            .map_err(|e| format!("restore failed: {}", describe(&e)))?;
        // Reclaiming again must find exactly the same seat to take: proof it was back.
        let again = spoke
            .reclaim_legacy(session, &target.config, &seat)
            .await
            .map_err(|e| format!("reclaim after restore failed: {}", describe(&e)))?;
        let verdict = if change_set(&again) == change_set(&first) {
            Ok(())
        } else {
            Err(format!(
                "after restore, reclaim took {:?} instead of {:?}",
                change_set(&again),
                change_set(&first)
            ))
        };
        // Leave the tenant as found.
        spoke
            .restore(session, &target.config, &seat, &again)
            .await
            .map_err(|e| format!("the final restore failed: {}", describe(&e)))?;
        verdict
    }
    .await;
    let undo = match undo {
        Ok(()) => Outcome::Pass,
        Err(why) => fail(why),
    };
    (idempotent, undo)
}

async fn check_rate_limit(
    spoke: &LoadedSpoke,
    target: &CheckTarget,
    vendor: &dyn VendorControls,
) -> Outcome {
    vendor.start_quota_storm();
    let outcome = spoke
        .download_subscriptions(&target.session, &target.config, None)
        .await;
    vendor.calm();
    match outcome {
        Err(CallError {
            kind: CallErrorKind::Spoke(SpokeError::RateLimited(_)),
            ..
        }) => Outcome::Pass,
        Err(error) => fail(format!("expected rate-limited, got {}", describe(&error))),
        Ok(_) => fail("the download succeeded during a quota storm"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_placeholders() {
        assert_eq!(
            placeholders("https://api.atlassian.com/ex/confluence/{cloud-id}"),
            vec!["cloud-id".to_string()]
        );
        assert_eq!(placeholders("https://{a}.x/{b}/c"), vec!["a", "b"]);
        assert!(placeholders("https://x/").is_empty());
    }

    #[test]
    fn samples_cover_both_ends() {
        assert_eq!(samples(3), vec![0, 1, 2]);
        let picked = samples(100);
        assert_eq!(picked.first(), Some(&0));
        assert_eq!(picked.last(), Some(&99));
        assert!(picked.len() <= RESUME_SAMPLES);
    }
}
