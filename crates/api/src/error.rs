//! The one place where errors become HTTP responses: a status and a
//! sanitized JSON body carrying the request id. Details of server-side
//! failures go to the log, never to the caller.

use http::StatusCode;
use lambda_http::{Body, Response};
use registry::audit::AuditError;
use registry::duplicates::DuplicateError;
use registry::erasure::ErasureError;
use registry::listing::ListError;
use registry::photo::PhotoError;
use registry::ports::PortError;
use registry::search::SearchError;
use registry::upload::UploadError;
use serde_json::json;

use crate::auth::AuthError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{0}")]
    NotFound(String),
    /// The request is valid but the person's state does not allow it.
    #[error("{0}")]
    Conflict(String),
    /// The body is not a photo the registry can read.
    #[error("{0}")]
    UnsupportedPhoto(String),
    /// A photo, but not one the request can be carried out with (no face).
    #[error("{0}")]
    Unprocessable(String),
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    #[error("send the request body as application/json")]
    UnsupportedMediaType,
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// A photo larger than the request can take, in pixels rather than bytes.
    #[error("{0}")]
    PhotoTooLarge(String),
    /// A browser request from another site (the header that says so is
    /// logged, not returned).
    #[error("requests from another site are refused")]
    CrossSite(String),
    /// The request is allowed to others, not to this caller.
    #[error("{0}")]
    NotAllowed(String),
    /// The caller's rate is spent; `retry_after` seconds until it is not.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u32 },
    /// A dependency is down or throttling; the detail is logged only.
    #[error("the service is temporarily unavailable; try again shortly")]
    Unavailable(String),
    /// Anything else; the detail is logged only.
    #[error("the request could not be completed")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Auth(AuthError::Unauthenticated) => StatusCode::UNAUTHORIZED,
            ApiError::Auth(AuthError::Forbidden) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::UnsupportedPhoto(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) | ApiError::PhotoTooLarge(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::NotAllowed(_) | ApiError::CrossSite(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Auth(AuthError::Unauthenticated) => "unauthenticated",
            ApiError::Auth(AuthError::Forbidden) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::UnsupportedPhoto(_) => "unsupported_photo",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::PayloadTooLarge(_) | ApiError::PhotoTooLarge(_) => "payload_too_large",
            ApiError::NotAllowed(_) => "forbidden",
            ApiError::CrossSite(_) => "cross_site",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn into_response(self, request_id: &str) -> Response<Body> {
        match &self {
            ApiError::Unavailable(detail) => {
                tracing::warn!(request_id, error = %detail, "dependency unavailable")
            }
            ApiError::Internal(detail) => {
                tracing::error!(request_id, error = %detail, "request failed")
            }
            ApiError::CrossSite(header) => {
                tracing::warn!(request_id, %header, "a cross-site request was refused")
            }
            _ => {
                tracing::info!(request_id, status = self.status().as_u16(), error = %self, "request refused")
            }
        }
        let body = json!({
            "error": { "code": self.code(), "message": self.to_string(), "requestId": request_id }
        });
        let mut response = crate::http::json_response(self.status(), &body);
        match self {
            ApiError::Auth(AuthError::Unauthenticated) => {
                response.headers_mut().insert(
                    http::header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer"),
                );
            }
            ApiError::TooManyRequests { retry_after, .. } => {
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, retry_after.into());
            }
            _ => {}
        }
        response
    }
}

impl From<PortError> for ApiError {
    fn from(error: PortError) -> Self {
        match error {
            PortError::Transient(detail) => ApiError::Unavailable(detail),
            PortError::Permanent(detail) => ApiError::Internal(detail),
        }
    }
}

impl From<UploadError> for ApiError {
    fn from(error: UploadError) -> Self {
        match error {
            UploadError::Port(port) => port.into(),
            UploadError::NoSuchPerson(_) => ApiError::NotFound(error.to_string()),
            UploadError::FormatChanged { .. }
            | UploadError::NotReplaceable(_)
            | UploadError::IdempotencyKeyReused
            | UploadError::AlreadyCarriedOut(_)
            | UploadError::EarlierPersonErased
            | UploadError::PhotoOnItsWay(_) => ApiError::Conflict(error.to_string()),
            invalid => ApiError::BadRequest(invalid.to_string()),
        }
    }
}

impl From<ErasureError> for ApiError {
    fn from(error: ErasureError) -> Self {
        match error {
            ErasureError::Port(port) => port.into(),
            ErasureError::NoSuchPerson(_) => ApiError::NotFound(error.to_string()),
            // Recorded and partly done: asking again finishes it.
            ErasureError::Unfinished { .. } => ApiError::Unavailable(error.to_string()),
        }
    }
}

impl From<DuplicateError> for ApiError {
    fn from(error: DuplicateError) -> Self {
        match error {
            DuplicateError::Port(port) => port.into(),
            DuplicateError::NoSuchPerson(_) => ApiError::NotFound(error.to_string()),
            DuplicateError::NotFlagged(_) => ApiError::Conflict(error.to_string()),
        }
    }
}

impl From<SearchError> for ApiError {
    fn from(error: SearchError) -> Self {
        match error {
            SearchError::Port(port) => port.into(),
            SearchError::NotAPhoto(PhotoError::TooLarge { max, .. }) => {
                ApiError::PayloadTooLarge(usize::try_from(max).unwrap_or(usize::MAX))
            }
            SearchError::NotAPhoto(_) | SearchError::Unreadable(_) => {
                ApiError::UnsupportedPhoto(error.to_string())
            }
            SearchError::TooManyPixels { .. } => ApiError::PhotoTooLarge(error.to_string()),
            SearchError::NoFace => ApiError::Unprocessable(error.to_string()),
            SearchError::ThresholdBelowFloor => ApiError::NotAllowed(error.to_string()),
            SearchError::TooMany {
                retry_after_seconds,
            } => ApiError::TooManyRequests {
                message: error.to_string(),
                retry_after: retry_after_seconds,
            },
            invalid => ApiError::BadRequest(invalid.to_string()),
        }
    }
}

impl From<AuditError> for ApiError {
    fn from(error: AuditError) -> Self {
        match error {
            AuditError::Port(port) => port.into(),
            invalid => ApiError::BadRequest(invalid.to_string()),
        }
    }
}

impl From<ListError> for ApiError {
    fn from(error: ListError) -> Self {
        match error {
            ListError::Port(port) => port.into(),
            invalid => ApiError::BadRequest(invalid.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use registry::names::NameError;

    fn body(response: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[test]
    fn every_error_has_its_status_and_code() {
        let cases = [
            (ApiError::BadRequest("x".into()), 400, "bad_request"),
            (
                ApiError::Auth(AuthError::Unauthenticated),
                401,
                "unauthenticated",
            ),
            (ApiError::Auth(AuthError::Forbidden), 403, "forbidden"),
            (ApiError::NotFound("x".into()), 404, "not_found"),
            (
                ApiError::MethodNotAllowed("PUT".into()),
                405,
                "method_not_allowed",
            ),
            (ApiError::PayloadTooLarge(10), 413, "payload_too_large"),
            (
                ApiError::PhotoTooLarge("x".into()),
                413,
                "payload_too_large",
            ),
            (ApiError::NotAllowed("x".into()), 403, "forbidden"),
            (ApiError::CrossSite("x".into()), 403, "cross_site"),
            (
                ApiError::TooManyRequests {
                    message: "x".into(),
                    retry_after: 7,
                },
                429,
                "too_many_requests",
            ),
            (
                ApiError::UnsupportedMediaType,
                415,
                "unsupported_media_type",
            ),
            (ApiError::Internal("x".into()), 500, "internal"),
            (ApiError::Unavailable("x".into()), 503, "unavailable"),
        ];
        for (error, status, code) in cases {
            let response = error.into_response("req-1");
            assert_eq!(response.status().as_u16(), status);
            let body = body(&response);
            assert_eq!(body["error"]["code"], code);
            assert_eq!(body["error"]["requestId"], "req-1");
        }
    }

    #[test]
    fn a_spent_rate_says_when_to_come_back() {
        let error = ApiError::from(SearchError::TooMany {
            retry_after_seconds: 12,
        });
        let response = error.into_response("r");
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "12");
    }

    #[test]
    fn server_side_details_are_not_returned() {
        let detail = "database: error returned from database: Access denied for user 'registry'@'10.0.0.1' (using password: YES)";
        for error in [
            ApiError::Internal(detail.into()),
            ApiError::Unavailable(detail.into()),
        ] {
            let text = String::from_utf8(error.into_response("r").body().to_vec()).unwrap();
            assert!(!text.contains("registry"), "{text}");
            assert!(!text.contains("database"), "{text}");
        }
    }

    #[test]
    fn domain_errors_map_to_statuses() {
        assert_eq!(ApiError::from(UploadError::EmptyFile).status(), 400);
        assert_eq!(
            ApiError::from(UploadError::Name(NameError::Empty { field: "lastname" })).status(),
            400
        );
        assert_eq!(
            ApiError::from(UploadError::Port(PortError::Transient("t".into()))).status(),
            503
        );
        assert_eq!(
            ApiError::from(UploadError::Port(PortError::Permanent("p".into()))).status(),
            500
        );
        assert_eq!(ApiError::from(ListError::BadCursor).status(), 400);
        assert_eq!(ApiError::from(ListError::BadLimit).status(), 400);
        assert_eq!(
            ApiError::from(ListError::Port(PortError::Transient("t".into()))).status(),
            503
        );
    }
}
