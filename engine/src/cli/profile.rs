//! `sam profile …`: create, list and show integration profiles. `create` loads the spoke to
//! read its id and look-back, derives the connection & credential alias from the enabled
//! processes (parent alias) and the profile name (child alias), and stores the profile, its
//! connection (URL, granted hosts, the environment variable holding the bearer token — never
//! the token itself) and its selected groups. Also home of the `--db` helpers shared by the
//! commands that open the store.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::{CliError, write_out};
use crate::host::SpokeHost;
use crate::model::{
    AuthKind, Connection, DAY, IntegrationProfile, ProcessSet, ProfileStatus, SelectedGroup,
    format_utc, parse_date,
};
use crate::pipeline::{Clock, SystemClock};
use crate::store::{OpenError, Store, WriteError};

/// `sam profile` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Create an integration profile.
    Create(CreateArgs),
    /// List the profiles.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one profile, its connection, groups, counts and last runs.
    Show {
        /// The profile's name.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `sam profile create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Unique name of the profile.
    pub name: String,
    /// The spoke component (`.wasm`).
    #[arg(long, value_name = "FILE")]
    pub spoke: PathBuf,
    /// Base URL request paths are joined to (e.g. the vendor's connection URL).
    #[arg(long, value_name = "URL")]
    pub connection_url: String,
    /// A host to allow besides the spoke's manifest (e.g. a local simulator); repeatable.
    #[arg(long = "grant-host", value_name = "HOST")]
    pub grant_hosts: Vec<String>,
    /// A config value of the spoke (`key=value`); repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// A product-access group id; repeatable.
    #[arg(long = "group", value_name = "ID")]
    pub groups: Vec<String>,
    /// The environment variable holding the bearer token.
    #[arg(long, value_name = "VAR")]
    pub token_env: String,
    /// Name shown to admins [default: the name].
    #[arg(long)]
    pub display_name: Option<String>,
    /// Do not download activity.
    #[arg(long)]
    pub no_activity: bool,
    /// Do not reclaim subscriptions.
    #[arg(long)]
    pub no_reclaim: bool,
    /// Analyze activity from this date (YYYY-MM-DD) [default: the spoke's look-back].
    #[arg(long, value_name = "DATE")]
    pub analyze_from: Option<String>,
}

/// `$XDG_DATA_HOME/sam/sam.redb`, else `$HOME/.local/share/sam/sam.redb`.
pub fn default_db_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local").join("share"))
        })?;
    Some(base.join("sam").join("sam.redb"))
}

/// Opens the store at `db` (or the default path).
pub(super) fn open_store(db: Option<&Path>) -> Result<Store, CliError> {
    let path = match db {
        Some(p) => p.to_path_buf(),
        None => default_db_path().ok_or_else(|| {
            CliError::User("no --db given and no home directory to put the database in".into())
        })?,
    };
    Store::open(&path).map_err(|e| match e {
        OpenError::InUse { .. } | OpenError::NewerSchema { .. } => CliError::User(e.to_string()),
        other => CliError::Failure(other.to_string()),
    })
}

pub(super) fn store_failure(e: impl std::fmt::Display) -> CliError {
    CliError::Failure(e.to_string())
}

pub(super) async fn run(
    host: &SpokeHost,
    db: Option<&Path>,
    command: ProfileCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        ProfileCommand::Create(args) => create(host, db, args, out).await,
        ProfileCommand::List { json } => list(db, json, out),
        ProfileCommand::Show { name, json } => show(db, &name, json, out),
    }
}

async fn create(
    host: &SpokeHost,
    db: Option<&Path>,
    args: CreateArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if args.name.trim().is_empty() || args.name.chars().any(char::is_control) {
        return Err(CliError::User(
            "the profile name must be non-empty, without control characters".into(),
        ));
    }
    let mut config = Vec::new();
    for item in &args.config {
        let (k, v) = item.split_once('=').ok_or_else(|| {
            CliError::User(format!("--config {item:?} is not of the form key=value"))
        })?;
        config.push((k.trim().to_string(), v.to_string()));
    }
    if url::Url::parse(&args.connection_url).is_err() {
        return Err(CliError::User(format!(
            "--connection-url {:?} is not a URL",
            args.connection_url
        )));
    }
    let spoke_path = std::fs::canonicalize(&args.spoke)
        .map_err(|e| CliError::User(format!("cannot read spoke {}: {e}", args.spoke.display())))?;
    let spoke = host
        .load_file(&spoke_path)
        .await
        .map_err(|e| CliError::User(e.to_string()))?;
    let manifest = spoke.manifest();
    let now = SystemClock.now();
    let analyze_from = match &args.analyze_from {
        None => None,
        Some(text) => {
            let at = parse_date(text).ok_or_else(|| {
                CliError::User(format!("--analyze-from {text:?} is not a YYYY-MM-DD date"))
            })?;
            let limit = now - i64::from(manifest.activity_lookback_days) * DAY;
            if at < limit - DAY {
                return Err(CliError::User(format!(
                    "--analyze-from {text} is more than {} days back, the spoke's look-back limit",
                    manifest.activity_lookback_days
                )));
            }
            Some(at)
        }
    };
    let processes = ProcessSet {
        activity: !args.no_activity,
        reclaim: !args.no_reclaim,
    };
    let alias = format!("{}.{}.{}", manifest.id, processes.alias_suffix(), args.name);
    let profile = IntegrationProfile {
        name: args.name.clone(),
        display_name: args
            .display_name
            .clone()
            .unwrap_or_else(|| args.name.clone()),
        spoke_id: manifest.id.clone(),
        spoke_path: spoke_path.display().to_string(),
        status: ProfileStatus::Draft,
        processes,
        analyze_from,
        config,
        connection: alias.clone(),
        created_at: now,
    };
    let connection = Connection {
        alias,
        connection_url: args.connection_url.clone(),
        granted_hosts: args.grant_hosts.clone(),
        auth: AuthKind::StaticTokenEnv {
            variable: args.token_env.clone(),
        },
    };
    let groups: Vec<SelectedGroup> = args
        .groups
        .iter()
        .map(|g| SelectedGroup {
            profile: args.name.clone(),
            group_id: g.clone(),
            name: None,
        })
        .collect();
    let store = open_store(db)?;
    store
        .write(|tx| {
            tx.create_profile(&profile, &connection, &groups)?;
            tx.audit(
                now,
                Some(&profile.name),
                crate::model::AuditAction::ProfileCreated,
                format!(
                    "profile `{}` created for spoke `{}`",
                    profile.name, profile.spoke_id
                ),
                None,
            )?;
            Ok::<_, WriteError>(())
        })
        .map_err(|e| match e {
            WriteError::AlreadyExists { .. } | WriteError::InvalidKey(_) => {
                CliError::User(e.to_string())
            }
            other => store_failure(other),
        })?;
    write_out(
        out,
        &format!(
            "created profile `{}` (spoke {}, connection {})\n",
            profile.name, profile.spoke_id, profile.connection
        ),
    )
}

fn list(db: Option<&Path>, json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let store = open_store(db)?;
    let profiles = store
        .read()
        .and_then(|r| r.profiles())
        .map_err(store_failure)?;
    if json {
        let text = serde_json::to_string_pretty(&profiles).map_err(store_failure)?;
        return write_out(out, &format!("{text}\n"));
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(["Name", "Spoke", "Status", "Processes", "Connection"]);
    for p in &profiles {
        table.add_row([
            p.name.clone(),
            p.spoke_id.clone(),
            format!("{:?}", p.status),
            processes_text(p.processes),
            p.connection.clone(),
        ]);
    }
    write_out(out, &format!("{table}\n"))
}

fn processes_text(p: ProcessSet) -> String {
    let mut parts = vec!["download"];
    if p.activity {
        parts.push("activity");
    }
    if p.reclaim {
        parts.push("reclaim");
    }
    parts.join(", ")
}

fn show(db: Option<&Path>, name: &str, json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let store = open_store(db)?;
    let read = store.read().map_err(store_failure)?;
    let profile = read
        .profile(name)
        .map_err(store_failure)?
        .ok_or_else(|| CliError::User(format!("no profile named `{name}`")))?;
    let connection = read
        .connection(&profile.connection)
        .map_err(store_failure)?;
    let groups = read.selected_groups(name).map_err(store_failure)?;
    let (active, ended) = read.subscription_counts(name).map_err(store_failure)?;
    let jobs: Vec<_> = read
        .job_results()
        .map_err(store_failure)?
        .into_iter()
        .filter(|j| j.profile == name)
        .collect();
    let recent: Vec<_> = jobs.iter().rev().take(5).cloned().collect();
    if json {
        let doc = serde_json::json!({
            "profile": profile,
            "connection": connection,
            "selected_groups": groups,
            "subscriptions": { "active": active, "ended": ended },
            "recent_jobs": recent,
        });
        let text = serde_json::to_string_pretty(&doc).map_err(store_failure)?;
        return write_out(out, &format!("{text}\n"));
    }
    let mut text = format!(
        "Profile:      {}\nDisplay name: {}\nSpoke:        {} ({})\nStatus:       {:?}\nProcesses:    {}\nAnalyze from: {}\nCreated:      {}\n",
        profile.name,
        profile.display_name,
        profile.spoke_id,
        profile.spoke_path,
        profile.status,
        processes_text(profile.processes),
        profile
            .analyze_from
            .map_or("the spoke's look-back".to_string(), format_utc),
        format_utc(profile.created_at),
    );
    if let Some(c) = &connection {
        let auth = match &c.auth {
            AuthKind::StaticTokenEnv { variable } => format!("bearer token from ${variable}"),
            AuthKind::OAuth2 { .. } => "OAuth 2.0".to_string(),
        };
        text.push_str(&format!(
            "Connection:   {} -> {} ({auth})\n",
            c.alias, c.connection_url
        ));
    }
    for (k, v) in &profile.config {
        text.push_str(&format!("Config:       {k} = {v}\n"));
    }
    for g in &groups {
        text.push_str(&format!("Group:        {}\n", g.group_id));
    }
    text.push_str(&format!("Subscriptions: {active} active, {ended} ended\n"));
    for j in &recent {
        text.push_str(&format!(
            "Run {}: {} {:?}, {} pages, {} records, {} calls\n",
            j.id, j.process, j.status, j.pages, j.records_seen, j.api_calls
        ));
    }
    write_out(out, &text)
}
