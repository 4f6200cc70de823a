//! The audit log: what the engine changed, when and why, in order.

use serde::{Deserialize, Serialize};

use super::EpochSeconds;

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}
