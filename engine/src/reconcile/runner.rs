//! The reconciliation run: for every software model (those in the store and those with
//! entitlements), the seats of every profile that carry it, judged against the license
//! exclusions and the model's inactivity threshold, priced against its entitlements and
//! override; one result per model written with its time, and an audit entry.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::position::{SeatFacts, position_and_shares};
use crate::model::{
    AuditAction, EpochSeconds, ExclusionRule, ProfileShare, ReclamationRule, ReconciliationResult,
    Subscription, UserActivityRecord,
};
use crate::pipeline::Clock;
use crate::reclaim::stale_since;
use crate::store::{ReadError, Store, WriteError};

/// A reconciliation run failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The store failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The store failed.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// How reconciliation sees one seat, held through `profile`.
pub fn seat_facts(
    profile: &str,
    spoke_id: &str,
    subscription: &Subscription,
    activity: Option<&UserActivityRecord>,
    rule: &ReclamationRule,
    exclusions: &[ExclusionRule],
    now: EpochSeconds,
) -> SeatFacts {
    let license_excluded = !exclusions.is_empty() && {
        let mut ids = vec![subscription.external_user_id.as_str()];
        if let Some(email) = &subscription.email {
            ids.push(email);
        }
        exclusions.iter().any(|x| {
            x.scope.covers_license() && x.matches(spoke_id, &subscription.identifier, &ids)
        })
    };
    SeatFacts {
        user: format!("{spoke_id}\0{}", subscription.external_user_id),
        profile: profile.to_string(),
        license_excluded,
        inactive: stale_since(subscription, activity, rule, now, None).is_some(),
    }
}

/// Computes and stores the license position of every model at the clock's time; returns
/// the results, by model.
pub fn run(store: &Store, clock: &dyn Clock) -> Result<Vec<ReconciliationResult>, ReconcileError> {
    let now = clock.now();
    let read = store.read()?;
    let entitlements = read.entitlements()?;
    let overrides = read.cost_overrides()?;
    let exclusions: Vec<ExclusionRule> = read
        .exclusions()?
        .into_iter()
        .filter(|x| x.active)
        .collect();
    let rules: BTreeMap<String, ReclamationRule> = read
        .rules()?
        .into_iter()
        .map(|r| (r.model.clone(), r))
        .collect();
    let mut models: BTreeSet<String> = read.models()?.into_iter().map(|m| m.id).collect();
    models.extend(entitlements.iter().map(|e| e.model.clone()));

    let mut seats: BTreeMap<String, Vec<SeatFacts>> = BTreeMap::new();
    for profile in read.profiles()? {
        // One pass over the seats joined with their holders' activity; the seats are judged
        // as they stream past, never collected.
        let mut profile_rules: HashMap<String, ReclamationRule> = HashMap::new();
        read.for_each_subscription_with_activity(&profile.name, |s, activity| {
            let Some(model) = s.model.as_deref().filter(|_| s.active) else {
                return;
            };
            if !profile_rules.contains_key(model) {
                let rule = rules
                    .get(model)
                    .cloned()
                    .unwrap_or_else(|| ReclamationRule::default_for(model, now));
                profile_rules.insert(model.to_string(), rule);
            }
            let facts = seat_facts(
                &profile.name,
                &profile.spoke_id,
                &s,
                activity,
                &profile_rules[model],
                &exclusions,
                now,
            );
            match seats.get_mut(model) {
                Some(list) => list.push(facts),
                None => {
                    seats.insert(model.to_string(), vec![facts]);
                }
            }
        })?;
        models.extend(profile_rules.into_keys());
    }
    drop(read);

    let mut shares: Vec<ProfileShare> = Vec::new();
    let results: Vec<ReconciliationResult> = models
        .into_iter()
        .map(|model| {
            let own: Vec<_> = entitlements
                .iter()
                .filter(|e| e.model == model)
                .cloned()
                .collect();
            let cost_override = overrides.iter().find(|o| o.model == model);
            let (position, by_profile) = position_and_shares(
                &own,
                cost_override,
                seats.get(&model).map_or(&[][..], Vec::as_slice),
                now,
            );
            shares.extend(
                by_profile
                    .into_iter()
                    .map(|(profile, counts)| ProfileShare {
                        model: model.clone(),
                        computed_at: now,
                        profile,
                        counts,
                    }),
            );
            ReconciliationResult {
                model,
                computed_at: now,
                position,
            }
        })
        .collect();
    store.write(|tx| {
        for r in &results {
            tx.put_reconciliation(r)?;
            let mine: Vec<ProfileShare> = shares
                .iter()
                .filter(|s| s.model == r.model)
                .cloned()
                .collect();
            tx.replace_profile_shares(&r.model, &mine)?;
        }
        let not_compliant = results
            .iter()
            .filter(|r| r.position.status == crate::model::ComplianceStatus::NotCompliant)
            .count();
        tx.audit(
            now,
            None,
            AuditAction::Reconciled(results.len() as u64),
            format!(
                "reconciled {} software models ({not_compliant} not compliant)",
                results.len()
            ),
            None,
        )?;
        Ok::<_, WriteError>(())
    })?;
    Ok(results)
}
