//! What garbage collection (`wflow gc`) needs of the SQLite file: every attempt of a run in one
//! query, and the removal of runs' records in one transaction.

use rusqlite::{TransactionBehavior, params};

use crate::query::{ATTEMPT_COLUMNS, OF_RUN};
use crate::{AttemptRecord, Metadata, MetadataError, Result};

impl Metadata {
    /// Every attempt of every task of a run, by task then attempt number.
    pub fn attempts_of_run(&self, run_id: &str) -> Result<Vec<AttemptRecord>> {
        let sql = format!(
            "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE {OF_RUN} ORDER BY task_id, attempt"
        );
        let action = || format!("listing the attempts of run `{run_id}`");
        self.select(&sql, params![run_id], action, crate::query::read_attempt)
    }

    /// Removes the records of the runs `run_ids` (their tasks, attempts, cache entries and tags
    /// with them) in one transaction, so a process killed meanwhile removes all of them or none;
    /// returns how many runs were recorded.
    pub fn delete_runs(&self, run_ids: &[String]) -> Result<usize> {
        let mut conn = self.lock();
        let err = |e| MetadataError::sqlite(&self.path, "removing runs", e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut removed = 0;
        for id in run_ids {
            for table in ["attempts", "task_cache", "tasks"] {
                tx.execute(&format!("DELETE FROM {table} WHERE {OF_RUN}"), [id])
                    .map_err(err)?;
            }
            for table in ["tags", "step_summary"] {
                tx.execute(&format!("DELETE FROM {table} WHERE run_id = ?1"), [id])
                    .map_err(err)?;
            }
            removed += tx
                .execute("DELETE FROM runs WHERE run_id = ?1", [id])
                .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Event, Metadata, MetadataStore, Status};

    fn run(meta: &Metadata, id: &str) {
        let ev = |e| meta.record(&[e]).unwrap();
        ev(crate::test_run_started(id));
        for task_id in [1, 2] {
            ev(Event::TaskStarted {
                run_id: id.into(),
                task_id,
                step: "s".into(),
                foreach_path: vec![],
                inputs: vec![],
                started_ms: 1,
            });
            for attempt in [0, 1] {
                ev(Event::AttemptStarted {
                    run_id: id.into(),
                    task_id,
                    attempt,
                    started_ms: 1,
                });
            }
        }
        meta.add_tags(id, &["keep".into()]).unwrap();
        ev(Event::RunFinished {
            run_id: id.into(),
            status: Status::Succeeded,
            finished_ms: 2,
            error: None,
        });
    }

    #[test]
    fn runs_are_removed_with_their_tasks_attempts_and_tags() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Metadata::open(&dir.path().join("m.sqlite")).unwrap();
        run(&meta, "a");
        run(&meta, "b");
        let attempts = MetadataStore::attempts_of_run(&meta, "a").unwrap();
        let order: Vec<(u64, u32)> = attempts.iter().map(|a| (a.task_id, a.attempt)).collect();
        assert_eq!(order, [(1, 0), (1, 1), (2, 0), (2, 1)]);
        let n = MetadataStore::delete_runs(&meta, &["a".into(), "nope".into()]).unwrap();
        assert_eq!(n, 1);
        assert!(meta.run("a").unwrap().is_none());
        assert!(meta.tasks("a").unwrap().is_empty());
        assert!(meta.attempts_of_run("a").unwrap().is_empty());
        assert!(meta.tags("a").unwrap().is_empty());
        assert_eq!(meta.all_tags().unwrap(), [("keep".to_string(), 1)]);
        assert_eq!(meta.tasks("b").unwrap().len(), 2);
        assert_eq!(meta.attempts_of_run("b").unwrap().len(), 4);
    }
}
