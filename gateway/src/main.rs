use anyhow::Context as _;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let shutdown = cg_runtime::shutdown::listen();
    let cli = cg_runtime::basic::Cli::parse();
    let config: gateway::Config = cg_runtime::config::load(cli.config.as_deref())?;
    if cli.health_check {
        return cg_runtime::grpc::probe(config.server.listen_addr)
            .await
            .map_err(anyhow::Error::msg);
    }
    let telemetry = cg_runtime::telemetry::init("gateway", &config.telemetry)?;
    if let Some(addr) = config.server.metrics_addr {
        cg_runtime::telemetry_metrics::install("gateway", addr)?;
    }
    let listener = tokio::net::TcpListener::bind(config.server.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen_addr))?;
    let app = gateway::App::build(&config).await?;
    if let Some(secret) = &app.bootstrap_secret {
        // Printed once, on the start that created it; only its hash is kept.
        println!("admin token (shown once): {secret}");
    }
    tracing::info!(addr = %listener.local_addr()?, "gateway listening");
    let result = app
        .serve(listener, shutdown, config.server.shutdown_grace)
        .await;
    tracing::info!("gateway stopped");
    telemetry.shutdown();
    Ok(result?)
}
