//! The `sam` command line: argument parsing (clap), the shared runtime and plugin host, and
//! one submodule per command group. Output goes to a writer passed in, so tests run commands
//! in-process; tables are for people, `--json` for scripts. Exit codes: 0 success, 2 a user
//! error (bad arguments, unreadable or invalid plugin), 3 an engine or vendor failure.

mod plugin;
mod profile;
mod run;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::host::{HostOptions, SpokeHost};

/// sam: find unused SaaS seats, take them back safely, and reconcile against what was bought.
#[derive(Debug, Parser)]
#[command(name = "sam", version, about, long_about = None)]
pub struct Cli {
    /// Directory for compiled plugin artifacts [default: $XDG_CACHE_HOME/sam/compiled].
    #[arg(long, global = true, env = "SAM_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Compile plugins on every load instead of caching the compiled artifact.
    #[arg(long, global = true)]
    pub no_cache: bool,

    /// The database file [default: $XDG_DATA_HOME/sam/sam.redb].
    #[arg(long, global = true, env = "SAM_DB", value_name = "FILE")]
    pub db: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// The command groups.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect and check spoke plugins (WebAssembly components).
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Create, list and show integration profiles.
    #[command(subcommand)]
    Profile(profile::ProfileCommand),
    /// Run a subflow of a profile now.
    #[command(subcommand)]
    Run(run::RunCommand),
}

/// How a command failed, which decides the exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The user asked for something that cannot be done as asked.
    #[error("{0}")]
    User(String),
    /// The engine or a vendor failed.
    #[error("{0}")]
    Failure(String),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::User(_) => 2,
            CliError::Failure(_) => 3,
        }
    }
}

/// Parses the process arguments and runs the command, printing to stdout and stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let mut stdout = std::io::stdout().lock();
    match run(cli, &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = stdout.flush();
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// Runs one parsed command, writing its output to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failure(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let host = build_host(&cli)?;
        match cli.command {
            Command::Plugin(command) => plugin::run(&host, command, out).await,
            Command::Profile(command) => profile::run(&host, cli.db.as_deref(), command, out).await,
            Command::Run(command) => run::run(&host, cli.db.as_deref(), command, out).await,
        }
    })
}

fn build_host(cli: &Cli) -> Result<SpokeHost, CliError> {
    let cache_dir = if cli.no_cache {
        None
    } else {
        cli.cache_dir.clone().or_else(default_cache_dir)
    };
    SpokeHost::new(HostOptions {
        cache_dir,
        ..HostOptions::default()
    })
    .map_err(|e| CliError::Failure(e.to_string()))
}

/// `$XDG_CACHE_HOME/sam/compiled`, else `$HOME/.cache/sam/compiled`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("sam").join("compiled"))
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SAM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn write_out(out: &mut dyn Write, text: &str) -> Result<(), CliError> {
    out.write_all(text.as_bytes())
        .map_err(|e| CliError::Failure(format!("cannot write output: {e}")))
}
