//! The download staging log and the merge that ends a download run. A download page is not
//! upserted into the subscriptions table: it is appended, as one row, to the run's staging
//! log (`download_staging`, keyed profile + run + page) in the page's own transaction with the
//! checkpoint. The run keeps its staged subscriptions in memory ([`StagedRun`], in key order,
//! rebuilt from the log when a run resumes). When the run completes, one pass over the
//! profile's subscriptions in key order ([`WriteTx::merge_staged_run`]) inserts the new ones,
//! updates the changed ones, ends the ones the run did not report and adjusts the
//! identifiers' counts; then the log is cleared. Subscriptions therefore change only when a
//! complete listing has been read, like an import set transformed at the end of an import.
//! Why: 200 upserts under random keys per page cost redb a copied leaf each, most of a page's
//! time at 100 000 users; the merge writes each leaf once.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use super::tables::{STAGING, SUBSCRIPTIONS};
use super::{
    DecodeError, RECORD_BYTES, ReadError, ReadTx, SCAN_CHUNK, WriteError, WriteTx, decode, encode,
    encode_into, prefix_range, range_in, write_key,
};
use crate::model::{EpochSeconds, StagedSubscription, Subscription};

const TABLE: &str = "download_staging";

/// The key of a staged subscription within its run: `user\0identifier`, which sorts like the
/// tail of its subscriptions-table key.
pub fn staged_key(external_user_id: &str, identifier: &str) -> String {
    format!("{external_user_id}\0{identifier}")
}

/// A download run's staged subscriptions: for each subscription reported (under its
/// [`staged_key`]), the facts of the last page that reported it and the union of the groups
/// reported. Values are kept postcard-encoded (about a third of the decoded size: 100 000
/// staged subscriptions take some 25 MiB); the keys are sorted once, for the merge.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StagedRun {
    entries: HashMap<String, Box<[u8]>>,
}

impl StagedRun {
    /// How many subscriptions are staged.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The staged subscription under `key` ([`staged_key`]), if any.
    pub fn get(&self, key: &str) -> Result<Option<StagedSubscription>, DecodeError> {
        self.entries
            .get(key)
            .map(|bytes| decode(TABLE, &key, bytes))
            .transpose()
    }

    /// Stages `entry`: its facts replace any staged earlier in the run, its groups join
    /// theirs (kept sorted).
    pub fn stage(&mut self, mut entry: StagedSubscription) -> Result<(), WriteError> {
        let key = staged_key(&entry.external_user_id, &entry.identifier);
        if let Some(earlier) = self.get(&key)? {
            for g in earlier.granted_by {
                if let Err(at) = entry.granted_by.binary_search(&g) {
                    entry.granted_by.insert(at, g);
                }
            }
        }
        let bytes = encode(TABLE, &entry)?;
        // Exactly sized: one allocation per entry, none spare.
        self.entries.insert(key, Box::from(bytes.as_slice()));
        Ok(())
    }

    /// Every staged subscription, in key order.
    pub fn iter(&self) -> impl Iterator<Item = Result<StagedSubscription, DecodeError>> + '_ {
        self.sorted()
            .into_iter()
            .map(|(key, bytes)| decode(TABLE, &key, bytes))
    }

    /// The entries, in key order.
    fn sorted(&self) -> Vec<(&str, &[u8])> {
        let mut sorted: Vec<(&str, &[u8])> = self
            .entries
            .iter()
            .map(|(k, v)| (k.as_str(), &**v))
            .collect();
        sorted.sort_unstable_by_key(|(k, _)| *k);
        sorted
    }
}

/// What merging a run's staged subscriptions changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeOutcome {
    /// Subscriptions created, or changed (facts, groups, or active again).
    pub upserted: u64,
    /// Active subscriptions the run did not report, now ended.
    pub ended: u64,
}

impl WriteTx {
    /// Appends one page's subscriptions to `run`'s staging log (one row, after the run's
    /// earlier pages).
    pub fn append_staged(
        &self,
        profile: &str,
        run: u64,
        page: u64,
        entries: &[StagedSubscription],
    ) -> Result<(), WriteError> {
        let k = write_key(&[profile, &format!("{run:020}"), &format!("{page:020}")])?;
        let buffer = Vec::with_capacity(entries.len() * RECORD_BYTES);
        let bytes = encode_into(TABLE, &entries, buffer)?;
        self.tx
            .open_table(STAGING)?
            .insert(k.as_str(), bytes.as_slice())?;
        Ok(())
    }

    /// Removes every staging-log row of `profile` (a completed run's, or an abandoned one's).
    pub fn clear_staging(&self, profile: &str) -> Result<u64, WriteError> {
        self.adm_remove_prefix(STAGING, profile)
    }

    /// Ends a complete download run of `profile` (spoke `spoke_id`): one pass over the
    /// profile's subscriptions in key order, beside `staged` in the same order. A staged
    /// subscription is created (first seen `now`) or, when its facts, groups or activity
    /// changed, rewritten; an active subscription the run did not stage is ended at `now`.
    /// The identifiers' active counts follow.
    pub fn merge_staged_run(
        &self,
        profile: &str,
        spoke_id: &str,
        staged: &StagedRun,
        now: EpochSeconds,
    ) -> Result<MergeOutcome, WriteError> {
        let Some((lo, hi)) = prefix_range(&[profile]) else {
            return Ok(MergeOutcome::default());
        };
        let mut merge = Merge {
            tx: self,
            profile,
            now,
            outcome: MergeOutcome::default(),
            count_delta: BTreeMap::new(),
            writes: Vec::new(),
        };
        let sorted = staged.sorted();
        let mut pending = sorted.into_iter().peekable();
        let skip = profile.len() + 1;
        // The profile's subscriptions, SCAN_CHUNK at a time in key order, beside the staged
        // keys. A chunk is read whole before it is merged; the writes go SCAN_CHUNK at a time
        // through one table handle. Staged keys written while a chunk is merged sort before
        // its last key, so the scan does not meet them again.
        let mut after: Option<String> = None;
        loop {
            let chunk: Vec<(String, Subscription)> = {
                let table = self.tx.open_table(SUBSCRIPTIONS)?;
                let lower = match &after {
                    Some(a) => Bound::Excluded(a.as_str()),
                    None => Bound::Included(lo.as_str()),
                };
                range_in(
                    &table,
                    "subscriptions",
                    lower,
                    Bound::Excluded(hi.as_str()),
                    SCAN_CHUNK,
                )?
            };
            let done = chunk.len() < SCAN_CHUNK;
            after = chunk.last().map(|(k, _)| k.clone());
            for (k, sub) in chunk {
                let tail = k.get(skip..).unwrap_or_default();
                while let Some((key, bytes)) = pending.next_if(|(key, _)| *key < tail) {
                    merge.staged(key, bytes, None)?;
                }
                match pending.next_if(|(key, _)| *key == tail) {
                    Some((key, bytes)) => merge.staged(key, bytes, Some(sub))?,
                    None => merge.unstaged(k, sub)?,
                }
            }
            if done {
                break;
            }
        }
        for (key, bytes) in pending {
            merge.staged(key, bytes, None)?;
        }
        merge.flush()?;
        for (identifier, delta) in &merge.count_delta {
            self.adjust_identifier_count(spoke_id, identifier, *delta)?;
        }
        Ok(merge.outcome)
    }
}

/// The state of one [`WriteTx::merge_staged_run`].
struct Merge<'a> {
    tx: &'a WriteTx,
    profile: &'a str,
    now: EpochSeconds,
    outcome: MergeOutcome,
    count_delta: BTreeMap<String, i64>,
    /// Encoded subscriptions to write with the current chunk, by subscriptions-table key.
    writes: Vec<(String, Vec<u8>)>,
}

impl Merge<'_> {
    /// Queues a write; writes the queue once it holds [`SCAN_CHUNK`].
    fn queue(&mut self, key: String, bytes: Vec<u8>) -> Result<(), WriteError> {
        self.writes.push((key, bytes));
        if self.writes.len() >= SCAN_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the queued subscriptions through one table handle.
    fn flush(&mut self) -> Result<(), WriteError> {
        let mut table = self.tx.tx.open_table(SUBSCRIPTIONS)?;
        for (key, bytes) in self.writes.drain(..) {
            table.insert(key.as_str(), bytes.as_slice())?;
        }
        Ok(())
    }

    /// Queues the staged subscription `bytes` (under staged key `key`) over `existing`
    /// (`None`: a new one), if anything changed.
    fn staged(
        &mut self,
        key: &str,
        bytes: &[u8],
        existing: Option<Subscription>,
    ) -> Result<(), WriteError> {
        let s: StagedSubscription = decode(TABLE, &key, bytes)?;
        let record = Subscription {
            profile: self.profile.to_string(),
            external_user_id: s.external_user_id,
            identifier: s.identifier,
            model: s.model,
            display_name: s.display_name,
            email: s.email,
            account_type: s.account_type,
            granted_by: s.granted_by,
            granted_at: s.granted_at,
            active: true,
            first_seen_at: existing.as_ref().map_or(self.now, |e| e.first_seen_at),
            ended_at: None,
        };
        if !existing.as_ref().is_some_and(|e| e.active) {
            *self
                .count_delta
                .entry(record.identifier.clone())
                .or_default() += 1;
        }
        if existing.is_none_or(|e| !e.same_facts(&record)) {
            let k = write_key(&[self.profile, &record.external_user_id, &record.identifier])?;
            self.queue(k, encode("subscriptions", &record)?)?;
            self.outcome.upserted += 1;
        }
        Ok(())
    }

    /// Ends `sub` (under subscriptions-table key `key`), which the run did not report, if
    /// active.
    fn unstaged(&mut self, key: String, mut sub: Subscription) -> Result<(), WriteError> {
        if sub.active {
            sub.active = false;
            sub.ended_at = Some(self.now);
            *self.count_delta.entry(sub.identifier.clone()).or_default() -= 1;
            self.queue(key, encode("subscriptions", &sub)?)?;
            self.outcome.ended += 1;
        }
        Ok(())
    }
}

impl ReadTx {
    /// Calls `f` with each subscription staged by `profile`'s download run `run`, in page
    /// order (so [`StagedRun::stage`] rebuilds the run's view when it resumes).
    pub fn for_each_staged<E: From<ReadError>>(
        &self,
        profile: &str,
        run: u64,
        mut f: impl FnMut(StagedSubscription) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some((lo, hi)) = prefix_range(&[profile, &format!("{run:020}")]) else {
            return Ok(());
        };
        let table = self.tx.open_table(STAGING).map_err(ReadError::from)?;
        let range = (Bound::Included(lo.as_str()), Bound::Excluded(hi.as_str()));
        for row in table.range::<&str>(range).map_err(ReadError::from)? {
            let (k, v) = row.map_err(ReadError::from)?;
            let entries: Vec<StagedSubscription> =
                decode(TABLE, &k.value(), v.value()).map_err(ReadError::from)?;
            for e in entries {
                f(e)?;
            }
        }
        Ok(())
    }
}
