//! What a vendor itself reports about seats, beside who holds them: seats already cancelled
//! and still held until a date ([`PendingCancellation`], for example GitHub Copilot's
//! `pending_cancellation_date`), and the vendor's own seat counts per product
//! ([`VendorSeatCounts`], for example GitHub's Copilot billing seat breakdown), which
//! reconciliation shows beside the admin's entitlements.

use serde::{Deserialize, Serialize};

use super::EpochSeconds;

/// A seat the vendor has cancelled: it stays held (and billed) until `ends_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCancellation {
    /// The profile.
    pub profile: String,
    /// The subscription identifier.
    pub identifier: String,
    /// The vendor's user id.
    pub external_user_id: String,
    /// When the vendor ends the seat.
    pub ends_at: EpochSeconds,
    /// The download run that last reported it (older rows are dropped when a run completes).
    pub run: u64,
}

/// The vendor's own counts of one product's seats on one profile, from the last complete
/// download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorSeatCounts {
    /// The profile.
    pub profile: String,
    /// The subscription identifier.
    pub identifier: String,
    /// The software model the identifier resolves to, when known.
    pub model: Option<String>,
    /// Seats the vendor bills (bought).
    pub purchased: Option<u64>,
    /// Seats assigned now.
    pub in_use: Option<u64>,
    /// Seats cancelled and billed until the end of the cycle.
    pub pending_cancellation: Option<u64>,
    /// When the vendor reported them.
    pub reported_at: EpochSeconds,
}
