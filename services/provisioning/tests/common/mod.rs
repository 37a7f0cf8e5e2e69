//! Provisioning started for a test: in-process on port 0, on the test's
//! own database, through the service kit as its binary starts.

use std::time::Duration;

use cg_runtime::kit::Running;
use cg_testkit::{TestDb, config_for};
use provisioning::{Config, ProvisioningService, cloud::CloudConfig};

pub type Server = Running<ProvisioningService>;

/// Cloud timings small enough for tests.
pub fn fast_cloud() -> CloudConfig {
    CloudConfig {
        boot_delay: Duration::from_millis(100),
        action_duration: Duration::from_millis(100),
        failure_rate: 0.0,
        region_capacity: 1000,
        api_latency: Duration::ZERO,
    }
}

pub fn config(db: &TestDb, cloud: CloudConfig) -> Config {
    let mut config = config_for::<ProvisioningService>(Some(db), None);
    config.cloud = cloud;
    config
}

pub async fn start(config: &Config) -> Server {
    cg_testkit::start::<ProvisioningService>(config).await
}
