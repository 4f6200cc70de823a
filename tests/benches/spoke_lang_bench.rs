//! What a spoke costs per language: scaffolds the Rust, Python and JavaScript templates of
//! `sam plugin new` into a temporary folder, builds each with its documented command (a
//! language whose tool is missing is skipped and said so), and measures, against the Example
//! Seats simulator on loopback: component size, cold load (compile) and warm load (compiled
//! artifact, as from the compile cache), the peak linear memory of one call, and the time per
//! downloaded page (a fresh instance per page, as the engine runs it). Prints a table with
//! each figure's ratio to Rust, and the same figures as JSON.
//! Run: `cargo bench --bench spoke-lang-bench [-- --seats 2000]`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use example_sim::{SCOPE_READ, SCOPE_WRITE, SimConfig, Simulator};
use sam_engine::contract::Config;
use sam_engine::host::{HostOptions, SpokeHost, StaticToken};
use sam_engine::scaffold::{self, Lang, NewSpoke};

#[derive(Debug, Parser)]
struct Args {
    /// Seats in the simulated tenant (100 per page).
    #[arg(long, default_value_t = 1000)]
    seats: usize,
    /// Load measurements per language (the median is shown).
    #[arg(long, default_value_t = 3)]
    loads: usize,
    /// Full downloads per language (the median page time is shown).
    #[arg(long, default_value_t = 3)]
    downloads: usize,
}

#[derive(Debug, serde::Serialize)]
struct Figures {
    lang: &'static str,
    size_bytes: u64,
    cold_load_ms: f64,
    warm_load_ms: f64,
    peak_memory_bytes: u64,
    page_ms: f64,
    pages: usize,
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Scaffolds and builds one template; `None` (with the reason printed) when it cannot.
fn build(lang: Lang, root: &Path) -> Option<PathBuf> {
    let dir = root.join(lang.key());
    let made = match scaffold::create(&NewSpoke {
        name: "bench-vendor".into(),
        lang,
        dir: dir.clone(),
        sdk_path: scaffold::default_sdk_path(),
    }) {
        Ok(made) => made,
        Err(e) => {
            eprintln!("{lang}: skipped: {e}");
            return None;
        }
    };
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(made.build_command)
        .current_dir(&dir)
        .stdin(Stdio::null());
    let output = if lang == Lang::Rust {
        let target = workspace().join("target").join("guests");
        command
            .env("CARGO_TARGET_DIR", &target)
            .env("CARGO_NET_OFFLINE", "true");
        target.join("wasm32-wasip2/release/bench_vendor.wasm")
    } else {
        dir.join(&made.output)
    };
    let started = Instant::now();
    match command.output() {
        Ok(out) if out.status.success() => {
            eprintln!(
                "{lang}: built in {:.1} s ({})",
                started.elapsed().as_secs_f64(),
                made.build_command
            );
            Some(output)
        }
        Ok(out) => {
            eprintln!(
                "{lang}: skipped: `{}` failed: {}",
                made.build_command,
                String::from_utf8_lossy(&out.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!("{lang}: skipped: cannot run `{}`: {e}", made.build_command);
            None
        }
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse_from(sam_tests::bench_args());
    let temp = tempfile::tempdir().expect("temp dir");
    let host = SpokeHost::new(HostOptions::default()).expect("host starts");
    let sim = Simulator::start(SimConfig {
        seats: args.seats,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let token = sim.mint_token(&[SCOPE_READ, SCOPE_WRITE]);
    let config = Config {
        values: vec![("account".into(), sim.account().to_string())],
        selected_groups: vec![],
    };

    let mut figures = Vec::new();
    for lang in Lang::ALL {
        let Some(path) = build(lang, temp.path()) else {
            continue;
        };
        let wasm = std::fs::read(&path).expect("built component");
        let mut cold = Vec::new();
        let mut warm = Vec::new();
        for _ in 0..args.loads.max(1) {
            let times = host
                .measure_load(wasm.clone(), lang.key())
                .await
                .expect("loads");
            cold.push(times.cold);
            warm.push(times.warm);
        }
        let spoke = host
            .load_bytes(wasm.clone(), lang.key())
            .await
            .expect("loads");
        let session = spoke
            .session(
                &sim.base_url(),
                &["127.0.0.1".to_string()],
                Arc::new(StaticToken::new(token.clone())),
            )
            .expect("session");
        let mut pages = Vec::new();
        let mut count = 0;
        for _ in 0..args.downloads.max(1) {
            let mut cursor: Option<String> = None;
            count = 0;
            loop {
                let started = Instant::now();
                let page = spoke
                    .download_subscriptions(&session, &config, cursor.as_deref())
                    .await
                    .expect("page");
                pages.push(started.elapsed());
                count += 1;
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        figures.push(Figures {
            lang: lang.key(),
            size_bytes: wasm.len() as u64,
            cold_load_ms: ms(median(cold)),
            warm_load_ms: ms(median(warm)),
            peak_memory_bytes: spoke.call_times().peak_memory,
            page_ms: ms(median(pages)),
            pages: count,
        });
    }

    let rust = figures.iter().find(|f| f.lang == "rust");
    let ratio = |value: f64, of: fn(&Figures) -> f64| match rust {
        Some(r) if of(r) > 0.0 => format!(" ({:.1}x)", value / of(r)),
        _ => String::new(),
    };
    let mut table = comfy_table::Table::new();
    table.set_header([
        "language",
        "component",
        "cold load",
        "warm load",
        "memory per call",
        "time per page",
    ]);
    for f in &figures {
        table.add_row([
            f.lang.to_string(),
            format!(
                "{:.1} MiB{}",
                f.size_bytes as f64 / 1048576.0,
                ratio(f.size_bytes as f64, |r| r.size_bytes as f64)
            ),
            format!(
                "{:.0} ms{}",
                f.cold_load_ms,
                ratio(f.cold_load_ms, |r| r.cold_load_ms)
            ),
            format!(
                "{:.1} ms{}",
                f.warm_load_ms,
                ratio(f.warm_load_ms, |r| r.warm_load_ms)
            ),
            format!(
                "{:.1} MiB{}",
                f.peak_memory_bytes as f64 / 1048576.0,
                ratio(f.peak_memory_bytes as f64, |r| r.peak_memory_bytes as f64)
            ),
            format!("{:.1} ms{}", f.page_ms, ratio(f.page_ms, |r| r.page_ms)),
        ]);
    }
    println!(
        "Spoke cost per language ({} seats, 100 per page; ratios to Rust)\n{table}",
        args.seats
    );
    println!("{}", serde_json::to_string_pretty(&figures).expect("JSON"));
    sim.shutdown().await;
}
