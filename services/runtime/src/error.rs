//! The runtime's errors and the building blocks every service's error table
//! uses to answer with rich gRPC statuses (`google.rpc.BadRequest`,
//! `google.rpc.RetryInfo`).

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
}

/// `INVALID_ARGUMENT` with one field violation per bad field.
pub fn invalid_argument(violations: &[FieldViolation]) -> Status {
    let mut details = ErrorDetails::new();
    for v in violations {
        details.add_bad_request_violation(v.field.clone(), v.description.clone());
    }
    let message = violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ");
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// `RESOURCE_EXHAUSTED` telling the client when to try again.
pub fn resource_exhausted(message: impl Into<String>, retry_after: Option<Duration>) -> Status {
    let mut details = ErrorDetails::new();
    if let Some(delay) = retry_after {
        details.set_retry_info(Some(delay));
    }
    Status::with_error_details(Code::ResourceExhausted, message, details)
}

/// Storage failures are logged with their cause and answered without it, so
/// no SQL or host names reach a client.
pub fn internal(err: &dyn std::fmt::Display) -> Status {
    tracing::error!(error = %err, "internal error");
    Status::internal("internal error")
}

/// A database failure as clients see it: `ABORTED` when a retry can fix
/// it (deadlock, lock timeout), `UNAVAILABLE` when the database cannot be
/// reached, otherwise `INTERNAL`; never with the SQL or host in the message.
pub fn storage(err: &sqlx::Error) -> Status {
    if crate::db::is_retryable(err) {
        tracing::warn!(error = %err, "transaction kept aborting");
        return Status::aborted("too much contention, retry");
    }
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => {
            tracing::error!(error = %err, "database unavailable");
            Status::unavailable("database unavailable")
        }
        other => internal(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_carries_every_field_violation() {
        let status = invalid_argument(&[
            FieldViolation::new("name", "must not be empty"),
            FieldViolation::new("size", "unknown size slug"),
        ]);
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
        let status = resource_exhausted("region full", Some(Duration::from_secs(3)));
        let details = status.get_error_details();
        let retry = details.retry_info().expect("retry info");
        assert_eq!(retry.retry_delay, Some(Duration::from_secs(3)));
    }
}
