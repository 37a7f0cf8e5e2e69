//! The runtime's errors. [`Error`] is what starting a process can fail
//! with; [`ApiError`] is what a call can fail with, shared by every
//! service, and `From<ApiError> for Status` is the one table that turns
//! failures into gRPC codes (with `google.rpc.BadRequest` and
//! `google.rpc.RetryInfo` details). A service's own error, when it has
//! one, converts into [`ApiError`]; none maps to `tonic::Code` itself.

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// One invalid field of a request, as in `google.rpc.BadRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Why a process could not start (or stopped serving).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("database {url}: {source}")]
    Database {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("kafka: {0}")]
    Kafka(String),
    #[error("telemetry: {0}")]
    Telemetry(String),
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("{service}: {message}")]
    Service {
        service: &'static str,
        message: String,
    },
}

/// Why a call failed, as every service reports it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request: {}", join(.0))]
    InvalidArgument(Vec<FieldViolation>),
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("{0}")]
    AlreadyExists(String),
    #[error("request_id {0:?} was already used with a different request")]
    IdempotencyMismatch(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{message}")]
    ResourceExhausted {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("too much contention, retry")]
    Contention,
    #[error("the service is shutting down")]
    ShuttingDown,
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Internal(String),
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
}

fn join(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApiError {
    /// One bad field.
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            id: id.into(),
        }
    }

    /// True for failures that can go away by waiting (a database or a
    /// dependency away, contention), as opposed to ones that would fail the
    /// same way again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Contention | Self::Unavailable(_) | Self::ShuttingDown => true,
            Self::Storage(e) => crate::db::is_transient(e),
            _ => false,
        }
    }
}

/// The one table from failures to gRPC statuses.
impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::InvalidArgument(v) => invalid_argument(&v),
            e @ ApiError::NotFound { .. } => Status::not_found(e.to_string()),
            e @ (ApiError::AlreadyExists(_) | ApiError::IdempotencyMismatch(_)) => {
                Status::already_exists(e.to_string())
            }
            ApiError::FailedPrecondition(m) => Status::failed_precondition(m),
            ApiError::ResourceExhausted {
                message,
                retry_after,
            } => resource_exhausted(message, retry_after),
            e @ ApiError::Contention => Status::aborted(e.to_string()),
            e @ ApiError::ShuttingDown => Status::unavailable(e.to_string()),
            ApiError::Unavailable(m) => Status::unavailable(m),
            ApiError::Unauthenticated(m) => Status::unauthenticated(m),
            ApiError::PermissionDenied(m) => Status::permission_denied(m),
            ApiError::Internal(m) => internal(&m),
            ApiError::Storage(e) => storage(&e),
        }
    }
}

/// `INVALID_ARGUMENT` with one field violation per bad field.
fn invalid_argument(violations: &[FieldViolation]) -> Status {
    let mut details = ErrorDetails::new();
    for v in violations {
        details.add_bad_request_violation(v.field.clone(), v.description.clone());
    }
    Status::with_error_details(Code::InvalidArgument, join(violations), details)
}

/// `RESOURCE_EXHAUSTED` telling the client when to try again.
pub fn resource_exhausted(message: impl Into<String>, retry_after: Option<Duration>) -> Status {
    let mut details = ErrorDetails::new();
    if let Some(delay) = retry_after {
        details.set_retry_info(Some(delay));
    }
    Status::with_error_details(Code::ResourceExhausted, message, details)
}

/// Internal failures are logged with their cause and answered without it,
/// so no SQL or host names reach a client.
fn internal(err: &dyn std::fmt::Display) -> Status {
    tracing::error!(error = %err, "internal error");
    Status::internal("internal error")
}

/// A database failure as clients see it: `ABORTED` when a retry can fix
/// it (deadlock, lock timeout), `UNAVAILABLE` when the database cannot be
/// reached, otherwise `INTERNAL`; never with the SQL or host in the message.
fn storage(err: &sqlx::Error) -> Status {
    if crate::db::is_retryable(err) {
        tracing::warn!(error = %err, "transaction kept aborting");
        return Status::aborted("too much contention, retry");
    }
    if crate::db::is_transient(err) {
        tracing::error!(error = %err, "database unavailable");
        return Status::unavailable("database unavailable");
    }
    internal(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_its_grpc_code() {
        let cases = [
            (ApiError::invalid("name", "bad"), Code::InvalidArgument),
            (ApiError::not_found("droplet", "x"), Code::NotFound),
            (ApiError::AlreadyExists("taken".into()), Code::AlreadyExists),
            (
                ApiError::IdempotencyMismatch("k".into()),
                Code::AlreadyExists,
            ),
            (
                ApiError::FailedPrecondition("locked".into()),
                Code::FailedPrecondition,
            ),
            (
                ApiError::ResourceExhausted {
                    message: "full".into(),
                    retry_after: None,
                },
                Code::ResourceExhausted,
            ),
            (ApiError::Contention, Code::Aborted),
            (ApiError::ShuttingDown, Code::Unavailable),
            (ApiError::Unavailable("x".into()), Code::Unavailable),
            (ApiError::Unauthenticated("x".into()), Code::Unauthenticated),
            (
                ApiError::PermissionDenied("x".into()),
                Code::PermissionDenied,
            ),
            (ApiError::Internal("x".into()), Code::Internal),
            (
                ApiError::Storage(sqlx::Error::PoolTimedOut),
                Code::Unavailable,
            ),
            (ApiError::Storage(sqlx::Error::RowNotFound), Code::Internal),
        ];
        for (err, code) in cases {
            assert_eq!(Status::from(err).code(), code);
        }
    }

    #[test]
    fn storage_errors_do_not_leak_details() {
        let status = Status::from(ApiError::Storage(sqlx::Error::Protocol(
            "select secret".into(),
        )));
        assert!(!status.message().contains("secret"));
        let status = Status::from(ApiError::Internal("host db-7 refused".into()));
        assert!(!status.message().contains("db-7"));
    }

    #[test]
    fn invalid_argument_carries_every_field_violation() {
        let status = Status::from(ApiError::InvalidArgument(vec![
            FieldViolation::new("name", "must not be empty"),
            FieldViolation::new("size", "unknown size slug"),
        ]));
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let bad = details.bad_request().expect("bad request details");
        let fields: Vec<_> = bad
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["name", "size"]);
        assert!(status.message().contains("name: must not be empty"));
    }

    #[test]
    fn resource_exhausted_carries_retry_info() {
        let status = Status::from(ApiError::ResourceExhausted {
            message: "region full".into(),
            retry_after: Some(Duration::from_secs(3)),
        });
        let details = status.get_error_details();
        let retry = details.retry_info().expect("retry info");
        assert_eq!(retry.retry_delay, Some(Duration::from_secs(3)));
    }

    #[test]
    fn an_unreachable_database_is_transient_and_a_bad_query_is_not() {
        assert!(ApiError::Storage(sqlx::Error::PoolTimedOut).is_transient());
        assert!(!ApiError::Storage(sqlx::Error::RowNotFound).is_transient());
        assert!(!ApiError::invalid("x", "y").is_transient());
    }
}
