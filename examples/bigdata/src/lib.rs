//! Large artifacts: streams `mb` MiB through the host without holding them in guest memory.

use std::io::{BufRead, Write};

use wflow::{Artifact, Param, RawArtifact, Result};

/// Writes a large blob of pseudo-random bytes with the streaming writer, then reads it back with
/// the streaming reader and checks it.
#[wflow::flow]
pub struct Bigdata {
    /// Size of the blob, in MiB.
    #[param(default = 100)]
    mb: Param<i64>,
    /// The blob (raw codec), written piece by piece.
    blob: RawArtifact,
    /// Checksum of the blob, computed while writing it.
    checksum: Artifact<u64>,
    /// Whether `consume` read back the same checksum.
    verified: Artifact<bool>,
    /// Size of the blob as `consume` read it, in bytes.
    size: Artifact<u64>,
}

/// Bytes generated per write.
const CHUNK: usize = 4 << 20;

#[wflow::steps]
impl Bigdata {
    /// Generates the blob with xorshift64 and streams it to the host.
    #[step(next = "consume", memory = 256)]
    fn start(&mut self) -> Result<()> {
        let mb = self.mb.get()?;
        wflow::ensure!(
            (0..=1 << 20).contains(&mb),
            "mb must be within 0..=1048576, got {mb}"
        );
        let total = (mb as u64) << 20;

        let mut rng = XorShift64(0x9E37_79B9_7F4A_7C15);
        let mut hash = WordHash::new();
        let mut buf = vec![0u8; CHUNK];
        let mut writer = self.blob.writer()?;
        let mut left = total;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            rng.fill(&mut buf[..n]);
            hash.update(&buf[..n]);
            writer.write_all(&buf[..n])?;
            left -= n as u64;
        }
        let stored = writer.finish()?;
        wflow::ensure!(
            stored == total,
            "the host stored {stored} bytes, expected {total}"
        );
        let checksum = hash.finish();
        println!("wrote {mb} MiB, checksum {checksum:016x}");
        self.checksum.set(checksum);
        Ok(())
    }

    /// Streams the blob back and checks it against the checksum.
    #[step(next = "end", memory = 256)]
    fn consume(&mut self) -> Result<()> {
        let mut reader = self.blob.reader()?;
        let mut hash = WordHash::new();
        loop {
            let piece = reader.fill_buf()?;
            if piece.is_empty() {
                break;
            }
            let n = piece.len();
            hash.update(piece);
            reader.consume(n);
        }
        let size = hash.len();
        let verified = hash.finish() == *self.checksum.get()?;
        println!("read {size} bytes, verified: {verified}");
        self.size.set(size);
        self.verified.set(verified);
        Ok(())
    }

    /// Prints the outcome.
    #[step]
    fn end(&mut self) -> Result<()> {
        println!(
            "blob of {} bytes, verified: {}, checksum {:016x}",
            self.size.get()?,
            self.verified.get()?,
            self.checksum.get()?
        );
        wflow::ensure!(*self.verified.get()?, "the blob did not verify");
        Ok(())
    }
}

/// Marsaglia's xorshift64: deterministic, fast, good enough for test data.
struct XorShift64(u64);

impl XorShift64 {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Fills `buf` a u64 word at a time (little-endian); a partial last word is cut.
    fn fill(&mut self, buf: &mut [u8]) {
        let mut words = buf.chunks_exact_mut(8);
        for w in &mut words {
            w.copy_from_slice(&self.next().to_le_bytes());
        }
        let rest = words.into_remainder();
        if !rest.is_empty() {
            let last = self.next().to_le_bytes();
            let n = rest.len();
            rest.copy_from_slice(&last[..n]);
        }
    }
}

/// FNV-1a over little-endian u64 words (a last partial word is zero-padded), then the length.
/// Pieces may split words anywhere: the result depends only on the bytes.
struct WordHash {
    h: u64,
    len: u64,
    carry: [u8; 8],
    carried: usize,
}

impl WordHash {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> WordHash {
        WordHash {
            h: Self::OFFSET,
            len: 0,
            carry: [0; 8],
            carried: 0,
        }
    }

    fn word(&mut self, w: u64) {
        self.h = (self.h ^ w).wrapping_mul(Self::PRIME);
    }

    fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.carried > 0 {
            let n = (8 - self.carried).min(bytes.len());
            self.carry[self.carried..self.carried + n].copy_from_slice(&bytes[..n]);
            self.carried += n;
            bytes = &bytes[n..];
            if self.carried < 8 {
                return;
            }
            self.word(u64::from_le_bytes(self.carry));
            self.carried = 0;
        }
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.word(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        self.carry[..rest.len()].copy_from_slice(rest);
        self.carried = rest.len();
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn finish(mut self) -> u64 {
        if self.carried > 0 {
            self.carry[self.carried..].fill(0);
            self.word(u64::from_le_bytes(self.carry));
        }
        let len = self.len;
        self.word(len);
        self.h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wflow::testing::MockTask;

    #[test]
    fn start_and_consume_agree() {
        let out = MockTask::new("start")
            .param("mb", 1)
            .run::<Bigdata>()
            .unwrap();
        assert_eq!(out.raw("blob").unwrap().len(), 1 << 20);
        let checksum: u64 = out.get("checksum").unwrap();
        let out = MockTask::new("consume")
            .raw_artifact("blob", out.raw("blob").unwrap().to_vec())
            .artifact("checksum", &checksum)
            .read_chunk(12_345)
            .run::<Bigdata>()
            .unwrap();
        assert!(out.get::<bool>("verified").unwrap());
        assert_eq!(out.get::<u64>("size").unwrap(), 1 << 20);
    }

    #[test]
    fn hash_ignores_how_bytes_are_split() {
        let mut data = vec![0u8; 1000];
        XorShift64(7).fill(&mut data);
        let mut whole = WordHash::new();
        whole.update(&data);
        let whole = whole.finish();
        for split in [1, 3, 7, 8, 9, 500, 999] {
            let mut h = WordHash::new();
            for piece in data.chunks(split) {
                h.update(piece);
            }
            assert_eq!(h.finish(), whole, "split {split}");
        }
    }
}
