//! The download-activity subflow. The window starts at the profile's "analyze from" date on
//! the first run (default and limit: the spoke's look-back), then at the last complete run's
//! start minus an overlap. Phase one pages through the spoke's activity scan; phase two asks
//! `lookup-activity`, in batches, about seat holders the scan did not report (on the first
//! run every such holder; later only those with no record yet or an unknown state). Records
//! are updated only if later ("update if later"); users with no activity are recorded as
//! such. Each page or batch commits with the checkpoint, so a rerun resumes where it stopped.
//! A spoke whose manifest says `activity-from-download` reports activity with the seats: the
//! download writes it, and this run makes no calls.

use crate::contract::{ActivityStatus, UserActivity};
use crate::model::{
    ActivityState, DAY, EpochSeconds, JobResult, ProcessKind, RunPhase, UserActivityRecord,
};
use crate::store::{WriteError, WriteTx};

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
        if source.info().activity_from_download {
            // The download pages carried each holder's activity and the download wrote it:
            // nothing to ask the spoke (no calls); the run only records its window.
            run.checkpoint.phase = RunPhase::Finishing;
        }

        let mut ahead = Ahead::new();
        let mut paging = PagingGuard::new(self.max_pages, run.checkpoint.cursor.as_deref());
        while run.checkpoint.phase == RunPhase::Paging {
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
            let checked = validate(&page.activities, now)
                .and_then(|()| check_cursor(cursor.as_deref(), page.next_cursor.as_deref()))
                .and_then(|()| paging.next_cursor(page.next_cursor.as_deref()));
            if let Err(fault) = checked {
                let err = run.fault(fault);
                return Err(self.fail(&mut run, source.counts(), err));
            }
            // Ask for the next page now: the vendor serves it while this one is written.
            // Only one: the scan's page writes, not the vendor, set its pace, and reading
            // further ahead took CPU from them (activity was a quarter to a half slower at
            // 0 ms).
            ahead
                .after(
                    page.next_cursor.as_deref(),
                    |_| None,
                    |at| async move { source.activity(since, Some(&at)).await },
                )
                .await;
            run.sync_counts(source.counts());
            let durable = run.durability.next_is_durable();
            self.store.write_deferred(durable, |tx| {
                let upserted = write_activities(tx, &run, &page.activities, since)?;
                let cp = &mut run.checkpoint;
                cp.pages += 1;
                cp.records_seen += page.activities.len() as u64;
                cp.upserted += upserted;
                match &page.next_cursor {
                    Some(next) => cp.cursor = Some(next.clone()),
                    None => {
                        cp.cursor = None;
                        cp.phase = RunPhase::Lookup { after: None };
                    }
                }
                self.save_progress(tx, &run)
            })?;
            self.committed(&mut run, durable)?;
        }

        while let RunPhase::Lookup { after } = run.checkpoint.phase.clone() {
            let (batch, last_examined, exhausted) =
                self.lookup_batch_after(profile, &run, after.as_deref(), full)?;
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
            let answers = match source.lookup(since, &batch).await {
                Ok(a) => a,
                Err(e) => {
                    let err = run.fault(super::call_fault(e));
                    return Err(self.fail(&mut run, source.counts(), err));
                }
            };
            let checked = validate(&answers, now).and_then(|()| {
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
                let upserted = write_activities(tx, &run, &all, since)?;
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

    /// The next batch of seat holders to look up, after `after`: (batch, last holder examined,
    /// whether the holders are exhausted).
    fn lookup_batch_after(
        &self,
        profile: &str,
        run: &Run,
        after: Option<&str>,
        full: bool,
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
                let needed = full
                    || match read.activity(profile, &user)? {
                        None => true,
                        Some(r) => matches!(r.state, ActivityState::Unknown(_)),
                    };
                if needed {
                    batch.push(user);
                    if batch.len() >= self.lookup_batch {
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

/// Checks activity records before anything is written.
fn validate(activities: &[UserActivity], now: EpochSeconds) -> Result<(), PageFault> {
    for (index, a) in activities.iter().enumerate() {
        let malformed = |reason| PageFault::Malformed { index, reason };
        check_id("external-user-id", &a.external_user_id).map_err(malformed)?;
        let text = match &a.status {
            ActivityStatus::Seen(seen) => Some(&seen.source),
            ActivityStatus::Unknown(reason) => Some(reason),
            ActivityStatus::NoneInWindow | ActivityStatus::NoneOrNever => None,
        };
        if let Some(text) = text
            && text.len() > super::record_limits::FIELD_BYTES
        {
            return Err(PageFault::Oversized {
                key: crate::host::untrusted::inert_bounded(&a.external_user_id, 200),
                reason: format!(
                    "its activity text is {} bytes, more than {}",
                    text.len(),
                    super::record_limits::FIELD_BYTES
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
    });
    match status {
        ActivityStatus::Seen(seen) => {
            if record.last_activity.is_none_or(|last| seen.at > last) {
                record.last_activity = Some(seen.at);
                record.source = Some(seen.source.clone());
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

fn write_activities(
    tx: &WriteTx,
    run: &Run,
    activities: &[UserActivity],
    since: EpochSeconds,
) -> Result<u64, WriteError> {
    let profile = run.checkpoint.profile.as_str();
    let mut upserted = 0;
    for a in activities {
        let existing = tx.activity(profile, &a.external_user_id)?;
        if let Some(record) = apply_status(
            existing.as_ref(),
            profile,
            &a.external_user_id,
            &a.status,
            since,
        ) {
            tx.put_activity(&record)?;
            upserted += 1;
        }
        tx.mark_activity_seen(profile, &a.external_user_id, run.checkpoint.run_id)?;
    }
    Ok(upserted)
}
