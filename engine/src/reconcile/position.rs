//! The license-position arithmetic, as pure functions over plain inputs (so property tests
//! can hammer it): rights owned from the entitlements in force (unlimited if any is),
//! rights used as the distinct users holding a seat not excluded from license calculations
//! (excluded: the distinct users all of whose seats are excluded, so excluded + used = the
//! distinct holders),
//! available = owned - used, unlicensed = used beyond owned, Compliant exactly when used <=
//! owned or the rights are unlimited; costs from the average entitlement cost per right
//! (rights-weighted) and the model's override (which prices the true-up and savings first).
//! Each distinct holder is also attributed to one profile (the first by name holding them):
//! the profiles' shares, whose sums are the position's used, inactive and excluded.

use std::collections::BTreeMap;

use crate::model::{
    ComplianceStatus, Entitlement, EpochSeconds, LicenseCostOverride, LicenseMetric,
    LicensePosition, ProfileCounts, Rights,
};

/// One seat of the model, as reconciliation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatFacts {
    /// The holder (seats of one holder count once).
    pub user: String,
    /// The profile the seat was downloaded through.
    pub profile: String,
    /// Kept out of license calculations by an exclusion.
    pub license_excluded: bool,
    /// No activity within the model's threshold.
    pub inactive: bool,
}

/// The unit costs of a model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitCosts {
    /// The currency of the amounts.
    pub currency: Option<String>,
    /// Average entitlement cost per right (entitlements in force, in `currency`).
    pub average_minor: Option<u64>,
    /// The override, else the average.
    pub unit_minor: Option<u64>,
    /// What made the costs less certain.
    pub warnings: Vec<String>,
}

/// The unit costs of a model's entitlements (those in force at `now`) and override.
pub fn unit_costs(
    entitlements: &[Entitlement],
    cost_override: Option<&LicenseCostOverride>,
    now: EpochSeconds,
) -> UnitCosts {
    let live: Vec<&Entitlement> = entitlements.iter().filter(|e| e.in_force(now)).collect();
    let currency = cost_override
        .map(|o| o.currency.clone())
        .or_else(|| live.first().map(|e| e.currency.clone()));
    let mut warnings = Vec::new();
    let priced: Vec<&Entitlement> = live
        .iter()
        .copied()
        .filter(|e| Some(&e.currency) == currency.as_ref())
        .collect();
    let others: Vec<&str> = live
        .iter()
        .filter(|e| Some(&e.currency) != currency.as_ref())
        .map(|e| e.id.as_str())
        .collect();
    if !others.is_empty() {
        warnings.push(format!(
            "entitlements {} are in another currency than {}: their rights count, their costs do not",
            others.join(", "),
            currency.as_deref().unwrap_or("-")
        ));
    }
    let (mut weighted, mut rights) = (0u128, 0u128);
    for e in &priced {
        if let Rights::Count(n) = e.rights {
            weighted += u128::from(n) * u128::from(e.unit_cost_minor);
            rights += u128::from(n);
        }
    }
    let average_minor = match weighted.checked_div(rights) {
        Some(avg) => Some(u64::try_from(avg).unwrap_or(u64::MAX)),
        None => {
            let sum: u128 = priced.iter().map(|e| u128::from(e.unit_cost_minor)).sum();
            sum.checked_div(priced.len() as u128)
                .map(|avg| u64::try_from(avg).unwrap_or(u64::MAX))
        }
    };
    UnitCosts {
        unit_minor: cost_override.map(|o| o.unit_cost_minor).or(average_minor),
        currency,
        average_minor,
        warnings,
    }
}

/// How one distinct holder of a model counts.
struct Holder<'a> {
    /// `None`: every seat of theirs is excluded; `Some(inactive)`: they use a right, inactive
    /// when none of their counted seats shows activity.
    counted: Option<bool>,
    /// The profile they are attributed to: the first, by name, through which they hold a
    /// seat of the model.
    profile: &'a str,
}

/// Distinct holders (a user holding the model through two profiles counts once). A holder
/// uses a right when any of their seats is not excluded, and is inactive when all those seats
/// are; a holder all of whose seats are excluded counts as excluded. So held = used +
/// excluded and used = active + inactive, whatever the profiles.
fn holders(seats: &[SeatFacts]) -> BTreeMap<&str, Holder<'_>> {
    let mut holders: BTreeMap<&str, Holder<'_>> = BTreeMap::new();
    for s in seats {
        let holder = holders.entry(s.user.as_str()).or_insert(Holder {
            counted: None,
            profile: &s.profile,
        });
        if s.profile.as_str() < holder.profile {
            holder.profile = &s.profile;
        }
        if !s.license_excluded {
            holder.counted = Some(holder.counted.unwrap_or(true) && s.inactive);
        }
    }
    holders
}

/// One profile's share of a model's holders, by profile name. Each distinct holder counts
/// in exactly one profile: the first, by name, through which they hold a seat of the model.
/// So a model's figures are the sums of its profiles' shares, and each share keeps the
/// position's rules (held = used + excluded, used = active + inactive).
pub fn shares_by_profile(seats: &[SeatFacts]) -> BTreeMap<String, ProfileCounts> {
    let mut shares: BTreeMap<String, ProfileCounts> = BTreeMap::new();
    for holder in holders(seats).values() {
        let share = match shares.get_mut(holder.profile) {
            Some(share) => share,
            None => shares.entry(holder.profile.to_string()).or_default(),
        };
        share.held += 1;
        match holder.counted {
            Some(inactive) => {
                share.used += 1;
                share.inactive += u64::from(inactive);
            }
            None => share.excluded += 1,
        }
    }
    shares
}

/// The license position of one model (see the module doc).
pub fn compute_position(
    entitlements: &[Entitlement],
    cost_override: Option<&LicenseCostOverride>,
    seats: &[SeatFacts],
    now: EpochSeconds,
) -> LicensePosition {
    position_and_shares(entitlements, cost_override, seats, now).0
}

/// The license position of one model and its profiles' shares, from one pass over its
/// holders: the position's used, inactive and excluded are the sums of the shares.
pub fn position_and_shares(
    entitlements: &[Entitlement],
    cost_override: Option<&LicenseCostOverride>,
    seats: &[SeatFacts],
    now: EpochSeconds,
) -> (LicensePosition, BTreeMap<String, ProfileCounts>) {
    let shares = shares_by_profile(seats);
    let (used, excluded, inactive) = shares.values().fold((0, 0, 0), |(u, x, i), c| {
        (u + c.used, x + c.excluded, i + c.inactive)
    });
    (
        position_of(entitlements, cost_override, used, excluded, inactive, now),
        shares,
    )
}

/// The position of a model whose distinct holders are `used` + `excluded`, `inactive` of
/// the used ones without activity.
fn position_of(
    entitlements: &[Entitlement],
    cost_override: Option<&LicenseCostOverride>,
    used: u64,
    excluded: u64,
    inactive: u64,
    now: EpochSeconds,
) -> LicensePosition {
    let live: Vec<&Entitlement> = entitlements.iter().filter(|e| e.in_force(now)).collect();
    let unlimited = live.iter().any(|e| e.rights == Rights::Unlimited);
    let owned: u64 = live
        .iter()
        .map(|e| match e.rights {
            Rights::Count(n) => n,
            Rights::Unlimited => 0,
        })
        .fold(0u64, u64::saturating_add);

    let (rights_owned, rights_available, unlicensed, status) = if unlimited {
        (None, None, 0, ComplianceStatus::Compliant)
    } else {
        let available = i64::try_from(i128::from(owned) - i128::from(used)).unwrap_or(i64::MIN);
        let status = if used <= owned {
            ComplianceStatus::Compliant
        } else {
            ComplianceStatus::NotCompliant
        };
        (
            Some(owned),
            Some(available),
            used.saturating_sub(owned),
            status,
        )
    };

    let costs = unit_costs(entitlements, cost_override, now);
    let total_spend_minor = live
        .iter()
        .filter(|e| Some(&e.currency) == costs.currency.as_ref())
        .map(|e| match e.rights {
            Rights::Count(n) => n.saturating_mul(e.unit_cost_minor),
            Rights::Unlimited => e.unit_cost_minor,
        })
        .fold(0u64, u64::saturating_add);
    let unused = rights_available.map_or(0, |a| a.max(0) as u64);
    let average = costs.average_minor.unwrap_or(0);
    let unit = costs.unit_minor.unwrap_or(0);
    LicensePosition {
        metric: LicenseMetric::UserSubscription,
        rights_owned,
        rights_used: used,
        rights_available,
        unlicensed,
        excluded,
        inactive,
        currency: costs.currency,
        average_unit_cost_minor: costs.average_minor,
        unit_cost_minor: costs.unit_minor,
        total_spend_minor,
        over_licensed_cost_minor: unused.saturating_mul(average),
        true_up_cost_minor: unlicensed.saturating_mul(unit),
        potential_savings_minor: inactive.saturating_mul(unit),
        status,
        warnings: costs.warnings,
    }
}
