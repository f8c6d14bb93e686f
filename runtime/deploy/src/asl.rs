//! A validated flow as an Amazon States Language state machine (JSONPath) of AWS Batch jobs.
//!
//! ```text
//! Begin (Pass: run id = the execution's name, path `r`)
//! Run (Parallel, one branch: the flow)  ──Catch States.ALL──▶ Record failure (a job) ▶ Failed
//!   step          a `batch:submitJob.sync` Task running `wflow worker` (ResultPath null)
//!   branch split  the step's Task, then a Parallel with one branch per target, up to the join
//!   foreach       the step's Task; a Task reading its fanout object from S3
//!                 (`aws-sdk:s3:getObject`, `States.StringToJson`); a Map over its chunks whose
//!                 body runs each step of the foreach as ONE array job per chunk (a Choice sends
//!                 a 1-item chunk to a plain job: AWS Batch arrays have 2 to 10,000 children).
//!                 A body that holds another foreach or a switch is a Map over the items
//!                 instead (one iteration per item, each running the nested foreach as array
//!                 jobs).
//!   switch        the step's Task; a Task reading its choice from S3; a Choice state to the
//!                 states of each choice, which go on where the choices meet
//!   loop          (top level only) the switch's way back: a Pass state adding one to the
//!                 generation `$.gen` and the loop's count `$.loops.SWITCH`, then the loop's
//!                 first step
//! Succeeded
//! ```
//!
//! Every state passes its input through unchanged (`ResultPath: null`), so the payload stays a
//! few hundred bytes whatever the width; transitions per execution depend on the graph and on
//! the number of 10,000-item chunks, not on the items (except for the outer level of a nested
//! foreach). Retries and `catch` run inside the worker (each attempt a fresh sandbox, recorded
//! as locally), not as `Retry`/`Catch` on the Task: they then behave exactly as in a local run,
//! and a job's failure means its step failed for good. Timeouts and resources are the job
//! definition's, as for `--compute batch`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use wflow_core::Transition;
use wflow_graph::{Plan, SplitKind};

use crate::layout::{DEPLOY_PREFIX, ROOT_PATH, env};

/// The Batch integration: submit a job and wait for it to end.
pub const SUBMIT_SYNC: &str = "arn:aws:states:::batch:submitJob.sync";
/// Reading an object from S3 (the fanout of a foreach).
pub const S3_GET: &str = "arn:aws:states:::aws-sdk:s3:getObject";
/// The error the state machine ends with when the run failed.
pub const RUN_FAILED: &str = "wflow.RunFailed";
/// Longest state name ASL takes.
const MAX_STATE_NAME: usize = 80;

/// Where the jobs go and what they are told.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// The job queue.
    pub queue: String,
    /// Each step's job definition (name or ARN).
    pub job_definitions: BTreeMap<String, String>,
    /// The job definition of the job recording a failed run.
    pub recorder_definition: String,
    /// The store's bucket.
    pub bucket: String,
    /// The store's prefix in the bucket (`""` or ending in `/`).
    pub prefix: String,
    /// Variables every job gets (the store's location, the deployment's key and digest).
    pub env: Vec<(String, String)>,
}

/// A flow that cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum AslError {
    /// A step without a job definition (a bug in the caller).
    #[error("step `{0}` has no job definition")]
    NoDefinition(String),
    /// A loop inside a branch or foreach (contract 0.2), which a deployment does not run yet.
    #[error(
        "step `{0}` loops back inside a {1} split (`{2}`): a deployment runs loops only outside every branch and foreach, because the step joining the split runs after the state machine's Parallel or Map state and cannot tell which iteration of the loop each branch or item ended in (each iteration's tasks are apart); move the loop out of the split (before `{2}` or after its join), or run this flow with `wflow run` (locally or `--compute batch`)"
    )]
    NestedLoop(String, &'static str, String),
}

/// Whether a deployment can run `plan`: not when a loop lies inside a branch or foreach split.
pub fn check_plan(plan: &Plan) -> Result<(), AslError> {
    for (switch, _) in plan.loops() {
        if let Some(f) = plan.stack(switch).last() {
            let kind = match f.kind {
                SplitKind::Branch => "branch",
                SplitKind::Foreach => "foreach",
            };
            return Err(AslError::NestedLoop(
                switch.to_string(),
                kind,
                f.split.clone(),
            ));
        }
    }
    Ok(())
}

/// Whether the body of foreach `split` runs one `Map` iteration per item (it holds another
/// foreach, or a switch: each item may go its own way) instead of array jobs.
pub fn per_item(plan: &Plan, split: &str) -> bool {
    plan.steps_in_order().iter().any(|s| {
        (plan.opens(s) == Some(SplitKind::Foreach) || !plan.step(s).transition.choices().is_empty())
            && plan.stack(s).iter().any(|f| f.split == split)
    })
}

/// Whether the flow has a loop: then every task's place carries the top level's generation
/// (`$.gen`, the loops gone round so far), and every loop its count (`$.loops.SWITCH`).
pub fn has_loops(plan: &Plan) -> bool {
    plan.loops().next().is_some()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// One job per step: the task at the state's path.
    Scalar,
    /// One array job per step: the items of the state's chunk.
    Array,
}

/// States of one piece of the chain: entered at `entry`, left from each of `exits`.
struct Block {
    entry: String,
    states: Vec<(String, Value)>,
    exits: Vec<String>,
}

impl Block {
    fn single(name: String, state: Value) -> Block {
        Block {
            entry: name.clone(),
            exits: vec![name.clone()],
            states: vec![(name, state)],
        }
    }
}

/// The error a scope (the flow, a branch, a foreach body) fails with when one of its jobs failed.
pub const STEP_FAILED: &str = "wflow.StepFailed";

/// A `Choice` rule's `Next` before it is known: the state after the switch's block.
const AFTER: &str = "\u{0}after";

/// Sets `Next` between consecutive blocks (and a switch's rules going on after it); returns the
/// start, the states, and the last block's exits (their `Next` not set).
fn wire(blocks: Vec<Block>) -> (String, Vec<(String, Value)>, Vec<String>) {
    let start = blocks.first().map(|b| b.entry.clone()).unwrap_or_default();
    let entries: Vec<String> = blocks.iter().skip(1).map(|b| b.entry.clone()).collect();
    let mut out = Vec::new();
    let mut last = Vec::new();
    for (i, b) in blocks.into_iter().enumerate() {
        let next = entries.get(i);
        for (name, mut state) in b.states {
            if let Some(next) = next {
                if b.exits.contains(&name) {
                    state["Next"] = next.clone().into();
                }
                for rule in state
                    .get_mut("Choices")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    if rule["Next"] == AFTER {
                        rule["Next"] = next.clone().into();
                    }
                }
            }
            out.push((name, state));
        }
        if next.is_none() {
            last = b.exits;
        }
    }
    (start, out, last)
}

/// Chains blocks: each exit goes on to the next block's entry, the last ones end. Every Task of
/// the scope catches any error into the scope's own `Fail` state, so what leaves a `Parallel` or
/// `Map` is [`STEP_FAILED`], never a `States.*` error: AWS passes those through, but some
/// interpreters (moto) cannot, and the outer `Catch` then sees one name either way.
/// `scope` numbers the scope's `Fail` state (ASL state names are unique in the whole machine).
fn link(blocks: Vec<Block>, scope: usize) -> Value {
    let failed = format!("Failed (scope {scope})");
    let done = format!("Done (scope {scope})");
    let (start, wired, last) = wire(blocks);
    let mut states = Map::new();
    let mut ends_by_choice = false;
    for (name, mut state) in wired {
        if last.contains(&name) {
            state["End"] = true.into();
        }
        for rule in state
            .get_mut("Choices")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if rule["Next"] == AFTER {
                rule["Next"] = done.clone().into();
                ends_by_choice = true;
            }
        }
        if state["Type"] == "Task" {
            state["Catch"] =
                json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": failed}]);
        }
        states.insert(name, state);
    }
    if ends_by_choice {
        states.insert(done, json!({"Type": "Succeed"}));
    }
    states.insert(
        failed,
        json!({
            "Type": "Fail",
            "Error": STEP_FAILED,
            "Cause": "a job of this scope failed (its step's task is recorded as failed)",
        }),
    );
    json!({ "StartAt": start, "States": states })
}

struct Compiler<'a> {
    plan: &'a Plan,
    target: &'a Target,
    /// Scopes linked so far.
    scopes: std::cell::Cell<usize>,
}

/// The state machine's definition for `plan` (see the [module docs](self)).
pub fn compile(plan: &Plan, target: &Target) -> Result<Value, AslError> {
    check_plan(plan)?;
    let c = Compiler {
        plan,
        target,
        scopes: Default::default(),
    };
    let flow = c.link(c.seq(plan.start(), None, Ctx::Scalar)?);
    let mut begin = json!({
        "run.$": "$$.Execution.Name",
        "execution.$": "$$.Execution.Id",
        "path": ROOT_PATH,
        "params.$": "$.params",
        "trigger.$": "$.trigger",
    });
    if has_loops(plan) {
        begin["gen"] = 0.into();
        begin["loops"] = plan
            .loops()
            .map(|(s, _)| (s.to_string(), 0.into()))
            .collect::<Map<_, _>>()
            .into();
    }
    let recorder = c.job(
        "record-failure",
        &target.recorder_definition,
        vec![
            json!({"Name": env::END, "Value": "failed"}),
            json!({"Name": env::RUN, "Value.$": "$.run"}),
        ],
    );
    let mut record = json!({
        "Type": "Task",
        "Resource": SUBMIT_SYNC,
        "Parameters": recorder,
        "ResultPath": null,
        "Next": "Failed",
    });
    record["Catch"] =
        json!([{"ErrorEquals": ["States.ALL"], "ResultPath": null, "Next": "Failed"}]);
    Ok(json!({
        "Comment": format!("wflow flow {}: Batch jobs running `wflow worker`", plan.spec().name),
        "StartAt": "Begin",
        "States": {
            "Begin": {
                "Type": "Pass",
                "Parameters": begin,
                "Next": "Run",
            },
            "Run": {
                "Type": "Parallel",
                "Branches": [flow],
                "ResultPath": null,
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Record failure"}],
                "Next": "Succeeded",
            },
            "Record failure": record,
            "Succeeded": {"Type": "Succeed"},
            "Failed": {
                "Type": "Fail",
                "Error": RUN_FAILED,
                "Cause": "a step of the run failed: `wflow show` of the run says which and why",
            },
        },
    }))
}

impl Compiler<'_> {
    /// [`link`] with the next scope number.
    fn link(&self, blocks: Vec<Block>) -> Value {
        let n = self.scopes.get();
        self.scopes.set(n + 1);
        link(blocks, n)
    }

    /// The blocks from `from` up to (not including) `until`, or to the end.
    fn seq(&self, from: &str, until: Option<&str>, ctx: Ctx) -> Result<Vec<Block>, AslError> {
        let plan = self.plan;
        let mut blocks = Vec::new();
        let mut step = from.to_string();
        while Some(step.as_str()) != until {
            blocks.push(self.task(&step, ctx)?);
            let spec = plan.step(&step);
            let join = plan.join_of(&step).map(str::to_string);
            match (&spec.transition, plan.opens(&step), join) {
                (Transition::End, _, _) => break,
                (Transition::Next(targets), Some(SplitKind::Branch), Some(join)) => {
                    let branches = targets
                        .iter()
                        .map(|t| self.seq(t, Some(&join), ctx).map(|b| self.link(b)))
                        .collect::<Result<Vec<_>, _>>()?;
                    blocks.push(Block::single(
                        self.name(&step, " branches"),
                        json!({"Type": "Parallel", "Branches": branches, "ResultPath": null}),
                    ));
                    step = join;
                }
                (Transition::Foreach(body), _, Some(join)) => {
                    blocks.extend(self.foreach(&step, body, &join)?);
                    step = join;
                }
                (Transition::Next(targets), _, _) => step = targets[0].clone(),
                (Transition::Switch { choices, .. }, _, _) => {
                    let (block, merge) = self.switch(&step, choices, until, ctx)?;
                    blocks.push(block);
                    match merge {
                        Some(m) => step = m,
                        None => break,
                    }
                }
                // A split without a join cannot pass the graph's rules.
                (_, _, None) => break,
            }
        }
        Ok(blocks)
    }

    /// The steps run one after the other from `from` on the forward graph, splits and switches
    /// stepped over (to their join, to where their choices meet).
    fn line(&self, from: &str) -> Vec<String> {
        let plan = self.plan;
        let mut out = Vec::new();
        let mut step = Some(from.to_string());
        while let Some(s) = step {
            out.push(s.clone());
            step = match &plan.step(&s).transition {
                Transition::End => None,
                Transition::Next(t) if t.len() == 1 => Some(t[0].clone()),
                Transition::Next(_) | Transition::Foreach(_) => {
                    plan.join_of(&s).map(str::to_string)
                }
                Transition::Switch { choices, .. } => self.merge(&s, choices),
            };
        }
        out
    }

    /// Where the forward choices of switch `step` meet again (`None`: only at the end).
    fn merge(&self, step: &str, choices: &[String]) -> Option<String> {
        let lines: Vec<Vec<String>> = choices
            .iter()
            .filter(|c| !self.plan.loops_back(step, c))
            .map(|c| self.line(c))
            .collect();
        let (first, rest) = lines.split_first()?;
        first
            .iter()
            .find(|s| rest.iter().all(|l| l.contains(s)))
            .cloned()
    }

    /// A state reading what `step`'s task wrote for this run and place under `kind` (`choice`,
    /// `fanout`) into `$.read.KIND`.
    fn read_written(&self, step: &str, kind: &str) -> Value {
        let (fmt, args) = self.place(step);
        let key = format!(
            "{}{DEPLOY_PREFIX}runs/{{}}/{kind}/{}/{fmt}",
            format_escape(&self.target.prefix),
            format_escape(step)
        );
        json!({
            "Type": "Task",
            "Resource": S3_GET,
            "Parameters": {
                "Bucket": self.target.bucket,
                "Key.$": format!("States.Format('{key}', $.run, {args})"),
            },
            "ResultSelector": {(format!("{kind}.$")): "States.StringToJson($.Body)"},
            "ResultPath": "$.read",
        })
    }

    /// Where a task's place is in the store, as a `States.Format` argument list: `$.path`, and
    /// at the top level of a flow with loops, its generation.
    fn place(&self, step: &str) -> (&'static str, &'static str) {
        let top = !self
            .plan
            .stack(step)
            .iter()
            .any(|f| f.kind == SplitKind::Foreach);
        if top && has_loops(self.plan) {
            ("{}~{}", "$.path, $.gen")
        } else {
            ("{}", "$.path")
        }
    }

    /// The switch `step` after its task: reading its choice, a `Choice` state, each forward
    /// choice's states up to where they meet, a loop's way back (counting it). Returns the block
    /// (its rules to the meeting point go on after it) and the meeting point.
    fn switch(
        &self,
        step: &str,
        choices: &[String],
        until: Option<&str>,
        ctx: Ctx,
    ) -> Result<(Block, Option<String>), AslError> {
        let plan = self.plan;
        let merge = self.merge(step, choices);
        let stop = merge.as_deref().or(until);
        let read_name = self.name(step, " choice");
        let read = self.read_written(step, "choice");
        let choose = self.name(step, " chooses");
        let mut states = vec![(read_name.clone(), read)];
        let mut rules = Vec::new();
        let mut exits = Vec::new();
        for c in choices {
            let rule = |next: String| json!({"Variable": "$.read.choice.next", "StringEquals": c, "Next": next});
            if plan.loops_back(step, c) {
                // Top level only (`check_plan`): the input's fields are known.
                let mut loops = Map::new();
                for (s, _) in plan.loops() {
                    let v = if s == step {
                        format!("States.MathAdd($.loops.{s}, 1)")
                    } else {
                        format!("$.loops.{s}")
                    };
                    loops.insert(format!("{s}.$"), v.into());
                }
                let again = self.name(step, " again");
                states.push((
                    again.clone(),
                    json!({
                        "Type": "Pass",
                        "Parameters": {
                            "run.$": "$.run",
                            "execution.$": "$.execution",
                            "path.$": "$.path",
                            "params.$": "$.params",
                            "trigger.$": "$.trigger",
                            "gen.$": "States.MathAdd($.gen, 1)",
                            "loops": loops,
                        },
                        "Next": self.name(c, ""),
                    }),
                ));
                rules.push(rule(again));
            } else if Some(c) == merge.as_ref() {
                rules.push(rule(AFTER.to_string()));
            } else {
                let (entry, st, last) = wire(self.seq(c, stop, ctx)?);
                states.extend(st);
                exits.extend(last);
                rules.push(rule(entry));
            }
        }
        states.insert(
            1,
            (choose.clone(), json!({"Type": "Choice", "Choices": rules})),
        );
        states[0].1["Next"] = choose.into();
        Ok((
            Block {
                entry: read_name,
                states,
                exits,
            },
            merge.filter(|m| Some(m.as_str()) != until),
        ))
    }

    /// Reading the fanout of `split`, then a Map running its body.
    fn foreach(&self, split: &str, body: &str, join: &str) -> Result<Vec<Block>, AslError> {
        let nests = per_item(self.plan, split);
        let read = self.read_written(split, "fanout");
        let (items, selector, ctx) = if nests {
            (
                "$.read.fanout.items",
                json!({"run.$": "$.run", "path.$": "$$.Map.Item.Value"}),
                Ctx::Scalar,
            )
        } else {
            (
                "$.read.fanout.chunks",
                json!({
                    "run.$": "$.run",
                    "path.$": "$$.Map.Item.Value.path",
                    "offset.$": "$$.Map.Item.Value.offset",
                    "size.$": "$$.Map.Item.Value.size",
                }),
                Ctx::Array,
            )
        };
        let mut processor = self.link(self.seq(body, Some(join), ctx)?);
        processor["ProcessorConfig"] = json!({"Mode": "INLINE"});
        let map = json!({
            "Type": "Map",
            "ItemsPath": items,
            "ItemSelector": selector,
            "ItemProcessor": processor,
            "ResultPath": null,
        });
        Ok(vec![
            Block::single(self.name(split, " fanout"), read),
            Block::single(self.name(split, " foreach"), map),
        ])
    }

    /// The job(s) of one step.
    fn task(&self, step: &str, ctx: Ctx) -> Result<Block, AslError> {
        let definition = self
            .target
            .job_definitions
            .get(step)
            .ok_or_else(|| AslError::NoDefinition(step.to_string()))?;
        let mut vars = vec![
            json!({"Name": env::STEP, "Value": step}),
            json!({"Name": env::RUN, "Value.$": "$.run"}),
            json!({"Name": env::PATH, "Value.$": "$.path"}),
        ];
        if ctx == Ctx::Array {
            vars.push(json!({"Name": env::OFFSET, "Value.$": "$.offset"}));
        }
        if self.place(step).0 != "{}" {
            vars.push(json!({"Name": env::GEN, "Value.$": "States.Format('{}', $.gen)"}));
        }
        if self.plan.loop_of(step).is_some() {
            vars.push(json!({"Name": env::LOOPED, "Value.$": format!("States.Format('{{}}', $.loops.{step})")}));
        }
        if step == self.plan.start() {
            vars.push(json!({"Name": env::PARAMS, "Value.$": "$.params"}));
            vars.push(json!({"Name": env::TRIGGER, "Value.$": "$.trigger"}));
            vars.push(json!({"Name": env::EXECUTION, "Value.$": "$.execution"}));
        }
        let params = self.job(step, definition, vars);
        let task = |params: Value| json!({"Type": "Task", "Resource": SUBMIT_SYNC, "Parameters": params, "ResultPath": null});
        if ctx == Ctx::Scalar {
            return Ok(Block::single(self.name(step, ""), task(params)));
        }
        let (one, many) = (self.name(step, " (one)"), self.name(step, " (array)"));
        let mut array = params.clone();
        array["ArrayProperties"] = json!({"Size.$": "$.size"});
        let choice = self.name(step, "");
        Ok(Block {
            entry: choice.clone(),
            states: vec![
                (
                    choice,
                    json!({
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.size", "NumericEquals": 1, "Next": one}],
                        "Default": many,
                    }),
                ),
                (one.clone(), task(params)),
                (many.clone(), task(array)),
            ],
            exits: vec![one, many],
        })
    }

    /// `SubmitJob` parameters.
    fn job(&self, step: &str, definition: &str, mut vars: Vec<Value>) -> Value {
        vars.extend(
            self.target
                .env
                .iter()
                .map(|(k, v)| json!({"Name": k, "Value": v})),
        );
        json!({
            "JobName": job_name(&self.plan.spec().name, step),
            "JobQueue": self.target.queue,
            "JobDefinition": definition,
            "ContainerOverrides": {"Environment": vars},
        })
    }

    /// A state's name: the step's, with a suffix; within ASL's 80 characters and unique.
    fn name(&self, step: &str, suffix: &str) -> String {
        let full = format!("{step}{suffix}");
        if full.chars().count() <= MAX_STATE_NAME {
            return full;
        }
        let ordinal = self
            .plan
            .steps_in_order()
            .iter()
            .position(|s| s == step)
            .unwrap_or(0);
        let tag = format!("~{ordinal}{suffix}");
        let keep = MAX_STATE_NAME.saturating_sub(tag.chars().count());
        step.chars().take(keep).chain(tag.chars()).collect()
    }
}

/// A Batch job's name: `wflow-<flow>-<step>` in what Batch allows (128 letters, digits, `-`, `_`).
pub fn job_name(flow: &str, step: &str) -> String {
    format!("wflow-{flow}-{step}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect()
}

/// Text inside a `States.Format` template: `'{}\` are escaped.
fn format_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if matches!(c, '\'' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The deployment a definition's jobs name: its key and digest (`None`: not a wflow machine).
pub fn deployment_ref(definition: &Value) -> Option<(String, String)> {
    fn find(v: &Value, name: &str) -> Option<String> {
        match v {
            Value::Object(o) => {
                if o.get("Name").and_then(Value::as_str) == Some(name)
                    && let Some(s) = o.get("Value").and_then(Value::as_str)
                {
                    return Some(s.to_string());
                }
                o.values().find_map(|x| find(x, name))
            }
            Value::Array(a) => a.iter().find_map(|x| find(x, name)),
            _ => None,
        }
    }
    Some((
        find(definition, env::DEPLOYMENT)?,
        find(definition, env::DEPLOYMENT_DIGEST)?,
    ))
}

/// Every state name of a definition, nested ones included (for checks and counts).
pub fn state_names(definition: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(scope: &Value, out: &mut Vec<String>) {
        let Some(states) = scope.get("States").and_then(Value::as_object) else {
            return;
        };
        for (name, state) in states {
            out.push(name.clone());
            for b in state["Branches"].as_array().into_iter().flatten() {
                walk(b, out);
            }
            walk(&state["ItemProcessor"], out);
        }
    }
    walk(definition, &mut out);
    out
}

/// Checks the structure the compiler promises: every `Next`/`Default` names a state of its own
/// scope, every state is reachable from `StartAt`, and names are unique and short enough.
pub fn check(definition: &Value) -> Result<(), String> {
    let names = state_names(definition);
    let unique: BTreeSet<&String> = names.iter().collect();
    if unique.len() != names.len() {
        return Err(format!("state names repeat: {names:?}"));
    }
    if let Some(long) = names.iter().find(|n| n.chars().count() > MAX_STATE_NAME) {
        return Err(format!("state name longer than {MAX_STATE_NAME}: {long}"));
    }
    fn scope(v: &Value) -> Result<(), String> {
        let states = v["States"].as_object().ok_or("a scope without States")?;
        let start = v["StartAt"].as_str().ok_or("a scope without StartAt")?;
        let mut seen = BTreeSet::new();
        let mut todo = vec![start.to_string()];
        while let Some(n) = todo.pop() {
            if !seen.insert(n.clone()) {
                continue;
            }
            let s = states
                .get(&n)
                .ok_or(format!("`{n}` is not a state of its scope"))?;
            let mut next: Vec<&Value> = vec![&s["Next"], &s["Default"]];
            next.extend(
                s["Choices"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| &c["Next"]),
            );
            next.extend(
                s["Catch"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| &c["Next"]),
            );
            todo.extend(
                next.into_iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string),
            );
            let terminal = matches!(s["Type"].as_str(), Some("Succeed" | "Fail" | "Choice"))
                || s["End"] == true;
            if !terminal && s["Next"].is_null() {
                return Err(format!("`{n}` neither ends nor goes on"));
            }
            for b in s["Branches"].as_array().into_iter().flatten() {
                scope(b)?;
            }
            if s["Type"] == "Map" {
                scope(&s["ItemProcessor"])?;
            }
        }
        if seen.len() != states.len() {
            return Err(format!(
                "unreachable states in {:?}",
                states.keys().collect::<Vec<_>>()
            ));
        }
        Ok(())
    }
    scope(definition)
}

#[cfg(test)]
#[path = "asl_tests.rs"]
mod tests;
