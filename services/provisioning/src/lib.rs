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

use cg_runtime::{
    Error,
    grpc::ServiceRoutes,
    kit::{Routes, Service as KitService, ServiceContext},
    topic::topics,
};
use clustergenie_proto::provisioning::v1 as pb;

pub use crate::config::Config;
use crate::{cloud::SimulatedCloud, grpc::Api, repo::SqlRepository, service::Provisioner};

pub static MIGRATOR: sqlx::migrate::Migrator =
    sqlx::migrate!("../../database/migrations/provisioning");

/// The provisioning domain service on SQL storage and the simulated cloud.
pub type Service = Provisioner<SqlRepository, SimulatedCloud>;

/// How often overdue cloud work (a dead replica's timers) is looked for,
/// and how late it must be.
const OVERDUE_SWEEP: Duration = Duration::from_secs(5);
/// The most job requests (or health results) of one partition handled at
/// once.
const CONSUMER_BATCH: usize = 64;

/// The provisioning process: the domain service, its job executor (when a
/// broker is configured) and the fleet's heartbeat.
pub struct ProvisioningService {
    pub service: Service,
    pub executor: Option<executor::Executor>,
    region_capacity: u32,
}

impl KitService for ProvisioningService {
    const NAME: &'static str = "provisioning";
    const DEFAULT_PORT: u16 = 50051;
    type Config = Config;

    fn migrations() -> Option<&'static sqlx::migrate::Migrator> {
        Some(&MIGRATOR)
    }

    fn topics() -> Vec<&'static str> {
        vec![
            topics::JOBS_REQUESTED.name,
            topics::JOBS_PROGRESS.name,
            topics::DROPLETS_EVENTS.name,
            topics::METRICS_SAMPLES.name,
            topics::ACTIVITY.name,
            topics::HEALTH_RESULTS.name,
        ]
    }

    async fn build(config: &Config, ctx: &mut ServiceContext) -> Result<Self, Error> {
        let db = ctx.db()?.clone();
        let repo = SqlRepository::new(&db).announcing(ctx.kafka().is_some());
        let failed = |e: &dyn std::fmt::Display| Error::Service {
            service: Self::NAME,
            message: e.to_string(),
        };
        let numbered = repo.number_old_rows().await.map_err(|e| failed(&e))?;
        let tagged = repo
            .register_old_tags(cg_runtime::time::now_millis())
            .await
            .map_err(|e| failed(&e))?;
        if numbered + tagged > 0 {
            tracing::info!(
                numbered,
                tagged,
                "numbered and tagged what was stored before"
            );
        }
        let repo_for_sweep = repo.clone();
        let service = Provisioner::new(repo, SimulatedCloud::new(config.cloud.clone()));
        service.resume().await.map_err(|e| failed(&e))?;
        {
            // Another replica's timers, lost with it, are taken over here.
            let (service, stop) = (service.clone(), ctx.stop_token());
            ctx.spawn(async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(OVERDUE_SWEEP) => {}
                    }
                    if let Err(e) = service.sweep_overdue(OVERDUE_SWEEP).await {
                        tracing::warn!(error = %e, "overdue cloud work sweep failed");
                    }
                    // Rows an older replica wrote during a rolling upgrade.
                    if let Err(e) = repo_for_sweep.number_old_rows().await {
                        tracing::warn!(error = %e, "numbering new rows failed");
                    }
                }
            });
        }
        let executor = match ctx.kafka() {
            Some(_) => {
                let executor = executor::Executor::start(
                    service.clone(),
                    &db,
                    &config.executor,
                    ctx.status(),
                    ctx.stop_token(),
                )
                .await
                .map_err(|e| failed(&format!("executor: {e}")))?;
                // Job requests and health results in one consumer group
                // (a lane per topic and partition): each group polls the
                // broker on its own.
                // Requests that arrived together are recorded together.
                let handler = (executor.clone(), service.clone());
                ctx.consume_batches(
                    "provisioning",
                    &[topics::JOBS_REQUESTED.name, topics::HEALTH_RESULTS.name],
                    CONSUMER_BATCH,
                    move |events| {
                        let (executor, service) = handler.clone();
                        async move {
                            // A batch holds one partition's records: one topic.
                            if events
                                .first()
                                .is_some_and(|e| e.topic == topics::HEALTH_RESULTS.name)
                            {
                                for e in events {
                                    let span = cg_runtime::kafka::record_span(&e);
                                    tracing::Instrument::instrument(service.handle_health(e), span)
                                        .await?;
                                }
                                Ok(())
                            } else {
                                executor.handle_batch(events).await
                            }
                        }
                    },
                );
                Some(executor)
            }
            None => {
                tracing::warn!("no kafka configured: jobs are not executed here");
                None
            }
        };
        ctx.spawn(fleet::run(
            service.clone(),
            ctx.producer()?,
            config.fleet.clone(),
            ctx.stop_token(),
        ));
        Ok(Self {
            service,
            executor,
            region_capacity: config.cloud.region_capacity,
        })
    }

    fn routes(&self) -> Routes {
        let api = Api(self.service.clone());
        Routes::Grpc(
            ServiceRoutes::new()
                .serve(pb::cluster_service_server::ClusterServiceServer::new(
                    api.clone(),
                ))
                .serve(pb::droplet_service_server::DropletServiceServer::new(
                    api.clone(),
                ))
                .serve(
                    pb::droplet_action_service_server::DropletActionServiceServer::new(api.clone()),
                )
                .serve(pb::catalog_service_server::CatalogServiceServer::new(
                    grpc::CatalogApi {
                        region_capacity: self.region_capacity,
                    },
                ))
                .serve(pb::tag_service_server::TagServiceServer::new(api.clone()))
                .serve(pb::fault_service_server::FaultServiceServer::new(api))
                .serve(pb::executor_service_server::ExecutorServiceServer::new(
                    grpc::ExecutorApi(self.executor.clone()),
                )),
        )
    }

    /// Streams end now so the drain waits only for unary calls; the cloud's
    /// timers stop (their work resumes at the next start).
    fn stopping(&self) {
        self.service.begin_shutdown();
    }

    async fn stopped(&self) {
        self.service.wait_idle(Duration::from_secs(5)).await;
        if let Some(executor) = &self.executor {
            executor.release().await;
        }
    }
}
