//! The scaler's configuration (defaults ← file ← `CLUSTERGENIE_*` env).

use std::time::Duration;

use cg_runtime::{config::CommonConfig, kit::ServiceConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Listen address, telemetry, database and broker. Without a broker no
    /// samples arrive, so only `EvaluateNow` evaluates.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// Where provisioning listens: clusters, droplets and the catalog.
    pub provisioning_url: String,
    /// Where jobs listens: scaling decisions become jobs there.
    pub jobs_url: String,
    /// A droplet's latest sample counts this long; an active droplet with
    /// none that recent is missing, and forbids scaling down.
    #[serde(with = "humantime_serde")]
    pub sample_window: Duration,
    /// Calls to provisioning and jobs give up after this long.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
}

impl ServiceConfig for Config {
    fn defaults(name: &str, port: u16) -> Self {
        Self {
            common: CommonConfig::new(name, port),
            provisioning_url: "http://127.0.0.1:50051".into(),
            jobs_url: "http://127.0.0.1:50053".into(),
            sample_window: Duration::from_secs(60),
            call_timeout: Duration::from_secs(5),
        }
    }

    fn common(&self) -> &CommonConfig {
        &self.common
    }

    fn common_mut(&mut self) -> &mut CommonConfig {
        &mut self.common
    }

    fn validate(&self) -> Result<(), String> {
        for (key, url) in [
            ("provisioning_url", &self.provisioning_url),
            ("jobs_url", &self.jobs_url),
        ] {
            if !cg_runtime::config::is_http_url(url) {
                return Err(format!("{key} must be an http(s) URL (got {url:?})"));
            }
        }
        if self.sample_window < Duration::from_secs(1)
            || self.sample_window > Duration::from_secs(3600)
        {
            return Err("sample_window must be between 1s and 1h".into());
        }
        if self.call_timeout < Duration::from_millis(100)
            || self.call_timeout > Duration::from_secs(60)
        {
            return Err("call_timeout must be between 100ms and 60s".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(Config::defaults("scaler", 50055).validate(), Ok(()));
    }

    #[test]
    fn a_jobs_url_without_a_scheme_is_rejected() {
        let mut c = Config::defaults("scaler", 50055);
        c.jobs_url = "127.0.0.1:50053".into();
        assert!(c.validate().unwrap_err().contains("jobs_url"));
    }

    #[test]
    fn a_zero_sample_window_is_rejected() {
        let mut c = Config::defaults("scaler", 50055);
        c.sample_window = Duration::ZERO;
        assert!(c.validate().unwrap_err().contains("sample_window"));
    }
}
