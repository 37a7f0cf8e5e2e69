//! `/v2/...`: each request is admitted like its gRPC twin (same token,
//! role and rate-limit budget; one charge per droplet when it acts on
//! several), then served by calling the backends through the gateway's own
//! edge, uncharged, so auth and roles hold for every call.

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::SystemTime,
};

use axum::{body::Body as HttpBody, extract::ConnectInfo};
use bytes::Bytes;
use clustergenie_proto::{gateway::v1 as gpb, provisioning::v1 as ppb};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use serde::Serialize;
use tokio::sync::OnceCell;
use tonic::{Code, Status, body::Body as GrpcBody};
use tonic_types::StatusExt as _;

mod actions;
mod catalog;
mod droplets;
mod error;
mod paging;
mod route;
mod tags;

use error::{DoError, Reply, error_response, json, no_content};
use paging::Paging;
use route::{Route, Twin, number};

use super::{
    convert::Catalog,
    model::{self, ActionLink, Envelope},
};
use crate::{
    edge::{Gateway, Refused, Uncharged, peer_key},
    limits::{CallerKey, Decision},
};

/// Request bodies larger than this are refused (413).
pub const MAX_BODY: usize = 1024 * 1024;

/// The DigitalOcean API surface of one gateway.
pub struct DoApi {
    gateway: Arc<Gateway>,
    catalog: OnceCell<Arc<Catalog>>,
}

/// `ratelimit-*` in DigitalOcean's form: integers, the reset as Unix
/// seconds; `retry-after` only on 429 (clients retry anything carrying it).
fn write_limits(headers: &mut HeaderMap, d: &Decision, status: StatusCode) {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let reset = (now + d.reset).as_millis().div_ceil(1000);
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("ratelimit-limit", d.limit.to_string());
    set("ratelimit-remaining", d.remaining.to_string());
    set("ratelimit-reset", reset.to_string());
    if status == StatusCode::TOO_MANY_REQUESTS {
        set(
            "retry-after",
            d.retry_after.as_millis().div_ceil(1000).max(1).to_string(),
        );
    }
}

/// How the caller reaches us, for absolute links: DigitalOcean's clients
/// follow `links` as given.
fn root_url(headers: &HeaderMap, uri: &http::Uri) -> String {
    // HTTP/2 clients name the host in `:authority`, not `Host`.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(http::uri::Authority::as_str))
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

impl DoApi {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        Self {
            gateway,
            catalog: OnceCell::new(),
        }
    }

    #[tracing::instrument(name = "do_api", skip_all, fields(method = %req.method(), path = %req.uri().path()))]
    pub async fn handle(self: Arc<Self>, req: Request<HttpBody>) -> Response<HttpBody> {
        let request_id = cg_runtime::new_id();
        let (parts, body) = req.into_parts();
        // Clients encode path segments (a `cluster:web` tag comes as
        // `cluster%3Aweb`); one that is not UTF-8 names nothing here.
        let segments: Option<Vec<String>> = parts
            .uri
            .path()
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .ok()
                    .map(String::from)
            })
            .collect();
        let segments: Vec<&str> = segments
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(String::as_str)
            .collect();
        let route = match segments.split_first() {
            Some((&"v2", rest)) => Route::parse(&parts.method, rest),
            _ => Route::Missing,
        };
        let peer = peer_key(&Request::from_parts(parts.clone(), ()));
        let admitted = self
            .gateway
            .admit(&parts.headers, &peer, route.twin(), true)
            .await;
        // A body left unread (a refused request's, or the rest of one over
        // the limit) ends the HTTP/1.1 connection after the answer; saying
        // so keeps a client from sending its next request down a connection
        // that is closing.
        let mut unread_body = false;
        let (mut resp, decision) = match admitted {
            Err(Refused { status, decision }) => {
                unread_body = carries_body(&parts.headers);
                (
                    error_response(&DoError::from_status(&status), &request_id),
                    decision,
                )
            }
            Ok(admitted) => {
                let call = Call {
                    headers: parts.headers.clone(),
                    peer: peer.clone(),
                    twin: route.twin(),
                    latest: std::sync::Mutex::new(None),
                    api: self.clone(),
                    inner: Inner {
                        gateway: self.gateway.clone(),
                        authorization: parts.headers.get(header::AUTHORIZATION).cloned(),
                        peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().copied(),
                    },
                    root: root_url(&parts.headers, &parts.uri),
                    query: form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                        .into_owned()
                        .collect(),
                };
                let reply = match read_body(&parts.method, body).await {
                    Ok(body) => call.run(route, body).await,
                    Err(e) => {
                        unread_body = e.status == StatusCode::PAYLOAD_TOO_LARGE;
                        Err(e)
                    }
                };
                let resp = match reply {
                    Ok(r) => r,
                    Err(e) => error_response(&e, &request_id),
                };
                let latest = call.latest.lock().ok().and_then(|mut l| l.take());
                (resp, latest.or(admitted.decision))
            }
        };
        let status = resp.status();
        if let Some(d) = &decision {
            write_limits(resp.headers_mut(), d, status);
        }
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-request-id", v);
        }
        // HTTP/2 has no such header: its streams end on their own.
        if unread_body && parts.version <= axum::http::Version::HTTP_11 {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if parts.method == Method::HEAD {
            *resp.body_mut() = HttpBody::empty();
        }
        tracing::debug!(status = status.as_u16(), "do api answered");
        resp
    }

    async fn catalog(&self, inner: &Inner) -> Result<Arc<Catalog>, DoError> {
        self.catalog
            .get_or_try_init(|| async {
                let mut c = ppb::catalog_service_client::CatalogServiceClient::new(inner.clone());
                let sizes = c.list_sizes(ppb::ListSizesRequest::default()).await?;
                let regions = c.list_regions(ppb::ListRegionsRequest {}).await?;
                let images = c.list_images(ppb::ListImagesRequest {}).await?;
                Ok::<_, DoError>(Arc::new(Catalog {
                    sizes: sizes.into_inner().sizes,
                    regions: regions.into_inner().regions,
                    images: images.into_inner().images,
                }))
            })
            .await
            .cloned()
    }
}

/// Whether a request came with a body to read.
fn carries_body(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}

/// The body of a POST (or DELETE, which python-digitalocean sends `{}`
/// with), at most [`MAX_BODY`].
async fn read_body(method: &Method, body: HttpBody) -> Result<Bytes, DoError> {
    if method == Method::GET || method == Method::HEAD {
        return Ok(Bytes::new());
    }
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        // The limit is the only error the body itself cannot cause by
        // breaking off; anything else is a request that never arrived whole.
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.to_string().contains("length limit"))
            || e.to_string().contains("length limit");
        if too_large {
            DoError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_entity_too_large",
                format!("The request body is larger than {MAX_BODY} bytes."),
            )
        } else {
            DoError::bad_request(format!("The request body could not be read: {e}"))
        }
    })
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, DoError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DoError::bad_request("The request body is empty."));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let inner = e.inner();
            if inner.is_syntax() || inner.is_eof() {
                Err(DoError::bad_request(format!(
                    "The request body is not valid JSON: {inner}"
                )))
            } else {
                Err(DoError::unprocessable(format!("{}: {inner}", e.path())))
            }
        }
    }
}

/// Calls into the gateway's own edge: tokens and roles are checked as for
/// any gRPC call, but the request was charged once, at the door.
#[derive(Clone)]
struct Inner {
    gateway: Arc<Gateway>,
    authorization: Option<HeaderValue>,
    peer: Option<ConnectInfo<SocketAddr>>,
}

impl tower::Service<Request<GrpcBody>> for Inner {
    type Response = Response<GrpcBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<GrpcBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<GrpcBody>) -> Self::Future {
        if let Some(a) = &self.authorization {
            req.headers_mut().insert(header::AUTHORIZATION, a.clone());
        }
        if let Some(p) = self.peer {
            req.extensions_mut().insert(p);
        }
        req.extensions_mut().insert(Uncharged);
        let gateway = self.gateway.clone();
        Box::pin(async move { Ok(gateway.handle(req).await) })
    }
}

/// One admitted request.
struct Call {
    api: Arc<DoApi>,
    inner: Inner,
    root: String,
    query: Vec<(String, String)>,
    /// What admitted it, to charge a fan-out's further calls.
    headers: HeaderMap,
    peer: CallerKey,
    twin: Twin,
    /// The budget after the latest charge, for the answer's headers.
    latest: std::sync::Mutex<Option<Decision>>,
}

impl Call {
    fn droplets(&self) -> ppb::droplet_service_client::DropletServiceClient<Inner> {
        ppb::droplet_service_client::DropletServiceClient::new(self.inner.clone())
    }

    fn actions(&self) -> ppb::droplet_action_service_client::DropletActionServiceClient<Inner> {
        ppb::droplet_action_service_client::DropletActionServiceClient::new(self.inner.clone())
    }

    fn clusters(&self) -> ppb::cluster_service_client::ClusterServiceClient<Inner> {
        ppb::cluster_service_client::ClusterServiceClient::new(self.inner.clone())
    }

    fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn page_of<T: model::Listed + Serialize>(
        &self,
        path: &str,
        items: Vec<T>,
        paging: Paging,
        total: u64,
    ) -> Response<HttpBody> {
        let pages = model::pages(
            &format!("{}{path}", self.root),
            &self.query,
            u64::from(paging.page),
            u64::from(paging.per_page),
            total,
        );
        json(StatusCode::OK, &Envelope::page(items, pages, total))
    }

    async fn catalog(&self) -> Result<Arc<Catalog>, DoError> {
        self.api.catalog(&self.inner).await
    }

    /// Charges `extra` more calls of the request's twin (a request that
    /// acts on several droplets costs what their gRPC calls would).
    async fn charge(&self, extra: usize) -> Result<(), DoError> {
        for _ in 0..extra {
            let admitted = self
                .api
                .gateway
                .admit(&self.headers, &self.peer, self.twin, true)
                .await;
            let (decision, refused) = match admitted {
                Ok(a) => (a.decision, None),
                Err(Refused { status, decision }) => (decision, Some(status)),
            };
            if let (Some(d), Ok(mut latest)) = (decision, self.latest.lock()) {
                *latest = Some(d);
            }
            if let Some(status) = refused {
                return Err(DoError::from_status(&status));
            }
        }
        Ok(())
    }

    async fn run(&self, route: Route, body: Bytes) -> Reply {
        match route.clone() {
            Route::Account => self.account().await,
            Route::Sizes => self.sizes().await,
            Route::Regions => self.regions().await,
            Route::Images => self.images().await,
            Route::Image(id) => self.image(&id).await,
            Route::ListDroplets => self.list_droplets().await,
            Route::CreateDroplets => self.create_droplets(&body).await,
            Route::DestroyByTag => self.destroy_by_tag().await,
            Route::GetDroplet(n) => {
                let d = self.live_droplet(n).await?;
                let c = self.catalog().await?;
                Ok(json(StatusCode::OK, &Envelope::one(c.droplet_json(&d))))
            }
            Route::DestroyDroplet(n) => {
                self.live_droplet(n).await?;
                self.droplets()
                    .destroy_droplet(ppb::DestroyDropletRequest { id: n.to_string() })
                    .await?;
                Ok(no_content())
            }
            Route::ListDropletActions(n) => self.list_actions(Some(n)).await,
            Route::ListActions => self.list_actions(None).await,
            Route::PostDropletAction(n) => {
                let request: model::ActionRequest = parse_json(&body)?;
                let d = self.live_droplet(n).await?;
                let action = self.post_action(&d, &request).await?;
                Ok(json(StatusCode::CREATED, &Envelope::one(action)))
            }
            Route::PostActionsByTag => self.post_by_tag(&body).await,
            Route::GetDropletAction(n, a) => {
                let action = self.action(a).await?;
                // Another droplet's action is not found under this one.
                if action.droplet_number != n {
                    return Err(DoError::not_found());
                }
                let c = self.catalog().await?;
                Ok(json(
                    StatusCode::OK,
                    &Envelope::one(c.action_json(&action, n)),
                ))
            }
            Route::GetAction(a) => {
                let action = self.action(a).await?;
                let c = self.catalog().await?;
                Ok(json(
                    StatusCode::OK,
                    &Envelope::one(c.action_json(&action, action.droplet_number)),
                ))
            }
            Route::ListTags => self.list_tags().await,
            Route::CreateTag => self.create_tag(&body).await,
            Route::GetTag(name) => self.get_tag(name).await,
            Route::DeleteTag(name) => self.delete_tag(name).await,
            Route::TagResources(name) => self.retag(name, &body, true).await,
            Route::UntagResources(name) => self.retag(name, &body, false).await,
            Route::Missing => Err(DoError::not_found()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn bodies_that_are_not_json_are_bad_requests_and_wrong_types_unprocessable() {
        let e = parse_json::<model::CreateDroplet>(&Bytes::from_static(b"{nope")).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e =
            parse_json::<model::CreateDroplet>(&Bytes::from_static(b"{\"name\": 5}")).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(e.message.starts_with("name"), "{}", e.message);
    }

    #[test]
    fn the_reset_header_is_unix_seconds() {
        let mut headers = HeaderMap::new();
        let d = Decision {
            allowed: true,
            limit: 600,
            remaining: 599,
            reset: Duration::from_millis(100),
            retry_after: Duration::ZERO,
        };
        write_limits(&mut headers, &d, StatusCode::OK);
        let reset: u64 = headers["ratelimit-reset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!((now..=now + 2).contains(&reset));
        assert!(headers.get("retry-after").is_none());
    }
}
