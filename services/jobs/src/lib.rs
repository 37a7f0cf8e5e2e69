//! The jobs service: jobs and their state machine. A job's request leaves
//! through the outbox to `cg.jobs.requested`; executors report on
//! `cg.jobs.progress`, which advances the state machine here.
//!
//! Layout (the template every service follows): `domain` (plain types,
//! parsed once), `repo` (a repository trait and its SQL implementation),
//! `service` (the domain service), `wire` (the protobuf forms), `grpc`
//! (the thin adapter), and [`JobsService`] (the kit's declarations).

pub mod config;
pub mod domain;
pub mod grpc;
pub mod repo;
pub mod service;
pub mod wire;

use cg_runtime::{
    Error,
    grpc::ServiceRoutes,
    kit::{Routes, Service, ServiceContext},
    topic::topics,
};
use clustergenie_proto::jobs::v1 as pb;

pub use crate::config::Config;
use crate::repo::SqlJobs;

pub const DEFAULT_PORT: u16 = 50053;
/// The most progress reports of one partition applied at once.
const CONSUMER_BATCH: usize = 64;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../database/migrations/jobs");

/// The jobs domain service on SQL storage.
pub type Jobs = service::Jobs<SqlJobs>;

/// The jobs process.
pub struct JobsService {
    pub jobs: Jobs,
}

impl Service for JobsService {
    const NAME: &'static str = "jobs";
    const DEFAULT_PORT: u16 = DEFAULT_PORT;
    type Config = Config;

    fn migrations() -> Option<&'static sqlx::migrate::Migrator> {
        Some(&MIGRATOR)
    }

    fn topics() -> Vec<&'static str> {
        vec![
            topics::JOBS_REQUESTED.name,
            topics::JOBS_PROGRESS.name,
            topics::ACTIVITY.name,
        ]
    }

    async fn build(config: &Config, ctx: &mut ServiceContext) -> Result<Self, Error> {
        let jobs = Jobs::new(
            SqlJobs::new(ctx.db()?),
            config.attempt_timeout,
            ctx.stop_token(),
        )
        .with_retry_backoff(config.retry_base, config.retry_cap);
        {
            let (jobs, stop) = (jobs.clone(), ctx.stop_token());
            let (every, margin) = (config.reconcile_interval, config.reconcile_margin);
            ctx.spawn(async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(every) => {}
                    }
                    if let Err(e) = jobs.reconcile(margin).await {
                        tracing::warn!(error = %e, "job reconciler round failed");
                    }
                }
            });
        }
        let handler = jobs.clone();
        // Reports that arrived together are applied in one transaction.
        ctx.consume_batches(
            "jobs",
            &[topics::JOBS_PROGRESS.name],
            CONSUMER_BATCH,
            move |events| {
                let jobs = handler.clone();
                async move { jobs.handle_progress_batch(events).await }
            },
        );
        Ok(Self { jobs })
    }

    fn routes(&self) -> Routes {
        Routes::Grpc(
            ServiceRoutes::new().serve(pb::job_service_server::JobServiceServer::new(grpc::Api(
                self.jobs.clone(),
            ))),
        )
    }

    fn stopping(&self) {
        self.jobs.begin_shutdown();
    }
}
