//! The function cache: Cranelift's output per function, reused across components.
//!
//! A Python or JavaScript flow's component is ~12–19 MB of wasm, almost all of it the interpreter,
//! which is the same in every build; only the snapshot of its memory (data, not code) and the
//! generated bindings change when the flow's code does. Cranelift's incremental cache keys each
//! function's compiled code by a hash of the function itself and the compiler's settings, so a
//! rebuilt component compiles only the functions that changed and takes the others from here.
//!
//! The cache is one file, `functions.pack` in the compiled-code cache's folder: entries
//! (key, compiled function), most recently used first, at most [`MAX_PACK`] bytes, authenticated
//! like every compiled-code cache file (it is machine code): see [`crate::cache`]. A compile reads
//! the pack whole, and writes back the entries it used followed by the others, oldest dropped.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Most bytes the pack keeps (the entries used last first).
pub(crate) const MAX_PACK: usize = 128 << 20;

/// An in-memory function cache for one compile: what the pack held, and what this compile used.
#[derive(Debug, Default)]
pub(crate) struct Functions {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Vec<u8>, Vec<u8>>,
    /// The pack's keys in its order (most recently used first).
    order: Vec<Vec<u8>>,
    /// Keys this compile read or wrote, in order.
    used: Vec<Vec<u8>>,
    hits: usize,
    inserted: usize,
}

impl Functions {
    /// The entries of a pack (bytes written by [`Functions::pack`]); `None` if they do not parse.
    pub(crate) fn from_pack(mut pack: &[u8]) -> Option<Functions> {
        let mut inner = Inner::default();
        fn take<'a>(pack: &mut &'a [u8]) -> Option<&'a [u8]> {
            let len = u32::from_le_bytes(pack.get(..4)?.try_into().ok()?) as usize;
            let bytes = pack.get(4..4 + len)?;
            *pack = &pack[4 + len..];
            Some(bytes)
        }
        while !pack.is_empty() {
            let key = take(&mut pack)?.to_vec();
            let value = take(&mut pack)?.to_vec();
            if inner.entries.insert(key.clone(), value).is_none() {
                inner.order.push(key);
            }
        }
        Some(Functions {
            inner: Mutex::new(inner),
        })
    }

    /// The pack to keep: the entries used by this compile first, then the others, up to
    /// [`MAX_PACK`] bytes.
    pub(crate) fn pack(&self) -> Vec<u8> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for key in inner.used.iter().chain(&inner.order) {
            let Some(value) = inner.entries.get(key) else {
                continue;
            };
            if !seen.insert(key) {
                continue;
            }
            if out.len() + key.len() + value.len() + 8 > MAX_PACK {
                break;
            }
            for part in [key, value] {
                out.extend_from_slice(&(part.len() as u32).to_le_bytes());
                out.extend_from_slice(part);
            }
        }
        out
    }

    /// Functions found in the cache and functions compiled, so far.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        (inner.hits, inner.inserted)
    }
}

impl wasmtime::CacheStore for Functions {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let value = inner.entries.get(key)?.clone();
        inner.used.push(key.to_vec());
        inner.hits += 1;
        Some(Cow::Owned(value))
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if value.len() > u32::MAX as usize || key.len() > u32::MAX as usize {
            return false;
        }
        inner.used.push(key.to_vec());
        inner.entries.insert(key.to_vec(), value);
        inner.inserted += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::CacheStore;

    #[test]
    fn the_pack_keeps_used_entries_first_and_round_trips() {
        let f = Functions::default();
        f.insert(b"a", b"1".to_vec());
        f.insert(b"b", b"22".to_vec());
        let again = Functions::from_pack(&f.pack()).unwrap();
        assert_eq!(again.get(b"b").as_deref(), Some(&b"22"[..]));
        assert!(again.get(b"c").is_none());
        assert_eq!(again.counts(), (1, 0));
        // `b` was used: it comes first now.
        let packed = again.pack();
        let third = Functions::from_pack(&packed).unwrap();
        assert_eq!(
            third.inner.lock().unwrap().order,
            [b"b".to_vec(), b"a".to_vec()]
        );
        // A cut-short pack does not parse.
        assert!(Functions::from_pack(&packed[..packed.len() - 1]).is_none());
    }
}
