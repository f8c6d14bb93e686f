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
        self.to_string()
    }

    /// The first 12 hex digits, for humans.
    pub fn short(&self) -> String {
        self.to_string()[..12].to_string()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
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
        if s.len() != 64 {
            return Err(err());
        }
        let mut out = [0u8; 32];
        for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
            let hex = std::str::from_utf8(chunk).map_err(|_| err())?;
            out[i] = u8::from_str_radix(hex, 16).map_err(|_| err())?;
        }
        Ok(Digest(out))
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
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
    }

    #[test]
    fn incremental_matches_one_shot() {
        let mut h = Digest::hasher();
        h.update(b"ab");
        h.update(b"c");
        assert_eq!(Digest::from_hasher(&h), Digest::of(b"abc"));
    }
}
