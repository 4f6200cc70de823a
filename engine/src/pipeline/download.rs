//! The download-subscriptions subflow: pages of subscriptions from the source, each page
//! validated, its identifiers resolved to software models (created per publisher and product
//! on first sight, or listed as unrecognized), then staged: appended as one row to the run's
//! staging log, in one transaction with the checkpoint. The run's staged subscriptions are
//! kept in memory ([`StagedRun`], rebuilt from the log on resume). A user granted by several
//! groups may come on several pages (once per group); their `granted_by` is the union over
//! the run, and the same group twice is refused. When the run completes, the staged
//! subscriptions are merged into the subscriptions table in key order (created, changed,
//! and every active subscription the run did not report ended, counted and audited): the
//! subscriptions change only once a complete listing was read.
//! A page that tells the cursors of the pages after it (`following-cursors`) lets the
//! read-ahead request those concurrently, one call each, within the run's
//! [`AdaptiveConcurrency`] (ceiling: the profile's `concurrency` limit); they are still
//! written and checkpointed in order.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::contract::{self, SubscriptionPage};
use crate::model::{
    AccountType, AuditAction, JobResult, PendingCancellation, ProcessKind, RunPhase, SoftwareModel,
    StagedSubscription, SubscriptionIdentifier, VendorSeatCounts,
};
use crate::store::{RepeatedGrant, StagedRun, WriteError, WriteTx};

use super::limits::PipelineLimits;
use super::prefetch::{Ahead, ReadAheadPaging};
use super::{
    AdaptiveConcurrency, PageFault, PageSource, PagingGuard, Pipeline, PipelineError, Run,
    SourceInfo, check_cursor, check_id, first_duplicate,
};

const PROCESS: ProcessKind = ProcessKind::DownloadSubscriptions;

/// Pages read ahead of the one being written, at most: enough to ride out a durable
/// checkpoint's flush without the vendor waiting for sam, and little memory (a page is a
/// few hundred records).
const READ_AHEAD_PAGES: usize = 4;

impl Pipeline<'_> {
    /// Runs (or resumes) a download of `profile`'s subscriptions from `source`.
    pub async fn download_subscriptions<S: PageSource>(
        &self,
        source: &S,
        profile: &str,
    ) -> Result<JobResult, PipelineError> {
        let mut run = self.begin(source, profile, PROCESS, |_| Ok(0))?;
        // What this run has staged so far (from its staging log when it resumes).
        let mut staged = self
            .store
            .read()?
            .staged_run(profile, run.checkpoint.run_id)?;
        let mut ahead = Ahead::new();
        // The run's concurrency: pages a page tells ahead are requested concurrently, as
        // many at once as the vendor's answers allow, never more than the profile's limit.
        let read_ahead = ReadAheadPaging {
            depth: READ_AHEAD_PAGES,
            cursor_bytes: run.limits.cursor_bytes,
            pacing: Arc::new(AdaptiveConcurrency::new(
                run.limits.concurrency,
                source.limit_signals(),
            )),
        };
        let mut paging = PagingGuard::new(&run.limits, run.checkpoint.cursor.as_deref());
        while run.checkpoint.phase == RunPhase::Paging {
            if let Err(fault) = paging.before_page(run.checkpoint.pages) {
                let err = run.fault(fault);
                return Err(self.fail(&mut run, source.counts(), err));
            }
            let cursor = run.checkpoint.cursor.clone();
            let fetched = ahead
                .page_at(cursor.as_deref(), || {
                    source.subscriptions(cursor.as_deref())
                })
                .await;
            let page = match fetched {
                Ok(page) => page,
                Err(e) => {
                    let err = run.fault(super::call_fault(e));
                    return Err(self.fail(&mut run, source.counts(), err));
                }
            };
            if let Err(fault) = validate(&page, cursor.as_deref(), &run.limits)
                .and_then(|()| paging.next_cursor(page.next_cursor.as_deref()))
            {
                let err = run.fault(fault);
                return Err(self.fail(&mut run, source.counts(), err));
            }
            let mut page = page;
            for s in &mut page.subscriptions {
                for text in s.display_name.iter_mut().chain(s.email.iter_mut()) {
                    crate::host::untrusted::make_inert(text);
                }
                match &mut s.activity {
                    Some(contract::ActivityStatus::Seen(seen)) => {
                        crate::host::untrusted::make_inert(&mut seen.source)
                    }
                    Some(contract::ActivityStatus::Unknown(reason)) => {
                        crate::host::untrusted::make_inert(reason)
                    }
                    _ => {}
                }
            }
            // Ask for the next pages now: the vendor serves them (and, on a source that reads
            // ahead, the spoke parses them) while this one is written.
            let following = std::mem::take(&mut page.following_cursors);
            ahead
                .after(
                    page.next_cursor.as_deref(),
                    |at| source.read_ahead_subscriptions(at, following, &read_ahead),
                    |at| async move { source.subscriptions(Some(&at)).await },
                )
                .await;
            run.sync_counts(source.counts());
            let now = self.clock.now();
            let durable = run.durability.next_is_durable();
            let SubscriptionPage {
                subscriptions,
                next_cursor,
                ..
            } = page;
            let records = subscriptions.len() as u64;
            // The page is staged into `staged` inside the write: should the write fail,
            // the run ends here and `staged` goes with it (a resume rebuilds it from the log).
            let written = self.store.write_deferred(durable, |tx| {
                stage_page(tx, source.info(), &run, &mut staged, subscriptions, now)?;
                let cp = &mut run.checkpoint;
                cp.pages += 1;
                cp.records_seen += records;
                match &next_cursor {
                    Some(next) => cp.cursor = Some(next.clone()),
                    None => {
                        cp.cursor = None;
                        cp.phase = RunPhase::Finishing;
                    }
                }
                self.save_progress(tx, &run)?;
                Ok::<_, PageWriteError>(())
            });
            match written {
                Ok(()) => {}
                Err(PageWriteError::Fault(fault)) => {
                    // The transaction was dropped: nothing of the page was written. The
                    // checkpoint in memory may have moved; reload it from the store.
                    if let Ok(Some(cp)) = self
                        .store
                        .read()
                        .and_then(|r| r.checkpoint(profile, PROCESS))
                    {
                        run.checkpoint = cp;
                    }
                    let err = run.fault(fault);
                    return Err(self.fail(&mut run, source.counts(), err));
                }
                Err(PageWriteError::Store(e)) => return Err(e.into()),
            }
            self.committed(&mut run, durable)?;
        }
        tracing::debug!(
            profile,
            ceiling = read_ahead.pacing.ceiling(),
            peak = read_ahead.pacing.peak(),
            backoffs = read_ahead.pacing.backoffs(),
            "download paging concurrency"
        );
        let spoke_id = source.info().spoke_id.clone();
        let (run_id, profile_name) = (run.checkpoint.run_id, run.checkpoint.profile.clone());
        let now = self.clock.now();
        let result = self.complete(&mut run, source.counts(), |tx, job| {
            let merged = tx.merge_staged_run(&spoke_id, &staged, now)?;
            tx.clear_staging(&profile_name)?;
            tx.prune_pending_cancellations(&profile_name, run_id)?;
            let ended = merged.ended;
            job.ended = ended;
            job.upserted += merged.upserted;
            if ended > 0 {
                tx.audit(
                    now,
                    Some(&profile_name),
                    AuditAction::SubscriptionsEnded(ended),
                    format!(
                        "{ended} subscriptions no longer reported by the vendor were ended: not listed any more, which means removed, or suspended or deactivated (Atlassian, for one, leaves those out of member listings), so an ended seat is not proof an admin removed it"
                    ),
                    Some(run_id),
                )?;
            }
            Ok(())
        })?;
        self.record_vendor_seat_counts(source, &profile_name).await;
        Ok(result)
    }

    /// After a complete download, asks the source for the vendor's own seat counts and
    /// replaces the profile's stored ones. A failure is logged and leaves the previous counts:
    /// the download itself succeeded.
    async fn record_vendor_seat_counts<S: PageSource>(&self, source: &S, profile: &str) {
        let counts = match source.vendor_seat_counts().await {
            Ok(counts) => counts,
            Err(e) => {
                tracing::warn!(profile, error = %e, "the vendor's seat counts could not be read");
                return;
            }
        };
        let now = self.clock.now();
        let spoke_id = source.info().spoke_id.clone();
        let written = self.store.write(|tx| {
            let mut rows = Vec::with_capacity(counts.len());
            for c in &counts {
                let model = tx
                    .identifier(&spoke_id, &c.identifier)?
                    .and_then(|i| i.model);
                rows.push(VendorSeatCounts {
                    profile: profile.to_string(),
                    identifier: c.identifier.clone(),
                    model,
                    purchased: c.purchased,
                    in_use: c.in_use,
                    pending_cancellation: c.pending_cancellation,
                    reported_at: now,
                });
            }
            tx.replace_vendor_seat_counts(profile, &rows)
        });
        if let Err(e) = written {
            tracing::warn!(profile, error = %e, "the vendor's seat counts could not be stored");
        }
    }
}

/// A page write stopped: by a refused record (nothing written) or by the store.
#[derive(Debug)]
enum PageWriteError {
    Fault(PageFault),
    Store(WriteError),
}

impl From<WriteError> for PageWriteError {
    fn from(e: WriteError) -> Self {
        PageWriteError::Store(e)
    }
}

/// Checks a page before anything is written.
fn validate(
    page: &SubscriptionPage,
    cursor: Option<&str>,
    limits: &PipelineLimits,
) -> Result<(), PageFault> {
    for (index, s) in page.subscriptions.iter().enumerate() {
        let malformed = |reason| PageFault::Malformed { index, reason };
        check_id("external-user-id", &s.external_user_id).map_err(malformed)?;
        check_id("identifier", &s.identifier).map_err(malformed)?;
        for g in &s.granted_by {
            check_id("granted-by group id", g).map_err(malformed)?;
        }
        check_record_size(s, limits)?;
        if s.granted_at.is_some_and(|t| t < 0) {
            return Err(malformed(format!(
                "granted-at {} is before 1970",
                s.granted_at.unwrap_or_default()
            )));
        }
    }
    let keys: Vec<String> = page
        .subscriptions
        .iter()
        .map(|s| format!("{}/{}", s.external_user_id, s.identifier))
        .collect();
    if let Some(key) = first_duplicate(keys.iter().map(String::as_str)) {
        return Err(PageFault::DuplicateKey { key });
    }
    check_cursor(cursor, page.next_cursor.as_deref())
}

/// Refuses a record whose fields or whole are larger than the engine stores, naming its key.
fn check_record_size(s: &contract::Subscription, limits: &PipelineLimits) -> Result<(), PageFault> {
    let oversized = |reason: String| PageFault::Oversized {
        key: crate::host::untrusted::inert_bounded(
            &format!("{}/{}", s.external_user_id, s.identifier),
            200,
        ),
        reason,
    };
    for (field, value) in [("display-name", &s.display_name), ("email", &s.email)] {
        if let Some(value) = value
            && value.len() > limits.field_bytes
        {
            return Err(oversized(format!(
                "{field} is {} bytes, more than {}",
                value.len(),
                limits.field_bytes
            )));
        }
    }
    let activity_text = match &s.activity {
        Some(contract::ActivityStatus::Seen(seen)) => Some(&seen.source),
        Some(contract::ActivityStatus::Unknown(reason)) => Some(reason),
        _ => None,
    };
    if let Some(text) = activity_text
        && text.len() > limits.field_bytes
    {
        return Err(oversized(format!(
            "its activity text is {} bytes, more than {}",
            text.len(),
            limits.field_bytes
        )));
    }
    if let Some(contract::ActivityStatus::Seen(seen)) = &s.activity
        && seen.at < 0
    {
        return Err(oversized(format!(
            "activity time {} is before 1970",
            seen.at
        )));
    }
    if s.granted_by.len() > limits.grants {
        return Err(oversized(format!(
            "granted by {} groups, more than {}",
            s.granted_by.len(),
            limits.grants
        )));
    }
    let total = s.external_user_id.len()
        + s.identifier.len()
        + s.display_name.as_ref().map_or(0, String::len)
        + s.email.as_ref().map_or(0, String::len)
        + s.granted_by.iter().map(String::len).sum::<usize>();
    if total > limits.record_bytes {
        return Err(oversized(format!(
            "the record is {total} bytes, more than {}",
            limits.record_bytes
        )));
    }
    Ok(())
}

fn account_type(t: contract::AccountType) -> AccountType {
    match t {
        contract::AccountType::Human => AccountType::Human,
        contract::AccountType::Guest => AccountType::Guest,
        contract::AccountType::App => AccountType::App,
        contract::AccountType::Other => AccountType::Other,
    }
}

/// Stages one validated page: resolves its identifiers, appends its staging row and stages
/// its subscriptions into `staged`. A subscription reported again by a group an earlier page
/// of the run reported it for is refused (the caller drops the transaction, and `staged`).
fn stage_page(
    tx: &WriteTx,
    info: &SourceInfo,
    run: &Run,
    staged: &mut StagedRun,
    subscriptions: Vec<contract::Subscription>,
    now: i64,
) -> Result<(), PageWriteError> {
    let profile = run.checkpoint.profile.as_str();
    let run_id = run.checkpoint.run_id;
    let mut models: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut entries = Vec::with_capacity(subscriptions.len());
    for s in subscriptions {
        let model = match models.get(&s.identifier) {
            Some(m) => m.clone(),
            None => {
                let m = resolve_identifier(tx, info, profile, &s.identifier, run_id, now)?;
                models.insert(s.identifier.clone(), m.clone());
                m
            }
        };
        // What the vendor reports with the seat besides who holds it: a pending cancellation
        // (kept per run; the run's completion drops the ones it did not report) and, for a
        // spoke that says `activity-from-download`, the holder's last activity ("update if
        // later", as the activity run writes it).
        if let Some(ends_at) = s.pending_cancellation {
            tx.put_pending_cancellation(&PendingCancellation {
                profile: profile.to_string(),
                identifier: s.identifier.clone(),
                external_user_id: s.external_user_id.clone(),
                ends_at,
                run: run_id,
            })?;
        }
        if let Some(status) = &s.activity {
            let existing = tx.activity(profile, &s.external_user_id)?;
            if let Some(record) = super::activity::apply_status(
                existing.as_ref(),
                profile,
                &s.external_user_id,
                status,
                now,
            ) {
                tx.put_activity(&record)?;
            }
        }
        let mut granted_by = s.granted_by;
        granted_by.sort();
        entries.push(StagedSubscription {
            external_user_id: s.external_user_id,
            identifier: s.identifier,
            model,
            display_name: s.display_name,
            email: s.email,
            account_type: account_type(s.account_type),
            granted_by,
            granted_at: s.granted_at,
            staged_at: now,
        });
    }
    tx.append_staged(profile, run_id, run.checkpoint.pages, &entries)?;
    for entry in entries {
        if let Some(RepeatedGrant {
            subscription,
            group,
        }) = staged.stage(entry)?
        {
            return Err(PageWriteError::Fault(PageFault::RepeatedKey {
                key: format!("{subscription} granted by {group}"),
            }));
        }
    }
    Ok(())
}

/// The model of an identifier, creating the identifier record (and, for a product of the
/// manifest, the software model) on first sight.
fn resolve_identifier(
    tx: &WriteTx,
    info: &SourceInfo,
    profile: &str,
    identifier: &str,
    run_id: u64,
    now: i64,
) -> Result<Option<String>, WriteError> {
    if let Some(mut record) = tx.identifier(&info.spoke_id, identifier)? {
        if !record.profiles.iter().any(|p| p == profile) {
            record.profiles.push(profile.to_string());
            record.profiles.sort();
            tx.put_identifier(&record)?;
        }
        return Ok(record.model);
    }
    let model = match info.products.iter().find(|p| p.identifier == identifier) {
        Some(product) => {
            let id =
                SoftwareModel::id_for(&info.publisher, &product.name, product.edition.as_deref());
            if tx.model(&id)?.is_none() {
                tx.put_model(&SoftwareModel {
                    id: id.clone(),
                    publisher: info.publisher.clone(),
                    product: product.name.clone(),
                    edition: product.edition.clone(),
                    auto_created: true,
                    created_at: now,
                })?;
                tx.audit(
                    now,
                    Some(profile),
                    AuditAction::ModelCreated,
                    format!("software model `{id}` created for identifier `{identifier}`"),
                    Some(run_id),
                )?;
            }
            Some(id)
        }
        None => None,
    };
    tx.put_identifier(&SubscriptionIdentifier {
        spoke_id: info.spoke_id.clone(),
        identifier: identifier.to_string(),
        model: model.clone(),
        profiles: vec![profile.to_string()],
        subscription_count: 0,
    })?;
    Ok(model)
}
