//! The runtime every ClusterGenie service shares: the service kit (one way
//! to configure, start, serve and drain any service), layered
//! configuration, telemetry, the error → gRPC status table, storage pools
//! with migrations, typed topics, the outbox, Kafka plumbing, and the gRPC
//! server plumbing (health, reflection).

pub mod activity;
pub mod client;
pub mod config;
pub mod db;
pub mod dlq;
pub mod error;
pub mod grpc;
pub mod idempotency;
pub mod kafka;
pub mod kit;
pub mod outbox;
pub mod page;
pub mod rpc_metrics;
pub mod shutdown;
pub mod status;
pub mod telemetry;
pub mod telemetry_metrics;
pub mod time;
pub mod topic;
pub mod types;
pub mod validate;
pub mod watch;

pub use error::{ApiError, Error, FieldViolation};

/// A new time-ordered identifier (UUIDv7): ids sort by creation time, which
/// keeps keyset pagination in creation order.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
