//! Plain Rust mirrors of the WIT `types` records the spoke exports (config, groups,
//! subscriptions, activity, seat changes, validation checks, manifest). The logic modules
//! produce these; the wasm glue converts them one-to-one into the generated bindings, so
//! nothing outside `glue` depends on wit-bindgen.

use crate::errors::SpokeError;

/// Seconds since the Unix epoch, UTC.
pub type EpochSeconds = i64;

/// The profile settings passed to every call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub values: Vec<(String, String)>,
    pub selected_groups: Vec<String>,
}

impl Config {
    /// The value of config field `name`, trimmed; `None` when absent or blank.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The selected group ids, sorted and deduplicated, blanks dropped: the order in which
    /// download-subscriptions walks them.
    pub fn sorted_groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = self
            .selected_groups
            .iter()
            .map(|g| g.trim().to_string())
            .filter(|g| !g.is_empty())
            .collect();
        groups.sort();
        groups.dedup();
        groups
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Process {
    DownloadSubscriptions,
    DownloadActivity,
    Reclaim,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessPermission {
    pub process: Process,
    pub vendor_role: String,
    pub scopes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuth2AuthorizationCode {
    pub authorize_url: String,
    pub token_url: String,
    pub audience: Option<String>,
    pub base_scopes: Vec<String>,
    pub extra_parameters: Vec<(String, String)>,
    pub accessible_resources_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigField {
    pub name: String,
    pub label: String,
    pub description: String,
    pub required: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    pub identifier: String,
    pub name: String,
    pub edition: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraCredential {
    pub name: String,
    pub label: String,
    pub description: String,
    pub url_prefix: String,
    pub processes: Vec<Process>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub id: String,
    pub display_name: String,
    pub publisher: String,
    pub version: String,
    pub description: String,
    pub processes: Vec<ProcessPermission>,
    pub auth: OAuth2AuthorizationCode,
    pub connection_url_template: String,
    pub config_fields: Vec<ConfigField>,
    pub allowed_hosts: Vec<String>,
    pub activity_lookback_days: u32,
    pub products: Vec<Product>,
    pub extra_credentials: Vec<ExtraCredential>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationCheck {
    pub process: Process,
    pub description: String,
    pub outcome: Result<(), SpokeError>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub access: GroupAccess,
    pub member_count: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupAccess {
    Product,
    Admin,
    SiteAdmin,
    None,
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivityKind {
    LastActive,
    ContentCreated,
    ContentUpdated,
    Contributor,
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupPage {
    pub groups: Vec<Group>,
    pub next_cursor: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountType {
    Human,
    Guest,
    App,
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub external_user_id: String,
    pub identifier: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub account_type: AccountType,
    pub granted_by: Vec<String>,
    pub granted_at: Option<EpochSeconds>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionPage {
    pub subscriptions: Vec<Subscription>,
    pub next_cursor: Option<String>,
    /// The cursors of the group's pages after `next_cursor`, when the vendor reported the
    /// group's size on this page.
    pub following_cursors: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActivityStatus {
    Seen {
        at: EpochSeconds,
        source: String,
        kind: ActivityKind,
    },
    NoneInWindow,
    Unknown(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserActivity {
    pub external_user_id: String,
    pub status: ActivityStatus,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityPage {
    pub activities: Vec<UserActivity>,
    pub next_cursor: Option<String>,
    /// On the scan's first page: the cursors of the window's other time slices.
    pub slices: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionRef {
    pub external_user_id: String,
    pub identifier: String,
    pub granted_by: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeatChange {
    pub kind: String,
    pub target_id: String,
    pub target_name: Option<String>,
}
