//! The views an admin or auditor reads to answer "who holds a seat", "which identifiers are
//! unrecognized" and "what did sam change": subscriptions (filtered by profile, model, user,
//! active or ended, inactive for N days; one user's seats across profiles, each with its last
//! activity, its source and age), software models, subscription identifiers (the
//! unrecognized-identifier queue, and mapping one to a model) and the audit log (filtered by
//! profile, actor, action, time).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Actor, App, AppError, store_failure};
use crate::model::{
    AccountType, ActivityKind, ActivityState, AuditAction, AuditEntry, DAY, EpochSeconds, Role,
    SoftwareModel, Subscription, SubscriptionIdentifier, UserActivityRecord,
};
use crate::store::{ActivityBrief, ReadError, ReadTx, SubscriptionRow, WriteError};

/// Which subscriptions a list shows.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum SubscriptionState {
    /// Seats held now.
    #[default]
    Active,
    /// Seats the vendor no longer reports (kept for history).
    Ended,
    /// Both.
    All,
}

/// `GET /api/v1/subscriptions`: filters of the subscription list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionsQuery {
    /// Only this profile.
    pub profile: Option<String>,
    /// Only this software model (its id).
    pub model: Option<String>,
    /// Only holders whose user id, e-mail or name contains this (case-insensitive).
    pub user: Option<String>,
    /// Active (default), ended or all.
    pub state: Option<SubscriptionState>,
    /// Only seats whose holder has no activity in this many days (none known counts).
    pub inactive_for: Option<u32>,
    /// At most this many rows (the total is still counted).
    pub limit: Option<usize>,
}

/// A subscription with its holder's last activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    /// The profile.
    pub profile: String,
    /// The vendor's user id.
    pub user: String,
    /// Display name.
    pub display_name: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// The subscription identifier.
    pub identifier: String,
    /// The software model, once recognized.
    pub model: Option<String>,
    /// Human, guest, app or other.
    pub account_type: AccountType,
    /// Groups (or teams) that grant it.
    pub granted_by: Vec<String>,
    /// Held now.
    pub active: bool,
    /// First downloaded.
    pub first_seen_at: EpochSeconds,
    /// When a complete download no longer found it.
    pub ended_at: Option<EpochSeconds>,
    /// The holder's last activity, if any was found.
    pub last_activity: Option<EpochSeconds>,
    /// Where the last activity comes from (the activity source the spoke named).
    pub activity_source: Option<String>,
    /// The kind of evidence: the vendor's last-active date, content created or updated, a
    /// contribution.
    pub activity_kind: Option<ActivityKind>,
    /// `seen`, `none-in-window` (none inside the look-back: not "never"), `none-or-never`
    /// (the vendor reports none, in its retention or ever) or `unknown`.
    pub activity: String,
    /// Whole days since the last activity, at the time of the query.
    pub activity_age_days: Option<i64>,
}

/// The answer of `GET /api/v1/subscriptions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionList {
    /// How many matched (before the limit).
    pub total: u64,
    /// The rows, by profile, user and identifier.
    pub subscriptions: Vec<SubscriptionView>,
}

/// `GET /api/v1/subscriptions/user`: one user's seats across profiles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserSeatsQuery {
    /// The user id or the e-mail (exact, case-insensitive for e-mail).
    pub user: String,
    /// Ended seats too.
    #[serde(default)]
    pub all: bool,
}

/// The answer of `GET /api/v1/subscriptions/user`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserSeats {
    /// What was asked.
    pub user: String,
    /// Every seat the user holds (or held, with `all`), each with its last activity.
    pub seats: Vec<SubscriptionView>,
}

/// `GET /api/v1/models`: no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelsQuery {}

/// A software model with its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelView {
    /// The model.
    pub model: SoftwareModel,
    /// Identifiers mapped to it.
    pub identifiers: Vec<String>,
    /// Active subscriptions.
    pub active_subscriptions: u64,
}

/// The answer of `GET /api/v1/models`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelList {
    /// Every model, by id.
    pub models: Vec<ModelView>,
}

/// `GET /api/v1/models/show`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelQuery {
    /// The model's id (`publisher/product[/edition]`).
    pub id: String,
}

/// `GET /api/v1/identifiers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdentifiersQuery {
    /// Only identifiers no model recognizes (the queue an admin works through).
    #[serde(default)]
    pub unrecognized: bool,
}

/// The answer of `GET /api/v1/identifiers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdentifierList {
    /// The identifiers, by spoke and identifier.
    pub identifiers: Vec<SubscriptionIdentifier>,
}

/// `POST /api/v1/identifiers/map`: assign an identifier to a software model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MapIdentifier {
    /// The spoke that reports it (a spoke id, as `sam identifiers list` shows).
    pub spoke: String,
    /// The identifier.
    pub identifier: String,
    /// The model's id.
    pub model: String,
}

/// The answer of `POST /api/v1/identifiers/map`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdentifierMapped {
    /// The identifier after the change.
    pub identifier: SubscriptionIdentifier,
    /// Subscriptions that moved to the model.
    pub subscriptions_updated: u64,
}

/// `GET /api/v1/audit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditQuery {
    /// Only entries of this profile.
    pub profile: Option<String>,
    /// Only entries whose actor contains this.
    pub actor: Option<String>,
    /// Only this action (its name, e.g. `reclaimed`).
    pub action: Option<String>,
    /// Only entries at or after this time (epoch seconds).
    pub since: Option<EpochSeconds>,
    /// At most this many, newest first.
    pub limit: Option<usize>,
}

/// The answer of `GET /api/v1/audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditList {
    /// How many matched (before the limit).
    pub total: u64,
    /// The entries, newest first.
    pub entries: Vec<AuditEntry>,
}

/// `GET /api/v1/audit/show`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntryQuery {
    /// The entry's sequence number.
    pub seq: u64,
}

/// The name of an audit action, as in JSON and in `--action` (its serde name).
pub fn action_name(action: &AuditAction) -> String {
    match serde_json::to_value(action) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(serde_json::Value::Object(map)) => map.keys().next().cloned().unwrap_or_default(),
        _ => String::new(),
    }
}

fn view(
    sub: &Subscription,
    activity: Option<&UserActivityRecord>,
    now: EpochSeconds,
) -> SubscriptionView {
    let last = activity.and_then(|a| a.last_activity);
    SubscriptionView {
        profile: sub.profile.clone(),
        user: sub.external_user_id.clone(),
        display_name: sub.display_name.clone(),
        email: sub.email.clone(),
        identifier: sub.identifier.clone(),
        model: sub.model.clone(),
        account_type: sub.account_type,
        granted_by: sub.granted_by.clone(),
        active: sub.active,
        first_seen_at: sub.first_seen_at,
        ended_at: sub.ended_at,
        last_activity: last,
        activity_source: activity.and_then(|a| a.source.clone()),
        activity_kind: activity.and_then(|a| a.kind),
        activity: match activity.map(|a| &a.state) {
            Some(ActivityState::Seen) => "seen".into(),
            Some(ActivityState::NoneInWindow) => "none-in-window".into(),
            Some(ActivityState::NoneOrNever) => "none-or-never".into(),
            Some(ActivityState::Unknown(_)) | None => "unknown".into(),
        },
        activity_age_days: last.map(|at| (now - at).max(0) / DAY),
    }
}

/// Every subscription of the profiles named (all when `None`), read in place
/// ([`SubscriptionRow`]), with the holder's activity when `with_activity` (one ordered join of
/// both tables); without it the activity is `None` and only the seats are read. Rows are
/// decoded whole only when kept ([`SubscriptionRow::full`]); the rows shown then look up their
/// activity by key ([`shown`]).
fn each_subscription(
    read: &ReadTx,
    profile: Option<&str>,
    with_activity: bool,
    mut f: impl FnMut(&SubscriptionRow<'_>, Option<&ActivityBrief<'_>>) -> Result<(), ReadError>,
) -> Result<(), AppError> {
    let profiles: Vec<String> = match profile {
        Some(p) => {
            if read.profile(p).map_err(store_failure)?.is_none() {
                return Err(AppError::NotFound(format!("no profile named `{p}`")));
            }
            vec![p.to_string()]
        }
        None => read
            .profiles()
            .map_err(store_failure)?
            .into_iter()
            .map(|p| p.name)
            .collect(),
    };
    for p in profiles {
        if with_activity {
            read.for_each_subscription_row_with_activity(&p, &mut f)
        } else {
            read.for_each_subscription_row(&p, |row| f(row, None))
        }
        .map_err(store_failure)?;
    }
    Ok(())
}

/// The rows shown for `subs`, each with its holder's activity looked up by key.
fn shown(
    read: &ReadTx,
    subs: &[Subscription],
    now: EpochSeconds,
) -> Result<Vec<SubscriptionView>, AppError> {
    subs.iter()
        .map(|sub| {
            let activity = read
                .activity(&sub.profile, &sub.external_user_id)
                .map_err(store_failure)?;
            Ok(view(sub, activity.as_ref(), now))
        })
        .collect()
}

/// Whether `text` lowercased is `wanted` (already lowercase); without allocating for ASCII.
fn eq_ci(text: &str, wanted: &str) -> bool {
    if text.is_ascii() {
        text.eq_ignore_ascii_case(wanted)
    } else {
        text.to_lowercase() == wanted
    }
}

/// Whether `haystack` contains `needle` (already lowercase), ignoring case; without
/// allocating when the haystack is ASCII (user ids, e-mails and most names).
fn contains_ci(haystack: Option<&str>, needle: &str) -> bool {
    let Some(h) = haystack else {
        return false;
    };
    if needle.is_empty() {
        return true;
    }
    if h.is_ascii() {
        let n = needle.as_bytes();
        return h
            .as_bytes()
            .windows(n.len())
            .any(|w| w.eq_ignore_ascii_case(n));
    }
    h.to_lowercase().contains(needle)
}

impl App {
    /// The subscription list.
    pub async fn subscriptions_list(
        &self,
        _actor: &Actor,
        query: SubscriptionsQuery,
    ) -> Result<SubscriptionList, AppError> {
        let now = self.now();
        let read = self.store().read().map_err(store_failure)?;
        let state = query.state.unwrap_or_default();
        let user = query.user.as_deref().map(str::to_lowercase);
        let limit = query.limit.unwrap_or(usize::MAX);
        let mut total = 0u64;
        // The inactivity filter needs every holder's activity; otherwise only the seats are
        // scanned. Either way the rows shown look up their activity by key.
        let with_activity = query.inactive_for.is_some();
        let mut picked = Vec::new();
        each_subscription(
            &read,
            query.profile.as_deref(),
            with_activity,
            |row, activity| {
                let sub = &row.brief;
                let state_ok = match state {
                    SubscriptionState::Active => sub.active,
                    SubscriptionState::Ended => !sub.active,
                    SubscriptionState::All => true,
                };
                let model_ok = query.model.as_deref().is_none_or(|m| sub.model == Some(m));
                let user_ok = user.as_deref().is_none_or(|u| {
                    contains_ci(Some(sub.external_user_id), u)
                        || contains_ci(sub.email, u)
                        || contains_ci(sub.display_name, u)
                });
                let inactive_ok = query.inactive_for.is_none_or(|days| {
                    activity
                        .and_then(|a| a.last_activity)
                        .is_none_or(|at| at < now - i64::from(days) * DAY)
                });
                if state_ok && model_ok && user_ok && inactive_ok {
                    total += 1;
                    if picked.len() < limit {
                        picked.push(row.full()?);
                    }
                }
                Ok(())
            },
        )?;
        let rows = shown(&read, &picked, now)?;
        Ok(SubscriptionList {
            total,
            subscriptions: rows,
        })
    }

    /// One user's seats across every profile.
    pub async fn subscriptions_user(
        &self,
        _actor: &Actor,
        query: UserSeatsQuery,
    ) -> Result<UserSeats, AppError> {
        let wanted = query.user.trim().to_lowercase();
        if wanted.is_empty() {
            return Err(AppError::Invalid("name a user id or an e-mail".into()));
        }
        let now = self.now();
        let read = self.store().read().map_err(store_failure)?;
        let mut held = Vec::new();
        each_subscription(&read, None, false, |row, _| {
            let sub = &row.brief;
            let is_user = eq_ci(sub.external_user_id, &wanted)
                || sub.email.is_some_and(|e| eq_ci(e, &wanted));
            if is_user && (query.all || sub.active) {
                held.push(row.full()?);
            }
            Ok(())
        })?;
        let seats = shown(&read, &held, now)?;
        if seats.is_empty() {
            return Err(AppError::NotFound(format!(
                "`{}` holds no {}seat in any profile",
                query.user,
                if query.all { "" } else { "active " }
            )));
        }
        Ok(UserSeats {
            user: query.user,
            seats,
        })
    }

    fn model_views(&self, read: &ReadTx) -> Result<Vec<ModelView>, AppError> {
        let identifiers = read.identifiers().map_err(store_failure)?;
        let mut active: HashMap<String, u64> = HashMap::new();
        each_subscription(read, None, false, |row, _| {
            if let (true, Some(model)) = (row.brief.active, row.brief.model) {
                match active.get_mut(model) {
                    Some(n) => *n += 1,
                    None => {
                        active.insert(model.to_string(), 1);
                    }
                }
            }
            Ok(())
        })?;
        Ok(read
            .models()
            .map_err(store_failure)?
            .into_iter()
            .map(|model| ModelView {
                identifiers: identifiers
                    .iter()
                    .filter(|i| i.model.as_deref() == Some(&model.id))
                    .map(|i| i.identifier.clone())
                    .collect(),
                active_subscriptions: active.get(&model.id).copied().unwrap_or(0),
                model,
            })
            .collect())
    }

    /// Every software model with its identifiers and active seats.
    pub async fn models_list(
        &self,
        _actor: &Actor,
        _q: ModelsQuery,
    ) -> Result<ModelList, AppError> {
        let read = self.store().read().map_err(store_failure)?;
        Ok(ModelList {
            models: self.model_views(&read)?,
        })
    }

    /// One software model.
    pub async fn models_show(&self, _actor: &Actor, q: ModelQuery) -> Result<ModelView, AppError> {
        let read = self.store().read().map_err(store_failure)?;
        self.model_views(&read)?
            .into_iter()
            .find(|m| m.model.id == q.id)
            .ok_or_else(|| AppError::NotFound(format!("no software model `{}`", q.id)))
    }

    /// The subscription identifiers (or only the unrecognized ones).
    pub async fn identifiers_list(
        &self,
        _actor: &Actor,
        q: IdentifiersQuery,
    ) -> Result<IdentifierList, AppError> {
        let read = self.store().read().map_err(store_failure)?;
        let identifiers = read
            .identifiers()
            .map_err(store_failure)?
            .into_iter()
            .filter(|i| !q.unrecognized || !i.recognized())
            .collect();
        Ok(IdentifierList { identifiers })
    }

    /// Assigns an identifier to a software model (its subscriptions follow), audited.
    pub async fn identifiers_map(
        &self,
        actor: &Actor,
        q: MapIdentifier,
    ) -> Result<IdentifierMapped, AppError> {
        actor.require(Role::Admin, "mapping an identifier")?;
        let now = self.now();
        self.store().write(|tx| {
            let updated = tx.assign_model(&q.spoke, &q.identifier, &q.model)?;
            let identifier =
                tx.identifier(&q.spoke, &q.identifier)?
                    .ok_or_else(|| WriteError::NotFound {
                        what: format!("identifier `{}`", q.identifier),
                    })?;
            tx.audit(
                now,
                None,
                AuditAction::ModelAssigned,
                format!(
                    "identifier `{}` of spoke `{}` mapped to `{}` ({updated} subscriptions)",
                    q.identifier, q.spoke, q.model
                ),
                None,
            )?;
            Ok::<_, AppError>(IdentifierMapped {
                identifier,
                subscriptions_updated: updated,
            })
        })
    }

    /// The audit log, newest first, filtered.
    pub async fn audit_list(&self, _actor: &Actor, q: AuditQuery) -> Result<AuditList, AppError> {
        let read = self.store().read().map_err(store_failure)?;
        let entries = read.audit_log().map_err(store_failure)?;
        let actor = q.actor.as_deref().map(str::to_lowercase);
        let limit = q.limit.unwrap_or(usize::MAX);
        let mut total = 0u64;
        let mut out = Vec::new();
        for entry in entries.into_iter().rev() {
            let ok = q
                .profile
                .as_deref()
                .is_none_or(|p| entry.profile.as_deref() == Some(p))
                && actor
                    .as_deref()
                    .is_none_or(|a| entry.actor.to_lowercase().contains(a))
                && q.action
                    .as_deref()
                    .is_none_or(|a| action_name(&entry.action) == a)
                && q.since.is_none_or(|s| entry.at >= s);
            if ok {
                total += 1;
                if out.len() < limit {
                    out.push(entry);
                }
            }
        }
        Ok(AuditList {
            total,
            entries: out,
        })
    }

    /// One audit entry.
    pub async fn audit_show(
        &self,
        _actor: &Actor,
        q: AuditEntryQuery,
    ) -> Result<AuditEntry, AppError> {
        self.store()
            .read()
            .and_then(|r| r.audit_entry(q.seq))
            .map_err(store_failure)?
            .ok_or_else(|| AppError::NotFound(format!("no audit entry {}", q.seq)))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{contains_ci, eq_ci};

    proptest! {
        /// The allocation-free comparisons answer as lowercasing both sides would.
        #[test]
        fn case_insensitive_matching_agrees_with_lowercasing(
            text in "[a-zA-Z0-9@._ éÉßİ-]{0,12}",
            needle in "[a-zA-Z0-9@._ éÉßİ-]{0,4}",
        ) {
            let wanted = needle.to_lowercase();
            prop_assert_eq!(
                contains_ci(Some(&text), &wanted),
                text.to_lowercase().contains(&wanted)
            );
            prop_assert_eq!(eq_ci(&text, &wanted), text.to_lowercase() == wanted);
        }
    }
}
