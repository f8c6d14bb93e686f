//! Contract 0.2's secrets: `start` asks for `db_password` and `api_token`, reads them, and then
//! does with them what a careless step might: prints them (whole, and split across two writes),
//! and, as the parameter `mode` says, fails with one in its error (`error`), panics with one in
//! the message (`panic`), or finishes (`ok`). Its artifacts hold only the values' lengths.
//! `other` reads a secret it did not ask for.

#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // the flow runs only as a component

use std::io::Write;

use wflow::{Artifact, Param, Result};

/// Reads secrets, prints them, fails with them.
#[wflow::flow]
struct Secrets {
    /// `ok`, `error` or `panic`.
    #[param(default = "ok")]
    mode: Param<String>,
    lengths: Artifact<Vec<i64>>,
    refused: Artifact<String>,
}

#[wflow::steps]
impl Secrets {
    #[step(next = "other", secrets = ["db_password", "api_token"])]
    fn start(&mut self) -> Result<()> {
        let password = wflow::secret("db_password")?;
        let token = wflow::secret_bytes("api_token")?;
        println!("connecting with password {password}");
        let (a, b) = password.split_at(password.len() / 2);
        let mut err = std::io::stderr();
        err.write_all(format!("half {a}").as_bytes()).unwrap();
        err.flush().unwrap();
        err.write_all(format!("{b} and the token ").as_bytes())
            .unwrap();
        err.write_all(&token).unwrap();
        err.write_all(b"\n").unwrap();
        err.flush().unwrap();
        self.lengths
            .set(vec![password.len() as i64, token.len() as i64]);
        match self.mode.get()?.as_str() {
            "error" => wflow::bail!("could not log in as admin/{password}"),
            "panic" => panic!("the token {} was refused", String::from_utf8_lossy(&token)),
            _ => Ok(()),
        }
    }

    #[step(next = "end")]
    fn other(&mut self) -> Result<()> {
        let refused = wflow::secret("db_password").expect_err("not asked for");
        self.refused.set(refused.to_string());
        Ok(())
    }

    #[step]
    fn end(&mut self) -> Result<()> {
        Ok(())
    }
}
