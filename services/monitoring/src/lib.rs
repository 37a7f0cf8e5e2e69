//! The monitoring service: metric history fed by `cg.metrics.samples`
//! (batched writes, 1 min and 1 h rollups, retention), cluster summaries,
//! live metric watches, synthetic health checks (results on
//! `cg.health.results` with the cluster's rolled-up health), and the
//! fleet's activity log fed by `cg.activity` (listed with filters,
//! streamed from a cursor), and alert rules evaluated as samples are
//! stored.
//!
//! Layout (the jobs template): `domain` (plain types, parsed once), `repo`
//! (a storage trait and its SQL implementation), `service` (the domain
//! service), `wire` (the protobuf forms), `grpc` (the thin adapter), and
//! [`MonitoringService`] (the kit's declarations).

pub mod activity;
pub mod alerts;
pub mod config;
pub mod domain;
pub mod grpc;
pub mod health;
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
use repo::HealthStore as _;

pub use crate::config::Config;
use crate::{
    repo::{SqlActivity, SqlAlerts, SqlHealth, SqlMetrics},
    service::Settings,
};

pub const DEFAULT_PORT: u16 = 50054;
/// The most records of one partition handled at once: a whole poll's worth
/// at the rates the mesh sees, one transaction for a batch of activity.
const CONSUMER_BATCH: usize = 64;

pub static MIGRATOR: sqlx::migrate::Migrator =
    sqlx::migrate!("../../database/migrations/monitoring");

/// Metric history on SQL storage.
pub type Metrics = service::Metrics<SqlMetrics>;

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The activity log on SQL storage.
pub type ActivityLog = activity::ActivityLog<SqlActivity>;

/// Health checks on SQL storage.
pub type HealthChecks = health::HealthChecks<SqlHealth>;

/// Alert rules and alerts on SQL storage.
pub type Alerts = alerts::Alerts<SqlAlerts>;

/// The monitoring process.
pub struct MonitoringService {
    pub metrics: Metrics,
    pub activity: ActivityLog,
    pub health: HealthChecks,
    pub alerts: Alerts,
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
            topics::HEALTH_RESULTS.name,
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
        let health = HealthChecks::new(SqlHealth::new(ctx.db()?), ctx.stop_token());
        ctx.spawn(health.clone().run());
        let alerts = Alerts::new(SqlAlerts::new(ctx.db()?), ctx.stop_token());
        ctx.spawn(alerts.clone().run(metrics.stored()));
        {
            let (metrics, activity, health, stop) = (
                metrics.clone(),
                activity.clone(),
                health.clone(),
                ctx.stop_token(),
            );
            let (every, keep) = (config.rollup_interval, millis(config.activity_retention));
            let keep_results = millis(config.retention);
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
                    if let Err(e) = health
                        .store()
                        .trim_results(now_millis() - keep_results)
                        .await
                    {
                        tracing::warn!(error = %e, "health result retention round failed");
                    }
                }
            });
        }
        // One consumer group for the three topics (a lane per topic and
        // partition, so a slow one holds back only itself): every group
        // polls the broker on its own. What arrives together is written
        // together: a batch's activity in one transaction, its samples in
        // one ingest, its droplet states in one upsert.
        let handler = (metrics.clone(), health.clone(), activity.clone());
        ctx.consume_batches(
            "monitoring",
            &[
                topics::METRICS_SAMPLES.name,
                topics::DROPLETS_EVENTS.name,
                topics::ACTIVITY.name,
            ],
            CONSUMER_BATCH,
            move |events| {
                let (metrics, health, activity) = handler.clone();
                async move {
                    let Some(topic) = events.first().map(|e| e.topic.clone()) else {
                        return Ok(());
                    };
                    if topic == topics::ACTIVITY.name {
                        activity.handle_batch(events).await
                    } else if topic == topics::METRICS_SAMPLES.name {
                        metrics.handle_samples_batch(events).await
                    } else {
                        let decoded = events
                            .iter()
                            .map(|e| topics::DROPLETS_EVENTS.decode(e))
                            .collect::<Result<Vec<_>, _>>()?;
                        metrics.record_droplets(&decoded).await?;
                        for event in &decoded {
                            health.record_fault(event).await?;
                        }
                        Ok(())
                    }
                }
            },
        );
        Ok(Self {
            metrics,
            activity,
            health,
            alerts,
        })
    }

    fn routes(&self) -> Routes {
        Routes::Grpc(
            ServiceRoutes::new()
                .serve(pb::metrics_service_server::MetricsServiceServer::new(
                    grpc::Api(self.metrics.clone(), self.health.clone()),
                ))
                .serve(
                    pb::health_check_service_server::HealthCheckServiceServer::new(
                        grpc::HealthApi(self.health.clone()),
                    ),
                )
                .serve(pb::alert_service_server::AlertServiceServer::new(
                    grpc::AlertApi(self.alerts.clone()),
                ))
                .serve(pb::activity_service_server::ActivityServiceServer::new(
                    grpc::ActivityApi(self.activity.clone()),
                )),
        )
    }
}
