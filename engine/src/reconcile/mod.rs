//! Reconciliation: where the admin stands against what was bought. [`position`] holds the
//! arithmetic as pure functions (rights owned, used, available, unlicensed, costs,
//! compliance); [`run`] reads the store — entitlements, cost overrides, subscriptions of every
//! profile, license exclusions, activity and the reclamation rules' thresholds — and writes one
//! [`ReconciliationResult`](crate::model::ReconciliationResult) per software model with its
//! time, so the history shows the trend. It runs on demand and after each download.
//! [`vendor`] sets the vendor's own seat counts (where a spoke reports them) beside it.

pub mod position;
mod runner;
pub mod vendor;

pub use position::{
    SeatFacts, UnitCosts, compute_position, position_and_shares, shares_by_profile, unit_costs,
};
pub use runner::{ReconcileError, run, seat_facts};

/// `12.50 EUR` for 1250 minor units (two decimals).
pub fn format_money(minor: u64, currency: Option<&str>) -> String {
    let text = format!("{}.{:02}", minor / 100, minor % 100);
    match currency {
        Some(c) => format!("{text} {c}"),
        None => text,
    }
}

/// Minor units (two decimals) from `12`, `12.5` or `12.50`; `None` when not such a number.
pub fn parse_money(text: &str) -> Option<u64> {
    let text = text.trim();
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let frac: u64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<u64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    whole.checked_mul(100)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    #[test]
    fn money_round_trips() {
        assert_eq!(super::parse_money("12.5"), Some(1250));
        assert_eq!(super::parse_money("7"), Some(700));
        assert_eq!(super::parse_money("0.05"), Some(5));
        assert_eq!(super::parse_money("1.234"), None);
        assert_eq!(super::parse_money("-1"), None);
        assert_eq!(super::format_money(1250, Some("EUR")), "12.50 EUR");
    }
}
