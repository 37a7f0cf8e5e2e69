//! What every gRPC call (native or gRPC-web, already translated) goes
//! through: authentication, the rate limit, the role check, then routing by
//! service name to the gateway's own services or to the owning backend.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use axum::extract::ConnectInfo;
use http::{HeaderValue, Request, Response};
use tonic::{Status, body::Body, service::Routes, transport::Channel};
use tower::ServiceExt as _;
use tracing::Instrument as _;

use crate::{
    auth::{self, Access, Token, Tokens},
    error::Error,
    limits::{CallerKey, Decision, Limiter, Tier},
};

use cg_runtime::grpc::PRINCIPAL_HEADER;

#[derive(Clone)]
pub struct Gateway {
    pub tokens: Tokens,
    pub limiter: Limiter,
    /// By service area: `provisioning`, `jobs`, …
    pub backends: Arc<HashMap<String, Channel>>,
    /// The gateway's own services, health and reflection.
    pub local: Routes,
    pub timeout: Duration,
}

fn status_response(status: Status, decision: Option<&Decision>) -> Response<Body> {
    let mut resp = status.into_http::<Body>();
    if let Some(d) = decision {
        d.write_headers(resp.headers_mut());
    }
    resp
}

/// `/package.Service/Method` → (`package.Service`, `Method`).
fn split(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/'))
        .then_some((service, method))
}

/// The backend area of `clustergenie.<area>.v1.Service`.
fn area(service: &str) -> Option<&str> {
    let mut parts = service.split('.');
    (parts.next()? == "clustergenie").then(|| parts.next())?
}

impl Gateway {
    pub async fn handle(&self, req: Request<Body>) -> Response<Body> {
        let path = req.uri().path().to_string();
        let span = cg_runtime::grpc::call_span_for(req.headers(), &path);
        self.guard(req, path).instrument(span).await
    }

    async fn guard(&self, mut req: Request<Body>, path: String) -> Response<Body> {
        let Some((service, method)) = split(&path) else {
            return status_response(Status::unimplemented("not a gRPC method path"), None);
        };
        // A bad or unknown token is refused only after the anonymous budget
        // is charged, so guessing tokens is rate limited like anything else.
        let (token, rejected) = match auth::bearer(req.headers()) {
            Err(m) => (None, Some(m)),
            Ok(None) => (None, None),
            Ok(Some(s)) => match self.tokens.authenticate(&s).await {
                Ok(Some(t)) => (Some(t), None),
                Ok(None) => (None, Some("unknown or revoked API token")),
                Err(e) => return status_response(e.into(), None),
            },
        };
        let (tier, key) = match &token {
            Some(t) => (Tier::of(method), CallerKey(format!("token:{}", t.id))),
            None => {
                let peer = req
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string());
                (Tier::Anonymous, CallerKey(format!("peer:{peer}")))
            }
        };
        let decision = match self.limiter.check(tier, &key).await {
            Ok(d) => Some(d),
            Err(e) => {
                // Availability over enforcement: a broken limit store must
                // not take the whole API down.
                tracing::warn!(error = %e, "rate-limit check failed; letting the call through");
                metrics::counter!("cg_gateway_ratelimit_errors_total").increment(1);
                None
            }
        };
        if let Some(d) = decision.filter(|d| !d.allowed) {
            metrics::counter!("cg_gateway_ratelimit_rejections_total", "tier" => tier.as_str())
                .increment(1);
            tracing::info!(tier = tier.as_str(), method, "rate limited");
            let status = cg_runtime::error::resource_exhausted(
                format!(
                    "rate limit of {} requests per {}s exceeded for {} calls; retry in {}s",
                    d.limit,
                    self.limiter.budget(tier).period.as_secs(),
                    tier.as_str(),
                    d.retry_after.as_millis().div_ceil(1000).max(1)
                ),
                Some(d.retry_after),
            );
            return status_response(status, Some(&d));
        }
        if let Some(m) = rejected {
            return status_response(Status::unauthenticated(m), decision.as_ref());
        }
        if let Access::Needs(role) = auth::access(service, method) {
            let denied = match &token {
                None => Some(Error::Unauthenticated(
                    "this call needs an API token: `authorization: Bearer <token>`".into(),
                )),
                Some(t) if t.role < role => Some(Error::PermissionDenied(format!(
                    "{method} needs the {} role; this token has {}",
                    role.as_str(),
                    t.role.as_str()
                ))),
                Some(_) => None,
            };
            if let Some(e) = denied {
                return status_response(e.into(), decision.as_ref());
            }
        }
        let headers = req.headers_mut();
        headers.remove(http::header::AUTHORIZATION);
        headers.remove(PRINCIPAL_HEADER);
        if let Some(v) = token
            .as_ref()
            .and_then(|t| HeaderValue::from_str(&t.name).ok())
        {
            headers.insert(PRINCIPAL_HEADER, v);
        }
        if let Some(v) =
            cg_runtime::kafka::current_traceparent().and_then(|tp| HeaderValue::from_str(&tp).ok())
        {
            headers.insert("traceparent", v);
        }
        if let Some(t) = token {
            req.extensions_mut().insert::<Token>(t);
        }
        let mut resp = self.route(service, req).await;
        if let Some(d) = &decision {
            d.write_headers(resp.headers_mut());
        }
        resp
    }

    async fn route(&self, service: &str, req: Request<Body>) -> Response<Body> {
        if service.starts_with("clustergenie.gateway.") || service.starts_with("grpc.") {
            return match self.local.clone().oneshot(req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
        }
        let Some(channel) = area(service).and_then(|a| self.backends.get(a)) else {
            return status_response(
                Status::unimplemented(format!("no backend serves {service}")),
                None,
            );
        };
        match tokio::time::timeout(self.timeout, channel.clone().oneshot(req)).await {
            Ok(Ok(resp)) => resp.map(Body::new),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, service, "backend unreachable");
                status_response(
                    Status::unavailable(format!(
                        "{} is unavailable",
                        area(service).unwrap_or(service)
                    )),
                    None,
                )
            }
            Err(_) => status_response(
                Status::deadline_exceeded("the backend did not answer in time"),
                None,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_path_splits_into_service_and_method() {
        assert_eq!(
            split("/clustergenie.jobs.v1.JobService/CreateJob"),
            Some(("clustergenie.jobs.v1.JobService", "CreateJob"))
        );
        assert_eq!(split("/index.html"), None);
        assert_eq!(split("/a/b/c"), None);
    }

    #[test]
    fn services_are_routed_by_their_package_area() {
        assert_eq!(
            area("clustergenie.provisioning.v1.DropletService"),
            Some("provisioning")
        );
        assert_eq!(area("grpc.health.v1.Health"), None);
    }
}
