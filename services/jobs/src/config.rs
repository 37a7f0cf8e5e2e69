//! Jobs' configuration (defaults ← file ← `CLUSTERGENIE_*` env).

use std::time::Duration;

use cg_runtime::{config::CommonConfig, kit::ServiceConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Listen address, telemetry, database and broker. Without a broker
    /// jobs are recorded (their requests wait in the outbox) but nothing
    /// runs them.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// How long an executor may spend on one attempt.
    #[serde(with = "humantime_serde")]
    pub attempt_timeout: Duration,
}

impl ServiceConfig for Config {
    fn defaults(name: &str, port: u16) -> Self {
        Self {
            common: CommonConfig::new(name, port),
            attempt_timeout: Duration::from_secs(600),
        }
    }

    fn common(&self) -> &CommonConfig {
        &self.common
    }

    fn common_mut(&mut self) -> &mut CommonConfig {
        &mut self.common
    }

    fn validate(&self) -> Result<(), String> {
        if self.attempt_timeout.is_zero() {
            return Err("attempt_timeout must be positive".into());
        }
        Ok(())
    }
}
