//! The `confluence-sim` binary: starts one simulator from command-line flags (data set,
//! rate limits, latency and jitter, production rules, the organization API), prints its
//! base URLs, cloud id, OAuth client id and secret, org id and API key, a sample admin
//! token and the startup time, then serves until Ctrl-C. For runs by hand, demos and
//! benchmarks.

use std::time::Duration;

use clap::Parser;
use confluence_sim::{
    CONNECTOR_SCOPES, OrgConfig, ProductionRules, RateLimitConfig, SimConfig, Simulator,
};

/// Atlassian Confluence Cloud simulator (OAuth 2.0 3LO + REST v1).
#[derive(Debug, Parser)]
#[command(name = "confluence-sim", version)]
struct Args {
    /// Number of users (humans, bots and guests).
    #[arg(long, default_value_t = 500)]
    users: usize,
    /// Number of groups (at least 3).
    #[arg(long, default_value_t = 5)]
    groups: usize,
    /// Number of content items (default: 3 per user).
    #[arg(long)]
    content: Option<usize>,
    /// Seed of the generated data and credentials.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Share of bot accounts (accountType app).
    #[arg(long, default_value_t = 0.03)]
    bots: f64,
    /// Share of guest accounts.
    #[arg(long, default_value_t = 0.02)]
    guests: f64,
    /// Registered OAuth callback URL (repeatable).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// OAuth client id (default: derived from the seed).
    #[arg(long)]
    client_id: Option<String>,
    /// OAuth client secret (default: derived from the seed).
    #[arg(long)]
    client_secret: Option<String>,
    /// Access-token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    token_ttl: u64,
    /// Hourly points budget (default: min(100000 + 10 x users, 500000)).
    #[arg(long)]
    points_per_hour: Option<u64>,
    /// Disable rate limiting entirely.
    #[arg(long)]
    no_rate_limit: bool,
    /// Answer /authorize as if the user clicked "Deny".
    #[arg(long)]
    deny_consent: bool,
    /// Do not keep the per-call log (counters are still kept).
    #[arg(long)]
    no_call_log: bool,
    /// Latency added to every response, in milliseconds (a WAN by hand).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Up to this many more milliseconds per response, drawn uniformly (seeded).
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Share of human users seeded as suspended (left out of member listings).
    #[arg(long, default_value_t = 0.0)]
    suspended: f64,
    /// Writes need `X-Atlassian-Token: no-check` (403 "XSRF check failed" otherwise).
    #[arg(long)]
    require_xsrf_header: bool,
    /// Member adds need a JSON Content-Type (415 otherwise).
    #[arg(long)]
    require_json_content_type: bool,
    /// A member add answers 201 with an empty body declared as application/json.
    #[arg(long)]
    empty_201_declared_json: bool,
    /// Seed jira-admins, org-admins and a second product-access group.
    #[arg(long)]
    extra_groups: bool,
    /// Organization admin API: requests per minute per org (0 = unlimited).
    #[arg(long, default_value_t = 200)]
    org_rate_limit: u32,
    /// Organization admin API: data lag of last-active-dates, in hours.
    #[arg(long, default_value_t = 0)]
    org_data_lag_hours: u64,
    /// Share of users without recent edits who still read Confluence.
    #[arg(long, default_value_t = 0.4)]
    readers: f64,
    /// Organization API key (default: derived from the seed).
    #[arg(long)]
    org_api_key: Option<String>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut cfg = SimConfig {
        users: args.users,
        groups: args.groups,
        content_items: args.content,
        seed: args.seed,
        port: args.port,
        bot_fraction: args.bots,
        guest_fraction: args.guests,
        client_id: args.client_id,
        client_secret: args.client_secret,
        access_token_ttl: Duration::from_secs(args.token_ttl),
        deny_consent: args.deny_consent,
        log_calls: !args.no_call_log,
        latency: Duration::from_millis(args.latency_ms),
        jitter: Duration::from_millis(args.jitter_ms),
        suspended_fraction: args.suspended,
        rules: ProductionRules {
            require_xsrf_header: args.require_xsrf_header,
            require_json_content_type: args.require_json_content_type,
            empty_201_declared_json: args.empty_201_declared_json,
            extra_groups: args.extra_groups,
        },
        org: OrgConfig {
            requests_per_minute: args.org_rate_limit,
            data_lag: Duration::from_secs(args.org_data_lag_hours * 3600),
            reader_fraction: args.readers,
            api_key: args.org_api_key,
            ..OrgConfig::default()
        },
        ..SimConfig::default()
    };
    if !args.redirect_uris.is_empty() {
        cfg.redirect_uris = args.redirect_uris;
    }
    if args.no_rate_limit {
        cfg.rate_limit = RateLimitConfig::unlimited();
    } else if let Some(p) = args.points_per_hour {
        cfg.rate_limit.points_per_hour = Some(p);
    }
    let sim = match Simulator::start(cfg).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("confluence-sim: {e}");
            std::process::exit(1);
        }
    };
    let groups = sim.groups();
    println!("confluence-sim listening");
    println!("  base url          {}", sim.base_url());
    println!(
        "  auth base url     {}  (stands for https://auth.atlassian.com)",
        sim.auth_base_url()
    );
    println!(
        "  api base url      {}  (stands for https://api.atlassian.com)",
        sim.api_base_url()
    );
    println!("  connection url    {}", sim.connection_url());
    println!("  site url          {}", sim.site_url());
    println!("  cloud id          {}", sim.cloud_id());
    println!("  client id         {}", sim.client_id());
    println!("  client secret     {}", sim.client_secret());
    println!("  redirect uri      {}", sim.redirect_uri());
    println!(
        "  consenting user   {} (site admin: {})",
        sim.consenting_account_id(),
        sim.users().first().map(|u| u.site_admin).unwrap_or(false)
    );
    println!("  users             {}", args.users);
    println!("  content items     {}", sim.content_count());
    for g in &groups {
        println!(
            "  group             {} {} ({} members)",
            g.id, g.name, g.members
        );
    }
    println!(
        "  admin api base    {}  (stands for https://api.atlassian.com/admin)",
        sim.admin_base_url()
    );
    println!("  org id            {}", sim.org_id());
    println!("  org api key       {}", sim.org_api_key());
    println!(
        "  latency           {} ms + up to {} ms jitter per response",
        args.latency_ms, args.jitter_ms
    );
    println!("  startup time      {} ms", sim.startup_time().as_millis());
    println!("  admin token       {}", sim.mint_token(CONNECTOR_SCOPES));
    println!(
        "  (token scopes: {}; lifetime {} s)",
        CONNECTOR_SCOPES.join(" "),
        args.token_ttl
    );
    println!("Ctrl-C to stop.");
    let _ = tokio::signal::ctrl_c().await;
    sim.shutdown().await;
}
