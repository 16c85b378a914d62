//! CORS as S3 answers it, from each bucket's CORS rules: a preflight is
//! answered from the first rule that allows its origin, method and
//! headers, or refused with 403; an actual request gets the CORS headers of
//! the first rule that allows its origin and method.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use tower::{Layer, Service};

use crate::config::CorsRule;

/// The CORS rules of every bucket (path-style requests: `/<bucket>/<key>`).
#[derive(Debug, Clone, Default)]
pub(crate) struct CorsRules(Arc<HashMap<String, Vec<CorsRule>>>);

impl CorsRules {
    pub(crate) fn new(rules: HashMap<String, Vec<CorsRule>>) -> Self {
        Self(Arc::new(rules))
    }

    fn for_path(&self, path: &str) -> &[CorsRule] {
        let bucket = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default();
        self.0.get(bucket).map_or(&[], Vec::as_slice)
    }
}

/// `*` matches any run of characters (one wildcard at most, as S3 allows).
fn wildcard(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((prefix, suffix)) => {
            value.len() >= prefix.len() + suffix.len()
                && value.starts_with(prefix)
                && value.ends_with(suffix)
        }
    }
}

fn allows(rule: &CorsRule, origin: &str, method: &str, headers: &[String]) -> bool {
    rule.allowed_origins.iter().any(|o| wildcard(o, origin))
        && rule
            .allowed_methods
            .iter()
            .any(|m| m.eq_ignore_ascii_case(method))
        && headers.iter().all(|requested| {
            rule.allowed_headers.iter().any(|allowed| {
                wildcard(
                    &allowed.to_ascii_lowercase(),
                    &requested.to_ascii_lowercase(),
                )
            })
        })
}

fn header_value(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(value).ok()
}

fn cors_headers(headers: &mut HeaderMap, rule: &CorsRule, origin: &str) {
    let any = rule.allowed_origins.iter().any(|o| o == "*");
    let allowed_origin = if any { "*" } else { origin };
    if let Some(value) = header_value(allowed_origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    if !any {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if !rule.exposed_headers.is_empty()
        && let Some(value) = header_value(&rule.exposed_headers.join(", "))
    {
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, value);
    }
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// S3's refusal of a preflight.
fn refused() -> Response<s3s::Body> {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessForbidden</Code>\
                <Message>CORSResponse: This CORS request is not allowed. This is usually because the \
                evalution of Origin, request method / Access-Control-Request-Method or \
                Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.</Message></Error>";
    let mut response = Response::new(s3s::Body::from(body.to_owned()));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    response
}

#[derive(Clone)]
pub(crate) struct CorsLayer(pub(crate) CorsRules);

impl<S> Layer<S> for CorsLayer {
    type Service = Cors<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Cors {
            inner,
            rules: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Cors<S> {
    inner: S,
    rules: CorsRules,
}

impl<S, B> Service<Request<B>> for Cors<S>
where
    S: Service<Request<B>, Response = Response<s3s::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<s3s::Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let rules = self.rules.for_path(request.uri().path()).to_vec();
        let Some(origin) = origin else {
            return Box::pin(self.inner.call(request));
        };
        if request.method() == Method::OPTIONS {
            let method = request
                .headers()
                .get(header::ACCESS_CONTROL_REQUEST_METHOD)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let requested: Vec<String> = request
                .headers()
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .and_then(|v| v.to_str().ok())
                .map(|v| {
                    v.split(',')
                        .map(|h| h.trim().to_owned())
                        .filter(|h| !h.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            let response = match rules
                .iter()
                .find(|rule| allows(rule, &origin, &method, &requested))
            {
                Some(rule) => {
                    let mut response = Response::new(s3s::Body::empty());
                    let headers = response.headers_mut();
                    cors_headers(headers, rule, &origin);
                    if let Some(value) = header_value(&method) {
                        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, value);
                    }
                    if !requested.is_empty()
                        && let Some(value) = header_value(&requested.join(", "))
                    {
                        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, value);
                    }
                    if let Some(age) = rule.max_age_seconds {
                        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
                    }
                    response
                }
                None => refused(),
            };
            return Box::pin(async move { Ok(response) });
        }
        let method = request.method().as_str().to_owned();
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            if let Some(rule) = rules
                .iter()
                .find(|rule| allows(rule, &origin, &method, &[]))
            {
                cors_headers(response.headers_mut(), rule, &origin);
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> CorsRule {
        CorsRule {
            allowed_methods: vec!["GET".into(), "PUT".into()],
            allowed_origins: vec![
                "http://127.0.0.1:3000".into(),
                "https://*.example.org".into(),
            ],
            allowed_headers: vec!["content-type".into(), "content-length".into()],
            exposed_headers: vec!["ETag".into()],
            max_age_seconds: Some(600),
        }
    }

    #[test]
    fn rules_match_origin_method_and_headers() {
        let rule = rule();
        assert!(allows(
            &rule,
            "http://127.0.0.1:3000",
            "PUT",
            &["Content-Type".into()]
        ));
        assert!(allows(&rule, "https://app.example.org", "GET", &[]));
        assert!(!allows(&rule, "http://localhost:3000", "PUT", &[]));
        assert!(!allows(&rule, "http://127.0.0.1:3000", "DELETE", &[]));
        assert!(!allows(
            &rule,
            "http://127.0.0.1:3000",
            "PUT",
            &["x-amz-acl".into()]
        ));
    }
}
