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
    /// An attempt still unfinished this long after its deadline is failed
    /// by the reconciler (and retried per `max_attempts`).
    #[serde(with = "humantime_serde")]
    pub reconcile_margin: Duration,
    /// How often the reconciler looks for due retries and overdue attempts.
    #[serde(with = "humantime_serde")]
    pub reconcile_interval: Duration,
    /// First wait before an automatic retry (full jitter, doubling per
    /// attempt up to `retry_cap`).
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    #[serde(with = "humantime_serde")]
    pub retry_cap: Duration,
}

impl ServiceConfig for Config {
    fn defaults(name: &str, port: u16) -> Self {
        Self {
            common: CommonConfig::new(name, port),
            attempt_timeout: Duration::from_secs(600),
            reconcile_margin: Duration::from_secs(30),
            reconcile_interval: Duration::from_secs(1),
            retry_base: Duration::from_secs(1),
            retry_cap: Duration::from_secs(60),
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
        if self.reconcile_interval < Duration::from_millis(10) {
            return Err("reconcile_interval must be at least 10ms".into());
        }
        if self.retry_base.is_zero() || self.retry_cap < self.retry_base {
            return Err("retry_base must be positive and retry_cap at least retry_base".into());
        }
        Ok(())
    }
}
