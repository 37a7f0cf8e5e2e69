//! The dashboard's files. The app routes on real paths (`/jobs/42`), so any
//! GET the gateway does not know as a file or an API is answered with
//! `index.html` and the app shows that page (or its own "not found"): links
//! can be typed, shared and bookmarked. Two kinds of path never get the app:
//! a missing file under `/assets/` (after a deploy, a stale hashed chunk must
//! fail as a 404, not be parsed as HTML) and an RPC path without a gRPC
//! content type (a `curl` of `/clustergenie.jobs.v1.JobService/ListJobs`
//! deserves a plain 404 rather than a page of HTML).

use std::{convert::Infallible, path::Path};

use axum::{
    Router,
    body::Body,
    http::{HeaderValue, Request, StatusCode, header},
    response::{IntoResponse, Response},
};
use tower::ServiceExt as _;
use tower_http::{
    services::{ServeDir, ServeFile},
    set_header::SetResponseHeaderLayer,
};

/// Hashed file names change with their content, so they can be kept forever.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The page that names the current hashes must be revalidated on every load.
const REVALIDATE: &str = "no-cache";

/// The router serving the dashboard built into `root` (`web/dist`), and
/// `/config.json`: what the dashboard needs to know of this deployment (the
/// trace viewer it links to), nothing secret.
pub fn dashboard(root: &Path, trace_ui_url: Option<&str>) -> Router {
    let config = axum::Json(serde_json::json!({ "traceUrl": trace_ui_url }));
    let index = root.join("index.html");
    if !index.exists() {
        tracing::warn!(path = %index.display(), "dashboard not built (run `just web-build`); serving gRPC only");
    }
    let assets = Router::new()
        .fallback_service(ServeDir::new(root.join("assets")))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static(IMMUTABLE),
        ));
    let app = ServeDir::new(root).fallback(ServeFile::new(index));
    let app = Router::new()
        .fallback_service(tower::service_fn(move |req: Request<Body>| {
            let app = app.clone();
            async move {
                if is_rpc_path(req.uri().path()) {
                    return Ok::<_, Infallible>(StatusCode::NOT_FOUND.into_response());
                }
                let resp: Response = app.oneshot(req).await?.map(Body::new);
                Ok(resp)
            }
        }))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static(REVALIDATE),
        ));
    Router::new()
        .route(
            "/config.json",
            axum::routing::get(move || {
                let config = config.clone();
                async move { ([(header::CACHE_CONTROL, REVALIDATE)], config) }
            }),
        )
        .nest_service("/assets", assets)
        .merge(app)
}

/// `/<package>.<Service>/<Method>`: the shape of every gRPC path, which no
/// page of the app has (its paths are lowercase words without dots).
fn is_rpc_path(path: &str) -> bool {
    let mut parts = path.trim_start_matches('/').split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(service), Some(method), None) => {
            service.contains('.') && !method.is_empty() && !method.contains('.')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grpc_method_path_is_an_rpc_path() {
        assert!(is_rpc_path("/clustergenie.jobs.v1.JobService/ListJobs"));
        assert!(is_rpc_path("/grpc.health.v1.Health/Check"));
    }

    #[test]
    fn app_pages_and_files_are_not_rpc_paths() {
        for path in [
            "/",
            "/jobs",
            "/clusters/42",
            "/monitoring/checks",
            "/favicon.ico",
            "/assets/index-abc.js",
        ] {
            assert!(!is_rpc_path(path), "{path}");
        }
    }
}
