//! Provisioning's configuration (defaults ← file ← `CLUSTERGENIE_*` env).

use cg_runtime::{
    config::{DatabaseConfig, ServerConfig, Validate},
    telemetry::TelemetryConfig,
};
use serde::{Deserialize, Serialize};

use cg_runtime::kafka::KafkaConfig;

use crate::{cloud::CloudConfig, executor::ExecutorConfig, fleet::FleetConfig};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub telemetry: TelemetryConfig,
    pub cloud: CloudConfig,
    /// The broker jobs arrive from; without one no jobs are executed.
    pub kafka: Option<KafkaConfig>,
    pub executor: ExecutorConfig,
    pub fleet: FleetConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::with_port(50051),
            database: DatabaseConfig::new("sqlite://data/provisioning.db"),
            telemetry: TelemetryConfig::default(),
            cloud: CloudConfig::default(),
            kafka: None,
            executor: ExecutorConfig::default(),
            fleet: FleetConfig::default(),
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), String> {
        self.server.validate()?;
        self.database.validate()?;
        self.telemetry.validate()?;
        if let Some(k) = &self.kafka {
            k.validate()?;
        }
        self.executor.validate()?;
        self.fleet.validate()?;
        self.cloud.validate()
    }
}
