//! The one place where errors become HTTP responses: a status and a
//! sanitized JSON body carrying the request id. Details of server-side
//! failures go to the log, never to the caller.

use http::StatusCode;
use lambda_http::{Body, Request, Response};
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
use crate::i18n::{Lang, Message};

pub(crate) mod messages;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(Message),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{0}")]
    NotFound(Message),
    /// The request is valid but the person's state does not allow it.
    #[error("{0}")]
    Conflict(Message),
    /// The body is not a photo the registry can read.
    #[error("{0}")]
    UnsupportedPhoto(Message),
    /// A photo, but not one the request can be carried out with (no face).
    #[error("{0}")]
    Unprocessable(Message),
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    #[error("send the request body as application/json")]
    UnsupportedMediaType,
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// A photo larger than the request can take, in pixels rather than bytes.
    #[error("{0}")]
    PhotoTooLarge(Message),
    /// A browser request from another site (the header that says so is
    /// logged, not returned).
    #[error("requests from another site are refused")]
    CrossSite(String),
    /// The request is allowed to others, not to this caller.
    #[error("{0}")]
    NotAllowed(Message),
    /// The caller's rate is spent; `retry_after` seconds until it is not.
    #[error("{message}")]
    TooManyRequests { message: Message, retry_after: u32 },
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

    /// What the caller is told, in either language.
    pub fn message(&self) -> Message {
        match self {
            ApiError::BadRequest(message)
            | ApiError::NotFound(message)
            | ApiError::Conflict(message)
            | ApiError::UnsupportedPhoto(message)
            | ApiError::Unprocessable(message)
            | ApiError::PhotoTooLarge(message)
            | ApiError::NotAllowed(message)
            | ApiError::TooManyRequests { message, .. } => message.clone(),
            ApiError::Auth(AuthError::Unauthenticated) => {
                Message::new("auth.unauthenticated", self)
            }
            ApiError::Auth(AuthError::Forbidden) => Message::new("auth.forbidden", self),
            ApiError::MethodNotAllowed(method) => {
                Message::new("http.method_not_allowed", self).text("method", method)
            }
            ApiError::UnsupportedMediaType => Message::new("http.unsupported_media_type", self),
            ApiError::PayloadTooLarge(max) => {
                Message::new("http.payload_too_large", self).number("max", *max)
            }
            ApiError::CrossSite(_) => Message::new("http.cross_site", self),
            ApiError::Unavailable(_) => Message::new("http.unavailable", self),
            ApiError::Internal(_) => Message::new("http.internal", self),
        }
    }

    /// The response to `request`: its request id, its language.
    pub fn answer(self, request: &Request) -> Response<Body> {
        let lang = Lang::of(request.headers());
        self.into_response(&crate::http::request_id(request), lang)
    }

    pub fn into_response(self, request_id: &str, lang: Lang) -> Response<Body> {
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
            "error": { "code": self.code(), "message": self.message().render(lang), "requestId": request_id }
        });
        let mut response = crate::http::json_response(self.status(), &body);
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_LANGUAGE,
            http::HeaderValue::from_static(lang.tag()),
        );
        match self {
            ApiError::Auth(AuthError::Unauthenticated) => {
                headers.insert(
                    http::header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer"),
                );
            }
            ApiError::TooManyRequests { retry_after, .. } => {
                headers.insert(http::header::RETRY_AFTER, retry_after.into());
            }
            _ => {}
        }
        response
    }
}

/// The handlers' own refusals.
impl ApiError {
    pub fn no_route(path: &str) -> Self {
        ApiError::NotFound(
            Message::new("http.no_route", format_args!("no route for {path}")).text("path", path),
        )
    }

    pub fn no_such_person(id: impl std::fmt::Display) -> Self {
        ApiError::NotFound(messages::no_such_person(
            format_args!("no person with id {id}"),
            &id,
        ))
    }

    pub fn not_a_person_id(text: &str) -> Self {
        ApiError::BadRequest(
            Message::new(
                "http.not_a_person_id",
                format_args!("{text:?} is not a person id"),
            )
            .text("text", text),
        )
    }

    pub fn bad_json(error: &serde_json::Error) -> Self {
        ApiError::BadRequest(
            Message::new(
                "http.bad_json",
                format_args!("the body is not valid JSON for this request: {error}"),
            )
            .text("reason", error),
        )
    }

    pub fn repeated_parameter(name: &str) -> Self {
        ApiError::BadRequest(
            Message::new(
                "http.repeated_parameter",
                format_args!("{name} is given more than once"),
            )
            .text("name", name),
        )
    }

    pub fn sign_in_not_configured() -> Self {
        ApiError::NotFound(Message::new(
            "auth.sign_in_not_configured",
            "sign-in is not configured",
        ))
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
            UploadError::NoSuchPerson(_) => ApiError::NotFound(messages::upload(&error)),
            UploadError::FormatChanged { .. }
            | UploadError::NotReplaceable(_)
            | UploadError::IdempotencyKeyReused
            | UploadError::AlreadyCarriedOut(_)
            | UploadError::EarlierPersonErased
            | UploadError::PhotoOnItsWay(_) => ApiError::Conflict(messages::upload(&error)),
            invalid => ApiError::BadRequest(messages::upload(&invalid)),
        }
    }
}

impl From<ErasureError> for ApiError {
    fn from(error: ErasureError) -> Self {
        match error {
            ErasureError::Port(port) => port.into(),
            ErasureError::NoSuchPerson(_) => ApiError::NotFound(messages::erasure(&error)),
            // Recorded and partly done: asking again finishes it.
            ErasureError::Unfinished { .. } => ApiError::Unavailable(error.to_string()),
        }
    }
}

impl From<DuplicateError> for ApiError {
    fn from(error: DuplicateError) -> Self {
        match error {
            DuplicateError::Port(port) => port.into(),
            DuplicateError::NoSuchPerson(_) => ApiError::NotFound(messages::duplicate(&error)),
            DuplicateError::NotFlagged(_) => ApiError::Conflict(messages::duplicate(&error)),
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
                ApiError::UnsupportedPhoto(messages::search(&error))
            }
            SearchError::TooManyPixels { .. } => ApiError::PhotoTooLarge(messages::search(&error)),
            SearchError::NoFace => ApiError::Unprocessable(messages::search(&error)),
            SearchError::ThresholdBelowFloor => ApiError::NotAllowed(messages::search(&error)),
            SearchError::TooMany {
                retry_after_seconds,
            } => ApiError::TooManyRequests {
                message: messages::search(&error),
                retry_after: retry_after_seconds,
            },
            invalid => ApiError::BadRequest(messages::search(&invalid)),
        }
    }
}

impl From<AuditError> for ApiError {
    fn from(error: AuditError) -> Self {
        match error {
            AuditError::Port(port) => port.into(),
            invalid => ApiError::BadRequest(messages::audit(&invalid)),
        }
    }
}

impl From<ListError> for ApiError {
    fn from(error: ListError) -> Self {
        match error {
            ListError::Port(port) => port.into(),
            invalid => ApiError::BadRequest(messages::listing(&invalid)),
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
            (ApiError::not_a_person_id("x"), 400, "bad_request"),
            (
                ApiError::Auth(AuthError::Unauthenticated),
                401,
                "unauthenticated",
            ),
            (ApiError::Auth(AuthError::Forbidden), 403, "forbidden"),
            (ApiError::no_route("/x"), 404, "not_found"),
            (
                ApiError::MethodNotAllowed("PUT".into()),
                405,
                "method_not_allowed",
            ),
            (ApiError::PayloadTooLarge(10), 413, "payload_too_large"),
            (
                ApiError::from(SearchError::TooManyPixels {
                    width: 9000,
                    height: 9000,
                }),
                413,
                "payload_too_large",
            ),
            (
                ApiError::from(SearchError::ThresholdBelowFloor),
                403,
                "forbidden",
            ),
            (ApiError::CrossSite("x".into()), 403, "cross_site"),
            (
                ApiError::from(SearchError::TooMany {
                    retry_after_seconds: 7,
                }),
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
            let response = error.into_response("req-1", Lang::En);
            assert_eq!(response.status().as_u16(), status);
            let body = body(&response);
            assert_eq!(body["error"]["code"], code);
            assert_eq!(body["error"]["requestId"], "req-1");
        }
    }

    #[test]
    fn the_message_is_in_the_language_asked_for() {
        let error = || {
            ApiError::from(UploadError::TooLarge {
                size: 20_000_000,
                max: 15_728_640,
            })
        };
        let english = error().into_response("r", Lang::En);
        assert_eq!(english.headers()[http::header::CONTENT_LANGUAGE], "en");
        assert_eq!(
            body(&english)["error"]["message"],
            "contentLength 20000000 is over the limit of 15728640 bytes"
        );
        let french = error().into_response("r", Lang::Fr);
        assert_eq!(french.headers()[http::header::CONTENT_LANGUAGE], "fr");
        assert_eq!(
            body(&french)["error"]["message"],
            "contentLength 20\u{202f}000\u{202f}000 dépasse la limite de 15\u{202f}728\u{202f}640 octets"
        );
        // The code does not change with the language.
        assert_eq!(body(&french)["error"]["code"], "bad_request");
        let name = ApiError::from(UploadError::Name(NameError::Empty { field: "firstname" }));
        assert_eq!(
            body(&name.into_response("r", Lang::Fr))["error"]["message"],
            "le prénom est vide"
        );
        let nested = ApiError::from(SearchError::NotAPhoto(PhotoError::NotAnImage));
        assert_eq!(
            body(&nested.into_response("r", Lang::Fr))["error"]["message"],
            "la photo ne peut pas être recherchée\u{a0}: le fichier n’est pas une image JPEG ou PNG"
        );
    }

    #[test]
    fn a_spent_rate_says_when_to_come_back() {
        let error = ApiError::from(SearchError::TooMany {
            retry_after_seconds: 12,
        });
        let response = error.into_response("r", Lang::En);
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
            let text =
                String::from_utf8(error.into_response("r", Lang::En).body().to_vec()).unwrap();
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
