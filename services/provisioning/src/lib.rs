//! Provisioning: clusters, droplets, droplet actions and the catalog, on a
//! simulated cloud. Everything lives here so tests and the embedded launcher
//! can start the service in-process on port 0; `main.rs` only wires it up.

pub mod catalog;
pub mod cloud;
pub mod config;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod repo;
pub mod service;

use std::time::Duration;

use cg_runtime::{db, grpc::ServiceRoutes};
use clustergenie_proto::provisioning::v1 as pb;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;

pub use crate::config::Config;
use crate::{cloud::SimulatedCloud, grpc::Api, repo::SqlRepository, service::Provisioner};

pub static MIGRATOR: sqlx::migrate::Migrator =
    sqlx::migrate!("../../database/migrations/provisioning");

pub type Service = Provisioner<SqlRepository, SimulatedCloud>;

/// A provisioning service, migrated and with its pending work resumed,
/// ready to be served.
pub struct App {
    pub service: Service,
    pub routes: Routes,
    pub health: HealthReporter,
}

impl App {
    pub async fn build(config: &Config) -> Result<Self, cg_runtime::Error> {
        let db = db::connect(&config.database, &MIGRATOR).await?;
        tracing::info!(backend = ?db.backend, "provisioning database ready");
        let service = Provisioner::new(
            SqlRepository::new(&db),
            SimulatedCloud::new(config.cloud.clone()),
        );
        service
            .resume()
            .await
            .map_err(|e| cg_runtime::Error::Config(e.to_string()))?;
        let api = Api(service.clone());
        let (routes, health) = ServiceRoutes::new()
            .serve(pb::cluster_service_server::ClusterServiceServer::new(
                api.clone(),
            ))
            .serve(pb::droplet_service_server::DropletServiceServer::new(
                api.clone(),
            ))
            .serve(pb::droplet_action_service_server::DropletActionServiceServer::new(api))
            .serve(pb::catalog_service_server::CatalogServiceServer::new(
                grpc::CatalogApi {
                    region_capacity: config.cloud.region_capacity,
                },
            ))
            .serve(pb::fault_service_server::FaultServiceServer::new(
                grpc::NotYet,
            ))
            .serve(pb::executor_service_server::ExecutorServiceServer::new(
                grpc::NotYet,
            ))
            .build()
            .await?;
        Ok(Self {
            service,
            routes,
            health,
        })
    }

    /// Serves until `shutdown`, drains calls for `grace`, then stops the
    /// simulated cloud's timers (their work resumes at the next start).
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
        grace: Duration,
    ) -> Result<(), cg_runtime::Error> {
        let service = self.service.clone();
        let stopping = service.clone();
        let result = cg_runtime::grpc::serve(
            listener,
            self.routes,
            self.health,
            async move {
                shutdown.await;
                // Streams end now so the drain waits only for unary calls.
                stopping.begin_shutdown();
            },
            grace,
        )
        .await;
        service.begin_shutdown();
        service.wait_idle(Duration::from_secs(5)).await;
        result
    }
}
