//! Reconciliation: the arithmetic as a property test (owned - used = available; compliant
//! exactly when used <= owned or unlimited; excluded seats and repeated holders left out;
//! costs), unit costs (override first, rights-weighted average, entitlements out of term or
//! inactive not counted), the run over the store (license exclusions, inactive seats, results
//! kept with their time), and the CLI in-process (entitlements, exclusions, rules, position).

use proptest::prelude::*;
use sam_engine::model::{
    ComplianceStatus, DAY, Entitlement, ExclusionRule, ExclusionScope, ExclusionTarget,
    LicenseCostOverride, LicenseMetric, ProcessSet, Rights, SoftwareModel,
};
use sam_engine::pipeline::FixedClock;
use sam_engine::reconcile::{self, SeatFacts, compute_position, shares_by_profile, unit_costs};

use crate::reclaim::{Act, MODEL, NOW, put_seats, seat, store_with};

fn ent(id: &str, rights: Rights, cost: u64) -> Entitlement {
    Entitlement {
        id: id.into(),
        model: MODEL.into(),
        metric: LicenseMetric::UserSubscription,
        rights,
        unit_cost_minor: cost,
        currency: "EUR".into(),
        start: NOW - 10 * DAY,
        end: Some(NOW + 10 * DAY),
        active: true,
        note: None,
    }
}

fn rights() -> impl Strategy<Value = Rights> {
    prop_oneof![
        8 => (0u64..50).prop_map(Rights::Count),
        1 => Just(Rights::Unlimited),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_reconciliation_arithmetic_holds(
        ents in proptest::collection::vec((rights(), 0u64..10_000, any::<bool>(), -20i64..20), 0..5),
        seats in proptest::collection::vec((0u8..40, any::<bool>(), any::<bool>()), 0..80),
        cost_override in proptest::option::of(0u64..10_000),
    ) {
        let entitlements: Vec<Entitlement> = ents
            .iter()
            .enumerate()
            .map(|(i, (r, cost, active, end_days))| Entitlement {
                active: *active,
                end: Some(NOW + end_days * DAY),
                ..ent(&i.to_string(), *r, *cost)
            })
            .collect();
        let facts: Vec<SeatFacts> = seats
            .iter()
            .map(|(u, excluded, inactive)| SeatFacts {
                user: format!("u{u}"),
                profile: "p".into(),
                license_excluded: *excluded,
                inactive: *inactive,
            })
            .collect();
        let o = cost_override.map(|c| LicenseCostOverride {
            model: MODEL.into(),
            unit_cost_minor: c,
            currency: "EUR".into(),
        });
        let p = compute_position(&entitlements, o.as_ref(), &facts, NOW);

        let live: Vec<&Entitlement> = entitlements.iter().filter(|e| e.in_force(NOW)).collect();
        let unlimited = live.iter().any(|e| e.rights == Rights::Unlimited);
        let owned: u64 = live.iter().map(|e| match e.rights { Rights::Count(n) => n, Rights::Unlimited => 0 }).sum();
        let users: std::collections::BTreeSet<&str> = facts.iter().filter(|f| !f.license_excluded).map(|f| f.user.as_str()).collect();
        prop_assert_eq!(p.rights_used, users.len() as u64);
        // Issue 24: excluded counts holders, never more than hold the model; with the used
        // ones they are every distinct holder, however many seats each holds.
        let held: std::collections::BTreeSet<&str> = facts.iter().map(|f| f.user.as_str()).collect();
        prop_assert!(p.excluded <= held.len() as u64);
        prop_assert_eq!(p.rights_used + p.excluded, held.len() as u64);
        // used = active + inactive: the inactive are the used holders none of whose counted
        // seats shows activity.
        let active: std::collections::BTreeSet<&str> = facts
            .iter()
            .filter(|f| !f.license_excluded && !f.inactive)
            .map(|f| f.user.as_str())
            .collect();
        prop_assert_eq!(p.rights_used, active.len() as u64 + p.inactive);
        if unlimited {
            prop_assert_eq!(p.rights_owned, None);
            prop_assert_eq!(p.rights_available, None);
            prop_assert_eq!(p.unlicensed, 0);
            prop_assert_eq!(p.status, ComplianceStatus::Compliant);
        } else {
            let owned_p = p.rights_owned.unwrap();
            prop_assert_eq!(owned_p, owned);
            // owned - used = available
            prop_assert_eq!(owned_p as i64 - p.rights_used as i64, p.rights_available.unwrap());
            // compliant exactly when used <= owned
            prop_assert_eq!(p.status == ComplianceStatus::Compliant, p.rights_used <= owned_p);
            prop_assert_eq!(p.unlicensed, p.rights_used.saturating_sub(owned_p));
            let unit = p.unit_cost_minor.unwrap_or(0);
            prop_assert_eq!(p.true_up_cost_minor, p.unlicensed * unit);
            let avg = p.average_unit_cost_minor.unwrap_or(0);
            prop_assert_eq!(p.over_licensed_cost_minor, p.rights_available.unwrap().max(0) as u64 * avg);
        }
        prop_assert_eq!(p.potential_savings_minor, p.inactive * p.unit_cost_minor.unwrap_or(0));
        if let Some(c) = cost_override {
            prop_assert_eq!(p.unit_cost_minor, Some(c));
        } else {
            prop_assert_eq!(p.unit_cost_minor, p.average_unit_cost_minor);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Issue 24: over random tenants of several profiles with overlapping holders (a user
    /// holding the model through two or three profiles), exclusions and inactivity, the
    /// profiles' shares sum to the model's figures, each holder counts in exactly one
    /// profile, and every share keeps the position's rules: excluded <= held, held = used +
    /// excluded, used = active + inactive.
    #[test]
    fn the_profiles_shares_sum_to_the_models_figures(
        seats in proptest::collection::vec((0u8..30, 0u8..4, any::<bool>(), any::<bool>()), 0..90),
    ) {
        let facts: Vec<SeatFacts> = seats
            .iter()
            .map(|(u, profile, excluded, inactive)| SeatFacts {
                user: format!("u{u}"),
                profile: format!("profile-{profile}"),
                license_excluded: *excluded,
                inactive: *inactive,
            })
            .collect();
        let p = compute_position(&[], None, &facts, NOW);
        let shares = shares_by_profile(&facts);
        let sum = |f: fn(&sam_engine::model::ProfileCounts) -> u64| shares.values().map(f).sum::<u64>();
        prop_assert_eq!(sum(|c| c.used), p.rights_used);
        prop_assert_eq!(sum(|c| c.inactive), p.inactive);
        prop_assert_eq!(sum(|c| c.excluded), p.excluded);
        prop_assert_eq!(sum(|c| c.held), p.held());
        let holders: std::collections::BTreeSet<&str> = facts.iter().map(|f| f.user.as_str()).collect();
        prop_assert_eq!(sum(|c| c.held), holders.len() as u64);
        for (profile, c) in &shares {
            prop_assert!(c.excluded <= c.held, "{profile}: {c:?}");
            prop_assert_eq!(c.held, c.used + c.excluded, "{}", profile);
            prop_assert!(c.inactive <= c.used, "{profile}: {c:?}");
            // A share only counts holders who hold a seat through that profile.
            prop_assert!(facts.iter().any(|f| &f.profile == profile));
        }
        // The attribution does not depend on the order the seats were read in.
        let mut reversed = facts.clone();
        reversed.reverse();
        prop_assert_eq!(shares_by_profile(&reversed), shares);
    }
}

#[test]
fn unit_costs_use_the_override_else_the_rights_weighted_average_of_entitlements_in_force() {
    let ents = [
        ent("1", Rights::Count(10), 1_000),
        ent("2", Rights::Count(30), 2_000),
        // Out of its term and switched off: neither counts.
        Entitlement {
            end: Some(NOW - DAY),
            ..ent("3", Rights::Count(100), 9_999)
        },
        Entitlement {
            active: false,
            ..ent("4", Rights::Count(100), 9_999)
        },
    ];
    let c = unit_costs(&ents, None, NOW);
    assert_eq!(c.average_minor, Some(1_750));
    assert_eq!(c.unit_minor, Some(1_750));
    assert_eq!(c.currency.as_deref(), Some("EUR"));
    let o = LicenseCostOverride {
        model: MODEL.into(),
        unit_cost_minor: 2_500,
        currency: "EUR".into(),
    };
    let c = unit_costs(&ents, Some(&o), NOW);
    assert_eq!((c.average_minor, c.unit_minor), (Some(1_750), Some(2_500)));

    // 45 users on 40 rights: 5 short, priced at the override.
    let seats: Vec<SeatFacts> = (0..45)
        .map(|i| SeatFacts {
            user: format!("u{i}"),
            profile: "p".into(),
            license_excluded: false,
            inactive: i < 3,
        })
        .collect();
    let p = compute_position(&ents, Some(&o), &seats, NOW);
    assert_eq!(p.rights_owned, Some(40));
    assert_eq!(p.rights_available, Some(-5));
    assert_eq!(p.status, ComplianceStatus::NotCompliant);
    assert_eq!(p.true_up_cost_minor, 5 * 2_500);
    assert_eq!(p.total_spend_minor, 10 * 1_000 + 30 * 2_000);
    assert_eq!(p.potential_savings_minor, 3 * 2_500);
    // A mixed currency is counted for rights, not for cost, and said so.
    let mut usd = ent("5", Rights::Count(5), 100);
    usd.currency = "USD".into();
    let p = compute_position(&[ents[0].clone(), usd], None, &seats, NOW);
    assert_eq!(p.rights_owned, Some(15));
    assert_eq!(p.average_unit_cost_minor, Some(1_000));
    assert_eq!(p.warnings.len(), 1);
}

#[test]
fn the_run_leaves_license_exclusions_out_counts_inactive_seats_and_keeps_each_result() {
    let (_dir, store) = store_with("fake", ProcessSet::default(), &[]);
    put_seats(
        &store,
        &[
            seat("a", Act::Recent),
            seat("b", Act::Old),
            seat("c", Act::None),
            seat("d", Act::Unknown),
            seat("bot", Act::Old),
        ],
    );
    store
        .write(|tx| {
            tx.put_model(&SoftwareModel {
                id: MODEL.into(),
                publisher: "Acme".into(),
                product: "Widget".into(),
                edition: None,
                auto_created: true,
                created_at: NOW,
            })?;
            tx.put_entitlement(&ent("1", Rights::Count(3), 1_000))?;
            tx.put_exclusion(&ExclusionRule {
                id: "1".into(),
                target: ExclusionTarget::User("bot@example.com".into()),
                scope: ExclusionScope::Reconciliation,
                active: true,
                note: None,
                created_at: NOW,
            })?;
            // A reclamation-only exclusion does not change the count.
            tx.put_exclusion(&ExclusionRule {
                id: "2".into(),
                target: ExclusionTarget::User("a".into()),
                scope: ExclusionScope::Reclamation,
                active: true,
                note: None,
                created_at: NOW,
            })
        })
        .unwrap();
    let clock = FixedClock::new(NOW);
    let results = reconcile::run(&store, &clock).unwrap();
    assert_eq!(results.len(), 1);
    let p = &results[0].position;
    assert_eq!(p.rights_used, 4);
    assert_eq!(p.excluded, 1);
    assert_eq!(p.inactive, 2, "b (old) and c (none); d is unknown");
    assert_eq!(p.rights_available, Some(-1));
    assert_eq!(p.status, ComplianceStatus::NotCompliant);
    assert_eq!(p.potential_savings_minor, 2_000);
    clock.advance(DAY);
    reconcile::run(&store, &clock).unwrap();
    let history = store.read().unwrap().reconciliation_history(MODEL).unwrap();
    assert_eq!(
        history.iter().map(|r| r.computed_at).collect::<Vec<_>>(),
        [NOW, NOW + DAY]
    );
}

/// Issue 24's two profiles on one site: the same ten users hold the model through both
/// profiles (overlapping groups), four of them excluded from license calculations. Each
/// holder counts once: used 6, excluded 4 (not 8 seats), inactive among the used only.
#[test]
fn two_profiles_on_one_site_count_each_holder_once_and_excluded_never_exceeds_held() {
    let (_dir, store) = store_with("fake", ProcessSet::default(), &[]);
    let users: Vec<String> = (0..10).map(|i| format!("u{i}")).collect();
    put_seats(
        &store,
        &users
            .iter()
            .enumerate()
            .map(|(i, u)| seat(u, if i % 2 == 0 { Act::Recent } else { Act::Old }))
            .collect::<Vec<_>>(),
    );
    store
        .write(|tx| {
            // Profile q: the same site (spoke), the same holders and activity.
            let mut q = tx.profile("p")?.unwrap();
            let mut connection = tx.connection(&q.connection)?.unwrap();
            q.name = "q".into();
            q.display_name = "q".into();
            q.connection = "fake.subscription_activity_reclaim.q".into();
            connection.alias = q.connection.clone();
            tx.create_profile(&q, &connection, &[])?;
            for u in &users {
                let mut sub = tx.subscription("p", u, "widget")?.unwrap();
                sub.profile = "q".into();
                tx.put_subscription(&sub)?;
                let mut act = tx.activity("p", u)?.unwrap();
                act.profile = "q".into();
                tx.put_activity(&act)?;
            }
            for (i, u) in users.iter().take(4).enumerate() {
                tx.put_exclusion(&ExclusionRule {
                    id: format!("x{i}"),
                    target: ExclusionTarget::User(format!("{u}@example.com")),
                    scope: ExclusionScope::Reconciliation,
                    active: true,
                    note: None,
                    created_at: NOW,
                })?;
            }
            tx.put_entitlement(&ent("1", Rights::Count(8), 1_000))
        })
        .unwrap();
    let results = reconcile::run(&store, &FixedClock::new(NOW)).unwrap();
    let p = &results.iter().find(|r| r.model == MODEL).unwrap().position;
    assert_eq!(p.rights_used, 6, "{p:?}");
    assert_eq!(p.excluded, 4, "holders, not seats: {p:?}");
    assert!(p.excluded <= 10);
    // u4..u9 used; the odd ones (u5, u7, u9) inactive.
    assert_eq!(p.inactive, 3, "{p:?}");
    assert_eq!(p.rights_available, Some(2));
    // Each holder counts in one profile (p, the first by name), so the shares sum to the
    // model's figures and q, holding the same people, adds none.
    let shares: Vec<_> = store
        .read()
        .unwrap()
        .profile_shares()
        .unwrap()
        .into_iter()
        .filter(|s| s.model == MODEL)
        .collect();
    assert_eq!(shares.len(), 1, "{shares:?}");
    assert_eq!(shares[0].profile, "p");
    let c = shares[0].counts;
    assert_eq!((c.held, c.used, c.inactive, c.excluded), (10, 6, 3, 4));
}

fn sam(db: &std::path::Path, args: &[&str]) -> Result<String, sam_engine::cli::CliError> {
    use clap::Parser;
    let dir = db.parent().unwrap();
    let mut argv = vec![
        "sam".to_string(),
        "--no-cache".into(),
        "--db".into(),
        db.display().to_string(),
        "--key-file".into(),
        dir.join("key").display().to_string(),
        "--plugins-dir".into(),
        dir.join("plugins").display().to_string(),
    ];
    argv.extend(args.iter().map(|a| a.to_string()));
    let cli = sam_engine::cli::Cli::try_parse_from(argv).expect("arguments parse");
    let mut out = Vec::new();
    sam_engine::cli::run(cli, &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

#[test]
fn the_cli_records_entitlements_exclusions_and_rules_and_shows_the_position() {
    let (dir, store) = store_with("fake", ProcessSet::default(), &[]);
    put_seats(&store, &[seat("a", Act::Recent), seat("b", Act::Old)]);
    store
        .write(|tx| {
            tx.put_model(&SoftwareModel {
                id: MODEL.into(),
                publisher: "Acme".into(),
                product: "Widget".into(),
                edition: None,
                auto_created: true,
                created_at: NOW,
            })
        })
        .unwrap();
    let db = store.path().to_path_buf();
    drop(store);
    let _ = &dir;

    let out = sam(
        &db,
        &[
            "entitlements",
            "add",
            MODEL,
            "--rights",
            "5",
            "--unit-cost",
            "12.50",
            "--currency",
            "eur",
            "--start",
            "2020-01-01",
        ],
    )
    .unwrap();
    assert!(
        out.contains("entitlement 1 added: 5 of acme/widget at 12.50 EUR"),
        "{out}"
    );
    sam(
        &db,
        &["entitlements", "add", MODEL, "--unlimited", "--inactive"],
    )
    .unwrap();
    let list = sam(&db, &["entitlements", "list", "--json"]).unwrap();
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[1]["rights"], "unlimited");
    let err = sam(&db, &["entitlements", "add", "no/such", "--rights", "1"]).unwrap_err();
    assert!(err.to_string().contains("no/such"), "{err}");
    let err = sam(
        &db,
        &[
            "entitlements",
            "add",
            MODEL,
            "--rights",
            "1",
            "--unit-cost",
            "1.234",
        ],
    )
    .unwrap_err();
    assert!(err.to_string().contains("--unit-cost"), "{err}");
    sam(
        &db,
        &[
            "entitlements",
            "cost",
            MODEL,
            "--unit-cost",
            "20",
            "--currency",
            "EUR",
        ],
    )
    .unwrap();

    let out = sam(
        &db,
        &[
            "exclusions",
            "add",
            "--user",
            "b@example.com",
            "--scope",
            "license",
            "--note",
            "VIP",
        ],
    )
    .unwrap();
    assert!(out.contains("exclusion 1 added"), "{out}");
    let out = sam(&db, &["exclusions", "list"]).unwrap();
    assert!(
        out.contains("user b@example.com") && out.contains("license"),
        "{out}"
    );
    sam(&db, &["exclusions", "set", "1", "--active", "false"]).unwrap();
    assert!(sam(&db, &["exclusions", "remove", "9"]).is_err());

    let out = sam(
        &db,
        &[
            "rules",
            "set",
            MODEL,
            "--threshold-days",
            "30",
            "--notify",
            "true",
            "--days-before-auto",
            "5",
        ],
    )
    .unwrap();
    assert!(out.contains("30 days") && out.contains("5 days"), "{out}");
    let rules: serde_json::Value =
        serde_json::from_str(&sam(&db, &["rules", "show", "--json"]).unwrap()).unwrap();
    assert_eq!(rules[0]["notify_user"], true);

    let out = sam(&db, &["run", "reconcile"]).unwrap();
    assert!(
        out.contains("acme/widget") && out.contains("Compliant"),
        "{out}"
    );
    // A manual reconcile is a job result like a scheduled one (issue 24), and it is among
    // the profile's reconcile job's recent results (a reconcile computes every model).
    {
        let store = sam_engine::store::Store::open_read_only(&db).unwrap();
        let jobs = store.read().unwrap().job_results().unwrap();
        assert!(
            jobs.iter()
                .any(|j| j.process == sam_engine::model::ProcessKind::Reconcile
                    && j.trigger == sam_engine::model::JobTrigger::Manual),
            "{jobs:?}"
        );
    }
    {
        let store = sam_engine::store::Store::open(&db).unwrap();
        let profile = store.read().unwrap().profile("p").unwrap().unwrap();
        store
            .write(|tx| {
                for job in sam_engine::daemon::schedule::jobs_for(&profile, NOW) {
                    tx.put_scheduled_job(&job)?;
                }
                Ok::<_, sam_engine::store::WriteError>(())
            })
            .unwrap();
    }
    let listed: serde_json::Value =
        serde_json::from_str(&sam(&db, &["jobs", "list", "--profile", "p", "--json"]).unwrap())
            .unwrap();
    let reconcile_job = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["process"] == "reconcile")
        .unwrap_or_else(|| panic!("{listed}"))["name"]
        .as_str()
        .unwrap()
        .to_string();
    let shown: serde_json::Value =
        serde_json::from_str(&sam(&db, &["jobs", "show", &reconcile_job, "--json"]).unwrap())
            .unwrap();
    assert!(
        shown["recent_results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["trigger"] == "manual" && r["process"] == "reconcile"),
        "{shown}"
    );
    let json = sam(&db, &["position", "--json"]).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let p = &doc[0]["position"];
    assert_eq!(p["rights_owned"], 5);
    assert_eq!(p["rights_used"], 2);
    assert_eq!(p["rights_available"], 3);
    assert_eq!(p["unit_cost_minor"], 2000);
    assert_eq!(p["status"], "compliant");
    let out = sam(&db, &["candidates", "list", "--all"]).unwrap();
    assert!(out.contains("0 candidates"), "{out}");
    let err = sam(&db, &["candidates", "approve", "7"]).unwrap_err();
    assert!(err.to_string().contains("no removal candidate 7"), "{err}");
    let err = sam(&db, &["undo", "7"]).unwrap_err();
    assert!(err.to_string().contains("7"), "{err}");
}
