//! Builds the guest components the tests load: the fixture spoke (`tests/fixture-spokes`),
//! the same fixture with its `broken` feature (for the conformance kit's own tests) and the
//! bundled spokes under `plugins/`, for wasm32-wasip2 in release mode, into
//! `<workspace>/target/guests` (and `target/guests-broken`). Their paths reach the tests as
//! compile-time environment variables (`FIXTURE_SPOKE_WASM`, `BROKEN_SPOKE_WASM`,
//! `CONFLUENCE_SPOKE_WASM`). Modelled on wasmtime's `test-programs` artifacts build script.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

const TARGET: &str = "wasm32-wasip2";

/// (package, crate file stem, env var)
const GUESTS: &[(&str, &str, &str)] = &[
    ("fixture-spokes", "fixture_spokes", "FIXTURE_SPOKE_WASM"),
    (
        "confluence-cloud",
        "confluence_cloud",
        "CONFLUENCE_SPOKE_WASM",
    ),
];

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let workspace = manifest_dir
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf();
    for watched in ["wit", "tests/fixture-spokes", "plugins", "Cargo.lock"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    check_target_installed();

    let target_dir = workspace.join("target").join("guests");
    let packages: Vec<&str> = GUESTS
        .iter()
        .flat_map(|(package, _, _)| ["--package", *package])
        .collect();
    let status = cargo_build(&workspace, &target_dir, &packages);
    assert!(
        status.success(),
        "building the guest components for {TARGET} failed (see above)"
    );
    for (_, stem, var) in GUESTS {
        export_path(&target_dir, stem, var);
    }

    // The deliberately broken fixture, in its own target dir so both builds keep their file.
    let broken_dir = workspace.join("target").join("guests-broken");
    let status = cargo_build(
        &workspace,
        &broken_dir,
        &["--package", "fixture-spokes", "--features", "broken"],
    );
    assert!(
        status.success(),
        "building the broken fixture spoke failed (see above)"
    );
    export_path(&broken_dir, "fixture_spokes", "BROKEN_SPOKE_WASM");
}

fn export_path(target_dir: &Path, stem: &str, var: &str) {
    let path = target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{stem}.wasm"));
    assert!(
        path.is_file(),
        "expected guest component at {}",
        path.display()
    );
    println!("cargo:rustc-env={var}={}", path.display());
}

fn cargo_build(workspace: &Path, target_dir: &Path, packages: &[&str]) -> ExitStatus {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--release", "--target", TARGET])
        .arg("--target-dir")
        .arg(target_dir)
        .args(packages);
    // Settings meant for the host build must not leak into the guest build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        command.env_remove(var);
    }
    command
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build the guest components: {e}"))
}

fn check_target_installed() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(output) = Command::new(rustc).args(["--print", "sysroot"]).output() else {
        return;
    };
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let lib = Path::new(&sysroot).join("lib").join("rustlib").join(TARGET);
    assert!(
        lib.is_dir(),
        "the Rust target {TARGET} is not installed; run `rustup target add {TARGET}` \
         (or `bash .ci/run`, which does it)"
    );
}
