//! [`ApiError`]: every failure of a request, with its HTTP status and JSON body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::wire::{ErrorBody, ErrorEnvelope};

/// A request that failed: the status and the body sent back.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body (`{"error": ...}`); boxed to keep `Result<_, ApiError>` small.
    pub body: Box<ErrorBody>,
}

impl ApiError {
    /// An error of `kind` with `message`.
    pub fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: Box::new(ErrorBody {
                kind: kind.into(),
                message: message.into(),
                ..ErrorBody::default()
            }),
        }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401: no token, or not one the service knows.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: the token's user may not do this.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 naming the run.
    pub fn unknown_run(run_id: &str) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_run",
            format!("run `{run_id}` is not recorded"),
        );
        e.body.run_id = Some(run_id.to_string());
        e
    }

    /// 404 naming the task.
    pub fn unknown_task(run_id: &str, task_id: u64) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_task",
            format!("task {task_id} of run `{run_id}` is not recorded"),
        );
        e.body.run_id = Some(run_id.to_string());
        e.body.task_id = Some(task_id);
        e
    }

    /// 404 naming the attempt.
    pub fn unknown_attempt(run_id: &str, task_id: u64, attempt: u32) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_attempt",
            format!("attempt {attempt} of task {task_id} of run `{run_id}` is not recorded"),
        );
        e.body.run_id = Some(run_id.to_string());
        e.body.task_id = Some(task_id);
        e.body.attempt = Some(attempt);
        e
    }

    /// 409: a start recorded twice.
    pub fn already_recorded(what: String) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::CONFLICT,
            "already_recorded",
            format!("{what} is already recorded"),
        );
        e.body.what = Some(what);
        e
    }

    /// 400: a tag that is not one.
    pub fn invalid_tag(tag: &str, reason: String) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_tag",
            format!("`{tag}` is not a valid tag: {reason}"),
        );
        e.body.what = Some(tag.to_string());
        e.body.reason = Some(reason);
        e
    }

    /// A database failure while doing `action`: 503 when the database cannot be reached (the
    /// client may retry), 500 otherwise.
    pub fn db(action: &str, e: &tokio_postgres::Error) -> ApiError {
        if e.code().is_none() || e.is_closed() {
            return ApiError::unavailable(format!("{action}: the database is unreachable: {e}"));
        }
        let detail = e
            .as_db_error()
            .map_or_else(|| e.to_string(), |d| d.message().to_string());
        // Data exceptions (a NUL character, a value out of range), check violations and values
        // too large to index come from what the client sent: its error, not the service's.
        let code = e.code().map(|c| c.code()).unwrap_or("");
        if code.starts_with("22") || code == "23514" || code == "54000" {
            return ApiError::bad_request(format!("{action}: invalid value: {detail}"));
        }
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{action}: database error: {detail}"),
        )
    }

    /// 503: the database is down; nothing was written.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(ErrorEnvelope { error: *self.body })).into_response()
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> ApiError {
        ApiError::unavailable(format!("the database is unreachable: {e}"))
    }
}
