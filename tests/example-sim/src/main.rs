//! The `example-sim` binary: starts an Example Seats simulator, prints its URL, account and a
//! token with both scopes, and serves until Ctrl-C, for developing a spoke by hand.

use clap::Parser;
use example_sim::{SCOPE_READ, SCOPE_WRITE, SimConfig, Simulator};

/// A simulator of the fictional Example Seats SaaS API.
#[derive(Debug, Parser)]
#[command(name = "example-sim", version)]
struct Args {
    /// Seats in the generated tenant.
    #[arg(long, default_value_t = 120)]
    seats: usize,
    /// Port on 127.0.0.1 (0 = a free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let sim = Simulator::start(SimConfig {
        seats: args.seats,
        port: args.port,
        ..SimConfig::default()
    })
    .await?;
    println!("url:     {}", sim.base_url());
    println!("account: {}", sim.account());
    println!("token:   {}", sim.mint_token(&[SCOPE_READ, SCOPE_WRITE]));
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
