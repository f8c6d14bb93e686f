//! Redaction of secret values: in a task's stdout and stderr as they are written (a value split
//! across two writes included) and in every message a failed attempt carries.
//!
//! Each value is replaced by `[wflow: secret NAME redacted]`. The values are matched as bytes,
//! exactly as the step was given them; a value the step transforms (encodes, reverses, cuts)
//! before printing it is not recognised.

use std::sync::Arc;

use crate::task::Secrets;

/// The values to hide and what replaces each, longest value first (so that a value containing
/// another is replaced whole).
#[derive(Clone)]
pub struct Redactor {
    needles: Arc<Vec<(Vec<u8>, Vec<u8>)>>,
    /// Which bytes begin a value: the scan copies runs of other bytes whole.
    starts: Arc<[bool; 256]>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("values", &self.needles.len())
            .finish()
    }
}

impl Redactor {
    /// A redactor of the given secrets' values (empty values are ignored).
    pub fn new(secrets: &Secrets) -> Redactor {
        let mut needles: Vec<(Vec<u8>, Vec<u8>)> = secrets
            .0
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(name, v)| {
                let with = format!(
                    "[wflow: secret {} redacted]",
                    wflow_core::names::shown(name)
                );
                (v.clone(), with.into_bytes())
            })
            .collect();
        needles.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        let mut starts = [false; 256];
        for (value, _) in &needles {
            starts[usize::from(value[0])] = true;
        }
        Redactor {
            needles: Arc::new(needles),
            starts: Arc::new(starts),
        }
    }

    /// True when there is nothing to hide.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `text` with every value replaced.
    pub fn text(&self, text: &str) -> String {
        if self.is_empty() {
            return text.to_string();
        }
        let mut out = Vec::with_capacity(text.len());
        let held = self.scan(text.as_bytes(), &mut out, true);
        debug_assert_eq!(held, text.len());
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Appends `input` to `out` with every value replaced; returns how many bytes of `input`
    /// were consumed. Unless `last`, a tail that may be the start of a value is not consumed:
    /// the caller keeps it and passes it again with what comes next.
    fn scan(&self, input: &[u8], out: &mut Vec<u8>, last: bool) -> usize {
        let mut i = 0;
        'outer: while i < input.len() {
            // Bytes that begin no value go out as they are.
            let plain = input[i..]
                .iter()
                .position(|b| self.starts[usize::from(*b)])
                .unwrap_or(input.len() - i);
            out.extend_from_slice(&input[i..i + plain]);
            i += plain;
            if i == input.len() {
                break;
            }
            let rest = &input[i..];
            if !last
                && self
                    .needles
                    .iter()
                    .any(|(value, _)| rest.len() < value.len() && value.starts_with(rest))
            {
                return i;
            }
            for (value, with) in self.needles.iter() {
                if rest.starts_with(value) {
                    out.extend_from_slice(with);
                    i += value.len();
                    continue 'outer;
                }
            }
            out.push(input[i]);
            i += 1;
        }
        i
    }
}

/// A stream's redaction state: the bytes held back because they may begin a value.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    held: Vec<u8>,
}

impl Pending {
    /// What of `bytes` (after what was held) can be written now, redacted.
    pub(crate) fn push(&mut self, r: &Redactor, bytes: &[u8]) -> Vec<u8> {
        self.held.extend_from_slice(bytes);
        let mut out = Vec::with_capacity(self.held.len());
        let used = r.scan(&self.held, &mut out, false);
        self.held.drain(..used);
        out
    }

    /// Everything still held, redacted (the stream ends).
    pub(crate) fn finish(&mut self, r: &Redactor) -> Vec<u8> {
        let mut out = Vec::new();
        r.scan(&std::mem::take(&mut self.held), &mut out, true);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(&Secrets(
            [
                ("pw".to_string(), b"hunter2".to_vec()),
                ("long".to_string(), b"hunter2-and-more".to_vec()),
                ("empty".to_string(), Vec::new()),
            ]
            .into(),
        ))
    }

    #[test]
    fn replaces_values_in_text_longest_first() {
        let r = redactor();
        assert_eq!(
            r.text("a hunter2 b hunter2-and-more c hunter"),
            "a [wflow: secret pw redacted] b [wflow: secret long redacted] c hunter"
        );
    }

    #[test]
    fn a_value_split_across_writes_is_replaced() {
        let r = redactor();
        let mut p = Pending::default();
        let mut out = Vec::new();
        for chunk in [
            &b"x hun"[..],
            b"t",
            b"er2 y hunter",
            b"2-and-m",
            b"ore!",
            b" hu",
        ] {
            out.extend(p.push(&r, chunk));
        }
        out.extend(p.finish(&r));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "x [wflow: secret pw redacted] y [wflow: secret long redacted]! hu"
        );
    }
}
