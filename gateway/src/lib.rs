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
pub mod do_api;
pub mod edge;
pub mod error;
pub mod forward;
pub mod limits;
pub mod roles;
pub mod streams;
pub mod system;
mod web;

use std::{collections::HashMap, convert::Infallible, sync::Arc, time::Duration};

use cg_runtime::kit::{Routes, Service, ServiceContext};
use clustergenie_proto::gateway::v1 as pb;
use http::{HeaderName, Method, Request};
use prost::Message as _;
use secrecy::ExposeSecret as _;
use tonic::{body::Body, service::RoutesBuilder, transport::Endpoint};
use tonic_health::server::HealthReporter;
use tower::{Layer as _, ServiceExt as _};
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use crate::config::Config;
use crate::{
    admin::{LimitApi, TokenApi},
    auth::{Secret, Tokens},
    edge::Gateway,
    limits::Limiter,
};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../database/migrations/gateway");

const REFRESH: Duration = Duration::from_secs(5);
const BACKEND_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

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
        .filter(|name| !roles::INTERNAL.contains(&name.as_str()))
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
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
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

/// DigitalOcean API v2 paths (`/v2`, `/v2/...`).
fn is_do_api<B>(req: &Request<B>) -> bool {
    let path = req.uri().path();
    path == "/v2" || path.starts_with("/v2/")
}

/// The gateway process.
pub struct GatewayService {
    router: axum::Router,
    health: HealthReporter,
    pub tokens: Tokens,
    pub limiter: Limiter,
    /// A generated admin token, when this start created one: printed once.
    pub bootstrap_secret: Option<String>,
}

impl Service for GatewayService {
    const NAME: &'static str = "gateway";
    const DEFAULT_PORT: u16 = 8080;
    type Config = Config;

    fn migrations() -> Option<&'static sqlx::migrate::Migrator> {
        Some(&MIGRATOR)
    }

    /// Token and rate-limit changes go to the activity log.
    fn topics() -> Vec<&'static str> {
        vec![cg_runtime::topic::topics::ACTIVITY.name]
    }

    async fn build(config: &Config, ctx: &mut ServiceContext) -> Result<Self, cg_runtime::Error> {
        let cfg = |e: String| cg_runtime::Error::Config(e);
        let db = ctx.db()?.clone();
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
        if let Some(secret) = &bootstrap_secret {
            // Printed once, on the start that created it; only its hash is kept.
            println!("admin token (shown once): {secret}");
        }
        let limiter = Limiter::new(&config.limits, db.pool.clone()).map_err(cfg)?;
        limiter
            .refresh()
            .await
            .map_err(|e| cfg(format!("rate limits: {e}")))?;
        tracing::info!(shared = limiter.shared(), "rate limits ready");

        {
            let (limiter, stop) = (limiter.clone(), ctx.stop_token());
            ctx.spawn(async move {
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
        let mut forward = HashMap::new();
        for (name, url) in &config.backends {
            let channel = Endpoint::from_shared(url.clone())
                .map_err(|e| cfg(format!("backends.{name}: {e}")))?
                .tcp_nodelay(true)
                .connect_timeout(BACKEND_CONNECT_TIMEOUT)
                .connect_lazy();
            backends.insert(name.clone(), channel);
            let backend = forward::Backend::new(url, BACKEND_CONNECT_TIMEOUT)
                .map_err(|e| cfg(format!("backends.{name}: {e}")))?;
            forward.insert(name.clone(), backend);
        }

        // Zero rows from the start: a dashboard plots "none yet" as 0.
        for tier in limits::Tier::ALL {
            metrics::counter!("cg_gateway_ratelimit_rejections_total", "tier" => tier.as_str())
                .increment(0);
            ctx.status()
                .counter("ratelimit_rejections", &[("tier", tier.as_str())]);
        }
        if let Some(check) = limiter.redis_check() {
            ctx.status().dependency("redis", check);
        }
        let backends = Arc::new(backends);
        let (health, health_service) = tonic_health::server::health_reporter();
        let (reflection_v1, reflection_v1alpha) = cg_runtime::grpc::reflection(&public_services())?;
        let mut local = RoutesBuilder::default();
        local
            .add_service(pb::token_service_server::TokenServiceServer::new(TokenApi(
                tokens.clone(),
            )))
            .add_service(pb::rate_limit_service_server::RateLimitServiceServer::new(
                LimitApi(limiter.clone(), db.wake.clone()),
            ))
            .add_service(pb::system_service_server::SystemServiceServer::new(
                system::SystemApi {
                    own: ctx.process_api(),
                    backends: backends.clone(),
                },
            ))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);

        let streams = streams::Streams::new(config.streams.clone());
        ctx.spawn(
            streams
                .clone()
                .watch_revocations(tokens.clone(), ctx.stop_token()),
        );
        let gateway = Gateway {
            tokens: tokens.clone(),
            limiter: limiter.clone(),
            streams,
            backends: Arc::new(forward),
            status: ctx.status().clone(),
            local: local.routes().prepare(),
            timeout: config.request_timeout,
        };
        let gateway = Arc::new(gateway);
        let do_api = Arc::new(do_api::DoApi::new(gateway.clone()));
        // Counted inside the gRPC-web translation, where every call's
        // status is a header or a trailer.
        let grpc = tonic_web::GrpcWebLayer::new().layer(
            cg_runtime::rpc_metrics::RpcMetricsLayer::new(Self::NAME).layer(tower::service_fn(
                move |req: Request<Body>| {
                    let gateway = gateway.clone();
                    async move { Ok::<_, Infallible>(gateway.handle(req).await) }
                },
            )),
        );
        let web = web::dashboard(&config.web_root, config.trace_ui_url.as_deref());
        let edge = tower::service_fn(move |req: Request<axum::body::Body>| {
            let (grpc, web, do_api) = (grpc.clone(), web.clone(), do_api.clone());
            async move {
                if is_grpc(&req) {
                    let resp = grpc.oneshot(req).await?;
                    Ok::<_, Infallible>(resp.map(axum::body::Body::new))
                } else if is_do_api(&req) {
                    Ok(do_api.handle(req).await)
                } else {
                    web.oneshot(req).await
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
        })
    }

    fn routes(&self) -> Routes {
        Routes::Http {
            router: self.router.clone(),
            health: self.health.clone(),
        }
    }
}
