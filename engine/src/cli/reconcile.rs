//! `sam entitlements …`, `sam position` and `sam run reconcile`: parse, call the engine
//! (this process or the daemon; the logic is in [`crate::app::reclaim`]) and print what was
//! bought (rights or unlimited, unit cost, currency, term, active; the model's license cost
//! override) and where the admin stands against it — the latest license position per
//! software model, or one model's trend — as a table, `--json` or `--csv`.

use std::io::Write;

use clap::{Args, Subcommand};

use super::{CliError, write_out};
use crate::app::reclaim::*;
use crate::config::Settings;
use crate::host::SpokeHost;
use crate::model::{ReconciliationResult, Rights, format_utc};
use crate::reconcile::format_money;

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
    /// Each profile's share of the latest position instead: every distinct holder counts in
    /// one profile (the first, by name, holding them), so the shares sum to the model's
    /// figures.
    #[arg(long)]
    pub by_profile: bool,
    #[command(flatten)]
    pub format: super::output::ListFormat,
}

pub(super) async fn entitlements(
    host: &SpokeHost,
    settings: &Settings,
    command: EntitlementsCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let read_only = matches!(command, EntitlementsCommand::List { .. });
    let engine = super::engine::engine(host, settings, read_only).await?;
    match command {
        EntitlementsCommand::Add(a) => {
            let e = engine
                .entitlements_add(crate::app::reclaim::AddEntitlement {
                    model: a.model,
                    rights: a.rights,
                    unlimited: a.unlimited,
                    unit_cost: a.unit_cost,
                    currency: a.currency,
                    start: a.start,
                    end: a.end,
                    inactive: a.inactive,
                    note: a.note,
                })
                .await?;
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
            let EntitlementList {
                entitlements: list,
                at: now,
            } = engine
                .entitlements_list(EntitlementsQuery { model })
                .await?;
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
            let removed = engine.entitlements_remove(RemoveById { id }).await?;
            write_out(out, &format!("entitlement {} removed\n", removed.id))
        }
        EntitlementsCommand::Set { id, active } => {
            let e = engine.entitlements_set(SetActive { id, active }).await?;
            write_out(out, &format!("entitlement {} active: {}\n", e.id, e.active))
        }
        EntitlementsCommand::Cost {
            model,
            unit_cost,
            currency,
            clear,
        } => {
            let answer = engine
                .entitlements_cost(SetCost {
                    model,
                    unit_cost,
                    currency,
                    clear,
                })
                .await?;
            let model = &answer.model;
            let text = match answer.cost {
                Some(o) => format!(
                    "license cost override of {model}: {}\n",
                    format_money(o.unit_cost_minor, Some(&o.currency))
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
pub(super) async fn run_reconcile(
    host: &SpokeHost,
    settings: &Settings,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let engine = super::engine::engine(host, settings, false).await?;
    let answer = engine.runs_reconcile(ReconcileBody {}).await?;
    let format = super::output::ListFormat { json, csv: false };
    print_positions(out, &answer.results, format)?;
    if !json {
        print_vendor_counts(&answer.vendor, out)?;
    }
    Ok(())
}

/// The vendor's own seat counts beside the positions (nothing when no spoke reports any).
fn print_vendor_counts(
    rows: &[crate::reconcile::vendor::VendorComparison],
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if rows.is_empty() {
        return Ok(());
    }
    let n = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    let mut warnings = Vec::new();
    let mut body = Vec::new();
    for r in rows {
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

pub(super) async fn position(
    host: &SpokeHost,
    settings: &Settings,
    args: PositionArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let engine = super::engine::engine(host, settings, !args.refresh).await?;
    if args.refresh {
        engine.runs_reconcile(ReconcileBody {}).await?;
    }
    let answer = engine.position(PositionQuery { model: args.model }).await?;
    if args.by_profile {
        return print_shares(out, &answer.shares, args.format);
    }
    let results = answer.results;
    if results.is_empty() && !args.format.json && !args.format.csv {
        return write_out(
            out,
            "no license position yet: run `sam run reconcile` (it also runs after each download)\n",
        );
    }
    print_positions(out, &results, args.format)?;
    if !args.format.json && !args.format.csv {
        print_vendor_counts(&answer.vendor, out)?;
    }
    Ok(())
}

/// Each profile's share of the latest positions.
fn print_shares(
    out: &mut dyn Write,
    shares: &[crate::model::ProfileShare],
    format: super::output::ListFormat,
) -> Result<(), CliError> {
    let rows = shares
        .iter()
        .map(|s| {
            vec![
                s.model.clone(),
                s.profile.clone(),
                format_utc(s.computed_at),
                s.counts.held.to_string(),
                s.counts.used.to_string(),
                s.counts.inactive.to_string(),
                s.counts.excluded.to_string(),
            ]
        })
        .collect();
    super::output::Listing {
        records: shares,
        header: &[
            "Model",
            "Profile",
            "Computed",
            "Holders",
            "Used",
            "Inactive",
            "Excluded holders",
        ],
        rows,
        footer: Some(
            "each holder counts in one profile (the first, by name, holding them): the shares \
             sum to the model's Used, Inactive and Excluded"
                .to_string(),
        ),
    }
    .print(format, out)
}

pub(super) fn print_positions(
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
            p.over_licensed().map_or("-".into(), |n| n.to_string()),
            p.under_licensed().to_string(),
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
            "Over-licensed",
            "Under-licensed",
            "Excluded holders",
            "Inactive",
            "Over-licensed cost",
            "True-up cost",
            "Potential savings",
            "Status",
        ],
        rows,
        footer: (!warnings.is_empty()).then(|| warnings.join("\n")),
    }
    .print(format, out)
}
