//! End-to-end tests: each drives the real `wflow` binary on real components, a real store
//! directory and a real SQLite file, then reads results back through `wflow` itself.

mod util;

/// The examples run and their artifacts read back.
mod examples;
/// Bad input of every kind: clear error, non-zero exit, store and records untouched.
mod bad_input;
/// Failing steps: traps, panics, errors; their logs and the run's records.
mod failures;
/// `wflow check` and `wflow build`.
mod check;
