//! Build-script support shared by `engine/build.rs` (the spokes bundled into `sam`) and
//! `tests/build.rs` (the guest fixtures): checks that the wasm32-wasip2 target is installed
//! and runs a nested `cargo build --release --target wasm32-wasip2` into a target directory
//! of its own, with the host build's flags kept out, the way wasmtime's `test-programs`
//! builds its guests. Returns the path of each component built.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The guest target.
pub const TARGET: &str = "wasm32-wasip2";

/// Environment variables of the host build that must not reach the guest build.
const HOST_ONLY_VARS: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_PROFILE_RELEASE_DEBUG",
];

/// The workspace root, from a member crate's `CARGO_MANIFEST_DIR` (one level up).
pub fn workspace_root() -> PathBuf {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    manifest_dir
        .parent()
        .expect("the crate sits in the workspace")
        .to_path_buf()
}

/// Tells cargo to rerun the build script when any of `paths` (relative to the workspace)
/// changes.
pub fn rerun_if_changed(workspace: &Path, paths: &[&str]) {
    for path in paths {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }
}

/// Panics with what to run when the wasm32-wasip2 target is missing.
pub fn require_target() {
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

/// Builds `packages` (with `extra` cargo arguments, e.g. `--features`) in release mode for
/// wasm32-wasip2 into `target_dir`, and returns the path of each `<stem>.wasm` asked for.
pub fn build(
    workspace: &Path,
    target_dir: &Path,
    packages: &[&str],
    extra: &[&str],
    stems: &[&str],
) -> Vec<PathBuf> {
    require_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--release", "--target", TARGET])
        .arg("--target-dir")
        .arg(target_dir)
        .args(extra);
    for package in packages {
        command.args(["--package", package]);
    }
    for var in HOST_ONLY_VARS {
        command.env_remove(var);
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build guest components: {e}"));
    assert!(
        status.success(),
        "building {} for {TARGET} failed (see above)",
        packages.join(", ")
    );
    stems
        .iter()
        .map(|stem| {
            let path = target_dir
                .join(TARGET)
                .join("release")
                .join(format!("{stem}.wasm"));
            assert!(
                path.is_file(),
                "expected guest component at {}",
                path.display()
            );
            path
        })
        .collect()
}

/// Copies a built component beside itself under `name` and returns the copy's path: for a
/// crate built twice into one target directory with different features, where the second
/// build replaces the first's file.
pub fn keep_as(built: &Path, name: &str) -> PathBuf {
    let copy = built.with_file_name(name);
    std::fs::copy(built, &copy).unwrap_or_else(|e| {
        panic!(
            "could not copy {} to {}: {e}",
            built.display(),
            copy.display()
        )
    });
    copy
}
