//! Time as the contract counts it (`epoch-seconds`, UTC) and as vendors write it, over
//! chrono: strict RFC 3339 ([`rfc3339_to_epoch`]), the looser ISO 8601 some vendors drift to
//! ([`timestamp_to_epoch`]: no offset, no seconds, `+hhmm`), calendar days
//! ([`date_to_epoch`]), and back ([`epoch_to_rfc3339`], [`format_epoch`]).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Seconds since the Unix epoch, UTC (the WIT `epoch-seconds`).
pub type EpochSeconds = i64;

/// An RFC 3339 timestamp (any offset) as epoch seconds; `None` when it is not one.
pub fn rfc3339_to_epoch(text: &str) -> Option<EpochSeconds> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.timestamp())
}

/// An ISO 8601 date-time as epoch seconds, read leniently:
/// `yyyy-MM-dd(T| )HH:mm[:ss[.fff]][Z|±hh:mm|±hhmm|±hh]`; a missing offset is UTC.
/// `None` when it is not one.
pub fn timestamp_to_epoch(text: &str) -> Option<EpochSeconds> {
    let s = text.trim();
    if let Some(t) = rfc3339_to_epoch(s) {
        return Some(t);
    }
    // One spelling for the separator and for UTC, then chrono's formats.
    let sep = s.get(10..11)?;
    if !matches!(sep, "T" | "t" | " ") {
        return None;
    }
    let mut s = format!("{}T{}", s.get(..10)?, s.get(11..)?);
    if s.ends_with(['Z', 'z']) {
        s.pop();
        s.push_str("+00:00");
    } else if let Some(at) = s.rfind(['+', '-']).filter(|at| *at > 16)
        && s.len() - at == 3
    {
        s.push_str("00");
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z"] {
        if let Ok(t) = DateTime::parse_from_str(&s, format) {
            return Some(t.timestamp());
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&s, format) {
            return Some(t.and_utc().timestamp());
        }
    }
    None
}

/// An HTTP date (`Date`, `Retry-After`: `Thu, 01 Jan 1970 00:15:00 GMT`, RFC 2822 form) as
/// epoch seconds; `None` when it is not one.
pub fn http_date_to_epoch(text: &str) -> Option<EpochSeconds> {
    DateTime::parse_from_rfc2822(text.trim())
        .ok()
        .map(|t| t.timestamp())
}

/// A calendar day `yyyy-MM-dd` as the epoch seconds of its midnight UTC.
pub fn date_to_epoch(text: &str) -> Option<EpochSeconds> {
    let text = text.trim();
    if text.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
}

/// `epoch` as a UTC date-time, clamped to the years chrono represents (±262 000).
fn utc(epoch: EpochSeconds) -> DateTime<Utc> {
    let epoch = epoch.clamp(
        DateTime::<Utc>::MIN_UTC.timestamp(),
        DateTime::<Utc>::MAX_UTC.timestamp(),
    );
    DateTime::<Utc>::from_timestamp(epoch, 0).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Epoch seconds as RFC 3339 in UTC (`2026-01-02T03:04:05Z`); clamped to chrono's range.
pub fn epoch_to_rfc3339(epoch: EpochSeconds) -> String {
    utc(epoch).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Epoch seconds formatted in UTC with a chrono `strftime` pattern (for example
/// `%Y-%m-%d %H:%M` for a query language's dates), clamped to chrono's range; `None` for a
/// pattern chrono cannot format.
pub fn format_epoch(epoch: EpochSeconds, pattern: &str) -> Option<String> {
    use std::fmt::Write;
    let t = utc(epoch);
    let mut out = String::new();
    // A pattern chrono cannot format is an error, not a panic.
    write!(out, "{}", t.format(pattern)).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_strict_rfc3339() {
        assert_eq!(
            rfc3339_to_epoch("2021-08-03T18:00:00-06:00"),
            Some(1_628_035_200)
        );
        assert_eq!(rfc3339_to_epoch("1970-01-01T00:00:10Z"), Some(10));
        assert_eq!(rfc3339_to_epoch("yesterday"), None);
        assert_eq!(rfc3339_to_epoch("2024-03-01T12:34"), None);
    }

    #[test]
    fn reads_loose_iso8601() {
        let t = 1_709_296_496;
        for text in [
            "2024-03-01T12:34:56.789Z",
            "2024-03-01T12:34:56Z",
            " 2024-03-01t12:34:56z ",
            "2024-03-01 12:34:56",
            "2024-03-01T22:34:56.000+10:00",
            "2024-03-01T07:34:56-0500",
            "2024-03-01T07:34:56-05",
            "2024-03-01T12:34:56",
        ] {
            assert_eq!(timestamp_to_epoch(text), Some(t), "{text}");
        }
        assert_eq!(timestamp_to_epoch("2024-03-01T12:34"), Some(t - 56));
        assert_eq!(timestamp_to_epoch("2024-03-01T12:34Z"), Some(t - 56));
        assert_eq!(timestamp_to_epoch("2024-03-01T13:34+01:00"), Some(t - 56));
        for bad in [
            "Mar 01, 2024",
            "2024-13-01T00:00:00Z",
            "",
            "2024-03-01",
            "2024-03-01X12:34",
            "2024-03-01T12",
            "2024-03-01T25:00",
            "ééééééééééééé",
        ] {
            assert_eq!(timestamp_to_epoch(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_and_formats() {
        assert_eq!(
            http_date_to_epoch("Thu, 01 Jan 1970 00:15:00 GMT"),
            Some(900)
        );
        assert_eq!(http_date_to_epoch("900"), None);
        assert_eq!(date_to_epoch("1970-01-02"), Some(86_400));
        assert_eq!(date_to_epoch("1970-13-02"), None);
        assert_eq!(date_to_epoch("1970-1-2"), None);
        assert_eq!(epoch_to_rfc3339(1_767_323_045), "2026-01-02T03:04:05Z");
        assert_eq!(
            format_epoch(951_782_400, "%Y-%m-%d %H:%M").as_deref(),
            Some("2000-02-29 00:00")
        );
        assert_eq!(
            format_epoch(-60, "%Y-%m-%d %H:%M").as_deref(),
            Some("1969-12-31 23:59")
        );
        assert!(epoch_to_rfc3339(i64::MAX).starts_with("+262"));
        assert_eq!(format_epoch(0, "%Q"), None);
    }

    proptest! {
        #[test]
        fn rfc3339_round_trips(e in -62_135_596_800i64..253_402_300_799) {
            let text = epoch_to_rfc3339(e);
            prop_assert_eq!(rfc3339_to_epoch(&text), Some(e));
            prop_assert_eq!(timestamp_to_epoch(&text), Some(e));
        }

        #[test]
        fn garbage_never_panics(s in "\\PC*") {
            let _ = timestamp_to_epoch(&s);
            let _ = date_to_epoch(&s);
        }
    }
}
