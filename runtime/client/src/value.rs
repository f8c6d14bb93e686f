//! Artifact values as JSON-like values: CBOR decoded into [`serde_json::Value`].

/// Decodes one CBOR value into a JSON value (see [`cbor_to_json`]).
pub fn decode_cbor(bytes: &[u8]) -> Result<serde_json::Value, String> {
    let mut rest = bytes;
    let value: ciborium::Value =
        ciborium::from_reader(&mut rest).map_err(|e| format!("it is not valid CBOR ({e})"))?;
    if !rest.is_empty() {
        return Err(format!("{} stray bytes follow the CBOR value", rest.len()));
    }
    Ok(cbor_to_json(value))
}

/// CBOR as JSON. Integers outside the range of `i64`/`u64` and non-finite floats become
/// strings; byte strings become `{"$bytes": "<hex>"}`; map keys that are not text become their
/// JSON text; tags are dropped (their content kept); `undefined` and simple values are `null`.
pub fn cbor_to_json(v: ciborium::Value) -> serde_json::Value {
    use ciborium::Value as C;
    use serde_json::Value as J;
    match v {
        C::Null => J::Null,
        C::Bool(b) => J::Bool(b),
        C::Integer(i) => {
            let i = i128::from(i);
            i64::try_from(i)
                .map(J::from)
                .or_else(|_| u64::try_from(i).map(J::from))
                .unwrap_or_else(|_| J::String(i.to_string()))
        }
        C::Float(f) => serde_json::Number::from_f64(f)
            .map(J::Number)
            .unwrap_or_else(|| J::String(f.to_string())),
        C::Text(s) => J::String(s),
        C::Bytes(b) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            serde_json::json!({ "$bytes": hex })
        }
        C::Array(a) => J::Array(a.into_iter().map(cbor_to_json).collect()),
        C::Map(m) => J::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        C::Text(s) => s,
                        other => cbor_to_json(other).to_string(),
                    };
                    (key, cbor_to_json(v))
                })
                .collect(),
        ),
        C::Tag(_, inner) => cbor_to_json(*inner),
        _ => J::Null,
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
    fn values_decode_to_json() {
        assert_eq!(decode_cbor(&cbor(&42i64)).unwrap(), serde_json::json!(42));
        assert_eq!(
            decode_cbor(&cbor(&u64::MAX)).unwrap(),
            serde_json::json!(u64::MAX)
        );
        assert_eq!(
            decode_cbor(&cbor(&vec![1.5f64, f64::NAN])).unwrap(),
            serde_json::json!([1.5, "NaN"])
        );
        let bytes = ciborium::Value::Bytes(vec![0xde, 0xad]);
        assert_eq!(
            decode_cbor(&cbor(&bytes)).unwrap(),
            serde_json::json!({"$bytes": "dead"})
        );
        let map = ciborium::Value::Map(vec![(1.into(), "one".into())]);
        assert_eq!(
            decode_cbor(&cbor(&map)).unwrap(),
            serde_json::json!({"1": "one"})
        );
        assert!(decode_cbor(b"\xff\xff").is_err());
        let mut two = cbor(&1);
        two.extend(cbor(&2));
        assert!(decode_cbor(&two).unwrap_err().contains("stray"));
    }
}
