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

use local_iam::sigv4::{self, Scope};
use local_iam::{AuthorizeError, Call, Conditions, Identity};

use crate::api;
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
            let config = engine.config();
            let scope = Scope {
                service: "rekognition",
                region: &config.region,
            };
            let caller = sigv4::verify(
                &config.access.keys,
                scope,
                &method,
                &uri,
                &headers,
                &body,
                SystemTime::now(),
            )?;
            tracing::debug!(principal = %caller.name, "signed by");
            dispatch(&engine, &caller, &operation, &body).await
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

/// Rekognition's IAM check: `rekognition:<Operation>` on the collection
/// (`*` for operations on no collection).
fn authorize(
    engine: &FaceEngine,
    caller: &Identity,
    operation: &str,
    collection: Option<&str>,
) -> Result<(), ApiError> {
    let resource = engine.arn(collection.unwrap_or("*"));
    let action = format!("rekognition:{operation}");
    let conditions = Conditions::of_caller(caller);
    let call = Call {
        caller,
        action: &action,
        resource: &resource,
        conditions: &conditions,
    };
    engine
        .config()
        .access
        .authorizer
        .authorize(call, None, None)
        .map_err(|error| {
            tracing::warn!(principal = %caller.name, %error, "Rekognition request refused");
            match error {
                AuthorizeError::Denied(denied) => ApiError::AccessDenied(denied.to_string()),
                AuthorizeError::Policy(policy) => ApiError::Internal(policy.to_string()),
            }
        })
}

async fn dispatch(
    engine: &FaceEngine,
    caller: &Identity,
    operation: &str,
    body: &[u8],
) -> Result<String, ApiError> {
    let allowed = |collection: Option<&str>| authorize(engine, caller, operation, collection);
    match operation {
        "CreateCollection" => {
            let request: api::CollectionRequest = parse(body)?;
            allowed(Some(&request.collection_id))?;
            json(engine.create_collection(request).await?)
        }
        "DescribeCollection" => {
            let request: api::CollectionRequest = parse(body)?;
            allowed(Some(&request.collection_id))?;
            json(engine.describe_collection(request).await?)
        }
        "ListCollections" => {
            allowed(None)?;
            json(engine.list_collections(parse(body)?).await?)
        }
        "DeleteCollection" => {
            let request: api::CollectionRequest = parse(body)?;
            allowed(Some(&request.collection_id))?;
            json(engine.delete_collection(request).await?)
        }
        "IndexFaces" => {
            let request: api::IndexFacesRequest = parse(body)?;
            allowed(Some(&request.collection_id))?;
            json(engine.index_faces(caller, request).await?)
        }
        "ListFaces" => {
            let request: api::ListFacesRequest = parse(body)?;
            allowed(Some(&request.collection_id))?;
            json(engine.list_faces(request).await?)
        }
        "DeleteFaces" => {
            let request: api::DeleteFacesRequest = parse(body)?;
            allowed(Some(&request.collection_id))?;
            json(engine.delete_faces(request).await?)
        }
        "SearchFaces" => {
            let request: api::SearchFacesRequest = parse(body)?;
            allowed(Some(&request.collection_id))?;
            json(engine.search_faces(request).await?)
        }
        "SearchFacesByImage" => {
            let request: api::SearchFacesByImageRequest = parse(body)?;
            allowed(Some(&request.collection_id))?;
            json(engine.search_faces_by_image(caller, request).await?)
        }
        "DetectFaces" => {
            allowed(None)?;
            json(engine.detect_faces(caller, parse(body)?).await?)
        }
        "" => Err(ApiError::UnknownOperation(format!(
            "Requests must carry X-Amz-Target: {TARGET_PREFIX}<Operation>"
        ))),
        other => Err(ApiError::UnknownOperation(format!(
            "Operation {other} is not supported by this endpoint"
        ))),
    }
}
