//! The gateway: the one public endpoint. On one port it serves the
//! dashboard's static files, gRPC-web and native gRPC (with reflection for
//! every public service), forwarding each call by service name to the
//! backend that owns it, behind bearer-token auth and rate limits.
//!
//! Layers, outermost first: CORS → (static files | gRPC-web translation →
//! tracing span → auth → rate limit → role check → route). gRPC-web is
//! translated before auth so that auth and limits see one protocol.

pub mod admin;
pub mod auth;
pub mod config;
pub mod edge;
pub mod error;
pub mod limits;

use std::{
    collections::HashMap, convert::Infallible, future::Future, net::SocketAddr, sync::Arc,
    time::Duration,
};

use axum::serve::ListenerExt as _;
use cg_runtime::db;
use clustergenie_proto::gateway::v1 as pb;
use http::{HeaderName, Method, Request};
use prost::Message as _;
use secrecy::ExposeSecret as _;
use tokio_util::sync::CancellationToken;
use tonic::{body::Body, service::RoutesBuilder, transport::Endpoint};
use tonic_health::{ServingStatus, server::HealthReporter};
use tower::{Layer as _, ServiceExt as _};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    services::{ServeDir, ServeFile},
};

pub use crate::config::Config;
use crate::{
    admin::{LimitApi, TokenApi},
    auth::{Secret, Tokens},
    edge::Gateway,
    limits::Limiter,
};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../database/migrations/gateway");

const REFRESH: Duration = Duration::from_secs(5);

/// Headers a browser may send, and the ones it may read (gRPC status and
/// the rate-limit budget travel in headers/trailers).
const ALLOW_HEADERS: [&str; 8] = [
    "authorization",
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "connect-protocol-version",
    "connect-timeout-ms",
    "traceparent",
];
const EXPOSE_HEADERS: [&str; 7] = [
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "retry-after",
];

/// Every service in the contracts, by full name: all of them are public
/// through the gateway, so a new service needs no gateway code.
pub fn public_services() -> Vec<String> {
    let set = prost_types::FileDescriptorSet::decode(clustergenie_proto::FILE_DESCRIPTOR_SET)
        .expect("the build embeds a valid descriptor set");
    let mut names: Vec<String> = set
        .file
        .iter()
        .filter(|f| f.package().starts_with("clustergenie."))
        .flat_map(|f| {
            f.service
                .iter()
                .map(move |s| format!("{}.{}", f.package(), s.name()))
        })
        .collect();
    names.sort();
    names
}

fn cors(config: &Config) -> CorsLayer {
    let origin = if config.cors_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            config
                .cors_origins
                .iter()
                .filter_map(|o| o.parse().ok())
                .collect::<Vec<_>>(),
        )
    };
    CorsLayer::new()
        .allow_origin(origin)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers(ALLOW_HEADERS.map(HeaderName::from_static))
        .expose_headers(EXPOSE_HEADERS.map(HeaderName::from_static))
        .max_age(Duration::from_secs(3600))
}

fn is_grpc<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

pub struct App {
    router: axum::Router,
    health: HealthReporter,
    pub tokens: Tokens,
    pub limiter: Limiter,
    /// A generated admin token, when this start created one: print it once.
    pub bootstrap_secret: Option<String>,
    background: CancellationToken,
    workers: tokio::task::JoinSet<()>,
}

impl App {
    pub async fn build(config: &Config) -> Result<Self, cg_runtime::Error> {
        let cfg = |e: String| cg_runtime::Error::Config(e);
        let db = db::connect(&config.database, &MIGRATOR).await?;
        let tokens = Tokens::new(&db);
        let configured = config
            .auth
            .bootstrap()
            .map(|s| Secret::parse(s.expose_secret()))
            .transpose()
            .map_err(|e| cfg(format!("auth.bootstrap_token: {e}")))?;
        let bootstrap_secret = tokens
            .bootstrap(configured.as_ref())
            .await
            .map_err(|e| cfg(format!("token store: {e}")))?
            .map(|s| s.expose().to_string());
        let limiter = Limiter::new(&config.limits, db.pool.clone()).map_err(cfg)?;
        limiter
            .refresh()
            .await
            .map_err(|e| cfg(format!("rate limits: {e}")))?;
        tracing::info!(shared = limiter.shared(), "rate limits ready");

        let background = CancellationToken::new();
        let mut workers = tokio::task::JoinSet::new();
        {
            let (limiter, stop) = (limiter.clone(), background.clone());
            workers.spawn(async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(REFRESH) => {}
                    }
                    if let Err(e) = limiter.refresh().await {
                        tracing::warn!(error = %e, "rate limits refresh failed");
                    }
                    limiter.forget_idle();
                }
            });
        }

        let mut backends = HashMap::new();
        for (name, url) in &config.backends {
            let channel = Endpoint::from_shared(url.clone())
                .map_err(|e| cfg(format!("backends.{name}: {e}")))?
                .tcp_nodelay(true)
                .connect_timeout(Duration::from_secs(5))
                .connect_lazy();
            backends.insert(name.clone(), channel);
        }

        let (health, health_service) = tonic_health::server::health_reporter();
        let public = public_services();
        let reflection = || {
            let mut b = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(clustergenie_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .with_service_name("grpc.health.v1.Health")
                .with_service_name("grpc.reflection.v1.ServerReflection")
                .with_service_name("grpc.reflection.v1alpha.ServerReflection");
            for name in &public {
                b = b.with_service_name(name.clone());
            }
            b
        };
        let mut local = RoutesBuilder::default();
        local
            .add_service(pb::token_service_server::TokenServiceServer::new(TokenApi(
                tokens.clone(),
            )))
            .add_service(pb::rate_limit_service_server::RateLimitServiceServer::new(
                LimitApi(limiter.clone()),
            ))
            .add_service(health_service)
            .add_service(
                reflection()
                    .build_v1()
                    .map_err(|e| cfg(format!("reflection: {e}")))?,
            )
            .add_service(
                reflection()
                    .build_v1alpha()
                    .map_err(|e| cfg(format!("reflection: {e}")))?,
            );
        health.set_service_status("", ServingStatus::Serving).await;

        let gateway = Gateway {
            tokens: tokens.clone(),
            limiter: limiter.clone(),
            backends: Arc::new(backends),
            local: local.routes().prepare(),
            timeout: config.request_timeout,
        };
        let gateway = Arc::new(gateway);
        let grpc =
            tonic_web::GrpcWebLayer::new().layer(tower::service_fn(move |req: Request<Body>| {
                let gateway = gateway.clone();
                async move { Ok::<_, Infallible>(gateway.handle(req).await) }
            }));
        let index = config.web_root.join("index.html");
        if !index.exists() {
            tracing::warn!(path = %index.display(), "dashboard not built (run `just web-build`); serving gRPC only");
        }
        // Unknown paths get index.html: the dashboard routes on the client.
        let web = ServeDir::new(&config.web_root).fallback(ServeFile::new(index));
        let edge = tower::service_fn(move |req: Request<axum::body::Body>| {
            let (grpc, web) = (grpc.clone(), web.clone());
            async move {
                if is_grpc(&req) {
                    let resp = grpc.oneshot(req).await?;
                    Ok::<_, Infallible>(resp.map(axum::body::Body::new))
                } else {
                    let resp = web.oneshot(req).await?;
                    Ok(resp.map(axum::body::Body::new))
                }
            }
        });
        let router = axum::Router::new()
            .fallback_service(edge)
            .layer(cors(config));
        Ok(Self {
            router,
            health,
            tokens,
            limiter,
            bootstrap_secret,
            background,
            workers,
        })
    }

    /// Serves until `shutdown`, then lets open calls finish for `grace`.
    pub async fn serve(
        mut self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
        grace: Duration,
    ) -> Result<(), cg_runtime::Error> {
        let addr = listener.local_addr()?;
        let listener = listener.tap_io(|tcp| {
            // Small gRPC frames must not wait for the peer's delayed ACK.
            let _ = tcp.set_nodelay(true);
        });
        let stop = CancellationToken::new();
        let draining = stop.clone();
        let server = axum::serve(
            listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { draining.cancelled().await });
        let server = std::future::IntoFuture::into_future(server);
        tokio::pin!(server);
        let result = tokio::select! {
            res = &mut server => res.map_err(cg_runtime::Error::from),
            () = shutdown => {
                tracing::info!(%addr, grace_ms = grace.as_millis() as u64, "draining in-flight calls");
                self.health.set_service_status("", ServingStatus::NotServing).await;
                stop.cancel();
                match tokio::time::timeout(grace, &mut server).await {
                    Ok(res) => res.map_err(cg_runtime::Error::from),
                    Err(_) => {
                        tracing::warn!(%addr, "grace period over; closing open streams");
                        Ok(())
                    }
                }
            }
        };
        self.background.cancel();
        while self.workers.join_next().await.is_some() {}
        result
    }
}
