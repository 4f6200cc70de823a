//! Loading spokes: the compile cache (a second load does not recompile, a corrupt artifact is
//! replaced), the manifest read at load time, and clear errors for files that are not spokes.

use sam_engine::host::{CacheOutcome, HostOptions, LoadError, SpokeHost};

fn cached_host(dir: &std::path::Path) -> SpokeHost {
    SpokeHost::new(HostOptions {
        cache_dir: Some(dir.to_path_buf()),
        ..HostOptions::default()
    })
    .unwrap()
}

#[tokio::test]
async fn the_second_load_reads_the_compiled_artifact_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(sam_tests::fixture_spoke_wasm()).unwrap();

    let first = cached_host(dir.path())
        .load_bytes(wasm.clone(), "fixture")
        .await
        .unwrap();
    assert_eq!(first.cache_outcome(), CacheOutcome::Compiled);
    // A new host (as after a restart) finds the artifact.
    let second = cached_host(dir.path())
        .load_bytes(wasm.clone(), "fixture")
        .await
        .unwrap();
    assert_eq!(second.cache_outcome(), CacheOutcome::Hit);
    assert_eq!(second.manifest(), first.manifest());

    let artifacts: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    let name = artifacts[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.ends_with(".cwasm") && name.len() > 64 + 6, "{name}");

    // A damaged artifact is recompiled and replaced, not trusted.
    std::fs::write(&artifacts[0], b"not an artifact").unwrap();
    let third = cached_host(dir.path())
        .load_bytes(wasm.clone(), "fixture")
        .await
        .unwrap();
    assert_eq!(third.cache_outcome(), CacheOutcome::Compiled);
    let fourth = cached_host(dir.path())
        .load_bytes(wasm, "fixture")
        .await
        .unwrap();
    assert_eq!(fourth.cache_outcome(), CacheOutcome::Hit);
}

#[tokio::test]
async fn a_changed_plugin_gets_its_own_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let host = cached_host(dir.path());
    let fixture = std::fs::read(sam_tests::fixture_spoke_wasm()).unwrap();
    let confluence = std::fs::read(sam_tests::confluence_spoke_wasm()).unwrap();
    host.load_bytes(fixture, "fixture").await.unwrap();
    let other = host.load_bytes(confluence, "confluence").await.unwrap();
    assert_eq!(other.cache_outcome(), CacheOutcome::Compiled);
    assert_eq!(other.id(), "confluence-cloud");
}

#[tokio::test]
async fn files_that_are_not_spokes_get_clear_errors() {
    let host = crate::host();
    let missing = host.load_file("/nonexistent/spoke.wasm").await.unwrap_err();
    assert!(matches!(missing, LoadError::Read { .. }), "{missing}");

    let garbage = host
        .load_bytes(b"\0asm garbage".to_vec(), "garbage.wasm")
        .await
        .unwrap_err();
    assert!(matches!(garbage, LoadError::Artifact { .. }), "{garbage}");
    assert!(garbage.to_string().contains("garbage.wasm"), "{garbage}");

    // A valid component that does not implement the contract.
    let empty_component = b"\0asm\x0d\0\x01\0".to_vec();
    let foreign = host
        .load_bytes(empty_component, "empty.wasm")
        .await
        .unwrap_err();
    assert!(
        matches!(foreign, LoadError::UnsupportedContract { .. }),
        "{foreign}"
    );
    assert!(
        foreign
            .to_string()
            .contains("exports no sam:spoke/connector"),
        "{foreign}"
    );
}

/// A component with one export: an empty instance named `name`.
fn component_exporting(name: &str) -> Vec<u8> {
    use wasm_encoder::{
        Component, ComponentExportKind, ComponentExportSection, ComponentInstanceSection,
    };
    let mut component = Component::new();
    let mut instances = ComponentInstanceSection::new();
    instances.export_items(Vec::<(&str, ComponentExportKind, u32)>::new());
    component.section(&instances);
    let mut exports = ComponentExportSection::new();
    exports.export(name, ComponentExportKind::Instance, 0, None);
    component.section(&exports);
    component.finish()
}

#[tokio::test]
async fn a_component_of_an_unknown_contract_version_is_refused_in_one_line() {
    let host = crate::host();
    for (name, declared) in [
        ("sam:spoke/connector@0.9.0", "declares sam:spoke@0.9.0"),
        ("sam:spoke/connector@1.0.0", "declares sam:spoke@1.0.0"),
        (
            "sam:spoke/connector",
            "declares sam:spoke without a version",
        ),
    ] {
        let error = host
            .load_bytes(component_exporting(name), "future.wasm")
            .await
            .unwrap_err();
        assert!(
            matches!(error, LoadError::UnsupportedContract { .. }),
            "{error}"
        );
        let text = error.to_string();
        assert!(!text.contains('\n'), "one line: {text}");
        assert!(text.contains(declared), "{text}");
        assert!(
            text.contains("this engine supports sam:spoke@0.1.0 and sam:spoke@0.2.0"),
            "{text}"
        );
    }
    // A known version whose exports do not match is a contract error naming that version.
    let error = host
        .load_bytes(
            component_exporting("sam:spoke/connector@0.2.0"),
            "hollow.wasm",
        )
        .await
        .unwrap_err();
    assert!(matches!(error, LoadError::Contract { .. }), "{error}");
    assert!(error.to_string().contains("sam:spoke@0.2.0"), "{error}");
}

/// The longevity test: a spoke built from the frozen `sam:spoke@0.1.0` WIT (the fixture
/// spoke) still loads and is adapted; the Confluence spoke is on 0.2.0.
#[tokio::test]
async fn spokes_of_both_contract_versions_load_side_by_side() {
    let host = crate::host();
    let old = crate::fixture(&host).await;
    assert_eq!(old.contract_version(), "0.1.0");
    assert!(!old.plans_reclaims());
    let new = crate::pipeline::confluence(&host).await;
    assert_eq!(new.contract_version(), "0.2.0");
    assert!(new.plans_reclaims());
}

#[tokio::test]
async fn the_manifest_is_read_at_load_time() {
    let host = crate::host();
    let spoke = crate::fixture(&host).await;
    let manifest = spoke.manifest();
    assert_eq!(spoke.id(), "fixture-spoke");
    assert_eq!(manifest.processes.len(), 3);
    assert_eq!(manifest.allowed_hosts, vec!["127.0.0.1".to_string()]);
    assert!(sam_engine::host::manifest_problems(manifest).is_empty());
}

/// A frozen contract version stays byte for byte as released: its WIT's sha256 is pinned
/// here (a change to a frozen file, even a comment, fails this test; a new version gets a
/// new folder).
#[test]
fn frozen_contract_versions_are_byte_for_byte_as_released() {
    use sha2::{Digest, Sha256};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    /// Each frozen version and its WIT's sha256 (add a version here when it is frozen).
    const FROZEN: &[(&str, &str)] = &[
        (
            "0.1.0",
            "8500348463404ef91aee86cd173db9bba9a2b40fa199349e1808710275d9c98c",
        ),
        (
            "0.2.0",
            "57023b17656e7e5057b7bdfef0b3831d2ad6b22ea86a5180111cd0766162327a",
        ),
    ];
    for &(version, sha256) in FROZEN {
        let bytes = std::fs::read(root.join("wit").join(version).join("spoke.wit")).unwrap();
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            digest, sha256,
            "wit/{version}/spoke.wit changed after release"
        );
    }
}
