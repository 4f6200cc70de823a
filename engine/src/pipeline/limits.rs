//! The operator's limits per profile: every sandbox and pipeline limit an operator may set for
//! one profile, by name ([`LIMITS`]), with its unit, bounds and default; parsing of values as
//! an operator writes them (`512MiB`, `90s`, `2000`); the table shown by `sam profile limits`;
//! and the effective limits of a profile's runs: the host's [`LimitOverrides`] for its
//! sessions and [`PipelineLimits`] for its pages. The values live in the store
//! ([`ProfileLimits`], a table of their own); nothing a spoke sends reaches them.

use std::time::Duration;

use crate::host::{LimitOverrides, SandboxLimits};
use crate::model::ProfileLimits;

use super::{MAX_PAGES, record_limits};

/// What a limit's value counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Seconds (`90`, `90s`, `2m`, `1h`).
    Seconds,
    /// Bytes (`4096`, `64KiB`, `512MiB`, `1GiB`).
    Bytes,
    /// A plain count.
    Count,
}

/// One limit an operator may set.
#[derive(Debug, Clone, Copy)]
pub struct LimitDef {
    /// Its name (`sam profile limits NAME memory=512MiB`).
    pub name: &'static str,
    /// Its unit.
    pub unit: Unit,
    /// The smallest value accepted.
    pub min: u64,
    /// The largest value accepted.
    pub max: u64,
    /// What it bounds.
    pub what: &'static str,
}

const MIB: u64 = 1024 * 1024;

/// Every limit, in the order they are shown.
pub const LIMITS: &[LimitDef] = &[
    LimitDef {
        name: "deadline",
        unit: Unit::Seconds,
        min: 1,
        max: 3600,
        what: "wall-clock time of one spoke call, its HTTP included",
    },
    LimitDef {
        name: "memory",
        unit: Unit::Bytes,
        min: MIB,
        max: 4096 * MIB,
        what: "linear memory of one call, summed over all memories",
    },
    LimitDef {
        name: "memories",
        unit: Unit::Count,
        min: 1,
        max: 10_000,
        what: "linear memories one call may create",
    },
    LimitDef {
        name: "tables",
        unit: Unit::Count,
        min: 1,
        max: 10_000,
        what: "tables one call may create",
    },
    LimitDef {
        name: "instances",
        unit: Unit::Count,
        min: 1,
        max: 10_000,
        what: "core instances one call may create",
    },
    LimitDef {
        name: "requests",
        unit: Unit::Count,
        min: 1,
        max: 1_000_000,
        what: "requests one call may send, every attempt counted",
    },
    LimitDef {
        name: "response-bytes",
        unit: Unit::Bytes,
        min: 1024,
        max: 4096 * MIB,
        what: "response bytes one call may receive across send and send-all",
    },
    LimitDef {
        name: "log-bytes",
        unit: Unit::Bytes,
        min: 0,
        max: 64 * MIB,
        what: "log bytes one call may write (the rest is dropped and noted)",
    },
    LimitDef {
        name: "log-message",
        unit: Unit::Bytes,
        min: 16,
        max: MIB,
        what: "longest log message shown (longer ones are cut)",
    },
    LimitDef {
        name: "pages",
        unit: Unit::Count,
        min: 1,
        max: 100_000_000,
        what: "pages one download or activity run may fetch",
    },
    LimitDef {
        name: "field-bytes",
        unit: Unit::Bytes,
        min: 64,
        max: MIB,
        what: "one display name, e-mail or activity source",
    },
    LimitDef {
        name: "record-bytes",
        unit: Unit::Bytes,
        min: 256,
        max: 16 * MIB,
        what: "one record, all its strings together",
    },
    LimitDef {
        name: "grants",
        unit: Unit::Count,
        min: 1,
        max: 1_000_000,
        what: "groups granting one subscription",
    },
    LimitDef {
        name: "cursor-bytes",
        unit: Unit::Bytes,
        min: 64,
        max: MIB,
        what: "one next cursor",
    },
    LimitDef {
        name: "concurrency",
        unit: Unit::Count,
        min: 1,
        max: 64,
        what: "page requests of one run in flight at once, at most (adapts below it)",
    },
    LimitDef {
        name: "rate",
        unit: Unit::Count,
        min: 0,
        max: 100_000,
        what: "requests per second to the vendor, at most (0: paced by the vendor's signals only; set it under the vendor's documented burst limit, e.g. 90 for Atlassian's 100 GETs a second, and concurrent paging never meets that limit)",
    },
];

/// A limit's name or value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// No such limit.
    #[error("unknown limit `{0}`; the limits are {names}", names = names())]
    Unknown(String),
    /// Not `NAME=VALUE`.
    #[error("`{0}` is not NAME=VALUE (for example memory=512MiB)")]
    NotAnAssignment(String),
    /// The value does not parse in the limit's unit.
    #[error("limit `{name}`: `{value}` is not {}", unit_words(*.unit))]
    BadValue {
        /// The limit.
        name: String,
        /// What was given.
        value: String,
        /// The limit's unit.
        unit: Unit,
    },
    /// The value is outside the limit's bounds.
    #[error("limit `{name}`: {value} is outside {min}..={max}")]
    OutOfBounds {
        /// The limit.
        name: String,
        /// The value.
        value: u64,
        /// The smallest accepted.
        min: u64,
        /// The largest accepted.
        max: u64,
    },
}

fn names() -> String {
    LIMITS.iter().map(|l| l.name).collect::<Vec<_>>().join(", ")
}

fn unit_words(unit: Unit) -> &'static str {
    match unit {
        Unit::Seconds => "a duration (90, 90s, 2m, 1h)",
        Unit::Bytes => "a size (4096, 64KiB, 512MiB, 1GiB)",
        Unit::Count => "a whole number",
    }
}

/// The definition of limit `name`.
pub fn def(name: &str) -> Result<&'static LimitDef, LimitError> {
    LIMITS
        .iter()
        .find(|l| l.name == name)
        .ok_or_else(|| LimitError::Unknown(crate::host::untrusted::inert_bounded(name, 60)))
}

/// Parses `text` in `def`'s unit and checks its bounds.
pub fn parse_value(def: &LimitDef, text: &str) -> Result<u64, LimitError> {
    let bad = || LimitError::BadValue {
        name: def.name.to_string(),
        value: crate::host::untrusted::inert_bounded(text, 60),
        unit: def.unit,
    };
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(split);
    let number: u64 = digits.parse().map_err(|_| bad())?;
    let factor: u64 = match (def.unit, suffix.trim().to_ascii_lowercase().as_str()) {
        (_, "") => 1,
        (Unit::Seconds, "s") => 1,
        (Unit::Seconds, "m" | "min") => 60,
        (Unit::Seconds, "h") => 3600,
        (Unit::Bytes, "b") => 1,
        (Unit::Bytes, "k" | "kb" | "kib") => 1024,
        (Unit::Bytes, "m" | "mb" | "mib") => MIB,
        (Unit::Bytes, "g" | "gb" | "gib") => 1024 * MIB,
        _ => return Err(bad()),
    };
    let value = number.checked_mul(factor).ok_or_else(bad)?;
    if value < def.min || value > def.max {
        return Err(LimitError::OutOfBounds {
            name: def.name.to_string(),
            value,
            min: def.min,
            max: def.max,
        });
    }
    Ok(value)
}

/// Shows `value` in `unit` the way an operator writes it.
pub fn show(unit: Unit, value: u64) -> String {
    match unit {
        Unit::Seconds => format!("{value}s"),
        Unit::Bytes if value >= MIB && value.is_multiple_of(MIB) => format!("{}MiB", value / MIB),
        Unit::Bytes if value >= 1024 && value.is_multiple_of(1024) => {
            format!("{}KiB", value / 1024)
        }
        Unit::Bytes | Unit::Count => value.to_string(),
    }
}

/// Applies `NAME=VALUE` assignments to `limits`; returns the changes, as `name: old -> new`
/// lines. Nothing changes unless every assignment is valid.
pub fn set(
    limits: &mut ProfileLimits,
    assignments: &[String],
    host: &SandboxLimits,
) -> Result<Vec<String>, LimitError> {
    let mut parsed = Vec::new();
    for assignment in assignments {
        let (name, value) = assignment
            .split_once('=')
            .ok_or_else(|| LimitError::NotAnAssignment(assignment.clone()))?;
        let def = def(name.trim())?;
        parsed.push((def, parse_value(def, value)?));
    }
    let mut changes = Vec::new();
    for (def, value) in parsed {
        let old = effective(limits, def, host);
        limits.values.insert(def.name.to_string(), value);
        changes.push(format!(
            "{}: {} -> {}",
            def.name,
            show(def.unit, old),
            show(def.unit, value)
        ));
    }
    Ok(changes)
}

/// Removes the operator's value of each named limit (`all` for every one), back to the
/// default; returns the names reset.
pub fn reset(limits: &mut ProfileLimits, names: &[String]) -> Result<Vec<String>, LimitError> {
    if names.iter().any(|n| n == "all") {
        let all: Vec<String> = limits.values.keys().cloned().collect();
        limits.values.clear();
        return Ok(all);
    }
    let defs = names
        .iter()
        .map(|n| def(n.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(defs
        .into_iter()
        .filter(|d| limits.values.remove(d.name).is_some())
        .map(|d| d.name.to_string())
        .collect())
}

/// A limit's default: the host's value for the sandbox limits, the pipeline's for the rest.
pub fn default_value(def: &LimitDef, host: &SandboxLimits) -> u64 {
    match def.name {
        "deadline" => host.call_deadline.as_secs(),
        "memory" => host.memory_cap as u64,
        "memories" => host.max_memories as u64,
        "tables" => host.max_tables as u64,
        "instances" => host.max_instances as u64,
        "requests" => host.requests_per_call,
        "response-bytes" => host.response_bytes_per_call,
        "log-bytes" => host.log_bytes_per_call as u64,
        "log-message" => host.log_message_max as u64,
        "pages" => MAX_PAGES,
        "field-bytes" => record_limits::FIELD_BYTES as u64,
        "record-bytes" => record_limits::RECORD_BYTES as u64,
        "grants" => record_limits::GRANTS as u64,
        "cursor-bytes" => record_limits::CURSOR_BYTES as u64,
        "concurrency" => super::concurrency::DEFAULT_CEILING as u64,
        _ => 0,
    }
}

fn effective(limits: &ProfileLimits, def: &LimitDef, host: &SandboxLimits) -> u64 {
    limits
        .values
        .get(def.name)
        .copied()
        .unwrap_or_else(|| default_value(def, host))
}

/// One row of the limits table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LimitRow {
    /// The limit.
    pub name: &'static str,
    /// The value in force, as shown.
    pub value: String,
    /// The default, as shown.
    pub default: String,
    /// Whether the operator set it.
    pub set: bool,
    /// What it bounds.
    pub what: &'static str,
}

/// Every limit with its value for `limits`' profile and its default.
pub fn rows(limits: &ProfileLimits, host: &SandboxLimits) -> Vec<LimitRow> {
    LIMITS
        .iter()
        .map(|def| LimitRow {
            name: def.name,
            value: show(def.unit, effective(limits, def, host)),
            default: show(def.unit, default_value(def, host)),
            set: limits.values.contains_key(def.name),
            what: def.what,
        })
        .collect()
}

/// The sandbox part of a profile's limits, for its sessions.
pub fn overrides(limits: &ProfileLimits) -> LimitOverrides {
    let get = |name: &str| limits.values.get(name).copied();
    let size = |name: &str| get(name).map(|v| usize::try_from(v).unwrap_or(usize::MAX));
    LimitOverrides {
        call_deadline: get("deadline").map(Duration::from_secs),
        memory_cap: size("memory"),
        max_memories: size("memories"),
        max_tables: size("tables"),
        max_instances: size("instances"),
        requests_per_call: get("requests"),
        response_bytes_per_call: get("response-bytes"),
        log_bytes_per_call: size("log-bytes"),
        log_message_max: size("log-message"),
        requests_per_second: get("rate").filter(|&r| r > 0),
    }
}

/// The pipeline's limits of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineLimits {
    /// Pages one run may fetch.
    pub max_pages: u64,
    /// One display name, e-mail or activity source, in bytes.
    pub field_bytes: usize,
    /// One record, all its strings together, in bytes.
    pub record_bytes: usize,
    /// Groups granting one subscription.
    pub grants: usize,
    /// One next cursor, in bytes.
    pub cursor_bytes: usize,
    /// Page requests of one run in flight at once, at most (the ceiling of
    /// [`super::concurrency::AdaptiveConcurrency`]).
    pub concurrency: usize,
}

impl Default for PipelineLimits {
    fn default() -> Self {
        Self {
            max_pages: MAX_PAGES,
            field_bytes: record_limits::FIELD_BYTES,
            record_bytes: record_limits::RECORD_BYTES,
            grants: record_limits::GRANTS,
            cursor_bytes: record_limits::CURSOR_BYTES,
            concurrency: super::concurrency::DEFAULT_CEILING,
        }
    }
}

impl PipelineLimits {
    /// These limits with the operator's values of `limits` over them.
    pub fn with(mut self, limits: &ProfileLimits) -> Self {
        let size = |name: &str| {
            limits
                .values
                .get(name)
                .map(|v| usize::try_from(*v).unwrap_or(usize::MAX))
        };
        if let Some(v) = limits.values.get("pages") {
            self.max_pages = (*v).max(1);
        }
        if let Some(v) = size("field-bytes") {
            self.field_bytes = v;
        }
        if let Some(v) = size("record-bytes") {
            self.record_bytes = v;
        }
        if let Some(v) = size("grants") {
            self.grants = v;
        }
        if let Some(v) = size("cursor-bytes") {
            self.cursor_bytes = v;
        }
        if let Some(v) = size("concurrency") {
            self.concurrency = v.max(1);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_in_their_units_within_bounds() {
        let memory = def("memory").unwrap();
        assert_eq!(parse_value(memory, "512MiB").unwrap(), 512 * MIB);
        assert_eq!(parse_value(memory, "1g").unwrap(), 1024 * MIB);
        assert!(matches!(
            parse_value(memory, "8GiB"),
            Err(LimitError::OutOfBounds { .. })
        ));
        assert!(matches!(
            parse_value(memory, "lots"),
            Err(LimitError::BadValue { .. })
        ));
        let deadline = def("deadline").unwrap();
        assert_eq!(parse_value(deadline, "2m").unwrap(), 120);
        assert_eq!(parse_value(deadline, "90").unwrap(), 90);
        assert!(parse_value(deadline, "90MiB").is_err());
        assert!(parse_value(deadline, "0").is_err());
        assert!(parse_value(def("requests").unwrap(), "99999999999999999999").is_err());
        assert!(matches!(def("nope"), Err(LimitError::Unknown(_))));
    }

    #[test]
    fn set_is_all_or_nothing_and_reset_goes_back_to_the_default() {
        let host = SandboxLimits::default();
        let mut limits = ProfileLimits::default();
        assert!(
            set(
                &mut limits,
                &["memory=64MiB".into(), "pages=x".into()],
                &host
            )
            .is_err()
        );
        assert!(limits.values.is_empty());
        let changes = set(
            &mut limits,
            &["memory=64MiB".into(), "pages=10".into()],
            &host,
        )
        .unwrap();
        assert_eq!(changes, ["memory: 256MiB -> 64MiB", "pages: 100000 -> 10"]);
        let o = overrides(&limits);
        assert_eq!(o.memory_cap, Some(64 * MIB as usize));
        assert_eq!(o.requests_per_call, None);
        assert_eq!(PipelineLimits::default().with(&limits).max_pages, 10);
        assert_eq!(PipelineLimits::default().concurrency, 8);
        set(&mut limits, &["concurrency=4".into()], &host).unwrap();
        assert_eq!(PipelineLimits::default().with(&limits).concurrency, 4);
        assert!(set(&mut limits, &["concurrency=0".into()], &host).is_err());
        // An operator's rate reaches the session's gate; 0 turns it off.
        assert_eq!(overrides(&limits).requests_per_second, None);
        set(&mut limits, &["rate=90".into()], &host).unwrap();
        assert_eq!(overrides(&limits).requests_per_second, Some(90));
        set(&mut limits, &["rate=0".into()], &host).unwrap();
        assert_eq!(overrides(&limits).requests_per_second, None);
        reset(&mut limits, &["rate".into()]).unwrap();
        reset(&mut limits, &["concurrency".into()]).unwrap();
        let shown = rows(&limits, &host);
        let memory = shown.iter().find(|r| r.name == "memory").unwrap();
        assert!(memory.set && memory.value == "64MiB" && memory.default == "256MiB");
        assert_eq!(reset(&mut limits, &["memory".into()]).unwrap(), ["memory"]);
        assert_eq!(overrides(&limits).memory_cap, None);
        assert_eq!(reset(&mut limits, &["all".into()]).unwrap(), ["pages"]);
        assert!(limits.values.is_empty());
    }
}
