//! Prometheus metrics: every service serves `/metrics` on
//! `CLUSTERGENIE_METRICS_ADDR` when it is set.

use std::net::SocketAddr;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

use crate::Error;

/// Buckets for every `*_seconds` histogram: from a fast RPC (0.5 ms) to a
/// slow job (5 min), so quantiles come out of Prometheus, not the process.
const SECONDS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 60.0,
    300.0,
];

/// Installs the process-wide recorder and its HTTP listener; marks
/// `cg_up{service}` = 1.
pub fn install(service: &'static str, addr: SocketAddr) -> Result<(), Error> {
    let err = |e: metrics_exporter_prometheus::BuildError| {
        Error::Telemetry(format!("metrics on {addr}: {e}"))
    };
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS)
        .map_err(err)?
        .with_http_listener(addr)
        .install()
        .map_err(err)?;
    metrics::gauge!("cg_up", "service" => service).set(1.0);
    tracing::info!(%addr, "metrics listening");
    Ok(())
}
