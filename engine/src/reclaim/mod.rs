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
    IdentifySummary, PendingSeats, close_for_deleted_profile, ensure_rules, identify, kept_out,
    stale_since, staleness,
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
    /// The profile has no source to re-check a user's activity just before revoking, so
    /// the reclaim refuses to act (rather than fail every seat).
    #[error(
        "profile `{profile}` cannot re-check activity before revoking: {why}; the reclaim did nothing"
    )]
    NoRecheckSource {
        /// The profile.
        profile: String,
        /// What is missing and how to supply it.
        why: String,
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

/// Where a profile's reclaim can re-check a user's activity just before revoking (issue 19):
/// the spoke's lookup through the connection when the granted scopes include the activity
/// process's (`granted` is `None` when they are not known, as with a pasted token: assumed
/// granted), and each second credential the admin supplied that serves activity on its own
/// (`supplied`). Each entry names the source for people; empty means none, and the reclaim
/// refuses to act.
pub fn recheck_sources(
    manifest: &crate::contract::Manifest,
    granted: Option<&[String]>,
    supplied: &[String],
) -> Vec<String> {
    use crate::contract::Process;
    let mut sources = Vec::new();
    let needed: Vec<&String> = manifest
        .processes
        .iter()
        .filter(|p| p.process == Process::DownloadActivity)
        .flat_map(|p| p.scopes.iter())
        .collect();
    let has_activity = manifest
        .processes
        .iter()
        .any(|p| p.process == Process::DownloadActivity);
    if has_activity && granted.is_none_or(|granted| needed.iter().all(|s| granted.contains(s))) {
        sources.push(if needed.is_empty() {
            "the connection".to_string()
        } else {
            format!(
                "the connection ({})",
                needed
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
    }
    for extra in &manifest.extra_credentials {
        if extra.processes.contains(&Process::DownloadActivity) && supplied.contains(&extra.name) {
            sources.push(format!("`{}` ({})", extra.name, extra.label));
        }
    }
    sources
}

/// Why a profile has no re-check source, and how to give it one.
pub fn no_recheck_source_reason(manifest: &crate::contract::Manifest) -> String {
    use crate::contract::Process;
    let scopes: Vec<String> = manifest
        .processes
        .iter()
        .filter(|p| p.process == Process::DownloadActivity)
        .flat_map(|p| p.scopes.iter().cloned())
        .collect();
    let mut fixes = Vec::new();
    if !scopes.is_empty() {
        fixes.push(format!(
            "grant {} (enable the activity process and run `sam connect` again)",
            scopes.join(", ")
        ));
    }
    for extra in manifest
        .extra_credentials
        .iter()
        .filter(|e| e.processes.contains(&Process::DownloadActivity))
    {
        fixes.push(format!(
            "supply {} (`sam connect PROFILE --credential-env {}=VAR`)",
            extra.label, extra.name
        ));
    }
    format!(
        "the connection's scopes cannot look up activity and no second credential that can is supplied; {}",
        if fixes.is_empty() {
            "the spoke offers no other source".to_string()
        } else {
            fixes.join(", or ")
        }
    )
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
