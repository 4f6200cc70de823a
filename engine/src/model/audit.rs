//! The audit log: what the engine changed, when and why, in order. Reclaims are written
//! before and after the spoke call, the latter with exactly what the spoke changed.

use serde::{Deserialize, Serialize};

use super::EpochSeconds;
use super::candidate::SeatChange;

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AuditAction {
    /// A profile was created.
    ProfileCreated,
    /// A software model was created automatically.
    ModelCreated,
    /// An identifier was assigned a model.
    ModelAssigned,
    /// Subscriptions were ended by a complete download (with how many).
    SubscriptionsEnded(u64),
    /// A run completed.
    RunCompleted,
    /// A run failed.
    RunFailed,
    /// About to ask the spoke to reclaim a candidate's seat (written before the call).
    ReclaimStarted {
        /// The candidate.
        candidate: u64,
    },
    /// The spoke reclaimed a seat, with exactly what it changed.
    Reclaimed {
        /// The candidate.
        candidate: u64,
        /// What the spoke reported changed.
        changes: Vec<SeatChange>,
    },
    /// A reclaim failed (nothing or only what the spoke rolled back was changed).
    ReclaimFailed {
        /// The candidate.
        candidate: u64,
    },
    /// About to ask the spoke to restore a reclaimed seat (written before the call).
    RestoreStarted {
        /// The candidate.
        candidate: u64,
    },
    /// An undo restored a reclaimed seat.
    Restored {
        /// The candidate.
        candidate: u64,
        /// The changes re-applied.
        changes: Vec<SeatChange>,
    },
    /// A restore failed.
    RestoreFailed {
        /// The candidate.
        candidate: u64,
    },
    /// A removal candidate changed state (admin, user or manager action).
    CandidateChanged {
        /// The candidate.
        candidate: u64,
    },
    /// A reclamation or exclusion rule was created or changed.
    RuleChanged,
    /// An entitlement or a license cost override was created, changed or removed.
    EntitlementChanged,
    /// Reconciliation computed the license positions (with how many models).
    Reconciled(u64),
    /// A profile's settings (processes, name, dates, config) changed.
    ProfileChanged,
    /// A profile's connection was consented (OAuth) or lost its consent.
    ConnectionChanged,
    /// A profile passed validation.
    ProfileValidated,
    /// A profile was published (models, rules and jobs created).
    ProfilePublished,
    /// A profile went back to Draft.
    ProfileUnpublished,
    /// A profile was deleted (subscriptions and jobs removed, candidates closed).
    ProfileDeleted,
    /// The product-access groups of a profile changed.
    GroupsChanged,
    /// An API token was created (its id and role in the detail).
    TokenCreated,
    /// An API token was revoked.
    TokenRevoked,
    /// An admin approved a profile's changed spoke component (`sam plugin trust`).
    PluginTrusted,
    /// An operator changed a profile's limits (`sam profile limits`).
    LimitsChanged,
    /// A web console user was added, changed or removed (`sam users`).
    ConsoleUserChanged,
}

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Sequence number.
    pub seq: u64,
    /// When.
    pub at: EpochSeconds,
    /// The profile concerned, if any.
    pub profile: Option<String>,
    /// What.
    pub action: AuditAction,
    /// Details for people.
    pub detail: String,
    /// The run that did it, if any.
    pub run: Option<u64>,
    /// Who did it: `token:<id> (<name>)` through the API, `cli:<user>` at a terminal,
    /// `scheduler` for the daemon's own jobs, `system` where no caller is known (and for
    /// entries written before schema 6 recorded actors).
    pub actor: String,
}

/// An entry as schema 5 and older stored it (no actor); read only by the migration.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditEntryV5 {
    /// Sequence number.
    pub seq: u64,
    /// When.
    pub at: EpochSeconds,
    /// The profile concerned, if any.
    pub profile: Option<String>,
    /// What.
    pub action: AuditAction,
    /// Details for people.
    pub detail: String,
    /// The run that did it, if any.
    pub run: Option<u64>,
}
