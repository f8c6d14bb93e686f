//! Parsing parameter values given on the command line against the flow's parameter specs.

use std::collections::BTreeMap;

use crate::{ParamSpec, ParamType, ParamValue};

/// A parameter problem, naming the parameter.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// The flow has no parameter of that name.
    #[error("unknown parameter `{name}`; this flow's parameters are: {known}")]
    Unknown {
        /// The name given (escaped, cut to 64 characters).
        name: String,
        /// The flow's parameter names, comma-separated (or "none").
        known: String,
    },
    /// A required parameter was not given.
    #[error("missing required parameter `{name}` ({ty}); give it with `-p {name}=VALUE`")]
    Missing {
        /// The parameter.
        name: String,
        /// Its type.
        ty: ParamType,
    },
    /// A value does not parse as the parameter's type.
    #[error("parameter `{name}`: `{value}` is not a valid {ty}{}", if .reason.is_empty() { String::new() } else { format!(": {}", .reason) })]
    Invalid {
        /// The parameter.
        name: String,
        /// The text given, or for a long one an excerpt around the problem (escaped, cut).
        value: String,
        /// The expected type.
        ty: ParamType,
        /// Why, when the parser says (for JSON: what and where, with line and column).
        reason: String,
    },
    /// The same parameter was given twice.
    #[error("parameter `{0}` given more than once")]
    Duplicate(String),
}

/// Parses `text` as a value of type `ty` for parameter `name`.
pub fn parse_param(name: &str, ty: ParamType, text: &str) -> Result<ParamValue, ParamError> {
    let invalid = || ParamError::Invalid {
        name: name.into(),
        value: crate::names::shown(text),
        ty,
        reason: String::new(),
    };
    Ok(match ty {
        ParamType::String => ParamValue::String(text.to_string()),
        ParamType::Int => ParamValue::Int(text.trim().parse().map_err(|_| invalid())?),
        ParamType::Float => ParamValue::Float(text.trim().parse().map_err(|_| invalid())?),
        ParamType::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => ParamValue::Bool(true),
            "false" | "0" | "no" => ParamValue::Bool(false),
            _ => return Err(invalid()),
        },
        ParamType::Json => {
            ParamValue::Json(serde_json::from_str(text).map_err(|e| ParamError::Invalid {
                name: name.into(),
                value: excerpt(text, e.line(), e.column()),
                ty,
                reason: format!("{e} (of {} bytes)", text.len()),
            })?)
        }
    })
}

/// About 60 characters of `text` around `line` and `column` (1-based, as serde_json counts),
/// escaped, with `…` where it was cut.
fn excerpt(text: &str, line: usize, column: usize) -> String {
    const SIDE: usize = 30;
    let Some(row) = text.split('\n').nth(line.saturating_sub(1)) else {
        return crate::names::shown(text);
    };
    let chars: Vec<char> = row.chars().collect();
    let at = column.saturating_sub(1).min(chars.len());
    let (from, to) = (at.saturating_sub(SIDE), (at + SIDE).min(chars.len()));
    let mut out = String::new();
    if from > 0 || line > 1 {
        out.push('…');
    }
    out.extend(chars[from..to].iter().flat_map(|c| c.escape_debug()));
    if to < chars.len() || text.split('\n').nth(line).is_some() {
        out.push('…');
    }
    out
}

/// Resolves the values of every parameter of `specs` from `given` (name, text) pairs and defaults.
pub fn resolve_params(
    specs: &[ParamSpec],
    given: &[(String, String)],
) -> Result<BTreeMap<String, ParamValue>, ParamError> {
    let mut texts: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, text) in given {
        if !specs.iter().any(|s| &s.name == name) {
            let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            return Err(ParamError::Unknown {
                name: crate::names::shown(name),
                known,
            });
        }
        if texts.insert(name, text).is_some() {
            return Err(ParamError::Duplicate(name.clone()));
        }
    }
    let mut out = BTreeMap::new();
    for spec in specs {
        let text = match (texts.get(spec.name.as_str()), &spec.default) {
            (Some(t), _) => *t,
            (None, Some(d)) => d.as_str(),
            (None, None) => {
                return Err(ParamError::Missing {
                    name: spec.name.clone(),
                    ty: spec.ty,
                });
            }
        };
        out.insert(spec.name.clone(), parse_param(&spec.name, spec.ty, text)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, ty: ParamType, default: Option<&str>) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            ty,
            default: default.map(Into::into),
            help: String::new(),
        }
    }

    #[test]
    fn defaults_overrides_and_errors() {
        let specs = [
            spec("n", ParamType::Int, Some("3")),
            spec("who", ParamType::String, None),
        ];
        let given = vec![("who".to_string(), "ada".to_string())];
        let v = resolve_params(&specs, &given).unwrap();
        assert_eq!(v["n"], ParamValue::Int(3));
        assert_eq!(v["who"], ParamValue::String("ada".into()));

        let err = resolve_params(&specs, &[]).unwrap_err();
        assert!(matches!(err, ParamError::Missing { ref name, .. } if name == "who"));

        let bad = vec![("who".into(), "x".into()), ("n".into(), "three".into())];
        let err = resolve_params(&specs, &bad).unwrap_err();
        assert_eq!(err.to_string(), "parameter `n`: `three` is not a valid int");

        let unknown = vec![("m".into(), "1".into())];
        assert!(
            resolve_params(&specs, &unknown)
                .unwrap_err()
                .to_string()
                .contains("n, who")
        );
    }

    #[test]
    fn bool_float_json() {
        assert_eq!(
            parse_param("b", ParamType::Bool, "yes").unwrap(),
            ParamValue::Bool(true)
        );
        assert_eq!(
            parse_param("f", ParamType::Float, "0.5").unwrap(),
            ParamValue::Float(0.5)
        );
        assert!(parse_param("j", ParamType::Json, "{").is_err());
        // A 120 kB value that does not parse: the reason and an excerpt, not the whole value.
        let big = format!("{{\"a\": [{}1, 2,, 3]}}", "0, ".repeat(40_000));
        let err = parse_param("j", ParamType::Json, &big)
            .unwrap_err()
            .to_string();
        assert!(err.len() < 300, "{} bytes: {err}", err.len());
        assert!(err.contains("expected value at line 1 column"), "{err}");
        assert!(err.contains("2,, 3]"), "the excerpt shows the place: {err}");
        let long = "x".repeat(100_000);
        let err = resolve_params(&[], &[(long, "1".into())])
            .unwrap_err()
            .to_string();
        assert!(
            err.len() < 300,
            "an unknown name is not echoed whole: {err}"
        );
    }
}
