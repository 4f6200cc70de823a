//! Reclamation: which seats to take back and taking them back safely. It owns rule
//! evaluation ([`evaluate`]: default rules per model, exclusions, removal candidates), the
//! candidate state machine with its transition log ([`state`]), the notify-and-approve flow
//! ([`notify`]: the pluggable notifier, webhook and log; [`flow`]: the user's answer and the
//! manager's decision), the reclaim run ([`run`]: Reclaim toggle, dry run, per-run cap,
//! activity re-check just before each revocation, audit before and after) and undo
//! ([`undo`]: the spoke's `restore`). The spoke is reached through [`seats::SeatActions`];
//! nothing here is vendor-specific.

pub mod evaluate;
pub mod flow;
pub mod notify;
pub mod run;
pub mod seats;
pub mod state;
pub mod undo;

pub use evaluate::{
    IdentifySummary, close_for_deleted_profile, ensure_rules, identify, stale_since, staleness,
};
pub use flow::{answer, decide};
pub use notify::{LogNotifier, Notice, NoticeKind, Notifier, NotifyError, WebhookNotifier};
pub use run::{
    ActionOutcome, Amount, DEFAULT_MAX_PERCENT, Outcome, PlannedAction, ReclaimOptions,
    ReclaimReport, Reclaimer, pending_intents,
};
pub use seats::{SeatActions, SeatPlan, SeatRef, SpokeSeats};
pub use state::{ENGINE_ACTOR, TransitionError};
pub use undo::{UndoReport, UndoTarget, undo};

use crate::model::EpochSeconds;
use crate::store::{ReadError, WriteError, WriteTx};

/// A reclamation operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReclaimError {
    /// No such profile.
    #[error("no profile named `{0}`")]
    UnknownProfile(String),
    /// No such candidate.
    #[error("no removal candidate {0}")]
    UnknownCandidate(u64),
    /// No such audit entry.
    #[error("no audit entry {0}")]
    UnknownAuditEntry(u64),
    /// The audit entry is not a reclaim.
    #[error("audit entry {0} is not a reclaim; give the id of a reclaim entry or a candidate")]
    NotAReclaim(u64),
    /// The spoke given is not the profile's.
    #[error("profile `{profile}` is served by spoke `{expected}`, not `{found}`")]
    WrongSpoke {
        /// The profile.
        profile: String,
        /// Its spoke.
        expected: String,
        /// The spoke given.
        found: String,
    },
    /// The candidate is not in the state the action needs.
    #[error("candidate {candidate} is {state}, not {expected}")]
    NotAwaiting {
        /// The candidate.
        candidate: u64,
        /// Its state.
        state: String,
        /// The state the action needs.
        expected: &'static str,
    },
    /// The candidate cannot be undone.
    #[error("candidate {candidate} cannot be undone: {reason}")]
    NotUndoable {
        /// The candidate.
        candidate: u64,
        /// Why.
        reason: String,
    },
    /// A state change the machine refuses.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// A spoke call failed.
    #[error("the spoke's `{call}` failed: {message}")]
    Spoke {
        /// The WIT export.
        call: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A notice could not be delivered.
    #[error("notification failed: {0}")]
    Notify(#[from] NotifyError),
    /// The store failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The store failed.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// The unit cost (minor units) and currency reclaiming a seat of `model` saves: the model's
/// license cost override, else its average entitlement cost; `None` when neither is known.
pub fn savings_unit_cost(
    tx: &WriteTx,
    model: &str,
    now: EpochSeconds,
) -> Result<Option<(u64, Option<String>)>, WriteError> {
    let entitlements: Vec<_> = tx
        .entitlements()?
        .into_iter()
        .filter(|e| e.model == model)
        .collect();
    let cost_override = tx.cost_override(model)?;
    let costs = crate::reconcile::unit_costs(&entitlements, cost_override.as_ref(), now);
    Ok(costs.unit_minor.map(|u| (u, costs.currency)))
}
