//! Entitlements: rights bought for a software model (metric User Subscription, a number of
//! rights or unlimited), their unit cost, currency and term, and whether they are active;
//! several per model add up. Also the model's license-cost override, which prices a true-up
//! before the average entitlement cost does.

use serde::{Deserialize, Serialize};

use super::EpochSeconds;

/// How rights are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LicenseMetric {
    /// "User Subscription": a right for each active unique subscription of a user.
    UserSubscription,
}

impl LicenseMetric {
    /// The metric's name as the reference writes it.
    pub fn label(self) -> &'static str {
        match self {
            LicenseMetric::UserSubscription => "User Subscription",
        }
    }
}

/// How many rights an entitlement grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Rights {
    /// This many.
    Count(u64),
    /// As many as used.
    Unlimited,
}

/// What was bought.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entitlement {
    /// Entitlement id.
    pub id: String,
    /// The software model.
    pub model: String,
    /// The metric.
    pub metric: LicenseMetric,
    /// Rights bought.
    pub rights: Rights,
    /// Price per right for the term, in minor units of `currency` (for unlimited rights: the
    /// price of the entitlement).
    pub unit_cost_minor: u64,
    /// ISO 4217 currency.
    pub currency: String,
    /// Start of the term.
    pub start: EpochSeconds,
    /// End of the term (exclusive), if any.
    pub end: Option<EpochSeconds>,
    /// Whether it is in force (an admin can switch it off).
    pub active: bool,
    /// A note for people (PO number, contract ...).
    pub note: Option<String>,
}

impl Entitlement {
    /// Whether its rights count at `now`: active and inside its term.
    pub fn in_force(&self, now: EpochSeconds) -> bool {
        self.active && self.start <= now && self.end.is_none_or(|end| now < end)
    }
}

/// The software model's license cost override: the unit cost a true-up uses instead of the
/// average entitlement cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LicenseCostOverride {
    /// The software model.
    pub model: String,
    /// Price per right, minor units.
    pub unit_cost_minor: u64,
    /// ISO 4217 currency.
    pub currency: String,
}
