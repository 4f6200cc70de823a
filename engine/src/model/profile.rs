//! Integration profiles: one per connected vendor site, with the spoke that serves it, its
//! status (Draft/Published), the processes it enables, the "analyze activity from" date, its
//! config values and the product-access groups the admin selected.

use serde::{Deserialize, Serialize};

use super::EpochSeconds;

/// Whether a profile is still being set up or runs on schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileStatus {
    /// Being set up; must be validated and published.
    Draft,
    /// Validated and published: its jobs run.
    Published,
}

/// A subflow of the pipeline, as the model names it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessKind {
    /// Download who holds a seat.
    DownloadSubscriptions,
    /// Download each seat holder's last activity.
    DownloadActivity,
    /// Take unused seats back.
    Reclaim,
    /// Compute the license position (the weekly reconciliation job).
    Reconcile,
}

impl ProcessKind {
    /// Machine name (as in the WIT enum).
    pub fn key(self) -> &'static str {
        match self {
            ProcessKind::DownloadSubscriptions => "download-subscriptions",
            ProcessKind::DownloadActivity => "download-activity",
            ProcessKind::Reclaim => "reclaim",
            ProcessKind::Reconcile => "reconcile",
        }
    }
}

impl std::fmt::Display for ProcessKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

/// The processes a profile enables; download is always on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProcessSet {
    /// Download activity (on by default).
    pub activity: bool,
    /// Reclaim subscriptions (on by default).
    pub reclaim: bool,
}

impl Default for ProcessSet {
    fn default() -> Self {
        Self {
            activity: true,
            reclaim: true,
        }
    }
}

impl ProcessSet {
    /// The suffix of the connection & credential alias for this process set
    /// (`subscription`, `subscription_activity`, `subscription_reclaim`,
    /// `subscription_activity_reclaim`), after the reference guide.
    pub fn alias_suffix(self) -> &'static str {
        match (self.activity, self.reclaim) {
            (true, true) => "subscription_activity_reclaim",
            (true, false) => "subscription_activity",
            (false, true) => "subscription_reclaim",
            (false, false) => "subscription",
        }
    }
}

/// One connected vendor site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IntegrationProfile {
    /// Unique name (the key).
    pub name: String,
    /// Name shown to admins.
    pub display_name: String,
    /// The spoke's id (from its manifest).
    pub spoke_id: String,
    /// Where the spoke's component file is.
    pub spoke_path: String,
    /// Draft or Published.
    pub status: ProfileStatus,
    /// Enabled processes.
    pub processes: ProcessSet,
    /// Start of activity analysis; `None` means the spoke's look-back.
    pub analyze_from: Option<EpochSeconds>,
    /// Values of the spoke's config fields, by name.
    pub config: Vec<(String, String)>,
    /// The connection (alias) this profile uses.
    pub connection: String,
    /// When the profile was created.
    pub created_at: EpochSeconds,
}

/// A product-access group selected on a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SelectedGroup {
    /// The profile.
    pub profile: String,
    /// Vendor group id.
    pub group_id: String,
    /// Group name, where known.
    pub name: Option<String>,
}
