//! The photo itself: stored again without its metadata, its hash recorded,
//! and faces whose record was lost kept or indexed again.

use super::*;

#[tokio::test]
async fn a_photo_with_metadata_is_stored_again_without_it_before_it_is_indexed() {
    let h = Harness::new().await;
    let revealing = registry_testkit::jpeg_with_revealing_metadata(&jpeg(), 1);
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, revealing.clone());

    let results = h.handle("s3-put.json").await.expect("stripped");

    assert_eq!(
        results,
        [IndexingResult::Ignored(Ignored::MetadataStripped)]
    );
    let stored = h.photos.read(OBAMA, None).await.unwrap().expect("stored");
    assert_eq!(stored, jpeg(), "the pixels, nothing else");
    assert!(
        h.faces.index_calls().is_empty(),
        "the new version's event indexes it"
    );
    assert_eq!(h.rows().await, 0);

    // The new version's event: the person records the hash of the photo as
    // uploaded, so that a bulk import re-run knows the file is in.
    let stripped = h
        .photos
        .stat(OBAMA)
        .await
        .unwrap()
        .expect("stripped version");
    let mut event = s3_event("s3-put-replacement.json");
    event.records[0].s3.object.e_tag = stripped.etag.map(|e| e.trim_matches('"').to_owned());
    event.records[0].s3.object.version_id = stripped.version_id;
    h.faces.answer(OBAMA, one_face("face-1"));
    let results = h.handle_event(&event).await.expect("indexed");
    assert!(
        matches!(results[..], [IndexingResult::Indexed { .. }]),
        "{results:?}"
    );
    let person = h.person(OBAMA).await.expect("recorded");
    assert_eq!(person.photo_sha256, Some(sha256_hex(&revealing)));
}

#[tokio::test]
async fn the_hash_of_the_photo_is_recorded_indexed_or_rejected() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(
        OBAMA,
        Ok(IndexAnswer::Faces {
            indexed: vec![],
            unindexed: vec![],
        }),
    );
    h.handle("s3-put.json").await.expect("rejected");
    let person = h.person(OBAMA).await.expect("recorded");
    assert_eq!(person.status, Status::Rejected);
    assert_eq!(person.photo_sha256, Some(sha256_hex(&jpeg())));
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn a_face_recorded_before_the_reply_was_lost_is_kept() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    h.indexer.people.lose_next_record_replies(1);

    let error = h
        .handle("s3-put.json")
        .await
        .expect_err("the reply was lost");
    assert!(matches!(error, IndexerError::Retry { .. }));
    let person = h.person(OBAMA).await.expect("committed");
    assert_eq!(person.identity.as_deref(), Some("face-1"));
    assert!(
        h.faces.deleted_faces().is_empty(),
        "the recorded face stays"
    );

    // Lambda retries the event: a replay, which changes nothing.
    let results = h.handle("s3-put.json").await.expect("the retry");
    assert_eq!(results, [IndexingResult::Ignored(Ignored::Stale)]);
    assert!(h.faces.deleted_faces().is_empty());
    assert_eq!(h.faces.index_calls(), [OBAMA]);
}

#[tokio::test]
async fn a_face_whose_record_failed_is_deleted_and_the_retry_indexes_again() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    h.indexer.people.fail_next_records(1);

    h.handle("s3-put.json")
        .await
        .expect_err("the record failed");
    assert_eq!(h.person(OBAMA).await, None);
    assert_eq!(h.faces.deleted_faces(), ["face-1"], "no orphan");

    h.faces.answer(OBAMA, one_face("face-2"));
    h.handle("s3-put.json").await.expect("the retry");
    assert_eq!(
        h.person(OBAMA).await.expect("indexed").identity.as_deref(),
        Some("face-2")
    );
}
