//! Command-line arguments (raw; resolved into [`crate::settings::Settings`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run data and ML flows whose steps are sandboxed WebAssembly components.
#[derive(Parser, Debug)]
#[command(name = "wflow", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Args, Debug)]
pub struct GlobalArgs {
    /// Where artifacts, logs and records go: a directory, or `s3://BUCKET/PREFIX` for a team
    /// store on S3. Default: the config file's `[store]`, else `.wflow` in the current directory
    /// (see docs/s3.md).
    #[arg(
        long,
        global = true,
        env = "WFLOW_STORE",
        value_name = "DIR|s3://BUCKET/PREFIX"
    )]
    pub store: Option<String>,
    /// S3 endpoint URL, for S3-compatible servers (e.g. `http://127.0.0.1:9000`).
    #[arg(long, global = true, env = "WFLOW_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// S3 region (default: the profile's or `AWS_REGION`'s, else us-east-1).
    #[arg(long, global = true, env = "WFLOW_S3_REGION", value_name = "REGION")]
    pub s3_region: Option<String>,
    /// Path-style S3 addressing (`endpoint/bucket/key`), which most S3-compatible servers need.
    /// A plain flag; `--s3-path-style=false` turns off what the environment or config file set.
    #[arg(long, global = true, env = "WFLOW_S3_PATH_STYLE", value_name = "BOOL",
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub s3_path_style: Option<bool>,
    /// Upload checksums: `when_supported` (a CRC32 with every upload, checked by the server and
    /// by wflow) or `when_required` (plain uploads, each read back to verify it).
    #[arg(long, global = true, env = "WFLOW_S3_CHECKSUMS", value_name = "MODE",
          value_parser = ["when_supported", "when_required"])]
    pub s3_checksums: Option<String>,
    /// AWS profile for S3 credentials and region (default: `AWS_PROFILE`, else `default`).
    #[arg(long, global = true, env = "WFLOW_S3_PROFILE", value_name = "NAME")]
    pub s3_profile: Option<String>,
    /// The team metadata service to record runs in and read them from (`wflow server`), e.g.
    /// `http://wflow.internal:8742`, instead of the store's own records. Default: the config
    /// file's `[metadata] url`. Its token comes from `WFLOW_TOKEN` or `[metadata] token`
    /// (see docs/server.md).
    #[arg(long, global = true, env = "WFLOW_METADATA", value_name = "URL")]
    pub metadata: Option<String>,
    /// Your own policy file. It can only narrow the organisation's policy
    /// (`/etc/wflow/policy.toml`, else `$WFLOW_POLICY`); without one it replaces the built-in
    /// personal policy (see docs/policy.md).
    #[arg(long, global = true, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a flow: a component file (`.wasm`), a Rust crate, a Python or JavaScript flow, or a
    /// polyglot flow's `wflow.toml` (built first).
    Run(crate::commands::run::RunArgs),
    /// Build a flow into components: a Rust crate, a Python or JavaScript flow, or a `wflow.toml`.
    Build(crate::commands::build::BuildArgs),
    /// Validate a flow and print its graph, parameters and settings.
    Check(crate::commands::check::CheckArgs),
    /// List runs, newest first (of a flow, by tag or status).
    Runs(crate::commands::runs::RunsArgs),
    /// Show a flow, run, step, task or artifact in detail (`--html FILE` draws a run's graph).
    Show(crate::commands::show::ShowArgs),
    /// Read an artifact of a task: `wflow artifact get Flow/run/step/task/name`.
    Artifact(crate::commands::artifact::ArtifactArgs),
    /// Write the cards a task wrote (reports: markdown, tables, images, charts) as one
    /// self-contained HTML file: `wflow card get Flow/run/step/task -o card.html`.
    Card(crate::commands::card::CardArgs),
    /// Print the stdout and stderr of a task's attempt (`--follow` while it runs).
    Logs(crate::commands::logs::LogsArgs),
    /// Add, remove or list the tags of runs.
    Tag(crate::commands::tag::TagArgs),
    /// Start a new run that reuses the successful tasks of a past run and runs the rest.
    Resume(crate::commands::resume::ResumeArgs),
    /// Run one task of a past run again on the same inputs, without creating a run.
    StepRun(crate::commands::step_run::StepRunArgs),
    /// Run one task described in the store (what each AWS Batch job runs; see docs/batch.md).
    Worker(crate::commands::worker::WorkerArgs),
    /// Deploy a flow to AWS Step Functions (runs on AWS Batch, by hand, on a schedule or after
    /// another deployment's runs), and start, list, show or delete deployments (docs/deploy.md).
    #[cfg(feature = "deploy")]
    Deploy(crate::commands::deploy::DeployArgs),
    /// Run the team metadata service over PostgreSQL, or manage its tokens (docs/server.md).
    Server(crate::commands::server::ServerArgs),
    /// Serve a web UI of the runs on 127.0.0.1 (read only): runs, graphs, timelines, tasks,
    /// logs and artifacts.
    Ui(crate::commands::ui::UiArgs),
    /// Remove old runs by a retention rule, then every blob, log and manifest no kept run
    /// reaches (`--dry-run` first; docs/store.md).
    Gc(crate::commands::gc::GcArgs),
}
