//! The op program: a sequence of host calls decoded from arbitrary bytes.
//!
//! This file is shared, word for word, by the guest that runs a program (`lib.rs` of this crate)
//! and by the fuzz harness that predicts what each call must answer (`runtime/fuzz`, which
//! includes it with `#[path]`). It depends on `std` only. Decoding never fails: every byte string
//! is a program (missing bytes read as zero), so a fuzzer's mutations always reach the host.

/// Longest literal value or write chunk taken from the input, in bytes.
pub const MAX_LITERAL: usize = 512;

/// Most ops decoded from one program (bounds the work of one task).
pub const MAX_OPS: usize = 64;

/// Bytes of a value: a literal from the input, or a generated pattern (to reach sizes beyond
/// what a fuzzer writes out, such as blobs larger than the store's inline limit).
#[derive(Clone, Debug, PartialEq)]
pub enum Bytes {
    /// These bytes.
    Literal(Vec<u8>),
    /// `len` bytes derived from `seed`.
    Pattern {
        /// Seed of the pattern.
        seed: u8,
        /// Length in bytes.
        len: u32,
    },
}

impl Bytes {
    /// The bytes themselves.
    pub fn materialize(&self) -> Vec<u8> {
        match self {
            Bytes::Literal(b) => b.clone(),
            Bytes::Pattern { seed, len } => (0..*len)
                .map(|i| (i as u8).wrapping_mul(31).wrapping_add(*seed) ^ (i >> 8) as u8)
                .collect(),
        }
    }
}

/// A value to put: its codec and bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Val {
    /// The codec name (anything: the host decides what it accepts).
    pub codec: String,
    /// The bytes.
    pub bytes: Bytes,
}

/// What happens to a writer after its chunks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WriterEnd {
    /// Dropped unfinished.
    Drop,
    /// Finished once.
    Finish,
    /// Finished, then finished again (must fail the second time), then written to.
    FinishTwice,
}

/// One host call (or a few, for the streaming resources).
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `artifacts.put(name, value)`.
    Put {
        /// Name.
        name: String,
        /// Value.
        value: Val,
    },
    /// `artifacts.put` with a name that is not valid UTF-8 (the host must refuse the call).
    PutRawName {
        /// The name's bytes.
        name: Vec<u8>,
    },
    /// `artifacts.get(name)`.
    Get {
        /// Name.
        name: String,
    },
    /// `artifacts.list()`.
    List,
    /// `artifacts.input-count()` and `input-step(index)`.
    InputStep {
        /// Index.
        index: u32,
    },
    /// `artifacts.list-input(index)`.
    ListInput {
        /// Index.
        index: u32,
    },
    /// `artifacts.get-input(index, name)`.
    GetInput {
        /// Index.
        index: u32,
        /// Name.
        name: String,
    },
    /// `open-reader(name, input)`, then `read(max)` until the end or an error.
    Read {
        /// Name.
        name: String,
        /// Input index, or the view.
        input: Option<u32>,
        /// Most bytes asked for per `read`.
        max: u64,
    },
    /// `open-writer(name, codec)`, `write` of each chunk, then `end`.
    Write {
        /// Name.
        name: String,
        /// Codec.
        codec: String,
        /// Chunks written.
        chunks: Vec<Bytes>,
        /// What follows the chunks.
        end: WriterEnd,
    },
    /// `foreach.declare-items(items)`.
    Declare {
        /// The items.
        items: Vec<Val>,
    },
    /// `context.parameter(name)`.
    Param {
        /// Name.
        name: String,
    },
    /// `context.foreach-index()` and `foreach-path()`.
    Foreach,
    /// Prints `len` bytes to stderr.
    Log {
        /// Bytes printed.
        len: u32,
    },
}

/// A cursor over the input; reads past the end give zeros.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data`.
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, pos: 0 }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The next byte, or 0.
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next `n` bytes (fewer at the end).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(n).min(self.data.len());
        self.pos = self.pos.saturating_add(n);
        &self.data[start..end]
    }

    /// A string: one of `pool` (chosen by a byte) or, for bytes past the pool, up to 31 bytes of
    /// the input taken as UTF-8 (lossily).
    pub fn string(&mut self, pool: &[&str]) -> String {
        let b = self.u8() as usize;
        if b < pool.len() * 6 {
            return pool[b % pool.len()].to_string();
        }
        let n = self.u8() as usize % 32;
        String::from_utf8_lossy(self.take(n)).into_owned()
    }

    /// An artifact name, valid or not.
    pub fn name(&mut self) -> String {
        self.string(NAMES)
    }

    /// A codec name.
    pub fn codec(&mut self) -> String {
        self.string(CODECS)
    }

    /// Bytes of a value.
    pub fn bytes(&mut self) -> Bytes {
        let b = self.u8();
        if b >= 0xF0 {
            // Sizes around the store's inline limit (4096) and a few blobs of megabytes.
            let seed = self.u8();
            let len = match b & 0x0F {
                0 => 4095,
                1 => 4096,
                2 => 4097,
                3 => 1 << 20,
                4 => 3 << 20,
                k => u32::from(self.u16()) * u32::from(k),
            };
            Bytes::Pattern { seed, len }
        } else {
            Bytes::Literal(self.take(b as usize % (MAX_LITERAL + 1)).to_vec())
        }
    }

    /// A value.
    pub fn val(&mut self) -> Val {
        Val {
            codec: self.codec(),
            bytes: self.bytes(),
        }
    }

    /// An input index: usually small, sometimes anything.
    pub fn index(&mut self) -> u32 {
        match self.u8() {
            0xFF => u32::MAX,
            0xFE => u32::from(self.u16()) << 16,
            b => u32::from(b % 5),
        }
    }
}

/// Names the decoder picks from: valid ones, and every kind the contract refuses.
pub const NAMES: &[&str] = &[
    "a",
    "b",
    "x",
    "data",
    "_parameters",
    "",
    "_hidden",
    "a/b",
    "/",
    "..",
    ".",
    "a\0b",
    "a\\b",
    "tab\there",
    "new\nline",
    "é",
    "名前",
    "a.b",
    "...",
    "x\u{7f}",
    " ",
    "\u{85}",
    "\u{200b}",
    // 256 bytes (the longest name allowed) and 257.
    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
];

/// Codec names the decoder picks from.
pub const CODECS: &[&str] = &[
    "cbor",
    "raw",
    "",
    "json",
    "CBOR",
    "raw\n",
    "x/y",
    "\0",
    "text/csv+gzip",
    "9p",
    "é",
    // 64 bytes (the longest codec allowed) and 65.
    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
    "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
];

/// Decodes a program: a sequence of at most [`MAX_OPS`] ops.
pub fn decode(data: &[u8]) -> Vec<Op> {
    let mut r = Reader::new(data);
    let mut ops = Vec::new();
    while !r.is_empty() && ops.len() < MAX_OPS {
        let op = match r.u8() % 16 {
            0..=3 => Op::Put {
                name: r.name(),
                value: r.val(),
            },
            4 => {
                let n = r.u8() as usize % 16;
                Op::PutRawName {
                    name: r.take(n).to_vec(),
                }
            }
            5 | 6 => Op::Get { name: r.name() },
            7 => Op::List,
            8 => Op::InputStep { index: r.index() },
            9 => Op::ListInput { index: r.index() },
            10 => Op::GetInput {
                index: r.index(),
                name: r.name(),
            },
            11 => {
                let name = r.name();
                let input = match r.u8() % 3 {
                    0 => None,
                    _ => Some(r.index()),
                };
                let max = match r.u8() {
                    0 => 0,
                    0xFF => u64::MAX,
                    b => 1u64 << (b % 26),
                };
                Op::Read { name, input, max }
            }
            12 => {
                let name = r.name();
                let codec = r.codec();
                let n = r.u8() as usize % 5;
                let chunks = (0..n).map(|_| r.bytes()).collect();
                let end = match r.u8() % 4 {
                    0 => WriterEnd::Drop,
                    3 => WriterEnd::FinishTwice,
                    _ => WriterEnd::Finish,
                };
                Op::Write {
                    name,
                    codec,
                    chunks,
                    end,
                }
            }
            13 => {
                let n = match r.u8() {
                    0xFF => 1000,
                    b => b as usize % 12,
                };
                Op::Declare {
                    items: (0..n).map(|_| r.val()).collect(),
                }
            }
            14 => match r.u8() % 2 {
                0 => Op::Param {
                    name: r.string(&["n", "s", "missing", ""]),
                },
                _ => Op::Foreach,
            },
            _ => Op::Log {
                len: u32::from(r.u16()) * 4,
            },
        };
        ops.push(op);
    }
    ops
}

/// FNV-1a of `bytes`: a short fingerprint for the lines both sides print.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// How a value is shown in a line: codec, length, fingerprint.
pub fn show_value(codec: &str, bytes: &[u8]) -> String {
    format!("{codec:?} {} {:016x}", bytes.len(), fingerprint(bytes))
}
