//! Entitlements: seats bought for a software model, their unit cost and term.

use serde::{Deserialize, Serialize};

use super::EpochSeconds;

/// What was bought.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    /// Entitlement id.
    pub id: String,
    /// The software model.
    pub model: String,
    /// Seats (rights) bought.
    pub seats: u64,
    /// Price per seat per term, in minor units of `currency`.
    pub unit_cost_minor: u64,
    /// ISO 4217 currency.
    pub currency: String,
    /// Start of the term.
    pub start: EpochSeconds,
    /// End of the term, if any.
    pub end: Option<EpochSeconds>,
}
