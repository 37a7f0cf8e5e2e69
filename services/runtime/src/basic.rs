//! The process skeleton for services that serve only gRPC (no storage yet):
//! config (fail fast) → telemetry → bind → serve until a signal → drain
//! within the grace period → flush telemetry.

use std::{future::Future, path::PathBuf};

use clap::Parser;
use serde::{Deserialize, Serialize};
use tonic::service::Routes;
use tonic_health::server::HealthReporter;

use crate::{
    Error,
    config::{ServerConfig, Validate},
    telemetry::TelemetryConfig,
};

#[derive(Debug, Parser)]
pub struct Cli {
    /// TOML file layered between the defaults and `CLUSTERGENIE_*` env.
    #[arg(long, env = "CLUSTERGENIE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Ask the running service for its health and exit 0 when serving.
    #[arg(long)]
    pub health_check: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BasicConfig {
    #[serde(flatten)]
    pub server: ServerConfig,
    pub telemetry: TelemetryConfig,
}

impl Validate for BasicConfig {
    fn validate(&self) -> Result<(), String> {
        self.server.validate()?;
        self.telemetry.validate()
    }
}

/// Runs a gRPC-only service whose default port is `default_port`.
pub async fn run<F, Fut>(service: &'static str, default_port: u16, routes: F) -> Result<(), Error>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(Routes, HealthReporter), Error>>,
{
    let shutdown = crate::shutdown::listen();
    let cli = Cli::parse();
    // The port default differs per service; file and env still override it.
    let defaults = BasicConfig {
        server: ServerConfig::with_port(default_port),
        ..BasicConfig::default()
    };
    let config = crate::config::load_over(defaults, cli.config.as_deref())?;
    if cli.health_check {
        return crate::grpc::probe(config.server.listen_addr)
            .await
            .map_err(Error::Config);
    }
    let telemetry = crate::telemetry::init(service, &config.telemetry)?;
    if let Some(addr) = config.server.metrics_addr {
        crate::telemetry_metrics::install(service, addr)?;
    }
    let listener = tokio::net::TcpListener::bind(config.server.listen_addr).await?;
    let (routes, health) = routes().await?;
    tracing::info!(service, addr = %listener.local_addr()?, "listening");
    let result = crate::grpc::serve(
        listener,
        routes,
        health,
        shutdown,
        config.server.shutdown_grace,
    )
    .await;
    tracing::info!(service, "stopped");
    telemetry.shutdown();
    result
}
