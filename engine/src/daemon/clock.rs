//! The daemon's time: a [`DaemonClock`] says "now" (it is a pipeline [`Clock`]) and sleeps
//! until a given instant. [`SystemDaemonClock`] sleeps for real (tokio timers);
//! [`ManualClock`] jumps to the instant at once, so tests drive days of schedule in
//! milliseconds and see exactly when each job fired.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::model::EpochSeconds;
use crate::pipeline::{Clock, FixedClock, SystemClock};

/// A clock the scheduler can also sleep on.
pub trait DaemonClock: Clock {
    /// Resolves once `now() >= at`.
    fn sleep_until(&self, at: EpochSeconds) -> BoxFuture<'_, ()>;
}

/// Wall-clock time and tokio timers.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemDaemonClock;

impl Clock for SystemDaemonClock {
    fn now(&self) -> EpochSeconds {
        SystemClock.now()
    }
}

impl DaemonClock for SystemDaemonClock {
    fn sleep_until(&self, at: EpochSeconds) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Re-check in bounded steps so a suspended machine or a clock change cannot make
            // the daemon oversleep by much.
            loop {
                let left = at - self.now();
                if left <= 0 {
                    return;
                }
                let step = left.min(60) as u64;
                tokio::time::sleep(std::time::Duration::from_secs(step)).await;
            }
        })
    }
}

/// A clock for tests: `sleep_until` moves time forward to the instant immediately.
#[derive(Debug, Default, Clone)]
pub struct ManualClock(Arc<FixedClock>);

impl ManualClock {
    /// A clock at `at`.
    pub fn new(at: EpochSeconds) -> Self {
        Self(Arc::new(FixedClock::new(at)))
    }

    /// Moves it to `at`.
    pub fn set(&self, at: EpochSeconds) {
        self.0.set(at);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> EpochSeconds {
        self.0.now()
    }
}

impl DaemonClock for ManualClock {
    fn sleep_until(&self, at: EpochSeconds) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if self.now() < at {
                self.0.set(at);
            }
            tokio::task::yield_now().await;
        })
    }
}
