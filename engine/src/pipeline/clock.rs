//! Time, injected: the pipeline asks a [`Clock`] for "now" so tests can pin it and property
//! tests can compare runs exactly.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::model::EpochSeconds;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch, UTC.
    fn now(&self) -> EpochSeconds;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> EpochSeconds {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A clock that says what it is told.
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    /// A clock at `at`.
    pub fn new(at: EpochSeconds) -> Self {
        Self(AtomicI64::new(at))
    }

    /// Moves it to `at`.
    pub fn set(&self, at: EpochSeconds) {
        self.0.store(at, Ordering::SeqCst);
    }

    /// Moves it by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> EpochSeconds {
        self.0.load(Ordering::SeqCst)
    }
}
