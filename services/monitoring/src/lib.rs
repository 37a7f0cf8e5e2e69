//! The monitoring service: metric history fed by `cg.metrics.samples`
//! (batched writes, 1 min and 1 h rollups, retention), cluster summaries,
//! live metric watches, and the fleet's activity log fed by `cg.activity`
//! (listed with filters, streamed from a cursor). Health checks serve
//! their contract and answer UNIMPLEMENTED until they land.
//!
//! Layout (the jobs template): `domain` (plain types, parsed once), `repo`
//! (a storage trait and its SQL implementation), `service` (the domain
//! service), `wire` (the protobuf forms), `grpc` (the thin adapter), and
//! [`MonitoringService`] (the kit's declarations).

pub mod activity;
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
    time::now_millis,
    topic::topics,
};
use clustergenie_proto::monitoring::v1 as pb;

pub use crate::config::Config;
use crate::{
    repo::{SqlActivity, SqlMetrics},
    service::Settings,
};

pub const DEFAULT_PORT: u16 = 50054;

pub static MIGRATOR: sqlx::migrate::Migrator =
    sqlx::migrate!("../../database/migrations/monitoring");

/// Metric history on SQL storage.
pub type Metrics = service::Metrics<SqlMetrics>;

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The activity log on SQL storage.
pub type ActivityLog = activity::ActivityLog<SqlActivity>;

/// The monitoring process.
pub struct MonitoringService {
    pub metrics: Metrics,
    pub activity: ActivityLog,
}

impl Service for MonitoringService {
    const NAME: &'static str = "monitoring";
    const DEFAULT_PORT: u16 = DEFAULT_PORT;
    type Config = Config;

    fn migrations() -> Option<&'static sqlx::migrate::Migrator> {
        Some(&MIGRATOR)
    }

    fn topics() -> Vec<&'static str> {
        vec![
            topics::METRICS_SAMPLES.name,
            topics::DROPLETS_EVENTS.name,
            topics::ACTIVITY.name,
        ]
    }

    async fn build(config: &Config, ctx: &mut ServiceContext) -> Result<Self, Error> {
        let settings = Settings {
            raw_retention_ms: millis(config.raw_retention),
            retention_ms: millis(config.retention),
            lateness_ms: millis(config.rollup_lateness),
            batch_rows: config.ingest_batch,
        };
        let (metrics, ingest) =
            Metrics::new(SqlMetrics::new(ctx.db()?), settings, ctx.stop_token());
        ctx.spawn(ingest);
        let (activity, tail) = ActivityLog::new(SqlActivity::new(ctx.db()?), ctx.stop_token());
        ctx.spawn(tail);
        {
            let (metrics, activity, stop) = (metrics.clone(), activity.clone(), ctx.stop_token());
            let (every, keep) = (config.rollup_interval, millis(config.activity_retention));
            ctx.spawn(async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(every) => {}
                    }
                    if let Err(e) = metrics.maintain(now_millis()).await {
                        tracing::warn!(error = %e, "metric rollup and retention round failed");
                    }
                    if let Err(e) = activity.enforce_retention(now_millis() - keep).await {
                        tracing::warn!(error = %e, "activity retention round failed");
                    }
                }
            });
        }
        let handler = metrics.clone();
        ctx.consume(
            "monitoring-metrics",
            &[topics::METRICS_SAMPLES.name],
            move |e| {
                let metrics = handler.clone();
                async move { metrics.handle_samples(e).await }
            },
        );
        let handler = metrics.clone();
        ctx.consume(
            "monitoring-droplets",
            &[topics::DROPLETS_EVENTS.name],
            move |e| {
                let metrics = handler.clone();
                async move { metrics.handle_droplet_event(e).await }
            },
        );
        let handler = activity.clone();
        ctx.consume("monitoring-activity", &[topics::ACTIVITY.name], move |e| {
            let activity = handler.clone();
            async move { activity.handle(e).await }
        });
        Ok(Self { metrics, activity })
    }

    fn routes(&self) -> Routes {
        Routes::Grpc(
            ServiceRoutes::new()
                .serve(pb::metrics_service_server::MetricsServiceServer::new(
                    grpc::Api(self.metrics.clone()),
                ))
                .serve(pb::health_check_service_server::HealthCheckServiceServer::new(NotYet))
                .serve(pb::activity_service_server::ActivityServiceServer::new(
                    grpc::ActivityApi(self.activity.clone()),
                )),
        )
    }
}

/// Health checks: their contract, UNIMPLEMENTED.
#[derive(Debug, Clone, Copy)]
struct NotYet;

impl pb::health_check_service_server::HealthCheckService for NotYet {}
