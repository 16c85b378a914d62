//! The API's OpenAPI 3.1 description (`openapi.json`), served at
//! `GET /api/openapi.json` so that a client team integrates from it rather
//! than from the Rust. The end-to-end tests check every response of the
//! registry against it, and that every status it names is seen.

use http::header::{self, HeaderValue};
use lambda_http::{Body, Response};

/// The description, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

pub fn response() -> Response<Body> {
    let mut response = Response::new(Body::from(DOCUMENT));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // The same for every caller and version: a day in caches.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_is_openapi_3_1_json() {
        let document: serde_json::Value = serde_json::from_str(DOCUMENT).expect("JSON");
        assert_eq!(document["openapi"], "3.1.0");
        assert!(document["paths"]["/api/faces"]["get"].is_object());
    }
}
