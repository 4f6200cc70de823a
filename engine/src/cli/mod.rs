//! The `sam` command line: argument parsing (clap), the shared runtime and plugin host, and
//! one submodule per command group. Output goes to a writer passed in, so tests run commands
//! in-process; tables are for people, `--json` for scripts. Exit codes: 0 success, 2 a user
//! error (bad arguments, unreadable or invalid plugin), 3 an engine or vendor failure.

mod connect;
mod daemon;
mod db;
mod demo;
mod demo_github;
mod engine;
mod groups;
mod jobs;
mod key;
mod output;
mod plugin;
mod profile;
mod reclaim;
mod reconcile;
mod run;
mod users;
mod views;

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

    /// The TOML config file [default: $XDG_CONFIG_HOME/sam/config.toml, when it exists].
    #[arg(long, global = true, env = "SAM_CONFIG", value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// The key file that encrypts secrets at rest [default: $XDG_CONFIG_HOME/sam/key];
    /// SAM_KEY (64 hex digits) holds the key itself instead.
    #[arg(long, global = true, env = "SAM_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    /// The plugins folder (spoke components) [default: $XDG_DATA_HOME/sam/plugins].
    #[arg(long, global = true, env = "SAM_PLUGINS_DIR", value_name = "DIR")]
    pub plugins_dir: Option<PathBuf>,

    /// The zone times are shown in: `UTC`, an offset such as `+02:00`, a zone name such as
    /// `Europe/Paris` (from the system's tz database), or `local` (this machine's zone)
    /// [default: the config file's `tz`, else UTC].
    #[arg(long, global = true, env = "SAM_TZ", value_name = "ZONE")]
    pub tz: Option<String>,

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
    /// Review removal candidates: list, show, answer, approve, reject, reclaim.
    #[command(subcommand)]
    Candidates(reclaim::CandidatesCommand),
    /// Give a reclaimed seat back (by candidate id, or --audit with a reclaim's audit id).
    Undo(reclaim::UndoArgs),
    /// Exclusion rules: users or identifiers kept out of reclamation, license or both.
    #[command(subcommand)]
    Exclusions(reclaim::ExclusionsCommand),
    /// Reclamation rules, one per software model.
    #[command(subcommand)]
    Rules(reclaim::RulesCommand),
    /// Entitlements (rights bought, unit cost, term) and license cost overrides.
    #[command(subcommand)]
    Entitlements(reconcile::EntitlementsCommand),
    /// The license position per software model (latest, or one model's trend).
    Position(reconcile::PositionArgs),
    /// Connect a profile to its vendor site with OAuth 2.0 (3LO) consent.
    Connect(connect::ConnectArgs),
    /// List the site's groups and select a profile's product-access groups.
    #[command(subcommand)]
    Groups(groups::GroupsCommand),
    /// The scheduled jobs published profiles get.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// Run the published profiles' jobs on schedule; serve /healthz, /metrics and /runs.
    Daemon(daemon::DaemonArgs),
    /// The whole admin path against the bundled simulator: the README's first command.
    Demo(demo::DemoArgs),
    /// The database file: check, repair, backup, restore, migrate.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// The key that encrypts secrets at rest.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Seats: who holds which, with last activity and its source; one user's seats.
    #[command(subcommand)]
    Subscriptions(views::SubscriptionsCommand),
    /// Software models: their identifiers and active seats.
    #[command(subcommand)]
    Models(views::ModelsCommand),
    /// Subscription identifiers: the unrecognized queue, and mapping one to a model.
    #[command(subcommand)]
    Identifiers(views::IdentifiersCommand),
    /// The audit log: what sam changed, when, for whom.
    #[command(subcommand)]
    Audit(views::AuditCommand),
    /// API tokens of the daemon (roles: viewer, approver, admin).
    #[command(subcommand)]
    Tokens(views::TokensCommand),
    /// Web console users who sign in with a password (roles: viewer, approver, admin).
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Print the resolved settings (config file, environment, defaults).
    Config,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
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
    /// Whoever read the output stopped reading (`sam ... | head`): not a failure, the
    /// command ends quietly with success.
    #[error("the output was closed")]
    OutputClosed,
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::User(_) => 2,
            CliError::Failure(_) => 3,
            CliError::OutputClosed => 0,
        }
    }
}

/// Parses the process arguments and runs the command, printing to stdout and stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    quiet_store_panics();
    let mut stdout = std::io::stdout().lock();
    match run(cli, &mut stdout) {
        Ok(()) | Err(CliError::OutputClosed) => ExitCode::SUCCESS,
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
    let mut cli = cli;
    let settings = crate::config::Settings::load(&crate::config::Overrides {
        config_file: cli.config_file.clone(),
        db: cli.db.clone(),
        cache_dir: cli.cache_dir.clone(),
        plugins_dir: cli.plugins_dir.clone(),
        key_file: cli.key_file.clone(),
    })
    .map_err(|e| CliError::User(e.to_string()))?;
    cli.db = Some(settings.db.clone());
    cli.cache_dir = Some(settings.cache_dir.clone());
    crate::config::set_current(settings.clone());
    let db = cli.db.clone();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(dispatch(cli, settings, out))
    }));
    outcome.unwrap_or_else(|payload| {
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let line = text.lines().next().unwrap_or_default().to_string();
        Err(CliError::Failure(format!(
            "sam stopped on an internal error ({line}); if it came from the database {}, run `sam db check`",
            db.as_deref().map(|p| p.display().to_string()).unwrap_or_default()
        )))
    })
}

async fn dispatch(
    cli: Cli,
    settings: crate::config::Settings,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    {
        let zone = match (&cli.tz, &settings.tz) {
            (Some(tz), _) => Some((tz, "--tz".to_string())),
            (None, Some(tz)) => Some((
                tz,
                format!(
                    "tz in {}",
                    settings
                        .config_file
                        .as_deref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                ),
            )),
            (None, None) => None,
        };
        if let Some((tz, source)) = zone {
            let zone = crate::model::parse_zone(tz)
                .map_err(|e| CliError::User(format!("{source}: {e}")))?;
            crate::model::set_display_zone(zone);
        }
        let host = build_host(&cli)?;
        match cli.command {
            Command::Plugin(command) => plugin::run(&host, command, out).await,
            Command::Profile(command) => profile::run(&host, &settings, command, out).await,
            Command::Run(command) => run::run(&host, &settings, command, out).await,
            Command::Candidates(command) => {
                reclaim::candidates(&host, &settings, command, out).await
            }
            Command::Undo(args) => reclaim::undo(&host, &settings, args, out).await,
            Command::Exclusions(command) => {
                reclaim::exclusions(&host, &settings, command, out).await
            }
            Command::Rules(command) => reclaim::rules(&host, &settings, command, out).await,
            Command::Entitlements(command) => {
                reconcile::entitlements(&host, &settings, command, out).await
            }
            Command::Position(args) => reconcile::position(&host, &settings, args, out).await,
            Command::Connect(args) => connect::run(&host, &settings, args, out).await,
            Command::Groups(command) => groups::run(&host, &settings, command, out).await,
            Command::Jobs(command) => jobs::run(&host, &settings, command, out).await,
            Command::Daemon(args) => daemon::run(&host, &settings, args, out).await,
            Command::Demo(args) => demo::run(&host, &settings, args, out).await,
            Command::Key(command) => key::run(&host, &settings, command, out).await,
            Command::Db(command) => db::run(cli.db.as_deref(), command, out).await,
            Command::Subscriptions(command) => {
                let engine = engine::engine(&host, &settings, true).await?;
                views::subscriptions(&engine, command, out).await
            }
            Command::Models(command) => {
                let engine = engine::engine(&host, &settings, true).await?;
                views::models(&engine, command, out).await
            }
            Command::Identifiers(command) => {
                let read_only = matches!(command, views::IdentifiersCommand::List { .. });
                let engine = engine::engine(&host, &settings, read_only).await?;
                views::identifiers(&engine, command, out).await
            }
            Command::Audit(command) => {
                let engine = engine::engine(&host, &settings, true).await?;
                views::audit(&engine, command, out).await
            }
            Command::Tokens(command) => {
                let read_only = matches!(command, views::TokensCommand::List { .. });
                let engine = engine::engine(&host, &settings, read_only).await?;
                views::tokens(&engine, command, out).await
            }
            Command::Users(command) => {
                let read_only = matches!(command, users::UsersCommand::List { .. });
                let engine = engine::engine(&host, &settings, read_only).await?;
                users::run(&engine, command, out).await
            }
            Command::Config => write_out(out, &settings.describe()),
            Command::Completions { shell } => {
                // Generated into memory: clap_complete panics when its writer fails (a
                // closed pipe), `write_out` does not.
                let mut command = <Cli as clap::CommandFactory>::command();
                let mut script = Vec::new();
                clap_complete::generate(shell, &mut command, "sam", &mut script);
                write_out(out, &String::from_utf8_lossy(&script))
            }
        }
    }
}

/// Panics inside redb (a damaged database file) are contained at the store boundary and
/// reported as one line naming the file: the default hook's message and backtrace would only
/// repeat it, so it stays quiet for them. Every other panic is printed as before.
pub fn quiet_store_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_redb = info.location().is_some_and(|l| {
            let file = l.file().replace('\\', "/");
            file.contains("/redb-") || file.starts_with("redb-")
        });
        if !in_redb {
            default(info);
        }
    }));
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
    out.write_all(text.as_bytes()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            CliError::OutputClosed
        } else {
            CliError::Failure(format!("cannot write output: {e}"))
        }
    })
}

/// A stop flag raised by the first SIGTERM or SIGINT while a command runs (a reclaim or a
/// download then finishes the seat or page in flight, records it and returns); a second
/// signal exits at once. The listener ends when this is dropped.
pub(crate) struct StopOnSignal {
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl StopOnSignal {
    /// Starts listening.
    pub(crate) fn install() -> Self {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let raised = flag.clone();
        let task = tokio::spawn(async move {
            daemon::wait_for_signal().await;
            tracing::warn!("signal received: finishing the work in flight (again to exit now)");
            raised.store(true, std::sync::atomic::Ordering::SeqCst);
            daemon::wait_for_signal().await;
            std::process::exit(130);
        });
        Self { flag, task }
    }

    /// The flag.
    pub(crate) fn flag(&self) -> &std::sync::atomic::AtomicBool {
        &self.flag
    }
}

impl Drop for StopOnSignal {
    fn drop(&mut self) {
        self.task.abort();
    }
}
