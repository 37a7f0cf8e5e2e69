//! Jobs' configuration (defaults ← file ← `CLUSTERGENIE_*` env).

use std::time::Duration;

use cg_runtime::{
    config::{DatabaseConfig, ServerConfig, Validate},
    kafka::KafkaConfig,
    telemetry::TelemetryConfig,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub telemetry: TelemetryConfig,
    /// Without a broker jobs are recorded (and their requests kept in the
    /// outbox) but nothing runs them.
    pub kafka: Option<KafkaConfig>,
    /// How long an executor may spend on one attempt.
    #[serde(with = "humantime_serde")]
    pub attempt_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::with_port(crate::DEFAULT_PORT),
            database: DatabaseConfig::new("sqlite://data/jobs.db"),
            telemetry: TelemetryConfig::default(),
            kafka: None,
            attempt_timeout: Duration::from_secs(600),
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
        if self.attempt_timeout.is_zero() {
            return Err("attempt_timeout must be positive".into());
        }
        Ok(())
    }
}
