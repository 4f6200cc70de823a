//! The `github-sim` binary: starts a simulator from command-line flags, prints what a
//! client needs (base URL, org, owner token, GitHub App ids and where to get its key), and
//! serves until Ctrl-C.

use std::time::Duration;

use clap::Parser;
use github_sim::{PlanType, RateLimitConfig, SimConfig, Simulator};

/// A GitHub REST simulator (Copilot seats, org members and teams, token and GitHub App auth).
#[derive(Debug, Parser)]
#[command(name = "github-sim", version)]
struct Args {
    /// Copilot seats in the generated organization.
    #[arg(long, default_value_t = 1000)]
    seats: usize,
    /// Members without a seat (default: a quarter of the seats).
    #[arg(long)]
    extra_members: Option<usize>,
    /// Number of teams (about half have Copilot assigned).
    #[arg(long, default_value_t = 8)]
    teams: usize,
    /// Seed of the generated organization, ids and app key.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Organization login.
    #[arg(long, default_value = "sam-sim")]
    org: String,
    /// Port on 127.0.0.1 (0 = a free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Copilot Enterprise instead of Business.
    #[arg(long)]
    enterprise: bool,
    /// Day of the month the billing cycle starts.
    #[arg(long, default_value_t = 1)]
    billing_cycle_day: u32,
    /// Delay added to every API response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Random extra delay (uniform 0..=jitter) per response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Requests per hour per user (classic and fine-grained tokens).
    #[arg(long, default_value_t = 5000)]
    user_rate_limit: u64,
    /// Requests per hour per installation token.
    #[arg(long, default_value_t = 5000)]
    installation_rate_limit: u64,
    /// Answer rate-limited requests with 429 instead of 403.
    #[arg(long)]
    limit_429: bool,
    /// Turn off the secondary (anti-abuse) limits.
    #[arg(long)]
    no_secondary_limit: bool,
    /// Turn off every rate limit.
    #[arg(long)]
    no_rate_limit: bool,
    /// GitHub App id.
    #[arg(long, default_value_t = 424_242)]
    app_id: u64,
    /// The app's RSA private key (PEM file); default: generated from the seed.
    #[arg(long)]
    app_key: Option<std::path::PathBuf>,
    /// Write the app's private key (PEM) to this file.
    #[arg(long)]
    export_app_key: Option<std::path::PathBuf>,
    /// Do not keep the per-call log (counters are still kept).
    #[arg(long)]
    no_call_log: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut rate = if args.no_rate_limit {
        RateLimitConfig::unlimited()
    } else {
        RateLimitConfig {
            user_per_hour: Some(args.user_rate_limit),
            installation_per_hour: Some(args.installation_rate_limit),
            ..RateLimitConfig::default()
        }
    };
    if args.no_secondary_limit {
        rate.secondary = None;
    }
    if args.limit_429 {
        rate.primary_status = github_sim::LimitStatus::TooMany;
        if let Some(s) = &mut rate.secondary {
            s.status = github_sim::LimitStatus::TooMany;
        }
    }
    let app_private_key_pem = match &args.app_key {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("github-sim: cannot read {}: {e}", p.display());
                std::process::exit(1);
            }
        },
        None => None,
    };
    let cfg = SimConfig {
        seed: args.seed,
        org: args.org,
        seats: args.seats,
        extra_members: args.extra_members,
        teams: args.teams,
        plan_type: if args.enterprise {
            PlanType::Enterprise
        } else {
            PlanType::Business
        },
        billing_cycle_day: args.billing_cycle_day,
        app_id: args.app_id,
        app_private_key_pem,
        rate_limit: rate,
        latency: Duration::from_millis(args.latency_ms),
        jitter: Duration::from_millis(args.jitter_ms),
        port: args.port,
        log_calls: !args.no_call_log,
        ..SimConfig::default()
    };
    let sim = match Simulator::start(cfg).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("github-sim: {e}");
            std::process::exit(1);
        }
    };
    if let Some(p) = &args.export_app_key
        && let Err(e) = std::fs::write(p, sim.app_private_key_pem())
    {
        eprintln!("github-sim: cannot write {}: {e}", p.display());
        std::process::exit(1);
    }
    let token = match sim.mint_classic_token(&["manage_billing:copilot", "admin:org"]) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("github-sim: {e}");
            std::process::exit(1);
        }
    };
    println!("github-sim listening");
    println!(
        "  base url          {}  (stands for https://api.github.com)",
        sim.base_url()
    );
    println!("  organization      {}", sim.org());
    println!("  seats             {}", sim.seat_count());
    println!("  teams             {}", sim.teams().len());
    println!("  owner             {}", sim.owner_login());
    println!("  owner token       {token}  (classic; scopes manage_billing:copilot, admin:org)");
    println!("  app id            {}", sim.app_id());
    println!("  app client id     {}", sim.app_client_id());
    println!("  installation id   {}", sim.installation_id());
    match &args.export_app_key {
        Some(p) => println!("  app private key   written to {}", p.display()),
        None => println!(
            "  app private key   GET {}/_sim/app (or --export-app-key FILE)",
            sim.base_url()
        ),
    }
    println!("  inspection api    {}/_sim/state", sim.base_url());
    println!("  startup time      {} ms", sim.startup_time().as_millis());
    println!("Ctrl-C to stop.");
    let _ = tokio::signal::ctrl_c().await;
    sim.shutdown().await;
}
