//! Jobs' errors and their gRPC codes.

use cg_runtime::{FieldViolation, error};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request")]
    InvalidArgument(Vec<FieldViolation>),
    #[error("job {0} not found")]
    NotFound(String),
    #[error("request_id {0:?} was already used with a different request")]
    IdempotencyMismatch(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("the service is shutting down")]
    ShuttingDown,
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidArgument(v) => error::invalid_argument(&v),
            e @ Error::NotFound(_) => Status::not_found(e.to_string()),
            e @ Error::IdempotencyMismatch(_) => Status::already_exists(e.to_string()),
            Error::FailedPrecondition(m) => Status::failed_precondition(m),
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
            (Error::InvalidArgument(vec![]), Code::InvalidArgument),
            (Error::NotFound("x".into()), Code::NotFound),
            (Error::IdempotencyMismatch("k".into()), Code::AlreadyExists),
            (
                Error::FailedPrecondition("done".into()),
                Code::FailedPrecondition,
            ),
            (Error::ShuttingDown, Code::Unavailable),
            (Error::Storage(sqlx::Error::PoolTimedOut), Code::Unavailable),
            (Error::Storage(sqlx::Error::RowNotFound), Code::Internal),
        ];
        for (err, code) in cases {
            assert_eq!(Status::from(err).code(), code);
        }
    }
}
