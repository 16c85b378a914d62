//! The `health` function: `GET /healthz`.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use registry::ports::PersonStore;
use serde_json::json;

use crate::error::ApiError;
use crate::http::json_response;

/// A database slower than this to answer counts as down.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

pub struct HealthApi<P> {
    pub people: P,
    pub bucket: String,
    pub collection: String,
}

impl<P: PersonStore> HealthApi<P> {
    pub async fn handle(&self, request: Request) -> Response<Body> {
        match (request.method(), request.uri().path()) {
            (&Method::GET | &Method::HEAD, "/healthz") => self.check().await,
            (method, "/healthz") => ApiError::MethodNotAllowed(method.to_string()).answer(&request),
            (_, path) => ApiError::no_route(path).answer(&request),
        }
    }

    async fn check(&self) -> Response<Body> {
        let started = Instant::now();
        let ping = tokio::time::timeout(PING_TIMEOUT, self.people.ping()).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let ok = matches!(ping, Ok(Ok(())));
        match ping {
            Ok(Err(error)) => tracing::warn!(%error, "database check failed"),
            Err(_) => tracing::warn!(
                timeout_ms = PING_TIMEOUT.as_millis() as u64,
                "database check timed out"
            ),
            Ok(Ok(())) => {}
        }
        let status = if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        json_response(
            status,
            &json!({
                "status": if ok { "ok" } else { "unavailable" },
                "database": { "ok": ok, "latencyMs": (latency_ms * 10.0).round() / 10.0 },
                "bucket": self.bucket,
                "collection": self.collection,
            }),
        )
    }
}
