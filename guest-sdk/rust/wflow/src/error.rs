//! The SDK's error type: a message and a kind, convertible from every error a step meets.

use std::fmt;

/// `Result` with [`Error`] as the default error type; what steps return.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error a `catch = "name"` step keeps as artifact `name` when it still fails after its
/// retries (the flow goes on): read it in a later step as `Artifact<wflow::Caught>`.
///
/// ```
/// let bytes = wflow::encode(&wflow::Caught {
///     kind: "error".into(),
///     message: "step error: the fit did not converge".into(),
///     attempts: 3,
/// })?;
/// let caught: wflow::Caught = wflow::decode(&bytes)?;
/// assert!(caught.is("error") && caught.attempts == 3);
/// # Ok::<(), wflow::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Caught {
    /// How the step failed: `error` (it returned `Err`), `panic`, `trap`, `out-of-memory`,
    /// `timeout`, `limit`, `host` or `compute`.
    pub kind: String,
    /// The failure, as the run's records show it.
    pub message: String,
    /// How many attempts were made.
    pub attempts: u64,
}

impl Caught {
    /// True when the step failed this way (`"error"`, `"panic"`, `"timeout"`, …).
    pub fn is(&self, kind: &str) -> bool {
        self.kind == kind
    }
}

impl fmt::Display for Caught {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.attempts == 1 { "" } else { "s" };
        write!(
            f,
            "{} after {} attempt{s}: {}",
            self.kind, self.attempts, self.message
        )
    }
}

/// What went wrong, broadly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No artifact of that name is visible (host `not-found`).
    NotFound,
    /// The request does not fit this task (host `invalid`), for example an input index out of range.
    Invalid,
    /// The host's store failed (host `store`).
    Store,
    /// A value could not be encoded or decoded.
    Codec,
    /// Anything else: an error of the step's own code.
    Other,
}

/// An error of a step or of the SDK: a message and an [`ErrorKind`].
///
/// Every error type a step commonly meets converts into it with `?` (codec and host errors,
/// `std::io::Error`, number parsing errors, `String`, `&str`, boxed errors); anything else that
/// implements `Display` converts with [`Error::msg`] or [`Context::context`]. When a step returns an
/// `Err`, its message becomes the step's `step-error`.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of kind [`ErrorKind::Other`] with this message.
    pub fn msg(message: impl fmt::Display) -> Error {
        Error {
            kind: ErrorKind::Other,
            message: message.to_string(),
        }
    }

    /// An error of the given kind.
    pub fn new(kind: ErrorKind, message: impl fmt::Display) -> Error {
        Error {
            kind,
            message: message.to_string(),
        }
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// True if the error says that an artifact does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with `context` put in front of its message (`context: message`).
    pub fn context(self, context: impl fmt::Display) -> Error {
        Error {
            kind: self.kind,
            message: format!("{context}: {}", self.message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?}: {:?})", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(message: String) -> Error {
        Error::msg(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Error {
        Error::msg(message)
    }
}

impl From<Box<dyn std::error::Error + Send + Sync>> for Error {
    fn from(e: Box<dyn std::error::Error + Send + Sync>) -> Error {
        Error::msg(e)
    }
}

impl From<Box<dyn std::error::Error>> for Error {
    fn from(e: Box<dyn std::error::Error>) -> Error {
        Error::msg(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        // An I/O error wrapping one of ours (from an artifact reader or writer) keeps its kind.
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            let inner = e.into_inner().expect("checked above");
            return *inner.downcast::<Error>().expect("checked above");
        }
        Error::msg(e)
    }
}

impl From<ciborium::ser::Error<std::io::Error>> for Error {
    fn from(e: ciborium::ser::Error<std::io::Error>) -> Error {
        Error::new(
            ErrorKind::Codec,
            format_args!("cannot encode value as CBOR: {e}"),
        )
    }
}

impl From<ciborium::de::Error<std::io::Error>> for Error {
    fn from(e: ciborium::de::Error<std::io::Error>) -> Error {
        let detail = match &e {
            ciborium::de::Error::Semantic(_, msg) => msg.clone(),
            other => other.to_string(),
        };
        Error::new(
            ErrorKind::Codec,
            format_args!("cannot decode CBOR value: {detail}"),
        )
    }
}

#[cfg(feature = "json")]
impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::new(ErrorKind::Codec, format_args!("JSON: {e}"))
    }
}

macro_rules! from_display {
    ($($ty:ty),* $(,)?) => {$(
        impl From<$ty> for Error {
            fn from(e: $ty) -> Error {
                Error::msg(e)
            }
        }
    )*};
}

from_display!(
    std::fmt::Error,
    std::num::ParseIntError,
    std::num::ParseFloatError,
    std::num::TryFromIntError,
    std::str::ParseBoolError,
    std::str::Utf8Error,
    std::string::FromUtf8Error,
);

impl From<crate::host::HostError> for Error {
    fn from(e: crate::host::HostError) -> Error {
        use crate::host::HostError;
        match e {
            HostError::NotFound(m) => {
                Error::new(ErrorKind::NotFound, format_args!("not found: {m}"))
            }
            HostError::Invalid(m) => {
                Error::new(ErrorKind::Invalid, format_args!("invalid request: {m}"))
            }
            HostError::Store(m) => Error::new(ErrorKind::Store, format_args!("store error: {m}")),
        }
    }
}

/// Adds context to errors and turns `None` into an error: `text.parse::<u32>().context("count")?`.
pub trait Context<T> {
    /// Converts the error (or `None`) into an [`Error`] whose message starts with `context`.
    fn context(self, context: impl fmt::Display) -> Result<T>;

    /// Like [`context`](Context::context), computing the context only on error.
    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::msg(format_args!("{context}: {e}")))
    }

    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| Error::msg(format_args!("{}: {e}", context())))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.ok_or_else(|| Error::msg(context))
    }

    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| Error::msg(context()))
    }
}

/// Returns early with an [`Error`] built like `format!`: `wflow::bail!("bad count {n}")`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)+) => {
        return ::core::result::Result::Err($crate::Error::msg(::std::format!($($arg)+)))
    };
}

/// Returns early with an [`Error`] unless a condition holds: `wflow::ensure!(n > 0, "n must be
/// positive, got {n}")`.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            $crate::bail!($($arg)+);
        }
    };
    ($cond:expr $(,)?) => {
        if !$cond {
            $crate::bail!("condition failed: {}", ::core::stringify!($cond));
        }
    };
}
