//! Deterministic inputs for the smoke runs: a seeded PRNG, random byte strings and mutations of
//! seed inputs (the same kinds of edits a fuzzer makes, without its coverage feedback).

/// SplitMix64: small, fast and the same everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }
}

/// Bytes a mutation likes to write: boundaries of integer encodings and ASCII punctuation.
const INTERESTING: &[u8] = &[
    0, 1, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x3f, 0x40, 0x5f, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0,
    0xf5, 0xf6, 0xf7, 0xfb, 0xff, b'"', b'\'', b'[', b']', b'{', b'}', b'=', b'\n', b'\\', b'.',
];

/// Applies one random edit to `data`; `dict` holds whole tokens worth splicing in.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, dict: &[&[u8]], max_len: usize) {
    let len = data.len();
    match rng.below(9) {
        0 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = INTERESTING[rng.below(INTERESTING.len())];
        }
        2 if len > 0 => {
            let i = rng.below(len);
            data[i] = rng.byte();
        }
        3 => {
            let i = rng.below(len + 1);
            let n = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            data.splice(i..i, bytes);
        }
        4 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(16));
            data.drain(i..i + n);
        }
        5 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(32));
            let copy = data[i..i + n].to_vec();
            let at = rng.below(len + 1);
            data.splice(at..at, copy);
        }
        6 if !dict.is_empty() => {
            let token = dict[rng.below(dict.len())];
            let i = rng.below(len + 1);
            data.splice(i..i, token.iter().copied());
        }
        7 if len > 0 => data.truncate(rng.below(len)),
        _ => {
            let i = rng.below(len + 1);
            let b = INTERESTING[rng.below(INTERESTING.len())];
            data.insert(i, b);
        }
    }
    data.truncate(max_len);
}

/// `count` inputs from `seed`: about one in five random bytes, the rest a seed input with one to
/// eight mutations. The same arguments give the same inputs.
pub fn inputs(
    seed: u64,
    count: usize,
    seeds: &[Vec<u8>],
    dict: &[&[u8]],
    max_len: usize,
) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| {
            if seeds.is_empty() || rng.below(5) == 0 {
                let n = rng.below(max_len + 1);
                return (0..n).map(|_| rng.byte()).collect();
            }
            let mut data = seeds[rng.below(seeds.len())].clone();
            for _ in 0..1 + rng.below(8) {
                mutate(&mut rng, &mut data, dict, max_len);
            }
            data
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_deterministic_and_bounded() {
        let seeds = vec![b"hello world".to_vec()];
        let a = inputs(7, 200, &seeds, &[b"[x]"], 64);
        assert_eq!(a, inputs(7, 200, &seeds, &[b"[x]"], 64));
        assert!(a.iter().all(|i| i.len() <= 64));
        assert_ne!(a, inputs(8, 200, &seeds, &[b"[x]"], 64));
    }
}
