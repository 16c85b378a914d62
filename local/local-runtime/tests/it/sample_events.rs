//! Every sample event in `events/`, invoked as `registry-local invoke` (and
//! `sam local invoke`) invokes it: the function named by its logical id,
//! with its template environment, against the local services.

use crate::common;

use std::path::Path;

use common::{Harness, workspace_root};
use serde_json::Value;

/// What each sample event is for, and what the function answers.
#[derive(Debug, Clone, Copy)]
enum Expected {
    /// An HTTP function's response status.
    Status(&'static [u16]),
    /// What S3 sends to IndexQueue (a message body): handed to the indexer
    /// as one message, which it does not report as failed.
    QueueBody,
    /// A batch of queue messages, none reported as failed.
    NoFailedMessages,
    /// A custom resource request answered SUCCESS.
    CustomResource,
    /// A reconcile run's report, both scans to their end.
    Reconciled,
    /// A collection rebuild's report, to the end of the bucket.
    Rebuilt,
}

const SAMPLES: &[(&str, &str, Expected)] = &[
    (
        "upload-post.json",
        "UploadFunction",
        Expected::Status(&[201]),
    ),
    (
        "upload-post-accented.json",
        "UploadFunction",
        Expected::Status(&[201]),
    ),
    (
        "upload-post-viewer.json",
        "UploadFunction",
        Expected::Status(&[403]),
    ),
    (
        "upload-post-no-claims.json",
        "UploadFunction",
        Expected::Status(&[401]),
    ),
    (
        "upload-post-malformed.json",
        "UploadFunction",
        Expected::Status(&[400]),
    ),
    (
        "upload-post-unknown-field.json",
        "UploadFunction",
        Expected::Status(&[400]),
    ),
    (
        "upload-page.json",
        "UploadFunction",
        Expected::Status(&[200]),
    ),
    (
        "photo-replace.json",
        "UploadFunction",
        Expected::Status(&[200, 404, 409]),
    ),
    // A new name is a new key: 409 while person 1's photo is on its way.
    (
        "person-rename.json",
        "UploadFunction",
        Expected::Status(&[200, 404, 409]),
    ),
    (
        "person-erase.json",
        "UploadFunction",
        Expected::Status(&[200, 404]),
    ),
    ("faces-list.json", "FacesFunction", Expected::Status(&[200])),
    (
        "faces-list-filtered.json",
        "FacesFunction",
        Expected::Status(&[200]),
    ),
    (
        "faces-list-next-page.json",
        "FacesFunction",
        Expected::Status(&[200]),
    ),
    (
        "faces-get.json",
        "FacesFunction",
        Expected::Status(&[200, 404]),
    ),
    ("faces-page.json", "FacesFunction", Expected::Status(&[200])),
    (
        "search-page.json",
        "FacesFunction",
        Expected::Status(&[200]),
    ),
    ("audit-page.json", "FacesFunction", Expected::Status(&[200])),
    // A photo with no face in it.
    (
        "search-post.json",
        "FacesFunction",
        Expected::Status(&[422]),
    ),
    ("audit-list.json", "FacesFunction", Expected::Status(&[200])),
    (
        "person-export.json",
        "FacesFunction",
        Expected::Status(&[200, 404]),
    ),
    (
        "auth-config.json",
        "FacesFunction",
        Expected::Status(&[200]),
    ),
    (
        "api-openapi.json",
        "FacesFunction",
        Expected::Status(&[200]),
    ),
    (
        "auth-sign-out.json",
        "FacesFunction",
        Expected::Status(&[204]),
    ),
    // The token is not signed by the pool: through the ALB it would be.
    (
        "alb-faces-list.json",
        "FacesFunction",
        Expected::Status(&[401]),
    ),
    (
        "alb-healthz.json",
        "HealthFunction",
        Expected::Status(&[200]),
    ),
    (
        "duplicate-resolve.json",
        "UploadFunction",
        Expected::Status(&[404, 409]),
    ),
    (
        "user-pool-keys-create.json",
        "UserPoolSetupFunction",
        Expected::CustomResource,
    ),
    ("healthz.json", "HealthFunction", Expected::Status(&[200])),
    ("s3-put.json", "IndexerFunction", Expected::QueueBody),
    ("s3-put-replay.json", "IndexerFunction", Expected::QueueBody),
    (
        "s3-put-replacement.json",
        "IndexerFunction",
        Expected::QueueBody,
    ),
    (
        "s3-put-out-of-order.json",
        "IndexerFunction",
        Expected::QueueBody,
    ),
    ("s3-put-batch.json", "IndexerFunction", Expected::QueueBody),
    (
        "s3-put-accented-key.json",
        "IndexerFunction",
        Expected::QueueBody,
    ),
    (
        "s3-put-plus-key.json",
        "IndexerFunction",
        Expected::QueueBody,
    ),
    (
        "index-queue-messages.json",
        "IndexerFunction",
        Expected::NoFailedMessages,
    ),
    (
        "migrate-create.json",
        "MigrateFunction",
        Expected::CustomResource,
    ),
    ("scheduled.json", "ReconcileFunction", Expected::Reconciled),
    (
        "rebuild-collection.json",
        "ReconcileFunction",
        Expected::Rebuilt,
    ),
];

#[test]
fn every_sample_event_has_an_expectation() {
    let mut files: Vec<String> = std::fs::read_dir(workspace_root().join("events"))
        .expect("events/")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| Path::new(name).extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut covered: Vec<String> = SAMPLES
        .iter()
        .map(|(file, _, _)| (*file).to_owned())
        .collect();
    covered.sort();
    assert_eq!(files, covered, "every file in events/ is invoked here");
}

/// Every route of the template and every function has a sample event, for
/// the function that serves it.
#[test]
fn every_route_and_function_has_a_sample_event() {
    let stack = local_stack::LocalStack::load(
        &common::template(),
        &local_stack::StackSettings::new("face-registry"),
    )
    .expect("the template");
    let route_keys: Vec<(String, &str)> = SAMPLES
        .iter()
        .filter_map(|(file, function, _)| {
            let text = std::fs::read_to_string(workspace_root().join("events").join(file)).ok()?;
            let event: Value = serde_json::from_str(&text).ok()?;
            Some((event["routeKey"].as_str()?.to_owned(), *function))
        })
        .collect();
    for function in &stack.functions {
        assert!(
            SAMPLES.iter().any(|(_, f, _)| *f == function.logical_id),
            "{} has no sample event",
            function.logical_id
        );
        for route in &function.routes {
            let key = format!("{} {}", route.method, route.path);
            assert!(
                route_keys
                    .iter()
                    .any(|(k, f)| *k == key && *f == function.logical_id),
                "{key} ({}) has no sample event",
                function.logical_id
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_sample_event_is_invoked_as_lambda_would() {
    let harness = Harness::start().await;
    for (file, function, expected) in SAMPLES {
        let text =
            std::fs::read_to_string(workspace_root().join("events").join(file)).expect("the event");
        let mut event: Value = serde_json::from_str(&text).expect("JSON");
        if let Expected::QueueBody = expected {
            event = serde_json::json!({"Records": [{
                "messageId": file, "receiptHandle": file, "body": text, "eventSource": "aws:sqs",
            }]});
        }
        let answer = local_runtime::runtime::invoke_event(&harness.runtime, function, event)
            .await
            .unwrap_or_else(|error| panic!("{file} -> {function}: {error}"));
        match expected {
            Expected::Status(statuses) => {
                let status = answer["statusCode"].as_u64().unwrap_or_default();
                assert!(
                    statuses.iter().any(|s| u64::from(*s) == status),
                    "{file} -> {function}: status {status}, expected {statuses:?}: {answer}"
                );
            }
            Expected::QueueBody | Expected::NoFailedMessages => assert_eq!(
                answer,
                serde_json::json!({"batchItemFailures": []}),
                "{file}"
            ),
            Expected::CustomResource => assert_eq!(answer["Status"], "SUCCESS", "{file}: {answer}"),
            Expected::Reconciled => {
                assert_eq!(answer["facesPassComplete"], true, "{file}: {answer}");
                assert_eq!(answer["photosPassComplete"], true, "{file}: {answer}");
            }
            Expected::Rebuilt => assert_eq!(answer["complete"], true, "{file}: {answer}"),
        }
    }
    harness.stop().await;
}

#[test]
fn the_invoke_command_prints_the_answer() {
    let Ok(database_url) = std::env::var("DATABASE_URL") else {
        panic!("DATABASE_URL is not set: run `make test-e2e`");
    };
    let state = tempfile::tempdir().expect("a state folder");
    let root = workspace_root();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_registry-local"))
        .current_dir(&root)
        .env("DATABASE_URL", database_url)
        .args(["--state-dir"])
        .arg(state.path())
        .args([
            "invoke",
            "HealthFunction",
            "--event",
            "events/healthz.json",
            "--scratch-database",
        ])
        .output()
        .expect("registry-local runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value =
        serde_json::from_str(&stdout).expect("the answer as JSON on standard output");
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let body: Value =
        serde_json::from_str(answer["body"].as_str().unwrap_or_default()).expect("a JSON body");
    assert_eq!(body["database"]["ok"], true, "{body}");
}
