//! Removal candidates: seats a reclamation rule found unused, with the states of the reference
//! guide (Attention Required, Ready, Awaiting User/Approval/Revocation, Closed ...).

use serde::{Deserialize, Serialize};

use super::EpochSeconds;

/// Where a candidate stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CandidateState {
    /// Needs an admin (missing user, failed reclaim with its error).
    AttentionRequired(String),
    /// Reclaimable.
    Ready,
    /// The user was notified.
    AwaitingUser,
    /// The user asked to keep the seat; the manager decides.
    AwaitingApproval,
    /// Waiting for a manual revocation.
    AwaitingRevocation,
    /// Reclaimed.
    ClosedComplete,
    /// Not reclaimed (manual vendor, profile deleted ...).
    ClosedSkipped,
    /// Not reclaimed because activity was detected.
    ClosedCanceled,
}

/// A seat proposed for reclaim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovalCandidate {
    /// The profile.
    pub profile: String,
    /// The vendor's user id.
    pub external_user_id: String,
    /// The identifier.
    pub identifier: String,
    /// The rule that proposed it.
    pub rule: String,
    /// Why (e.g. "Low Usage").
    pub justification: String,
    /// State.
    pub state: CandidateState,
    /// When it was created.
    pub created_at: EpochSeconds,
}
