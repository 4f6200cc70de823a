//! The inspection side of the simulator: the log of calls made (method, path, query,
//! status, endpoint) and the per-endpoint counters that tests read through
//! [`crate::SimHandle`].

use std::collections::BTreeMap;

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
    }
}
