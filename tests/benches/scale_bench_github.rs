//! The scale bench's GitHub Copilot cells (issue 21): the seat download through the real
//! GitHub spoke, gate and store against the GitHub simulator (10 000 and 100 000 seats by
//! default, at each latency), beside a raw floor over the same pages (a plain reqwest loop
//! following `Link: rel="next"`, one page after the other) and the latency limit (pages x
//! latency / the allowed concurrency); calls against the pages, peak RSS of sam's process.
//! Same process layout as the Confluence cells: a simulator child, floor and sam children
//! taking turns, the fastest of each compared.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use github_sim::{RateLimitConfig, SimConfig, Simulator};
use sam_engine::contract::Config;
use sam_engine::host::{HostOptions, LoadedSpoke, SpokeHost, StaticToken};
use sam_engine::model::{AuthKind, Connection, IntegrationProfile, ProcessSet, ProfileStatus};
use sam_engine::pipeline::Pipeline;
use sam_engine::pipeline::SpokeSource;
use sam_engine::store::Store;
use serde::{Deserialize, Serialize};

use super::{BoxError, child_json, mib, ms, phase_peak_mib, ratio, workspace_target};

/// Seats per page (GitHub's largest).
const PER_PAGE: u64 = 100;

/// What the GitHub simulator child prints once it listens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GhTarget {
    base_url: String,
    org: String,
    token: String,
    seats: u64,
    #[serde(default)]
    latency_ms: u64,
}

/// One GitHub cell.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GhCell {
    pub seats: u64,
    pub latency_ms: u64,
    /// sam's fastest download.
    pub download_ms: f64,
    pub download_runs_ms: Vec<f64>,
    /// The raw floor's fastest run (sequential pages).
    pub floor_ms: f64,
    pub floor_runs_ms: Vec<f64>,
    pub calls: u64,
    pub pages: u64,
    pub seats_stored: u64,
    /// Peak RSS of sam's download process (the largest over its runs).
    pub peak_rss_mib: f64,
    pub db_mib: f64,
    /// The profile's concurrency ceiling (the latency limit's divisor).
    pub concurrency: u64,
}

impl GhCell {
    /// pages x latency / allowed concurrency, in ms.
    pub fn latency_limit_ms(&self) -> f64 {
        self.pages as f64 * self.latency_ms as f64 / self.concurrency.max(1) as f64
    }
}

/// `--serve-github-sim`: a simulator of `seats` seats, limits off, latency set over stdin.
pub async fn serve(seats: usize) -> Result<(), BoxError> {
    let sim = Simulator::start(SimConfig {
        seats,
        rate_limit: RateLimitConfig::unlimited(),
        log_calls: false,
        ..SimConfig::default()
    })
    .await?;
    let target = GhTarget {
        base_url: sim.base_url(),
        org: sim.org().to_string(),
        token: sim.mint_classic_token(&["manage_billing:copilot", "admin:org"])?,
        seats: sim.seat_count() as u64,
        latency_ms: 0,
    };
    println!("{}", serde_json::to_string(&target)?);
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(tokio::io::stdin()));
    while let Some(line) = lines.next_line().await? {
        if let Some(ms) = line.strip_prefix("latency ") {
            sim.set_latency(Duration::from_millis(ms.trim().parse()?), Duration::ZERO);
            println!("ok");
        }
    }
    sim.shutdown().await;
    Ok(())
}

/// `--github-floor`: the seat pages by a plain reqwest loop, one after the other.
pub async fn floor(target: GhTarget) -> Result<GhCell, BoxError> {
    let client = reqwest::Client::builder()
        .user_agent("scale-bench")
        .build()?;
    let t = Instant::now();
    let mut url = Some(format!(
        "{}/orgs/{}/copilot/billing/seats?per_page={PER_PAGE}&page=1",
        target.base_url.trim_end_matches('/'),
        target.org
    ));
    let (mut calls, mut seats) = (0u64, 0u64);
    while let Some(at) = url.take() {
        let response = client
            .get(&at)
            .bearer_auth(&target.token)
            .header("accept", "application/vnd.github+json")
            .send()
            .await?
            .error_for_status()?;
        calls += 1;
        url = response
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let body: serde_json::Value = response.json().await?;
        seats += body["seats"].as_array().map_or(0, |s| s.len() as u64);
    }
    let floor_ms = ms(t.elapsed());
    Ok(GhCell {
        floor_ms,
        floor_runs_ms: vec![floor_ms],
        pages: calls,
        seats_stored: seats,
        ..GhCell::default()
    })
}

fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, rel) = part.split_once(';')?;
        rel.contains("rel=\"next\"").then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

/// `--github-measure`: sam's download in a fresh process and database.
pub async fn measure(target: GhTarget) -> Result<GhCell, BoxError> {
    let cache = workspace_target().join("scale-bench-cache");
    std::fs::create_dir_all(&cache)?;
    let host = SpokeHost::new(HostOptions {
        cache_dir: Some(cache),
        ..HostOptions::default()
    })?;
    let wasm = sam_tests::github_copilot_spoke_wasm();
    let spoke: LoadedSpoke = host.load_file(wasm).await?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.redb");
    let store = Store::open(&db)?;
    let granted = vec!["127.0.0.1".to_string()];
    let profile = IntegrationProfile {
        name: "bench".into(),
        display_name: "bench".into(),
        spoke_id: spoke.id().into(),
        spoke_path: wasm.into(),
        status: ProfileStatus::Draft,
        processes: ProcessSet::default(),
        analyze_from: None,
        config: vec![("org".into(), target.org.clone())],
        connection: "bench".into(),
        created_at: 0,
    };
    let connection = Connection {
        alias: "bench".into(),
        connection_url: target.base_url.clone(),
        granted_hosts: granted.clone(),
        auth: AuthKind::StaticTokenEnv {
            variable: "-".into(),
        },
    };
    store.write(|tx| tx.create_profile(&profile, &connection, &[]))?;
    let config = Config {
        values: profile.config.clone(),
        selected_groups: Vec::new(),
    };
    let session = spoke.session(
        &target.base_url,
        &granted,
        Arc::new(StaticToken::new(target.token.clone())),
    )?;
    let source = SpokeSource::new(spoke.clone(), session.clone(), config);
    let pipeline = Pipeline::new(&store);
    let _ = phase_peak_mib();
    let t = Instant::now();
    let job = pipeline.download_subscriptions(&source, "bench").await?;
    let download_ms = ms(t.elapsed());
    let peak_rss_mib = phase_peak_mib();
    let seats_stored = store
        .read()?
        .subscriptions("bench")?
        .iter()
        .filter(|s| s.active)
        .count() as u64;
    drop(store);
    Ok(GhCell {
        seats: target.seats,
        latency_ms: target.latency_ms,
        download_ms,
        download_runs_ms: vec![download_ms],
        calls: job.api_calls,
        pages: job.pages,
        seats_stored,
        peak_rss_mib,
        db_mib: mib(std::fs::metadata(&db).map_or(0, |m| m.len())),
        concurrency: sam_engine::pipeline::concurrency::DEFAULT_CEILING as u64,
        ..GhCell::default()
    })
}

struct SimChild {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    target: GhTarget,
}

impl SimChild {
    fn spawn(exe: &Path, seats: usize) -> Result<Self, BoxError> {
        let mut child = Command::new(exe)
            .args(["--serve-github-sim", "--users", &seats.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().ok_or("no simulator stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let target: GhTarget = serde_json::from_str(&line)
            .map_err(|e| format!("GitHub simulator child said {line:?}: {e}"))?;
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

    fn stop(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// Every GitHub cell: `seats` x `latencies`, `runs` download and floor runs each.
pub fn cells(
    exe: &Path,
    seats: &[usize],
    latencies: &[u64],
    runs: u32,
) -> Result<Vec<GhCell>, BoxError> {
    let mut cells = Vec::new();
    for &n in seats {
        let mut sim = SimChild::spawn(exe, n)?;
        for &latency in latencies {
            eprintln!(
                "scale-bench: GitHub simulator with {n} seats; measuring at {latency} ms per call ..."
            );
            sim.set_latency(latency)?;
            let mut target = sim.target.clone();
            target.latency_ms = latency;
            let t = serde_json::to_string(&target)?;
            let mut cell = GhCell::default();
            for run in 0..runs.max(1) {
                let floor = child_json::<GhCell>(exe, &["--github-floor", &t])?;
                let sam = child_json::<GhCell>(exe, &["--github-measure", &t])?;
                if run == 0 {
                    cell = sam.clone();
                    cell.download_runs_ms.clear();
                    cell.floor_runs_ms.clear();
                    cell.floor_ms = f64::INFINITY;
                    cell.download_ms = f64::INFINITY;
                }
                cell.download_runs_ms.push(sam.download_ms);
                cell.floor_runs_ms.push(floor.floor_ms);
                cell.download_ms = cell.download_ms.min(sam.download_ms);
                cell.floor_ms = cell.floor_ms.min(floor.floor_ms);
                cell.peak_rss_mib = cell.peak_rss_mib.max(sam.peak_rss_mib);
                if floor.pages != sam.pages || sam.seats_stored != floor.seats_stored {
                    eprintln!(
                        "scale-bench: GitHub pages or seats differ: floor {} pages {} seats, sam {} pages {} seats",
                        floor.pages, floor.seats_stored, sam.pages, sam.seats_stored
                    );
                }
            }
            cells.push(cell);
        }
        sim.stop();
    }
    Ok(cells)
}

/// The GitHub cells as a table.
pub fn render(cells: &[GhCell]) -> String {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    let mut header = vec!["GitHub Copilot seats".to_string()];
    header.extend(
        cells
            .iter()
            .map(|c| format!("{} seats, {} ms", c.seats, c.latency_ms)),
    );
    t.set_header(header);
    let mut row = |name: &str, f: &dyn Fn(&GhCell) -> String| {
        let mut r = vec![name.to_string()];
        r.extend(cells.iter().map(f));
        t.add_row(r);
    };
    row("download: wall (seats/s)", &|c| {
        format!(
            "{:.0} ms ({:.0} seats/s)",
            c.download_ms,
            c.seats as f64 * 1000.0 / c.download_ms.max(1e-9)
        )
    });
    row("download: calls / pages", &|c| {
        format!(
            "{} / {} = {:.2}",
            c.calls,
            c.pages,
            ratio(c.calls as f64, c.pages as f64)
        )
    });
    row("download: sequential raw floor (ratio)", &|c| {
        format!(
            "{:.0} ms ({:.2}x)",
            c.floor_ms,
            ratio(c.download_ms, c.floor_ms)
        )
    });
    row(
        "download: latency limit, pages x latency / concurrency (ratio)",
        &|c| {
            format!(
                "{:.0} ms ({}/{}; {:.2}x)",
                c.latency_limit_ms(),
                c.pages,
                c.concurrency,
                ratio(c.download_ms, c.latency_limit_ms())
            )
        },
    );
    row("download: every run, sam / floor (ms)", &|c| {
        let list = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!("{} / {}", list(&c.download_runs_ms), list(&c.floor_runs_ms))
    });
    row("seats stored", &|c| c.seats_stored.to_string());
    row("peak RSS (sam process)", &|c| {
        format!("{:.1} MiB", c.peak_rss_mib)
    });
    row("database size", &|c| format!("{:.1} MiB", c.db_mib));
    let mut out = t.to_string();
    for latency in cells
        .iter()
        .map(|c| c.latency_ms)
        .collect::<std::collections::BTreeSet<_>>()
    {
        let same: Vec<&GhCell> = cells.iter().filter(|c| c.latency_ms == latency).collect();
        if let (Some(a), Some(b)) = (same.first(), same.last())
            && a.seats != b.seats
        {
            out.push_str(&format!(
                "\n- GitHub {} -> {} seats ({:.0}x), {latency} ms: peak RSS x{:.2}, database x{:.2}",
                a.seats,
                b.seats,
                b.seats as f64 / a.seats as f64,
                ratio(b.peak_rss_mib, a.peak_rss_mib),
                ratio(b.db_mib, a.db_mib),
            ));
        }
    }
    out
}
