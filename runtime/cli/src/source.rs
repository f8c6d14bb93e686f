//! What a flow is on disk, and turning it into components: a `.wasm` file, a Rust crate, a Python
//! or JavaScript flow, or a flow manifest (`wflow.toml`) that names one component per group of
//! steps — a polyglot flow.
//!
//! A manifest lists components; each component's `spec()` declares the steps it implements (with
//! their transitions and settings) and the parameters it reads. The flow is their union: every step
//! is provided by exactly one component, parameters declared twice must agree, and the merged graph
//! is validated like any other before anything runs (docs/polyglot.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;
use wflow_core::FlowSpec;

use crate::componentize::{Form, Lang};
use crate::exit::BadInput;
use crate::output::Printer;
use crate::settings::Settings;

/// The file name of a flow manifest.
pub const MANIFEST: &str = "wflow.toml";

/// A flow's source, as given on the command line or in a manifest.
#[derive(Clone, Debug)]
pub enum Source {
    /// A component file.
    Wasm(PathBuf),
    /// A Rust guest crate (a directory with `Cargo.toml`).
    Crate(PathBuf),
    /// A Python or JavaScript flow: a file, or a directory with `flow.py` / `flow.js`.
    Guest(Lang, PathBuf),
    /// A flow manifest.
    Manifest(PathBuf),
}

impl Source {
    /// Recognises what `path` is. A directory is, in this order: a polyglot flow (`wflow.toml`),
    /// a Rust crate (`Cargo.toml`), a Python flow (`flow.py`), a JavaScript flow (`flow.js`).
    pub fn detect(path: &Path) -> Result<Source> {
        if path.is_dir() {
            if path.join(MANIFEST).is_file() {
                return Ok(Source::Manifest(path.join(MANIFEST)));
            }
            if path.join("Cargo.toml").is_file() {
                return Ok(Source::Crate(path.to_path_buf()));
            }
            for lang in [Lang::Python, Lang::JavaScript] {
                if path.join(lang.marker()).is_file() {
                    return Ok(Source::Guest(lang, path.to_path_buf()));
                }
            }
            return Err(BadInput(format!(
                "{} is not a flow: a flow directory has a {MANIFEST} (polyglot flow), a Cargo.toml \
                 (Rust), a flow.py (Python) or a flow.js (JavaScript)",
                path.display()
            ))
            .into());
        }
        if !path.exists() {
            return Err(BadInput(format!(
                "{} does not exist: give a component file (.wasm), a guest crate directory, a \
                 Python (.py) or JavaScript (.js) flow, or a {MANIFEST}",
                path.display()
            ))
            .into());
        }
        if let Some(lang) = Lang::of_file(path) {
            return Ok(Source::Guest(lang, path.to_path_buf()));
        }
        if path.extension().is_some_and(|e| e == "toml") {
            return Ok(Source::Manifest(path.to_path_buf()));
        }
        Ok(Source::Wasm(path.to_path_buf()))
    }

    /// Builds the source into a component file (a `.wasm` is used as it is), a Python flow in
    /// `form`. Not for manifests.
    pub fn build(&self, settings: &Settings, printer: &Printer, form: Form) -> Result<PathBuf> {
        match self {
            Source::Wasm(p) => Ok(p.clone()),
            Source::Crate(dir) => {
                printer.note(format!(
                    "Building {} for {}",
                    dir.display(),
                    crate::build::TARGET
                ));
                crate::build::build_crate(dir, printer.json())
            }
            Source::Guest(lang, p) => crate::componentize::build(*lang, p, settings, printer, form),
            Source::Manifest(p) => Err(BadInput(format!(
                "{}: a manifest cannot name another manifest",
                p.display()
            ))
            .into()),
        }
    }

    /// Whether this is a Python flow built in the quick form: then a `spec()` that fails is its
    /// module failing to load, reported as a build failure ([`crate::quick::explain_load`]).
    pub fn quick_python(&self, form: Form) -> Option<&Path> {
        match self {
            Source::Guest(Lang::Python, p) if form == Form::Quick => Some(p),
            _ => None,
        }
    }
}

/// A parsed flow manifest.
#[derive(Debug)]
pub struct Manifest {
    /// The file.
    pub path: PathBuf,
    /// The flow's name (the first part of every pathspec).
    pub name: String,
    /// The flow's doc.
    pub doc: String,
    /// The components, in name order.
    pub components: Vec<Component>,
}

/// One component of a manifest.
#[derive(Debug)]
pub struct Component {
    /// Its name in `[components]`.
    pub key: String,
    /// Where it comes from (paths relative to the manifest).
    pub source: Source,
    /// The steps taken from it; `None`: every step its spec declares.
    pub steps: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    flow: FlowSection,
    components: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowSection {
    name: String,
    #[serde(default)]
    doc: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentTable {
    path: String,
    steps: Option<Vec<String>>,
}

impl Manifest {
    /// Reads and checks a manifest (not yet its components).
    pub fn load(path: &Path) -> Result<Manifest> {
        let bad = |m: String| BadInput(format!("{}: {m}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let file: File =
            toml::from_str(&text).map_err(|e| bad(format!("invalid manifest: {e}")))?;
        if file.flow.name.is_empty() || file.flow.name.contains('/') {
            return Err(bad("[flow] name must be non-empty and contain no `/`".into()).into());
        }
        let base = path.parent().unwrap_or(Path::new(""));
        let mut components = Vec::new();
        for (key, value) in file.components {
            let (rel, steps) = match value {
                toml::Value::String(p) => (p, None),
                toml::Value::Table(t) => {
                    let c: ComponentTable = toml::Value::Table(t)
                        .try_into()
                        .map_err(|e| bad(format!("component `{key}`: {e}")))?;
                    (c.path, c.steps)
                }
                _ => {
                    return Err(bad(format!(
                        "component `{key}` is a path, or a table {{ path = \"…\", steps = [\"…\"] }}"
                    ))
                    .into());
                }
            };
            let source = Source::detect(&base.join(&rel))
                .with_context(|| format!("{}: component `{key}`", path.display()))?;
            if let Source::Manifest(_) = source {
                return Err(bad(format!(
                    "component `{key}` is a manifest; name components only"
                ))
                .into());
            }
            components.push(Component { key, source, steps });
        }
        if components.is_empty() {
            return Err(bad("[components] names no component".into()).into());
        }
        Ok(Manifest {
            path: path.to_path_buf(),
            name: file.flow.name,
            doc: file.flow.doc,
            components,
        })
    }

    /// Merges the components' specs (in name order) into the flow's spec, and says which
    /// component provides each step. Errors name the step and the components.
    pub fn merge(&self, specs: &[&FlowSpec]) -> Result<(FlowSpec, BTreeMap<String, String>)> {
        let mut errors = Vec::new();
        let mut owner: BTreeMap<String, String> = BTreeMap::new();
        let mut steps = Vec::new();
        let mut parameters: Vec<(wflow_core::ParamSpec, String)> = Vec::new();
        for (c, spec) in self.components.iter().zip(specs) {
            let declared: Vec<&str> = spec.steps.iter().map(|s| s.name.as_str()).collect();
            if let Some(wanted) = &c.steps {
                for w in wanted {
                    if !declared.contains(&w.as_str()) {
                        errors.push(format!(
                            "component `{}` is to provide step `{w}`, but it declares only: {}",
                            c.key,
                            declared.join(", ")
                        ));
                    }
                }
            }
            for s in &spec.steps {
                if c.steps.as_ref().is_some_and(|w| !w.contains(&s.name)) {
                    continue;
                }
                if let Some(first) = owner.get(&s.name) {
                    errors.push(format!(
                        "step `{}` is provided by two components, `{first}` and `{}`; keep it in one, \
                         or choose with `{} = {{ path = \"…\", steps = [\"…\"] }}`",
                        s.name, c.key, c.key
                    ));
                    continue;
                }
                owner.insert(s.name.clone(), c.key.clone());
                steps.push(s.clone());
            }
            for p in &spec.parameters {
                match parameters.iter().find(|(q, _)| q.name == p.name) {
                    Some((q, from)) if q.ty != p.ty || q.default != p.default => errors.push(format!(
                        "parameter `{}` is declared differently by `{from}` ({}, default {:?}) and \
                         `{}` ({}, default {:?})",
                        p.name, q.ty, q.default, c.key, p.ty, p.default
                    )),
                    Some(_) => {}
                    None => parameters.push((p.clone(), c.key.clone())),
                }
            }
        }
        // Every step a transition names must be provided by some component.
        for s in &steps {
            for t in s.transition.targets() {
                if !owner.contains_key(t) {
                    errors.push(format!(
                        "step `{t}` (after `{}`, from component `{}`) is provided by no component",
                        s.name, owner[&s.name]
                    ));
                }
            }
        }
        for required in ["start", "end"] {
            if !owner.contains_key(required) {
                errors.push(format!("no component provides the `{required}` step"));
            }
        }
        if !errors.is_empty() {
            let provided = self
                .components
                .iter()
                .map(|c| {
                    let mine: Vec<&str> = owner
                        .iter()
                        .filter(|(_, k)| **k == c.key)
                        .map(|(s, _)| s.as_str())
                        .collect();
                    format!(
                        "  {}: {}",
                        c.key,
                        if mine.is_empty() {
                            "-".into()
                        } else {
                            mine.join(", ")
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            return Err(BadInput(format!(
                "{}: the components do not make one flow:\n  - {}\nsteps provided by each component:\n{provided}",
                self.path.display(),
                errors.join("\n  - ")
            ))
            .into());
        }
        let doc = if self.doc.is_empty() {
            specs
                .iter()
                .map(|s| s.doc.clone())
                .find(|d| !d.is_empty())
                .unwrap_or_default()
        } else {
            self.doc.clone()
        };
        let spec = FlowSpec {
            name: self.name.clone(),
            doc,
            parameters: parameters.into_iter().map(|(p, _)| p).collect(),
            steps,
        };
        Ok((spec, owner))
    }
}

/// A flow built into components: one, or a manifest's.
pub enum Built {
    /// A single component.
    Single(PathBuf),
    /// A polyglot flow: the manifest and each component's file, in manifest order.
    Polyglot(Manifest, Vec<PathBuf>),
}

/// Builds whatever `target` is, Python flows in `form`. A manifest's components are built in
/// parallel.
pub fn build(target: &Path, settings: &Settings, printer: &Printer, form: Form) -> Result<Built> {
    match Source::detect(target)? {
        Source::Manifest(path) => {
            let manifest = Manifest::load(&path)?;
            let files = std::thread::scope(|s| {
                let handles: Vec<_> = manifest
                    .components
                    .iter()
                    .map(|c| s.spawn(|| c.source.build(settings, printer, form)))
                    .collect();
                handles
                    .into_iter()
                    .zip(&manifest.components)
                    .map(|(h, c)| {
                        h.join()
                            .expect("a build thread does not panic")
                            .with_context(|| format!("component `{}` of {}", c.key, path.display()))
                    })
                    .collect::<Result<Vec<_>>>()
            })?;
            Ok(Built::Polyglot(manifest, files))
        }
        source => Ok(Built::Single(source.build(settings, printer, form)?)),
    }
}
