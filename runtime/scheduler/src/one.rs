//! One task run here to its end, with no run loop around it: what each worker of a deployed run
//! (AWS Step Functions driving AWS Batch jobs, `wflow deploy`) does. Its attempts, retries with
//! backoff, `catch`, items and records are exactly the run loop's ([`execute`]); only the task's
//! place (id, inputs, foreach path) comes from the caller instead of the ready queue.

use std::collections::BTreeMap;
use std::sync::Arc;

use wflow_core::{Digest, now_millis};
use wflow_engine::Value;
use wflow_graph::Plan;
use wflow_metadata::{Event, Recorder};
use wflow_store::{ArtifactRef, Cas};

use crate::budget::TaskBudget;
use crate::compute::{Attempt, Local};
use crate::execute::{Failed, Job, execute};
use crate::resume::record_items;

/// A task to run (its attempt 0 fully formed) and where it sits.
pub struct OneTask {
    /// Attempt 0 of the task.
    pub attempt: Attempt,
    /// The ids of the tasks whose outputs it reads (recorded with its start).
    pub input_tasks: Vec<u64>,
    /// The run's plan (for the task budget of a foreach's items).
    pub plan: Plan,
    /// The policy's `max_tasks_per_run`, for a foreach's items.
    pub max_tasks: u64,
}

/// How a task ended.
#[derive(Debug)]
pub enum TaskEnd {
    /// It succeeded (possibly through `catch`).
    Succeeded {
        /// Its output artifacts.
        artifacts: BTreeMap<String, ArtifactRef>,
        /// A foreach's items, and the digest of the blob that keeps them (`None` if it could
        /// not be written).
        items: Option<(Vec<Value>, Option<Digest>)>,
        /// The successor a switch step chose.
        next: Option<String>,
    },
    /// Its last attempt failed.
    Failed {
        /// Why.
        message: String,
        /// The last lines of its stderr.
        stderr_tail: String,
    },
}

/// Runs `task` in this process and records it (start, attempts, logs, manifest, items, end)
/// through `recorder`, as a run loop would.
pub async fn run_one_task(task: OneTask, cas: Arc<Cas>, recorder: Arc<Recorder>) -> TaskEnd {
    let OneTask {
        attempt,
        input_tasks,
        plan,
        max_tasks,
    } = task;
    let (run_id, task_id) = (attempt.input.run_id.clone(), attempt.input.task_id);
    recorder.send(Event::TaskStarted {
        run_id: run_id.clone(),
        task_id,
        step: attempt.input.step.clone(),
        foreach_path: attempt.input.foreach_path.clone(),
        inputs: input_tasks,
        started_ms: now_millis(),
    });
    recorder.send(Event::AttemptStarted {
        run_id: run_id.clone(),
        task_id,
        attempt: 0,
        started_ms: now_millis(),
    });
    let compute: Arc<dyn crate::Compute> = Arc::new(Local);
    let first = compute
        .start(&cas, vec![attempt.clone()])
        .await
        .pop()
        .expect("one attempt launched");
    let result = execute(Job {
        compute,
        cas: cas.clone(),
        recorder: recorder.clone(),
        attempt,
        first: Some(first),
        notify: Arc::new(|_| {}),
        budget: Arc::new(TaskBudget::new(&plan, max_tasks)),
    })
    .await;
    match result.outcome {
        Ok(done) => {
            let items = done.items.map(|items| {
                let digest = record_items(&cas, &recorder, &run_id, task_id, Some(&items));
                (items, digest)
            });
            TaskEnd::Succeeded {
                artifacts: done.artifacts.to_map(),
                items,
                next: done.next,
            }
        }
        Err(Failed {
            failure,
            stderr_tail,
            ..
        }) => TaskEnd::Failed {
            message: failure.to_string(),
            stderr_tail,
        },
    }
}
