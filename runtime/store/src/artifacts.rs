//! [`Artifacts`]: a task's artifacts in memory, as its own puts over what it inherited.
//!
//! A task inherits the artifacts of its input and usually adds one or two of its own. Kept as a
//! full map per task, a 1,000,000-item foreach held a million copies of the same inherited
//! entries until its join ran (~1.25 KB a task). Here a task's artifacts are a shared,
//! reference-counted *base* (what it inherited: its input's artifacts, not copied) and its own
//! entries, a sorted boxed slice that shadows the base. Cloning is a reference count.
//!
//! Lookups walk the chain, so it is kept short: a node over a chain of [`MAX_DEPTH`] nodes is
//! made flat instead (a long linear flow or a loop copies its map every few steps, not every
//! step), and [`Artifacts::flattened`] lets a split copy its output once for all its tasks.
//!
//! What the type gives ([`get`](Artifacts::get), [`iter`](Artifacts::iter) in name order,
//! [`len`](Artifacts::len), serde as a plain map) is exactly what the flat map gave: wire and
//! disk formats (manifests, reports) do not change.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::iter::Peekable;
use std::sync::Arc;

use crate::ArtifactRef;

/// Most nodes in a chain of [`Artifacts`]: a task whose base is this deep gets a flat copy.
pub const MAX_DEPTH: u8 = 4;

/// A task's artifacts by name: its own entries over a shared base (see the module's note).
/// Immutable; cloning is cheap.
#[derive(Clone, Default)]
pub struct Artifacts(Option<Arc<Node>>);

struct Node {
    /// What the entries shadow (empty for a flat node).
    base: Artifacts,
    /// The node's own entries, sorted by name, each name once.
    own: Box<[(String, ArtifactRef)]>,
    /// Distinct names in the node and its base.
    len: usize,
    /// Nodes in the chain, this one included.
    depth: u8,
}

/// One entry, as a map's iterator gives it.
pub type Entry<'a> = (&'a String, &'a ArtifactRef);

impl Artifacts {
    /// No artifacts.
    pub fn new() -> Artifacts {
        Artifacts(None)
    }

    /// Flat artifacts from sorted, distinct entries.
    fn flat(own: Box<[(String, ArtifactRef)]>) -> Artifacts {
        if own.is_empty() {
            return Artifacts(None);
        }
        Artifacts(Some(Arc::new(Node {
            base: Artifacts(None),
            len: own.len(),
            own,
            depth: 1,
        })))
    }

    /// The artifact called `name`.
    pub fn get(&self, name: &str) -> Option<&ArtifactRef> {
        let mut at = self;
        while let Some(node) = &at.0 {
            if let Ok(i) = node.own.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
                return Some(&node.own[i].1);
            }
            at = &node.base;
        }
        None
    }

    /// Whether there is an artifact called `name`.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// How many artifacts there are.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |n| n.len)
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Nodes in the chain (0: empty; 1: flat).
    pub fn depth(&self) -> u8 {
        self.0.as_ref().map_or(0, |n| n.depth)
    }

    /// The artifacts in name order, each name once (a node's own entry, not the one it shadows).
    pub fn iter(&self) -> Iter<'_> {
        match &self.0 {
            None => Iter(Shadow::new(None.into_iter().flatten(), own_iter(&[]))),
            Some(node) => {
                let base = (node.base.0.is_some()).then(|| Box::new(node.base.iter()));
                Iter(Shadow::new(base.into_iter().flatten(), own_iter(&node.own)))
            }
        }
    }

    /// The names in order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.iter().map(|(n, _)| n)
    }

    /// These artifacts with `puts` added (a put shadows an inherited artifact of its name): a
    /// node over these, or a flat copy when these are [`MAX_DEPTH`] nodes deep already. Nothing
    /// put: these same artifacts.
    pub fn with_puts(&self, puts: BTreeMap<String, ArtifactRef>) -> Artifacts {
        if puts.is_empty() {
            return self.clone();
        }
        if self.is_empty() {
            return Artifacts::flat(puts.into_iter().collect());
        }
        if self.depth() >= MAX_DEPTH {
            let merged: Vec<(String, ArtifactRef)> = Shadow::new(self.iter(), puts.iter())
                .map(|(n, r)| (n.clone(), r.clone()))
                .collect();
            return Artifacts::flat(merged.into_boxed_slice());
        }
        let added = puts.keys().filter(|n| !self.contains_key(n)).count();
        Artifacts(Some(Arc::new(Node {
            base: self.clone(),
            len: self.len() + added,
            own: puts.into_iter().collect(),
            depth: self.depth() + 1,
        })))
    }

    /// The same artifacts as one flat node (these when they are flat already): for a split
    /// whose output many tasks inherit, so each of them is one node over a flat base.
    pub fn flattened(&self) -> Artifacts {
        if self.depth() <= 1 {
            return self.clone();
        }
        Artifacts::flat(self.iter().map(|(n, r)| (n.clone(), r.clone())).collect())
    }

    /// A plain map of the artifacts (for a format that holds one: a manifest, a report).
    pub fn to_map(&self) -> BTreeMap<String, ArtifactRef> {
        self.iter().map(|(n, r)| (n.clone(), r.clone())).collect()
    }
}

fn own_iter<'a>(own: &'a [(String, ArtifactRef)]) -> OwnIter<'a> {
    let entry: fn(&'a (String, ArtifactRef)) -> Entry<'a> = |(n, r)| (n, r);
    own.iter().map(entry)
}

type OwnIter<'a> = std::iter::Map<
    std::slice::Iter<'a, (String, ArtifactRef)>,
    fn(&'a (String, ArtifactRef)) -> Entry<'a>,
>;

type BaseIter<'a> = std::iter::Flatten<std::option::IntoIter<Box<Iter<'a>>>>;

/// The entries of [`Artifacts`] in name order.
pub struct Iter<'a>(Shadow<BaseIter<'a>, OwnIter<'a>>);

impl<'a> Iterator for Iter<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        self.0.next()
    }
}

/// Two iterators of entries in name order merged into one, `own`'s entry of a name shadowing
/// `base`'s.
pub struct Shadow<A: Iterator, B: Iterator> {
    base: Peekable<A>,
    own: Peekable<B>,
}

impl<'a, A, B> Shadow<A, B>
where
    A: Iterator<Item = Entry<'a>>,
    B: Iterator<Item = Entry<'a>>,
{
    /// `own` over `base`; both in name order, each name at most once.
    pub fn new(base: A, own: B) -> Shadow<A, B> {
        Shadow {
            base: base.peekable(),
            own: own.peekable(),
        }
    }
}

impl<'a, A, B> Iterator for Shadow<A, B>
where
    A: Iterator<Item = Entry<'a>>,
    B: Iterator<Item = Entry<'a>>,
{
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        let order = match (self.base.peek(), self.own.peek()) {
            (None, _) => return self.own.next(),
            (Some(_), None) => return self.base.next(),
            (Some((b, _)), Some((o, _))) => b.as_str().cmp(o.as_str()),
        };
        match order {
            Ordering::Less => self.base.next(),
            Ordering::Equal => {
                self.base.next();
                self.own.next()
            }
            Ordering::Greater => self.own.next(),
        }
    }
}

impl std::ops::Index<&str> for Artifacts {
    type Output = ArtifactRef;

    /// The artifact called `name`; panics when there is none, as a map's index does.
    fn index(&self, name: &str) -> &ArtifactRef {
        self.get(name)
            .unwrap_or_else(|| panic!("no artifact called `{name}`"))
    }
}

impl<'a> IntoIterator for &'a Artifacts {
    type Item = Entry<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl From<BTreeMap<String, ArtifactRef>> for Artifacts {
    fn from(map: BTreeMap<String, ArtifactRef>) -> Artifacts {
        Artifacts::flat(map.into_iter().collect())
    }
}

impl FromIterator<(String, ArtifactRef)> for Artifacts {
    /// Flat artifacts; of a name given twice, the last.
    fn from_iter<I: IntoIterator<Item = (String, ArtifactRef)>>(iter: I) -> Artifacts {
        Artifacts::from(iter.into_iter().collect::<BTreeMap<_, _>>())
    }
}

impl<const N: usize> From<[(String, ArtifactRef); N]> for Artifacts {
    fn from(entries: [(String, ArtifactRef); N]) -> Artifacts {
        entries.into_iter().collect()
    }
}

impl PartialEq for Artifacts {
    fn eq(&self, other: &Artifacts) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Artifacts {}

impl PartialEq<BTreeMap<String, ArtifactRef>> for Artifacts {
    fn eq(&self, other: &BTreeMap<String, ArtifactRef>) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl std::fmt::Debug for Artifacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl serde::Serialize for Artifacts {
    /// As the map it stands for (byte for byte what a `BTreeMap` of the same entries gives).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        // With its length, as a map's: CBOR then writes a definite-length map.
        let mut map = s.serialize_map(Some(self.len()))?;
        for (name, r) in self.iter() {
            map.serialize_entry(name, r)?;
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for Artifacts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Artifacts, D::Error> {
        BTreeMap::<String, ArtifactRef>::deserialize(d).map(Artifacts::from)
    }
}

#[cfg(test)]
mod tests {
    use wflow_core::Digest;

    use super::*;

    fn r(bytes: &[u8]) -> ArtifactRef {
        ArtifactRef {
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
            codec: "cbor".into(),
            inline: Some(bytes.to_vec()),
        }
    }

    fn map(entries: &[(&str, &[u8])]) -> BTreeMap<String, ArtifactRef> {
        entries.iter().map(|(n, v)| (n.to_string(), r(v))).collect()
    }

    /// Puts applied one task after another to a flat map and to a chain agree everywhere.
    #[test]
    fn a_chain_gives_what_the_flat_map_gives() {
        let mut flat = map(&[("b", b"1"), ("d", b"2")]);
        let mut chain = Artifacts::from(flat.clone());
        let steps: &[&[(&str, &[u8])]] = &[
            &[("a", b"3")],
            &[("d", b"4"), ("e", b"5")],
            &[],
            &[("b", b"6")],
            &[("c", b"7"), ("a", b"8")],
            &[("f", b"9")],
            &[("e", b"10")],
            &[("a", b"11"), ("z", b"12")],
            &[("0", b"13")],
        ];
        for puts in steps {
            let puts = map(puts);
            flat.extend(puts.clone());
            chain = chain.with_puts(puts);
            assert!(chain.depth() <= MAX_DEPTH, "{}", chain.depth());
            assert_eq!(chain, flat);
            assert_eq!(chain.len(), flat.len());
            assert_eq!(chain.to_map(), flat);
            for name in ["0", "a", "b", "c", "d", "e", "f", "z", "y", ""] {
                assert_eq!(chain.get(name), flat.get(name), "{name}");
            }
            let flattened = chain.flattened();
            assert_eq!(flattened.depth(), 1);
            assert_eq!(flattened, flat);
        }
    }

    #[test]
    fn a_task_that_puts_nothing_shares_its_input() {
        let base = Artifacts::from(map(&[("x", b"1")]));
        let same = base.with_puts(BTreeMap::new());
        assert!(Arc::ptr_eq(
            base.0.as_ref().unwrap(),
            same.0.as_ref().unwrap()
        ));
        assert!(Artifacts::new().is_empty());
        assert_eq!(Artifacts::new().iter().count(), 0);
        assert_eq!(Artifacts::new().with_puts(map(&[("x", b"1")])), base);
    }

    #[test]
    fn serialises_as_the_map_it_stands_for() {
        let flat = map(&[("b", b"1"), ("d", b"2"), ("a", b"0")]);
        let chain = Artifacts::from(map(&[("b", b"1"), ("d", b"9")]))
            .with_puts(map(&[("a", b"0")]))
            .with_puts(map(&[("d", b"2")]));
        let mut ours = Vec::new();
        ciborium::into_writer(&chain, &mut ours).unwrap();
        let mut theirs = Vec::new();
        ciborium::into_writer(&flat, &mut theirs).unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(
            serde_json::to_string(&chain).unwrap(),
            serde_json::to_string(&flat).unwrap()
        );
        let back: Artifacts = serde_json::from_str(&serde_json::to_string(&flat).unwrap()).unwrap();
        assert_eq!(back, flat);
    }
}
