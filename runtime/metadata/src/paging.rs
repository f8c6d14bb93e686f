//! A page of the tasks of one step — filtered by status, sorted, cut with limit and offset — so a
//! step of a 100,000-task foreach is shown 100 tasks at a time without reading every record.
//!
//! The order is defined once here: [`TaskQuery::apply`] sorts records in memory (any backend),
//! and [`TaskQuery::order_by`] says the same in SQL, for SQLite (which sorts within its
//! `(run_id, step)` index and decodes only the page) and the metadata service's PostgreSQL.

use std::fmt;
use std::str::FromStr;

use crate::{Status, TaskRecord};

/// Foreach levels an item sort compares (deeper nesting than this ties, then goes by task id).
pub const ITEM_SORT_DEPTH: usize = 8;

/// What the tasks of a step are sorted by (every order ends with the task id, so it is total).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TaskSort {
    /// Task id (the order tasks were created in).
    #[default]
    Task,
    /// Foreach item (its path, outermost index first).
    Item,
    /// Status by name: failed, running, succeeded.
    Status,
    /// Start time.
    Started,
    /// Duration; running tasks last.
    Duration,
    /// Attempts started.
    Attempts,
}

impl TaskSort {
    /// Every sort, in the order the UI lists them.
    pub const ALL: [TaskSort; 6] = [
        TaskSort::Task,
        TaskSort::Item,
        TaskSort::Status,
        TaskSort::Started,
        TaskSort::Duration,
        TaskSort::Attempts,
    ];

    /// Its name in a URL: `task`, `item`, `status`, `started`, `duration`, `attempts`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TaskSort::Task => "task",
            TaskSort::Item => "item",
            TaskSort::Status => "status",
            TaskSort::Started => "started",
            TaskSort::Duration => "duration",
            TaskSort::Attempts => "attempts",
        }
    }
}

impl fmt::Display for TaskSort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a [`TaskSort`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a task order (expected task, item, status, started, duration or attempts)")]
pub struct TaskSortError(pub String);

impl FromStr for TaskSort {
    type Err = TaskSortError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskSort::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| TaskSortError(s.to_string()))
    }
}

/// Which tasks of a step, in which order, which page (see
/// [`MetadataStore::step_tasks`](crate::MetadataStore::step_tasks)). The default is every task
/// by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskQuery {
    /// Only tasks with this status.
    pub status: Option<Status>,
    /// The order.
    pub sort: TaskSort,
    /// Reversed (the whole order, task id included).
    pub desc: bool,
    /// At most this many.
    pub limit: Option<usize>,
    /// Skip this many first.
    pub offset: usize,
}

/// Where a running task's duration sorts: after every finished one.
const RUNNING: i64 = i64::MAX;

impl TaskQuery {
    /// Filters, sorts and cuts `tasks` (the tasks of one step) in memory, exactly as
    /// [`order_by`](Self::order_by) has SQL do it.
    pub fn apply(&self, mut tasks: Vec<TaskRecord>) -> Vec<TaskRecord> {
        if let Some(s) = self.status {
            tasks.retain(|t| t.status == s);
        }
        let key = |t: &TaskRecord| -> (i64, &'static str) {
            match self.sort {
                TaskSort::Status => (0, t.status.as_str()),
                TaskSort::Started => (t.started_ms, ""),
                TaskSort::Duration => (t.finished_ms.map_or(RUNNING, |f| f - t.started_ms), ""),
                TaskSort::Attempts => (i64::from(t.attempts), ""),
                TaskSort::Task | TaskSort::Item => (0, ""),
            }
        };
        fn item(t: &TaskRecord) -> &[u32] {
            &t.foreach_path[..t.foreach_path.len().min(ITEM_SORT_DEPTH)]
        }
        tasks.sort_by(|a, b| {
            let first = if self.sort == TaskSort::Item {
                item(a).cmp(item(b))
            } else {
                key(a).cmp(&key(b))
            };
            let o = first.then(a.task_id.cmp(&b.task_id));
            if self.desc { o.reverse() } else { o }
        });
        tasks
            .into_iter()
            .skip(self.offset)
            .take(self.limit.unwrap_or(usize::MAX))
            .collect()
    }

    /// The SQL `ORDER BY …` of the query, over the columns of the `tasks` table; `item(i)` is
    /// the SQL of index `i` of the JSON array in `foreach_path` (NULL past its end), which each
    /// database spells its own way, and `depth` how many levels an item sort compares (the
    /// tasks of a step all have the path length of the foreach depth around it: give that, at
    /// most [`ITEM_SORT_DEPTH`], to spare the database the levels that are not there). The same
    /// SQL for SQLite and PostgreSQL otherwise; the status filter is the caller's `WHERE`, the
    /// limit and offset its own.
    pub fn order_by(&self, item: impl Fn(usize) -> String, depth: usize) -> String {
        let dir = if self.desc { " DESC" } else { "" };
        // A shorter path first, as in memory: NULLs first ascending, last descending.
        let nulls = if self.desc {
            " NULLS LAST"
        } else {
            " NULLS FIRST"
        };
        let mut terms: Vec<String> = match self.sort {
            TaskSort::Task => vec![],
            TaskSort::Item => (0..depth.min(ITEM_SORT_DEPTH))
                .map(|i| format!("{}{dir}{nulls}", item(i)))
                .collect(),
            TaskSort::Status => vec![format!("status{dir}")],
            TaskSort::Started => vec![format!("started_ms{dir}")],
            TaskSort::Duration => vec![format!(
                "COALESCE(finished_ms - started_ms, {RUNNING}){dir}"
            )],
            TaskSort::Attempts => vec![format!("attempts{dir}")],
        };
        terms.push(format!("task_id{dir}"));
        format!("ORDER BY {}", terms.join(", "))
    }
}
