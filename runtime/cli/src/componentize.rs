//! Building Python and JavaScript flows into components, with componentize-py and componentize-js.
//!
//! A Python flow is a `.py` file, or a directory with a `flow.py` (its other `.py` files are
//! bundled too); a JavaScript flow is a `.js`/`.mjs` file, or a directory with a `flow.js`. The
//! sources are staged in a build folder next to the SDK (embedded in this binary, so an installed
//! `wflow` needs no checkout) and the WIT contract, and the tool builds the component there.
//!
//! # What build time can touch
//!
//! Both tools run the flow's module (its top-level code) while they build, to snapshot it. That
//! code is as untrusted as a step, so the tool runs with a scrubbed environment (no variable of
//! the user's but a minimal `PATH`; `HOME` and `TMPDIR` inside the staging folder), in the staging
//! folder, and — for componentize-py, which gives the module read-write access to every folder on
//! its Python path and adds the site-packages of `$VIRTUAL_ENV` or else of the `python3` on `PATH`
//! — with `VIRTUAL_ENV` pointing at an empty folder of the stage. So the module reaches the staged
//! copies of the sources, the SDK and the interpreter's standard library, nothing else. The
//! generated entry module also denies writes, the network and processes while the module runs,
//! with a clear error, and fixes its clocks and random bytes (`guest-sdk/python/wflow/_build.py`).
//! componentize-js's pre-initialiser refuses every WASI call. See docs/polyglot.md.
//!
//! Built components are cached under `<cache>/built/<key>.wasm`, keyed by a hash of everything
//! that goes in: the sources, the SDK, the contract, the generated entry module and the tool's
//! version. The tools' output is not byte-reproducible, so without this every build would also make
//! a new compiled-code cache entry (12–20 s of Cranelift); with it, an unchanged flow starts at once.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::exit::BadInput;
use crate::output::Printer;
use crate::settings::Settings;

/// The pinned tool versions `scripts/install-guest-tools` installs.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";

/// The contract Python and JavaScript flows are built against (components built against 0.1.0
/// keep running: the host runs each by its own).
const WIT: &str = include_str!("../../../wit/0.2.0/flow.wit");

/// The Python SDK (`guest-sdk/python/wflow`), staged as the package `wflow`.
const PY_SDK: &[(&str, &str)] = &[
    (
        "wflow/__init__.py",
        include_str!("../../../guest-sdk/python/wflow/__init__.py"),
    ),
    (
        "wflow/cbor.py",
        include_str!("../../../guest-sdk/python/wflow/cbor.py"),
    ),
    (
        "wflow/card.py",
        include_str!("../../../guest-sdk/python/wflow/card.py"),
    ),
    (
        "wflow/_component.py",
        include_str!("../../../guest-sdk/python/wflow/_component.py"),
    ),
    (
        "wflow/_build.py",
        include_str!("../../../guest-sdk/python/wflow/_build.py"),
    ),
    (
        "wflow/_bundle.py",
        include_str!("../../../guest-sdk/python/wflow/_bundle.py"),
    ),
    (
        "wflow/_quick.py",
        include_str!("../../../guest-sdk/python/wflow/_quick.py"),
    ),
];

/// The JavaScript SDK (`guest-sdk/js`), staged as `_wflow/`.
const JS_SDK: &[(&str, &str)] = &[
    (
        "_wflow/wflow.js",
        include_str!("../../../guest-sdk/js/wflow.js"),
    ),
    (
        "_wflow/cbor.js",
        include_str!("../../../guest-sdk/js/cbor.js"),
    ),
    (
        "_wflow/card.js",
        include_str!("../../../guest-sdk/js/card.js"),
    ),
];

/// A guest language other than Rust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Python,
    JavaScript,
}

impl Lang {
    pub fn name(self) -> &'static str {
        match self {
            Lang::Python => "Python",
            Lang::JavaScript => "JavaScript",
        }
    }

    fn tool(self) -> &'static str {
        match self {
            Lang::Python => "componentize-py",
            Lang::JavaScript => "componentize-js",
        }
    }

    /// The flow file a directory must hold to be a flow of this language.
    pub fn marker(self) -> &'static str {
        match self {
            Lang::Python => "flow.py",
            Lang::JavaScript => "flow.js",
        }
    }

    /// The language of a source file, by extension.
    pub fn of_file(path: &Path) -> Option<Lang> {
        match path.extension()?.to_str()? {
            "py" => Some(Lang::Python),
            "js" | "mjs" => Some(Lang::JavaScript),
            _ => None,
        }
    }

    fn bundles(self, path: &Path) -> bool {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match self {
            Lang::Python => ext == "py",
            Lang::JavaScript => matches!(ext, "js" | "mjs" | "json"),
        }
    }
}

/// `$WFLOW_TOOLS_DIR`, else `~/.cache/wflow/tools`: where `scripts/install-guest-tools` puts them.
fn tools_dir() -> PathBuf {
    std::env::var_os("WFLOW_TOOLS_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/wflow/tools")))
        .unwrap_or_else(|| PathBuf::from(".wflow-tools"))
}

/// Finds the tool: `$WFLOW_COMPONENTIZE_PY` / `$WFLOW_COMPONENTIZE_JS`, the tools folder, `PATH`.
fn find_tool(lang: Lang) -> Result<PathBuf> {
    let (var, installed) = match lang {
        Lang::Python => (
            "WFLOW_COMPONENTIZE_PY",
            tools_dir().join("componentize-py/bin/componentize-py"),
        ),
        Lang::JavaScript => (
            "WFLOW_COMPONENTIZE_JS",
            tools_dir().join("componentize-js/node_modules/.bin/componentize-js"),
        ),
    };
    if let Some(p) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if installed.is_file() {
        return Ok(installed);
    }
    if let Some(p) = search_path(lang.tool()) {
        return Ok(p);
    }
    let install = match lang {
        Lang::Python => format!(
            "pip install componentize-py=={COMPONENTIZE_PY_VERSION}` (into a venv whose bin/ is on PATH)"
        ),
        Lang::JavaScript => format!(
            "npm install -g @bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION}` (needs node >= 18)"
        ),
    };
    anyhow::bail!(
        "{tool} is needed to build {lang} flows and was not found (looked at ${var}, {}, and PATH).\n\
         Install it with `scripts/install-guest-tools` from the wflow repository (both tools, pinned, \
         into {}), or with `{install}",
        installed.display(),
        tools_dir().display(),
        tool = lang.tool(),
        lang = lang.name(),
    )
}

/// The tool's `--version`, remembered in `cache` for this exact tool file (its path, size, time,
/// and for an npm package its `package.json`), so a build that hits the cache starts no tool.
fn tool_version(tool: &Path, cache: &Path) -> Result<String> {
    let real = std::fs::canonicalize(tool).unwrap_or_else(|_| tool.to_path_buf());
    let mut stamp = blake3::Hasher::new();
    stamp.update(real.to_string_lossy().as_bytes());
    if let Ok(m) = std::fs::metadata(&real) {
        stamp.update(&m.len().to_le_bytes());
        stamp.update(format!("{:?}", m.modified().ok()).as_bytes());
    }
    for dir in real.ancestors().skip(1).take(3) {
        if let Ok(pkg) = std::fs::read(dir.join("package.json")) {
            stamp.update(&pkg);
            break;
        }
    }
    let file = cache.join(format!(".tool-{}", &stamp.finalize().to_hex()[..32]));
    if let Ok(v) = std::fs::read_to_string(&file) {
        return Ok(v);
    }
    let out = Command::new(tool)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {}", tool.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "{} --version failed: {}",
        tool.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let _ = std::fs::create_dir_all(cache).and_then(|_| std::fs::write(&file, &version));
    Ok(version)
}

/// The sources of a flow: the files to stage (relative path, bytes) and the module to import.
pub(crate) struct Sources {
    /// The folder the relative paths start from (for error messages).
    pub(crate) root: PathBuf,
    pub(crate) files: Vec<(String, Vec<u8>)>,
    /// The module that defines the flow (`flow` for `flow.py`, `./flow.js`…).
    pub(crate) module: String,
}

fn collect(lang: Lang, source: &Path) -> Result<Sources> {
    if source.is_dir() {
        let marker = source.join(lang.marker());
        if !marker.is_file() {
            return Err(BadInput(format!(
                "{} is not a {} flow: it has no {}",
                source.display(),
                lang.name(),
                lang.marker()
            ))
            .into());
        }
        let mut files = Vec::new();
        walk(lang, source, source, &mut files)?;
        files.sort();
        let module = match lang {
            Lang::Python => "flow".to_string(),
            Lang::JavaScript => "./flow.js".to_string(),
        };
        return Ok(Sources {
            root: source.to_path_buf(),
            files,
            module,
        });
    }
    let name = source
        .file_name()
        .and_then(|n| n.to_str())
        .context("a flow file has a UTF-8 name")?
        .to_string();
    let bytes = std::fs::read(source)
        .map_err(|e| BadInput(format!("cannot read {}: {e}", source.display())))?;
    let module = match lang {
        Lang::Python => {
            let stem = name.trim_end_matches(".py");
            let ok = !stem.is_empty()
                && !stem.starts_with(|c: char| c.is_ascii_digit())
                && stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok || stem == "wflow" || stem == "wflow_app" {
                return Err(BadInput(format!(
                    "{}: a Python flow file's name must be a module name (letters, digits, `_`; \
                     not `wflow`)",
                    source.display()
                ))
                .into());
            }
            stem.to_string()
        }
        Lang::JavaScript => format!("./{name}"),
    };
    Ok(Sources {
        root: source
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf(),
        files: vec![(name, bytes)],
        module,
    })
}

fn walk(lang: Lang, root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || matches!(&*name, "__pycache__" | "node_modules" | "target") {
            continue;
        }
        if path.is_dir() {
            walk(lang, root, &path, out)?;
        } else if lang.bundles(&path) {
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, std::fs::read(&path)?));
        }
    }
    Ok(())
}

/// Points `"wflow"` imports of a staged JS file at the staged SDK.
fn rewrite_js_imports(rel: &str, text: &str) -> String {
    let depth = rel.matches('/').count();
    let sdk = if depth == 0 {
        "./_wflow/wflow.js".to_string()
    } else {
        format!("{}_wflow/wflow.js", "../".repeat(depth))
    };
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let mut l = line.to_string();
        for q in ['"', '\''] {
            let spec = format!("{q}wflow{q}");
            if l.contains(&spec) && (l.trim_start().starts_with("import") || l.contains("from")) {
                l = l.replace(&spec, &format!("{q}{sdk}{q}"));
            }
        }
        out.push_str(&l);
    }
    out
}

/// The generated entry module. For Python, `root` is the folder of the author's sources, named in
/// tracebacks in place of the staging folder (`/0`, componentize-py's name for the first `-p`).
fn entry(lang: Lang, module: &str, root: &Path) -> (&'static str, String) {
    match lang {
        Lang::Python => (
            "wflow_app.py",
            format!(
                "# Generated by `wflow build`: exports the flow defined in `{module}`, whose\n\
                 # top-level code runs at build time under `guarded` (wflow/_build.py), and\n\
                 # bundles what the loaded modules import lazily (wflow/_bundle.py).\n\
                 from wflow._build import guarded as _guarded\n\
                 from wflow._component import check_flow_name, export, sources_at\n\
                 sources_at(\"/0\", {root})\n\
                 with _guarded():\n    check_flow_name({module:?}, {file})\n    \
                 import {module} as _flow_module\n\
                 Flow = export(_flow_module)\n\
                 from wflow._bundle import bundle as _bundle\n\
                 with _guarded():\n    _bundle()\n",
                root = python_str(&root.display().to_string()),
                file = python_str(&root.join(format!("{module}.py")).display().to_string()),
            ),
        ),
        Lang::JavaScript => (
            "wflow_entry.js",
            format!(
                "// Generated by `wflow build`: exports the flow defined in `{module}`.\n\
                 import * as mod from {module:?};\n\
                 import {{ exportModule }} from \"./_wflow/wflow.js\";\n\
                 export const flow = exportModule(mod, {module:?});\n"
            ),
        ),
    }
}

/// `s` as a Python string literal: printable ASCII as is, everything else escaped.
pub(crate) fn python_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' | '"' => out.extend(['\\', c]),
            ' '..='~' => out.push(c),
            _ => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// How a Python flow is built (JavaScript flows are always built in full).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// componentize-py with the flow's module imported at build time: what leaves the machine
    /// (`--compute batch`, `wflow deploy`, `wflow build --full`).
    Full,
    /// The flow's sources patched into a base component built once (see [`crate::quick`]):
    /// `wflow run` and `wflow build` on this machine.
    Quick,
}

/// Builds a Python or JavaScript flow (file or directory) and returns its component, from the
/// build cache when nothing that goes in has changed.
pub fn build(
    lang: Lang,
    source: &Path,
    settings: &Settings,
    printer: &Printer,
    form: Form,
) -> Result<PathBuf> {
    let cache_dir = &settings.cache_dir;
    let sources = collect(lang, source)?;
    let tool = find_tool(lang)?;
    let built = cache_dir.join("built");
    let version = tool_version(&tool, &built)?;
    let root = std::path::absolute(&sources.root).unwrap_or_else(|_| sources.root.clone());
    if lang == Lang::Python && form == Form::Quick {
        let tool = Tool {
            lang,
            path: &tool,
            version: &version,
        };
        // `None`: too large for the quick form, built in full below.
        if let Some(out) = crate::quick::build(&tool, settings, &sources, &root, source, printer)? {
            return Ok(out);
        }
    }
    let (entry_name, entry_text) = entry(lang, &sources.module, &root);

    let mut staged: Vec<(String, Vec<u8>)> = sources
        .files
        .iter()
        .map(|(rel, bytes)| {
            let bytes = if lang == Lang::JavaScript && rel.ends_with("js") {
                rewrite_js_imports(rel, &String::from_utf8_lossy(bytes)).into_bytes()
            } else {
                bytes.clone()
            };
            (format!("src/{rel}"), bytes)
        })
        .collect();
    staged.extend(sdk_files(lang));
    staged.push((format!("src/{entry_name}"), entry_text.into_bytes()));
    staged.push(wit_file());

    let key = staged_key(lang, &version, &staged);
    let out = built.join(format!("{}.wasm", &key[..32]));
    if cached(&out, printer) {
        return Ok(out);
    }
    printer.note(format!(
        "Building {} ({}, {version})",
        source.display(),
        lang.name()
    ));
    let tool = Tool {
        lang,
        path: &tool,
        version: &version,
    };
    let bytes = tool.run(&built, &key, &staged, entry_name, source, &sources.root)?;
    keep(&out, &bytes)?;
    Ok(out)
}

/// The SDK's files, staged where the tool looks for them.
pub(crate) fn sdk_files(lang: Lang) -> Vec<(String, Vec<u8>)> {
    let (sdk, dir) = match lang {
        Lang::Python => (PY_SDK, "sdk"),
        Lang::JavaScript => (JS_SDK, "src"),
    };
    sdk.iter()
        .map(|(rel, text)| (format!("{dir}/{rel}"), text.as_bytes().to_vec()))
        .collect()
}

/// The contract's WIT, staged.
pub(crate) fn wit_file() -> (String, Vec<u8>) {
    ("wit/flow.wit".into(), WIT.as_bytes().to_vec())
}

/// The build cache's key of what is staged (a hex string).
pub(crate) fn staged_key(lang: Lang, version: &str, staged: &[(String, Vec<u8>)]) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(lang.tool().as_bytes());
    hasher.update(version.as_bytes());
    for (rel, bytes) in staged {
        hasher.update(&(rel.len() as u64).to_le_bytes());
        hasher.update(rel.as_bytes());
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    hasher.finalize().to_hex().to_string()
}

/// Whether the build cache holds `out`, whole (a damaged entry is removed, with a warning).
pub(crate) fn cached(out: &Path, printer: &Printer) -> bool {
    match check_built(out) {
        Ok(found) => found,
        Err(why) => {
            printer.warning(format!(
                "ignored the cached build {} ({why}); building the flow again",
                out.display()
            ));
            let _ = std::fs::remove_file(out);
            false
        }
    }
}

/// Keeps a built component in the build cache: its digest first, then the component (through
/// temporary files renamed into place), so a cached build is used only if it still has the
/// digest it was built with.
pub(crate) fn keep(out: &Path, bytes: &[u8]) -> Result<()> {
    let digest = blake3::hash(bytes).to_hex();
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    let sum = out.with_extension("b3");
    let tmp_sum = out.with_extension(format!("b3tmp{}", std::process::id()));
    let kept = std::fs::write(&tmp_sum, digest.as_bytes())
        .and_then(|()| std::fs::write(&tmp, bytes))
        .and_then(|()| std::fs::rename(&tmp_sum, &sum))
        .and_then(|()| std::fs::rename(&tmp, out));
    if kept.is_err() {
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_file(&tmp_sum);
    }
    kept.with_context(|| format!("keeping the built component in {}", out.display()))
}

/// A componentize tool, found, with its version.
pub(crate) struct Tool<'a> {
    pub(crate) lang: Lang,
    pub(crate) path: &'a Path,
    pub(crate) version: &'a str,
}

impl Tool<'_> {
    /// Stages `staged` in a build folder of `built` and runs the tool on the entry module
    /// `entry_name`; returns the component. A failure names `source`, with paths of the stage
    /// turned back into `root`'s.
    pub(crate) fn run(
        &self,
        built: &Path,
        key: &str,
        staged: &[(String, Vec<u8>)],
        entry_name: &str,
        source: &Path,
        root: &Path,
    ) -> Result<Vec<u8>> {
        let lang = self.lang;
        // Absolute: the tool runs in it, and its paths go into the tool's environment.
        let stage = std::path::absolute(built.join(format!(
            ".stage-{}-{}",
            &key[..16],
            std::process::id()
        )))
        .context("the cache folder has no absolute path")?;
        let stage = Stage(stage);
        let _ = std::fs::remove_dir_all(&stage.0);
        for (rel, bytes) in staged {
            let p = stage.0.join(rel);
            std::fs::create_dir_all(p.parent().expect("has a parent"))?;
            std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
        }
        let tmp_out = stage.0.join("out.wasm");
        let mut cmd = Command::new(self.path);
        match lang {
            Lang::Python => {
                cmd.arg("-d")
                    .arg(stage.0.join("wit"))
                    .args(["-w", "step", "componentize"])
                    .arg(entry_name.trim_end_matches(".py"))
                    .arg("-p")
                    .arg(stage.0.join("src"))
                    .arg("-p")
                    .arg(stage.0.join("sdk"))
                    .arg("-o")
                    .arg(&tmp_out);
            }
            Lang::JavaScript => {
                cmd.arg("--wit")
                    .arg(stage.0.join("wit"))
                    .args(["-n", "step", "-d", "http", "fetch-event", "-o"])
                    .arg(&tmp_out)
                    .arg(stage.0.join("src").join(entry_name));
            }
        }
        confine(&mut cmd, self.path, &stage.0)?;
        let output = cmd
            .output()
            .with_context(|| format!("cannot run {}", self.path.display()))?;
        if !output.status.success() || !tmp_out.is_file() {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            let msg = explain_failure(lang, &text, &stage.0, root);
            return Err(BadInput(format!(
                "building the {} flow {} failed:\n{msg}",
                lang.name(),
                source.display()
            ))
            .into());
        }
        Ok(std::fs::read(&tmp_out)?)
    }
}

/// Whether the cached build `out` exists (`Ok(false)`: no) and is whole: its BLAKE3 digest is the
/// one written beside it (`<key>.b3`) when it was built. `Err(why)` for a damaged entry; an entry without a digest
/// (from an older wflow) is not used.
fn check_built(out: &Path) -> std::result::Result<bool, String> {
    let bytes = match std::fs::read(out) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    let sum = out.with_extension("b3");
    let recorded = match std::fs::read_to_string(&sum) {
        Ok(r) => r,
        // Built before digests were kept: not trusted, built again.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("cannot read its digest {}: {e}", sum.display())),
    };
    if recorded.trim() != blake3::hash(&bytes).to_hex().as_str() {
        return Err(format!(
            "its content does not match the digest in {}: the file was changed or cut short",
            sum.display()
        ));
    }
    Ok(true)
}

/// Runs the tool with nothing of the user's environment and nothing of the host's Python: a
/// minimal `PATH` (the tool's own folder, for `node` or the venv's `python3`, and the system's),
/// `HOME` and `TMPDIR` in the stage, and `VIRTUAL_ENV` at an empty folder of the stage (so
/// componentize-py adds no site-packages of the host to what the flow's module can reach).
fn confine(cmd: &mut Command, tool: &Path, stage: &Path) -> Result<()> {
    let home = stage.join("home");
    let tmp = stage.join("tmp");
    let venv = stage.join("venv");
    for dir in [&home, &tmp, &venv.join("lib").join("site-packages")] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut path = vec![];
    if let Some(dir) = tool.parent().filter(|d| !d.as_os_str().is_empty()) {
        path.push(dir.to_path_buf());
    }
    // `node` for componentize-js (an npm script: `#!/usr/bin/env node`).
    if let Some(node) = search_path("node") {
        path.extend(node.parent().map(Path::to_path_buf));
    }
    path.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(PathBuf::from));
    cmd.env_clear()
        .env(
            "PATH",
            std::env::join_paths(path).context("the tool's folder is not a valid PATH entry")?,
        )
        .env("HOME", &home)
        .env("TMPDIR", &tmp)
        .env("VIRTUAL_ENV", &venv)
        .env("LANG", "C.UTF-8")
        .env("RUST_BACKTRACE", "0")
        .current_dir(stage);
    Ok(())
}

/// An executable named `name` on the user's `PATH`.
fn search_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The build folder, removed when the build ends (well or not).
struct Stage(PathBuf);

impl Drop for Stage {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The useful part of a tool's failure, with staged paths turned back into the author's.
fn explain_failure(lang: Lang, text: &str, stage: &Path, root: &Path) -> String {
    let mut text = match lang {
        // componentize-py prints the guest's traceback inside a Rust error, then a backtrace.
        Lang::Python => {
            let start = text
                .find("AssertionError: ")
                .map(|i| i + "AssertionError: ".len())
                .unwrap_or(0);
            let rest = &text[start..];
            let end = ["\nCaused by:", "\nStack backtrace:"]
                .iter()
                .filter_map(|m| rest.find(m))
                .min()
                .unwrap_or(rest.len());
            rest[..end].trim().to_string()
        }
        Lang::JavaScript => {
            // Drop node's stack frames of the tool itself.
            let kept = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("at ") || !l.contains("componentize-js"))
                .filter(|l| !l.starts_with("Node.js v"))
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .to_string();
            if kept.contains("`componentize.wizer` function trapped") {
                format!(
                    "{kept}\n\nThe module's top-level code made a call that is refused while a \
                     flow is built (random numbers, the network): do it inside a step."
                )
            } else {
                kept
            }
        }
    };
    let src = stage.join("src");
    let root = root.display().to_string();
    text = text.replace(&format!("{}/", src.display()), &format!("{root}/"));
    if lang == Lang::Python {
        // The frames of the generated entry module and of the SDK (`/1/wflow/`) say nothing to the
        // author: drop them (with their source and marker lines), and a traceback header left
        // with no frame. componentize-py maps the first `-p` folder (the staged sources) to `/0`.
        let mut kept: Vec<&str> = Vec::new();
        let mut skipping = false;
        for line in text.lines() {
            let frame = line.starts_with("  File ");
            if frame {
                skipping = line.starts_with("  File \"/0/wflow_app.py\"")
                    || line.starts_with("  File \"/1/wflow/");
            } else if skipping && line.starts_with("    ") {
                continue;
            } else {
                skipping = false;
            }
            if !skipping {
                kept.push(line);
            }
        }
        let mut lines: Vec<&str> = Vec::new();
        for (i, line) in kept.iter().enumerate() {
            let next_is_frame = kept.get(i + 1).is_some_and(|l| l.starts_with("  File "));
            if line.starts_with("Traceback (most recent call last)") && !next_is_frame {
                continue;
            }
            lines.push(line);
        }
        text = lines.join("\n");
        text = text.replace("\"/0/", &format!("\"{root}/"));
        text = text.replace("(/0/", &format!("({root}/"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_imports_point_at_the_staged_sdk() {
        let src = "import { FlowSpec, param } from \"wflow\";\nimport x from './wflow';\nconst s = \"wflow\";\n";
        let out = rewrite_js_imports("flow.js", src);
        assert!(out.contains("from \"./_wflow/wflow.js\""), "{out}");
        assert!(out.contains("const s = \"wflow\""), "{out}");
        assert!(out.contains("'./wflow'"), "{out}");
        let nested = rewrite_js_imports("lib/util.js", "import { encode } from 'wflow';\n");
        assert_eq!(nested, "import { encode } from '../_wflow/wflow.js';\n");
    }

    #[test]
    fn python_errors_name_the_authors_file() {
        let stage = Path::new("/c/built/.stage-x");
        let text = "Traceback\nAssertionError: Traceback (most recent call last):\n  File \"/0/wflow_app.py\", line 2, in <module>\n    import flow as _flow_module\n  File \"/0/flow.py\", line 4\n    def start(self)\nSyntaxError: expected ':'\n\nCaused by:\n  x\nStack backtrace:\n 0: y";
        let msg = explain_failure(Lang::Python, text, stage, Path::new("examples/py"));
        assert!(
            msg.contains("File \"examples/py/flow.py\", line 4"),
            "{msg}"
        );
        assert!(!msg.contains("Caused by"), "{msg}");
        assert!(msg.contains("    def start(self)"), "{msg}");
        assert!(!msg.contains("wflow_app"), "{msg}");

        // Frames of the entry module and the SDK go, with their source and marker lines, and so
        // does a header left with no frame.
        let text = "AssertionError: Traceback (most recent call last):\n  File \"/0/wflow_app.py\", line 6, in <module>\n    check_flow_name(\"secrets\", \"/x/secrets.py\")\n    ~~~~~~~~^^^^\n  File \"/1/wflow/_component.py\", line 248, in check_flow_name\n    raise ImportError(\n    ...<4 lines>...\n    )\nImportError: /x/secrets.py: a flow file cannot be named `secrets.py`\n\nCaused by:\n  x";
        let msg = explain_failure(Lang::Python, text, stage, Path::new("/x"));
        assert_eq!(
            msg,
            "ImportError: /x/secrets.py: a flow file cannot be named `secrets.py`"
        );
    }
}
