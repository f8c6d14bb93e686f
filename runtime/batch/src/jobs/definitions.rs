//! Job definitions (one per image, role, resources and timeout, registered once) and the job
//! queue's ARN.

use std::time::Duration;

use aws_sdk_batch::types::{
    ContainerProperties, JobDefinitionType, JobTimeout, ResourceRequirement, ResourceType,
};
use wflow_core::StepSpec;
use wflow_scheduler::Attempt;

use super::{ApiCounters, BatchCompute};
use crate::config::{BatchConfig, WORKER_OVERHEAD_MB};

impl BatchCompute {
    /// The job definition for a step's resources: found or registered once per process.
    pub(super) async fn job_definition(&self, attempt: &Attempt) -> Result<String, String> {
        let (vcpus, memory, timeout) = resources(&self.inner.config, attempt);
        self.job_definition_for(vcpus, memory, timeout).await
    }

    /// The ARN of the configured job queue (EventBridge rules name queues by ARN).
    pub async fn queue_arn(&self) -> Result<String, String> {
        let queue = &self.inner.config.queue;
        if queue.starts_with("arn:") {
            return Ok(queue.clone());
        }
        let out = self
            .inner
            .client
            .describe_job_queues()
            .job_queues(queue)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "reading AWS Batch job queue `{queue}` failed: {}",
                    aws_sdk_batch::error::DisplayErrorContext(e)
                )
            })?;
        out.job_queues()
            .iter()
            .find(|q| q.job_queue_name() == Some(queue.as_str()))
            .and_then(|q| q.job_queue_arn().map(str::to_string))
            .ok_or_else(|| format!("there is no AWS Batch job queue `{queue}`"))
    }

    /// The job definition (its ARN) for `vcpus`, `memory` MiB and an attempt duration of
    /// `timeout` seconds, running `wflow worker` in the configured image as the job role: found
    /// or registered once per process. Named `<prefix>-<hash of all of these>`.
    pub async fn job_definition_for(
        &self,
        vcpus: u32,
        memory: u32,
        timeout: Option<i32>,
    ) -> Result<String, String> {
        let inner = &self.inner;
        let c = &inner.config;
        let fingerprint = format!(
            "{}\n{}\n{vcpus}\n{memory}\n{timeout:?}",
            c.image,
            c.job_role.as_deref().unwrap_or("")
        );
        let hash = blake3::hash(fingerprint.as_bytes()).to_hex();
        let name = format!("{}-{}", c.job_definition_prefix, &hash[..16]);
        let mut known = inner.definitions.lock().await;
        if let Some(arn) = known.get(&name) {
            return Ok(arn.clone());
        }
        ApiCounters::add(&inner.counters.describe_job_definitions);
        let found = inner
            .client
            .describe_job_definitions()
            .job_definition_name(&name)
            .status("ACTIVE")
            .send()
            .await
            .map_err(|e| {
                format!(
                    "reading AWS Batch job definitions failed: {}",
                    aws_sdk_batch::error::DisplayErrorContext(e)
                )
            })?;
        let existing = found
            .job_definitions()
            .iter()
            .max_by_key(|d| d.revision())
            .and_then(|d| d.job_definition_arn().map(str::to_string));
        let arn = match existing {
            Some(arn) => arn,
            None => {
                let requirement = |t: ResourceType, v: String| {
                    ResourceRequirement::builder().r#type(t).value(v).build()
                };
                let mut props = ContainerProperties::builder()
                    .image(&c.image)
                    .command("wflow")
                    .command("worker")
                    .resource_requirements(requirement(ResourceType::Vcpu, vcpus.to_string()))
                    .resource_requirements(requirement(ResourceType::Memory, memory.to_string()));
                if let Some(role) = &c.job_role {
                    props = props.job_role_arn(role);
                }
                let mut register = inner
                    .client
                    .register_job_definition()
                    .job_definition_name(&name)
                    .r#type(JobDefinitionType::Container)
                    .container_properties(props.build());
                if let Some(t) = timeout {
                    register =
                        register.timeout(JobTimeout::builder().attempt_duration_seconds(t).build());
                }
                ApiCounters::add(&inner.counters.register_job_definition);
                register
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "registering AWS Batch job definition `{name}` failed: {}",
                            aws_sdk_batch::error::DisplayErrorContext(e)
                        )
                    })?
                    .job_definition_arn()
                    .map(str::to_string)
                    .ok_or_else(|| format!("registering `{name}` returned no ARN"))?
            }
        };
        known.insert(name, arn.clone());
        Ok(arn)
    }
}

/// vCPUs, memory (MiB) and attempt duration (s) of a step's jobs.
pub(super) fn resources(c: &BatchConfig, a: &Attempt) -> (u32, u32, Option<i32>) {
    step_resources(c, &a.step, a.input.sandbox.timeout)
}

/// vCPUs, memory (MiB) and attempt duration (s) of the jobs of `step`, whose sandbox (as the
/// policy resolved it) has `timeout`.
pub fn step_resources(
    c: &BatchConfig,
    step: &StepSpec,
    timeout: Option<Duration>,
) -> (u32, u32, Option<i32>) {
    let vcpus = step.cpu.unwrap_or(1).max(1);
    let memory = step.memory_mb.map_or(c.default_memory_mb, |m| {
        m.saturating_add(WORKER_OVERHEAD_MB)
    });
    // The sandbox enforces the step's own timeout; Batch's is the backstop, with room for the
    // worker to start and to write its outputs. AWS takes at least 60 s.
    let timeout =
        timeout.map(|t| (t.as_secs().saturating_add(120)).clamp(60, i32::MAX as u64) as i32);
    (vcpus, memory, timeout)
}
