//! End-to-end tests: each drives the real `wflow` binary on real components, a real store
//! directory and a real SQLite file, then reads results back through `wflow` itself.

mod util;

/// Bad input of every kind: clear error, non-zero exit, store and records untouched.
mod bad_input;
/// Tasks on AWS Batch (moto with a Docker Engine API shim): the worker, array jobs, failures,
/// retries and Ctrl-C.
mod batch;
/// The moto test bed of the Batch tests: Batch set up, a store on it, a machine using both.
mod batch_env;
/// What a Python or JavaScript flow's top-level code can reach while it is built.
mod build_time;
/// Caching pure steps across runs: what re-runs after a change, and what never is cached.
mod cache;
/// Cards a step writes: `wflow card get` end to end (the browser test is in `ui`).
mod cards;
/// `wflow check` and `wflow build`.
mod check;
/// The compatibility fixtures of released versions: their stores read, inspect and resume.
mod compat;
/// The component corpus of released versions: every example and test program as the release's
/// SDKs built it runs as it ran then.
mod compat_components;
/// Contract 0.2's switches and loops: each way, in a foreach, bounds, resume, bad choices.
mod control;
/// Contract 0.2 from the Python and JavaScript SDKs: switches, loops, bad choices, secrets.
mod control_sdks;
/// kill -9 at any moment and concurrent runs leave the store and records consistent.
mod crash;
/// `wflow deploy` on moto's Step Functions interpreter driving Batch jobs through the shim.
mod deploy;
/// The moto + shim test bed of the `wflow deploy` tests.
mod deploy_env;
/// `wflow deploy`'s schedules, triggers and ended rule (EventBridge), read back and run.
mod deploy_events;
/// A Docker Engine API shim running moto's Batch jobs as local `wflow worker` processes.
mod docker_shim;
/// The examples run and their artifacts read back.
mod examples;
/// Failing steps: traps, panics, errors; their logs and the run's records.
mod failures;
/// `wflow gc`: retention, sweeping, safety under concurrent runs and kill -9.
mod gc;
/// `wflow gc` with the records on the metadata service: runs started during a collection and
/// collections killed at random points.
mod gc_service;
/// Habits Metaflow users bring: `--tag` at launch, a step's logs, `step[7]`.
mod habits;
/// The hostile-guest corpus: every misbehaviour ends in a clear error, nothing else is harmed.
mod hostile;
/// `runs`, `show`, `tag`, `logs`, `artifact` and the client library over real runs.
mod inspect;
/// A task never sees another task's memory: every reset path of the pooling allocator, scanned.
mod isolation;
/// Store layout 2: small manifests and logs in the records; kill -9 and resume of a big foreach.
mod layout;
/// Per-task limits under attack: all memories of a task together, open readers and writers,
/// everything the host keeps for a task; compile bombs; the compiled-code cache.
mod limits;
/// Descriptions, reports and records planted in a shared store by someone else who may write
/// to its prefix.
mod planted;
/// Capabilities under the policy, deterministic defaults, retries and `catch`.
mod policy;
/// Python and JavaScript steps, polyglot flows, cross-language artifacts.
mod polyglot;
/// Building Python flows: lazily imported modules, tracebacks, the build cache.
mod python_build;
/// The Python package: built with maturin, its pytest suite on a local store, S3 and a metadata
/// service, and the notebook of docs/ executed headless.
mod python_client;
/// The quick form of Python flows: code derived from the base's, stdlib-named flow files.
mod python_quick;
/// `resume` and `step-run`.
mod resume;
/// The team store on S3 (moto and s3s-fs): examples, shared runs, faults, interrupted uploads.
mod s3;
/// Secrets: sources in the policy, refusals, redaction, names in the records.
mod secrets;
/// The team metadata service (`wflow server`) over PostgreSQL; the inspection and resume suites
/// against it.
mod server;
/// Nested foreach, branch inside foreach, required parameters, the compile cache.
mod shapes;
/// `wflow ui` in a real browser (headless chromium through chromedriver).
mod ui;
/// A minimal WebDriver client for the browser tests.
mod webdriver;
