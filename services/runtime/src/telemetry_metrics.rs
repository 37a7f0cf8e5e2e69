//! Prometheus metrics: every service serves `/metrics` on
//! `CLUSTERGENIE_METRICS_ADDR` when it is set.

use std::net::SocketAddr;

use metrics_exporter_prometheus::PrometheusBuilder;

use crate::Error;

/// Installs the process-wide recorder and its HTTP listener; marks
/// `cg_up{service}` = 1.
pub fn install(service: &'static str, addr: SocketAddr) -> Result<(), Error> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| Error::Telemetry(format!("metrics on {addr}: {e}")))?;
    metrics::gauge!("cg_up", "service" => service).set(1.0);
    tracing::info!(%addr, "metrics listening");
    Ok(())
}
