//! The diagnosis service. Its contract (`clustergenie.diagnosis.v1`) is served
//! with health and reflection; every RPC answers UNIMPLEMENTED until its issue
//! lands.

use cg_runtime::grpc::ServiceRoutes;
use clustergenie_proto::diagnosis::v1 as pb;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;

pub const DEFAULT_PORT: u16 = 50052;

/// Routes for the service, with health and reflection.
pub async fn routes() -> Result<(Routes, HealthReporter), cg_runtime::Error> {
    ServiceRoutes::new()
        .serve(pb::diagnosis_service_server::DiagnosisServiceServer::new(
            NotYet,
        ))
        .build()
        .await
}

#[derive(Debug, Clone, Copy)]
struct NotYet;

impl pb::diagnosis_service_server::DiagnosisService for NotYet {}
