//! `sam entitlements …`, `sam position` and `sam run reconcile`: what was bought (rights or
//! unlimited, unit cost, currency, term, active; the model's license cost override) and where
//! the admin stands against it — the latest license position per software model, or one
//! model's trend — as a table, `--json` or `--csv`.

use std::io::Write;
use std::path::Path;

use clap::{Args, Subcommand};

use super::profile::{open_read_store, open_store, store_failure};
use super::reclaim::user_if_missing;
use super::{CliError, write_out};
use crate::model::{
    AuditAction, Entitlement, LicenseCostOverride, LicenseMetric, ReconciliationResult, Rights,
    format_utc, parse_date,
};
use crate::pipeline::{Clock, SystemClock};
use crate::reconcile::{self, format_money, parse_money};
use crate::store::WriteError;

/// `sam entitlements` subcommands.
#[derive(Debug, Subcommand)]
pub enum EntitlementsCommand {
    /// Record an entitlement (metric User Subscription).
    Add(AddEntitlement),
    /// List the entitlements.
    List {
        /// Only this model's.
        #[arg(long)]
        model: Option<String>,
        #[command(flatten)]
        format: super::output::ListFormat,
    },
    /// Remove an entitlement.
    Remove {
        /// The entitlement id.
        id: String,
    },
    /// Turn an entitlement on or off.
    Set {
        /// The entitlement id.
        id: String,
        /// Whether it is in force.
        #[arg(long, action = clap::ArgAction::Set)]
        active: bool,
    },
    /// Set (or with --clear remove) a model's license cost override, used for true-ups.
    Cost {
        /// The software model.
        model: String,
        /// Price per right (e.g. 12.50).
        #[arg(long, required_unless_present = "clear")]
        unit_cost: Option<String>,
        /// ISO 4217 currency.
        #[arg(long, default_value = "USD")]
        currency: String,
        /// Remove the override.
        #[arg(long, conflicts_with = "unit_cost")]
        clear: bool,
    },
}

/// Arguments of `sam entitlements add`.
#[derive(Debug, Args)]
pub struct AddEntitlement {
    /// The software model (e.g. atlassian/confluence).
    pub model: String,
    /// Rights bought.
    #[arg(
        long,
        conflicts_with = "unlimited",
        required_unless_present = "unlimited"
    )]
    pub rights: Option<u64>,
    /// Unlimited rights.
    #[arg(long)]
    pub unlimited: bool,
    /// Price per right for the term (e.g. 5.16); for unlimited, the price of the entitlement.
    #[arg(long, default_value = "0")]
    pub unit_cost: String,
    /// ISO 4217 currency.
    #[arg(long, default_value = "USD")]
    pub currency: String,
    /// Start of the term (YYYY-MM-DD) [default: today].
    #[arg(long)]
    pub start: Option<String>,
    /// End of the term, exclusive (YYYY-MM-DD).
    #[arg(long)]
    pub end: Option<String>,
    /// Record it inactive.
    #[arg(long)]
    pub inactive: bool,
    /// A note (contract, PO ...).
    #[arg(long)]
    pub note: Option<String>,
}

/// Arguments of `sam position`.
#[derive(Debug, Args)]
pub struct PositionArgs {
    /// Show this model's trend (every result) instead of the latest of each model.
    #[arg(long)]
    pub model: Option<String>,
    /// Compute a fresh position first.
    #[arg(long)]
    pub refresh: bool,
    #[command(flatten)]
    pub format: super::output::ListFormat,
}

fn currency(text: &str) -> Result<String, CliError> {
    let c = text.trim().to_ascii_uppercase();
    if c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(c)
    } else {
        Err(CliError::User(format!(
            "--currency {text:?} is not an ISO 4217 code (three letters)"
        )))
    }
}

fn money(flag: &str, text: &str) -> Result<u64, CliError> {
    parse_money(text).ok_or_else(|| {
        CliError::User(format!(
            "{flag} {text:?} is not an amount (digits, at most two decimals)"
        ))
    })
}

fn date(flag: &str, text: &str) -> Result<i64, CliError> {
    parse_date(text)
        .ok_or_else(|| CliError::User(format!("{flag} {text:?} is not a YYYY-MM-DD date")))
}

pub(super) fn entitlements(
    db: Option<&Path>,
    command: EntitlementsCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let store = if matches!(command, EntitlementsCommand::List { .. }) {
        open_read_store(db)?
    } else {
        open_store(db)?
    };
    let now = SystemClock.now();
    match command {
        EntitlementsCommand::Add(a) => {
            let unit_cost_minor = money("--unit-cost", &a.unit_cost)?;
            let currency = currency(&a.currency)?;
            let start = match &a.start {
                Some(s) => date("--start", s)?,
                None => now - now.rem_euclid(crate::model::DAY),
            };
            let end = a.end.as_deref().map(|e| date("--end", e)).transpose()?;
            if end.is_some_and(|e| e <= start) {
                return Err(CliError::User("--end must be after --start".into()));
            }
            let rights = match (a.rights, a.unlimited) {
                (_, true) => Rights::Unlimited,
                (Some(n), false) => Rights::Count(n),
                (None, false) => {
                    return Err(CliError::User("give --rights N or --unlimited".into()));
                }
            };
            let e = store
                .write(|tx| {
                    if tx.model(&a.model)?.is_none() {
                        return Err(WriteError::NotFound {
                            what: format!(
                                "software model `{}` (models are created by the first download)",
                                a.model
                            ),
                        });
                    }
                    let e = Entitlement {
                        id: tx.next_seq("entitlement")?.to_string(),
                        model: a.model.clone(),
                        metric: LicenseMetric::UserSubscription,
                        rights,
                        unit_cost_minor,
                        currency: currency.clone(),
                        start,
                        end,
                        active: !a.inactive,
                        note: a.note.clone(),
                    };
                    tx.put_entitlement(&e)?;
                    tx.audit(
                        now,
                        None,
                        AuditAction::EntitlementChanged,
                        format!("entitlement {} added for `{}`", e.id, e.model),
                        None,
                    )?;
                    Ok(e)
                })
                .map_err(user_if_missing)?;
            write_out(
                out,
                &format!(
                    "entitlement {} added: {} of {} at {} per right\n",
                    e.id,
                    rights_text(e.rights),
                    e.model,
                    format_money(e.unit_cost_minor, Some(&e.currency))
                ),
            )
        }
        EntitlementsCommand::List { model, format } => {
            let mut list = store
                .read()
                .and_then(|r| r.entitlements())
                .map_err(store_failure)?;
            list.retain(|e| model.as_ref().is_none_or(|m| &e.model == m));
            list.sort_by_key(|e| (e.model.clone(), e.id.parse::<u64>().unwrap_or(u64::MAX)));
            let rows = list
                .iter()
                .map(|e| {
                    vec![
                        e.id.clone(),
                        e.model.clone(),
                        e.metric.label().to_string(),
                        rights_text(e.rights),
                        format_money(e.unit_cost_minor, Some(&e.currency)),
                        format!(
                            "{} - {}",
                            format_utc(e.start).get(..10).unwrap_or_default(),
                            e.end.map_or("open".to_string(), |t| format_utc(t)
                                .get(..10)
                                .unwrap_or_default()
                                .to_string())
                        ),
                        if e.active { "yes" } else { "no" }.into(),
                        if e.in_force(now) { "yes" } else { "no" }.into(),
                    ]
                })
                .collect();
            super::output::Listing {
                records: &list,
                header: &[
                    "Id",
                    "Model",
                    "Metric",
                    "Rights",
                    "Unit cost",
                    "Term",
                    "Active",
                    "In force",
                ],
                rows,
                footer: None,
            }
            .print(format, out)
        }
        EntitlementsCommand::Remove { id } => {
            store
                .write(|tx| {
                    if !tx.delete_entitlement(&id)? {
                        return Err(WriteError::NotFound {
                            what: format!("entitlement `{id}`"),
                        });
                    }
                    tx.audit(
                        now,
                        None,
                        AuditAction::EntitlementChanged,
                        format!("entitlement {id} removed"),
                        None,
                    )?;
                    Ok(())
                })
                .map_err(user_if_missing)?;
            write_out(out, &format!("entitlement {id} removed\n"))
        }
        EntitlementsCommand::Set { id, active } => {
            store
                .write(|tx| {
                    let mut e = tx
                        .entitlements()?
                        .into_iter()
                        .find(|e| e.id == id)
                        .ok_or_else(|| WriteError::NotFound {
                            what: format!("entitlement `{id}`"),
                        })?;
                    e.active = active;
                    tx.put_entitlement(&e)?;
                    tx.audit(
                        now,
                        None,
                        AuditAction::EntitlementChanged,
                        format!("entitlement {id} set active={active}"),
                        None,
                    )?;
                    Ok(())
                })
                .map_err(user_if_missing)?;
            write_out(out, &format!("entitlement {id} active: {active}\n"))
        }
        EntitlementsCommand::Cost {
            model,
            unit_cost,
            currency: cur,
            clear,
        } => {
            let value = match (clear, unit_cost) {
                (true, _) => None,
                (false, Some(u)) => Some((money("--unit-cost", &u)?, currency(&cur)?)),
                (false, None) => return Err(CliError::User("give --unit-cost or --clear".into())),
            };
            store
                .write(|tx| {
                    if tx.model(&model)?.is_none() {
                        return Err(WriteError::NotFound {
                            what: format!("software model `{model}`"),
                        });
                    }
                    match &value {
                        Some((unit, c)) => tx.put_cost_override(&LicenseCostOverride {
                            model: model.clone(),
                            unit_cost_minor: *unit,
                            currency: c.clone(),
                        })?,
                        None => {
                            tx.delete_cost_override(&model)?;
                        }
                    }
                    tx.audit(
                        now,
                        None,
                        AuditAction::EntitlementChanged,
                        format!("license cost override of `{model}`: {value:?}"),
                        None,
                    )?;
                    Ok(())
                })
                .map_err(user_if_missing)?;
            let text = match value {
                Some((u, c)) => format!(
                    "license cost override of {model}: {}\n",
                    format_money(u, Some(&c))
                ),
                None => format!("license cost override of {model} removed\n"),
            };
            write_out(out, &text)
        }
    }
}

fn rights_text(r: Rights) -> String {
    match r {
        Rights::Count(n) => n.to_string(),
        Rights::Unlimited => "unlimited".into(),
    }
}

/// `sam run reconcile`.
pub(super) fn run_reconcile(
    db: Option<&Path>,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let store = open_store(db)?;
    let results = reconcile::run(&store, &SystemClock).map_err(store_failure)?;
    let format = super::output::ListFormat { json, csv: false };
    print_positions(out, &results, format)?;
    if !json {
        print_vendor_counts(&store, &results, out)?;
    }
    Ok(())
}

/// The vendor's own seat counts beside the positions (nothing when no spoke reports any).
fn print_vendor_counts(
    store: &crate::store::Store,
    results: &[ReconciliationResult],
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let counts = store
        .read()
        .map_err(store_failure)?
        .vendor_seat_counts()
        .map_err(store_failure)?;
    let rows = reconcile::vendor::compare(&counts, results);
    if rows.is_empty() {
        return Ok(());
    }
    let n = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    let mut warnings = Vec::new();
    let mut body = Vec::new();
    for r in &rows {
        body.push(vec![
            r.model.clone(),
            n(r.purchased),
            n(r.in_use),
            n(r.pending_cancellation),
            n(r.rights_owned),
            n(r.rights_used),
        ]);
        warnings.extend(r.warnings.iter().map(|w| format!("{}: {w}", r.model)));
    }
    let t = super::output::table(
        &[
            "Model",
            "Vendor: purchased",
            "Vendor: in use",
            "Vendor: pending cancellation",
            "Entitlements: owned",
            "sam: used",
        ],
        body,
    );
    let mut text = format!("seats as the vendor reports them:\n{t}\n");
    for w in warnings {
        text.push_str(&format!("warning: {w}\n"));
    }
    write_out(out, &text)
}

pub(super) fn position(
    db: Option<&Path>,
    args: PositionArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let store = if args.refresh {
        open_store(db)?
    } else {
        open_read_store(db)?
    };
    if args.refresh {
        reconcile::run(&store, &SystemClock).map_err(store_failure)?;
    }
    let read = store.read().map_err(store_failure)?;
    let results = match &args.model {
        Some(m) => read.reconciliation_history(m).map_err(store_failure)?,
        None => read.latest_positions().map_err(store_failure)?,
    };
    drop(read);
    if results.is_empty() && !args.format.json && !args.format.csv {
        return write_out(
            out,
            "no license position yet: run `sam run reconcile` (it also runs after each download)\n",
        );
    }
    print_positions(out, &results, args.format)?;
    if !args.format.json && !args.format.csv {
        print_vendor_counts(&store, &results, out)?;
    }
    Ok(())
}

fn print_positions(
    out: &mut dyn Write,
    results: &[ReconciliationResult],
    format: super::output::ListFormat,
) -> Result<(), CliError> {
    let mut warnings = Vec::new();
    let mut rows = Vec::new();
    for r in results {
        let p = &r.position;
        let cur = p.currency.as_deref();
        rows.push(vec![
            r.model.clone(),
            format_utc(r.computed_at),
            p.rights_owned.map_or("unlimited".into(), |n| n.to_string()),
            p.rights_used.to_string(),
            p.rights_available.map_or("-".into(), |n| n.to_string()),
            p.unlicensed.to_string(),
            p.excluded.to_string(),
            p.inactive.to_string(),
            format_money(p.over_licensed_cost_minor, cur),
            format_money(p.true_up_cost_minor, cur),
            format_money(p.potential_savings_minor, cur),
            p.status.label().to_string(),
        ]);
        warnings.extend(
            p.warnings
                .iter()
                .map(|w| format!("warning: {}: {w}", r.model)),
        );
    }
    super::output::Listing {
        records: results,
        header: &[
            "Model",
            "Computed",
            "Owned",
            "Used",
            "Available",
            "Unlicensed",
            "Excluded",
            "Inactive",
            "Over-licensed",
            "True-up",
            "Savings",
            "Status",
        ],
        rows,
        footer: (!warnings.is_empty()).then(|| warnings.join("\n")),
    }
    .print(format, out)
}
