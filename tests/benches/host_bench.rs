//! Plugin-host benchmark: cold compile of a spoke, warm start from the compile cache, and the
//! cost of one host-guest call (a fresh instance from the pre-instantiated component plus the
//! export call), with and without one HTTP round trip to a loopback server. Prints a table and
//! the same figures as JSON. Run: `cargo bench --bench host-bench`.

use std::time::{Duration, Instant};

use sam_engine::contract::Config;
use sam_engine::host::{CacheOutcome, HostOptions, SpokeHost, StaticToken};
use sam_tests::loopback::ScriptedServer;

fn host(cache_dir: Option<std::path::PathBuf>) -> SpokeHost {
    SpokeHost::new(HostOptions {
        cache_dir,
        ..HostOptions::default()
    })
    .expect("host starts")
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let mut rows: Vec<(String, f64, String)> = Vec::new();
    for (name, path) in [
        ("fixture", sam_tests::fixture_spoke_wasm()),
        ("confluence-cloud", sam_tests::confluence_spoke_wasm()),
    ] {
        let wasm = std::fs::read(path).expect("guest built");
        let mut cold = Vec::new();
        let mut warm = Vec::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("temp dir");
            let started = Instant::now();
            let spoke = host(Some(dir.path().to_path_buf()))
                .load_bytes(wasm.clone(), name)
                .await
                .expect("loads");
            cold.push(started.elapsed());
            assert_eq!(spoke.cache_outcome(), CacheOutcome::Compiled);
            for _ in 0..3 {
                let started = Instant::now();
                let spoke = host(Some(dir.path().to_path_buf()))
                    .load_bytes(wasm.clone(), name)
                    .await
                    .expect("loads");
                warm.push(started.elapsed());
                assert_eq!(spoke.cache_outcome(), CacheOutcome::Hit);
            }
        }
        let cold = median(cold);
        let warm = median(warm);
        rows.push((
            format!(
                "{name}: cold load (compile + cache write), {} KiB wasm",
                wasm.len() / 1024
            ),
            ms(cold),
            "ms".into(),
        ));
        rows.push((
            format!("{name}: warm load from cache"),
            ms(warm),
            "ms".into(),
        ));
        rows.push((
            format!("{name}: cold / warm"),
            cold.as_secs_f64() / warm.as_secs_f64(),
            "x".into(),
        ));
    }

    let host = host(None);
    let spoke = host
        .load_file(sam_tests::fixture_spoke_wasm())
        .await
        .expect("loads");
    let server = ScriptedServer::start().await.expect("server");
    let session = spoke
        .session(
            &format!("http://127.0.0.1:{}/api", server.port()),
            &[],
            std::sync::Arc::new(StaticToken::new("t")),
        )
        .expect("session");
    let noop = Config {
        values: vec![("behaviour".into(), "noop".into())],
        selected_groups: vec![],
    };
    let with_http = Config {
        values: vec![],
        selected_groups: vec![],
    };
    for _ in 0..50 {
        spoke
            .list_groups(&session, &noop, None)
            .await
            .expect("call");
    }
    let calls = 2000;
    let started = Instant::now();
    for _ in 0..calls {
        spoke
            .list_groups(&session, &noop, None)
            .await
            .expect("call");
    }
    let per_call = started.elapsed() / calls;
    rows.push((
        "host-guest call (fresh instance + export call, no I/O)".into(),
        per_call.as_secs_f64() * 1e6,
        "µs".into(),
    ));
    let calls = 500;
    let started = Instant::now();
    for _ in 0..calls {
        spoke
            .list_groups(&session, &with_http, None)
            .await
            .expect("call");
    }
    let per_http_call = started.elapsed() / calls;
    rows.push((
        "call making one loopback HTTP request through the gate".into(),
        per_http_call.as_secs_f64() * 1e6,
        "µs".into(),
    ));
    let counts = session.counts();

    let mut table = comfy_table::Table::new();
    table.set_header(["measure", "value", "unit"]);
    for (measure, value, unit) in &rows {
        table.add_row([measure.clone(), format!("{value:.2}"), unit.clone()]);
    }
    println!("{table}");
    println!(
        "gate counted {} requests, {} retries",
        counts.requests, counts.retries
    );
    let json: Vec<_> = rows
        .iter()
        .map(|(measure, value, unit)| {
            serde_json::json!({"measure": measure, "value": value, "unit": unit})
        })
        .collect();
    println!("{}", serde_json::to_string(&json).expect("json"));
}
