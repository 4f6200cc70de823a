//! Builds the guest components the tests load: the fixture spoke (`tests/fixture-spokes`) and
//! the bundled spokes under `plugins/`, for wasm32-wasip2 in release mode, into
//! `<workspace>/target/guests`. Their paths reach the tests as compile-time environment
//! variables (`FIXTURE_SPOKE_WASM`, `CONFLUENCE_SPOKE_WASM`). Modelled on wasmtime's
//! `test-programs` artifacts build script.

use std::path::{Path, PathBuf};
use std::process::Command;

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
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .args(["build", "--release", "--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    for (package, _, _) in GUESTS {
        command.args(["--package", package]);
    }
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
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build the guest components: {e}"));
    assert!(
        status.success(),
        "building the guest components for {TARGET} failed (see above)"
    );
    for (_, stem, var) in GUESTS {
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
}

fn check_target_installed() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = Command::new(rustc).args(["--print", "sysroot"]).output();
    let Ok(output) = output else { return };
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let lib = Path::new(&sysroot).join("lib").join("rustlib").join(TARGET);
    assert!(
        lib.is_dir(),
        "the Rust target {TARGET} is not installed; run `rustup target add {TARGET}` \
         (or `bash .ci/run`, which does it)"
    );
}
