//! Content digests: BLAKE3-256, printed as 64 lowercase hex digits.
//!
//! BLAKE3 rather than SHA-256: it hashes several GB/s on one core (SIMD), which keeps hashing off
//! the critical path of a 100 MB artifact, and it is a modern, well-reviewed cryptographic hash,
//! so two different values never share a key in practice.

use std::fmt;
use std::str::FromStr;

/// The BLAKE3-256 hash of some bytes; the key of a blob in the content-addressed store.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

/// A string that is not a digest.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a digest (expected 64 hex digits)")]
pub struct DigestError(pub String);

impl Digest {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(*blake3::hash(bytes).as_bytes())
    }

    /// An incremental hasher whose [`blake3::Hasher::finalize`] gives the same digest as [`Digest::of`].
    pub fn hasher() -> blake3::Hasher {
        blake3::Hasher::new()
    }

    /// Finishes an incremental hash.
    pub fn from_hasher(h: &blake3::Hasher) -> Digest {
        Digest(*h.finalize().as_bytes())
    }

    /// The digest as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.hex().as_str().to_string()
    }

    /// The first 12 hex digits, for humans.
    pub fn short(&self) -> String {
        self.hex().as_str()[..12].to_string()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.hex().as_str())
    }
}

/// A digest's 64 hex digits, on the stack: formatting one costs no allocation and no formatter
/// call per byte (records, manifests and cache entries print and parse digests by the thousand).
#[derive(Clone, Copy)]
pub struct Hex([u8; 64]);

impl Hex {
    /// The digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written into it.
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

impl Digest {
    /// The digest as 64 lowercase hex digits, without allocating.
    pub fn hex(&self) -> Hex {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(b >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
        }
        Hex(out)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DigestError(s.to_string());
        let s_bytes = s.as_bytes();
        if s_bytes.len() != 64 {
            return Err(err());
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        };
        let mut out = [0u8; 32];
        for (i, pair) in s_bytes.chunks_exact(2).enumerate() {
            match (nibble(pair[0]), nibble(pair[1])) {
                (Some(hi), Some(lo)) => out[i] = hi << 4 | lo,
                _ => return Err(err()),
            }
        }
        Ok(Digest(out))
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.hex().as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Parses borrowed text where the format lends it, without a `String` per digest.
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Digest;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a digest: 64 hex digits")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Digest, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let d = Digest::of(b"abc");
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert!("xyz".parse::<Digest>().is_err());
        assert!("zz".repeat(32).parse::<Digest>().is_err());
        // Every byte value both ways, and the same text as formatting byte by byte.
        let all = Digest(std::array::from_fn(|i| (i * 8 + 7) as u8));
        let by_byte: String = all.0.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(all.to_hex(), by_byte);
        assert_eq!(by_byte.parse::<Digest>().unwrap(), all);
        assert_eq!(by_byte.to_uppercase().parse::<Digest>().unwrap(), all);
        assert!(format!("{}g", &by_byte[..63]).parse::<Digest>().is_err());
        assert!("é".repeat(32).parse::<Digest>().is_err());
        // Through serde: JSON text in, borrowed or not.
        let json = serde_json::to_string(&all).unwrap();
        assert_eq!(json, format!("\"{by_byte}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), all);
        let owned: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::from_value::<Digest>(owned).unwrap(), all);
        assert!(serde_json::from_str::<Digest>("12").is_err());
        assert_eq!(
            format!("{all:>70}").len(),
            70,
            "width and padding still apply"
        );
    }

    #[test]
    fn incremental_matches_one_shot() {
        let mut h = Digest::hasher();
        h.update(b"ab");
        h.update(b"c");
        assert_eq!(Digest::from_hasher(&h), Digest::of(b"abc"));
    }
}
