//! The compiled-component cache: Cranelift's output for a component, kept on disk so a second
//! run skips compilation.
//!
//! ```text
//! <cache_dir>/wasmtime-<version>-<settings hash>/<blake3 of the component>.cwasm
//! ```
//! The key holds the wasmtime version; wasmtime itself also refuses code compiled with other
//! settings, and such a file is simply recompiled and replaced.

use wasmtime::component::Component;
use wflow_core::Digest;

use crate::engine::Engine;
use crate::error::{EngineError, Result};

/// Compiles `bytes`, or loads the cached compilation.
pub(crate) fn compile(
    engine: &Engine,
    bytes: &[u8],
    digest: &Digest,
    origin: &str,
) -> Result<Component> {
    let Some(dir) = &engine.config().cache_dir else {
        return build(engine, bytes, origin);
    };
    let dir = dir.join(cache_key(engine));
    let file = dir.join(format!("{digest}.cwasm"));
    if file.exists() {
        // SAFETY: the file was written by `Component::serialize` below, in a cache directory that
        // belongs to this user; wasmtime checks that it was compiled by this version with these
        // settings and refuses it otherwise (we then recompile).
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(engine.wasmtime(), &file) };
        if let Ok(c) = loaded {
            return Ok(c);
        }
    }
    let component = build(engine, bytes, origin)?;
    // The cache is an optimisation: failing to write it must not fail the run.
    if let Ok(code) = component.serialize() {
        let tmp = dir.join(format!(".{digest}.{}.tmp", std::process::id()));
        let _ = std::fs::create_dir_all(&dir)
            .and_then(|_| std::fs::write(&tmp, code))
            .and_then(|_| std::fs::rename(&tmp, &file));
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(component)
}

fn build(engine: &Engine, bytes: &[u8], origin: &str) -> Result<Component> {
    Component::new(engine.wasmtime(), bytes).map_err(|e| EngineError::Invalid {
        origin: origin.into(),
        reason: format!("{e:#}"),
    })
}

/// Name of the cache folder: the wasmtime version (pinned exactly in Cargo.toml) and a hash of the
/// engine settings that affect compiled code.
fn cache_key(engine: &Engine) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine
        .wasmtime()
        .precompile_compatibility_hash()
        .hash(&mut h);
    format!("wasmtime-48.0.8-{:016x}", h.finish())
}
