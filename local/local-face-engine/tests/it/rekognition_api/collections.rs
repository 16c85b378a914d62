//! Collections created, described, listed and deleted, as Rekognition does.

use super::*;

#[tokio::test]
async fn collections_are_created_described_listed_and_deleted() {
    let data = tempfile::tempdir().unwrap();
    let engine = Running::start(data.path(), unreachable_s3()).await;
    let rekognition = &engine.client;

    let created = rekognition
        .create_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status_code(), Some(200));
    assert_eq!(
        created.collection_arn(),
        Some("arn:aws:rekognition:us-east-1:123456789012:collection/people")
    );
    assert_eq!(
        created.face_model_version(),
        Some(local_face_engine::FACE_MODEL_VERSION)
    );

    let again = rekognition
        .create_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(again), "ResourceAlreadyExistsException");
    let bad = rekognition
        .create_collection()
        .collection_id("no spaces")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(bad), "InvalidParameterException");

    let described = rekognition
        .describe_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap();
    assert_eq!(described.face_count(), Some(0));
    assert_eq!(
        described.collection_arn(),
        Some("arn:aws:rekognition:us-east-1:123456789012:collection/people")
    );
    let created_at = described.creation_timestamp().unwrap().secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - created_at).abs() < 60, "{created_at} vs {now}");

    for id in ["archive", "visitors"] {
        rekognition
            .create_collection()
            .collection_id(id)
            .send()
            .await
            .unwrap();
    }
    let mut listed = Vec::new();
    let mut token = None;
    loop {
        let page = rekognition
            .list_collections()
            .max_results(2)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        assert!(page.collection_ids().len() <= 2);
        assert_eq!(
            page.collection_ids().len(),
            page.face_model_versions().len()
        );
        listed.extend(page.collection_ids().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(listed, ["archive", "people", "visitors"]);
    let bad_token = rekognition
        .list_collections()
        .next_token("bogus")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(bad_token), "InvalidPaginationTokenException");

    let deleted = rekognition
        .delete_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status_code(), Some(200));
    let gone = rekognition
        .describe_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(gone), "ResourceNotFoundException");
    let gone = rekognition
        .delete_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(gone), "ResourceNotFoundException");
    let listed = rekognition.list_collections().send().await.unwrap();
    assert_eq!(listed.collection_ids(), ["archive", "visitors"]);
    engine.stop().await;
}
