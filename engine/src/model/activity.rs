//! User activity: each seat holder's last activity, its source (the kind of evidence and the
//! spoke's words) and when a lookup last asked about the user, as the activity downloads found
//! it ("update if later"), or that the vendor reported none in the window, or could not tell.

use serde::{Deserialize, Serialize};

use super::EpochSeconds;

/// What the last check said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ActivityState {
    /// Activity was found (see `last_activity`).
    Seen,
    /// The vendor reported no activity in the window checked.
    NoneInWindow,
    /// The vendor could not tell, with its reason.
    Unknown(String),
    /// The vendor keeps no activity for the user: none within its retention period, or never
    /// (GitHub Copilot's null `last_activity_at`). Appended last, so older records decode.
    NoneOrNever,
}

/// The kind of evidence behind a last-activity date (the contract's `activity-source`).
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
pub enum ActivityKind {
    /// The vendor's own last-active date (viewing counts; Atlassian's organization API).
    LastActive,
    /// The user created an item.
    ContentCreated,
    /// The user wrote an item's latest (or an earlier) version.
    ContentUpdated,
    /// The user contributed to an item changed then (an upper bound of their own change).
    Contributor,
    /// Anything else the spoke reported (the text says what).
    Other,
}

impl ActivityKind {
    /// A short label for people.
    pub fn label(self) -> &'static str {
        match self {
            ActivityKind::LastActive => "vendor last-active",
            ActivityKind::ContentCreated => "content created",
            ActivityKind::ContentUpdated => "content updated",
            ActivityKind::Contributor => "contributor",
            ActivityKind::Other => "other",
        }
    }

    /// The kind a spoke's description suggests (for records written before kinds existed).
    pub fn guess(source: &str) -> Self {
        let s = source.to_ascii_lowercase();
        if s.contains("last-active") || s.contains("last active") {
            ActivityKind::LastActive
        } else if s.contains("contributed") {
            ActivityKind::Contributor
        } else if s.ends_with("created") {
            ActivityKind::ContentCreated
        } else if s.ends_with("updated") {
            ActivityKind::ContentUpdated
        } else {
            ActivityKind::Other
        }
    }
}

/// One user's activity on one profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserActivityRecord {
    /// The profile.
    pub profile: String,
    /// The vendor's user id.
    pub external_user_id: String,
    /// The latest activity ever seen.
    pub last_activity: Option<EpochSeconds>,
    /// What it was, in the spoke's words (e.g. "page updated").
    pub source: Option<String>,
    /// What the latest check said.
    pub state: ActivityState,
    /// The kind of evidence behind `last_activity`.
    pub kind: Option<ActivityKind>,
    /// When a lookup last asked the vendor about this user (engine clock): a lookup that
    /// costs a call per user (the organization's last-active dates) asks at most once a day.
    pub checked_at: Option<EpochSeconds>,
}

/// The layout of [`UserActivityRecord`] up to schema version 5 (no kind, no lookup time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserActivityRecordV5 {
    /// The profile.
    pub profile: String,
    /// The vendor's user id.
    pub external_user_id: String,
    /// The latest activity ever seen.
    pub last_activity: Option<EpochSeconds>,
    /// What it was.
    pub source: Option<String>,
    /// What the latest check said.
    pub state: ActivityState,
}

impl From<UserActivityRecordV5> for UserActivityRecord {
    fn from(old: UserActivityRecordV5) -> Self {
        Self {
            kind: old.last_activity.map(|_| {
                old.source
                    .as_deref()
                    .map_or(ActivityKind::Other, ActivityKind::guess)
            }),
            profile: old.profile,
            external_user_id: old.external_user_id,
            last_activity: old.last_activity,
            source: old.source,
            state: old.state,
            checked_at: None,
        }
    }
}
