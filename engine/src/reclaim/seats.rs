//! How the reclaim run reaches a spoke: the [`SeatActions`] seam (plan taking a seat back,
//! apply the plan, give it back, look up users' activity), so property tests can count write
//! calls and inject crashes with an in-process fake. [`SpokeSeats`] is the real one: a loaded
//! spoke, its gate session and the profile's config. A spoke built against contract 0.1.0
//! cannot plan: its plan is [`SeatPlan::Unplanned`] and applying it calls the spoke's single
//! `reclaim` export.

use std::future::Future;
use std::sync::Arc;

use crate::contract::{self, Config, SubscriptionRef, UserActivity};
use crate::host::{GateSession, LoadedSpoke};
use crate::model::{EpochSeconds, SeatChange};
use crate::pipeline::{CallCounts, SourceError};

/// The seat a call acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatRef {
    /// The vendor's user id.
    pub external_user_id: String,
    /// The subscription identifier.
    pub identifier: String,
    /// The groups the last download said grant it.
    pub granted_by: Vec<String>,
}

/// What a spoke says a reclaim would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatPlan {
    /// Exactly these changes (contract 0.2.0 on); empty when there is nothing to take back.
    Planned(Vec<SeatChange>),
    /// The spoke cannot say before acting (contract 0.1.0): its reclaim is one call.
    Unplanned,
}

impl SeatPlan {
    /// The planned changes, or `None` for an unplanned reclaim.
    pub fn changes(&self) -> Option<&[SeatChange]> {
        match self {
            SeatPlan::Planned(c) => Some(c),
            SeatPlan::Unplanned => None,
        }
    }

    /// The plan a stored intent holds.
    pub fn from_stored(planned: Option<Vec<SeatChange>>) -> Self {
        planned.map_or(SeatPlan::Unplanned, SeatPlan::Planned)
    }
}

/// The spoke calls a reclaim run makes.
pub trait SeatActions: Send + Sync {
    /// The spoke's id (checked against the profile's).
    fn spoke_id(&self) -> &str;

    /// What taking the seat back would change (a read call; none for a 0.1.0 spoke).
    fn plan(&self, seat: &SeatRef) -> impl Future<Output = Result<SeatPlan, SourceError>> + Send;

    /// Performs `plan` (a write call) and returns the changes now in effect: idempotent, so
    /// applying a plan again after an interruption finishes it. An unplanned reclaim returns
    /// what the spoke's one `reclaim` call changed.
    fn apply(
        &self,
        seat: &SeatRef,
        plan: &SeatPlan,
    ) -> impl Future<Output = Result<Vec<SeatChange>, SourceError>> + Send;

    /// Re-applies the changes a reclaim made (a write call).
    fn restore(
        &self,
        seat: &SeatRef,
        changes: &[SeatChange],
    ) -> impl Future<Output = Result<(), SourceError>> + Send;

    /// The activity of the given users since `since` (a read call).
    fn lookup(
        &self,
        since: EpochSeconds,
        user_ids: &[String],
    ) -> impl Future<Output = Result<Vec<UserActivity>, SourceError>> + Send;

    /// Requests made so far.
    fn counts(&self) -> CallCounts;

    /// Why the activity re-check has no source (see [`super::recheck_sources`]), when that
    /// is known: the reclaim then refuses to act. `None` by default.
    fn missing_recheck_source(&self) -> Option<String> {
        None
    }
}

/// A loaded spoke bound to a session and a profile's config.
#[derive(Debug)]
pub struct SpokeSeats {
    spoke: LoadedSpoke,
    session: Arc<GateSession>,
    config: Config,
    granted_scopes: Option<Vec<String>>,
}

impl SpokeSeats {
    /// Binds `spoke` to `session` and `config`.
    pub fn new(spoke: LoadedSpoke, session: Arc<GateSession>, config: Config) -> Self {
        Self {
            spoke,
            session,
            config,
            granted_scopes: None,
        }
    }

    /// The scopes the connection was granted, where known: with them the reclaim knows
    /// whether its activity re-check has a source before it starts.
    pub fn with_granted_scopes(mut self, scopes: Option<Vec<String>>) -> Self {
        self.granted_scopes = scopes;
        self
    }
}

fn wit_ref(seat: &SeatRef) -> SubscriptionRef {
    SubscriptionRef {
        external_user_id: seat.external_user_id.clone(),
        identifier: seat.identifier.clone(),
        granted_by: seat.granted_by.clone(),
    }
}

fn to_wit(changes: &[SeatChange]) -> Vec<contract::SeatChange> {
    changes
        .iter()
        .map(|c| contract::SeatChange {
            kind: c.kind.clone(),
            target_id: c.target_id.clone(),
            target_name: c.target_name.clone(),
        })
        .collect()
}

fn from_wit(changes: Vec<contract::SeatChange>) -> Vec<SeatChange> {
    changes
        .into_iter()
        .map(|c| SeatChange {
            kind: c.kind,
            target_id: c.target_id,
            target_name: c.target_name,
        })
        .collect()
}

impl SeatActions for SpokeSeats {
    fn spoke_id(&self) -> &str {
        self.spoke.id()
    }

    fn missing_recheck_source(&self) -> Option<String> {
        let supplied: Vec<String> = self
            .session
            .routes()
            .iter()
            .filter(|r| r.credential.is_some())
            .map(|r| r.name.clone())
            .collect();
        let manifest = self.spoke.manifest();
        super::recheck_sources(manifest, self.granted_scopes.as_deref(), &supplied)
            .is_empty()
            .then(|| super::no_recheck_source_reason(manifest))
    }

    async fn plan(&self, seat: &SeatRef) -> Result<SeatPlan, SourceError> {
        if !self.spoke.plans_reclaims() {
            return Ok(SeatPlan::Unplanned);
        }
        let changes = self
            .spoke
            .plan_reclaim(&self.session, &self.config, &wit_ref(seat))
            .await?;
        Ok(SeatPlan::Planned(from_wit(changes)))
    }

    async fn apply(&self, seat: &SeatRef, plan: &SeatPlan) -> Result<Vec<SeatChange>, SourceError> {
        let changes = match plan {
            SeatPlan::Planned(changes) => {
                self.spoke
                    .apply_reclaim(
                        &self.session,
                        &self.config,
                        &wit_ref(seat),
                        &to_wit(changes),
                    )
                    .await?
            }
            SeatPlan::Unplanned => {
                self.spoke
                    .reclaim_legacy(&self.session, &self.config, &wit_ref(seat))
                    .await?
            }
        };
        Ok(from_wit(changes))
    }

    async fn restore(&self, seat: &SeatRef, changes: &[SeatChange]) -> Result<(), SourceError> {
        Ok(self
            .spoke
            .restore(
                &self.session,
                &self.config,
                &wit_ref(seat),
                &to_wit(changes),
            )
            .await?)
    }

    async fn lookup(
        &self,
        since: EpochSeconds,
        user_ids: &[String],
    ) -> Result<Vec<UserActivity>, SourceError> {
        Ok(self
            .spoke
            .lookup_activity(&self.session, &self.config, since, user_ids)
            .await?)
    }

    fn counts(&self) -> CallCounts {
        self.session.counts().into()
    }
}
