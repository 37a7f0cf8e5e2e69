//! Provisioning's configuration (defaults ← file ← `CLUSTERGENIE_*` env).

use cg_runtime::{config::CommonConfig, kit::ServiceConfig};
use serde::{Deserialize, Serialize};

use crate::{cloud::CloudConfig, executor::ExecutorConfig, fleet::FleetConfig};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Listen address, telemetry, database and broker; without a broker no
    /// jobs are executed and no events are published.
    #[serde(flatten)]
    pub common: CommonConfig,
    #[serde(default)]
    pub cloud: CloudConfig,
    #[serde(default)]
    pub executor: ExecutorConfig,
    #[serde(default)]
    pub fleet: FleetConfig,
}

impl ServiceConfig for Config {
    fn defaults(name: &str, port: u16) -> Self {
        Self {
            common: CommonConfig::new(name, port),
            cloud: CloudConfig::default(),
            executor: ExecutorConfig::default(),
            fleet: FleetConfig::default(),
        }
    }

    fn common(&self) -> &CommonConfig {
        &self.common
    }

    fn common_mut(&mut self) -> &mut CommonConfig {
        &mut self.common
    }

    fn validate(&self) -> Result<(), String> {
        self.executor.validate()?;
        self.fleet.validate()?;
        self.cloud.validate()
    }
}
