//! Where pages come from: the [`PageSource`] seam. [`SpokeSource`] is the real one (a loaded
//! spoke, its gate session and the profile's config); tests may put an in-process source
//! behind the same trait to drive the engine's crash and idempotence semantics.

use std::future::Future;
use std::sync::Arc;

use super::ReadAhead;
use super::prefetch::ReadAheadPaging;
use crate::contract::{
    ActivityPage, Config, SpokeError, SubscriptionPage, UserActivity, VendorSeatCount,
};
use crate::host::{CallError, GateSession, LoadedSpoke};
use crate::model::EpochSeconds;

/// A product a source reports (from the spoke's manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductInfo {
    /// The subscription identifier.
    pub identifier: String,
    /// Product name.
    pub name: String,
    /// Edition.
    pub edition: Option<String>,
}

/// What the pipeline needs to know about a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// The spoke's id.
    pub spoke_id: String,
    /// The software publisher.
    pub publisher: String,
    /// The products (identifiers) it reports.
    pub products: Vec<ProductInfo>,
    /// The activity look-back limit, in days.
    pub activity_lookback_days: u32,
    /// Whether the lookup reaches a source the scan cannot replace (a second credential is
    /// configured, such as Atlassian's organization API key for last-active dates): holders
    /// whose record shows no activity inside the window are then asked again, once a day.
    pub daily_lookups: bool,
    /// Whether the download pages carry each seat's activity (the activity run then makes
    /// no calls).
    pub activity_from_download: bool,
}

/// A failed source call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    /// The call (WIT export name).
    pub call: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The spoke's own error, when that is what failed.
    pub spoke_error: Option<SpokeError>,
    /// Whether the call ran past its deadline (a smaller call may finish).
    pub deadline_exceeded: bool,
}

impl From<CallError> for SourceError {
    fn from(e: CallError) -> Self {
        SourceError {
            call: e.call,
            message: e.kind.to_string(),
            spoke_error: e.spoke_error().cloned(),
            deadline_exceeded: matches!(e.kind, crate::host::CallErrorKind::DeadlineExceeded(_)),
        }
    }
}

/// Requests made so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// HTTP requests, retries included.
    pub requests: u64,
    /// Retries.
    pub retries: u64,
}

impl From<crate::host::RequestCounts> for CallCounts {
    fn from(c: crate::host::RequestCounts) -> Self {
        Self {
            requests: c.requests,
            retries: c.retries,
        }
    }
}

/// A source of pages: one call per page, as the spoke contract defines them.
pub trait PageSource: Send + Sync {
    /// The source's description.
    fn info(&self) -> &SourceInfo;

    /// One page of subscriptions.
    fn subscriptions(
        &self,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<SubscriptionPage, SourceError>> + Send;

    /// The pages of subscriptions from `cursor` on (`following`: the cursors the page before
    /// told after it), read on a task of their own up to `paging.depth` pages ahead of the
    /// caller ([`ReadAhead`]), the pages a page tells requested concurrently within
    /// `paging.pacing`, so that the vendor serves and the spoke parses them while the caller
    /// writes the pages before. `None` (the default) when the source cannot run detached:
    /// the caller then prefetches one page at a time with [`PageSource::subscriptions`].
    fn read_ahead_subscriptions(
        &self,
        _cursor: String,
        _following: Vec<String>,
        _paging: &ReadAheadPaging,
    ) -> Option<ReadAhead<Result<SubscriptionPage, SourceError>>> {
        None
    }

    /// Answers so far that said the vendor's limit is reached or near (monotonic; 0 when
    /// the source cannot tell).
    fn limit_signals(&self) -> u64 {
        0
    }

    /// One page of the activity scan.
    fn activity(
        &self,
        since: EpochSeconds,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<ActivityPage, SourceError>> + Send;

    /// The activity of the given users.
    fn lookup(
        &self,
        since: EpochSeconds,
        user_ids: &[String],
    ) -> impl Future<Output = Result<Vec<UserActivity>, SourceError>> + Send;

    /// The vendor's own seat counts per identifier (none by default).
    fn vendor_seat_counts(
        &self,
    ) -> impl Future<Output = Result<Vec<VendorSeatCount>, SourceError>> + Send {
        async { Ok(Vec::new()) }
    }

    /// Requests made so far (monotonic).
    fn counts(&self) -> CallCounts;

    /// The wall-clock deadline of one call, when the source has one: the activity lookups
    /// size their batches to finish well within it.
    fn call_deadline(&self) -> Option<std::time::Duration> {
        None
    }
}

/// A loaded spoke bound to a session and a profile's config.
#[derive(Debug)]
pub struct SpokeSource {
    spoke: LoadedSpoke,
    session: Arc<GateSession>,
    config: Config,
    info: SourceInfo,
}

impl SpokeSource {
    /// Binds `spoke` to `session` and `config`.
    pub fn new(spoke: LoadedSpoke, session: Arc<GateSession>, config: Config) -> Self {
        let m = spoke.manifest();
        let info = SourceInfo {
            spoke_id: m.id.clone(),
            publisher: m.publisher.clone(),
            products: m
                .products
                .iter()
                .map(|p| ProductInfo {
                    identifier: p.identifier.clone(),
                    name: p.name.clone(),
                    edition: p.edition.clone(),
                })
                .collect(),
            activity_lookback_days: m.activity_lookback_days,
            daily_lookups: session.routes().iter().any(|r| r.credential.is_some()),
            activity_from_download: m.activity_from_download,
        };
        Self {
            spoke,
            session,
            config,
            info,
        }
    }

    /// The gate session.
    pub fn session(&self) -> &Arc<GateSession> {
        &self.session
    }
}

impl PageSource for SpokeSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    async fn subscriptions(&self, cursor: Option<&str>) -> Result<SubscriptionPage, SourceError> {
        Ok(self
            .spoke
            .download_subscriptions(&self.session, &self.config, cursor)
            .await?)
    }

    fn read_ahead_subscriptions(
        &self,
        cursor: String,
        following: Vec<String>,
        paging: &ReadAheadPaging,
    ) -> Option<ReadAhead<Result<SubscriptionPage, SourceError>>> {
        let (spoke, session, config) = (
            self.spoke.clone(),
            self.session.clone(),
            Arc::new(self.config.clone()),
        );
        let signals = self.session.clone();
        let tells = paging.clone();
        Some(ReadAhead::spawn_concurrent(
            cursor,
            paging.following(&following),
            paging.depth,
            move |at: String| {
                let (spoke, session, config) = (spoke.clone(), session.clone(), config.clone());
                async move {
                    Ok(spoke
                        .download_subscriptions(&session, &config, Some(&at))
                        .await?)
                }
            },
            move |page| match page {
                Ok(p) => (p.next_cursor.clone(), tells.following(&p.following_cursors)),
                Err(_) => (None, Vec::new()),
            },
            paging.pacing.clone(),
            move || signals.limit_signals(),
        ))
    }

    fn limit_signals(&self) -> u64 {
        self.session.limit_signals()
    }

    async fn activity(
        &self,
        since: EpochSeconds,
        cursor: Option<&str>,
    ) -> Result<ActivityPage, SourceError> {
        Ok(self
            .spoke
            .download_activity(&self.session, &self.config, since, cursor)
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

    async fn vendor_seat_counts(&self) -> Result<Vec<VendorSeatCount>, SourceError> {
        Ok(self
            .spoke
            .vendor_seat_counts(&self.session, &self.config)
            .await?)
    }

    fn counts(&self) -> CallCounts {
        self.session.counts().into()
    }

    fn call_deadline(&self) -> Option<std::time::Duration> {
        Some(self.spoke.call_deadline(&self.session))
    }
}
