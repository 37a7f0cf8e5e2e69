//! Provisioning's configuration (defaults ← file ← `CLUSTERGENIE_*` env).

use cg_runtime::{
    config::{DatabaseConfig, ServerConfig, Validate},
    telemetry::TelemetryConfig,
};
use serde::{Deserialize, Serialize};

use crate::cloud::CloudConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub telemetry: TelemetryConfig,
    pub cloud: CloudConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::with_port(50051),
            database: DatabaseConfig::new("sqlite://data/provisioning.db"),
            telemetry: TelemetryConfig::default(),
            cloud: CloudConfig::default(),
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), String> {
        self.server.validate()?;
        self.database.validate()?;
        self.telemetry.validate()?;
        self.cloud.validate()
    }
}
