//! Provisioning's failures are the runtime's shared [`ApiError`] (one code
//! table for the whole mesh); what is specific to provisioning is built
//! here.

use std::time::Duration;

pub use cg_runtime::ApiError as Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How long a client should wait before asking a full region again.
const FULL_REGION_RETRY: Duration = Duration::from_secs(30);

/// The region has no address slot left for another droplet.
pub fn capacity_exhausted(region: &str, capacity: u32) -> Error {
    Error::ResourceExhausted {
        message: format!("region {region} is full ({capacity} droplets)"),
        retry_after: Some(FULL_REGION_RETRY),
    }
}

#[cfg(test)]
mod tests {
    use tonic::{Code, Status};
    use tonic_types::StatusExt as _;

    use super::*;

    #[test]
    fn a_full_region_is_resource_exhausted_with_a_retry_delay() {
        let status = Status::from(capacity_exhausted("nyc1", 3));
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.message().contains("nyc1"));
        assert_eq!(
            status.get_error_details().retry_info().unwrap().retry_delay,
            Some(FULL_REGION_RETRY)
        );
    }
}
