//! The scaler service. Its contract (`clustergenie.scaler.v1`) is served
//! with health and reflection; every RPC answers UNIMPLEMENTED until its issue
//! lands.

use cg_runtime::grpc::ServiceRoutes;
use clustergenie_proto::scaler::v1 as pb;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;

pub const DEFAULT_PORT: u16 = 50055;

/// Routes for the service, with health and reflection.
pub async fn routes() -> Result<(Routes, HealthReporter), cg_runtime::Error> {
    ServiceRoutes::new()
        .serve(pb::scaler_service_server::ScalerServiceServer::new(NotYet))
        .build()
        .await
}

#[derive(Debug, Clone, Copy)]
struct NotYet;

impl pb::scaler_service_server::ScalerService for NotYet {}
