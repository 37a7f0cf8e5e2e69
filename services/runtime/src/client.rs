//! Calling other services: channels that connect on first use, and one
//! reading of a dependency's failure. A service that calls another starts
//! before it; a dependency that is down makes calls `UNAVAILABLE` rather
//! than failing the start.

use std::time::Duration;

use tonic::{Code, Status, transport::Channel};

use crate::ApiError;

/// A channel to `url` that connects lazily; connecting and each call give
/// up after `timeout`. Calls carry the current trace.
pub fn lazy_channel(url: &str, timeout: Duration) -> Result<TracedChannel, ApiError> {
    Ok(TracedChannel(
        tonic::transport::Endpoint::from_shared(url.to_string())
            .map_err(|e| ApiError::Internal(format!("bad url {url}: {e}")))?
            .tcp_nodelay(true)
            .connect_timeout(timeout)
            .timeout(timeout)
            .connect_lazy(),
    ))
}

/// A channel whose calls carry the current span's W3C `traceparent`, so a
/// call made while handling one (a diagnosis implementing a job) continues
/// its trace in the service called.
#[derive(Debug, Clone)]
pub struct TracedChannel(Channel);

impl tower::Service<http::Request<tonic::body::Body>> for TracedChannel {
    type Response = http::Response<tonic::body::Body>;
    type Error = tonic::transport::Error;
    type Future = tonic::transport::channel::ResponseFuture;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<tonic::body::Body>) -> Self::Future {
        if let Some(value) =
            crate::kafka::current_traceparent().and_then(|tp| http::HeaderValue::from_str(&tp).ok())
        {
            req.headers_mut()
                .insert(crate::kafka::HEADER_TRACEPARENT, value);
        }
        self.0.call(req)
    }
}

/// `service`'s failure as the caller reports it: what could not be reached
/// is `UNAVAILABLE` (retried by whoever asked); a refusal passes through
/// with its meaning (a request the dependency finds invalid is a
/// precondition the caller's data did not meet); anything else is the
/// caller's internal error.
pub fn dependency_error(service: &str, status: &Status) -> ApiError {
    let message = format!("{service}: {}", status.message());
    match status.code() {
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Unknown
        | Code::ResourceExhausted
        | Code::Aborted
        | Code::Cancelled => ApiError::Unavailable(message),
        Code::FailedPrecondition | Code::InvalidArgument => ApiError::FailedPrecondition(message),
        Code::AlreadyExists => ApiError::AlreadyExists(message),
        _ => ApiError::Internal(format!(
            "{service} answered {:?}: {}",
            status.code(),
            status.message()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_dependency_is_unavailable_and_a_refusal_keeps_its_meaning() {
        assert!(matches!(
            dependency_error("jobs", &Status::unavailable("down")),
            ApiError::Unavailable(m) if m == "jobs: down"
        ));
        assert!(matches!(
            dependency_error("jobs", &Status::invalid_argument("bad")),
            ApiError::FailedPrecondition(_)
        ));
        assert!(matches!(
            dependency_error("jobs", &Status::permission_denied("no")),
            ApiError::Internal(_)
        ));
    }

    #[test]
    fn a_url_without_a_scheme_is_refused() {
        assert!(lazy_channel("not a url", Duration::from_secs(1)).is_err());
    }
}
