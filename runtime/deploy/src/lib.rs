//! `wflow deploy`: a flow's validated graph as an AWS Step Functions state machine whose tasks
//! are AWS Batch jobs of the one generic worker image (`wflow worker`), started by hand, on a
//! schedule or when another deployed flow succeeds. A deployed run has no driver: each worker
//! records its own task, the first and last steps record the run's start and end, a failed
//! execution's last state records the failure, and an EventBridge rule records the run of an
//! execution that was stopped or timed out. See docs/deploy.md.
//!
//! - [`asl`]: the compiler graph → Amazon States Language;
//! - [`layout`]: what the states and the workers agree on (environment, store keys, task ids);
//! - [`Deployment`]: what a deployment fixes (spec, code, sandboxes, defaults), kept in the store;
//! - [`aws`]: the Step Functions, Scheduler and EventBridge calls.
#![deny(missing_docs)]

pub mod asl;
#[cfg(feature = "aws")]
pub mod aws;
pub mod layout;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wflow_core::{Digest, FlowSpec, Sandbox};
use wflow_store::Cas;

/// What can go wrong deploying.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A name, schedule or setting AWS would refuse.
    #[error("{0}")]
    BadInput(String),
    /// An AWS call failed.
    #[error("{0}")]
    Aws(String),
    /// The store failed.
    #[error("the store: {0}")]
    Store(#[from] wflow_store::StoreError),
    /// A deployment object that cannot be trusted or read.
    #[error("{0}")]
    Invalid(String),
    /// The state machine could not be compiled.
    #[error(transparent)]
    Asl(#[from] asl::AslError),
}

/// Everything a deployment fixes, written once to the store under its digest; the state
/// machine's jobs name its key and digest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Deployment {
    /// Format version (1).
    pub version: u32,
    /// The deployment's name.
    pub name: String,
    /// The flow's spec.
    pub spec: FlowSpec,
    /// What runs record as their code (the component's digest, or a polyglot flow's record).
    pub code: Digest,
    /// The component that runs each step (in the store by digest).
    pub components: BTreeMap<String, Digest>,
    /// Each step's sandbox, as the policy resolved it when deploying.
    pub sandboxes: BTreeMap<String, Sandbox>,
    /// Parameter values fixed at deploy time (`-p NAME=VALUE`), as given.
    pub params: BTreeMap<String, String>,
    /// The policy's `max_tasks_per_run`.
    pub max_tasks: u64,
    /// Who deployed it.
    pub user: String,
    /// When, in ms since the epoch.
    pub created_ms: i64,
}

impl Deployment {
    /// Writes it (once) and returns its key and the digest of its bytes.
    pub fn put(&self, cas: &Cas) -> Result<(String, Digest), DeployError> {
        let mut fixed = self.clone();
        // The key depends on what runs, not on when or by whom: deploying the same twice
        // changes nothing.
        fixed.created_ms = 0;
        fixed.user = String::new();
        let bytes = serde_json::to_vec_pretty(&fixed).expect("a deployment encodes");
        let digest = Digest::of(&bytes);
        let key = layout::deployment_key(&self.name, &digest.to_hex());
        cas.backend().put_if_absent(&key, &bytes)?;
        Ok((key, digest))
    }

    /// Reads the deployment at `key`, whose bytes must hash to `digest`.
    pub fn get(cas: &Cas, key: &str, digest: &Digest) -> Result<Deployment, DeployError> {
        let bytes = cas.backend().get(key)?.ok_or_else(|| {
            DeployError::Invalid(format!("no deployment at `{key}` in the store"))
        })?;
        if Digest::of(&bytes) != *digest {
            return Err(DeployError::Invalid(format!(
                "the deployment `{key}` does not hash to {digest}, the digest its state machine names: it was changed after it was deployed; refusing it"
            )));
        }
        let d: Deployment = serde_json::from_slice(&bytes).map_err(|e| {
            DeployError::Invalid(format!("the deployment `{key}` is not valid: {e}"))
        })?;
        if d.version != 1 {
            return Err(DeployError::Invalid(format!(
                "the deployment `{key}` has version {}; this wflow reads version 1",
                d.version
            )));
        }
        Ok(d)
    }
}

/// The error a run is recorded with when its execution ended without success and without its
/// last state recording why (stopped, timed out, or failed before the recording job ran).
pub fn execution_ended_error(status: &str, error: Option<&str>, arn: &str) -> String {
    let what = match status {
        "ABORTED" => "was stopped".to_string(),
        "TIMED_OUT" => "timed out".to_string(),
        other => format!("ended {}", other.to_lowercase()),
    };
    format!(
        "its execution {what}{} ({arn}); its jobs still running, if any, are not waited for",
        error.map(|x| format!(": {x}")).unwrap_or_default(),
    )
}

/// Longest deployment name (the AWS names made from it must fit).
pub const MAX_NAME: usize = 24;

/// Checks a deployment name: letters, digits, `-` and `_`, at most [`MAX_NAME`].
pub fn check_name(name: &str) -> Result<(), DeployError> {
    let bad = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')));
    if name.is_empty() || name.len() > MAX_NAME || bad.is_some() {
        return Err(DeployError::BadInput(format!(
            "deployment name `{name}` is not usable: it must be 1 to {MAX_NAME} letters, digits, `-` or `_` (AWS names the state machine, schedule and rules after it){}",
            bad.map_or(String::new(), |c| format!("; `{c}` is not allowed"))
        )));
    }
    Ok(())
}

/// Checks a schedule expression as EventBridge Scheduler does: `rate(N unit)`,
/// `cron(min hour day-of-month month day-of-week year)` or `at(yyyy-mm-ddThh:mm:ss)`.
pub fn check_schedule(expr: &str) -> Result<(), DeployError> {
    let bad = |why: &str| {
        Err(DeployError::BadInput(format!(
            "schedule `{expr}` would be refused by AWS: {why} (examples: \"rate(1 hour)\", \"rate(15 minutes)\", \"cron(0 6 * * ? *)\")"
        )))
    };
    let inner = |prefix: &str| expr.strip_prefix(prefix).and_then(|r| r.strip_suffix(')'));
    if let Some(body) = inner("rate(") {
        let mut parts = body.split_whitespace();
        let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
            return bad("a rate is `rate(N minute|minutes|hour|hours|day|days)`");
        };
        let Ok(n) = n.parse::<u32>() else {
            return bad("the rate's value must be a whole number");
        };
        if n == 0 {
            return bad("the rate's value must be at least 1");
        }
        let ok = match unit {
            "minute" | "hour" | "day" => n == 1,
            "minutes" | "hours" | "days" => n > 1,
            _ => return bad("the rate's unit must be minute(s), hour(s) or day(s)"),
        };
        if !ok {
            return bad("use the singular unit for 1 and the plural for more");
        }
        return Ok(());
    }
    if let Some(body) = inner("cron(") {
        let fields: Vec<&str> = body.split_whitespace().collect();
        if fields.len() != 6 {
            return bad(&format!(
                "a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), not {}",
                fields.len()
            ));
        }
        if let Some(f) = fields.iter().find(|f| {
            !f.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '*' | '?' | ',' | '-' | '/' | '#')
            })
        }) {
            return bad(&format!("field `{f}` has a character cron does not take"));
        }
        if (fields[2] == "?") == (fields[4] == "?") {
            return bad("exactly one of day-of-month and day-of-week must be `?`");
        }
        return Ok(());
    }
    if let Some(body) = inner("at(") {
        let b = body.as_bytes();
        let shape = b.len() == 19
            && b.iter().enumerate().all(|(i, c)| match i {
                4 | 7 => *c == b'-',
                10 => *c == b'T',
                13 | 16 => *c == b':',
                _ => c.is_ascii_digit(),
            });
        return if shape {
            Ok(())
        } else {
            bad("a one-time schedule is `at(yyyy-mm-ddThh:mm:ss)`")
        };
    }
    bad("it must be rate(…), cron(…) or at(…)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        for ok in [
            "rate(1 hour)",
            "rate(15 minutes)",
            "cron(0 6 * * ? *)",
            "cron(0/5 8-17 ? * MON-FRI *)",
            "at(2027-01-01T06:00:00)",
        ] {
            check_schedule(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, needle) in [
            ("rate(0 hours)", "at least 1"),
            ("rate(2 hour)", "plural"),
            ("rate(1 fortnight)", "unit"),
            ("cron(0 6 * * *)", "6 fields"),
            ("cron(0 6 * * * *)", "`?`"),
            ("every day", "rate(…), cron(…) or at(…)"),
            ("at(tomorrow)", "yyyy"),
        ] {
            let e = check_schedule(bad).unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn names() {
        check_name("Hello-prod_2").unwrap();
        for bad in ["", "a b", "a/b", &"x".repeat(25)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
