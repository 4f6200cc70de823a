//! Reconciliation results: for a software model at one time, the license position — rights
//! owned, used (active unique subscriptions, excluded ones left out), available, unlicensed,
//! over-licensed cost, true-up cost, Compliant or Not Compliant — and, beyond the reference,
//! the inactive seats among those used and what reclaiming them would save.

use serde::{Deserialize, Serialize};

use super::EpochSeconds;
use super::entitlement::LicenseMetric;

/// Whether the rights owned cover the rights used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ComplianceStatus {
    /// Used <= owned, or the rights are unlimited.
    Compliant,
    /// More used than owned.
    NotCompliant,
}

impl ComplianceStatus {
    /// The status as the reference writes it.
    pub fn label(self) -> &'static str {
        match self {
            ComplianceStatus::Compliant => "Compliant",
            ComplianceStatus::NotCompliant => "Not Compliant",
        }
    }
}

/// The numbers of one model's position (see `reconcile::compute_position`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LicensePosition {
    /// The metric.
    pub metric: LicenseMetric,
    /// Rights owned (active entitlements in their term); `None` when unlimited.
    pub rights_owned: Option<u64>,
    /// Rights used: active unique subscriptions (by user), excluded ones left out.
    pub rights_used: u64,
    /// Owned minus used (negative when short); `None` when unlimited.
    pub rights_available: Option<i64>,
    /// Subscriptions without a right (used beyond owned): the rights a true-up needs.
    pub unlicensed: u64,
    /// Holders left out by license exclusions (all their seats of the model excluded);
    /// `rights_used + excluded` is every distinct holder.
    pub excluded: u64,
    /// Used seats whose holder shows no activity within the model's threshold.
    pub inactive: u64,
    /// The currency of the amounts below, when any cost is known.
    pub currency: Option<String>,
    /// Average entitlement cost per right, minor units.
    pub average_unit_cost_minor: Option<u64>,
    /// The unit cost a true-up and savings use (model override, else the average).
    pub unit_cost_minor: Option<u64>,
    /// Cost of the rights owned, minor units.
    pub total_spend_minor: u64,
    /// Cost of the unused rights (available x average cost), minor units.
    pub over_licensed_cost_minor: u64,
    /// Cost of buying the rights needed (unlicensed x unit cost), minor units.
    pub true_up_cost_minor: u64,
    /// What reclaiming the inactive seats would save (inactive x unit cost), minor units.
    pub potential_savings_minor: u64,
    /// Compliant or Not Compliant.
    pub status: ComplianceStatus,
    /// Anything that made the numbers less certain (mixed currencies ...).
    pub warnings: Vec<String>,
}

impl LicensePosition {
    /// Over-licensed: rights owned and not used (the License Workbench's over-licensed
    /// count); `None` when the rights are unlimited. Its cost is `over_licensed_cost_minor`.
    pub fn over_licensed(&self) -> Option<u64> {
        self.rights_available.map(|a| a.max(0) as u64)
    }

    /// Under-licensed: seats used beyond the rights owned (what a true-up buys). Its cost is
    /// `true_up_cost_minor`.
    pub fn under_licensed(&self) -> u64 {
        self.unlicensed
    }

    /// Every distinct holder of the model: the used ones and those left out by exclusions.
    pub fn held(&self) -> u64 {
        self.rights_used + self.excluded
    }

    /// Used holders with activity within the model's threshold (used = active + inactive).
    pub fn active(&self) -> u64 {
        self.rights_used.saturating_sub(self.inactive)
    }
}

/// Distinct holders of a model counted in one profile (see [`ProfileShare`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProfileCounts {
    /// Distinct holders attributed to the profile (used + excluded).
    pub held: u64,
    /// Of those, the ones using a right (not every seat excluded).
    pub used: u64,
    /// Of the used, the ones with no activity within the model's threshold.
    pub inactive: u64,
    /// Of the held, the ones all of whose seats are excluded.
    pub excluded: u64,
}

/// One profile's share of a model's position at a reconciliation: each distinct holder of
/// the model counts in exactly one profile (the first, by name, through which they hold a
/// seat), so the shares of a model sum to its position's used, inactive and excluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProfileShare {
    /// The software model.
    pub model: String,
    /// The reconciliation it belongs to.
    pub computed_at: EpochSeconds,
    /// The profile.
    pub profile: String,
    /// Its counts.
    pub counts: ProfileCounts,
}

/// One model's position at one time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReconciliationResult {
    /// The software model.
    pub model: String,
    /// When it was computed.
    pub computed_at: EpochSeconds,
    /// The position.
    pub position: LicensePosition,
}
