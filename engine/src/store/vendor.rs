//! The tables of what a vendor itself reports beside the seats (see
//! [`crate::model::vendor`]): seats pending cancellation, written with each download page
//! and pruned to the last complete run's when it completes, and the vendor's seat counts,
//! replaced after each complete download. Both tables are additive: a file from before them
//! reads them as empty.

use super::tables::{PENDING_CANCELLATIONS, VENDOR_SEAT_COUNTS};
use super::{ReadError, ReadTx, WriteError, WriteTx, key, write_key};
use crate::model::{PendingCancellation, VendorSeatCounts};

impl WriteTx {
    /// Records that a seat is pending cancellation (as the given run reported it).
    pub fn put_pending_cancellation(&self, p: &PendingCancellation) -> Result<(), WriteError> {
        let k = write_key(&[&p.profile, &p.identifier, &p.external_user_id])?;
        self.put(PENDING_CANCELLATIONS, &k, p)
    }

    /// Forgets a seat's pending cancellation (the vendor reports it live again); whether one
    /// was recorded.
    pub fn delete_pending_cancellation(
        &self,
        profile: &str,
        identifier: &str,
        user: &str,
    ) -> Result<bool, WriteError> {
        self.delete(
            PENDING_CANCELLATIONS,
            &write_key(&[profile, identifier, user])?,
        )
    }

    /// Drops the profile's pending cancellations that `run` did not report (run complete:
    /// the seat is live again or gone); how many.
    pub fn prune_pending_cancellations(&self, profile: &str, run: u64) -> Result<u64, WriteError> {
        let rows: Vec<PendingCancellation> = self.all_in(PENDING_CANCELLATIONS, &[profile])?;
        let mut dropped = 0;
        for p in rows.into_iter().filter(|p| p.run != run) {
            self.delete_pending_cancellation(&p.profile, &p.identifier, &p.external_user_id)?;
            dropped += 1;
        }
        Ok(dropped)
    }

    /// The profile's seats pending cancellation (as of the last complete download and the
    /// pages of a run in progress).
    pub fn pending_cancellations_in(
        &self,
        profile: &str,
    ) -> Result<Vec<PendingCancellation>, WriteError> {
        self.all_in(PENDING_CANCELLATIONS, &[profile])
    }

    /// Replaces the profile's vendor seat counts.
    pub fn replace_vendor_seat_counts(
        &self,
        profile: &str,
        counts: &[VendorSeatCounts],
    ) -> Result<(), WriteError> {
        let old: Vec<VendorSeatCounts> = self.all_in(VENDOR_SEAT_COUNTS, &[profile])?;
        for c in old {
            self.delete(VENDOR_SEAT_COUNTS, &write_key(&[profile, &c.identifier])?)?;
        }
        for c in counts {
            self.put(
                VENDOR_SEAT_COUNTS,
                &write_key(&[profile, &c.identifier])?,
                c,
            )?;
        }
        Ok(())
    }
}

impl ReadTx {
    /// The profile's seats pending cancellation, by identifier and user.
    pub fn pending_cancellations(
        &self,
        profile: &str,
    ) -> Result<Vec<PendingCancellation>, ReadError> {
        match key(&[profile]) {
            Some(_) => self.all(PENDING_CANCELLATIONS, &[profile]),
            None => Ok(Vec::new()),
        }
    }

    /// One seat's pending cancellation, if the vendor reported one.
    pub fn pending_cancellation(
        &self,
        profile: &str,
        identifier: &str,
        user: &str,
    ) -> Result<Option<PendingCancellation>, ReadError> {
        match key(&[profile, identifier, user]) {
            Some(k) => self.get(PENDING_CANCELLATIONS, &k),
            None => Ok(None),
        }
    }

    /// Every profile's vendor seat counts (profile, identifier order).
    pub fn vendor_seat_counts(&self) -> Result<Vec<VendorSeatCounts>, ReadError> {
        self.all(VENDOR_SEAT_COUNTS, &[])
    }
}
