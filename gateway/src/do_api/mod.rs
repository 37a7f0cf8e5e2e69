//! A DigitalOcean API v2–compatible REST surface on the gateway's port, so
//! DigitalOcean's own tools work against ClusterGenie as a local cloud.
//! Facts about what those clients send and parse: `../shared/do-api-compat.md`
//! in the design notes, summarised beside each type.

mod convert;
pub mod model;
mod server;

pub use server::{DoApi, MAX_BODY};
