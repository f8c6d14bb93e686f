//! The AWS calls of `wflow deploy`: the state machine (Step Functions), its schedule (EventBridge
//! Scheduler) and its triggers (EventBridge rules on Step Functions execution events).
//!
//! Names: the state machine and the schedule of deployment `NAME` are `wflow-NAME`; the rule
//! starting it when deployment `OTHER` succeeds is `wflow-NAME-after-OTHER`; the rule recording
//! the runs of its executions that end without success is `wflow-NAME.ended` (a `.` no
//! deployment name has, so it is never mistaken for a trigger).
//!
//! Why EventBridge Scheduler for schedules: it starts a state machine directly with a fixed input
//! and its own role, takes `cron(…)`, `rate(…)` and `at(…)` with a time zone, and keeps schedules
//! apart from the account's event rules. Triggers need events, so they are EventBridge rules.

use serde::{Deserialize, Serialize};

use crate::DeployError;

/// Where deployments go and the roles they use.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct DeployConfig {
    /// The IAM role the state machine runs as (ARN): submits and follows Batch jobs, reads the
    /// store's fanout objects.
    #[serde(default)]
    pub role: Option<String>,
    /// The IAM role EventBridge Scheduler and rules start executions as (ARN); needed for
    /// `--schedule` and `--trigger-on-finish`.
    #[serde(default)]
    pub events_role: Option<String>,
    /// The region (default: the profile's or `AWS_REGION`).
    #[serde(default)]
    pub region: Option<String>,
    /// The endpoint URL of Step Functions, Scheduler and EventBridge (tests, private endpoints).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// AWS profile for credentials and region.
    #[serde(default)]
    pub profile: Option<String>,
}

/// The prefix of every resource `wflow deploy` makes.
pub const NAME_PREFIX: &str = "wflow-";

/// The state machine's (and schedule's) name of a deployment.
pub fn machine_name(deployment: &str) -> String {
    format!("{NAME_PREFIX}{deployment}")
}

/// The rule's name that starts `deployment` when `other` succeeds.
pub fn rule_name(deployment: &str, other: &str) -> String {
    format!("{NAME_PREFIX}{deployment}-after-{other}")
}

/// The rule recording the runs of `deployment`'s executions that fail, time out or are stopped.
pub fn ended_rule_name(deployment: &str) -> String {
    format!("{NAME_PREFIX}{deployment}.ended")
}

/// The execution statuses the ended rule matches.
pub const ENDED_STATUSES: [&str; 3] = ["FAILED", "TIMED_OUT", "ABORTED"];

/// The ended rule's target: a Batch job of the worker image.
pub struct EndedJob<'a> {
    /// The job queue's ARN.
    pub queue_arn: &'a str,
    /// The job definition (runs `wflow worker`).
    pub job_definition: &'a str,
    /// The job's name.
    pub job_name: &'a str,
    /// Variables the job gets besides the execution's (the store, the deployment).
    pub env: &'a [(String, String)],
}

impl EndedJob<'_> {
    /// The rule's event pattern: an execution of `machine_arn` ending without success.
    pub fn pattern(machine_arn: &str) -> serde_json::Value {
        serde_json::json!({
            "source": ["aws.states"],
            "detail-type": ["Step Functions Execution Status Change"],
            "detail": {"status": ENDED_STATUSES, "stateMachineArn": [machine_arn]},
        })
    }

    /// The input paths taken from the event: the run id (the execution's name), the status and
    /// the execution's ARN.
    pub const INPUT_PATHS: [(&'static str, &'static str); 3] = [
        ("run", "$.detail.name"),
        ("status", "$.detail.status"),
        ("execution", "$.detail.executionArn"),
    ];

    /// The input template: the job's `ContainerOverrides` (EventBridge hands a Batch target's
    /// transformed input to `SubmitJob`), its environment telling `wflow worker` to record the
    /// run's end.
    pub fn template(&self) -> String {
        use crate::layout::env;
        let mut vars: Vec<serde_json::Value> = self
            .env
            .iter()
            .map(|(k, v)| serde_json::json!({"Name": k, "Value": v}))
            .collect();
        vars.push(serde_json::json!({"Name": env::END, "Value": "ended"}));
        // Placeholders are quoted: EventBridge puts the event's strings in as they are.
        for (name, placeholder) in [
            (env::RUN, "<run>"),
            (env::EXECUTION_STATUS, "<status>"),
            (env::EXECUTION, "<execution>"),
        ] {
            vars.push(serde_json::json!({"Name": name, "Value": placeholder}));
        }
        serde_json::json!({"ContainerOverrides": {"Environment": vars}}).to_string()
    }
}

/// Clients of the three services.
pub struct Aws {
    sfn: aws_sdk_sfn::Client,
    scheduler: aws_sdk_scheduler::Client,
    events: aws_sdk_eventbridge::Client,
    /// API calls made, by operation.
    pub calls: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

/// A state machine as listed.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// Its deployment's name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
}

/// An execution as listed.
#[derive(Clone, Debug, Serialize)]
pub struct Execution {
    /// Its name (the run id).
    pub name: String,
    /// RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED.
    pub status: String,
    /// Its ARN.
    pub arn: String,
    /// Start, in ms since the epoch.
    pub started_ms: Option<i64>,
    /// Stop, in ms since the epoch.
    pub stopped_ms: Option<i64>,
    /// The error it failed with.
    pub error: Option<String>,
}

/// What an execution's history holds (AWS bills state transitions; an execution keeps at most
/// 25,000 events).
#[derive(Clone, Debug, Default, Serialize)]
pub struct History {
    /// Events.
    pub events: u64,
    /// States entered.
    pub state_transitions: u64,
    /// Batch jobs submitted (an array job counts once).
    pub batch_jobs: u64,
}

/// A schedule as read back.
#[derive(Clone, Debug, Serialize)]
pub struct Schedule {
    /// `cron(…)`, `rate(…)` or `at(…)`.
    pub expression: String,
    /// The input it starts executions with.
    pub input: Option<String>,
}

fn sdk_err(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> DeployError {
    DeployError::Aws(format!(
        "{what}: {}",
        aws_smithy_types::error::display::DisplayErrorContext(e)
    ))
}

fn millis(d: &aws_smithy_types::DateTime) -> Option<i64> {
    d.to_millis().ok()
}

impl Aws {
    /// Clients for the configured region and endpoint. Checks nothing remote.
    pub async fn connect(config: &DeployConfig) -> Aws {
        let settings = wflow_aws::Settings {
            profile: config.profile.clone(),
            region: config.region.clone(),
            endpoint: config.endpoint.clone(),
        };
        let sdk = wflow_aws::load(&settings).await;
        macro_rules! client {
            ($krate:ident) => {
                $krate::Client::from_conf(wflow_aws::builder!($krate, &sdk, &settings).build())
            };
        }
        Aws {
            sfn: client!(aws_sdk_sfn),
            scheduler: client!(aws_sdk_scheduler),
            events: client!(aws_sdk_eventbridge),
            calls: Default::default(),
        }
    }

    fn count(&self, op: &'static str) {
        *self
            .calls
            .lock()
            .expect("not poisoned")
            .entry(op)
            .or_default() += 1;
    }

    /// Every state machine `wflow deploy` made.
    pub async fn machines(&self) -> Result<Vec<Machine>, DeployError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            self.count("ListStateMachines");
            let page = self
                .sfn
                .list_state_machines()
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| sdk_err("listing state machines", e))?;
            for m in page.state_machines() {
                if let Some(name) = m.name().strip_prefix(NAME_PREFIX) {
                    out.push(Machine {
                        name: name.to_string(),
                        arn: m.state_machine_arn().to_string(),
                    });
                }
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The state machine of `deployment`, if there is one.
    pub async fn machine(&self, deployment: &str) -> Result<Option<Machine>, DeployError> {
        Ok(self
            .machines()
            .await?
            .into_iter()
            .find(|m| m.name == deployment))
    }

    /// A state machine's definition.
    pub async fn definition(&self, arn: &str) -> Result<String, DeployError> {
        self.count("DescribeStateMachine");
        let out = self
            .sfn
            .describe_state_machine()
            .state_machine_arn(arn)
            .send()
            .await
            .map_err(|e| sdk_err("reading the state machine", e))?;
        Ok(out.definition().to_string())
    }

    /// Creates the state machine, or updates it when its definition differs. Returns its ARN and
    /// whether anything changed.
    pub async fn put_machine(
        &self,
        deployment: &str,
        definition: &str,
        role: &str,
    ) -> Result<(String, bool), DeployError> {
        if let Some(m) = self.machine(deployment).await? {
            let current = self.definition(&m.arn).await?;
            let same = serde_json::from_str::<serde_json::Value>(&current).ok()
                == serde_json::from_str::<serde_json::Value>(definition).ok();
            if same {
                return Ok((m.arn, false));
            }
            self.count("UpdateStateMachine");
            self.sfn
                .update_state_machine()
                .state_machine_arn(&m.arn)
                .definition(definition)
                .role_arn(role)
                .send()
                .await
                .map_err(|e| sdk_err("updating the state machine", e))?;
            return Ok((m.arn, true));
        }
        self.count("CreateStateMachine");
        let out = self
            .sfn
            .create_state_machine()
            .name(machine_name(deployment))
            .definition(definition)
            .role_arn(role)
            .send()
            .await
            .map_err(|e| sdk_err("creating the state machine", e))?;
        Ok((out.state_machine_arn().to_string(), true))
    }

    /// Deletes a state machine (its executions' runs stay in the store).
    pub async fn delete_machine(&self, arn: &str) -> Result<(), DeployError> {
        self.count("DeleteStateMachine");
        self.sfn
            .delete_state_machine()
            .state_machine_arn(arn)
            .send()
            .await
            .map_err(|e| sdk_err("deleting the state machine", e))?;
        Ok(())
    }

    /// Starts an execution named `run` with `input`; returns its ARN.
    pub async fn start(&self, arn: &str, run: &str, input: &str) -> Result<String, DeployError> {
        self.count("StartExecution");
        let out = self
            .sfn
            .start_execution()
            .state_machine_arn(arn)
            .name(run)
            .input(input)
            .send()
            .await
            .map_err(|e| sdk_err("starting an execution", e))?;
        Ok(out.execution_arn().to_string())
    }

    /// An execution's state.
    pub async fn execution(&self, arn: &str) -> Result<Execution, DeployError> {
        self.count("DescribeExecution");
        let e = self
            .sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .map_err(|e| sdk_err("reading the execution", e))?;
        Ok(Execution {
            name: e.name().unwrap_or_default().to_string(),
            status: e.status().as_str().to_string(),
            arn: e.execution_arn().to_string(),
            started_ms: millis(e.start_date()),
            stopped_ms: e.stop_date().and_then(millis),
            error: e.error().map(str::to_string),
        })
    }

    /// Counts the events of an execution's history.
    pub async fn history(&self, arn: &str) -> Result<History, DeployError> {
        let mut h = History::default();
        let mut token = None;
        loop {
            self.count("GetExecutionHistory");
            let page = self
                .sfn
                .get_execution_history()
                .execution_arn(arn)
                .max_results(1000)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| sdk_err("reading the execution's history", e))?;
            for e in page.events() {
                h.events += 1;
                if e.r#type().as_str().ends_with("StateEntered") {
                    h.state_transitions += 1;
                }
                if e.task_scheduled_event_details()
                    .is_some_and(|t| t.resource_type() == "batch")
                {
                    h.batch_jobs += 1;
                }
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(h);
            }
        }
    }

    /// The newest executions of a state machine (at most `n`).
    pub async fn executions(&self, arn: &str, n: i32) -> Result<Vec<Execution>, DeployError> {
        self.count("ListExecutions");
        let out = self
            .sfn
            .list_executions()
            .state_machine_arn(arn)
            .max_results(n)
            .send()
            .await
            .map_err(|e| sdk_err("listing executions", e))?;
        Ok(out
            .executions()
            .iter()
            .map(|e| Execution {
                name: e.name().to_string(),
                status: e.status().as_str().to_string(),
                arn: e.execution_arn().to_string(),
                started_ms: millis(e.start_date()),
                stopped_ms: e.stop_date().and_then(millis),
                error: None,
            })
            .collect())
    }

    /// The schedule of `deployment`, if it has one.
    pub async fn schedule(&self, deployment: &str) -> Result<Option<Schedule>, DeployError> {
        self.count("GetSchedule");
        match self
            .scheduler
            .get_schedule()
            .name(machine_name(deployment))
            .send()
            .await
        {
            Ok(s) => Ok(Some(Schedule {
                expression: s.schedule_expression().unwrap_or_default().to_string(),
                input: s.target().and_then(|t| t.input()).map(str::to_string),
            })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(sdk_err("reading the schedule", e)),
        }
    }

    /// Creates or replaces the schedule of `deployment`.
    pub async fn put_schedule(
        &self,
        deployment: &str,
        expression: &str,
        machine_arn: &str,
        role: &str,
        input: &str,
    ) -> Result<(), DeployError> {
        use aws_sdk_scheduler::types::{FlexibleTimeWindow, FlexibleTimeWindowMode, Target};
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| sdk_err("the schedule's window", e))?;
        let target = Target::builder()
            .arn(machine_arn)
            .role_arn(role)
            .input(input)
            .build()
            .map_err(|e| sdk_err("the schedule's target", e))?;
        let name = machine_name(deployment);
        if self.schedule(deployment).await?.is_some() {
            self.count("UpdateSchedule");
            self.scheduler
                .update_schedule()
                .name(&name)
                .schedule_expression(expression)
                .flexible_time_window(window)
                .target(target)
                .send()
                .await
                .map_err(|e| sdk_err("updating the schedule", e))?;
        } else {
            self.count("CreateSchedule");
            self.scheduler
                .create_schedule()
                .name(&name)
                .schedule_expression(expression)
                .flexible_time_window(window)
                .target(target)
                .send()
                .await
                .map_err(|e| sdk_err("creating the schedule", e))?;
        }
        Ok(())
    }

    /// Deletes the schedule of `deployment` if it has one; whether it had.
    pub async fn delete_schedule(&self, deployment: &str) -> Result<bool, DeployError> {
        if self.schedule(deployment).await?.is_none() {
            return Ok(false);
        }
        self.count("DeleteSchedule");
        self.scheduler
            .delete_schedule()
            .name(machine_name(deployment))
            .send()
            .await
            .map_err(|e| sdk_err("deleting the schedule", e))?;
        Ok(true)
    }

    /// The deployments whose success starts `deployment` (its rules).
    pub async fn triggers(&self, deployment: &str) -> Result<Vec<String>, DeployError> {
        let prefix = format!("{}-after-", machine_name(deployment));
        self.count("ListRules");
        let out = self
            .events
            .list_rules()
            .name_prefix(&prefix)
            .send()
            .await
            .map_err(|e| sdk_err("listing event rules", e))?;
        Ok(out
            .rules()
            .iter()
            .filter_map(|r| r.name()?.strip_prefix(&prefix).map(str::to_string))
            .collect())
    }

    /// A rule starting `machine_arn` when an execution of `other_arn` succeeds, with the
    /// triggering run's pathspec (`other_flow/<execution name>`) in its input.
    pub async fn put_trigger(
        &self,
        deployment: &str,
        other: &str,
        other_arn: &str,
        other_flow: &str,
        machine_arn: &str,
        role: &str,
    ) -> Result<(), DeployError> {
        use aws_sdk_eventbridge::types::{InputTransformer, Target};
        let pattern = serde_json::json!({
            "source": ["aws.states"],
            "detail-type": ["Step Functions Execution Status Change"],
            "detail": {"status": ["SUCCEEDED"], "stateMachineArn": [other_arn]},
        });
        let transformer = InputTransformer::builder()
            .input_paths_map("run", "$.detail.name")
            .input_template(format!(
                "{{\"params\": \"{{}}\", \"trigger\": \"{other_flow}/<run>\"}}"
            ))
            .build()
            .map_err(|e| sdk_err("the rule's input", e))?;
        self.put_rule(
            &rule_name(deployment, other),
            &pattern,
            format!("wflow: start {deployment} when a run of {other} succeeds"),
            Target::builder()
                .arn(machine_arn)
                .role_arn(role)
                .input_transformer(transformer),
        )
        .await
    }

    /// Creates or replaces the rule recording the runs of `deployment`'s executions that end
    /// without success: on Step Functions' "Execution Status Change" events of `machine_arn`
    /// (FAILED, TIMED_OUT, ABORTED), it submits `job` as `role`.
    pub async fn put_ended_rule(
        &self,
        deployment: &str,
        machine_arn: &str,
        job: &EndedJob<'_>,
        role: &str,
    ) -> Result<(), DeployError> {
        use aws_sdk_eventbridge::types::{BatchParameters, InputTransformer, Target};
        let mut transformer = InputTransformer::builder().input_template(job.template());
        for (k, v) in EndedJob::INPUT_PATHS {
            transformer = transformer.input_paths_map(k, v);
        }
        let batch = BatchParameters::builder()
            .job_definition(job.job_definition)
            .job_name(job.job_name)
            .build()
            .map_err(|e| sdk_err("the ended rule's job", e))?;
        self.put_rule(
            &ended_rule_name(deployment),
            &EndedJob::pattern(machine_arn),
            format!(
                "wflow: record the run of a {deployment} execution that failed, timed out or was stopped"
            ),
            Target::builder()
                .arn(job.queue_arn)
                .role_arn(role)
                .batch_parameters(batch)
                .input_transformer(
                    transformer
                        .build()
                        .map_err(|e| sdk_err("the ended rule's input", e))?,
                ),
        )
        .await
    }

    /// Creates or replaces the enabled rule `name` on the default bus matching `pattern`, and
    /// sets its one target (id `wflow`, what `target` says).
    async fn put_rule(
        &self,
        name: &str,
        pattern: &serde_json::Value,
        description: String,
        target: aws_sdk_eventbridge::types::builders::TargetBuilder,
    ) -> Result<(), DeployError> {
        self.count("PutRule");
        self.events
            .put_rule()
            .name(name)
            .event_pattern(pattern.to_string())
            .state(aws_sdk_eventbridge::types::RuleState::Enabled)
            .description(description)
            .send()
            .await
            .map_err(|e| sdk_err(&format!("creating the event rule `{name}`"), e))?;
        let target = target
            .id("wflow")
            .build()
            .map_err(|e| sdk_err(&format!("the target of event rule `{name}`"), e))?;
        self.count("PutTargets");
        self.events
            .put_targets()
            .rule(name)
            .targets(target)
            .send()
            .await
            .map_err(|e| sdk_err(&format!("setting the target of event rule `{name}`"), e))?;
        Ok(())
    }

    /// Whether `deployment` has its ended rule.
    pub async fn has_ended_rule(&self, deployment: &str) -> Result<bool, DeployError> {
        let name = ended_rule_name(deployment);
        self.count("ListRules");
        let out = self
            .events
            .list_rules()
            .name_prefix(&name)
            .send()
            .await
            .map_err(|e| sdk_err("listing event rules", e))?;
        Ok(out.rules().iter().any(|r| r.name() == Some(name.as_str())))
    }

    /// Deletes the ended rule of `deployment` if it has one; whether it had.
    pub async fn delete_ended_rule(&self, deployment: &str) -> Result<bool, DeployError> {
        if !self.has_ended_rule(deployment).await? {
            return Ok(false);
        }
        self.delete_rule(&ended_rule_name(deployment)).await?;
        Ok(true)
    }

    /// Removes a rule's target and the rule.
    async fn delete_rule(&self, name: &str) -> Result<(), DeployError> {
        self.count("RemoveTargets");
        self.events
            .remove_targets()
            .rule(name)
            .ids("wflow")
            .send()
            .await
            .map_err(|e| sdk_err("removing the event rule's target", e))?;
        self.count("DeleteRule");
        self.events
            .delete_rule()
            .name(name)
            .send()
            .await
            .map_err(|e| sdk_err("deleting the event rule", e))?;
        Ok(())
    }

    /// Deletes the rule starting `deployment` after `other`.
    pub async fn delete_trigger(&self, deployment: &str, other: &str) -> Result<(), DeployError> {
        self.delete_rule(&rule_name(deployment, other)).await
    }
}
