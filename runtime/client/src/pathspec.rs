//! Parsing pathspecs with errors that say what is wrong with them.

use wflow_core::Pathspec;

use crate::{ClientError, Part, Result};

/// Parses `Flow[/run[/step[/task[/artifact]]]]`. The task may also be named by its foreach
/// index on the step, `Flow/run/step[7]` (`step[2][7]` in a nested foreach); it is then kept as
/// the task part `[7]` (see [`foreach_index`]).
pub fn parse_pathspec(text: &str) -> Result<Pathspec> {
    // Shown with control characters escaped: the error goes to a terminal.
    let bad = |reason: String| ClientError::BadPathspec {
        text: text
            .chars()
            .map(|c| match c.is_control() {
                true => c.escape_default().to_string(),
                false => c.to_string(),
            })
            .collect(),
        reason,
    };
    if text.trim().is_empty() {
        return Err(bad("it is empty".into()));
    }
    if text.chars().any(char::is_control) {
        return Err(bad("it contains a control character".into()));
    }
    if text.starts_with('/') {
        return Err(bad(
            "it starts with `/`; it begins with the flow's name".into()
        ));
    }
    if text.ends_with('/') {
        return Err(bad("it ends with `/`".into()));
    }
    let mut parts: Vec<&str> = text.split('/').collect();
    // `step[7]`: the task of foreach item 7, in place of a task id.
    if let Some(step) = parts.get(2).copied()
        && let Some(open) = step.find('[')
    {
        if parts.len() > 4 {
            return Err(bad(format!(
                "it has {} parts after `{step}`, which names a task: at most an artifact",
                parts.len() - 3
            )));
        }
        if foreach_index(&step[open..]).is_none() || open == 0 {
            return Err(bad(format!(
                "`{step}` is not a step and foreach index: write `step[7]` (or `step[2][7]` in a \
                 nested foreach), indices being numbers"
            )));
        }
        parts.splice(2..3, [&step[..open], &step[open..]]);
    }
    if parts.len() > 5 {
        return Err(bad(format!("it has {} parts, at most 5", parts.len())));
    }
    const NAMES: [Part; 5] = [
        Part::Flow,
        Part::Run,
        Part::Step,
        Part::Task,
        Part::Artifact,
    ];
    if let Some(i) = parts.iter().position(|p| p.is_empty()) {
        return Err(bad(format!("its {} part is empty (`//`)", NAMES[i])));
    }
    if let Some(i) = parts.iter().position(|p| p.trim() != *p) {
        return Err(bad(format!(
            "its {} part `{}` starts or ends with whitespace",
            NAMES[i], parts[i]
        )));
    }
    if let Some(task) = parts.get(3)
        && task.parse::<u64>().is_err()
        && foreach_index(task).is_none()
    {
        return Err(bad(format!(
            "`{task}` is not a task id: task ids are numbers, as in {}/{}/{}/3",
            parts[0], parts[1], parts[2]
        )));
    }
    let get = |i: usize| parts.get(i).map(|p| p.to_string());
    Ok(Pathspec {
        flow: parts[0].to_string(),
        run: get(1),
        step: get(2),
        task: get(3),
        artifact: get(4),
    })
}

/// The foreach path in a task part `[7]` or `[2][7]` (`None` if it is not one).
pub fn foreach_index(task: &str) -> Option<Vec<u32>> {
    let inner = task.strip_prefix('[')?.strip_suffix(']')?;
    inner
        .split("][")
        .map(|i| {
            (!i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
                .then(|| i.parse().ok())
                .flatten()
        })
        .collect()
}

/// The kind of thing a pathspec names: its last part.
pub(crate) fn kind(p: &Pathspec) -> Part {
    match (&p.run, &p.step, &p.task, &p.artifact) {
        (None, ..) => Part::Flow,
        (Some(_), None, ..) => Part::Run,
        (Some(_), Some(_), None, _) => Part::Step,
        (Some(_), Some(_), Some(_), None) => Part::Task,
        _ => Part::Artifact,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> String {
        match parse_pathspec(text).unwrap_err() {
            ClientError::BadPathspec { reason, .. } => reason,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn good_and_bad() {
        let p = parse_pathspec("F/r/s/3/x").unwrap();
        assert_eq!(
            (kind(&p), p.to_string().as_str()),
            (Part::Artifact, "F/r/s/3/x")
        );
        assert_eq!(kind(&parse_pathspec("F").unwrap()), Part::Flow);
        assert_eq!(kind(&parse_pathspec("F/r/s").unwrap()), Part::Step);
        assert!(reason("").contains("empty"));
        assert!(reason("/F").contains("starts with `/`"));
        assert!(reason("F/r/").contains("ends with `/`"));
        assert!(reason("F//s").contains("run part is empty"));
        assert!(reason("F/r/s//x").contains("task part is empty"));
        assert!(reason("a/b/c/4/e/f").contains("6 parts"));
        assert!(reason("F/r/s/three").contains("`three` is not a task id"));
        assert!(reason("F/ r").contains("whitespace"));
        // A task by its foreach index.
        let p = parse_pathspec("F/r/sq[7]").unwrap();
        assert_eq!(kind(&p), Part::Task);
        assert_eq!(
            (p.step.as_deref(), p.task.as_deref()),
            (Some("sq"), Some("[7]"))
        );
        let p = parse_pathspec("F/r/sq[2][7]/total").unwrap();
        assert_eq!(
            (kind(&p), p.artifact.as_deref()),
            (Part::Artifact, Some("total"))
        );
        assert_eq!(foreach_index(p.task.as_deref().unwrap()), Some(vec![2, 7]));
        assert!(reason("F/r/sq[x]").contains("not a step and foreach index"));
        assert!(reason("F/r/sq[]").contains("not a step and foreach index"));
        assert!(reason("F/r/[3]").contains("not a step and foreach index"));
        assert!(reason("F/r/sq[1]/a/b").contains("at most an artifact"));
        let msg = parse_pathspec("F/r/s/x").unwrap_err().to_string();
        assert!(msg.contains("`F/r/s/x` is not a valid pathspec"), "{msg}");
        assert!(msg.contains("Flow[/run"), "{msg}");
    }
}
