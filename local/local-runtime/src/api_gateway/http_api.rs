//! What API Gateway HTTP API does between a client and a function: route
//! matching, the payload format 2.0 event the function receives, and the
//! HTTP response made of the function's answer.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
};
use aws_lambda_events::encodings::Body as LambdaBody;
use aws_lambda_events::query_map::QueryMap;
use base64::Engine;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use local_stack::JwtAuthorizer;
use serde_json::{Value, json};

/// One route of the HTTP API, as the template declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Upper case, or `ANY`.
    pub method: String,
    /// Path template; `{name}` matches one non-empty segment, `{name+}` the rest.
    pub path: String,
    /// The function's logical id.
    pub function: String,
    /// The JWT authorizer guarding it; `None` for a public route.
    pub authorizer: Option<JwtAuthorizer>,
}

impl Route {
    pub fn route_key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The path parameters when `path` matches this route's template.
    fn matches(&self, path: &str) -> Option<HashMap<String, String>> {
        let mut parameters = HashMap::new();
        let mut template = self.path.split('/');
        let mut actual = path.split('/');
        loop {
            match (template.next(), actual.next()) {
                (None, None) => return Some(parameters),
                (Some(expected), Some(segment)) => {
                    let Some(name) = expected
                        .strip_prefix('{')
                        .and_then(|rest| rest.strip_suffix('}'))
                    else {
                        if expected != segment {
                            return None;
                        }
                        continue;
                    };
                    if let Some(greedy) = name.strip_suffix('+') {
                        let rest: Vec<&str> =
                            std::iter::once(segment).chain(actual.by_ref()).collect();
                        let rest = rest.join("/");
                        if rest.is_empty() {
                            return None;
                        }
                        parameters.insert(greedy.to_owned(), decode(&rest));
                        return template.next().is_none().then_some(parameters);
                    }
                    if segment.is_empty() {
                        return None;
                    }
                    parameters.insert(name.to_owned(), decode(segment));
                }
                _ => return None,
            }
        }
    }

    /// How specific the route is: literal segments count most, as API
    /// Gateway prefers `/api/faces/new` to `/api/faces/{id}`.
    fn specificity(&self) -> (usize, usize) {
        let segments: Vec<&str> = self.path.split('/').collect();
        let literal = segments.iter().filter(|s| !s.starts_with('{')).count();
        (literal, usize::from(self.method != "ANY"))
    }
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// The route a request goes to, with its path parameters.
pub fn match_route<'r>(
    routes: &'r [Route],
    method: &Method,
    path: &str,
) -> Option<(&'r Route, HashMap<String, String>)> {
    routes
        .iter()
        .filter(|route| route.method == "ANY" || route.method == method.as_str())
        .filter_map(|route| route.matches(path).map(|parameters| (route, parameters)))
        .max_by_key(|(route, _)| route.specificity())
}

/// An API Gateway style request id: 12 random bytes, base64.
pub fn new_request_id() -> String {
    let bytes: [u8; 12] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Everything about one HTTP request that goes into the function's event.
#[derive(Debug)]
pub struct IncomingRequest<'a> {
    pub method: &'a Method,
    pub raw_path: &'a str,
    pub raw_query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub peer: SocketAddr,
    /// The gateway's own address, for `Host` when the client sent none.
    pub local: SocketAddr,
}

/// The payload format 2.0 event API Gateway would send for `request`.
pub fn event(
    request: &IncomingRequest<'_>,
    route: &Route,
    path_parameters: HashMap<String, String>,
    claims: Option<HashMap<String, String>>,
    request_id: &str,
) -> ApiGatewayV2httpRequest {
    let now = chrono::Utc::now();
    let mut headers = HeaderMap::new();
    let mut cookies = Vec::new();
    // API Gateway joins repeated headers with commas and moves cookies out.
    for name in request.headers.keys() {
        let values: Vec<&str> = request
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if name == header::COOKIE {
            cookies.extend(
                values
                    .iter()
                    .flat_map(|v| v.split(';'))
                    .map(|c| c.trim().to_owned()),
            );
            continue;
        }
        if let Ok(joined) = HeaderValue::from_str(&values.join(",")) {
            headers.insert(name.clone(), joined);
        }
    }
    if !headers.contains_key(header::HOST)
        && let Ok(host) = HeaderValue::from_str(&request.local.to_string())
    {
        headers.insert(header::HOST, host);
    }
    let forwarded_for = match request
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(chain) => format!("{chain}, {}", request.peer.ip()),
        None => request.peer.ip().to_string(),
    };
    for (name, value) in [
        ("x-forwarded-for", forwarded_for),
        ("x-forwarded-port", request.local.port().to_string()),
        ("x-forwarded-proto", "http".to_owned()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let raw_query = request.raw_query.unwrap_or_default();
    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in form_urlencoded::parse(raw_query.as_bytes()) {
        query
            .entry(name.into_owned())
            .or_default()
            .push(value.into_owned());
    }

    let mut http =
        aws_lambda_events::apigw::ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = request.method.clone();
    http.path = Some(request.raw_path.to_owned());
    http.protocol = Some("HTTP/1.1".to_owned());
    http.source_ip = Some(source_ip(request.peer.ip()));
    http.user_agent = request
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some(route.route_key());
    context.account_id = Some("000000000000".to_owned());
    context.stage = Some("$default".to_owned());
    context.request_id = Some(request_id.to_owned());
    context.apiid = Some("local".to_owned());
    context.domain_prefix = host.split('.').next().map(str::to_owned);
    context.domain_name = Some(host);
    context.time = Some(now.format("%d/%b/%Y:%H:%M:%S %z").to_string());
    context.time_epoch = now.timestamp_millis();
    context.http = http;
    context.authorizer = claims.map(|claims| {
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        jwt.claims = claims;
        let mut authorizer = ApiGatewayRequestAuthorizer::default();
        authorizer.jwt = Some(jwt);
        authorizer
    });

    let (body, is_base64_encoded) = match std::str::from_utf8(request.body) {
        _ if request.body.is_empty() => (None, false),
        Ok(text) => (Some(text.to_owned()), false),
        Err(_) => (
            Some(base64::engine::general_purpose::STANDARD.encode(request.body)),
            true,
        ),
    };

    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".to_owned());
    event.route_key = Some(route.route_key());
    event.raw_path = Some(request.raw_path.to_owned());
    event.raw_query_string = Some(raw_query.to_owned());
    event.cookies = (!cookies.is_empty()).then_some(cookies);
    event.headers = headers;
    event.query_string_parameters = QueryMap::from(query);
    event.path_parameters = path_parameters;
    event.request_context = context;
    event.body = body;
    event.is_base64_encoded = is_base64_encoded;
    event
}

fn source_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// The HTTP response API Gateway makes of the function's answer (payload
/// format 2.0); `None` when the answer is not a response.
pub fn http_response(answer: Value, request_id: &str) -> Option<http::Response<axum::body::Body>> {
    let answer: ApiGatewayV2httpResponse = serde_json::from_value(answer).ok()?;
    let status = StatusCode::from_u16(u16::try_from(answer.status_code).ok()?).ok()?;
    let body = match answer.body {
        None | Some(LambdaBody::Empty) => Vec::new(),
        Some(LambdaBody::Text(text)) if answer.is_base64_encoded => {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .ok()?
        }
        Some(LambdaBody::Text(text)) => text.into_bytes(),
        Some(LambdaBody::Binary(bytes)) => bytes,
        Some(_) => Vec::new(),
    };
    let mut response = http::Response::new(axum::body::Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in answer
        .headers
        .iter()
        .chain(answer.multi_value_headers.iter())
    {
        headers.append(name.clone(), value.clone());
    }
    for cookie in &answer.cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("apigw-requestid", id);
    }
    Some(response)
}

/// API Gateway's own answers: `{"message": "..."}`.
pub fn gateway_error(status: StatusCode, request_id: &str) -> http::Response<axum::body::Body> {
    let message = match status {
        StatusCode::UNAUTHORIZED => "Unauthorized",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::NOT_FOUND => "Not Found",
        StatusCode::PAYLOAD_TOO_LARGE => "Request Entity Too Large",
        StatusCode::SERVICE_UNAVAILABLE => "Service Unavailable",
        StatusCode::BAD_REQUEST => "Bad Request",
        _ => "Internal Server Error",
    };
    let mut response = http::Response::new(axum::body::Body::from(
        json!({ "message": message }).to_string(),
    ));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("apigw-requestid", id);
    }
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

#[cfg(test)]
mod tests {
    use lambda_http::RequestExt;
    use lambda_http::request::{LambdaRequest, RequestContext};

    use super::*;

    fn route(method: &str, path: &str, protected: bool) -> Route {
        Route {
            method: method.to_owned(),
            path: path.to_owned(),
            function: "FacesFunction".to_owned(),
            authorizer: protected.then(|| JwtAuthorizer {
                issuer: "https://issuer".to_owned(),
                audience: vec!["client".to_owned()],
            }),
        }
    }

    fn routes() -> Vec<Route> {
        vec![
            route("POST", "/api/uploads", true),
            route("GET", "/api/faces", true),
            route("GET", "/api/faces/{id}", true),
            route("GET", "/api/faces/mine", true),
            route("ANY", "/files/{path+}", false),
            route("GET", "/healthz", false),
        ]
    }

    #[test]
    fn routes_match_as_api_gateway_matches_them() {
        let routes = routes();
        let (found, parameters) = match_route(&routes, &Method::GET, "/api/faces/42").unwrap();
        assert_eq!(found.route_key(), "GET /api/faces/{id}");
        assert_eq!(parameters["id"], "42");
        assert_eq!(
            match_route(&routes, &Method::GET, "/api/faces/mine")
                .unwrap()
                .0
                .path,
            "/api/faces/mine"
        );
        assert_eq!(
            match_route(&routes, &Method::GET, "/api/faces")
                .unwrap()
                .0
                .path,
            "/api/faces"
        );
        assert!(match_route(&routes, &Method::GET, "/api/faces/").is_none());
        assert!(match_route(&routes, &Method::GET, "/api/faces/1/2").is_none());
        assert!(match_route(&routes, &Method::POST, "/api/faces").is_none());
        let (greedy, parameters) = match_route(&routes, &Method::DELETE, "/files/a/b%20c").unwrap();
        assert_eq!(greedy.path, "/files/{path+}");
        assert_eq!(parameters["path"], "a/b c");
        assert!(
            match_route(&routes, &Method::GET, "/healthz")
                .unwrap()
                .0
                .authorizer
                .is_none()
        );
    }

    fn lambda_request(event: ApiGatewayV2httpRequest) -> lambda_http::Request {
        let json = serde_json::to_value(event).unwrap();
        let request: LambdaRequest = serde_json::from_value(json).unwrap();
        request.into()
    }

    #[test]
    fn the_handler_sees_what_api_gateway_sends() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:3000"));
        headers.append("x-thing", HeaderValue::from_static("a"));
        headers.append("x-thing", HeaderValue::from_static("b"));
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        let incoming = IncomingRequest {
            method: &Method::GET,
            raw_path: "/api/faces/7",
            raw_query: Some("status=indexed&q=Ob%C3%A9"),
            headers: &headers,
            body: b"",
            peer: "127.0.0.1:50000".parse().unwrap(),
            local: "127.0.0.1:3000".parse().unwrap(),
        };
        let routes = routes();
        let (route, parameters) = match_route(&routes, &Method::GET, "/api/faces/7").unwrap();
        let claims = HashMap::from([("cognito:groups".to_owned(), "[admins]".to_owned())]);
        let event = event(&incoming, route, parameters, Some(claims), "req-1");
        assert_eq!(
            event.cookies.as_deref(),
            Some(&["a=1".to_owned(), "b=2".to_owned()][..])
        );
        assert_eq!(event.headers["x-thing"], "a,b");
        let request = lambda_request(event);
        assert_eq!(request.uri().path(), "/api/faces/7");
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.query_string_parameters().first("q"), Some("Obé"));
        assert_eq!(request.path_parameters().first("id"), Some("7"));
        let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
            panic!("not an HTTP API request context");
        };
        assert_eq!(context.request_id.as_deref(), Some("req-1"));
        assert_eq!(context.route_key.as_deref(), Some("GET /api/faces/{id}"));
        assert_eq!(context.http.source_ip.as_deref(), Some("127.0.0.1"));
        let claims = &context
            .authorizer
            .as_ref()
            .unwrap()
            .jwt
            .as_ref()
            .unwrap()
            .claims;
        assert_eq!(claims["cognito:groups"], "[admins]");
    }

    #[test]
    fn binary_bodies_travel_base64_encoded() {
        let headers = HeaderMap::new();
        let incoming = IncomingRequest {
            method: &Method::POST,
            raw_path: "/api/uploads",
            raw_query: None,
            headers: &headers,
            body: &[0xff, 0x00, 0x10],
            peer: "127.0.0.1:1".parse().unwrap(),
            local: "127.0.0.1:3000".parse().unwrap(),
        };
        let routes = routes();
        let (route, parameters) = match_route(&routes, &Method::POST, "/api/uploads").unwrap();
        let event = event(&incoming, route, parameters, None, "r");
        assert!(event.is_base64_encoded);
        let request = lambda_request(event);
        assert_eq!(request.body().as_ref(), &[0xff, 0x00, 0x10]);
    }

    #[test]
    fn answers_become_http_responses() {
        let answer = json!({"statusCode": 201, "headers": {"content-type": "application/json"},
                            "cookies": ["a=1"], "body": "e30=", "isBase64Encoded": true});
        let response = http_response(answer, "req").unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["set-cookie"], "a=1");
        assert_eq!(response.headers()["apigw-requestid"], "req");
        assert!(http_response(json!({"nope": 1}), "req").is_none());
    }
}
