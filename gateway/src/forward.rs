//! Forwarding a call to its backend: one pooled HTTP/2 client per backend.
//!
//! Not tonic's `Channel`: a channel hands every call to a buffer task
//! through a queue and waits for that task's answer, two more wake-ups per
//! call, and on this hop wake-ups are most of the cost (`just
//! bench-gateway`). hyper's pooled client sends from the calling task over
//! one multiplexed connection, reconnecting when it breaks.

use std::time::Duration;

use http::{Request, Response, Uri, uri::PathAndQuery};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use tonic::body::Body;

use crate::error::{Error, Result};

/// One backend's address and its client.
#[derive(Clone, Debug)]
pub struct Backend {
    client: Client<HttpConnector, Body>,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
}

impl Backend {
    /// A client for the `http://host:port` backend at `url`.
    pub fn new(url: &str, connect_timeout: Duration) -> std::result::Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
        let scheme = uri.scheme().cloned().ok_or("no scheme")?;
        if scheme != http::uri::Scheme::HTTP {
            return Err(format!("{url:?}: backends are reached over plain http"));
        }
        let authority = uri.authority().cloned().ok_or("no host")?;
        let mut connector = HttpConnector::new();
        // Small gRPC frames must not wait for the peer's delayed ACK.
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(connect_timeout));
        connector.enforce_http(true);
        let client = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .pool_idle_timeout(None::<Duration>)
            .build(connector);
        Ok(Self {
            client,
            scheme,
            authority,
        })
    }

    /// Sends `req` (whose URI is the method's path) to this backend;
    /// `Unavailable` when it cannot be reached.
    pub async fn call(&self, mut req: Request<Body>) -> Result<Response<Body>> {
        let path = req
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        *req.uri_mut() = Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path)
            .build()
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        *req.version_mut() = http::Version::HTTP_2;
        self.client
            .request(req)
            .await
            .map(|resp| resp.map(Body::new))
            .map_err(|e| Error::Unavailable(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_backend_must_be_a_plain_http_url() {
        let timeout = Duration::from_secs(1);
        assert!(Backend::new("http://127.0.0.1:50051", timeout).is_ok());
        assert!(Backend::new("https://provisioning:50051", timeout).is_err());
        assert!(Backend::new("provisioning:50051", timeout).is_err());
        assert!(Backend::new("not a url", timeout).is_err());
    }
}
