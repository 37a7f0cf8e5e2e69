//! The monitoring service. Its contract (`clustergenie.monitoring.v1`) is
//! served with health and reflection; every RPC answers UNIMPLEMENTED until
//! its issue lands.

use cg_runtime::{
    Error,
    config::CommonConfig,
    grpc::ServiceRoutes,
    kit::{Routes, Service, ServiceContext},
};
use clustergenie_proto::monitoring::v1 as pb;

/// The monitoring process.
#[derive(Debug, Clone, Copy)]
pub struct MonitoringService;

impl Service for MonitoringService {
    const NAME: &'static str = "monitoring";
    const DEFAULT_PORT: u16 = 50054;
    type Config = CommonConfig;

    async fn build(_: &CommonConfig, _: &mut ServiceContext) -> Result<Self, Error> {
        Ok(Self)
    }

    fn routes(&self) -> Routes {
        Routes::Grpc(
            ServiceRoutes::new()
                .serve(pb::metrics_service_server::MetricsServiceServer::new(*self))
                .serve(pb::health_check_service_server::HealthCheckServiceServer::new(*self))
                .serve(pb::activity_service_server::ActivityServiceServer::new(
                    *self,
                )),
        )
    }
}

impl pb::metrics_service_server::MetricsService for MonitoringService {}
impl pb::health_check_service_server::HealthCheckService for MonitoringService {}
impl pb::activity_service_server::ActivityService for MonitoringService {}
