//! Job schedules: cron expressions parsed by the `cron` crate (zslayton/cron — maintained,
//! widely used, seconds-resolution expressions with day names, and an iterator of upcoming
//! times in any chrono time zone; sam evaluates schedules in UTC). The expression has six or
//! seven fields: `sec min hour day-of-month month day-of-week [year]`, e.g. `0 0 1 * * *` is
//! daily at 01:00 UTC. This module also holds the default schedule of each job publishing
//! creates and the job names the reference guide uses.

use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::model::{EpochSeconds, IntegrationProfile, ProcessKind, ScheduledJob};

/// Daily at 01:00 UTC: the subscription refresh.
pub const DEFAULT_DAILY: &str = "0 0 1 * * *";
/// Daily at 02:00 UTC: the activity refresh (after the subscriptions).
pub const DEFAULT_DAILY_ACTIVITY: &str = "0 0 2 * * *";
/// Weekly, Sunday 03:00 UTC: updating the reclamation candidates.
pub const DEFAULT_WEEKLY: &str = "0 0 3 * * Sun";
/// Weekly, Sunday 04:00 UTC: the reconciliation.
pub const DEFAULT_WEEKLY_RECONCILE: &str = "0 0 4 * * Sun";

/// The name of the weekly candidates job (one for all profiles in the reference; sam keeps
/// one per profile, suffixed with the display name when there are several).
pub const CANDIDATES_JOB: &str = "SAM - Updating Existing Reclamation Candidates";

/// A schedule that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid schedule `{expression}`: {reason} (expected cron with seconds: `sec min hour day-of-month month day-of-week`, e.g. `0 0 1 * * *`)"
)]
pub struct ScheduleError {
    /// The expression.
    pub expression: String,
    /// What the parser said.
    pub reason: String,
}

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    inner: cron::Schedule,
}

impl Schedule {
    /// Parses a cron expression.
    pub fn parse(expression: &str) -> Result<Self, ScheduleError> {
        cron::Schedule::from_str(expression.trim())
            .map(|inner| Self { inner })
            .map_err(|e| ScheduleError {
                expression: expression.to_string(),
                reason: e.to_string(),
            })
    }

    /// The first time strictly after `at`, or `None` when the schedule never fires again.
    pub fn next_after(&self, at: EpochSeconds) -> Option<EpochSeconds> {
        let at = DateTime::<Utc>::from_timestamp(at, 0)?;
        self.inner.after(&at).next().map(|t| t.timestamp())
    }
}

/// The next run of `expression` after `at` (`None` when it does not parse or never fires).
pub fn next_run(expression: &str, at: EpochSeconds) -> Option<EpochSeconds> {
    Schedule::parse(expression).ok()?.next_after(at)
}

/// `SAM - Refresh <display name> <what>`, as the reference guide names the jobs.
pub fn refresh_job_name(display_name: &str, what: &str) -> String {
    format!("SAM - Refresh {display_name} {what}")
}

/// The scheduled jobs of a published profile, with their first run after `now`: the daily
/// subscription refresh (download, then reconcile), the daily activity refresh when activity
/// is on, the weekly update of the reclamation candidates and the weekly reconciliation.
pub fn jobs_for(profile: &IntegrationProfile, now: EpochSeconds) -> Vec<ScheduledJob> {
    let job = |name: String, process, schedule: &str| ScheduledJob {
        name,
        profile: profile.name.clone(),
        process,
        schedule: schedule.to_string(),
        next_run: next_run(schedule, now).unwrap_or(now),
        active: true,
    };
    let mut jobs = vec![job(
        refresh_job_name(&profile.display_name, "Subscriptions"),
        ProcessKind::DownloadSubscriptions,
        DEFAULT_DAILY,
    )];
    if profile.processes.activity {
        jobs.push(job(
            refresh_job_name(&profile.display_name, "Activity"),
            ProcessKind::DownloadActivity,
            DEFAULT_DAILY_ACTIVITY,
        ));
    }
    jobs.push(job(
        format!("{CANDIDATES_JOB} ({})", profile.display_name),
        ProcessKind::Reclaim,
        DEFAULT_WEEKLY,
    ));
    jobs.push(job(
        format!("SAM - Reconcile {} Licenses", profile.display_name),
        ProcessKind::Reconcile,
        DEFAULT_WEEKLY_RECONCILE,
    ));
    jobs
}

/// The order a profile's due jobs run in: download, activity, candidates, reconciliation.
pub fn process_order(process: ProcessKind) -> u8 {
    match process {
        ProcessKind::DownloadSubscriptions => 0,
        ProcessKind::DownloadActivity => 1,
        ProcessKind::Reclaim => 2,
        ProcessKind::Reconcile => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_and_weekly_defaults_fire_when_expected() {
        // 2026-01-01T00:00:00Z is a Thursday.
        let t0 = 1_767_225_600;
        assert_eq!(next_run(DEFAULT_DAILY, t0), Some(t0 + 3600));
        assert_eq!(next_run(DEFAULT_DAILY, t0 + 3600), Some(t0 + 86_400 + 3600));
        // Sunday 2026-01-04 03:00.
        assert_eq!(
            next_run(DEFAULT_WEEKLY, t0),
            Some(t0 + 3 * 86_400 + 3 * 3600)
        );
        assert!(Schedule::parse("not cron").is_err());
        assert!(Schedule::parse("0 0 25 * * *").is_err());
    }
}
