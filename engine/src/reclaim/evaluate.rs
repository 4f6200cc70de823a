//! Rule evaluation: which seats are removal candidates. For every active seat of a profile
//! whose model has an active reclamation rule: not excluded (user or identifier exclusions
//! covering reclamation, app accounts unless the rule includes them), not granted (or given
//! back by an undo, or last closed) within the threshold, and either last active before the
//! threshold or — when the rule includes them — with no activity at all. Open candidates are
//! kept up to date: activity seen moves them to Closed Canceled, a new exclusion or an ended
//! seat to Closed Skipped. Also the default rules created on publish and the closing of a
//! deleted profile's candidates.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::state::{self, ENGINE_ACTOR, NewCandidate};
use crate::model::{
    AccountType, ActivityState, AuditAction, CandidateState, DAY, EpochSeconds, ExclusionRule,
    IntegrationProfile, ReclamationRule, RemovalCandidate, Subscription, UserActivityRecord,
    format_utc,
};
use crate::store::{WriteError, WriteTx};

/// The justification of an inactivity candidate.
pub const LOW_USAGE: &str = "Low Usage";

/// The reason an automatic candidate needs attention when the user cannot be notified.
pub const NO_USER_TO_NOTIFY: &str = "the rule notifies the user, but the seat has no user email";

/// Why a seat is unused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    /// The holder's last activity, where known.
    pub last_activity: Option<EpochSeconds>,
    /// Why, in words.
    pub reason: String,
}

/// Whether a seat is unused under `rule` at `now` (exclusions aside). `quiet_since` is a time
/// that restarts the clock like a grant does (an undo, a declined or canceled candidate).
/// A seat without any activity record is not judged: the vendor was never asked.
pub fn staleness(
    subscription: &Subscription,
    activity: Option<&UserActivityRecord>,
    rule: &ReclamationRule,
    now: EpochSeconds,
    quiet_since: Option<EpochSeconds>,
) -> Option<Stale> {
    let last_activity = stale_since(subscription, activity, rule, now, quiet_since)?;
    let reason = match last_activity {
        Some(at) => format!(
            "no activity since {} (threshold {} days)",
            format_utc(at),
            rule.inactivity_days
        ),
        None => format!(
            "no activity recorded (threshold {} days)",
            rule.inactivity_days
        ),
    };
    Some(Stale {
        last_activity,
        reason,
    })
}

/// [`staleness`] without the words: `Some(last activity)` when the seat is unused, where the
/// last activity is `None` for "none recorded". Reconciliation asks this of every seat.
pub fn stale_since(
    subscription: &Subscription,
    activity: Option<&UserActivityRecord>,
    rule: &ReclamationRule,
    now: EpochSeconds,
    quiet_since: Option<EpochSeconds>,
) -> Option<Option<EpochSeconds>> {
    let cutoff = now - i64::from(rule.inactivity_days) * DAY;
    if subscription.granted_at.is_some_and(|g| g > cutoff)
        || quiet_since.is_some_and(|q| q > cutoff)
    {
        return None;
    }
    let record = activity?;
    match record.last_activity {
        Some(at) if at > cutoff => None,
        Some(at) => Some(Some(at)),
        None => match record.state {
            ActivityState::NoneInWindow | ActivityState::NoneOrNever
                if rule.include_no_activity =>
            {
                Some(None)
            }
            _ => None,
        },
    }
}

/// The first active exclusion that keeps a seat out of reclamation, or the app-account rule.
pub fn reclamation_exclusion(
    spoke_id: &str,
    subscription: &Subscription,
    rule: &ReclamationRule,
    exclusions: &[ExclusionRule],
) -> Option<String> {
    if rule.exclude_apps && subscription.account_type == AccountType::App {
        return Some("app accounts are excluded from reclamation".into());
    }
    let mut ids = vec![subscription.external_user_id.as_str()];
    if let Some(email) = &subscription.email {
        ids.push(email);
    }
    exclusions
        .iter()
        .find(|x| {
            x.scope.covers_reclamation() && x.matches(spoke_id, &subscription.identifier, &ids)
        })
        .map(|x| format!("excluded by exclusion rule {}", x.id))
}

/// Seats the vendor has already cancelled (they end at the cycle's end), by (user,
/// identifier).
pub type PendingSeats = std::collections::BTreeSet<(String, String)>;

/// Why a seat is kept out of reclamation whatever its activity, if it is: the vendor has
/// already cancelled it (`pending`), or the app-account rule or an exclusion covers it. The
/// one rule the evaluation applies and the figures that explain its count use.
pub fn kept_out(
    spoke_id: &str,
    subscription: &Subscription,
    rule: &ReclamationRule,
    exclusions: &[ExclusionRule],
    pending: &PendingSeats,
) -> Option<String> {
    let seat = (
        subscription.external_user_id.clone(),
        subscription.identifier.clone(),
    );
    if pending.contains(&seat) {
        return Some("the vendor has already cancelled the seat (pending cancellation)".into());
    }
    reclamation_exclusion(spoke_id, subscription, rule, exclusions)
}

/// What an evaluation changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct IdentifySummary {
    /// Candidates created.
    pub created: Vec<u64>,
    /// Open candidates canceled because activity was seen.
    pub canceled: Vec<u64>,
    /// Open candidates skipped (excluded since, or the seat ended).
    pub skipped: Vec<u64>,
    /// Candidates that needed attention and are ready again.
    pub ready_again: Vec<u64>,
    /// Seats kept out by exclusions (apps included).
    pub excluded_seats: u64,
    /// Of those, the seats the rule finds unused (they would be candidates but for being
    /// kept out): the position's inactive holders less this are the candidates.
    #[serde(default)]
    pub kept_out_inactive: u64,
    /// Default rules created.
    pub rules_created: Vec<String>,
}

/// Creates the default reclamation rule of every model the profile's subscriptions (or
/// identifiers) carry that has none; returns the rules created. Idempotent.
pub fn ensure_rules(
    tx: &WriteTx,
    profile: &str,
    now: EpochSeconds,
) -> Result<Vec<ReclamationRule>, WriteError> {
    let mut models: BTreeSet<String> = BTreeSet::new();
    tx.for_each_profile_subscription(profile, |_, s| {
        models.extend(s.model);
        Ok::<_, WriteError>(())
    })?;
    for id in tx.all_identifiers()? {
        if id.profiles.iter().any(|p| p == profile)
            && let Some(m) = id.model
        {
            models.insert(m);
        }
    }
    let mut created = Vec::new();
    for model in models {
        if tx.rule(&model)?.is_none() {
            let rule = ReclamationRule::default_for(&model, now);
            tx.put_rule(&rule)?;
            tx.audit(
                now,
                Some(profile),
                AuditAction::RuleChanged,
                format!(
                    "default reclamation rule for `{model}` created: {} days, notify off",
                    rule.inactivity_days
                ),
                None,
            )?;
            created.push(rule);
        }
    }
    Ok(created)
}

/// Evaluates a profile's seats against the rules (see the module doc), inside `tx`.
pub fn identify(
    tx: &WriteTx,
    profile: &IntegrationProfile,
    now: EpochSeconds,
) -> Result<IdentifySummary, WriteError> {
    let mut summary = IdentifySummary {
        rules_created: ensure_rules(tx, &profile.name, now)?
            .into_iter()
            .map(|r| r.model)
            .collect(),
        ..IdentifySummary::default()
    };
    let exclusions: Vec<ExclusionRule> =
        tx.exclusions()?.into_iter().filter(|x| x.active).collect();
    // Per seat: the open candidate and when the last closed one closed.
    let mut open: BTreeMap<(String, String), RemovalCandidate> = BTreeMap::new();
    let mut last_closed: BTreeMap<(String, String), EpochSeconds> = BTreeMap::new();
    // Seats with a stored reclaim plan belong to the reclaim run until it is finished or
    // undone: the evaluation neither closes their candidate nor proposes them again.
    let planned: std::collections::BTreeSet<u64> = tx
        .reclaim_intents(&profile.name)?
        .into_iter()
        .map(|i| i.candidate)
        .collect();
    let mut busy: std::collections::BTreeSet<(String, String)> = Default::default();
    for c in tx.candidates(&profile.name)? {
        let seat = (c.external_user_id.clone(), c.identifier.clone());
        if c.state == CandidateState::Reclaiming || planned.contains(&c.id) {
            busy.insert(seat);
            continue;
        }
        if let Some(at) = c.closed_at() {
            let at = c
                .reclaim
                .as_ref()
                .and_then(|r| r.restored_at)
                .map_or(at, |r| r.max(at));
            let e = last_closed.entry(seat).or_insert(at);
            *e = (*e).max(at);
        } else {
            open.insert(seat, c);
        }
    }
    // Seats the vendor has already cancelled (they end at the cycle's end): nothing to take.
    let pending: PendingSeats = tx
        .pending_cancellations_in(&profile.name)?
        .into_iter()
        .map(|p| (p.external_user_id, p.identifier))
        .collect();
    let mut rules: BTreeMap<String, Option<ReclamationRule>> = BTreeMap::new();
    // Streamed: a large tenant's subscriptions are never all in memory at once.
    tx.for_each_profile_subscription(&profile.name, |_, sub| -> Result<(), WriteError> {
        let seat = (sub.external_user_id.clone(), sub.identifier.clone());
        if busy.contains(&seat) {
            return Ok(());
        }
        let candidate = open.remove(&seat);
        if !sub.active {
            if let Some(mut c) = candidate {
                state::transition(
                    &mut c,
                    CandidateState::ClosedSkipped,
                    now,
                    ENGINE_ACTOR,
                    "the seat no longer exists (a download ended it)",
                )
                .map_err(invalid)?;
                tx.put_candidate(&c)?;
                summary.skipped.push(c.id);
            }
            return Ok(());
        }
        let Some(model) = sub.model.clone() else {
            return Ok(());
        };
        let rule = match rules.get(&model) {
            Some(r) => r.clone(),
            None => {
                let r = tx.rule(&model)?;
                rules.insert(model.clone(), r.clone());
                r
            }
        };
        let Some(rule) = rule.filter(|r| r.active) else {
            return Ok(());
        };
        let excluded = kept_out(&profile.spoke_id, &sub, &rule, &exclusions, &pending);
        if excluded.is_some() {
            summary.excluded_seats += 1;
        }
        let activity = tx.activity(&profile.name, &sub.external_user_id)?;
        if let Some(mut c) = candidate {
            let cutoff = now - i64::from(rule.inactivity_days) * DAY;
            let recent = activity
                .as_ref()
                .and_then(|a| a.last_activity)
                .filter(|&at| at > cutoff && c.last_activity.is_none_or(|before| at > before));
            if let Some(why) = excluded {
                state::transition(
                    &mut c,
                    CandidateState::ClosedSkipped,
                    now,
                    ENGINE_ACTOR,
                    why,
                )
                .map_err(invalid)?;
                summary.skipped.push(c.id);
            } else if let Some(at) = recent {
                state::transition(
                    &mut c,
                    CandidateState::ClosedCanceled,
                    now,
                    ENGINE_ACTOR,
                    format!("user activity detected on {}", format_utc(at)),
                )
                .map_err(invalid)?;
                summary.canceled.push(c.id);
            } else if matches!(&c.state, CandidateState::AttentionRequired(why) if why == NO_USER_TO_NOTIFY)
                && sub.email.is_some()
            {
                c.email = sub.email.clone();
                state::transition(
                    &mut c,
                    CandidateState::Ready,
                    now,
                    ENGINE_ACTOR,
                    "the seat now has a user email",
                )
                .map_err(invalid)?;
                summary.ready_again.push(c.id);
            } else {
                return Ok(());
            }
            tx.put_candidate(&c)?;
            return Ok(());
        }
        let quiet = last_closed.get(&seat).copied();
        let stale = staleness(&sub, activity.as_ref(), &rule, now, quiet);
        if excluded.is_some() {
            summary.kept_out_inactive += u64::from(stale.is_some());
            return Ok(());
        }
        let Some(stale) = stale else {
            return Ok(());
        };
        let first = if rule.notify_user && sub.email.is_none() {
            CandidateState::AttentionRequired(NO_USER_TO_NOTIFY.into())
        } else {
            CandidateState::Ready
        };
        let id = tx.next_seq("candidate")?;
        let c = state::create(NewCandidate {
            id,
            subscription: &sub,
            model: &model,
            rule: &rule.id,
            justification: LOW_USAGE,
            last_activity: stale.last_activity,
            state: first,
            at: now,
            reason: stale.reason,
        });
        tx.put_candidate(&c)?;
        summary.created.push(id);
        Ok(())
        })?;
    // Open candidates whose seat is gone altogether.
    for (_, mut c) in open {
        state::transition(
            &mut c,
            CandidateState::ClosedSkipped,
            now,
            ENGINE_ACTOR,
            "the seat no longer exists",
        )
        .map_err(invalid)?;
        tx.put_candidate(&c)?;
        summary.skipped.push(c.id);
    }
    Ok(summary)
}

/// Moves every open candidate of a deleted profile to Closed Skipped (its rules are kept);
/// returns how many. Call it in the transaction that deletes the profile.
pub fn close_for_deleted_profile(
    tx: &WriteTx,
    profile: &str,
    now: EpochSeconds,
    actor: &str,
) -> Result<u64, WriteError> {
    let mut closed = 0;
    for mut c in tx.candidates(profile)? {
        // A seat being reclaimed keeps its plan (finish or undo it before deleting).
        if c.state.is_closed() || c.state == CandidateState::Reclaiming {
            continue;
        }
        state::transition(
            &mut c,
            CandidateState::ClosedSkipped,
            now,
            actor,
            "the integration profile was deleted",
        )
        .map_err(invalid)?;
        tx.put_candidate(&c)?;
        closed += 1;
    }
    Ok(closed)
}

/// A transition the evaluation makes is always allowed from an open state; if the stored
/// state says otherwise the record is inconsistent.
fn invalid(e: state::TransitionError) -> WriteError {
    WriteError::NotFound {
        what: format!("a consistent candidate record ({e})"),
    }
}
