//! The scaler service. Its contract (`clustergenie.scaler.v1`) is served
//! with health and reflection; every RPC answers UNIMPLEMENTED until its
//! issue lands.

use cg_runtime::{
    Error,
    config::CommonConfig,
    grpc::ServiceRoutes,
    kit::{Routes, Service, ServiceContext},
};
use clustergenie_proto::scaler::v1 as pb;

/// The scaler process.
#[derive(Debug, Clone, Copy)]
pub struct ScalerService;

impl Service for ScalerService {
    const NAME: &'static str = "scaler";
    const DEFAULT_PORT: u16 = 50055;
    type Config = CommonConfig;

    async fn build(_: &CommonConfig, _: &mut ServiceContext) -> Result<Self, Error> {
        Ok(Self)
    }

    fn routes(&self) -> Routes {
        Routes::Grpc(
            ServiceRoutes::new().serve(pb::scaler_service_server::ScalerServiceServer::new(*self)),
        )
    }
}

impl pb::scaler_service_server::ScalerService for ScalerService {}
