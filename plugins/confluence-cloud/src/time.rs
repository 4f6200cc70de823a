//! Dates as Confluence writes and reads them: an epoch as a CQL date (`yyyy-MM-dd HH:mm`,
//! UTC), and the SDK's readers (`sam_spoke::time`) for the ISO 8601 / RFC 3339 timestamps
//! Confluence puts in `version.when` and `lastModified` (`2024-03-01T12:34:56.789Z`, or with
//! a `+hh:mm` offset) and the organization API's calendar days.

use crate::model::EpochSeconds;

/// Parses a calendar day `yyyy-MM-dd` to the epoch second of its start (UTC).
pub use sam_spoke::time::date_to_epoch as parse_day;
/// Parses an RFC 3339 / ISO 8601 date-time; a missing offset is read as UTC.
pub use sam_spoke::time::timestamp_to_epoch as parse_timestamp;

/// Formats `epoch` as a CQL date-time, `yyyy-MM-dd HH:mm` (UTC, seconds dropped); an epoch
/// outside the representable years is clamped to them.
pub fn cql_date(epoch: EpochSeconds) -> String {
    sam_spoke::time::format_epoch(epoch, "%Y-%m-%d %H:%M").unwrap_or_default()
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
