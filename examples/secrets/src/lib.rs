//! A step that needs a token: `fetch` asks for the secret `api_token`, which the policy
//! (`policy.toml` beside this crate) grants and reads from the environment variable
//! `REPORT_API_TOKEN` where the task runs. The token reaches only the step: what it prints is
//! redacted, and it stores what the call gave, never the token.

#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // the flow runs only as a component

use wflow::{Artifact, Param, Result};

/// Fetches a report with a token the policy provides.
#[wflow::flow]
struct Report {
    /// Which report to fetch.
    #[param(default = "weekly")]
    name: Param<String>,
    request: Artifact<String>,
    rows: Artifact<u64>,
}

#[wflow::steps]
impl Report {
    #[step(next = "fetch")]
    fn start(&mut self) -> Result<()> {
        self.request
            .set(format!("GET /reports/{}", self.name.get()?));
        Ok(())
    }

    /// Reads the token and "calls" the API with it (a real step would also ask for
    /// `network = ["api.example.com:443"]`).
    #[step(next = "end", secrets = ["api_token"])]
    fn fetch(&mut self) -> Result<()> {
        let token = wflow::secret("api_token")?;
        // Printed by mistake: the host shows `[wflow: secret api_token redacted]` instead.
        println!("{} with Authorization: Bearer {token}", self.request.get()?);
        wflow::ensure!(!token.is_empty(), "the token is empty");
        self.rows.set(42);
        Ok(())
    }

    #[step]
    fn end(&mut self) -> Result<()> {
        println!("{} rows", self.rows.get()?);
        Ok(())
    }
}
