//! The AWS JSON 1.1 front: `POST /` with `X-Amz-Target: RekognitionService.<Operation>`.

use std::future::Future;
use std::time::SystemTime;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::auth;
use crate::engine::FaceEngine;
use crate::error::ApiError;
use crate::image_input::MAX_BYTES_IMAGE;

const TARGET_PREFIX: &str = "RekognitionService.";
/// A 5 MB image in base64 plus the rest of the request.
const MAX_REQUEST_BODY: usize = MAX_BYTES_IMAGE / 3 * 4 + 64 * 1024;

impl FaceEngine {
    /// The HTTP front of the engine.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", post(handle))
            .layer(DefaultBodyLimit::disable())
            .with_state(self.clone())
    }
}

/// Serves the engine on `listener` until the process ends.
pub async fn serve(listener: TcpListener, engine: FaceEngine) -> std::io::Result<()> {
    serve_with_shutdown(listener, engine, std::future::pending()).await
}

/// Serves the engine on `listener` until `shutdown` completes.
pub async fn serve_with_shutdown(
    listener: TcpListener,
    engine: FaceEngine,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "face engine listening");
    }
    axum::serve(listener, engine.router())
        .with_graceful_shutdown(shutdown)
        .await
}

async fn handle(
    State(engine): State<FaceEngine>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix(TARGET_PREFIX))
        .unwrap_or("")
        .to_owned();
    let span = tracing::info_span!("rekognition", operation = %operation, request_id = %request_id);
    let mut response = async {
        let result = async {
            let body = to_bytes(body, MAX_REQUEST_BODY).await.map_err(|_| {
                ApiError::ImageTooLarge(format!(
                    "Request body is larger than {MAX_REQUEST_BODY} bytes"
                ))
            })?;
            if let Some(credentials) = &engine.config().credentials {
                auth::verify(
                    credentials,
                    &engine.config().region,
                    &method,
                    &uri,
                    &headers,
                    &body,
                    SystemTime::now(),
                )?;
            }
            dispatch(&engine, &operation, &body).await
        }
        .await;
        match result {
            Ok(json) => {
                let mut response = json.into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-amz-json-1.1"),
                );
                response
            }
            Err(error) => error.into_response(),
        }
    }
    .instrument(span)
    .await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-RequestId", value);
    }
    response
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            ApiError::InvalidParameter(format!("Invalid request: {e}"))
        } else {
            ApiError::Serialization(format!("Request body is not valid JSON: {e}"))
        }
    })
}

fn json<T: Serialize>(value: T) -> Result<String, ApiError> {
    serde_json::to_string(&value)
        .map_err(|e| ApiError::Internal(format!("response serialization: {e}")))
}

async fn dispatch(engine: &FaceEngine, operation: &str, body: &[u8]) -> Result<String, ApiError> {
    match operation {
        "CreateCollection" => json(engine.create_collection(parse(body)?).await?),
        "DescribeCollection" => json(engine.describe_collection(parse(body)?).await?),
        "ListCollections" => json(engine.list_collections(parse(body)?).await?),
        "DeleteCollection" => json(engine.delete_collection(parse(body)?).await?),
        "IndexFaces" => json(engine.index_faces(parse(body)?).await?),
        "ListFaces" => json(engine.list_faces(parse(body)?).await?),
        "DeleteFaces" => json(engine.delete_faces(parse(body)?).await?),
        "SearchFaces" => json(engine.search_faces(parse(body)?).await?),
        "SearchFacesByImage" => json(engine.search_faces_by_image(parse(body)?).await?),
        "DetectFaces" => json(engine.detect_faces(parse(body)?).await?),
        "" => Err(ApiError::UnknownOperation(format!(
            "Requests must carry X-Amz-Target: {TARGET_PREFIX}<Operation>"
        ))),
        other => Err(ApiError::UnknownOperation(format!(
            "Operation {other} is not supported by this endpoint"
        ))),
    }
}
