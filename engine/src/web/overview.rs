//! The overview: for each software model the latest license position (owned, used,
//! available, inactive, compliance, true-up cost, potential savings) and the realized
//! savings (seats reclaimed and not restored, at the model's unit cost), with totals and two
//! server-drawn SVG charts over the reconciliation history: seats used against owned, and
//! potential against realized savings.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Shared, auth, error_page, html_page, layout, money, when};
use crate::app::AppError;
use crate::app::reclaim::{CandidatesQuery, PositionQuery};
use crate::model::{ComplianceStatus, EpochSeconds, ReconciliationResult};

/// `?notice=`.
#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    notice: Option<String>,
}

/// One line of a chart.
pub struct Series {
    /// Its name in the legend.
    pub label: &'static str,
    /// Its colour.
    pub color: &'static str,
    /// Its points (time, value).
    pub points: Vec<(EpochSeconds, f64)>,
}

/// A line chart of `series` over time as SVG (drawn on the server; labelled for screen
/// readers by `title`).
pub fn line_chart(title: &str, unit: &str, series: &[Series]) -> Markup {
    const W: f64 = 720.0;
    const H: f64 = 220.0;
    const L: f64 = 64.0;
    const R: f64 = 12.0;
    const T: f64 = 12.0;
    const B: f64 = 28.0;
    let all = series.iter().flat_map(|s| s.points.iter());
    let (mut t0, mut t1, mut vmax) = (i64::MAX, i64::MIN, 0f64);
    for (t, v) in all {
        t0 = t0.min(*t);
        t1 = t1.max(*t);
        vmax = vmax.max(*v);
    }
    let empty = t0 > t1;
    if vmax <= 0.0 {
        vmax = 1.0;
    }
    // No point at all leaves t0 > t1 (the extremes): nothing to scale, and no subtraction
    // that could overflow.
    let span = if empty {
        1.0
    } else {
        t1.saturating_sub(t0).max(1) as f64
    };
    let x = |t: EpochSeconds| {
        if t1 == t0 {
            L + (W - L - R) / 2.0
        } else {
            L + (t - t0) as f64 / span * (W - L - R)
        }
    };
    let y = |v: f64| T + (1.0 - v / vmax) * (H - T - B);
    html! {
        figure {
            svg.chart viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(title) {
                title { (title) }
                line x1=(L) y1=(H - B) x2=(W - R) y2=(H - B) stroke="#d0d7de" {}
                line x1=(L) y1=(T) x2=(L) y2=(H - B) stroke="#d0d7de" {}
                text x=(L - 6.0) y=(T + 10.0) text-anchor="end" font-size="11" fill="#57606a" { (format_value(vmax, unit)) }
                text x=(L - 6.0) y=(H - B) text-anchor="end" font-size="11" fill="#57606a" { "0" }
                @if empty {
                    text x=(W / 2.0) y=(H / 2.0) text-anchor="middle" font-size="13" fill="#57606a" { "No reconciliation yet" }
                } @else {
                    text x=(L) y=(H - 8.0) font-size="11" fill="#57606a" { (when(Some(t0))) }
                    text x=(W - R) y=(H - 8.0) text-anchor="end" font-size="11" fill="#57606a" { (when(Some(t1))) }
                    @for s in series {
                        @let pts = s.points.iter().map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v))).collect::<Vec<_>>().join(" ");
                        polyline points=(pts) fill="none" stroke=(s.color) stroke-width="2" {}
                        @for (t, v) in &s.points {
                            circle cx=(format!("{:.1}", x(*t))) cy=(format!("{:.1}", y(*v))) r="2.5" fill=(s.color) {
                                title { (s.label) ": " (format_value(*v, unit)) " at " (when(Some(*t))) }
                            }
                        }
                    }
                }
            }
            figcaption.legend {
                @for s in series {
                    span { svg.swatch width="12" height="4" aria-hidden="true" { rect width="12" height="4" fill=(s.color) {} } (s.label) }
                }
            }
        }
    }
}

fn format_value(v: f64, unit: &str) -> String {
    if unit == "money" {
        money(v.max(0.0).round() as u64, None)
    } else {
        format!("{}", v.round() as i64)
    }
}

/// What the overview shows, computed from the application layer's answers.
pub struct Figures {
    /// Latest position per model.
    pub latest: Vec<ReconciliationResult>,
    /// Seats reclaimed and not restored, per model.
    pub realized_seats: BTreeMap<String, u64>,
    /// (time, model) of each reclaim still in effect, for the chart.
    pub reclaims: Vec<(EpochSeconds, String)>,
    /// Each model's history, oldest first.
    pub history: BTreeMap<String, Vec<ReconciliationResult>>,
}

impl Figures {
    fn unit_cost(&self, model: &str) -> u64 {
        self.latest
            .iter()
            .find(|r| r.model == model)
            .and_then(|r| r.position.unit_cost_minor)
            .unwrap_or(0)
    }

    /// Realized savings of a model, minor units.
    pub fn realized(&self, model: &str) -> u64 {
        self.realized_seats.get(model).copied().unwrap_or(0) * self.unit_cost(model)
    }
}

async fn figures(console: &Shared, session: &auth::Session) -> Result<Figures, AppError> {
    let engine = console.engine(&session.actor);
    let latest = engine.position(PositionQuery::default()).await?.results;
    let closed = engine
        .candidates_list(CandidatesQuery {
            state: Some("closed-complete".into()),
            all: true,
            ..CandidatesQuery::default()
        })
        .await?;
    let mut realized_seats = BTreeMap::new();
    let mut reclaims = Vec::new();
    for c in &closed.candidates {
        if let Some(r) = &c.reclaim
            && r.restored_at.is_none()
        {
            *realized_seats.entry(c.model.clone()).or_insert(0) += 1;
            reclaims.push((r.at, c.model.clone()));
        }
    }
    reclaims.sort();
    let mut history = BTreeMap::new();
    for r in &latest {
        let mut h = engine
            .position(PositionQuery {
                model: Some(r.model.clone()),
            })
            .await?
            .results;
        h.sort_by_key(|x| x.computed_at);
        history.insert(r.model.clone(), h);
    }
    Ok(Figures {
        latest,
        realized_seats,
        reclaims,
        history,
    })
}

fn charts(f: &Figures) -> Markup {
    // Totals at each reconciliation time (every model is reconciled together).
    let mut used: BTreeMap<EpochSeconds, f64> = BTreeMap::new();
    let mut owned: BTreeMap<EpochSeconds, f64> = BTreeMap::new();
    let mut potential: BTreeMap<EpochSeconds, f64> = BTreeMap::new();
    for h in f.history.values() {
        for r in h {
            *used.entry(r.computed_at).or_default() += r.position.rights_used as f64;
            *owned.entry(r.computed_at).or_default() +=
                r.position.rights_owned.unwrap_or(r.position.rights_used) as f64;
            *potential.entry(r.computed_at).or_default() +=
                r.position.potential_savings_minor as f64;
        }
    }
    let mut realized = Vec::new();
    let mut total = 0u64;
    for (at, model) in &f.reclaims {
        total += f.unit_cost(model);
        realized.push((*at, total as f64));
    }
    html! {
        h2 { "Over time" }
        (line_chart("Seats used against seats owned, all models", "seats", &[
            Series { label: "Owned", color: "#0b5cad", points: owned.into_iter().collect() },
            Series { label: "Used", color: "#b3261e", points: used.into_iter().collect() },
        ]))
        (line_chart("Potential and realized savings, all models", "money", &[
            Series { label: "Potential savings", color: "#9a6700", points: potential.into_iter().collect() },
            Series { label: "Realized savings (reclaimed, not restored)", color: "#1a7f37", points: realized },
        ]))
    }
}

/// `GET /`.
pub async fn page(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(notice): Query<Notice>,
) -> Response {
    let session = match auth::require(&console, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let f = match figures(&console, &session).await {
        Ok(f) => f,
        Err(e) => return error_page(&e, Some(&session)),
    };
    let currency = f.latest.iter().find_map(|r| r.position.currency.clone());
    let cur = currency.as_deref();
    let true_up: u64 = f.latest.iter().map(|r| r.position.true_up_cost_minor).sum();
    let potential: u64 = f
        .latest
        .iter()
        .map(|r| r.position.potential_savings_minor)
        .sum();
    let realized: u64 = f.latest.iter().map(|r| f.realized(&r.model)).sum();
    let not_compliant = f
        .latest
        .iter()
        .filter(|r| r.position.status == ComplianceStatus::NotCompliant)
        .count();
    let body = html! {
        h1 { "Overview" }
        (layout::notice(notice.notice.as_deref()))
        div.cards {
            div.card { div.label { "Software models" } div.big { (f.latest.len()) } }
            div.card { div.label { "Not compliant" } div.big.status-bad[not_compliant > 0] { (not_compliant) } }
            div.card { div.label { "True-up cost" } div.big { (money(true_up, cur)) } }
            div.card { div.label { "Potential savings" } div.big { (money(potential, cur)) } }
            div.card { div.label { "Realized savings" } div.big.status-ok { (money(realized, cur)) } }
        }
        h2 { "License position by software model" }
        @if f.latest.is_empty() {
            p { "No license position yet: run a download and a reconcile (Profiles page)." }
        } @else {
            div.table-wrap { table {
                caption.hint { "Latest reconciliation of each model" }
                thead { tr {
                    th scope="col" { "Model" } th.num scope="col" { "Owned" } th.num scope="col" { "Used" }
                    th.num scope="col" { "Available" } th.num scope="col" { "Inactive" } th scope="col" { "Compliance" }
                    th.num scope="col" { "True-up cost" } th.num scope="col" { "Potential savings" } th.num scope="col" { "Realized savings" }
                    th scope="col" { "Computed" }
                } }
                tbody {
                    @for r in &f.latest {
                        @let p = &r.position;
                        @let c = p.currency.as_deref();
                        tr {
                            th scope="row" { a href=(format!("/subscriptions?model={}", super::q(&r.model))) { (r.model) } }
                            td.num { (p.rights_owned.map_or("unlimited".to_string(), |o| o.to_string())) }
                            td.num { (p.rights_used) }
                            td.num { (p.rights_available.map_or("-".to_string(), |a| a.to_string())) }
                            td.num { (p.inactive) }
                            td { @if p.status == ComplianceStatus::Compliant { span.status-ok { (p.status.label()) } } @else { span.status-bad { (p.status.label()) } } }
                            td.num { (money(p.true_up_cost_minor, c)) }
                            td.num { (money(p.potential_savings_minor, c)) }
                            td.num { (money(f.realized(&r.model), c)) " (" (f.realized_seats.get(&r.model).copied().unwrap_or(0)) " seats)" }
                            td { (when(Some(r.computed_at))) }
                        }
                    }
                }
            } }
        }
        (charts(&f))
    };
    html_page(
        StatusCode::OK,
        layout::page("Overview", Some(&session), Some("/"), body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh install has no reconciliation yet: the chart says so (its extremes never
    /// subtracted), and a single point is drawn in the middle.
    #[test]
    fn a_chart_with_no_point_or_one_point_renders() {
        let empty = line_chart("Seats", "count", &[]).into_string();
        assert!(empty.contains("No reconciliation yet"), "{empty}");
        let none = Series {
            label: "Used",
            color: "#000",
            points: Vec::new(),
        };
        let empty = line_chart("Seats", "count", &[none]).into_string();
        assert!(empty.contains("No reconciliation yet"), "{empty}");
        let one = Series {
            label: "Used",
            color: "#000",
            points: vec![(1_800_000_000, 5.0)],
        };
        let drawn = line_chart("Seats", "count", &[one]).into_string();
        assert!(drawn.contains("<circle cx=\"386.0\""), "{drawn}");
    }
}
