//! The jobs service. Its contract (`clustergenie.jobs.v1`) is served
//! with health and reflection; every RPC answers UNIMPLEMENTED until its issue
//! lands.

use cg_runtime::grpc::ServiceRoutes;
use clustergenie_proto::jobs::v1 as pb;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;

pub const DEFAULT_PORT: u16 = 50053;

/// Routes for the service, with health and reflection.
pub async fn routes() -> Result<(Routes, HealthReporter), cg_runtime::Error> {
    ServiceRoutes::new()
        .serve(pb::job_service_server::JobServiceServer::new(NotYet))
        .build()
        .await
}

#[derive(Debug, Clone, Copy)]
struct NotYet;

impl pb::job_service_server::JobService for NotYet {}
