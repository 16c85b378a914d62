//! Small HTTP helpers shared by the handlers.

use http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest JSON body the API reads.
pub const MAX_JSON_BODY: usize = 16 * 1024;

pub fn json_response<T: serde::Serialize + ?Sized>(status: StatusCode, body: &T) -> Response<Body> {
    // Serializing plain data (strings, numbers, maps with string keys) cannot fail.
    let text = serde_json::to_string(body).unwrap_or_default();
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The id API Gateway gave the request (or the Lambda invocation's).
pub fn request_id(request: &Request) -> String {
    if let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref()
        && let Some(id) = &context.request_id
    {
        return id.clone();
    }
    request
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_else(|| "-".to_owned())
}

/// Reads a JSON body: `application/json`, at most [`MAX_JSON_BODY`] bytes,
/// and shaped as `T` (unknown fields refused by `T`'s serde attributes).
pub fn read_json<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_JSON_BODY {
        return Err(ApiError::PayloadTooLarge(MAX_JSON_BODY));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_json(&e))
}

/// One query string parameter, refusing it given twice.
pub fn query_param(request: &Request, name: &str) -> Result<Option<String>, ApiError> {
    let params = request.query_string_parameters_ref();
    let Some(params) = params else {
        return Ok(None);
    };
    match params.all(name) {
        None => Ok(None),
        Some(values) if values.len() == 1 => Ok(Some(values[0].to_owned())),
        Some(_) => Err(ApiError::repeated_parameter(name)),
    }
}
