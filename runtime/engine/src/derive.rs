//! Compiled code derived from a base component's: for a component that is the base with only
//! bytes of one data segment changed (a quick-form Python flow: its sources written into the
//! base's slot, see the CLI's `quick` module), the compiled code is the base's, with the same
//! bytes changed where the data segment lies in it. No function is compiled again.
//!
//! Cranelift's output does not depend on what a data segment holds, only on where it is and how
//! long it is: wasmtime copies the segment's bytes verbatim into the compiled code's memory image.
//! So the derivation checks, before it trusts anything, that
//!
//! - the component has the base's length and equals it outside the changed range;
//! - the range lies inside one data segment of one of its core modules;
//! - the base's bytes of that range occur **exactly once** in the base's compiled code (the
//!   memory image; a range too short or too plain to be unique is refused);
//!
//! and then writes the component's bytes of the range there. The base's code comes from the
//! authenticated compiled-code cache (or is compiled now and kept there), and the derived code is
//! kept under the component's own digest like any compile. `tests/all/python_quick.rs` checks
//! that derived code is byte for byte what compiling the component gives.

use std::ops::Range;

use wasmparser::{Parser, Payload};

/// Why a component cannot be derived from a base (then it is compiled as usual).
pub(crate) fn check(bytes: &[u8], base: &[u8], range: &Range<usize>) -> Result<(), String> {
    if bytes.len() != base.len() {
        return Err("it is not the base's length".into());
    }
    if range.start >= range.end || range.end > bytes.len() {
        return Err("the changed range is not inside it".into());
    }
    if bytes[..range.start] != base[..range.start] || bytes[range.end..] != base[range.end..] {
        return Err("it differs from the base outside the changed range".into());
    }
    if !in_data_segment(base, range) {
        return Err("the changed range is not inside one data segment".into());
    }
    Ok(())
}

/// Whether `range` of the component `bytes` lies inside the bytes of one data segment.
fn in_data_segment(bytes: &[u8], range: &Range<usize>) -> bool {
    let start = bytes.as_ptr() as usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(payload) = payload else {
            return false;
        };
        if let Payload::DataSection(reader) = payload {
            for data in reader {
                let Ok(data) = data else {
                    return false;
                };
                let at = data.data.as_ptr() as usize - start;
                if at <= range.start && range.end <= at + data.data.len() {
                    return true;
                }
            }
        }
    }
    false
}

/// The compiled code of the component: `base_code` with the base's bytes `old` (the range, as in
/// the base) replaced by `new` (the component's). `Err` unless `old` occurs exactly once.
pub(crate) fn derive(base_code: &[u8], old: &[u8], new: &[u8]) -> Result<Vec<u8>, String> {
    debug_assert_eq!(old.len(), new.len());
    let mut found = memchr::memmem::find_iter(base_code, old);
    let at = found
        .next()
        .ok_or("the base's compiled code does not hold the changed bytes verbatim")?;
    if found.next().is_some() {
        return Err("the changed bytes occur more than once in the base's compiled code".into());
    }
    let mut code = base_code.to_vec();
    code[at..at + new.len()].copy_from_slice(new);
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_unique_occurrence_is_replaced() {
        let code = b"head [slot] tail".to_vec();
        assert_eq!(
            derive(&code, b"[slot]", b"[SLOT]").unwrap(),
            b"head [SLOT] tail"
        );
        assert!(derive(b"[slot][slot]", b"[slot]", b"[SLOT]").is_err());
        assert!(derive(b"nothing", b"[slot]", b"[SLOT]").is_err());
    }

    #[test]
    fn a_component_must_differ_from_its_base_only_in_the_range() {
        let base = b"0123456789".to_vec();
        let mut other = base.clone();
        other[0] = b'x';
        assert!(
            check(&other, &base, &(4..6))
                .unwrap_err()
                .contains("outside")
        );
        assert!(
            check(&base[..9], &base, &(4..6))
                .unwrap_err()
                .contains("length")
        );
        // Not a component at all: the range is in no data segment.
        assert!(
            check(&base, &base, &(4..6))
                .unwrap_err()
                .contains("data segment")
        );
    }
}
