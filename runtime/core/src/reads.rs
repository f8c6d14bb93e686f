//! What a task read in its sandbox, and the key its record is found by: the words of caching.
//!
//! A step that asks for no capability (no clock, random, environment, directory or network) is
//! a deterministic function of what it reads through the host, and the host sees every read. So
//! the engine records, per task, a [`TaskReads`]: the values it got (artifacts of its own view
//! and of its inputs, parameters), whether it listed names, how many inputs it asked for, its
//! foreach position if it asked, and the names it put. A later task of the same component and
//! step, with the same foreach item ([`CacheKey`]), whose inputs give the same answer to every
//! one of those reads would compute the same outputs: the scheduler takes them instead of
//! running it.
//!
//! Values are compared by [`value_key`] (their codec and content digest), listings by
//! [`listing_key`] (the names, codecs and sizes listed), parameters by [`param_key`].
//!
//! The JSON form of [`TaskReads`] is part of the records (see `docs/store.md`): fields are only
//! ever added, with defaults.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{Digest, ParamValue};

/// The version of the cache key's derivation and of [`TaskReads`]' meaning; part of every key,
/// so a wflow that derives keys differently never finds records of another.
pub const CACHE_VERSION: &str = "wflow-task-cache-v1";

/// A task with more inputs than this (the join of a wider foreach) is neither looked up in the
/// cache nor filed there: what it reads would be recorded input by input (about 100 bytes each
/// in the records, a kilobyte in memory while it runs and when it is looked up) to spare a task
/// that reads them all anyway.
pub const MAX_CACHED_INPUTS: usize = 10_000;

/// Where a task's record is filed: the code and step that ran it, and its foreach item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CacheKey {
    /// The component digest and the step name, hashed together (with [`CACHE_VERSION`]).
    pub scope: Digest,
    /// The task's innermost foreach item ([`value_key`] of its codec and bytes), or
    /// [`CacheKey::NO_ITEM`] outside any foreach.
    pub item: Digest,
}

impl CacheKey {
    /// The `item` of a task outside any foreach: all zeros.
    pub const NO_ITEM: Digest = Digest([0; 32]);

    /// The key of a task of `step` run by the component `component`, with the foreach item
    /// `item` (its codec and bytes), if any.
    pub fn new(component: &Digest, step: &str, item: Option<(&str, &[u8])>) -> CacheKey {
        let mut h = Digest::hasher();
        h.update(CACHE_VERSION.as_bytes());
        h.update(&[0]);
        h.update(&component.0);
        h.update(step.as_bytes());
        CacheKey {
            scope: Digest::from_hasher(&h),
            item: item.map_or(CacheKey::NO_ITEM, |(codec, bytes)| {
                value_key(codec, &Digest::of(bytes))
            }),
        }
    }
}

/// What a value looks like to a task: its codec and the digest of its bytes, hashed together.
pub fn value_key(codec: &str, digest: &Digest) -> Digest {
    let mut h = Digest::hasher();
    h.update(b"value\0");
    h.update(codec.as_bytes());
    h.update(&[0]);
    h.update(&digest.0);
    Digest::from_hasher(&h)
}

/// What a listing of artifacts shows a task: every `(name, codec, size)`, in name order.
pub fn listing_key<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str, u64)>) -> Digest {
    let mut h = Digest::hasher();
    h.update(b"listing\0");
    for (name, codec, size) in entries {
        h.update(name.as_bytes());
        h.update(&[0]);
        h.update(codec.as_bytes());
        h.update(&[0]);
        h.update(&size.to_le_bytes());
    }
    Digest::from_hasher(&h)
}

/// What a parameter's value looks like to a task.
pub fn param_key(value: &ParamValue) -> Digest {
    let mut h = Digest::hasher();
    h.update(b"param\0");
    h.update(&serde_json::to_vec(value).expect("a parameter value serialises"));
    Digest::from_hasher(&h)
}

/// Everything a task read through the host, and the names it put (see the [module docs](self)).
///
/// Absent reads are reads too: a `get` of a name the task did not have is kept as `null`, so a
/// later task that does have it runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskReads {
    /// Artifacts read from the task's own view (what it inherited; not what it put itself), by
    /// name: the [`value_key`], or `null` when it had none of that name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub view: BTreeMap<String, Option<Digest>>,
    /// When the task listed its view: the [`listing_key`] of what it inherited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_list: Option<Digest>,
    /// Reads of its inputs one by one (joins), by input index. As JSON a list of
    /// `[index, reads]` pairs (a map's keys would be strings, which a buffered reader such as
    /// an internally tagged event cannot turn back into numbers).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", with = "indexed")]
    pub inputs: BTreeMap<u32, InputReads>,
    /// How many inputs it has, when it asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_count: Option<u32>,
    /// Parameters read through `context.parameter`: the [`param_key`], or `null` when the flow
    /// has no such parameter.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Option<Digest>>,
    /// Its foreach path (the index in every enclosing foreach), when it asked for it or for its
    /// foreach index. (Its item is in its [`CacheKey`].)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreach_path: Option<Vec<u32>>,
    /// The names it put: its outputs besides what it passes on untouched.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub puts: BTreeSet<String>,
}

/// What a task read of one of its inputs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputReads {
    /// Whether the input existed (a task may ask for an input past its last).
    pub exists: bool,
    /// Artifacts read, by name: the [`value_key`], or `null` when absent.
    #[serde(default, skip_serializing_if = "NameReads::is_empty")]
    pub names: NameReads,
    /// When the task listed the input: its [`listing_key`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<Digest>,
}

/// The artifacts a task read of one input, by name: a map as JSON, a short sorted list in
/// memory. (A join keeps one per input: as a `BTreeMap`, each was a node of ~650 bytes for the
/// one name a join usually reads, 650 MB for a million inputs.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameReads(Vec<(String, Option<Digest>)>);

impl NameReads {
    /// True when nothing was read.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many names were read.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// What the read of `name` found, if it was read.
    pub fn get(&self, name: &str) -> Option<&Option<Digest>> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    /// Keeps a read of `name` that found `key`, unless `name` was read before (the first read
    /// is what the task saw).
    pub fn read(&mut self, name: &str, key: Option<Digest>) {
        if let Err(i) = self.find(name) {
            self.0.insert(i, (name.to_string(), key));
        }
    }

    /// The reads in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Option<Digest>)> {
        self.0.iter().map(|(n, k)| (n, k))
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }
}

impl Serialize for NameReads {
    /// As the map it stands for.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, key) in &self.0 {
            map.serialize_entry(name, key)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for NameReads {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<NameReads, D::Error> {
        let map = BTreeMap::<String, Option<Digest>>::deserialize(d)?;
        Ok(NameReads(map.into_iter().collect()))
    }
}

/// `BTreeMap<u32, InputReads>` as a list of `[index, reads]` pairs.
mod indexed {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::InputReads;

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<u32, InputReads>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<u32, InputReads>, D::Error> {
        Ok(Vec::<(u32, InputReads)>::deserialize(d)?
            .into_iter()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_what_differs() {
        let c = Digest::of(b"component");
        let a = CacheKey::new(&c, "a", None);
        assert_eq!(a, CacheKey::new(&c, "a", None));
        assert_eq!(a.item, CacheKey::NO_ITEM);
        assert_ne!(a.scope, CacheKey::new(&c, "b", None).scope);
        assert_ne!(
            a.scope,
            CacheKey::new(&Digest::of(b"other"), "a", None).scope
        );
        let i1 = CacheKey::new(&c, "a", Some(("cbor", b"\x01")));
        assert_eq!(i1.scope, a.scope);
        assert_ne!(i1.item, CacheKey::new(&c, "a", Some(("raw", b"\x01"))).item);
        assert_ne!(
            i1.item,
            CacheKey::new(&c, "a", Some(("cbor", b"\x02"))).item
        );
        // Name boundaries count in listings.
        assert_ne!(
            listing_key([("ab", "cbor", 1)]),
            listing_key([("a", "bcbor", 1)])
        );
        assert_ne!(
            param_key(&ParamValue::Int(1)),
            param_key(&ParamValue::Int(2))
        );
    }

    #[test]
    fn reads_json_leaves_out_what_was_not_read() {
        let mut r = TaskReads::default();
        assert_eq!(serde_json::to_string(&r).unwrap(), "{}");
        r.view.insert("x".into(), None);
        r.puts.insert("y".into());
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"view": {"x": null}, "puts": ["y"]})
        );
        assert_eq!(serde_json::from_value::<TaskReads>(json).unwrap(), r);
        // Inputs by index, readable through a buffered (internally tagged) reader too.
        r.inputs.insert(
            2,
            InputReads {
                exists: true,
                ..Default::default()
            },
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["inputs"], serde_json::json!([[2, {"exists": true}]]));
        // Names read of an input: a map, in name order, the first read of a name kept.
        let names = &mut r.inputs.get_mut(&2).unwrap().names;
        names.read("b", None);
        names.read("a", Some(Digest::of(b"1")));
        names.read("b", Some(Digest::of(b"2")));
        assert_eq!(names.len(), 2);
        assert_eq!(names.get("b"), Some(&None));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json["inputs"],
            serde_json::json!([[2, {"exists": true, "names": {"a": Digest::of(b"1"), "b": null}}]])
        );
        assert_eq!(
            serde_json::to_string(&json["inputs"][0][1]["names"]).unwrap(),
            format!(
                "{{\"a\":{},\"b\":null}}",
                serde_json::to_string(&Digest::of(b"1")).unwrap()
            )
        );
        #[derive(Deserialize)]
        #[serde(tag = "type")]
        enum Tagged {
            R { reads: TaskReads },
        }
        let tagged = serde_json::json!({"type": "R", "reads": json});
        let Tagged::R { reads } = serde_json::from_value(tagged).unwrap();
        assert_eq!(reads, r);
    }
}
