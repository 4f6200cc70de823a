//! Date handling without a date crate: formatting an epoch as a CQL date
//! (`yyyy-MM-dd HH:mm`, UTC) and parsing the ISO 8601 / RFC 3339 timestamps Confluence puts
//! in `version.when` and `lastModified` (`2024-03-01T12:34:56.789Z`, or with a `+hh:mm`
//! offset). Civil-date conversion uses Howard Hinnant's days-from-civil algorithm.

use crate::model::EpochSeconds;

const DAY: i64 = 86_400;

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

/// Formats `epoch` as a CQL date-time, `yyyy-MM-dd HH:mm` (UTC, seconds dropped).
pub fn cql_date(epoch: EpochSeconds) -> String {
    let days = epoch.div_euclid(DAY);
    let secs = epoch.rem_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60
    )
}

fn num(s: &str, range: std::ops::Range<usize>) -> Option<i64> {
    let part = s.get(range)?;
    if part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

/// Parses a calendar day `yyyy-MM-dd` to the epoch second of its start (UTC).
pub fn parse_day(text: &str) -> Option<EpochSeconds> {
    let s = text.trim();
    if s.len() != 10 || s.get(4..5)? != "-" || s.get(7..8)? != "-" {
        return None;
    }
    let (y, m, d) = (num(s, 0..4)?, num(s, 5..7)?, num(s, 8..10)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d) * DAY)
}

/// Parses an RFC 3339 / ISO 8601 date-time (`yyyy-MM-ddTHH:mm[:ss[.fff]](Z|±hh:mm|±hhmm)`);
/// a missing offset is read as UTC. `None` when it is not one.
pub fn parse_timestamp(text: &str) -> Option<EpochSeconds> {
    let s = text.trim();
    let (y, mo, d) = (num(s, 0..4)?, num(s, 5..7)?, num(s, 8..10)?);
    if s.get(4..5)? != "-" || s.get(7..8)? != "-" || !matches!(s.get(10..11)?, "T" | "t" | " ") {
        return None;
    }
    let (h, mi) = (num(s, 11..13)?, num(s, 14..16)?);
    if s.get(13..14)? != ":" {
        return None;
    }
    let mut rest = s.get(16..)?;
    let mut sec = 0;
    if let Some(r) = rest.strip_prefix(':') {
        sec = num(r, 0..2)?;
        rest = r.get(2..)?;
        if let Some(r) = rest.strip_prefix(['.', ',']) {
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            rest = r.get(digits..)?;
        }
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.get(0..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let r = rest.get(1..)?;
            let (oh, om) = match r.len() {
                5 if r.get(2..3)? == ":" => (num(r, 0..2)?, num(r, 3..5)?),
                4 => (num(r, 0..2)?, num(r, 2..4)?),
                2 => (num(r, 0..2)?, 0),
                _ => return None,
            };
            sign * (oh * 3600 + om * 60)
        }
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * DAY + h * 3600 + mi * 60 + sec - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_cql_dates() {
        assert_eq!(cql_date(0), "1970-01-01 00:00");
        assert_eq!(cql_date(1_709_296_496), "2024-03-01 12:34");
        assert_eq!(cql_date(951_782_400), "2000-02-29 00:00");
        assert_eq!(cql_date(-60), "1969-12-31 23:59");
    }

    #[test]
    fn parses_timestamps() {
        assert_eq!(
            parse_timestamp("2024-03-01T12:34:56.789Z"),
            Some(1_709_296_496)
        );
        assert_eq!(parse_timestamp("2024-03-01T12:34:56Z"), Some(1_709_296_496));
        assert_eq!(
            parse_timestamp("2024-03-01T22:34:56.000+10:00"),
            Some(1_709_296_496)
        );
        assert_eq!(
            parse_timestamp("2024-03-01T07:34:56-0500"),
            Some(1_709_296_496)
        );
        assert_eq!(parse_timestamp("2024-03-01T12:34"), Some(1_709_296_440));
        assert_eq!(parse_timestamp("Mar 01, 2024"), None);
        assert_eq!(parse_timestamp("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp(""), None);
        for e in [0, 1_000_000_000, 1_709_296_496, 4_102_444_800] {
            let iso = cql_date(e).replace(' ', "T");
            assert_eq!(parse_timestamp(&iso), Some(e - e.rem_euclid(60)));
        }
    }
}
