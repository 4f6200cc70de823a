//! `sam profile …`: the integration profile's life, as the reference guide walks it. `create`
//! stores a Draft profile for a spoke (a file, a bundled spoke or one in the plugins folder)
//! with its processes (download always; activity and reclaim on unless cleared), its
//! "analyze activity from" date and its connection & credential alias, derived from the
//! processes (parent alias) and the profile (child alias); the connection is OAuth (consent
//! with `sam connect`) unless `--token-env` names a variable holding a bearer token. `show`
//! prints the alias and the exact scopes the processes need. `set` changes settings; changing
//! the processes of a published profile returns it to Draft (deleting the activity job when
//! activity is cleared) and asks for validation again. `validate` calls the spoke's validate
//! for download and activity (never reclaim); `publish` needs a validation of the current
//! processes and creates the software models, the reclamation rules and the scheduled jobs.
//! `delete` removes subscriptions and jobs, closes removal candidates as Closed Skipped and
//! keeps rules. Every change is one transaction: all of it or nothing.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::{CliError, write_out};
use crate::app::session::{load_profile_spoke, open_profile_session, resolve_spoke};
use crate::auth::{self, enabled_processes, required_scopes};
use crate::config::Settings;
use crate::contract::{Manifest, Process};
use crate::host::SpokeHost;
use crate::model::{
    AuditAction, AuthKind, Connection, CredentialStatus, DAY, EpochSeconds, IntegrationProfile,
    ProcessSet, ProfileStatus, ProfileValidation, ScheduledJob, SelectedGroup, SoftwareModel,
    ValidationCheckRecord, format_utc,
};
use crate::pipeline::{Clock, SystemClock};
use crate::store::{OpenError, Store, WriteError, WriteTx};

/// `sam profile` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Create an integration profile (Draft).
    Create(CreateArgs),
    /// List the profiles.
    List {
        #[command(flatten)]
        format: super::output::ListFormat,
    },
    /// Show one profile: status, processes, alias and scopes, connection, groups, jobs, runs.
    Show {
        /// The profile's name.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Change a profile's settings.
    Set(SetArgs),
    /// Show or set the operator's limits for a profile's runs (sandbox and pipeline): with
    /// NAME=VALUE pairs sets them (`memory=512MiB deadline=120s pages=5000`), with --reset
    /// returns them to the default; always prints every limit, its value and its default.
    Limits {
        /// The profile's name.
        name: String,
        /// Limits to set, as NAME=VALUE.
        #[arg(value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Limits to return to their default (`all` for every one); repeatable.
        #[arg(long = "reset", value_name = "NAME")]
        reset: Vec<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Verify the connection: the download and activity APIs answer (reclaim is not called).
    Validate {
        /// The profile's name.
        name: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Publish a validated profile: create its software models, reclamation rules and
    /// scheduled jobs.
    Publish {
        /// The profile's name.
        name: String,
    },
    /// Delete a profile: its subscriptions and jobs go, its removal candidates are closed as
    /// Closed Skipped, reclamation rules stay.
    Delete {
        /// The profile's name.
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// Arguments of `sam profile create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Unique name of the profile.
    pub name: String,
    /// The spoke: a component file (`.wasm`), a spoke in the plugins folder or a bundled
    /// spoke (`confluence-cloud`).
    #[arg(long, value_name = "SPOKE")]
    pub spoke: PathBuf,
    /// Base URL request paths are joined to [default: the spoke's template, filled from
    /// --config, or by `sam connect`].
    #[arg(long, value_name = "URL")]
    pub connection_url: Option<String>,
    /// A host to allow besides the spoke's manifest (e.g. a local simulator); repeatable.
    #[arg(long = "grant-host", value_name = "HOST")]
    pub grant_hosts: Vec<String>,
    /// A config value of the spoke (`key=value`); repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// A product-access group id; repeatable (or use `sam groups add`).
    #[arg(long = "group", value_name = "ID")]
    pub groups: Vec<String>,
    /// Use a bearer token read from this environment variable instead of OAuth.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// Authenticate as an app installation (a GitHub App): the app's id or client id.
    #[arg(long, value_name = "ID", requires_all = ["installation_id", "app_key_file"], conflicts_with = "token_env")]
    pub app_id: Option<String>,
    /// The app installation's id (with --app-id).
    #[arg(long, value_name = "ID", requires = "app_id")]
    pub installation_id: Option<String>,
    /// The app's private key, PEM (with --app-id); stored sealed with sam's key.
    #[arg(long, value_name = "FILE", requires = "app_id")]
    pub app_key_file: Option<std::path::PathBuf>,
    /// Name shown to admins and in job names [default: the name].
    #[arg(long)]
    pub display_name: Option<String>,
    /// Do not download activity.
    #[arg(long)]
    pub no_activity: bool,
    /// Do not reclaim subscriptions (removal candidates are still created).
    #[arg(long)]
    pub no_reclaim: bool,
    /// Analyze activity from this date-time (RFC 3339 with its zone, e.g.
    /// 2026-10-01T08:30:00+02:00) or date (YYYY-MM-DD, UTC) [default: the spoke's look-back,
    /// 60 days for Confluence, to the second from each run's start].
    #[arg(long, value_name = "DATE-TIME")]
    pub analyze_from: Option<String>,
}

/// Arguments of `sam profile set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The profile's name.
    pub name: String,
    /// New display name.
    #[arg(long)]
    pub display_name: Option<String>,
    /// Download activity: on or off.
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    pub activity: Option<bool>,
    /// Reclaim subscriptions: on or off.
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    pub reclaim: Option<bool>,
    /// Analyze activity from this date-time (RFC 3339 with its zone) or date (YYYY-MM-DD), or
    /// `default`.
    #[arg(long, value_name = "DATE-TIME")]
    pub analyze_from: Option<String>,
    /// A config value of the spoke (`key=value`); repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
}

fn parse_on_off(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        other => Err(format!("{other:?} is not on or off")),
    }
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

/// The database path: `db`, or the default path.
pub(super) fn db_path(db: Option<&Path>) -> Result<PathBuf, CliError> {
    match db {
        Some(p) => Ok(p.to_path_buf()),
        None => default_db_path().ok_or_else(|| {
            CliError::User("no --db given and no home directory to put the database in".into())
        }),
    }
}

/// An open error as a CLI error: what the admin can fix is a user error.
pub(super) fn open_failure(e: OpenError) -> CliError {
    match e {
        OpenError::InUse { .. }
        | OpenError::NewerSchema { .. }
        | OpenError::OlderSchema { .. }
        | OpenError::NotADatabase { .. } => CliError::User(e.to_string()),
        other => CliError::Failure(other.to_string()),
    }
}

/// Opens the store at `db` (or the default path) for a command that writes.
pub(super) fn open_store(db: Option<&Path>) -> Result<Store, CliError> {
    Store::open(db_path(db)?).map_err(open_failure)
}

/// Opens the store at `db` (or the default path) for a command that only reads: nothing is
/// written to the file, and a missing file reads as an empty database.
pub(super) fn open_read_store(db: Option<&Path>) -> Result<Store, CliError> {
    Store::open_read_only(db_path(db)?).map_err(open_failure)
}

pub(super) fn store_failure(e: impl std::fmt::Display) -> CliError {
    CliError::Failure(e.to_string())
}

/// A write error: user errors for what the admin asked wrong, failures for the rest.
pub(super) fn write_failure(e: WriteError) -> CliError {
    match e {
        WriteError::AlreadyExists { .. }
        | WriteError::InvalidKey(_)
        | WriteError::NotFound { .. } => CliError::User(e.to_string()),
        other => store_failure(other),
    }
}

fn settings() -> Result<Arc<Settings>, CliError> {
    crate::config::current().map_err(|e| CliError::User(e.to_string()))
}

pub(super) async fn run(
    host: &SpokeHost,
    db: Option<&Path>,
    command: ProfileCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        ProfileCommand::Create(args) => create(host, db, args, out).await,
        ProfileCommand::List { format } => list(db, format, out),
        ProfileCommand::Show { name, json } => show(host, db, &name, json, out).await,
        ProfileCommand::Set(args) => set(host, db, args, out).await,
        ProfileCommand::Limits {
            name,
            set,
            reset,
            json,
        } => limits(host, db, &name, &set, &reset, json, out),
        ProfileCommand::Validate { name, json } => {
            let store = Arc::new(open_store(db)?);
            validate(host, &store, &*settings()?, &name, json, out).await
        }
        ProfileCommand::Publish { name } => {
            let store = open_store(db)?;
            publish(host, &store, &name, out).await
        }
        ProfileCommand::Delete { name, yes } => delete(db, &name, yes, out),
    }
}

fn parse_config(items: &[String]) -> Result<Vec<(String, String)>, CliError> {
    items
        .iter()
        .map(|item| {
            let (k, v) = item.split_once('=').ok_or_else(|| {
                CliError::User(format!("--config {item:?} is not of the form key=value"))
            })?;
            Ok((k.trim().to_string(), v.to_string()))
        })
        .collect()
}

fn parse_analyze_from(
    text: &str,
    manifest: &Manifest,
    now: EpochSeconds,
) -> Result<Option<EpochSeconds>, CliError> {
    if text == "default" {
        return Ok(None);
    }
    let (at, bare_date) = crate::model::parse_instant(text).ok_or_else(|| {
        CliError::User(format!(
            "--analyze-from {text:?} is neither a date-time with its zone (RFC 3339, e.g. 2026-10-01T08:30:00+02:00) nor a YYYY-MM-DD date"
        ))
    })?;
    // The look-back is exact: a date-time must be inside it to the second. A bare date is
    // accepted when any of its day is (a run then starts no earlier than the look-back
    // allows at its own start: the pipeline clamps the window).
    let limit = now - i64::from(manifest.activity_lookback_days) * DAY;
    let earliest = if bare_date { limit - DAY + 1 } else { limit };
    if at < earliest {
        return Err(CliError::User(format!(
            "--analyze-from {text} is more than {} days back, the spoke's look-back limit: pick a later date",
            manifest.activity_lookback_days
        )));
    }
    if at > now + DAY {
        return Err(CliError::User(format!(
            "--analyze-from {text} is in the future"
        )));
    }
    Ok(Some(at))
}

/// Refuses a display name another profile uses (job names are made from it).
fn check_display_name(tx: &WriteTx, name: &str, display_name: &str) -> Result<(), CliError> {
    if display_name.trim().is_empty() || display_name.chars().any(char::is_control) {
        return Err(CliError::User(
            "the display name must be non-empty, without control characters".into(),
        ));
    }
    let taken = tx
        .all_profiles()
        .map_err(store_failure)?
        .into_iter()
        .any(|p| p.name != name && p.display_name == display_name);
    if taken {
        return Err(CliError::User(format!(
            "another profile is already displayed as `{display_name}` (job names are made from it): choose another --display-name"
        )));
    }
    Ok(())
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
    let settings = settings()?;
    let config = parse_config(&args.config)?;
    if let Some(url) = &args.connection_url
        && url::Url::parse(url).is_err()
    {
        return Err(CliError::User(format!(
            "--connection-url {url:?} is not a URL"
        )));
    }
    let spoke_path = resolve_spoke(&args.spoke, &settings)?;
    let spoke = load_profile_spoke(host, &spoke_path).await?;
    let manifest = spoke.manifest().clone();
    let now = SystemClock.now();
    let analyze_from = match &args.analyze_from {
        None => None,
        Some(text) => parse_analyze_from(text, &manifest, now)?,
    };
    let processes = ProcessSet {
        activity: !args.no_activity,
        reclaim: !args.no_reclaim,
    };
    let alias = auth::child_alias(&manifest.id, processes, &args.name);
    let auth_kind = match (&args.token_env, &args.app_id) {
        (_, Some(app_id)) => crate::app::session::app_installation_auth(
            &settings,
            &manifest,
            &alias,
            app_id,
            args.installation_id.as_deref().unwrap_or_default(),
            args.app_key_file.as_deref(),
        )?,
        (Some(variable), None) => AuthKind::StaticTokenEnv {
            variable: variable.clone(),
        },
        (None, None) => {
            if auth::oauth_scheme(&manifest).is_none() {
                return Err(CliError::User(format!(
                    "spoke `{}` authenticates with a bearer token: pass --token-env VAR",
                    manifest.id
                )));
            }
            AuthKind::OAuth2 {
                credential_key: format!("{}.{}", manifest.id, args.name),
                scopes: required_scopes(&manifest, processes),
            }
        }
    };
    let connection_url = match &args.connection_url {
        Some(url) => url.clone(),
        None => {
            let (url, missing) =
                auth::fill_template(&manifest.connection_url_template, &config, None);
            if !missing.is_empty() && (args.token_env.is_some() || args.app_id.is_some()) {
                return Err(CliError::User(format!(
                    "give --connection-url, or --config {}=... to fill the spoke's connection URL {}",
                    missing.join("=... --config "),
                    manifest.connection_url_template
                )));
            }
            url
        }
    };
    let display_name = args
        .display_name
        .clone()
        .unwrap_or_else(|| args.name.clone());
    let profile = IntegrationProfile {
        name: args.name.clone(),
        display_name: display_name.clone(),
        spoke_id: manifest.id.clone(),
        spoke_path,
        status: ProfileStatus::Draft,
        processes,
        analyze_from,
        config,
        connection: alias.clone(),
        created_at: now,
    };
    let connection = Connection {
        alias,
        connection_url,
        granted_hosts: args.grant_hosts.clone(),
        auth: auth_kind,
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
    let tx = store.begin_write().map_err(store_failure)?;
    check_display_name(&tx, &profile.name, &display_name)?;
    let pin =
        crate::host::trust::pin_for(&profile.name, &spoke, now, crate::model::PinOrigin::Created);
    let written = (|| {
        tx.create_profile(&profile, &connection, &groups)?;
        tx.put_plugin_pin(&pin)?;
        tx.audit(
            now,
            Some(&profile.name),
            AuditAction::ProfileCreated,
            format!(
                "profile `{}` created for spoke `{}`",
                profile.name, profile.spoke_id
            ),
            None,
        )?;
        Ok::<_, WriteError>(())
    })();
    written.map_err(write_failure)?;
    tx.commit().map_err(store_failure)?;
    let next = match &connection.auth {
        AuthKind::OAuth2 { .. } => format!(
            "next: sam connect {} --client-id ID --client-secret-env VAR",
            profile.name
        ),
        AuthKind::StaticTokenEnv { .. } | AuthKind::AppInstallation { .. } => {
            format!("next: sam profile validate {}", profile.name)
        }
    };
    write_out(
        out,
        &format!(
            "created profile `{}` (spoke {}, Draft, connection {})\n{next}\n",
            profile.name, profile.spoke_id, profile.connection
        ),
    )
}

fn list(
    db: Option<&Path>,
    format: super::output::ListFormat,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let store = open_read_store(db)?;
    let profiles = store
        .read()
        .and_then(|r| r.profiles())
        .map_err(store_failure)?;
    let rows: Vec<Vec<String>> = profiles
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.display_name.clone(),
                p.spoke_id.clone(),
                format!("{:?}", p.status),
                processes_text(p.processes),
                p.connection.clone(),
            ]
        })
        .collect();
    super::output::Listing {
        records: &profiles,
        header: &[
            "Name",
            "Display name",
            "Spoke",
            "Status",
            "Processes",
            "Connection",
        ],
        rows,
        footer: None,
    }
    .print(format, out)
}

pub(super) fn processes_text(p: ProcessSet) -> String {
    let mut parts = vec!["download"];
    if p.activity {
        parts.push("activity");
    }
    if p.reclaim {
        parts.push("reclaim");
    }
    parts.join(", ")
}

async fn show(
    host: &SpokeHost,
    db: Option<&Path>,
    name: &str,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let store = open_read_store(db)?;
    let read = store.read().map_err(store_failure)?;
    let profile = read
        .profile(name)
        .map_err(store_failure)?
        .ok_or_else(|| CliError::User(format!("no profile named `{name}`")))?;
    let connection = read
        .connection(&profile.connection)
        .map_err(store_failure)?;
    let oauth = match connection.as_ref().map(|c| &c.auth) {
        Some(AuthKind::OAuth2 { credential_key, .. }) => read
            .oauth_connection(credential_key)
            .map_err(store_failure)?,
        _ => None,
    };
    let validation = read.validation(name).map_err(store_failure)?;
    let groups = read.selected_groups(name).map_err(store_failure)?;
    let (active, ended) = read.subscription_counts(name).map_err(store_failure)?;
    let jobs: Vec<_> = read
        .scheduled_jobs()
        .map_err(store_failure)?
        .into_iter()
        .filter(|j| j.profile == name)
        .collect();
    let runs: Vec<_> = read
        .job_results()
        .map_err(store_failure)?
        .into_iter()
        .filter(|j| j.profile == name)
        .collect();
    drop(read);
    drop(store);
    let recent: Vec<_> = runs.iter().rev().take(5).cloned().collect();
    // The scopes come from the spoke's manifest (the processes' rows plus base scopes).
    let scopes = match load_profile_spoke(host, &profile.spoke_path).await {
        Ok(spoke) => required_scopes(spoke.manifest(), profile.processes),
        Err(_) => match connection.as_ref().map(|c| &c.auth) {
            Some(AuthKind::OAuth2 { scopes, .. }) => scopes.clone(),
            _ => Vec::new(),
        },
    };
    let parent_alias = auth::parent_alias(&profile.spoke_id, profile.processes);
    let validated = validation
        .as_ref()
        .is_some_and(|v| v.processes == profile.processes && v.connection == profile.connection);
    if json {
        let oauth_doc = oauth.as_ref().map(|o| {
            serde_json::json!({
                "client_id": o.client_id,
                "redirect_uri": o.redirect_uri,
                "endpoints": o.endpoints,
                "status": o.status,
                "site": o.site,
                "requested_scopes": o.requested_scopes,
                "granted_scopes": o.granted_scopes,
                "access_expires_at": o.access_expires_at,
                "connected_at": o.connected_at,
                "refreshed_at": o.refreshed_at,
                "refresh_count": o.refresh_count,
            })
        });
        let doc = serde_json::json!({
            "profile": profile,
            "alias": { "parent": parent_alias, "child": profile.connection },
            "scopes": scopes,
            "connection": connection,
            "oauth": oauth_doc,
            "validated": validated,
            "validation": validation,
            "selected_groups": groups,
            "scheduled_jobs": jobs,
            "subscriptions": { "active": active, "ended": ended },
            "recent_jobs": recent,
        });
        let text = serde_json::to_string_pretty(&doc).map_err(store_failure)?;
        return write_out(out, &format!("{text}\n"));
    }
    let mut text = format!(
        "Profile:      {}\nDisplay name: {}\nSpoke:        {} ({})\nStatus:       {:?}\nProcesses:    {}\nAnalyze from: {}\nCreated:      {}\nAlias:        {} (parent {})\nScopes:       {}\n",
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
        profile.connection,
        parent_alias,
        scopes.join(" "),
    );
    if let Some(c) = &connection {
        let auth = match &c.auth {
            AuthKind::StaticTokenEnv { variable } => format!("bearer token from ${variable}"),
            AuthKind::OAuth2 { .. } => "OAuth 2.0 (3LO)".to_string(),
            AuthKind::AppInstallation {
                app_id,
                installation_id,
                ..
            } => format!("app {app_id}, installation {installation_id}"),
        };
        text.push_str(&format!("Connection:   {} ({auth})\n", c.connection_url));
    }
    if let Some(o) = &oauth {
        let status = match &o.status {
            CredentialStatus::NotConnected => "not connected: run `sam connect`".to_string(),
            CredentialStatus::Connected => "connected".to_string(),
            CredentialStatus::ReconsentNeeded(why) => {
                format!("re-consent needed ({why}): run `sam connect {name}`")
            }
        };
        text.push_str(&format!("OAuth:        {status}\n"));
        text.push_str(&format!("  client id:   {}\n", o.client_id));
        text.push_str(&format!("  redirect:    {}\n", o.redirect_uri));
        if let Some(site) = &o.site {
            text.push_str(&format!(
                "  site:        {} ({}, cloud id {})\n",
                site.url, site.name, site.id
            ));
        }
        if !o.granted_scopes.is_empty() {
            text.push_str(&format!("  granted:     {}\n", o.granted_scopes.join(" ")));
        }
        if let Some(at) = o.access_expires_at {
            text.push_str(&format!(
                "  token:       expires {} (refreshed {} times)\n",
                format_utc(at),
                o.refresh_count
            ));
        }
    }
    text.push_str(&format!(
        "Validated:    {}\n",
        match &validation {
            Some(v) if validated => format!("yes, {}", format_utc(v.validated_at)),
            Some(_) =>
                "no (the processes or connection changed since): run `sam profile validate`".into(),
            None => "no: run `sam profile validate`".into(),
        }
    ));
    for (k, v) in &profile.config {
        text.push_str(&format!("Config:       {k} = {v}\n"));
    }
    for g in &groups {
        match &g.name {
            Some(n) => text.push_str(&format!("Group:        {} ({n})\n", g.group_id)),
            None => text.push_str(&format!("Group:        {}\n", g.group_id)),
        }
    }
    for j in &jobs {
        text.push_str(&format!(
            "Job:          {} (schedule `{}`, next {})\n",
            j.name,
            j.schedule,
            format_utc(j.next_run)
        ));
    }
    text.push_str(&format!("Subscriptions: {active} active, {ended} ended\n"));
    for j in &recent {
        text.push_str(&format!(
            "Run {}: {} {}, {} pages, {} records, {} calls\n",
            j.id,
            j.process,
            j.status.name(),
            j.pages,
            j.records_seen,
            j.api_calls
        ));
        for error in &j.errors {
            text.push_str(&format!("  error: {error}\n"));
        }
    }
    write_out(out, &text)
}

/// `sam profile limits`: reads (read-only) or changes (one transaction, audited) a profile's
/// limits, then prints them all.
fn limits(
    host: &SpokeHost,
    db: Option<&Path>,
    name: &str,
    assignments: &[String],
    resets: &[String],
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    use crate::pipeline::limits as pl;
    let base = host.limits();
    let user = |e: pl::LimitError| CliError::User(e.to_string());
    let (stored, changes) = if assignments.is_empty() && resets.is_empty() {
        let store = open_read_store(db)?;
        let read = store.read().map_err(store_failure)?;
        if read.profile(name).map_err(store_failure)?.is_none() {
            return Err(CliError::User(format!("no profile named `{name}`")));
        }
        (
            read.profile_limits(name).map_err(store_failure)?,
            Vec::new(),
        )
    } else {
        let store = open_store(db)?;
        let now = SystemClock.now();
        let tx = store.begin_write().map_err(store_failure)?;
        if tx.profile(name).map_err(write_failure)?.is_none() {
            return Err(CliError::User(format!("no profile named `{name}`")));
        }
        let mut stored = tx.profile_limits(name).map_err(write_failure)?;
        let mut changes: Vec<String> = pl::reset(&mut stored, resets)
            .map_err(user)?
            .into_iter()
            .map(|n| format!("{n}: back to the default"))
            .collect();
        changes.extend(pl::set(&mut stored, assignments, base).map_err(user)?);
        tx.put_profile_limits(&stored).map_err(write_failure)?;
        tx.audit(
            now,
            Some(name),
            AuditAction::LimitsChanged,
            format!("limits of profile `{name}`: {}", changes.join(", ")),
            None,
        )
        .map_err(write_failure)?;
        tx.commit().map_err(store_failure)?;
        (stored, changes)
    };
    let rows = pl::rows(&stored, base);
    if json {
        let text = serde_json::to_string_pretty(&serde_json::json!({
            "profile": name,
            "changed": changes,
            "limits": rows,
        }))
        .map_err(|e| CliError::Failure(format!("cannot encode JSON: {e}")))?;
        return write_out(out, &format!("{text}\n"));
    }
    let mut text = String::new();
    for change in &changes {
        text.push_str(&format!("{change}\n"));
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(110)
        .set_header(["Limit", "Value", "Default", "Bounds"]);
    for row in &rows {
        let value = if row.set {
            format!("{} (set)", row.value)
        } else {
            row.value.clone()
        };
        table.add_row([row.name, value.as_str(), row.default.as_str(), row.what]);
    }
    text.push_str(&format!("Limits of profile `{name}`\n{table}\n"));
    write_out(out, &text)
}

async fn set(
    host: &SpokeHost,
    db: Option<&Path>,
    args: SetArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let store = open_store(db)?;
    let profile = store
        .read()
        .and_then(|r| r.profile(&args.name))
        .map_err(store_failure)?
        .ok_or_else(|| CliError::User(format!("no profile named `{}`", args.name)))?;
    let spoke = crate::app::session::load_trusted_spoke(host, &store, &profile).await?;
    let manifest = spoke.manifest().clone();
    let now = SystemClock.now();
    let mut updated = profile.clone();
    let mut notes: Vec<String> = Vec::new();
    if let Some(d) = &args.display_name {
        updated.display_name = d.clone();
    }
    if let Some(a) = args.activity {
        updated.processes.activity = a;
    }
    if let Some(r) = args.reclaim {
        updated.processes.reclaim = r;
    }
    if let Some(text) = &args.analyze_from {
        updated.analyze_from = parse_analyze_from(text, &manifest, now)?;
    }
    for (k, v) in parse_config(&args.config)? {
        updated.config.retain(|(key, _)| key != &k);
        updated.config.push((k, v));
    }
    if updated == profile {
        return write_out(out, &format!("profile `{}` unchanged\n", profile.name));
    }
    let processes_changed = updated.processes != profile.processes;
    let tx = store.begin_write().map_err(store_failure)?;
    check_display_name(&tx, &updated.name, &updated.display_name)?;
    let result = (|| -> Result<(), WriteError> {
        if processes_changed {
            let new_alias = auth::child_alias(&manifest.id, updated.processes, &updated.name);
            let scopes = required_scopes(&manifest, updated.processes);
            if let Some(mut connection) = tx.connection(&profile.connection)? {
                tx.delete_connection(&connection.alias)?;
                connection.alias = new_alias.clone();
                if let AuthKind::OAuth2 {
                    credential_key,
                    scopes: wanted,
                } = &mut connection.auth
                {
                    *wanted = scopes.clone();
                    if let Some(mut record) = tx.oauth_connection(credential_key)? {
                        let missing: Vec<&String> = scopes
                            .iter()
                            .filter(|s| !record.granted_scopes.contains(s))
                            .collect();
                        if !missing.is_empty() && record.status == CredentialStatus::Connected {
                            let why = format!(
                                "the processes now need scope(s) {} that were not granted",
                                missing
                                    .iter()
                                    .map(|s| s.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            );
                            notes.push(format!("{why}: run `sam connect {}`", updated.name));
                            record.status = CredentialStatus::ReconsentNeeded(why);
                            tx.put_oauth_connection(&record)?;
                        }
                    }
                }
                tx.put_connection(&connection)?;
            }
            updated.connection = new_alias;
            notes.push(format!(
                "connection & credential alias is now {} (scopes: {})",
                updated.connection,
                scopes.join(" ")
            ));
            tx.clear_validation(&updated.name)?;
            if profile.status == ProfileStatus::Published {
                updated.status = ProfileStatus::Draft;
                tx.audit(
                    now,
                    Some(&updated.name),
                    AuditAction::ProfileUnpublished,
                    "processes changed after publishing: back to Draft",
                    None,
                )?;
                notes.push(format!(
                    "the processes changed after publishing, so the profile is Draft again: run `sam profile validate {0}` then `sam profile publish {0}`",
                    updated.name
                ));
            } else {
                notes.push(format!(
                    "validate again: sam profile validate {}",
                    updated.name
                ));
            }
            if profile.processes.activity && !updated.processes.activity {
                let job = job_name(&profile.display_name, "Activity");
                if tx.delete_scheduled_job(&job)? {
                    notes.push(format!("deleted job `{job}`"));
                }
            }
        }
        if updated.display_name != profile.display_name {
            for mut job in tx.scheduled_jobs_of(&updated.name)? {
                let old = job.name.clone();
                job.name = old.replacen(&profile.display_name, &updated.display_name, 1);
                tx.delete_scheduled_job(&old)?;
                tx.put_scheduled_job(&job)?;
            }
        }
        tx.put_profile(&updated)?;
        tx.audit(
            now,
            Some(&updated.name),
            AuditAction::ProfileChanged,
            format!("profile `{}` changed", updated.name),
            None,
        )?;
        Ok(())
    })();
    result.map_err(write_failure)?;
    tx.commit().map_err(store_failure)?;
    let mut text = format!(
        "updated profile `{}` ({:?}, processes: {})\n",
        updated.name,
        updated.status,
        processes_text(updated.processes)
    );
    for n in notes {
        text.push_str(&format!("  {n}\n"));
    }
    write_out(out, &text)
}

/// The processes `validate` checks: the enabled ones except reclaim (never written to).
fn validated_processes(processes: ProcessSet) -> Vec<Process> {
    enabled_processes(processes)
        .into_iter()
        .filter(|p| *p != Process::Reclaim)
        .collect()
}

pub(super) async fn validate(
    host: &SpokeHost,
    store: &Arc<Store>,
    settings: &Settings,
    name: &str,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let opened = open_profile_session(host, store, settings, name).await?;
    // The spoke declares what scopes a profile; only a required selection blocks validation.
    if let Some(scope) = opened
        .spoke
        .manifest()
        .scope
        .as_ref()
        .filter(|s| s.required)
        && opened.config.selected_groups.is_empty()
    {
        return Err(CliError::User(format!(
            "profile `{name}` has no {noun}: list them with `sam groups list {name}` and select with `sam groups add {name} <id>...`",
            noun = scope.noun
        )));
    }
    for field in opened
        .spoke
        .manifest()
        .config_fields
        .iter()
        .filter(|f| f.required)
    {
        if !opened.config.values.iter().any(|(k, _)| k == &field.name) {
            return Err(CliError::User(format!(
                "profile `{name}` lacks config `{}` ({}): set it with `sam profile set {name} --config {}=...` or run `sam connect {name}`",
                field.name, field.label, field.name
            )));
        }
    }
    let processes = validated_processes(opened.profile.processes);
    let checks = opened
        .spoke
        .validate(&opened.session, &opened.config, &processes)
        .await
        .map_err(|e| {
            CliError::Failure(format!(
                "validation of profile `{name}` could not run: {}",
                e.kind
            ))
        })?;
    let records: Vec<ValidationCheckRecord> = checks
        .iter()
        .map(|c| ValidationCheckRecord {
            process: c.process.label().to_string(),
            description: c.description.clone(),
            error: c.outcome.as_ref().err().map(|e| e.describe()),
        })
        .collect();
    let failed = records.iter().filter(|r| r.error.is_some()).count();
    let now = SystemClock.now();
    let validation = ProfileValidation {
        profile: name.to_string(),
        validated_at: now,
        processes: opened.profile.processes,
        connection: opened.profile.connection.clone(),
        checks: records.clone(),
    };
    store
        .write(|tx| {
            if failed == 0 {
                tx.put_validation(&validation)?;
                tx.audit(
                    now,
                    Some(name),
                    AuditAction::ProfileValidated,
                    format!("{} checks passed", records.len()),
                    None,
                )?;
            } else {
                tx.clear_validation(name)?;
            }
            Ok::<_, WriteError>(())
        })
        .map_err(store_failure)?;
    if json {
        let doc = serde_json::json!({ "profile": name, "passed": failed == 0, "checks": records });
        let text = serde_json::to_string_pretty(&doc).map_err(store_failure)?;
        write_out(out, &format!("{text}\n"))?;
    } else {
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(["Process", "Check", "Result"]);
        for r in &records {
            table.add_row([
                r.process.clone(),
                r.description.clone(),
                r.error.clone().unwrap_or_else(|| "OK".into()),
            ]);
        }
        let next = if failed == 0 {
            format!("validated: publish with `sam profile publish {name}`\n")
        } else {
            String::new()
        };
        write_out(out, &format!("{table}\n{}{next}", recheck_note(&opened)))?;
    }
    if failed > 0 {
        return Err(CliError::Failure(format!(
            "validation of profile `{name}` failed ({failed} of {} checks): fix what the table says (scopes: `sam connect {name}`; groups: `sam groups`), then validate again",
            records.len()
        )));
    }
    Ok(())
}

/// What validate and publish say about the reclaim's activity re-check (issue 19): nothing
/// when reclaim is off, the sources when there are some, and plainly that reclaims will be
/// refused when there is none.
fn recheck_note(opened: &crate::app::session::ProfileSession) -> String {
    if !opened.profile.processes.reclaim {
        return String::new();
    }
    let supplied: Vec<String> = opened
        .session
        .routes()
        .iter()
        .filter(|r| r.credential.is_some())
        .map(|r| r.name.clone())
        .collect();
    let manifest = opened.spoke.manifest();
    let sources =
        crate::reclaim::recheck_sources(manifest, opened.granted_scopes.as_deref(), &supplied);
    if sources.is_empty() {
        format!(
            "reclaim: NO activity re-check source, so reclaims will be refused: {}\n",
            crate::reclaim::no_recheck_source_reason(manifest)
        )
    } else {
        format!(
            "reclaim re-checks activity through {}\n",
            sources.join(" and ")
        )
    }
}

/// `SAM - Refresh <display name> <what>`, as the reference guide names the jobs.
pub(super) fn job_name(display_name: &str, what: &str) -> String {
    crate::daemon::schedule::refresh_job_name(display_name, what)
}

/// The scheduled jobs a published profile has (see [`crate::daemon::schedule::jobs_for`]).
pub(super) fn jobs_for(profile: &IntegrationProfile, now: EpochSeconds) -> Vec<ScheduledJob> {
    crate::daemon::schedule::jobs_for(profile, now)
}

/// Creates the default reclamation rule of each of the published profile's models that has
/// none (the models of its products, and any its subscriptions carry); returns how many.
pub(super) fn create_default_rules(
    tx: &WriteTx,
    profile: &IntegrationProfile,
    models: &[String],
    now: EpochSeconds,
) -> Result<u64, WriteError> {
    let mut created = 0;
    for model in models {
        if tx.rule(model)?.is_none() {
            let rule = crate::model::ReclamationRule::default_for(model, now);
            tx.put_rule(&rule)?;
            tx.audit(
                now,
                Some(&profile.name),
                AuditAction::RuleChanged,
                format!(
                    "default reclamation rule for `{model}` created on publishing: {} days",
                    rule.inactivity_days
                ),
                None,
            )?;
            created += 1;
        }
    }
    created += crate::reclaim::ensure_rules(tx, &profile.name, now)?.len() as u64;
    Ok(created)
}

pub(super) async fn publish(
    host: &SpokeHost,
    store: &Store,
    name: &str,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (profile, validation) = {
        let read = store.read().map_err(store_failure)?;
        let profile = read
            .profile(name)
            .map_err(store_failure)?
            .ok_or_else(|| CliError::User(format!("no profile named `{name}`")))?;
        (profile, read.validation(name).map_err(store_failure)?)
    };
    if profile.status == ProfileStatus::Published {
        return Err(CliError::User(format!(
            "profile `{name}` is already Published (change it with `sam profile set`, which returns it to Draft when the processes change)"
        )));
    }
    let valid = validation
        .as_ref()
        .is_some_and(|v| v.processes == profile.processes && v.connection == profile.connection);
    if !valid {
        return Err(CliError::User(format!(
            "profile `{name}` is not validated for its current processes: run `sam profile validate {name}` first"
        )));
    }
    let spoke = crate::app::session::load_trusted_spoke(host, store, &profile).await?;
    let manifest = spoke.manifest().clone();
    let now = SystemClock.now();
    let jobs = jobs_for(&profile, now);
    let (models, rules) = store
        .write(|tx| {
            let mut models = Vec::new();
            for product in &manifest.products {
                let id = SoftwareModel::id_for(
                    &manifest.publisher,
                    &product.name,
                    product.edition.as_deref(),
                );
                if tx.model(&id)?.is_none() {
                    tx.put_model(&SoftwareModel {
                        id: id.clone(),
                        publisher: manifest.publisher.clone(),
                        product: product.name.clone(),
                        edition: product.edition.clone(),
                        auto_created: true,
                        created_at: now,
                    })?;
                    tx.audit(
                        now,
                        Some(name),
                        AuditAction::ModelCreated,
                        format!("software model `{id}` created on publishing `{name}`"),
                        None,
                    )?;
                }
                models.push(id);
            }
            let rules = create_default_rules(tx, &profile, &models, now)?;
            for job in &jobs {
                if tx.scheduled_job(&job.name)?.is_none() {
                    tx.put_scheduled_job(job)?;
                }
            }
            let mut published = profile.clone();
            published.status = ProfileStatus::Published;
            tx.put_profile(&published)?;
            tx.audit(
                now,
                Some(name),
                AuditAction::ProfilePublished,
                format!("profile `{name}` published"),
                None,
            )?;
            Ok::<_, WriteError>((models, rules))
        })
        .map_err(write_failure)?;
    let mut text = format!("published profile `{name}`\n");
    if profile.processes.reclaim {
        let (granted, supplied) = {
            let read = store.read().map_err(store_failure)?;
            let granted = match read
                .connection(&profile.connection)
                .map_err(store_failure)?
                .map(|c| c.auth)
            {
                Some(crate::model::AuthKind::OAuth2 { credential_key, .. }) => read
                    .oauth_connection(&credential_key)
                    .map_err(store_failure)?
                    .map(|c| c.granted_scopes),
                _ => None,
            };
            let supplied: Vec<String> = read
                .extra_credentials(name)
                .map_err(store_failure)?
                .into_iter()
                .map(|c| c.name)
                .collect();
            (granted, supplied)
        };
        if crate::reclaim::recheck_sources(&manifest, granted.as_deref(), &supplied).is_empty() {
            text.push_str(&format!(
                "  reclaim: NO activity re-check source, so reclaims will be refused: {}\n",
                crate::reclaim::no_recheck_source_reason(&manifest)
            ));
        }
    }
    text.push_str(&format!("  software models: {}\n", models.join(", ")));
    text.push_str(&format!("  reclamation rules created: {rules}\n"));
    for job in &jobs {
        text.push_str(&format!(
            "  job: {} (schedule `{}`)\n",
            job.name, job.schedule
        ));
    }
    write_out(out, &text)
}

fn delete(db: Option<&Path>, name: &str, yes: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let store = open_store(db)?;
    if store
        .read()
        .and_then(|r| r.profile(name))
        .map_err(store_failure)?
        .is_none()
    {
        return Err(CliError::User(format!("no profile named `{name}`")));
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::User(format!(
                "deleting profile `{name}` removes its subscriptions and jobs: pass --yes to confirm"
            )));
        }
        eprint!(
            "Delete profile `{name}` (its subscriptions and jobs are removed, candidates closed)? [y/N] "
        );
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(CliError::User("not deleted".into()));
        }
    }
    let now = SystemClock.now();
    let summary = store
        .write(|tx| {
            let closed =
                crate::reclaim::close_for_deleted_profile(tx, name, now, crate::reclaim::ENGINE_ACTOR)?;
            let mut summary = tx.delete_profile(name)?;
            summary.candidates_closed += closed;
            tx.audit(
                now,
                Some(name),
                AuditAction::ProfileDeleted,
                format!(
                    "profile `{name}` deleted: {} subscriptions, {} jobs removed; {} candidates closed",
                    summary.subscriptions, summary.jobs, summary.candidates_closed
                ),
                None,
            )?;
            Ok::<_, WriteError>(summary)
        })
        .map_err(write_failure)?;
    write_out(
        out,
        &format!(
            "deleted profile `{name}`: {} subscriptions and {} jobs removed, {} removal candidates closed as Closed Skipped; reclamation rules kept\n",
            summary.subscriptions, summary.jobs, summary.candidates_closed
        ),
    )
}
