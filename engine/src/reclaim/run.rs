//! The reclaim run of one profile: evaluate the rules (new candidates, canceled and skipped
//! ones), then act. Ready candidates are reclaimed (or, when the rule notifies, the user is
//! asked and the candidate waits); candidates approved or timed out in the notify flow are
//! reclaimed. Safety, in order: the profile's Reclaim toggle (off: candidates only), the
//! dry run (a plan and its savings, no vendor call and nothing stored), the per-run cap (a
//! count and a percentage of the profile's seats: no run reclaims more), and for each seat a
//! fresh look: it still exists, it is not excluded, and the spoke's `lookup-activity` says
//! the user has not been active since the threshold.
//!
//! Intent before action: the spoke first plans the reclaim (`plan-reclaim`, read-only), the
//! plan is written durably (a [`ReclaimIntent`], the candidate Reclaiming, the audit entry and
//! the run's cap count, in one transaction), and only then does the spoke apply exactly that
//! plan (`apply-reclaim`, idempotent); the outcome, the closed candidate and the second audit
//! entry are written together, and the intent deleted. A run killed at any point leaves either
//! no intent (nothing was written at the vendor) or a Pending one, which the next run (or
//! `sam daemon` at start) finishes from the stored plan before anything else, without asking
//! the spoke for a new plan: an interrupted reclaim is always finished, never rolled back,
//! because the engine cannot tell whether the vendor had received any of its writes, and
//! applying the same plan again is correct either way (the admin can still undo it). Undo
//! restores the stored plan (joined with the recorded outcome), so it gives back exactly what
//! was taken whenever the crash came. The per-run cap counts across resumes: a profile's run in
//! progress ([`ReclaimRunState`]) keeps the count of seats it acted on. A raised stop flag
//! ends the run after the seat in flight is applied and recorded.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use super::evaluate::{self, IdentifySummary, reclamation_exclusion};
use super::notify::{LogNotifier, Notice, NoticeKind, Notifier};
use super::seats::{SeatActions, SeatPlan, SeatRef};
use super::state::{self, ENGINE_ACTOR};
use super::{ReclaimError, savings_unit_cost};
use crate::contract::ActivityStatus;
use crate::model::{
    AuditAction, CandidateState, DAY, EpochSeconds, IntegrationProfile, IntentStatus, JobResult,
    JobStatus, JobTrigger, ProcessKind, ReclaimIntent, ReclaimRecord, ReclaimRunState,
    ReclamationRule, RemovalCandidate, SeatChange, format_utc,
};
use crate::pipeline::activity::apply_status;
use crate::pipeline::{Clock, SystemClock};
use crate::store::{Store, WriteError};
use std::sync::atomic::{AtomicBool, Ordering};

/// The default cap: at most this share of a profile's seats per run, in percent.
pub const DEFAULT_MAX_PERCENT: f64 = 10.0;

/// How a run may act.
#[derive(Debug, Clone, PartialEq)]
pub struct ReclaimOptions {
    /// Report what would be done; call no spoke and store nothing.
    pub dry_run: bool,
    /// At most this many reclaims per run.
    pub max_count: Option<u64>,
    /// At most this percentage of the profile's active seats per run (rounded down).
    pub max_percent: Option<f64>,
    /// Act only on these candidates (an admin's "Reclaim" on selected candidates; a
    /// candidate needing attention is retried).
    pub only: Option<Vec<u64>>,
    /// Who acts (recorded on every transition).
    pub actor: String,
}

impl Default for ReclaimOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            max_count: None,
            max_percent: Some(DEFAULT_MAX_PERCENT),
            only: None,
            actor: ENGINE_ACTOR.to_string(),
        }
    }
}

impl ReclaimOptions {
    /// The most reclaims a run may make on a profile with `seats` active seats.
    pub fn cap(&self, seats: u64) -> u64 {
        let by_percent = self.max_percent.map_or(u64::MAX, |p| {
            if p.is_finite() && p > 0.0 {
                ((seats as f64) * p.min(100.0) / 100.0).floor() as u64
            } else {
                0
            }
        });
        by_percent.min(self.max_count.unwrap_or(u64::MAX))
    }

    /// Which limit set the cap on a profile with `seats` active seats, and why, for people:
    /// a `--max` held lower by the share says so.
    pub fn cap_reason(&self, seats: u64) -> String {
        let cap = self.cap(seats);
        let percent = |p: f64| {
            let default = if (p - DEFAULT_MAX_PERCENT).abs() < f64::EPSILON {
                ", the default"
            } else {
                ""
            };
            format!("--max-percent {p}{default}: {p}% of {seats} seats, rounded down")
        };
        match (self.max_count, self.max_percent) {
            (Some(max), Some(p)) if cap < max => {
                format!("--max {max} asked, held to {cap} by {}", percent(p))
            }
            (Some(max), _) => format!("--max {max}"),
            (None, Some(p)) => percent(p),
            (None, None) => "no cap".to_string(),
        }
    }
}

/// One candidate the run acts (or would act) on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PlannedAction {
    /// The candidate.
    pub candidate: u64,
    /// The vendor's user id.
    pub external_user_id: String,
    /// The user's name.
    pub display_name: Option<String>,
    /// The identifier.
    pub identifier: String,
    /// The model.
    pub model: String,
    /// The candidate's state before the run acted.
    pub state: String,
    /// The unit cost reclaiming it saves (minor units), where known.
    pub unit_cost_minor: Option<u64>,
    /// Its currency.
    pub currency: Option<String>,
}

/// What happened to one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The seat was taken back.
    Reclaimed,
    /// Activity was seen just before: not reclaimed (Closed Canceled).
    Canceled,
    /// The seat is gone or excluded: not reclaimed (Closed Skipped).
    Skipped,
    /// The re-check or the reclaim failed (Attention Required).
    Failed,
    /// The user was notified (Awaiting User).
    Notified,
    /// The notification failed (still Ready; retried next run).
    NotifyFailed,
}

impl Outcome {
    /// Its name, as JSON writes it.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Reclaimed => "reclaimed",
            Outcome::Canceled => "canceled",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
            Outcome::Notified => "notified",
            Outcome::NotifyFailed => "notify-failed",
        }
    }
}

/// One candidate's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ActionOutcome {
    /// The candidate.
    pub candidate: u64,
    /// The vendor's user id.
    pub external_user_id: String,
    /// What happened.
    pub outcome: Outcome,
    /// Why, for people.
    pub detail: String,
    /// What the spoke changed.
    pub changes: Vec<SeatChange>,
    /// The audit entries written before and after the spoke call.
    pub audit: Vec<u64>,
    /// Whether this finished a reclaim an earlier run had planned (and was interrupted).
    #[serde(default)]
    pub resumed: bool,
}

/// An amount in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Amount {
    /// The currency (`None` when no cost is known).
    pub currency: Option<String>,
    /// Minor units.
    pub minor: u64,
}

/// What a run did (or, dry, would do).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ReclaimReport {
    /// The profile.
    pub profile: String,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// The profile's Reclaim toggle.
    pub reclaim_enabled: bool,
    /// The evaluation (in a dry run: what it would change).
    pub identify: IdentifySummary,
    /// Active seats on the profile.
    pub seats: u64,
    /// The most reclaims (and, separately, the most notices) this run may make.
    pub cap: u64,
    /// Which limit set the cap, and why (`--max 1000 asked, held to 110 by ...`).
    #[serde(default)]
    pub cap_reason: String,
    /// Candidates to reclaim (within the cap).
    pub to_reclaim: Vec<PlannedAction>,
    /// Candidates whose user is to be asked first.
    pub to_notify: Vec<PlannedAction>,
    /// Candidates left for a later run by the cap.
    pub deferred_by_cap: Vec<u64>,
    /// What happened, per candidate (empty in a dry run).
    pub outcomes: Vec<ActionOutcome>,
    /// Seats reclaimed.
    pub reclaimed: u64,
    /// Savings: of the seats reclaimed, or (dry) of those that would be, per currency.
    pub savings: Vec<Amount>,
    /// Reclaim calls made to the spoke (write calls).
    pub write_calls: u64,
    /// HTTP requests the spoke made.
    pub api_calls: u64,
    /// Of those, the activity re-checks (batched: one lookup call per
    /// [`RECHECK_BATCH`] seats at most, before they are revoked).
    #[serde(default)]
    pub recheck_calls: u64,
    /// The job result recorded (not in a dry run).
    pub job: Option<u64>,
    /// The reclaim run (its id); a resumed run keeps the id it started with.
    #[serde(default)]
    pub run: Option<u64>,
    /// Seats the run had acted on before this invocation (an interrupted run resumed); they
    /// count against the cap.
    #[serde(default)]
    pub acted_before: u64,
    /// Interrupted reclaims finished from their stored plans before anything else (in a dry
    /// run: how many are waiting).
    #[serde(default)]
    pub resumed: u64,
    /// The stop flag ended the run after the seat in flight; the rest waits for the next run.
    #[serde(default)]
    pub stopped: bool,
    /// The run stopped after [`MAX_CONSECUTIVE_FAILURES`] failures in a row, with why; the
    /// candidates after them were left as they were (`halted_untouched`).
    #[serde(default)]
    pub halted: Option<String>,
    /// Candidates a halted run did not touch.
    #[serde(default)]
    pub halted_untouched: Vec<u64>,
}

/// A run stops after this many failed seats in a row instead of marking every candidate
/// (issue 19): failures in a row share a cause (a missing scope, a revoked token, a vendor
/// outage) that the next seats would only repeat.
pub const MAX_CONSECUTIVE_FAILURES: usize = 5;

/// Runs the reclaim subflow (see the module doc).
pub struct Reclaimer<'a> {
    store: &'a Store,
    clock: &'a dyn Clock,
    notifier: &'a dyn Notifier,
    options: ReclaimOptions,
    stop: Option<&'a AtomicBool>,
}

static SYSTEM_CLOCK: SystemClock = SystemClock;
static LOG_NOTIFIER: LogNotifier = LogNotifier;

impl<'a> Reclaimer<'a> {
    /// A reclaimer over `store` with the system clock, the log notifier and default options.
    pub fn new(store: &'a Store) -> Self {
        Self {
            store,
            clock: &SYSTEM_CLOCK,
            notifier: &LOG_NOTIFIER,
            options: ReclaimOptions::default(),
            stop: None,
        }
    }

    /// Stops the run (after the seat in flight is applied and recorded) once `stop` is set.
    pub fn stop_when(mut self, stop: &'a AtomicBool) -> Self {
        self.stop = Some(stop);
        self
    }

    fn stopping(&self) -> bool {
        self.stop.is_some_and(|s| s.load(Ordering::SeqCst))
    }

    /// Uses `clock` for "now".
    pub fn clock(mut self, clock: &'a dyn Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sends notices through `notifier`.
    pub fn notifier(mut self, notifier: &'a dyn Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// Sets the options.
    pub fn options(mut self, options: ReclaimOptions) -> Self {
        self.options = options;
        self
    }

    /// Runs the reclaim subflow of `profile` through `seats`.
    pub async fn run<S: SeatActions>(
        &self,
        seats: &S,
        profile: &str,
    ) -> Result<ReclaimReport, ReclaimError> {
        let now = self.clock.now();
        let opts = &self.options;
        let profile = self
            .store
            .read()?
            .profile(profile)?
            .ok_or_else(|| ReclaimError::UnknownProfile(profile.to_string()))?;
        if seats.spoke_id() != profile.spoke_id {
            return Err(ReclaimError::WrongSpoke {
                profile: profile.name.clone(),
                expected: profile.spoke_id.clone(),
                found: seats.spoke_id().to_string(),
            });
        }
        let counts_at_start = seats.counts();

        // Intent before action, after a crash too: finish the reclaims an interrupted run
        // planned, from their stored plans, before anything else.
        let pending = pending_intents(self.store, &profile.name)?;
        let pending_count = pending.len() as u64;
        let resumed = if opts.dry_run {
            Vec::new()
        } else {
            self.finish_pending(seats, &profile, pending, now).await?
        };

        // Evaluate, and read what to act on, in one transaction (dropped in a dry run).
        let tx = self.store.begin_write()?;
        let identify = evaluate::identify(&tx, &profile, now)?;
        let candidates = tx.candidates(&profile.name)?;
        let mut active_seats = 0u64;
        tx.for_each_profile_subscription(&profile.name, |_, s| {
            active_seats += u64::from(s.active);
            Ok::<_, WriteError>(())
        })?;
        let mut rules: BTreeMap<String, ReclamationRule> = BTreeMap::new();
        for c in &candidates {
            if !rules.contains_key(&c.model)
                && let Some(r) = tx.rule(&c.model)?
            {
                rules.insert(c.model.clone(), r);
            }
        }
        let mut costs = BTreeMap::new();
        for model in rules.keys() {
            costs.insert(model.clone(), savings_unit_cost(&tx, model, now)?);
        }
        // The run: a full run continues the profile's run in progress (its count of seats
        // acted on counts against the cap); a run on chosen candidates is a run of its own.
        let in_progress = tx.reclaim_run(&profile.name)?;
        let (run_id, acted_before) = match (&in_progress, &opts.only) {
            (Some(r), None) => (r.run, r.acted),
            _ if opts.dry_run => (0, 0),
            _ => {
                let id = tx.next_seq("reclaim-run")?;
                if opts.only.is_none() {
                    tx.put_reclaim_run(&ReclaimRunState {
                        run: id,
                        profile: profile.name.clone(),
                        started_at: now,
                        acted: 0,
                        actor: opts.actor.clone(),
                    })?;
                }
                (id, 0)
            }
        };
        if opts.dry_run {
            drop(tx);
        } else {
            tx.commit()?;
        }

        let cap = opts.cap(active_seats);
        let mut plan = Plan::default();
        let mut by_id: Vec<RemovalCandidate> = candidates;
        by_id.sort_by_key(|c| c.id);
        for c in by_id {
            if let Some(only) = &opts.only
                && !only.contains(&c.id)
            {
                continue;
            }
            let Some(rule) = rules.get(&c.model) else {
                continue;
            };
            match &c.state {
                CandidateState::Ready if rule.notify_user => plan.notify.push(c),
                CandidateState::Ready | CandidateState::AwaitingRevocation => plan.reclaim.push(c),
                CandidateState::AttentionRequired(_) if opts.only.is_some() => plan.reclaim.push(c),
                CandidateState::AwaitingUser if c.auto_reclaim_at.is_some_and(|t| t <= now) => {
                    plan.reclaim.push(c)
                }
                _ => {}
            }
        }
        // The cap bounds notices too (a notice starts a removal): the rest stay Ready for
        // the next run.
        let notices_deferred: Vec<u64> = if plan.notify.len() as u64 > cap {
            plan.notify
                .split_off(usize::try_from(cap).unwrap_or(usize::MAX))
                .iter()
                .map(|c| c.id)
                .collect()
        } else {
            Vec::new()
        };
        let planned = |c: &RemovalCandidate| {
            let cost = costs.get(&c.model).cloned().flatten();
            PlannedAction {
                candidate: c.id,
                external_user_id: c.external_user_id.clone(),
                display_name: c.display_name.clone(),
                identifier: c.identifier.clone(),
                model: c.model.clone(),
                state: c.state.to_string(),
                unit_cost_minor: cost.as_ref().map(|(m, _)| *m),
                currency: cost.and_then(|(_, cur)| cur),
            }
        };
        let mut report = ReclaimReport {
            profile: profile.name.clone(),
            dry_run: opts.dry_run,
            reclaim_enabled: profile.processes.reclaim,
            identify,
            seats: active_seats,
            cap,
            cap_reason: opts.cap_reason(active_seats),
            to_reclaim: Vec::new(),
            to_notify: plan.notify.iter().map(planned).collect(),
            deferred_by_cap: notices_deferred,
            outcomes: Vec::new(),
            reclaimed: 0,
            savings: Vec::new(),
            write_calls: 0,
            api_calls: 0,
            recheck_calls: 0,
            job: None,
            run: (run_id != 0).then_some(run_id),
            acted_before,
            resumed: pending_count,
            stopped: false,
            halted: None,
            halted_untouched: Vec::new(),
        };
        for outcome in resumed {
            report.write_calls += 1;
            if outcome.outcome == Outcome::Reclaimed {
                report.reclaimed += 1;
            }
            report.outcomes.push(outcome);
        }
        if opts.dry_run {
            // Without re-checks, the first `cap` candidates are what would be reclaimed.
            for (i, c) in plan.reclaim.iter().enumerate() {
                if acted_before + (i as u64) < cap {
                    report.to_reclaim.push(planned(c));
                } else {
                    report.deferred_by_cap.push(c.id);
                }
            }
            report.savings = total(report.to_reclaim.iter());
            return Ok(report);
        }
        if !profile.processes.reclaim {
            // As the guide says: candidates are created, the reclaim subflow is not run.
            return Ok(report);
        }
        if !plan.reclaim.is_empty()
            && let Some(why) = seats.missing_recheck_source()
        {
            // Every seat would fail its re-check: refuse the run instead (issue 19).
            return Err(ReclaimError::NoRecheckSource {
                profile: profile.name.clone(),
                why,
            });
        }
        report.to_reclaim = plan.reclaim.iter().map(planned).collect();

        for c in plan.notify {
            let rule = &rules[&c.model];
            report.outcomes.push(self.notify_user(c, rule, now).await?);
        }
        let mut reclaimed_plans = Vec::new();
        let mut rechecks: HashMap<u64, Result<ActivityStatus, String>> = HashMap::new();
        let mut acted_now = 0u64;
        let mut failed_in_a_row = 0usize;
        for (i, c) in plan.reclaim.iter().enumerate() {
            if report.halted.is_some() {
                report.halted_untouched.push(c.id);
                continue;
            }
            if acted_before + acted_now >= cap {
                report.deferred_by_cap.push(c.id);
                continue;
            }
            if self.stopping() {
                report.stopped = true;
                break;
            }
            let rule = &rules[&c.model];
            if !rechecks.contains_key(&c.id) {
                // Re-check this seat and the next ones under the same threshold (no more than
                // the cap can still take) in one lookup, just before revoking them.
                let room = (cap - acted_before - acted_now).min(RECHECK_BATCH as u64) as usize;
                let cutoff = recheck_cutoff(rule, now);
                let batch: Vec<&RemovalCandidate> = plan.reclaim[i..]
                    .iter()
                    .filter(|d| {
                        rules
                            .get(&d.model)
                            .is_some_and(|r| recheck_cutoff(r, now) == cutoff)
                    })
                    .take(room.max(1))
                    .collect();
                let before = seats.counts().requests;
                let answers = recheck(seats, cutoff, &batch).await;
                report.recheck_calls += seats.counts().requests.saturating_sub(before);
                rechecks.extend(answers);
            }
            let recheck = rechecks
                .remove(&c.id)
                .unwrap_or_else(|| Err("the seat was not re-checked".into()));
            let (outcome, called) = self
                .reclaim_one(seats, &profile, c, rule, recheck, now, run_id)
                .await?;
            if called {
                report.write_calls += 1;
                acted_now += 1;
            }
            if outcome.outcome == Outcome::Reclaimed {
                report.reclaimed += 1;
                reclaimed_plans.push(planned(c));
            }
            if outcome.outcome == Outcome::Failed {
                failed_in_a_row += 1;
                if failed_in_a_row >= MAX_CONSECUTIVE_FAILURES {
                    report.halted = Some(format!(
                        "stopped after {failed_in_a_row} failures in a row (the last: {}); the other candidates were left as they are",
                        outcome.detail
                    ));
                }
            } else {
                failed_in_a_row = 0;
            }
            report.outcomes.push(outcome);
        }
        let deferred: HashSet<u64> = report.deferred_by_cap.iter().copied().collect();
        let done: HashSet<u64> = report.outcomes.iter().map(|o| o.candidate).collect();
        let halted = report.halted.is_some();
        report.to_reclaim.retain(|p| {
            !deferred.contains(&p.candidate)
                && (!(report.stopped || halted) || done.contains(&p.candidate))
        });
        report.savings = total(reclaimed_plans.iter());
        let counts = seats.counts();
        report.api_calls = counts.requests.saturating_sub(counts_at_start.requests);
        report.job =
            Some(self.record_job(&report, now, counts.retries - counts_at_start.retries)?);
        Ok(report)
    }

    async fn notify_user(
        &self,
        mut c: RemovalCandidate,
        rule: &ReclamationRule,
        now: EpochSeconds,
    ) -> Result<ActionOutcome, ReclaimError> {
        let auto = rule
            .days_before_auto_reclaim
            .map(|d| now + i64::from(d) * DAY);
        c.auto_reclaim_at = auto;
        let when = auto.map_or("an admin decides".to_string(), |t| {
            format!("it is reclaimed on {}", format_utc(t))
        });
        let message = format!(
            "Your {} seat ({}) has not been used recently. Answer `keep` to keep it or `release` to give it back; without an answer {when}.",
            c.model, c.identifier
        );
        let notice = Notice::about(NoticeKind::AskUser, &c, message);
        let mut outcome = ActionOutcome {
            candidate: c.id,
            external_user_id: c.external_user_id.clone(),
            outcome: Outcome::Notified,
            detail: String::new(),
            changes: Vec::new(),
            audit: Vec::new(),
            resumed: false,
        };
        if let Err(e) = self.notifier.notify(&notice).await {
            outcome.outcome = Outcome::NotifyFailed;
            outcome.detail = e.to_string();
            return Ok(outcome);
        }
        c.notified_at = Some(now);
        state::transition(
            &mut c,
            CandidateState::AwaitingUser,
            now,
            &self.options.actor,
            format!("user notified; {when} unless they answer"),
        )?;
        outcome.detail = format!("notified; {when}");
        self.store.write(|tx| tx.put_candidate(&c))?;
        Ok(outcome)
    }

    /// Reclaims one candidate, given its activity re-check; returns its outcome and whether
    /// the spoke was asked to write (the seat counts against the cap).
    #[allow(clippy::too_many_arguments)]
    async fn reclaim_one<S: SeatActions>(
        &self,
        seats: &S,
        profile: &IntegrationProfile,
        planned: &RemovalCandidate,
        rule: &ReclamationRule,
        recheck: Result<ActivityStatus, String>,
        now: EpochSeconds,
        run_id: u64,
    ) -> Result<(ActionOutcome, bool), ReclaimError> {
        let actor = self.options.actor.as_str();
        let id = planned.id;
        let (mut c, sub, exclusions) = {
            let read = self.store.read()?;
            // Re-read by key: the plan's copy may be stale, and a scan by id costs the table.
            let c = read
                .candidate_at(
                    &planned.profile,
                    &planned.external_user_id,
                    &planned.identifier,
                    id,
                )?
                .ok_or(ReclaimError::UnknownCandidate(id))?;
            let sub = read.subscription(&profile.name, &c.external_user_id, &c.identifier)?;
            let exclusions: Vec<_> = read
                .exclusions()?
                .into_iter()
                .filter(|x| x.active)
                .collect();
            (c, sub, exclusions)
        };
        let mut outcome = ActionOutcome {
            candidate: id,
            external_user_id: c.external_user_id.clone(),
            outcome: Outcome::Skipped,
            detail: String::new(),
            changes: Vec::new(),
            audit: Vec::new(),
            resumed: false,
        };

        // A failed apply left its plan: retrying applies the same plan (some of it may be in
        // effect at the vendor), never a new one.
        // (Before any other check: some of the plan may be in effect, so it is finished or
        // undone, never dropped.)
        if let Some(mut intent) = self.store.read()?.reclaim_intent(&profile.name, id)? {
            intent.status = IntentStatus::Pending;
            self.store.write(|tx| {
                state::transition(
                    &mut c,
                    CandidateState::Reclaiming,
                    now,
                    actor,
                    "retrying the stored reclaim plan",
                )
                .map_err(ReclaimError::from)?;
                tx.put_candidate(&c)?;
                tx.put_reclaim_intent(&intent)?;
                Ok::<_, ReclaimError>(())
            })?;
            let outcome = self
                .apply_intent(seats, profile, c, intent, now, false, false)
                .await?;
            return Ok((outcome, true));
        }

        // The seat must still exist and not be excluded.
        let Some(sub) = sub.filter(|s| s.active) else {
            return self.settle(
                c,
                outcome,
                Outcome::Skipped,
                "the seat no longer exists".into(),
                now,
            );
        };
        if let Some(why) = reclamation_exclusion(&profile.spoke_id, &sub, rule, &exclusions) {
            return self.settle(c, outcome, Outcome::Skipped, why, now);
        }

        // The user's activity, re-checked just before revoking.
        let cutoff = recheck_cutoff(rule, now);
        let user = c.external_user_id.clone();
        let status = match recheck {
            Ok(status) => status,
            Err(e) => {
                return self.settle(
                    c,
                    outcome,
                    Outcome::Failed,
                    format!("activity re-check failed: {e}"),
                    now,
                );
            }
        };
        match &status {
            ActivityStatus::Seen(seen) if seen.at > cutoff => {
                outcome.outcome = Outcome::Canceled;
                outcome.detail = format!(
                    "user activity detected on {} ({}) just before revocation",
                    format_utc(seen.at),
                    seen.source
                );
                state::transition(
                    &mut c,
                    CandidateState::ClosedCanceled,
                    now,
                    actor,
                    &outcome.detail,
                )?;
                self.store.write(|tx| {
                    let existing = tx.activity(&profile.name, &user)?;
                    if let Some(r) =
                        apply_status(existing.as_ref(), &profile.name, &user, &status, cutoff)
                    {
                        tx.put_activity(&r)?;
                    }
                    tx.put_candidate(&c)
                })?;
                return Ok((outcome, false));
            }
            ActivityStatus::Unknown(reason) => {
                return self.settle(
                    c,
                    outcome,
                    Outcome::Failed,
                    format!("the user's activity could not be re-checked: {reason}"),
                    now,
                );
            }
            _ => {}
        }

        // Timed out in the notify flow: record why it is revoked.
        if c.state == CandidateState::AwaitingUser {
            state::transition(
                &mut c,
                CandidateState::AwaitingRevocation,
                now,
                actor,
                "no answer before the automatic reclamation date",
            )?;
        }
        let seat = SeatRef {
            external_user_id: sub.external_user_id.clone(),
            identifier: sub.identifier.clone(),
            granted_by: sub.granted_by.clone(),
        };
        // Plan (read-only), then record the intent durably, then apply exactly the plan.
        let plan = match seats.plan(&seat).await {
            Ok(plan) => plan,
            Err(e) => {
                return self.settle(
                    c,
                    outcome,
                    Outcome::Failed,
                    format!("reclaim planning failed: {e}"),
                    now,
                );
            }
        };
        if plan.changes().is_some_and(|changes| changes.is_empty()) {
            // Nothing to take back at the vendor: no write call.
            let changes = Vec::new();
            let audit = self.store.write(|tx| {
                let audit = tx.audit(
                    now,
                    Some(&profile.name),
                    AuditAction::Reclaimed {
                        candidate: id,
                        changes: changes.clone(),
                    },
                    format!(
                        "the {} seat of {} (candidate {id}) was already taken back: {}",
                        sub.identifier,
                        sub.external_user_id,
                        describe_changes(&changes)
                    ),
                    None,
                )?;
                c.reclaim = Some(ReclaimRecord {
                    at: now,
                    granted_by: sub.granted_by.clone(),
                    changes: changes.clone(),
                    audit_before: audit,
                    audit_after: audit,
                    restored_at: None,
                    restore_audit: None,
                });
                state::transition(
                    &mut c,
                    CandidateState::ClosedComplete,
                    now,
                    actor,
                    describe_changes(&changes),
                )
                .map_err(ReclaimError::from)?;
                tx.put_candidate(&c)?;
                end_subscription(tx, profile, &c.external_user_id, &c.identifier, now)?;
                Ok::<_, ReclaimError>(audit)
            })?;
            outcome.audit.push(audit);
            outcome.outcome = Outcome::Reclaimed;
            outcome.detail = describe_changes(&changes);
            return Ok((outcome, false));
        }
        let planned = plan.changes().map(<[SeatChange]>::to_vec);
        let intent = self.store.write(|tx| {
            let plan_text = planned.as_deref().map_or_else(
                || "a sam:spoke@0.1.0 spoke, which cannot plan (not crash-safe)".to_string(),
                describe_changes,
            );
            let before = tx.audit(
                now,
                Some(&profile.name),
                AuditAction::ReclaimStarted { candidate: id },
                format!(
                    "reclaiming the {} seat of {} (candidate {id}), granted by [{}]; plan: {plan_text}",
                    sub.identifier,
                    sub.external_user_id,
                    sub.granted_by.join(", ")
                ),
                None,
            )?;
            let intent = ReclaimIntent {
                candidate: id,
                profile: profile.name.clone(),
                run: run_id,
                external_user_id: seat.external_user_id.clone(),
                identifier: seat.identifier.clone(),
                granted_by: seat.granted_by.clone(),
                planned: planned.clone(),
                planned_at: now,
                audit_before: before,
                status: IntentStatus::Pending,
                attempts: 0,
            };
            state::transition(
                &mut c,
                CandidateState::Reclaiming,
                now,
                actor,
                format!("planned: {plan_text}"),
            )
            .map_err(ReclaimError::from)?;
            tx.put_candidate(&c)?;
            tx.put_reclaim_intent(&intent)?;
            if self.options.only.is_none()
                && let Some(mut run) = tx.reclaim_run(&profile.name)?
            {
                run.acted += 1;
                tx.put_reclaim_run(&run)?;
            }
            Ok::<_, ReclaimError>(intent)
        })?;
        let outcome = self
            .apply_intent(seats, profile, c, intent, now, rule.notify_user, false)
            .await?;
        Ok((outcome, true))
    }

    /// Settles a candidate with no vendor write: its outcome (`kind`, `detail`) and the
    /// transition, saved: a failure needs attention (the detail is why), anything else is
    /// closed as skipped.
    fn settle(
        &self,
        mut c: RemovalCandidate,
        mut outcome: ActionOutcome,
        kind: Outcome,
        detail: String,
        now: EpochSeconds,
    ) -> Result<(ActionOutcome, bool), ReclaimError> {
        let to = match kind {
            Outcome::Failed => CandidateState::AttentionRequired(detail.clone()),
            _ => CandidateState::ClosedSkipped,
        };
        state::transition(&mut c, to, now, &self.options.actor, &detail)?;
        self.store.write(|tx| tx.put_candidate(&c))?;
        outcome.outcome = kind;
        outcome.detail = detail;
        Ok((outcome, false))
    }

    /// Finishes every reclaim of `profile` an interrupted run left planned (Reclaiming), from
    /// the stored plans, with no re-check and no new plan: what `sam daemon` does at start
    /// and every reclaim run does first.
    pub async fn finish_interrupted<S: SeatActions>(
        &self,
        seats: &S,
        profile: &str,
    ) -> Result<Vec<ActionOutcome>, ReclaimError> {
        let profile = self
            .store
            .read()?
            .profile(profile)?
            .ok_or_else(|| ReclaimError::UnknownProfile(profile.to_string()))?;
        if seats.spoke_id() != profile.spoke_id {
            return Err(ReclaimError::WrongSpoke {
                profile: profile.name.clone(),
                expected: profile.spoke_id.clone(),
                found: seats.spoke_id().to_string(),
            });
        }
        let pending = pending_intents(self.store, &profile.name)?;
        self.finish_pending(seats, &profile, pending, self.clock.now())
            .await
    }

    async fn finish_pending<S: SeatActions>(
        &self,
        seats: &S,
        profile: &IntegrationProfile,
        pending: Vec<ReclaimIntent>,
        now: EpochSeconds,
    ) -> Result<Vec<ActionOutcome>, ReclaimError> {
        let mut outcomes = Vec::new();
        for intent in pending {
            outcomes.push(self.resume_intent(seats, profile, intent, now).await?);
        }
        Ok(outcomes)
    }

    /// Finishes an interrupted reclaim from its stored plan (no re-check, no new plan).
    async fn resume_intent<S: SeatActions>(
        &self,
        seats: &S,
        profile: &IntegrationProfile,
        intent: ReclaimIntent,
        now: EpochSeconds,
    ) -> Result<ActionOutcome, ReclaimError> {
        let c = self
            .store
            .read()?
            .candidate_at(
                &intent.profile,
                &intent.external_user_id,
                &intent.identifier,
                intent.candidate,
            )?
            .ok_or(ReclaimError::UnknownCandidate(intent.candidate))?;
        tracing::info!(
            profile = %profile.name,
            candidate = intent.candidate,
            "finishing an interrupted reclaim from its stored plan"
        );
        let mut outcome = self
            .apply_intent(seats, profile, c, intent, now, false, true)
            .await?;
        outcome.resumed = true;
        Ok(outcome)
    }

    #[allow(clippy::too_many_arguments)]
    /// Applies a stored intent and records its outcome: the candidate closed with exactly
    /// what is in effect and the intent deleted, or (on failure) the intent kept as failed
    /// and the candidate needing attention.
    async fn apply_intent<S: SeatActions>(
        &self,
        seats: &S,
        profile: &IntegrationProfile,
        mut c: RemovalCandidate,
        mut intent: ReclaimIntent,
        now: EpochSeconds,
        notify: bool,
        resumed: bool,
    ) -> Result<ActionOutcome, ReclaimError> {
        let actor = self.options.actor.as_str();
        let id = c.id;
        let seat = SeatRef {
            external_user_id: intent.external_user_id.clone(),
            identifier: intent.identifier.clone(),
            granted_by: intent.granted_by.clone(),
        };
        let mut outcome = ActionOutcome {
            candidate: id,
            external_user_id: c.external_user_id.clone(),
            outcome: Outcome::Failed,
            detail: String::new(),
            changes: Vec::new(),
            audit: vec![intent.audit_before],
            resumed,
        };
        let plan = SeatPlan::from_stored(intent.planned.clone());
        // A 0.1.0 spoke's reclaim cut short cannot say what it had changed before.
        let blind_resume = intent.planned.is_none() && resumed;
        let result = seats.apply(&seat, &plan).await;
        intent.attempts += 1;
        match result {
            Ok(changes) => {
                let mut text = describe_changes(&changes);
                if blind_resume {
                    text.push_str(
                        "; this spoke (sam:spoke@0.1.0) cannot plan, so what an interrupted call \
                         had already changed is not recorded: check the user's access at the vendor",
                    );
                }
                let after = self.store.write(|tx| {
                    let after = tx.audit(
                        now,
                        Some(&profile.name),
                        AuditAction::Reclaimed {
                            candidate: id,
                            changes: changes.clone(),
                        },
                        format!(
                            "reclaimed the {} seat of {} (candidate {id}): {text}",
                            seat.identifier, seat.external_user_id
                        ),
                        None,
                    )?;
                    c.reclaim = Some(ReclaimRecord {
                        at: now,
                        granted_by: seat.granted_by.clone(),
                        changes: changes.clone(),
                        audit_before: intent.audit_before,
                        audit_after: after,
                        restored_at: None,
                        restore_audit: None,
                    });
                    state::transition(
                        &mut c,
                        CandidateState::ClosedComplete,
                        now,
                        actor,
                        format!("reclaimed: {text}"),
                    )
                    .map_err(ReclaimError::from)?;
                    tx.put_candidate(&c)?;
                    end_subscription(tx, profile, &seat.external_user_id, &seat.identifier, now)?;
                    tx.delete_reclaim_intent(&profile.name, id)?;
                    Ok::<_, ReclaimError>(after)
                })?;
                outcome.audit.push(after);
                outcome.outcome = Outcome::Reclaimed;
                outcome.detail = text;
                outcome.changes = changes;
                if notify {
                    let notice = Notice::about(
                        NoticeKind::Reclaimed,
                        &c,
                        format!("Your {} seat ({}) was reclaimed.", c.model, c.identifier),
                    );
                    if let Err(e) = self.notifier.notify(&notice).await {
                        tracing::warn!(candidate = id, error = %e, "reclaim notice not delivered");
                    }
                }
            }
            Err(e) => {
                outcome.detail = if intent.planned.is_some() {
                    format!(
                        "reclaim failed: {e}; its plan is kept: `sam candidates reclaim {id}` applies it again, `sam undo {id}` restores it"
                    )
                } else {
                    format!("reclaim failed: {e}")
                };
                intent.status = IntentStatus::Failed(e.to_string());
                let after = self.store.write(|tx| {
                    let after = tx.audit(
                        now,
                        Some(&profile.name),
                        AuditAction::ReclaimFailed { candidate: id },
                        format!("reclaim of candidate {id} failed: {e}"),
                        None,
                    )?;
                    state::transition(
                        &mut c,
                        CandidateState::AttentionRequired(outcome.detail.clone()),
                        now,
                        actor,
                        &outcome.detail,
                    )
                    .map_err(ReclaimError::from)?;
                    tx.put_candidate(&c)?;
                    if intent.planned.is_some() {
                        tx.put_reclaim_intent(&intent)?;
                    } else {
                        // A 0.1.0 spoke rolls a failed reclaim back itself: nothing to keep.
                        tx.delete_reclaim_intent(&profile.name, id)?;
                    }
                    Ok::<_, ReclaimError>(after)
                })?;
                outcome.audit.push(after);
            }
        }
        Ok(outcome)
    }

    fn record_job(
        &self,
        report: &ReclaimReport,
        now: EpochSeconds,
        retries: u64,
    ) -> Result<u64, WriteError> {
        let errors: Vec<String> = report
            .outcomes
            .iter()
            .filter(|o| matches!(o.outcome, Outcome::Failed | Outcome::NotifyFailed))
            .map(|o| format!("candidate {}: {}", o.candidate, o.detail))
            .collect();
        self.store.write(|tx| {
            if !report.stopped && self.options.only.is_none() {
                // The logical run is over: the next run starts a new count for the cap.
                tx.clear_reclaim_run(&report.profile)?;
            }
            let id = tx.next_seq("job")?;
            tx.put_job_result(&JobResult {
                id,
                profile: report.profile.clone(),
                process: ProcessKind::Reclaim,
                trigger: JobTrigger::Manual,
                started_at: now,
                ended_at: Some(self.clock.now()),
                status: if errors.is_empty() {
                    JobStatus::Succeeded
                } else {
                    JobStatus::Failed
                },
                attempts: 1,
                pages: 0,
                records_seen: (report.to_reclaim.len() + report.to_notify.len()) as u64,
                upserted: report.outcomes.len() as u64,
                ended: report.reclaimed,
                api_calls: report.api_calls,
                retries,
                errors,
            })?;
            tx.audit(
                now,
                Some(&report.profile),
                AuditAction::RunCompleted,
                format!(
                    "reclaim run {id}: {} candidates created, {} reclaimed, {} deferred by the cap of {}",
                    report.identify.created.len(),
                    report.reclaimed,
                    report.deferred_by_cap.len(),
                    report.cap
                ),
                Some(id),
            )?;
            Ok(id)
        })
    }
}

/// The reclaims of `profile` planned and not finished (an interrupted run's).
pub fn pending_intents(store: &Store, profile: &str) -> Result<Vec<ReclaimIntent>, ReclaimError> {
    Ok(store
        .read()?
        .reclaim_intents(profile)?
        .into_iter()
        .filter(|i| i.status == IntentStatus::Pending)
        .collect())
}

/// Ends the seat a reclaim took (if a download has not already) and lowers the identifier's
/// count.
fn end_subscription(
    tx: &crate::store::WriteTx,
    profile: &IntegrationProfile,
    user: &str,
    identifier: &str,
    now: EpochSeconds,
) -> Result<(), WriteError> {
    if let Some(mut sub) = tx.subscription(&profile.name, user, identifier)?
        && sub.active
    {
        sub.active = false;
        sub.ended_at = Some(now);
        tx.put_subscription(&sub)?;
        tx.adjust_identifier_count(&profile.spoke_id, identifier, -1)?;
    }
    Ok(())
}

#[derive(Default)]
struct Plan {
    notify: Vec<RemovalCandidate>,
    reclaim: Vec<RemovalCandidate>,
}

/// Seats re-checked per lookup call: the Confluence spoke asks about up to 50 users in one
/// query, so a batch costs one request where one call per seat cost 50.
pub const RECHECK_BATCH: usize = 50;

/// Activity after this time cancels a revocation under `rule`.
fn recheck_cutoff(rule: &ReclamationRule, now: EpochSeconds) -> EpochSeconds {
    now - i64::from(rule.inactivity_days) * DAY
}

/// The activity of each candidate in `batch` since `cutoff`, by candidate id, from one
/// lookup call; a failed call is every candidate's error.
async fn recheck<S: SeatActions>(
    seats: &S,
    cutoff: EpochSeconds,
    batch: &[&RemovalCandidate],
) -> Vec<(u64, Result<ActivityStatus, String>)> {
    let mut users: Vec<String> = batch.iter().map(|c| c.external_user_id.clone()).collect();
    users.sort();
    users.dedup();
    match seats.lookup(cutoff, &users).await {
        Ok(answers) => {
            let by_user: HashMap<String, ActivityStatus> = answers
                .into_iter()
                .map(|a| (a.external_user_id, a.status))
                .collect();
            batch
                .iter()
                .map(|c| {
                    let status = by_user.get(&c.external_user_id).cloned().unwrap_or(
                        ActivityStatus::Unknown("not in the spoke's lookup answer".into()),
                    );
                    (c.id, Ok(status))
                })
                .collect()
        }
        Err(e) => batch.iter().map(|c| (c.id, Err(e.to_string()))).collect(),
    }
}

fn total<'p>(plans: impl Iterator<Item = &'p PlannedAction>) -> Vec<Amount> {
    let mut sums: BTreeMap<Option<String>, u64> = BTreeMap::new();
    for p in plans {
        *sums.entry(p.currency.clone()).or_default() += p.unit_cost_minor.unwrap_or(0);
    }
    sums.into_iter()
        .map(|(currency, minor)| Amount { currency, minor })
        .collect()
}

/// The changes as one line for people.
pub fn describe_changes(changes: &[SeatChange]) -> String {
    if changes.is_empty() {
        return "nothing to change (already reclaimed)".into();
    }
    changes
        .iter()
        .map(|c| match &c.target_name {
            Some(name) => format!("{} {} ({name})", c.kind, c.target_id),
            None => format!("{} {}", c.kind, c.target_id),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
