//! The Rust part of the polyglot flow: `start` and `end`. `square` (Python) and `sum`
//! (JavaScript) are provided by the other components named in `../wflow.toml`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wflow::{Artifact, Bytes, Param, RawArtifact, Result};

/// Rust makes numbers and a nested record; Python squares; JavaScript sums; Rust checks.
#[wflow::flow]
pub struct Polyglot {
    /// How many numbers to square.
    #[param(default = 5)]
    n: Param<i64>,
    /// 1..=n, one Python task each.
    nums: Artifact<Vec<i64>>,
    /// A value with every kind of CBOR item, passed Rust → Python → JavaScript → Rust.
    record: Artifact<Record>,
    /// The sum of the squares (written by JavaScript).
    total: Artifact<i64>,
}

/// Every kind of value the SDKs exchange: integers up to 64 bits, floats of each width, text,
/// bytes, lists, maps with text and integer keys, options and nested records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub name: String,
    pub small: i64,
    pub big: i64,
    pub most_negative: i64,
    pub unsigned: u64,
    pub half: f64,
    pub single: f64,
    pub double: f64,
    pub tiny: f64,
    pub blob: Bytes,
    pub tags: Vec<String>,
    pub matrix: Vec<Vec<f64>>,
    pub counts: BTreeMap<String, i64>,
    pub by_id: BTreeMap<i64, String>,
    pub flag: bool,
    pub missing: Option<i64>,
    pub present: Option<String>,
    pub inner: Inner,
}

/// A record inside a record inside a record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inner {
    pub depth: u32,
    pub label: String,
    pub child: Option<Box<Inner>>,
}

impl Record {
    /// The value `start` sends and `end` expects back.
    pub fn sample() -> Record {
        Record {
            name: "naïve café ✓ 🦀".into(),
            small: -7,
            big: i64::MAX,
            most_negative: i64::MIN,
            unsigned: u64::MAX,
            half: 1.5,
            single: f32::MIN_POSITIVE as f64,
            double: 0.1,
            tiny: 1e-300,
            blob: Bytes(vec![0, 1, 2, 127, 128, 255]),
            tags: vec!["rust".into(), "python".into(), "js".into()],
            matrix: vec![vec![0.5, -2.25], vec![], vec![3.75e10 + 0.5]],
            counts: BTreeMap::from([("apples".into(), 3), ("pears".into(), -2)]),
            by_id: BTreeMap::from([(-5, "minus five".into()), (1, "one".into())]),
            flag: true,
            missing: None,
            present: Some("here".into()),
            inner: Inner {
                depth: 1,
                label: "outer".into(),
                child: Some(Box::new(Inner {
                    depth: 2,
                    label: "middle".into(),
                    child: Some(Box::new(Inner {
                        depth: 3,
                        label: "inner".into(),
                        child: None,
                    })),
                })),
            },
        }
    }
}

#[wflow::steps(elsewhere = ["square", "sum"])]
impl Polyglot {
    /// Makes the numbers and the record; one Python `square` task per number.
    #[step(foreach = "square", items = "nums")]
    fn start(&mut self) -> Result<()> {
        let n = self.n.get()?;
        wflow::ensure!(n >= 1, "n must be at least 1, got {n}");
        self.nums.set((1..=n).collect());
        self.record.set(Record::sample());
        Ok(())
    }

    /// Checks the total and that the record came back from Python and JavaScript unchanged —
    /// as a value and byte for byte.
    #[step]
    fn end(&mut self) -> Result<()> {
        let n = self.n.get()?;
        let want: i64 = (1..=n).map(|x| x * x).sum();
        let total = *self.total.get()?;
        wflow::ensure!(total == want, "total is {total}, expected {want}");

        let back: Artifact<Record> = Artifact::new("record_js");
        let back = back.get()?;
        wflow::ensure!(
            *back == Record::sample(),
            "the record changed on its way through Python and JavaScript:\n{back:#?}"
        );
        let (sent, got) = (RawArtifact::new("record"), RawArtifact::new("record_js"));
        wflow::ensure!(
            sent.get()? == got.get()?,
            "same value, but JavaScript encoded it differently from Rust"
        );
        println!("sum of squares of 1..={n}: {total}; the record came back unchanged");
        Ok(())
    }
}
