//! The compiled-component cache: Cranelift's output for a component, kept on disk so a second
//! run skips compilation.
//!
//! ```text
//! <cache_dir>/wasmtime-<version>-<settings hash>/<blake3 of the component>.cwasm
//! <cache_dir>/wasmtime-<version>-<settings hash>/functions.pack   (see crate::functions)
//! ```
//! Loading compiled code runs it as native code, so a cache entry is **authenticated** before
//! wasmtime sees it: each file is the serialized code followed by a BLAKE3 keyed hash (the key a
//! per-user secret, [`default_cache_key`], mode 0600, kept apart from the cache) of the component's
//! digest, the cache key and the code, then a magic trailer. A file that does not verify — another
//! component's code moved here, a crafted file, an old unauthenticated entry — is a cache miss
//! with a warning, and is recompiled and replaced. The file is read into memory once, checked and
//! deserialised from those bytes, so nothing can change it in between. The cache folder must
//! belong to this user and not be writable by others; otherwise it is not used (with a warning).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::Component;
use wflow_core::Digest;

use crate::compile::{self, Compiler, Reused};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::functions::Functions;

/// The last bytes of an authenticated cache file.
const MAGIC: &[u8; 8] = b"wflowmac";
const TAG: usize = 32;

/// Where the cache's secret is kept by default: `$XDG_CONFIG_HOME/wflow/cache-key`, else
/// `~/.config/wflow/cache-key` (`None` without either: then nothing is cached). It must stay
/// outside anything a policy grants to a step.
pub fn default_cache_key() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("XDG_CONFIG_HOME")
        .or_else(|| env("HOME").map(|h| h.join(".config")))
        .map(|d| d.join("wflow").join("cache-key"))
}

/// Compiles `bytes`, or loads the cached compilation. Returns a warning when a cache entry or the
/// cache itself could not be trusted.
pub(crate) fn compile(
    engine: &Engine,
    bytes: &[u8],
    digest: &Digest,
    origin: &str,
) -> Result<(Component, Option<String>, Option<CompileStats>)> {
    let cache = match &engine.config().cache_dir {
        None => Ok(None),
        Some(dir) => Cache::open(engine, dir).map(Some),
    };
    let (cache, mut warning) = match cache {
        Ok(c) => (c, None),
        Err(w) => (None, Some(w)),
    };
    if let Some(cache) = &cache {
        match cache.load(engine, digest) {
            Ok(Some(c)) => return Ok((c, None, None)),
            Ok(None) => {}
            Err(w) => warning = Some(w),
        }
    }
    // The functions of earlier compiles (the interpreter of a rebuilt Python flow): a damaged or
    // foreign pack is ignored, not trusted.
    let functions = cache.as_ref().map(|c| Arc::new(c.load_functions()));
    let (component, code, reused) = build(engine, bytes, origin, functions.as_ref())?;
    if let Some(cache) = &cache {
        let code = match code {
            Some(code) => Some(code),
            None => component.serialize().ok(),
        };
        // The cache is an optimisation: failing to write it must not fail the run.
        if let Some(code) = code {
            let _ = cache.store(&cache.file(digest), &digest.to_string(), &code);
        }
        if let Some(r) = &reused {
            let _ = cache.store(&cache.dir.join(FUNCTIONS), FUNCTIONS, &r.pack);
        }
    }
    let stats = reused.map(|r| CompileStats {
        functions_reused: r.reused,
        functions_compiled: r.compiled,
    });
    Ok((component, warning, stats))
}

/// Like [`compile`], for a component that is `base` with the bytes of `range` (inside a data
/// segment) changed: its code is derived from the base's (see [`crate::derive`]), the base's
/// compiled now if the cache does not hold it. Falls back to [`compile`] (with a warning) when
/// the component cannot be derived or there is no cache to take the base's code from.
pub(crate) fn compile_derived(
    engine: &Engine,
    bytes: &[u8],
    digest: &Digest,
    base: &[u8],
    range: std::ops::Range<usize>,
    origin: &str,
) -> Result<(Component, Option<String>, Option<CompileStats>)> {
    let Some(dir) = &engine.config().cache_dir else {
        return compile(engine, bytes, digest, origin);
    };
    let Ok(cache) = Cache::open(engine, dir) else {
        return compile(engine, bytes, digest, origin);
    };
    if let Ok(Some(c)) = cache.load(engine, digest) {
        return Ok((c, None, None));
    }
    let fallback = |why: String| -> Result<(Component, Option<String>, Option<CompileStats>)> {
        let (c, warning, stats) = compile(engine, bytes, digest, origin)?;
        let why =
            format!("{origin}: its code could not be derived from its base's ({why}); compiled it");
        Ok((
            c,
            Some(warning.map_or(why.clone(), |w| format!("{w}; {why}"))),
            stats,
        ))
    };
    if let Err(why) = crate::derive::check(bytes, base, &range) {
        return fallback(why);
    }
    let base_digest = Digest::of(base);
    let base_file = cache.file(&base_digest);
    let (base_code, stats) = match cache.read(&base_file, &base_digest.to_string()) {
        Ok(Some(code)) => (code, None),
        // No (trusted) code for the base yet: compile it, once for every component of the base.
        _ => {
            let functions = Arc::new(cache.load_functions());
            let (component, code, reused) = build(engine, base, origin, Some(&functions))?;
            let Some(code) = code.or_else(|| component.serialize().ok()) else {
                return fallback("the base's code cannot be serialised".into());
            };
            let _ = cache.store(&base_file, &base_digest.to_string(), &code);
            if let Some(r) = &reused {
                let _ = cache.store(&cache.dir.join(FUNCTIONS), FUNCTIONS, &r.pack);
            }
            let stats = reused.map(|r| CompileStats {
                functions_reused: r.reused,
                functions_compiled: r.compiled,
            });
            (code, stats)
        }
    };
    let code = match crate::derive::derive(&base_code, &base[range.clone()], &bytes[range]) {
        Ok(code) => code,
        Err(why) => return fallback(why),
    };
    drop(base_code);
    // SAFETY: the base's code was compiled by this binary (now, or earlier and authenticated by
    // this user's key for the base's digest); it differs only in the bytes of a data segment,
    // written where that segment's bytes were found, once. Wasmtime still checks its header.
    #[allow(unsafe_code)]
    let component = unsafe { Component::deserialize(engine.wasmtime(), &code) };
    match component {
        Ok(component) => {
            let _ = cache.store(&cache.file(digest), &digest.to_string(), &code);
            Ok((component, None, stats))
        }
        Err(e) => fallback(format!("wasmtime refused the derived code: {e}")),
    }
}

/// How a component was compiled with the function cache: functions taken from it (compiled for
/// an earlier component) and functions compiled now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompileStats {
    /// Functions whose code came from the function cache.
    pub functions_reused: usize,
    /// Functions compiled (and added to the cache).
    pub functions_compiled: usize,
}

/// The function cache's file in the cache folder (see [`crate::functions`]).
const FUNCTIONS: &str = "functions.pack";

/// Compiles where the engine says, with the function cache when there is one; returns the
/// component, the serialized code when it is at hand (to cache without serialising again) and
/// the function cache to keep.
fn build(
    engine: &Engine,
    bytes: &[u8],
    origin: &str,
    functions: Option<&Arc<Functions>>,
) -> Result<(Component, Option<Vec<u8>>, Option<Reused>)> {
    match &engine.config().compiler {
        Compiler::InProcess if functions.is_none() => Component::new(engine.wasmtime(), bytes)
            .map(|c| (c, None, None))
            .map_err(|e| EngineError::Invalid {
                origin: origin.into(),
                reason: format!("{e:#}"),
            }),
        Compiler::InProcess => {
            let functions = functions.expect("checked above");
            let code =
                compile::with_functions(engine.config(), bytes, functions).map_err(|reason| {
                    EngineError::Invalid {
                        origin: origin.into(),
                        reason,
                    }
                })?;
            let (reused, compiled) = functions.counts();
            let reused = Reused {
                reused,
                compiled,
                pack: functions.pack(),
            };
            load_compiled(engine, code, origin).map(|(c, code)| (c, code, Some(reused)))
        }
        Compiler::Subprocess { program, args } => {
            let (code, reused) =
                compile::in_child(engine, program, args, bytes, origin, functions)?;
            load_compiled(engine, code, origin).map(|(c, code)| (c, code, reused))
        }
    }
}

/// Loads code compiled by this binary, in this process or a child; returns it with the code.
fn load_compiled(
    engine: &Engine,
    code: Vec<u8>,
    origin: &str,
) -> Result<(Component, Option<Vec<u8>>)> {
    // SAFETY: the code was just compiled by this same binary, here or in a child process whose
    // pipe nobody else holds; wasmtime still checks its header.
    #[allow(unsafe_code)]
    let component = unsafe { Component::deserialize(engine.wasmtime(), &code) }.map_err(|e| {
        EngineError::Compile {
            origin: origin.into(),
            reason: format!("loading the compiled code: {e:#}"),
        }
    })?;
    Ok((component, Some(code)))
}

/// An open, trusted cache folder and its key.
struct Cache {
    dir: PathBuf,
    key: [u8; 32],
    /// Bound into every tag: the wasmtime version and settings the code is for.
    context: String,
}

impl Cache {
    /// Opens the cache: creates the folder (0700) and the key if needed, and checks that both
    /// belong to this user and are not writable (the key: not readable) by anyone else.
    fn open(engine: &Engine, root: &Path) -> std::result::Result<Cache, String> {
        Cache::open_at(
            root,
            cache_key(engine),
            engine.config().cache_key.as_deref(),
            "the compiled-code cache",
        )
    }

    /// Opens the folder `root/context` with the key at `key_path` (else [`default_cache_key`]);
    /// `what` names the cache in messages.
    fn open_at(
        root: &Path,
        context: String,
        key_path: Option<&Path>,
        what: &str,
    ) -> std::result::Result<Cache, String> {
        let dir = root.join(&context);
        let not_used = |why: String| format!("{what} is not used: {why}");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| not_used(format!("cannot create {}: {e}", dir.display())))?;
        for d in [root, dir.as_path()] {
            check_owned(d, 0o022).map_err(&not_used)?;
        }
        let key_path = match key_path {
            Some(p) => p.to_path_buf(),
            None => default_cache_key()
                .ok_or_else(|| not_used("neither $XDG_CONFIG_HOME nor $HOME is set".into()))?,
        };
        let key = load_key(&key_path).map_err(&not_used)?;
        Ok(Cache { dir, key, context })
    }

    fn file(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!("{digest}.cwasm"))
    }

    /// The tag of a cache file's content: `label` is the component's digest for its code, or
    /// [`FUNCTIONS`] for the function cache.
    fn tag(&self, label: &str, code: &[u8]) -> blake3::Hash {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(self.context.as_bytes());
        h.update(&[0]);
        h.update(label.as_bytes());
        h.update(&[0]);
        h.update(code);
        h.finalize()
    }

    /// The content of the cache file `path` if its tag verifies for `label`; `Ok(None)` if there
    /// is no such file, `Err(why)` if it does not verify.
    fn read(&self, path: &Path, label: &str) -> std::result::Result<Option<Vec<u8>>, String> {
        let mut file = match std::fs::read(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read it: {e}")),
        };
        let Some(code_len) = file.len().checked_sub(TAG + MAGIC.len()) else {
            return Err("it is not an authenticated cache entry".into());
        };
        let (code, trailer) = file.split_at(code_len);
        let (tag, magic) = trailer.split_at(TAG);
        if magic != MAGIC {
            return Err("it is not an authenticated cache entry".into());
        }
        let tag: [u8; TAG] = tag.try_into().expect("split at TAG bytes");
        // `blake3::Hash` compares in constant time.
        if blake3::Hash::from_bytes(tag) != self.tag(label, code) {
            return Err(format!(
                "its authentication tag does not match: it was not written by this user's wflow \
                 for {}",
                if label == FUNCTIONS {
                    "this engine"
                } else {
                    "this component"
                }
            ));
        }
        file.truncate(code_len);
        Ok(Some(file))
    }

    /// The cached component, `None` if there is none, or a warning if the file does not verify
    /// (or wasmtime refuses it).
    fn load(
        &self,
        engine: &Engine,
        digest: &Digest,
    ) -> std::result::Result<Option<Component>, String> {
        let path = self.file(digest);
        let rejected = |why: &str| {
            format!(
                "ignored the cached compiled code {} ({why}); compiling the component again",
                path.display()
            )
        };
        let Some(code) = self
            .read(&path, &digest.to_string())
            .map_err(|why| rejected(&why))?
        else {
            return Ok(None);
        };
        // SAFETY: the bytes carry a tag made with this user's secret key over this component's
        // digest, so they are code this user's wflow compiled for this very component; they are
        // checked in memory, so nothing can change them between the check and the load.
        // Wasmtime still refuses code for another version or other settings.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize(engine.wasmtime(), &code) };
        loaded
            .map(Some)
            .map_err(|e| rejected(&format!("wasmtime refused it: {e}")))
    }

    /// The function cache: empty when there is none, or when it does not verify or parse (then
    /// it is replaced after the compile).
    fn load_functions(&self) -> Functions {
        self.read(&self.dir.join(FUNCTIONS), FUNCTIONS)
            .ok()
            .flatten()
            .and_then(|pack| Functions::from_pack(&pack))
            .unwrap_or_default()
    }

    /// Writes `code` to `file` with its tag for `label` (to a temporary file renamed into place).
    fn store(&self, file: &Path, label: &str, code: &[u8]) -> std::io::Result<()> {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let tmp = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let tag = self.tag(label, code);
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(code)?;
                f.write_all(tag.as_bytes())?;
                f.write_all(MAGIC)
            })
            .and_then(|()| std::fs::rename(&tmp, file));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }
}

/// A folder of files authenticated like compiled code (the same per-user key, the same tag and
/// the same checks of the folder's owner and mode), for what is as trusted as code though it is
/// not machine code: the base component every quick-form Python flow is patched from (see the
/// CLI's `quick` module), which runs with every flow's grants.
pub struct Sealed(Cache);

impl Sealed {
    /// Opens (creating it, mode 0700) the folder `root/context`, keyed by the key at `key_path`
    /// (else [`default_cache_key`]); `Err(why)` if it cannot be trusted.
    pub fn open(
        root: &Path,
        context: &str,
        key_path: Option<&Path>,
    ) -> std::result::Result<Sealed, String> {
        Cache::open_at(root, context.to_string(), key_path, "the cache").map(Sealed)
    }

    /// The file's path in the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.dir.join(name)
    }

    /// The content of file `name` if it verifies; `Ok(None)` if there is none, `Err(why)` if it
    /// does not verify.
    pub fn read(&self, name: &str) -> std::result::Result<Option<Vec<u8>>, String> {
        self.0.read(&self.path(name), name)
    }

    /// Writes file `name` with its tag (to a temporary file renamed into place).
    pub fn write(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.0.store(&self.path(name), name, bytes)
    }
}

/// Checks that `path` belongs to this user and has none of the `forbidden` mode bits (removing
/// them if it can: folders made by older versions followed the umask).
fn check_owned(path: &Path, forbidden: u32) -> std::result::Result<(), String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot inspect {}: {e}", path.display()))?;
    if meta.uid() != euid() {
        return Err(format!(
            "{} belongs to user {}, not to this user ({})",
            path.display(),
            meta.uid(),
            euid()
        ));
    }
    let mode = meta.permissions().mode();
    let tightened = std::fs::Permissions::from_mode(mode & 0o7777 & !forbidden);
    if mode & forbidden != 0 && std::fs::set_permissions(path, tightened).is_err() {
        return Err(format!(
            "{} has mode {:o}: it must not be {} by other users",
            path.display(),
            mode & 0o7777,
            if forbidden & 0o044 != 0 {
                "readable or writable"
            } else {
                "writable"
            }
        ));
    }
    Ok(())
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    unsafe {
        libc::geteuid()
    }
}

/// Reads the 32-byte key at `path`, creating it (mode 0600, in a folder of mode 0700) if missing.
fn load_key(path: &Path) -> std::result::Result<[u8; 32], String> {
    if !path.exists() {
        create_key(path)?;
    }
    check_owned(path, 0o077)?;
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    bytes
        .try_into()
        .map_err(|_| format!("{} is not a 32-byte key", path.display()))
}

fn create_key(path: &Path) -> std::result::Result<(), String> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut key))
        .map_err(|e| format!("cannot read random bytes for the cache key: {e}"))?;
    let tmp = parent.join(format!(".cache-key.{}.tmp", std::process::id()));
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&key).and_then(|()| f.sync_all()))
        // A hard link never replaces: if another process made the key first, keep theirs.
        .and_then(|()| match std::fs::hard_link(&tmp, path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            other => other,
        });
    let _ = std::fs::remove_file(&tmp);
    created.map_err(|e| format!("cannot create the cache key {}: {e}", path.display()))
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
