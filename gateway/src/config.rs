//! The gateway's configuration (defaults ← file ← `CLUSTERGENIE_*` env).

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use cg_runtime::{config::CommonConfig, kit::ServiceConfig};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::limits::{Budget, Tier};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Listen address, telemetry, and the database holding tokens and
    /// admin-changed limits.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// Where each backend listens, by the service it runs: `provisioning`,
    /// `jobs`, `diagnosis`, `monitoring`, `scaler`. Calls to
    /// `clustergenie.<name>.v1.*` go there.
    pub backends: BTreeMap<String, String>,
    /// The built dashboard (`web/dist`); missing serves a hint page.
    pub web_root: PathBuf,
    /// Deadline for a backend's answer headers (a stream may run longer).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    /// Origins allowed to call from a browser; `*` allows any (tokens are
    /// bearer headers, never cookies).
    pub cors_origins: Vec<String>,
    /// Caps on server streams (WatchJob, StreamActivity, …) per token.
    pub streams: crate::streams::StreamsConfig,
    /// A trace viewer's page for one trace, with `{trace_id}` where the id
    /// goes (e.g. Jaeger's `http://localhost:16686/trace/{trace_id}`): the
    /// dashboard links activity entries to their trace. Unset: no links.
    pub trace_ui_url: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The admin token to create on first start; unset generates one and
    /// prints it once.
    #[serde(serialize_with = "cg_runtime::config::serialize_optional_secret")]
    pub bootstrap_token: Option<SecretString>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// `redis://…` to share budgets between gateway replicas; unset keeps
    /// them in this process.
    #[serde(serialize_with = "cg_runtime::config::serialize_optional_secret")]
    pub redis_url: Option<SecretString>,
    /// Prefix of the Redis keys, so several meshes can share one Redis.
    pub redis_prefix: String,
    /// How long a call's limit check may wait for Redis before this
    /// replica's own limiter decides instead.
    #[serde(with = "humantime_serde")]
    pub redis_timeout: Duration,
    pub default: Budget,
    pub expensive: Budget,
    pub anonymous: Budget,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            redis_prefix: "cg:rl".into(),
            redis_timeout: Duration::from_millis(50),
            default: Budget {
                requests: 600,
                period: Duration::from_secs(60),
            },
            expensive: Budget {
                requests: 30,
                period: Duration::from_secs(60),
            },
            anonymous: Budget {
                requests: 120,
                period: Duration::from_secs(60),
            },
        }
    }
}

impl AuthConfig {
    /// The configured token; an empty value (compose's default) means none.
    pub fn bootstrap(&self) -> Option<&SecretString> {
        self.bootstrap_token
            .as_ref()
            .filter(|s| !secrecy::ExposeSecret::expose_secret(*s).is_empty())
    }
}

impl LimitsConfig {
    pub fn budget(&self, tier: Tier) -> Budget {
        match tier {
            Tier::Default => self.default,
            Tier::Expensive => self.expensive,
            Tier::Anonymous => self.anonymous,
        }
    }
}

pub const SERVICES: [&str; 5] = ["provisioning", "jobs", "diagnosis", "monitoring", "scaler"];

impl ServiceConfig for Config {
    fn defaults(name: &str, port: u16) -> Self {
        let backends = SERVICES
            .iter()
            .zip([50051, 50053, 50052, 50054, 50055])
            .map(|(name, port)| ((*name).to_string(), format!("http://127.0.0.1:{port}")))
            .collect();
        Self {
            common: CommonConfig::new(name, port),
            backends,
            web_root: PathBuf::from("web/dist"),
            request_timeout: Duration::from_secs(30),
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            cors_origins: vec!["*".into()],
            streams: crate::streams::StreamsConfig::default(),
            trace_ui_url: None,
        }
    }

    fn common(&self) -> &CommonConfig {
        &self.common
    }

    fn common_mut(&mut self) -> &mut CommonConfig {
        &mut self.common
    }

    fn validate(&self) -> Result<(), String> {
        for (name, url) in &self.backends {
            if !SERVICES.contains(&name.as_str()) {
                return Err(format!(
                    "backends.{name}: unknown service (expected one of {})",
                    SERVICES.join(", ")
                ));
            }
            // Inside the mesh backends speak plain HTTP/2 (`forward`).
            if !(url.starts_with("http://") && cg_runtime::config::is_http_url(url)) {
                return Err(format!("backends.{name}: {url:?} is not an http:// URL"));
            }
        }
        self.streams.validate()?;
        if let Some(url) = &self.trace_ui_url
            && !(url.contains("{trace_id}")
                && cg_runtime::config::is_http_url(&url.replace("{trace_id}", "0")))
        {
            return Err(format!(
                "trace_ui_url: {url:?} must be an http(s) URL with {{trace_id}} in it"
            ));
        }
        if self.request_timeout.is_zero() || self.request_timeout > Duration::from_secs(600) {
            return Err("request_timeout must be between 1ms and 10m".into());
        }
        for tier in Tier::ALL {
            self.limits
                .budget(tier)
                .validate()
                .map_err(|e| format!("limits.{}: {e}", tier.as_str()))?;
        }
        if let Some(token) = self.auth.bootstrap() {
            crate::auth::Secret::parse(secrecy::ExposeSecret::expose_secret(token))
                .map_err(|e| format!("auth.bootstrap_token: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_trace_ui(url: &str) -> Config {
        Config {
            trace_ui_url: Some(url.into()),
            ..Config::defaults("gateway", 8080)
        }
    }

    #[test]
    fn a_trace_viewer_url_needs_a_place_for_the_trace_id() {
        assert!(
            with_trace_ui("http://localhost:16686/trace/{trace_id}")
                .validate()
                .is_ok()
        );
        let missing = with_trace_ui("http://localhost:16686/trace/").validate();
        assert!(missing.unwrap_err().contains("{trace_id}"));
        assert!(
            with_trace_ui("javascript:alert({trace_id})")
                .validate()
                .is_err()
        );
    }
}
