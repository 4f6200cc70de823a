//! The SAM domain as plain data: integration profiles and their connections, software models
//! and subscription identifiers, subscriptions, user activity, reclamation and exclusion rules,
//! removal candidates, entitlements, reconciliation results, scheduled jobs and their results,
//! the audit log and pipeline checkpoints. One module per concept; every type is a serde
//! record with no behaviour beyond small derivations, and the model knows nothing of
//! WebAssembly, HTTP or the database that stores it.

pub mod activity;
pub mod audit;
pub mod candidate;
pub mod checkpoint;
pub mod connection;
pub mod credential;
pub mod entitlement;
pub mod job;
pub mod profile;
pub mod reconciliation;
pub mod rules;
pub mod software;
pub mod subscription;
pub mod vendor;

pub use activity::{ActivityState, UserActivityRecord};
pub use audit::{AuditAction, AuditEntry};
pub use candidate::{
    CandidateState, IntentStatus, ReclaimIntent, ReclaimRecord, ReclaimRunState, RemovalCandidate,
    SeatChange, Transition, UserAnswer,
};
pub use checkpoint::{Checkpoint, RunPhase};
pub use connection::{AuthKind, Connection};
pub use credential::{
    CredentialStatus, OAuthConnection, OAuthEndpoints, OAuthSite, PendingAuthorization,
    ProfileValidation, SealedSecret, ValidationCheckRecord,
};
pub use entitlement::{Entitlement, LicenseCostOverride, LicenseMetric, Rights};
pub use job::{JobResult, JobStatus, JobTrigger, ScheduledJob, ScheduledJobV1};
pub use profile::{IntegrationProfile, ProcessKind, ProcessSet, ProfileStatus, SelectedGroup};
pub use reconciliation::{ComplianceStatus, LicensePosition, ReconciliationResult};
pub use rules::{
    DEFAULT_INACTIVITY_DAYS, ExclusionRule, ExclusionScope, ExclusionTarget, ReclamationRule,
};
pub use software::{SoftwareModel, SubscriptionIdentifier};
pub use subscription::{
    AccountType, SeenEntry, StagedSubscription, Subscription, SubscriptionSeen,
};
pub use vendor::{PendingCancellation, VendorSeatCounts};

/// Seconds since the Unix epoch, UTC.
pub type EpochSeconds = i64;

/// Seconds in one day.
pub const DAY: EpochSeconds = 86_400;

/// `YYYY-MM-DD HH:MM:SS` (UTC) for epoch seconds; for messages and tables.
pub fn format_utc(at: EpochSeconds) -> String {
    let days = at.div_euclid(DAY);
    let secs = at.rem_euclid(DAY);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Parses `YYYY-MM-DD` (midnight UTC) into epoch seconds.
pub fn parse_date(text: &str) -> Option<EpochSeconds> {
    let mut parts = text.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * DAY)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_round_trip() {
        let t = super::parse_date("2024-02-29").unwrap();
        assert_eq!(super::format_utc(t), "2024-02-29 00:00:00");
        assert_eq!(super::format_utc(0), "1970-01-01 00:00:00");
        assert!(super::parse_date("2024-13-01").is_none());
    }
}
