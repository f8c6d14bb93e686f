//! A page of the tasks of one step — filtered by status, sorted, cut with limit and offset — so a
//! step of a 100,000-task foreach is shown 100 tasks at a time without reading every record.
//!
//! The order is defined once here: [`TaskQuery::apply`] sorts records in memory (any backend),
//! and [`TaskQuery::order_by_keys`] says the same in SQL over the sort keys both databases index
//! ([`TaskSort::key`]: `item_key`, the [`item_key`] of a task's foreach path, `status`,
//! `started_ms`, [`DURATION_KEY`], `attempts`; each in an index `tasks (<run>, step, key)` then
//! the task id, the run being its key `run` in SQLite (schema version 11) and its id in
//! PostgreSQL; named by [`TaskSort::index`]), so SQLite and the metadata service's PostgreSQL
//! walk an index in the page's order instead of sorting the step's tasks, in every order. A page
//! past the middle is read from the other end ([`TaskQuery::from_the_end`]), so no page walks
//! more than half the step.

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

    /// The SQL of its sort key over the columns of `tasks` (`None`: the task id alone), which
    /// the order compares before the task id.
    pub fn key(&self) -> Option<&'static str> {
        match self {
            TaskSort::Task => None,
            TaskSort::Item => Some("item_key"),
            TaskSort::Status => Some("status"),
            TaskSort::Started => Some("started_ms"),
            TaskSort::Duration => Some(DURATION_KEY),
            TaskSort::Attempts => Some("attempts"),
        }
    }

    /// The index of its order, on `tasks (<run>, step, <key>, task_id)` ([`key`](Self::key);
    /// SQLite's indexes end with the task id implicitly, being on a table keyed by
    /// `(run, task_id)`): the same name in the SQLite file (schema versions 9 to 11; the run is
    /// its integer key `run` from version 11) and in the metadata service's PostgreSQL (versions
    /// 7 and 8, by `run_id`).
    pub fn index(&self) -> &'static str {
        match self {
            TaskSort::Task => "tasks_by_step",
            TaskSort::Item => "tasks_by_item_key",
            TaskSort::Status => "tasks_by_status",
            TaskSort::Started => "tasks_by_started",
            TaskSort::Duration => "tasks_by_duration",
            TaskSort::Attempts => "tasks_by_attempts",
        }
    }

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

/// The SQL of a task's duration as the duration sort orders it (a running task's is
/// `i64::MAX`): the expression both databases index on `tasks (<run>, step, …)`, spelled the
/// same in the index and in [`TaskQuery::order_by_keys`] so the planner matches them.
pub const DURATION_KEY: &str = "COALESCE(finished_ms - started_ms, 9223372036854775807)";

/// A task's item sort key, stored with it (`tasks.item_key`): 8 lowercase hex digits per level
/// of its foreach path, the first [`ITEM_SORT_DEPTH`] levels. Compared as bytes, keys sort as the
/// paths do (outermost index first, a shorter path first); empty outside any foreach.
pub fn item_key(path: &[u32]) -> String {
    use std::fmt::Write;
    let mut key = String::with_capacity(8 * path.len().min(ITEM_SORT_DEPTH));
    for i in &path[..path.len().min(ITEM_SORT_DEPTH)] {
        write!(key, "{i:08x}").expect("writing to a string");
    }
    key
}

impl TaskQuery {
    /// Filters, sorts and cuts `tasks` (the tasks of one step) in memory, exactly as
    /// [`order_by_keys`](Self::order_by_keys) has SQL do it.
    pub fn apply(&self, tasks: Vec<TaskRecord>) -> Vec<TaskRecord> {
        let page: Vec<u64> = self.select(&tasks).iter().map(|t| t.task_id).collect();
        let mut by_id: std::collections::HashMap<u64, TaskRecord> =
            tasks.into_iter().map(|t| (t.task_id, t)).collect();
        page.iter().filter_map(|id| by_id.remove(id)).collect()
    }

    /// [`apply`](Self::apply) over borrowed records: the page's records, nothing copied (what a
    /// backend holding a run's tasks in memory reads a page with).
    pub fn select<'a>(
        &self,
        tasks: impl IntoIterator<Item = &'a TaskRecord>,
    ) -> Vec<&'a TaskRecord> {
        let mut tasks: Vec<&TaskRecord> = tasks
            .into_iter()
            .filter(|t| self.status.is_none_or(|s| t.status == s))
            .collect();
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
        let order = |a: &&TaskRecord, b: &&TaskRecord| {
            let first = if self.sort == TaskSort::Item {
                item(a).cmp(item(b))
            } else {
                key(a).cmp(&key(b))
            };
            let o = first.then(a.task_id.cmp(&b.task_id));
            if self.desc { o.reverse() } else { o }
        };
        // Only the page needs to be in order: partition around its end, then sort what is left.
        let end = self.offset.saturating_add(self.limit.unwrap_or(usize::MAX));
        if end < tasks.len() {
            tasks.select_nth_unstable_by(end, order);
            tasks.truncate(end);
        }
        tasks.sort_unstable_by(order);
        tasks.into_iter().skip(self.offset).collect()
    }

    /// The SQL `ORDER BY …` of the query over the columns of the `tasks` table and its indexed
    /// sort keys ([`TaskSort::key`]): the same SQL for SQLite and PostgreSQL, the status filter
    /// the caller's `WHERE`, the limit and offset its own. Every order is the order of an
    /// index ([`index`](Self::index)).
    pub fn order_by_keys(&self) -> String {
        let dir = if self.desc { " DESC" } else { "" };
        match self.sort.key() {
            Some(f) => format!("ORDER BY {f}{dir}, task_id{dir}"),
            None => format!("ORDER BY task_id{dir}"),
        }
    }

    /// The index a page of the query walks: its order's ([`TaskSort::index`]), but with a
    /// status filter, by task id or status, the status index (its tasks of one status are in
    /// task id order, and it holds the status the filter reads).
    pub fn index(&self) -> &'static str {
        match (self.status, self.sort) {
            (Some(_), TaskSort::Task | TaskSort::Status) => TaskSort::Status.index(),
            (_, sort) => sort.index(),
        }
    }

    /// For a page past the middle of the `total` tasks the query selects: the same page read
    /// from the other end (the order reversed, the offset counted from the end), whose rows come
    /// in reverse; `None` for a page in the first half, or without a limit. Every order is total
    /// (it ends with the task id), so the reversed order is exactly the other end's.
    pub fn from_the_end(&self, total: usize) -> Option<TaskQuery> {
        let limit = self.limit?;
        if self.offset <= total / 2 || self.offset >= total {
            return None;
        }
        let end = self.offset.saturating_add(limit).min(total);
        Some(TaskQuery {
            desc: !self.desc,
            offset: total - end,
            limit: Some(end - self.offset),
            ..self.clone()
        })
    }

    /// The SQL `ORDER BY …` of the query, over the columns of the `tasks` table; `item(i)` is
    /// the SQL of index `i` of the JSON array in `foreach_path` (NULL past its end), which each
    /// database spells its own way, and `depth` how many levels an item sort compares (the
    /// tasks of a step all have the path length of the foreach depth around it: give that, at
    /// most [`ITEM_SORT_DEPTH`], to spare the database the levels that are not there). The same
    /// SQL for SQLite and PostgreSQL otherwise; the status filter is the caller's `WHERE`, the
    /// limit and offset its own. (For a table without the sort keys of
    /// [`order_by_keys`](Self::order_by_keys): this order sorts every task of the step.)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: u64, path: Vec<u32>, started: i64, finished: Option<i64>) -> TaskRecord {
        TaskRecord {
            run_id: "R".into(),
            task_id: id,
            step: "s".into(),
            foreach_path: path,
            inputs: vec![],
            status: if finished.is_some() {
                Status::Succeeded
            } else {
                Status::Running
            },
            started_ms: started,
            finished_ms: finished,
            manifest: None,
            manifest_bytes: None,
            attempts: (id % 3) as u32,
            origin_run: None,
            origin_task: None,
            foreach_items: None,
            component: None,
            cached: false,
            caught: false,
        }
    }

    #[test]
    fn item_keys_sort_as_the_paths_do() {
        let paths: Vec<Vec<u32>> = vec![
            vec![],
            vec![0],
            vec![0, 5],
            vec![2],
            vec![10],
            vec![10, 0],
            vec![255, 1],
            vec![256],
            vec![u32::MAX],
        ];
        for a in &paths {
            for b in &paths {
                assert_eq!(item_key(a).cmp(&item_key(b)), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
        assert_eq!(item_key(&[7, 300]), "000000070000012c");
        assert_eq!(item_key(&[1; 12]).len(), 8 * ITEM_SORT_DEPTH);
    }

    /// Every page read from the other end is the page read from the start.
    #[test]
    fn a_page_from_the_end_is_the_same_page() {
        let tasks: Vec<TaskRecord> = (0..23u64)
            .map(|i| {
                task(
                    i,
                    vec![(i * 7 % 5) as u32],
                    0,
                    (i % 4 != 0).then_some((i % 3) as i64),
                )
            })
            .collect();
        for sort in TaskSort::ALL {
            for desc in [false, true] {
                for limit in [1, 5, 10] {
                    for offset in 0..25 {
                        let q = TaskQuery {
                            sort,
                            desc,
                            limit: Some(limit),
                            offset,
                            status: None,
                        };
                        let want: Vec<u64> =
                            q.apply(tasks.clone()).iter().map(|t| t.task_id).collect();
                        let Some(flipped) = q.from_the_end(tasks.len()) else {
                            assert!(offset <= tasks.len() / 2 || offset >= tasks.len());
                            continue;
                        };
                        let mut got: Vec<u64> = flipped
                            .apply(tasks.clone())
                            .iter()
                            .map(|t| t.task_id)
                            .collect();
                        got.reverse();
                        assert_eq!(got, want, "{q:?}");
                    }
                }
            }
        }
    }
}
