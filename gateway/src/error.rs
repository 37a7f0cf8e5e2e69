//! The gateway's failures are the runtime's shared [`ApiError`]: one code
//! table for the whole mesh.

pub use cg_runtime::ApiError as Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;
