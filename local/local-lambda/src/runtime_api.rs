//! The Lambda Runtime API (2018-06-01) an environment's process talks to:
//! it asks for the next event (the first ask ends its init), then posts the
//! answer or the error of that event, or an init error.
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::sync::{Mutex, mpsc, oneshot, watch};

/// An event handed to the process, and where its answer goes.
pub(crate) struct Pending {
    pub request_id: String,
    pub deadline_ms: u64,
    pub function_arn: String,
    pub payload: Bytes,
    pub answer: oneshot::Sender<Answer>,
}

/// What the process posted for an event.
#[derive(Debug)]
pub(crate) enum Answer {
    Response(Bytes),
    Error(ErrorBody),
}

/// The body of an error post (the runtime's `Diagnostic`).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(rename = "errorType", default)]
    pub error_type: String,
    #[serde(rename = "errorMessage", default)]
    pub error_message: String,
}

impl ErrorBody {
    fn read(headers: &HeaderMap, body: &[u8]) -> Self {
        let mut error: Self = serde_json::from_slice(body).unwrap_or_default();
        if error.error_type.is_empty() {
            error.error_type = headers
                .get("Lambda-Runtime-Function-Error-Type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("Runtime.Unknown")
                .to_owned();
        }
        error
    }
}

struct ApiState {
    events: Mutex<mpsc::Receiver<Pending>>,
    in_flight: std::sync::Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    /// Set at the first ask for an event: init is over.
    ready: watch::Sender<bool>,
    init_error: std::sync::Mutex<Option<oneshot::Sender<ErrorBody>>>,
}

/// A running Runtime API: its address, and the ends the environment holds.
pub(crate) struct RuntimeApi {
    pub address: SocketAddr,
    pub events: mpsc::Sender<Pending>,
    pub ready: watch::Receiver<bool>,
    pub init_error: oneshot::Receiver<ErrorBody>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    /// A Runtime API on a free loopback port, for one environment.
    pub(crate) async fn start() -> std::io::Result<Self> {
        let (events, receiver) = mpsc::channel(1);
        let (ready, ready_receiver) = watch::channel(false);
        let (init_error, init_error_receiver) = oneshot::channel();
        let state = Arc::new(ApiState {
            events: Mutex::new(receiver),
            in_flight: std::sync::Mutex::new(HashMap::new()),
            ready,
            init_error: std::sync::Mutex::new(Some(init_error)),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error_post))
            // An answer over Lambda's limit is read whole, then refused.
            .layer(DefaultBodyLimit::max(crate::MAX_PAYLOAD_BYTES * 2))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            address,
            events,
            ready: ready_receiver,
            init_error: init_error_receiver,
            server,
        })
    }
}

async fn next(State(state): State<Arc<ApiState>>) -> Response {
    state.ready.send_replace(true);
    let Some(pending) = state.events.lock().await.recv().await else {
        // The environment is ending: as in Lambda, no answer comes (an
        // answer without a request id would make the runtime panic).
        return std::future::pending().await;
    };
    state
        .in_flight
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(pending.request_id.clone(), pending.answer);
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set("Lambda-Runtime-Aws-Request-Id", &pending.request_id);
    set(
        "Lambda-Runtime-Deadline-Ms",
        &pending.deadline_ms.to_string(),
    );
    set("Lambda-Runtime-Invoked-Function-Arn", &pending.function_arn);
    set(
        "Lambda-Runtime-Trace-Id",
        &format!(
            "Root=1-{:08x}-{};Sampled=0",
            pending.deadline_ms / 1000,
            uuid::Uuid::new_v4()
                .simple()
                .to_string()
                .get(..24)
                .unwrap_or_default()
        ),
    );
    set("Content-Type", "application/json");
    (headers, pending.payload).into_response()
}

fn answer(state: &ApiState, id: &str, answer: Answer) -> StatusCode {
    let sender = state
        .in_flight
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(id);
    match sender {
        Some(sender) => {
            let _ = sender.send(answer);
            StatusCode::ACCEPTED
        }
        // An unknown or already answered request id: Lambda answers 400.
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    answer(&state, &id, Answer::Response(body))
}

async fn error(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    answer(&state, &id, Answer::Error(ErrorBody::read(&headers, &body)))
}

async fn init_error_post(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let sender = state
        .init_error
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    if let Some(sender) = sender {
        let _ = sender.send(ErrorBody::read(&headers, &body));
    }
    StatusCode::ACCEPTED
}
