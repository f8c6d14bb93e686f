//! [`StoreError`], the one error type of this crate, and its [`Result`] alias.
//!
//! Every variant names its culprit (a digest, a store key or a path) so that a message printed on
//! its own tells the user what to look at. Variants that wrap an [`io::Error`] repeat its text in
//! their message, because the message often travels alone (for example into a guest's `store`
//! error).

use std::io;
use std::path::PathBuf;

use wflow_core::Digest;

use crate::Cas;

/// The result of every fallible operation of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything that can go wrong in the artifact store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No blob with this digest is in the store.
    #[error(
        "blob {digest} is not in the store (looked for key {})",
        Cas::blob_key(digest)
    )]
    NotFound {
        /// The digest asked for.
        digest: Digest,
    },

    /// A stored blob's bytes no longer hash to its digest (disk corruption or tampering).
    #[error("blob {digest} is corrupt: its content no longer matches its hash (key {key})")]
    Corrupt {
        /// The digest the blob should have.
        digest: Digest,
        /// The key it is stored under.
        key: String,
    },

    /// A value stored inline in a manifest no longer hashes to the digest its reference records.
    #[error(
        "artifact value {digest} stored inline in a manifest is corrupt: its bytes no longer match \
         its hash"
    )]
    InlineCorrupt {
        /// The digest the value should have.
        digest: Digest,
    },

    /// The bytes hash to the right digest but their length differs from the size an
    /// [`ArtifactRef`](crate::ArtifactRef) records: the reference (and so its manifest) is wrong.
    #[error(
        "artifact {digest} should be {expected} bytes long according to its reference, but the \
         stored value is {actual} bytes: the manifest holding the reference is corrupt"
    )]
    SizeMismatch {
        /// The digest of the value.
        digest: Digest,
        /// The size the reference records.
        expected: u64,
        /// The size of the stored value.
        actual: u64,
    },

    /// The store root, or one of its ancestors, exists and is not a directory.
    #[error("{} is not a directory, so no store can be opened at or under it", path.display())]
    NotADirectory {
        /// The file in the way.
        path: PathBuf,
    },

    /// The store directory cannot be created or written.
    #[error("cannot create or write to the store directory {}: {source}", path.display())]
    NotWritable {
        /// The directory that could not be created or written.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },

    /// Reading or writing a file or an object failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file, directory or store key involved.
        path: String,
        /// What the operating system (or the remote store) said.
        source: io::Error,
    },

    /// A stored manifest does not decode, or has a version this crate does not read.
    #[error("manifest {digest} cannot be read: {reason}")]
    BadManifest {
        /// The manifest's digest.
        digest: Digest,
        /// Why it was rejected.
        reason: String,
    },

    /// A manifest cannot be stored (it does not encode, or has an unsupported version).
    #[error("cannot store manifest: {reason}")]
    InvalidManifest {
        /// Why it was rejected.
        reason: String,
    },

    /// The backend cannot do what was asked (for example delete objects, which only garbage
    /// collection does).
    #[error("{backend} cannot {action}")]
    Unsupported {
        /// The backend, as [`BlobStore::summary`](crate::BlobStore::summary) names it.
        backend: String,
        /// What it was asked to do.
        action: &'static str,
    },

    /// A store key (or list prefix) is not a relative `/`-separated path.
    #[error("invalid store key `{key}`: {reason}")]
    InvalidKey {
        /// The key given.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl StoreError {
    /// An [`StoreError::Io`] naming `path` (a file, a directory or a key).
    pub fn io(path: impl std::fmt::Display, source: io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_string(),
            source,
        }
    }

    /// True for [`StoreError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    /// True when stored bytes failed verification: [`StoreError::Corrupt`],
    /// [`StoreError::InlineCorrupt`] or [`StoreError::SizeMismatch`].
    pub fn is_corrupt(&self) -> bool {
        matches!(
            self,
            StoreError::Corrupt { .. }
                | StoreError::InlineCorrupt { .. }
                | StoreError::SizeMismatch { .. }
        )
    }

    /// The store error carried inside an [`io::Error`], as returned by
    /// [`BlobReader`](crate::BlobReader)'s `read` when verification fails.
    pub fn from_io(err: &io::Error) -> Option<&StoreError> {
        err.get_ref()?.downcast_ref::<StoreError>()
    }
}

impl From<StoreError> for io::Error {
    /// Wraps the error so that [`StoreError::from_io`] finds it again. Corruption maps to
    /// [`io::ErrorKind::InvalidData`], a missing blob to [`io::ErrorKind::NotFound`].
    fn from(err: StoreError) -> io::Error {
        let kind = match &err {
            e if e.is_corrupt() => io::ErrorKind::InvalidData,
            StoreError::NotFound { .. } => io::ErrorKind::NotFound,
            StoreError::Io { source, .. } | StoreError::NotWritable { source, .. } => source.kind(),
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_culprit() {
        let digest = Digest::of(b"x");
        let hex = digest.to_string();
        let key = Cas::blob_key(&digest);

        let e = StoreError::NotFound { digest };
        assert!(e.is_not_found() && !e.is_corrupt());
        assert_eq!(
            e.to_string(),
            format!("blob {hex} is not in the store (looked for key {key})")
        );

        let e = StoreError::Corrupt {
            digest,
            key: key.clone(),
        };
        assert!(e.is_corrupt());
        assert_eq!(
            e.to_string(),
            format!("blob {hex} is corrupt: its content no longer matches its hash (key {key})")
        );

        let e = StoreError::NotWritable {
            path: "/x/y".into(),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        assert!(
            e.to_string()
                .starts_with("cannot create or write to the store directory /x/y: ")
        );
        assert!(std::error::Error::source(&e).is_some());

        let e = StoreError::NotADirectory {
            path: "/etc/passwd".into(),
        };
        assert!(e.to_string().starts_with("/etc/passwd is not a directory"));

        let e = StoreError::InvalidKey {
            key: "../x".into(),
            reason: "no `..`",
        };
        assert_eq!(e.to_string(), "invalid store key `../x`: no `..`");
    }

    #[test]
    fn round_trips_through_io_error() {
        let digest = Digest::of(b"y");
        let io_err: io::Error = StoreError::Corrupt {
            digest,
            key: "k".into(),
        }
        .into();
        assert_eq!(io_err.kind(), io::ErrorKind::InvalidData);
        let back = StoreError::from_io(&io_err).expect("a store error inside");
        assert!(matches!(back, StoreError::Corrupt { digest: d, .. } if *d == digest));

        let io_err: io::Error = StoreError::NotFound { digest }.into();
        assert_eq!(io_err.kind(), io::ErrorKind::NotFound);
        assert!(StoreError::from_io(&io::Error::other("plain")).is_none());
    }
}
