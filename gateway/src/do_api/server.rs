//! `/v2/...`: each request is admitted like its gRPC twin (same token,
//! role and rate-limit budget), then served by calling the backends through
//! the gateway's own edge, uncharged, so auth and roles hold for every call.

use std::{
    collections::HashMap,
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

use super::{
    convert::Catalog,
    model::{self, ActionLink, Envelope, ErrorBody},
};
use crate::{
    edge::{Gateway, Refused, Uncharged, peer_key},
    limits::Decision,
};

/// Request bodies larger than this are refused (413).
pub const MAX_BODY: usize = 1024 * 1024;
/// DigitalOcean's page size bounds.
const PER_PAGE_DEFAULT: u32 = 20;
const PER_PAGE_MAX: u32 = 200;
/// Deeper than this a page is refused: provisioning skips at most 100000.
const SKIP_MAX: u32 = 100_000;
/// At most this many droplets per create, as DigitalOcean.
const NAMES_MAX: usize = 10;
/// Pages read when acting on every droplet of a tag.
const TAG_PAGE: i32 = 200;

/// The DigitalOcean API surface of one gateway.
pub struct DoApi {
    gateway: Arc<Gateway>,
    catalog: OnceCell<Arc<Catalog>>,
}

/// The gRPC call a REST request stands for: it decides the role and the
/// budget (`roles::TABLE`).
type Twin = (&'static str, &'static str);

const WHO_AM_I: Twin = ("clustergenie.gateway.v1.TokenService", "WhoAmI");

fn twin(service: &'static str, method: &'static str) -> Twin {
    (service, method)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Account,
    Sizes,
    Regions,
    Images,
    Image(String),
    ListDroplets,
    CreateDroplets,
    DestroyByTag,
    GetDroplet(i64),
    DestroyDroplet(i64),
    ListDropletActions(i64),
    PostDropletAction(i64),
    GetDropletAction(i64, i64),
    PostActionsByTag,
    ListActions,
    GetAction(i64),
    ListTags,
    CreateTag,
    GetTag(String),
    DeleteTag(String),
    TagResources(String),
    UntagResources(String),
    /// Unknown path, or an id that cannot exist (404).
    Missing,
}

/// A path id: DigitalOcean's are positive integers.
fn number(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|n| *n >= 1)
}

impl Route {
    /// `segments` after `v2`; trailing slashes are already gone.
    fn parse(method: &Method, segments: &[&str]) -> Self {
        use Route as R;
        let (get, post, delete) = (
            method == Method::GET || method == Method::HEAD,
            method == Method::POST,
            method == Method::DELETE,
        );
        let by_number = |raw: &str, f: fn(i64) -> Route| number(raw).map_or(R::Missing, f);
        match segments {
            ["account"] if get => R::Account,
            ["sizes"] if get => R::Sizes,
            ["regions"] if get => R::Regions,
            ["images"] if get => R::Images,
            ["images", id] if get => R::Image((*id).to_string()),
            ["droplets"] if get => R::ListDroplets,
            ["droplets"] if post => R::CreateDroplets,
            ["droplets"] if delete => R::DestroyByTag,
            ["droplets", "actions"] if post => R::PostActionsByTag,
            ["droplets", id] if get => by_number(id, R::GetDroplet),
            ["droplets", id] if delete => by_number(id, R::DestroyDroplet),
            ["droplets", id, "actions"] if get => by_number(id, R::ListDropletActions),
            ["droplets", id, "actions"] if post => by_number(id, R::PostDropletAction),
            ["droplets", id, "actions", action] if get => match (number(id), number(action)) {
                (Some(d), Some(a)) => R::GetDropletAction(d, a),
                _ => R::Missing,
            },
            ["actions"] if get => R::ListActions,
            ["tags"] if get => R::ListTags,
            ["tags"] if post => R::CreateTag,
            ["tags", name] if get => R::GetTag((*name).to_string()),
            ["tags", name] if delete => R::DeleteTag((*name).to_string()),
            ["tags", name, "resources"] if post => R::TagResources((*name).to_string()),
            ["tags", name, "resources"] if delete => R::UntagResources((*name).to_string()),
            ["actions", id] if get => by_number(id, R::GetAction),
            _ => R::Missing,
        }
    }

    fn twin(&self) -> Twin {
        use Route as R;
        let droplets = "clustergenie.provisioning.v1.DropletService";
        let actions = "clustergenie.provisioning.v1.DropletActionService";
        let catalog = "clustergenie.provisioning.v1.CatalogService";
        let tags = "clustergenie.provisioning.v1.TagService";
        match self {
            R::Account | R::Missing => WHO_AM_I,
            R::Sizes => twin(catalog, "ListSizes"),
            R::Regions => twin(catalog, "ListRegions"),
            R::Images | R::Image(_) => twin(catalog, "ListImages"),
            R::ListDroplets => twin(droplets, "ListDroplets"),
            R::CreateDroplets => twin(droplets, "CreateDroplet"),
            R::DestroyByTag | R::DestroyDroplet(_) => twin(droplets, "DestroyDroplet"),
            R::GetDroplet(_) => twin(droplets, "GetDroplet"),
            R::ListDropletActions(_) | R::ListActions => twin(actions, "ListDropletActions"),
            R::PostDropletAction(_) | R::PostActionsByTag => twin(actions, "CreateDropletAction"),
            R::GetDropletAction(..) | R::GetAction(_) => twin(actions, "GetDropletAction"),
            R::ListTags => twin(tags, "ListTags"),
            R::CreateTag => twin(tags, "CreateTag"),
            R::GetTag(_) => twin(tags, "GetTag"),
            R::DeleteTag(_) => twin(tags, "DeleteTag"),
            R::TagResources(_) => twin(tags, "TagDroplets"),
            R::UntagResources(_) => twin(tags, "UntagDroplets"),
        }
    }
}

/// A DigitalOcean-style error answer.
#[derive(Debug)]
pub struct DoError {
    status: StatusCode,
    id: &'static str,
    message: String,
}

impl DoError {
    fn new(status: StatusCode, id: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            id,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "The resource you requested could not be found.",
        )
    }

    fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable_entity",
            message,
        )
    }

    fn pending_event() -> Self {
        Self::unprocessable(model::PENDING_EVENT)
    }

    /// A backend's (or the edge's) answer in DigitalOcean's terms.
    fn from_status(s: &Status) -> Self {
        let message = || {
            let violations = s
                .get_details_bad_request()
                .map(|b| {
                    b.field_violations
                        .iter()
                        .map(|v| format!("{}: {}", v.field, v.description))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            if violations.is_empty() {
                s.message().to_string()
            } else {
                violations
            }
        };
        match s.code() {
            Code::NotFound => Self::not_found(),
            Code::InvalidArgument | Code::AlreadyExists | Code::OutOfRange => {
                Self::unprocessable(message())
            }
            Code::FailedPrecondition => {
                let m = s.message();
                if m.contains("locked") || m.contains("still being created") {
                    Self::pending_event()
                } else if m.contains("cannot power_off") || m.contains("cannot shutdown") {
                    Self::unprocessable("Droplet is already powered off.")
                } else if m.contains("cannot power_on") {
                    Self::unprocessable("Droplet is already powered on.")
                } else if m.contains("destroyed") {
                    Self::not_found()
                } else {
                    Self::unprocessable(m)
                }
            }
            Code::Unauthenticated => Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unable to authenticate you.",
            ),
            Code::PermissionDenied => Self::new(StatusCode::FORBIDDEN, "forbidden", s.message()),
            // From the edge's rate limit; a backend's (a full region) is
            // mapped by the caller before it gets here.
            Code::ResourceExhausted => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "API rate limit exceeded.",
            ),
            Code::Unavailable | Code::DeadlineExceeded => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "The service is temporarily unavailable; try again shortly.",
            ),
            _ => {
                tracing::warn!(code = ?s.code(), message = s.message(), "do api: backend error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "Unexpected server-side error",
                )
            }
        }
    }
}

impl From<Status> for DoError {
    fn from(s: Status) -> Self {
        // A backend saying "no room" is the caller's problem to fix (422),
        // not a budget to wait out: inner calls are never rate limited.
        if s.code() == Code::ResourceExhausted {
            return Self::unprocessable(s.message());
        }
        Self::from_status(&s)
    }
}

type Reply = Result<Response<HttpBody>, DoError>;

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<HttpBody> {
    match serde_json::to_vec(value) {
        Ok(bytes) => Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(HttpBody::from(bytes))
            .unwrap_or_default(),
        Err(e) => {
            tracing::error!(error = %e, "do api: a reply did not serialize");
            let mut r = Response::new(HttpBody::empty());
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    }
}

fn no_content() -> Response<HttpBody> {
    let mut r = Response::new(HttpBody::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

fn error_response(e: &DoError, request_id: &str) -> Response<HttpBody> {
    json(
        e.status,
        &ErrorBody::new(e.id, e.message.clone(), request_id.to_string()),
    )
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
fn root_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
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
        let path = parts.uri.path();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let route = match segments.split_first() {
            Some((&"v2", rest)) => Route::parse(&parts.method, rest),
            _ => Route::Missing,
        };
        let peer = peer_key(&Request::from_parts(parts.clone(), ()));
        let admitted = self
            .gateway
            .admit(&parts.headers, &peer, route.twin(), true)
            .await;
        let (mut resp, decision) = match admitted {
            Err(Refused { status, decision }) => (
                error_response(&DoError::from_status(&status), &request_id),
                decision,
            ),
            Ok(admitted) => {
                let call = Call {
                    api: self.clone(),
                    inner: Inner {
                        gateway: self.gateway.clone(),
                        authorization: parts.headers.get(header::AUTHORIZATION).cloned(),
                        peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().copied(),
                    },
                    root: root_url(&parts.headers),
                    query: form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                        .into_owned()
                        .collect(),
                };
                let reply = match read_body(&parts.method, body).await {
                    Ok(body) => call.run(route, body).await,
                    Err(e) => Err(e),
                };
                let resp = match reply {
                    Ok(r) => r,
                    Err(e) => error_response(&e, &request_id),
                };
                (resp, admitted.decision)
            }
        };
        let status = resp.status();
        if let Some(d) = &decision {
            write_limits(resp.headers_mut(), d, status);
        }
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-request-id", v);
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

/// The body of a POST (or DELETE, which python-digitalocean sends `{}`
/// with), at most [`MAX_BODY`].
async fn read_body(method: &Method, body: HttpBody) -> Result<Bytes, DoError> {
    if method == Method::GET || method == Method::HEAD {
        return Ok(Bytes::new());
    }
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        DoError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_entity_too_large",
            format!("The request body is larger than {MAX_BODY} bytes."),
        )
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

/// `page` and `per_page`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Paging {
    page: u32,
    per_page: u32,
}

impl Paging {
    fn parse(query: &[(String, String)]) -> Result<Self, DoError> {
        let get = |key: &str| {
            query
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let page = match get("page") {
            None | Some("") => 1,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| DoError::bad_request("page must be a positive integer"))?,
        };
        let per_page = match get("per_page") {
            None | Some("") => PER_PAGE_DEFAULT,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=PER_PAGE_MAX).contains(n))
                .ok_or_else(|| {
                    DoError::bad_request(format!(
                        "per_page must be an integer from 1 to {PER_PAGE_MAX}"
                    ))
                })?,
        };
        let paging = Self { page, per_page };
        if paging.skip().is_none() {
            return Err(DoError::bad_request(format!(
                "page is too deep: at most {SKIP_MAX} items can be passed over"
            )));
        }
        Ok(paging)
    }

    /// As the backends' `page_size` and `skip` take them.
    fn page_size(self) -> i32 {
        i32::try_from(self.per_page).unwrap_or(i32::MAX)
    }

    fn skip_rows(self) -> i32 {
        i32::try_from(self.skip().unwrap_or(0)).unwrap_or(i32::MAX)
    }

    fn skip(self) -> Option<u32> {
        (self.page - 1)
            .checked_mul(self.per_page)
            .filter(|s| *s <= SKIP_MAX)
    }

    /// This page of an in-memory list.
    fn slice<T: Clone>(self, all: &[T]) -> Vec<T> {
        let skip = self.skip().unwrap_or(u32::MAX) as usize;
        all.iter()
            .skip(skip)
            .take(self.per_page as usize)
            .cloned()
            .collect()
    }
}

/// One admitted request.
struct Call {
    api: Arc<DoApi>,
    inner: Inner,
    root: String,
    query: Vec<(String, String)>,
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

    async fn run(&self, route: Route, body: Bytes) -> Reply {
        match route.clone() {
            Route::Account => self.account().await,
            Route::Sizes => {
                let paging = Paging::parse(&self.query)?;
                let c = self.catalog().await?;
                let all: Vec<_> = c.sizes.iter().map(|s| c.size_json(s)).collect();
                Ok(self.page_of("/v2/sizes", paging.slice(&all), paging, all.len() as u64))
            }
            Route::Regions => {
                let paging = Paging::parse(&self.query)?;
                let c = self.catalog().await?;
                let all: Vec<_> = c.regions.iter().map(|r| c.region_json(r)).collect();
                Ok(self.page_of("/v2/regions", paging.slice(&all), paging, all.len() as u64))
            }
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
            Route::PostActionsByTag => {
                let request: model::ActionRequest = parse_json(&body)?;
                let tag = self.tag_filter()?;
                let mut done = Vec::new();
                for d in self.tagged(&tag).await? {
                    done.push(self.post_action(&d, &request).await?);
                }
                Ok(json(StatusCode::CREATED, &Envelope::many(done)))
            }
            Route::GetDropletAction(n, a) => {
                let d = self.any_droplet(n).await?;
                let action = self.action(a).await?;
                if action.droplet_id != d.id {
                    return Err(DoError::not_found());
                }
                let c = self.catalog().await?;
                Ok(json(
                    StatusCode::OK,
                    &Envelope::one(c.action_json(&action, d.number)),
                ))
            }
            Route::GetAction(a) => {
                let action = self.action(a).await?;
                let d = self.droplet_by_id(&action.droplet_id).await?;
                let c = self.catalog().await?;
                Ok(json(
                    StatusCode::OK,
                    &Envelope::one(c.action_json(&action, d.number)),
                ))
            }
            Route::ListTags => self.list_tags().await,
            Route::CreateTag => {
                let request: model::CreateTag = parse_json(&body)?;
                let tag = self
                    .tags()
                    .create_tag(ppb::CreateTagRequest { name: request.name })
                    .await?
                    .into_inner()
                    .tag
                    .ok_or_else(DoError::not_found)?;
                Ok(json(
                    StatusCode::CREATED,
                    &Envelope::one(self.tag_json(&tag)),
                ))
            }
            Route::GetTag(name) => {
                let tag = self
                    .tags()
                    .get_tag(ppb::GetTagRequest { name })
                    .await?
                    .into_inner()
                    .tag
                    .ok_or_else(DoError::not_found)?;
                Ok(json(StatusCode::OK, &Envelope::one(self.tag_json(&tag))))
            }
            Route::DeleteTag(name) => {
                self.tags()
                    .delete_tag(ppb::DeleteTagRequest { name })
                    .await?;
                Ok(no_content())
            }
            Route::TagResources(name) | Route::UntagResources(name) => {
                let request: model::TagResourcesRequest = parse_json(&body)?;
                let mut ids = Vec::with_capacity(request.resources.len());
                for r in request.resources {
                    if r.resource_type != "droplet" {
                        return Err(DoError::unprocessable(format!(
                            "resource_type {:?} cannot be tagged here (droplet only)",
                            r.resource_type
                        )));
                    }
                    // A number that cannot exist is simply not found.
                    if number(&r.resource_id).is_none() {
                        return Err(DoError::not_found());
                    }
                    ids.push(r.resource_id);
                }
                if matches!(route, Route::TagResources(_)) {
                    self.tags()
                        .tag_droplets(ppb::TagDropletsRequest {
                            tag: name,
                            droplet_ids: ids,
                        })
                        .await?;
                } else {
                    self.tags()
                        .untag_droplets(ppb::UntagDropletsRequest {
                            tag: name,
                            droplet_ids: ids,
                        })
                        .await?;
                }
                Ok(no_content())
            }
            Route::Missing => Err(DoError::not_found()),
        }
    }

    fn tags(&self) -> ppb::tag_service_client::TagServiceClient<Inner> {
        ppb::tag_service_client::TagServiceClient::new(self.inner.clone())
    }

    fn tag_json(&self, t: &ppb::Tag) -> model::Tag {
        let droplets = u64::try_from(t.droplet_count).unwrap_or_default();
        model::Tag {
            name: t.name.clone(),
            resources: model::TagResources {
                count: droplets,
                last_tagged_uri: None,
                droplets: model::TagResourceCount {
                    count: droplets,
                    last_tagged_uri: None,
                },
                ..model::TagResources::default()
            },
        }
    }

    async fn list_tags(&self) -> Reply {
        let paging = Paging::parse(&self.query)?;
        let r = self
            .tags()
            .list_tags(ppb::ListTagsRequest {
                page_size: paging.page_size(),
                skip: paging.skip_rows(),
                want_total_size: true,
                ..Default::default()
            })
            .await?
            .into_inner();
        let items = r.tags.iter().map(|t| self.tag_json(t)).collect();
        let total = u64::try_from(r.total_size).unwrap_or_default();
        Ok(self.page_of("/v2/tags", items, paging, total))
    }

    async fn account(&self) -> Reply {
        let mut tokens = gpb::token_service_client::TokenServiceClient::new(self.inner.clone());
        let token = tokens
            .who_am_i(gpb::WhoAmIRequest {})
            .await?
            .into_inner()
            .token
            .ok_or_else(|| DoError::from_status(&Status::unauthenticated("no token")))?;
        let name = token.name.clone();
        let local: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        Ok(json(
            StatusCode::OK,
            &Envelope::one(model::Account {
                droplet_limit: 1000,
                floating_ip_limit: 0,
                reserved_ip_limit: 0,
                volume_limit: 0,
                email: format!("{local}@clustergenie.local"),
                name,
                uuid: token.id,
                email_verified: true,
                status: "active".into(),
                status_message: String::new(),
                team: model::Team {
                    uuid: "00000000-0000-4000-8000-000000000001".into(),
                    name: "ClusterGenie".into(),
                },
            }),
        ))
    }

    async fn images(&self) -> Reply {
        let paging = Paging::parse(&self.query)?;
        let c = self.catalog().await?;
        // The catalog holds distribution images; snapshots are found by id.
        let private = self.query("private") == Some("true");
        let all: Vec<_> = match self.query("type") {
            _ if private => Vec::new(),
            None | Some("distribution" | "base") => {
                c.images.iter().map(|i| c.image_json(i)).collect()
            }
            Some(_) => Vec::new(),
        };
        Ok(self.page_of("/v2/images", paging.slice(&all), paging, all.len() as u64))
    }

    async fn image(&self, raw: &str) -> Reply {
        let c = self.catalog().await?;
        let found = match number(raw) {
            Some(n) => match c.image_by_number(n) {
                Some(i) => Some(c.image_json(i)),
                None => self.snapshot(n, &c).await?,
            },
            None => c.image_by_slug(raw).map(|i| c.image_json(i)),
        };
        let image = found.ok_or_else(DoError::not_found)?;
        Ok(json(StatusCode::OK, &Envelope::one(image)))
    }

    /// Image `n` when it is a completed snapshot.
    async fn snapshot(&self, n: i64, c: &Catalog) -> Result<Option<model::Image>, DoError> {
        let action = match self.action(n).await {
            Ok(a) => a,
            Err(e) if e.status == StatusCode::NOT_FOUND => return Ok(None),
            Err(e) => return Err(e),
        };
        let done = action.r#type == ppb::ActionType::Snapshot as i32
            && action.status == ppb::ActionStatus::Completed as i32;
        if !done {
            return Ok(None);
        }
        let d = self.droplet_by_id(&action.droplet_id).await?;
        Ok(Some(c.snapshot_json(&action, &d)))
    }

    fn tag_filter(&self) -> Result<String, DoError> {
        self.query("tag_name")
            .map(str::to_string)
            .ok_or_else(|| DoError::unprocessable("tag_name is required"))
    }

    async fn list_droplets(&self) -> Reply {
        let paging = Paging::parse(&self.query)?;
        let c = self.catalog().await?;
        let r = self
            .droplets()
            .list_droplets(ppb::ListDropletsRequest {
                page_size: paging.page_size(),
                skip: paging.skip_rows(),
                want_total_size: true,
                tag: self.query("tag_name").unwrap_or_default().to_string(),
                name: self.query("name").unwrap_or_default().to_string(),
                ..Default::default()
            })
            .await?
            .into_inner();
        let items = r.droplets.iter().map(|d| c.droplet_json(d)).collect();
        let total = u64::try_from(r.total_size).unwrap_or_default();
        Ok(self.page_of("/v2/droplets", items, paging, total))
    }

    /// Every live droplet with `tag`.
    async fn tagged(&self, tag: &str) -> Result<Vec<ppb::Droplet>, DoError> {
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            let r = self
                .droplets()
                .list_droplets(ppb::ListDropletsRequest {
                    page_size: TAG_PAGE,
                    page_token,
                    tag: tag.to_string(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            all.extend(r.droplets);
            if r.next_page_token.is_empty() {
                return Ok(all);
            }
            page_token = r.next_page_token;
        }
    }

    async fn destroy_by_tag(&self) -> Reply {
        let tag = self.tag_filter()?;
        let mut busy = false;
        for d in self.tagged(&tag).await? {
            match self
                .droplets()
                .destroy_droplet(ppb::DestroyDropletRequest { id: d.id.clone() })
                .await
            {
                Ok(_) => {}
                Err(s) if s.code() == Code::FailedPrecondition => busy = true,
                Err(s) if s.code() == Code::NotFound => {}
                Err(s) => return Err(s.into()),
            }
        }
        if busy {
            return Err(DoError::pending_event());
        }
        Ok(no_content())
    }

    async fn droplet_by_id(&self, id: &str) -> Result<ppb::Droplet, DoError> {
        self.droplets()
            .get_droplet(ppb::GetDropletRequest { id: id.to_string() })
            .await?
            .into_inner()
            .droplet
            .ok_or_else(DoError::not_found)
    }

    /// Droplet `n`, archived or not (its actions stay readable).
    async fn any_droplet(&self, n: i64) -> Result<ppb::Droplet, DoError> {
        self.droplet_by_id(&n.to_string()).await
    }

    /// Droplet `n`; a destroyed one is gone (404), as on DigitalOcean.
    async fn live_droplet(&self, n: i64) -> Result<ppb::Droplet, DoError> {
        let d = self.any_droplet(n).await?;
        if d.status == ppb::DropletStatus::Archive as i32 {
            return Err(DoError::not_found());
        }
        Ok(d)
    }

    async fn action(&self, n: i64) -> Result<ppb::DropletAction, DoError> {
        self.actions()
            .get_droplet_action(ppb::GetDropletActionRequest { id: n.to_string() })
            .await?
            .into_inner()
            .action
            .ok_or_else(DoError::not_found)
    }

    async fn list_actions(&self, droplet: Option<i64>) -> Reply {
        let paging = Paging::parse(&self.query)?;
        let c = self.catalog().await?;
        let known = match droplet {
            Some(n) => Some(self.any_droplet(n).await?),
            None => None,
        };
        let r = self
            .actions()
            .list_droplet_actions(ppb::ListDropletActionsRequest {
                droplet_id: droplet.map(|n| n.to_string()).unwrap_or_default(),
                page_size: paging.page_size(),
                skip: paging.skip_rows(),
                want_total_size: true,
                ..Default::default()
            })
            .await?
            .into_inner();
        // Each action names its droplet by number: one lookup per droplet.
        let mut numbers: HashMap<String, i64> = HashMap::new();
        if let Some(d) = &known {
            numbers.insert(d.id.clone(), d.number);
        }
        let mut items = Vec::with_capacity(r.actions.len());
        for a in &r.actions {
            let n = match numbers.get(&a.droplet_id) {
                Some(n) => *n,
                None => {
                    let n = self.droplet_by_id(&a.droplet_id).await?.number;
                    numbers.insert(a.droplet_id.clone(), n);
                    n
                }
            };
            items.push(c.action_json(a, n));
        }
        let path = match droplet {
            Some(n) => format!("/v2/droplets/{n}/actions"),
            None => "/v2/actions".to_string(),
        };
        let total = u64::try_from(r.total_size).unwrap_or_default();
        Ok(self.page_of(&path, items, paging, total))
    }

    async fn post_action(
        &self,
        d: &ppb::Droplet,
        request: &model::ActionRequest,
    ) -> Result<model::Action, DoError> {
        use ppb::{ActionType as T, create_droplet_action_request::Params};
        let (kind, params) = match request.kind.as_str() {
            "power_off" => (T::PowerOff, None),
            "power_on" => (T::PowerOn, None),
            "shutdown" => (T::Shutdown, None),
            "reboot" => (T::Reboot, None),
            "power_cycle" => (T::PowerCycle, None),
            "resize" => {
                let size = request
                    .size
                    .clone()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| DoError::unprocessable("size is required for a resize"))?;
                (T::Resize, Some(Params::Resize(ppb::ResizeParams { size })))
            }
            "rename" => {
                let name = request
                    .name
                    .clone()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| DoError::unprocessable("name is required for a rename"))?;
                (T::Rename, Some(Params::Rename(ppb::RenameParams { name })))
            }
            "snapshot" => (
                T::Snapshot,
                Some(Params::Snapshot(ppb::SnapshotParams {
                    name: request.name.clone().unwrap_or_default(),
                })),
            ),
            other => {
                return Err(DoError::unprocessable(format!(
                    "{other:?} is not an action type this cloud offers (power_off, power_on, \
                     shutdown, reboot, power_cycle, resize, rename, snapshot)"
                )));
            }
        };
        let action = self
            .actions()
            .create_droplet_action(ppb::CreateDropletActionRequest {
                droplet_id: d.id.clone(),
                r#type: kind as i32,
                params,
                request_id: String::new(),
            })
            .await?
            .into_inner()
            .action
            .ok_or_else(DoError::not_found)?;
        let c = self.catalog().await?;
        Ok(c.action_json(&action, d.number))
    }

    async fn create_droplets(&self, body: &Bytes) -> Reply {
        let request: model::CreateDroplet = parse_json(body)?;
        let names = match (&request.name, &request.names) {
            (Some(name), None) => vec![name.clone()],
            (None, Some(names)) if !names.is_empty() && names.len() <= NAMES_MAX => names.clone(),
            (None, Some(_)) => {
                return Err(DoError::unprocessable(format!(
                    "names must hold 1 to {NAMES_MAX} names"
                )));
            }
            (Some(_), Some(_)) => {
                return Err(DoError::unprocessable("give name or names, not both"));
            }
            (None, None) => return Err(DoError::unprocessable("name is required")),
        };
        let c = self.catalog().await?;
        let region = request
            .region
            .as_deref()
            .ok_or_else(|| DoError::unprocessable("region is required"))?;
        if c.region(region).is_none() {
            return Err(DoError::unprocessable(format!(
                "You specified an invalid region for Droplet creation: {region:?}."
            )));
        }
        let size = request
            .size
            .as_deref()
            .ok_or_else(|| DoError::unprocessable("size is required"))?;
        if c.size(size).is_none() {
            return Err(DoError::unprocessable(format!(
                "You specified an invalid size for Droplet creation: {size:?}."
            )));
        }
        let image = match &request.image {
            Some(model::ImageRef::Slug(slug)) => c.image_by_slug(slug),
            Some(model::ImageRef::Id(id)) => {
                i64::try_from(*id).ok().and_then(|n| c.image_by_number(n))
            }
            None => return Err(DoError::unprocessable("image is required")),
        }
        .ok_or_else(|| {
            DoError::unprocessable("You specified an invalid image for Droplet creation.")
        })?
        .slug
        .clone();
        let tags = request.tags.clone().unwrap_or_default();
        let cluster = self.cluster_for(&tags, region).await?;
        let mut droplets = Vec::with_capacity(names.len());
        let mut links = Vec::with_capacity(names.len());
        for name in names {
            let d = self
                .droplets()
                .create_droplet(ppb::CreateDropletRequest {
                    cluster_id: cluster.clone(),
                    name,
                    size: size.to_string(),
                    image: image.clone(),
                    tags: tags.clone(),
                    request_id: String::new(),
                })
                .await?
                .into_inner()
                .droplet
                .ok_or_else(DoError::not_found)?;
            let create = self
                .actions()
                .list_droplet_actions(ppb::ListDropletActionsRequest {
                    droplet_id: d.id.clone(),
                    page_size: 1,
                    ..Default::default()
                })
                .await?
                .into_inner()
                .actions
                .into_iter()
                .find(|a| a.r#type == ppb::ActionType::Create as i32);
            if let Some(a) = create {
                links.push(ActionLink::for_action(
                    &c.action_json(&a, d.number),
                    &self.root,
                ));
            }
            droplets.push(c.droplet_json(&d));
        }
        Ok(if droplets.len() == 1 && request.names.is_none() {
            let one = droplets
                .pop()
                .unwrap_or_else(|| unreachable!("one droplet"));
            json(StatusCode::ACCEPTED, &Envelope::created(one, links))
        } else {
            json(
                StatusCode::ACCEPTED,
                &Envelope::created_many(droplets, links),
            )
        })
    }

    /// The cluster a new droplet joins: the one a `cluster:<name>` tag
    /// names (created in the droplet's region if it does not exist), else
    /// the region's default cluster `do-<region>`.
    async fn cluster_for(&self, tags: &[String], region: &str) -> Result<String, DoError> {
        let named = tags.iter().find_map(|t| t.strip_prefix("cluster:"));
        let name = named.map_or_else(|| format!("do-{region}"), str::to_string);
        for _ in 0..3 {
            let found = self
                .clusters()
                .list_clusters(ppb::ListClustersRequest {
                    name: name.clone(),
                    page_size: 1,
                    ..Default::default()
                })
                .await?
                .into_inner()
                .clusters
                .into_iter()
                .next();
            if let Some(cluster) = found {
                if cluster.region != region {
                    return Err(DoError::unprocessable(format!(
                        "cluster {name} is in {}, not {region}",
                        cluster.region
                    )));
                }
                return Ok(cluster.id);
            }
            let created = self
                .clusters()
                .create_cluster(ppb::CreateClusterRequest {
                    name: name.clone(),
                    region: region.to_string(),
                    description: "created for droplets from the DigitalOcean API".into(),
                    tags: Vec::new(),
                    request_id: format!("do-api-cluster:{name}:{region}"),
                })
                .await;
            match created {
                Ok(r) => {
                    if let Some(c) = r.into_inner().cluster {
                        return Ok(c.id);
                    }
                }
                // Created meanwhile by someone else: look again.
                Err(s) if s.code() == Code::AlreadyExists => {}
                Err(s) => return Err(s.into()),
            }
        }
        Err(DoError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            format!("cluster {name} could not be found or created; try again"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn parse(method: Method, path: &str) -> Route {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        Route::parse(&method, &segments[1..])
    }

    #[test]
    fn routes_match_with_or_without_a_trailing_slash() {
        assert_eq!(parse(Method::GET, "/v2/droplets/"), Route::ListDroplets);
        assert_eq!(parse(Method::GET, "/v2/droplets"), Route::ListDroplets);
        assert_eq!(
            parse(Method::POST, "/v2/droplets/7/actions/"),
            Route::PostDropletAction(7)
        );
        assert_eq!(parse(Method::GET, "/v2/account/"), Route::Account);
    }

    #[test]
    fn ids_that_cannot_exist_are_missing() {
        for path in [
            "/v2/droplets/abc",
            "/v2/droplets/0",
            "/v2/droplets/-3",
            "/v2/actions/1.5",
        ] {
            assert_eq!(parse(Method::GET, path), Route::Missing, "{path}");
        }
        assert_eq!(parse(Method::PUT, "/v2/droplets"), Route::Missing);
        assert_eq!(parse(Method::GET, "/v2/nope"), Route::Missing);
    }

    #[test]
    fn every_route_has_a_twin_in_the_role_table() {
        let routes = [
            Route::Account,
            Route::Sizes,
            Route::Regions,
            Route::Images,
            Route::Image("x".into()),
            Route::ListDroplets,
            Route::CreateDroplets,
            Route::DestroyByTag,
            Route::GetDroplet(1),
            Route::DestroyDroplet(1),
            Route::ListDropletActions(1),
            Route::PostDropletAction(1),
            Route::GetDropletAction(1, 2),
            Route::PostActionsByTag,
            Route::ListActions,
            Route::GetAction(1),
            Route::ListTags,
            Route::CreateTag,
            Route::GetTag("t".into()),
            Route::DeleteTag("t".into()),
            Route::TagResources("t".into()),
            Route::UntagResources("t".into()),
            Route::Missing,
        ];
        for r in routes {
            let (service, method) = r.twin();
            assert_ne!(
                crate::roles::rule(service, method).access,
                crate::roles::Access::Denied,
                "{r:?}"
            );
        }
    }

    #[test]
    fn writes_cost_what_their_grpc_twins_cost() {
        use crate::roles::{Access, rule};
        let (s, m) = Route::CreateDroplets.twin();
        let create = rule(s, m);
        let (s, m) = Route::ListDroplets.twin();
        let list = rule(s, m);
        assert_eq!(create.tier, crate::limits::Tier::Expensive);
        assert!(
            matches!(create.access, Access::Needs(r) if r > match list.access {
                Access::Needs(r) => r,
                _ => unreachable!(),
            })
        );
    }

    #[test]
    fn paging_defaults_and_bounds() {
        let q = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            Paging::parse(&q(&[])).unwrap(),
            Paging {
                page: 1,
                per_page: 20
            }
        );
        assert_eq!(
            Paging::parse(&q(&[("page", "3"), ("per_page", "2")]))
                .unwrap()
                .skip(),
            Some(4)
        );
        for bad in [
            [("page", "0")],
            [("page", "abc")],
            [("per_page", "0")],
            [("per_page", "201")],
            [("page", "4000000000")],
        ] {
            let e = Paging::parse(&q(&bad)).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }

    #[test]
    fn a_locked_droplet_is_a_pending_event() {
        let e = DoError::from(Status::failed_precondition(
            "droplet is locked by action 0192 in progress",
        ));
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.message, model::PENDING_EVENT);
    }

    #[test]
    fn a_full_region_from_a_backend_is_unprocessable_not_a_rate_limit() {
        let e = DoError::from(Status::resource_exhausted("region nyc1 is full"));
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
    }

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
