//! The download-subscriptions subflow: pages of subscriptions from the source, each page
//! validated, then upserted with its seen-log row (the page's (user, identifier, groups), one
//! appended row; the run's seen set is kept in memory and rebuilt from the log on resume) and the
//! checkpoint in one transaction;
//! a user granted by several groups may come on several pages (once per group) and their
//! `granted_by` is the union over the run; identifiers resolved to software models (created per publisher and product on first
//! sight, or listed as unrecognized); at the end of a complete run, every active subscription
//! the run did not see is ended, counted and audited.

use std::collections::{BTreeMap, BTreeSet};

use crate::contract::{self, SubscriptionPage};
use crate::model::{
    AccountType, AuditAction, JobResult, ProcessKind, RunPhase, SeenEntry, SoftwareModel,
    Subscription, SubscriptionIdentifier,
};
use crate::store::{SeenSet, WriteError, WriteTx, add_seen, seen_key};

use super::prefetch::Prefetch;
use super::{
    PageFault, PageSource, Pipeline, PipelineError, Run, SourceInfo, check_cursor, check_id,
    first_duplicate,
};

const PROCESS: ProcessKind = ProcessKind::DownloadSubscriptions;

impl Pipeline<'_> {
    /// Runs (or resumes) a download of `profile`'s subscriptions from `source`.
    pub async fn download_subscriptions<S: PageSource>(
        &self,
        source: &S,
        profile: &str,
    ) -> Result<JobResult, PipelineError> {
        let mut run = self.begin(source, profile, PROCESS, |_| Ok(0))?;
        // What this run has seen so far (from its seen-log when it resumes).
        let mut seen = self
            .store
            .read()?
            .seen_log(profile, run.checkpoint.run_id)?;
        let mut ahead: Option<Prefetch<'_, _>> = None;
        while run.checkpoint.phase == RunPhase::Paging {
            let cursor = run.checkpoint.cursor.clone();
            let fetched = Prefetch::page_at(&mut ahead, cursor.as_deref(), || {
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
            if let Err(fault) = validate(&page, cursor.as_deref()) {
                let err = run.fault(fault);
                return Err(self.fail(&mut run, source.counts(), err));
            }
            // Ask for the next page now: the vendor serves it while this one is written.
            ahead = Prefetch::next(page.next_cursor.as_deref(), |at| async move {
                source.subscriptions(Some(&at)).await
            })
            .await;
            run.sync_counts(source.counts());
            let now = self.clock.now();
            let durable = run.durability.next_is_durable();
            let written = self.store.write_deferred(durable, |tx| {
                let (upserted, entries) = write_page(tx, source.info(), &run, &seen, &page, now)?;
                let cp = &mut run.checkpoint;
                cp.pages += 1;
                cp.records_seen += page.subscriptions.len() as u64;
                cp.upserted += upserted;
                match &page.next_cursor {
                    Some(next) => cp.cursor = Some(next.clone()),
                    None => {
                        cp.cursor = None;
                        cp.phase = RunPhase::Finishing;
                    }
                }
                self.save_progress(tx, &run)?;
                Ok::<_, PageWriteError>(entries)
            });
            match written {
                Ok(entries) => {
                    for e in &entries {
                        add_seen(&mut seen, e);
                    }
                }
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
        let spoke_id = source.info().spoke_id.clone();
        let (run_id, profile_name) = (run.checkpoint.run_id, run.checkpoint.profile.clone());
        let now = self.clock.now();
        self.complete(&mut run, source.counts(), |tx, job| {
            let end = tx.end_unseen_subscriptions(&profile_name, &spoke_id, &seen, now)?;
            tx.clear_seen_log(&profile_name)?;
            let ended = end.ended;
            job.ended = ended;
            job.upserted += end.regranted;
            if ended > 0 {
                tx.audit(
                    now,
                    Some(&profile_name),
                    AuditAction::SubscriptionsEnded(ended),
                    format!("{ended} subscriptions no longer reported by the vendor were ended"),
                    Some(run_id),
                )?;
            }
            Ok(())
        })
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
fn validate(page: &SubscriptionPage, cursor: Option<&str>) -> Result<(), PageFault> {
    for (index, s) in page.subscriptions.iter().enumerate() {
        let malformed = |reason| PageFault::Malformed { index, reason };
        check_id("external-user-id", &s.external_user_id).map_err(malformed)?;
        check_id("identifier", &s.identifier).map_err(malformed)?;
        for g in &s.granted_by {
            check_id("granted-by group id", g).map_err(malformed)?;
        }
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

fn account_type(t: contract::AccountType) -> AccountType {
    match t {
        contract::AccountType::Human => AccountType::Human,
        contract::AccountType::Guest => AccountType::Guest,
        contract::AccountType::App => AccountType::App,
        contract::AccountType::Other => AccountType::Other,
    }
}

/// Writes one validated page and its seen-log row; returns how many subscriptions were
/// created or changed, and the page's seen entries (for the run's seen set once committed).
fn write_page(
    tx: &WriteTx,
    info: &SourceInfo,
    run: &Run,
    seen: &SeenSet,
    page: &SubscriptionPage,
    now: i64,
) -> Result<(u64, Vec<SeenEntry>), PageWriteError> {
    let profile = run.checkpoint.profile.as_str();
    let run_id = run.checkpoint.run_id;
    let mut models: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut count_delta: BTreeMap<String, i64> = BTreeMap::new();
    let mut upserted = 0;
    let mut entries = Vec::with_capacity(page.subscriptions.len());
    for s in &page.subscriptions {
        let (user, ident) = (s.external_user_id.as_str(), s.identifier.as_str());
        // A user granted by several groups may come back on a later page of the run with
        // another group; the same group twice is a repeat.
        let seen_groups: &[String] = seen.get(&seen_key(user, ident)).map_or(&[], Vec::as_slice);
        let mut run_groups: BTreeSet<String> = seen_groups.iter().cloned().collect();
        for group in &s.granted_by {
            if seen_groups.contains(group) {
                return Err(PageWriteError::Fault(PageFault::RepeatedKey {
                    key: format!("{user}/{ident} granted by {group}"),
                }));
            }
            run_groups.insert(group.clone());
        }
        let model = match models.get(ident) {
            Some(m) => m.clone(),
            None => {
                let m = resolve_identifier(tx, info, profile, ident, run_id, now)?;
                models.insert(ident.to_string(), m.clone());
                m
            }
        };
        let existing = tx.subscription(profile, user, ident)?;
        // Grants are added as soon as they are seen; grants no longer reported are removed
        // at the end of the complete run (`end_unseen_subscriptions`).
        let mut granted_by: BTreeSet<String> = run_groups;
        if let Some(e) = existing.as_ref().filter(|e| e.active) {
            granted_by.extend(e.granted_by.iter().cloned());
        }
        let record = Subscription {
            profile: profile.to_string(),
            external_user_id: user.to_string(),
            identifier: ident.to_string(),
            model,
            display_name: s.display_name.clone(),
            email: s.email.clone(),
            account_type: account_type(s.account_type),
            granted_by: granted_by.into_iter().collect(),
            granted_at: s.granted_at,
            active: true,
            first_seen_at: existing.as_ref().map_or(now, |e| e.first_seen_at),
            ended_at: None,
        };
        let was_active = existing.as_ref().is_some_and(|e| e.active);
        if !was_active {
            *count_delta.entry(ident.to_string()).or_default() += 1;
        }
        if existing.as_ref().is_none_or(|e| !e.same_facts(&record)) {
            tx.put_subscription(&record)?;
            upserted += 1;
        }
        let mut groups = s.granted_by.clone();
        groups.sort();
        entries.push(SeenEntry {
            external_user_id: user.to_string(),
            identifier: ident.to_string(),
            granted_by: groups,
        });
    }
    for (ident, delta) in count_delta {
        tx.adjust_identifier_count(&info.spoke_id, &ident, delta)?;
    }
    tx.append_seen(profile, run_id, run.checkpoint.pages, &entries)?;
    Ok((upserted, entries))
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
