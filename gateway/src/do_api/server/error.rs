//! DigitalOcean-style errors, and answers in JSON.

use super::*;

/// A DigitalOcean-style error answer.
#[derive(Debug)]
pub(super) struct DoError {
    pub(super) status: StatusCode,
    pub(super) id: &'static str,
    pub(super) message: String,
}

impl DoError {
    pub(super) fn new(status: StatusCode, id: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            id,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(super) fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "The resource you requested could not be found.",
        )
    }

    pub(super) fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable_entity",
            message,
        )
    }

    pub(super) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unable to authenticate you.",
        )
    }

    pub(super) fn too_many_requests() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "API rate limit exceeded.",
        )
    }

    pub(super) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            message,
        )
    }

    pub(super) fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Unexpected server-side error",
        )
    }

    pub(super) fn pending_event() -> Self {
        Self::unprocessable(model::PENDING_EVENT)
    }

    pub(super) fn is_pending_event(&self) -> bool {
        self.status == StatusCode::UNPROCESSABLE_ENTITY && self.message == model::PENDING_EVENT
    }

    /// A backend's (or the edge's) answer in DigitalOcean's terms.
    pub(super) fn from_status(s: &Status) -> Self {
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
            Code::Unauthenticated => Self::unauthorized(),
            Code::PermissionDenied => Self::new(StatusCode::FORBIDDEN, "forbidden", s.message()),
            // From the edge's rate limit; a backend's (a full region) is
            // mapped by the caller before it gets here.
            Code::ResourceExhausted => Self::too_many_requests(),
            Code::Unavailable | Code::DeadlineExceeded => {
                Self::unavailable("The service is temporarily unavailable; try again shortly.")
            }
            _ => {
                tracing::warn!(code = ?s.code(), message = s.message(), "do api: backend error");
                Self::server_error()
            }
        }
    }
}

impl From<Status> for DoError {
    fn from(s: Status) -> Self {
        // Inner calls are never rate limited: a backend's "no room" is a
        // full region (the caller's to fix, 422) or a full queue (503, try
        // again), not a budget to wait out.
        if s.code() == Code::ResourceExhausted {
            return if s.message().contains("is full") {
                Self::unprocessable(s.message())
            } else {
                Self::unavailable("The service is busy; try again shortly.")
            };
        }
        Self::from_status(&s)
    }
}

pub(super) type Reply = Result<Response<HttpBody>, DoError>;

pub(super) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<HttpBody> {
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

pub(super) fn no_content() -> Response<HttpBody> {
    let mut r = Response::new(HttpBody::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

pub(super) fn error_response(e: &DoError, request_id: &str) -> Response<HttpBody> {
    json(
        e.status,
        &model::ErrorBody::new(e.id, e.message.clone(), request_id.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_digitaloceans_ids_and_messages() {
        let cases = [
            (DoError::unauthorized(), 401, "unauthorized"),
            (DoError::not_found(), 404, "not_found"),
            (DoError::pending_event(), 422, "unprocessable_entity"),
            (DoError::too_many_requests(), 429, "too_many_requests"),
            (DoError::server_error(), 500, "server_error"),
        ];
        for (e, status, id) in cases {
            assert_eq!((e.status.as_u16(), e.id), (status, id));
            assert!(!e.message.is_empty());
        }
        assert_eq!(
            DoError::unauthorized().message,
            "Unable to authenticate you."
        );
        assert!(DoError::pending_event().is_pending_event());
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
}
