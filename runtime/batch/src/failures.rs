//! Explaining a failed job: from Batch's reasons when its worker left no report, and a success
//! report under a failed job.

use wflow_scheduler::AttemptReport;

/// The report of a job Batch says FAILED. A worker whose job failed never wrote a success (it
/// writes its report last, and refuses a key someone else wrote first), so a success there was
/// not written by it: the attempt failed.
pub(crate) fn not_a_success(report: AttemptReport, job: &str) -> AttemptReport {
    if report.result.is_ok() {
        AttemptReport::compute_failure(
            format!(
                "the Batch job {job} failed, yet the store holds a report saying the attempt \
                 succeeded: it was not written by the job's worker (something else writes to \
                 the store's `tasks-v1/` prefix); its outputs are not used"
            ),
            false,
        )
    } else {
        report
    }
}

/// Why a job that left no report failed, from Batch's `statusReason` and the container's
/// `reason`; and whether it is an infrastructure failure (retried apart from the step's
/// `retries`).
pub fn explain_failure(
    status_reason: Option<&str>,
    container_reason: Option<&str>,
    memory_mb: u32,
    timeout_secs: Option<u32>,
) -> (String, bool) {
    let status = status_reason.unwrap_or("");
    let container = container_reason.unwrap_or("");
    let both = format!("{status} {container}");
    let lower = both.to_lowercase();
    if lower.contains("outofmemory") || lower.contains("out of memory") {
        return (
            format!(
                "the Batch container was killed for using more than its {memory_mb} MiB of memory ({}); raise the step's `memory` setting",
                both.trim()
            ),
            false,
        );
    }
    if lower.contains("attempt duration exceeded") || lower.contains("timeout") {
        let limit =
            timeout_secs.map_or_else(String::new, |t| format!(" (the step's timeout is {t} s)"));
        return (
            format!(
                "the Batch job ran past its attempt duration and was stopped{limit}: {}",
                both.trim()
            ),
            false,
        );
    }
    if lower.contains("host ec2") && lower.contains("terminated")
        || lower.contains("spot")
        || lower.contains("instance terminated")
    {
        return (
            format!(
                "the host running the Batch job went away (spot reclaim or host termination): {}",
                both.trim()
            ),
            true,
        );
    }
    if lower.contains("terminated by wflow") {
        return (
            format!("the Batch job was terminated: {}", both.trim()),
            false,
        );
    }
    let why = if both.trim().is_empty() {
        "no reason given".to_string()
    } else {
        both.trim().to_string()
    };
    (
        format!(
            "the Batch job failed before its worker reported anything ({why}); see the job's log stream"
        ),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_explained() {
        let (m, infra) = explain_failure(
            Some("Essential container in task exited"),
            Some("OutOfMemoryError: Container killed due to memory usage"),
            512,
            None,
        );
        assert!(
            m.contains("512 MiB") && m.contains("memory") && !infra,
            "{m}"
        );
        let (m, infra) = explain_failure(
            Some("Job attempt duration exceeded timeout"),
            None,
            512,
            Some(30),
        );
        assert!(m.contains("30 s") && !infra, "{m}");
        let (m, infra) = explain_failure(
            Some("Host EC2 (instance i-0123) terminated."),
            None,
            512,
            None,
        );
        assert!(m.contains("spot reclaim") && infra, "{m}");
        let (m, infra) = explain_failure(None, None, 512, None);
        assert!(m.contains("no reason given") && !infra, "{m}");
    }
}
