//! `sam daemon [--listen ADDR] [--max-concurrent N] [--allow-host NAME] [--public-metrics]`:
//! holds the database, runs the published profiles' scheduled jobs (see [`crate::daemon`])
//! and serves the engine API ([`crate::daemon::http`]) on a loopback address, written to
//! `<db>.daemon` (with the local admin token in `<db>.token`, 0600) so the CLI finds it. On
//! SIGTERM or SIGINT it finishes the page in flight, commits and exits.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use clap::Args;

use super::profile::open_store;
use super::{CliError, write_out};
use crate::app::App;
use crate::app::jobs::EngineRunner;
use crate::config::Settings;
use crate::daemon::http::{Guard, runtime_file};
use crate::daemon::{Daemon, DaemonClock, DaemonOptions, SystemDaemonClock};
use crate::host::SpokeHost;

/// Arguments of `sam daemon`.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Loopback address to serve /healthz, /metrics and /runs on [default: config `listen`,
    /// 127.0.0.1:8977]; port 0 picks a free one.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Profiles running at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub max_concurrent: usize,
    /// Another name requests may address the daemon by (`host` or `host:port`, e.g. a
    /// reverse proxy's); repeatable. Requests for any other Host are refused.
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,
    /// Serve /metrics without a token (for a Prometheus on this machine).
    #[arg(long)]
    pub public_metrics: bool,
    /// Print the local admin token itself (`sam demo --serve`, for signing in).
    #[arg(skip)]
    pub print_token: bool,
}

pub(super) async fn run(
    host: &SpokeHost,
    settings: &Settings,
    args: DaemonArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let listen = args.listen.unwrap_or_else(|| settings.listen.clone());
    let addr: SocketAddr = listen
        .parse()
        .map_err(|e| CliError::User(format!("invalid listen address `{listen}`: {e}")))?;
    if !addr.ip().is_loopback() {
        return Err(CliError::User(format!(
            "the daemon listens on loopback only; `{addr}` is not a loopback address"
        )));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::Failure(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| CliError::Failure(e.to_string()))?;
    // Answer links in notices point at the console: the configured address, else ours.
    let mut settings = settings.clone();
    Arc::make_mut(&mut settings.console)
        .url
        .get_or_insert_with(|| format!("http://{bound}"));
    let settings = &settings;
    let store = Arc::new(open_store(Some(&settings.db))?);
    let clock: Arc<dyn DaemonClock> = Arc::new(SystemDaemonClock);
    let runner = Arc::new(EngineRunner::new(
        host.clone(),
        store.clone(),
        settings.clone(),
        clock.clone(),
    ));
    let daemon = Arc::new(Daemon::new(
        store.clone(),
        clock.clone(),
        runner.clone(),
        DaemonOptions {
            max_concurrent: args.max_concurrent.max(1),
            ..DaemonOptions::default()
        },
    ));
    let token_file = crate::app::tokens::ensure_local_admin(&store, clock.now())?;
    let runtime = runtime_file(&settings.db);
    std::fs::write(&runtime, format!("{bound}\n"))
        .map_err(|e| CliError::Failure(format!("cannot write {}: {e}", runtime.display())))?;
    write_out(
        out,
        &format!(
            "sam daemon listening on http://{bound} (API token for this machine's admin in {})\nweb console: {} (sign in with that token, or a password from `sam users add`)\n",
            token_file.display(),
            settings.console.url.as_deref().unwrap_or_default()
        ),
    )?;
    if args.print_token
        && let Some(token) = crate::app::tokens::read_local_token(&settings.db)
    {
        write_out(out, &format!("sign-in token: {token}\n"))?;
    }
    let _ = out.flush();
    tracing::info!(%bound, "daemon started");

    let signals = {
        let daemon = daemon.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("signal received: finishing the pages in flight");
            daemon.shutdown();
        })
    };
    let server = {
        let daemon = daemon.clone();
        let app = App::new(store.clone(), host.clone(), settings.clone(), clock.clone())
            .with_daemon(daemon.clone());
        let app = crate::daemon::http::router(
            app,
            Guard::new(bound, &args.allow_hosts, args.public_metrics),
        );
        tokio::spawn(async move {
            let stopping = async move {
                while !daemon.is_stopping() {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            };
            axum::serve(listener, app)
                .with_graceful_shutdown(stopping)
                .await
        })
    };
    // Reclaims an interrupted process left planned are finished before anything else.
    runner.finish_interrupted_reclaims().await;
    let outcome = daemon.run_loop(None).await;
    daemon.shutdown();
    let _ = std::fs::remove_file(&runtime);
    signals.abort();
    // In-flight requests (a `POST /runs` reclaim finishing its seat in flight) get their
    // answer: the seat's apply is bounded by the call deadline.
    let grace = host.limits().call_deadline + std::time::Duration::from_secs(30);
    let _ = tokio::time::timeout(grace, server).await;
    outcome.map_err(|e| CliError::Failure(e.to_string()))?;
    write_out(out, "sam daemon stopped\n")
}

pub(super) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
