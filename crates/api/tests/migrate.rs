//! The `migrate` custom resource, driven by `events/migrate-create.json`,
//! against a fresh empty database and a local server standing in for
//! CloudFormation's presigned response URL.

use std::sync::{Arc, Mutex};

use aws_lambda_events::cloudformation::CloudFormationCustomResourceRequest;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use registry_adapters::database::migrate;
use registry_api::migrate::handle;
use registry_testkit::{TestDatabase, closed_port_url, events::event_json};
use serde_json::Value;

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Value)>>>);

async fn respond(State(received): State<Received>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("<none>")
        .to_owned();
    let Ok(json) = serde_json::from_slice(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    received
        .0
        .lock()
        .expect("received")
        .push((content_type, json));
    StatusCode::OK
}

/// A server for the response URL; returns the URL and what it receives.
async fn response_server() -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route("/cloudformation-response", put(respond))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    (
        format!("http://{address}/cloudformation-response?X-Amz-Signature=example"),
        received,
    )
}

fn create_request(response_url: &str) -> CloudFormationCustomResourceRequest {
    let mut json = event_json("migrate-create.json");
    json["ResponseURL"] = Value::String(response_url.to_owned());
    serde_json::from_value(json).expect("a custom resource request")
}

async fn tables(database: &TestDatabase) -> Vec<String> {
    let mut tables: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
         WHERE table_schema = DATABASE()",
    )
    .fetch_all(database.pool())
    .await
    .expect("tables");
    tables.sort();
    tables
}

#[tokio::test]
async fn create_applies_the_migrations_and_reports_success() {
    let database = TestDatabase::create_empty()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(tables(&database).await.is_empty());
    let (url, received) = response_server().await;
    let request = create_request(&url);

    let response = handle(
        &request,
        || migrate(database.pool()),
        &reqwest::Client::new(),
    )
    .await
    .expect("handled");

    assert_eq!(
        tables(&database).await,
        ["_sqlx_migrations", "person", "retired_face"]
    );
    let sent = received.0.lock().expect("received").clone();
    assert_eq!(sent.len(), 1, "one response to CloudFormation");
    let (content_type, body) = &sent[0];
    assert_eq!(
        content_type, "",
        "the presigned URL signs an empty content type"
    );
    assert_eq!(body["Status"], "SUCCESS");
    assert_eq!(body["PhysicalResourceId"], "database-migrations");
    assert_eq!(body["RequestId"], "7f8c1c5e-2d4b-4a6f-9e3d-1b2c3d4e5f60");
    assert_eq!(body["LogicalResourceId"], "DatabaseMigrations");
    assert_eq!(
        body["StackId"],
        "arn:aws:cloudformation:eu-west-1:123456789012:stack/face-registry/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
    );
    assert_eq!(serde_json::to_value(&response).expect("json"), *body);

    // Applying again (a stack update) changes nothing and succeeds.
    handle(
        &request,
        || migrate(database.pool()),
        &reqwest::Client::new(),
    )
    .await
    .expect("handled again");
    assert_eq!(
        received.0.lock().expect("received")[1].1["Status"],
        "SUCCESS"
    );
}

#[tokio::test]
async fn a_failed_migration_fails_the_resource_without_a_secret() {
    let password = "pw-that-must-never-show";
    let pool = sqlx::mysql::MySqlPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect_lazy(&closed_port_url(password).expect("a free port"))
        .expect("a lazy pool");
    let (url, received) = response_server().await;

    handle(
        &create_request(&url),
        || migrate(&pool),
        &reqwest::Client::new(),
    )
    .await
    .expect("handled");

    let sent = received.0.lock().expect("received").clone();
    let body = &sent[0].1;
    assert_eq!(body["Status"], "FAILED");
    let reason = body["Reason"].as_str().expect("a reason");
    assert!(
        reason.starts_with("could not apply the migrations"),
        "{reason}"
    );
    assert!(!reason.contains(password), "{reason}");
}
