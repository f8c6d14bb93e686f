//! The one rule for every name the host is given by a guest or a user: flow, step, parameter and
//! artifact names (the `catch` artifact included) and run ids. Every place that takes such a name
//! (the graph linter, the engine's host calls, the stores, the metadata service) checks it with
//! [`validate`], so a name one of them accepts is accepted by all.
//!
//! ```
//! use wflow_core::names::{NameKind, validate};
//! assert!(validate(NameKind::Step, "train").is_ok());
//! let err = validate(NameKind::Artifact, "../../a/b\0c").unwrap_err();
//! assert!(err.to_string().starts_with("artifact name `../../a/b\\0c` is invalid"));
//! assert!(validate(NameKind::Artifact, "_parameters").is_err()); // reserved for the host
//! assert!(validate(NameKind::Run, "20261128T182550-k3f9a").is_ok());
//! ```

use std::fmt;

/// Longest name of any kind, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// How many characters of a bad name an error shows.
const SHOWN_CHARS: usize = 64;

/// What a name names; each kind has its own character set (see [`validate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// A flow: an identifier.
    Flow,
    /// A step: an identifier.
    Step,
    /// A parameter: an identifier.
    Parameter,
    /// An artifact (also the artifact a step's `catch` names): any text without `/`, `\` or
    /// control characters, not `.` or `..`, not starting with `_` (reserved for the host).
    Artifact,
    /// A run id: ASCII letters, digits, `-`, `_` and `.`, not starting with `.` or `-`.
    Run,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Flow => "flow",
            NameKind::Step => "step",
            NameKind::Parameter => "parameter",
            NameKind::Artifact => "artifact",
            NameKind::Run => "run id",
        })
    }
}

/// Why a name is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameProblem {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_NAME_BYTES`].
    TooLong {
        /// Its length in bytes.
        bytes: usize,
    },
    /// A flow, step or parameter name that is not an identifier.
    NotIdentifier,
    /// A character the kind does not allow.
    BadChar(char),
    /// `.` or `..`.
    Dots,
    /// Starts with a character reserved at the start (`_` for artifacts, `.`/`-` for run ids).
    Reserved(char),
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Empty => f.write_str("it is empty"),
            NameProblem::TooLong { bytes } => {
                write!(f, "it is {bytes} bytes long, the most is {MAX_NAME_BYTES}")
            }
            NameProblem::NotIdentifier => {
                f.write_str("use letters, digits and `_`, not starting with a digit")
            }
            NameProblem::BadChar(c) => {
                write!(
                    f,
                    "it contains `{}`, which is not allowed",
                    c.escape_debug()
                )
            }
            NameProblem::Dots => f.write_str("`.` and `..` are not names"),
            NameProblem::Reserved('_') => {
                f.write_str("names starting with `_` are reserved for the host")
            }
            NameProblem::Reserved(c) => write!(f, "it must not start with `{c}`"),
        }
    }
}

/// A refused name: its kind, the start of the name (escaped, at most 64 characters) and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} name `{shown}` is invalid: {problem}")]
pub struct NameError {
    /// What the name names.
    pub kind: NameKind,
    /// The name as shown in messages: escaped, cut to 64 characters (with `…`).
    pub shown: String,
    /// Why it is refused.
    pub problem: NameProblem,
}

/// The start of `name` for messages: control characters escaped, cut to 64 characters.
pub fn shown(name: &str) -> String {
    let mut out: String = name
        .chars()
        .take(SHOWN_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if name.chars().nth(SHOWN_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// Checks `name` as a name of `kind`. Every kind: 1 to [`MAX_NAME_BYTES`] bytes. Flows, steps
/// and parameters: identifiers (`[A-Za-z_][A-Za-z0-9_]*`). Artifacts: no `/`, `\` or control
/// character, not `.` or `..`, no leading `_`. Run ids: ASCII letters, digits, `-`, `_`, `.`,
/// no leading `.` or `-`. Costs at most one pass over the first 257 bytes.
pub fn validate(kind: NameKind, name: &str) -> Result<(), NameError> {
    problem(kind, name).map_or(Ok(()), |problem| {
        Err(NameError {
            kind,
            shown: shown(name),
            problem,
        })
    })
}

fn problem(kind: NameKind, name: &str) -> Option<NameProblem> {
    let Some(first) = name.chars().next() else {
        return Some(NameProblem::Empty);
    };
    if name.len() > MAX_NAME_BYTES {
        return Some(NameProblem::TooLong { bytes: name.len() });
    }
    match kind {
        NameKind::Flow | NameKind::Step | NameKind::Parameter => {
            let ident = (first.is_ascii_alphabetic() || first == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            (!ident).then_some(NameProblem::NotIdentifier)
        }
        NameKind::Artifact => {
            if let Some(c) = name
                .chars()
                .find(|&c| c == '/' || c == '\\' || c.is_control())
            {
                Some(NameProblem::BadChar(c))
            } else if name == "." || name == ".." {
                Some(NameProblem::Dots)
            } else if first == '_' {
                Some(NameProblem::Reserved('_'))
            } else {
                None
            }
        }
        NameKind::Run => {
            if let Some(c) = name
                .chars()
                .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            {
                Some(NameProblem::BadChar(c))
            } else if first == '.' || first == '-' {
                Some(NameProblem::Reserved(first))
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_accepts_its_names_and_refuses_the_rest_with_a_reason() {
        for (kind, name) in [
            (NameKind::Flow, "HelloFlow"),
            (NameKind::Step, "_private_step"),
            (NameKind::Parameter, "alpha2"),
            (NameKind::Artifact, "model weights (v2).bin"),
            (NameKind::Artifact, "étiquette"),
            (NameKind::Run, "20261128T182550-k3f9a"),
            (NameKind::Run, "nightly.2"),
        ] {
            assert_eq!(validate(kind, name), Ok(()), "{kind} {name:?}");
        }
        let long = "n".repeat(1 << 20);
        for (kind, name, needle) in [
            (NameKind::Flow, "", "it is empty"),
            (NameKind::Flow, "1flow", "use letters"),
            (NameKind::Step, "my-step", "use letters"),
            (
                NameKind::Step,
                long.as_str(),
                "1048576 bytes long, the most is 256",
            ),
            (NameKind::Artifact, "../../a/b\0c", "contains `/`"),
            (NameKind::Artifact, "a\\b", "contains `\\\\`"),
            (
                NameKind::Artifact,
                "x\u{1b}]0;title\u{7}",
                "contains `\\u{1b}`",
            ),
            (NameKind::Artifact, "..", "`.` and `..`"),
            (NameKind::Artifact, "_parameters", "reserved for the host"),
            (NameKind::Artifact, long.as_str(), "bytes long"),
            (NameKind::Run, "../../etc", "contains `/`"),
            (NameKind::Run, "..", "must not start with `.`"),
            (NameKind::Run, "-rf", "must not start with `-`"),
            (NameKind::Run, "a b", "contains ` `"),
        ] {
            let err = validate(kind, name).unwrap_err().to_string();
            assert!(err.contains(needle), "{kind} {name:.40?}: {err}");
            assert!(err.len() < 400, "the message stays short: {}", err.len());
            assert!(!err.contains('\0') && !err.contains('\u{1b}'), "{err:?}");
        }
    }

    #[test]
    fn shown_escapes_and_cuts() {
        assert_eq!(shown("a\nb"), "a\\nb");
        assert_eq!(shown(&"x".repeat(100)), format!("{}…", "x".repeat(64)));
        assert_eq!(shown(&"x".repeat(64)), "x".repeat(64));
    }
}
