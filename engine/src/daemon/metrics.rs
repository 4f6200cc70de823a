//! The daemon's counters and their Prometheus text exposition (format 0.0.4), written by hand:
//! a handful of counters and gauges keyed by profile and process do not justify a metrics
//! registry crate, and hand-written text keeps the names and labels visible in one place.
//! The license position gauges ([`render_positions`]) come from the stored reconciliations,
//! through the same figure functions as every other view.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::model::{EpochSeconds, LicensePosition, ProcessKind, ReconciliationResult};

#[derive(Debug, Default, Clone)]
struct ProcessCounters {
    runs: u64,
    failures: u64,
    quota_pauses: u64,
    last_success: Option<EpochSeconds>,
}

#[derive(Debug, Default)]
struct Inner {
    processes: BTreeMap<(String, ProcessKind), ProcessCounters>,
    api_calls: BTreeMap<String, u64>,
    reclaimed: BTreeMap<String, u64>,
}

/// What the daemon has done since it started.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// An attempt started.
    pub fn run_started(&self, profile: &str, process: ProcessKind) {
        self.with(|i| {
            i.processes
                .entry((profile.to_string(), process))
                .or_default()
                .runs += 1
        });
    }

    /// An attempt failed.
    pub fn run_failed(&self, profile: &str, process: ProcessKind) {
        self.with(|i| {
            i.processes
                .entry((profile.to_string(), process))
                .or_default()
                .failures += 1
        });
    }

    /// A job paused for the vendor's quota.
    pub fn quota_paused(&self, profile: &str, process: ProcessKind) {
        self.with(|i| {
            i.processes
                .entry((profile.to_string(), process))
                .or_default()
                .quota_pauses += 1
        });
    }

    /// A run succeeded at `at`, making `api_calls` requests and reclaiming `reclaimed` seats.
    pub fn run_succeeded(
        &self,
        profile: &str,
        process: ProcessKind,
        at: EpochSeconds,
        api_calls: u64,
        reclaimed: u64,
    ) {
        self.with(|i| {
            i.processes
                .entry((profile.to_string(), process))
                .or_default()
                .last_success = Some(at);
            *i.api_calls.entry(profile.to_string()).or_default() += api_calls;
            *i.reclaimed.entry(profile.to_string()).or_default() += reclaimed;
        });
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let inner = self.with(|i| {
            (
                i.processes.clone(),
                i.api_calls.clone(),
                i.reclaimed.clone(),
            )
        });
        let (processes, calls, reclaimed) = inner;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP sam_build_info The sam version.\n# TYPE sam_build_info gauge\nsam_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        let series = |out: &mut String,
                      name: &str,
                      help: &str,
                      kind: &str,
                      value: &dyn Fn(&ProcessCounters) -> Option<u64>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for ((profile, process), c) in &processes {
                if let Some(v) = value(c) {
                    let _ = writeln!(
                        out,
                        "{name}{{profile=\"{}\",process=\"{}\"}} {v}",
                        escape(profile),
                        process.key()
                    );
                }
            }
        };
        series(
            &mut out,
            "sam_runs_total",
            "Run attempts started by the daemon.",
            "counter",
            &|c| Some(c.runs),
        );
        series(
            &mut out,
            "sam_run_failures_total",
            "Run attempts that failed.",
            "counter",
            &|c| Some(c.failures),
        );
        series(
            &mut out,
            "sam_quota_pauses_total",
            "Times a job paused until the vendor's quota reset.",
            "counter",
            &|c| Some(c.quota_pauses),
        );
        series(
            &mut out,
            "sam_last_success_timestamp_seconds",
            "When the process last succeeded (Unix seconds).",
            "gauge",
            &|c| c.last_success.map(|t| t.max(0) as u64),
        );
        let per_profile =
            |out: &mut String, name: &str, help: &str, map: &BTreeMap<String, u64>| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
                for (profile, v) in map {
                    let _ = writeln!(out, "{name}{{profile=\"{}\"}} {v}", escape(profile));
                }
            };
        per_profile(
            &mut out,
            "sam_api_calls_total",
            "HTTP requests made to the vendor by successful runs.",
            &calls,
        );
        per_profile(
            &mut out,
            "sam_reclaimed_seats_total",
            "Seats reclaimed.",
            &reclaimed,
        );
        out
    }
}

/// The license position of each software model (its latest reconciliation) as gauges, from the
/// same figures `sam position`, the API and the web console show ([`LicensePosition`]'s fields
/// and its `over_licensed`, `under_licensed`, `held` and `active`).
pub fn render_positions(results: &[ReconciliationResult]) -> String {
    type Figure = fn(&LicensePosition) -> Option<u64>;
    const FIGURES: &[(&str, &str, Figure)] = &[
        (
            "sam_license_held",
            "Distinct holders of the model (used + excluded).",
            |p| Some(p.held()),
        ),
        (
            "sam_license_used",
            "Rights used: distinct holders not excluded.",
            |p| Some(p.rights_used),
        ),
        (
            "sam_license_active",
            "Used holders active within the model's threshold.",
            |p| Some(p.active()),
        ),
        (
            "sam_license_inactive",
            "Used holders with no activity within the model's threshold.",
            |p| Some(p.inactive),
        ),
        (
            "sam_license_excluded",
            "Holders left out by license exclusions.",
            |p| Some(p.excluded),
        ),
        (
            "sam_license_owned",
            "Rights owned (absent when unlimited).",
            |p| p.rights_owned,
        ),
        (
            "sam_license_over_licensed",
            "Rights owned and not used (absent when unlimited).",
            |p| p.over_licensed(),
        ),
        (
            "sam_license_under_licensed",
            "Seats used beyond the rights owned.",
            |p| Some(p.under_licensed()),
        ),
        (
            "sam_license_true_up_cost_minor",
            "Cost of the rights a true-up needs, minor units of the currency.",
            |p| Some(p.true_up_cost_minor),
        ),
        (
            "sam_license_potential_savings_minor",
            "Inactive seats x unit cost, minor units of the currency.",
            |p| Some(p.potential_savings_minor),
        ),
    ];
    let mut out = String::new();
    for (name, help, figure) in FIGURES {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for r in results {
            if let Some(v) = figure(&r.position) {
                let currency = match (name.ends_with("_minor"), &r.position.currency) {
                    (true, Some(c)) => format!(",currency=\"{}\"", escape(c)),
                    _ => String::new(),
                };
                let _ = writeln!(
                    out,
                    "{name}{{model=\"{}\"{currency}}} {v}",
                    escape(&r.model)
                );
            }
        }
    }
    out
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
