//! A bounded view of a CBOR value: the JSON of its first parts, never more than a budget, however
//! wide, deep or repetitive the value is (a 32 MiB array of nulls would otherwise become gigabytes
//! of pretty-printed JSON). Walks the bytes directly: what is past the budget is skipped, never
//! decoded, and nesting is handled without recursion past [`MAX_DEPTH`].

use serde_json::Value as J;

/// Levels of nesting shown; deeper values are replaced by a marker.
const MAX_DEPTH: usize = 64;

/// Levels of nesting skipped over before the value is refused as malformed.
const MAX_SKIP_DEPTH: usize = 1 << 20;

/// A value cut to a budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    /// The value, with `"…"` markers where parts were left out (still valid JSON).
    pub value: J,
    /// Whether anything was left out.
    pub truncated: bool,
}

/// The JSON of `bytes` (one CBOR value, as [`crate::cbor_to_json`] would give it) cut to about
/// `budget` bytes of pretty-printed output: arrays and maps past the budget end with a
/// `"… N more items"` marker, long strings are cut, nesting deeper than 64 levels is replaced.
pub fn preview_cbor(bytes: &[u8], budget: usize) -> Result<Preview, String> {
    let mut w = Walker {
        bytes,
        at: 0,
        budget,
        truncated: false,
    };
    let value = w.value(0)?;
    if w.at != bytes.len() {
        return Err(format!(
            "{} stray bytes follow the CBOR value",
            bytes.len() - w.at
        ));
    }
    Ok(Preview {
        value,
        truncated: w.truncated,
    })
}

/// One page of a value's top-level array or map (see [`preview_cbor_page`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewPage {
    /// The items shown (an array; for a map, an object of the entries shown), each cut to the
    /// budget like a [`Preview`].
    pub value: J,
    /// How many items (entries of a map) the container has in all.
    pub total: u64,
    /// How many items were shown: fewer than asked for when the budget ran out.
    pub shown: u64,
    /// Whether anything of the items shown was left out.
    pub truncated: bool,
}

/// Items `skip..skip + take` of a value's top-level array or map, as JSON cut to about `budget`
/// bytes: what to show of a large collection one page at a time. The items before are skipped
/// and those after counted, never decoded. `None` when the value is not an array or a map (show
/// it with [`preview_cbor`]).
pub fn preview_cbor_page(
    bytes: &[u8],
    skip: u64,
    take: u64,
    budget: usize,
) -> Result<Option<PreviewPage>, String> {
    let mut w = Walker {
        bytes,
        at: 0,
        budget,
        truncated: false,
    };
    let mut head = w.head()?;
    while let Head::Tag = head {
        head = w.head()?;
    }
    let (len, map) = match head {
        Head::Array(len) => (len, false),
        Head::Map(len) => (len, true),
        _ => return Ok(None),
    };
    let (mut index, mut shown) = (0u64, 0u64);
    let mut items = Vec::new();
    let mut entries = serde_json::Map::new();
    w.items(len, |w| {
        let i = index;
        index += 1;
        let wanted = i >= skip && i - skip < take && (w.budget > 0 || shown == 0);
        if !wanted {
            for _ in 0..if map { 2 } else { 1 } {
                let h = w.head()?;
                w.skip_rest(h)?;
            }
            return Ok(());
        }
        shown += 1;
        if map {
            let key = match w.value(1)? {
                J::String(s) => s,
                other => other.to_string(),
            };
            let value = w.value(1)?;
            entries.insert(key, value);
        } else {
            items.push(w.value(1)?);
        }
        Ok(())
    })?;
    if w.at != bytes.len() {
        return Err(format!(
            "{} stray bytes follow the CBOR value",
            bytes.len() - w.at
        ));
    }
    Ok(Some(PreviewPage {
        value: if map {
            J::Object(entries)
        } else {
            J::Array(items)
        },
        total: index,
        shown,
        truncated: w.truncated,
    }))
}

/// The encoded bytes of the items of a top-level array that `wanted` picks (by index), in
/// order; the others are skipped, never decoded. An error if `bytes` is not one array.
pub(crate) fn array_items(
    bytes: &[u8],
    wanted: impl Fn(u64) -> bool,
) -> Result<Vec<(u64, &[u8])>, String> {
    let mut w = Walker {
        bytes,
        at: 0,
        budget: 0,
        truncated: false,
    };
    let Head::Array(len) = w.head()? else {
        return Err("not a CBOR array".into());
    };
    let mut index = 0u64;
    let mut out = Vec::new();
    w.items(len, |w| {
        let start = w.at;
        let h = w.head()?;
        w.skip_rest(h)?;
        if wanted(index) {
            out.push((index, &bytes[start..w.at]));
        }
        index += 1;
        Ok(())
    })?;
    Ok(out)
}

#[derive(Clone)]
enum Head {
    Uint(u64),
    Neg(u64),
    Bytes(Option<u64>),
    Text(Option<u64>),
    Array(Option<u64>),
    Map(Option<u64>),
    Tag,
    Simple(J),
    Float(f64),
    Break,
}

struct Walker<'a> {
    bytes: &'a [u8],
    at: usize,
    budget: usize,
    truncated: bool,
}

fn bad(at: usize, what: &str) -> String {
    format!("it is not valid CBOR ({what} at byte {at})")
}

impl<'a> Walker<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.at.checked_add(n))
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| bad(self.at, "unexpected end"))?;
        let out: &'a [u8] = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn head(&mut self) -> Result<Head, String> {
        let start = self.at;
        let b = self.take(1)?[0];
        let (major, minor) = (b >> 5, b & 31);
        let arg = match minor {
            0..=23 => Some(u64::from(minor)),
            24..=27 => {
                let n = 1u64 << (minor - 24);
                Some(
                    self.take(n)?
                        .iter()
                        .fold(0u64, |a, &x| (a << 8) | u64::from(x)),
                )
            }
            31 => None,
            _ => return Err(bad(start, "reserved header")),
        };
        let need = |a: Option<u64>| a.ok_or_else(|| bad(start, "indefinite length here"));
        Ok(match major {
            0 => Head::Uint(need(arg)?),
            1 => Head::Neg(need(arg)?),
            2 => Head::Bytes(arg),
            3 => Head::Text(arg),
            4 => Head::Array(arg),
            5 => Head::Map(arg),
            6 => {
                need(arg)?;
                Head::Tag
            }
            _ => match (minor, arg) {
                (20, _) => Head::Simple(J::Bool(false)),
                (21, _) => Head::Simple(J::Bool(true)),
                (25, Some(h)) => Head::Float(half(h as u16)),
                (26, Some(f)) => Head::Float(f64::from(f32::from_bits(f as u32))),
                (27, Some(f)) => Head::Float(f64::from_bits(f)),
                (31, None) => Head::Break,
                _ => Head::Simple(J::Null),
            },
        })
    }

    /// Charges `n` units; false (and marks the preview truncated) when the budget is spent.
    fn charge(&mut self, n: usize) -> bool {
        if self.budget < n {
            self.budget = 0;
            self.truncated = true;
            false
        } else {
            self.budget -= n;
            true
        }
    }

    /// The bytes of a (possibly chunked) string, cut to the budget.
    fn string(&mut self, len: Option<u64>, major: u8) -> Result<(Vec<u8>, bool), String> {
        let mut out = Vec::new();
        let mut cut = false;
        let mut chunk = |w: &mut Self, n: u64| -> Result<(), String> {
            let data = w.take(n)?;
            let room = w.budget.min(data.len());
            out.extend_from_slice(&data[..room]);
            w.budget -= room;
            if room < data.len() {
                cut = true;
                w.truncated = true;
            }
            Ok(())
        };
        match len {
            Some(n) => chunk(self, n)?,
            None => loop {
                let at = self.at;
                match self.head()? {
                    Head::Break => break,
                    Head::Bytes(Some(n)) if major == 2 => chunk(self, n)?,
                    Head::Text(Some(n)) if major == 3 => chunk(self, n)?,
                    _ => return Err(bad(at, "bad chunk in a chunked string")),
                }
            },
        }
        Ok((out, cut))
    }

    fn value(&mut self, depth: usize) -> Result<J, String> {
        let mut head = self.head()?;
        while let Head::Tag = head {
            head = self.head()?; // tags are dropped, their content kept
        }
        if !self.charge(8 + 2 * depth) || depth >= MAX_DEPTH {
            self.truncated = true;
            self.skip_rest(head)?;
            return Ok(J::String("…".into()));
        }
        Ok(match head {
            Head::Uint(n) => J::from(n),
            Head::Neg(n) => i64::try_from(n)
                .map(|n| J::from(-1 - n))
                .unwrap_or_else(|_| J::String((-1 - i128::from(n)).to_string())),
            Head::Float(f) => serde_json::Number::from_f64(f)
                .map(J::Number)
                .unwrap_or_else(|| J::String(f.to_string())),
            Head::Simple(v) => v,
            Head::Break => return Err(bad(self.at - 1, "unexpected break")),
            Head::Tag => unreachable!("tags were skipped"),
            Head::Bytes(len) => {
                let (b, cut) = self.string(len, 2)?;
                let mut hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                if cut {
                    hex.push('…');
                }
                serde_json::json!({ "$bytes": hex })
            }
            Head::Text(len) => {
                let (b, cut) = self.string(len, 3)?;
                let mut s = String::from_utf8_lossy(&b).into_owned();
                if cut {
                    s.push('…');
                }
                J::String(s)
            }
            Head::Array(len) => {
                let mut items = Vec::new();
                let mut left = 0u64;
                self.items(len, |w| {
                    if w.budget == 0 {
                        left += 1;
                        let h = w.head()?;
                        w.skip_rest(h)
                    } else {
                        items.push(w.value(depth + 1)?);
                        Ok(())
                    }
                })?;
                if left > 0 {
                    self.truncated = true;
                    items.push(J::String(format!("… {left} more items")));
                }
                J::Array(items)
            }
            Head::Map(len) => {
                let mut map = serde_json::Map::new();
                let mut left = 0u64;
                self.items(len, |w| {
                    if w.budget == 0 {
                        left += 1;
                        let h = w.head()?;
                        w.skip_rest(h)?;
                        let h = w.head()?;
                        return w.skip_rest(h);
                    }
                    let key = match w.value(depth + 1)? {
                        J::String(s) => s,
                        other => other.to_string(),
                    };
                    let value = w.value(depth + 1)?;
                    map.insert(key, value);
                    Ok(())
                })?;
                if left > 0 {
                    self.truncated = true;
                    map.insert("…".into(), J::String(format!("{left} more entries")));
                }
                J::Object(map)
            }
        })
    }

    /// Calls `each` once per item of a container of `len` items (or until a break); for a map,
    /// an item is a key and its value.
    fn items(
        &mut self,
        len: Option<u64>,
        mut each: impl FnMut(&mut Self) -> Result<(), String>,
    ) -> Result<(), String> {
        match len {
            Some(n) => {
                // Every item takes at least one byte, so a huge claimed length ends at the end
                // of the bytes, with an error.
                for _ in 0..n {
                    each(self)?;
                }
                Ok(())
            }
            None => loop {
                if self.bytes.get(self.at) == Some(&0xff) {
                    self.at += 1;
                    return Ok(());
                }
                each(self)?;
            },
        }
    }

    /// Skips what follows `head` (its content), without decoding or recursing.
    fn skip_rest(&mut self, head: Head) -> Result<(), String> {
        // Each frame: items still to skip, or `None` for an indefinite container.
        let mut stack: Vec<Option<u64>> = Vec::new();
        let mut next = Some(head);
        loop {
            let h = match next.take() {
                Some(h) => h,
                None => {
                    match stack.last_mut() {
                        None => return Ok(()),
                        Some(Some(0)) => {
                            stack.pop();
                            continue;
                        }
                        Some(Some(n)) => *n -= 1,
                        Some(None) => {}
                    }
                    let h = self.head()?;
                    if let Head::Break = h {
                        match stack.pop() {
                            Some(None) => continue,
                            _ => return Err(bad(self.at - 1, "unexpected break")),
                        }
                    }
                    h
                }
            };
            match h {
                Head::Bytes(Some(n)) | Head::Text(Some(n)) => {
                    self.take(n)?;
                }
                Head::Bytes(None) | Head::Text(None) => stack.push(None),
                Head::Array(len) => stack.push(len),
                Head::Map(len) => stack.push(len.map(|n| n.saturating_mul(2))),
                Head::Tag => next = Some(self.head()?),
                Head::Break => return Err(bad(self.at - 1, "unexpected break")),
                _ => {}
            }
            if stack.len() > MAX_SKIP_DEPTH {
                return Err(bad(self.at, "nesting deeper than a million levels"));
            }
        }
    }
}

/// An IEEE half-precision float.
fn half(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cbor(v: &impl serde::Serialize) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(v, &mut out).unwrap();
        out
    }

    #[test]
    fn small_values_are_whole_and_equal_to_the_full_decoding() {
        let v = serde_json::json!({"a": [1, -2, 1.5, "x", null, true], "b": {"c": u64::MAX}});
        let bytes = cbor(&v);
        let p = preview_cbor(&bytes, 1 << 20).unwrap();
        assert!(!p.truncated);
        assert_eq!(p.value, crate::value::decode_cbor(&bytes).unwrap());
        let half = [0xf9, 0x3e, 0x00]; // 1.5 as a half float
        assert_eq!(
            preview_cbor(&half, 100).unwrap().value,
            serde_json::json!(1.5)
        );
    }

    #[test]
    fn a_wide_array_is_cut_with_a_count_of_the_rest() {
        // 32 MiB of nulls: 33,554,427 items after a 5-byte header.
        let n = (32 << 20) - 5;
        let mut bytes = vec![0x9a];
        bytes.extend((n as u32).to_be_bytes());
        bytes.resize(32 << 20, 0xf6);
        let p = preview_cbor(&bytes, 64 << 10).unwrap();
        assert!(p.truncated);
        let items = p.value.as_array().unwrap();
        assert!(items.len() < 10_000, "{}", items.len());
        let last = items.last().unwrap().as_str().unwrap();
        assert!(
            last.starts_with("… ") && last.ends_with(" more items"),
            "{last}"
        );
        assert!(serde_json::to_string_pretty(&p.value).unwrap().len() < 256 << 10);
    }

    #[test]
    fn a_page_of_a_large_array_or_map_skips_the_rest() {
        let v: Vec<u32> = (0..10_000).collect();
        let p = preview_cbor_page(&cbor(&v), 9_990, 100, 1 << 20)
            .unwrap()
            .unwrap();
        assert_eq!((p.total, p.shown), (10_000, 10));
        assert_eq!(
            p.value,
            serde_json::json!((9_990..10_000).collect::<Vec<_>>())
        );
        let m: std::collections::BTreeMap<String, u8> =
            (0..50).map(|i| (format!("k{i:02}"), i)).collect();
        let p = preview_cbor_page(&cbor(&m), 10, 2, 1 << 20)
            .unwrap()
            .unwrap();
        assert_eq!(p.value, serde_json::json!({"k10": 10, "k11": 11}));
        assert_eq!(p.total, 50);
        // A small budget still shows one item; a scalar has no pages.
        let p = preview_cbor_page(&cbor(&vec!["x".repeat(1000); 5]), 0, 5, 10)
            .unwrap()
            .unwrap();
        assert_eq!(p.shown, 1);
        assert!(p.truncated);
        assert_eq!(preview_cbor_page(&cbor(&5), 0, 5, 10).unwrap(), None);
    }

    #[test]
    fn deep_repeated_and_malformed_values_stay_bounded() {
        // A wide array of 60-deep nested arrays: pretty JSON would indent every level.
        let mut one = vec![0x81; 60];
        one.push(0xf6);
        let count = (32 << 20) / one.len();
        let mut bytes = vec![0x9a];
        bytes.extend((count as u32).to_be_bytes());
        for _ in 0..count {
            bytes.extend(&one);
        }
        let p = preview_cbor(&bytes, 64 << 10).unwrap();
        assert!(p.truncated);
        assert!(serde_json::to_string_pretty(&p.value).unwrap().len() < 1 << 20);
        // Far deeper than shown; tags on tags; indefinite containers left open.
        let mut deep = vec![0x81; 1 << 16];
        deep.push(0);
        assert!(preview_cbor(&deep, 1 << 20).unwrap().truncated);
        let mut tags = vec![0xc1; 1 << 20];
        tags.push(0);
        assert_eq!(
            preview_cbor(&tags, 100).unwrap().value,
            serde_json::json!(0)
        );
        assert!(preview_cbor(&vec![0x9f; 1 << 20], 100).is_err());
        assert!(
            preview_cbor(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 100).is_err()
        );
        assert!(
            preview_cbor(&[0x01, 0x02], 100)
                .unwrap_err()
                .contains("stray")
        );
    }
}
