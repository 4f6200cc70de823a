//! Builds the spokes bundled into the `sam` binary (today: Confluence Cloud) for
//! wasm32-wasip2, into `<workspace>/target/guests`, and hands their paths to the crate as
//! `SAM_BUNDLED_CONFLUENCE_WASM` for `include_bytes!`. With the `bundled-spokes` feature off,
//! nothing is built and `sam` has no built-in spoke.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    if std::env::var_os("CARGO_FEATURE_BUNDLED_SPOKES").is_none() {
        return;
    }
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let workspace = manifest_dir
        .parent()
        .expect("engine/ sits in the workspace")
        .to_path_buf();
    for watched in ["wit", "plugins"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Ok(output) = Command::new(rustc).args(["--print", "sysroot"]).output() {
        let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_string();
        assert!(
            Path::new(&sysroot)
                .join("lib/rustlib")
                .join(TARGET)
                .is_dir(),
            "the Rust target {TARGET} is not installed; run `rustup target add {TARGET}` \
             (sam bundles the Confluence spoke, built for that target), or build sam with \
             --no-default-features --features simulator"
        );
    }
    let target_dir = workspace.join("target").join("guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "--package",
            "confluence-cloud",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
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
        .unwrap_or_else(|e| panic!("could not run cargo to build the bundled spokes: {e}"));
    assert!(
        status.success(),
        "building the bundled Confluence spoke failed (see above)"
    );
    let path = target_dir
        .join(TARGET)
        .join("release")
        .join("confluence_cloud.wasm");
    assert!(path.is_file(), "expected {}", path.display());
    println!(
        "cargo:rustc-env=SAM_BUNDLED_CONFLUENCE_WASM={}",
        path.display()
    );
}
