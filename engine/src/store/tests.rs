//! Unit tests of the store: the lock, the schema version (a pinned v1-layout file opens, a
//! newer one is refused), the migrations, undecodable bytes, model assignment, and the
//! download staging log and its merge.

use super::*;
use crate::model::*;

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sam.redb");
    (dir, path)
}

fn sub(profile: &str, user: &str, ident: &str) -> Subscription {
    Subscription {
        profile: profile.into(),
        external_user_id: user.into(),
        identifier: ident.into(),
        model: None,
        display_name: Some(format!("User {user}")),
        email: None,
        account_type: AccountType::Human,
        granted_by: vec!["g1".into()],
        granted_at: Some(1_700_000_000),
        active: true,
        first_seen_at: 1_700_000_000,
        ended_at: None,
    }
}

#[test]
fn a_second_open_is_refused_naming_the_holder() {
    let (_dir, path) = temp();
    let _first = Store::open(&path).unwrap();
    let err = Store::open(&path).unwrap_err();
    match &err {
        OpenError::InUse { holder, .. } => assert_eq!(holder.pid, std::process::id()),
        other => panic!("expected InUse, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("is in use by process"), "{text}");
}

#[test]
fn the_lock_is_released_on_drop() {
    let (_dir, path) = temp();
    drop(Store::open(&path).unwrap());
    Store::open(&path).unwrap();
}

#[test]
fn a_new_database_gets_the_current_schema_version() {
    let (_dir, path) = temp();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::CURRENT_VERSION);
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let (_dir, path) = temp();
    {
        let db = Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(META)
            .unwrap()
            .insert(schema::VERSION_KEY, 99u64)
            .unwrap();
        tx.commit().unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, OpenError::NewerSchema { found: 99, supported, .. } if supported == schema::CURRENT_VERSION),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade sam"), "{err}");
    let db = Database::create(&path).unwrap();
    let tx = db.begin_read().unwrap();
    assert!(
        tx.open_table(SUBSCRIPTIONS).is_err(),
        "no table was created"
    );
}

/// The v1 layout, frozen: these structs and bytes must keep decoding as the current model.
mod v1 {
    use serde::Serialize;

    #[derive(Serialize)]
    pub enum AccountType {
        Human,
    }

    #[derive(Serialize)]
    pub struct Subscription {
        pub profile: String,
        pub external_user_id: String,
        pub identifier: String,
        pub model: Option<String>,
        pub display_name: Option<String>,
        pub email: Option<String>,
        pub account_type: AccountType,
        pub granted_by: Vec<String>,
        pub granted_at: Option<i64>,
        pub active: bool,
        pub first_seen_at: i64,
        pub ended_at: Option<i64>,
    }
}

#[test]
fn a_v1_layout_file_opens_and_reads() {
    let (_dir, path) = temp();
    let record = v1::Subscription {
        profile: "acme".into(),
        external_user_id: "u1".into(),
        identifier: "confluence".into(),
        model: Some("atlassian/confluence".into()),
        display_name: Some("Ada".into()),
        email: None,
        account_type: v1::AccountType::Human,
        granted_by: vec!["g1".into()],
        granted_at: Some(5),
        active: true,
        first_seen_at: 7,
        ended_at: None,
    };
    let bytes = postcard::to_allocvec(&record).unwrap();
    // Pin the wire format of the first released layout.
    assert_eq!(
        hex::encode(&bytes),
        concat!(
            "0461636d650275310a636f6e666c75656e6365011461746c61737369616e2f",
            "636f6e666c75656e63650103416461000001026731010a010e00"
        )
    );
    {
        let db = Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(META)
            .unwrap()
            .insert(schema::VERSION_KEY, 1u64)
            .unwrap();
        tx.open_table(SUBSCRIPTIONS)
            .unwrap()
            .insert("acme\0u1\0confluence", bytes.as_slice())
            .unwrap();
        tx.commit().unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::CURRENT_VERSION);
    let read = store.read().unwrap();
    let s = read
        .subscription("acme", "u1", "confluence")
        .unwrap()
        .unwrap();
    assert_eq!(s.display_name.as_deref(), Some("Ada"));
    assert_eq!(s.model.as_deref(), Some("atlassian/confluence"));
    assert_eq!(s.account_type, AccountType::Human);
    assert_eq!(s.first_seen_at, 7);
}

#[test]
fn a_migration_runs_in_order_and_a_missing_step_is_an_error() {
    let (_dir, path) = temp();
    let db = Database::create(&path).unwrap();
    {
        let tx = db.begin_write().unwrap();
        tx.open_table(META)
            .unwrap()
            .insert(schema::VERSION_KEY, 1u64)
            .unwrap();
        tx.commit().unwrap();
    }
    fn step(tx: &redb::WriteTransaction) -> Result<(), WriteError> {
        tx.open_table(META)?.insert("migrated", 1u64)?;
        Ok(())
    }
    let chain = [schema::Migration {
        from: 1,
        description: "test step",
        run: step,
    }];
    let err = schema::migrate_with(&db, &path, 3, &chain).unwrap_err();
    assert!(
        matches!(err, OpenError::Migration { from: 2, .. }),
        "{err:?}"
    );
    // The failed attempt changed nothing.
    let tx = db.begin_read().unwrap();
    assert!(
        tx.open_table(META)
            .unwrap()
            .get("migrated")
            .unwrap()
            .is_none()
    );
    drop(tx);
    schema::migrate_with(&db, &path, 2, &chain).unwrap();
    let tx = db.begin_read().unwrap();
    let meta = tx.open_table(META).unwrap();
    assert_eq!(meta.get("migrated").unwrap().unwrap().value(), 1);
    assert_eq!(meta.get(schema::VERSION_KEY).unwrap().unwrap().value(), 2);
}

#[test]
fn undecodable_bytes_are_an_error_naming_table_and_key() {
    let (_dir, path) = temp();
    {
        let store = Store::open(&path).unwrap();
        store
            .write(|tx| tx.put_subscription(&sub("acme", "u1", "x")))
            .unwrap();
    }
    {
        let db = Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(SUBSCRIPTIONS)
            .unwrap()
            .insert("acme\0u1\0x", [0xffu8, 0xff, 0xff].as_slice())
            .unwrap();
        tx.commit().unwrap();
    }
    let store = Store::open(&path).unwrap();
    let err = store.read().unwrap().subscriptions("acme").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("subscriptions") && text.contains("acme/u1/x"),
        "{text}"
    );
}

#[test]
fn keys_with_nul_are_refused() {
    let (_dir, path) = temp();
    let store = Store::open(&path).unwrap();
    let err = store
        .write(|tx| tx.put_subscription(&sub("acme", "u\0x", "x")))
        .unwrap_err();
    assert!(matches!(err, WriteError::InvalidKey(_)));
}

#[test]
fn assigning_a_model_updates_every_subscription_with_the_identifier() {
    let (_dir, path) = temp();
    let store = Store::open(&path).unwrap();
    store
        .write(|tx| {
            for u in 0..1200 {
                tx.put_subscription(&sub("acme", &format!("u{u:04}"), "PLAN-X"))?;
            }
            tx.put_subscription(&sub("acme", "z", "other"))?;
            tx.put_identifier(&SubscriptionIdentifier {
                spoke_id: "s".into(),
                identifier: "PLAN-X".into(),
                model: None,
                profiles: vec!["acme".into()],
                subscription_count: 1200,
            })?;
            tx.put_model(&SoftwareModel {
                id: "acme/x".into(),
                publisher: "Acme".into(),
                product: "X".into(),
                edition: None,
                auto_created: false,
                created_at: 0,
            })
        })
        .unwrap();
    let err = store
        .write(|tx| tx.assign_model("s", "PLAN-X", "nope"))
        .unwrap_err();
    assert!(matches!(err, WriteError::NotFound { .. }));
    let n = store
        .write(|tx| tx.assign_model("s", "PLAN-X", "acme/x"))
        .unwrap();
    assert_eq!(n, 1200);
    let read = store.read().unwrap();
    let subs = read.subscriptions("acme").unwrap();
    assert!(
        subs.iter()
            .filter(|s| s.identifier == "PLAN-X")
            .all(|s| s.model.as_deref() == Some("acme/x"))
    );
    assert_eq!(
        read.subscription("acme", "z", "other")
            .unwrap()
            .unwrap()
            .model,
        None
    );
    assert!(read.identifiers().unwrap()[0].recognized());
}

fn staged(user: &str, ident: &str, groups: &[&str]) -> StagedSubscription {
    let s = sub("acme", user, ident);
    StagedSubscription {
        external_user_id: s.external_user_id,
        identifier: s.identifier,
        model: s.model,
        display_name: s.display_name,
        email: s.email,
        account_type: s.account_type,
        granted_by: groups.iter().map(|g| g.to_string()).collect(),
        granted_at: s.granted_at,
        staged_at: 99,
    }
}

#[test]
fn staging_keeps_the_last_facts_and_the_union_of_the_groups() {
    let mut run = StagedRun::new("acme");
    run.stage(staged("u1", "x", &["g2"])).unwrap();
    let mut later = staged("u1", "x", &["g1", "g3"]);
    later.email = Some("u1@example.com".into());
    later.staged_at = 120;
    run.stage(later).unwrap();
    run.stage(staged("u0", "x", &["g1"])).unwrap();
    assert_eq!(run.len(), 2);
    let u1 = run.get(&staged_key("u1", "x")).unwrap().unwrap();
    assert_eq!(u1.granted_by, ["g1", "g2", "g3"]);
    assert_eq!(u1.email.as_deref(), Some("u1@example.com"));
    assert_eq!(u1.first_seen_at, 99, "first staged");
    assert_eq!(
        (u1.profile.as_str(), u1.active, u1.ended_at),
        ("acme", true, None)
    );
    let order: Vec<String> = run.iter().map(|e| e.unwrap().external_user_id).collect();
    assert_eq!(order, ["u0", "u1"], "key order");
    assert!(run.get(&staged_key("u9", "x")).unwrap().is_none());

    let before = run.clone();
    let mut again = staged("u1", "x", &["g4", "g3"]);
    again.email = Some("changed@example.com".into());
    assert_eq!(
        run.stage(again).unwrap(),
        Some(RepeatedGrant {
            subscription: "u1/x".into(),
            group: "g3".into()
        }),
        "a group staged twice for one subscription is a repeat"
    );
    assert_eq!(run, before, "a repeat stages nothing");
}

#[test]
fn merging_a_staged_run_creates_updates_ends_and_spares_other_profiles() {
    let (_dir, path) = temp();
    let store = Store::open(&path).unwrap();
    store
        .write(|tx| {
            // 1100 existing subscriptions (u0000..u2198, even numbers): run 7 stages every
            // other one of them over two pages, plus 300 new users between and after them.
            let mut pages: [Vec<StagedSubscription>; 2] = Default::default();
            for u in 0..1100 {
                let user = format!("u{:04}", u * 2);
                tx.put_subscription(&sub("acme", &user, "x"))?;
                if u % 2 == 0 {
                    // u0000 lost its group during the run.
                    let groups: &[&str] = if u == 0 { &[] } else { &["g1"] };
                    pages[usize::from(u >= 550)].push(staged(&user, "x", groups));
                }
            }
            for u in 0..300 {
                pages[1].push(staged(&format!("u{:04}", u * 8 + 1), "x", &["g1"]));
            }
            for (page, entries) in pages.iter().enumerate() {
                tx.append_staged("acme", 7, page as u64, entries)?;
            }
            // An older run's log does not count: u0002 is still ended.
            tx.append_staged("acme", 6, 0, &[staged("u0002", "x", &["g1"])])?;
            // Another profile's seat is left alone.
            tx.put_subscription(&sub("acme2", "u0002", "x"))?;
            tx.put_identifier(&SubscriptionIdentifier {
                spoke_id: "s".into(),
                identifier: "x".into(),
                model: None,
                profiles: vec!["acme".into()],
                subscription_count: 1100,
            })
        })
        .unwrap();
    let run = store.read().unwrap().staged_run("acme", 7).unwrap();
    assert_eq!(run.len(), 850);
    let merged = store
        .write(|tx| {
            let merged = tx.merge_staged_run("s", &run, 99)?;
            tx.clear_staging("acme")?;
            Ok::<_, WriteError>(merged)
        })
        .unwrap();
    let mut left = 0;
    store
        .read()
        .unwrap()
        .for_each_staged("acme", 7, |_| {
            left += 1;
            Ok::<_, ReadError>(())
        })
        .unwrap();
    assert_eq!(left, 0, "the log is cleared");
    assert_eq!(merged.ended, 550);
    assert_eq!(merged.upserted, 301, "300 new, and u0000's groups");
    let read = store.read().unwrap();
    assert_eq!(read.subscription_counts("acme").unwrap(), (850, 550));
    assert_eq!(read.subscription_counts("acme2").unwrap(), (1, 0));
    assert_eq!(read.identifiers().unwrap()[0].subscription_count, 850);
    let ended = read.subscription("acme", "u0002", "x").unwrap().unwrap();
    assert_eq!((ended.active, ended.ended_at), (false, Some(99)));
    let kept = read.subscription("acme", "u0004", "x").unwrap().unwrap();
    assert_eq!((kept.active, kept.first_seen_at), (true, 1_700_000_000));
    let new = read.subscription("acme", "u0001", "x").unwrap().unwrap();
    assert_eq!((new.active, new.first_seen_at), (true, 99));
    let regrouped = read.subscription("acme", "u0000", "x").unwrap().unwrap();
    assert!(regrouped.granted_by.is_empty());
    let holders = read.active_holders_after("acme", None, 4).unwrap();
    assert_eq!(holders, ["u0000", "u0001", "u0004", "u0008"]);

    // Merging the same run again changes nothing; an ended seat staged again is active again,
    // counted once more, and keeps when it was first seen.
    let again = store
        .write(|tx| tx.merge_staged_run("s", &run, 100))
        .unwrap();
    assert_eq!(again, MergeOutcome::default());
    let mut back = run.clone();
    back.stage(staged("u0002", "x", &["g1"])).unwrap();
    let merged = store
        .write(|tx| tx.merge_staged_run("s", &back, 101))
        .unwrap();
    assert_eq!(
        merged,
        MergeOutcome {
            upserted: 1,
            ended: 0
        }
    );
    let read = store.read().unwrap();
    let s = read.subscription("acme", "u0002", "x").unwrap().unwrap();
    assert_eq!(
        (s.active, s.ended_at, s.first_seen_at),
        (true, None, 1_700_000_000)
    );
    assert_eq!(read.identifiers().unwrap()[0].subscription_count, 851);
}

#[test]
fn sequences_and_the_audit_log_are_ordered() {
    let (_dir, path) = temp();
    let store = Store::open(&path).unwrap();
    store
        .write(|tx| {
            assert_eq!(tx.next_seq("job")?, 1);
            assert_eq!(tx.next_seq("job")?, 2);
            tx.audit(1, None, AuditAction::ProfileCreated, "a", None)?;
            tx.audit(2, Some("p"), AuditAction::RunCompleted, "b", Some(2))?;
            Ok::<_, WriteError>(())
        })
        .unwrap();
    let log = store.read().unwrap().audit_log().unwrap();
    assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(log[1].detail, "b");
}

#[test]
fn version_1_scheduled_jobs_migrate_to_cron_schedules() {
    let (_dir, path) = temp();
    {
        let db = Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(META)
            .unwrap()
            .insert(schema::VERSION_KEY, 1u64)
            .unwrap();
        {
            let mut jobs = tx.open_table(SCHEDULED_JOBS).unwrap();
            for (name, every) in [("daily", 86_400u64), ("weekly", 604_800)] {
                let old = ScheduledJobV1 {
                    name: name.into(),
                    profile: "p".into(),
                    process: ProcessKind::DownloadSubscriptions,
                    every_seconds: every,
                    next_run: 42,
                    active: true,
                };
                let bytes = postcard::to_allocvec(&old).unwrap();
                jobs.insert(name, bytes.as_slice()).unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::CURRENT_VERSION);
    let read = store.read().unwrap();
    let daily = read.scheduled_job("daily").unwrap().unwrap();
    assert_eq!(daily.schedule, crate::daemon::schedule::DEFAULT_DAILY);
    assert_eq!(daily.next_run, 42);
    let weekly = read.scheduled_job("weekly").unwrap().unwrap();
    assert_eq!(weekly.schedule, crate::daemon::schedule::DEFAULT_WEEKLY);
}

#[test]
fn subscriptions_stream_joined_with_their_holders_activity() {
    let (_dir, path) = temp();
    let store = Store::open(&path).unwrap();
    let activity = |profile: &str, user: &str, at: i64| UserActivityRecord {
        profile: profile.into(),
        external_user_id: user.into(),
        last_activity: Some(at),
        source: None,
        state: ActivityState::Seen,
        kind: None,
        checked_at: None,
    };
    store
        .write(|tx| {
            // "ab" sorts before "abc", and "abc" has two identifiers; "b" has no record; "zz"
            // has a record but no seat; another profile's rows never join.
            for s in [
                sub("p", "ab", "x"),
                sub("p", "abc", "x"),
                sub("p", "abc", "y"),
                sub("p", "b", "x"),
                sub("q", "b", "x"),
            ] {
                tx.put_subscription(&s)?;
            }
            for a in [
                activity("p", "a", 1),
                activity("p", "ab", 2),
                activity("p", "abc", 3),
                activity("p", "zz", 4),
                activity("q", "b", 5),
            ] {
                tx.put_activity(&a)?;
            }
            Ok::<_, WriteError>(())
        })
        .unwrap();
    let read = store.read().unwrap();
    let mut joined = Vec::new();
    read.for_each_subscription_with_activity("p", |s, a| {
        joined.push((
            s.external_user_id,
            s.identifier,
            a.and_then(|a| a.last_activity),
        ));
    })
    .unwrap();
    let expect = |u: &str, i: &str, at: Option<i64>| (u.to_string(), i.to_string(), at);
    let wanted = vec![
        expect("ab", "x", Some(2)),
        expect("abc", "x", Some(3)),
        expect("abc", "y", Some(3)),
        expect("b", "x", None),
    ];
    assert_eq!(joined, wanted);
    // The in-place join (borrowed rows, joined on the keys' user part) pairs the same rows.
    let mut in_place = Vec::new();
    read.for_each_subscription_row_with_activity("p", |row, a| {
        assert_eq!(row.full()?.external_user_id, row.brief.external_user_id);
        in_place.push((
            row.brief.external_user_id.to_string(),
            row.brief.identifier.to_string(),
            a.and_then(|a| a.last_activity),
        ));
        Ok(())
    })
    .unwrap();
    assert_eq!(in_place, wanted);
}

#[test]
fn a_deferred_commit_is_visible_at_once_and_durable_after_close() {
    let (_dir, path) = temp();
    {
        let store = Store::open(&path).unwrap();
        store
            .write_deferred(false, |tx| tx.put_subscription(&sub("p", "u1", "x")))
            .unwrap();
        let read = store.read().unwrap();
        assert!(read.subscription("p", "u1", "x").unwrap().is_some());
    }
    // Closing the store made the non-durable commit durable.
    let store = Store::open(&path).unwrap();
    let read = store.read().unwrap();
    assert!(read.subscription("p", "u1", "x").unwrap().is_some());
}

/// What `profile`'s download run `run` has staged, decoded, in key order.
fn staged_of(store: &Store, profile: &str, run: u64) -> Vec<Subscription> {
    let staged = store.read().unwrap().staged_run(profile, run).unwrap();
    staged.iter().map(Result::unwrap).collect()
}

#[test]
fn version_2_seen_markers_migrate_through_the_seen_log_to_the_staging_log() {
    let (_dir, path) = temp();
    {
        // A version-2 file with seen-markers of run 4 (two groups for u1) and run 3, beside
        // the subscriptions those runs upserted.
        let db = Database::create(&path).unwrap();
        schema::migrate_with(&db, &path, 2, &schema::MIGRATIONS[..1]).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut old = tx.open_table(SUBSCRIPTION_SEEN_V2).unwrap();
            let mut subs = tx.open_table(SUBSCRIPTIONS).unwrap();
            for (user, run, groups) in [
                ("u1", 4u64, vec!["g1", "g2"]),
                ("u2", 4, vec!["g1"]),
                ("u3", 3, vec!["g1"]),
            ] {
                let marker = SubscriptionSeen {
                    run,
                    granted_by: groups.into_iter().map(String::from).collect(),
                };
                let bytes = postcard::to_allocvec(&marker).unwrap();
                let key = format!("acme\0{user}\0x");
                old.insert(key.as_str(), bytes.as_slice()).unwrap();
                let bytes = postcard::to_allocvec(&sub("acme", user, "x")).unwrap();
                subs.insert(key.as_str(), bytes.as_slice()).unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::CURRENT_VERSION);
    let run4 = staged_of(&store, "acme", 4);
    assert_eq!(run4.len(), 2);
    let mut u1 = sub("acme", "u1", "x");
    u1.granted_by = vec!["g1".into(), "g2".into()];
    assert_eq!(run4, [u1, sub("acme", "u2", "x")]);
    assert_eq!(staged_of(&store, "acme", 3).len(), 1);
    // The old tables are gone.
    let read = store.read().unwrap();
    let names: Vec<String> = read
        .tx
        .as_ref()
        .unwrap()
        .list_tables()
        .unwrap()
        .map(|t| redb::TableHandle::name(&t).to_string())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n == "subscription_seen" || n == "download_seen_log")
    );
}

#[test]
fn version_3_seen_log_rows_become_staging_rows_with_the_subscriptions_facts() {
    let (_dir, path) = temp();
    {
        // A version-3 file: run 9 of `acme` logged two pages; u2's subscription was deleted
        // since (its entry is dropped), u1 was reported by g1 on page 0 and g2 on page 1.
        let db = Database::create(&path).unwrap();
        schema::migrate_with(&db, &path, 3, &schema::MIGRATIONS[..2]).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut subs = tx.open_table(SUBSCRIPTIONS).unwrap();
            let mut u1 = sub("acme", "u1", "x");
            u1.email = Some("u1@example.com".into());
            let bytes = postcard::to_allocvec(&u1).unwrap();
            subs.insert("acme\0u1\0x", bytes.as_slice()).unwrap();
            let mut log = tx.open_table(SEEN_LOG_V3).unwrap();
            let entry = |user: &str, group: &str| SeenEntry {
                external_user_id: user.into(),
                identifier: "x".into(),
                granted_by: vec![group.into()],
            };
            let pages = [
                vec![entry("u1", "g1"), entry("u2", "g1")],
                vec![entry("u1", "g2")],
            ];
            for (page, entries) in pages.iter().enumerate() {
                let bytes = postcard::to_allocvec(entries).unwrap();
                let key = format!("acme\0{:020}\0{page:020}", 9);
                log.insert(key.as_str(), bytes.as_slice()).unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::CURRENT_VERSION);
    let run9 = staged_of(&store, "acme", 9);
    let mut expected = sub("acme", "u1", "x");
    expected.granted_by = vec!["g1".into(), "g2".into()];
    expected.email = Some("u1@example.com".into());
    assert_eq!(
        run9,
        [expected],
        "the subscription's facts, the log's groups"
    );
}
