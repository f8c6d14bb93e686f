//! A flow whose `start` asks for capabilities — an environment variable, a read-only directory, a
//! writable directory, the clock and random numbers — whose `pure` step asks for nothing, and whose
//! `net` step connects to `127.0.0.1:18001` and looks up `localhost` (both granted, or not) and
//! `example.com` (never granted), to test grants under the policy and the deterministic defaults.
//! Written by hand (builder API).

use std::time::{SystemTime, UNIX_EPOCH};

use wflow::{Artifact, Flow, FlowSpec, Result, StepSpec};

/// The flow type.
pub struct Capable;

impl Flow for Capable {
    fn spec() -> FlowSpec {
        // The spec is read in a sandbox like a step that asks for nothing: this doc must come
        // out the same on every read (clock at the epoch, fixed random numbers).
        FlowSpec::new("Capable")
            .doc(format!(
                "Reads what it was granted. (Spec read at {} s, random {}.)",
                now_secs(),
                random_hex()
            ))
            .step(
                StepSpec::new("start")
                    .env("WFLOW_TEST_SECRET")
                    .dir("data", "/data", false)
                    .dir("out", "/out", true)
                    .clock()
                    .random()
                    .next("pure"),
            )
            .step(StepSpec::new("pure").doc("Asks for nothing.").next("net"))
            .step(
                StepSpec::new("net")
                    .doc("Connects to 127.0.0.1:18001 and keeps what it read, or the error.")
                    .network("127.0.0.1:18001")
                    .network("localhost:18001")
                    .next("end"),
            )
            .step(StepSpec::new("end"))
    }

    fn run_step(step: &str) -> Result<()> {
        let a = |name: &'static str, v: String| -> Result<()> {
            let mut x = Artifact::<String>::new(name);
            x.set(v);
            x.save()
        };
        match step {
            "start" => {
                a(
                    "secret",
                    std::env::var("WFLOW_TEST_SECRET").unwrap_or_else(|e| format!("error: {e}")),
                )?;
                a(
                    "file",
                    std::fs::read_to_string("/data/hello.txt")
                        .unwrap_or_else(|e| format!("error: {e}")),
                )?;
                let write_ro = std::fs::write("/data/evil.txt", "x");
                a("write_ro", format!("{write_ro:?}"))?;
                std::fs::write("/out/result.txt", "written by a step")
                    .map_err(|e| format!("/out: {e}"))?;
                a("now", now_secs().to_string())?;
                a("random", random_hex())?;
            }
            "pure" => {
                a("pure_now", now_secs().to_string())?;
                a("pure_random", random_hex())?;
                a(
                    "pure_env",
                    format!("{:?}", std::env::var("WFLOW_TEST_SECRET").ok()),
                )?;
                a(
                    "pure_file",
                    format!("{:?}", std::fs::read_to_string("/data/hello.txt").is_ok()),
                )?;
            }
            "net" => {
                use std::io::Read;
                let got = std::net::TcpStream::connect("127.0.0.1:18001").and_then(|mut s| {
                    let mut text = String::new();
                    s.read_to_string(&mut text).map(|_| text)
                });
                a("net", got.unwrap_or_else(|e| format!("error: {e}")))?;
                // Name lookups: of a granted host, and of one that is not.
                use std::net::ToSocketAddrs;
                for (artifact, host) in [
                    ("lookup_granted", "localhost"),
                    ("lookup_other", "example.com"),
                ] {
                    let found = (host, 18001)
                        .to_socket_addrs()
                        .map(|addrs| format!("{} address(es)", addrs.count()));
                    a(artifact, found.unwrap_or_else(|e| format!("error: {e}")))?;
                }
            }
            "end" => {}
            other => wflow::bail!("Capable has no step `{other}`"),
        }
        Ok(())
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_hex() -> String {
    // HashMap's RandomState is seeded from WASI random.
    use std::hash::{BuildHasher, RandomState};
    format!("{:016x}", RandomState::new().hash_one(42u8))
}

wflow::export_flow!(Capable);
