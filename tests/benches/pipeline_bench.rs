//! `pipeline-bench`: download subscriptions and then activity for simulated Confluence tenants
//! (10 000 and 100 000 users by default) through the real spoke, gate and store, and print
//! wall time, pages, API calls, peak RSS and database size. The simulator runs in the same
//! process (rate limits off), so the peak RSS includes its generated tenant; the RSS before
//! the runs is printed too.
//!
//! ```text
//! cargo bench --bench pipeline-bench -- 10000 100000
//! ```

use std::sync::Arc;
use std::time::Instant;

use confluence_sim::{RateLimitConfig, SimConfig, Simulator};
use sam_engine::contract::Config;
use sam_engine::host::{HostOptions, SpokeHost, StaticToken};
use sam_engine::model::{
    AuthKind, Connection, IntegrationProfile, ProcessSet, ProfileStatus, SelectedGroup,
};
use sam_engine::pipeline::{PageSource, Pipeline, SpokeSource};
use sam_engine::store::Store;

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

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

async fn bench(users: usize) -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let sim = Simulator::start(SimConfig {
        users,
        rate_limit: RateLimitConfig::unlimited(),
        log_calls: false,
        ..SimConfig::default()
    })
    .await?;
    let sim_start = t.elapsed();
    let host = SpokeHost::new(HostOptions::default())?;
    let spoke = host.load_file(sam_tests::confluence_spoke_wasm()).await?;
    let group = sim
        .group_id("confluence-users")
        .ok_or("no confluence-users group")?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.redb");
    let store = Store::open(&db)?;
    let profile = IntegrationProfile {
        name: "bench".into(),
        display_name: "bench".into(),
        spoke_id: spoke.id().into(),
        spoke_path: sam_tests::confluence_spoke_wasm().into(),
        status: ProfileStatus::Draft,
        processes: ProcessSet::default(),
        analyze_from: None,
        config: vec![("cloud-id".into(), sim.cloud_id().into())],
        connection: "bench".into(),
        created_at: 0,
    };
    let connection = Connection {
        alias: "bench".into(),
        connection_url: sim.connection_url(),
        granted_hosts: vec!["127.0.0.1".into()],
        auth: AuthKind::StaticTokenEnv {
            variable: "-".into(),
        },
    };
    let groups = [SelectedGroup {
        profile: "bench".into(),
        group_id: group.clone(),
        name: None,
    }];
    store.write(|tx| tx.create_profile(&profile, &connection, &groups))?;
    let token = sim.mint_token(confluence_sim::CONNECTOR_SCOPES);
    let session = spoke.session(
        &sim.connection_url(),
        &["127.0.0.1".to_string()],
        Arc::new(StaticToken::new(token)),
    )?;
    let source = SpokeSource::new(
        spoke,
        session,
        Config {
            values: profile.config.clone(),
            selected_groups: vec![group],
        },
    );
    let rss_before = status_kib("VmRSS:");
    let pipeline = Pipeline::new(&store);

    let t = Instant::now();
    let download = pipeline.download_subscriptions(&source, "bench").await?;
    let download_time = t.elapsed();
    let t = Instant::now();
    let activity = pipeline.download_activity(&source, "bench").await?;
    let activity_time = t.elapsed();
    let peak = status_kib("VmHWM:");
    let phases = activity_phases(&source, &store).await?;
    drop(store);
    let db_size = std::fs::metadata(&db)?.len();

    println!("== {users} users (simulator generated in {sim_start:.2?}) ==");
    println!(
        "download:  {:>8.2?}  {} pages, {} subscriptions, {} API calls ({} retries)",
        download_time, download.pages, download.records_seen, download.api_calls, download.retries
    );
    println!(
        "activity:  {:>8.2?}  {} pages (scan + lookup batches), {} records, {} API calls ({} retries)",
        activity_time, activity.pages, activity.records_seen, activity.api_calls, activity.retries
    );
    println!(
        "  phase scan:   {:>8.2?}  {} calls ({} pages of changed content)",
        phases.scan_time, phases.scan_calls, phases.scan_pages
    );
    println!(
        "  phase lookup: {:>8.2?}  {} calls for {} members the scan did not see ({} batches)",
        phases.lookup_time, phases.lookup_calls, phases.unseen, phases.batches
    );
    println!(
        "memory:    RSS before runs {}, peak RSS (VmHWM, simulator included) {}",
        mib(rss_before),
        mib(peak)
    );
    println!(
        "database:  {:.1} MiB ({} bytes)",
        db_size as f64 / (1024.0 * 1024.0),
        db_size
    );
    sim.shutdown().await;
    Ok(())
}

/// The activity subflow's two phases, re-run directly through the spoke and timed apart: the
/// date-bounded scan, then the lookups (batches of 100, as the pipeline does) for the seat
/// holders the scan did not report.
struct Phases {
    scan_time: std::time::Duration,
    scan_calls: u64,
    scan_pages: u64,
    lookup_time: std::time::Duration,
    lookup_calls: u64,
    unseen: usize,
    batches: usize,
}

async fn activity_phases(
    source: &SpokeSource,
    store: &Store,
) -> Result<Phases, Box<dyn std::error::Error>> {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64
        - 60 * 86_400;
    let calls = || source.session().counts().requests;
    let mut seen = std::collections::HashSet::new();
    let (before, t) = (calls(), Instant::now());
    let mut cursor: Option<String> = None;
    let mut scan_pages = 0;
    loop {
        let page = source.activity(since, cursor.as_deref()).await?;
        scan_pages += 1;
        seen.extend(page.activities.into_iter().map(|a| a.external_user_id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let (scan_time, scan_calls) = (t.elapsed(), calls() - before);
    let unseen: Vec<String> = store
        .read()?
        .subscriptions("bench")?
        .into_iter()
        .map(|s| s.external_user_id)
        .filter(|id| !seen.contains(id))
        .collect();
    let (before, t) = (calls(), Instant::now());
    let mut batches = 0;
    for batch in unseen.chunks(100) {
        source.lookup(since, batch).await?;
        batches += 1;
    }
    Ok(Phases {
        scan_time,
        scan_calls,
        scan_pages,
        lookup_time: t.elapsed(),
        lookup_calls: calls() - before,
        unseen: unseen.len(),
        batches,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = sam_tests::bench_args()
        .skip(1)
        .map(|a| a.replace('_', "").parse())
        .collect::<Result<_, _>>()?;
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    for users in sizes {
        runtime.block_on(bench(users))?;
    }
    Ok(())
}
