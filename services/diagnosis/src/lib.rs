//! The diagnosis service: rule-based analyzers over a cluster's metrics,
//! health results, activity, actions and jobs ([`analyzers`], pure over a
//! [`facts::Snapshot`] that [`platform`] reads from the other services);
//! an LLM that explains and ranks their findings ([`llm`]); recommendations
//! implemented as jobs, once each ([`service`]). [`grpc`] is the thin
//! adapter.

use cg_runtime::{
    Error,
    grpc::ServiceRoutes,
    kit::{Routes, Service, ServiceContext},
    topic::topics,
};
use clustergenie_proto::diagnosis::v1 as pb;

pub mod analyzers;
pub mod config;
pub mod domain;
pub mod facts;
pub mod grpc;
pub mod llm;
pub mod platform;
pub mod repo;
pub mod service;
pub mod wire;

pub use config::Config;
use repo::SqlDiagnoses;

pub const DEFAULT_PORT: u16 = 50052;

pub static MIGRATOR: sqlx::migrate::Migrator =
    sqlx::migrate!("../../database/migrations/diagnosis");

/// Diagnosis on SQL storage.
pub type Diagnoser = service::Diagnoser<SqlDiagnoses>;

/// The diagnosis process.
pub struct DiagnosisService {
    pub diagnoser: Diagnoser,
}

impl Service for DiagnosisService {
    const NAME: &'static str = "diagnosis";
    const DEFAULT_PORT: u16 = DEFAULT_PORT;
    type Config = Config;

    fn migrations() -> Option<&'static sqlx::migrate::Migrator> {
        Some(&MIGRATOR)
    }

    fn topics() -> Vec<&'static str> {
        vec![topics::ACTIVITY.name]
    }

    async fn build(config: &Config, ctx: &mut ServiceContext) -> Result<Self, Error> {
        let platform = platform::Platform::new(
            &config.provisioning_url,
            &config.monitoring_url,
            &config.jobs_url,
            config.call_timeout,
        )
        .map_err(|e| Error::Config(e.to_string()))?;
        let enricher = llm::Enricher::new(&config.llm)
            .map_err(Error::Config)?
            .with_status(ctx.status());
        let (diagnoser, sweep) = Diagnoser::new(
            SqlDiagnoses::new(ctx.db()?),
            platform,
            enricher,
            config.rules.clone(),
            config.llm.deadline,
            ctx.stop_token(),
        );
        ctx.spawn(sweep);
        Ok(Self { diagnoser })
    }

    fn routes(&self) -> Routes {
        Routes::Grpc(ServiceRoutes::new().serve(
            pb::diagnosis_service_server::DiagnosisServiceServer::new(grpc::Api(
                self.diagnoser.clone(),
            )),
        ))
    }
}
