//! Store operations for the admin path: OAuth connections (sealed secrets and tokens, by
//! credential key), profile validations, connections and selected groups changed after
//! creation, scheduled jobs, and deleting a profile (its subscriptions, activity, run state,
//! groups, jobs, connection and credential go; reclamation rules, candidates and the audit
//! log stay — the caller closes the candidates as Closed Skipped in the same transaction). The two tables of this module are
//! created by the first write that needs them; reads of a table not created yet see it empty.

use std::ops::Bound;

use redb::{ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::tables::*;
use super::{
    Def, ReadError, ReadTx, WriteError, WriteTx, decode, encode, get_in, key, prefix_range,
    range_in, write_key,
};
use crate::model::{
    ApiToken, Connection, ConsoleUser, ExtraCredentialRecord, IntegrationProfile, OAuthConnection,
    ProfileValidation, ScheduledJob, SelectedGroup, Subscription, SubscriptionIdentifier,
    UsedAnswerLink,
};

/// OAuth connections, by credential key.
pub const OAUTH_CONNECTIONS: Def = TableDefinition::new("oauth_connections");
/// Passed validations, by profile.
pub const PROFILE_VALIDATIONS: Def = TableDefinition::new("profile_validations");
/// The daemon API's tokens (hashed), by token id.
pub const API_TOKENS: Def = TableDefinition::new("api_tokens");
/// Web console users (argon2 password hashes), by name.
pub const CONSOLE_USERS: Def = TableDefinition::new("console_users");
/// Self-service answer links already used, by link id.
pub const USED_ANSWER_LINKS: Def = TableDefinition::new("used_answer_links");
/// Profiles' second credentials (issue 19), by profile and name.
pub const EXTRA_CREDENTIALS: Def = TableDefinition::new("extra_credentials");

fn admin_table_name(def: Def) -> &'static str {
    match redb::TableHandle::name(&def) {
        "oauth_connections" => "oauth_connections",
        "profile_validations" => "profile_validations",
        "api_tokens" => "api_tokens",
        "console_users" => "console_users",
        "used_answer_links" => "used_answer_links",
        "extra_credentials" => "extra_credentials",
        "connections" => "connections",
        "selected_groups" => "selected_groups",
        "scheduled_jobs" => "scheduled_jobs",
        "profiles" => "profiles",
        _ => "record",
    }
}

/// What deleting a profile removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeleteSummary {
    /// Subscriptions removed.
    pub subscriptions: u64,
    /// Activity records removed.
    pub activity: u64,
    /// Scheduled jobs removed.
    pub jobs: u64,
    /// Removal candidates closed as Closed Skipped (by the caller).
    pub candidates_closed: u64,
}

impl WriteTx {
    fn adm_get<T: DeserializeOwned>(&self, def: Def, k: &str) -> Result<Option<T>, WriteError> {
        let table = self.tx.open_table(def)?;
        Ok(get_in(&table, admin_table_name(def), k)?)
    }

    fn adm_put<T: Serialize>(&self, def: Def, k: &str, value: &T) -> Result<(), WriteError> {
        let bytes = encode(admin_table_name(def), value)?;
        self.tx.open_table(def)?.insert(k, bytes.as_slice())?;
        Ok(())
    }

    fn adm_delete(&self, def: Def, k: &str) -> Result<bool, WriteError> {
        Ok(self.tx.open_table(def)?.remove(k)?.is_some())
    }

    fn adm_all<T: DeserializeOwned>(&self, def: Def) -> Result<Vec<T>, WriteError> {
        let table = self.tx.open_table(def)?;
        let rows = range_in(
            &table,
            admin_table_name(def),
            Bound::Unbounded,
            Bound::Unbounded,
            usize::MAX,
        )?;
        Ok(rows.into_iter().map(|(_, v)| v).collect())
    }

    /// Removes every key under `[profile]` of a string-keyed table; returns how many.
    pub(super) fn adm_remove_prefix<V: redb::Value + 'static>(
        &self,
        def: TableDefinition<'static, &'static str, V>,
        profile: &str,
    ) -> Result<u64, WriteError> {
        let Some((lo, hi)) = prefix_range(&[profile]) else {
            return Ok(0);
        };
        let mut table = self.tx.open_table(def)?;
        let mut keys = Vec::new();
        for item in table.range::<&str>(lo.as_str()..hi.as_str())? {
            let (k, _) = item?;
            keys.push(k.value().to_string());
        }
        for k in &keys {
            table.remove(k.as_str())?;
        }
        Ok(keys.len() as u64)
    }

    /// Inserts or replaces an API token.
    pub fn put_api_token(&self, token: &ApiToken) -> Result<(), WriteError> {
        self.adm_put(API_TOKENS, &write_key(&[&token.id])?, token)
    }

    /// An API token by id.
    pub fn api_token(&self, id: &str) -> Result<Option<ApiToken>, WriteError> {
        match key(&[id]) {
            Some(k) => self.adm_get(API_TOKENS, &k),
            None => Ok(None),
        }
    }

    /// Every API token, revoked ones included.
    pub fn api_tokens(&self) -> Result<Vec<ApiToken>, WriteError> {
        self.adm_all(API_TOKENS)
    }

    /// Inserts or replaces a web console user.
    pub fn put_console_user(&self, user: &ConsoleUser) -> Result<(), WriteError> {
        self.adm_put(CONSOLE_USERS, &write_key(&[&user.name])?, user)
    }

    /// A web console user by name.
    pub fn console_user(&self, name: &str) -> Result<Option<ConsoleUser>, WriteError> {
        match key(&[name]) {
            Some(k) => self.adm_get(CONSOLE_USERS, &k),
            None => Ok(None),
        }
    }

    /// Removes a web console user; whether there was one.
    pub fn delete_console_user(&self, name: &str) -> Result<bool, WriteError> {
        match key(&[name]) {
            Some(k) => self.adm_delete(CONSOLE_USERS, &k),
            None => Ok(false),
        }
    }

    /// Records that answer link `link.id` was used; `false` (and nothing written) when it
    /// had been used already.
    pub fn use_answer_link(&self, link: &UsedAnswerLink) -> Result<bool, WriteError> {
        let k = write_key(&[&link.id])?;
        if self
            .adm_get::<UsedAnswerLink>(USED_ANSWER_LINKS, &k)?
            .is_some()
        {
            return Ok(false);
        }
        self.adm_put(USED_ANSWER_LINKS, &k, link)?;
        Ok(true)
    }

    /// An OAuth connection.
    pub fn oauth_connection(
        &self,
        credential_key: &str,
    ) -> Result<Option<OAuthConnection>, WriteError> {
        match key(&[credential_key]) {
            Some(k) => self.adm_get(OAUTH_CONNECTIONS, &k),
            None => Ok(None),
        }
    }

    /// Inserts or replaces an OAuth connection.
    pub fn put_oauth_connection(&self, record: &OAuthConnection) -> Result<(), WriteError> {
        self.adm_put(
            OAUTH_CONNECTIONS,
            &write_key(&[&record.credential_key])?,
            record,
        )
    }

    /// Removes an OAuth connection.
    pub fn delete_oauth_connection(&self, credential_key: &str) -> Result<bool, WriteError> {
        self.adm_delete(OAUTH_CONNECTIONS, &write_key(&[credential_key])?)
    }

    /// Inserts or replaces a profile's second credential.
    pub fn put_extra_credential(&self, record: &ExtraCredentialRecord) -> Result<(), WriteError> {
        self.adm_put(
            EXTRA_CREDENTIALS,
            &write_key(&[&record.profile, &record.name])?,
            record,
        )
    }

    /// Removes a profile's second credential; whether there was one.
    pub fn delete_extra_credential(&self, profile: &str, name: &str) -> Result<bool, WriteError> {
        self.adm_delete(EXTRA_CREDENTIALS, &write_key(&[profile, name])?)
    }

    /// Every second credential of every profile (for re-sealing with a new key).
    pub fn all_extra_credentials(&self) -> Result<Vec<ExtraCredentialRecord>, WriteError> {
        self.adm_all(EXTRA_CREDENTIALS)
    }

    /// Every OAuth connection (for re-sealing with a new key).
    pub fn oauth_connections(&self) -> Result<Vec<OAuthConnection>, WriteError> {
        self.adm_all(OAUTH_CONNECTIONS)
    }

    /// A profile's passed validation.
    pub fn validation(&self, profile: &str) -> Result<Option<ProfileValidation>, WriteError> {
        match key(&[profile]) {
            Some(k) => self.adm_get(PROFILE_VALIDATIONS, &k),
            None => Ok(None),
        }
    }

    /// Records a passed validation.
    pub fn put_validation(&self, v: &ProfileValidation) -> Result<(), WriteError> {
        self.adm_put(PROFILE_VALIDATIONS, &write_key(&[&v.profile])?, v)
    }

    /// Forgets a profile's validation (it must validate again).
    pub fn clear_validation(&self, profile: &str) -> Result<bool, WriteError> {
        self.adm_delete(PROFILE_VALIDATIONS, &write_key(&[profile])?)
    }

    /// All profiles.
    pub fn all_profiles(&self) -> Result<Vec<IntegrationProfile>, WriteError> {
        self.adm_all(PROFILES)
    }

    /// A connection.
    pub fn connection(&self, alias: &str) -> Result<Option<Connection>, WriteError> {
        match key(&[alias]) {
            Some(k) => self.adm_get(CONNECTIONS, &k),
            None => Ok(None),
        }
    }

    /// Every connection.
    pub fn all_connections(&self) -> Result<Vec<Connection>, WriteError> {
        self.adm_all(CONNECTIONS)
    }

    /// Inserts or replaces a connection.
    pub fn put_connection(&self, connection: &Connection) -> Result<(), WriteError> {
        self.adm_put(CONNECTIONS, &write_key(&[&connection.alias])?, connection)
    }

    /// Removes a connection.
    pub fn delete_connection(&self, alias: &str) -> Result<bool, WriteError> {
        self.adm_delete(CONNECTIONS, &write_key(&[alias])?)
    }

    /// Selects a group on a profile (replacing the same group).
    pub fn put_selected_group(&self, group: &SelectedGroup) -> Result<(), WriteError> {
        self.adm_put(
            SELECTED_GROUPS,
            &write_key(&[&group.profile, &group.group_id])?,
            group,
        )
    }

    /// Unselects a group; whether it was selected.
    pub fn remove_selected_group(&self, profile: &str, group_id: &str) -> Result<bool, WriteError> {
        self.adm_delete(SELECTED_GROUPS, &write_key(&[profile, group_id])?)
    }

    /// A scheduled job.
    pub fn scheduled_job(&self, name: &str) -> Result<Option<ScheduledJob>, WriteError> {
        match key(&[name]) {
            Some(k) => self.adm_get(SCHEDULED_JOBS, &k),
            None => Ok(None),
        }
    }

    /// Inserts or replaces a scheduled job.
    pub fn put_scheduled_job(&self, job: &ScheduledJob) -> Result<(), WriteError> {
        self.adm_put(SCHEDULED_JOBS, &write_key(&[&job.name])?, job)
    }

    /// Removes a scheduled job; whether it existed.
    pub fn delete_scheduled_job(&self, name: &str) -> Result<bool, WriteError> {
        self.adm_delete(SCHEDULED_JOBS, &write_key(&[name])?)
    }

    /// A profile's scheduled jobs.
    pub fn scheduled_jobs_of(&self, profile: &str) -> Result<Vec<ScheduledJob>, WriteError> {
        Ok(self
            .adm_all::<ScheduledJob>(SCHEDULED_JOBS)?
            .into_iter()
            .filter(|j| j.profile == profile)
            .collect())
    }

    /// Deletes a profile: its subscriptions (identifier counts adjusted), activity, run
    /// state, selected groups, scheduled jobs, validation, connection and OAuth credential;
    /// keeps removal candidates (close them first, in the same transaction, with
    /// `reclaim::close_for_deleted_profile`), rules, job results and the audit log.
    pub fn delete_profile(&self, name: &str) -> Result<DeleteSummary, WriteError> {
        let profile: IntegrationProfile = self
            .adm_get(PROFILES, &write_key(&[name])?)?
            .ok_or_else(|| WriteError::NotFound {
                what: format!("profile `{name}`"),
            })?;
        let mut summary = DeleteSummary::default();
        // Subscriptions: adjust the identifiers they count in, then remove them.
        let mut per_identifier: std::collections::BTreeMap<String, u64> = Default::default();
        if let Some((lo, hi)) = prefix_range(&[name]) {
            let table = self.tx.open_table(SUBSCRIPTIONS)?;
            for item in table.range::<&str>(lo.as_str()..hi.as_str())? {
                let (k, v) = item?;
                let sub: Subscription = decode("subscriptions", &k.value(), v.value())?;
                if sub.active {
                    *per_identifier.entry(sub.identifier).or_default() += 1;
                }
            }
        }
        for (identifier, count) in &per_identifier {
            self.adjust_identifier_count(&profile.spoke_id, identifier, -(*count as i64))?;
        }
        let identifiers: Vec<SubscriptionIdentifier> = self.adm_all(IDENTIFIERS)?;
        for mut id in identifiers {
            if id.profiles.iter().any(|p| p == name) {
                id.profiles.retain(|p| p != name);
                self.put_identifier(&id)?;
            }
        }
        summary.subscriptions = self.adm_remove_prefix(SUBSCRIPTIONS, name)?;
        self.adm_remove_prefix(STAGING, name)?;
        summary.activity = self.adm_remove_prefix(ACTIVITY, name)?;
        self.adm_remove_prefix(ACTIVITY_SEEN, name)?;
        self.adm_remove_prefix(CHECKPOINTS, name)?;
        self.adm_remove_prefix(WATERMARKS, name)?;
        self.adm_remove_prefix(SELECTED_GROUPS, name)?;
        self.adm_remove_prefix(EXTRA_CREDENTIALS, name)?;
        for job in self.scheduled_jobs_of(name)? {
            self.delete_scheduled_job(&job.name)?;
            summary.jobs += 1;
        }
        self.clear_validation(name)?;
        self.delete_profile_settings(name)?;
        if let Some(connection) = self.connection(&profile.connection)? {
            if let crate::model::AuthKind::OAuth2 { credential_key, .. } = &connection.auth {
                self.delete_oauth_connection(credential_key)?;
            }
            self.delete_connection(&connection.alias)?;
        }
        self.adm_delete(PROFILES, &write_key(&[name])?)?;
        Ok(summary)
    }
}

impl ReadTx {
    /// Reads one record of a table that may not exist yet.
    fn adm_get<T: DeserializeOwned>(&self, def: Def, k: &str) -> Result<Option<T>, ReadError> {
        self.guard(|| match self.table(def)? {
            Some(table) => get_in(&table, admin_table_name(def), k),
            None => Ok(None),
        })
    }

    fn adm_all<T: DeserializeOwned>(&self, def: Def) -> Result<Vec<T>, ReadError> {
        self.guard(|| match self.table(def)? {
            Some(table) => Ok(range_in(
                &table,
                admin_table_name(def),
                Bound::Unbounded,
                Bound::Unbounded,
                usize::MAX,
            )?
            .into_iter()
            .map(|(_, v)| v)
            .collect()),
            None => Ok(Vec::new()),
        })
    }

    /// An API token by id.
    pub fn api_token(&self, id: &str) -> Result<Option<ApiToken>, ReadError> {
        match key(&[id]) {
            Some(k) => self.adm_get(API_TOKENS, &k),
            None => Ok(None),
        }
    }

    /// Every API token, revoked ones included.
    pub fn api_tokens(&self) -> Result<Vec<ApiToken>, ReadError> {
        self.adm_all(API_TOKENS)
    }

    /// A web console user by name.
    pub fn console_user(&self, name: &str) -> Result<Option<ConsoleUser>, ReadError> {
        match key(&[name]) {
            Some(k) => self.adm_get(CONSOLE_USERS, &k),
            None => Ok(None),
        }
    }

    /// Every web console user, by name.
    pub fn console_users(&self) -> Result<Vec<ConsoleUser>, ReadError> {
        self.adm_all(CONSOLE_USERS)
    }

    /// The record of a used answer link, if it was used.
    pub fn used_answer_link(&self, id: &str) -> Result<Option<UsedAnswerLink>, ReadError> {
        match key(&[id]) {
            Some(k) => self.adm_get(USED_ANSWER_LINKS, &k),
            None => Ok(None),
        }
    }

    /// An OAuth connection.
    pub fn oauth_connection(
        &self,
        credential_key: &str,
    ) -> Result<Option<OAuthConnection>, ReadError> {
        match key(&[credential_key]) {
            Some(k) => self.adm_get(OAUTH_CONNECTIONS, &k),
            None => Ok(None),
        }
    }

    /// A profile's second credentials, in name order.
    pub fn extra_credentials(
        &self,
        profile: &str,
    ) -> Result<Vec<ExtraCredentialRecord>, ReadError> {
        let Some((lo, hi)) = prefix_range(&[profile]) else {
            return Ok(Vec::new());
        };
        self.guard(|| match self.table(EXTRA_CREDENTIALS)? {
            Some(table) => Ok(range_in(
                &table,
                admin_table_name(EXTRA_CREDENTIALS),
                Bound::Included(lo.as_str()),
                Bound::Excluded(hi.as_str()),
                usize::MAX,
            )?
            .into_iter()
            .map(|(_, v)| v)
            .collect()),
            None => Ok(Vec::new()),
        })
    }

    /// A profile's passed validation.
    pub fn validation(&self, profile: &str) -> Result<Option<ProfileValidation>, ReadError> {
        match key(&[profile]) {
            Some(k) => self.adm_get(PROFILE_VALIDATIONS, &k),
            None => Ok(None),
        }
    }

    /// All scheduled jobs, by name.
    pub fn scheduled_jobs(&self) -> Result<Vec<ScheduledJob>, ReadError> {
        self.adm_all(SCHEDULED_JOBS)
    }

    /// One scheduled job.
    pub fn scheduled_job(&self, name: &str) -> Result<Option<ScheduledJob>, ReadError> {
        match key(&[name]) {
            Some(k) => self.adm_get(SCHEDULED_JOBS, &k),
            None => Ok(None),
        }
    }
}
