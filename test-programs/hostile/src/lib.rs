//! The hostile-guest corpus: one flow whose `work` step misbehaves as `-p mode=…` says, in the
//! first item of a foreach of four, while the other three behave. The host's tests check that
//! each mode ends in a clear error (or, for logs, a truncation marker) and that the host, the
//! other tasks and the store are unaffected.

use std::hint::black_box;

use wflow::{Artifact, Inputs, Param, RawArtifact, Result};

/// start → work (foreach of 4, item 0 misbehaves) → join → end.
#[wflow::flow]
pub struct Hostile {
    /// What item 0 of `work` does.
    #[param(default = "ok")]
    mode: Param<String>,
    /// The foreach items.
    items: Artifact<Vec<u32>>,
    /// What a well-behaved task keeps.
    out: Artifact<String>,
    /// A large value (mode `big-artifact`, and read back by `trap-in-host-call`).
    big: RawArtifact,
    /// 4 Mi nulls: 4 MiB of CBOR that would print as 40 MB of JSON (mode `wide-value`).
    wide: Artifact<Vec<()>>,
}

#[wflow::steps]
impl Hostile {
    /// Four items, or a million in mode `million-items`; a 32 MiB value in `trap-in-host-call`.
    #[step(foreach = "work", items = "items")]
    fn start(&mut self) -> Result<()> {
        let mode = self.mode.get()?;
        let n = if mode == "million-items" {
            1_000_000
        } else {
            4
        };
        self.items.set((0..n).collect());
        match mode.as_str() {
            "trap-in-host-call" => self.big.set(vec![7u8; 32 << 20]),
            // A blob (not an inline value), so each reader holds a file.
            "hold-handles" => self.big.set(vec![7u8; 64 << 10]),
            // 100 MiB, streamed: more than the 64 MiB `work` may hold.
            "huge-get" => {
                let mut w = wflow::ArtifactWriter::open("big", "raw")?;
                for _ in 0..100 {
                    std::io::Write::write_all(&mut w, &[3u8; 1 << 20])?;
                }
                w.finish()?;
            }
            // 50 items of 2 MiB: far more than a 1 MiB `max_artifact_bytes`.
            "fat-items" => {
                use wflow::wit::wflow::flow::{foreach, types};
                let item = types::Value {
                    codec: "raw".into(),
                    bytes: vec![5u8; 2 << 20],
                };
                foreach::declare_items(&vec![item; 50]).map_err(|e| format!("{e:?}"))?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Item 0 misbehaves; the others keep `out`. One retry: a trap or limit breach counts as a
    /// failed attempt like any other.
    #[step(next = "join", timeout = 3, memory = 64, retries = 1)]
    fn work(&mut self) -> Result<()> {
        if wflow::current::foreach_index() != Some(0) {
            self.out.set("fine".into());
            return Ok(());
        }
        match self.mode.get()?.as_str() {
            "ok" | "fail-end" => self.out.set("fine".into()),
            "flaky" if wflow::current::attempt() == 0 => {
                wflow::bail!("first attempt fails on purpose")
            }
            "flaky" => self.out.set("fine".into()),
            "read-passwd" => {
                let text = std::fs::read_to_string("/etc/passwd").expect("reading /etc/passwd");
                self.out.set(text);
            }
            "read-cwd" => {
                let names: Vec<String> = std::fs::read_dir(".")
                    .expect("listing the host's working directory")
                    .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                    .collect();
                self.out.set(names.join(","));
            }
            "env" => self
                .out
                .set(std::env::var("HOME").expect("reading HOME, which was not granted")),
            "socket" => {
                let s = std::net::TcpStream::connect("127.0.0.1:22")
                    .expect("connecting to 127.0.0.1:22");
                self.out.set(format!("{s:?}"));
            }
            "loop" => loop {
                black_box(0);
            },
            "oom" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 8 << 20]);
                    black_box(&hoard);
                }
            }
            "recursion" => {
                black_box(recurse(black_box(1)));
            }
            "print-gigabytes" => {
                // 64 GiB: far more than the log cap, and more than fits in the step's timeout.
                let line = "x".repeat(1 << 20);
                for _ in 0..(64 << 10) {
                    println!("{line}");
                }
                self.out.set("printed 64 GiB".into());
            }
            "big-artifact" => self.big.set(vec![0u8; 16 << 20]),
            "wide-value" => self.wide.set(vec![(); 4 << 20]),
            "bad-names" => return Err(bad_names().into()),
            "wrong-phase" => wflow::foreach_items(&[1u32, 2, 3])?,
            "trap-in-host-call" => {
                // 32 MiB does not fit in this step's 64 MiB memory twice: the host's copy into
                // guest memory fails inside the `get` call.
                let mut copies = Vec::new();
                for _ in 0..4 {
                    copies.push(self.big.get()?.to_vec());
                    black_box(&copies);
                    self.big = RawArtifact::new("big");
                }
            }
            "hold-handles" => hold_handles(),
            "many-artifacts" => many_artifacts(),
            "bad-codecs" => return Err(bad_codecs().into()),
            "huge-get" => {
                use wflow::wit::wflow::flow::artifacts;
                let v = artifacts::get("big").map_err(|e| format!("{e:?}"))?;
                self.out.set(format!("read {} bytes", v.bytes.len()));
            }
            other => wflow::bail!("unknown mode `{other}`"),
        }
        Ok(())
    }

    /// Counts the well-behaved inputs.
    #[step(join, next = "end")]
    fn join(&mut self, inputs: Inputs<Self>) -> Result<()> {
        let fine = inputs
            .iter()
            .filter(|i| i.out.get().is_ok_and(|o| o == "fine"))
            .count();
        self.out.set(format!("{fine} fine"));
        Ok(())
    }

    /// Fails in mode `fail-end`; `catch` keeps the error as the artifact `end_error` and the run
    /// succeeds.
    #[step(catch = "end_error")]
    fn end(&mut self) -> Result<()> {
        if self.mode.get()? == "fail-end" {
            wflow::bail!("end failed on purpose");
        }
        Ok(())
    }
}

#[allow(unconditional_recursion)] // on purpose: it must overflow the stack
fn recurse(n: u64) -> u64 {
    let pad = black_box([n; 64]);
    pad[black_box(3) as usize] + recurse(black_box(n + 1))
}

/// Tries to put artifacts under names the host must refuse; returns what the host said of each.
fn bad_names() -> String {
    use wflow::wit::wflow::flow::{artifacts, types};
    let long = "n".repeat(300);
    let names = ["", "a/b", "..", "x\0y", "_reserved", long.as_str()];
    let mut said = Vec::new();
    for name in names {
        let v = types::Value {
            codec: "raw".into(),
            bytes: vec![1],
        };
        match artifacts::put(name, &v) {
            Ok(()) => said.push(format!("ACCEPTED {name:?}")),
            Err(types::Error::Invalid(m)) => said.push(format!("refused: {m}")),
            Err(e) => said.push(format!("other error: {e:?}")),
        }
    }
    said.join("\n")
}

/// Opens 10,000 readers and writers and holds them all.
fn hold_handles() {
    use wflow::wit::wflow::flow::artifacts;
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for i in 0..5_000 {
        readers.push(artifacts::open_reader("big", None).expect("opening a reader"));
        writers.push(artifacts::open_writer(&format!("w{i}"), "raw").expect("opening a writer"));
    }
    black_box((&readers, &writers));
}

/// Puts a million empty artifacts with 250-byte names.
fn many_artifacts() {
    use wflow::wit::wflow::flow::{artifacts, types};
    let empty = types::Value {
        codec: "raw".into(),
        bytes: Vec::new(),
    };
    for i in 0..1_000_000u32 {
        artifacts::put(&format!("{i:0>250}"), &empty).expect("putting an artifact");
    }
}

/// Tries to put a value under codecs the host must refuse; returns what the host said of each.
fn bad_codecs() -> String {
    use wflow::wit::wflow::flow::{artifacts, types};
    let long = "c".repeat(1 << 20);
    let codecs = ["", "CBOR", "raw\n", "x\0y", "é", "9lives", long.as_str()];
    let mut said = Vec::new();
    for codec in codecs {
        let v = types::Value {
            codec: codec.into(),
            bytes: vec![1],
        };
        match artifacts::put("x", &v) {
            Ok(()) => said.push(format!("ACCEPTED {:?}", &codec[..codec.len().min(16)])),
            Err(types::Error::Invalid(m)) => said.push(format!("refused: {m}")),
            Err(e) => said.push(format!("other error: {e:?}")),
        }
    }
    said.join("\n")
}
