//! The SAM domain as plain data: integration profiles and their connections, software models
//! and subscription identifiers, subscriptions, user activity, reclamation and exclusion rules,
//! removal candidates, entitlements, reconciliation results, scheduled jobs and their results,
//! the audit log, pipeline checkpoints, plugin pins and operator limits. One module per concept; every type is a serde
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
pub mod token;
pub mod trust;
pub mod vendor;

pub use activity::{ActivityKind, ActivityState, UserActivityRecord, UserActivityRecordV5};
pub use audit::{AuditAction, AuditEntry, AuditEntryV5};
pub use candidate::{
    CandidateState, IntentStatus, ReclaimIntent, ReclaimRecord, ReclaimRunState, RemovalCandidate,
    SeatChange, Transition, UserAnswer,
};
pub use checkpoint::{Checkpoint, RunPhase};
pub use connection::{AuthKind, Connection};
pub use credential::{
    CredentialStatus, ExtraCredentialRecord, OAuthConnection, OAuthEndpoints, OAuthSite,
    PendingAuthorization, ProfileValidation, SealedSecret, ValidationCheckRecord,
};
pub use entitlement::{Entitlement, LicenseCostOverride, LicenseMetric, Rights};
pub use job::{JobResult, JobStatus, JobTrigger, ScheduledJob, ScheduledJobV1};
pub use profile::{IntegrationProfile, ProcessKind, ProcessSet, ProfileStatus, SelectedGroup};
pub use reconciliation::{
    ComplianceStatus, LicensePosition, ProfileCounts, ProfileShare, ReconciliationResult,
};
pub use rules::{
    DEFAULT_INACTIVITY_DAYS, ExclusionRule, ExclusionScope, ExclusionTarget, ReclamationRule,
};
pub use software::{SoftwareModel, SubscriptionIdentifier};
pub use subscription::{
    AccountType, SeenEntry, StagedSubscription, Subscription, SubscriptionSeen,
};
pub use token::{ApiToken, ConsoleUser, Role, UsedAnswerLink};
pub use trust::{PinOrigin, PinnedPermissions, PluginPin, ProfileLimits};
pub use vendor::{PendingCancellation, VendorSeatCounts};

/// Seconds since the Unix epoch, UTC.
pub type EpochSeconds = i64;

/// Seconds in one day.
pub const DAY: EpochSeconds = 86_400;

/// The offset from UTC, in seconds, times are shown in (`--tz`); UTC unless set.
static DISPLAY_OFFSET: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// A named zone times are shown in (`--tz Europe/Paris`), whose offset depends on the date;
/// it takes precedence over [`DISPLAY_OFFSET`] once set.
static DISPLAY_ZONE: std::sync::OnceLock<tz::TimeZone> = std::sync::OnceLock::new();

/// Shows times at `seconds` from UTC from now on (the CLI's `--tz`).
pub fn set_display_offset(seconds: i32) {
    DISPLAY_OFFSET.store(seconds, std::sync::atomic::Ordering::Relaxed);
}

/// A zone times can be shown in (`--tz`, `SAM_TZ`).
#[derive(Debug, Clone, PartialEq)]
pub enum DisplayZone {
    /// A fixed offset from UTC, in seconds (`UTC`, `+02:00`).
    Fixed(i32),
    /// A zone of the system's time zone database (`Europe/Paris`), with its daylight saving
    /// rules.
    Named(tz::TimeZone),
}

/// Parses a display zone: `UTC`, a fixed offset (see [`parse_offset`]), a name from the
/// system's time zone database (`/usr/share/zoneinfo`, or `TZDIR`): `Europe/Paris`,
/// `America/New_York`, or `local`: the machine's own zone (`TZ`, else `/etc/localtime`). A
/// name that is not a plain zone name (a path, `..`) or that the database does not have is
/// refused with the reason.
pub fn parse_zone(text: &str) -> Result<DisplayZone, String> {
    if let Some(offset) = parse_offset(text) {
        return Ok(DisplayZone::Fixed(offset));
    }
    let name = text.trim();
    if name.eq_ignore_ascii_case("local") {
        // As the C library reads it: `TZ` (a zone name, a file or a POSIX rule; set but
        // empty is UTC), else `/etc/localtime`.
        let zone = match std::env::var("TZ") {
            Ok(tz) if tz.trim().is_empty() => return Ok(DisplayZone::Fixed(0)),
            Ok(tz) => tz::TimeZone::from_posix_tz(&tz)
                .map_err(|e| format!("this machine's zone (TZ={tz:?}) is not readable: {e}")),
            Err(_) => tz::TimeZone::local().map_err(|e| {
                format!("this machine's zone (/etc/localtime, TZ unset) is not readable: {e}")
            }),
        };
        return zone.map(DisplayZone::Named);
    }
    let plain = !name.is_empty()
        && !name.starts_with('/')
        && !name
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
    if !plain {
        return Err(format!(
            "{name:?} is neither UTC, an offset such as +02:00, nor a zone name such as \
             Europe/Paris"
        ));
    }
    // The leading colon makes the tz database file the only reading (never a POSIX rule).
    tz::TimeZone::from_posix_tz(&format!(":{name}"))
        .map(DisplayZone::Named)
        .map_err(|e| format!("no time zone {name:?} in the system's tz database: {e}"))
}

/// Shows times in `zone` from now on (a named zone can be set once per process).
pub fn set_display_zone(zone: DisplayZone) {
    match zone {
        DisplayZone::Fixed(offset) => set_display_offset(offset),
        DisplayZone::Named(zone) => {
            let _ = DISPLAY_ZONE.set(zone);
        }
    }
}

impl DisplayZone {
    /// The zone's offset from UTC at `at`, in seconds.
    pub fn offset_at(&self, at: EpochSeconds) -> i32 {
        match self {
            DisplayZone::Fixed(offset) => *offset,
            DisplayZone::Named(zone) => zone
                .find_local_time_type(at)
                .map_or(0, |local| local.ut_offset()),
        }
    }
}

/// `at` in `zone`, as [`format_utc`] writes it.
pub fn format_at(at: EpochSeconds, zone: &DisplayZone) -> String {
    format_in(at, zone.offset_at(at))
}

/// Parses a display zone: `UTC` (or `Z`), or an offset `+HH:MM`, `-HHMM`, `+HH`, within
/// 18 hours. `None` otherwise.
pub fn parse_offset(text: &str) -> Option<i32> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let (sign, rest) = match t.as_bytes().first()? {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || digits.len() > 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (h, m) = if digits.len() <= 2 {
        (digits.parse::<i32>().ok()?, 0)
    } else {
        let split = digits.len() - 2;
        (
            digits[..split].parse::<i32>().ok()?,
            digits[split..].parse::<i32>().ok()?,
        )
    };
    (h <= 18 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

/// `YYYY-MM-DD HH:MM:SS UTC` for epoch seconds, or in the `--tz` zone with its offset at
/// that time written (`... +02:00`; a named zone follows its daylight saving rules); for
/// messages and tables: a time always carries its zone (issue 24).
pub fn format_utc(at: EpochSeconds) -> String {
    let offset = match DISPLAY_ZONE.get() {
        Some(zone) => zone
            .find_local_time_type(at)
            .map_or(0, |local| local.ut_offset()),
        None => DISPLAY_OFFSET.load(std::sync::atomic::Ordering::Relaxed),
    };
    format_in(at, offset)
}

/// `at` written at `offset` seconds from UTC, with the offset (`UTC` when zero).
fn format_in(at: EpochSeconds, offset: i32) -> String {
    let zone = if offset == 0 {
        "UTC".to_string()
    } else {
        let a = offset.abs();
        format!(
            "{}{:02}:{:02}",
            if offset < 0 { '-' } else { '+' },
            a / 3600,
            a % 3600 / 60
        )
    };
    let at = at + i64::from(offset);
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
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} {zone}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// What sam prints for a holder with no activity on record: the look-back only covers its
/// window, so sam never says "never" unless the vendor does.
pub const NO_ACTIVITY: &str = "none in the look-back";

/// Parses `YYYY-MM-DD` (midnight UTC) into epoch seconds.
/// Parses a point in time: an RFC 3339 date-time with its zone (`2026-10-01T08:30:00+02:00`,
/// `…Z`), or a bare `YYYY-MM-DD` (its first second, UTC). The bool says whether it was a bare
/// date. `None` when it is neither.
pub fn parse_instant(text: &str) -> Option<(EpochSeconds, bool)> {
    let text = text.trim();
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some((at.timestamp(), false));
    }
    if text.len() <= 10 {
        return parse_date(text).map(|at| (at, true));
    }
    None
}

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
    use super::*;

    /// A zone with daylight saving shows each time at that date's offset; fixed offsets and
    /// UTC parse; paths and unknown names are refused with the reason.
    #[test]
    fn display_zones_follow_daylight_saving_and_refuse_paths() {
        // Central European rules, as the tz database has them for Europe/Paris since 1996.
        let paris =
            DisplayZone::Named(tz::TimeZone::from_posix_tz("CET-1CEST,M3.5.0,M10.5.0/3").unwrap());
        let winter = 1_795_000_000; // 2026-11-18
        let summer = 1_784_000_000; // 2026-07-14
        assert!(
            format_at(winter, &paris).ends_with("+01:00"),
            "{}",
            format_at(winter, &paris)
        );
        assert!(
            format_at(summer, &paris).ends_with("+02:00"),
            "{}",
            format_at(summer, &paris)
        );
        assert_eq!(parse_zone("utc").unwrap(), DisplayZone::Fixed(0));
        assert_eq!(parse_zone("-05:30").unwrap(), DisplayZone::Fixed(-19_800));
        assert_eq!(
            format_at(0, &DisplayZone::Fixed(0)),
            "1970-01-01 00:00:00 UTC"
        );
        for bad in [
            "/etc/passwd",
            "../../etc/passwd",
            "Europe/../x",
            "",
            "Europe Paris",
        ] {
            assert!(parse_zone(bad).is_err(), "{bad:?} accepted");
        }
        assert!(
            parse_zone("Nowhere/Atlantis")
                .unwrap_err()
                .contains("no time zone")
        );
        // Where the system has a tz database, names resolve through it.
        if std::path::Path::new("/usr/share/zoneinfo/Europe/Paris").exists() {
            let named = parse_zone("Europe/Paris").unwrap();
            assert_eq!(named.offset_at(summer), 7_200);
            assert_eq!(named.offset_at(winter), 3_600);
        }
    }

    fn stored<T: serde::Serialize>(value: &T) -> Vec<u8> {
        postcard::to_stdvec(value).unwrap()
    }

    fn json<T: serde::Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap()
    }

    /// The store encodes records with postcard, which writes a variant's index and never its
    /// name: the kebab-case names users see change no stored byte. These bytes are the ones
    /// the store wrote before the renames (index, then the variant's data).
    #[test]
    fn the_json_names_change_no_stored_byte() {
        let why = CandidateState::AttentionRequired("x".into());
        assert_eq!(stored(&why), [0, 1, b'x']);
        assert_eq!(stored(&CandidateState::AwaitingUser), [2]);
        assert_eq!(stored(&CandidateState::Reclaiming), [8]);
        assert_eq!(stored(&ProcessKind::DownloadSubscriptions), [0]);
        assert_eq!(stored(&ProcessKind::Reconcile), [3]);
        assert_eq!(stored(&JobStatus::Failed), [2]);
        assert_eq!(stored(&JobTrigger::Schedule), [1]);
        assert_eq!(stored(&ExclusionScope::Reconciliation), [0]);
        assert_eq!(stored(&Rights::Count(5)), [0, 5]);
        assert_eq!(stored(&AuditAction::ReclaimFailed { candidate: 7 }), [8, 7]);
        let oauth = AuthKind::OAuth2 {
            credential_key: "k".into(),
            scopes: vec![],
        };
        assert_eq!(stored(&oauth), [1, 1, b'k', 0]);
        assert_eq!(
            stored(&RunPhase::Lookup { after: None }),
            [1, 0],
            "a struct variant stays its index and fields"
        );
        // And they decode back.
        let back: CandidateState = postcard::from_bytes(&[0, 1, b'x']).unwrap();
        assert_eq!(back, why);
    }

    /// The names users see in flags are the names in JSON.
    #[test]
    fn json_speaks_the_flags_vocabulary() {
        assert_eq!(json(&CandidateState::AwaitingUser), r#""awaiting-user""#);
        assert_eq!(
            json(&CandidateState::AttentionRequired("gone".into())),
            r#"{"attention-required":"gone"}"#
        );
        for state in [
            CandidateState::Ready,
            CandidateState::AwaitingUser,
            CandidateState::ClosedComplete,
        ] {
            assert_eq!(json(&state), format!("\"{}\"", state.key()));
            assert!(CandidateState::KEYS.contains(&state.key()));
        }
        for kind in [
            ProcessKind::DownloadSubscriptions,
            ProcessKind::DownloadActivity,
            ProcessKind::Reclaim,
            ProcessKind::Reconcile,
        ] {
            assert_eq!(json(&kind), format!("\"{}\"", kind.key()));
        }
        assert_eq!(json(&ExclusionScope::Reconciliation), r#""license""#);
        assert_eq!(json(&ComplianceStatus::NotCompliant), r#""not-compliant""#);
        assert_eq!(json(&Rights::Unlimited), r#""unlimited""#);
        for status in [JobStatus::Running, JobStatus::Succeeded, JobStatus::Failed] {
            assert_eq!(json(&status), format!("\"{}\"", status.name()));
        }
        for trigger in [JobTrigger::Manual, JobTrigger::Schedule] {
            assert_eq!(json(&trigger), format!("\"{}\"", trigger.name()));
        }
    }

    #[test]
    fn dates_round_trip() {
        let t = super::parse_date("2024-02-29").unwrap();
        assert_eq!(super::format_utc(t), "2024-02-29 00:00:00 UTC");
        assert_eq!(super::format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::parse_offset("+02:00"), Some(7200));
        assert_eq!(super::parse_offset("-0530"), Some(-19_800));
        assert_eq!(super::parse_offset("utc"), Some(0));
        assert_eq!(super::parse_offset("+25:00"), None);
        assert_eq!(super::parse_offset("Europe/Paris"), None);
        assert!(super::parse_date("2024-13-01").is_none());
    }
}

#[cfg(test)]
mod instant_tests {
    use super::*;

    #[test]
    fn instants_with_zones() {
        assert_eq!(
            parse_instant("2026-10-01T08:30:00+02:00"),
            Some((1_790_836_200, false))
        );
        assert_eq!(
            parse_instant("2026-10-01T06:30:00Z"),
            Some((1_790_836_200, false))
        );
        assert_eq!(parse_instant("2026-10-01"), Some((1_790_812_800, true)));
        assert_eq!(
            parse_instant("2026-10-01T08:30:00"),
            None,
            "a zone is required"
        );
        assert_eq!(parse_instant("yesterday"), None);
    }
}
