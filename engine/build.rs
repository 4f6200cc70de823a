//! Builds the spokes bundled into the `sam` binary (Confluence Cloud and GitHub Copilot) for
//! wasm32-wasip2, into `<workspace>/target/guests`, and hands their paths to the crate as
//! `SAM_BUNDLED_CONFLUENCE_WASM` and `SAM_BUNDLED_GITHUB_COPILOT_WASM` for `include_bytes!`. With the `bundled-spokes` feature off,
//! nothing is built and `sam` has no built-in spoke.

fn main() {
    // `sam plugin new` embeds engine/templates/ (include_dir cannot tell cargo on stable).
    println!("cargo:rerun-if-changed=templates");
    if std::env::var_os("CARGO_FEATURE_BUNDLED_SPOKES").is_none() {
        return;
    }
    let workspace = sam_guest_build::workspace_root();
    sam_guest_build::rerun_if_changed(&workspace, &["wit", "plugins", "sdk"]);
    let built = sam_guest_build::build(
        &workspace,
        &workspace.join("target").join("guests"),
        &["confluence-cloud", "github-copilot"],
        &[],
        &["confluence_cloud", "github_copilot"],
    );
    println!(
        "cargo:rustc-env=SAM_BUNDLED_CONFLUENCE_WASM={}",
        built[0].display()
    );
    println!(
        "cargo:rustc-env=SAM_BUNDLED_GITHUB_COPILOT_WASM={}",
        built[1].display()
    );
}
