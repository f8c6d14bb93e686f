//! Run ids and pathspecs.

use std::fmt;
use std::str::FromStr;

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A run id: UTC time of creation to the second, then five random base-32 characters, e.g.
/// `20261128T182550-k3f9a`. Ids sort by creation time and do not collide across machines that
/// share a store (25 random bits per second).
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct RunId(pub String);

impl RunId {
    /// A new id for a run starting now.
    pub fn generate() -> RunId {
        const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
        let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
        let mut rnd = [0u8; 5];
        getrandom::fill(&mut rnd).expect("the OS random source failed");
        let suffix: String = rnd
            .iter()
            .map(|b| ALPHABET[(*b % 32) as usize] as char)
            .collect();
        RunId(format!("{}-{suffix}", now.strftime("%Y%m%dT%H%M%S")))
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The address of a flow, run, step, task or artifact: `Flow/run/step/task/artifact`, each part
/// after the flow optional from the right.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pathspec {
    /// The flow's name.
    pub flow: String,
    /// The run id.
    pub run: Option<String>,
    /// The step name.
    pub step: Option<String>,
    /// The task id.
    pub task: Option<String>,
    /// The artifact name.
    pub artifact: Option<String>,
}

/// A string that is not a pathspec.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a pathspec: expected Flow[/run[/step[/task[/artifact]]]]")]
pub struct PathspecError(pub String);

impl Pathspec {
    /// The pathspec of a task.
    pub fn task(flow: &str, run: &str, step: &str, task: &str) -> Pathspec {
        Pathspec {
            flow: flow.into(),
            run: Some(run.into()),
            step: Some(step.into()),
            task: Some(task.into()),
            artifact: None,
        }
    }
}

impl fmt::Display for Pathspec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.flow)?;
        for part in [&self.run, &self.step, &self.task, &self.artifact]
            .into_iter()
            .flatten()
        {
            write!(f, "/{part}")?;
        }
        Ok(())
    }
}

impl FromStr for Pathspec {
    type Err = PathspecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() > 5 || parts.iter().any(|p| p.is_empty()) {
            return Err(PathspecError(s.to_string()));
        }
        let get = |i: usize| parts.get(i).map(|p| p.to_string());
        Ok(Pathspec {
            flow: parts[0].to_string(),
            run: get(1),
            step: get(2),
            task: get(3),
            artifact: get(4),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_by_time_and_differ() {
        let a = RunId::generate();
        let b = RunId::generate();
        assert_ne!(a, b);
        assert_eq!(a.0.len(), "20261128T182550-k3f9a".len());
    }

    #[test]
    fn pathspec_round_trip() {
        let p: Pathspec = "F/r/s/3/x".parse().unwrap();
        assert_eq!(p.to_string(), "F/r/s/3/x");
        assert_eq!(p.artifact.as_deref(), Some("x"));
        assert!("F//s".parse::<Pathspec>().is_err());
        assert!("a/b/c/d/e/f".parse::<Pathspec>().is_err());
    }
}
