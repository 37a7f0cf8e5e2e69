//! The diagnosis service. Its contract (`clustergenie.diagnosis.v1`) is
//! served with health and reflection; every RPC answers UNIMPLEMENTED until
//! its issue lands.

use cg_runtime::{
    Error,
    config::CommonConfig,
    grpc::ServiceRoutes,
    kit::{Routes, Service, ServiceContext},
};
use clustergenie_proto::diagnosis::v1 as pb;

/// The diagnosis process.
#[derive(Debug, Clone, Copy)]
pub struct DiagnosisService;

impl Service for DiagnosisService {
    const NAME: &'static str = "diagnosis";
    const DEFAULT_PORT: u16 = 50052;
    type Config = CommonConfig;

    async fn build(_: &CommonConfig, _: &mut ServiceContext) -> Result<Self, Error> {
        Ok(Self)
    }

    fn routes(&self) -> Routes {
        Routes::Grpc(ServiceRoutes::new().serve(
            pb::diagnosis_service_server::DiagnosisServiceServer::new(*self),
        ))
    }
}

impl pb::diagnosis_service_server::DiagnosisService for DiagnosisService {}
