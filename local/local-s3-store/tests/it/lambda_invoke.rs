//! `LambdaInvokeTarget` against a small local server that speaks the Lambda
//! Invoke API, as `cargo lambda watch` does.

use crate::common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use local_s3_store::{EventTarget, InvocationError, LambdaInvokeTarget, S3Event, event_to_json};

const INVOKE_PATH: &str = "/2015-03-31/functions/indexer/invocations";

#[derive(Clone, Copy)]
enum Answer {
    Success,
    FunctionError,
    ServerError,
}

#[derive(Clone)]
struct InvokeServer {
    url: String,
    requests: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    answer: Arc<Mutex<Answer>>,
}

impl InvokeServer {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Self {
            url: format!("http://{}{INVOKE_PATH}", listener.local_addr().unwrap()),
            requests: Arc::default(),
            answer: Arc::new(Mutex::new(Answer::Success)),
        };
        let state = server.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let state = state.clone();
                let service = hyper::service::service_fn(move |request| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(state.handle(request).await) }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service),
                );
            }
        });
        server
    }

    async fn handle(&self, request: http::Request<Incoming>) -> http::Response<Full<Bytes>> {
        let path = request.uri().path().to_owned();
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        self.requests.lock().unwrap().push((path, json));
        let answer = *self.answer.lock().unwrap();
        let response = http::Response::builder();
        match answer {
            Answer::Success => response.status(200).body(Full::from("null")),
            Answer::FunctionError => response
                .status(200)
                .header("X-Amz-Function-Error", "Unhandled")
                .body(Full::from(
                    r#"{"errorType":"IndexError","errorMessage":"database down"}"#,
                )),
            Answer::ServerError => response.status(500).body(Full::from("runtime crashed")),
        }
        .unwrap()
    }

    fn set_answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    fn requests(&self) -> Vec<(String, serde_json::Value)> {
        self.requests.lock().unwrap().clone()
    }
}

fn sample_event() -> S3Event {
    let json = serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2024-05-01T10:00:00.123Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "p"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "H"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
               "bucket": {"name": "photos", "ownerIdentity": {"principalId": "p"}, "arn": "arn:aws:s3:::photos"},
               "object": {"key": "doe_jane.jpg", "size": 3, "eTag": "e", "sequencer": "00000000000000000A"}}
    }]});
    serde_json::from_value(json).unwrap()
}

#[tokio::test]
async fn posts_the_event_and_reports_function_errors_and_bad_statuses() {
    let server = InvokeServer::start().await;
    let target = LambdaInvokeTarget::new(&server.url, Duration::from_secs(5)).unwrap();
    let event = sample_event();

    target.invoke(&event).await.unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].0, INVOKE_PATH);
    assert_eq!(requests[0].1, event_to_json(&event).unwrap());
    assert_eq!(
        requests[0].1["Records"][0]["eventTime"],
        "2024-05-01T10:00:00.123Z"
    );

    server.set_answer(Answer::FunctionError);
    let error = target.invoke(&event).await.unwrap_err();
    assert!(
        matches!(&error, InvocationError::FunctionErrorHeader { kind, body } if kind == "Unhandled" && body.contains("database down")),
        "{error}"
    );

    server.set_answer(Answer::ServerError);
    let error = target.invoke(&event).await.unwrap_err();
    assert!(
        matches!(error, InvocationError::Status { status: 500, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_transport_failure() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}{INVOKE_PATH}", listener.local_addr().unwrap());
    drop(listener);
    let target = LambdaInvokeTarget::new(&url, Duration::from_secs(5)).unwrap();
    let error = target.invoke(&sample_event()).await.unwrap_err();
    assert!(matches!(error, InvocationError::Transport(_)), "{error}");
    assert!(
        error.to_string().to_ascii_lowercase().contains("refused"),
        "the cause is named: {error}"
    );
}

#[tokio::test]
async fn the_store_feeds_a_function_through_the_invoke_api() {
    let server = InvokeServer::start().await;
    let target = Arc::new(LambdaInvokeTarget::new(&server.url, Duration::from_secs(5)).unwrap());
    let t = start(target).await;
    t.client
        .put_object()
        .bucket(BUCKET)
        .key("müller anna.jpg")
        .body(ByteStream::from_static(b"jpeg"))
        .send()
        .await
        .unwrap();
    t.store.shutdown().await.unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let record = &requests[0].1["Records"][0];
    assert_eq!(record["eventName"], "ObjectCreated:Put");
    assert_eq!(record["s3"]["object"]["key"], "m%C3%BCller+anna.jpg");
    assert_eq!(record["s3"]["object"]["size"], 4);
    let time = record["eventTime"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(time).is_ok() && time.len() == 24,
        "{time}"
    );
}
