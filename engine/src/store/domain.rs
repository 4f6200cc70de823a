//! Store operations for reclamation and reconciliation: reclamation rules (by model),
//! exclusion rules, removal candidates (keyed by profile, user, identifier and candidate id, so
//! one profile's or one seat's candidates are one key range), entitlements, license cost
//! overrides and reconciliation results (by model and time, so a model's history is one range
//! in time order), the crash-safe reclaim's intents (keyed by profile and candidate id) and
//! runs in progress (by profile), plus the audit lookups an undo needs.

use redb::ReadableTable;

use super::tables::*;
use super::{
    Def, ReadError, ReadTx, WriteError, WriteTx, decode, key, rows_with_prefix, table_name,
    write_key,
};
use crate::model::{
    AuditEntry, Entitlement, ExclusionRule, LicenseCostOverride, ProfileShare, ReclaimIntent,
    ReclaimRunState, ReclamationRule, ReconciliationResult, RemovalCandidate,
    SubscriptionIdentifier,
};

fn intent_key(profile: &str, candidate: u64) -> Result<String, WriteError> {
    write_key(&[profile, &format!("{candidate:020}")])
}

fn candidate_key(c: &RemovalCandidate) -> Result<String, WriteError> {
    write_key(&[
        &c.profile,
        &c.external_user_id,
        &c.identifier,
        &format!("{:020}", c.id),
    ])
}

fn result_key(r: &ReconciliationResult) -> Result<String, WriteError> {
    // Offset so that any i64 sorts correctly as a zero-padded decimal.
    let t = (r.computed_at as i128 - i64::MIN as i128) as u128;
    write_key(&[&r.model, &format!("{t:020}")])
}

impl WriteTx {
    pub(super) fn all_in<T: serde::de::DeserializeOwned>(
        &self,
        def: Def,
        prefix: &[&str],
    ) -> Result<Vec<T>, WriteError> {
        let table = self.tx.open_table(def)?;
        Ok(rows_with_prefix(&table, table_name(def), prefix)?)
    }

    /// The reclamation rule of a model.
    pub fn rule(&self, model: &str) -> Result<Option<ReclamationRule>, WriteError> {
        match key(&[model]) {
            Some(k) => self.get(RECLAMATION_RULES, &k),
            None => Ok(None),
        }
    }

    /// Inserts or replaces a reclamation rule (keyed by its model).
    pub fn put_rule(&self, rule: &ReclamationRule) -> Result<(), WriteError> {
        self.put(RECLAMATION_RULES, &write_key(&[&rule.model])?, rule)
    }

    /// All exclusion rules.
    pub fn exclusions(&self) -> Result<Vec<ExclusionRule>, WriteError> {
        self.all_in(EXCLUSION_RULES, &[])
    }

    /// Inserts or replaces an exclusion rule.
    pub fn put_exclusion(&self, rule: &ExclusionRule) -> Result<(), WriteError> {
        self.put(EXCLUSION_RULES, &write_key(&[&rule.id])?, rule)
    }

    /// An exclusion rule.
    pub fn exclusion(&self, id: &str) -> Result<Option<ExclusionRule>, WriteError> {
        match key(&[id]) {
            Some(k) => self.get(EXCLUSION_RULES, &k),
            None => Ok(None),
        }
    }

    /// Removes an exclusion rule; whether it existed.
    pub fn delete_exclusion(&self, id: &str) -> Result<bool, WriteError> {
        self.delete(EXCLUSION_RULES, &write_key(&[id])?)
    }

    /// All subscription identifiers.
    pub fn all_identifiers(&self) -> Result<Vec<SubscriptionIdentifier>, WriteError> {
        self.all_in(IDENTIFIERS, &[])
    }

    /// A profile's removal candidates, by user, identifier and id.
    pub fn candidates(&self, profile: &str) -> Result<Vec<RemovalCandidate>, WriteError> {
        self.all_in(REMOVAL_CANDIDATES, &[profile])
    }

    /// A removal candidate by id (scans the candidates).
    pub fn candidate(&self, id: u64) -> Result<Option<RemovalCandidate>, WriteError> {
        let all: Vec<RemovalCandidate> = self.all_in(REMOVAL_CANDIDATES, &[])?;
        Ok(all.into_iter().find(|c| c.id == id))
    }

    /// Inserts or replaces a removal candidate.
    pub fn put_candidate(&self, candidate: &RemovalCandidate) -> Result<(), WriteError> {
        self.put(REMOVAL_CANDIDATES, &candidate_key(candidate)?, candidate)
    }

    /// A profile's stored reclaim plans, by candidate id.
    pub fn reclaim_intents(&self, profile: &str) -> Result<Vec<ReclaimIntent>, WriteError> {
        self.all_in(RECLAIM_INTENTS, &[profile])
    }

    /// The stored reclaim plan of a candidate, if any.
    pub fn reclaim_intent(
        &self,
        profile: &str,
        candidate: u64,
    ) -> Result<Option<ReclaimIntent>, WriteError> {
        self.get(RECLAIM_INTENTS, &intent_key(profile, candidate)?)
    }

    /// Stores (or updates) a reclaim plan.
    pub fn put_reclaim_intent(&self, intent: &ReclaimIntent) -> Result<(), WriteError> {
        self.put(
            RECLAIM_INTENTS,
            &intent_key(&intent.profile, intent.candidate)?,
            intent,
        )
    }

    /// Deletes a reclaim plan once its outcome is recorded on the candidate.
    pub fn delete_reclaim_intent(&self, profile: &str, candidate: u64) -> Result<bool, WriteError> {
        self.delete(RECLAIM_INTENTS, &intent_key(profile, candidate)?)
    }

    /// The profile's reclaim run in progress, if any.
    pub fn reclaim_run(&self, profile: &str) -> Result<Option<ReclaimRunState>, WriteError> {
        self.get(RECLAIM_RUNS, &write_key(&[profile])?)
    }

    /// Stores the profile's reclaim run in progress.
    pub fn put_reclaim_run(&self, run: &ReclaimRunState) -> Result<(), WriteError> {
        self.put(RECLAIM_RUNS, &write_key(&[&run.profile])?, run)
    }

    /// Ends the profile's reclaim run in progress.
    pub fn clear_reclaim_run(&self, profile: &str) -> Result<bool, WriteError> {
        self.delete(RECLAIM_RUNS, &write_key(&[profile])?)
    }

    /// All entitlements.
    pub fn entitlements(&self) -> Result<Vec<Entitlement>, WriteError> {
        self.all_in(ENTITLEMENTS, &[])
    }

    /// Inserts or replaces an entitlement.
    pub fn put_entitlement(&self, e: &Entitlement) -> Result<(), WriteError> {
        self.put(ENTITLEMENTS, &write_key(&[&e.id])?, e)
    }

    /// Removes an entitlement; whether it existed.
    pub fn delete_entitlement(&self, id: &str) -> Result<bool, WriteError> {
        self.delete(ENTITLEMENTS, &write_key(&[id])?)
    }

    /// A model's license cost override.
    pub fn cost_override(&self, model: &str) -> Result<Option<LicenseCostOverride>, WriteError> {
        match key(&[model]) {
            Some(k) => self.get(COST_OVERRIDES, &k),
            None => Ok(None),
        }
    }

    /// Sets a model's license cost override.
    pub fn put_cost_override(&self, o: &LicenseCostOverride) -> Result<(), WriteError> {
        self.put(COST_OVERRIDES, &write_key(&[&o.model])?, o)
    }

    /// Removes a model's license cost override; whether it existed.
    pub fn delete_cost_override(&self, model: &str) -> Result<bool, WriteError> {
        self.delete(COST_OVERRIDES, &write_key(&[model])?)
    }

    /// Stores a reconciliation result (one per model and time; a rerun at the same second
    /// replaces it).
    pub fn put_reconciliation(&self, r: &ReconciliationResult) -> Result<(), WriteError> {
        self.put(RECONCILIATION_RESULTS, &result_key(r)?, r)
    }

    /// Replaces a model's profile shares with those of its latest position.
    pub fn replace_profile_shares(
        &self,
        model: &str,
        shares: &[ProfileShare],
    ) -> Result<(), WriteError> {
        let old: Vec<ProfileShare> = self.all_in(RECONCILIATION_SHARES, &[model])?;
        for s in old {
            self.delete(RECONCILIATION_SHARES, &write_key(&[model, &s.profile])?)?;
        }
        for s in shares {
            self.put(RECONCILIATION_SHARES, &write_key(&[model, &s.profile])?, s)?;
        }
        Ok(())
    }

    /// An audit entry.
    pub fn audit_entry(&self, seq: u64) -> Result<Option<AuditEntry>, WriteError> {
        let table = self.tx.open_table(AUDIT_LOG)?;
        let value = match table.get(seq)? {
            Some(g) => Some(decode("audit_log", &seq, g.value())?),
            None => None,
        };
        Ok(value)
    }
}

impl ReadTx {
    /// The reclamation rule of a model.
    pub fn rule(&self, model: &str) -> Result<Option<ReclamationRule>, ReadError> {
        match key(&[model]) {
            Some(k) => self.get(RECLAMATION_RULES, &k),
            None => Ok(None),
        }
    }

    /// All reclamation rules, by model.
    pub fn rules(&self) -> Result<Vec<ReclamationRule>, ReadError> {
        self.all(RECLAMATION_RULES, &[])
    }

    /// All exclusion rules.
    pub fn exclusions(&self) -> Result<Vec<ExclusionRule>, ReadError> {
        self.all(EXCLUSION_RULES, &[])
    }

    /// A profile's removal candidates, by user, identifier and id.
    pub fn candidates(&self, profile: &str) -> Result<Vec<RemovalCandidate>, ReadError> {
        self.all(REMOVAL_CANDIDATES, &[profile])
    }

    /// A profile's stored reclaim plans, by candidate id.
    pub fn reclaim_intents(&self, profile: &str) -> Result<Vec<ReclaimIntent>, ReadError> {
        self.all(RECLAIM_INTENTS, &[profile])
    }

    /// Every stored reclaim plan, by profile and candidate id.
    pub fn all_reclaim_intents(&self) -> Result<Vec<ReclaimIntent>, ReadError> {
        self.all(RECLAIM_INTENTS, &[])
    }

    /// The stored reclaim plan of a candidate, if any.
    pub fn reclaim_intent(
        &self,
        profile: &str,
        candidate: u64,
    ) -> Result<Option<ReclaimIntent>, ReadError> {
        match key(&[profile, &format!("{candidate:020}")]) {
            Some(k) => self.get(RECLAIM_INTENTS, &k),
            None => Ok(None),
        }
    }

    /// The profile's reclaim run in progress, if any.
    pub fn reclaim_run(&self, profile: &str) -> Result<Option<ReclaimRunState>, ReadError> {
        match key(&[profile]) {
            Some(k) => self.get(RECLAIM_RUNS, &k),
            None => Ok(None),
        }
    }

    /// Every removal candidate, ordered by id.
    pub fn all_candidates(&self) -> Result<Vec<RemovalCandidate>, ReadError> {
        let mut all: Vec<RemovalCandidate> = self.all(REMOVAL_CANDIDATES, &[])?;
        all.sort_by_key(|c| c.id);
        Ok(all)
    }

    /// A removal candidate by its full key (profile, user, identifier, id): one lookup, where
    /// `candidate` scans.
    pub fn candidate_at(
        &self,
        profile: &str,
        external_user_id: &str,
        identifier: &str,
        id: u64,
    ) -> Result<Option<RemovalCandidate>, ReadError> {
        match key(&[profile, external_user_id, identifier, &format!("{id:020}")]) {
            Some(k) => self.get(REMOVAL_CANDIDATES, &k),
            None => Ok(None),
        }
    }

    /// A removal candidate by id (scans the candidates).
    pub fn candidate(&self, id: u64) -> Result<Option<RemovalCandidate>, ReadError> {
        let all: Vec<RemovalCandidate> = self.all(REMOVAL_CANDIDATES, &[])?;
        Ok(all.into_iter().find(|c| c.id == id))
    }

    /// All entitlements.
    pub fn entitlements(&self) -> Result<Vec<Entitlement>, ReadError> {
        self.all(ENTITLEMENTS, &[])
    }

    /// A model's license cost override.
    pub fn cost_override(&self, model: &str) -> Result<Option<LicenseCostOverride>, ReadError> {
        match key(&[model]) {
            Some(k) => self.get(COST_OVERRIDES, &k),
            None => Ok(None),
        }
    }

    /// All license cost overrides.
    pub fn cost_overrides(&self) -> Result<Vec<LicenseCostOverride>, ReadError> {
        self.all(COST_OVERRIDES, &[])
    }

    /// A model's reconciliation results, oldest first (its trend).
    pub fn reconciliation_history(
        &self,
        model: &str,
    ) -> Result<Vec<ReconciliationResult>, ReadError> {
        self.all(RECONCILIATION_RESULTS, &[model])
    }

    /// Each profile's share of every model's latest position, by model then profile (a file
    /// from before the table reads as none).
    pub fn profile_shares(&self) -> Result<Vec<ProfileShare>, ReadError> {
        self.all(RECONCILIATION_SHARES, &[])
    }

    /// Every reconciliation result, by model then time.
    pub fn reconciliation_results(&self) -> Result<Vec<ReconciliationResult>, ReadError> {
        self.all(RECONCILIATION_RESULTS, &[])
    }

    /// The latest result of each model, by model.
    pub fn latest_positions(&self) -> Result<Vec<ReconciliationResult>, ReadError> {
        let mut out: Vec<ReconciliationResult> = Vec::new();
        for r in self.reconciliation_results()? {
            match out.last_mut() {
                Some(last) if last.model == r.model => *last = r,
                _ => out.push(r),
            }
        }
        Ok(out)
    }

    /// An audit entry.
    pub fn audit_entry(&self, seq: u64) -> Result<Option<AuditEntry>, ReadError> {
        self.seq_get(AUDIT_LOG, "audit_log", seq)
    }
}

#[cfg(test)]
mod tests {
    use crate::model::*;

    fn result(model: &str, at: i64) -> ReconciliationResult {
        ReconciliationResult {
            model: model.into(),
            computed_at: at,
            position: LicensePosition {
                metric: LicenseMetric::UserSubscription,
                rights_owned: Some(1),
                rights_used: 0,
                rights_available: Some(1),
                unlicensed: 0,
                excluded: 0,
                inactive: 0,
                currency: None,
                average_unit_cost_minor: None,
                unit_cost_minor: None,
                total_spend_minor: 0,
                over_licensed_cost_minor: 0,
                true_up_cost_minor: 0,
                potential_savings_minor: 0,
                status: ComplianceStatus::Compliant,
                warnings: vec![],
            },
        }
    }

    #[test]
    fn results_are_kept_in_time_order_per_model_and_the_latest_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Store::open(dir.path().join("s.redb")).unwrap();
        store
            .write(|tx| {
                for at in [300, 5, 1_000_000_000_000, 40] {
                    tx.put_reconciliation(&result("a/x", at))?;
                }
                tx.put_reconciliation(&result("a/y", 7))?;
                tx.put_reconciliation(&result("a", 9))
            })
            .unwrap();
        let read = store.read().unwrap();
        let times: Vec<i64> = read
            .reconciliation_history("a/x")
            .unwrap()
            .iter()
            .map(|r| r.computed_at)
            .collect();
        assert_eq!(times, [5, 40, 300, 1_000_000_000_000]);
        let latest: Vec<(String, i64)> = read
            .latest_positions()
            .unwrap()
            .into_iter()
            .map(|r| (r.model, r.computed_at))
            .collect();
        assert_eq!(
            latest,
            [
                ("a".to_string(), 9),
                ("a/x".to_string(), 1_000_000_000_000),
                ("a/y".to_string(), 7)
            ]
        );
    }
}
