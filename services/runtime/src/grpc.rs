//! gRPC server plumbing shared by every service: standard health, server
//! reflection (v1 and v1alpha, so grpcurl 1.8 works), a span per call that
//! continues the caller's W3C trace, and graceful shutdown with a grace
//! timeout.

use std::{future::Future, net::SocketAddr, time::Duration};

use opentelemetry::propagation::Extractor;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{
    server::NamedService,
    service::{Routes, RoutesBuilder},
    transport::{Server, server::TcpIncoming},
};
use tonic_health::{ServingStatus, server::HealthReporter};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::Error;

/// Who a call comes from, set by the gateway from the caller's token and
/// never taken from the caller; backends record it (jobs' `requested_by`).
pub const PRINCIPAL_HEADER: &str = "x-clustergenie-principal";

/// Who is calling, as the gateway says; direct callers are anonymous.
pub fn principal<T>(req: &tonic::Request<T>) -> String {
    req.metadata()
        .get(PRINCIPAL_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 255)
        .unwrap_or("anonymous")
        .to_string()
}

const HEALTH_SERVICE: &str = "grpc.health.v1.Health";
const REFLECTION_V1: &str = "grpc.reflection.v1.ServerReflection";
const REFLECTION_V1ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";

/// Routes of one service process, with health and reflection already added
/// for the public services registered through [`ServiceRoutes::serve`].
pub struct ServiceRoutes {
    builder: RoutesBuilder,
    health: HealthReporter,
    names: Vec<&'static str>,
}

impl Default for ServiceRoutes {
    fn default() -> Self {
        Self::new()
    }
}

impl ServiceRoutes {
    pub fn new() -> Self {
        let (health, health_service) = tonic_health::server::health_reporter();
        let mut builder = RoutesBuilder::default();
        builder.add_service(health_service);
        Self {
            builder,
            health,
            names: Vec::new(),
        }
    }

    /// Serves `svc`, advertises it through reflection and reports it healthy.
    pub fn serve<S>(mut self, svc: S) -> Self
    where
        S: tower::Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<tonic::body::Body>,
                Error = std::convert::Infallible,
            > + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.builder.add_service(svc);
        self
    }

    /// Adds reflection and marks every service serving.
    pub async fn build(mut self) -> Result<(Routes, HealthReporter), Error> {
        let names: Vec<String> = self.names.iter().map(|n| (*n).to_string()).collect();
        let (v1, v1alpha) = reflection(&names)?;
        self.builder.add_service(v1);
        self.builder.add_service(v1alpha);
        self.health
            .set_service_status("", ServingStatus::Serving)
            .await;
        for name in &self.names {
            self.health
                .set_service_status(*name, ServingStatus::Serving)
                .await;
        }
        Ok((self.builder.routes(), self.health))
    }
}

/// Server reflection (v1 and v1alpha) listing `services` beside health and
/// reflection itself. Both reflection versions' own descriptors are
/// registered on both, so every listed name describes (grpcurl 1.8 asks
/// v1alpha about the v1 service too).
pub fn reflection(
    services: &[String],
) -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<
            impl tonic_reflection::server::v1::ServerReflection,
        >,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    Error,
> {
    let builder = || {
        let mut b = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(clustergenie_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            )
            .with_service_name(HEALTH_SERVICE)
            .with_service_name(REFLECTION_V1)
            .with_service_name(REFLECTION_V1ALPHA);
        for name in services {
            b = b.with_service_name(name.clone());
        }
        b
    };
    let err = |e: tonic_reflection::server::Error| Error::Config(format!("reflection: {e}"));
    Ok((
        builder().build_v1().map_err(err)?,
        builder().build_v1alpha().map_err(err)?,
    ))
}

struct MetadataExtractor<'a>(&'a http::HeaderMap);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

fn call_span(req: &http::Request<()>) -> tracing::Span {
    call_span_for(req.headers(), req.uri().path())
}

/// A server span for a call to `path` that continues the caller's W3C
/// trace from `headers`.
pub fn call_span_for(headers: &http::HeaderMap, path: &str) -> tracing::Span {
    let span = tracing::info_span!(
        "grpc",
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.method = %path,
    );
    let parent =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&MetadataExtractor(headers)));
    let _ = span.set_parent(parent);
    span
}

/// Accepted connections with Nagle off: small gRPC frames must not wait
/// for the peer's delayed ACK (~40 ms per call otherwise).
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(60)))
}

/// Serves `routes` on `listener` until `shutdown` resolves, then lets
/// in-flight calls finish for at most the grace period. Each connection may
/// have `max_concurrent_per_connection` calls in flight, and request bodies
/// are limited to `max_request_bytes`.
pub async fn serve(
    service: &'static str,
    listener: TcpListener,
    routes: Routes,
    health: HealthReporter,
    shutdown: impl Future<Output = ()> + Send + 'static,
    config: &crate::config::ServerConfig,
) -> Result<(), Error> {
    let stop = CancellationToken::new();
    let draining = stop.clone();
    let addr = listener.local_addr()?;
    let grace = config.shutdown_grace;
    // Tonic's generated servers decode at most 4 MiB per message; the body
    // limit makes the bound explicit (and configurable) for every service.
    let server = Server::builder()
        .trace_fn(call_span)
        .concurrency_limit_per_connection(config.max_concurrent_per_connection)
        .layer(crate::rpc_metrics::RpcMetricsLayer::new(service))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            config.max_request_bytes,
        ))
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming(listener), async move {
            draining.cancelled().await;
        });
    drain(addr, server, stop, &health, shutdown, grace)
        .await
        .map_err(Error::from)
}

/// Runs `server` (which stops accepting once `stop` is cancelled) until
/// `shutdown`; then reports `NOT_SERVING`, stops it and waits at most
/// `grace` for the calls still in flight.
pub async fn drain<E>(
    addr: SocketAddr,
    server: impl Future<Output = Result<(), E>>,
    stop: CancellationToken,
    health: &HealthReporter,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> Result<(), E> {
    tokio::pin!(server);
    tokio::select! {
        res = &mut server => return res,
        () = shutdown => {}
    }
    tracing::info!(%addr, grace_ms = grace.as_millis() as u64, "draining in-flight calls");
    health
        .set_service_status("", ServingStatus::NotServing)
        .await;
    stop.cancel();
    match tokio::time::timeout(grace, server).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(%addr, "grace period over; abandoning calls still running");
            Ok(())
        }
    }
}

/// `--health-check`: asks the process listening on `addr` for its overall
/// health; used by container healthchecks.
pub async fn probe(addr: SocketAddr) -> Result<(), String> {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let host = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{host}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(2))
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {host}: {e}"))?;
    let resp = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map_err(|e| format!("health check failed: {e}"))?;
    match resp.into_inner().status() {
        tonic_health::pb::health_check_response::ServingStatus::Serving => Ok(()),
        other => Err(format!("not serving: {other:?}")),
    }
}
