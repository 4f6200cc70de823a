//! User activity: each seat holder's last activity and its source, as the latest activity
//! download found it ("update if later"), or that the vendor reported none in the window, or
//! could not tell.

use serde::{Deserialize, Serialize};

use super::EpochSeconds;

/// What the last check said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// One user's activity on one profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserActivityRecord {
    /// The profile.
    pub profile: String,
    /// The vendor's user id.
    pub external_user_id: String,
    /// The latest activity ever seen.
    pub last_activity: Option<EpochSeconds>,
    /// What it was (e.g. "page updated").
    pub source: Option<String>,
    /// What the latest check said.
    pub state: ActivityState,
}
