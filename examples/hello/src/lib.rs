//! The smallest flow: start → hello → end, with a parameter and two small artifacts.

use serde::{Deserialize, Serialize};
use wflow::{Artifact, Param, Result};

/// Greets someone: `start` writes the greeting, `hello` prints it and counts its letters, `end`
/// prints the summary.
#[wflow::flow]
pub struct Hello {
    /// Who to greet.
    #[param(default = "world")]
    name: Param<String>,
    /// The greeting written by `start`.
    greeting: Artifact<String>,
    /// What `hello` found out about the greeting.
    stats: Artifact<Stats>,
}

/// A small structured artifact, stored as CBOR.
#[derive(Debug, Serialize, Deserialize)]
pub struct Stats {
    /// Number of characters in the greeting.
    chars: usize,
    /// Number of words.
    words: usize,
}

#[wflow::steps]
impl Hello {
    /// Builds the greeting from the `name` parameter.
    #[step(next = "hello")]
    fn start(&mut self) -> Result<()> {
        let name = self.name.get()?;
        self.greeting.set(format!("Hello, {name}!"));
        Ok(())
    }

    /// Prints the greeting and measures it.
    #[step(next = "end")]
    fn hello(&mut self) -> Result<()> {
        let greeting = self.greeting.get()?;
        println!("{greeting}");
        let stats = Stats {
            chars: greeting.chars().count(),
            words: greeting.split_whitespace().count(),
        };
        self.stats.set(stats);
        Ok(())
    }

    /// Prints what the flow made.
    #[step]
    fn end(&mut self) -> Result<()> {
        let stats = self.stats.get()?;
        println!(
            "{:?} has {} characters in {} words",
            self.greeting.get()?,
            stats.chars,
            stats.words
        );
        Ok(())
    }
}
