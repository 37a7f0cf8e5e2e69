//! Layered configuration: defaults ← TOML file ← `CLUSTERGENIE_*` env.
//!
//! Nested keys use `__` in env names: `CLUSTERGENIE_DATABASE__URL` sets
//! `database.url`.

use std::{net::SocketAddr, path::Path, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{Error, telemetry::TelemetryConfig};

/// Env prefix for every setting.
pub const ENV_PREFIX: &str = "CLUSTERGENIE_";

/// Loads `T` from its defaults, then `file` when given, then the environment,
/// and validates it: a service refuses to start on a bad setting.
pub fn load<T>(file: Option<&Path>) -> Result<T, Error>
where
    T: Serialize + DeserializeOwned + Default + Validate,
{
    load_over(T::default(), file)
}

/// [`load`] with explicit defaults (a service's own port, say).
pub fn load_over<T>(defaults: T, file: Option<&Path>) -> Result<T, Error>
where
    T: Serialize + DeserializeOwned + Validate,
{
    let config: T = load_unchecked(defaults, file)?;
    config.validate().map_err(Error::Config)?;
    Ok(config)
}

/// The layers of [`load_over`] without its check (the caller checks).
pub fn load_unchecked<T>(defaults: T, file: Option<&Path>) -> Result<T, Error>
where
    T: Serialize + DeserializeOwned,
{
    let mut figment = Figment::from(Serialized::defaults(defaults));
    if let Some(file) = file {
        if !file.exists() {
            return Err(Error::Config(format!(
                "config file {} does not exist",
                file.display()
            )));
        }
        figment = figment.merge(Toml::file(file));
    }
    figment
        .merge(Env::prefixed(ENV_PREFIX).split("__"))
        .extract()
        .map_err(|e| Error::Config(e.to_string()))
}

/// An absolute `http://` or `https://` URL: what every setting naming a
/// service, a collector or an endpoint must be.
pub fn is_http_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://"))
        && url
            .parse::<http::Uri>()
            .is_ok_and(|u| u.host().is_some_and(|h| !h.is_empty()))
}

/// Checks a loaded configuration; the message names the bad key.
pub trait Validate {
    fn validate(&self) -> Result<(), String>;
}

/// Where and how a service serves gRPC.
/// Flattened into each service's config: `CLUSTERGENIE_LISTEN_ADDR`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    pub listen_addr: SocketAddr,
    /// Where `/metrics` is served for Prometheus; unset serves none.
    pub metrics_addr: Option<SocketAddr>,
    /// How long in-flight calls may run after SIGTERM before the process exits.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// The largest request body accepted (a gRPC message and its framing);
    /// larger ones are refused before they are read.
    pub max_request_bytes: usize,
    /// Calls one connection may have in flight; more wait for a free slot.
    pub max_concurrent_per_connection: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self::with_port(50051)
    }
}

impl ServerConfig {
    pub fn with_port(port: u16) -> Self {
        Self {
            listen_addr: SocketAddr::from(([0, 0, 0, 0], port)),
            metrics_addr: None,
            shutdown_grace: Duration::from_secs(20),
            max_request_bytes: 4 * 1024 * 1024,
            max_concurrent_per_connection: 256,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.shutdown_grace.is_zero() || self.shutdown_grace > Duration::from_secs(600) {
            return Err("shutdown_grace must be between 1ms and 10m".into());
        }
        if !(1024..=256 * 1024 * 1024).contains(&self.max_request_bytes) {
            return Err("max_request_bytes must be between 1KiB and 256MiB".into());
        }
        if !(1..=100_000).contains(&self.max_concurrent_per_connection) {
            return Err("max_concurrent_per_connection must be 1–100000".into());
        }
        Ok(())
    }
}

/// A database URL: `mysql://…` (MariaDB/MySQL) or `sqlite://…` (embedded).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Secret: a MySQL URL carries a password.
    #[serde(serialize_with = "serialize_secret")]
    pub url: SecretString,
    pub max_connections: u32,
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
}

impl DatabaseConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: SecretString::from(url.into()),
            ..Self::default()
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let url = self.url.expose_secret();
        if !(url.starts_with("mysql://") || url.starts_with("sqlite:")) {
            return Err(format!(
                "database.url must start with mysql:// or sqlite: (got {})",
                crate::db::redact(url)
            ));
        }
        if self.max_connections == 0 || self.max_connections > 1024 {
            return Err("database.max_connections must be between 1 and 1024".into());
        }
        Ok(())
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: SecretString::from("sqlite://data/clustergenie.db"),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// What every service's configuration holds, flattened into it: where it
/// serves, its telemetry, its database and its broker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommonConfig {
    #[serde(flatten)]
    pub server: ServerConfig,
    pub telemetry: TelemetryConfig,
    /// Used by services that keep state (created and migrated at start).
    pub database: DatabaseConfig,
    /// The broker events go through; without one nothing is published or
    /// consumed (outbox rows wait for one).
    pub kafka: Option<crate::kafka::KafkaConfig>,
}

impl CommonConfig {
    /// Defaults for `service`: its port, and its SQLite file under `data/`.
    pub fn new(service: &str, port: u16) -> Self {
        Self {
            server: ServerConfig::with_port(port),
            telemetry: TelemetryConfig::default(),
            database: DatabaseConfig::new(format!("sqlite://data/{service}.db")),
            kafka: None,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        self.server.validate()?;
        self.telemetry.validate()?;
        self.database.validate()?;
        if let Some(k) = &self.kafka {
            k.validate()?;
        }
        Ok(())
    }
}

thread_local! {
    /// Set while `--print-config` serialises: secrets print as `***`.
    static REDACT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `config` as TOML with every secret replaced by `***`.
pub fn redacted_toml<T: Serialize>(config: &T) -> Result<String, String> {
    REDACT.with(|r| r.set(true));
    let out = toml::to_string_pretty(config).map_err(|e| e.to_string());
    REDACT.with(|r| r.set(false));
    out
}

/// Serialising exists to seed figment with a service's defaults, so the
/// value must survive it (except for `--print-config`); `Debug` (what logs
/// use) stays redacted.
fn serialize_secret<S: serde::Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    if REDACT.with(std::cell::Cell::get) {
        return s.serialize_str("***");
    }
    s.serialize_str(secret.expose_secret())
}

/// [`serialize_secret`] for optional secrets (`#[serde(serialize_with =
/// "cg_runtime::config::serialize_optional_secret")]`).
pub fn serialize_optional_secret<S: serde::Serializer>(
    secret: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) if REDACT.with(std::cell::Cell::get) => s.serialize_some("***"),
        Some(v) => s.serialize_some(v.expose_secret()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
// figment's Jail fixes the closure's error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_http_urls_with_a_host_are_urls() {
        assert!(is_http_url("http://jobs:50053"));
        assert!(is_http_url("https://api.example.com/v1"));
        assert!(!is_http_url("jobs:50053"));
        assert!(!is_http_url("http://"));
        assert!(!is_http_url("ftp://host/x"));
        assert!(!is_http_url("http://bad host/"));
    }

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct Sample {
        database: DatabaseConfig,
        name: String,
    }

    impl Validate for Sample {
        fn validate(&self) -> Result<(), String> {
            self.database.validate()
        }
    }

    #[test]
    fn env_overrides_file_which_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "name = \"file\"\n[database]\nmax_connections = 3")?;
            jail.set_env("CLUSTERGENIE_NAME", "env");
            let c: Sample = load(Some(Path::new("c.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.name, "env");
            assert_eq!(c.database.max_connections, 3);
            assert_eq!(c.database.acquire_timeout, Duration::from_secs(10));
            Ok(())
        });
    }

    #[test]
    fn nested_keys_come_from_double_underscore_env_names() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CLUSTERGENIE_DATABASE__URL", "mysql://u:p@db:3306/x");
            let c: Sample = load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.database.url.expose_secret(), "mysql://u:p@db:3306/x");
            Ok(())
        });
    }

    #[test]
    fn unknown_database_scheme_is_rejected_at_start() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CLUSTERGENIE_DATABASE__URL", "postgres://x:secret@h/db");
            let err = load::<Sample>(None).unwrap_err().to_string();
            assert!(err.contains("database.url"), "{err}");
            assert!(!err.contains("secret"), "password leaked: {err}");
            Ok(())
        });
    }

    #[test]
    fn defaults_alone_are_a_valid_configuration() {
        figment::Jail::expect_with(|_| {
            let c: Sample = load(None).map_err(|e| e.to_string())?;
            assert_eq!(
                c.database.url.expose_secret(),
                "sqlite://data/clustergenie.db"
            );
            Ok(())
        });
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let c = DatabaseConfig::new("mysql://u:hunter2@h/db");
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn printed_configuration_hides_secrets_but_keeps_the_rest() {
        let c = Sample {
            database: DatabaseConfig::new("mysql://u:hunter2@h/db"),
            name: "visible".into(),
        };
        let printed = redacted_toml(&c).unwrap();
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("visible"), "{printed}");
        // Seeding figment still sees the real value.
        let seeded: Sample = Figment::from(Serialized::defaults(&c)).extract().unwrap();
        assert_eq!(
            seeded.database.url.expose_secret(),
            "mysql://u:hunter2@h/db"
        );
    }

    #[test]
    fn missing_config_file_is_an_error() {
        assert!(load::<Sample>(Some(Path::new("/nonexistent/cg.toml"))).is_err());
    }
}
