//! Reclamation rules (per software model: the last-activity threshold after which a seat
//! becomes a removal candidate, whether the user is notified first and for how long, whether
//! users with no activity at all count, whether app accounts are spared) and exclusion rules
//! (users across all profiles, or subscription identifiers of one profile type, kept out of
//! reconciliation, reclamation or both).

use serde::{Deserialize, Serialize};

use super::EpochSeconds;

/// The default last-activity threshold of a direct integration, in days.
pub const DEFAULT_INACTIVITY_DAYS: u32 = 60;

/// When an unused seat becomes a removal candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReclamationRule {
    /// Rule id (the model's id: one rule per model).
    pub id: String,
    /// The software model it applies to.
    pub model: String,
    /// Days without activity before a seat becomes a candidate (default 60).
    pub inactivity_days: u32,
    /// Whether users with no activity at all are candidates.
    pub include_no_activity: bool,
    /// Whether the user is asked first.
    pub notify_user: bool,
    /// Days before automatic reclaim when notifying (no answer by then: reclaimed).
    pub days_before_auto_reclaim: Option<u32>,
    /// Whether the rule is in force.
    pub active: bool,
    /// Name shown to admins.
    pub name: String,
    /// Whether app (bot) accounts are kept out of reclamation (on by default).
    pub exclude_apps: bool,
    /// When the rule was created.
    pub created_at: EpochSeconds,
}

impl ReclamationRule {
    /// The default rule of a model, created on publish: 60 days, no notification, users
    /// with no activity included, app accounts excluded.
    pub fn default_for(model: &str, now: EpochSeconds) -> Self {
        Self {
            id: model.to_string(),
            model: model.to_string(),
            inactivity_days: DEFAULT_INACTIVITY_DAYS,
            include_no_activity: true,
            notify_user: false,
            days_before_auto_reclaim: None,
            active: true,
            name: format!("Reclaim unused {model}"),
            exclude_apps: true,
            created_at: now,
        }
    }
}

/// What an exclusion rule matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ExclusionTarget {
    /// A user, by principal name (email) or external id, across all profiles.
    User(String),
    /// A subscription identifier of one profile type (spoke).
    Identifier {
        /// The spoke.
        spoke_id: String,
        /// The identifier.
        identifier: String,
    },
}

/// What an exclusion keeps the target out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ExclusionScope {
    /// License calculations only (`license` to users, as the CLI's `--scope` says).
    #[serde(rename = "license")]
    Reconciliation,
    /// Removal candidates only.
    Reclamation,
    /// Both.
    Both,
}

impl ExclusionScope {
    /// Whether it keeps the target out of reclamation.
    pub fn covers_reclamation(self) -> bool {
        matches!(self, ExclusionScope::Reclamation | ExclusionScope::Both)
    }

    /// Whether it keeps the target out of license calculations.
    pub fn covers_license(self) -> bool {
        matches!(self, ExclusionScope::Reconciliation | ExclusionScope::Both)
    }

    /// Its name for people and the CLI.
    pub fn label(self) -> &'static str {
        match self {
            ExclusionScope::Reconciliation => "license",
            ExclusionScope::Reclamation => "reclamation",
            ExclusionScope::Both => "both",
        }
    }
}

/// A user or identifier exclusion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExclusionRule {
    /// Rule id.
    pub id: String,
    /// What it matches.
    pub target: ExclusionTarget,
    /// What it keeps the target out of.
    pub scope: ExclusionScope,
    /// Whether the rule is in force.
    pub active: bool,
    /// Why, for people.
    pub note: Option<String>,
    /// When it was created.
    pub created_at: EpochSeconds,
}

impl ExclusionRule {
    /// Whether the rule matches a seat: `spoke_id` is the profile type, `identifier` the
    /// subscription identifier, `user_ids` the user's external id and principal name (users
    /// match case-insensitively). Inactive rules match nothing.
    pub fn matches(&self, spoke_id: &str, identifier: &str, user_ids: &[&str]) -> bool {
        if !self.active {
            return false;
        }
        match &self.target {
            ExclusionTarget::User(user) => {
                let user = user.trim();
                user_ids.iter().any(|u| u.trim().eq_ignore_ascii_case(user))
            }
            ExclusionTarget::Identifier {
                spoke_id: s,
                identifier: i,
            } => s == spoke_id && i == identifier,
        }
    }
}
