//! Monitoring's configuration (defaults ← file ← `CLUSTERGENIE_*` env).

use std::time::Duration;

use cg_runtime::{config::CommonConfig, kit::ServiceConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Listen address, telemetry, database and broker. Without a broker
    /// nothing is ingested: queries answer what is stored.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// How long raw samples are kept; beyond it charts read rollups.
    #[serde(with = "humantime_serde")]
    pub raw_retention: Duration,
    /// How long rollups (1 min and 1 h buckets) are kept, and how far back
    /// a query may reach.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// How often closed buckets are rolled up and retention is enforced.
    #[serde(with = "humantime_serde")]
    pub rollup_interval: Duration,
    /// A bucket is rolled up this long after it ends; samples arriving
    /// later than that stay raw only.
    #[serde(with = "humantime_serde")]
    pub rollup_lateness: Duration,
    /// How long activity entries are kept.
    #[serde(with = "humantime_serde")]
    pub activity_retention: Duration,
    /// At most this many samples per database write; records arriving
    /// while one write runs share the next.
    pub ingest_batch: usize,
}

impl ServiceConfig for Config {
    fn defaults(name: &str, port: u16) -> Self {
        Self {
            common: CommonConfig::new(name, port),
            raw_retention: Duration::from_secs(24 * 3600),
            retention: Duration::from_secs(7 * 24 * 3600),
            rollup_interval: Duration::from_secs(30),
            rollup_lateness: Duration::from_secs(60),
            activity_retention: Duration::from_secs(30 * 86_400),
            ingest_batch: 5000,
        }
    }

    fn common(&self) -> &CommonConfig {
        &self.common
    }

    fn common_mut(&mut self) -> &mut CommonConfig {
        &mut self.common
    }

    fn validate(&self) -> Result<(), String> {
        // Hourly rollups are computed from raw samples, so an hour (and the
        // lateness) must still be raw when its rollup runs.
        if self.raw_retention < Duration::from_secs(2 * 3600) {
            return Err("raw_retention must be at least 2h".into());
        }
        if self.retention < self.raw_retention || self.retention > Duration::from_secs(400 * 86_400)
        {
            return Err("retention must be at least raw_retention and at most 400 days".into());
        }
        if self.rollup_interval < Duration::from_millis(100)
            || self.rollup_interval > Duration::from_secs(3600)
        {
            return Err("rollup_interval must be between 100ms and 1h".into());
        }
        if self.rollup_lateness > Duration::from_secs(3600) {
            return Err("rollup_lateness must be at most 1h".into());
        }
        if self.activity_retention < Duration::from_secs(3600) {
            return Err("activity_retention must be at least 1h".into());
        }
        if !(1..=100_000).contains(&self.ingest_batch) {
            return Err("ingest_batch must be between 1 and 100000".into());
        }
        Ok(())
    }
}
