//! Time for the simulator: the injectable [`SimClock`] (real time by default, or frozen and
//! moved by tests, so that token expiry, rate-limit windows, the 90-day activity retention and
//! billing-cycle boundaries need no sleeping), and the calendar helpers the wire format needs
//! (RFC 3339 timestamps, `YYYY-MM-DD` dates, billing-cycle starts), built on `chrono`.
//! All instants are UTC epoch milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Utc};

/// A clock shared by every part of one simulator; clones share it.
#[derive(Clone, Debug)]
pub struct SimClock {
    inner: Arc<ClockInner>,
}

#[derive(Debug)]
struct ClockInner {
    frozen: AtomicBool,
    /// Frozen: the current time. Otherwise: the offset added to real time.
    value_ms: AtomicI64,
}

impl Default for SimClock {
    fn default() -> Self {
        Self::real()
    }
}

impl SimClock {
    /// A clock that follows the system clock.
    pub fn real() -> Self {
        Self::make(false, 0)
    }

    /// A frozen clock reading `epoch_ms` until advanced or set.
    pub fn fixed(epoch_ms: i64) -> Self {
        Self::make(true, epoch_ms)
    }

    fn make(frozen: bool, v: i64) -> Self {
        Self {
            inner: Arc::new(ClockInner {
                frozen: AtomicBool::new(frozen),
                value_ms: AtomicI64::new(v),
            }),
        }
    }

    /// Now, in UTC epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        let v = self.inner.value_ms.load(Ordering::SeqCst);
        if self.inner.frozen.load(Ordering::SeqCst) {
            v
        } else {
            system_now_ms().saturating_add(v)
        }
    }

    /// Now, in whole UTC epoch seconds.
    pub fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Moves the clock forward (on a real-time clock: adds an offset). The clock never
    /// goes past the end of year 9999.
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(MAX_MS);
        let _ = self
            .inner
            .value_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                Some(v.saturating_add(ms).min(MAX_MS))
            });
    }

    /// Freezes the clock at `epoch_ms` (clamped to years 1970..=9999).
    pub fn set_ms(&self, epoch_ms: i64) {
        self.inner
            .value_ms
            .store(epoch_ms.clamp(0, MAX_MS), Ordering::SeqCst);
        self.inner.frozen.store(true, Ordering::SeqCst);
    }

    /// Whether the clock only moves when told to.
    pub fn is_frozen(&self) -> bool {
        self.inner.frozen.load(Ordering::SeqCst)
    }
}

fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) const MS_PER_DAY: i64 = 86_400_000;
/// 9999-12-31T23:59:59.999Z, the latest instant the clock reaches.
const MAX_MS: i64 = 253_402_300_799_999;

fn datetime(epoch_ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(epoch_ms).unwrap_or(DateTime::UNIX_EPOCH)
}

/// `2025-06-15T12:00:00Z` (whole seconds, as GitHub writes `expires_at` and seat times).
pub fn rfc3339(epoch_ms: i64) -> String {
    datetime(epoch_ms).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses an RFC 3339 timestamp (any offset) to epoch ms.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.timestamp_millis())
}

/// The UTC day number (days since 1970-01-01) of an instant.
pub(crate) fn day_of(epoch_ms: i64) -> i64 {
    epoch_ms.div_euclid(MS_PER_DAY)
}

/// `YYYY-MM-DD` of a day number.
pub fn date_string(day: i64) -> String {
    datetime(day.saturating_mul(MS_PER_DAY))
        .format("%Y-%m-%d")
        .to_string()
}

fn day_number(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis().div_euclid(MS_PER_DAY))
        .unwrap_or(0)
}

/// The cycle day in a given month (clamped to the month's length, so day 31 is the last day
/// of a short month).
fn cycle_day_in(year: i32, month: u32, cycle_day: u32) -> i64 {
    (1..=cycle_day.clamp(1, 31))
        .rev()
        .find_map(|d| NaiveDate::from_ymd_opt(year, month, d))
        .map_or(0, day_number)
}

/// The billing cycles around `now_ms` for a cycle that starts on day `cycle_day` of each
/// month: `(start of the current cycle, start of the next cycle)` as day numbers.
pub(crate) fn billing_cycle(now_ms: i64, cycle_day: u32) -> (i64, i64) {
    let today = day_of(now_ms);
    let date = datetime(now_ms).date_naive();
    let (y, m) = (date.year(), date.month());
    let this_month = cycle_day_in(y, m, cycle_day);
    let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    if today >= this_month {
        (this_month, cycle_day_in(ny, nm, cycle_day))
    } else {
        (cycle_day_in(py, pm, cycle_day), this_month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_cycles() {
        // 2025-06-15T12:00:00Z
        let t = 1_749_988_800_000;
        assert_eq!(rfc3339(t), "2025-06-15T12:00:00Z");
        assert_eq!(parse_rfc3339("2025-06-15T06:00:00-06:00"), Some(t));
        let (start, next) = billing_cycle(t, 1);
        assert_eq!(date_string(start), "2025-06-01");
        assert_eq!(date_string(next), "2025-07-01");
        let (start, next) = billing_cycle(t, 20);
        assert_eq!(date_string(start), "2025-05-20");
        assert_eq!(date_string(next), "2025-06-20");
        // Day 31 in a 30-day month, and December rolling into January.
        let (_, next) = billing_cycle(parse_rfc3339("2025-12-31T23:00:00Z").unwrap(), 31);
        assert_eq!(date_string(next), "2026-01-31");
        let (start, next) = billing_cycle(parse_rfc3339("2025-06-30T00:00:00Z").unwrap(), 31);
        assert_eq!(date_string(start), "2025-06-30");
        assert_eq!(date_string(next), "2025-07-31");
    }

    #[test]
    fn clock_moves_only_when_told() {
        let c = SimClock::fixed(1000);
        c.advance(Duration::from_secs(2));
        assert_eq!(c.now_ms(), 3000);
        c.set_ms(5);
        assert_eq!(c.now_ms(), 5);
        // Absurd moves saturate instead of overflowing.
        c.advance(Duration::from_secs(u64::MAX));
        c.advance(Duration::from_secs(u64::MAX));
        assert_eq!(c.now_ms(), MAX_MS);
        assert_eq!(rfc3339(c.now_ms()), "9999-12-31T23:59:59Z");
        let (_, next) = billing_cycle(c.now_ms(), 31);
        assert!(next > 0);
    }
}
