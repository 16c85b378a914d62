//! The local gateway: API Gateway HTTP API in front of the functions (the
//! template's routes, its JWT authorizer, payload format 2.0, answers from
//! the local Lambda service), plus the local-only endpoints for dead letters
//! and secret rotation.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use registry_api::auth::parse_groups;
use serde::Deserialize;
use serde_json::json;

mod http_api;

use self::http_api::IncomingRequest;
pub use self::http_api::Route;
use crate::lambda::LocalLambda;
use crate::monitoring;
use crate::runtime::Rotation;
use crate::sqs::dead_letters::{DeadLetters, ReplayError};
use local_cloudwatch::CloudWatch;
use local_user_pool::tokens::{GROUPS_CLAIM, Group, Rejection, TokenAuthority};

/// API Gateway's payload limit.
const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;
/// API Gateway's integration timeout.
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Gateway {
    pub lambda: Arc<LocalLambda>,
    pub rotation: Arc<Rotation>,
    pub routes: Vec<Route>,
    pub tokens: Arc<TokenAuthority>,
    /// The photo events the indexer failed on.
    pub dead_letters: Option<DeadLetters>,
    pub local_addr: SocketAddr,
    /// The API's id: its metrics' `ApiId` dimension.
    pub api_id: String,
    pub cloudwatch: Arc<CloudWatch>,
}

/// How long the function took, on a response it gave (the API's
/// `IntegrationLatency`).
#[derive(Debug, Clone, Copy)]
struct IntegrationAnswered(Duration);

impl Gateway {
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/local/dead-letters", get(list_dead_letters))
            .route("/local/dead-letters/{id}/replay", post(replay_dead_letter))
            .route("/local/secrets/rotate", post(rotate_secret))
            .fallback(api)
            .with_state(self)
    }
}

/// Every request API Gateway would answer.
async fn api(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let started = Instant::now();
    let request_id = http_api::new_request_id();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = route(&gateway, peer, request, &request_id).await;
    let integration = response
        .extensions()
        .get::<IntegrationAnswered>()
        .map(|i| i.0);
    let status = response.status().as_u16();
    monitoring::api_request(
        &gateway.cloudwatch,
        &gateway.api_id,
        status,
        started.elapsed(),
        integration,
    );
    tracing::info!(
        request_id,
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

async fn route(
    gateway: &Arc<Gateway>,
    peer: SocketAddr,
    request: Request<Body>,
    request_id: &str,
) -> Response {
    let (parts, body) = request.into_parts();
    let Some((route, path_parameters)) =
        http_api::match_route(&gateway.routes, &parts.method, parts.uri.path())
    else {
        return http_api::gateway_error(StatusCode::NOT_FOUND, request_id);
    };
    if !valid_host(&parts.headers) {
        return http_api::gateway_error(StatusCode::BAD_REQUEST, request_id);
    }
    let claims = match &route.authorizer {
        None => None,
        Some(authorizer) => {
            let verified = if authorizer.issuer == gateway.tokens.issuer()
                && authorizer
                    .audience
                    .iter()
                    .any(|a| a == gateway.tokens.audience())
            {
                authorize(&gateway.tokens, &parts.headers)
            } else {
                Err(Rejection::UnknownKey)
            };
            match verified {
                Ok(claims) => Some(claims),
                Err(rejection) => {
                    tracing::info!(request_id, route = %route.route_key(), reason = %rejection, "request refused by the JWT authorizer");
                    return http_api::gateway_error(StatusCode::UNAUTHORIZED, request_id);
                }
            }
        }
    };
    let Ok(body) = axum::body::to_bytes(body, MAX_PAYLOAD_BYTES).await else {
        return http_api::gateway_error(StatusCode::PAYLOAD_TOO_LARGE, request_id);
    };
    let incoming = IncomingRequest {
        method: &parts.method,
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
        peer,
        local: gateway.local_addr,
    };
    let event = http_api::event(&incoming, route, path_parameters, claims, request_id);
    let Some(function) = gateway.lambda.function(&route.function).cloned() else {
        return http_api::gateway_error(StatusCode::INTERNAL_SERVER_ERROR, request_id);
    };
    let payload = match serde_json::to_value(&event) {
        Ok(payload) => payload,
        Err(error) => {
            tracing::error!(request_id, %error, "the event could not be serialized");
            return http_api::gateway_error(StatusCode::INTERNAL_SERVER_ERROR, request_id);
        }
    };
    let invoked = Instant::now();
    match tokio::time::timeout(INTEGRATION_TIMEOUT, function.invoke(payload)).await {
        Ok(Ok(answer)) => match http_api::http_response(answer, request_id) {
            Some(mut response) => {
                let answered = IntegrationAnswered(invoked.elapsed());
                response.extensions_mut().insert(answered);
                response
            }
            None => {
                tracing::error!(
                    request_id,
                    "the function's answer is not an HTTP API response"
                );
                http_api::gateway_error(StatusCode::INTERNAL_SERVER_ERROR, request_id)
            }
        },
        Ok(Err(error)) if error.error_type == "RequestEntityTooLargeException" => {
            http_api::gateway_error(StatusCode::PAYLOAD_TOO_LARGE, request_id)
        }
        Ok(Err(error)) => {
            tracing::error!(request_id, %error, "the function failed");
            http_api::gateway_error(StatusCode::INTERNAL_SERVER_ERROR, request_id)
        }
        Err(_) => {
            tracing::error!(
                request_id,
                timeout_s = INTEGRATION_TIMEOUT.as_secs(),
                "the integration timed out"
            );
            http_api::gateway_error(StatusCode::SERVICE_UNAVAILABLE, request_id)
        }
    }
}

/// `lambda_http` builds the request URI from `Host`; API Gateway only ever
/// passes its own, valid, domain name.
fn valid_host(headers: &HeaderMap) -> bool {
    match headers.get(header::HOST) {
        None => true,
        Some(host) => host
            .to_str()
            .ok()
            .filter(|h| h.parse::<http::uri::Authority>().is_ok())
            .is_some_and(|h| url::Url::parse(&format!("http://{h}/")).is_ok()),
    }
}

/// The JWT authorizer: `Authorization: Bearer <token>` (or the bare token).
fn authorize(
    tokens: &TokenAuthority,
    headers: &HeaderMap,
) -> Result<std::collections::HashMap<String, String>, Rejection> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(Rejection::Missing)?;
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => value,
    };
    tokens.verify(token)
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Admins only, checked as the handlers check groups: the refusal's status.
fn require_admin(tokens: &TokenAuthority, headers: &HeaderMap) -> Result<(), StatusCode> {
    let claims = authorize(tokens, headers).map_err(|_| StatusCode::UNAUTHORIZED)?;
    let admin = claims.get(GROUPS_CLAIM).is_some_and(|groups| {
        parse_groups(groups)
            .iter()
            .any(|g| g == Group::Admins.as_str())
    });
    if admin {
        Ok(())
    } else {
        Err(StatusCode::FORBIDDEN)
    }
}

/// `GET /local/dead-letters`: photo events the indexer failed on.
async fn list_dead_letters(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if let Err(status) = require_admin(&gateway.tokens, &headers) {
        return http_api::gateway_error(status, &http_api::new_request_id());
    }
    let items = gateway
        .dead_letters
        .as_ref()
        .map(DeadLetters::list)
        .unwrap_or_default();
    json_response(StatusCode::OK, json!({ "items": items }))
}

/// `POST /local/dead-letters/{id}/replay`: sends one back to the queue the
/// indexer reads; 202, since it is indexed when the indexer gets to it.
async fn replay_dead_letter(
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(status) = require_admin(&gateway.tokens, &headers) {
        return http_api::gateway_error(status, &http_api::new_request_id());
    }
    let replayed = match &gateway.dead_letters {
        Some(dead_letters) => dead_letters.replay(&id),
        None => Err(ReplayError::NotFound(id.clone())),
    };
    match replayed {
        Ok(()) => json_response(StatusCode::ACCEPTED, json!({ "replayed": id })),
        Err(error @ ReplayError::NotFound(_)) => json_response(
            StatusCode::NOT_FOUND,
            json!({ "message": error.to_string() }),
        ),
        Err(error) => {
            tracing::error!(%error, "a dead letter could not be replayed");
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "message": "the dead letter could not be sent back" }),
            )
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    secret: String,
}

/// `POST /local/secrets/rotate {"secret": name or ARN}`: admins rotate a
/// database secret, as its rotation schedule would.
async fn rotate_secret(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(status) = require_admin(&gateway.tokens, &headers) {
        return http_api::gateway_error(status, &http_api::new_request_id());
    }
    let Ok(request) = serde_json::from_slice::<RotateRequest>(&body) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({ "message": "expected {\"secret\": name or ARN}" }),
        );
    };
    match gateway.rotation.rotate(&request.secret).await {
        Ok(()) => json_response(StatusCode::OK, json!({ "rotated": request.secret })),
        Err(error) => json_response(
            StatusCode::BAD_REQUEST,
            json!({ "message": error.to_string() }),
        ),
    }
}
