//! Removal candidates: seats a reclamation rule found unused, with the states of the reference
//! guide (Attention Required, Ready, Awaiting User/Approval/Revocation, Closed Complete,
//! Skipped, Canceled), every transition recorded with its time, actor and reason, the user's
//! answer in the notify flow, and — once reclaimed — exactly what the spoke changed, so the
//! reclaim can be undone.

use serde::{Deserialize, Serialize};

use super::EpochSeconds;

/// Where a candidate stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CandidateState {
    /// Needs an admin (missing user, failed reclaim with its error).
    AttentionRequired(String),
    /// Reclaimable.
    Ready,
    /// The user was notified.
    AwaitingUser,
    /// The user asked to keep the seat; the manager decides.
    AwaitingApproval,
    /// Approved (by the user, the manager or a timeout): the next reclaim run revokes it.
    AwaitingRevocation,
    /// Reclaimed.
    ClosedComplete,
    /// Not reclaimed (excluded, declined, profile deleted, seat gone ...).
    ClosedSkipped,
    /// Not reclaimed because activity was detected (or the reclaim was undone).
    ClosedCanceled,
    /// Being reclaimed: its plan is stored (a [`ReclaimIntent`]) and the vendor may have
    /// applied some of it. The next run finishes it from the stored plan.
    Reclaiming,
}

impl CandidateState {
    /// Whether the candidate is closed (no further change but an undo).
    pub fn is_closed(&self) -> bool {
        matches!(
            self,
            CandidateState::ClosedComplete
                | CandidateState::ClosedSkipped
                | CandidateState::ClosedCanceled
        )
    }

    /// The state's name as the reference guide writes it.
    pub fn label(&self) -> &'static str {
        match self {
            CandidateState::AttentionRequired(_) => "Attention Required",
            CandidateState::Ready => "Ready",
            CandidateState::AwaitingUser => "Awaiting User",
            CandidateState::AwaitingApproval => "Awaiting Approval",
            CandidateState::AwaitingRevocation => "Awaiting Revocation",
            CandidateState::ClosedComplete => "Closed Complete",
            CandidateState::ClosedSkipped => "Closed Skipped",
            CandidateState::ClosedCanceled => "Closed Canceled",
            CandidateState::Reclaiming => "Reclaiming",
        }
    }

    /// Every state's machine name, in order (what `--state` accepts).
    pub const KEYS: [&'static str; 9] = [
        "attention-required",
        "ready",
        "awaiting-user",
        "awaiting-approval",
        "awaiting-revocation",
        "closed-complete",
        "closed-skipped",
        "closed-canceled",
        "reclaiming",
    ];

    /// A short machine name (for `--state` filters; the JSON names are the same).
    pub fn key(&self) -> &'static str {
        match self {
            CandidateState::AttentionRequired(_) => "attention-required",
            CandidateState::Ready => "ready",
            CandidateState::AwaitingUser => "awaiting-user",
            CandidateState::AwaitingApproval => "awaiting-approval",
            CandidateState::AwaitingRevocation => "awaiting-revocation",
            CandidateState::ClosedComplete => "closed-complete",
            CandidateState::ClosedSkipped => "closed-skipped",
            CandidateState::ClosedCanceled => "closed-canceled",
            CandidateState::Reclaiming => "reclaiming",
        }
    }
}

impl std::fmt::Display for CandidateState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CandidateState::AttentionRequired(why) => write!(f, "Attention Required ({why})"),
            other => f.write_str(other.label()),
        }
    }
}

/// One state change of a candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Transition {
    /// When.
    pub at: EpochSeconds,
    /// The state before (`None` when the candidate was created).
    pub from: Option<CandidateState>,
    /// The state after.
    pub to: CandidateState,
    /// Who: `sam` for the engine, else the admin, user or manager named on the CLI.
    pub actor: String,
    /// Why, for people.
    pub reason: String,
}

/// The user's answer to a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UserAnswer {
    /// Keep the seat (the manager decides).
    Keep,
    /// Release the seat.
    Release,
}

/// One change a reclaim made, as the spoke reported it (precise enough to undo).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SeatChange {
    /// What was done, e.g. `group-membership-removed`.
    pub kind: String,
    /// The object changed, e.g. a group id.
    pub target_id: String,
    /// The object's name, for people.
    pub target_name: Option<String>,
}

/// What a completed reclaim did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReclaimRecord {
    /// When the spoke confirmed it.
    pub at: EpochSeconds,
    /// The groups the seat was granted by, as the last download said.
    pub granted_by: Vec<String>,
    /// Exactly what the spoke changed.
    pub changes: Vec<SeatChange>,
    /// The audit entry written before the call.
    pub audit_before: u64,
    /// The audit entry written after it.
    pub audit_after: u64,
    /// When an undo restored it.
    pub restored_at: Option<EpochSeconds>,
    /// The audit entry of the undo.
    pub restore_audit: Option<u64>,
}

/// Where a stored reclaim plan stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IntentStatus {
    /// Written before the spoke's write call; an interrupted run leaves it here, and the next
    /// run finishes it from the stored plan before anything else.
    Pending,
    /// The spoke's apply failed (some changes may be in effect): the candidate needs an admin,
    /// who either retries it (`sam candidates reclaim ID`, applying the same plan) or undoes
    /// it (`sam undo ID`, restoring the plan).
    Failed(String),
}

/// A reclaim's intent, written durably before any vendor write: exactly which seat, and
/// exactly what the spoke planned to change. Kept until the outcome is recorded on the
/// candidate (then deleted in the same transaction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReclaimIntent {
    /// The candidate.
    pub candidate: u64,
    /// The profile.
    pub profile: String,
    /// The reclaim run that planned it.
    pub run: u64,
    /// The vendor's user id.
    pub external_user_id: String,
    /// The identifier.
    pub identifier: String,
    /// The groups the last download said grant the seat.
    pub granted_by: Vec<String>,
    /// The spoke's plan; `None` for a spoke built against contract 0.1.0, which cannot plan
    /// (its reclaim is one call whose changes are known only when it returns).
    pub planned: Option<Vec<SeatChange>>,
    /// When it was planned.
    pub planned_at: EpochSeconds,
    /// The audit entry written with the plan.
    pub audit_before: u64,
    /// Where it stands.
    pub status: IntentStatus,
    /// Apply calls made so far (0 until the first returns).
    pub attempts: u32,
}

/// A profile's reclaim run in progress: its per-run cap counts the seats it acted on across
/// interruptions, so a resumed run never exceeds the cap the admin set. Deleted when the run
/// completes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReclaimRunState {
    /// The run (its audit and job entries name it).
    pub run: u64,
    /// The profile.
    pub profile: String,
    /// When it started.
    pub started_at: EpochSeconds,
    /// Seats it has acted on (planned, hence possibly changed at the vendor), resumes
    /// included.
    pub acted: u64,
    /// Who started it.
    pub actor: String,
}

/// A seat proposed for reclaim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RemovalCandidate {
    /// Candidate id (unique, increasing).
    pub id: u64,
    /// The profile.
    pub profile: String,
    /// The vendor's user id.
    pub external_user_id: String,
    /// The identifier.
    pub identifier: String,
    /// The software model.
    pub model: String,
    /// The user's name, where known.
    pub display_name: Option<String>,
    /// The user's principal name (email), where known.
    pub email: Option<String>,
    /// The rule that proposed it.
    pub rule: String,
    /// Why (e.g. "Low Usage").
    pub justification: String,
    /// The user's last activity when the candidate was created.
    pub last_activity: Option<EpochSeconds>,
    /// State.
    pub state: CandidateState,
    /// When it was created.
    pub created_at: EpochSeconds,
    /// When the user was notified.
    pub notified_at: Option<EpochSeconds>,
    /// When an unanswered notification turns into a reclaim.
    pub auto_reclaim_at: Option<EpochSeconds>,
    /// The user's answer, once given.
    pub answer: Option<UserAnswer>,
    /// What the reclaim did, once done.
    pub reclaim: Option<ReclaimRecord>,
    /// Every state change, oldest first (the first is the creation).
    pub history: Vec<Transition>,
}

impl RemovalCandidate {
    /// When it was closed (the time of the transition into its closed state).
    pub fn closed_at(&self) -> Option<EpochSeconds> {
        if !self.state.is_closed() {
            return None;
        }
        self.history.last().map(|t| t.at)
    }
}
