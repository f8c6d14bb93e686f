//! What contract 0.2 added for a step: choosing its successor (a switch) and reading its secrets.

use crate::{Error, ErrorKind, Result, host};

/// Chooses the step that runs after this one: one of the choices of the step's `switch`.
///
/// Call it once per task (a later call replaces the choice). The task fails if the step is not a
/// switch, if `step` is not one of its choices, or if a switch step returns `Ok` without choosing.
///
/// ```
/// # #[wflow::flow] struct Train { accuracy: wflow::Artifact<f64> }
/// # #[wflow::steps] impl Train {
/// /// Trains again until the model is good enough (at most 5 times).
/// #[step(switch = ["start", "end"], max_iterations = 5)]
/// fn start(&mut self) -> wflow::Result<()> {
///     let good = *self.accuracy.get().unwrap_or(&0.0) > 0.9;
///     self.accuracy.set(0.95);
///     wflow::next(if good { "end" } else { "start" })
/// }
/// # #[step] fn end(&mut self) -> wflow::Result<()> { Ok(()) }
/// # }
/// ```
pub fn next(step: &str) -> Result<()> {
    host::next(step).map_err(Error::from)
}

/// The secret `name`, as text: the step must ask for it (`secrets = ["name"]`), and the host's
/// policy must grant it and say where its value comes from (an environment variable or file
/// where the task runs, or AWS Secrets Manager: see the host's `docs/policy.md`). A flow asking
/// for a secret the policy does not grant is refused before it runs; a name the step did not ask
/// for is [`ErrorKind::NotFound`].
///
/// The host replaces the value by `[wflow: secret NAME redacted]` wherever the step prints it
/// (stdout, stderr) and in the step's error and panic messages, and records only the names of
/// the secrets a task was given. It does **not** look into artifacts: storing the value (or
/// anything it can be recovered from) in an artifact publishes it to whoever reads the store.
///
/// ```
/// # #[wflow::flow] struct Report { rows: wflow::Artifact<u64> }
/// # #[wflow::steps] impl Report {
/// /// Counts the rows of a table in a database that needs a password.
/// #[step(secrets = ["db_password"], network = ["db.internal:5432"])]
/// fn start(&mut self) -> wflow::Result<()> {
///     let password = wflow::secret("db_password")?;
///     # let connect = |_: &str| Ok::<u64, wflow::Error>(42);
///     let rows = connect(&password)?; // what the password gave, never the password
///     self.rows.set(rows);
///     Ok(())
/// }
/// # #[step] fn end(&mut self) -> wflow::Result<()> { Ok(()) }
/// # }
/// ```
pub fn secret(name: &str) -> Result<String> {
    String::from_utf8(secret_bytes(name)?).map_err(|_| {
        Error::new(
            ErrorKind::Invalid,
            format_args!("secret `{name}` is not UTF-8 text; read it with `wflow::secret_bytes`"),
        )
    })
}

/// The secret `name`, as bytes (see [`secret`]).
pub fn secret_bytes(name: &str) -> Result<Vec<u8>> {
    host::secret(name).map_err(Error::from)
}
