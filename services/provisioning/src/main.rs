use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;

/// The provisioning service: clusters, droplets and actions on the simulated cloud.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// TOML file layered between the defaults and `CLUSTERGENIE_*` env.
    #[arg(long, env = "CLUSTERGENIE_CONFIG")]
    config: Option<PathBuf>,
    /// Ask the running service for its health and exit 0 when serving.
    #[arg(long)]
    health_check: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let shutdown = cg_runtime::shutdown::listen();
    let cli = Cli::parse();
    let config: provisioning::Config = cg_runtime::config::load(cli.config.as_deref())?;
    if cli.health_check {
        return cg_runtime::grpc::probe(config.server.listen_addr)
            .await
            .map_err(anyhow::Error::msg);
    }
    let telemetry = cg_runtime::telemetry::init("provisioning", &config.telemetry)?;
    if let Some(addr) = config.server.metrics_addr {
        cg_runtime::telemetry_metrics::install("provisioning", addr)?;
    }
    let listener = tokio::net::TcpListener::bind(config.server.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen_addr))?;
    let app = provisioning::App::build(&config).await?;
    tracing::info!(addr = %listener.local_addr()?, "provisioning listening");
    let result = app
        .serve(listener, shutdown, config.server.shutdown_grace)
        .await;
    tracing::info!("provisioning stopped");
    telemetry.shutdown();
    Ok(result?)
}
