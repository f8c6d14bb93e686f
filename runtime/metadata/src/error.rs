//! The one error type of this crate; every variant names the database file and the culprit.

use std::path::{Path, PathBuf};

/// `Result` with [`MetadataError`] as the default error.
pub type Result<T, E = MetadataError> = std::result::Result<T, E>;

/// Something went wrong opening, writing or reading the metadata database.
///
/// Every variant carries the path of the database file so a message read in a log on its own says
/// which file is at fault, and the records involved (run id, task id, attempt) when there are any.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// The directory that should hold the database file does not exist (it is not created).
    #[error(
        "cannot open metadata database {path}: its directory {parent} does not exist",
        path = .path.display(),
        parent = .parent.display()
    )]
    MissingParent {
        /// The database file.
        path: PathBuf,
        /// Its parent directory.
        parent: PathBuf,
    },
    /// The file exists but is not an SQLite database (or is encrypted or damaged beyond reading).
    #[error("{path} is not a wflow metadata database: the file is not SQLite", path = .path.display())]
    NotADatabase {
        /// The file.
        path: PathBuf,
    },
    /// The database was written by a newer wflow whose schema this version does not know.
    #[error(
        "metadata database {path} has schema version {found}, but this wflow supports up to \
         version {supported}; upgrade wflow to read it",
        path = .path.display()
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The version found in the file (`PRAGMA user_version`).
        found: i64,
        /// The newest version this crate knows.
        supported: i64,
    },
    /// An event refers to a run that was never started.
    #[error("metadata database {path}: run `{run_id}` is not recorded", path = .path.display())]
    UnknownRun {
        /// The database file.
        path: PathBuf,
        /// The run.
        run_id: String,
    },
    /// An event refers to a task that was never started.
    #[error(
        "metadata database {path}: task {task_id} of run `{run_id}` is not recorded",
        path = .path.display()
    )]
    UnknownTask {
        /// The database file.
        path: PathBuf,
        /// The run.
        run_id: String,
        /// The task.
        task_id: u64,
    },
    /// An event refers to an attempt that was never started.
    #[error(
        "metadata database {path}: attempt {attempt} of task {task_id} of run `{run_id}` is not \
         recorded",
        path = .path.display()
    )]
    UnknownAttempt {
        /// The database file.
        path: PathBuf,
        /// The run.
        run_id: String,
        /// The task.
        task_id: u64,
        /// The attempt.
        attempt: u32,
    },
    /// A start event for a run, task or attempt that is already recorded.
    #[error("metadata database {path}: {what} is already recorded", path = .path.display())]
    AlreadyRecorded {
        /// The database file.
        path: PathBuf,
        /// What was started twice, e.g. "task 3 of run `R`".
        what: String,
    },
    /// A tag that is not one (empty, too long, control characters).
    #[error("`{tag}` is not a valid tag: {reason}")]
    InvalidTag {
        /// The database file.
        path: PathBuf,
        /// The tag given.
        tag: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored value cannot be read back (edited by hand or damaged).
    #[error("metadata database {path}: corrupt {what}: {reason}", path = .path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// The value, e.g. "`component` of run `R`".
        what: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The background writer of a [`Recorder`](crate::Recorder) stopped (it panicked).
    #[error(
        "the metadata writer thread for {path} stopped; events sent since were not recorded",
        path = .path.display()
    )]
    WriterStopped {
        /// The database file.
        path: PathBuf,
    },
    /// Reading or writing a record object in a store failed (records kept as objects, e.g. on
    /// S3: see [`ObjectMetadata`](crate::ObjectMetadata)).
    #[error("records in {path}: {action}: {source}", path = .path.display())]
    Store {
        /// Where the records are (the URL of their prefix).
        path: PathBuf,
        /// What was being done, e.g. "writing `records-v1/runs/R`".
        action: String,
        /// The store's error (it names the object and, on S3, the endpoint).
        #[source]
        source: wflow_store::StoreError,
    },
    /// The metadata service (`wflow server`) could not be reached, or failed on its side
    /// (database down, internal error). Nothing of the request was recorded.
    #[error("metadata service {path}: {action}: {message}", path = .path.display())]
    Service {
        /// The service's URL.
        path: PathBuf,
        /// What was being done, e.g. "recording events".
        action: String,
        /// What went wrong.
        message: String,
    },
    /// The metadata service could not be reached, or said it cannot work now (its database is
    /// down: 503), even after a few tries. Nothing of the request was recorded, so the same
    /// request may be sent again later (the [`Recorder`](crate::Recorder) does, in order).
    #[error("metadata service {path}: {action}: {message}", path = .path.display())]
    Unavailable {
        /// The service's URL.
        path: PathBuf,
        /// What was being done, e.g. "recording events".
        action: String,
        /// What went wrong.
        message: String,
    },
    /// The metadata service refused the request: no or a wrong token (401), or an action the
    /// token's user may not take (403). Nothing was recorded.
    #[error("metadata service {path}: {message}", path = .path.display())]
    Denied {
        /// The service's URL.
        path: PathBuf,
        /// The HTTP status (401 or 403).
        status: u16,
        /// The service's explanation.
        message: String,
    },
    /// This client and the metadata service speak different protocol versions.
    #[error("metadata service {path}: {message}", path = .path.display())]
    Protocol {
        /// The service's URL.
        path: PathBuf,
        /// Which versions, and which side to upgrade.
        message: String,
    },
    /// These records cannot do what was asked (a backend without deletion).
    #[error("records in {path} cannot {action}", path = .path.display())]
    Unsupported {
        /// Where the records are.
        path: PathBuf,
        /// What they were asked to do.
        action: &'static str,
    },
    /// Any other SQLite failure (I/O error, disk full, lock held longer than the busy timeout...).
    #[error("metadata database {path}: {action}: {source}", path = .path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What was being done, e.g. "reading the tasks of run `R`".
        action: String,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
}

impl MetadataError {
    /// Whether the records could not be reached for now ([`MetadataError::Unavailable`]):
    /// nothing was recorded, and the same request may succeed later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, MetadataError::Unavailable { .. })
    }

    /// The database file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            MetadataError::MissingParent { path, .. }
            | MetadataError::NotADatabase { path }
            | MetadataError::SchemaTooNew { path, .. }
            | MetadataError::UnknownRun { path, .. }
            | MetadataError::UnknownTask { path, .. }
            | MetadataError::UnknownAttempt { path, .. }
            | MetadataError::AlreadyRecorded { path, .. }
            | MetadataError::Corrupt { path, .. }
            | MetadataError::InvalidTag { path, .. }
            | MetadataError::WriterStopped { path }
            | MetadataError::Store { path, .. }
            | MetadataError::Service { path, .. }
            | MetadataError::Unavailable { path, .. }
            | MetadataError::Denied { path, .. }
            | MetadataError::Protocol { path, .. }
            | MetadataError::Unsupported { path, .. }
            | MetadataError::Sqlite { path, .. } => path,
        }
    }

    /// Wraps an SQLite error raised while doing `action` on the database at `path`, recognising
    /// a file that is not a database.
    pub(crate) fn sqlite(path: &Path, action: impl Into<String>, source: rusqlite::Error) -> Self {
        if source.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) {
            return MetadataError::NotADatabase {
                path: path.to_path_buf(),
            };
        }
        MetadataError::Sqlite {
            path: path.to_path_buf(),
            action: action.into(),
            source,
        }
    }

    /// A stored value that does not parse.
    pub(crate) fn corrupt(path: &Path, what: impl Into<String>, reason: impl ToString) -> Self {
        MetadataError::Corrupt {
            path: path.to_path_buf(),
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file_and_the_culprit() {
        let e = MetadataError::SchemaTooNew {
            path: "/x/meta.db".into(),
            found: 9,
            supported: 1,
        };
        let msg = e.to_string();
        assert!(
            msg.contains("/x/meta.db") && msg.contains('9') && msg.contains("upgrade"),
            "{msg}"
        );
        assert_eq!(e.path(), Path::new("/x/meta.db"));

        let e = MetadataError::UnknownTask {
            path: "m.db".into(),
            run_id: "R".into(),
            task_id: 7,
        };
        assert_eq!(
            e.to_string(),
            "metadata database m.db: task 7 of run `R` is not recorded"
        );
    }
}
