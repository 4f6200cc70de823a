//! Builds the guest fixtures the tests load, for wasm32-wasip2 in release mode: the fixture
//! spoke (`tests/fixture-spokes`) and the hostile spoke (`tests/hostile-spokes`, the sandbox
//! attacks) into `<workspace>/target/guests`, and the fixture crate with its `broken` feature
//! also into `target/guests` (for the conformance kit's own tests). Their paths reach the
//! tests as `FIXTURE_SPOKE_WASM`, `HOSTILE_SPOKE_WASM` and `BROKEN_SPOKE_WASM`. The
//! Confluence spoke is built once, by `engine/build.rs`, which bundles it into `sam`.
//!
//! Both fixture builds share `target/guests` (so the guest dependencies and their proc-macros
//! compile once, not once per feature set); since the second build replaces the first's
//! `fixture_spokes.wasm`, each is copied to a name of its own as soon as it is built.

fn main() {
    let workspace = sam_guest_build::workspace_root();
    sam_guest_build::rerun_if_changed(
        &workspace,
        &["wit", "tests/fixture-spokes", "tests/hostile-spokes"],
    );
    let guests = sam_guest_build::build(
        &workspace,
        &workspace.join("target").join("guests"),
        &["fixture-spokes", "hostile-spokes"],
        &[],
        &["fixture_spokes", "hostile_spokes"],
    );
    let fixture = sam_guest_build::keep_as(&guests[0], "fixture_spokes.plain.wasm");
    println!("cargo:rustc-env=FIXTURE_SPOKE_WASM={}", fixture.display());
    println!("cargo:rustc-env=HOSTILE_SPOKE_WASM={}", guests[1].display());
    let broken = sam_guest_build::build(
        &workspace,
        &workspace.join("target").join("guests"),
        &["fixture-spokes"],
        &["--features", "broken"],
        &["fixture_spokes"],
    );
    let broken = sam_guest_build::keep_as(&broken[0], "fixture_spokes.broken.wasm");
    println!("cargo:rustc-env=BROKEN_SPOKE_WASM={}", broken.display());
}
