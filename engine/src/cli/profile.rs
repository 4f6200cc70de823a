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
//! keeps rules. Every change is one transaction: all of it or nothing. The logic is the
//! engine's ([`crate::app::profiles`]); this module parses, calls and prints.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::{CliError, write_out};
use crate::app::Engine;
use crate::app::profiles::*;
use crate::config::Settings;
use crate::host::SpokeHost;
use crate::model::{AuthKind, CredentialStatus, ProcessSet, format_utc};
use crate::store::{OpenError, Store};

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
    /// Return a published profile to Draft (to edit it): its scheduled jobs keep their
    /// schedules and are held until it is published again.
    Unpublish {
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

pub(super) fn store_failure(e: impl std::fmt::Display) -> CliError {
    CliError::Failure(e.to_string())
}

pub(super) async fn run(
    host: &SpokeHost,
    settings: &Settings,
    command: ProfileCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let read_only = match &command {
        ProfileCommand::List { .. } | ProfileCommand::Show { .. } => true,
        ProfileCommand::Limits { set, reset, .. } => set.is_empty() && reset.is_empty(),
        _ => false,
    };
    let engine = super::engine::engine(host, settings, read_only).await?;
    match command {
        ProfileCommand::Create(args) => {
            let created = engine.profiles_create(create_request(args)?).await?;
            print_created(&created, out)
        }
        ProfileCommand::List { format } => {
            let list = engine.profiles_list(ProfilesQuery {}).await?;
            print_list(&list, format, out)
        }
        ProfileCommand::Show { name, json } => {
            let view = engine.profiles_show(ProfileName { name }).await?;
            print_show(&view, json, out)
        }
        ProfileCommand::Set(args) => {
            let updated = engine
                .profiles_set(SetProfile {
                    name: args.name,
                    display_name: args.display_name,
                    activity: args.activity,
                    reclaim: args.reclaim,
                    analyze_from: args.analyze_from,
                    config: args.config,
                })
                .await?;
            print_updated(&updated, out)
        }
        ProfileCommand::Limits {
            name,
            set,
            reset,
            json,
        } => {
            let view = if set.is_empty() && reset.is_empty() {
                engine.profiles_limits(ProfileName { name }).await?
            } else {
                engine
                    .profiles_limits_set(SetLimits { name, set, reset })
                    .await?
            };
            print_limits(&view, json, out)
        }
        ProfileCommand::Validate { name, json } => validate(&engine, &name, json, out).await,
        ProfileCommand::Publish { name } => publish(&engine, &name, out).await,
        ProfileCommand::Unpublish { name } => unpublish(&engine, &name, out).await,
        ProfileCommand::Delete { name, yes } => delete(&engine, &name, yes, out).await,
    }
}

/// The request of `sam profile create`: a spoke given as a file is sent as its absolute
/// path (the daemon may run elsewhere).
pub(super) fn create_request(args: CreateArgs) -> Result<CreateProfile, CliError> {
    let spoke = if args.spoke.is_file() {
        std::fs::canonicalize(&args.spoke)
            .map_err(|e| {
                CliError::User(format!("cannot read spoke {}: {e}", args.spoke.display()))
            })?
            .display()
            .to_string()
    } else {
        args.spoke.to_string_lossy().into_owned()
    };
    let app_key_pem = match &args.app_key_file {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            CliError::User(format!("cannot read the app key {}: {e}", path.display()))
        })?),
        None => None,
    };
    Ok(CreateProfile {
        name: args.name,
        spoke,
        connection_url: args.connection_url,
        grant_hosts: args.grant_hosts,
        config: args.config,
        groups: args.groups,
        token_env: args.token_env,
        app_id: args.app_id,
        installation_id: args.installation_id,
        app_key_pem,
        display_name: args.display_name,
        no_activity: args.no_activity,
        no_reclaim: args.no_reclaim,
        analyze_from: args.analyze_from,
    })
}

pub(super) fn print_created(created: &ProfileCreated, out: &mut dyn Write) -> Result<(), CliError> {
    let profile = &created.profile;
    let next = if created.oauth {
        format!(
            "next: sam connect {} --client-id ID --client-secret-env VAR",
            profile.name
        )
    } else {
        format!("next: sam profile validate {}", profile.name)
    };
    write_out(
        out,
        &format!(
            "created profile `{}` (spoke {}, Draft, connection {})\n{next}\n",
            profile.name, profile.spoke_id, profile.connection
        ),
    )
}

fn print_list(
    list: &ProfileList,
    format: super::output::ListFormat,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let profiles = &list.profiles;
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
        records: profiles,
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

fn print_show(view: &ProfileView, json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    if json {
        return super::output::json_out(out, view);
    }
    let profile = &view.profile;
    let name = profile.name.as_str();
    let parent_alias = &view.alias.parent;
    let scopes = &view.scopes;
    let connection = &view.connection;
    let oauth = &view.oauth;
    let validation = &view.validation;
    let validated = view.validated;
    let groups = &view.selected_groups;
    let jobs = &view.scheduled_jobs;
    let recent = &view.recent_jobs;
    let (active, ended) = (view.subscriptions.active, view.subscriptions.ended);
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
    for g in groups {
        match &g.name {
            Some(n) => text.push_str(&format!("Group:        {} ({n})\n", g.group_id)),
            None => text.push_str(&format!("Group:        {}\n", g.group_id)),
        }
    }
    for j in jobs {
        text.push_str(&format!(
            "Job:          {} (schedule `{}`, next {})\n",
            j.name,
            j.schedule,
            format_utc(j.next_run)
        ));
    }
    if let Some(pin) = &view.pin {
        text.push_str(&format!(
            "Component:    sha256 {} (version {}, {} {})\n",
            pin.sha256,
            pin.version,
            pin.origin,
            format_utc(pin.pinned_at)
        ));
    }
    text.push_str(&format!("Subscriptions: {active} active, {ended} ended\n"));
    for j in recent {
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

fn print_updated(updated: &ProfileUpdated, out: &mut dyn Write) -> Result<(), CliError> {
    let p = &updated.profile;
    if !updated.changed {
        return write_out(out, &format!("profile `{}` unchanged\n", p.name));
    }
    let mut text = format!(
        "updated profile `{}` ({:?}, processes: {})\n",
        p.name,
        p.status,
        processes_text(p.processes)
    );
    for n in &updated.notes {
        text.push_str(&format!("  {n}\n"));
    }
    write_out(out, &text)
}

/// `sam profile validate`: the checks as a table (or JSON); a failed check fails the command.
pub(super) async fn validate(
    engine: &Engine,
    name: &str,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let report = engine
        .profiles_validate(ProfileName {
            name: name.to_string(),
        })
        .await?;
    let records = &report.checks;
    let failed = records.iter().filter(|r| r.error.is_some()).count();
    if json {
        super::output::json_out(out, &report)?;
    } else {
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(["Process", "Check", "Result"]);
        for r in records {
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
        let recheck = report
            .recheck
            .as_ref()
            .map_or(String::new(), |r| format!("{r}\n"));
        write_out(out, &format!("{table}\n{recheck}{next}"))?;
    }
    if failed > 0 {
        return Err(CliError::Failure(format!(
            "validation of profile `{name}` failed ({failed} of {} checks): fix what the table says (scopes: `sam connect {name}`; groups: `sam groups`), then validate again",
            records.len()
        )));
    }
    Ok(())
}

/// `sam profile publish`.
pub(super) async fn publish(
    engine: &Engine,
    name: &str,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let published = engine
        .profiles_publish(ProfileName {
            name: name.to_string(),
        })
        .await?;
    let mut text = format!("published profile `{name}`\n");
    for warning in &published.warnings {
        text.push_str(&format!("  {warning}\n"));
    }
    text.push_str(&format!(
        "  software models: {}\n",
        published.models.join(", ")
    ));
    text.push_str(&format!(
        "  reclamation rules created: {}\n",
        published.rules_created
    ));
    for job in &published.jobs {
        text.push_str(&format!(
            "  job: {} (schedule `{}`)\n",
            job.name, job.schedule
        ));
    }
    write_out(out, &text)
}

async fn unpublish(engine: &Engine, name: &str, out: &mut dyn Write) -> Result<(), CliError> {
    let updated = engine
        .profiles_unpublish(ProfileName {
            name: name.to_string(),
        })
        .await?;
    let mut text = if updated.changed {
        format!("profile `{name}` is Draft again\n")
    } else {
        String::new()
    };
    for note in &updated.notes {
        text.push_str(&format!("  {note}\n"));
    }
    write_out(out, &text)
}

async fn delete(
    engine: &Engine,
    name: &str,
    yes: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let exists = engine
        .profiles_list(ProfilesQuery {})
        .await?
        .profiles
        .iter()
        .any(|p| p.name == name);
    if !exists {
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
    let deleted = engine
        .profiles_delete(ProfileName {
            name: name.to_string(),
        })
        .await?;
    write_out(
        out,
        &format!(
            "deleted profile `{name}`: {} subscriptions and {} jobs removed, {} removal candidates closed as Closed Skipped; reclamation rules kept\n",
            deleted.subscriptions, deleted.jobs, deleted.candidates_closed
        ),
    )
}

/// `sam profile limits`: what changed, then every limit (or JSON).
fn print_limits(view: &ProfileLimitsView, json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    if json {
        return super::output::json_out(out, view);
    }
    let mut text = String::new();
    for change in &view.changed {
        text.push_str(&format!("{change}\n"));
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(110)
        .set_header(["Limit", "Value", "Default", "Bounds"]);
    for row in &view.limits {
        let value = if row.set {
            format!("{} (set)", row.value)
        } else {
            row.value.clone()
        };
        table.add_row([
            row.name.as_str(),
            value.as_str(),
            row.default.as_str(),
            row.what.as_str(),
        ]);
    }
    text.push_str(&format!("Limits of profile `{}`\n{table}\n", view.profile));
    write_out(out, &text)
}
