//! The spokes compiled into the `sam` binary (feature `bundled-spokes`, on by default), so a
//! fresh install can run `sam demo` and check the Confluence integration with no plugin
//! folder. `engine/build.rs` builds them from `plugins/`; a plugins folder can still hold
//! newer or other spokes.

/// A spoke shipped inside the binary.
#[derive(Debug, Clone, Copy)]
pub struct BundledSpoke {
    /// The name `--spoke` accepts (the spoke's manifest id).
    pub name: &'static str,
    /// The component bytes.
    pub wasm: &'static [u8],
}

/// Where the build put the bundled Confluence component (for tests and benchmarks that
/// need a file).
#[cfg(feature = "bundled-spokes")]
pub const CONFLUENCE_WASM_PATH: &str = env!("SAM_BUNDLED_CONFLUENCE_WASM");

/// Where the build put the bundled GitHub Copilot component.
#[cfg(feature = "bundled-spokes")]
pub const GITHUB_COPILOT_WASM_PATH: &str = env!("SAM_BUNDLED_GITHUB_COPILOT_WASM");

/// The bundled spokes.
pub fn all() -> &'static [BundledSpoke] {
    #[cfg(feature = "bundled-spokes")]
    {
        const CONFLUENCE: BundledSpoke = BundledSpoke {
            name: "confluence-cloud",
            wasm: include_bytes!(env!("SAM_BUNDLED_CONFLUENCE_WASM")),
        };
        const GITHUB_COPILOT: BundledSpoke = BundledSpoke {
            name: "github-copilot",
            wasm: include_bytes!(env!("SAM_BUNDLED_GITHUB_COPILOT_WASM")),
        };
        &[CONFLUENCE, GITHUB_COPILOT]
    }
    #[cfg(not(feature = "bundled-spokes"))]
    {
        &[]
    }
}

/// The bundled spoke called `name`, if there is one.
pub fn find(name: &str) -> Option<BundledSpoke> {
    all().iter().copied().find(|spoke| spoke.name == name)
}
