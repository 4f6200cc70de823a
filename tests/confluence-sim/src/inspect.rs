//! The inspection side of the simulator: the log of calls made (method, path, query,
//! status, endpoint), the per-endpoint counters and the most requests answered at once, that
//! tests read through [`crate::SimHandle`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::config::Endpoint;

/// One request as the simulator saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRecord {
    /// HTTP method.
    pub method: String,
    /// Request path (without the query).
    pub path: String,
    /// Raw query string (empty when none).
    pub query: String,
    /// Status answered (0 when the connection was dropped mid-body).
    pub status: u16,
    /// The endpoint, when the path matched one.
    pub endpoint: Option<Endpoint>,
    /// Simulator clock time of the call (epoch ms).
    pub at_ms: i64,
}

#[derive(Debug, Default)]
pub(crate) struct CallLog {
    inner: Mutex<CallLogInner>,
    /// Requests being answered now, and the most at once since the last reset.
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

/// Counts a request in flight until dropped.
pub(crate) struct InFlight<'a>(&'a CallLog);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Debug, Default)]
struct CallLogInner {
    log: Vec<CallRecord>,
    counts: BTreeMap<String, u64>,
}

impl CallLog {
    pub(crate) fn record(&self, rec: CallRecord, keep: bool) {
        let key = rec
            .endpoint
            .map(|e| e.name().to_string())
            .unwrap_or_else(|| format!("{} (unmatched)", rec.method));
        let mut g = self.inner.lock();
        *g.counts.entry(key).or_default() += 1;
        if keep {
            g.log.push(rec);
        }
    }

    /// Counts a request in flight (until the guard is dropped).
    pub(crate) fn begin(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(self)
    }

    /// The most requests in flight at once since the last reset.
    pub(crate) fn max_in_flight(&self) -> u64 {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    pub(crate) fn calls(&self) -> Vec<CallRecord> {
        self.inner.lock().log.clone()
    }

    pub(crate) fn counts(&self) -> BTreeMap<String, u64> {
        self.inner.lock().counts.clone()
    }

    pub(crate) fn reset(&self) {
        let mut g = self.inner.lock();
        g.log.clear();
        g.counts.clear();
        self.max_in_flight.store(0, Ordering::SeqCst);
    }
}
