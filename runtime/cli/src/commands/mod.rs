//! One file per subcommand; each has its clap `Args` struct and an `execute`.

pub mod artifact;
pub mod build;
pub mod check;
mod inspect;
pub mod logs;
pub mod resume;
pub mod run;
pub mod runs;
pub mod show;
mod show_html;
pub mod step_run;
pub mod tag;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use wflow_engine::{Engine, EngineConfig, FlowComponent, Sandbox};
use wflow_graph::Plan;

use crate::cli::{Cli, Command};
use crate::output::Printer;
use crate::settings::Settings;

pub fn dispatch(cli: Cli, printer: &Printer) -> Result<ExitCode> {
    let settings = Settings::resolve(&cli.global);
    match cli.command {
        Command::Run(args) => run::execute(args, &settings, printer),
        Command::Build(args) => build::execute(args, printer),
        Command::Check(args) => check::execute(args, &settings, printer),
        Command::Runs(args) => runs::execute(args, &settings, printer),
        Command::Artifact(args) => artifact::execute(args, &settings, printer),
        Command::Logs(args) => logs::execute(args, &settings, printer),
        Command::Show(args) => show::execute(args, &settings, printer),
        Command::Tag(args) => tag::execute(args, &settings, printer),
        Command::Resume(args) => resume::execute(args, &settings, printer),
        Command::StepRun(args) => step_run::execute(args, &settings, printer),
    }
}

/// A flow ready to run: its component file, the loaded component, its validated graph and each
/// step's sandbox under the policy.
pub struct LoadedFlow {
    pub wasm: PathBuf,
    pub component: FlowComponent,
    pub plan: Plan,
    pub sandboxes: BTreeMap<String, Arc<Sandbox>>,
}

/// Builds (if `target` is a crate directory), loads and validates a flow.
pub fn load_flow(
    target: &Path,
    settings: &Settings,
    max_workers: usize,
    printer: &Printer,
) -> Result<LoadedFlow> {
    let wasm = if target.is_dir() {
        printer.note(format!(
            "Building {} for {}",
            target.display(),
            crate::build::TARGET
        ));
        crate::build::build_crate(target, printer.json())?
    } else if target.exists() {
        target.to_path_buf()
    } else {
        return Err(crate::exit::BadInput(format!(
            "{} does not exist: give a component file (.wasm) or a guest crate directory",
            target.display()
        ))
        .into());
    };
    let policy = settings.policy()?;
    let engine = Engine::new(EngineConfig {
        max_concurrent_tasks: max_workers as u32,
        cache_dir: Some(settings.cache_dir.join("compiled")),
        pooling: true,
        fuel: policy.needs_fuel(),
        max_wasm_stack: policy.limits.max_wasm_stack,
        ..EngineConfig::default()
    })?;
    let component = engine.load_file(&wasm)?;
    let plan = wflow_graph::validate(component.spec()).with_context(|| {
        format!(
            "the graph of flow `{}` ({}) is invalid",
            component.spec().name,
            wasm.display()
        )
    })?;
    let sandboxes = policy
        .resolve(plan.spec(), &std::env::current_dir()?)
        .with_context(|| {
            format!(
                "flow `{}` is refused by the policy; nothing was run",
                plan.spec().name
            )
        })?
        .into_iter()
        .map(|(step, sb)| (step, Arc::new(sb)))
        .collect();
    Ok(LoadedFlow {
        wasm,
        component,
        plan,
        sandboxes,
    })
}
