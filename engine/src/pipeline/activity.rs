//! The download-activity subflow. The window starts at the profile's "analyze from" date on
//! the first run (default and limit: the spoke's look-back), then at the last complete run's
//! start minus an overlap. Phase one pages through the spoke's activity scan; phase two asks
//! `lookup-activity`, in batches, about seat holders the scan did not report (on the first
//! run every such holder; later only those with no record yet or an unknown state). Records
//! are updated only if later ("update if later"); users with no activity are recorded as
//! such. Each page or batch commits with the checkpoint, so a rerun resumes where it stopped.
//! Lookup batches follow the vendor's pace: a call should take at most a third of its
//! deadline, so slow answers make the next batch smaller (and fast ones larger again, up to the
//! pipeline's batch), and a batch that ran past the deadline is asked again in quarters.
//! A spoke whose manifest says `activity-from-download` reports activity with the seats: the
//! download writes it, and this run makes no calls.
//! A scan whose first page names slices (`activity-page.slices`: disjoint parts of the window,
//! each a cursor chain of its own) is followed chain by chain concurrently, within the run's
//! adaptive concurrency; the checkpoint's cursor then lists every unfinished chain's cursor,
//! so a resumed run asks again exactly the pages it did not write.

use crate::contract::{ActivityStatus, UserActivity};
use crate::model::{
    ActivityKind, ActivityState, DAY, EpochSeconds, JobResult, ProcessKind, RunPhase,
    UserActivityRecord,
};
use crate::store::{WriteError, WriteTx};

use std::collections::VecDeque;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::concurrency::AdaptiveConcurrency;
use super::prefetch::Ahead;
use super::{
    PageFault, PageSource, PagingGuard, Pipeline, PipelineError, Run, check_cursor, check_id,
    first_duplicate,
};

const PROCESS: ProcessKind = ProcessKind::DownloadActivity;

/// Holders read per store scan while looking for users to look up.
const HOLDER_SCAN: usize = 500;

impl Pipeline<'_> {
    /// Runs (or resumes) a download of `profile`'s user activity from `source`.
    pub async fn download_activity<S: PageSource>(
        &self,
        source: &S,
        profile: &str,
    ) -> Result<JobResult, PipelineError> {
        let now = self.clock.now();
        let lookback = i64::from(source.info().activity_lookback_days) * DAY;
        let limit = now - lookback;
        let overlap = self.activity_overlap;
        let mut run = self.begin(source, profile, PROCESS, |tx| {
            let since = match tx.watermark(profile, PROCESS)? {
                Some(last) => last - overlap,
                None => tx
                    .profile(profile)?
                    .and_then(|p| p.analyze_from)
                    .unwrap_or(limit),
            };
            Ok(since.max(limit))
        })?;
        let full = self.store.read()?.watermark(profile, PROCESS)?.is_none();
        let since = run.checkpoint.since;
        // Lookups ask about the whole window (a holder new since the last run, or one asked
        // again, may have been active any time in it), not only since the last run: the
        // look-back to the second from this run's start, or the analyze-from time if later.
        let analyze_from = self
            .store
            .read()?
            .profile(profile)?
            .and_then(|p| p.analyze_from);
        let window = analyze_from.unwrap_or(limit).max(limit).min(since);
        let daily = source.info().daily_lookups;
        if source.info().activity_from_download {
            // The download pages carried each holder's activity and the download wrote it:
            // nothing to ask the spoke (no calls); the run only records its window.
            run.checkpoint.phase = RunPhase::Finishing;
        }

        let mut ahead = Ahead::new();
        let mut paging = PagingGuard::new(&run.limits, run.checkpoint.cursor.as_deref());
        while run.checkpoint.phase == RunPhase::Paging {
            // A sliced scan (its first page named the slices): its chains, concurrently.
            if let Some(chains) = run.checkpoint.cursor.as_deref().and_then(decode_slices) {
                self.scan_slices(source, &mut run, &mut paging, chains, since, now)
                    .await?;
                continue;
            }
            if let Err(fault) = paging.before_page(run.checkpoint.pages) {
                let err = run.fault(fault);
                return Err(self.fail(&mut run, source.counts(), err));
            }
            let cursor = run.checkpoint.cursor.clone();
            let fetched = ahead
                .page_at(cursor.as_deref(), || {
                    source.activity(since, cursor.as_deref())
                })
                .await;
            let page = match fetched {
                Ok(page) => page,
                Err(e) => {
                    let err = run.fault(super::call_fault(e));
                    return Err(self.fail(&mut run, source.counts(), err));
                }
            };
            // The scan's first page may name further slices (ignored on later pages): this
            // page's chain and theirs are then followed concurrently.
            let chains: Vec<String> = if cursor.is_none() && !page.slices.is_empty() {
                page.next_cursor
                    .iter()
                    .chain(page.slices.iter())
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            };
            let checked = validate(&page.activities, now, run.limits.field_bytes)
                .and_then(|()| check_cursor(cursor.as_deref(), page.next_cursor.as_deref()))
                .and_then(|()| own_cursor(page.next_cursor.as_deref()))
                .and_then(|()| paging.next_cursor(page.next_cursor.as_deref()))
                .and_then(|()| check_slices(&page.slices, &chains, &mut paging));
            if let Err(fault) = checked {
                let err = run.fault(fault);
                return Err(self.fail(&mut run, source.counts(), err));
            }
            // Ask for the next page now: the vendor serves it while this one is written.
            // Only one: the scan's page writes, not the vendor, set its pace, and reading
            // further ahead took CPU from them (activity was a quarter to a half slower at
            // 0 ms).
            if chains.is_empty() {
                ahead
                    .after(
                        page.next_cursor.as_deref(),
                        |_| None,
                        |at| async move { source.activity(since, Some(&at)).await },
                    )
                    .await;
            }
            let next = if chains.is_empty() {
                page.next_cursor.clone()
            } else {
                Some(encode_slices(&chains))
            };
            run.sync_counts(source.counts());
            let durable = run.durability.next_is_durable();
            self.store.write_deferred(durable, |tx| {
                let upserted = write_activities(tx, &run, &page.activities, since, None)?;
                let cp = &mut run.checkpoint;
                cp.pages += 1;
                cp.records_seen += page.activities.len() as u64;
                cp.upserted += upserted;
                match next {
                    Some(next) => cp.cursor = Some(next),
                    None => {
                        cp.cursor = None;
                        cp.phase = RunPhase::Lookup { after: None };
                    }
                }
                self.save_progress(tx, &run)
            })?;
            self.committed(&mut run, durable)?;
        }

        // Users per lookup call: the pipeline's batch, made smaller while answers are slow
        // (so a call finishes well within its deadline) and larger again when they are not.
        let deadline = source.call_deadline();
        let mut size = self.lookup_batch;
        let mut shrinks = 0u32;
        while let RunPhase::Lookup { after } = run.checkpoint.phase.clone() {
            let (batch, last_examined, exhausted) = self.lookup_batch_after(
                profile,
                &run,
                after.as_deref(),
                Needed {
                    full,
                    daily,
                    window,
                    now,
                },
                size,
            )?;
            if batch.is_empty() {
                if exhausted {
                    // Nothing left to ask: the next phase commits with the end of the run.
                    run.checkpoint.phase = RunPhase::Finishing;
                    break;
                }
                run.checkpoint.phase = RunPhase::Lookup {
                    after: last_examined,
                };
                continue;
            }
            let started = std::time::Instant::now();
            let answers = match source.lookup(window, &batch).await {
                Ok(a) => a,
                // A batch too large to answer within the call's deadline is asked again, the
                // same users fewer at a time (nothing was written for it).
                Err(e) if e.deadline_exceeded && batch.len() > 1 && shrinks < MAX_SHRINKS => {
                    shrinks += 1;
                    size = (batch.len() / 4).max(1);
                    tracing::warn!(
                        profile,
                        users = batch.len(),
                        next = size,
                        "a lookup ran past its deadline; asking again in smaller batches"
                    );
                    continue;
                }
                Err(e) => {
                    let err = run.fault(super::call_fault(e));
                    return Err(self.fail(&mut run, source.counts(), err));
                }
            };
            shrinks = 0;
            if let Some(deadline) = deadline {
                size = next_lookup_size(
                    size,
                    batch.len(),
                    started.elapsed(),
                    deadline,
                    self.lookup_batch,
                );
            }
            let checked = validate(&answers, now, run.limits.field_bytes).and_then(|()| {
                match answers
                    .iter()
                    .find(|a| !batch.contains(&a.external_user_id))
                {
                    Some(a) => Err(PageFault::UnexpectedUser {
                        user: a.external_user_id.clone(),
                    }),
                    None => Ok(()),
                }
            });
            if let Err(fault) = checked {
                let err = run.fault(fault);
                return Err(self.fail(&mut run, source.counts(), err));
            }
            // Users the answer left out are recorded as unknown.
            let mut all = answers;
            for user in &batch {
                if !all.iter().any(|a| &a.external_user_id == user) {
                    all.push(UserActivity {
                        external_user_id: user.clone(),
                        status: ActivityStatus::Unknown("not in the spoke's lookup answer".into()),
                    });
                }
            }
            run.sync_counts(source.counts());
            let durable = run.durability.next_is_durable();
            self.store.write_deferred(durable, |tx| {
                let upserted = write_activities(tx, &run, &all, window, daily.then_some(now))?;
                let cp = &mut run.checkpoint;
                cp.pages += 1;
                cp.records_seen += all.len() as u64;
                cp.upserted += upserted;
                cp.phase = if exhausted {
                    RunPhase::Finishing
                } else {
                    RunPhase::Lookup {
                        after: last_examined,
                    }
                };
                self.save_progress(tx, &run)
            })?;
            self.committed(&mut run, durable)?;
        }

        let started = self
            .store
            .read()?
            .job_result(run.checkpoint.run_id)?
            .map_or(now, |j| j.started_at);
        let profile_name = run.checkpoint.profile.clone();
        self.complete(&mut run, source.counts(), |tx, _| {
            tx.set_watermark(&profile_name, PROCESS, started)
        })
    }

    /// Follows the chains of a sliced scan (`chains`: the cursor of each unfinished chain's
    /// next page) concurrently, within the run's adaptive concurrency, until every chain
    /// ended: each page is written as it arrives, in one transaction with the checkpoint,
    /// whose cursor lists every unfinished chain's cursor ([`encode_slices`]), so a resumed
    /// run asks again exactly the pages not written. The phase then moves to the lookups.
    async fn scan_slices<S: PageSource>(
        &self,
        source: &S,
        run: &mut Run,
        paging: &mut PagingGuard,
        mut chains: Vec<String>,
        since: EpochSeconds,
        now: EpochSeconds,
    ) -> Result<(), PipelineError> {
        let pacing = AdaptiveConcurrency::new(run.limits.concurrency, source.limit_signals());
        let mut waiting: VecDeque<String> = chains.iter().cloned().collect();
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < pacing.allowed()
                && let Some(cursor) = waiting.pop_front()
            {
                in_flight.push(async move {
                    let started = std::time::Instant::now();
                    let page = source.activity(since, Some(&cursor)).await;
                    (cursor, page, started.elapsed())
                });
            }
            let Some((cursor, fetched, took)) = in_flight.next().await else {
                break;
            };
            // The answers wait while this loop writes (they are polled by it), so no
            // backlog builds up apart from the vendor's pace.
            pacing.answered(
                took,
                source.limit_signals(),
                super::concurrency::Caller::Ready,
            );
            if let Err(fault) = paging.before_page(run.checkpoint.pages) {
                let err = run.fault(fault);
                return Err(self.fail(run, source.counts(), err));
            }
            let page = match fetched {
                Ok(page) => page,
                Err(e) => {
                    let err = run.fault(super::call_fault(e));
                    return Err(self.fail(run, source.counts(), err));
                }
            };
            let checked = validate(&page.activities, now, run.limits.field_bytes)
                .and_then(|()| check_cursor(Some(&cursor), page.next_cursor.as_deref()))
                .and_then(|()| own_cursor(page.next_cursor.as_deref()))
                .and_then(|()| paging.next_cursor(page.next_cursor.as_deref()));
            if let Err(fault) = checked {
                let err = run.fault(fault);
                return Err(self.fail(run, source.counts(), err));
            }
            if let Some(at) = chains.iter().position(|c| *c == cursor) {
                match &page.next_cursor {
                    Some(next) => {
                        chains[at] = next.clone();
                        waiting.push_back(next.clone());
                    }
                    None => {
                        chains.remove(at);
                    }
                }
            }
            run.sync_counts(source.counts());
            let durable = run.durability.next_is_durable();
            self.store.write_deferred(durable, |tx| {
                let upserted = write_activities(tx, run, &page.activities, since, None)?;
                let cp = &mut run.checkpoint;
                cp.pages += 1;
                cp.records_seen += page.activities.len() as u64;
                cp.upserted += upserted;
                if chains.is_empty() {
                    cp.cursor = None;
                    cp.phase = RunPhase::Lookup { after: None };
                } else {
                    cp.cursor = Some(encode_slices(&chains));
                }
                self.save_progress(tx, run)
            })?;
            self.committed(run, durable)?;
        }
        tracing::debug!(
            profile = %run.checkpoint.profile,
            ceiling = pacing.ceiling(),
            peak = pacing.peak(),
            backoffs = pacing.backoffs(),
            "sliced activity scan concurrency"
        );
        if !chains.is_empty() {
            // Every request answered yet chains remain: cannot happen (each answered page
            // moves or ends its chain); stop rather than loop.
            let err = run.fault(PageFault::Malformed {
                index: 0,
                reason: "the sliced scan's chains did not end".into(),
            });
            return Err(self.fail(run, source.counts(), err));
        }
        Ok(())
    }

    /// The next batch of seat holders to look up, after `after`: (batch, last holder examined,
    /// whether the holders are exhausted).
    fn lookup_batch_after(
        &self,
        profile: &str,
        run: &Run,
        after: Option<&str>,
        needed: Needed,
        size: usize,
    ) -> Result<(Vec<String>, Option<String>, bool), PipelineError> {
        let read = self.store.read()?;
        let mut batch = Vec::new();
        let mut cursor = after.map(str::to_string);
        loop {
            let holders = read.active_holders_after(profile, cursor.as_deref(), HOLDER_SCAN)?;
            let exhausted = holders.len() < HOLDER_SCAN;
            for user in holders {
                cursor = Some(user.clone());
                if read.activity_seen(profile, &user)? == Some(run.checkpoint.run_id) {
                    continue;
                }
                if needed.asks(read.activity(profile, &user)?.as_ref()) {
                    batch.push(user);
                    if batch.len() >= size.max(1) {
                        return Ok((batch, cursor, false));
                    }
                }
            }
            if exhausted {
                return Ok((batch, cursor, true));
            }
        }
    }
}

/// How a sliced scan's checkpoint cursor starts: the engine's own, never a spoke's (a spoke
/// cursor starting so is refused).
const SLICES_PREFIX: &str = "sam-slices/1:";

/// Slices one scan may name, at most.
pub const MAX_SLICES: usize = 256;

/// The checkpoint cursor of a sliced scan: every unfinished chain's next cursor.
fn encode_slices(chains: &[String]) -> String {
    format!(
        "{SLICES_PREFIX}{}",
        serde_json::to_string(chains).unwrap_or_default()
    )
}

/// The chains of a sliced scan's checkpoint cursor; `None` for a spoke's own cursor.
fn decode_slices(cursor: &str) -> Option<Vec<String>> {
    serde_json::from_str(cursor.strip_prefix(SLICES_PREFIX)?).ok()
}

/// Refuses a spoke cursor that would read as the engine's sliced-scan cursor.
fn own_cursor(next: Option<&str>) -> Result<(), PageFault> {
    match next {
        Some(c) if c.starts_with(SLICES_PREFIX) => Err(PageFault::Malformed {
            index: 0,
            reason: format!("a cursor may not start with {SLICES_PREFIX:?}"),
        }),
        _ => Ok(()),
    }
}

/// Checks the slices a first page named (`chains`: its next cursor and the slices): at most
/// [`MAX_SLICES`], each a cursor within the limit, none twice nor the engine's own.
fn check_slices(
    slices: &[String],
    chains: &[String],
    paging: &mut PagingGuard,
) -> Result<(), PageFault> {
    if slices.is_empty() || chains.is_empty() {
        return Ok(());
    }
    if slices.len() > MAX_SLICES {
        return Err(PageFault::Malformed {
            index: 0,
            reason: format!("{} slices, more than {MAX_SLICES}", slices.len()),
        });
    }
    for slice in slices {
        check_cursor(None, Some(slice))?;
        own_cursor(Some(slice))?;
        // Within the cursor limit, and not one seen before (nor twice).
        paging.next_cursor(Some(slice))?;
    }
    Ok(())
}

/// Shrinks of one lookup batch after deadline failures before the run gives up (400 users
/// become 100, 25, 6, then 1).
const MAX_SHRINKS: u32 = 4;

/// The next lookup batch size after a call of `asked` users took `took`: a call should take at
/// most a third of the `deadline`, so one over it makes the next batch proportionally smaller,
/// and a full batch under half of that lets the next one double, up to `most`.
fn next_lookup_size(
    size: usize,
    asked: usize,
    took: std::time::Duration,
    deadline: std::time::Duration,
    most: usize,
) -> usize {
    let target = deadline / 3;
    if took > target {
        let fits = (asked as u128 * target.as_nanos()) / took.as_nanos().max(1);
        usize::try_from(fits).unwrap_or(1).clamp(1, most)
    } else if took < target / 2 && asked >= size {
        size.saturating_mul(2).clamp(1, most)
    } else {
        size.clamp(1, most)
    }
}

impl From<crate::contract::ActivitySource> for ActivityKind {
    fn from(source: crate::contract::ActivitySource) -> Self {
        use crate::contract::ActivitySource as S;
        match source {
            S::LastActive => ActivityKind::LastActive,
            S::ContentCreated => ActivityKind::ContentCreated,
            S::ContentUpdated => ActivityKind::ContentUpdated,
            S::Contributor => ActivityKind::Contributor,
            S::Other => ActivityKind::Other,
        }
    }
}

/// Which seat holders the scan did not report a lookup asks about.
#[derive(Debug, Clone, Copy)]
struct Needed {
    /// The profile's first complete run: every one.
    full: bool,
    /// The lookup reaches a source the scan cannot replace (a per-user last-active date):
    /// also those whose record shows no activity inside the window, once a day each.
    daily: bool,
    /// The window's start.
    window: EpochSeconds,
    /// This run's start.
    now: EpochSeconds,
}

impl Needed {
    fn asks(&self, record: Option<&UserActivityRecord>) -> bool {
        let Some(r) = record else {
            return true;
        };
        if self.full {
            return true;
        }
        if self.daily {
            // A per-user source: once a day at most, whatever the last answer was.
            let asked_today = r.checked_at.is_some_and(|at| self.now - at < DAY);
            return !asked_today
                && (matches!(r.state, ActivityState::Unknown(_))
                    || r.last_activity.is_none_or(|at| at < self.window));
        }
        matches!(r.state, ActivityState::Unknown(_))
    }
}

/// Checks activity records before anything is written.
fn validate(
    activities: &[UserActivity],
    now: EpochSeconds,
    field_bytes: usize,
) -> Result<(), PageFault> {
    for (index, a) in activities.iter().enumerate() {
        let malformed = |reason| PageFault::Malformed { index, reason };
        check_id("external-user-id", &a.external_user_id).map_err(malformed)?;
        let text = match &a.status {
            ActivityStatus::Seen(seen) => Some(&seen.source),
            ActivityStatus::Unknown(reason) => Some(reason),
            ActivityStatus::NoneInWindow | ActivityStatus::NoneOrNever => None,
        };
        if let Some(text) = text
            && text.len() > field_bytes
        {
            return Err(PageFault::Oversized {
                key: crate::host::untrusted::inert_bounded(&a.external_user_id, 200),
                reason: format!(
                    "its activity text is {} bytes, more than {}",
                    text.len(),
                    field_bytes
                ),
            });
        }
        if let ActivityStatus::Seen(seen) = &a.status
            && (seen.at < 0 || seen.at > now + DAY)
        {
            return Err(malformed(format!(
                "activity time {} is before 1970 or in the future",
                seen.at
            )));
        }
    }
    match first_duplicate(activities.iter().map(|a| a.external_user_id.as_str())) {
        Some(key) => Err(PageFault::DuplicateKey { key }),
        None => Ok(()),
    }
}

/// Applies one status to a user's record ("update if later"); `None` when nothing changes.
pub fn apply_status(
    existing: Option<&UserActivityRecord>,
    profile: &str,
    user: &str,
    status: &ActivityStatus,
    since: EpochSeconds,
) -> Option<UserActivityRecord> {
    let mut record = existing.cloned().unwrap_or(UserActivityRecord {
        profile: profile.to_string(),
        external_user_id: user.to_string(),
        last_activity: None,
        source: None,
        state: ActivityState::NoneInWindow,
        kind: None,
        checked_at: None,
    });
    match status {
        ActivityStatus::Seen(seen) => {
            let kind = ActivityKind::from(seen.kind);
            // Later wins; at the same second the more exact evidence wins (a contribution's
            // date is an upper bound, a vendor's last-active date a whole day).
            let better = match record.last_activity {
                None => true,
                Some(last) => {
                    seen.at > last
                        || (seen.at == last
                            && record.kind == Some(ActivityKind::Contributor)
                            && kind != ActivityKind::Contributor)
                }
            };
            if better {
                record.last_activity = Some(seen.at);
                record.source = Some(seen.source.clone());
                record.kind = Some(kind);
            }
            record.state = ActivityState::Seen;
        }
        ActivityStatus::NoneInWindow => {
            if record.last_activity.is_none_or(|last| last < since) {
                record.state = ActivityState::NoneInWindow;
            }
        }
        ActivityStatus::NoneOrNever => {
            if record.last_activity.is_none_or(|last| last < since) {
                record.state = ActivityState::NoneOrNever;
            }
        }
        ActivityStatus::Unknown(reason) => {
            if record.last_activity.is_none() {
                record.state = ActivityState::Unknown(reason.clone());
            }
        }
    }
    if existing == Some(&record) {
        None
    } else {
        Some(record)
    }
}

/// Writes a page of the scan (`asked_at: None`) or a lookup's answers (`asked_at`: when the
/// lookup asked, recorded on each user asked so a per-user source is asked at most once a
/// day).
fn write_activities(
    tx: &WriteTx,
    run: &Run,
    activities: &[UserActivity],
    since: EpochSeconds,
    asked_at: Option<EpochSeconds>,
) -> Result<u64, WriteError> {
    let profile = run.checkpoint.profile.as_str();
    let mut upserted = 0;
    for a in activities {
        let existing = tx.activity(profile, &a.external_user_id)?;
        let mut changed = apply_status(
            existing.as_ref(),
            profile,
            &a.external_user_id,
            &a.status,
            since,
        );
        if let Some(at) = asked_at {
            let mut record = changed
                .take()
                .or_else(|| existing.clone())
                .unwrap_or_else(|| UserActivityRecord {
                    profile: profile.to_string(),
                    external_user_id: a.external_user_id.clone(),
                    last_activity: None,
                    source: None,
                    state: ActivityState::NoneInWindow,
                    kind: None,
                    checked_at: None,
                });
            record.checked_at = Some(at);
            changed = Some(record);
        }
        if let Some(record) = changed {
            tx.put_activity(&record)?;
            upserted += 1;
        }
        tx.mark_activity_seen(profile, &a.external_user_id, run.checkpoint.run_id)?;
    }
    Ok(upserted)
}

#[cfg(test)]
mod tests {
    use super::next_lookup_size;
    use std::time::Duration;

    #[test]
    fn lookup_batches_follow_the_answer_times() {
        let deadline = Duration::from_secs(60);
        let ms = Duration::from_millis;
        // 400 users took 40 s against a 20 s target: 200 next.
        assert_eq!(next_lookup_size(400, 400, ms(40_000), deadline, 400), 200);
        // Fast and full: doubles, up to the most.
        assert_eq!(next_lookup_size(100, 100, ms(1_000), deadline, 400), 200);
        assert_eq!(next_lookup_size(400, 400, ms(1_000), deadline, 400), 400);
        // Fast but a short (last) batch: stays.
        assert_eq!(next_lookup_size(100, 7, ms(1_000), deadline, 400), 100);
        // Never below one.
        assert_eq!(next_lookup_size(1, 1, ms(59_000), deadline, 400), 1);
    }
}
