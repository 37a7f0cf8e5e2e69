//! The jobs service: jobs and their state machine. A job's request leaves
//! through the outbox to `cg.jobs.requested`; executors report on
//! `cg.jobs.progress`, which advances the state machine here.

pub mod config;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod repo;
pub mod service;

use std::time::Duration;

use cg_runtime::{
    db,
    grpc::ServiceRoutes,
    kafka::{self, Producer, topics},
    outbox::{Relay, RelayConfig},
};
use clustergenie_proto::jobs::v1 as pb;
use tokio::task::JoinSet;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;

pub use crate::config::Config;
use crate::{repo::JobRepository, service::Jobs};

pub const DEFAULT_PORT: u16 = 50053;
const CONSUMER_GROUP: &str = "jobs";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../database/migrations/jobs");

pub struct App {
    pub jobs: Jobs,
    pub routes: Routes,
    pub health: HealthReporter,
    workers: JoinSet<()>,
}

impl App {
    pub async fn build(config: &Config) -> Result<Self, cg_runtime::Error> {
        let db = db::connect(&config.database, &MIGRATOR).await?;
        let jobs = Jobs::new(JobRepository::new(&db), config.attempt_timeout);
        let mut workers = JoinSet::new();
        match &config.kafka {
            Some(k) => {
                kafka::ensure_topics(k, &[topics::JOBS_REQUESTED, topics::JOBS_PROGRESS]).await?;
                let relay = Relay::new(db.pool.clone(), Producer::new(k)?, RelayConfig::default());
                workers.spawn(relay.run(jobs.stop_token()));
                let (k, consumer_jobs) = (k.clone(), jobs.clone());
                workers.spawn(async move {
                    let stop = consumer_jobs.stop_token();
                    let handler = consumer_jobs.clone();
                    if let Err(e) = kafka::consume(
                        &k,
                        CONSUMER_GROUP,
                        &[topics::JOBS_PROGRESS],
                        stop,
                        move |e| {
                            let jobs = handler.clone();
                            async move { jobs.handle_progress(e).await }
                        },
                    )
                    .await
                    {
                        tracing::error!(error = %e, "progress consumer stopped");
                    }
                });
            }
            None => tracing::warn!("no kafka configured: jobs are recorded but not executed"),
        }
        let (routes, health) = ServiceRoutes::new()
            .serve(pb::job_service_server::JobServiceServer::new(grpc::Api(
                jobs.clone(),
            )))
            .build()
            .await?;
        Ok(Self {
            jobs,
            routes,
            health,
            workers,
        })
    }

    pub async fn serve(
        mut self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
        grace: Duration,
    ) -> Result<(), cg_runtime::Error> {
        let stopping = self.jobs.clone();
        let result = cg_runtime::grpc::serve(
            listener,
            self.routes,
            self.health,
            async move {
                shutdown.await;
                stopping.begin_shutdown();
            },
            grace,
        )
        .await;
        self.jobs.begin_shutdown();
        while self.workers.join_next().await.is_some() {}
        result
    }
}
