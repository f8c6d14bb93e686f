//! [`Retention`]: which runs a collection keeps, and the durations it is written with.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use wflow_metadata::RunRecord;

/// Which runs to keep. A run is kept when any clause keeps it; with neither `keep_last` nor
/// `older_than` every run is kept (a collection then only removes what no run reaches).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Retention {
    /// Keep the newest N runs of each flow.
    pub keep_last: Option<usize>,
    /// Keep runs that started less than this long ago.
    #[serde(serialize_with = "as_text")]
    pub older_than: Option<Duration>,
    /// Keep runs carrying any of these tags.
    pub keep_tagged: Vec<String>,
    /// Only runs of this flow are considered; other flows' runs are kept.
    pub flow: Option<String>,
}

fn as_text<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&format_duration(*d)),
        None => s.serialize_none(),
    }
}

/// Why a run is kept.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
pub enum Keep {
    /// It has not finished (or its process died before it could say).
    Running,
    /// Among the newest `keep_last` of its flow.
    Newest,
    /// Started less than `older_than` ago.
    Young,
    /// It carries a kept tag.
    Tagged(String),
    /// A kept run reuses its tasks (resume, or a cached task): this run.
    ReusedBy(String),
    /// Outside the rule's flow, or no rule removes anything.
    NotCovered,
}

impl Retention {
    /// True when the rule can remove a run (it has `keep_last` or `older_than`).
    pub fn removes_anything(&self) -> bool {
        self.keep_last.is_some() || self.older_than.is_some()
    }

    /// Why `runs` (newest first, as listed) are kept, by run id; runs absent from the answer
    /// are outside the rule. `tags` holds each run's tags; `now_ms` is the time the rule is
    /// applied at. References between runs are not followed here (see the crate docs).
    pub fn apply(
        &self,
        runs: &[RunRecord],
        tags: &BTreeMap<String, Vec<String>>,
        now_ms: i64,
    ) -> BTreeMap<String, Keep> {
        self.keeps(runs, tags, now_ms, false)
    }

    /// The runs this rule's own clauses keep, as a floor under another rule (the
    /// administrator's policy): unlike [`apply`](Self::apply), a rule with neither `keep_last`
    /// nor `older_than` keeps only what its other clauses keep, and `flow` is ignored.
    pub fn protects(
        &self,
        runs: &[RunRecord],
        tags: &BTreeMap<String, Vec<String>>,
        now_ms: i64,
    ) -> BTreeMap<String, Keep> {
        self.keeps(runs, tags, now_ms, true)
    }

    fn keeps(
        &self,
        runs: &[RunRecord],
        tags: &BTreeMap<String, Vec<String>>,
        now_ms: i64,
        floor: bool,
    ) -> BTreeMap<String, Keep> {
        let young_after = self
            .older_than
            .map(|d| now_ms.saturating_sub(d.as_millis().min(i64::MAX as u128) as i64));
        let kept_tags: BTreeSet<&String> = self.keep_tagged.iter().collect();
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        let mut keep = BTreeMap::new();
        for run in runs {
            let rank = seen.entry(run.flow.as_str()).or_default();
            let position = *rank;
            *rank += 1;
            let why = if !floor
                && (!self.removes_anything() || self.flow.as_ref().is_some_and(|f| f != &run.flow))
            {
                Some(Keep::NotCovered)
            } else if !run.status.is_finished() {
                Some(Keep::Running)
            } else if self.keep_last.is_some_and(|n| position < n) {
                Some(Keep::Newest)
            } else if young_after.is_some_and(|t| run.started_ms >= t) {
                Some(Keep::Young)
            } else {
                tags.get(&run.run_id)
                    .and_then(|have| have.iter().find(|t| kept_tags.contains(t)))
                    .map(|t| Keep::Tagged(t.clone()))
            };
            if let Some(why) = why {
                keep.insert(run.run_id.clone(), why);
            }
        }
        keep
    }
}

/// Why each run is kept under `rule` with the administrator's `policy` rules (see
/// [`Options::policy`](crate::Options::policy)).
pub(crate) fn keep(
    rule: &Retention,
    policy: &[Retention],
    runs: &[RunRecord],
    tags: &BTreeMap<String, Vec<String>>,
    now_ms: i64,
) -> BTreeMap<String, Keep> {
    let mut keep = if rule.removes_anything() || !policy.iter().any(Retention::removes_anything) {
        rule.apply(runs, tags, now_ms)
    } else {
        // No rule given: the policy's decide, within the rule's flow.
        runs.iter()
            .filter(|r| rule.flow.as_ref().is_some_and(|f| f != &r.flow))
            .map(|r| (r.run_id.clone(), Keep::NotCovered))
            .collect()
    };
    for p in policy {
        for (id, why) in p.protects(runs, tags, now_ms) {
            keep.entry(id).or_insert(why);
        }
    }
    keep
}

/// A duration as written in flags and the config file: a whole number and a unit — `s`, `m`,
/// `h`, `d` (days) or `w` (weeks), e.g. `30d`, `12h`, `0s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let bad = || {
        format!(
            "`{text}` is not a duration: expected a whole number and a unit s, m, h, d or w \
             (e.g. 30d, 12h, 90m)"
        )
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is too long a duration"))
}

/// The shortest text [`parse_duration`] reads back as `d` (whole seconds).
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, len) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if s > 0 && s.is_multiple_of(len) {
            return format!("{}{unit}", s / len);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;
    use wflow_metadata::{RunKind, Status};

    #[test]
    fn durations() {
        for (text, secs) in [
            ("30d", 30 * 86_400),
            ("12h", 43_200),
            ("90m", 5400),
            ("0s", 0),
        ] {
            assert_eq!(parse_duration(text).unwrap(), Duration::from_secs(secs));
        }
        assert_eq!(parse_duration("2w").unwrap().as_secs(), 14 * 86_400);
        for bad in ["", "30", "d", "3x", "-1d", "1.5h", "30 days", "ms"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(
                err.contains("is not a duration") && err.contains(bad),
                "{err}"
            );
        }
        assert!(parse_duration("99999999999999999w").is_err());
        for d in ["2w", "3d", "5h", "7m", "0s", "61s"] {
            assert_eq!(format_duration(parse_duration(d).unwrap()), d);
        }
    }

    fn run(id: &str, flow: &str, started_ms: i64, status: Status) -> RunRecord {
        RunRecord {
            run_id: id.into(),
            flow: flow.into(),
            component: wflow_core::Digest::of(b"c"),
            params: serde_json::Value::Null,
            spec: serde_json::Value::Null,
            status,
            started_ms,
            finished_ms: None,
            error: None,
            origin_run: None,
            user: "u".into(),
            kind: RunKind::Run,
        }
    }

    #[test]
    fn each_clause_keeps_runs_and_the_flow_limits_the_rule() {
        let day = 86_400_000;
        let now = 100 * day;
        // Newest first, as listed.
        let runs = vec![
            run("a5", "A", now - day, Status::Succeeded),
            run("b2", "B", now - 2 * day, Status::Failed),
            run("a4", "A", now - 3 * day, Status::Running),
            run("a3", "A", now - 40 * day, Status::Succeeded),
            run("a2", "A", now - 50 * day, Status::Failed),
            run("a1", "A", now - 60 * day, Status::Succeeded),
            run("b1", "B", now - 70 * day, Status::Succeeded),
        ];
        let tags = BTreeMap::from([("a1".to_string(), vec!["gold".to_string()])]);
        let ids = |k: &BTreeMap<String, Keep>| k.keys().cloned().collect::<Vec<_>>();

        let none = Retention::default().apply(&runs, &tags, now);
        assert_eq!(none.len(), runs.len());
        assert!(none.values().all(|k| *k == Keep::NotCovered));

        let last = Retention {
            keep_last: Some(1),
            ..Default::default()
        };
        let k = last.apply(&runs, &tags, now);
        assert_eq!(ids(&k), ["a4", "a5", "b2"]);
        assert_eq!(k["a4"], Keep::Running);

        let young = Retention {
            older_than: Some(Duration::from_secs(45 * 86_400)),
            keep_tagged: vec!["gold".into()],
            ..Default::default()
        };
        let k = young.apply(&runs, &tags, now);
        assert_eq!(ids(&k), ["a1", "a3", "a4", "a5", "b2"]);
        assert_eq!(k["a1"], Keep::Tagged("gold".into()));
        assert_eq!(k["a3"], Keep::Young);

        let only_a = Retention {
            keep_last: Some(2),
            flow: Some("A".into()),
            ..Default::default()
        };
        let k = only_a.apply(&runs, &tags, now);
        assert_eq!(ids(&k), ["a4", "a5", "b1", "b2"]);
        assert_eq!(k["b1"], Keep::NotCovered);

        // The administrator's policy: a floor under the rule given, the rule when none is.
        let policy = [Retention {
            keep_last: Some(2),
            keep_tagged: vec!["gold".into()],
            ..Default::default()
        }];
        let k = keep(&last, &policy, &runs, &tags, now);
        assert_eq!(ids(&k), ["a1", "a4", "a5", "b1", "b2"]);
        assert_eq!(k["a1"], Keep::Tagged("gold".into()));
        let k = keep(&Retention::default(), &policy, &runs, &tags, now);
        assert_eq!(ids(&k), ["a1", "a4", "a5", "b1", "b2"]);
        let flow_a = Retention {
            flow: Some("A".into()),
            ..Default::default()
        };
        let k = keep(&flow_a, &policy[..], &runs, &tags, now);
        assert_eq!(k["b1"], Keep::NotCovered);
        assert!(!k.contains_key("a3"));
        // A policy that only protects removes nothing by itself.
        let tagged_only = [Retention {
            keep_tagged: vec!["gold".into()],
            ..Default::default()
        }];
        let k = keep(&Retention::default(), &tagged_only, &runs, &tags, now);
        assert_eq!(k.len(), runs.len());
        let k = keep(&last, &tagged_only, &runs, &tags, now);
        assert_eq!(ids(&k), ["a1", "a4", "a5", "b2"]);
    }
}
