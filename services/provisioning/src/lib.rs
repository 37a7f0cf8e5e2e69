//! Provisioning: clusters, droplets, droplet actions and the catalog, on a
//! simulated cloud. Everything lives here so tests and the embedded launcher
//! can start the service in-process on port 0; `main.rs` only wires it up.

pub mod catalog;
pub mod cloud;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod executor;
pub mod fleet;
pub mod grpc;
pub mod load;
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
    pub executor: Option<executor::Executor>,
    pub routes: Routes,
    pub health: HealthReporter,
    /// Stops the relay, the consumer and the executor's workers.
    background: tokio_util::sync::CancellationToken,
    workers: tokio::task::JoinSet<()>,
}

/// Kafka wiring: the outbox relay, the executor and its consumer.
async fn start_executor(
    config: &Config,
    kafka: &cg_runtime::kafka::KafkaConfig,
    db: &db::Db,
    service: &Service,
    stop: &tokio_util::sync::CancellationToken,
    workers: &mut tokio::task::JoinSet<()>,
) -> Result<executor::Executor, cg_runtime::Error> {
    use cg_runtime::{
        kafka::{self, Producer, topics},
        outbox::{Relay, RelayConfig},
    };
    kafka::ensure_topics(
        kafka,
        &[
            topics::JOBS_REQUESTED,
            topics::JOBS_PROGRESS,
            topics::DROPLETS_EVENTS,
            topics::METRICS_SAMPLES,
        ],
    )
    .await?;
    let relay = Relay::new(
        db.pool.clone(),
        Producer::new(kafka)?,
        RelayConfig::default(),
    );
    workers.spawn(relay.run(stop.clone()));
    let executor = executor::Executor::start(
        service.clone(),
        db.pool.clone(),
        &config.executor,
        stop.clone(),
    )
    .await
    .map_err(|e| cg_runtime::Error::Config(format!("executor: {e}")))?;
    let (kafka, handler, stop) = (kafka.clone(), executor.clone(), stop.clone());
    workers.spawn(async move {
        let consumed = kafka::consume(
            &kafka,
            "provisioning",
            &[topics::JOBS_REQUESTED],
            stop,
            move |e| {
                let executor = handler.clone();
                async move { executor.handle(e).await }
            },
        )
        .await;
        if let Err(e) = consumed {
            tracing::error!(error = %e, "job consumer stopped");
        }
    });
    Ok(executor)
}

impl App {
    pub async fn build(config: &Config) -> Result<Self, cg_runtime::Error> {
        let db = db::connect(&config.database, &MIGRATOR).await?;
        tracing::info!(backend = ?db.backend, "provisioning database ready");
        let service = Provisioner::new(
            SqlRepository::new(&db).announcing(config.kafka.is_some()),
            SimulatedCloud::new(config.cloud.clone()),
        );
        service
            .resume()
            .await
            .map_err(|e| cg_runtime::Error::Config(e.to_string()))?;
        let background = tokio_util::sync::CancellationToken::new();
        let mut workers = tokio::task::JoinSet::new();
        let executor = match &config.kafka {
            Some(kafka) => {
                Some(start_executor(config, kafka, &db, &service, &background, &mut workers).await?)
            }
            None => {
                tracing::warn!("no kafka configured: jobs are not executed here");
                None
            }
        };
        let producer = match &config.kafka {
            Some(kafka) => Some(cg_runtime::kafka::Producer::new(kafka)?),
            None => None,
        };
        workers.spawn(fleet::run(
            service.clone(),
            producer,
            config.fleet.clone(),
            background.clone(),
        ));
        let api = Api(service.clone());
        let (routes, health) = ServiceRoutes::new()
            .serve(pb::cluster_service_server::ClusterServiceServer::new(
                api.clone(),
            ))
            .serve(pb::droplet_service_server::DropletServiceServer::new(
                api.clone(),
            ))
            .serve(pb::droplet_action_service_server::DropletActionServiceServer::new(api.clone()))
            .serve(pb::catalog_service_server::CatalogServiceServer::new(
                grpc::CatalogApi {
                    region_capacity: config.cloud.region_capacity,
                },
            ))
            .serve(pb::fault_service_server::FaultServiceServer::new(
                api.clone(),
            ))
            .serve(pb::executor_service_server::ExecutorServiceServer::new(
                grpc::ExecutorApi(executor.clone()),
            ))
            .build()
            .await?;
        Ok(Self {
            service,
            executor,
            routes,
            health,
            background,
            workers,
        })
    }

    /// Serves until `shutdown`, drains calls for `grace`, then stops the
    /// simulated cloud's timers (their work resumes at the next start).
    pub async fn serve(
        mut self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
        grace: Duration,
    ) -> Result<(), cg_runtime::Error> {
        let service = self.service.clone();
        let stopping = service.clone();
        let background = self.background.clone();
        let result = cg_runtime::grpc::serve(
            listener,
            self.routes,
            self.health,
            async move {
                shutdown.await;
                // Streams end now so the drain waits only for unary calls;
                // no new job is taken.
                stopping.begin_shutdown();
                background.cancel();
            },
            grace,
        )
        .await;
        service.begin_shutdown();
        self.background.cancel();
        while self.workers.join_next().await.is_some() {}
        service.wait_idle(Duration::from_secs(5)).await;
        result
    }
}
