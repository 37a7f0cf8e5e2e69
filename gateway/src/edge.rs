//! What every gRPC call (native or gRPC-web, already translated) goes
//! through: the role table (deny by default), authentication, the rate
//! limit, the role check, the stream cap, then routing by service name to
//! the gateway's own services or to the owning backend. Backends learn the
//! caller as `token:<id>` in the principal header, never by name.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use axum::extract::ConnectInfo;
use http::{HeaderValue, Request, Response};
use tonic::{Status, body::Body, service::Routes};
use tower::ServiceExt as _;
use tracing::Instrument as _;

use crate::{
    auth::{self, Token, Tokens},
    error::Error,
    forward::Backend,
    limits::{CallerKey, Decision, Limiter, Tier},
    roles::{self, Access},
    streams::Streams,
};

use cg_runtime::grpc::PRINCIPAL_HEADER;

/// Marks a call the DigitalOcean-API surface makes for a request it has
/// already admitted and charged.
#[derive(Debug, Clone, Copy)]
pub struct Uncharged;

/// A call let through: who made it, and the budget it was charged to.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub token: Option<Token>,
    pub decision: Option<Decision>,
}

/// A call turned away, with the budget's state when it was charged.
#[derive(Debug, Clone)]
pub struct Refused {
    pub status: Status,
    pub decision: Option<Decision>,
}

/// The budget key of a caller without a token: its address.
pub fn peer_key<B>(req: &Request<B>) -> CallerKey {
    CallerKey(format!(
        "peer:{}",
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string())
    ))
}

#[derive(Clone)]
pub struct Gateway {
    pub tokens: Tokens,
    pub limiter: Limiter,
    pub streams: Arc<Streams>,
    /// By service area: `provisioning`, `jobs`, …
    pub backends: Arc<HashMap<String, Backend>>,
    /// The gateway's own services, health and reflection.
    pub local: Routes,
    pub timeout: Duration,
    /// Rejections per tier, for the System page.
    pub status: cg_runtime::status::Status,
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
        let rule = roles::rule(service, method);
        let peer = peer_key(&req);
        // A call the REST surface makes on behalf of a request it already
        // charged: authenticated and role-checked again, not charged again.
        let charge = req.extensions().get::<Uncharged>().is_none();
        let Admitted { token, decision } = match self
            .admit(req.headers(), &peer, (service, method), charge)
            .await
        {
            Ok(a) => a,
            Err(Refused { status, decision }) => {
                return status_response(status, decision.as_ref());
            }
        };
        // Anonymous streams (health watches) are capped per peer address.
        let stream = if rule.stream {
            let holder = token
                .as_ref()
                .map_or_else(|| peer.0.clone(), |t| t.id.clone());
            match self.streams.open(&holder) {
                Ok(guard) => Some(guard),
                Err(status) => return status_response(status, decision.as_ref()),
            }
        } else {
            None
        };
        let headers = req.headers_mut();
        headers.remove(http::header::AUTHORIZATION);
        headers.remove(PRINCIPAL_HEADER);
        if let Some(v) = token
            .as_ref()
            .and_then(|t| HeaderValue::from_str(&format!("token:{}", t.id)).ok())
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
        if let Some(guard) = stream {
            resp = resp.map(|body| self.streams.guard(body, guard));
        }
        if let Some(d) = &decision {
            d.write_headers(resp.headers_mut());
        }
        resp
    }

    /// The role table (deny by default), authentication, the rate limit
    /// (when `charge`) and the role check for a call of `service/method`:
    /// what every gRPC call and every DigitalOcean-API request goes through.
    pub async fn admit(
        &self,
        headers: &http::HeaderMap,
        peer: &CallerKey,
        (service, method): (&str, &str),
        charge: bool,
    ) -> Result<Admitted, Refused> {
        let refuse = |status: Status, decision: Option<Decision>| Refused { status, decision };
        let rule = roles::rule(service, method);
        if rule.access == Access::Denied {
            return Err(refuse(
                Status::permission_denied(format!("{service}/{method} is not offered here")),
                None,
            ));
        }
        // A token not seen lately costs a store lookup: the caller's
        // anonymous budget is charged first, so guessing tokens (or
        // flooding the store with them) is rate limited like anything else.
        let mut anonymous: Option<Decision> = None;
        let (token, rejected) = match auth::bearer(headers) {
            Err(m) => (None, Some(m)),
            Ok(None) => (None, None),
            Ok(Some(s)) => match self.tokens.cached(&s) {
                Some(t) => (Some(t), None),
                None => {
                    if charge {
                        match self.limiter.check(Tier::Anonymous, peer).await {
                            Ok(d) if !d.allowed => {
                                return Err(self.limited(Tier::Anonymous, method, d));
                            }
                            Ok(d) => anonymous = Some(d),
                            Err(e) => tracing::warn!(error = %e, "rate-limit check failed"),
                        }
                    }
                    match self.tokens.authenticate(&s).await {
                        Ok(Some(t)) => (Some(t), None),
                        Ok(None) => (None, Some("unknown or revoked API token")),
                        Err(e) => return Err(refuse(e.into(), anonymous)),
                    }
                }
            },
        };
        let (tier, key) = match &token {
            Some(t) => (rule.tier, CallerKey(format!("token:{}", t.id))),
            None => (Tier::Anonymous, CallerKey(peer.0.clone())),
        };
        let decision = match anonymous.filter(|_| token.is_none()) {
            Some(d) => Some(d),
            None if !charge => None,
            None => match self.limiter.check(tier, &key).await {
                Ok(d) => Some(d),
                Err(e) => {
                    // The limiter falls back to its own state when Redis is
                    // away; this is a bug, and must not take the API down.
                    tracing::warn!(error = %e, "rate-limit check failed; letting the call through");
                    metrics::counter!("cg_gateway_ratelimit_errors_total").increment(1);
                    None
                }
            },
        };
        if let Some(d) = decision.filter(|d| !d.allowed) {
            return Err(self.limited(tier, method, d));
        }
        if let Some(m) = rejected {
            return Err(refuse(Status::unauthenticated(m), decision));
        }
        if let Access::Needs(role) = rule.access {
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
                return Err(refuse(e.into(), decision));
            }
        }
        Ok(Admitted { token, decision })
    }

    fn limited(&self, tier: Tier, method: &str, d: Decision) -> Refused {
        metrics::counter!("cg_gateway_ratelimit_rejections_total", "tier" => tier.as_str())
            .increment(1);
        self.status
            .counter("ratelimit_rejections", &[("tier", tier.as_str())])
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
        Refused {
            status,
            decision: Some(d),
        }
    }

    async fn route(&self, service: &str, req: Request<Body>) -> Response<Body> {
        if service.starts_with("clustergenie.gateway.") || service.starts_with("grpc.") {
            return match self.local.clone().oneshot(req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
        }
        let Some(backend) = area(service).and_then(|a| self.backends.get(a)) else {
            return status_response(
                Status::unimplemented(format!("no backend serves {service}")),
                None,
            );
        };
        match tokio::time::timeout(self.timeout, backend.call(req)).await {
            Ok(Ok(resp)) => resp,
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
