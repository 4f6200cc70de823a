//! Subscriptions: who holds a seat, for which identifier (and so which software model), since
//! when, through which groups. One record per profile, external user id and identifier; a
//! subscription the vendor no longer reports is ended (kept, inactive) by a complete download.

use serde::{Deserialize, Serialize};

use super::EpochSeconds;

/// The kind of account holding a seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AccountType {
    /// A person with a full account.
    Human,
    /// A guest or limited account.
    Guest,
    /// An app or bot.
    App,
    /// Anything else.
    Other,
}

/// One seat held by one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Subscription {
    /// The profile.
    pub profile: String,
    /// The vendor's user id.
    pub external_user_id: String,
    /// The subscription identifier.
    pub identifier: String,
    /// The software model, when the identifier is recognized.
    pub model: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Email, where visible (the user principal name).
    pub email: Option<String>,
    /// Kind of account.
    pub account_type: AccountType,
    /// Groups granting the seat.
    pub granted_by: Vec<String>,
    /// When the vendor granted it, where known.
    pub granted_at: Option<EpochSeconds>,
    /// Whether the vendor still reports it.
    pub active: bool,
    /// When the engine first saw it.
    pub first_seen_at: EpochSeconds,
    /// When a complete download stopped seeing it.
    pub ended_at: Option<EpochSeconds>,
}

impl Subscription {
    /// Whether `other` says the same about the seat, ignoring bookkeeping times.
    pub fn same_facts(&self, other: &Subscription) -> bool {
        self.model == other.model
            && self.display_name == other.display_name
            && self.email == other.email
            && self.account_type == other.account_type
            && self.granted_by == other.granted_by
            && self.granted_at == other.granted_at
            && self.active == other.active
    }
}

/// One subscription a download page reported, as the run's staging log keeps it until the
/// run completes: the vendor's facts from that page and the groups reported on it. A user
/// granted by several groups may be reported on several pages; the run's view of the
/// subscription is the last page's facts with the union of the groups. At the end of a
/// complete run the staged subscriptions are merged into the subscriptions table in key
/// order, and the active subscriptions the run did not stage are ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StagedSubscription {
    /// The vendor's user id.
    pub external_user_id: String,
    /// The subscription identifier.
    pub identifier: String,
    /// The software model the identifier resolved to, if any.
    pub model: Option<String>,
    /// The holder's display name, where the vendor shares it.
    pub display_name: Option<String>,
    /// The holder's email, where the vendor shares it.
    pub email: Option<String>,
    /// Human, guest, app or other.
    pub account_type: AccountType,
    /// The groups reported, sorted.
    pub granted_by: Vec<String>,
    /// When the vendor granted it, where known.
    pub granted_at: Option<EpochSeconds>,
    /// When the page was staged: a new subscription's first-seen time.
    pub staged_at: EpochSeconds,
}

/// Schema version 3's seen-log entry (migrated to the staging log in version 4): one
/// subscription a download page reported, with the groups reported on that page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SeenEntry {
    /// The vendor's user id.
    pub external_user_id: String,
    /// The subscription identifier.
    pub identifier: String,
    /// The groups reported, sorted.
    pub granted_by: Vec<String>,
}

/// Schema version 2's seen-marker (one row per subscription, migrated to the seen-log in
/// version 3). What the current run has seen of one subscription: the run, and the union of the groups
/// it reported across the run's pages (a user granted by several groups may be reported once
/// per group). Written with each page; at the end of a complete run the subscription's
/// `granted_by` becomes exactly this set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionSeen {
    /// The run that saw it.
    pub run: u64,
    /// The groups reported in that run, sorted.
    pub granted_by: Vec<String>,
}
