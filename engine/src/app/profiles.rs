//! Integration profiles, their product-access groups, their scheduled jobs, their OAuth
//! connections and the key that seals stored secrets, as application operations: creating a
//! Draft profile for a spoke (its processes, "analyze activity from" date, connection &
//! credential alias), listing and showing profiles (alias, scopes, connection, groups, jobs,
//! runs), changing settings (a published profile whose processes change returns to Draft),
//! validating through the spoke (download and activity, never reclaim), publishing (software
//! models, default reclamation rules, scheduled jobs), deleting (subscriptions and jobs go,
//! candidates are closed, rules stay); listing the site's groups and selecting or unselecting
//! them; listing, showing and editing scheduled jobs; a profile's operator limits;
//! re-encrypting every stored secret with a new key (the OAuth consent is
//! [`super::connections`]). Every change is one transaction and
//! audited with its actor.

use serde::{Deserialize, Serialize};

use super::session::{
    keyring, load_profile_spoke, load_trusted_spoke, open_profile_session, resolve_spoke,
};
use super::{Actor, App, AppError, store_failure, write_failure};
use crate::auth::{self, Keyring, MasterKey, enabled_processes, required_scopes, slot};
use crate::contract::{Manifest, Process};
use crate::model::{
    AuditAction, AuthKind, Connection, CredentialStatus, DAY, EpochSeconds, IntegrationProfile,
    JobResult, OAuthConnection, OAuthEndpoints, OAuthSite, ProcessSet, ProfileStatus,
    ProfileValidation, ScheduledJob, SelectedGroup, SoftwareModel, ValidationCheckRecord,
};
use crate::store::{WriteError, WriteTx};

/// Pages of groups read at most (a guard against a cursor that never ends).
const MAX_PAGES: usize = 10_000;

/// `POST /api/v1/profiles`: create a Draft profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreateProfile {
    /// Unique name of the profile.
    pub name: String,
    /// The spoke: an absolute component file path, a spoke in the plugins folder or a
    /// bundled spoke.
    pub spoke: String,
    /// Base URL request paths are joined to.
    pub connection_url: Option<String>,
    /// Hosts to allow besides the spoke's manifest.
    #[serde(default)]
    pub grant_hosts: Vec<String>,
    /// Config values of the spoke, `key=value`.
    #[serde(default)]
    pub config: Vec<String>,
    /// Product-access group ids.
    #[serde(default)]
    pub groups: Vec<String>,
    /// A bearer token read from this environment variable (of the engine) instead of OAuth.
    pub token_env: Option<String>,
    /// Authenticate as an app installation (a GitHub App): the app's id or client id.
    pub app_id: Option<String>,
    /// The app installation's id (with `app_id`).
    pub installation_id: Option<String>,
    /// The app's private key, PEM (with `app_id`); the engine stores it sealed.
    pub app_key_pem: Option<String>,
    /// Name shown to admins and in job names.
    pub display_name: Option<String>,
    /// Do not download activity.
    #[serde(default)]
    pub no_activity: bool,
    /// Do not reclaim subscriptions.
    #[serde(default)]
    pub no_reclaim: bool,
    /// Analyze activity from this date-time (RFC 3339 with its zone) or date (YYYY-MM-DD,
    /// UTC).
    pub analyze_from: Option<String>,
}

/// The answer of creating a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProfileCreated {
    /// The profile as stored.
    pub profile: IntegrationProfile,
    /// Whether its connection is OAuth (consent with `sam connect`).
    pub oauth: bool,
}

/// `GET /api/v1/profiles`: no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProfilesQuery {}

/// The answer of listing profiles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProfileList {
    /// Every profile, by name.
    pub profiles: Vec<IntegrationProfile>,
}

/// A request naming one profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProfileName {
    /// The profile's name.
    pub name: String,
}

/// The parent and child connection & credential aliases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AliasView {
    /// Derived from the spoke and the processes.
    pub parent: String,
    /// The profile's own.
    pub child: String,
}

/// A profile's OAuth state (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OAuthView {
    /// The OAuth app's client id.
    pub client_id: String,
    /// The callback URL.
    pub redirect_uri: String,
    /// The endpoints.
    pub endpoints: OAuthEndpoints,
    /// Whether tokens can be had.
    pub status: CredentialStatus,
    /// The site chosen.
    pub site: Option<OAuthSite>,
    /// Scopes requested at the last consent.
    pub requested_scopes: Vec<String>,
    /// Scopes granted.
    pub granted_scopes: Vec<String>,
    /// When the access token expires.
    pub access_expires_at: Option<EpochSeconds>,
    /// When consent was given.
    pub connected_at: Option<EpochSeconds>,
    /// When the tokens were last refreshed.
    pub refreshed_at: Option<EpochSeconds>,
    /// Refreshes since consent.
    pub refresh_count: u64,
}

/// Subscription counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionCounts {
    /// Held now.
    pub active: u64,
    /// No longer reported.
    pub ended: u64,
}

/// One profile with everything around it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProfileView {
    /// The profile.
    pub profile: IntegrationProfile,
    /// Its aliases.
    pub alias: AliasView,
    /// The exact scopes its processes need.
    pub scopes: Vec<String>,
    /// Its connection.
    pub connection: Option<Connection>,
    /// Its OAuth state.
    pub oauth: Option<OAuthView>,
    /// Whether the last validation covers the current processes and connection.
    pub validated: bool,
    /// The last passed validation.
    pub validation: Option<ProfileValidation>,
    /// Product-access groups.
    pub selected_groups: Vec<SelectedGroup>,
    /// Its scheduled jobs.
    pub scheduled_jobs: Vec<ScheduledJob>,
    /// Its subscriptions.
    pub subscriptions: SubscriptionCounts,
    /// Its last five runs, newest first.
    pub recent_jobs: Vec<JobResult>,
    /// The spoke component approved for it (`sam plugin trust` changes it).
    pub pin: Option<PinView>,
}

/// The component approved for a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PinView {
    /// The sha256 of the component's bytes, lowercase hex.
    pub sha256: String,
    /// The spoke's own version then.
    pub version: String,
    /// When it was recorded.
    pub pinned_at: EpochSeconds,
    /// How: `created`, `trusted`, `first-use` or `bundled`.
    pub origin: String,
}

/// `POST /api/v1/profiles/set`: change settings (absent fields stay).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SetProfile {
    /// The profile's name.
    pub name: String,
    /// New display name.
    pub display_name: Option<String>,
    /// Download activity.
    pub activity: Option<bool>,
    /// Reclaim subscriptions.
    pub reclaim: Option<bool>,
    /// Analyze activity from this date-time (RFC 3339 with its zone) or date (YYYY-MM-DD),
    /// or `default`.
    pub analyze_from: Option<String>,
    /// Config values, `key=value`.
    #[serde(default)]
    pub config: Vec<String>,
}

/// The answer of changing a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProfileUpdated {
    /// The profile after the change.
    pub profile: IntegrationProfile,
    /// Whether anything changed.
    pub changed: bool,
    /// What followed from the change (new alias, back to Draft, deleted job, ...).
    pub notes: Vec<String>,
}

/// The answer of validating a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValidationReport {
    /// The profile.
    pub profile: String,
    /// Whether every check passed (then the validation is stored).
    pub passed: bool,
    /// The checks.
    pub checks: Vec<ValidationCheckRecord>,
    /// What the reclaim's activity re-check will go through (none when reclaim is off; a
    /// warning when no source is available, as reclaims will then be refused).
    pub recheck: Option<String>,
}

/// The answer of publishing a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProfilePublished {
    /// The profile.
    pub profile: String,
    /// Its software models.
    pub models: Vec<String>,
    /// Reclamation rules created.
    pub rules_created: u64,
    /// Its scheduled jobs.
    pub jobs: Vec<ScheduledJob>,
    /// What the admin should know (a reclaim with no activity re-check source).
    pub warnings: Vec<String>,
}

/// The answer of deleting a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProfileDeleted {
    /// The profile.
    pub profile: String,
    /// Subscriptions removed.
    pub subscriptions: u64,
    /// Scheduled jobs removed.
    pub jobs: u64,
    /// Removal candidates closed as Closed Skipped.
    pub candidates_closed: u64,
}

/// `GET /api/v1/groups`: the site's groups of a profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupsQuery {
    /// The profile.
    pub profile: String,
}

/// A group of the site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupRow {
    /// The vendor's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether it is a product-access group of the profile.
    pub selected: bool,
    /// What membership grants: `product`, `admin`, `site-admin`, `none` or `-` (unknown).
    pub access: String,
    /// How many members the vendor lists, where it said so cheaply.
    pub members: Option<u64>,
}

/// The answer of listing the site's groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupList {
    /// The profile.
    pub profile: String,
    /// Every group of the site.
    pub groups: Vec<GroupRow>,
}

/// `POST /api/v1/groups/add|remove`: groups by id or name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChangeGroups {
    /// The profile.
    pub profile: String,
    /// Group ids or names.
    pub groups: Vec<String>,
}

/// The answer of selecting or unselecting groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupsChanged {
    /// The profile.
    pub profile: String,
    /// The groups selected or unselected.
    pub groups: Vec<SelectedGroup>,
}

/// `GET /api/v1/jobs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobsQuery {
    /// Only this profile's jobs.
    pub profile: Option<String>,
}

/// The answer of listing jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobList {
    /// The jobs, by name.
    pub jobs: Vec<ScheduledJob>,
}

/// `GET /api/v1/jobs/show`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobQuery {
    /// The job's name.
    pub name: String,
}

/// One job and its recent results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobView {
    /// The job.
    pub job: ScheduledJob,
    /// Its last ten results, newest first.
    pub recent_results: Vec<JobResult>,
}

/// `POST /api/v1/jobs/set`: edit a job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SetJob {
    /// The job's name.
    pub name: String,
    /// The new schedule (cron with seconds, UTC).
    pub schedule: Option<String>,
    /// Run it or pause it.
    pub active: Option<bool>,
}

/// `POST /api/v1/key/rotate`: no parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RotateKey {}

/// The answer of a key rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyRotated {
    /// Connections whose secrets were re-encrypted.
    pub connections: u64,
    /// The new key's id.
    pub key_id: String,
}

/// `POST /api/v1/profiles/limits/set`: set or reset a profile's limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SetLimits {
    /// The profile's name.
    pub name: String,
    /// Limits to set, as `NAME=VALUE` (`memory=512MiB`, `deadline=120s`, `pages=5000`).
    #[serde(default)]
    pub set: Vec<String>,
    /// Limits to return to their default (`all` for every one).
    #[serde(default)]
    pub reset: Vec<String>,
}

/// One limit of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LimitView {
    /// The limit.
    pub name: String,
    /// The value in force, as shown.
    pub value: String,
    /// The default, as shown.
    pub default: String,
    /// Whether the operator set it.
    pub set: bool,
    /// What it bounds.
    pub what: String,
}

/// A profile's limits, after any change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProfileLimitsView {
    /// The profile.
    pub profile: String,
    /// What changed (`name: old -> new`, `name: back to the default`).
    pub changed: Vec<String>,
    /// Every limit.
    pub limits: Vec<LimitView>,
}

fn no_profile(name: &str) -> AppError {
    AppError::NotFound(format!("no profile named `{name}`"))
}

fn parse_config(items: &[String]) -> Result<Vec<(String, String)>, AppError> {
    items
        .iter()
        .map(|item| {
            let (k, v) = item.split_once('=').ok_or_else(|| {
                AppError::Invalid(format!("--config {item:?} is not of the form key=value"))
            })?;
            Ok((k.trim().to_string(), v.to_string()))
        })
        .collect()
}

fn parse_analyze_from(
    text: &str,
    manifest: &Manifest,
    now: EpochSeconds,
) -> Result<Option<EpochSeconds>, AppError> {
    if text == "default" {
        return Ok(None);
    }
    let (at, bare_date) = crate::model::parse_instant(text).ok_or_else(|| {
        AppError::Invalid(format!(
            "--analyze-from {text:?} is neither a date-time with its zone (RFC 3339, e.g. 2026-10-01T08:30:00+02:00) nor a YYYY-MM-DD date"
        ))
    })?;
    // The look-back is exact: a date-time must be inside it to the second. A bare date is
    // accepted when any of its day is (a run then starts no earlier than the look-back
    // allows at its own start: the pipeline clamps the window).
    let limit = now - i64::from(manifest.activity_lookback_days) * DAY;
    let earliest = if bare_date { limit - DAY + 1 } else { limit };
    if at < earliest {
        return Err(AppError::Invalid(format!(
            "--analyze-from {text} is more than {} days back, the spoke's look-back limit: pick a later date",
            manifest.activity_lookback_days
        )));
    }
    if at > now + DAY {
        return Err(AppError::Invalid(format!(
            "--analyze-from {text} is in the future"
        )));
    }
    Ok(Some(at))
}

/// Refuses a display name another profile uses (job names are made from it).
fn check_display_name(tx: &WriteTx, name: &str, display_name: &str) -> Result<(), AppError> {
    if display_name.trim().is_empty() || display_name.chars().any(char::is_control) {
        return Err(AppError::Invalid(
            "the display name must be non-empty, without control characters".into(),
        ));
    }
    let taken = tx
        .all_profiles()
        .map_err(store_failure)?
        .into_iter()
        .any(|p| p.name != name && p.display_name == display_name);
    if taken {
        return Err(AppError::Conflict(format!(
            "another profile is already displayed as `{display_name}` (job names are made from it): choose another --display-name"
        )));
    }
    Ok(())
}

/// The processes `validate` checks: the enabled ones except reclaim (never written to).
fn validated_processes(processes: ProcessSet) -> Vec<Process> {
    enabled_processes(processes)
        .into_iter()
        .filter(|p| *p != Process::Reclaim)
        .collect()
}

/// `SAM - Refresh <display name> <what>`, as the reference guide names the jobs.
fn job_name(display_name: &str, what: &str) -> String {
    crate::daemon::schedule::refresh_job_name(display_name, what)
}

/// Creates the default reclamation rule of each of the published profile's models that has
/// none (the models of its products, and any its subscriptions carry); returns how many.
fn create_default_rules(
    tx: &WriteTx,
    profile: &IntegrationProfile,
    models: &[String],
    now: EpochSeconds,
) -> Result<u64, WriteError> {
    let mut created = 0;
    for model in models {
        if tx.rule(model)?.is_none() {
            let rule = crate::model::ReclamationRule::default_for(model, now);
            tx.put_rule(&rule)?;
            tx.audit(
                now,
                Some(&profile.name),
                AuditAction::RuleChanged,
                format!(
                    "default reclamation rule for `{model}` created on publishing: {} days",
                    rule.inactivity_days
                ),
                None,
            )?;
            created += 1;
        }
    }
    created += crate::reclaim::ensure_rules(tx, &profile.name, now)?.len() as u64;
    Ok(created)
}

/// What validate says about the reclaim's activity re-check (issue 19): nothing when reclaim
/// is off, the sources when there are some, and plainly that reclaims will be refused when
/// there is none.
fn recheck_note(opened: &super::session::ProfileSession) -> Option<String> {
    if !opened.profile.processes.reclaim {
        return None;
    }
    let supplied: Vec<String> = opened
        .session
        .routes()
        .iter()
        .filter(|r| r.credential.is_some())
        .map(|r| r.name.clone())
        .collect();
    let manifest = opened.spoke.manifest();
    let sources =
        crate::reclaim::recheck_sources(manifest, opened.granted_scopes.as_deref(), &supplied);
    Some(if sources.is_empty() {
        format!(
            "reclaim: NO activity re-check source, so reclaims will be refused: {}",
            crate::reclaim::no_recheck_source_reason(manifest)
        )
    } else {
        format!(
            "reclaim re-checks activity through {}",
            sources.join(" and ")
        )
    })
}

/// Re-seals every secret of `record` with `ring`'s primary key.
fn reseal(record: &mut OAuthConnection, ring: &Keyring) -> Result<(), auth::KeyError> {
    let key = record.credential_key.clone();
    let redo = |field: &str,
                sealed: &mut Option<crate::model::SealedSecret>|
     -> Result<(), auth::KeyError> {
        if let Some(s) = sealed.as_ref() {
            let slot = slot(&key, field);
            let plain = ring.open(&slot, s)?;
            *sealed = Some(ring.seal(&slot, plain.expose()));
        }
        Ok(())
    };
    redo("client_secret", &mut record.client_secret)?;
    redo("access_token", &mut record.access_token)?;
    redo("refresh_token", &mut record.refresh_token)?;
    if let Some(p) = record.pending.as_mut() {
        let mut state = Some(p.state.clone());
        redo("state", &mut state)?;
        if let Some(s) = state {
            p.state = s;
        }
        redo("pkce_verifier", &mut p.pkce_verifier)?;
    }
    Ok(())
}

impl App {
    /// Creates a Draft profile with its connection and selected groups.
    pub async fn profiles_create(
        &self,
        _actor: &Actor,
        args: CreateProfile,
    ) -> Result<ProfileCreated, AppError> {
        if args.name.trim().is_empty() || args.name.chars().any(char::is_control) {
            return Err(AppError::Invalid(
                "the profile name must be non-empty, without control characters".into(),
            ));
        }
        let config = parse_config(&args.config)?;
        if let Some(url) = &args.connection_url
            && url::Url::parse(url).is_err()
        {
            return Err(AppError::Invalid(format!(
                "--connection-url {url:?} is not a URL"
            )));
        }
        let spoke_path = resolve_spoke(std::path::Path::new(&args.spoke), self.settings())?;
        let spoke = load_profile_spoke(self.host(), &spoke_path).await?;
        let manifest = spoke.manifest().clone();
        let now = self.now();
        let analyze_from = match &args.analyze_from {
            None => None,
            Some(text) => parse_analyze_from(text, &manifest, now)?,
        };
        let processes = ProcessSet {
            activity: !args.no_activity,
            reclaim: !args.no_reclaim,
        };
        let alias = auth::child_alias(&manifest.id, processes, &args.name);
        let auth_kind = match (&args.token_env, &args.app_id) {
            (Some(_), Some(_)) => {
                return Err(AppError::Invalid(
                    "give either --token-env or --app-id, not both".into(),
                ));
            }
            (None, Some(app_id)) => super::session::app_installation_auth(
                self.settings(),
                &manifest,
                &alias,
                app_id,
                args.installation_id.as_deref().unwrap_or_default(),
                args.app_key_pem.as_deref(),
            )?,
            (Some(variable), None) => AuthKind::StaticTokenEnv {
                variable: variable.clone(),
            },
            (None, None) => {
                if auth::oauth_scheme(&manifest).is_none() {
                    return Err(AppError::Invalid(format!(
                        "spoke `{}` authenticates with a bearer token: pass --token-env VAR",
                        manifest.id
                    )));
                }
                AuthKind::OAuth2 {
                    credential_key: format!("{}.{}", manifest.id, args.name),
                    scopes: required_scopes(&manifest, processes),
                }
            }
        };
        let connection_url = match &args.connection_url {
            Some(url) => url.clone(),
            None => {
                let (url, missing) =
                    auth::fill_template(&manifest.connection_url_template, &config, None);
                if !missing.is_empty() && (args.token_env.is_some() || args.app_id.is_some()) {
                    return Err(AppError::Invalid(format!(
                        "give --connection-url, or --config {}=... to fill the spoke's connection URL {}",
                        missing.join("=... --config "),
                        manifest.connection_url_template
                    )));
                }
                url
            }
        };
        let display_name = args
            .display_name
            .clone()
            .unwrap_or_else(|| args.name.clone());
        let profile = IntegrationProfile {
            name: args.name.clone(),
            display_name: display_name.clone(),
            spoke_id: manifest.id.clone(),
            spoke_path,
            status: ProfileStatus::Draft,
            processes,
            analyze_from,
            config,
            connection: alias.clone(),
            created_at: now,
        };
        let connection = Connection {
            alias,
            connection_url,
            granted_hosts: args.grant_hosts.clone(),
            auth: auth_kind,
        };
        let groups: Vec<SelectedGroup> = args
            .groups
            .iter()
            .map(|g| SelectedGroup {
                profile: args.name.clone(),
                group_id: g.clone(),
                name: None,
            })
            .collect();
        let store = self.store();
        let tx = store.begin_write().map_err(store_failure)?;
        check_display_name(&tx, &profile.name, &display_name)?;
        let pin = crate::host::trust::pin_for(
            &profile.name,
            &spoke,
            now,
            crate::model::PinOrigin::Created,
        );
        let written = (|| {
            tx.create_profile(&profile, &connection, &groups)?;
            tx.put_plugin_pin(&pin)?;
            tx.audit(
                now,
                Some(&profile.name),
                AuditAction::ProfileCreated,
                format!(
                    "profile `{}` created for spoke `{}`",
                    profile.name, profile.spoke_id
                ),
                None,
            )?;
            Ok::<_, WriteError>(())
        })();
        written.map_err(write_failure)?;
        tx.commit().map_err(store_failure)?;
        Ok(ProfileCreated {
            oauth: matches!(connection.auth, AuthKind::OAuth2 { .. }),
            profile,
        })
    }

    /// Lists the profiles.
    pub async fn profiles_list(
        &self,
        _actor: &Actor,
        _q: ProfilesQuery,
    ) -> Result<ProfileList, AppError> {
        let profiles = self.store().read().and_then(|r| r.profiles())?;
        Ok(ProfileList { profiles })
    }

    /// One profile with its alias, scopes, connection, OAuth state, validation, groups, jobs,
    /// subscription counts and recent runs.
    pub async fn profiles_show(
        &self,
        _actor: &Actor,
        q: ProfileName,
    ) -> Result<ProfileView, AppError> {
        let name = q.name.as_str();
        let read = self.store().read()?;
        let profile = read.profile(name)?.ok_or_else(|| no_profile(name))?;
        let connection = read.connection(&profile.connection)?;
        let oauth = match connection.as_ref().map(|c| &c.auth) {
            Some(AuthKind::OAuth2 { credential_key, .. }) => {
                read.oauth_connection(credential_key)?
            }
            _ => None,
        };
        let validation = read.validation(name)?;
        let pin = read.plugin_pin(name)?.map(|p| PinView {
            sha256: p.sha256,
            version: p.permissions.version,
            pinned_at: p.pinned_at,
            origin: match p.origin {
                crate::model::PinOrigin::Created => "created",
                crate::model::PinOrigin::Trusted => "trusted",
                crate::model::PinOrigin::FirstUse => "first-use",
                crate::model::PinOrigin::Bundled => "bundled",
            }
            .to_string(),
        });
        let selected_groups = read.selected_groups(name)?;
        let (active, ended) = read.subscription_counts(name)?;
        let scheduled_jobs: Vec<_> = read
            .scheduled_jobs()?
            .into_iter()
            .filter(|j| j.profile == name)
            .collect();
        let recent_jobs: Vec<_> = read
            .job_results()?
            .into_iter()
            .filter(|j| j.profile == name)
            .rev()
            .take(5)
            .collect();
        drop(read);
        // The scopes come from the spoke's manifest (the processes' rows plus base scopes).
        let scopes = match load_profile_spoke(self.host(), &profile.spoke_path).await {
            Ok(spoke) => required_scopes(spoke.manifest(), profile.processes),
            Err(_) => match connection.as_ref().map(|c| &c.auth) {
                Some(AuthKind::OAuth2 { scopes, .. }) => scopes.clone(),
                _ => Vec::new(),
            },
        };
        let parent = auth::parent_alias(&profile.spoke_id, profile.processes);
        let validated = validation.as_ref().is_some_and(|v| {
            v.processes == profile.processes && v.connection == profile.connection
        });
        Ok(ProfileView {
            alias: AliasView {
                parent,
                child: profile.connection.clone(),
            },
            scopes,
            connection,
            oauth: oauth.map(|o| OAuthView {
                client_id: o.client_id,
                redirect_uri: o.redirect_uri,
                endpoints: o.endpoints,
                status: o.status,
                site: o.site,
                requested_scopes: o.requested_scopes,
                granted_scopes: o.granted_scopes,
                access_expires_at: o.access_expires_at,
                connected_at: o.connected_at,
                refreshed_at: o.refreshed_at,
                refresh_count: o.refresh_count,
            }),
            validated,
            validation,
            selected_groups,
            scheduled_jobs,
            subscriptions: SubscriptionCounts { active, ended },
            recent_jobs,
            pin,
            profile,
        })
    }

    /// Changes a profile's settings; changing the processes derives a new alias and scopes,
    /// asks for validation again and returns a published profile to Draft.
    pub async fn profiles_set(
        &self,
        _actor: &Actor,
        args: SetProfile,
    ) -> Result<ProfileUpdated, AppError> {
        let store = self.store();
        let profile = store
            .read()
            .and_then(|r| r.profile(&args.name))?
            .ok_or_else(|| no_profile(&args.name))?;
        let spoke = load_trusted_spoke(self.host(), store, &profile).await?;
        let manifest = spoke.manifest().clone();
        let now = self.now();
        let mut updated = profile.clone();
        let mut notes: Vec<String> = Vec::new();
        if let Some(d) = &args.display_name {
            updated.display_name = d.clone();
        }
        if let Some(a) = args.activity {
            updated.processes.activity = a;
        }
        if let Some(r) = args.reclaim {
            updated.processes.reclaim = r;
        }
        if let Some(text) = &args.analyze_from {
            updated.analyze_from = parse_analyze_from(text, &manifest, now)?;
        }
        for (k, v) in parse_config(&args.config)? {
            updated.config.retain(|(key, _)| key != &k);
            updated.config.push((k, v));
        }
        if updated == profile {
            return Ok(ProfileUpdated {
                profile,
                changed: false,
                notes,
            });
        }
        let processes_changed = updated.processes != profile.processes;
        let tx = store.begin_write().map_err(store_failure)?;
        check_display_name(&tx, &updated.name, &updated.display_name)?;
        let result = (|| -> Result<(), WriteError> {
            if processes_changed {
                let new_alias = auth::child_alias(&manifest.id, updated.processes, &updated.name);
                let scopes = required_scopes(&manifest, updated.processes);
                if let Some(mut connection) = tx.connection(&profile.connection)? {
                    tx.delete_connection(&connection.alias)?;
                    connection.alias = new_alias.clone();
                    if let AuthKind::OAuth2 {
                        credential_key,
                        scopes: wanted,
                    } = &mut connection.auth
                    {
                        *wanted = scopes.clone();
                        if let Some(mut record) = tx.oauth_connection(credential_key)? {
                            let missing: Vec<&String> = scopes
                                .iter()
                                .filter(|s| !record.granted_scopes.contains(s))
                                .collect();
                            if !missing.is_empty() && record.status == CredentialStatus::Connected {
                                let why = format!(
                                    "the processes now need scope(s) {} that were not granted",
                                    missing
                                        .iter()
                                        .map(|s| s.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                );
                                notes.push(format!("{why}: run `sam connect {}`", updated.name));
                                record.status = CredentialStatus::ReconsentNeeded(why);
                                tx.put_oauth_connection(&record)?;
                            }
                        }
                    }
                    tx.put_connection(&connection)?;
                }
                updated.connection = new_alias;
                notes.push(format!(
                    "connection & credential alias is now {} (scopes: {})",
                    updated.connection,
                    scopes.join(" ")
                ));
                tx.clear_validation(&updated.name)?;
                if profile.status == ProfileStatus::Published {
                    updated.status = ProfileStatus::Draft;
                    tx.audit(
                        now,
                        Some(&updated.name),
                        AuditAction::ProfileUnpublished,
                        "processes changed after publishing: back to Draft",
                        None,
                    )?;
                    notes.push(format!(
                        "the processes changed after publishing, so the profile is Draft again: run `sam profile validate {0}` then `sam profile publish {0}`",
                        updated.name
                    ));
                } else {
                    notes.push(format!(
                        "validate again: sam profile validate {}",
                        updated.name
                    ));
                }
                if profile.processes.activity && !updated.processes.activity {
                    let job = job_name(&profile.display_name, "Activity");
                    if tx.delete_scheduled_job(&job)? {
                        notes.push(format!("deleted job `{job}`"));
                    }
                }
            }
            if updated.display_name != profile.display_name {
                for mut job in tx.scheduled_jobs_of(&updated.name)? {
                    let old = job.name.clone();
                    job.name = old.replacen(&profile.display_name, &updated.display_name, 1);
                    tx.delete_scheduled_job(&old)?;
                    tx.put_scheduled_job(&job)?;
                }
            }
            tx.put_profile(&updated)?;
            tx.audit(
                now,
                Some(&updated.name),
                AuditAction::ProfileChanged,
                format!("profile `{}` changed", updated.name),
                None,
            )?;
            Ok(())
        })();
        result.map_err(write_failure)?;
        tx.commit().map_err(store_failure)?;
        Ok(ProfileUpdated {
            profile: updated,
            changed: true,
            notes,
        })
    }

    /// Validates a profile through its spoke (download and activity, never reclaim); a
    /// passed validation is stored, a failed one clears the stored one.
    pub async fn profiles_validate(
        &self,
        _actor: &Actor,
        req: ProfileName,
    ) -> Result<ValidationReport, AppError> {
        let name = req.name.as_str();
        let opened = open_profile_session(self.host(), self.store(), self.settings(), name).await?;
        // The spoke declares what scopes a profile; only a required selection blocks it.
        if let Some(scope) = opened
            .spoke
            .manifest()
            .scope
            .as_ref()
            .filter(|s| s.required)
            && opened.config.selected_groups.is_empty()
        {
            return Err(AppError::Invalid(format!(
                "profile `{name}` has no {noun}: list them with `sam groups list {name}` and select with `sam groups add {name} <id>...`",
                noun = scope.noun
            )));
        }
        for field in opened
            .spoke
            .manifest()
            .config_fields
            .iter()
            .filter(|f| f.required)
        {
            if !opened.config.values.iter().any(|(k, _)| k == &field.name) {
                return Err(AppError::Invalid(format!(
                    "profile `{name}` lacks config `{}` ({}): set it with `sam profile set {name} --config {}=...` or run `sam connect {name}`",
                    field.name, field.label, field.name
                )));
            }
        }
        let processes = validated_processes(opened.profile.processes);
        let checks = opened
            .spoke
            .validate(&opened.session, &opened.config, &processes)
            .await
            .map_err(|e| {
                AppError::Failed(format!(
                    "validation of profile `{name}` could not run: {}",
                    e.kind
                ))
            })?;
        let records: Vec<ValidationCheckRecord> = checks
            .iter()
            .map(|c| ValidationCheckRecord {
                process: c.process.label().to_string(),
                description: c.description.clone(),
                error: c.outcome.as_ref().err().map(|e| e.describe()),
            })
            .collect();
        let failed = records.iter().filter(|r| r.error.is_some()).count();
        let now = self.now();
        let validation = ProfileValidation {
            profile: name.to_string(),
            validated_at: now,
            processes: opened.profile.processes,
            connection: opened.profile.connection.clone(),
            checks: records.clone(),
        };
        self.store()
            .write(|tx| {
                if failed == 0 {
                    tx.put_validation(&validation)?;
                    tx.audit(
                        now,
                        Some(name),
                        AuditAction::ProfileValidated,
                        format!("{} checks passed", records.len()),
                        None,
                    )?;
                } else {
                    tx.clear_validation(name)?;
                }
                Ok::<_, WriteError>(())
            })
            .map_err(store_failure)?;
        Ok(ValidationReport {
            profile: name.to_string(),
            passed: failed == 0,
            checks: records,
            recheck: recheck_note(&opened),
        })
    }

    /// Publishes a validated profile: its software models, default reclamation rules and
    /// scheduled jobs.
    pub async fn profiles_publish(
        &self,
        _actor: &Actor,
        req: ProfileName,
    ) -> Result<ProfilePublished, AppError> {
        let name = req.name.as_str();
        let store = self.store();
        let (profile, validation) = {
            let read = store.read().map_err(store_failure)?;
            let profile = read
                .profile(name)
                .map_err(store_failure)?
                .ok_or_else(|| no_profile(name))?;
            (profile, read.validation(name).map_err(store_failure)?)
        };
        if profile.status == ProfileStatus::Published {
            return Err(AppError::Invalid(format!(
                "profile `{name}` is already Published (change it with `sam profile set`, which returns it to Draft when the processes change)"
            )));
        }
        let valid = validation.as_ref().is_some_and(|v| {
            v.processes == profile.processes && v.connection == profile.connection
        });
        if !valid {
            return Err(AppError::Invalid(format!(
                "profile `{name}` is not validated for its current processes: run `sam profile validate {name}` first"
            )));
        }
        let spoke = load_trusted_spoke(self.host(), store, &profile).await?;
        let manifest = spoke.manifest().clone();
        let now = self.now();
        let defaults = crate::daemon::schedule::jobs_for(&profile, now);
        let (models, rules, jobs) = store
            .write(|tx| {
                let mut models = Vec::new();
                for product in &manifest.products {
                    let id = SoftwareModel::id_for(
                        &manifest.publisher,
                        &product.name,
                        product.edition.as_deref(),
                    );
                    if tx.model(&id)?.is_none() {
                        tx.put_model(&SoftwareModel {
                            id: id.clone(),
                            publisher: manifest.publisher.clone(),
                            product: product.name.clone(),
                            edition: product.edition.clone(),
                            auto_created: true,
                            created_at: now,
                        })?;
                        tx.audit(
                            now,
                            Some(name),
                            AuditAction::ModelCreated,
                            format!("software model `{id}` created on publishing `{name}`"),
                            None,
                        )?;
                    }
                    models.push(id);
                }
                let rules = create_default_rules(tx, &profile, &models, now)?;
                // A job kept from before (held while the profile was Draft) keeps its
                // schedule and active flag; its next run is the schedule's next time from
                // now, so a time missed while Draft does not fire on publishing.
                let mut jobs = Vec::new();
                for job in &defaults {
                    let job = match tx.scheduled_job(&job.name)? {
                        Some(mut kept) => {
                            kept.next_run = crate::daemon::schedule::next_run(&kept.schedule, now)
                                .unwrap_or(job.next_run);
                            kept
                        }
                        None => job.clone(),
                    };
                    tx.put_scheduled_job(&job)?;
                    jobs.push(job);
                }
                let mut published = profile.clone();
                published.status = ProfileStatus::Published;
                tx.put_profile(&published)?;
                tx.audit(
                    now,
                    Some(name),
                    AuditAction::ProfilePublished,
                    format!("profile `{name}` published"),
                    None,
                )?;
                Ok::<_, WriteError>((models, rules, jobs))
            })
            .map_err(write_failure)?;
        let mut warnings = Vec::new();
        if profile.processes.reclaim {
            let (granted, supplied) = {
                let read = store.read()?;
                let granted = match read.connection(&profile.connection)?.map(|c| c.auth) {
                    Some(AuthKind::OAuth2 { credential_key, .. }) => read
                        .oauth_connection(&credential_key)?
                        .map(|c| c.granted_scopes),
                    _ => None,
                };
                let supplied: Vec<String> = read
                    .extra_credentials(name)?
                    .into_iter()
                    .map(|c| c.name)
                    .collect();
                (granted, supplied)
            };
            if crate::reclaim::recheck_sources(&manifest, granted.as_deref(), &supplied).is_empty()
            {
                warnings.push(format!(
                    "reclaim: NO activity re-check source, so reclaims will be refused: {}",
                    crate::reclaim::no_recheck_source_reason(&manifest)
                ));
            }
        }
        Ok(ProfilePublished {
            profile: name.to_string(),
            models,
            rules_created: rules,
            jobs,
            warnings,
        })
    }

    /// Deletes a profile: its subscriptions and jobs go, its removal candidates are closed
    /// as Closed Skipped, its reclamation rules stay.
    pub async fn profiles_delete(
        &self,
        _actor: &Actor,
        req: ProfileName,
    ) -> Result<ProfileDeleted, AppError> {
        let name = req.name.as_str();
        let store = self.store();
        if store.read().and_then(|r| r.profile(name))?.is_none() {
            return Err(no_profile(name));
        }
        let now = self.now();
        let summary = store
            .write(|tx| {
                let closed =
                    crate::reclaim::close_for_deleted_profile(tx, name, now, crate::reclaim::ENGINE_ACTOR)?;
                let mut summary = tx.delete_profile(name)?;
                summary.candidates_closed += closed;
                tx.audit(
                    now,
                    Some(name),
                    AuditAction::ProfileDeleted,
                    format!(
                        "profile `{name}` deleted: {} subscriptions, {} jobs removed; {} candidates closed",
                        summary.subscriptions, summary.jobs, summary.candidates_closed
                    ),
                    None,
                )?;
                Ok::<_, WriteError>(summary)
            })
            .map_err(write_failure)?;
        Ok(ProfileDeleted {
            profile: name.to_string(),
            subscriptions: summary.subscriptions,
            jobs: summary.jobs,
            candidates_closed: summary.candidates_closed,
        })
    }

    /// A profile's limits: every limit, its value and its default.
    pub async fn profiles_limits(
        &self,
        _actor: &Actor,
        q: ProfileName,
    ) -> Result<ProfileLimitsView, AppError> {
        let read = self.store().read()?;
        if read.profile(&q.name)?.is_none() {
            return Err(no_profile(&q.name));
        }
        let stored = read.profile_limits(&q.name)?;
        Ok(self.limits_view(&q.name, &stored, Vec::new()))
    }

    /// Sets or resets a profile's limits in one audited transaction (nothing changes unless
    /// every assignment is valid).
    pub async fn profiles_limits_set(
        &self,
        _actor: &Actor,
        req: SetLimits,
    ) -> Result<ProfileLimitsView, AppError> {
        use crate::pipeline::limits as pl;
        let name = req.name.as_str();
        if req.set.is_empty() && req.reset.is_empty() {
            return Err(AppError::Invalid(
                "give limits to set (NAME=VALUE) or --reset NAME".into(),
            ));
        }
        let base = self.host().limits().clone();
        let now = self.now();
        let user = |e: pl::LimitError| AppError::Invalid(e.to_string());
        let tx = self.store().begin_write().map_err(store_failure)?;
        if tx.profile(name).map_err(write_failure)?.is_none() {
            return Err(no_profile(name));
        }
        let mut stored = tx.profile_limits(name).map_err(write_failure)?;
        let mut changes: Vec<String> = pl::reset(&mut stored, &req.reset)
            .map_err(user)?
            .into_iter()
            .map(|n| format!("{n}: back to the default"))
            .collect();
        changes.extend(pl::set(&mut stored, &req.set, &base).map_err(user)?);
        tx.put_profile_limits(&stored).map_err(write_failure)?;
        tx.audit(
            now,
            Some(name),
            AuditAction::LimitsChanged,
            format!("limits of profile `{name}`: {}", changes.join(", ")),
            None,
        )
        .map_err(write_failure)?;
        tx.commit().map_err(store_failure)?;
        Ok(self.limits_view(name, &stored, changes))
    }

    fn limits_view(
        &self,
        name: &str,
        stored: &crate::model::ProfileLimits,
        changed: Vec<String>,
    ) -> ProfileLimitsView {
        let limits = crate::pipeline::limits::rows(stored, self.host().limits())
            .into_iter()
            .map(|r| LimitView {
                name: r.name.to_string(),
                value: r.value,
                default: r.default,
                set: r.set,
                what: r.what.to_string(),
            })
            .collect();
        ProfileLimitsView {
            profile: name.to_string(),
            changed,
            limits,
        }
    }

    /// Every group of the profile's site, through the spoke, marked when selected.
    pub async fn groups_list(&self, _actor: &Actor, q: GroupsQuery) -> Result<GroupList, AppError> {
        let groups = self.site_groups(&q.profile).await?;
        let selected = self
            .store()
            .read()
            .and_then(|r| r.selected_groups(&q.profile))?;
        let groups = groups
            .into_iter()
            .map(|g| GroupRow {
                selected: selected.iter().any(|s| s.group_id == g.id),
                access: access_label(g.access).to_string(),
                members: g.member_count,
                id: g.id,
                name: g.name,
            })
            .collect();
        Ok(GroupList {
            profile: q.profile,
            groups,
        })
    }

    async fn site_groups(&self, profile: &str) -> Result<Vec<crate::contract::Group>, AppError> {
        let opened =
            open_profile_session(self.host(), self.store(), self.settings(), profile).await?;
        let mut groups = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = opened
                .spoke
                .list_groups(&opened.session, &opened.config, cursor.as_deref())
                .await
                .map_err(|e| {
                    AppError::Failed(format!(
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
        Err(AppError::Failed(format!(
            "listing the groups of profile `{profile}` did not end after {MAX_PAGES} pages"
        )))
    }

    /// Selects product-access groups (ids or names, resolved against the site's groups).
    pub async fn groups_add(
        &self,
        _actor: &Actor,
        req: ChangeGroups,
    ) -> Result<GroupsChanged, AppError> {
        let profile = req.profile.as_str();
        let groups = self.site_groups(profile).await?;
        let mut chosen: Vec<SelectedGroup> = Vec::new();
        for w in &req.groups {
            let found = groups
                .iter()
                .find(|g| g.id == *w)
                .or_else(|| groups.iter().find(|g| g.name.eq_ignore_ascii_case(w)))
                .ok_or_else(|| {
                    AppError::NotFound(format!(
                        "the site has no group `{w}`: `sam groups list {profile}` shows them"
                    ))
                })?;
            if !chosen.iter().any(|g| g.group_id == found.id) {
                chosen.push(SelectedGroup {
                    profile: profile.to_string(),
                    group_id: found.id.clone(),
                    name: Some(found.name.clone()),
                });
            }
        }
        let now = self.now();
        self.store().write(|tx| {
            for g in &chosen {
                tx.put_selected_group(g)?;
            }
            tx.audit(
                now,
                Some(profile),
                AuditAction::GroupsChanged,
                format!(
                    "selected {}",
                    chosen
                        .iter()
                        .map(|g| g.name.as_deref().unwrap_or(&g.group_id))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None,
            )?;
            Ok::<_, WriteError>(())
        })?;
        Ok(GroupsChanged {
            profile: req.profile,
            groups: chosen,
        })
    }

    /// Unselects groups (ids or names of selected groups).
    pub async fn groups_remove(
        &self,
        _actor: &Actor,
        req: ChangeGroups,
    ) -> Result<GroupsChanged, AppError> {
        let profile = req.profile.as_str();
        let read = self.store().read()?;
        if read.profile(profile)?.is_none() {
            return Err(no_profile(profile));
        }
        let selected = read.selected_groups(profile)?;
        drop(read);
        let mut removed: Vec<SelectedGroup> = Vec::new();
        for w in &req.groups {
            let g = selected
                .iter()
                .find(|g| {
                    g.group_id == *w || g.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(w))
                })
                .ok_or_else(|| {
                    AppError::NotFound(format!(
                        "group `{w}` is not selected on profile `{profile}`"
                    ))
                })?;
            removed.push(g.clone());
        }
        let ids: Vec<String> = removed.iter().map(|g| g.group_id.clone()).collect();
        let now = self.now();
        self.store().write(|tx| {
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
        })?;
        Ok(GroupsChanged {
            profile: req.profile,
            groups: removed,
        })
    }

    /// The scheduled jobs (of one profile, or all).
    pub async fn jobs_list(&self, _actor: &Actor, q: JobsQuery) -> Result<JobList, AppError> {
        let jobs = self
            .store()
            .read()?
            .scheduled_jobs()?
            .into_iter()
            .filter(|j| q.profile.as_ref().is_none_or(|p| &j.profile == p))
            .collect();
        Ok(JobList { jobs })
    }

    /// One scheduled job and its last ten results.
    pub async fn jobs_show(&self, _actor: &Actor, q: JobQuery) -> Result<JobView, AppError> {
        let read = self.store().read()?;
        let job = read
            .scheduled_job(&q.name)?
            .ok_or_else(|| no_job(&q.name))?;
        let recent_results = read
            .job_results()?
            .into_iter()
            .filter(|r| job.owns(r))
            .rev()
            .take(10)
            .collect();
        Ok(JobView {
            job,
            recent_results,
        })
    }

    /// Edits a job's schedule or pauses and resumes it.
    pub async fn jobs_set(&self, _actor: &Actor, req: SetJob) -> Result<ScheduledJob, AppError> {
        let now = self.now();
        let next = match &req.schedule {
            Some(expr) => Some(
                crate::daemon::schedule::Schedule::parse(expr)
                    .map_err(|e| AppError::Invalid(e.to_string()))?
                    .next_after(now)
                    .ok_or_else(|| {
                        AppError::Invalid(format!("the schedule `{expr}` never fires again"))
                    })?,
            ),
            None => None,
        };
        self.store()
            .write(|tx| {
                let Some(mut job) = tx.scheduled_job(&req.name)? else {
                    return Ok(None);
                };
                if let (Some(expr), Some(next)) = (&req.schedule, next) {
                    job.schedule = expr.trim().to_string();
                    job.next_run = next;
                }
                if let Some(active) = req.active {
                    job.active = active;
                }
                tx.put_scheduled_job(&job)?;
                Ok::<_, WriteError>(Some(job))
            })?
            .ok_or_else(|| no_job(&req.name))
    }

    /// Re-encrypts every stored secret with a new key (see `sam key rotate`): with a key
    /// file, a new key goes to `<key file>.new` first and replaces the key file after the
    /// secrets are re-sealed; with `SAM_KEY`, the engine's `SAM_KEY` holds the new key and
    /// `SAM_KEY_PREVIOUS` the old one.
    pub async fn key_rotate(
        &self,
        _actor: &Actor,
        _req: RotateKey,
    ) -> Result<KeyRotated, AppError> {
        use crate::auth::KeySource;
        use crate::auth::secrets::{self, pending_path, write_key_file};
        let ring = keyring(self.settings())?;
        let (new_ring, finish) = match ring.source().clone() {
            KeySource::Env => {
                if std::env::var_os(secrets::PREVIOUS_KEY_ENV).is_none() {
                    return Err(AppError::Invalid(format!(
                        "to rotate a key held in ${0}: put the new key in ${0} and the old one in ${1}, then run `sam key rotate`",
                        secrets::KEY_ENV,
                        secrets::PREVIOUS_KEY_ENV
                    )));
                }
                (ring.clone(), None)
            }
            KeySource::File(path) => {
                let pending = pending_path(&path);
                let new = if pending.exists() {
                    // An interrupted rotation: finish it with the key it wrote.
                    Keyring::load(None, None, &pending)
                        .map_err(|e| AppError::Invalid(e.to_string()))?
                        .primary()
                        .clone()
                } else {
                    let key = MasterKey::generate();
                    write_key_file(&pending, &key).map_err(|e| AppError::Invalid(e.to_string()))?;
                    key
                };
                (ring.rotated_to(new), Some((pending, path)))
            }
        };
        let count = self.store().write(|tx| {
            let mut n = 0;
            for mut record in tx.oauth_connections()? {
                reseal(&mut record, &new_ring).map_err(|e| WriteError::NotFound {
                    what: format!("a readable secret of `{}` ({e})", record.credential_key),
                })?;
                tx.put_oauth_connection(&record)?;
                n += 1;
            }
            for mut record in tx.all_extra_credentials()? {
                let slot = crate::model::ExtraCredentialRecord::slot(&record.profile, &record.name);
                let plain =
                    new_ring
                        .open(&slot, &record.secret)
                        .map_err(|e| WriteError::NotFound {
                            what: format!(
                                "a readable `{}` of profile `{}` ({e})",
                                record.name, record.profile
                            ),
                        })?;
                record.secret = new_ring.seal(&slot, plain.expose());
                tx.put_extra_credential(&record)?;
            }
            // App installation private keys live sealed in their connection.
            for mut connection in tx.all_connections()? {
                let alias = connection.alias.clone();
                if let AuthKind::AppInstallation { private_key, .. } = &mut connection.auth {
                    let slot = slot(&alias, super::session::APP_KEY_SLOT);
                    let plain =
                        new_ring
                            .open(&slot, private_key)
                            .map_err(|e| WriteError::NotFound {
                                what: format!("a readable app key of `{alias}` ({e})"),
                            })?;
                    *private_key = new_ring.seal(&slot, plain.expose());
                    tx.put_connection(&connection)?;
                    n += 1;
                }
            }
            Ok::<_, WriteError>(n)
        })?;
        if let Some((pending, path)) = finish {
            std::fs::rename(&pending, &path).map_err(|e| {
                AppError::Failed(format!(
                    "secrets are re-encrypted with the key in {}, but it could not replace {}: {e}; move it there by hand",
                    pending.display(),
                    path.display()
                ))
            })?;
        }
        Ok(KeyRotated {
            connections: count,
            key_id: new_ring.primary().id().to_string(),
        })
    }
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

fn no_job(name: &str) -> AppError {
    AppError::NotFound(format!(
        "no scheduled job named `{name}`: see `sam jobs list`"
    ))
}

impl App {
    /// Returns a published profile to Draft (the web console's "back to draft", `sam profile
    /// unpublish`): its scheduled jobs stay, with their schedules, and the daemon holds them
    /// (runs none) while the profile is Draft; publishing again resumes them from their
    /// schedule's next time.
    pub async fn profiles_unpublish(
        &self,
        _actor: &Actor,
        req: ProfileName,
    ) -> Result<ProfileUpdated, AppError> {
        let now = self.now();
        self.store().write(|tx| {
            let mut profile = tx
                .profile(&req.name)
                .map_err(write_failure)?
                .ok_or_else(|| AppError::NotFound(format!("no profile named `{}`", req.name)))?;
            if profile.status != ProfileStatus::Published {
                return Ok(ProfileUpdated {
                    profile,
                    changed: false,
                    notes: vec!["the profile is already Draft".into()],
                });
            }
            profile.status = ProfileStatus::Draft;
            tx.put_profile(&profile).map_err(write_failure)?;
            let mut notes = Vec::new();
            for job in tx.scheduled_jobs_of(&profile.name).map_err(write_failure)? {
                notes.push(format!(
                    "job `{}` (schedule `{}`) is held while the profile is Draft",
                    job.name, job.schedule
                ));
            }
            tx.audit(
                now,
                Some(&profile.name),
                AuditAction::ProfileUnpublished,
                "back to Draft",
                None,
            )
            .map_err(write_failure)?;
            notes.push(format!(
                "publish again to resume its jobs: sam profile publish {}",
                profile.name
            ));
            Ok(ProfileUpdated {
                profile,
                changed: true,
                notes,
            })
        })
    }
}
