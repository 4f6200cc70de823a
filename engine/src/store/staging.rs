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

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::ops::Bound;

use super::tables::{STAGING, SUBSCRIPTIONS};
use super::{
    DecodeError, RECORD_BYTES, ReadError, ReadTx, SCAN_CHUNK, WriteError, WriteTx, decode, encode,
    encode_into, prefix_range, write_key,
};
use crate::model::{EpochSeconds, StagedSubscription, Subscription};

const TABLE: &str = "download_staging";

/// The key of a staged subscription within its run: `user\0identifier`, which sorts like the
/// tail of its subscriptions-table key.
pub fn staged_key(external_user_id: &str, identifier: &str) -> String {
    format!("{external_user_id}\0{identifier}")
}

/// A download run's staged subscriptions, in key order ([`staged_key`]): for each
/// subscription reported, the record a merge would create, encoded: the facts of the last
/// page that reported it, the union of the groups reported, active, first seen when a page
/// of the run first staged it. Kept encoded (about a third of the decoded size: 100 000
/// staged subscriptions take some 25 MiB), and in the form a new subscription is written,
/// so that the merge writes new ones without decoding them.
#[derive(Debug, Clone)]
pub struct StagedRun {
    profile: String,
    entries: BTreeMap<String, Box<[u8]>>,
    /// Reused for each encoding, so staging allocates only the entry it keeps.
    scratch: Vec<u8>,
}

impl PartialEq for StagedRun {
    fn eq(&self, other: &Self) -> bool {
        (&self.profile, &self.entries) == (&other.profile, &other.entries)
    }
}

impl Eq for StagedRun {}

/// A subscription staged again for a group an earlier page of the run already staged it
/// for (the page is refused; nothing was staged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedGrant {
    /// The subscription, as `user/identifier`.
    pub subscription: String,
    /// The group reported twice.
    pub group: String,
}

impl StagedRun {
    /// Nothing staged yet, for a run of `profile`.
    pub fn new(profile: &str) -> Self {
        StagedRun {
            profile: profile.to_string(),
            entries: BTreeMap::new(),
            scratch: Vec::with_capacity(RECORD_BYTES),
        }
    }

    /// How many subscriptions are staged.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The subscription staged under `key` ([`staged_key`]), as the merge would create it.
    pub fn get(&self, key: &str) -> Result<Option<Subscription>, DecodeError> {
        self.entries
            .get(key)
            .map(|bytes| decode(TABLE, &key, bytes))
            .transpose()
    }

    /// Stages `entry`: its facts replace any staged earlier in the run, its groups join
    /// theirs (kept sorted), and the earlier staging time is kept. When one of its groups
    /// was already staged for the same subscription, nothing changes and that repeat is
    /// returned. One search of the staged keys per entry.
    pub fn stage(
        &mut self,
        entry: StagedSubscription,
    ) -> Result<Option<RepeatedGrant>, WriteError> {
        let key = staged_key(&entry.external_user_id, &entry.identifier);
        let mut record = Subscription {
            // Lent to the record for its encoding, and taken back below.
            profile: std::mem::take(&mut self.profile),
            external_user_id: entry.external_user_id,
            identifier: entry.identifier,
            model: entry.model,
            display_name: entry.display_name,
            email: entry.email,
            account_type: entry.account_type,
            granted_by: entry.granted_by,
            granted_at: entry.granted_at,
            active: true,
            first_seen_at: entry.staged_at,
            ended_at: None,
        };
        let outcome = match self.entries.entry(key) {
            Entry::Vacant(slot) => encode_staged(&mut self.scratch, &record).map(|bytes| {
                slot.insert(bytes);
                None
            }),
            Entry::Occupied(mut slot) => {
                match decode::<Subscription>(TABLE, slot.key(), slot.get()) {
                    Err(e) => Err(e.into()),
                    Ok(earlier) => {
                        match record
                            .granted_by
                            .iter()
                            .find(|g| earlier.granted_by.contains(g))
                        {
                            Some(group) => Ok(Some(RepeatedGrant {
                                subscription: slot.key().replace('\0', "/"),
                                group: group.clone(),
                            })),
                            None => {
                                for g in earlier.granted_by {
                                    if let Err(at) = record.granted_by.binary_search(&g) {
                                        record.granted_by.insert(at, g);
                                    }
                                }
                                record.first_seen_at =
                                    record.first_seen_at.min(earlier.first_seen_at);
                                encode_staged(&mut self.scratch, &record).map(|bytes| {
                                    *slot.get_mut() = bytes;
                                    None
                                })
                            }
                        }
                    }
                }
            }
        };
        self.profile = record.profile;
        outcome
    }

    /// Every staged subscription, in key order, as the merge would create it.
    pub fn iter(&self) -> impl Iterator<Item = Result<Subscription, DecodeError>> + '_ {
        self.entries
            .iter()
            .map(|(key, bytes)| decode(TABLE, key, bytes))
    }
}

/// `record` encoded through `scratch`, as an exactly sized entry (one allocation, none spare).
fn encode_staged(scratch: &mut Vec<u8>, record: &Subscription) -> Result<Box<[u8]>, WriteError> {
    scratch.clear();
    let bytes = encode_into(TABLE, record, std::mem::take(scratch))?;
    let entry = Box::from(bytes.as_slice());
    *scratch = bytes;
    Ok(entry)
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

    /// Ends a complete download run (spoke `spoke_id`): one pass over the subscriptions of
    /// the run's profile in key order, beside `staged` in the same order. A staged
    /// subscription is created (first seen when it was staged) or, when its facts, groups or
    /// activity changed, rewritten (keeping when it was first seen); an active subscription
    /// the run did not stage is ended at `now`. The identifiers' active counts follow.
    pub fn merge_staged_run(
        &self,
        spoke_id: &str,
        staged: &StagedRun,
        now: EpochSeconds,
    ) -> Result<MergeOutcome, WriteError> {
        let profile = staged.profile.as_str();
        let mut merge = Merge {
            tx: self,
            profile,
            now,
            outcome: MergeOutcome::default(),
            count_delta: BTreeMap::new(),
            writes: Vec::new(),
        };
        let mut pending = staged
            .entries
            .iter()
            .map(|(k, v)| (k.as_str(), &**v))
            .peekable();
        let skip = profile.len() + 1;
        // The scan reads each chunk whole before handing it over, and the writes go
        // SCAN_CHUNK at a time through one table handle; staged keys written while a chunk
        // is merged sort before its last key, so the scan does not meet them again.
        self.for_each_profile_subscription(profile, |k, sub| {
            let tail = k.get(skip..).unwrap_or_default();
            while let Some((key, bytes)) = pending.next_if(|(key, _)| *key < tail) {
                merge.created(key, bytes)?;
            }
            match pending.next_if(|(key, _)| *key == tail) {
                Some((key, bytes)) => merge.staged_over(key, bytes, sub),
                None => merge.unstaged(k, sub),
            }
        })?;
        for (key, bytes) in pending {
            merge.created(key, bytes)?;
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
    /// Encoded subscriptions to write, by subscriptions-table key.
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

    /// Adds `delta` to the active count of `identifier`.
    fn count(&mut self, identifier: &str, delta: i64) {
        match self.count_delta.get_mut(identifier) {
            Some(d) => *d += delta,
            None => {
                self.count_delta.insert(identifier.to_string(), delta);
            }
        }
    }

    /// Creates the subscription staged under `key` (`user\0identifier`): its staged bytes
    /// are the record.
    fn created(&mut self, key: &str, bytes: &[u8]) -> Result<(), WriteError> {
        let identifier = key.split_once('\0').map_or("", |(_, i)| i);
        self.count(identifier, 1);
        self.queue(format!("{}\0{key}", self.profile), bytes.to_vec())?;
        self.outcome.upserted += 1;
        Ok(())
    }

    /// Writes the subscription staged under `key` over `existing`, keeping when it was
    /// first seen, if anything changed.
    fn staged_over(
        &mut self,
        key: &str,
        bytes: &[u8],
        existing: Subscription,
    ) -> Result<(), WriteError> {
        let mut record: Subscription = decode(TABLE, &key, bytes)?;
        record.first_seen_at = existing.first_seen_at;
        if !existing.active {
            self.count(&record.identifier, 1);
        }
        if !existing.same_facts(&record) {
            let k = format!("{}\0{key}", self.profile);
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
            self.count(&sub.identifier, -1);
            self.queue(key, encode("subscriptions", &sub)?)?;
            self.outcome.ended += 1;
        }
        Ok(())
    }
}

impl ReadTx {
    /// The staged view of `profile`'s download run `run`, rebuilt from its staging log (for
    /// a run that resumes).
    pub fn staged_run(&self, profile: &str, run: u64) -> Result<StagedRun, WriteError> {
        let mut staged = StagedRun::new(profile);
        // The log holds only pages that passed the repeat check: no entry is a repeat.
        self.for_each_staged(profile, run, |e| staged.stage(e).map(|_| ()))?;
        Ok(staged)
    }

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
        self.guard(|| {
            let Some(table) = self.table(STAGING)? else {
                return Ok(());
            };
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
        })
    }
}
