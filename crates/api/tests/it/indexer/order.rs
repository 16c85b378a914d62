//! Events replayed, late or out of order, and faces replaced or deleted:
//! the order S3's sequencer gives wins, and an erased person stays erased.

use super::*;

#[tokio::test]
async fn a_replayed_event_changes_nothing_and_does_not_index_again() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    h.handle("s3-put.json").await.expect("first delivery");
    let before = h.person(OBAMA).await.expect("person");

    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let results = h.handle("s3-put-replay.json").await.expect("replay");
        assert_eq!(results, [IndexingResult::Ignored(Ignored::Stale)]);
    }

    assert_eq!(h.person(OBAMA).await, Some(before), "updated_at included");
    assert_eq!(h.faces.index_calls(), [OBAMA], "IndexFaces called once");
    assert!(h.faces.deletions().is_empty());
    assert_eq!(h.rows().await, 1);
}

#[tokio::test]
async fn an_older_event_after_a_newer_one_is_ignored() {
    let h = Harness::new().await;
    // The bucket holds the newer object; its event arrives first.
    h.photos.put_with_etag(OBAMA, SECOND_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-2"));

    let results = h.handle("s3-put-out-of-order.json").await.expect("both");

    let person = h.person(OBAMA).await.expect("person");
    assert_eq!(
        results,
        [
            IndexingResult::Indexed {
                person: person.id,
                face_id: "face-2".into()
            },
            IndexingResult::Ignored(Ignored::Stale)
        ]
    );
    assert_eq!(
        person.object_sequencer.as_deref(),
        Some("0067A3F3D0E1F2A3B4")
    );
    assert_eq!(person.identity.as_deref(), Some("face-2"));
    assert_eq!(h.faces.index_calls(), [OBAMA]);
}

#[tokio::test]
async fn an_event_for_an_object_overwritten_since_is_left_to_the_newer_event() {
    let h = Harness::new().await;
    // The event names the first version, the bucket already holds the second.
    h.photos.put_with_etag(OBAMA, SECOND_ETAG, jpeg());

    let results = h.handle("s3-put.json").await.expect("ignored");

    assert_eq!(results, [IndexingResult::Ignored(Ignored::ObjectReplaced)]);
    assert_eq!(h.person(OBAMA).await, None);
    assert!(h.faces.index_calls().is_empty());
}

// ---------------------------------------------------------------- replace

#[tokio::test]
async fn a_replaced_face_is_deleted_only_after_the_new_one_is_recorded() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    h.handle("s3-put.json").await.expect("first photo");

    h.photos.put_with_etag(OBAMA, SECOND_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-2"));
    h.handle("s3-put-replacement.json")
        .await
        .expect("second photo");

    let person = h.person(OBAMA).await.expect("person");
    assert_eq!(person.identity.as_deref(), Some("face-2"));
    assert_eq!(
        h.faces.deletions(),
        [Deletion {
            faces: vec!["face-1".into()],
            identities_recorded: vec!["face-2".into()],
        }],
        "face-1 is deleted once face-2 is what the registry records"
    );
    assert!(h.retired().await.is_empty(), "forgotten once deleted");
}

#[tokio::test]
async fn a_failed_deletion_is_retried_by_the_next_invocation() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    h.handle("s3-put.json").await.expect("first photo");

    h.photos.put_with_etag(OBAMA, SECOND_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-2"));
    h.faces.fail_next_deletions(1);
    let error = h
        .handle("s3-put-replacement.json")
        .await
        .expect_err("the deletion failed");
    assert!(matches!(error, IndexerError::Retry { .. }));

    // The new face is recorded and the old one set aside, not lost.
    assert_eq!(
        h.person(OBAMA).await.expect("person").identity.as_deref(),
        Some("face-2")
    );
    assert_eq!(h.retired().await, ["face-1"]);
    assert!(h.faces.deletions().is_empty());

    // Lambda retries the event: a replay now, which sweeps the retired face.
    let results = h
        .handle("s3-put-replacement.json")
        .await
        .expect("the retry");
    assert_eq!(results, [IndexingResult::Ignored(Ignored::Stale)]);
    assert_eq!(h.faces.deleted_faces(), ["face-1"]);
    assert!(h.retired().await.is_empty());
    assert_eq!(h.faces.index_calls(), [OBAMA, OBAMA], "no extra IndexFaces");
}

// ---------------------------------------------------------------- erasure

#[tokio::test]
async fn no_indexing_run_records_an_erased_person_again() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    h.handle("s3-put.json").await.expect("indexed");
    let person = h.person(OBAMA).await.expect("person");

    // The erasure is recorded; a run for a newer photo is under way.
    let ErasureBegun::Started(erasure) = h.people.begin_erasure(person.id).await.expect("begun")
    else {
        panic!("the erasure did not start");
    };
    assert_eq!(erasure.face_ids, ["face-1"]);
    h.photos.put_with_etag(OBAMA, SECOND_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-2"));
    let results = h.handle("s3-put-replacement.json").await.expect("refused");
    assert_eq!(results, [IndexingResult::Ignored(Ignored::Erased)]);
    assert_eq!(
        h.faces.deleted_faces(),
        ["face-2"],
        "its new face is not kept"
    );
    assert_eq!(
        h.person(OBAMA)
            .await
            .expect("still there")
            .identity
            .as_deref(),
        Some("face-1")
    );

    let eraser = Eraser {
        people: &h.people,
        photos: &h.photos,
        faces: &h.faces,
    };
    // As after a crash between recording the erasure and carrying it out:
    // asking again finishes it.
    let erased = eraser
        .erase(person.id, &registry_testkit::admin_audit())
        .await
        .expect("erased");
    assert!(erased.by_this_request);
    let receipt = erased.receipt;
    assert_eq!(
        receipt.requested_at, erasure.requested_at,
        "the same erasure"
    );
    assert_eq!(receipt.removed.face_ids, ["face-1"]);
    // The first photo and the one uploaded while the erasure ran.
    assert_eq!(receipt.removed.photo_versions, 2);
    assert_eq!(h.rows().await, 0);
    assert_eq!(
        h.people
            .begin_erasure(person.id)
            .await
            .expect("asked again"),
        ErasureBegun::Finished(receipt.clone()),
        "asked again, the same receipt"
    );
    let again = eraser
        .erase(person.id, &registry_testkit::admin_audit())
        .await
        .expect("answered again");
    assert_eq!(
        again,
        Erased {
            receipt,
            by_this_request: false
        },
        "asked again, the receipt of the erasure before: nothing erased twice"
    );

    // A late event whose photo the run still read: nothing comes back.
    h.photos.put_with_etag(OBAMA, SECOND_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-3"));
    let results = h.handle("s3-put-replacement.json").await.expect("refused");
    assert_eq!(results, [IndexingResult::Ignored(Ignored::Erased)]);
    assert_eq!(h.rows().await, 0);
    assert!(h.faces.deleted_faces().contains(&"face-3".to_owned()));

    // A plain file name may be used again by a photo dropped afterwards.
    let mut later = s3_event("s3-put-replacement.json");
    later.records[0].event_time = chrono::Utc::now() + chrono::Duration::minutes(1);
    h.faces.answer(OBAMA, one_face("face-4"));
    let results = h.handle_event(&later).await.expect("enrolled");
    assert!(
        matches!(&results[..], [IndexingResult::Indexed { face_id, .. }] if face_id == "face-4"),
        "{results:?}"
    );
    assert_ne!(h.person(OBAMA).await.expect("someone new").id, person.id);
}

// ---------------------------------------------------------------- duplicates
