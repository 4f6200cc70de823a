//! `sam groups list|add|remove <profile>`: the guide's "Add Confluence Groups" step. `list`
//! pages through the spoke's `list-groups` on the profile's connection and marks the groups
//! selected as product-access groups; `add` resolves ids or names against that list and
//! selects them; `remove` unselects. Changes are one transaction each.

use std::io::Write;
use std::sync::Arc;

use clap::Subcommand;

use super::profile::{open_store, store_failure, write_failure};
use super::{CliError, write_out};
use crate::app::session::open_profile_session;
use crate::config::Settings;
use crate::contract::Group;
use crate::host::SpokeHost;
use crate::model::{AuditAction, SelectedGroup};
use crate::pipeline::{Clock, SystemClock};
use crate::store::{Store, WriteError};

/// Pages of groups read at most (a guard against a cursor that never ends).
const MAX_PAGES: usize = 10_000;

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
    let store = Arc::new(open_store(Some(&settings.db))?);
    match command {
        GroupsCommand::List { profile, format } => {
            list(host, &store, settings, &profile, format, out).await
        }
        GroupsCommand::Add { profile, groups } => {
            add(host, &store, settings, &profile, &groups, out).await
        }
        GroupsCommand::Remove { profile, groups } => remove(&store, &profile, &groups, out),
    }
}

/// Every group of the profile's site, through the spoke.
pub(super) async fn site_groups(
    host: &SpokeHost,
    store: &Arc<Store>,
    settings: &Settings,
    profile: &str,
) -> Result<Vec<Group>, CliError> {
    let opened = open_profile_session(host, store, settings, profile).await?;
    let mut groups = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = opened
            .spoke
            .list_groups(&opened.session, &opened.config, cursor.as_deref())
            .await
            .map_err(|e| {
                CliError::Failure(format!(
                    "listing the groups of profile `{profile}` failed: {}",
                    e.kind
                ))
            })?;
        groups.extend(page.groups);
        match page.next_cursor {
            Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
            _ => return Ok(groups),
        }
    }
    Err(CliError::Failure(format!(
        "listing the groups of profile `{profile}` did not end after {MAX_PAGES} pages"
    )))
}

/// What a group grants, for people: `product` marks the groups that grant product access.
fn access_label(access: crate::contract::GroupAccess) -> &'static str {
    use crate::contract::GroupAccess as A;
    match access {
        A::Product => "product",
        A::Admin => "admin",
        A::SiteAdmin => "site-admin",
        A::None => "none",
        A::Unknown => "-",
    }
}

async fn list(
    host: &SpokeHost,
    store: &Arc<Store>,
    settings: &Settings,
    profile: &str,
    format: super::output::ListFormat,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let groups = site_groups(host, store, settings, profile).await?;
    let selected = store
        .read()
        .and_then(|r| r.selected_groups(profile))
        .map_err(store_failure)?;
    let is_selected = |id: &str| selected.iter().any(|s| s.group_id == id);
    let records: Vec<_> = groups
        .iter()
        .map(|g| serde_json::json!({"id": g.id, "name": g.name, "selected": is_selected(&g.id), "access": access_label(g.access), "members": g.member_count}))
        .collect();
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            vec![
                if is_selected(&g.id) { "yes" } else { "" }.to_string(),
                g.name.clone(),
                access_label(g.access).to_string(),
                g.member_count.map_or("-".into(), |n| n.to_string()),
                g.id.clone(),
            ]
        })
        .collect();
    super::output::Listing {
        records: &records,
        header: &["Selected", "Name", "Access", "Members", "Id"],
        rows,
        footer: Some(format!(
            "Select the groups that grant access to the product: sam groups add {profile} <name or id>..."
        )),
    }
    .print(format, out)
}

pub(super) async fn add(
    host: &SpokeHost,
    store: &Arc<Store>,
    settings: &Settings,
    profile: &str,
    wanted: &[String],
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let groups = site_groups(host, store, settings, profile).await?;
    let mut chosen: Vec<&Group> = Vec::new();
    for w in wanted {
        let found = groups
            .iter()
            .find(|g| g.id == *w)
            .or_else(|| groups.iter().find(|g| g.name.eq_ignore_ascii_case(w)))
            .ok_or_else(|| {
                CliError::User(format!(
                    "the site has no group `{w}`: `sam groups list {profile}` shows them"
                ))
            })?;
        if !chosen.iter().any(|g| g.id == found.id) {
            chosen.push(found);
        }
    }
    let now = SystemClock.now();
    store
        .write(|tx| {
            for g in &chosen {
                tx.put_selected_group(&SelectedGroup {
                    profile: profile.to_string(),
                    group_id: g.id.clone(),
                    name: Some(g.name.clone()),
                })?;
            }
            tx.audit(
                now,
                Some(profile),
                AuditAction::GroupsChanged,
                format!(
                    "selected {}",
                    chosen
                        .iter()
                        .map(|g| g.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None,
            )?;
            Ok::<_, WriteError>(())
        })
        .map_err(write_failure)?;
    let names: Vec<String> = chosen
        .iter()
        .map(|g| format!("{} ({})", g.name, g.id))
        .collect();
    write_out(
        out,
        &format!(
            "selected on profile `{profile}`: {}\nnext: sam profile validate {profile}\n",
            names.join(", ")
        ),
    )
}

fn remove(
    store: &Store,
    profile: &str,
    wanted: &[String],
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let read = store.read().map_err(store_failure)?;
    if read.profile(profile).map_err(store_failure)?.is_none() {
        return Err(CliError::User(format!("no profile named `{profile}`")));
    }
    let selected = read.selected_groups(profile).map_err(store_failure)?;
    drop(read);
    let mut ids = Vec::new();
    for w in wanted {
        let g = selected
            .iter()
            .find(|g| {
                g.group_id == *w || g.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(w))
            })
            .ok_or_else(|| {
                CliError::User(format!(
                    "group `{w}` is not selected on profile `{profile}`"
                ))
            })?;
        ids.push(g.group_id.clone());
    }
    let now = SystemClock.now();
    store
        .write(|tx| {
            for id in &ids {
                tx.remove_selected_group(profile, id)?;
            }
            tx.audit(
                now,
                Some(profile),
                AuditAction::GroupsChanged,
                format!("unselected {}", ids.join(", ")),
                None,
            )?;
            Ok::<_, WriteError>(())
        })
        .map_err(write_failure)?;
    write_out(
        out,
        &format!("unselected on profile `{profile}`: {}\n", ids.join(", ")),
    )
}
