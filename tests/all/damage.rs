//! Local state that survives damage (issue 18): a corpus of damaged databases made from one
//! small real database, the same bytes on every run (fixed data and clock, a seeded
//! generator for the damage), so a failure reproduces (truncations, zero length, bit flips at many offsets, a directory,
//! random bytes) run through every read command and a write command in-process, and a few
//! through the real binary (no exit 101, no backtrace, one line of error, the file's bytes
//! unchanged); a newer schema's file stays byte-identical; a read-only file lists; a file an
//! interrupted sam left is recovered after a copy while a foreign one is not; file modes;
//! `sam db check|repair|backup|restore`, and a backup taken during a running download that
//! restores to a database equal to the original.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use clap::Parser;
use confluence_sim::Endpoint;
use sam_engine::cli::{Cli, CliError, run};
use sam_engine::model::*;
use sam_engine::pipeline::{FixedClock, Pipeline, SpokeSource};
use sam_engine::store::{OpenError, Store, maintenance, schema};

use crate::pipeline::{confluence, confluence_config, members, sam_bin, scopes, sim};

const NOW: i64 = 1_750_000_000;

/// A small real database: a profile with its connection and group, 300 subscriptions with
/// activity, an exclusion, an entitlement, a job result and an audit entry.
fn real_database(path: &Path) {
    let store = Store::open(path).unwrap();
    let profile = IntegrationProfile {
        name: "p".into(),
        display_name: "p".into(),
        spoke_id: "confluence-cloud".into(),
        spoke_path: "bundled:confluence-cloud".into(),
        status: ProfileStatus::Draft,
        processes: ProcessSet::default(),
        analyze_from: None,
        config: Vec::new(),
        connection: "confluence-cloud.p".into(),
        created_at: NOW,
    };
    let connection = Connection {
        alias: profile.connection.clone(),
        connection_url: "http://127.0.0.1:1".into(),
        granted_hosts: vec!["127.0.0.1".into()],
        auth: AuthKind::StaticTokenEnv {
            variable: "T".into(),
        },
    };
    let groups = [SelectedGroup {
        profile: "p".into(),
        group_id: "g".into(),
        name: None,
    }];
    store
        .write(|tx| {
            tx.create_profile(&profile, &connection, &groups)?;
            tx.put_model(&SoftwareModel {
                id: "atlassian/confluence".into(),
                publisher: "Atlassian".into(),
                product: "Confluence".into(),
                edition: None,
                auto_created: true,
                created_at: NOW,
            })?;
            for i in 0..300 {
                let user = format!("user-{i:04}");
                tx.put_subscription(&Subscription {
                    profile: "p".into(),
                    external_user_id: user.clone(),
                    identifier: "confluence".into(),
                    model: Some("atlassian/confluence".into()),
                    display_name: Some(format!("User Number {i}")),
                    email: Some(format!("user{i}@example.com")),
                    account_type: AccountType::Human,
                    granted_by: vec!["g".into()],
                    granted_at: Some(NOW),
                    active: i % 7 != 0,
                    first_seen_at: NOW,
                    ended_at: None,
                })?;
                tx.put_activity(&UserActivityRecord {
                    profile: "p".into(),
                    external_user_id: user,
                    last_activity: Some(NOW - i64::from(i) * 3600),
                    source: Some("page updated".into()),
                    state: ActivityState::Seen,
                    kind: None,
                    checked_at: None,
                })?;
            }
            tx.audit(NOW, Some("p"), AuditAction::ProfileCreated, "made", None)?;
            // What `sam exclusions add` and `sam entitlements add` store, written here with
            // the fixed clock so the file is the same on every run.
            tx.put_exclusion(&ExclusionRule {
                id: tx.next_seq("exclusion")?.to_string(),
                target: ExclusionTarget::User("user-0003".into()),
                scope: ExclusionScope::Both,
                active: true,
                note: Some("vip".into()),
                created_at: NOW,
            })?;
            tx.audit(
                NOW,
                None,
                AuditAction::RuleChanged,
                "exclusion 1 added",
                None,
            )?;
            tx.put_entitlement(&Entitlement {
                id: tx.next_seq("entitlement")?.to_string(),
                model: "atlassian/confluence".into(),
                metric: LicenseMetric::UserSubscription,
                rights: Rights::Count(250),
                unit_cost_minor: 500,
                currency: "USD".into(),
                start: NOW - 30 * DAY,
                end: None,
                active: true,
                note: None,
            })?;
            tx.audit(
                NOW,
                None,
                AuditAction::EntitlementChanged,
                "entitlement 1 added",
                None,
            )?;
            Ok::<_, sam_engine::store::WriteError>(())
        })
        .unwrap();
}

/// The corpus's database is the same, byte for byte, on every run (fixed data, fixed clock,
/// a fixed seed for the damage), so a failure reproduces: two builds of it are identical.
#[test]
fn the_damage_corpus_is_built_from_the_same_bytes_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.redb"), dir.path().join("b.redb"));
    real_database(&a);
    // A second apart: a record stamped with the wall clock (seconds) would differ.
    std::thread::sleep(Duration::from_millis(1100));
    real_database(&b);
    let (a, b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(a == b, "the corpus's database differs between two builds");
    let names = |bytes: &[u8]| -> Vec<String> {
        corpus(bytes)
            .iter()
            .map(|v| match v {
                Variant::Bytes(name, _) => name.clone(),
                Variant::Directory => "a directory".into(),
            })
            .collect()
    };
    assert_eq!(names(&a), names(&b));
}

/// Runs `sam --db <db> <args>` in-process; the output or the error.
fn in_process(db: &str, args: &[&str]) -> Result<String, CliError> {
    let mut argv = vec!["sam", "--no-cache", "--db", db];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).expect("arguments parse");
    let mut out = Vec::new();
    run(cli, &mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Every read command, and one write command.
const READS: &[&[&str]] = &[
    &["profile", "list"],
    &["profile", "show", "p"],
    &["candidates", "list"],
    &["exclusions", "list"],
    &["rules", "show"],
    &["entitlements", "list"],
    &["position"],
    &["jobs", "list"],
    &["db", "check"],
];
const WRITE: &[&str] = &["exclusions", "add", "--user", "someone-new"];

/// A deterministic pseudo-random sequence (no dependency, the same corpus every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

enum Variant {
    Bytes(String, Vec<u8>),
    Directory,
}

fn corpus(real: &[u8]) -> Vec<Variant> {
    let mut out = Vec::new();
    let len = real.len();
    for cut in [1, 100, 4096, len / 3, len / 2, len - 4096, len - 1] {
        out.push(Variant::Bytes(
            format!("truncated to {cut}"),
            real[..cut].to_vec(),
        ));
    }
    out.push(Variant::Bytes("zero length".into(), Vec::new()));
    out.push(Variant::Directory);
    let mut rng = Lcg(18);
    let random: Vec<u8> = (0..65_536).map(|_| rng.next() as u8).collect();
    out.push(Variant::Bytes("random bytes".into(), random.clone()));
    let mut magic = real[..16].to_vec();
    magic.extend_from_slice(&random);
    out.push(Variant::Bytes(
        "redb's magic then random bytes".into(),
        magic,
    ));
    // A key that is no longer UTF-8 (redb decodes `&str` keys with an unwrap): wherever a
    // user id is stored, its first byte made invalid.
    for needle in [&b"user-0150"[..], b"user-0003", b"user-0299"] {
        for at in real
            .windows(needle.len())
            .enumerate()
            .filter(|(_, w)| *w == needle)
            .map(|(i, _)| i)
            .take(2)
        {
            let mut bytes = real.to_vec();
            bytes[at] = 0xC0;
            out.push(Variant::Bytes(
                format!("invalid UTF-8 in a key at {at}"),
                bytes,
            ));
        }
    }
    // Bit flips: in the header, and spread over the bytes the file uses.
    let used: Vec<usize> = (0..len).filter(|&i| real[i] != 0).collect();
    let mut offsets: Vec<usize> = (0..8).map(|i| i * 37 + 9).collect();
    let n = 32;
    offsets.extend((0..n).map(|i| used[i * used.len() / n]));
    for offset in offsets {
        let mut bytes = real.to_vec();
        let bit = (rng.next() % 8) as u8;
        bytes[offset] ^= 1 << bit;
        out.push(Variant::Bytes(
            format!("bit {bit} flipped at {offset}"),
            bytes,
        ));
    }
    out
}

fn assert_one_line(what: &str, e: &CliError) {
    let text = e.to_string();
    assert!(!text.contains('\n'), "{what}: not one line: {text}");
    assert!(
        !text.contains("sam stopped on an internal error"),
        "{what}: a panic got past the store boundary: {text}"
    );
}

#[test]
fn damaged_databases_never_panic_and_are_left_unchanged() {
    sam_engine::cli::quiet_store_panics();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("real.redb");
    real_database(&base);
    let real = std::fs::read(&base).unwrap();
    let mut damaged_examples = Vec::new();
    for (n, variant) in corpus(&real).into_iter().enumerate() {
        let path = dir.path().join(format!("v{n}.redb"));
        let (name, bytes) = match &variant {
            Variant::Bytes(name, bytes) => {
                std::fs::write(&path, bytes).unwrap();
                set_permissions(&path, 0o600);
                (name.clone(), Some(bytes.clone()))
            }
            Variant::Directory => {
                std::fs::create_dir(&path).unwrap();
                ("a directory".to_string(), None)
            }
        };
        let db = path.to_str().unwrap();
        let unchanged = |what: &str| {
            if let Some(bytes) = &bytes {
                assert!(
                    std::fs::read(&path).unwrap() == *bytes,
                    "{name}: `{what}` changed the file"
                );
            } else {
                assert!(path.is_dir(), "{name}: `{what}` replaced the directory");
            }
        };
        for args in READS {
            let what = format!("{name}: sam {}", args.join(" "));
            if let Err(e) = in_process(db, args) {
                assert_one_line(&what, &e);
                if e.to_string().contains("is damaged") && damaged_examples.len() < 2 {
                    damaged_examples.push(path.clone());
                }
            }
            unchanged(&what);
        }
        let what = format!("{name}: sam {}", WRITE.join(" "));
        // A write that fails says so in one line. Most damage is found by the read-only
        // pass before the file is opened for writing, and the file is then untouched;
        // damage only a writer's open finds (the allocator's state) may leave redb's
        // own header marks changed, never a record, so byte equality is not asked here.
        // Either way, and when the damage was where the write did not look (free
        // space, a value it did not read) and the write went ahead, every read after it
        // still answers or fails in one typed line.
        let outcome = in_process(db, WRITE);
        if let Err(e) = &outcome {
            assert_one_line(&what, e);
        }
        // A write that left the file byte for byte as it was leaves the reads as they were
        // (asked above): ask again only when the file changed.
        let still_same = match &bytes {
            Some(bytes) => std::fs::read(&path).is_ok_and(|now| now == *bytes),
            None => true,
        };
        if still_same {
            continue;
        }
        for args in READS {
            if let Err(e) = in_process(db, args) {
                assert_one_line(&format!("{what}, then {args:?}"), &e);
            }
        }
    }
    assert!(
        !damaged_examples.is_empty(),
        "the corpus holds a file redb cannot read (a contained panic or corruption)"
    );

    // A few through the real binary: exit 2 or 3 (never 101), one line, no backtrace.
    let zero = dir.path().join("zero.redb");
    std::fs::write(&zero, b"").unwrap();
    set_permissions(&zero, 0o600);
    let folder = dir.path().join("folder.redb");
    std::fs::create_dir(&folder).unwrap();
    for path in damaged_examples.iter().chain([&zero, &folder]) {
        let before = std::fs::read(path).ok();
        for args in [&["profile", "list"][..], &["position"][..], WRITE] {
            let out = Command::new(sam_bin())
                .arg("--db")
                .arg(path)
                .arg("--no-cache")
                .args(args)
                .env("RUST_BACKTRACE", "1")
                .env("SAM_LOG", "warn")
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            let code = out.status.code();
            assert!(
                matches!(code, Some(2 | 3)),
                "{path:?} {args:?}: exit {code:?}\n{err}"
            );
            assert_eq!(err.lines().count(), 1, "{path:?} {args:?}: {err}");
            assert!(err.starts_with("error: "), "{err}");
            assert!(
                !err.contains("panicked") && !err.contains("backtrace"),
                "{err}"
            );
            assert_eq!(std::fs::read(path).ok(), before, "{path:?} {args:?}");
        }
    }
    let err = in_process(zero.to_str().unwrap(), &["profile", "list"]).unwrap_err();
    assert!(
        err.to_string().contains("empty file") && err.to_string().contains("zero.redb"),
        "{err}"
    );
}

/// A database whose schema version is `version` (written with redb directly).
fn set_version(path: &Path, version: u64) {
    let db = redb::Database::create(path).unwrap();
    let tx = db.begin_write().unwrap();
    tx.open_table(sam_engine::store::tables::META)
        .unwrap()
        .insert(schema::VERSION_KEY, version)
        .unwrap();
    tx.commit().unwrap();
}

#[test]
fn a_newer_schema_file_is_refused_by_every_command_and_left_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.redb");
    real_database(&path);
    set_version(&path, schema::CURRENT_VERSION + 1);
    let before = std::fs::read(&path).unwrap();
    let db = path.to_str().unwrap();
    for args in READS.iter().chain([&WRITE]) {
        let result = in_process(db, args);
        if args[0] != "db" {
            let e = result.unwrap_err();
            assert!(matches!(e, CliError::User(_)), "{args:?}: {e}");
            assert!(e.to_string().contains("upgrade sam"), "{args:?}: {e}");
        }
        assert!(
            std::fs::read(&path).unwrap() == before,
            "{args:?} changed it"
        );
    }
    // Restore refuses it too.
    let target = dir.path().join("target.redb");
    let e = maintenance::restore(&path, &target).unwrap_err();
    assert!(matches!(e, OpenError::NewerSchema { .. }), "{e}");
    assert!(!target.exists());
}

#[test]
fn a_read_only_database_lists_and_reads_never_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.redb");
    real_database(&path);
    set_permissions(&path, 0o444);
    let before = std::fs::read(&path).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let db = path.to_str().unwrap();
    for args in READS {
        let out = in_process(db, args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        if args == &["profile", "list"] {
            assert!(out.contains("p"), "{out}");
        }
        if args == &["exclusions", "list"] {
            assert!(out.contains("user-0003"), "{out}");
        }
    }
    assert!(std::fs::read(&path).unwrap() == before);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );

    // No file: a read lists nothing and creates nothing.
    let missing = dir.path().join("none").join("sam.redb");
    let out = in_process(missing.to_str().unwrap(), &["profile", "list", "--json"]).unwrap();
    assert_eq!(out.trim(), "[]");
    assert!(!missing.exists() && !missing.parent().unwrap().exists());
}

fn set_permissions(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_data_folder_database_lock_and_backups_are_private_and_a_readable_file_warns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("sam").join("sam.redb");
    drop(Store::open(&path).unwrap());
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&sam_engine::store::DbLock::path_for(&path)), 0o600);
    let backup = dir.path().join("b.redb");
    in_process(
        path.to_str().unwrap(),
        &["db", "backup", backup.to_str().unwrap()],
    )
    .unwrap();
    assert_eq!(mode(&backup), 0o600);
    // Backups beside the database taken in the same second (a double click in the console,
    // two admins) each get their own file, all private.
    {
        let store = Store::open(&path).unwrap();
        let beside: Vec<PathBuf> = (0..3)
            .map(|_| store.backup_beside().unwrap().path)
            .collect();
        let distinct: std::collections::BTreeSet<&PathBuf> = beside.iter().collect();
        assert_eq!(distinct.len(), 3, "{beside:?}");
        for b in &beside {
            assert_eq!(mode(b), 0o600, "{}", b.display());
        }
    }

    set_permissions(&path, 0o644);
    let out = Command::new(sam_bin())
        .arg("--db")
        .arg(&path)
        .args(["--no-cache", "profile", "list"])
        .env("SAM_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("readable by other users").count(), 1, "{err}");
    set_permissions(&path, 0o600);
    let out = Command::new(sam_bin())
        .arg("--db")
        .arg(&path)
        .args(["--no-cache", "profile", "list"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("readable by other users"));
}

/// A database file as a killed writer leaves it (committed, never closed): a copy of a file
/// while a writer holds it.
fn unclean(path: &Path) {
    let live = path.with_extension("live");
    let store = Store::open(&live).unwrap();
    store.write(|tx| tx.next_seq("audit").map(|_| ())).unwrap();
    std::fs::copy(&live, path).unwrap();
    drop(store);
}

#[test]
fn only_an_interrupted_session_is_recovered_on_open_and_after_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    // A file needing recovery whose lock says sam closed it: damage, left to `sam db repair`.
    let foreign = dir.path().join("foreign.redb");
    unclean(&foreign);
    let before = std::fs::read(&foreign).unwrap();
    let e = Store::open(&foreign).unwrap_err();
    assert!(matches!(e, OpenError::NeedsRepair { .. }), "{e}");
    let e = Store::open_read_only(&foreign).unwrap_err();
    assert!(matches!(e, OpenError::NeedsRecovery { .. }), "{e}");
    assert!(
        std::fs::read(&foreign).unwrap() == before,
        "no open repaired it"
    );
    let check = maintenance::check(&foreign).unwrap();
    assert!(check.needs_recovery && !check.intact, "{check:?}");
    assert!(
        std::fs::read(&foreign).unwrap() == before,
        "check works on a copy"
    );
    let report = maintenance::repair(&foreign).unwrap();
    assert!(
        std::fs::read(&report.original).unwrap() == before,
        "the copy is kept"
    );
    assert!(report.kept.iter().any(|t| t.table == "meta"), "{report:?}");
    let store = Store::open(&foreign).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::CURRENT_VERSION);

    // The same state with a lock saying a sam session never closed: recovered on a write
    // open, the file as it was kept beside it.
    let killed = dir.path().join("killed.redb");
    unclean(&killed);
    let before = std::fs::read(&killed).unwrap();
    std::fs::write(
        sam_engine::store::DbLock::path_for(&killed),
        r#"{"pid":1,"host":"h","since":0,"closed":false}"#,
    )
    .unwrap();
    let store = Store::open(&killed).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::CURRENT_VERSION);
    let kept: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("killed.redb.before-recovery"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(std::fs::read(&kept[0]).unwrap() == before);
}

#[test]
fn db_check_reports_and_restore_keeps_the_current_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sam.redb");
    real_database(&path);
    let db = path.to_str().unwrap();
    let text = in_process(db, &["db", "check"]).unwrap();
    assert!(
        text.contains("intact") && text.contains("subscriptions"),
        "{text}"
    );
    let backup = dir.path().join("copy.redb");
    in_process(db, &["db", "backup", backup.to_str().unwrap()]).unwrap();
    let e = in_process(db, &["db", "backup", backup.to_str().unwrap()]).unwrap_err();
    assert!(e.to_string().contains("exists already"), "{e}");
    in_process(db, &["exclusions", "add", "--user", "after-backup"]).unwrap();
    let out = in_process(db, &["db", "restore", backup.to_str().unwrap()]).unwrap();
    assert!(out.contains("kept at"), "{out}");
    let list = in_process(db, &["exclusions", "list"]).unwrap();
    assert!(
        list.contains("user-0003") && !list.contains("after-backup"),
        "{list}"
    );
    assert_eq!(
        maintenance::dump_rows(&path).unwrap(),
        maintenance::dump_rows(&backup).unwrap()
    );
    // A damaged backup is refused.
    let bad = dir.path().join("bad.redb");
    let bytes = std::fs::read(&backup).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    assert!(in_process(db, &["db", "restore", bad.to_str().unwrap()]).is_err());
    assert_eq!(
        maintenance::dump_rows(&path).unwrap(),
        maintenance::dump_rows(&backup).unwrap()
    );
}

/// Backs the store up on a thread of its own from the second committed page, and waits for
/// it at the third (see the test below).
struct BackupDuring {
    store: std::sync::Arc<Store>,
    to: PathBuf,
    running: std::sync::Mutex<Option<std::thread::JoinHandle<BackupResult>>>,
    report: std::sync::Mutex<Option<BackupResult>>,
}

type BackupResult = Result<maintenance::BackupReport, String>;

impl sam_engine::pipeline::CommitHook for BackupDuring {
    fn after_commit(&self, _: ProcessKind, page: u64) -> Result<(), String> {
        let mut running = self.running.lock().unwrap();
        match page {
            2 => {
                let (store, to) = (self.store.clone(), self.to.clone());
                *running = Some(std::thread::spawn(move || {
                    store.backup_to(&to).map_err(|e| e.to_string())
                }));
            }
            3 => {
                if let Some(thread) = running.take() {
                    *self.report.lock().unwrap() = Some(thread.join().unwrap());
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_during_a_running_download_restores_to_an_equal_database() {
    let sim = std::sync::Arc::new(sim(1200).await);
    let host = crate::host();
    let spoke = confluence(&host).await;
    let token = sim.mint_token(&scopes());
    let session = spoke
        .session(
            &sim.connection_url(),
            &["127.0.0.1".to_string()],
            std::sync::Arc::new(sam_engine::host::StaticToken::new(token)),
        )
        .unwrap();
    let source = SpokeSource::new(
        spoke.clone(),
        session,
        confluence_config(&sim, &["confluence-users"]),
    );
    let (dir, store) = crate::pipeline::store_with_profile("confluence-cloud", None);
    let store = std::sync::Arc::new(store);
    sim.set_latency(Endpoint::GroupMembers, Duration::from_millis(20));
    sim.reset_calls();
    let backup = dir.path().join("during.redb");
    // The backup starts on its own thread once the second page is committed and must be done
    // before the fourth page commits: it runs beside the download's reads and the third
    // page's commit, whatever the machine's speed, and the merge cannot overtake it.
    let hook = BackupDuring {
        store: store.clone(),
        to: backup.clone(),
        running: std::sync::Mutex::new(None),
        report: std::sync::Mutex::new(None),
    };
    let clock = FixedClock::new(NOW);
    let job = Pipeline::new(&store)
        .clock(&clock)
        .hook(&hook)
        .download_subscriptions(&source, "p")
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Succeeded);
    assert!(
        job.pages >= 4,
        "pages enough to back up mid-run: {}",
        job.pages
    );
    let report = hook
        .report
        .lock()
        .unwrap()
        .take()
        .expect("the backup ran during the download")
        .unwrap();
    assert_eq!(report.schema_version, schema::CURRENT_VERSION);

    // The copy is one commit's state: the run was in flight, its checkpoint and staged
    // pages agree, and no subscription was merged yet.
    let restored = dir.path().join("restored.redb");
    maintenance::restore(&backup, &restored).unwrap();
    assert_eq!(
        maintenance::dump_rows(&restored).unwrap(),
        maintenance::dump_rows(&backup).unwrap()
    );
    {
        let copy = Store::open_read_only(&restored).unwrap();
        let read = copy.read().unwrap();
        let cp = read
            .checkpoint("p", ProcessKind::DownloadSubscriptions)
            .unwrap()
            .expect("the backup caught the run in flight");
        assert_eq!(
            crate::pipeline::staged_users(&read, &cp).len() as u64,
            cp.records_seen
        );
        assert!(read.subscriptions("p").unwrap().is_empty());
    }
    // Resumed from the restored copy, the run ends where the original did.
    sim.set_latency(Endpoint::GroupMembers, Duration::ZERO);
    let copy = Store::open(&restored).unwrap();
    let resumed = Pipeline::new(&copy)
        .clock(&clock)
        .download_subscriptions(&source, "p")
        .await
        .unwrap();
    assert_eq!(resumed.status, JobStatus::Succeeded);
    assert_eq!(
        crate::pipeline::facts(&copy),
        crate::pipeline::facts(&store)
    );
    assert_eq!(
        copy.read().unwrap().subscriptions("p").unwrap().len(),
        members(&sim, "confluence-users").len()
    );
}

#[test]
fn an_older_schema_is_migrated_only_by_a_write_after_a_backup_named_with_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.redb");
    real_database(&path);
    let old = schema::CURRENT_VERSION - 1;
    set_version(&path, old);
    let before = std::fs::read(&path).unwrap();
    let db = path.to_str().unwrap();
    let e = in_process(db, &["profile", "list"]).unwrap_err();
    assert!(e.to_string().contains("sam db migrate"), "{e}");
    assert!(std::fs::read(&path).unwrap() == before, "a read migrated");
    in_process(db, WRITE).unwrap();
    let kept: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.to_string_lossy()
                .contains(&format!("old.redb.before-migration-v{old}-"))
        })
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(std::fs::read(&kept[0]).unwrap() == before);
    assert_eq!(mode(&kept[0]), 0o600);
    let store = Store::open_read_only(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::CURRENT_VERSION);
}
