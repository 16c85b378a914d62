//! IndexQueue's batches: every record handled, transient failures retried,
//! and only the messages that failed reported.

use super::*;

#[tokio::test]
async fn every_record_of_a_batch_is_handled() {
    let h = Harness::new().await;
    let keys = [
        "biden_joe.jpg",
        "obama_michelle.png",
        "garcia-marquez_gabriel-jose.jpg",
    ];
    h.photos
        .put_with_etag(keys[0], "0cc175b9c0f1b6a831c399e269772661", jpeg());
    h.photos
        .put_with_etag(keys[1], "92eb5ffee6ae2fec3ad71c777531578f", png());
    h.photos
        .put_with_etag(keys[2], "4a8a08f09d37b73795649038408b5f33", jpeg());
    h.faces.answer(keys[0], one_face("face-joe"));
    h.faces.answer(keys[1], Ok(faces(&[], &[])));
    h.faces.answer(keys[2], one_face("face-gabriel"));

    let results = h.handle("s3-put-batch.json").await.expect("batch");

    assert_eq!(results.len(), 3);
    assert_eq!(h.faces.index_calls(), keys);
    assert_eq!(
        h.person(keys[1]).await.expect("michelle").status,
        Status::Rejected
    );
    let gabriel = h.person(keys[2]).await.expect("gabriel");
    assert_eq!(
        (gabriel.lastname.as_str(), gabriel.firstname.as_str()),
        ("Garcia Marquez", "Gabriel Jose")
    );
    assert_eq!(gabriel.status, Status::Indexed);
}

// ---------------------------------------------------------------- retries

#[tokio::test]
async fn a_transient_index_failure_is_retried_and_records_nothing() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(
        OBAMA,
        Err(PortError::Transient(
            "Rekognition: ThrottlingException".into(),
        )),
    );

    let error = h.handle("s3-put.json").await.expect_err("to be retried");

    assert!(matches!(
        error,
        IndexerError::Retry {
            failed: 1,
            total: 1,
            ..
        }
    ));
    assert_eq!(h.person(OBAMA).await, None, "nothing recorded");
    assert_eq!(h.rows().await, 0);

    // Lambda's retry then succeeds.
    h.faces.answer(OBAMA, one_face("face-1"));
    h.handle("s3-put.json").await.expect("retried");
    assert_eq!(
        h.person(OBAMA).await.expect("person").identity.as_deref(),
        Some("face-1")
    );
}

#[tokio::test]
async fn a_failed_record_in_a_batch_fails_the_invocation_and_the_others_stay_recorded() {
    let h = Harness::new().await;
    h.photos
        .put_with_etag("biden_joe.jpg", "0cc175b9c0f1b6a831c399e269772661", jpeg());
    h.photos.put_with_etag(
        "obama_michelle.png",
        "92eb5ffee6ae2fec3ad71c777531578f",
        png(),
    );
    h.photos.put_with_etag(
        "garcia-marquez_gabriel-jose.jpg",
        "4a8a08f09d37b73795649038408b5f33",
        jpeg(),
    );
    h.faces.answer("biden_joe.jpg", one_face("face-joe"));
    h.faces.answer(
        "obama_michelle.png",
        Err(PortError::Transient(
            "Rekognition: ThrottlingException".into(),
        )),
    );
    h.faces
        .answer("garcia-marquez_gabriel-jose.jpg", one_face("face-gabriel"));

    let error = h.handle("s3-put-batch.json").await.expect_err("retried");
    assert!(matches!(
        error,
        IndexerError::Retry {
            failed: 1,
            total: 3,
            ..
        }
    ));

    // The retry indexes only what is missing: the others are replays.
    h.faces
        .answer("obama_michelle.png", one_face("face-michelle"));
    let results = h.handle("s3-put-batch.json").await.expect("retried");
    assert_eq!(
        results
            .iter()
            .filter(|r| matches!(r, IndexingResult::Ignored(Ignored::Stale)))
            .count(),
        2
    );
    assert_eq!(
        h.faces.index_calls(),
        [
            "biden_joe.jpg",
            "obama_michelle.png",
            "garcia-marquez_gabriel-jose.jpg",
            "obama_michelle.png"
        ]
    );
    assert_eq!(h.rows().await, 3);
}

// ---------------------------------------------------------- queue messages

/// An IndexQueue message holding `body`, as Lambda hands it over.
fn message(id: &str, body: &str) -> serde_json::Value {
    serde_json::json!({
        "messageId": id,
        "receiptHandle": format!("{id}.1"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1796119200000"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:face-registry-index",
        "awsRegion": "us-east-1"
    })
}

fn batch(messages: Vec<serde_json::Value>) -> registry_api::indexer::SqsEvent {
    serde_json::from_value(serde_json::json!({ "Records": messages })).unwrap()
}

fn failed_ids(response: &registry_api::indexer::SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

/// Only the message that failed comes back; S3's test event and the
/// handled photo do not, and a message that is not an S3 event is sent on
/// to the dead letters, where it can be read.
#[tokio::test]
async fn only_the_messages_that_failed_are_reported() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    h.photos
        .put_with_etag("biden_joe.jpg", "0cc175b9c0f1b6a831c399e269772661", jpeg());
    h.faces.answer(
        "biden_joe.jpg",
        Err(PortError::Transient(
            "Rekognition: ThrottlingException".into(),
        )),
    );
    let obama = registry_testkit::events::event_json("s3-put.json").to_string();
    let mut biden = registry_testkit::events::event_json("s3-put.json");
    biden["Records"][0]["s3"]["object"]["key"] = serde_json::json!("biden_joe.jpg");
    biden["Records"][0]["s3"]["object"]["eTag"] =
        serde_json::json!("0cc175b9c0f1b6a831c399e269772661");
    let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-12-01T10:00:00.000Z","Bucket":"face-registry-123456789012-us-east-1-photos","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}"#;

    let response = h
        .indexer
        .handle_messages(
            &batch(vec![
                message("m-obama", &obama),
                message("m-test", test_event),
                message("m-biden", &biden.to_string()),
                message("m-garbage", "not an event"),
            ]),
            "indexer-request",
        )
        .await
        .expect("an answer");

    assert_eq!(failed_ids(&response), ["m-biden", "m-garbage"]);
    assert_eq!(
        h.person(OBAMA).await.expect("obama").identity.as_deref(),
        Some("face-1")
    );
    assert_eq!(h.person("biden_joe.jpg").await, None, "nothing recorded");
}

// ---------------------------------------------------------------- order
