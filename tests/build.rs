//! Builds the guest fixtures the tests load, for wasm32-wasip2 in release mode: the fixture
//! spoke (`tests/fixture-spokes`) and the hostile spoke (`tests/hostile-spokes`, the sandbox
//! attacks) into `<workspace>/target/guests`, and the fixture crate with its `broken` feature
//! into `target/guests-broken` (for the conformance kit's own tests). Their paths reach the
//! tests as `FIXTURE_SPOKE_WASM`, `HOSTILE_SPOKE_WASM` and `BROKEN_SPOKE_WASM`. The
//! Confluence spoke is built once, by `engine/build.rs`, which bundles it into `sam`.

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
    println!("cargo:rustc-env=FIXTURE_SPOKE_WASM={}", guests[0].display());
    println!("cargo:rustc-env=HOSTILE_SPOKE_WASM={}", guests[1].display());
    let broken = sam_guest_build::build(
        &workspace,
        &workspace.join("target").join("guests-broken"),
        &["fixture-spokes"],
        &["--features", "broken"],
        &["fixture_spokes"],
    );
    println!("cargo:rustc-env=BROKEN_SPOKE_WASM={}", broken[0].display());
}
