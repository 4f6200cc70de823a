//! The vendor's own seat counts beside the license position: for each software model the
//! vendor reports counts for (summed over the profiles that report it), what the vendor bills
//! (purchased), what it counts assigned (in use) and pending cancellation, next to the rights
//! the admin's entitlements own and the seats sam counts as used; a mismatch between what the
//! vendor bills and what the entitlements say is a warning the admin should look at. Pure
//! arithmetic over stored rows; no wasm, no HTTP.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{ReconciliationResult, VendorSeatCounts};

/// One model's vendor-reported counts next to its position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VendorComparison {
    /// The software model (or the identifier, when no model recognizes it).
    pub model: String,
    /// Seats the vendor bills, summed over the profiles.
    pub purchased: Option<u64>,
    /// Seats the vendor counts assigned.
    pub in_use: Option<u64>,
    /// Seats cancelled and billed until the cycle ends.
    pub pending_cancellation: Option<u64>,
    /// Rights the entitlements own (`None`: unlimited or no position yet).
    pub rights_owned: Option<u64>,
    /// Seats sam counts as used (from the downloads), when a position exists.
    pub rights_used: Option<u64>,
    /// What does not add up, for people.
    pub warnings: Vec<String>,
}

fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
        (a, b) => a.or(b),
    }
}

/// Joins the vendor's counts with the latest positions (one per model).
pub fn compare(
    counts: &[VendorSeatCounts],
    positions: &[ReconciliationResult],
) -> Vec<VendorComparison> {
    // Per model: purchased, in use, pending cancellation.
    type Sums = (Option<u64>, Option<u64>, Option<u64>);
    let mut by_model: BTreeMap<String, Sums> = BTreeMap::new();
    for c in counts {
        let key = c.model.clone().unwrap_or_else(|| c.identifier.clone());
        let e = by_model.entry(key).or_default();
        e.0 = add(e.0, c.purchased);
        e.1 = add(e.1, c.in_use);
        e.2 = add(e.2, c.pending_cancellation);
    }
    by_model
        .into_iter()
        .map(|(model, (purchased, in_use, pending))| {
            let position = positions.iter().find(|p| p.model == model);
            let rights_owned = position.and_then(|p| p.position.rights_owned);
            let rights_used = position.map(|p| p.position.rights_used);
            let mut warnings = Vec::new();
            match (purchased, position) {
                (Some(bought), Some(p)) => match p.position.rights_owned {
                    Some(owned) if owned != bought => warnings.push(format!(
                        "the vendor bills {bought} seats, the entitlements own {owned}"
                    )),
                    _ => {}
                },
                (Some(bought), None) => warnings.push(format!(
                    "the vendor bills {bought} seats and no entitlement or position exists: record one with `sam entitlements add`"
                )),
                _ => {}
            }
            if let (Some(vendor), Some(sam)) = (in_use, rights_used)
                && vendor != sam
            {
                warnings.push(format!(
                    "the vendor counts {vendor} seats in use, the last download {sam} (license exclusions and pending cancellations explain some)"
                ));
            }
            VendorComparison {
                model,
                purchased,
                in_use,
                pending_cancellation: pending,
                rights_owned,
                rights_used,
                warnings,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(profile: &str, purchased: u64, in_use: u64) -> VendorSeatCounts {
        VendorSeatCounts {
            profile: profile.into(),
            identifier: "copilot-business".into(),
            model: Some("github/github copilot/business".into()),
            purchased: Some(purchased),
            in_use: Some(in_use),
            pending_cancellation: Some(purchased - in_use),
            reported_at: 0,
        }
    }

    #[test]
    fn profiles_are_summed_and_a_billing_mismatch_is_a_warning() {
        let rows = compare(&[counts("a", 10, 8), counts("b", 5, 5)], &[]);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].purchased, Some(15));
        assert_eq!(rows[0].in_use, Some(13));
        assert_eq!(rows[0].pending_cancellation, Some(2));
        assert!(rows[0].warnings[0].contains("no entitlement"), "{rows:?}");
    }
}
