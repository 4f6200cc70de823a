//! `sam subscriptions list|show`, `sam models list|show`, `sam identifiers list|map`, `sam
//! audit list|show` and `sam tokens create|list|revoke`: parse, call the engine (this process
//! or the daemon, [`super::engine`]), print as a table, `--json` or `--csv`.

use std::io::Write;

use clap::{Args, Subcommand};

use super::output::{ListFormat, Listing, json_out};
use super::{CliError, write_out};
use crate::app::Engine;
use crate::app::ops::{CreateToken, RevokeToken, TokensQuery};
use crate::app::views::*;
use crate::model::{AuditEntry, EpochSeconds, Role, format_utc};

/// `sam subscriptions` subcommands.
#[derive(Debug, Subcommand)]
pub enum SubscriptionsCommand {
    /// Seats: who holds which, with the holder's last activity.
    List(SubscriptionsListArgs),
    /// Every seat one user holds, across profiles (by user id or e-mail).
    Show {
        /// The user id or e-mail.
        user: String,
        /// Ended seats too.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        format: ListFormat,
    },
}

/// Arguments of `sam subscriptions list`.
#[derive(Debug, Args)]
pub struct SubscriptionsListArgs {
    /// Only this profile.
    #[arg(long)]
    pub profile: Option<String>,
    /// Only this software model (its id).
    #[arg(long)]
    pub model: Option<String>,
    /// Only holders whose user id, e-mail or name contains this.
    #[arg(long)]
    pub user: Option<String>,
    /// Which seats.
    #[arg(long, value_enum, default_value_t = SubscriptionState::Active)]
    pub state: SubscriptionState,
    /// Only seats with no activity in this many days (none known counts).
    #[arg(long, value_name = "DAYS")]
    pub inactive_for: Option<u32>,
    /// At most this many rows (the total is still counted).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub format: ListFormat,
}

/// `sam models` subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Software models with their identifiers and active seats.
    List {
        #[command(flatten)]
        format: ListFormat,
    },
    /// One software model.
    Show {
        /// The model's id (`publisher/product[/edition]`).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `sam identifiers` subcommands.
#[derive(Debug, Subcommand)]
pub enum IdentifiersCommand {
    /// Subscription identifiers and the model each maps to.
    List {
        /// Only the unrecognized ones (no model yet): the queue to work through.
        #[arg(long)]
        unrecognized: bool,
        #[command(flatten)]
        format: ListFormat,
    },
    /// Map an identifier to a software model; its subscriptions follow.
    Map {
        /// The identifier.
        identifier: String,
        /// The software model's id.
        model: String,
        /// The spoke that reports it (needed when several do).
        #[arg(long)]
        spoke: Option<String>,
    },
}

/// `sam audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// What sam changed, newest first.
    List(AuditListArgs),
    /// One entry.
    Show {
        /// The entry's number.
        seq: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `sam audit list`.
#[derive(Debug, Args)]
pub struct AuditListArgs {
    /// Only this profile.
    #[arg(long)]
    pub profile: Option<String>,
    /// Only entries whose actor contains this (`cli:alice`, `token:`, `scheduler`).
    #[arg(long)]
    pub actor: Option<String>,
    /// Only this action (e.g. `reclaimed`, `candidate-changed`).
    #[arg(long)]
    pub action: Option<String>,
    /// Only entries since this date (YYYY-MM-DD) or time (RFC 3339).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// At most this many.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    #[command(flatten)]
    pub format: ListFormat,
}

/// `sam tokens` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create an API token (printed once; only its hash is kept).
    Create {
        /// A name for people ("ci", "alice's laptop").
        name: String,
        /// What it may do.
        #[arg(long, value_enum, default_value_t = Role::Viewer)]
        role: Role,
    },
    /// List the API tokens (never their secrets).
    List {
        #[command(flatten)]
        format: ListFormat,
    },
    /// Revoke an API token.
    Revoke {
        /// The token's id.
        id: String,
    },
}

fn opt(value: Option<&str>) -> String {
    value.unwrap_or("-").to_string()
}

fn when(at: Option<EpochSeconds>) -> String {
    at.map_or("-".into(), format_utc)
}

/// Last activity for people: the date and age, or why there is none.
fn activity_text(s: &SubscriptionView) -> String {
    match (s.last_activity, s.activity.as_str()) {
        (Some(at), _) => format!(
            "{} ({}d ago)",
            format_utc(at).get(..10).unwrap_or_default(),
            s.activity_age_days.unwrap_or(0)
        ),
        (None, "none-in-window") => "none in look-back".into(),
        _ => "unknown".into(),
    }
}

const SUBSCRIPTION_HEADER: &[&str] = &[
    "Profile",
    "User",
    "Name",
    "E-mail",
    "Identifier",
    "Model",
    "Granted by",
    "State",
    "Last activity",
    "Source",
];

fn subscription_rows(rows: &[SubscriptionView]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|s| {
            vec![
                s.profile.clone(),
                s.user.clone(),
                opt(s.display_name.as_deref()),
                opt(s.email.as_deref()),
                s.identifier.clone(),
                opt(s.model.as_deref()),
                s.granted_by.join(" "),
                if s.active {
                    "active".into()
                } else {
                    format!("ended {}", when(s.ended_at))
                },
                activity_text(s),
                match (&s.activity_source, s.activity_kind) {
                    (Some(source), Some(kind)) => format!("{source} ({})", kind_name(kind)),
                    (Some(source), None) => source.clone(),
                    (None, _) => "-".into(),
                },
            ]
        })
        .collect()
}

/// The kind of evidence as JSON and flags name it.
fn kind_name(kind: crate::model::ActivityKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Parses `YYYY-MM-DD` or an RFC 3339 time.
fn parse_since(text: &str) -> Result<EpochSeconds, CliError> {
    if let Some(at) = crate::model::parse_date(text) {
        return Ok(at);
    }
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp())
        .map_err(|_| {
            CliError::User(format!(
                "--since {text:?} is neither a YYYY-MM-DD date nor an RFC 3339 time"
            ))
        })
}

pub(super) async fn subscriptions(
    engine: &Engine,
    command: SubscriptionsCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        SubscriptionsCommand::List(a) => {
            let list = engine
                .subscriptions_list(SubscriptionsQuery {
                    profile: a.profile,
                    model: a.model,
                    user: a.user,
                    state: Some(a.state),
                    inactive_for: a.inactive_for,
                    limit: a.limit,
                })
                .await?;
            let shown = list.subscriptions.len() as u64;
            Listing {
                records: &list,
                header: SUBSCRIPTION_HEADER,
                rows: subscription_rows(&list.subscriptions),
                footer: Some(if shown < list.total {
                    format!("{shown} of {} subscriptions (--limit)", list.total)
                } else {
                    format!("{} subscriptions", list.total)
                }),
            }
            .print(a.format, out)
        }
        SubscriptionsCommand::Show { user, all, format } => {
            let seats = engine
                .subscriptions_user(UserSeatsQuery { user, all })
                .await?;
            Listing {
                records: &seats,
                header: SUBSCRIPTION_HEADER,
                rows: subscription_rows(&seats.seats),
                footer: Some(format!("{} holds {} seats", seats.user, seats.seats.len())),
            }
            .print(format, out)
        }
    }
}

pub(super) async fn models(
    engine: &Engine,
    command: ModelsCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let model_row = |m: &ModelView| {
        vec![
            m.model.id.clone(),
            m.model.publisher.clone(),
            m.model.product.clone(),
            opt(m.model.edition.as_deref()),
            m.identifiers.join(" "),
            m.active_subscriptions.to_string(),
            if m.model.auto_created {
                "auto".into()
            } else {
                "admin".into()
            },
        ]
    };
    let header = &[
        "Model",
        "Publisher",
        "Product",
        "Edition",
        "Identifiers",
        "Active seats",
        "Created",
    ];
    match command {
        ModelsCommand::List { format } => {
            let list = engine.models_list(ModelsQuery {}).await?;
            Listing {
                records: &list,
                header,
                rows: list.models.iter().map(model_row).collect(),
                footer: Some(format!("{} software models", list.models.len())),
            }
            .print(format, out)
        }
        ModelsCommand::Show { id, json } => {
            let model = engine.models_show(ModelQuery { id }).await?;
            if json {
                return json_out(out, &model);
            }
            let row = model_row(&model);
            let mut text = String::new();
            for (name, value) in header.iter().zip(row) {
                text.push_str(&format!("{name:<13} {value}\n"));
            }
            write_out(out, &text)
        }
    }
}

pub(super) async fn identifiers(
    engine: &Engine,
    command: IdentifiersCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        IdentifiersCommand::List {
            unrecognized,
            format,
        } => {
            let list = engine
                .identifiers_list(IdentifiersQuery { unrecognized })
                .await?;
            Listing {
                records: &list,
                header: &["Spoke", "Identifier", "Model", "Profiles", "Subscriptions"],
                rows: list
                    .identifiers
                    .iter()
                    .map(|i| {
                        vec![
                            i.spoke_id.clone(),
                            i.identifier.clone(),
                            i.model.clone().unwrap_or_else(|| "(unrecognized)".into()),
                            i.profiles.join(" "),
                            i.subscription_count.to_string(),
                        ]
                    })
                    .collect(),
                footer: Some(format!(
                    "{} identifiers{}",
                    list.identifiers.len(),
                    if unrecognized {
                        " without a model: map each with `sam identifiers map ID MODEL`"
                    } else {
                        ""
                    }
                )),
            }
            .print(format, out)
        }
        IdentifiersCommand::Map {
            identifier,
            model,
            spoke,
        } => {
            let spoke = match spoke {
                Some(spoke) => spoke,
                None => {
                    let all = engine
                        .identifiers_list(IdentifiersQuery {
                            unrecognized: false,
                        })
                        .await?;
                    let spokes: Vec<String> = all
                        .identifiers
                        .into_iter()
                        .filter(|i| i.identifier == identifier)
                        .map(|i| i.spoke_id)
                        .collect();
                    match spokes.as_slice() {
                        [one] => one.clone(),
                        [] => {
                            return Err(CliError::User(format!(
                                "no subscription identifier `{identifier}`: `sam identifiers list` shows them"
                            )));
                        }
                        _ => {
                            return Err(CliError::User(format!(
                                "identifier `{identifier}` is reported by several spokes ({}): name one with --spoke",
                                spokes.join(", ")
                            )));
                        }
                    }
                }
            };
            let mapped = engine
                .identifiers_map(MapIdentifier {
                    spoke,
                    identifier,
                    model,
                })
                .await?;
            write_out(
                out,
                &format!(
                    "identifier `{}` now maps to `{}`; {} subscriptions moved to it\n",
                    mapped.identifier.identifier,
                    mapped.identifier.model.as_deref().unwrap_or("-"),
                    mapped.subscriptions_updated
                ),
            )
        }
    }
}

fn audit_row(e: &AuditEntry) -> Vec<String> {
    vec![
        e.seq.to_string(),
        format_utc(e.at),
        e.actor.clone(),
        opt(e.profile.as_deref()),
        action_name(&e.action),
        e.detail.clone(),
    ]
}

pub(super) async fn audit(
    engine: &Engine,
    command: AuditCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let header = &["#", "When", "Actor", "Profile", "Action", "Detail"];
    match command {
        AuditCommand::List(a) => {
            let since = a.since.as_deref().map(parse_since).transpose()?;
            let list = engine
                .audit_list(AuditQuery {
                    profile: a.profile,
                    actor: a.actor,
                    action: a.action,
                    since,
                    limit: Some(a.limit),
                })
                .await?;
            let shown = list.entries.len() as u64;
            Listing {
                records: &list,
                header,
                rows: list.entries.iter().map(audit_row).collect(),
                footer: Some(if shown < list.total {
                    format!("newest {shown} of {} entries (--limit)", list.total)
                } else {
                    format!("{} entries", list.total)
                }),
            }
            .print(a.format, out)
        }
        AuditCommand::Show { seq, json } => {
            let entry = engine.audit_show(AuditEntryQuery { seq }).await?;
            if json {
                return json_out(out, &entry);
            }
            let mut text = String::new();
            for (name, value) in header.iter().zip(audit_row(&entry)) {
                text.push_str(&format!("{name:<8} {value}\n"));
            }
            if let Some(run) = entry.run {
                text.push_str(&format!("Run      {run}\n"));
            }
            write_out(out, &text)
        }
    }
}

pub(super) async fn tokens(
    engine: &Engine,
    command: TokensCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        TokensCommand::Create { name, role } => {
            let created = engine.tokens_create(CreateToken { name, role }).await?;
            write_out(
                out,
                &format!(
                    "created token {} `{}` ({}); it is shown this once:\n{}\n",
                    created.id, created.name, created.role, created.token
                ),
            )
        }
        TokensCommand::List { format } => {
            let list = engine.tokens_list(TokensQuery {}).await?;
            Listing {
                records: &list,
                header: &["Id", "Name", "Role", "Created", "By", "Revoked"],
                rows: list
                    .tokens
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.clone(),
                            t.name.clone(),
                            t.role.to_string(),
                            when(Some(t.created_at)),
                            t.created_by.clone(),
                            when(t.revoked_at),
                        ]
                    })
                    .collect(),
                footer: Some(format!("{} tokens", list.tokens.len())),
            }
            .print(format, out)
        }
        TokensCommand::Revoke { id } => {
            let token = engine.tokens_revoke(RevokeToken { id }).await?;
            write_out(
                out,
                &format!(
                    "token {} `{}` is revoked (since {})\n",
                    token.id,
                    token.name,
                    when(token.revoked_at)
                ),
            )
        }
    }
}
