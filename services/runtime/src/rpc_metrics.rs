//! RED metrics per RPC for every server (the backends' and the gateway's):
//! `cg_grpc_requests_total{service,method,code}` and
//! `cg_grpc_request_duration_seconds{service,method}`, recorded when the
//! call ends: at its trailers (a stream ends there too), or at the headers
//! of a trailers-only answer (errors). A response the client stops reading
//! (a stream it closed, a cancelled call) counts as `Cancelled`.
//!
//! Only gRPC calls (`content-type: application/grpc…`) are counted; a path
//! no service owns is counted as method `unknown`, so the label set stays
//! bounded whatever callers send.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Instant,
};

use http_body::{Body, Frame, SizeHint};
use tonic::Code;

/// Wraps a service so each gRPC call it answers is counted and timed.
#[derive(Debug, Clone, Copy)]
pub struct RpcMetricsLayer {
    service: &'static str,
}

impl RpcMetricsLayer {
    pub fn new(service: &'static str) -> Self {
        Self { service }
    }
}

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics {
            inner,
            service: self.service,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    inner: S,
    service: &'static str,
}

/// One call being measured; recorded once, when it ends.
#[derive(Debug)]
struct Call {
    service: &'static str,
    method: String,
    started: Instant,
}

impl Call {
    fn finish(self, code: Code) {
        // Unimplemented is what a path no service owns gets: its text is
        // the caller's, so it never becomes a label.
        let method = if code == Code::Unimplemented {
            "unknown".to_string()
        } else {
            self.method
        };
        metrics::counter!(
            "cg_grpc_requests_total",
            "service" => self.service,
            "method" => method.clone(),
            "code" => code_name(code)
        )
        .increment(1);
        metrics::histogram!(
            "cg_grpc_request_duration_seconds",
            "service" => self.service,
            "method" => method
        )
        .record(self.started.elapsed().as_secs_f64());
    }
}

fn is_grpc<B>(req: &http::Request<B>) -> bool {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

fn status_in(headers: &http::HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(Code::from_i32)
}

/// The code's name as gRPC spells it (`OK`, `NOT_FOUND`, …).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for RpcMetrics<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<Observed<ResBody>>;
    type Error = S::Error;
    type Future = Answer<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let call = is_grpc(&req).then(|| Call {
            service: self.service,
            method: req.uri().path().to_string(),
            started: Instant::now(),
        });
        Answer {
            inner: Box::pin(self.inner.call(req)),
            call,
        }
    }
}

/// The inner answer; its headers may already end the call.
pub struct Answer<F> {
    // Boxed so the wrapper needs no pin projection; one allocation per call.
    inner: Pin<Box<F>>,
    call: Option<Call>,
}

impl<F, B, E> Future for Answer<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<Observed<B>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = ready!(self.inner.as_mut().poll(cx));
        let mut call = self.call.take();
        Poll::Ready(result.map(|resp| {
            if let Some(code) = status_in(resp.headers())
                && let Some(c) = call.take()
            {
                c.finish(code);
            }
            resp.map(|inner| Observed { inner, call })
        }))
    }
}

/// A response body that records its call when its trailers pass, or when
/// it is dropped before them.
pub struct Observed<B> {
    inner: B,
    call: Option<Call>,
}

impl<B: Body + Unpin> Body for Observed<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let Some(trailers) = f.trailers_ref()
                    && let Some(call) = self.call.take()
                {
                    call.finish(status_in(trailers).unwrap_or(Code::Unknown));
                }
            }
            Some(Err(_)) => {
                if let Some(call) = self.call.take() {
                    call.finish(Code::Unknown);
                }
            }
            // A gRPC answer without trailers is broken.
            None => {
                if let Some(call) = self.call.take() {
                    call.finish(Code::Unknown);
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for Observed<B> {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            call.finish(Code::Cancelled);
        }
    }
}

impl<B> std::fmt::Debug for Observed<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observed").finish_non_exhaustive()
    }
}

impl<F> std::fmt::Debug for Answer<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer").finish_non_exhaustive()
    }
}
