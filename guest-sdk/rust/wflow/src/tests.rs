//! Unit tests of the SDK (native only: host calls go to `testing`'s mock).

use std::io::{self, Read, Write};
use std::path::Path;

use crate::testing::{MockInput, MockTask};
use crate::*;

/// The SDK ships a copy of the contract version it targets; it must equal the repository's
/// `wit/0.2.0/` (run `scripts/sync-wit` after changing the contract).
#[test]
fn wit_copy_matches_the_contract() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = manifest.join("../../../wit/0.2.0");
    if !repo.join("flow.wit").exists() {
        // Built outside the repository (e.g. from a published crate): nothing to compare with.
        return;
    }
    let mut names: Vec<_> = std::fs::read_dir(&repo)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| Path::new(n).extension().is_some_and(|e| e == "wit"))
        .collect();
    names.sort();
    assert!(!names.is_empty());
    for name in names {
        let theirs = std::fs::read_to_string(repo.join(&name)).unwrap();
        let ours = std::fs::read_to_string(manifest.join("wit").join(&name)).unwrap_or_default();
        assert!(
            theirs == ours,
            "guest-sdk/rust/wflow/wit/{} differs from wit/0.2.0/{}: run scripts/sync-wit",
            name.to_string_lossy(),
            name.to_string_lossy()
        );
    }
}

#[test]
fn cbor_round_trip_and_codec_check() {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct P {
        a: i64,
        b: Vec<String>,
    }
    let p = P {
        a: -3,
        b: vec!["x".into()],
    };
    assert_eq!(decode::<P>(&encode(&p).unwrap()).unwrap(), p);
    let v = Value::cbor(&p).unwrap();
    assert_eq!(v.codec, "cbor");
    assert_eq!(v.decode::<P>().unwrap(), p);

    let err = Value::raw(vec![1, 2]).decode::<P>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Codec);
    assert!(err.message().contains("codec `raw`"), "{err}");
    let err = decode::<P>(&encode(&42).unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Codec);
}

#[test]
fn errors_convert_and_keep_their_kind() {
    fn parse(s: &str) -> Result<i64> {
        Ok(s.parse::<i64>()?)
    }
    assert!(parse("x").unwrap_err().message().contains("invalid digit"));
    let e: Error = "plain".into();
    assert_eq!(
        (e.kind(), e.to_string()),
        (ErrorKind::Other, "plain".to_string())
    );
    let e = Error::new(ErrorKind::NotFound, "gone").context("loading");
    assert_eq!(e.to_string(), "loading: gone");
    assert!(e.is_not_found());
    // Through an io::Error (as readers and writers report) and back.
    let io_err = io::Error::other(Error::new(ErrorKind::Store, "disk full"));
    let back: Error = io_err.into();
    assert_eq!(back.kind(), ErrorKind::Store);
    assert_eq!(Some(3).context("none").unwrap(), 3);
    assert_eq!(
        None::<i32>.context("was none").unwrap_err().to_string(),
        "was none"
    );
    let r: std::result::Result<(), String> = Err("inner".into());
    assert_eq!(
        r.with_context(|| "outer").unwrap_err().to_string(),
        "outer: inner"
    );

    fn bails(n: i32) -> Result<i32> {
        crate::ensure!(n >= 0, "negative: {n}");
        crate::ensure!(n != 1);
        if n == 2 {
            crate::bail!("two is {}", "bad");
        }
        Ok(n)
    }
    assert_eq!(bails(-1).unwrap_err().to_string(), "negative: -1");
    assert_eq!(
        bails(1).unwrap_err().to_string(),
        "condition failed: n != 1"
    );
    assert_eq!(bails(2).unwrap_err().to_string(), "two is bad");
    assert_eq!(bails(3).unwrap(), 3);
}

#[test]
fn spec_builders() {
    let s = StepSpec::new("s")
        .doc("d")
        .branch(["a", "b"])
        .join()
        .retries(2)
        .timeout_secs(60)
        .memory_mb(256)
        .cpu(1)
        .catch("err")
        .compute("batch")
        .env("HOME")
        .dir("/data", "/in", false)
        .network("example.org:443")
        .clock()
        .random();
    assert_eq!(s.transition, Transition::Next(vec!["a".into(), "b".into()]));
    assert!(s.join && s.capabilities.clock && s.capabilities.random);
    assert_eq!(
        (s.retries, s.timeout_secs, s.memory_mb, s.cpu),
        (2, Some(60), Some(256), Some(1))
    );
    assert_eq!(s.catch.as_deref(), Some("err"));
    assert_eq!(s.capabilities.dirs[0].guest_path, "/in");
    assert_eq!(StepSpec::new("e").transition, Transition::End);
    assert_eq!(
        StepSpec::new("f").foreach("g").transition,
        Transition::Foreach("g".into())
    );

    let f = FlowSpec::new("F")
        .param(ParamSpec::new("n", ParamType::Int).default("3").help("h"))
        .step(StepSpec::new("start").next("end"))
        .step(StepSpec::new("end"));
    assert_eq!(f.parameters[0].default.as_deref(), Some("3"));
    assert_eq!(
        f.get_step("start").unwrap().transition,
        Transition::Next(vec!["end".into()])
    );
    assert!(f.get_step("nope").is_none());

    // What the `flow` export returns.
    let w = crate::__private::spec::<Manual>();
    assert_eq!(w.name, "Manual");
    assert_eq!(w.parameters[0].default.as_deref(), Some("2"));
    assert!(
        matches!(&w.steps[0].transition, crate::wit::wflow::flow::types::Transition::Next(v) if v == &["end"])
    );
    let err = crate::__private::run_step::<Manual>("nope").unwrap_err();
    assert_eq!(err.message, "no step nope");
}

/// A hand-written flow exercising the handles directly.
struct Manual;

impl Flow for Manual {
    fn spec() -> FlowSpec {
        FlowSpec::new("Manual")
            .param(ParamSpec::new("k", ParamType::Int).default("2"))
            .param(ParamSpec::new("s", ParamType::String))
            .step(StepSpec::new("start").next("end"))
            .step(StepSpec::new("end"))
    }

    fn run_step(step: &str) -> Result<()> {
        let k = Param::<i64>::new("k");
        let s = Param::<String>::new("s");
        let mut a = Artifact::<Vec<i64>>::new("a");
        let untouched = Artifact::<i64>::new("untouched");
        let mut blob = RawArtifact::new("blob");
        match step {
            "start" => {
                // Loads once, even when read twice.
                let n = a.get()?.len();
                assert_eq!(a.get()?.len(), n);
                assert!(!a.is_set() && a.is_loaded());
                a.get_mut()?.push(k.get()?);
                assert!(a.is_set());
                assert!(
                    Param::<bool>::new("k")
                        .get()
                        .unwrap_err()
                        .to_string()
                        .contains("parameter `k`: has type int, expected bool")
                );
                assert!(Param::<i64>::new("zz").get().is_err());
                assert_eq!(s.get()?, "given");
                assert!(Artifact::<i64>::new("missing").try_get()?.is_none());
                let e = Artifact::<i64>::new("missing").get().unwrap_err();
                assert!(
                    e.is_not_found() && e.to_string().contains("`missing`"),
                    "{e}"
                );
                let _ = &untouched;

                let mut w = blob.writer()?;
                w.write_all(&[7u8; 10])?;
                w.write_all(&vec![8u8; CHUNK_SIZE + 5])?;
                assert_eq!(w.finish()?, (CHUNK_SIZE + 15) as u64);
                let mut back = Vec::new();
                blob.reader()?.read_to_end(&mut back)?;
                assert_eq!(back.len(), CHUNK_SIZE + 15);
                assert_eq!(&back[8..12], &[7, 7, 8, 8]);
                a.save()?;
                blob.save()?; // nothing to put: the writer stored it
            }
            other => crate::bail!("no step {other}"),
        }
        Ok(())
    }
}

#[test]
fn handles_load_lazily_and_put_only_changes() {
    let out = MockTask::new("start")
        .param("s", "given")
        .artifact("a", &vec![1i64])
        .artifact("untouched", &5i64)
        .read_chunk(1000)
        .run::<Manual>()
        .unwrap();
    assert_eq!(out.get::<Vec<i64>>("a").unwrap(), vec![1, 2]);
    assert_eq!(out.put_names(), ["blob", "a"]);
    assert_eq!(out.value("blob").unwrap().codec, "raw");
    // `a` loaded once; `untouched` never; `missing` tried twice; `blob` read back once.
    assert_eq!(out.reads(), ["a", "blob"]);
    assert!(out.get::<i64>("untouched").unwrap_err().is_not_found());

    let err = MockTask::new("start").run::<Manual>().unwrap_err();
    assert!(
        err.to_string().contains("missing required parameter `s`"),
        "{err}"
    );
    let err = MockTask::new("start")
        .param("nope", 1)
        .run::<Manual>()
        .unwrap_err();
    assert!(err.to_string().contains("no parameter `nope`"), "{err}");
    let err = MockTask::new("other")
        .param("s", "x")
        .run::<Manual>()
        .unwrap_err();
    assert_eq!(err.to_string(), "no step other");
}

#[test]
fn raw_artifacts_stream_across_chunk_boundaries() {
    struct R;
    impl Flow for R {
        fn spec() -> FlowSpec {
            FlowSpec::new("R")
        }
        fn run_step(_: &str) -> Result<()> {
            let data = RawArtifact::new("data");
            let mut r = data.reader()?;
            assert_eq!(r.size(), 10_000);
            assert_eq!(r.codec(), "raw");
            let mut buf = [0u8; 7];
            let mut all = Vec::new();
            loop {
                let n = r.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                all.extend_from_slice(&buf[..n]);
            }
            assert_eq!(all, (0..10_000u32).map(|i| i as u8).collect::<Vec<_>>());
            // The whole value, and from a join input.
            assert_eq!(data.get()?.len(), 10_000);
            assert_eq!(data.codec()?, "raw");
            assert_eq!(data.reader()?.codec(), "raw");
            let cbor = RawArtifact::new("cbor");
            assert_eq!(cbor.get()?, encode(&5u8)?);
            assert_eq!((cbor.codec()?, cbor.reader()?.codec()), ("cbor", "cbor"));
            assert!(RawArtifact::from_input("data", 5).get().is_err());
            Ok(())
        }
    }
    let bytes: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    let out = MockTask::new("x")
        .raw_artifact("data", bytes)
        .artifact("cbor", &5u8)
        .read_chunk(333)
        .run::<R>()
        .unwrap();
    assert!(out.put_names().is_empty());
}

#[test]
fn inputs_without_a_flow_struct() {
    struct J;
    impl Flow for J {
        fn spec() -> FlowSpec {
            FlowSpec::new("J")
        }
        fn run_step(_: &str) -> Result<()> {
            let inputs = Inputs::<()>::new();
            assert_eq!(inputs.len(), 2);
            assert_eq!(inputs.step_of(1)?, "b");
            assert!(inputs.step_of(2).is_err());
            let names: Vec<String> = inputs
                .artifacts_of(0)?
                .into_iter()
                .map(|i| i.name)
                .collect();
            assert_eq!(names, ["same", "x"]);
            let mut total = Artifact::<i64>::new("total");
            total.set(
                *inputs.artifact::<i64>(0, "x")?.get()? + *inputs.artifact::<i64>(1, "x")?.get()?,
            );
            // Agreed-on artifacts are in the join's own view; disputed ones are not.
            assert_eq!(*Artifact::<String>::new("same").get()?, "s");
            assert!(Artifact::<i64>::new("x").try_get()?.is_none());
            let mut bad = Artifact::<i64>::from_input("x", 0);
            bad.set(1);
            assert_eq!(bad.save().unwrap_err().kind(), ErrorKind::Invalid);
            foreach_items(&["p", "q"])?;
            total.save()
        }
    }
    let out = MockTask::new("join")
        .input(
            "a",
            MockInput::new().artifact("x", &1i64).artifact("same", "s"),
        )
        .input(
            "b",
            MockInput::new().artifact("x", &2i64).artifact("same", "s"),
        )
        .run::<J>()
        .unwrap();
    assert_eq!(out.get::<i64>("total").unwrap(), 3);
    assert_eq!(out.items::<String>().unwrap().unwrap(), ["p", "q"]);
}

#[cfg(feature = "json")]
#[test]
fn json_parameters() {
    #[derive(serde::Deserialize)]
    struct Cfg {
        depth: u32,
    }
    struct P;
    impl Flow for P {
        fn spec() -> FlowSpec {
            FlowSpec::new("P")
                .param(ParamSpec::new("cfg", ParamType::Json).default(r#"{"depth":2}"#))
        }
        fn run_step(_: &str) -> Result<()> {
            let Json(cfg) = Param::<Json<Cfg>>::new("cfg").get()?;
            assert_eq!(cfg.depth, 2);
            let Json(any) = Param::<Json<serde_json::Value>>::new("cfg").get()?;
            assert_eq!(any["depth"], 2);
            assert!(Param::<Json<Vec<u8>>>::new("cfg").get().is_err());
            Ok(())
        }
    }
    MockTask::new("start").run::<P>().unwrap();
}

#[test]
fn cards_are_put_after_the_step_and_only_then() {
    use crate::testing::MockTask;
    use crate::{Flow, FlowSpec, StepSpec};

    struct Carded;
    impl Flow for Carded {
        fn spec() -> FlowSpec {
            FlowSpec::new("Carded")
                .step(StepSpec::new("start").next("end"))
                .step(StepSpec::new("end"))
        }
        fn run_step(step: &str) -> crate::Result<()> {
            crate::card::title("Report");
            crate::card::markdown("# hi");
            crate::card::table(["a"], &[[1], [2]])?;
            crate::card::named("other").image(b"\x89PNG\r\n\x1a\n".to_vec());
            crate::ensure!(step == "start", "fails on purpose");
            Ok(())
        }
    }
    let out = MockTask::new("start").run::<Carded>().unwrap();
    assert_eq!(out.put_names(), ["card:default", "card:other"]);
    let v = out.value("card:default").unwrap();
    assert_eq!(v.codec, crate::card::CODEC);
    let doc: ciborium::Value = ciborium::from_reader(&v.bytes[..]).unwrap();
    let doc = doc.as_map().unwrap();
    let get = |k: &str| {
        doc.iter()
            .find(|(key, _)| key.as_text() == Some(k))
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(get("version"), ciborium::Value::Integer(1.into()));
    assert_eq!(get("title").as_text(), Some("Report"));
    assert_eq!(get("parts").as_array().unwrap().len(), 2);
    assert!(get("task").as_text().unwrap().contains("/start/"));
    // A failed step keeps no card, and the next task does not see this one's parts.
    assert!(MockTask::new("end").run::<Carded>().is_err());
    let out = MockTask::new("start").run::<Carded>().unwrap();
    let v = out.value("card:default").unwrap();
    let doc: ciborium::Value = ciborium::from_reader(&v.bytes[..]).unwrap();
    let parts = doc
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_text() == Some("parts"))
        .unwrap()
        .1
        .clone();
    assert_eq!(parts.as_array().unwrap().len(), 2);
}
