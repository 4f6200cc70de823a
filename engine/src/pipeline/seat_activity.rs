//! Each seat's last activity as an admin reads it: per subscription of a profile, the
//! holder's last activity with its kind of evidence (vendor last-active date, content
//! created or updated, contributor), the spoke's words for it, its age at a given time, what
//! the latest check said and when a lookup last asked. Read-only and streamed over the store
//! (one pass in key order, a tenant never all in memory); the query behind
//! `sam subscriptions show` (issue 19).

use crate::model::{ActivityKind, ActivityState, EpochSeconds, Subscription};
use crate::store::{ReadError, ReadTx};

/// One seat and its holder's last activity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SeatActivity {
    /// The holder's vendor id.
    pub external_user_id: String,
    /// The subscription identifier (product).
    pub identifier: String,
    /// The holder's display name, where known.
    pub display_name: Option<String>,
    /// Whether the seat is held now (an ended seat is listed only when asked for).
    pub active: bool,
    /// The latest activity seen.
    pub last_activity: Option<EpochSeconds>,
    /// Seconds between `last_activity` and the time asked about.
    pub age_seconds: Option<i64>,
    /// The kind of evidence behind `last_activity`.
    pub kind: Option<ActivityKind>,
    /// The spoke's words for it (for example "page updated").
    pub source: Option<String>,
    /// What the latest check said; `None` when activity was never downloaded for the holder.
    pub state: Option<ActivityState>,
    /// When a lookup last asked the vendor about the holder.
    pub checked_at: Option<EpochSeconds>,
}

impl SeatActivity {
    fn of(
        sub: Subscription,
        activity: Option<&crate::model::UserActivityRecord>,
        now: EpochSeconds,
    ) -> Self {
        let last = activity.and_then(|a| a.last_activity);
        Self {
            external_user_id: sub.external_user_id,
            identifier: sub.identifier,
            display_name: sub.display_name,
            active: sub.active,
            last_activity: last,
            age_seconds: last.map(|at| now - at),
            kind: activity.and_then(|a| a.kind),
            source: activity.and_then(|a| a.source.clone()),
            state: activity.map(|a| a.state.clone()),
            checked_at: activity.and_then(|a| a.checked_at),
        }
    }

    /// The age in words ("3 d 4 h", "12 min"), or [`crate::model::NO_ACTIVITY`] with no
    /// activity on record.
    pub fn age_label(&self) -> String {
        match self.age_seconds {
            None => crate::model::NO_ACTIVITY.to_string(),
            Some(s) => age_words(s),
        }
    }
}

/// An age in seconds as people read it: days and hours, hours and minutes, or minutes.
pub fn age_words(seconds: i64) -> String {
    if seconds < 0 {
        return "in the future".to_string();
    }
    let (d, h, m) = (
        seconds / 86_400,
        (seconds % 86_400) / 3_600,
        (seconds % 3_600) / 60,
    );
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else {
        format!("{m} min")
    }
}

/// Calls `f` with every seat of `profile` (held ones only unless `include_ended`), in key
/// order, with its holder's last activity and its age at `now`. With `user`, only that
/// holder's seats.
pub fn for_each_seat_activity(
    read: &ReadTx,
    profile: &str,
    user: Option<&str>,
    include_ended: bool,
    now: EpochSeconds,
    mut f: impl FnMut(SeatActivity),
) -> Result<(), ReadError> {
    read.for_each_subscription_with_activity(profile, |sub, activity| {
        if !include_ended && !sub.active {
            return;
        }
        if user.is_some_and(|u| u != sub.external_user_id) {
            return;
        }
        f(SeatActivity::of(sub, activity, now));
    })
}

/// The seats of one holder with their last activity (see [`for_each_seat_activity`]).
pub fn seat_activity_of(
    read: &ReadTx,
    profile: &str,
    user: &str,
    now: EpochSeconds,
) -> Result<Vec<SeatActivity>, ReadError> {
    let mut out = Vec::new();
    for_each_seat_activity(read, profile, Some(user), true, now, |s| out.push(s))?;
    Ok(out)
}
