//! Reconciliation results: rights owned vs. used vs. active for a software model, and the
//! license position they give.

use serde::{Deserialize, Serialize};

use super::EpochSeconds;

/// Compliant, over or under licensed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LicensePosition {
    /// Rights cover use exactly.
    Compliant,
    /// More rights than used.
    OverLicensed,
    /// Fewer rights than used.
    UnderLicensed,
}

/// One model's position at one time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationResult {
    /// The software model.
    pub model: String,
    /// When it was computed.
    pub computed_at: EpochSeconds,
    /// Active rights owned.
    pub rights_owned: u64,
    /// Rights used (active subscriptions).
    pub rights_used: u64,
    /// Subscriptions with recent activity.
    pub active_users: u64,
    /// The position.
    pub position: LicensePosition,
    /// Spend on unused rights, minor units.
    pub savings_minor: u64,
}
