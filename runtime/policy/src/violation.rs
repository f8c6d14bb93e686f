//! What a policy refuses: one violation per step and request, and all of a flow's together.

use std::fmt;

/// One thing a step asks for that the policy does not allow.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Violation {
    /// The step.
    pub step: String,
    /// What it asked for and why it is refused.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step `{}`: {}", self.step, self.message)
    }
}

/// Every violation of a flow, and the policy they are against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violations {
    /// Where the policy came from (several origins when a policy is narrowed by another).
    pub origin: String,
    /// The violations, in step order.
    pub list: Vec<Violation>,
    /// What the user can do about them, when the policy knows (for example which digest to pin).
    pub notes: Vec<String>,
}

/// Most violations printed; the rest are counted.
const SHOWN_VIOLATIONS: usize = 50;

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the flow asks for more than the policy allows ({}):",
            self.origin
        )?;
        for v in self.list.iter().take(SHOWN_VIOLATIONS) {
            write!(f, "\n  {v}")?;
        }
        if self.list.len() > SHOWN_VIOLATIONS {
            write!(f, "\n  … and {} more", self.list.len() - SHOWN_VIOLATIONS)?;
        }
        for note in &self.notes {
            write!(f, "\n  note: {note}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}
