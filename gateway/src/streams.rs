//! Open server streams per API token: a cap on how many one token may hold,
//! a maximum lifetime for each, and an end for every stream of a token that
//! was revoked (checked every `streams.revocation_check`, so on any
//! replica). A stream that is ended gets proper gRPC trailers, so clients
//! see a status, not a broken connection.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body::Frame;
use serde::{Deserialize, Serialize};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::{Code, Status, body::Body};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamsConfig {
    /// Streams one token may hold open at once; more are refused with
    /// `RESOURCE_EXHAUSTED`.
    pub max_per_token: usize,
    /// A stream is ended (`UNAVAILABLE`, so clients reconnect) after this.
    #[serde(with = "humantime_serde")]
    pub max_lifetime: Duration,
    /// How often open streams' tokens are checked for revocation: the most
    /// a revoked token's stream outlives the revocation.
    #[serde(with = "humantime_serde")]
    pub revocation_check: Duration,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        Self {
            max_per_token: 16,
            max_lifetime: Duration::from_secs(3600),
            revocation_check: Duration::from_secs(1),
        }
    }
}

impl StreamsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=10_000).contains(&self.max_per_token) {
            return Err("streams.max_per_token must be 1–10000".into());
        }
        if self.max_lifetime < Duration::from_secs(1) {
            return Err("streams.max_lifetime must be at least 1s".into());
        }
        if !(Duration::from_millis(10)..=Duration::from_secs(60)).contains(&self.revocation_check) {
            return Err("streams.revocation_check must be between 10ms and 60s".into());
        }
        Ok(())
    }
}

/// The open streams, by holder: a token id, or `peer:<ip>` for anonymous
/// streams (health watches).
pub struct Streams {
    config: StreamsConfig,
    open: Mutex<HashMap<String, HashMap<u64, CancellationToken>>>,
    next: AtomicU64,
}

impl Streams {
    pub fn new(config: StreamsConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            open: Mutex::default(),
            next: AtomicU64::new(0),
        })
    }

    /// Registers a new stream of `token_id`, or refuses it over the cap.
    pub fn open(self: &Arc<Self>, token_id: &str) -> Result<StreamGuard, Status> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let streams = open.entry(token_id.to_string()).or_default();
        if streams.len() >= self.config.max_per_token {
            metrics::counter!("cg_gateway_stream_rejections_total").increment(1);
            return Err(cg_runtime::error::resource_exhausted(
                format!(
                    "this token already holds {} open streams, the most allowed; close one first",
                    streams.len()
                ),
                None,
            ));
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let cancel = CancellationToken::new();
        streams.insert(id, cancel.clone());
        Ok(StreamGuard {
            streams: self.clone(),
            token_id: token_id.to_string(),
            id,
            cancel,
        })
    }

    /// Token ids holding streams now.
    pub fn token_ids(&self) -> Vec<String> {
        let open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        open.keys().cloned().collect()
    }

    /// Ends every stream of `token_id`.
    pub fn revoke(&self, token_id: &str) {
        let open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(streams) = open.get(token_id) {
            tracing::info!(
                token_id,
                count = streams.len(),
                "ending the streams of a revoked token"
            );
            for cancel in streams.values() {
                cancel.cancel();
            }
        }
    }

    /// Ends the streams of revoked tokens, every `revocation_check`, until
    /// `stop`.
    pub async fn watch_revocations(
        self: Arc<Self>,
        tokens: crate::auth::Tokens,
        stop: CancellationToken,
    ) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.config.revocation_check) => {}
            }
            let ids = self.token_ids();
            if ids.is_empty() {
                continue;
            }
            match tokens.revoked_among(&ids).await {
                Ok(revoked) => {
                    for id in revoked {
                        self.revoke(&id);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not check open streams' tokens"),
            }
        }
    }

    /// Wraps a stream's response body: it ends when the token is revoked
    /// or the stream reaches its maximum lifetime.
    pub fn guard(&self, body: Body, guard: StreamGuard) -> Body {
        let revoked = Box::pin(guard.cancel.clone().cancelled_owned());
        Body::new(Guarded {
            inner: body,
            revoked,
            deadline: Box::pin(tokio::time::sleep(self.config.max_lifetime)),
            lifetime: self.config.max_lifetime,
            _guard: guard,
            done: false,
        })
    }
}

/// One open stream; dropping it (the body ends or the client goes)
/// releases its place under the cap.
pub struct StreamGuard {
    streams: Arc<Streams>,
    token_id: String,
    id: u64,
    cancel: CancellationToken,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut open = self
            .streams
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(streams) = open.get_mut(&self.token_id) {
            streams.remove(&self.id);
            if streams.is_empty() {
                open.remove(&self.token_id);
            }
        }
    }
}

struct Guarded {
    inner: Body,
    revoked: Pin<Box<WaitForCancellationFutureOwned>>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    lifetime: Duration,
    _guard: StreamGuard,
    done: bool,
}

fn trailers(code: Code, message: String) -> Frame<Bytes> {
    let mut headers = http::HeaderMap::new();
    // Only fails for a message that cannot be a header value; then the
    // code alone goes out.
    if Status::new(code, message).add_header(&mut headers).is_err() {
        let _ = Status::new(code, "").add_header(&mut headers);
    }
    Frame::trailers(headers)
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.revoked.as_mut().poll(cx).is_ready() {
            self.done = true;
            return Poll::Ready(Some(Ok(trailers(
                Code::Unauthenticated,
                "the API token of this stream was revoked".into(),
            ))));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.done = true;
            let secs = self.lifetime.as_secs();
            return Poll::Ready(Some(Ok(trailers(
                Code::Unavailable,
                format!("the stream reached its maximum lifetime of {secs}s; reconnect"),
            ))));
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.done = true,
            Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => self.done = true,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

use std::future::Future as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_over_its_stream_cap_is_refused_until_one_closes() {
        let streams = Streams::new(StreamsConfig {
            max_per_token: 2,
            ..StreamsConfig::default()
        });
        let a = streams.open("t1").expect("first");
        let _b = streams.open("t1").expect("second");
        let refused = streams.open("t1").err().expect("third is refused");
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(
            streams.open("t2").is_ok(),
            "other tokens have their own cap"
        );
        drop(a);
        assert!(
            streams.open("t1").is_ok(),
            "a closed stream frees its place"
        );
    }

    /// A body that never sends anything.
    struct Forever;

    impl http_body::Body for Forever {
        type Data = Bytes;
        type Error = Status;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
            Poll::Pending
        }
    }

    async fn next_frame(body: &mut Body) -> Option<Result<Frame<Bytes>, Status>> {
        std::future::poll_fn(|cx| http_body::Body::poll_frame(Pin::new(&mut *body), cx)).await
    }

    #[tokio::test]
    async fn a_stream_past_its_lifetime_ends_with_unavailable_and_frees_its_place() {
        let streams = Streams::new(StreamsConfig {
            max_lifetime: Duration::from_millis(50),
            ..StreamsConfig::default()
        });
        let guard = streams.open("t1").unwrap();
        let mut body = streams.guard(Body::new(Forever), guard);
        let frame = next_frame(&mut body)
            .await
            .expect("a frame")
            .expect("no error");
        let trailers = frame.into_trailers().expect("trailers end the stream");
        assert_eq!(trailers["grpc-status"], "14", "UNAVAILABLE: reconnect");
        assert!(next_frame(&mut body).await.is_none());
        assert_eq!(streams.token_ids(), ["t1"], "held while the body lives");
        drop(body);
        assert!(streams.token_ids().is_empty());
    }

    #[test]
    fn revoking_a_token_cancels_its_streams_only() {
        let streams = Streams::new(StreamsConfig::default());
        let a = streams.open("t1").unwrap();
        let b = streams.open("t2").unwrap();
        streams.revoke("t1");
        assert!(a.cancel.is_cancelled());
        assert!(!b.cancel.is_cancelled());
    }
}
