//! `scale-bench`: sam at tenant scale against the Confluence simulator on loopback. For each
//! tenant size (10 000 and 100 000 users by default) and each added latency per call (0, 20
//! and 100 ms by default; from 100 ms a tenth of the reclaim cap and one download run) it
//! measures download, activity, reclaim (dry run, then real within a cap)
//! and reconcile through the real spoke, gate and store; the API calls of each subflow against
//! the minimum the API allows; a raw floor (the same pages and lookup queries fetched by a
//! plain reqwest loop with the same concurrency); time inside the wasm guest against time in
//! the host and the number of host-guest calls; peak RSS and database size. It also times
//! reconciliation of 1 000 000 subscriptions written straight into a store. Next to each
//! sequential floor it prints the latency limit: the phase's calls x latency / the allowed
//! concurrency (the profile's default ceiling, 8), the least time any client could take within
//! the vendor's limits, and sam's ratio to it. The GitHub Copilot cells
//! (`scale_bench_github.rs`) download 10 000 and 100 000 seats at 0 and 20 ms the same way.
//!
//! ```text
//! cargo bench --bench scale-bench [-- --users 10000,100000 --latency-ms 0,20,100 --github-seats 10000,100000 --github-latency-ms 0,20 --json FILE]
//! ```
//!
//! Processes: the harness spawns itself three ways. `--serve-sim` runs the simulator (the
//! `confluence-sim` library with rate limits off, latency set over its stdin); `--measure` runs
//! sam's side of one (size, latency) cell in a fresh process that shares nothing with the
//! simulator, so its VmHWM is sam's own peak RSS; `--reconcile-only` times reconciliation.
//! The parent prints the table and writes the JSON (default `target/scale-bench.json`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use confluence_sim::{FaultConfig, RateLimitConfig, SimConfig, Simulator};
use futures::StreamExt;
use sam_engine::contract::Config;
use sam_engine::host::{
    CallTimes, CredentialProvider, HostOptions, LoadedSpoke, SpokeHost, StaticToken,
};
use sam_engine::model::{
    AccountType, AuthKind, Connection, DAY, IntegrationProfile, ProcessSet, ProfileStatus,
    SelectedGroup, Subscription, UserActivityRecord,
};
use sam_engine::pipeline::{Clock, FixedClock, Pipeline, SpokeSource, SystemClock};
use sam_engine::reclaim::{ReclaimOptions, Reclaimer, SpokeSeats};
use sam_engine::store::Store;
use serde::{Deserialize, Serialize};
use serde_json::Value;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[path = "scale_bench_github.rs"]
mod github;

/// Page size of the member listing and of the scan (the spoke's limit and the API's).
const PAGE: u64 = 200;

/// Latency (ms) from which a cell counts as a slow WAN (see `orchestrate`).
const SLOW_MS: u64 = 100;

/// The profile's default ceiling of concurrent page requests: the latency limit's divisor.
const CONCURRENCY: u64 = sam_engine::pipeline::concurrency::DEFAULT_CEILING as u64;

/// The `rate` of the rate-limited run's third row: under Atlassian's 100 GETs a second.
const RATE_UNDER_BURST: u64 = 90;

#[derive(Debug, Parser)]
#[command(name = "scale-bench")]
struct Args {
    /// Tenant sizes (users), comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 100_000])]
    users: Vec<usize>,
    /// Latency added by the simulator to every call, in ms, comma-separated.
    #[arg(long = "latency-ms", value_delimiter = ',', default_values_t = [0u64, 20, 100])]
    latency_ms: Vec<u64>,
    /// Latencies of the GitHub cells, in ms, comma-separated.
    #[arg(long = "github-latency-ms", value_delimiter = ',', default_values_t = [0u64, 20])]
    github_latency_ms: Vec<u64>,
    /// Where to write the figures as JSON (default target/scale-bench.json).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Subscriptions for the reconcile-at-scale measure (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    reconcile_subscriptions: usize,
    /// Most seats the real reclaim takes per cell (it is sequential: re-check, read, remove).
    #[arg(long, default_value_t = 500)]
    reclaim_max: u64,
    /// Times the download and its raw floor run per cell, taking turns, each run in a child
    /// process of its own (sam's into a fresh database); the fastest of each is compared (on
    /// a shared 2-core machine single runs of the same build vary by half). The other phases
    /// run once, on the first download's database.
    #[arg(long, default_value_t = 5)]
    download_runs: u32,
    /// Internal: serve a simulator of `--users` users.
    #[arg(long, hide = true)]
    serve_sim: bool,
    /// Internal: measure one cell; the JSON of a `Target`.
    #[arg(long, hide = true)]
    measure: Option<String>,
    /// Internal: fetch the raw floor of one cell; the JSON of a `Target`.
    #[arg(long, hide = true)]
    floor: Option<String>,
    /// Internal: time reconciliation only.
    #[arg(long, hide = true)]
    reconcile_only: bool,
    /// GitHub Copilot seat counts for the GitHub cells, comma-separated (0 skips them).
    #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 100_000])]
    github_seats: Vec<usize>,
    /// Instead of the cells: the download against the simulator with Atlassian's burst and
    /// points limits on, at the profile's concurrency ceilings 1 (sequential) and 8, and at 8
    /// under a `rate` of 90 a second, counting the 429s (the gate's retries) each gets.
    #[arg(long)]
    rate_limits: bool,
    /// Internal: serve a GitHub simulator of `--users` seats.
    #[arg(long, hide = true)]
    serve_github_sim: bool,
    /// Internal: the GitHub raw floor of one cell.
    #[arg(long, hide = true)]
    github_floor: Option<String>,
    /// Internal: sam's GitHub download of one cell.
    #[arg(long, hide = true)]
    github_measure: Option<String>,
}

/// What the simulator child prints once it listens.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Target {
    connection_url: String,
    cloud_id: String,
    group: String,
    members: u64,
    token: String,
    users: usize,
    content_items: usize,
    startup_ms: u64,
    #[serde(default)]
    latency_ms: u64,
    #[serde(default)]
    reclaim_max: u64,
    /// Measure (or fetch the floor of) the download only: a repeat run.
    #[serde(default)]
    download_only: bool,
    /// The raw floor, fetched by its own child before sam's is measured.
    #[serde(default)]
    floor: Option<Floor>,
    /// The organization API key and the admin API's base (issue 19's org phase).
    #[serde(default)]
    org_key: String,
    #[serde(default)]
    admin_base: String,
    /// The profile's concurrency ceiling (0: the default).
    #[serde(default)]
    concurrency: usize,
    /// The profile's `rate`, requests per second (0: none).
    #[serde(default)]
    rate: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Phase {
    wall_ms: f64,
    users_per_s: f64,
    api_calls: u64,
    min_calls: u64,
    call_ratio: f64,
    export_calls: u64,
    import_calls: u64,
    guest_ms: f64,
    host_ms: f64,
    /// Peak RSS while the phase ran (VmHWM, reset before it).
    #[serde(default)]
    peak_rss_mib: f64,
    /// Requests sent again (after a 429 or a 5xx).
    #[serde(default)]
    retries: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Floor {
    /// The fastest of the download runs.
    download_ms: f64,
    #[serde(default)]
    download_runs_ms: Vec<f64>,
    download_calls: u64,
    scan_ms: f64,
    scan_calls: u64,
    lookup_ms: f64,
    lookup_calls: u64,
    changed_items: u64,
    unseen: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Cell {
    users: usize,
    latency_ms: u64,
    members: u64,
    download: Phase,
    activity: Phase,
    reclaim_dry: Phase,
    reclaim: Phase,
    reclaim_detail: ReclaimDetail,
    reconcile: Phase,
    floor: Floor,
    /// Every download run's wall time (the `download` phase is the fastest).
    #[serde(default)]
    download_runs_ms: Vec<f64>,
    download_vs_floor: f64,
    activity_vs_floor: f64,
    /// The per-user part of activity: the lookups after the scan's last page.
    #[serde(default)]
    lookup_ms: f64,
    /// The content scan's calls (search pages; every contributor credited from them).
    #[serde(default)]
    scan_calls: u64,
    /// A daily activity run a day later with the organization API key: the incremental scan,
    /// then the holders not active in the window asked (CQL, then the org API per user).
    #[serde(default)]
    org: Phase,
    /// Holders the org phase asked the organization API about (one call each).
    #[serde(default)]
    org_asked: u64,
    /// Atlassian quota points the simulator charged for sam's full run of the cell (download,
    /// activity with its lookups, the dry and the real reclaim; the org API is not on points).
    #[serde(default)]
    points_spent: u64,
    /// The simulator's hourly points budget for a tenant of this size (what production
    /// would allow; the bench itself runs with the quota off).
    #[serde(default)]
    points_budget: Option<u64>,
    peak_rss_mib: f64,
    db_mib: f64,
    process: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ReclaimDetail {
    candidates: u64,
    reclaimed: u64,
    memberships_removed: u64,
    recheck_calls: u64,
    spoke_calls: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ReconcileAtScale {
    subscriptions: usize,
    write_ms: f64,
    reconcile_ms: f64,
    peak_rss_mib: f64,
    db_mib: f64,
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The peak RSS since the last call, in MiB, then resets the peak (Linux `clear_refs` 5).
fn phase_peak_mib() -> f64 {
    let peak = status_kib_to_mib(status_kib("VmHWM:"));
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    peak
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse_from(sam_tests::bench_args());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.serve_sim {
        return runtime.block_on(serve_sim(
            args.users.first().copied().unwrap_or(10_000),
            args.rate_limits,
        ));
    }
    if args.serve_github_sim {
        return runtime.block_on(github::serve(args.users.first().copied().unwrap_or(10_000)));
    }
    if let Some(target) = &args.github_floor {
        let cell = runtime.block_on(github::floor(serde_json::from_str(target)?))?;
        println!("{}", serde_json::to_string(&cell)?);
        return Ok(());
    }
    if let Some(target) = &args.github_measure {
        let cell = runtime.block_on(github::measure(serde_json::from_str(target)?))?;
        println!("{}", serde_json::to_string(&cell)?);
        return Ok(());
    }
    if let Some(target) = &args.floor {
        let target: Target = serde_json::from_str(target)?;
        let floor = runtime.block_on(floor_child(target))?;
        println!("{}", serde_json::to_string(&floor)?);
        return Ok(());
    }
    if let Some(target) = &args.measure {
        let target: Target = serde_json::from_str(target)?;
        let cell = runtime.block_on(measure(target))?;
        println!("{}", serde_json::to_string(&cell)?);
        return Ok(());
    }
    if args.reconcile_only {
        let r = reconcile_at_scale(args.reconcile_subscriptions)?;
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    drop(runtime);
    orchestrate(&args)
}

// ---------------------------------------------------------------- the parent

fn orchestrate(args: &Args) -> Result<(), BoxError> {
    let exe = std::env::current_exe()?;
    if args.rate_limits {
        return under_rate_limits(&exe, args);
    }
    let mut cells = Vec::new();
    for &users in args.users.iter().filter(|&&u| u > 0) {
        for &latency in &args.latency_ms {
            // A fresh simulator per cell: the real reclaim of one cell changes the tenant.
            let mut sim = SimChild::spawn(&exe, users, false)?;
            eprintln!(
                "scale-bench: simulator with {users} users ({} members in confluence-users) up in {} ms; measuring at {latency} ms per call ...",
                sim.target.members, sim.target.startup_ms
            );
            sim.set_latency(latency)?;
            let mut target = sim.target.clone();
            target.latency_ms = latency;
            // At a slow-WAN latency (100 ms and more) the sequential phases are latency
            // bound: a tenth of the reclaim cap, and one download run (the noise is small
            // against the latency).
            let slow = latency >= SLOW_MS;
            target.reclaim_max = if slow {
                (args.reclaim_max / 10).max(1)
            } else {
                args.reclaim_max
            };
            let download_runs = if slow { 1 } else { args.download_runs };
            // The raw floor in a process of its own (its buffers would count in sam's RSS),
            // then the repeat runs of the download (floor and sam taking turns, each in a
            // child of its own, before anything changes the tenant), then sam in full.
            let measured = serde_json::to_string(&target)
                .map_err(BoxError::from)
                .and_then(|t| child_json::<Floor>(&exe, &["--floor", &t]))
                .and_then(|floor| {
                    let mut repeat = target.clone();
                    repeat.download_only = true;
                    let t = serde_json::to_string(&repeat)?;
                    let mut repeats = Vec::new();
                    for _ in 1..download_runs.max(1) {
                        let floor_ms = child_json::<Floor>(&exe, &["--floor", &t])?.download_ms;
                        let sam = child_json::<Cell>(&exe, &["--measure", &t])?.download;
                        repeats.push((floor_ms, sam));
                    }
                    target.floor = Some(floor);
                    let t = serde_json::to_string(&target)?;
                    let before = sim.points()?;
                    let mut cell = child_json::<Cell>(&exe, &["--measure", &t])?;
                    cell.points_spent = sim.points()?.total.saturating_sub(before.total);
                    cell.points_budget = Some(confluence_sim::RateLimitConfig::budget_for(users));
                    for (floor_ms, sam) in repeats {
                        cell.floor.download_runs_ms.push(floor_ms);
                        cell.download_runs_ms.push(sam.wall_ms);
                        let peak = cell.download.peak_rss_mib.max(sam.peak_rss_mib);
                        if sam.wall_ms < cell.download.wall_ms {
                            cell.download = sam;
                        }
                        cell.download.peak_rss_mib = peak;
                    }
                    cell.floor.download_ms = cell
                        .floor
                        .download_runs_ms
                        .iter()
                        .copied()
                        .fold(f64::INFINITY, f64::min);
                    cell.download_vs_floor = ratio(cell.download.wall_ms, cell.floor.download_ms);
                    Ok::<_, BoxError>(cell)
                });
            sim.stop();
            cells.push(measured?);
        }
    }
    let reconcile = if args.reconcile_subscriptions > 0 {
        eprintln!(
            "scale-bench: reconcile of {} subscriptions ...",
            args.reconcile_subscriptions
        );
        let n = args.reconcile_subscriptions.to_string();
        Some(child_json::<ReconcileAtScale>(
            &exe,
            &["--reconcile-only", "--reconcile-subscriptions", &n],
        )?)
    } else {
        None
    };
    let github_seats: Vec<usize> = args
        .github_seats
        .iter()
        .copied()
        .filter(|&n| n > 0)
        .collect();
    let github_cells = github::cells(
        &exe,
        &github_seats,
        &args.github_latency_ms,
        args.download_runs,
    )?;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut table = String::new();
    if !cells.is_empty() {
        table.push_str(&render(&cells, reconcile.as_ref()));
        table.push('\n');
    }
    if !github_cells.is_empty() {
        table.push('\n');
        table.push_str(&github::render(&github_cells));
        table.push('\n');
    }
    table.push_str(&format!("\nload average at the end (1, 5, 15 min): {}", {
        let parts: Vec<&str> = load.split_whitespace().take(3).collect();
        parts.join(", ")
    }));
    println!("{table}");
    let json_path = args
        .json
        .clone()
        .unwrap_or_else(|| workspace_target().join("scale-bench.json"));
    let json = serde_json::json!({
        "command": "cargo bench --bench scale-bench",
        "process": "sam in a fresh child process per cell (VmHWM of that process); simulator in its own process",
        "cells": cells,
        "github_cells": github_cells,
        "load_average": load.trim(),
        "reconcile_at_scale": reconcile,
    });
    std::fs::write(&json_path, serde_json::to_string_pretty(&json)?)?;
    eprintln!("scale-bench: figures written to {}", json_path.display());
    Ok(())
}

/// `--rate-limits`: sam's download against Atlassian's burst (100 GETs a second per
/// endpoint) and points limits, sequential (concurrency 1) then adaptive (ceiling 8), each
/// in a fresh simulator: wall time, calls and the 429s waited out (the gate's retries).
fn under_rate_limits(exe: &Path, args: &Args) -> Result<(), BoxError> {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    t.set_header([
        "cell",
        "concurrency",
        "rate",
        "download wall",
        "calls",
        "429s (retries)",
    ]);
    for &users in args.users.iter().filter(|&&u| u > 0) {
        for &latency in &args.latency_ms {
            // Sequential; adaptive up to 8 finding the burst limit; adaptive up to 8 under
            // a `rate` of 90 a second, under Atlassian's documented 100 GETs a second.
            for (concurrency, rate) in [(1usize, 0u64), (8, 0), (8, RATE_UNDER_BURST)] {
                let mut sim = SimChild::spawn(exe, users, true)?;
                sim.set_latency(latency)?;
                let mut target = sim.target.clone();
                target.latency_ms = latency;
                target.download_only = true;
                target.concurrency = concurrency;
                target.rate = rate;
                let cell =
                    child_json::<Cell>(exe, &["--measure", &serde_json::to_string(&target)?]);
                sim.stop();
                let d = cell?.download;
                t.add_row([
                    format!("{users} users, {latency} ms"),
                    concurrency.to_string(),
                    if rate > 0 {
                        format!("{rate}/s")
                    } else {
                        "-".into()
                    },
                    format!("{:.0} ms", d.wall_ms),
                    d.api_calls.to_string(),
                    d.retries.to_string(),
                ]);
            }
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("{t}\nload average at the end: {}", load.trim());
    Ok(())
}

/// Runs this binary with `args` and reads the JSON of its last stdout line.
fn child_json<T: serde::de::DeserializeOwned>(exe: &Path, args: &[&str]) -> Result<T, BoxError> {
    let out = Command::new(exe)
        .args(args)
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(format!("{} child failed: {}", args[0], out.status).into());
    }
    let line = String::from_utf8_lossy(&out.stdout);
    Ok(serde_json::from_str(
        line.lines().last().unwrap_or_default(),
    )?)
}

fn workspace_target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(|p| p.join("target"))
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn render(cells: &[Cell], reconcile: Option<&ReconcileAtScale>) -> String {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    let mut header = vec!["measure".to_string()];
    header.extend(
        cells
            .iter()
            .map(|c| format!("{} users, {} ms", c.users, c.latency_ms)),
    );
    t.set_header(header);
    let mut row = |name: &str, f: &dyn Fn(&Cell) -> String| {
        let mut r = vec![name.to_string()];
        r.extend(cells.iter().map(f));
        t.add_row(r);
    };
    let phase = |p: &Phase| format!("{:.0} ms ({:.0} users/s)", p.wall_ms, p.users_per_s);
    let calls = |p: &Phase| format!("{} / {} = {:.2}", p.api_calls, p.min_calls, p.call_ratio);
    let guest = |p: &Phase| {
        format!(
            "{:.0} / {:.0} ms, {}+{} calls",
            p.guest_ms, p.host_ms, p.export_calls, p.import_calls
        )
    };
    row("download: wall (users/s)", &|c| phase(&c.download));
    row("download: API calls / minimum", &|c| calls(&c.download));
    row("download: raw floor (ratio)", &|c| {
        format!(
            "{:.0} ms ({:.2}x)",
            c.floor.download_ms, c.download_vs_floor
        )
    });
    row("download: every run, sam / floor (ms)", &|c| {
        let list = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "{} / {}",
            list(&c.download_runs_ms),
            list(&c.floor.download_runs_ms)
        )
    });
    // The least time any client could take within the vendor's limits: every call of the
    // phase at the latency, `CONCURRENCY` at once.
    let limit = |c: &Cell, p: &Phase, calls: u64| {
        let limit_ms = calls as f64 * c.latency_ms as f64 / CONCURRENCY as f64;
        if limit_ms > 0.0 {
            format!("{limit_ms:.0} ms ({:.2}x)", p.wall_ms / limit_ms)
        } else {
            "-".to_string()
        }
    };
    row(
        "download: latency limit, pages x latency / concurrency 8 (sam's ratio)",
        &|c| limit(c, &c.download, c.download.min_calls),
    );
    row("activity: wall (users/s)", &|c| phase(&c.activity));
    row("activity: API calls / minimum", &|c| calls(&c.activity));
    row("activity: raw floor scan + lookups (ratio)", &|c| {
        format!(
            "{:.0} + {:.0} ms ({:.2}x)",
            c.floor.scan_ms, c.floor.lookup_ms, c.activity_vs_floor
        )
    });
    row(
        "activity: per-user lookups: wall (µs per unseen member)",
        &|c| {
            format!(
                "{:.0} ms ({:.1} µs)",
                c.lookup_ms,
                c.lookup_ms * 1000.0 / c.floor.unseen.max(1) as f64
            )
        },
    );
    row(
        "activity: content scan calls (every contributor credited)",
        &|c| {
            format!(
                "{} (raw floor, last editors only: {})",
                c.scan_calls, c.floor.scan_calls
            )
        },
    );
    row(
        "Atlassian points: sam's run (download, activity, reclaims) / hourly budget",
        &|c| match c.points_budget {
            Some(b) => format!(
                "{} / {b} ({:.1} %)",
                c.points_spent,
                100.0 * c.points_spent as f64 / b as f64
            ),
            None => c.points_spent.to_string(),
        },
    );
    row(
        "org last-active, next day: wall, calls (holders asked the org API)",
        &|c| {
            format!(
                "{:.0} ms, {} calls ({} asked)",
                c.org.wall_ms, c.org.api_calls, c.org_asked
            )
        },
    );
    row(
        "activity: latency limit, calls x latency / concurrency 8 (sam's ratio)",
        &|c| limit(c, &c.activity, c.activity.api_calls),
    );
    row(
        "org last-active: latency limit, calls x latency / concurrency 8 (sam's ratio)",
        &|c| limit(c, &c.org, c.org.api_calls),
    );
    row("activity: changed items, unseen members", &|c| {
        format!("{}, {}", c.floor.changed_items, c.floor.unseen)
    });
    row("reclaim dry run: wall (users/s)", &|c| {
        phase(&c.reclaim_dry)
    });
    row("reclaim: wall (seats/s), seats taken", &|c| {
        format!(
            "{:.0} ms ({:.1}/s), {} of {} candidates",
            c.reclaim.wall_ms,
            c.reclaim.users_per_s,
            c.reclaim_detail.reclaimed,
            c.reclaim_detail.candidates
        )
    });
    row("reclaim: write calls / memberships removed", &|c| {
        let writes = c.reclaim_detail.spoke_calls;
        format!(
            "{} / {} = {:.2}",
            c.reclaim.api_calls, c.reclaim.min_calls, c.reclaim.call_ratio
        ) + &format!(
            " (all calls {}: {} re-checks, {} spoke)",
            c.reclaim_detail.recheck_calls + writes,
            c.reclaim_detail.recheck_calls,
            writes
        )
    });
    row(
        "reclaim: all calls / verified minimum (a read per seat, a write per membership)",
        &|c| {
            let d = &c.reclaim_detail;
            let all = d.recheck_calls + d.spoke_calls;
            let verified = d.reclaimed + d.memberships_removed;
            format!(
                "{all} / {verified} = {:.2}",
                all as f64 / verified.max(1) as f64
            )
        },
    );
    row("reconcile: wall (users/s)", &|c| phase(&c.reconcile));
    row("guest / host time, export+import calls: download", &|c| {
        guest(&c.download)
    });
    row("guest / host time, export+import calls: activity", &|c| {
        guest(&c.activity)
    });
    row("guest / host time, export+import calls: reclaim", &|c| {
        guest(&c.reclaim)
    });
    row("peak RSS (sam process)", &|c| {
        format!("{:.1} MiB", c.peak_rss_mib)
    });
    row(
        "peak RSS by phase: download / activity / reclaim dry / reclaim / reconcile",
        &|c| {
            format!(
                "{:.0} / {:.0} / {:.0} / {:.0} / {:.0} MiB",
                c.download.peak_rss_mib,
                c.activity.peak_rss_mib,
                c.reclaim_dry.peak_rss_mib,
                c.reclaim.peak_rss_mib,
                c.reconcile.peak_rss_mib
            )
        },
    );
    row("database size", &|c| format!("{:.1} MiB", c.db_mib));
    let mut out = t.to_string();
    // Growth from the smallest to the largest size, per latency.
    let mut growth = Vec::new();
    for latency in cells
        .iter()
        .map(|c| c.latency_ms)
        .collect::<std::collections::BTreeSet<_>>()
    {
        let same: Vec<&Cell> = cells.iter().filter(|c| c.latency_ms == latency).collect();
        if let (Some(a), Some(b)) = (same.first(), same.last())
            && a.users != b.users
        {
            growth.push(format!(
                "{} -> {} users ({:.0}x), {latency} ms: peak RSS x{:.2}, database x{:.2}, activity wall x{:.2}",
                a.users,
                b.users,
                b.users as f64 / a.users as f64,
                ratio(b.peak_rss_mib, a.peak_rss_mib),
                ratio(b.db_mib, a.db_mib),
                ratio(b.activity.wall_ms, a.activity.wall_ms),
            ));
        }
    }
    for size in cells
        .iter()
        .map(|c| c.users)
        .collect::<std::collections::BTreeSet<_>>()
    {
        let same: Vec<&Cell> = cells.iter().filter(|c| c.users == size).collect();
        if let (Some(a), Some(b)) = (same.first(), same.last())
            && a.latency_ms != b.latency_ms
        {
            growth.push(format!(
                "{size} users, {} -> {} ms per call: activity {:.0} -> {:.0} µs per user (x{:.2}), per-user lookups {:.0} -> {:.0} ms (x{:.2}), download x{:.2}",
                a.latency_ms,
                b.latency_ms,
                a.activity.wall_ms * 1000.0 / size as f64,
                b.activity.wall_ms * 1000.0 / size as f64,
                ratio(b.activity.wall_ms, a.activity.wall_ms),
                a.lookup_ms,
                b.lookup_ms,
                ratio(b.lookup_ms, a.lookup_ms),
                ratio(b.download.wall_ms, a.download.wall_ms),
            ));
        }
    }
    if let Some(r) = reconcile {
        growth.push(format!(
            "reconcile of {} subscriptions (store written directly in {:.0} ms): {:.0} ms, peak RSS {:.1} MiB, database {:.1} MiB",
            r.subscriptions, r.write_ms, r.reconcile_ms, r.peak_rss_mib, r.db_mib
        ));
    }
    for g in growth {
        out.push_str("\n- ");
        out.push_str(&g);
    }
    out
}

// ---------------------------------------------------------------- the simulator child

/// What the simulator child says to `points`.
#[derive(Debug, Serialize, Deserialize)]
struct PointsSpent {
    total: u64,
    this_hour: u64,
}

struct SimChild {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    target: Target,
}

impl SimChild {
    fn spawn(exe: &Path, users: usize, rate_limits: bool) -> Result<Self, BoxError> {
        let mut child = Command::new(exe)
            .args(["--serve-sim", "--users", &users.to_string()])
            .args(rate_limits.then_some("--rate-limits"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().ok_or("no simulator stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let target: Target = serde_json::from_str(&line)
            .map_err(|e| format!("simulator child said {line:?}: {e}"))?;
        Ok(Self {
            child,
            stdin,
            stdout,
            target,
        })
    }

    fn set_latency(&mut self, ms: u64) -> Result<(), BoxError> {
        let stdin = self.stdin.as_mut().ok_or("simulator stdin closed")?;
        writeln!(stdin, "latency {ms}")?;
        stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        if line.trim() != "ok" {
            return Err(format!("simulator answered {line:?}").into());
        }
        Ok(())
    }

    /// The points the simulator has charged so far.
    fn points(&mut self) -> Result<PointsSpent, BoxError> {
        let stdin = self.stdin.as_mut().ok_or("simulator stdin closed")?;
        writeln!(stdin, "points")?;
        stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        serde_json::from_str(&line)
            .map_err(|e| format!("simulator answered {line:?} to `points`: {e}").into())
    }

    fn stop(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

async fn serve_sim(users: usize, rate_limits: bool) -> Result<(), BoxError> {
    let sim = Simulator::start(SimConfig {
        users,
        rate_limit: if rate_limits {
            RateLimitConfig::default()
        } else {
            RateLimitConfig::unlimited()
        },
        log_calls: false,
        ..SimConfig::default()
    })
    .await?;
    let group = sim
        .group_id("confluence-users")
        .ok_or("no confluence-users group")?;
    let members = sim.memberships(&group).map_or(0, |m| m.len()) as u64;
    // The org API's per-minute limit is paced by the gate in production; here, as the
    // Confluence quota, it is off so the bench measures sam, not the limit.
    sim.set_org_rate_limit(0);
    let target = Target {
        connection_url: sim.connection_url(),
        cloud_id: sim.cloud_id().to_string(),
        group,
        members,
        token: sim.mint_token(confluence_sim::CONNECTOR_SCOPES),
        users,
        content_items: sim.content_count(),
        startup_ms: sim.startup_time().as_millis() as u64,
        latency_ms: 0,
        reclaim_max: 0,
        download_only: false,
        concurrency: 0,
        rate: 0,
        floor: None,
        org_key: sim.org_api_key().to_string(),
        admin_base: sim.admin_base_url(),
    };
    println!("{}", serde_json::to_string(&target)?);
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(tokio::io::stdin()));
    while let Some(line) = lines.next_line().await? {
        if let Some(ms) = line.strip_prefix("latency ") {
            let latency = Duration::from_millis(ms.trim().parse()?);
            sim.set_fault_all(FaultConfig {
                latency,
                ..FaultConfig::default()
            });
            println!("ok");
        } else if line.trim() == "points" {
            let usage = sim.points_spent();
            println!(
                "{}",
                serde_json::to_string(&PointsSpent {
                    total: usage.total,
                    this_hour: usage.this_hour,
                })?
            );
        }
    }
    sim.shutdown().await;
    Ok(())
}

// ---------------------------------------------------------------- one cell, sam's side

fn phase_of(
    wall: Duration,
    users: u64,
    api_calls: u64,
    min_calls: u64,
    before: CallTimes,
    after: CallTimes,
) -> Phase {
    let import = after.import_time.saturating_sub(before.import_time);
    let export = after.export_time.saturating_sub(before.export_time);
    Phase {
        wall_ms: ms(wall),
        users_per_s: users as f64 / wall.as_secs_f64().max(1e-9),
        api_calls,
        min_calls,
        call_ratio: ratio(api_calls as f64, min_calls as f64),
        export_calls: after.export_calls - before.export_calls,
        import_calls: after.import_calls - before.import_calls,
        guest_ms: ms(export.saturating_sub(import)),
        host_ms: ms(wall.saturating_sub(export.saturating_sub(import))),
        peak_rss_mib: 0.0,
        retries: 0,
    }
}

/// The raw floor of one cell, on the untouched tenant, at the gate's default concurrency and
/// the spoke's activity window.
async fn floor_child(target: Target) -> Result<Floor, BoxError> {
    let host = SpokeHost::new(HostOptions {
        cache_dir: Some(workspace_target().join("scale-bench-cache")),
        ..HostOptions::default()
    })?;
    let concurrency = host.gate().policy().max_concurrency;
    let spoke: LoadedSpoke = host.load_file(sam_tests::confluence_spoke_wasm()).await?;
    let since = now_secs() - i64::from(spoke.manifest().activity_lookback_days) * DAY;
    raw_floor(&target, concurrency, since).await
}

/// Records when each page of a run committed (the bench's only use of the progress seam).
#[derive(Default)]
struct PageTimes(std::sync::Mutex<Vec<Instant>>);

impl sam_engine::pipeline::Progress for PageTimes {
    fn begin(&self, _: &str, _: sam_engine::model::ProcessKind, _: u64, _: Option<u64>) {}
    fn page(&self, _: u64, _: u64) {
        if let Ok(mut times) = self.0.lock() {
            times.push(Instant::now());
        }
    }
    fn end(&self, _: &sam_engine::model::JobResult) {}
}

async fn measure(target: Target) -> Result<Cell, BoxError> {
    let cache = workspace_target().join("scale-bench-cache");
    std::fs::create_dir_all(&cache)?;
    let host = SpokeHost::new(HostOptions {
        cache_dir: Some(cache),
        ..HostOptions::default()
    })?;
    let spoke: LoadedSpoke = host.load_file(sam_tests::confluence_spoke_wasm()).await?;
    let floor = target.floor.clone().unwrap_or_default();
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.redb");
    let store = Store::open(&db)?;
    let granted = vec!["127.0.0.1".to_string()];
    let profile = IntegrationProfile {
        name: "bench".into(),
        display_name: "bench".into(),
        spoke_id: spoke.id().into(),
        spoke_path: sam_tests::confluence_spoke_wasm().into(),
        status: ProfileStatus::Draft,
        processes: ProcessSet::default(),
        analyze_from: None,
        config: vec![("cloud-id".into(), target.cloud_id.clone())],
        connection: "bench".into(),
        created_at: 0,
    };
    let connection = Connection {
        alias: "bench".into(),
        connection_url: target.connection_url.clone(),
        granted_hosts: granted.clone(),
        auth: AuthKind::StaticTokenEnv {
            variable: "-".into(),
        },
    };
    let groups = [SelectedGroup {
        profile: "bench".into(),
        group_id: target.group.clone(),
        name: None,
    }];
    store.write(|tx| tx.create_profile(&profile, &connection, &groups))?;
    let config = Config {
        values: profile.config.clone(),
        selected_groups: vec![target.group.clone()],
    };
    let session = spoke.session_with_limits(
        &target.connection_url,
        &granted,
        Arc::new(StaticToken::new(target.token.clone())),
        sam_engine::host::LimitOverrides {
            requests_per_second: (target.rate > 0).then_some(target.rate),
            ..Default::default()
        },
    )?;
    let source = SpokeSource::new(spoke.clone(), session.clone(), config.clone());
    let page_times = PageTimes::default();
    let mut limits = sam_engine::pipeline::limits::PipelineLimits::default();
    if target.concurrency > 0 {
        limits.concurrency = target.concurrency;
    }
    let pipeline = Pipeline::new(&store).progress(&page_times).limits(limits);
    let members = target.members;

    // Download.
    let (c0, t) = (spoke.call_times(), Instant::now());
    let job = pipeline.download_subscriptions(&source, "bench").await?;
    let wall = t.elapsed();
    let min = members.div_ceil(PAGE).max(1);
    let mut download = phase_of(wall, members, job.api_calls, min, c0, spoke.call_times());
    download.peak_rss_mib = phase_peak_mib();
    download.retries = job.retries;
    if target.download_only {
        return Ok(Cell {
            download,
            ..Cell::default()
        });
    }

    // Activity.
    let (c0, t) = (spoke.call_times(), Instant::now());
    if let Ok(mut times) = page_times.0.lock() {
        times.clear();
    }
    let job = pipeline.download_activity(&source, "bench").await?;
    let activity_wall = t.elapsed();
    // The scan's pages come first; the lookups run from its last page to the end.
    let scan_pages = job.api_calls.min(floor.scan_calls) as usize;
    let scan_end = page_times
        .0
        .lock()
        .ok()
        .and_then(|times| times.get(scan_pages.saturating_sub(1)).copied())
        .unwrap_or(t);
    let lookup_ms = ms(activity_wall.saturating_sub(scan_end.saturating_duration_since(t)));
    let activity_calls = job.api_calls;
    let c1 = spoke.call_times();
    let activity_peak = phase_peak_mib();

    // Org last-active (issue 19): the next day's run with the organization API key.
    let org_session = spoke.session_with_extra(
        &target.connection_url,
        &granted,
        Arc::new(StaticToken::new(target.token.clone())),
        vec![(
            "org-api-key".to_string(),
            format!("{}/admin/", target.admin_base),
            Arc::new(StaticToken::new(target.org_key.clone())) as Arc<dyn CredentialProvider>,
        )],
    )?;
    let org_source = SpokeSource::new(spoke.clone(), org_session, config.clone());
    let next_day = FixedClock::new(now_secs() + DAY + 60);
    let (c4, t) = (spoke.call_times(), Instant::now());
    let org_job = Pipeline::new(&store)
        .clock(&next_day)
        .download_activity(&org_source, "bench")
        .await?;
    let org_wall = t.elapsed();
    let asked_at = next_day.now();
    let mut org_asked = 0u64;
    store
        .read()?
        .for_each_subscription_with_activity("bench", |_, a| {
            if a.is_some_and(|a| a.checked_at == Some(asked_at)) {
                org_asked += 1;
            }
        })?;
    let mut org = phase_of(
        org_wall,
        members,
        org_job.api_calls,
        org_asked,
        c4,
        spoke.call_times(),
    );
    org.peak_rss_mib = phase_peak_mib();

    // Reclaim, dry run then real within the cap.
    let seats = SpokeSeats::new(spoke.clone(), session.clone(), config.clone());
    let (c2, t) = (spoke.call_times(), Instant::now());
    let dry = Reclaimer::new(&store)
        .options(ReclaimOptions {
            dry_run: true,
            max_percent: None,
            ..ReclaimOptions::default()
        })
        .run(&seats, "bench")
        .await?;
    let mut reclaim_dry = phase_of(
        t.elapsed(),
        members,
        dry.api_calls,
        0,
        c2,
        spoke.call_times(),
    );
    reclaim_dry.peak_rss_mib = phase_peak_mib();
    let (c3, t) = (spoke.call_times(), Instant::now());
    let report = Reclaimer::new(&store)
        .options(ReclaimOptions {
            dry_run: false,
            max_count: Some(target.reclaim_max),
            max_percent: None,
            ..ReclaimOptions::default()
        })
        .run(&seats, "bench")
        .await?;
    let wall = t.elapsed();
    let removed: u64 = report.outcomes.iter().map(|o| o.changes.len() as u64).sum();
    // The engine's activity re-checks (batched, before the writes); the spoke's reclaim reads
    // the user's memberships once per seat, then removes each one.
    let rechecks = report.recheck_calls;
    let spoke_calls = report.api_calls.saturating_sub(rechecks);
    let deletes = spoke_calls.saturating_sub(report.write_calls);
    let mut reclaim = phase_of(
        wall,
        report.reclaimed,
        deletes,
        removed,
        c3,
        spoke.call_times(),
    );
    reclaim.peak_rss_mib = phase_peak_mib();
    let reclaim_detail = ReclaimDetail {
        candidates: (dry.to_reclaim.len() + dry.deferred_by_cap.len()) as u64,
        reclaimed: report.reclaimed,
        memberships_removed: removed,
        recheck_calls: rechecks,
        spoke_calls,
    };

    // Reconcile.
    let t = Instant::now();
    sam_engine::reconcile::run(&store, &SystemClock)?;
    let mut reconcile = phase_of(
        t.elapsed(),
        members,
        0,
        0,
        CallTimes::default(),
        CallTimes::default(),
    );
    reconcile.peak_rss_mib = phase_peak_mib();
    let phases = [&download, &reclaim_dry, &reclaim, &reconcile];
    let peak_mib = phases
        .iter()
        .map(|p| p.peak_rss_mib)
        .fold(activity_peak, f64::max);
    drop(store);
    let db_size = std::fs::metadata(&db)?.len();

    let min_activity = floor.changed_items.div_ceil(PAGE).max(1) + floor.unseen;
    let mut activity = phase_of(activity_wall, members, activity_calls, min_activity, c0, c1);
    activity.peak_rss_mib = activity_peak;
    Ok(Cell {
        users: target.users,
        latency_ms: target.latency_ms,
        members,
        download_runs_ms: vec![download.wall_ms],
        download_vs_floor: ratio(download.wall_ms, floor.download_ms),
        activity_vs_floor: ratio(activity.wall_ms, floor.scan_ms + floor.lookup_ms),
        lookup_ms,
        scan_calls: scan_pages as u64,
        org,
        org_asked,
        download,
        activity,
        reclaim_dry,
        reclaim,
        reclaim_detail,
        reconcile,
        floor,
        // Set by the parent, which asks the simulator.
        points_spent: 0,
        points_budget: None,
        peak_rss_mib: peak_mib,
        db_mib: mib(db_size),
        process: "sam alone in a fresh child process (VmHWM); the simulator and the raw floor \
                  in others"
            .into(),
    })
}

fn status_kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ---------------------------------------------------------------- the raw floor

/// Percent-encoding for a CQL query value (reqwest's `query` does it).
async fn get_json(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &[(String, String)],
) -> Result<Value, BoxError> {
    let response = client
        .get(url)
        .bearer_auth(token)
        .query(query)
        .send()
        .await?
        .error_for_status()?;
    Ok(response.json().await?)
}

/// The same member pages, scan pages and lookup queries as the spoke, fetched by a plain
/// reqwest loop: member pages and scan pages one after the other (each page's cursor comes
/// from the one before), lookups `concurrency` at a time.
async fn raw_floor(target: &Target, concurrency: usize, since: i64) -> Result<Floor, BoxError> {
    let client = reqwest::Client::new();
    let base = target.connection_url.trim_end_matches('/').to_string();
    let api = format!("{base}/wiki/rest/api");
    let token = target.token.as_str();
    let mut floor = Floor::default();

    let mut members = Vec::new();
    {
        let t = Instant::now();
        let mut start = 0u64;
        loop {
            let page = get_json(
                &client,
                &format!("{api}/group/{}/membersByGroupId", target.group),
                token,
                &[
                    ("start".into(), start.to_string()),
                    ("limit".into(), PAGE.to_string()),
                    ("expand".into(), "isExternalCollaborator".into()),
                ],
            )
            .await?;
            floor.download_calls += 1;
            let results = page["results"].as_array().cloned().unwrap_or_default();
            members.extend(
                results
                    .iter()
                    .filter_map(|u| u["accountId"].as_str().map(str::to_string)),
            );
            if results.is_empty() || page["_links"]["next"].is_null() {
                break;
            }
            start += results.len() as u64;
        }
        floor.download_ms = ms(t.elapsed());
        floor.download_runs_ms = vec![floor.download_ms];
    }
    if target.download_only {
        return Ok(floor);
    }

    let t = Instant::now();
    let scan_cql = confluence_cloud::activity::scan_cql(since);
    let own = |cql: &str, limit: u64| -> Vec<(String, String)> {
        vec![
            ("cql".into(), cql.to_string()),
            ("limit".into(), limit.to_string()),
            ("excerpt".into(), "none".into()),
            ("expand".into(), confluence_cloud::api::SCAN_EXPAND.into()),
        ]
    };
    let mut seen = std::collections::HashSet::new();
    let mut paging: Vec<(String, String)> = Vec::new();
    loop {
        let mut query = own(&scan_cql, PAGE);
        query.extend(paging.iter().cloned());
        let page = get_json(&client, &format!("{api}/search"), token, &query).await?;
        floor.scan_calls += 1;
        let results = page["results"].as_array().cloned().unwrap_or_default();
        floor.changed_items += results.len() as u64;
        let mut reached_older = false;
        for r in &results {
            let version = &r["content"]["version"];
            let at = version["when"]
                .as_str()
                .and_then(confluence_cloud::time::parse_timestamp)
                .unwrap_or(0);
            reached_older = at < since;
            if at >= since
                && let Some(by) = version["by"]["accountId"].as_str()
            {
                seen.insert(by.to_string());
            }
        }
        let next = page["_links"]["next"].as_str();
        match next {
            Some(link) if !reached_older && !results.is_empty() => {
                let query = link.split_once('?').map_or("", |(_, q)| q);
                paging = url_pairs(query)
                    .into_iter()
                    .filter(|(k, _)| !["cql", "limit", "expand", "excerpt"].contains(&k.as_str()))
                    .collect();
            }
            _ => break,
        }
    }
    floor.scan_ms = ms(t.elapsed());

    let unseen: Vec<String> = members.into_iter().filter(|m| !seen.contains(m)).collect();
    floor.unseen = unseen.len() as u64;
    // The spoke's batched lookup queries (same chunks, CQL and expand), first page of each.
    let unseen: Vec<&str> = unseen.iter().map(String::as_str).collect();
    let chunks = confluence_cloud::activity::batches(&unseen, since);
    let t = Instant::now();
    let search = format!("{api}/search");
    let outcomes: Vec<Result<Value, BoxError>> = futures::stream::iter(chunks.iter())
        .map(|ids| {
            let query = vec![
                (
                    "cql".to_string(),
                    confluence_cloud::activity::batch_cql(ids, since),
                ),
                ("limit".into(), PAGE.to_string()),
                ("excerpt".into(), "none".into()),
                (
                    "expand".into(),
                    confluence_cloud::api::LOOKUP_EXPAND.to_string(),
                ),
            ];
            let (client, search) = (&client, &search);
            async move { get_json(client, search, token, &query).await }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    floor.lookup_calls = outcomes.len() as u64;
    if let Some(Err(e)) = outcomes.into_iter().find(Result::is_err) {
        return Err(format!("raw lookup failed: {e}").into());
    }
    floor.lookup_ms = ms(t.elapsed());
    Ok(floor)
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

// ---------------------------------------------------------------- reconcile at scale

fn reconcile_at_scale(n: usize) -> Result<ReconcileAtScale, BoxError> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("reconcile.redb");
    let store = Store::open(&db)?;
    let profile = IntegrationProfile {
        name: "big".into(),
        display_name: "big".into(),
        spoke_id: "confluence-cloud".into(),
        spoke_path: "-".into(),
        status: ProfileStatus::Draft,
        processes: ProcessSet::default(),
        analyze_from: None,
        config: Vec::new(),
        connection: "big".into(),
        created_at: 0,
    };
    let connection = Connection {
        alias: "big".into(),
        connection_url: "https://example.atlassian.net".into(),
        granted_hosts: Vec::new(),
        auth: AuthKind::StaticTokenEnv {
            variable: "-".into(),
        },
    };
    store.write(|tx| tx.create_profile(&profile, &connection, &[]))?;
    let now = now_secs();
    let t = Instant::now();
    let chunk = 100_000;
    let mut written = 0;
    while written < n {
        let end = (written + chunk).min(n);
        store.write(|tx| {
            for i in written..end {
                let id = format!("user-{i:07}");
                tx.put_subscription(&Subscription {
                    profile: "big".into(),
                    external_user_id: id.clone(),
                    identifier: "confluence".into(),
                    model: Some("atlassian/confluence".into()),
                    display_name: Some(format!("User {i}")),
                    email: Some(format!("user{i}@example.com")),
                    account_type: if i % 33 == 0 {
                        AccountType::App
                    } else {
                        AccountType::Human
                    },
                    granted_by: vec!["confluence-users".into()],
                    granted_at: Some(now - 400 * DAY),
                    active: true,
                    first_seen_at: now - 400 * DAY,
                    ended_at: None,
                })?;
                if i % 4 != 0 {
                    tx.put_activity(&UserActivityRecord {
                        profile: "big".into(),
                        external_user_id: id,
                        last_activity: Some(now - (i as i64 % 200) * DAY),
                        source: Some("page updated".into()),
                        state: sam_engine::model::ActivityState::Seen,
                        kind: None,
                        checked_at: None,
                    })?;
                }
            }
            Ok::<_, sam_engine::store::WriteError>(())
        })?;
        written = end;
    }
    let write_ms = ms(t.elapsed());
    let t = Instant::now();
    let results = sam_engine::reconcile::run(&store, &SystemClock)?;
    let reconcile_ms = ms(t.elapsed());
    let used: u64 = results.iter().map(|r| r.position.rights_used).sum();
    eprintln!(
        "scale-bench: reconciled {} models, {used} seats used",
        results.len()
    );
    let peak = status_kib("VmHWM:");
    drop(store);
    Ok(ReconcileAtScale {
        subscriptions: n,
        write_ms,
        reconcile_ms,
        peak_rss_mib: status_kib_to_mib(peak),
        db_mib: mib(std::fs::metadata(&db)?.len()),
    })
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
