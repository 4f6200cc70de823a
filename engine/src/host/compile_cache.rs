//! The on-disk cache of compiled spokes. Compiling a component with Cranelift takes a while, so
//! the first load writes the compiled artifact to `<dir>/<sha256 of wasm>-<engine hash>.cwasm`
//! and later loads deserialize it instead. The key covers both the wasm bytes and the engine's
//! compatibility hash (wasmtime version and the compile settings), so a changed plugin or a
//! different engine never reads a stale artifact. Files are written to a temporary name and
//! renamed, so a crash never leaves a half-written artifact under the final name; an
//! unreadable artifact is recompiled and replaced. Only this module ever calls wasmtime's
//! `unsafe` deserialization, and only on files it wrote itself in a directory it created with
//! owner-only permissions.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where the artifact came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheOutcome {
    /// Compiled now and written to the cache.
    Compiled,
    /// Read from the cache; no compilation.
    Hit,
    /// Compiled now; caching is off.
    Uncached,
}

/// A compiled-artifact cache directory.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

/// The cache could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The directory could not be created or written.
    #[error("compile cache {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl CompileCache {
    /// A cache in `dir`, created (owner-only) when missing.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, CacheError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| CacheError::Io {
            path: dir.clone(),
            source,
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(
                |source| CacheError::Io {
                    path: dir.clone(),
                    source,
                },
            )?;
        }
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The artifact path for `wasm` under `engine`.
    pub fn artifact_path(&self, engine: &Engine, wasm: &[u8]) -> PathBuf {
        let digest = hex::encode(Sha256::digest(wasm));
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir
            .join(format!("{digest}-{:016x}.cwasm", hasher.finish()))
    }

    /// Loads the compiled component for `wasm`, compiling and storing it on a miss.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
    ) -> Result<(Component, CacheOutcome), LoadArtifactError> {
        let path = self.artifact_path(engine, wasm);
        // The artifact is read into memory rather than mapped: a mapped file that another
        // process truncates would kill sam with SIGBUS.
        match std::fs::read(&path) {
            Ok(bytes) => {
                // SAFETY: the file sits in our owner-only cache directory, was written by
                // `store` below from `Engine::precompile_component`, and its name carries
                // the hash of the wasm and of this engine's compatibility settings; wasmtime
                // still checks its header and version before using it.
                match unsafe { Component::deserialize(engine, &bytes) } {
                    Ok(component) => return Ok((component, CacheOutcome::Hit)),
                    Err(error) => tracing::warn!(
                        path = %path.display(),
                        %error,
                        "cached artifact unreadable; recompiling"
                    ),
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => tracing::warn!(
                path = %path.display(),
                %error,
                "cached artifact unreadable; recompiling"
            ),
        }
        let compiled = engine
            .precompile_component(wasm)
            .map_err(|e| LoadArtifactError::Compile(e.to_string()))?;
        self.store(&path, &compiled)?;
        // SAFETY: `compiled` was produced by this engine a moment ago.
        let component = unsafe { Component::deserialize(engine, &compiled) }
            .map_err(|e| LoadArtifactError::Compile(e.to_string()))?;
        Ok((component, CacheOutcome::Compiled))
    }

    fn store(&self, path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
        let io = |source| CacheError::Io {
            path: path.to_path_buf(),
            source,
        };
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// A component could not be compiled or cached.
#[derive(Debug, thiserror::Error)]
pub enum LoadArtifactError {
    /// Not a valid component for this engine.
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
    /// The cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
}
