//! One file per subcommand; each has its clap `Args` struct and an `execute`.

pub mod artifact;
pub mod build;
pub mod card;
pub mod check;
#[cfg(feature = "deploy")]
pub mod deploy;
#[cfg(feature = "deployed")]
mod deployed;
pub mod gc;
mod inspect;
pub mod logs;
pub mod resume;
pub mod run;
pub mod runs;
pub mod server;
pub mod show;
pub mod step_run;
pub mod tag;
pub mod ui;
pub mod worker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use wflow_core::Digest;
use wflow_engine::{Engine, EngineConfig, FlowComponent, Sandbox};
use wflow_graph::Plan;

use crate::cli::{Cli, Command};
use crate::componentize::Form;
use crate::output::Printer;
use crate::settings::Settings;

pub fn dispatch(cli: Cli, printer: &Printer) -> Result<ExitCode> {
    let settings = Settings::resolve(&cli.global);
    match cli.command {
        Command::Run(args) => run::execute(args, &settings, printer),
        Command::Build(args) => build::execute(args, &settings, printer),
        Command::Check(args) => check::execute(args, &settings, printer),
        Command::Runs(args) => runs::execute(args, &settings, printer),
        Command::Artifact(args) => artifact::execute(args, &settings, printer),
        Command::Card(args) => card::execute(args, &settings, printer),
        Command::Logs(args) => logs::execute(args, &settings, printer),
        Command::Show(args) => show::execute(args, &settings, printer),
        Command::Tag(args) => tag::execute(args, &settings, printer),
        Command::Resume(args) => resume::execute(args, &settings, printer),
        Command::StepRun(args) => step_run::execute(args, &settings, printer),
        Command::Worker(args) => worker::execute(args, &settings, printer),
        #[cfg(feature = "deploy")]
        Command::Deploy(args) => deploy::execute(args, &settings, printer),
        Command::Server(args) => server::execute(args, &settings, printer),
        Command::Ui(args) => ui::execute(args, &settings, printer),
        Command::Gc(args) => gc::execute(args, &settings, printer),
    }
}

/// A flow ready to run: its components, the component that runs each step, its validated graph
/// and each step's sandbox under the policy.
pub struct LoadedFlow {
    /// Each component: its name (`flow` for a single-component flow, else its manifest key), its
    /// file and the loaded component.
    pub components: Vec<(String, PathBuf, FlowComponent)>,
    /// The component that runs each step.
    pub by_step: BTreeMap<String, FlowComponent>,
    /// The name of the component that provides each step.
    pub owner: BTreeMap<String, String>,
    /// What a run records as its code: the component's digest or, for a polyglot flow, the
    /// digest of [`LoadedFlow::code_record`].
    pub code_digest: Digest,
    /// For a polyglot flow, the JSON record of its components and of the step each provides
    /// (stored in the store under `code_digest`).
    pub code_record: Option<Vec<u8>>,
    /// How to name the flow's code for people: the component file, or the manifest.
    pub origin: String,
    pub plan: Plan,
    pub sandboxes: BTreeMap<String, Arc<Sandbox>>,
    /// The policy's `max_tasks_per_run`.
    pub max_tasks: u64,
}

/// The hidden first argument that makes `wflow` a bounded compiler child
/// ([`wflow_engine::compile_main`]).
pub const COMPILE_SUBCOMMAND: &str = "__compile-component";

/// Components are compiled by this same binary in a child process with capped time and memory.
pub fn compiler() -> Result<wflow_engine::Compiler> {
    let program = std::env::current_exe().context("finding the wflow binary to compile with")?;
    Ok(wflow_engine::Compiler::Subprocess {
        program,
        args: vec![COMPILE_SUBCOMMAND.to_string()],
    })
}

/// The compile limits of a policy (the smallest of its layers): its three keys over the
/// built-in structural bounds.
pub fn compile_limits(policy: &wflow_policy::Policy) -> wflow_engine::CompileLimits {
    wflow_engine::CompileLimits {
        max_component_bytes: policy.narrowest(|l| l.max_component_bytes),
        max_cpu_secs: policy.narrowest(|l| l.max_compile_secs),
        max_memory_mb: policy.narrowest(|l| l.max_compile_memory_mb),
        ..wflow_engine::CompileLimits::default()
    }
}

/// The guest memory budget of this process: the policy's `max_host_memory_mb` (the smallest of
/// its layers), or the engine's default from the machine's RAM.
pub fn host_memory(policy: &wflow_policy::Policy) -> Option<u64> {
    let mb = policy.narrowest(|l| l.max_host_memory_mb.unwrap_or(u64::MAX));
    (mb != u64::MAX).then(|| mb.saturating_mul(1 << 20))
}

/// Prints what loading a component warned about, and how much of a compile earlier compiles
/// saved.
pub fn warn(printer: &Printer, component: &wflow_engine::FlowComponent) {
    for w in component.warnings() {
        printer.warning(w);
    }
    if let Some(c) = component.compiled() {
        printer.note(format!(
            "Compiled the component: {} functions reused from earlier compiles, {} compiled",
            c.functions_reused, c.functions_compiled
        ));
    }
}

/// The engine that loads and runs flows for this process: `max_workers` tasks at once, the
/// compiled-code cache, compiles in a bounded child process, the policy's limits.
pub fn engine(
    settings: &Settings,
    policy: &wflow_policy::Policy,
    max_workers: usize,
) -> Result<Engine> {
    Ok(Engine::new(EngineConfig {
        max_concurrent_tasks: max_workers as u32,
        cache_dir: Some(settings.cache_dir.join("compiled")),
        pooling: true,
        fuel: policy.needs_fuel(),
        max_wasm_stack: policy.max_wasm_stack(),
        compiler: compiler()?,
        compile_limits: compile_limits(policy),
        host_memory_bytes: host_memory(policy),
        ..EngineConfig::default()
    })?)
}

/// Loads a built component; a quick-form Python flow's code is derived from its base's
/// ([`crate::quick::base_of`]) rather than compiled.
pub fn load_component(
    engine: &Engine,
    wasm: &Path,
    settings: &Settings,
) -> wflow_engine::Result<FlowComponent> {
    match crate::quick::base_of(wasm, &settings.cache_dir) {
        Some((base, range)) => {
            let bytes = std::fs::read(wasm).map_err(|source| wflow_engine::EngineError::Read {
                path: wasm.into(),
                source,
            })?;
            engine.load_derived(&bytes, &base, range, &wasm.display().to_string())
        }
        None => engine.load_file(wasm),
    }
}

/// A load error of `target`'s component: for a quick-form Python flow, a `spec()` that failed
/// is its module failing to load, reported as a failed build.
fn explain_load(err: anyhow::Error, target: &Path, form: Form) -> anyhow::Error {
    match crate::source::Source::detect(target) {
        Ok(source) => match source.quick_python(form) {
            Some(p) => crate::quick::explain_load(err, p),
            None => err,
        },
        Err(_) => err,
    }
}

/// Builds (a crate, a Python or JavaScript flow, a manifest's components), loads and validates a
/// flow: every component against the contract, then the (merged) graph, then the policy.
pub fn load_flow(
    target: &Path,
    settings: &Settings,
    max_workers: usize,
    printer: &Printer,
    form: Form,
) -> Result<LoadedFlow> {
    let built = crate::source::build(target, settings, printer, form)?;
    let policy = settings.policy()?;
    let engine = engine(settings, &policy, max_workers)?;
    let (components, spec, owner, code_record) = match built {
        crate::source::Built::Single(wasm) => {
            let component = load_component(&engine, &wasm, settings)
                .map_err(|e| explain_load(e.into(), target, form))?;
            warn(printer, &component);
            let spec = component.spec().clone();
            let owner = spec
                .steps
                .iter()
                .map(|s| (s.name.clone(), "flow".to_string()))
                .collect();
            (
                vec![("flow".to_string(), wasm, component)],
                spec,
                owner,
                None,
            )
        }
        crate::source::Built::Polyglot(manifest, files) => {
            let mut components = Vec::new();
            for (c, wasm) in manifest.components.iter().zip(files) {
                let component = load_component(&engine, &wasm, settings)
                    .map_err(|e| match c.source.quick_python(form) {
                        Some(p) => crate::quick::explain_load(e.into(), p),
                        None => e.into(),
                    })
                    .with_context(|| {
                        format!("component `{}` of {}", c.key, manifest.path.display())
                    })?;
                warn(printer, &component);
                components.push((c.key.clone(), wasm, component));
            }
            let specs: Vec<&wflow_core::FlowSpec> =
                components.iter().map(|(_, _, c)| c.spec()).collect();
            let (spec, owner) = manifest.merge(&specs)?;
            let record = serde_json::json!({
                "flow": spec.name,
                "components": components
                    .iter()
                    .map(|(k, _, c)| (k.clone(), c.digest().to_string()))
                    .collect::<BTreeMap<_, _>>(),
                "steps": owner,
            });
            let record = serde_json::to_vec_pretty(&record)?;
            (components, spec, owner, Some(record))
        }
    };
    let origin = match &code_record {
        None => components[0].1.display().to_string(),
        Some(_) => target.display().to_string(),
    };
    let plan = wflow_graph::validate(&spec)
        .with_context(|| format!("the graph of flow `{}` ({origin}) is invalid", spec.name))?;
    let by_step = owner
        .iter()
        .map(|(step, key)| {
            let c = &components
                .iter()
                .find(|(k, _, _)| k == key)
                .expect("owner")
                .2;
            (step.clone(), c.clone())
        })
        .collect();
    let code_digest = match &code_record {
        Some(r) => Digest::of(r),
        None => components[0].2.digest(),
    };
    let mut target = settings.target()?;
    for (_, wasm, _) in &components {
        target = target.protect(wasm, "the flow's own component file");
    }
    for (step, key) in &owner {
        if let Some((_, _, c)) = components.iter().find(|(k, _, _)| k == key) {
            target.components.insert(step.clone(), c.digest().to_hex());
        }
    }
    let sandboxes = policy.resolve_for(plan.spec(), &target).with_context(|| {
        format!(
            "flow `{}` is refused by the policy; nothing was run",
            plan.spec().name
        )
    })?;
    // A flow that passes without its own grants is still told why it does not get them (a
    // refusal says so itself).
    let digests: std::collections::BTreeSet<&String> = target.components.values().collect();
    for d in digests {
        if let Some(note) = policy.unpinned_note(&plan.spec().name, Some(d)) {
            printer.note(format!("note: {note}"));
        }
    }
    let sandboxes = sandboxes
        .into_iter()
        .map(|(step, sb)| (step, Arc::new(sb)))
        .collect();
    Ok(LoadedFlow {
        components,
        by_step,
        owner,
        code_digest,
        code_record,
        origin,
        plan,
        sandboxes,
        max_tasks: policy.limits.max_tasks_per_run,
    })
}
