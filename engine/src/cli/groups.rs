//! `sam groups list|add|remove <profile>`: the guide's "Add Confluence Groups" step. `list`
//! pages through the spoke's `list-groups` on the profile's connection and marks the groups
//! selected as product-access groups; `add` resolves ids or names against that list and
//! selects them; `remove` unselects. Changes are one transaction each.

use std::io::Write;

use clap::Subcommand;

use super::{CliError, write_out};
use crate::app::Engine;
use crate::app::profiles::{ChangeGroups, GroupsChanged, GroupsQuery};
use crate::config::Settings;
use crate::host::SpokeHost;

/// `sam groups` subcommands.
#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// List the site's groups, marking the selected ones.
    List {
        /// The profile.
        profile: String,
        #[command(flatten)]
        format: super::output::ListFormat,
    },
    /// Select product-access groups (ids or names).
    Add {
        /// The profile.
        profile: String,
        /// Group ids or names.
        #[arg(required = true)]
        groups: Vec<String>,
    },
    /// Unselect groups (ids or names).
    Remove {
        /// The profile.
        profile: String,
        /// Group ids or names.
        #[arg(required = true)]
        groups: Vec<String>,
    },
}

pub(super) async fn run(
    host: &SpokeHost,
    settings: &Settings,
    command: GroupsCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    // Listing reads the vendor through the profile's connection, which may refresh and
    // store its tokens: never read-only.
    let engine = super::engine::engine(host, settings, false).await?;
    match command {
        GroupsCommand::List { profile, format } => {
            let list = engine
                .groups_list(GroupsQuery {
                    profile: profile.clone(),
                })
                .await?;
            let rows: Vec<Vec<String>> = list
                .groups
                .iter()
                .map(|g| {
                    vec![
                        if g.selected { "yes" } else { "" }.to_string(),
                        g.name.clone(),
                        g.access.clone(),
                        g.members.map_or("-".into(), |n| n.to_string()),
                        g.id.clone(),
                    ]
                })
                .collect();
            super::output::Listing {
                records: &list.groups,
                header: &["Selected", "Name", "Access", "Members", "Id"],
                rows,
                footer: Some(format!(
                    "Select the groups that grant access to the product: sam groups add {profile} <name or id>..."
                )),
            }
            .print(format, out)
        }
        GroupsCommand::Add { profile, groups } => add(&engine, &profile, &groups, out).await,
        GroupsCommand::Remove { profile, groups } => {
            let removed = engine
                .groups_remove(ChangeGroups { profile, groups })
                .await?;
            let ids: Vec<&str> = removed.groups.iter().map(|g| g.group_id.as_str()).collect();
            write_out(
                out,
                &format!(
                    "unselected on profile `{}`: {}\n",
                    removed.profile,
                    ids.join(", ")
                ),
            )
        }
    }
}

/// `sam groups add`.
pub(super) async fn add(
    engine: &Engine,
    profile: &str,
    wanted: &[String],
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let added: GroupsChanged = engine
        .groups_add(ChangeGroups {
            profile: profile.to_string(),
            groups: wanted.to_vec(),
        })
        .await?;
    let names: Vec<String> = added
        .groups
        .iter()
        .map(|g| format!("{} ({})", g.name.as_deref().unwrap_or_default(), g.group_id))
        .collect();
    write_out(
        out,
        &format!(
            "selected on profile `{profile}`: {}\nnext: sam profile validate {profile}\n",
            names.join(", ")
        ),
    )
}
