//! How many page requests of one run may be in flight at once, adapted to the vendor's
//! signals: [`AdaptiveConcurrency`] starts low, grows by one after as many healthy answers as
//! requests are allowed (additive increase) but never again up to a level a limit signal came
//! at, halves when the session saw a limit signal since
//! the last answer (a 429, `Retry-After`, `RateLimit-Reason`, `X-RateLimit-NearLimit` or an
//! `X-RateLimit-Remaining` under a tenth of its limit, counted by the gate), holds while
//! answered pages wait for the caller and comes down by one (to one) when as many wait as
//! it has room for (its writes, not the vendor, set the pace then, and more requests at once
//! would take CPU from them; holding rather than coming down as soon as one page waits keeps
//! the caller fed at a WAN's latency, where one request at a time would starve it), holds
//! while answers take far longer than the fastest seen (the vendor is straining), and never
//! goes above the operator's ceiling for the profile (the `concurrency` limit). It owns only the
//! arithmetic; the read-ahead task asks it before each request and tells it each answer.

use std::sync::Mutex;
use std::time::Duration;

/// Requests allowed at the start of a run (below any ceiling of 2 or more).
pub const INITIAL: usize = 2;

/// The default ceiling of concurrent page requests per profile (the `concurrency` limit).
pub const DEFAULT_CEILING: usize = 8;

/// An answer this much slower than the fastest seen (plus [`SLOW_MARGIN`]) holds the growth.
const SLOW_FACTOR: u32 = 3;
/// Added to the slow threshold so loopback-fast answers' noise does not count as strain.
const SLOW_MARGIN: Duration = Duration::from_millis(100);

/// Whether the caller keeps up with the answered pages (see [`AdaptiveConcurrency::answered`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// No answered page waits for it.
    Ready,
    /// Some answered pages wait for it.
    Behind,
    /// As many answered pages wait as it has room for.
    Full,
}

/// The allowed concurrency of one run's page requests (see the module doc).
#[derive(Debug)]
pub struct AdaptiveConcurrency {
    ceiling: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    allowed: usize,
    /// Below the level a limit signal came at, once one came: growth stops there for the
    /// rest of the run, so a burst limit found is not hit again and again.
    found: Option<usize>,
    healthy: usize,
    signals_seen: u64,
    fastest: Option<Duration>,
    backoffs: u64,
    peak: usize,
}

impl AdaptiveConcurrency {
    /// A run's concurrency, never above `ceiling` (at least 1), starting at [`INITIAL`].
    /// `signals_now` is the session's limit-signal count at the start (signals before the
    /// run do not count).
    pub fn new(ceiling: usize, signals_now: u64) -> Self {
        let ceiling = ceiling.max(1);
        let allowed = INITIAL.min(ceiling);
        Self {
            ceiling,
            state: Mutex::new(State {
                allowed,
                signals_seen: signals_now,
                peak: allowed,
                ..State::default()
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Requests that may be in flight now.
    pub fn allowed(&self) -> usize {
        self.state().allowed
    }

    /// The ceiling.
    pub fn ceiling(&self) -> usize {
        self.ceiling
    }

    /// The most requests allowed at once so far.
    pub fn peak(&self) -> usize {
        self.state().peak
    }

    /// How many times it backed off.
    pub fn backoffs(&self) -> u64 {
        self.state().backoffs
    }

    /// One answer came, after `took`; `signals_now` is the session's limit-signal count now;
    /// `caller` says whether pages answered earlier still wait for the caller: some wait, it
    /// holds (the caller sets the pace; more requests would not be used sooner); as many as
    /// the caller has room for, one fewer is allowed, down to one (more requests at once
    /// would only take CPU from it).
    pub fn answered(&self, took: Duration, signals_now: u64, caller: Caller) {
        let mut s = self.state();
        if signals_now > s.signals_seen {
            s.signals_seen = signals_now;
            let below = s.allowed.saturating_sub(1).max(1);
            s.found = Some(s.found.map_or(below, |f| f.min(below)));
            s.allowed = (s.allowed / 2).max(1);
            s.healthy = 0;
            s.backoffs += 1;
            return;
        }
        match caller {
            Caller::Ready => {}
            Caller::Behind => {
                s.healthy = 0;
                return;
            }
            Caller::Full => {
                s.allowed = s.allowed.saturating_sub(1).max(1);
                s.healthy = 0;
                return;
            }
        }
        let fastest = *s.fastest.get_or_insert(took);
        if took < fastest {
            s.fastest = Some(took);
        }
        if took > fastest * SLOW_FACTOR + SLOW_MARGIN {
            s.healthy = 0;
            return;
        }
        s.healthy += 1;
        let most = s.found.map_or(self.ceiling, |f| f.min(self.ceiling));
        if s.healthy >= s.allowed && s.allowed < most {
            s.allowed += 1;
            s.healthy = 0;
            s.peak = s.peak.max(s.allowed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Duration = Duration::from_millis(20);

    #[test]
    fn grows_while_healthy_up_to_the_ceiling_only() {
        let c = AdaptiveConcurrency::new(5, 0);
        assert_eq!(c.allowed(), INITIAL);
        for _ in 0..100 {
            c.answered(FAST, 0, Caller::Ready);
        }
        assert_eq!(c.allowed(), 5, "the ceiling, never more");
        assert_eq!(c.peak(), 5);
        let one = AdaptiveConcurrency::new(1, 0);
        for _ in 0..10 {
            one.answered(FAST, 0, Caller::Ready);
        }
        assert_eq!(one.allowed(), 1, "a ceiling of 1 is sequential");
        assert_eq!(AdaptiveConcurrency::new(0, 0).allowed(), 1);
    }

    #[test]
    fn halves_on_a_limit_signal_and_grows_again_after() {
        let c = AdaptiveConcurrency::new(8, 3);
        for _ in 0..100 {
            c.answered(FAST, 3, Caller::Ready);
        }
        assert_eq!(c.allowed(), 8, "signals before the run do not count");
        c.answered(FAST, 4, Caller::Ready);
        assert_eq!(c.allowed(), 4);
        c.answered(FAST, 6, Caller::Ready);
        assert_eq!(c.allowed(), 2);
        c.answered(FAST, 6, Caller::Ready);
        c.answered(FAST, 6, Caller::Ready);
        assert_eq!(c.allowed(), 3, "additive increase after the backoff");
        for _ in 0..100 {
            c.answered(FAST, 6, Caller::Ready);
        }
        assert_eq!(
            c.allowed(),
            3,
            "not again up to the level the limit came at (4)"
        );
        assert_eq!(c.backoffs(), 2);
        for _ in 0..10 {
            c.answered(FAST, 100 + c.backoffs(), Caller::Ready);
        }
        assert_eq!(c.allowed(), 1, "never below one");
    }

    #[test]
    fn a_caller_that_falls_behind_holds_it_and_one_that_cannot_keep_up_brings_it_down() {
        let c = AdaptiveConcurrency::new(8, 0);
        for _ in 0..100 {
            c.answered(FAST, 0, Caller::Ready);
        }
        assert_eq!(c.allowed(), 8);
        for _ in 0..3 {
            c.answered(FAST, 0, Caller::Full);
        }
        assert_eq!(
            c.allowed(),
            5,
            "one fewer per answer the caller had no room for"
        );
        for _ in 0..100 {
            c.answered(FAST, 0, Caller::Behind);
        }
        assert_eq!(c.allowed(), 5, "pages waiting hold it where it is");
        for _ in 0..10 {
            c.answered(FAST, 0, Caller::Full);
        }
        assert_eq!(c.allowed(), 1);
        assert_eq!(c.backoffs(), 0, "not the vendor's limit");
    }

    #[test]
    fn slow_answers_hold_the_growth() {
        let c = AdaptiveConcurrency::new(8, 0);
        c.answered(FAST, 0, Caller::Ready);
        for _ in 0..50 {
            c.answered(Duration::from_millis(500), 0, Caller::Ready);
        }
        assert_eq!(c.allowed(), INITIAL, "strained answers do not grow it");
        c.answered(FAST, 0, Caller::Ready);
        c.answered(FAST, 0, Caller::Ready);
        assert_eq!(c.allowed(), INITIAL + 1);
    }
}
