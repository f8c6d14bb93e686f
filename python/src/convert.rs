//! Artifact values and recorded JSON as Python objects.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

/// One CBOR value as Python: integers of any size as `int`, byte strings as `bytes`, maps as
/// `dict` (a key Python cannot hash, such as a list, becomes a tuple, then its text), tags as
/// their content, `undefined` and simple values as `None`.
pub fn cbor_to_py(py: Python<'_>, v: ciborium::Value) -> PyResult<Bound<'_, PyAny>> {
    use ciborium::Value as C;
    Ok(match v {
        C::Null => py.None().into_bound(py),
        C::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        C::Integer(i) => i128::from(i).into_pyobject(py)?.into_any(),
        C::Float(f) => f.into_pyobject(py)?.into_any(),
        C::Text(s) => s.into_pyobject(py)?.into_any(),
        C::Bytes(b) => PyBytes::new(py, &b).into_any(),
        C::Array(a) => {
            let items = a
                .into_iter()
                .map(|v| cbor_to_py(py, v))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        C::Map(m) => {
            let d = PyDict::new(py);
            for (k, v) in m {
                let key = cbor_to_py(py, k)?;
                let key = if key.hash().is_ok() {
                    key
                } else if let Ok(list) = key.cast::<PyList>() {
                    list.to_tuple().into_any()
                } else {
                    key.str()?.into_any()
                };
                let key = if key.hash().is_ok() {
                    key
                } else {
                    key.str()?.into_any()
                };
                d.set_item(key, cbor_to_py(py, v)?)?;
            }
            d.into_any()
        }
        C::Tag(_, inner) => cbor_to_py(py, *inner)?,
        _ => py.None().into_bound(py),
    })
}

/// Recorded JSON (parameters) as Python.
pub fn json_to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => py.None().into_bound(py),
        J::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        J::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        J::String(s) => s.into_pyobject(py)?.into_any(),
        J::Array(a) => {
            let items = a
                .iter()
                .map(|v| json_to_py(py, v))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        J::Object(m) => {
            let d = PyDict::new(py);
            for (k, v) in m {
                d.set_item(k, json_to_py(py, v)?)?;
            }
            d.into_any()
        }
    })
}
