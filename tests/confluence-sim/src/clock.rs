//! Time for the simulator: the injectable [`SimClock`] (real time by default, or frozen
//! and advanced by tests so that token expiry and rate-limit windows need no sleeping),
//! plus the small calendar helpers the wire format needs (RFC 3339 timestamps with
//! milliseconds, Confluence's "friendly" dates, the `yyyy-MM-ddTHH:mmZ` rate-limit reset
//! format, and the CQL date literals `yyyy-MM-dd[ HH:mm]` / `yyyy/MM/dd[ HH:mm]`). All
//! times are UTC epoch milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A clock shared by every part of one simulator. Cloning shares the same clock.
///
/// By default it follows real time. [`SimClock::fixed`] starts it frozen at a given
/// instant; [`SimClock::advance`] moves it forward (frozen or not), so tests can expire
/// tokens or roll the hourly rate-limit window without sleeping.
#[derive(Clone, Debug)]
pub struct SimClock {
    inner: Arc<ClockInner>,
}

#[derive(Debug)]
struct ClockInner {
    frozen: AtomicBool,
    /// When frozen: the current time. Otherwise: the offset added to real time.
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
        Self {
            inner: Arc::new(ClockInner {
                frozen: AtomicBool::new(false),
                value_ms: AtomicI64::new(0),
            }),
        }
    }

    /// A frozen clock that reads `epoch_ms` until advanced or set.
    pub fn fixed(epoch_ms: i64) -> Self {
        Self {
            inner: Arc::new(ClockInner {
                frozen: AtomicBool::new(true),
                value_ms: AtomicI64::new(epoch_ms),
            }),
        }
    }

    /// Current time in UTC epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        let v = self.inner.value_ms.load(Ordering::SeqCst);
        if self.inner.frozen.load(Ordering::SeqCst) {
            v
        } else {
            system_now_ms() + v
        }
    }

    /// Current time in whole UTC epoch seconds.
    pub fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Moves the clock forward by `d` (also works on a real-time clock: adds an offset).
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4);
        self.inner.value_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Freezes the clock at `epoch_ms`.
    pub fn set_ms(&self, epoch_ms: i64) {
        self.inner.value_ms.store(epoch_ms, Ordering::SeqCst);
        self.inner.frozen.store(true, Ordering::SeqCst);
    }

    /// Whether the clock is frozen (only moves when advanced).
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
pub(crate) const MS_PER_HOUR: i64 = 3_600_000;

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) for days since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

struct Parts {
    y: i64,
    mo: u32,
    d: u32,
    h: i64,
    mi: i64,
    s: i64,
    ms: i64,
}

fn parts(epoch_ms: i64) -> Parts {
    let days = epoch_ms.div_euclid(MS_PER_DAY);
    let rem = epoch_ms.rem_euclid(MS_PER_DAY);
    let (y, mo, d) = civil_from_days(days);
    Parts {
        y,
        mo,
        d,
        h: rem / MS_PER_HOUR,
        mi: (rem / 60_000) % 60,
        s: (rem / 1000) % 60,
        ms: rem % 1000,
    }
}

/// `2024-03-01T12:34:56.789Z`, the format Confluence uses for `when` and `lastModified`.
pub fn rfc3339_ms(epoch_ms: i64) -> String {
    let p = parts(epoch_ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        p.y, p.mo, p.d, p.h, p.mi, p.s, p.ms
    )
}

/// `2024-03-01T12:00Z`, the documented `X-RateLimit-Reset` format.
pub fn iso_minute(epoch_ms: i64) -> String {
    let p = parts(epoch_ms);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}Z", p.y, p.mo, p.d, p.h, p.mi)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Mar 01, 2024`, Confluence's `friendlyLastModified` / `friendlyWhen` style.
pub fn friendly(epoch_ms: i64) -> String {
    let p = parts(epoch_ms);
    format!("{} {:02}, {}", MONTHS[(p.mo - 1) as usize], p.d, p.y)
}

/// A parsed CQL date literal: its first instant and its granularity in ms
/// (a day for date-only literals, a minute when a time is given).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CqlDate {
    pub start_ms: i64,
    pub span_ms: i64,
}

/// Parses `yyyy-MM-dd`, `yyyy/MM/dd`, optionally followed by ` HH:mm` (UTC).
pub fn parse_cql_date(s: &str) -> Option<CqlDate> {
    let s = s.trim();
    let (date, time) = match s.split_once(' ') {
        Some((d, t)) => (d, Some(t.trim())),
        None => (s, None),
    };
    let sep = if date.contains('-') { '-' } else { '/' };
    let mut it = date.split(sep);
    let y: i64 = num(it.next()?, 4)?;
    let m: u32 = num(it.next()?, 2)?;
    let d: u32 = num(it.next()?, 2)?;
    if it.next().is_some() || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    let day_ms = days_from_civil(y, m, d) * MS_PER_DAY;
    match time {
        None => Some(CqlDate {
            start_ms: day_ms,
            span_ms: MS_PER_DAY,
        }),
        Some(t) => {
            let (h, mi) = t.split_once(':')?;
            let h: i64 = num(h, 2)?;
            let mi: i64 = num(mi, 2)?;
            if h > 23 || mi > 59 {
                return None;
            }
            Some(CqlDate {
                start_ms: day_ms + h * MS_PER_HOUR + mi * 60_000,
                span_ms: 60_000,
            })
        }
    }
}

fn num<T: std::str::FromStr>(s: &str, max_len: usize) -> Option<T> {
    if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in [-1000, 0, 1, 365, 10_000, 19_783, 20_000, 30_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_709_296_496_789), "2024-03-01T12:34:56.789Z");
        assert_eq!(friendly(1_709_296_496_789), "Mar 01, 2024");
        assert_eq!(iso_minute(1_709_296_496_789), "2024-03-01T12:34Z");
    }

    #[test]
    fn cql_dates() {
        let d = parse_cql_date("2024-03-01").unwrap();
        assert_eq!(d.start_ms, 1_709_251_200_000);
        assert_eq!(d.span_ms, MS_PER_DAY);
        let d = parse_cql_date("2024/03/01 12:34").unwrap();
        assert_eq!(d.start_ms, 1_709_296_440_000);
        assert!(parse_cql_date("2024-02-30").is_none());
        assert!(parse_cql_date("2024-13-01").is_none());
        assert!(parse_cql_date("yesterday").is_none());
        assert!(parse_cql_date("2024-01-01 25:00").is_none());
    }

    #[test]
    fn clock_advances() {
        let c = SimClock::fixed(1000);
        c.advance(Duration::from_secs(2));
        assert_eq!(c.now_ms(), 3000);
        let r = SimClock::real();
        let before = r.now_ms();
        r.advance(Duration::from_secs(3600));
        assert!(r.now_ms() >= before + 3_600_000);
    }
}
