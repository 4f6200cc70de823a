//! `sam candidates …`, `sam undo`, `sam exclusions …`, `sam rules …` and `sam run reclaim`:
//! the admin's side of reclamation. Candidates are listed and shown with their transition
//! log; the user's answer (keep/release) and the manager's decision (approve/reject) come in
//! here; `candidates reclaim` acts on selected candidates now and `run reclaim` runs the
//! profile's reclaim subflow (dry run, cap); `undo` gives a reclaimed seat back. Notices go
//! to a webhook (`--notify-webhook`, env `SAM_NOTIFY_WEBHOOK`) or, without one, the logs.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::output::capped_table;
use super::profile::{open_read_store, open_store, store_failure};
use super::{CliError, write_out};
use crate::host::SpokeHost;
use crate::model::{
    ExclusionRule, ExclusionScope, ExclusionTarget, ReclamationRule, RemovalCandidate, UserAnswer,
    format_utc,
};
use crate::pipeline::{Clock, SystemClock};
use crate::reclaim::{
    self, LogNotifier, Notifier, ReclaimError, ReclaimOptions, ReclaimReport, Reclaimer,
    SpokeSeats, UndoTarget, WebhookNotifier,
};
use crate::reconcile::format_money;
use crate::store::{Store, WriteError};

/// Where notices go.
#[derive(Debug, Clone, Args)]
pub struct NotifyArgs {
    /// POST notices as JSON to this URL [default: write them to the logs].
    #[arg(long, env = "SAM_NOTIFY_WEBHOOK", value_name = "URL")]
    pub notify_webhook: Option<String>,
}

impl NotifyArgs {
    fn notifier(&self) -> Result<Box<dyn Notifier>, CliError> {
        match &self.notify_webhook {
            Some(url) => Ok(Box::new(
                WebhookNotifier::new(url).map_err(|e| CliError::User(e.to_string()))?,
            )),
            None => Ok(Box::new(LogNotifier)),
        }
    }
}

/// Arguments of `sam run reclaim`.
#[derive(Debug, Args)]
pub struct RunReclaimArgs {
    /// The profile.
    #[arg(long)]
    pub profile: String,
    /// Report what would be reclaimed and the savings; change nothing anywhere.
    #[arg(long)]
    pub dry_run: bool,
    /// At most this many reclaims in this run.
    #[arg(long, value_name = "N")]
    pub max: Option<u64>,
    /// At most this percentage of the profile's seats in this run [default: 10].
    #[arg(long, value_name = "PERCENT")]
    pub max_percent: Option<f64>,
    /// Who runs it (recorded on every transition).
    #[arg(long, default_value = "sam")]
    pub actor: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub notify: NotifyArgs,
}

/// The user's answer.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AnswerArg {
    /// Keep the seat (the manager decides).
    Keep,
    /// Give the seat back.
    Release,
}

/// The order of `candidates list`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SortArg {
    /// By id (the order they were created).
    Id,
    /// By user (external id).
    User,
    /// By last activity, oldest (or none) first.
    LastActivity,
    /// By state, in the order of the reference guide.
    State,
}

/// `sam candidates` subcommands.
#[derive(Debug, Subcommand)]
pub enum CandidatesCommand {
    /// List removal candidates (open ones unless --all).
    List {
        /// Only this profile's.
        #[arg(long)]
        profile: Option<String>,
        /// Only in this state.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(crate::model::CandidateState::KEYS))]
        state: Option<String>,
        /// Only this user's (external id, email or name; case-insensitive).
        #[arg(long)]
        user: Option<String>,
        /// Include closed candidates.
        #[arg(long)]
        all: bool,
        /// The order.
        #[arg(long, value_enum, default_value = "id")]
        sort: SortArg,
        /// At most this many (after sorting).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        #[command(flatten)]
        format: super::output::ListFormat,
    },
    /// Show one candidate with its transition log.
    Show {
        /// The candidate id.
        id: u64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The manager approves the reclaim (or an admin marks a problem resolved).
    Approve {
        /// The candidate id.
        id: u64,
        /// Who decides.
        #[arg(long, default_value = "manager")]
        actor: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// The manager rejects the reclaim (or an admin skips the candidate).
    Reject {
        /// The candidate id.
        id: u64,
        /// Who decides.
        #[arg(long, default_value = "manager")]
        actor: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Record the user's answer to a notification: keep or release.
    Answer {
        /// The candidate id.
        id: u64,
        /// keep or release.
        answer: AnswerArg,
        /// Who answers.
        #[arg(long, default_value = "user")]
        actor: String,
        #[command(flatten)]
        notify: NotifyArgs,
    },
    /// Reclaim the given candidates now (with the same checks and cap as a run).
    Reclaim {
        /// Candidate ids (of one profile).
        #[arg(required = true)]
        ids: Vec<u64>,
        /// Report what would be reclaimed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Who acts.
        #[arg(long, default_value = "admin")]
        actor: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        notify: NotifyArgs,
    },
}

/// Arguments of `sam undo`.
#[derive(Debug, Args)]
pub struct UndoArgs {
    /// A candidate id (or, with --audit, the id of a reclaim's audit entry).
    pub id: u64,
    /// The id is an audit entry's.
    #[arg(long)]
    pub audit: bool,
    /// Who undoes it.
    #[arg(long, default_value = "admin")]
    pub actor: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub notify: NotifyArgs,
}

/// What an exclusion keeps out.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    /// License calculations.
    License,
    /// Reclamation.
    Reclamation,
    /// Both.
    Both,
}

/// `sam exclusions` subcommands.
#[derive(Debug, Subcommand)]
pub enum ExclusionsCommand {
    /// Add an exclusion of a user (all profiles) or of an identifier (one profile type).
    Add {
        /// The user's principal name (email) or external id.
        #[arg(
            long,
            conflicts_with = "identifier",
            required_unless_present = "identifier"
        )]
        user: Option<String>,
        /// A subscription identifier (with --spoke, the profile type).
        #[arg(long, requires = "spoke")]
        identifier: Option<String>,
        /// The spoke (profile type) of the identifier.
        #[arg(long)]
        spoke: Option<String>,
        /// What it keeps the target out of.
        #[arg(long, value_enum, default_value = "both")]
        scope: ScopeArg,
        /// Create it inactive.
        #[arg(long)]
        inactive: bool,
        /// Why.
        #[arg(long)]
        note: Option<String>,
    },
    /// List the exclusions.
    List {
        #[command(flatten)]
        format: super::output::ListFormat,
    },
    /// Turn an exclusion on or off.
    Set {
        /// The exclusion id.
        id: String,
        /// Whether it is in force.
        #[arg(long, action = clap::ArgAction::Set)]
        active: bool,
    },
    /// Remove an exclusion.
    Remove {
        /// The exclusion id.
        id: String,
    },
}

/// `sam rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Show the reclamation rules (or one model's).
    Show {
        /// The software model.
        model: Option<String>,
        #[command(flatten)]
        format: super::output::ListFormat,
    },
    /// Change a model's reclamation rule (created with the defaults if missing).
    Set {
        /// The software model.
        model: String,
        /// Days without activity before a seat becomes a candidate.
        #[arg(long, value_name = "DAYS")]
        threshold_days: Option<u32>,
        /// Ask the user first.
        #[arg(long, action = clap::ArgAction::Set, value_name = "BOOL")]
        notify: Option<bool>,
        /// Days after the notice before an unanswered seat is reclaimed (0: never).
        #[arg(long, value_name = "DAYS")]
        days_before_auto: Option<u32>,
        /// Whether users with no activity at all are candidates.
        #[arg(long, action = clap::ArgAction::Set, value_name = "BOOL")]
        include_no_activity: Option<bool>,
        /// Whether app (bot) accounts are kept out.
        #[arg(long, action = clap::ArgAction::Set, value_name = "BOOL")]
        exclude_apps: Option<bool>,
        /// Whether the rule is in force.
        #[arg(long, action = clap::ArgAction::Set, value_name = "BOOL")]
        active: Option<bool>,
    },
}

fn now() -> i64 {
    SystemClock.now()
}

fn reclaim_failure(e: ReclaimError) -> CliError {
    match e {
        ReclaimError::UnknownProfile(_)
        | ReclaimError::UnknownCandidate(_)
        | ReclaimError::UnknownAuditEntry(_)
        | ReclaimError::NotAReclaim(_)
        | ReclaimError::NotAwaiting { .. }
        | ReclaimError::NotUndoable { .. }
        | ReclaimError::Transition(_)
        | ReclaimError::WrongSpoke { .. } => CliError::User(e.to_string()),
        other => CliError::Failure(other.to_string()),
    }
}

fn json_out(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(store_failure)?;
    write_out(out, &format!("{text}\n"))
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    t
}

/// `sam run reclaim`.
pub(super) async fn run_reclaim(
    host: &SpokeHost,
    db: Option<&Path>,
    args: RunReclaimArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let options = ReclaimOptions {
        dry_run: args.dry_run,
        max_count: args.max,
        max_percent: Some(args.max_percent.unwrap_or(reclaim::DEFAULT_MAX_PERCENT)),
        only: None,
        actor: args.actor.clone(),
    };
    if options
        .max_percent
        .is_some_and(|p| !(0.0..=100.0).contains(&p))
    {
        return Err(CliError::User(
            "--max-percent must be between 0 and 100".into(),
        ));
    }
    let report = reclaim_with(host, db, &args.profile, options, &args.notify).await?;
    if report.reclaimed > 0 {
        reconcile_after(db);
    }
    print_report(out, &report, args.json)
}

/// Reconciles after seats changed (a reclaim or an undo); a failure is only logged.
fn reconcile_after(db: Option<&Path>) {
    let outcome = open_store(db)
        .and_then(|store| crate::reconcile::run(&store, &SystemClock).map_err(store_failure));
    if let Err(e) = outcome {
        tracing::warn!(error = %e, "reconciliation after the change failed");
    }
}

async fn reclaim_with(
    host: &SpokeHost,
    db: Option<&Path>,
    profile: &str,
    options: ReclaimOptions,
    notify: &NotifyArgs,
) -> Result<ReclaimReport, CliError> {
    let store = Arc::new(open_store(db)?);
    let notifier = notify.notifier()?;
    let seats = open_seats(host, &store, profile).await?;
    let stop = super::StopOnSignal::install();
    Reclaimer::new(&store)
        .notifier(notifier.as_ref())
        .options(options)
        .stop_when(stop.flag())
        .run(&seats, profile)
        .await
        .map_err(reclaim_failure)
}

async fn open_seats(
    host: &SpokeHost,
    store: &Arc<Store>,
    profile: &str,
) -> Result<SpokeSeats, CliError> {
    let settings = crate::config::current().map_err(|e| CliError::User(e.to_string()))?;
    let opened = crate::app::session::open_profile_session(host, store, &settings, profile).await?;
    Ok(SpokeSeats::new(opened.spoke, opened.session, opened.config)
        .with_granted_scopes(opened.granted_scopes))
}

/// Rows a run's report shows people (the rest are counted; `--json` has them all).
const REPORT_ROWS: usize = 20;

fn print_report(out: &mut dyn Write, r: &ReclaimReport, json: bool) -> Result<(), CliError> {
    if json {
        return json_out(out, r);
    }
    let mut text = format!(
        "Reclaim on profile {}{}: {} seats, cap {} this run\n  candidates: {} created, {} canceled (activity), {} skipped\n",
        r.profile,
        if r.dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        },
        r.seats,
        r.cap,
        r.identify.created.len(),
        r.identify.canceled.len(),
        r.identify.skipped.len(),
    );
    if r.resumed > 0 {
        text.push_str(&format!(
            "  {} {} interrupted reclaims from their stored plans first\n",
            if r.dry_run {
                "would finish"
            } else {
                "finished"
            },
            r.resumed
        ));
    }
    if r.acted_before > 0 {
        text.push_str(&format!(
            "  resumed run {}: {} seats acted on before the interruption count against the cap\n",
            r.run.unwrap_or_default(),
            r.acted_before
        ));
    }
    if r.stopped {
        text.push_str(
            "  stopped by a signal after the seat in flight; the run resumes with the next `sam run reclaim`\n",
        );
    }
    if !r.reclaim_enabled {
        text.push_str(
            "  the profile's Reclaim subscriptions process is off: candidates are created, nothing is reclaimed\n",
        );
    }
    let savings = r
        .savings
        .iter()
        .map(|a| format_money(a.minor, a.currency.as_deref()))
        .collect::<Vec<_>>()
        .join(" + ");
    if r.dry_run {
        text.push_str(&format!(
            "  would reclaim {} seats, notify {} users; {} left for later by the cap; savings {}\n",
            r.to_reclaim.len(),
            r.to_notify.len(),
            r.deferred_by_cap.len(),
            if savings.is_empty() {
                "unknown (no entitlement cost)".into()
            } else {
                savings.clone()
            }
        ));
        if !r.to_reclaim.is_empty() {
            let rows = r
                .to_reclaim
                .iter()
                .map(|p| {
                    vec![
                        p.candidate.to_string(),
                        p.external_user_id.clone(),
                        p.display_name.clone().unwrap_or_default(),
                        p.model.clone(),
                        p.state.clone(),
                        p.unit_cost_minor
                            .map_or("-".into(), |m| format_money(m, p.currency.as_deref())),
                    ]
                })
                .collect();
            text.push_str(&capped_table(
                &["Candidate", "User", "Name", "Model", "State", "Saves"],
                rows,
                REPORT_ROWS,
            ));
        }
        return write_out(out, &text);
    }
    text.push_str(&format!(
        "  reclaimed {} seats ({} write calls, {} API calls), {} left for later by the cap; savings {}\n",
        r.reclaimed,
        r.write_calls,
        r.api_calls,
        r.deferred_by_cap.len(),
        if savings.is_empty() { "-".into() } else { savings }
    ));
    if let Some(why) = &r.halted {
        text.push_str(&format!(
            "  {why} ({} candidates untouched)\n",
            r.halted_untouched.len()
        ));
    }
    if !r.outcomes.is_empty() {
        let rows = r
            .outcomes
            .iter()
            .map(|o| {
                vec![
                    o.candidate.to_string(),
                    o.external_user_id.clone(),
                    o.outcome.name().to_string(),
                    o.detail.clone(),
                    o.audit
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                ]
            })
            .collect();
        text.push_str(&capped_table(
            &["Candidate", "User", "Outcome", "Detail", "Audit"],
            rows,
            REPORT_ROWS,
        ));
    }
    write_out(out, &text)
}

pub(super) async fn candidates(
    host: &SpokeHost,
    db: Option<&Path>,
    command: CandidatesCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        CandidatesCommand::List {
            profile,
            state,
            user,
            all,
            sort,
            limit,
            format,
        } => {
            let store = open_read_store(db)?;
            let mut list = store
                .read()
                .and_then(|r| r.all_candidates())
                .map_err(store_failure)?;
            let holds = |c: &RemovalCandidate, user: &str| {
                [
                    Some(&c.external_user_id),
                    c.email.as_ref(),
                    c.display_name.as_ref(),
                ]
                .into_iter()
                .flatten()
                .any(|u| u.trim().eq_ignore_ascii_case(user.trim()))
            };
            list.retain(|c| {
                profile.as_ref().is_none_or(|p| &c.profile == p)
                    && state.as_ref().is_none_or(|s| c.state.key() == s.as_str())
                    && user.as_ref().is_none_or(|u| holds(c, u))
                    && (all || state.is_some() || !c.state.is_closed())
            });
            let state_rank = |c: &RemovalCandidate| {
                crate::model::CandidateState::KEYS
                    .iter()
                    .position(|k| *k == c.state.key())
            };
            match sort {
                SortArg::Id => list.sort_by_key(|c| c.id),
                SortArg::User => list
                    .sort_by(|a, b| (&a.external_user_id, a.id).cmp(&(&b.external_user_id, b.id))),
                SortArg::LastActivity => list.sort_by_key(|c| (c.last_activity, c.id)),
                SortArg::State => list.sort_by_key(|c| (state_rank(c), c.id)),
            }
            let total = list.len();
            if let Some(limit) = limit {
                list.truncate(limit);
            }
            let rows = list
                .iter()
                .map(|c| {
                    vec![
                        c.id.to_string(),
                        c.profile.clone(),
                        c.external_user_id.clone(),
                        c.display_name.clone().unwrap_or_default(),
                        c.model.clone(),
                        c.state.to_string(),
                        c.last_activity.map_or("none".into(), format_utc),
                        format_utc(c.created_at),
                    ]
                })
                .collect();
            let footer = if list.len() < total {
                format!("{} of {total} candidates", list.len())
            } else {
                format!("{total} candidates")
            };
            super::output::Listing {
                records: &list,
                header: &[
                    "Id",
                    "Profile",
                    "User",
                    "Name",
                    "Model",
                    "State",
                    "Last activity",
                    "Created",
                ],
                rows,
                footer: Some(footer),
            }
            .print(format, out)
        }
        CandidatesCommand::Show { id, json } => {
            let store = open_read_store(db)?;
            let c = store
                .read()
                .and_then(|r| r.candidate(id))
                .map_err(store_failure)?
                .ok_or_else(|| CliError::User(format!("no removal candidate {id}")))?;
            if json {
                return json_out(out, &c);
            }
            write_out(out, &describe(&c))
        }
        CandidatesCommand::Approve { id, actor, reason } => {
            let store = open_store(db)?;
            let c = reclaim::decide(&store, id, true, &actor, reason.as_deref(), now())
                .map_err(reclaim_failure)?;
            write_out(out, &format!("candidate {id} is now {}\n", c.state))
        }
        CandidatesCommand::Reject { id, actor, reason } => {
            let store = open_store(db)?;
            let c = reclaim::decide(&store, id, false, &actor, reason.as_deref(), now())
                .map_err(reclaim_failure)?;
            write_out(out, &format!("candidate {id} is now {}\n", c.state))
        }
        CandidatesCommand::Answer {
            id,
            answer,
            actor,
            notify,
        } => {
            let store = open_store(db)?;
            let notifier = notify.notifier()?;
            let answer = match answer {
                AnswerArg::Keep => UserAnswer::Keep,
                AnswerArg::Release => UserAnswer::Release,
            };
            let c = reclaim::answer(&store, notifier.as_ref(), id, answer, &actor, now())
                .await
                .map_err(reclaim_failure)?;
            write_out(out, &format!("candidate {id} is now {}\n", c.state))
        }
        CandidatesCommand::Reclaim {
            ids,
            dry_run,
            actor,
            json,
            notify,
        } => {
            let profile = {
                let store = open_store(db)?;
                let read = store.read().map_err(store_failure)?;
                let mut profiles = Vec::new();
                for id in &ids {
                    let c = read
                        .candidate(*id)
                        .map_err(store_failure)?
                        .ok_or_else(|| CliError::User(format!("no removal candidate {id}")))?;
                    if !profiles.contains(&c.profile) {
                        profiles.push(c.profile);
                    }
                }
                if profiles.len() != 1 {
                    return Err(CliError::User(format!(
                        "the candidates belong to several profiles ({}); reclaim one profile's at a time",
                        profiles.join(", ")
                    )));
                }
                profiles.remove(0)
            };
            let options = ReclaimOptions {
                dry_run,
                only: Some(ids),
                actor,
                ..ReclaimOptions::default()
            };
            let report = reclaim_with(host, db, &profile, options, &notify).await?;
            if report.reclaimed > 0 {
                reconcile_after(db);
            }
            print_report(out, &report, json)
        }
    }
}

fn describe(c: &RemovalCandidate) -> String {
    let mut text = format!(
        "Candidate {}: {} on profile {} ({} / {})\n  user: {}{}\n  state: {}\n  justification: {}, rule {}\n  last activity: {}\n  created: {}\n",
        c.id,
        c.external_user_id,
        c.profile,
        c.model,
        c.identifier,
        c.display_name.clone().unwrap_or_default(),
        c.email
            .as_ref()
            .map_or(String::new(), |e| format!(" <{e}>")),
        c.state,
        c.justification,
        c.rule,
        c.last_activity.map_or("none".into(), format_utc),
        format_utc(c.created_at),
    );
    if let Some(t) = c.auto_reclaim_at {
        text.push_str(&format!(
            "  reclaimed automatically on: {}\n",
            format_utc(t)
        ));
    }
    if let Some(r) = &c.reclaim {
        text.push_str(&format!(
            "  reclaimed {}: {} (audit {} / {}){}\n",
            format_utc(r.at),
            reclaim::run::describe_changes(&r.changes),
            r.audit_before,
            r.audit_after,
            r.restored_at
                .map_or(String::new(), |t| format!("; restored {}", format_utc(t)))
        ));
    }
    text.push_str("  history:\n");
    for t in &c.history {
        text.push_str(&format!(
            "    {}  {} -> {}  by {}: {}\n",
            format_utc(t.at),
            t.from
                .as_ref()
                .map_or("(new)".into(), |s| s.label().to_string()),
            t.to.label(),
            t.actor,
            t.reason
        ));
    }
    text
}

pub(super) async fn undo(
    host: &SpokeHost,
    db: Option<&Path>,
    args: UndoArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let store = Arc::new(open_store(db)?);
    let target = if args.audit {
        UndoTarget::Audit(args.id)
    } else {
        UndoTarget::Candidate(args.id)
    };
    let profile = {
        let read = store.read().map_err(store_failure)?;
        reclaim::undo::resolve(&read, target)
            .map_err(reclaim_failure)?
            .profile
    };
    let notifier = args.notify.notifier()?;
    let seats = open_seats(host, &store, &profile).await?;
    let report = reclaim::undo(
        &store,
        &seats,
        notifier.as_ref(),
        target,
        &args.actor,
        now(),
    )
    .await
    .map_err(reclaim_failure)?;
    drop(seats);
    drop(store);
    reconcile_after(db);
    if args.json {
        return json_out(out, &report);
    }
    write_out(
        out,
        &format!(
            "restored the seat of {} on profile {} (candidate {}): {} (audit {})\n",
            report.external_user_id,
            report.profile,
            report.candidate,
            reclaim::run::describe_changes(&report.changes),
            report
                .audit
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

pub(super) fn exclusions(
    db: Option<&Path>,
    command: ExclusionsCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let store = if matches!(command, ExclusionsCommand::List { .. }) {
        open_read_store(db)?
    } else {
        open_store(db)?
    };
    let at = now();
    match command {
        ExclusionsCommand::Add {
            user,
            identifier,
            spoke,
            scope,
            inactive,
            note,
        } => {
            let target = match (user, identifier, spoke) {
                (Some(u), _, _) if !u.trim().is_empty() => ExclusionTarget::User(u.trim().into()),
                (_, Some(i), Some(s)) if !i.trim().is_empty() && !s.trim().is_empty() => {
                    ExclusionTarget::Identifier {
                        spoke_id: s.trim().into(),
                        identifier: i.trim().into(),
                    }
                }
                _ => {
                    return Err(CliError::User(
                        "give --user, or --identifier with --spoke".into(),
                    ));
                }
            };
            let scope = match scope {
                ScopeArg::License => ExclusionScope::Reconciliation,
                ScopeArg::Reclamation => ExclusionScope::Reclamation,
                ScopeArg::Both => ExclusionScope::Both,
            };
            let rule = store
                .write(|tx| {
                    let id = tx.next_seq("exclusion")?.to_string();
                    let rule = ExclusionRule {
                        id,
                        target,
                        scope,
                        active: !inactive,
                        note,
                        created_at: at,
                    };
                    tx.put_exclusion(&rule)?;
                    tx.audit(
                        at,
                        None,
                        crate::model::AuditAction::RuleChanged,
                        format!("exclusion {} added: {}", rule.id, target_text(&rule.target)),
                        None,
                    )?;
                    Ok::<_, WriteError>(rule)
                })
                .map_err(store_failure)?;
            write_out(
                out,
                &format!(
                    "exclusion {} added: {} kept out of {}\n",
                    rule.id,
                    target_text(&rule.target),
                    scope.label()
                ),
            )
        }
        ExclusionsCommand::List { format } => {
            let mut list = store
                .read()
                .and_then(|r| r.exclusions())
                .map_err(store_failure)?;
            list.sort_by_key(|x| x.id.parse::<u64>().unwrap_or(u64::MAX));
            let rows = list
                .iter()
                .map(|x| {
                    vec![
                        x.id.clone(),
                        target_text(&x.target),
                        x.scope.label().to_string(),
                        if x.active { "yes" } else { "no" }.to_string(),
                        x.note.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            super::output::Listing {
                records: &list,
                header: &["Id", "Target", "Scope", "Active", "Note"],
                rows,
                footer: None,
            }
            .print(format, out)
        }
        ExclusionsCommand::Set { id, active } => {
            store
                .write(|tx| {
                    let mut x = tx.exclusion(&id)?.ok_or_else(|| WriteError::NotFound {
                        what: format!("exclusion `{id}`"),
                    })?;
                    x.active = active;
                    tx.put_exclusion(&x)?;
                    tx.audit(
                        at,
                        None,
                        crate::model::AuditAction::RuleChanged,
                        format!("exclusion {id} set active={active}"),
                        None,
                    )?;
                    Ok::<_, WriteError>(())
                })
                .map_err(user_if_missing)?;
            write_out(out, &format!("exclusion {id} active: {active}\n"))
        }
        ExclusionsCommand::Remove { id } => {
            store
                .write(|tx| {
                    if !tx.delete_exclusion(&id)? {
                        return Err(WriteError::NotFound {
                            what: format!("exclusion `{id}`"),
                        });
                    }
                    tx.audit(
                        at,
                        None,
                        crate::model::AuditAction::RuleChanged,
                        format!("exclusion {id} removed"),
                        None,
                    )?;
                    Ok(())
                })
                .map_err(user_if_missing)?;
            write_out(out, &format!("exclusion {id} removed\n"))
        }
    }
}

pub(super) fn user_if_missing(e: WriteError) -> CliError {
    match e {
        WriteError::NotFound { .. }
        | WriteError::InvalidKey(_)
        | WriteError::AlreadyExists { .. } => CliError::User(e.to_string()),
        other => store_failure(other),
    }
}

fn target_text(t: &ExclusionTarget) -> String {
    match t {
        ExclusionTarget::User(u) => format!("user {u}"),
        ExclusionTarget::Identifier {
            spoke_id,
            identifier,
        } => format!("identifier {identifier} ({spoke_id})"),
    }
}

pub(super) fn rules(
    db: Option<&Path>,
    command: RulesCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let store = if matches!(command, RulesCommand::Show { .. }) {
        open_read_store(db)?
    } else {
        open_store(db)?
    };
    match command {
        RulesCommand::Show { model, format } => {
            let mut list = store
                .read()
                .and_then(|r| r.rules())
                .map_err(store_failure)?;
            if let Some(m) = &model {
                list.retain(|r| &r.model == m);
                if list.is_empty() {
                    return Err(CliError::User(format!(
                        "no reclamation rule for model `{m}` (rules are created on publish and by the first reclaim run)"
                    )));
                }
            }
            super::output::Listing {
                records: &list,
                header: &[
                    "Model",
                    "Threshold",
                    "Notify",
                    "Auto after",
                    "No activity",
                    "Apps excluded",
                    "Active",
                ],
                rows: list.iter().map(rule_row).collect(),
                footer: None,
            }
            .print(format, out)
        }
        RulesCommand::Set {
            model,
            threshold_days,
            notify,
            days_before_auto,
            include_no_activity,
            exclude_apps,
            active,
        } => {
            if threshold_days == Some(0) {
                return Err(CliError::User("--threshold-days must be at least 1".into()));
            }
            let at = now();
            let rule = store
                .write(|tx| {
                    let mut rule = match tx.rule(&model)? {
                        Some(r) => r,
                        None if tx.model(&model)?.is_some() => {
                            ReclamationRule::default_for(&model, at)
                        }
                        None => {
                            return Err(WriteError::NotFound {
                                what: format!("software model `{model}`"),
                            });
                        }
                    };
                    if let Some(d) = threshold_days {
                        rule.inactivity_days = d;
                    }
                    if let Some(n) = notify {
                        rule.notify_user = n;
                    }
                    if let Some(d) = days_before_auto {
                        rule.days_before_auto_reclaim = (d > 0).then_some(d);
                    }
                    if let Some(b) = include_no_activity {
                        rule.include_no_activity = b;
                    }
                    if let Some(b) = exclude_apps {
                        rule.exclude_apps = b;
                    }
                    if let Some(b) = active {
                        rule.active = b;
                    }
                    tx.put_rule(&rule)?;
                    tx.audit(
                        at,
                        None,
                        crate::model::AuditAction::RuleChanged,
                        format!(
                            "reclamation rule of `{model}`: {} days, notify {}, auto after {:?} days, no-activity {}, apps excluded {}, active {}",
                            rule.inactivity_days,
                            rule.notify_user,
                            rule.days_before_auto_reclaim,
                            rule.include_no_activity,
                            rule.exclude_apps,
                            rule.active
                        ),
                        None,
                    )?;
                    Ok(rule)
                })
                .map_err(user_if_missing)?;
            let mut t = table(&[
                "Model",
                "Threshold",
                "Notify",
                "Auto after",
                "No activity",
                "Apps excluded",
                "Active",
            ]);
            t.add_row(rule_row(&rule));
            write_out(out, &format!("{t}\n"))
        }
    }
}

fn rule_row(r: &ReclamationRule) -> Vec<String> {
    let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
    vec![
        r.model.clone(),
        format!("{} days", r.inactivity_days),
        yes(r.notify_user),
        r.days_before_auto_reclaim
            .map_or("-".into(), |d| format!("{d} days")),
        yes(r.include_no_activity),
        yes(r.exclude_apps),
        yes(r.active),
    ]
}
