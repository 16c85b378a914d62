//! Small HTTP helpers shared by the handlers.

use std::sync::OnceLock;

use base64::Engine;
use http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

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
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::BadRequest(format!("the body is not valid JSON for this request: {e}"))
    })
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
        Some(_) => Err(ApiError::BadRequest(format!(
            "{name} is given more than once"
        ))),
    }
}

/// The HTML of the page in `pages/$dir/`, inside the layout every page
/// shares (`pages/layout/`: styles, header, sign-in form, session script).
/// Assembled at compile time; each `<style>` and `<script>` block gets its
/// own hash in the page's Content-Security-Policy.
macro_rules! page_html {
    ($dir:literal) => {
        concat!(
            include_str!("pages/layout/head.html"),
            include_str!(concat!("pages/", $dir, "/head.html")),
            include_str!("pages/layout/body.html"),
            include_str!(concat!("pages/", $dir, "/main.html")),
            "<script>\n",
            include_str!("pages/layout/session.js"),
            "</script>\n<script>\n",
            include_str!(concat!("pages/", $dir, "/page.js")),
            "</script>\n</body>\n</html>\n",
        )
    };
}
pub(crate) use page_html;

/// A page shell: static HTML whose inline script and style are allowed by
/// their hashes in the Content-Security-Policy, nothing else inline.
pub struct Page {
    html: &'static str,
    csp: OnceLock<String>,
}

impl Page {
    pub const fn new(html: &'static str) -> Self {
        Self {
            html,
            csp: OnceLock::new(),
        }
    }

    fn csp(&self) -> &str {
        self.csp.get_or_init(|| {
            let hashes = |open: &str, close: &str| -> String {
                self.html
                    .split(open)
                    .skip(1)
                    .filter_map(|rest| rest.split_once(close).map(|(inner, _)| inner))
                    .map(|inner| {
                        let digest = Sha256::digest(inner.as_bytes());
                        format!(" 'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest))
                    })
                    .collect()
            };
            format!(
                "default-src 'none'; script-src{}; style-src{}; img-src 'self' https: http: data: blob:; \
                 connect-src 'self' https: http:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
                hashes("<script>", "</script>"),
                hashes("<style>", "</style>"),
            )
        })
    }

    pub fn response(&self) -> Response<Body> {
        let mut response = Response::new(Body::Text(self.html.to_owned()));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        if let Ok(csp) = HeaderValue::from_str(self.csp()) {
            headers.insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_policy_allows_exactly_its_inline_code() {
        static PAGE: Page = Page::new("<style>b{}</style><script>let a=1;</script>");
        let response = PAGE.response();
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        let script = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"let a=1;"));
        assert!(
            csp.contains(&format!("script-src 'sha256-{script}';")),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"));
    }

    #[test]
    fn pages_are_whole_documents_in_the_shared_layout() {
        for html in [
            page_html!("upload"),
            page_html!("faces"),
            page_html!("audit"),
            page_html!("search"),
        ] {
            assert!(html.starts_with("<!doctype html>\n"));
            assert!(html.ends_with("</body>\n</html>\n"));
            assert_eq!(html.matches("<title>").count(), 1);
            assert_eq!(html.matches("<header>").count(), 1);
            assert_eq!(html.matches(r#"<section id="signin""#).count(), 1);
            assert!(html.find("</head>") < html.find("<body>"));
            // The session script comes first: the page's script calls it.
            assert_eq!(html.matches("<script>").count(), 2);
            assert!(html.find("function api(") < html.rfind("<script>"));
            assert_eq!(html.matches("<style>").count(), 2);
            assert_eq!(html.matches("</style>").count(), 2);
        }
    }
}
