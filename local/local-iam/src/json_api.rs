//! The AWS JSON protocols (1.1, and SQS's 1.0) as the local services speak
//! them: the operation named by `X-Amz-Target`, and answers and errors in
//! their shape (`{"__type": ..., "message": ...}`).

use std::time::SystemTime;

use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::sigv4::{self, Scope, SignatureError};
use crate::{Identity, KeyRing};

/// The content type of AWS JSON 1.1 (Rekognition, Secrets Manager, Cognito).
pub const JSON_1_1: &str = "application/x-amz-json-1.1";
/// The content type of AWS JSON 1.0 (SQS).
pub const JSON_1_0: &str = "application/x-amz-json-1.0";

/// An error answer: its `__type` and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub kind: &'static str,
    pub message: String,
}

impl JsonError {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The service's own faults are 500; the caller's 400.
    pub fn status(&self) -> StatusCode {
        if self.kind.starts_with("Internal") {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_REQUEST
        }
    }
}

impl From<SignatureError> for JsonError {
    fn from(error: SignatureError) -> Self {
        Self::new(error.type_name(), error.to_string())
    }
}

/// The operation of a request: its `X-Amz-Target` after the service's
/// prefix (`secretsmanager.`, `AWSCognitoIdentityProviderService.`).
pub fn operation(headers: &HeaderMap, prefix: &str) -> String {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix(prefix))
        .unwrap_or_default()
        .to_owned()
}

/// A request body, or `invalid` (the service's name for a bad request).
pub fn parse<T: DeserializeOwned>(body: &[u8], invalid: &'static str) -> Result<T, JsonError> {
    serde_json::from_slice(body)
        .map_err(|e| JsonError::new(invalid, format!("Invalid request: {e}")))
}

/// A request to a service of the protocol, as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Answers `request`: its signer (SigV4, by `keys` and `scope`), then
/// `dispatch` with the operation its `X-Amz-Target` names after `prefix`.
pub fn respond(
    keys: &KeyRing,
    scope: Scope<'_>,
    prefix: &str,
    request: Request<'_>,
    dispatch: impl FnOnce(&str, &Identity) -> Result<Value, JsonError>,
) -> http::Response<String> {
    let operation = operation(request.headers, prefix);
    let result = caller(keys, scope, request).and_then(|caller| dispatch(&operation, &caller));
    answer(JSON_1_1, result)
}

/// Who signed `request` (SigV4, by `keys` and `scope`).
pub fn caller(
    keys: &KeyRing,
    scope: Scope<'_>,
    request: Request<'_>,
) -> Result<std::sync::Arc<Identity>, JsonError> {
    sigv4::verify(
        keys,
        scope,
        request.method,
        request.uri,
        request.headers,
        request.body,
        SystemTime::now(),
    )
    .map_err(JsonError::from)
}

/// The answer to a request, as `content_type` (`JSON_1_1`, `JSON_1_0`).
pub fn answer(
    content_type: &'static str,
    result: Result<Value, JsonError>,
) -> http::Response<String> {
    let (status, body) = match result {
        Ok(value) => (StatusCode::OK, value.to_string()),
        Err(error) => (
            error.status(),
            json!({"__type": error.kind, "message": error.message}).to_string(),
        ),
    };
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_errors_have_the_protocols_shape() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-target", HeaderValue::from_static("svc.GetThing"));
        assert_eq!(operation(&headers, "svc."), "GetThing");
        assert_eq!(operation(&headers, "other."), "");
        let error = answer(
            JSON_1_1,
            Err(JsonError::new("ResourceNotFoundException", "gone")),
        );
        assert_eq!(error.status(), 400);
        assert_eq!(
            error.body(),
            r#"{"__type":"ResourceNotFoundException","message":"gone"}"#
        );
        assert_eq!(
            answer(JSON_1_1, Err(JsonError::new("InternalServiceError", "x"))).status(),
            500
        );
        let ok = answer(JSON_1_0, Ok(json!({"a": 1})));
        assert_eq!(
            (
                ok.status(),
                ok.headers()[header::CONTENT_TYPE].to_str().unwrap()
            ),
            (StatusCode::OK, JSON_1_0)
        );
        let bad: Result<Value, _> = parse(b"{", "InvalidParameterException");
        assert_eq!(bad.unwrap_err().kind, "InvalidParameterException");
    }
}
