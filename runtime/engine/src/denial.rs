//! What a step's error says when the sandbox refused it a file or a socket: WASI reports a path
//! outside every granted directory as missing ("No such file or directory (os error 44)") and a
//! connection to a destination not granted as "Permission denied (os error 2)", which reads like
//! a bug of the step rather than a capability it did not ask for. For a step granted no directory
//! (or no network destination), every such error is the sandbox's refusal: its text says so.

use std::borrow::Cow;

use wflow_core::Sandbox;

/// Said instead, for a file.
const NO_DIRS: &str = "not granted (ask for `dirs` in the step's capabilities)";
/// Said instead, for a socket.
const NO_NETWORK: &str = "not granted (ask for `network` in the step's capabilities)";

/// The ways a missing file reads: Rust's `Display` and `Debug` of the `io::Error`, Python's.
const MISSING: &[&str] = &[
    "No such file or directory (os error 44)",
    "Os { code: 44, kind: NotFound, message: \"No such file or directory\" }",
    "[Errno 44] No such file or directory",
];

/// The ways a refused connection reads.
const REFUSED: &[&str] = &[
    "Permission denied (os error 2)",
    "Os { code: 2, kind: PermissionDenied, message: \"Permission denied\" }",
    "[Errno 2] Permission denied",
];

/// `message`, with the sandbox's refusals named as such for a step that asked for no directory
/// or no network destination.
pub(crate) fn explain<'m>(message: &'m str, sb: &Sandbox) -> Cow<'m, str> {
    let mut out = Cow::Borrowed(message);
    for (granted, texts, said) in [
        (!sb.dirs.is_empty(), MISSING, NO_DIRS),
        (!sb.network.is_empty(), REFUSED, NO_NETWORK),
    ] {
        if granted {
            continue;
        }
        for text in texts {
            if out.contains(text) {
                out = Cow::Owned(out.replace(text, said));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_named_only_without_the_grant() {
        let none = Sandbox::default();
        let read = "reading /data/x: No such file or directory (os error 44)";
        assert_eq!(
            explain(read, &none),
            "reading /data/x: not granted (ask for `dirs` in the step's capabilities)"
        );
        let panic =
            "connecting: Os { code: 2, kind: PermissionDenied, message: \"Permission denied\" }";
        assert_eq!(
            explain(panic, &none),
            "connecting: not granted (ask for `network` in the step's capabilities)"
        );
        let py = "FileNotFoundError: [Errno 44] No such file or directory: '/data/x'";
        assert!(explain(py, &none).contains("not granted (ask for `dirs`"));
        // With a directory granted, a missing file may really be missing.
        let mut dirs = Sandbox::default();
        dirs.network.push("example.com:443".into());
        dirs.dirs.push(wflow_core::DirGrant {
            host_path: "/tmp".into(),
            guest_path: "/data".into(),
            writable: false,
        });
        assert_eq!(explain(read, &dirs), read);
        assert_eq!(explain(panic, &dirs), panic);
        assert!(matches!(explain("other", &none), Cow::Borrowed(_)));
    }
}
