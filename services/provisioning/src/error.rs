//! Provisioning's errors and the one table mapping them to gRPC codes.

use cg_runtime::{FieldViolation, error};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request")]
    InvalidArgument(Vec<FieldViolation>),
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("region {region} is full ({capacity} droplets)")]
    CapacityExhausted { region: String, capacity: u32 },
    #[error("request_id {0:?} was already used with a different request")]
    IdempotencyMismatch(String),
    #[error("too much contention, retry")]
    Contention,
    #[error("the service is shutting down")]
    ShuttingDown,
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            id: id.into(),
        }
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidArgument(v) => error::invalid_argument(&v),
            e @ Error::NotFound { .. } => Status::not_found(e.to_string()),
            e @ (Error::AlreadyExists(_) | Error::IdempotencyMismatch(_)) => {
                Status::already_exists(e.to_string())
            }
            Error::FailedPrecondition(m) => Status::failed_precondition(m),
            e @ Error::CapacityExhausted { .. } => {
                error::resource_exhausted(e.to_string(), Some(std::time::Duration::from_secs(30)))
            }
            e @ Error::Contention => Status::aborted(e.to_string()),
            e @ Error::ShuttingDown => Status::unavailable(e.to_string()),
            Error::Storage(e) => error::storage(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn every_error_maps_to_its_grpc_code() {
        let cases = [
            (Error::invalid("name", "bad"), Code::InvalidArgument),
            (Error::not_found("droplet", "x"), Code::NotFound),
            (Error::AlreadyExists("taken".into()), Code::AlreadyExists),
            (Error::IdempotencyMismatch("k".into()), Code::AlreadyExists),
            (
                Error::FailedPrecondition("locked".into()),
                Code::FailedPrecondition,
            ),
            (
                Error::CapacityExhausted {
                    region: "nyc1".into(),
                    capacity: 1,
                },
                Code::ResourceExhausted,
            ),
            (Error::Contention, Code::Aborted),
            (Error::ShuttingDown, Code::Unavailable),
            (Error::Storage(sqlx::Error::PoolTimedOut), Code::Unavailable),
            (Error::Storage(sqlx::Error::RowNotFound), Code::Internal),
        ];
        for (err, code) in cases {
            assert_eq!(Status::from(err).code(), code);
        }
    }

    #[test]
    fn storage_errors_do_not_leak_details() {
        let status = Status::from(Error::Storage(sqlx::Error::Protocol(
            "select secret".into(),
        )));
        assert!(!status.message().contains("secret"));
    }
}
