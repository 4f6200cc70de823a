//! How the reclaim run reaches a spoke: the [`SeatActions`] seam (take a seat back, give it
//! back, look up one user's activity), so property tests can count write calls with an
//! in-process fake. [`SpokeSeats`] is the real one: a loaded spoke, its gate session and the
//! profile's config.

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

/// The spoke calls a reclaim run makes.
pub trait SeatActions: Send + Sync {
    /// The spoke's id (checked against the profile's).
    fn spoke_id(&self) -> &str;

    /// Takes the seat back; returns exactly what changed (a write call).
    fn reclaim(
        &self,
        seat: &SeatRef,
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
}

/// A loaded spoke bound to a session and a profile's config.
#[derive(Debug)]
pub struct SpokeSeats {
    spoke: LoadedSpoke,
    session: Arc<GateSession>,
    config: Config,
}

impl SpokeSeats {
    /// Binds `spoke` to `session` and `config`.
    pub fn new(spoke: LoadedSpoke, session: Arc<GateSession>, config: Config) -> Self {
        Self {
            spoke,
            session,
            config,
        }
    }
}

fn wit_ref(seat: &SeatRef) -> SubscriptionRef {
    SubscriptionRef {
        external_user_id: seat.external_user_id.clone(),
        identifier: seat.identifier.clone(),
        granted_by: seat.granted_by.clone(),
    }
}

impl SeatActions for SpokeSeats {
    fn spoke_id(&self) -> &str {
        self.spoke.id()
    }

    async fn reclaim(&self, seat: &SeatRef) -> Result<Vec<SeatChange>, SourceError> {
        let changes = self
            .spoke
            .reclaim(&self.session, &self.config, &wit_ref(seat))
            .await?;
        Ok(changes
            .into_iter()
            .map(|c| SeatChange {
                kind: c.kind,
                target_id: c.target_id,
                target_name: c.target_name,
            })
            .collect())
    }

    async fn restore(&self, seat: &SeatRef, changes: &[SeatChange]) -> Result<(), SourceError> {
        let changes: Vec<contract::SeatChange> = changes
            .iter()
            .map(|c| contract::SeatChange {
                kind: c.kind.clone(),
                target_id: c.target_id.clone(),
                target_name: c.target_name.clone(),
            })
            .collect();
        Ok(self
            .spoke
            .restore(&self.session, &self.config, &wit_ref(seat), &changes)
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
