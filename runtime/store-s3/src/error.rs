//! Turning SDK errors into [`StoreError`]s that say what to fix.
//!
//! Every error is a [`StoreError::Io`] naming the object (`s3://bucket/key`), wrapping an
//! [`io::Error`] whose kind tells the class (`ConnectionRefused`/`TimedOut`: the endpoint cannot
//! be reached; `PermissionDenied`: credentials or policy; `NotFound`: no such bucket) and whose
//! message names the endpoint, the S3 error code and a hint.

use std::io;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use wflow_store::StoreError;

/// The most characters of the SDK's own description kept in a message.
const MAX_DETAIL_CHARS: usize = 600;

/// What an error is about, for its message.
#[derive(Clone, Debug)]
pub(crate) struct Target<'a> {
    /// `s3://bucket/key` of the object (or prefix) involved.
    pub(crate) url: String,
    /// The endpoint, as the summary shows it.
    pub(crate) endpoint: &'a str,
    /// The bucket.
    pub(crate) bucket: &'a str,
    /// The S3 action, as an IAM policy names it (`s3:PutObject`).
    pub(crate) action: &'static str,
}

/// The HTTP status of a service error, if the server answered.
pub(crate) fn status<E, R>(err: &SdkError<E, R>) -> Option<u16>
where
    R: HasStatus,
{
    match err {
        SdkError::ServiceError(e) => Some(e.raw().status_code()),
        SdkError::ResponseError(e) => Some(e.raw().status_code()),
        _ => None,
    }
}

/// The status code of a raw response (the SDK's `HttpResponse`).
pub(crate) trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Maps an SDK error to a store error naming the target.
pub(crate) fn to_store_error<E>(
    err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    t: &Target<'_>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (kind, message) = describe(&err, t);
    StoreError::io(&t.url, io::Error::new(kind, message))
}

fn describe<E>(
    err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    t: &Target<'_>,
) -> (io::ErrorKind, String)
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    // The SDK's context may quote a whole response body (an unexpected XML answer is a
    // kilobytes-long line): keep what identifies the error.
    let detail =
        wflow_core::bounded(&DisplayErrorContext(err).to_string(), MAX_DETAIL_CHARS).into_owned();
    let endpoint = t.endpoint;
    match err {
        SdkError::DispatchFailure(d) if d.is_timeout() => (
            io::ErrorKind::TimedOut,
            format!("timed out connecting to the S3 endpoint {endpoint}: {detail}"),
        ),
        SdkError::DispatchFailure(d) if d.is_io() => (
            io::ErrorKind::ConnectionRefused,
            format!("cannot reach the S3 endpoint {endpoint}: {detail}"),
        ),
        SdkError::TimeoutError(_) => (
            io::ErrorKind::TimedOut,
            format!("the S3 endpoint {endpoint} did not answer in time: {detail}"),
        ),
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_)
            if detail.contains("credential") =>
        {
            (
                io::ErrorKind::PermissionDenied,
                format!(
                    "no usable AWS credentials for the S3 endpoint {endpoint}: {detail}; wflow \
                     takes them from the standard chain (AWS_ACCESS_KEY_ID and \
                     AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --s3-profile, SSO, web identity, \
                     container or instance role)"
                ),
            )
        }
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
            let code = err.code().unwrap_or("");
            let status = status(err).unwrap_or(0);
            let message = err.message().unwrap_or("");
            match code {
                "NoSuchBucket" => (
                    io::ErrorKind::NotFound,
                    format!(
                        "bucket `{}` does not exist at the S3 endpoint {endpoint} (create it, or \
                         fix --store)",
                        t.bucket
                    ),
                ),
                "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "InvalidToken"
                | "ExpiredToken"
                | "TokenRefreshRequired" => (
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "the S3 endpoint {endpoint} refused the credentials ({code}: {message}); \
                         check the standard AWS chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, SSO, role)"
                    ),
                ),
                _ if code == "AccessDenied" || status == 403 => (
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "access denied by the S3 endpoint {endpoint} ({}): the credentials in use \
                         may not {} here (a missing object also reads as denied without \
                         s3:ListBucket on the bucket); docs/s3.md has the IAM policy wflow needs",
                        if code.is_empty() { "HTTP 403" } else { code },
                        t.action
                    ),
                ),
                _ => (
                    io::ErrorKind::Other,
                    format!("the S3 endpoint {endpoint} answered HTTP {status} {code}: {detail}"),
                ),
            }
        }
        _ => (
            io::ErrorKind::Other,
            format!("S3 request to {endpoint} failed: {detail}"),
        ),
    }
}

/// An I/O error of our own about `url` (a local file, a malformed answer).
pub(crate) fn other(url: &str, kind: io::ErrorKind, message: impl Into<String>) -> StoreError {
    StoreError::io(url, io::Error::new(kind, message.into()))
}
