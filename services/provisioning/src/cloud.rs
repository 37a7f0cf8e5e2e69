//! The cloud behind provisioning. [`SimulatedCloud`] stands in for a real
//! provider: boot and action durations, per-region capacity and addresses,
//! injected failures and API latency, all configurable (short in tests).

use std::time::Duration;

use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::{catalog, domain::ActionType, repo::Placement};

/// What provisioning needs from a cloud.
pub trait CloudProvider: Placement + Send + Sync + 'static {
    /// How long a new droplet takes to become active.
    fn boot_delay(&self) -> Duration;
    /// How long an action runs before it completes or errors.
    fn action_duration(&self, kind: ActionType) -> Duration;
    /// Whether the action at its end succeeded (`Err` carries the cloud's reason).
    fn action_result(&self, kind: ActionType) -> Result<(), String>;
    /// Latency of one control-plane API call to the cloud.
    fn api_latency(&self) -> Duration;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudConfig {
    #[serde(with = "humantime_serde")]
    pub boot_delay: Duration,
    /// Base action duration; resize takes 3× and snapshot 4× this.
    #[serde(with = "humantime_serde")]
    pub action_duration: Duration,
    /// Probability in [0, 1] that an action errors.
    pub failure_rate: f64,
    /// Droplets each region can hold at once (1–65024).
    pub region_capacity: u32,
    #[serde(with = "humantime_serde")]
    pub api_latency: Duration,
}

impl Default for CloudConfig {
    fn default() -> Self {
        Self {
            boot_delay: Duration::from_secs(3),
            action_duration: Duration::from_secs(2),
            failure_rate: 0.0,
            region_capacity: 1000,
            api_latency: Duration::ZERO,
        }
    }
}

/// Slots per /24-like block of the placement scheme.
const HOSTS_PER_BLOCK: u32 = 254;
pub const MAX_REGION_CAPACITY: u32 = HOSTS_PER_BLOCK * 256;

impl CloudConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.failure_rate) {
            return Err("cloud.failure_rate must be between 0 and 1".into());
        }
        if self.region_capacity == 0 || self.region_capacity > MAX_REGION_CAPACITY {
            return Err(format!(
                "cloud.region_capacity must be between 1 and {MAX_REGION_CAPACITY}"
            ));
        }
        if self.boot_delay > Duration::from_secs(3600)
            || self.action_duration > Duration::from_secs(3600)
            || self.api_latency > Duration::from_secs(60)
        {
            return Err("cloud durations are limited to an hour (api_latency to a minute)".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct SimulatedCloud {
    config: CloudConfig,
}

impl SimulatedCloud {
    pub fn new(config: CloudConfig) -> Self {
        Self { config }
    }
}

impl Placement for SimulatedCloud {
    fn offers(&self, region: &str, size: &str) -> bool {
        catalog::region_by_slug(region).is_some_and(|r| r.offers(size))
    }

    fn capacity(&self, _region: &str) -> u32 {
        self.config.region_capacity
    }

    fn addresses(&self, region: &str, slot: u32) -> (String, String) {
        let (a, b, p) = catalog::region_by_slug(region).map_or((192, 0, 250), |r| {
            (r.public_prefix.0, r.public_prefix.1, r.private_octet)
        });
        let (c, d) = (slot / HOSTS_PER_BLOCK, slot % HOSTS_PER_BLOCK + 1);
        (format!("{a}.{b}.{c}.{d}"), format!("10.{p}.{c}.{d}"))
    }
}

impl CloudProvider for SimulatedCloud {
    fn boot_delay(&self) -> Duration {
        self.config.boot_delay
    }

    fn action_duration(&self, kind: ActionType) -> Duration {
        let factor = match kind {
            ActionType::Resize => 3,
            ActionType::Snapshot => 4,
            _ => 1,
        };
        self.config.action_duration * factor
    }

    fn action_result(&self, kind: ActionType) -> Result<(), String> {
        if self.config.failure_rate > 0.0 && rand::rng().random_bool(self.config.failure_rate) {
            Err(format!("simulated cloud failure during {}", kind.as_str()))
        } else {
            Ok(())
        }
    }

    fn api_latency(&self) -> Duration {
        self.config.api_latency
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_slot_of_a_region_gets_distinct_addresses() {
        let cloud = SimulatedCloud::new(CloudConfig::default());
        let mut seen = HashSet::new();
        for slot in 0..MAX_REGION_CAPACITY {
            let (public, private) = cloud.addresses("nyc1", slot);
            assert!(seen.insert(public), "slot {slot}");
            assert!(seen.insert(private), "slot {slot}");
        }
    }

    #[test]
    fn addresses_never_end_in_zero_or_broadcast() {
        let cloud = SimulatedCloud::new(CloudConfig::default());
        for slot in [0, 253, 254, MAX_REGION_CAPACITY - 1] {
            let (public, _) = cloud.addresses("sfo3", slot);
            let last: u32 = public.rsplit('.').next().unwrap().parse().unwrap();
            assert!((1..=254).contains(&last), "{public}");
        }
    }

    #[test]
    fn failure_rate_above_one_is_rejected() {
        let config = CloudConfig {
            failure_rate: 1.5,
            ..CloudConfig::default()
        };
        assert!(config.validate().is_err());
    }

    #[test]
    fn certain_failure_errors_every_action() {
        let cloud = SimulatedCloud::new(CloudConfig {
            failure_rate: 1.0,
            ..CloudConfig::default()
        });
        assert!(cloud.action_result(ActionType::Reboot).is_err());
    }
}
