//! The scaler service: HPA-style policies evaluated as each cluster's
//! metric samples arrive, decisions recorded and explained, and changes
//! made through jobs. The engine ([`hpa`]) is pure; [`service`] feeds it
//! from the stream, provisioning and the stored history; [`grpc`] is the
//! thin adapter.

use cg_runtime::{
    Error,
    grpc::ServiceRoutes,
    kit::{Routes, Service, ServiceContext},
    time::now_millis,
    topic::topics,
};
use clustergenie_proto::scaler::v1 as pb;

pub mod config;
pub mod decision;
pub mod grpc;
pub mod hpa;
pub mod platform;
pub mod policy;
pub mod repo;
pub mod schedule;
pub mod service;
pub mod wire;

pub use config::Config;
use repo::SqlScaler;

pub const DEFAULT_PORT: u16 = 50055;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../database/migrations/scaler");

/// The scaler on SQL storage.
pub type Scaler = service::Scaler<SqlScaler>;

/// The scaler process.
pub struct ScalerService {
    pub scaler: Scaler,
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Service for ScalerService {
    const NAME: &'static str = "scaler";
    const DEFAULT_PORT: u16 = DEFAULT_PORT;
    type Config = Config;

    fn migrations() -> Option<&'static sqlx::migrate::Migrator> {
        Some(&MIGRATOR)
    }

    fn topics() -> Vec<&'static str> {
        vec![topics::METRICS_SAMPLES.name, topics::ACTIVITY.name]
    }

    async fn build(config: &Config, ctx: &mut ServiceContext) -> Result<Self, Error> {
        // Listed before the first reaction, so a dashboard finds the series.
        let _ = metrics::histogram!("cg_scaler_reaction_seconds");
        let platform = platform::Platform::new(
            &config.provisioning_url,
            &config.jobs_url,
            config.call_timeout,
        )
        .map_err(|e| Error::Config(e.to_string()))?;
        let (scaler, tail) = Scaler::new(
            SqlScaler::new(ctx.db()?),
            platform,
            millis(config.sample_window),
            ctx.stop_token(),
        );
        ctx.spawn(tail);
        // Its own group: every cluster's batches reach one replica, in
        // order, so one evaluator at a time acts for a cluster.
        let handler = scaler.clone();
        ctx.consume("scaler", &[topics::METRICS_SAMPLES.name], move |e| {
            let scaler = handler.clone();
            async move {
                let batch = topics::METRICS_SAMPLES.decode(&e)?;
                scaler.handle_samples(&batch, now_millis()).await;
                Ok(())
            }
        });
        Ok(Self { scaler })
    }

    fn routes(&self) -> Routes {
        Routes::Grpc(ServiceRoutes::new().serve(
            pb::scaler_service_server::ScalerServiceServer::new(grpc::Api(self.scaler.clone())),
        ))
    }
}
