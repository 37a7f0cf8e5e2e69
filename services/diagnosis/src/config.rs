//! Diagnosis's configuration (defaults ← file ← `CLUSTERGENIE_*` env).

use std::time::Duration;

use cg_runtime::{config::CommonConfig, kit::ServiceConfig};
use serde::{Deserialize, Serialize};

use crate::{analyzers::Rules, llm::LlmConfig};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Listen address, telemetry, database and broker (activity entries go
    /// out through the outbox).
    #[serde(flatten)]
    pub common: CommonConfig,
    /// Where provisioning listens: the cluster, droplets, catalog, actions.
    pub provisioning_url: String,
    /// Where monitoring listens: metrics, health results, activity.
    pub monitoring_url: String,
    /// Where jobs listens: recent jobs, and implementing recommendations.
    pub jobs_url: String,
    /// Calls to those services give up after this long.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    /// The analyzers' windows and thresholds.
    pub rules: Rules,
    /// The LLM that explains the rules' answer; off without a base URL.
    pub llm: LlmConfig,
}

impl ServiceConfig for Config {
    fn defaults(name: &str, port: u16) -> Self {
        Self {
            common: CommonConfig::new(name, port),
            provisioning_url: "http://127.0.0.1:50051".into(),
            monitoring_url: "http://127.0.0.1:50054".into(),
            jobs_url: "http://127.0.0.1:50053".into(),
            call_timeout: Duration::from_secs(5),
            rules: Rules::default(),
            llm: LlmConfig::default(),
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
            ("monitoring_url", &self.monitoring_url),
            ("jobs_url", &self.jobs_url),
        ] {
            if !cg_runtime::config::is_http_url(url) {
                return Err(format!("{key} must be an http(s) URL (got {url:?})"));
            }
        }
        if self.call_timeout < Duration::from_millis(100)
            || self.call_timeout > Duration::from_secs(60)
        {
            return Err("call_timeout must be between 100ms and 60s".into());
        }
        self.rules.validate()?;
        self.llm.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(Config::defaults("diagnosis", 50052).validate(), Ok(()));
    }

    #[test]
    fn an_llm_url_without_a_scheme_is_rejected() {
        let mut c = Config::defaults("diagnosis", 50052);
        c.llm.base_url = Some("localhost:11434/v1".into());
        assert!(c.validate().unwrap_err().contains("llm.base_url"));
    }

    #[test]
    fn a_recent_window_longer_than_the_window_is_rejected() {
        let mut c = Config::defaults("diagnosis", 50052);
        c.rules.recent = c.rules.window + Duration::from_secs(1);
        assert!(c.validate().unwrap_err().contains("rules.recent"));
    }
}
