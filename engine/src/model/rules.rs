//! Reclamation rules (per software model: the last-activity threshold after which a seat
//! becomes a removal candidate) and exclusion rules (users or identifiers kept out of
//! reconciliation, reclamation or both).

use serde::{Deserialize, Serialize};

/// When an unused seat becomes a removal candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReclamationRule {
    /// Rule id.
    pub id: String,
    /// The software model it applies to.
    pub model: String,
    /// Days without activity before a seat becomes a candidate (default 60).
    pub inactivity_days: u32,
    /// Whether users with no activity at all are candidates.
    pub include_no_activity: bool,
    /// Whether the user is asked first.
    pub notify_user: bool,
    /// Days before automatic reclaim when notifying.
    pub days_before_auto_reclaim: Option<u32>,
    /// Whether the rule is in force.
    pub active: bool,
}

/// What an exclusion rule matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExclusionTarget {
    /// A user, by principal name or external id, across all profiles.
    User(String),
    /// A subscription identifier of one spoke.
    Identifier {
        /// The spoke.
        spoke_id: String,
        /// The identifier.
        identifier: String,
    },
}

/// What an exclusion keeps the target out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExclusionScope {
    /// License calculations only.
    Reconciliation,
    /// Removal candidates only.
    Reclamation,
    /// Both.
    Both,
}

/// A user or identifier exclusion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExclusionRule {
    /// Rule id.
    pub id: String,
    /// What it matches.
    pub target: ExclusionTarget,
    /// What it keeps the target out of.
    pub scope: ExclusionScope,
    /// Whether the rule is in force.
    pub active: bool,
}
