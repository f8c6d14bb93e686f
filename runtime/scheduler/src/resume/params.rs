//! A resumed run's parameters: the origin's unless given again, and the run itself.

use std::collections::{BTreeMap, BTreeSet};

use wflow_core::{FlowSpec, ParamError, ParamType, ParamValue, parse_param};

use super::Resume;
use crate::run::{RunOptions, RunSummary, SchedulerError, blocking, parameter_artifacts, run_loop};

/// The values of a resumed run's parameters: the origin's (`origin_params`, as recorded),
/// overridden by `given` (name, text) pairs, typed by the component's `spec`; a parameter new
/// in the spec takes its default.
pub fn resume_params(
    spec: &FlowSpec,
    origin_params: &serde_json::Value,
    given: &[(String, String)],
) -> Result<BTreeMap<String, ParamValue>, ParamError> {
    let mut out = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (name, text) in given {
        let Some(p) = spec.parameters.iter().find(|p| &p.name == name) else {
            let known: Vec<&str> = spec.parameters.iter().map(|p| p.name.as_str()).collect();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            return Err(ParamError::Unknown {
                name: name.clone(),
                known,
            });
        };
        if !seen.insert(name.clone()) {
            return Err(ParamError::Duplicate(name.clone()));
        }
        out.insert(name.clone(), parse_param(name, p.ty, text)?);
    }
    for p in &spec.parameters {
        if out.contains_key(&p.name) {
            continue;
        }
        let recorded = origin_params.get(&p.name).and_then(|v| typed(p.ty, v));
        let value = match (recorded, &p.default) {
            (Some(v), _) => v,
            (None, Some(d)) => parse_param(&p.name, p.ty, d)?,
            (None, None) => {
                return Err(ParamError::Missing {
                    name: p.name.clone(),
                    ty: p.ty,
                });
            }
        };
        out.insert(p.name.clone(), value);
    }
    Ok(out)
}

/// A recorded JSON value as a parameter of type `ty` (`None` if it does not fit the type).
fn typed(ty: ParamType, v: &serde_json::Value) -> Option<ParamValue> {
    Some(match ty {
        ParamType::String => ParamValue::String(v.as_str()?.to_string()),
        ParamType::Int => ParamValue::Int(v.as_i64()?),
        ParamType::Float => ParamValue::Float(v.as_f64()?),
        ParamType::Bool => ParamValue::Bool(v.as_bool()?),
        ParamType::Json => ParamValue::Json(v.clone()),
    })
}

/// Runs the resumed run (or the step-run) `resume` planned; `opts.params` are its parameter
/// values (see [`resume_params`]). The run is recorded with its origin; what was reused is in
/// [`Resume::report`] afterwards.
pub async fn resume_flow(
    opts: RunOptions,
    resume: &mut Resume,
) -> Result<RunSummary, SchedulerError> {
    let origin_params: BTreeMap<String, ParamValue> = opts
        .plan
        .spec()
        .parameters
        .iter()
        .filter_map(|p| {
            let v = resume
                .origin
                .params
                .get(&p.name)
                .and_then(|v| typed(p.ty, v))?;
            Some((p.name.clone(), v))
        })
        .collect();
    let (old, new) = blocking({
        let (cas, params) = (opts.cas.clone(), opts.params.clone());
        move || {
            Ok((
                parameter_artifacts(&cas, &origin_params)?,
                parameter_artifacts(&cas, &params)?,
            ))
        }
    })
    .await
    .map_err(SchedulerError::Store)?;
    for (name, r) in new.artifacts.iter() {
        match old.artifacts.get(name) {
            Some(o) if o.digest == r.digest => {}
            Some(o) => {
                resume.overlay.push((name.clone(), o.digest, r.clone()));
                resume.report.params_changed.push(name.clone());
            }
            None => resume.report.params_changed.push(name.clone()),
        }
    }
    run_loop(opts, Some(resume)).await
}
