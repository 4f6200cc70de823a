//! `sam candidates …`, `sam undo`, `sam exclusions …`, `sam rules …` and `sam run reclaim`:
//! parse, call the engine (this process or the daemon, [`super::engine`];
//! the logic is in [`crate::app::reclaim`]) and print — candidates with their transition
//! log, a run's report (a summary and the first rows), a rule as a table. Notices go to a
//! webhook (`--notify-webhook`, env `SAM_NOTIFY_WEBHOOK`) or, without one, the logs.

use std::io::Write;

use clap::{Args, Subcommand, ValueEnum};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::output::capped_table;
use super::{CliError, write_out};
use crate::app::Engine;
use crate::app::reclaim::*;
use crate::config::Settings;
use crate::host::SpokeHost;
use crate::model::{ExclusionScope, ReclamationRule, RemovalCandidate, UserAnswer, format_utc};
use crate::reclaim::{self, ReclaimReport};
use crate::reconcile::format_money;

/// Where notices go.
#[derive(Debug, Clone, Args)]
pub struct NotifyArgs {
    /// POST notices as JSON to this URL [default: write them to the logs].
    #[arg(long, env = "SAM_NOTIFY_WEBHOOK", value_name = "URL")]
    pub notify_webhook: Option<String>,
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
    /// Run a Draft profile (runs are explicit until it is published).
    #[arg(long)]
    pub draft: bool,
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

fn json_out(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<(), CliError> {
    super::output::json_out(out, value)
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    t
}

impl RunReclaimArgs {
    /// The request of `run reclaim` (and `run all`).
    pub(super) fn request(&self) -> RunReclaim {
        RunReclaim {
            profile: self.profile.clone(),
            dry_run: self.dry_run,
            max: self.max,
            max_percent: self.max_percent,
            actor: self.actor.clone(),
            notify_webhook: self.notify.notify_webhook.clone(),
            draft: self.draft,
        }
    }
}

/// `sam run reclaim`.
pub(super) async fn run_reclaim(
    host: &SpokeHost,
    settings: &Settings,
    args: RunReclaimArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let engine = super::engine::engine(host, settings, false).await?;
    let _stop = local_stop(&engine);
    let holder = match &engine {
        Engine::Local { app, .. } => {
            super::engine::Holder::start(
                app,
                &format!("`sam run reclaim` (pid {})", std::process::id()),
            )
            .await
        }
        Engine::Remote(_) => None,
    };
    let report = engine.runs_reclaim(args.request()).await;
    if let Some(holder) = holder {
        holder.finish().await;
    }
    print_report(out, &report?, args.json)
}

/// On a local run, the CLI's signal handler (the first signal stops the run after the seat
/// in flight, the second exits).
fn local_stop(engine: &Engine) -> Option<super::StopOnSignal> {
    matches!(engine, Engine::Local { .. }).then(super::StopOnSignal::install)
}

/// Rows a run's report shows people (the rest are counted; `--json` has them all).
const REPORT_ROWS: usize = 20;

/// The unused seats a rule found but keeps out of reclaim, when there are any.
fn kept_out_line(text: &mut String, r: &crate::reclaim::ReclaimReport) {
    if r.identify.kept_out_inactive > 0 {
        text.push_str(&format!(
            "  {} unused seats kept out of reclaim (apps, seats the vendor already cancelled, reclamation exclusions)\n",
            r.identify.kept_out_inactive
        ));
    }
}

pub(super) fn print_report(
    out: &mut dyn Write,
    r: &ReclaimReport,
    json: bool,
) -> Result<(), CliError> {
    if json {
        return json_out(out, r);
    }
    let cap_reason = if r.cap_reason.is_empty() {
        String::new()
    } else {
        format!(" ({})", r.cap_reason)
    };
    let mut text = format!(
        "Reclaim on profile {}{}: {} seats, cap {} this run{cap_reason}\n",
        r.profile,
        if r.dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        },
        r.seats,
        r.cap,
    );
    if r.dry_run {
        text.push_str(&format!(
            "  candidates: would create {}, would cancel {} (activity), would skip {}\n",
            r.identify.created.len(),
            r.identify.canceled.len(),
            r.identify.skipped.len(),
        ));
        kept_out_line(&mut text, r);
    } else {
        // The re-check before revoking cancels candidates too: counted with the others.
        let rechecked = r
            .outcomes
            .iter()
            .filter(|o| o.outcome == crate::reclaim::Outcome::Canceled)
            .count();
        text.push_str(&format!(
            "  candidates: {} created, {} canceled (activity: {} when identified, {} at the re-check before revoking), {} skipped\n",
            r.identify.created.len(),
            r.identify.canceled.len() + rechecked,
            r.identify.canceled.len(),
            rechecked,
            r.identify.skipped.len(),
        ));
        kept_out_line(&mut text, r);
    }
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
    let notified = r
        .outcomes
        .iter()
        .filter(|o| o.outcome == crate::reclaim::Outcome::Notified)
        .count();
    if notified > 0 {
        text.push_str(&format!("  notified {notified} users\n"));
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
    settings: &Settings,
    command: CandidatesCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let read_only = matches!(
        command,
        CandidatesCommand::List { .. } | CandidatesCommand::Show { .. }
    );
    let engine = super::engine::engine(host, settings, read_only).await?;
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
            let sort = match sort {
                SortArg::Id => CandidateSort::Id,
                SortArg::User => CandidateSort::User,
                SortArg::LastActivity => CandidateSort::LastActivity,
                SortArg::State => CandidateSort::State,
            };
            let CandidateList {
                candidates: list,
                total,
            } = engine
                .candidates_list(CandidatesQuery {
                    profile,
                    state,
                    user,
                    all,
                    sort,
                    limit,
                })
                .await?;
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
                        c.last_activity
                            .map_or_else(|| crate::model::NO_ACTIVITY.to_string(), format_utc),
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
            let c = engine.candidates_show(CandidateQuery { id }).await?;
            if json {
                return json_out(out, &c);
            }
            write_out(out, &describe(&c))
        }
        CandidatesCommand::Approve { id, actor, reason } => {
            let c = engine
                .candidates_approve(DecideCandidate { id, actor, reason })
                .await?;
            write_out(out, &format!("candidate {id} is now {}\n", c.state))
        }
        CandidatesCommand::Reject { id, actor, reason } => {
            let c = engine
                .candidates_reject(DecideCandidate { id, actor, reason })
                .await?;
            write_out(out, &format!("candidate {id} is now {}\n", c.state))
        }
        CandidatesCommand::Answer {
            id,
            answer,
            actor,
            notify,
        } => {
            let answer = match answer {
                AnswerArg::Keep => UserAnswer::Keep,
                AnswerArg::Release => UserAnswer::Release,
            };
            let c = engine
                .candidates_answer(AnswerCandidate {
                    id,
                    answer,
                    actor,
                    notify_webhook: notify.notify_webhook,
                })
                .await?;
            write_out(out, &format!("candidate {id} is now {}\n", c.state))
        }
        CandidatesCommand::Reclaim {
            ids,
            dry_run,
            actor,
            json,
            notify,
        } => {
            let _stop = local_stop(&engine);
            let report = engine
                .candidates_reclaim(ReclaimCandidates {
                    ids,
                    dry_run,
                    actor,
                    notify_webhook: notify.notify_webhook,
                })
                .await?;
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
        c.last_activity
            .map_or_else(|| crate::model::NO_ACTIVITY.to_string(), format_utc),
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
    settings: &Settings,
    args: UndoArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let engine = super::engine::engine(host, settings, false).await?;
    let report = engine
        .undo(UndoRequest {
            id: args.id,
            audit: args.audit,
            actor: args.actor,
            notify_webhook: args.notify.notify_webhook,
        })
        .await?;
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

pub(super) async fn exclusions(
    host: &SpokeHost,
    settings: &Settings,
    command: ExclusionsCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let read_only = matches!(command, ExclusionsCommand::List { .. });
    let engine = super::engine::engine(host, settings, read_only).await?;
    match command {
        ExclusionsCommand::Add {
            user,
            identifier,
            spoke,
            scope,
            inactive,
            note,
        } => {
            let scope = match scope {
                ScopeArg::License => ExclusionScope::Reconciliation,
                ScopeArg::Reclamation => ExclusionScope::Reclamation,
                ScopeArg::Both => ExclusionScope::Both,
            };
            let rule = engine
                .exclusions_add(AddExclusion {
                    user,
                    identifier,
                    spoke,
                    scope,
                    inactive,
                    note,
                })
                .await?;
            write_out(
                out,
                &format!(
                    "exclusion {} added: {} kept out of {}\n",
                    rule.id,
                    target_text(&rule.target),
                    rule.scope.label()
                ),
            )
        }
        ExclusionsCommand::List { format } => {
            let list = engine.exclusions_list(ExclusionsQuery {}).await?.exclusions;
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
            let x = engine.exclusions_set(SetActive { id, active }).await?;
            write_out(out, &format!("exclusion {} active: {}\n", x.id, x.active))
        }
        ExclusionsCommand::Remove { id } => {
            let removed = engine.exclusions_remove(RemoveById { id }).await?;
            write_out(out, &format!("exclusion {} removed\n", removed.id))
        }
    }
}

pub(super) async fn rules(
    host: &SpokeHost,
    settings: &Settings,
    command: RulesCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let read_only = matches!(command, RulesCommand::Show { .. });
    let engine = super::engine::engine(host, settings, read_only).await?;
    match command {
        RulesCommand::Show { model, format } => {
            let list = engine.rules_show(RulesQuery { model }).await?.rules;
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
            let rule = engine
                .rules_set(SetRule {
                    model,
                    threshold_days,
                    notify,
                    days_before_auto,
                    include_no_activity,
                    exclude_apps,
                    active,
                })
                .await?;
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
