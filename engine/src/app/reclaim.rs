//! Reclamation and the license position as application operations: removal candidates
//! (list, show, the user's answer, the manager's decision, reclaiming selected ones now),
//! `undo`, reclamation rules, exclusions, entitlements and license cost overrides, the
//! license position, and the runs that act on seats (`run reclaim`, `run all`) or compute
//! the position (`run reconcile`). Writes are audited as before (the actor comes from the
//! operation wrapper). Whatever calls a profile's vendor runs, inside a daemon, through
//! [`crate::daemon::Daemon::serialised`], so it never runs beside that profile's scheduled
//! job; in a process of its own it runs at once and stops after the seat in flight on a
//! signal. A reclaim answers its whole report, so the CLI prints the same with or without a
//! daemon.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::{Actor, App, AppError, write_failure};
use crate::model::{
    AuditAction, CandidateState, Entitlement, EpochSeconds, ExclusionRule, ExclusionScope,
    ExclusionTarget, LicenseCostOverride, LicenseMetric, ReclamationRule, ReconciliationResult,
    RemovalCandidate, Rights, UserAnswer, parse_date,
};
use crate::pipeline::Clock;
use crate::reclaim::{
    self, LogNotifier, Notifier, ReclaimError, ReclaimOptions, ReclaimReport, Reclaimer,
    SpokeSeats, UndoReport, UndoTarget, WebhookNotifier,
};
use crate::reconcile::parse_money;
use crate::store::WriteError;

/// A reclamation failure as an application error.
pub fn reclaim_failure(e: ReclaimError) -> AppError {
    match e {
        ReclaimError::UnknownProfile(_)
        | ReclaimError::UnknownCandidate(_)
        | ReclaimError::UnknownAuditEntry(_) => AppError::NotFound(e.to_string()),
        ReclaimError::NotAReclaim(_)
        | ReclaimError::NotAwaiting { .. }
        | ReclaimError::NotUndoable { .. }
        | ReclaimError::Transition(_)
        | ReclaimError::WrongSpoke { .. } => AppError::Invalid(e.to_string()),
        other => AppError::Failed(other.to_string()),
    }
}

/// The notifier a request asks for: a webhook, or the logs; with the web console's answer
/// links and the e-mail copy when configured ([`crate::app::notices`]).
fn notifier(app: &App, webhook: Option<&str>) -> Result<Box<dyn Notifier>, AppError> {
    let base: Box<dyn Notifier> = match webhook {
        Some(url) => {
            Box::new(WebhookNotifier::new(url).map_err(|e| AppError::Invalid(e.to_string()))?)
        }
        None => Box::new(LogNotifier),
    };
    Ok(crate::app::notices::wrap(app.settings(), app.now(), base))
}

/// The order of a candidates list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CandidateSort {
    /// By id (the order they were created).
    #[default]
    Id,
    /// By user (external id).
    User,
    /// By last activity, oldest (or none) first.
    LastActivity,
    /// By state, in the order of the reference guide.
    State,
}

/// `GET /api/v1/candidates`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct CandidatesQuery {
    /// Only this profile's.
    pub profile: Option<String>,
    /// Only in this state (`awaiting-user`, ...).
    pub state: Option<String>,
    /// Only this user's (external id, email or name; case-insensitive).
    pub user: Option<String>,
    /// Include closed candidates.
    pub all: bool,
    /// The order.
    pub sort: CandidateSort,
    /// At most this many (after sorting).
    pub limit: Option<usize>,
}

/// The answer of `GET /api/v1/candidates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CandidateList {
    /// The candidates (at most `limit`).
    pub candidates: Vec<RemovalCandidate>,
    /// How many matched before the limit.
    pub total: usize,
}

/// `GET /api/v1/candidates/show`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CandidateQuery {
    /// The candidate id.
    pub id: u64,
}

/// `POST /api/v1/candidates/approve` and `/reject`: the manager's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecideCandidate {
    /// The candidate id.
    pub id: u64,
    /// Who decides (recorded on the transition).
    pub actor: String,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/v1/candidates/answer`: the user's answer to a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AnswerCandidate {
    /// The candidate id.
    pub id: u64,
    /// keep or release.
    pub answer: UserAnswer,
    /// Who answers (recorded on the transition).
    pub actor: String,
    /// POST notices as JSON to this URL (default: the logs).
    #[serde(default)]
    pub notify_webhook: Option<String>,
}

/// `POST /api/v1/candidates/reclaim`: reclaim the given candidates now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReclaimCandidates {
    /// Candidate ids (of one profile).
    pub ids: Vec<u64>,
    /// Report what would be reclaimed; change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Who acts (recorded on every transition).
    pub actor: String,
    /// POST notices as JSON to this URL (default: the logs).
    #[serde(default)]
    pub notify_webhook: Option<String>,
}

/// `POST /api/v1/runs/reclaim` and `/runs/all`: a profile's reclaim subflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunReclaim {
    /// The profile.
    pub profile: String,
    /// Report what would be reclaimed and the savings; change nothing anywhere.
    #[serde(default)]
    pub dry_run: bool,
    /// At most this many reclaims in this run.
    #[serde(default)]
    pub max: Option<u64>,
    /// At most this percentage of the profile's seats in this run (default 10).
    #[serde(default)]
    pub max_percent: Option<f64>,
    /// Who runs it (recorded on every transition).
    pub actor: String,
    /// POST notices as JSON to this URL (default: the logs).
    #[serde(default)]
    pub notify_webhook: Option<String>,
    /// Run a Draft profile (a Draft profile runs only when asked explicitly).
    #[serde(default)]
    pub draft: bool,
}

/// `POST /api/v1/undo`: give a reclaimed seat back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UndoRequest {
    /// A candidate id (or, with `audit`, the id of a reclaim's audit entry).
    pub id: u64,
    /// The id is an audit entry's.
    #[serde(default)]
    pub audit: bool,
    /// Who undoes it.
    pub actor: String,
    /// POST notices as JSON to this URL (default: the logs).
    #[serde(default)]
    pub notify_webhook: Option<String>,
}

/// `POST /api/v1/runs/all`'s answer: each step's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunAllReport {
    /// The subscription download.
    pub download: crate::daemon::RunOutcome,
    /// The activity download (when the profile has it on).
    pub activity: Option<crate::daemon::RunOutcome>,
    /// The reclaim.
    pub reclaim: ReclaimReport,
    /// The license position computed last.
    pub positions: Vec<ReconciliationResult>,
}

/// `POST /api/v1/exclusions`: add an exclusion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddExclusion {
    /// A user's principal name (email) or external id (all profiles).
    #[serde(default)]
    pub user: Option<String>,
    /// A subscription identifier (with `spoke`).
    #[serde(default)]
    pub identifier: Option<String>,
    /// The spoke (profile type) of the identifier.
    #[serde(default)]
    pub spoke: Option<String>,
    /// What it keeps the target out of.
    pub scope: ExclusionScope,
    /// Create it inactive.
    #[serde(default)]
    pub inactive: bool,
    /// Why.
    #[serde(default)]
    pub note: Option<String>,
}

/// `GET /api/v1/exclusions`: no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExclusionsQuery {}

/// The exclusions, by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExclusionList {
    /// Every exclusion.
    pub exclusions: Vec<ExclusionRule>,
}

/// `POST /api/v1/exclusions/set` and `/entitlements/set`: turn one on or off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SetActive {
    /// The id.
    pub id: String,
    /// Whether it is in force.
    pub active: bool,
}

/// `POST /api/v1/exclusions/remove` and `/entitlements/remove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RemoveById {
    /// The id.
    pub id: String,
}

/// What was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Removed {
    /// Its id.
    pub id: String,
}

/// `GET /api/v1/rules`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RulesQuery {
    /// Only this software model's.
    pub model: Option<String>,
}

/// The reclamation rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleList {
    /// The rules.
    pub rules: Vec<ReclamationRule>,
}

/// `POST /api/v1/rules/set`: change a model's reclamation rule (created with the defaults
/// if missing); what is not given stays.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct SetRule {
    /// The software model.
    pub model: String,
    /// Days without activity before a seat becomes a candidate (at least 1).
    pub threshold_days: Option<u32>,
    /// Ask the user first.
    pub notify: Option<bool>,
    /// Days after the notice before an unanswered seat is reclaimed (0: never).
    pub days_before_auto: Option<u32>,
    /// Whether users with no activity at all are candidates.
    pub include_no_activity: Option<bool>,
    /// Whether app (bot) accounts are kept out.
    pub exclude_apps: Option<bool>,
    /// Whether the rule is in force.
    pub active: Option<bool>,
}

/// `POST /api/v1/entitlements`: record an entitlement (metric User Subscription).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddEntitlement {
    /// The software model.
    pub model: String,
    /// Rights bought (or `unlimited`).
    #[serde(default)]
    pub rights: Option<u64>,
    /// Unlimited rights.
    #[serde(default)]
    pub unlimited: bool,
    /// Price per right for the term (`5.16`); for unlimited, the entitlement's price.
    pub unit_cost: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// Start of the term (YYYY-MM-DD; default today).
    #[serde(default)]
    pub start: Option<String>,
    /// End of the term, exclusive (YYYY-MM-DD).
    #[serde(default)]
    pub end: Option<String>,
    /// Record it inactive.
    #[serde(default)]
    pub inactive: bool,
    /// A note (contract, PO ...).
    #[serde(default)]
    pub note: Option<String>,
}

/// `GET /api/v1/entitlements`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct EntitlementsQuery {
    /// Only this model's.
    pub model: Option<String>,
}

/// The entitlements, by model and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntitlementList {
    /// The entitlements.
    pub entitlements: Vec<Entitlement>,
    /// When the list was read ("in force" is judged at this time).
    pub at: EpochSeconds,
}

/// `POST /api/v1/entitlements/cost`: set or clear a model's license cost override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SetCost {
    /// The software model.
    pub model: String,
    /// Price per right (`12.50`); required unless `clear`.
    #[serde(default)]
    pub unit_cost: Option<String>,
    /// ISO 4217 currency.
    pub currency: String,
    /// Remove the override.
    #[serde(default)]
    pub clear: bool,
}

/// A model's license cost override after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CostOverride {
    /// The software model.
    pub model: String,
    /// The override (none after a clear).
    pub cost: Option<LicenseCostOverride>,
}

/// `GET /api/v1/position`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct PositionQuery {
    /// This model's trend (every result) instead of the latest of each model.
    pub model: Option<String>,
}

/// License positions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PositionList {
    /// The results.
    pub results: Vec<ReconciliationResult>,
    /// The vendor's own seat counts beside the positions (empty when no spoke reports any).
    #[serde(default)]
    pub vendor: Vec<crate::reconcile::vendor::VendorComparison>,
    /// Each profile's share of the latest position of the models shown (each holder counts
    /// in one profile, so a model's shares sum to its used, inactive and excluded).
    #[serde(default)]
    pub shares: Vec<crate::model::ProfileShare>,
}

/// `POST /api/v1/runs/reconcile`: no parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReconcileBody {}

fn currency(text: &str) -> Result<String, AppError> {
    let c = text.trim().to_ascii_uppercase();
    if c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(c)
    } else {
        Err(AppError::Invalid(format!(
            "--currency {text:?} is not an ISO 4217 code (three letters)"
        )))
    }
}

fn money(flag: &str, text: &str) -> Result<u64, AppError> {
    parse_money(text).ok_or_else(|| {
        AppError::Invalid(format!(
            "{flag} {text:?} is not an amount (digits, at most two decimals)"
        ))
    })
}

fn date(flag: &str, text: &str) -> Result<i64, AppError> {
    parse_date(text)
        .ok_or_else(|| AppError::Invalid(format!("{flag} {text:?} is not a YYYY-MM-DD date")))
}

/// A description of an exclusion's target for people.
pub fn target_text(t: &ExclusionTarget) -> String {
    match t {
        ExclusionTarget::User(u) => format!("user {u}"),
        ExclusionTarget::Identifier {
            spoke_id,
            identifier,
        } => format!("identifier {identifier} ({spoke_id})"),
    }
}

/// Raised on the first SIGINT/SIGTERM while a local run goes (the CLI's own handler exits on
/// the second).
struct SignalStop {
    flag: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl SignalStop {
    fn install() -> Self {
        let flag = Arc::new(AtomicBool::new(false));
        let raised = flag.clone();
        let task = tokio::spawn(async move {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                match signal(SignalKind::terminate()) {
                    Ok(mut term) => {
                        tokio::select! {
                            _ = tokio::signal::ctrl_c() => {}
                            _ = term.recv() => {}
                        }
                    }
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
            }
            raised.store(true, Ordering::SeqCst);
        });
        Self { flag, task }
    }
}

impl Drop for SignalStop {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl App {
    fn store_clock(&self) -> &dyn Clock {
        &**self.clock()
    }

    /// Runs `work` after the profile's job in flight when inside a daemon, else now.
    async fn on_profile<T, F>(&self, profile: &str, work: F) -> Result<T, AppError>
    where
        F: std::future::Future<Output = Result<T, AppError>>,
    {
        match self.daemon() {
            Some(daemon) => daemon
                .serialised(profile, work)
                .await
                .map_err(super::runs::run_failure)?,
            None => work.await,
        }
    }

    /// Reclaims on `profile` with `options` (serialised inside a daemon), then reconciles
    /// when seats changed.
    async fn reclaim_run(
        &self,
        profile: &str,
        options: ReclaimOptions,
        webhook: Option<&str>,
    ) -> Result<ReclaimReport, AppError> {
        let notifier = notifier(self, webhook)?;
        let work = async {
            let opened = super::session::open_profile_session(
                self.host(),
                self.store(),
                self.settings(),
                profile,
            )
            .await?;
            let seats = SpokeSeats::new(opened.spoke, opened.session, opened.config)
                .with_granted_scopes(opened.granted_scopes);
            let local = self.daemon().is_none().then(SignalStop::install);
            let stop: &AtomicBool = match (self.daemon(), &local) {
                (Some(d), _) => d.stop_flag(),
                (None, Some(s)) => s.flag.as_ref(),
                (None, None) => &NEVER,
            };
            Reclaimer::new(self.store())
                .clock(self.store_clock())
                .notifier(notifier.as_ref())
                .options(options)
                .stop_when(stop)
                .run(&seats, profile)
                .await
                .map_err(reclaim_failure)
        };
        let report = self.on_profile(profile, work).await?;
        if report.reclaimed > 0 {
            self.reconcile_after();
        }
        Ok(report)
    }

    /// Reconciles after seats changed (a reclaim or an undo); a failure is only logged.
    fn reconcile_after(&self) {
        if let Err(e) = crate::reconcile::run(self.store(), self.store_clock()) {
            tracing::warn!(error = %e, "reconciliation after the change failed");
        }
    }

    /// Removal candidates, filtered and sorted.
    pub async fn candidates_list(
        &self,
        _actor: &Actor,
        q: CandidatesQuery,
    ) -> Result<CandidateList, AppError> {
        if let Some(s) = &q.state
            && !CandidateState::KEYS.contains(&s.as_str())
        {
            return Err(AppError::Invalid(format!(
                "unknown candidate state `{s}` (one of {})",
                CandidateState::KEYS.join(", ")
            )));
        }
        let mut list = self.store().read()?.all_candidates()?;
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
            q.profile.as_ref().is_none_or(|p| &c.profile == p)
                && q.state.as_ref().is_none_or(|s| c.state.key() == s.as_str())
                && q.user.as_ref().is_none_or(|u| holds(c, u))
                && (q.all || q.state.is_some() || !c.state.is_closed())
        });
        let state_rank = |c: &RemovalCandidate| {
            CandidateState::KEYS
                .iter()
                .position(|k| *k == c.state.key())
        };
        match q.sort {
            CandidateSort::Id => list.sort_by_key(|c| c.id),
            CandidateSort::User => {
                list.sort_by(|a, b| (&a.external_user_id, a.id).cmp(&(&b.external_user_id, b.id)))
            }
            CandidateSort::LastActivity => list.sort_by_key(|c| (c.last_activity, c.id)),
            CandidateSort::State => list.sort_by_key(|c| (state_rank(c), c.id)),
        }
        let total = list.len();
        if let Some(limit) = q.limit {
            list.truncate(limit);
        }
        Ok(CandidateList {
            candidates: list,
            total,
        })
    }

    /// One removal candidate with its transition log.
    pub async fn candidates_show(
        &self,
        _actor: &Actor,
        q: CandidateQuery,
    ) -> Result<RemovalCandidate, AppError> {
        self.store()
            .read()?
            .candidate(q.id)?
            .ok_or_else(|| AppError::NotFound(format!("no removal candidate {}", q.id)))
    }

    /// The manager approves a reclaim (or an admin marks a problem resolved).
    pub async fn candidates_approve(
        &self,
        _actor: &Actor,
        req: DecideCandidate,
    ) -> Result<RemovalCandidate, AppError> {
        reclaim::decide(
            self.store(),
            req.id,
            true,
            &req.actor,
            req.reason.as_deref(),
            self.now(),
        )
        .map_err(reclaim_failure)
    }

    /// The manager rejects a reclaim (or an admin skips the candidate).
    pub async fn candidates_reject(
        &self,
        _actor: &Actor,
        req: DecideCandidate,
    ) -> Result<RemovalCandidate, AppError> {
        reclaim::decide(
            self.store(),
            req.id,
            false,
            &req.actor,
            req.reason.as_deref(),
            self.now(),
        )
        .map_err(reclaim_failure)
    }

    /// Records the user's answer to a notification.
    pub async fn candidates_answer(
        &self,
        _actor: &Actor,
        req: AnswerCandidate,
    ) -> Result<RemovalCandidate, AppError> {
        let notifier = notifier(self, req.notify_webhook.as_deref())?;
        reclaim::answer(
            self.store(),
            notifier.as_ref(),
            req.id,
            req.answer,
            &req.actor,
            self.now(),
        )
        .await
        .map_err(reclaim_failure)
    }

    /// Reclaims the given candidates (of one profile) now, with the checks and cap of a run.
    pub async fn candidates_reclaim(
        &self,
        _actor: &Actor,
        req: ReclaimCandidates,
    ) -> Result<ReclaimReport, AppError> {
        if req.ids.is_empty() {
            return Err(AppError::Invalid("give at least one candidate id".into()));
        }
        let profile = {
            let read = self.store().read()?;
            let mut profiles = Vec::new();
            for id in &req.ids {
                let c = read
                    .candidate(*id)?
                    .ok_or_else(|| AppError::NotFound(format!("no removal candidate {id}")))?;
                if !profiles.contains(&c.profile) {
                    profiles.push(c.profile);
                }
            }
            if profiles.len() != 1 {
                return Err(AppError::Invalid(format!(
                    "the candidates belong to several profiles ({}); reclaim one profile's at a time",
                    profiles.join(", ")
                )));
            }
            profiles.remove(0)
        };
        let options = ReclaimOptions {
            dry_run: req.dry_run,
            only: Some(req.ids),
            actor: req.actor,
            ..ReclaimOptions::default()
        };
        self.reclaim_run(&profile, options, req.notify_webhook.as_deref())
            .await
    }

    /// Runs a profile's reclaim subflow (dry run, cap).
    pub async fn runs_reclaim(
        &self,
        _actor: &Actor,
        req: RunReclaim,
    ) -> Result<ReclaimReport, AppError> {
        self.check_runnable(&req.profile, req.draft)?;
        let max_percent = req.max_percent.unwrap_or(reclaim::DEFAULT_MAX_PERCENT);
        if !(0.0..=100.0).contains(&max_percent) {
            return Err(AppError::Invalid(
                "--max-percent must be between 0 and 100".into(),
            ));
        }
        let options = ReclaimOptions {
            dry_run: req.dry_run,
            max_count: req.max,
            max_percent: Some(max_percent),
            only: None,
            actor: req.actor,
        };
        self.reclaim_run(&req.profile, options, req.notify_webhook.as_deref())
            .await
    }

    /// Every subflow of a profile in order: download, activity (when on), reclaim, reconcile;
    /// stops at the first failure.
    pub async fn runs_all(&self, actor: &Actor, req: RunReclaim) -> Result<RunAllReport, AppError> {
        use crate::model::ProcessKind;
        let activity_on = self
            .store()
            .read()?
            .profile(&req.profile)?
            .ok_or_else(|| AppError::NotFound(format!("no profile named `{}`", req.profile)))?
            .processes
            .activity;
        self.check_runnable(&req.profile, req.draft)?;
        let run = |process| super::runs::RunBody {
            profile: req.profile.clone(),
            process,
            draft: req.draft,
        };
        let download = self
            .runs_start(actor, run(ProcessKind::DownloadSubscriptions))
            .await?;
        let activity = if activity_on {
            Some(
                self.runs_start(actor, run(ProcessKind::DownloadActivity))
                    .await?,
            )
        } else {
            None
        };
        let reclaim = self.runs_reclaim(actor, req).await?;
        let positions = self.runs_reconcile(actor, ReconcileBody {}).await?.results;
        Ok(RunAllReport {
            download,
            activity,
            reclaim,
            positions,
        })
    }

    /// Gives a reclaimed seat back (serialised with the profile's jobs inside a daemon).
    pub async fn undo(&self, _actor: &Actor, req: UndoRequest) -> Result<UndoReport, AppError> {
        let target = if req.audit {
            UndoTarget::Audit(req.id)
        } else {
            UndoTarget::Candidate(req.id)
        };
        let profile = {
            let read = self.store().read()?;
            reclaim::undo::resolve(&read, target)
                .map_err(reclaim_failure)?
                .profile
        };
        let notifier = notifier(self, req.notify_webhook.as_deref())?;
        let work = async {
            let opened = super::session::open_profile_session(
                self.host(),
                self.store(),
                self.settings(),
                &profile,
            )
            .await?;
            let seats = SpokeSeats::new(opened.spoke, opened.session, opened.config)
                .with_granted_scopes(opened.granted_scopes);
            reclaim::undo(
                self.store(),
                &seats,
                notifier.as_ref(),
                target,
                &req.actor,
                self.now(),
            )
            .await
            .map_err(reclaim_failure)
        };
        let report = self.on_profile(&profile, work).await?;
        self.reconcile_after();
        Ok(report)
    }

    /// Adds an exclusion of a user (all profiles) or of an identifier (one profile type).
    pub async fn exclusions_add(
        &self,
        _actor: &Actor,
        req: AddExclusion,
    ) -> Result<ExclusionRule, AppError> {
        let target = match (&req.user, &req.identifier, &req.spoke) {
            (Some(u), _, _) if !u.trim().is_empty() => ExclusionTarget::User(u.trim().into()),
            (_, Some(i), Some(s)) if !i.trim().is_empty() && !s.trim().is_empty() => {
                ExclusionTarget::Identifier {
                    spoke_id: s.trim().into(),
                    identifier: i.trim().into(),
                }
            }
            _ => {
                return Err(AppError::Invalid(
                    "give --user, or --identifier with --spoke".into(),
                ));
            }
        };
        let at = self.now();
        let rule = self.store().write(|tx| {
            let id = tx.next_seq("exclusion")?.to_string();
            let rule = ExclusionRule {
                id,
                target,
                scope: req.scope,
                active: !req.inactive,
                note: req.note.clone(),
                created_at: at,
            };
            tx.put_exclusion(&rule)?;
            tx.audit(
                at,
                None,
                AuditAction::RuleChanged,
                format!("exclusion {} added: {}", rule.id, target_text(&rule.target)),
                None,
            )?;
            Ok::<_, WriteError>(rule)
        })?;
        Ok(rule)
    }

    /// The exclusions, by id.
    pub async fn exclusions_list(
        &self,
        _actor: &Actor,
        _q: ExclusionsQuery,
    ) -> Result<ExclusionList, AppError> {
        let mut list = self.store().read()?.exclusions()?;
        list.sort_by_key(|x| x.id.parse::<u64>().unwrap_or(u64::MAX));
        Ok(ExclusionList { exclusions: list })
    }

    /// Turns an exclusion on or off.
    pub async fn exclusions_set(
        &self,
        _actor: &Actor,
        req: SetActive,
    ) -> Result<ExclusionRule, AppError> {
        let (id, active, at) = (&req.id, req.active, self.now());
        self.store()
            .write(|tx| {
                let mut x = tx.exclusion(id)?.ok_or_else(|| WriteError::NotFound {
                    what: format!("exclusion `{id}`"),
                })?;
                x.active = active;
                tx.put_exclusion(&x)?;
                tx.audit(
                    at,
                    None,
                    AuditAction::RuleChanged,
                    format!("exclusion {id} set active={active}"),
                    None,
                )?;
                Ok::<_, WriteError>(x)
            })
            .map_err(write_failure)
    }

    /// Removes an exclusion.
    pub async fn exclusions_remove(
        &self,
        _actor: &Actor,
        req: RemoveById,
    ) -> Result<Removed, AppError> {
        self.remove_audited("exclusion", req.id, AuditAction::RuleChanged, |tx, id| {
            tx.delete_exclusion(id)
        })
    }

    /// Deletes the `what` with `id` and audits it as `action`, in one transaction; not
    /// found when there is none.
    fn remove_audited(
        &self,
        what: &str,
        id: String,
        action: AuditAction,
        delete: impl Fn(&crate::store::WriteTx, &str) -> Result<bool, WriteError>,
    ) -> Result<Removed, AppError> {
        let now = self.now();
        self.store()
            .write(|tx| {
                if !delete(tx, &id)? {
                    return Err(WriteError::NotFound {
                        what: format!("{what} `{id}`"),
                    });
                }
                tx.audit(
                    now,
                    None,
                    action.clone(),
                    format!("{what} {id} removed"),
                    None,
                )?;
                Ok(())
            })
            .map_err(write_failure)?;
        Ok(Removed { id })
    }

    /// The reclamation rules (or one model's).
    pub async fn rules_show(&self, _actor: &Actor, q: RulesQuery) -> Result<RuleList, AppError> {
        let mut list = self.store().read()?.rules()?;
        if let Some(m) = &q.model {
            list.retain(|r| &r.model == m);
            if list.is_empty() {
                return Err(AppError::NotFound(format!(
                    "no reclamation rule for model `{m}` (rules are created on publish and by the first reclaim run)"
                )));
            }
        }
        Ok(RuleList { rules: list })
    }

    /// Changes a model's reclamation rule (created with the defaults if missing).
    pub async fn rules_set(
        &self,
        _actor: &Actor,
        req: SetRule,
    ) -> Result<ReclamationRule, AppError> {
        if req.threshold_days == Some(0) {
            return Err(AppError::Invalid(
                "--threshold-days must be at least 1".into(),
            ));
        }
        let at = self.now();
        let model = &req.model;
        self.store()
            .write(|tx| {
                let mut rule = match tx.rule(model)? {
                    Some(r) => r,
                    None if tx.model(model)?.is_some() => ReclamationRule::default_for(model, at),
                    None => {
                        return Err(WriteError::NotFound {
                            what: format!("software model `{model}`"),
                        });
                    }
                };
                if let Some(d) = req.threshold_days {
                    rule.inactivity_days = d;
                }
                if let Some(n) = req.notify {
                    rule.notify_user = n;
                }
                if let Some(d) = req.days_before_auto {
                    rule.days_before_auto_reclaim = (d > 0).then_some(d);
                }
                if let Some(b) = req.include_no_activity {
                    rule.include_no_activity = b;
                }
                if let Some(b) = req.exclude_apps {
                    rule.exclude_apps = b;
                }
                if let Some(b) = req.active {
                    rule.active = b;
                }
                tx.put_rule(&rule)?;
                tx.audit(
                    at,
                    None,
                    AuditAction::RuleChanged,
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
            .map_err(write_failure)
    }

    /// Records an entitlement.
    pub async fn entitlements_add(
        &self,
        _actor: &Actor,
        a: AddEntitlement,
    ) -> Result<Entitlement, AppError> {
        let now = self.now();
        let unit_cost_minor = money("--unit-cost", &a.unit_cost)?;
        let currency = currency(&a.currency)?;
        let start = match &a.start {
            Some(s) => date("--start", s)?,
            None => now - now.rem_euclid(crate::model::DAY),
        };
        let end = a.end.as_deref().map(|e| date("--end", e)).transpose()?;
        if end.is_some_and(|e| e <= start) {
            return Err(AppError::Invalid("--end must be after --start".into()));
        }
        let rights = match (a.rights, a.unlimited) {
            (_, true) => Rights::Unlimited,
            (Some(n), false) => Rights::Count(n),
            (None, false) => {
                return Err(AppError::Invalid("give --rights N or --unlimited".into()));
            }
        };
        self.store()
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
            .map_err(write_failure)
    }

    /// The entitlements (or one model's), by model and id.
    pub async fn entitlements_list(
        &self,
        _actor: &Actor,
        q: EntitlementsQuery,
    ) -> Result<EntitlementList, AppError> {
        let mut list = self.store().read()?.entitlements()?;
        list.retain(|e| q.model.as_ref().is_none_or(|m| &e.model == m));
        list.sort_by_key(|e| (e.model.clone(), e.id.parse::<u64>().unwrap_or(u64::MAX)));
        Ok(EntitlementList {
            entitlements: list,
            at: self.now(),
        })
    }

    /// Removes an entitlement.
    pub async fn entitlements_remove(
        &self,
        _actor: &Actor,
        req: RemoveById,
    ) -> Result<Removed, AppError> {
        self.remove_audited(
            "entitlement",
            req.id,
            AuditAction::EntitlementChanged,
            |tx, id| tx.delete_entitlement(id),
        )
    }

    /// Turns an entitlement on or off.
    pub async fn entitlements_set(
        &self,
        _actor: &Actor,
        req: SetActive,
    ) -> Result<Entitlement, AppError> {
        let (id, active, now) = (&req.id, req.active, self.now());
        self.store()
            .write(|tx| {
                let mut e = tx
                    .entitlements()?
                    .into_iter()
                    .find(|e| &e.id == id)
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
                Ok(e)
            })
            .map_err(write_failure)
    }

    /// Sets (or clears) a model's license cost override, used for true-ups.
    pub async fn entitlements_cost(
        &self,
        _actor: &Actor,
        req: SetCost,
    ) -> Result<CostOverride, AppError> {
        let value = match (req.clear, &req.unit_cost) {
            (true, _) => None,
            (false, Some(u)) => Some((money("--unit-cost", u)?, currency(&req.currency)?)),
            (false, None) => return Err(AppError::Invalid("give --unit-cost or --clear".into())),
        };
        let (model, now) = (&req.model, self.now());
        let cost = value.map(|(unit, c)| LicenseCostOverride {
            model: model.clone(),
            unit_cost_minor: unit,
            currency: c,
        });
        self.store()
            .write(|tx| {
                if tx.model(model)?.is_none() {
                    return Err(WriteError::NotFound {
                        what: format!("software model `{model}`"),
                    });
                }
                match &cost {
                    Some(o) => tx.put_cost_override(o)?,
                    None => {
                        tx.delete_cost_override(model)?;
                    }
                }
                tx.audit(
                    now,
                    None,
                    AuditAction::EntitlementChanged,
                    format!(
                        "license cost override of `{model}`: {:?}",
                        cost.as_ref()
                            .map(|o| (o.unit_cost_minor, o.currency.clone()))
                    ),
                    None,
                )?;
                Ok(())
            })
            .map_err(write_failure)?;
        Ok(CostOverride {
            model: req.model,
            cost,
        })
    }

    /// The latest license position of every model, or one model's trend.
    pub async fn position(
        &self,
        _actor: &Actor,
        q: PositionQuery,
    ) -> Result<PositionList, AppError> {
        let read = self.store().read()?;
        let results = match &q.model {
            Some(m) => read.reconciliation_history(m)?,
            None => read.latest_positions()?,
        };
        position_list(&read, results)
    }

    /// Computes the license position of every software model now.
    pub async fn runs_reconcile(
        &self,
        _actor: &Actor,
        _req: ReconcileBody,
    ) -> Result<PositionList, AppError> {
        let (outcome, job) = super::jobs::reconcile_as_job(
            self.store(),
            self.store_clock(),
            "all",
            crate::model::JobTrigger::Manual,
        );
        job?;
        let results = outcome.map_err(|e| AppError::Failed(e.to_string()))?;
        position_list(&self.store().read()?, results)
    }
}

/// `results` with the vendor's own seat counts beside them and the profiles' shares of their
/// models.
fn position_list(
    read: &crate::store::ReadTx,
    results: Vec<crate::model::ReconciliationResult>,
) -> Result<PositionList, AppError> {
    let vendor = crate::reconcile::vendor::compare(&read.vendor_seat_counts()?, &results);
    let shares = read
        .profile_shares()?
        .into_iter()
        .filter(|s| results.iter().any(|r| r.model == s.model))
        .collect();
    Ok(PositionList {
        results,
        vendor,
        shares,
    })
}

/// A flag never raised (neither a daemon's nor a local handler's: cannot happen).
static NEVER: AtomicBool = AtomicBool::new(false);
