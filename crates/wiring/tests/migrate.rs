//! The `migrate` function as Lambda runs it, driven by
//! `events/migrate-create.json`: built from its configuration whatever that
//! says, it answers CloudFormation on every path, at a local server standing
//! in for the presigned response URL.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use registry_adapters::Config;
use registry_testkit::{TestDatabase, closed_port_url, events::event_json};
use registry_wiring::Migrate;
use serde_json::Value;

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Value)>>>);

impl Received {
    fn all(&self) -> Vec<(String, Value)> {
        self.0.lock().expect("received").clone()
    }
}

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

fn request(kind: &str, response_url: &str) -> Value {
    let mut json = event_json("migrate-create.json");
    json["RequestType"] = Value::String(kind.to_owned());
    json["ResponseURL"] = Value::String(response_url.to_owned());
    json
}

/// The function configured with `vars` (the migrate function's environment).
async fn function(vars: &[(&str, String)]) -> Migrate {
    let config = Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    });
    let aws = registry_adapters::aws::config_loader()
        .region(aws_config::Region::new("us-east-1"))
        .no_credentials()
        .load()
        .await;
    registry_wiring::migrate(
        &registry_adapters::MIGRATOR,
        config,
        aws,
        reqwest::Client::new(),
    )
    .await
}

fn environment(database_url: String) -> Vec<(&'static str, String)> {
    vec![
        ("PHOTO_BUCKET", "photos".to_owned()),
        ("FACE_COLLECTION", "faces".to_owned()),
        ("DATABASE_URL", database_url),
    ]
}

async fn tables(database: &TestDatabase) -> Vec<String> {
    let mut tables: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE()",
    )
    .fetch_all(database.pool())
    .await
    .expect("tables");
    tables.sort();
    tables
}

#[tokio::test]
async fn create_and_update_apply_the_migrations_and_report_success() {
    let database = TestDatabase::create_empty()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(tables(&database).await.is_empty());
    let (url, received) = response_server().await;
    let migrate = function(&environment(database.url())).await;

    let response = migrate
        .handle(&request("Create", &url))
        .await
        .expect("answered");
    assert_eq!(
        tables(&database).await,
        [
            "_sqlx_migrations",
            "audit_event",
            "call_count",
            "distinct_pair",
            "drift_sighting",
            "erasure",
            "key_move",
            "person",
            "person_face",
            "reconcile_checkpoint",
            "retired_face",
            "upload_request",
        ]
    );
    let sent = received.all();
    assert_eq!(sent.len(), 1, "one answer to CloudFormation");
    let (content_type, body) = &sent[0];
    assert_eq!(
        content_type, "",
        "the presigned URL signs an empty content type"
    );
    assert_eq!(body["Status"], "SUCCESS");
    assert_eq!(body["PhysicalResourceId"], "database-migrations");
    assert_eq!(body["RequestId"], "7f8c1c5e-2d4b-4a6f-9e3d-1b2c3d4e5f60");
    assert_eq!(body["LogicalResourceId"], "DatabaseMigrations");
    assert_eq!(serde_json::to_value(&response).expect("json"), *body);

    // An update applies them again: nothing changes, and it succeeds.
    let mut update = request("Update", &url);
    update["PhysicalResourceId"] = "database-migrations".into();
    migrate.handle(&update).await.expect("answered");
    assert_eq!(received.all()[1].1["Status"], "SUCCESS");
}

#[tokio::test]
async fn an_unreachable_database_fails_the_resource_without_a_secret() {
    let password = "pw-that-must-never-show";
    let (url, received) = response_server().await;
    let migrate = function(&environment(
        closed_port_url(password).expect("a free port"),
    ))
    .await;
    migrate
        .handle(&request("Create", &url))
        .await
        .expect("answered");
    let body = &received.all()[0].1;
    assert_eq!(body["Status"], "FAILED");
    let reason = body["Reason"].as_str().expect("a reason");
    assert!(
        reason.starts_with("could not apply the migrations"),
        "{reason}"
    );
    assert!(!reason.contains(password), "{reason}");
}

#[tokio::test]
async fn a_configuration_that_does_not_load_is_answered_failed() {
    let (url, received) = response_server().await;
    // No bucket, no database: the configuration does not load.
    let migrate = function(&[("FACE_COLLECTION", "faces".to_owned())]).await;
    migrate
        .handle(&request("Create", &url))
        .await
        .expect("answered");
    let body = &received.all()[0].1;
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(
        body["Reason"],
        "the migrate function's configuration is invalid: DATABASE_URL, DB_SECRET_ARN or DB_IAM_AUTH=true is not set"
    );

    // Deleting the stack still goes through: the data is kept, nothing to do.
    let mut delete = request("Delete", &url);
    delete["PhysicalResourceId"] = "database-migrations".into();
    migrate.handle(&delete).await.expect("answered");
    assert_eq!(received.all()[1].1["Status"], "SUCCESS");
}

#[tokio::test]
async fn what_is_not_a_request_is_answered_failed_when_it_can_be() {
    let (url, received) = response_server().await;
    let migrate = function(&environment(closed_port_url("x").expect("a free port"))).await;
    migrate
        .handle(&request("Rename", &url))
        .await
        .expect("answered");
    let body = &received.all()[0].1;
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(
        body["Reason"],
        "Rename is not a Create, Update or Delete request"
    );

    let mut nowhere = request("Create", &url);
    nowhere
        .as_object_mut()
        .expect("an object")
        .remove("ResponseURL");
    let error = migrate
        .handle(&nowhere)
        .await
        .expect_err("nowhere to answer");
    assert_eq!(
        error.to_string(),
        "the request has no ResponseURL: there is nowhere to answer"
    );
}
