//! The monitoring service. Its contract (`clustergenie.monitoring.v1`) is served
//! with health and reflection; every RPC answers UNIMPLEMENTED until its issue
//! lands.

use cg_runtime::grpc::ServiceRoutes;
use clustergenie_proto::monitoring::v1 as pb;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;

pub const DEFAULT_PORT: u16 = 50054;

/// Routes for the service, with health and reflection.
pub async fn routes() -> Result<(Routes, HealthReporter), cg_runtime::Error> {
    ServiceRoutes::new()
        .serve(pb::metrics_service_server::MetricsServiceServer::new(
            NotYet,
        ))
        .serve(pb::health_check_service_server::HealthCheckServiceServer::new(NotYet))
        .serve(pb::activity_service_server::ActivityServiceServer::new(
            NotYet,
        ))
        .build()
        .await
}

#[derive(Debug, Clone, Copy)]
struct NotYet;

impl pb::metrics_service_server::MetricsService for NotYet {}
impl pb::health_check_service_server::HealthCheckService for NotYet {}
impl pb::activity_service_server::ActivityService for NotYet {}
