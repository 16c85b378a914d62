//! What an indexing run records: one face indexed for the person the key
//! names, or a rejection with a reason a person can read (no face, several,
//! too poor, a bad file, an unconventional key).

use super::*;

#[tokio::test]
async fn one_face_is_indexed_for_the_person_named_by_the_key() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));

    let results = h.handle("s3-put.json").await.expect("indexed");

    let person = h
        .person(OBAMA)
        .await
        .expect("a person created from the key");
    assert_eq!(
        results,
        [IndexingResult::Indexed {
            person: person.id,
            face_id: "face-1".into()
        }]
    );
    assert_eq!(
        (person.lastname.as_str(), person.firstname.as_str()),
        ("Obama", "Barack")
    );
    assert_eq!(person.status, Status::Indexed);
    assert_eq!(person.status_reason, None);
    assert_eq!(person.identity.as_deref(), Some("face-1"));
    assert_eq!(person.face_confidence, Some(99.9));
    assert_eq!(
        person.face_box,
        Some(FaceBox {
            left: 0.3,
            top: 0.2,
            width: 0.4,
            height: 0.5
        })
    );
    assert_eq!(
        person.object_sequencer.as_deref(),
        Some("0067A3F2C1B0D4E501")
    );
    assert_eq!(
        person.object_etag.as_deref(),
        Some(format!("\"{FIRST_ETAG}\"").as_str())
    );
    assert_eq!(h.faces.index_calls(), [OBAMA]);
    assert!(h.faces.deletions().is_empty());
}

#[tokio::test]
async fn an_uploaded_person_keeps_the_names_as_typed() {
    let h = Harness::new().await;
    h.people
        .create_pending(
            &registry::ports::NewPerson {
                lastname: "Obama".into(),
                firstname: "Barack Hussein".into(),
                object_key: OBAMA.into(),
            },
            &registry_testkit::admin_audit(),
        )
        .await
        .expect("upload");
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));

    h.handle("s3-put.json").await.expect("indexed");

    let person = h.person(OBAMA).await.expect("person");
    assert_eq!(person.firstname, "Barack Hussein");
    assert_eq!(person.status, Status::Indexed);
    assert_eq!(h.rows().await, 1);
}

#[tokio::test]
async fn faces_the_registry_cannot_use_are_rejected_with_readable_reasons() {
    let cases = [
        (Ok(faces(&[], &[])), "No face was found in the photo."),
        (
            Ok(faces(&["face-a", "face-b"], &[])),
            "The photo shows several faces; it must show exactly one.",
        ),
        (
            Ok(faces(&[], &[&["LOW_SHARPNESS", "SMALL_BOUNDING_BOX"]])),
            "The face is not clear enough to index: the photo is blurred, the face is too small.",
        ),
        (
            Ok(IndexAnswer::InvalidImage {
                message: "Request has invalid image format".into(),
            }),
            "The photo could not be read as an image: Request has invalid image format.",
        ),
    ];
    for (answer, reason) in cases {
        let h = Harness::new().await;
        h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
        h.faces.answer(OBAMA, answer);

        let results = h.handle("s3-put.json").await.expect("recorded");

        assert_eq!(rejection(&results), reason);
        let person = h.person(OBAMA).await.expect("person");
        assert_eq!(person.status, Status::Rejected);
        assert_eq!(person.status_reason.as_deref(), Some(reason));
        assert_eq!(person.identity, None);
        assert_eq!(
            person.object_sequencer.as_deref(),
            Some("0067A3F2C1B0D4E501")
        );
    }
}

#[tokio::test]
async fn the_faces_of_a_photo_with_several_are_deleted_from_the_collection() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, Ok(faces(&["face-a", "face-b"], &[])));

    h.handle("s3-put.json").await.expect("recorded");

    assert_eq!(h.faces.deleted_faces(), ["face-a", "face-b"]);
    assert!(h.retired().await.is_empty());
}

#[tokio::test]
async fn the_faces_of_a_photo_with_several_are_deleted_even_when_the_first_deletion_fails() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, Ok(faces(&["face-a", "face-b"], &[])));
    h.faces.fail_next_deletions(1);

    h.handle("s3-put.json")
        .await
        .expect_err("the deletion failed");
    let person = h.person(OBAMA).await.expect("the rejection is recorded");
    assert_eq!(person.status, Status::Rejected);
    assert_eq!(h.retired().await.len(), 2, "set aside, not lost");

    // Lambda's retry is a replay, which finishes the deletion.
    let results = h.handle("s3-put.json").await.expect("the retry");
    assert_eq!(results, [IndexingResult::Ignored(Ignored::Stale)]);
    let mut deleted = h.faces.deleted_faces();
    deleted.sort();
    assert_eq!(deleted, ["face-a", "face-b"]);
    assert!(h.retired().await.is_empty());
    assert_eq!(h.faces.index_calls(), [OBAMA], "not indexed again");
}

#[tokio::test]
async fn a_new_face_left_unrecorded_is_set_aside_when_it_cannot_be_deleted() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    // The index goes away after storing the face: the duplicate guard's
    // search fails, and so does the deletion of the face.
    h.faces.similar(
        "face-1",
        Err(PortError::Transient(
            "Rekognition: ServiceUnavailable".into(),
        )),
    );
    h.faces.fail_next_deletions(1);

    h.handle("s3-put.json")
        .await
        .expect_err("the search failed: retried");
    assert_eq!(h.person(OBAMA).await, None, "nothing recorded");
    assert_eq!(h.retired().await, ["face-1"], "set aside, not orphaned");

    // The retry indexes the photo anew; the next sweep deletes the first face.
    h.faces.answer(OBAMA, one_face("face-2"));
    let results = h.handle("s3-put.json").await.expect("the retry");
    assert!(
        matches!(&results[..], [IndexingResult::Indexed { face_id, .. }] if face_id == "face-2")
    );
    let swept = registry::indexing::sweep_retired_faces(&h.people, &h.faces)
        .await
        .expect("the sweep");
    assert_eq!(swept, 1);
    assert_eq!(h.faces.deleted_faces(), ["face-1"]);
    assert!(h.retired().await.is_empty());
}

#[tokio::test]
async fn bad_files_are_rejected_with_a_reason_without_calling_the_index() {
    let mut truncated = jpeg();
    truncated.truncate(truncated.len() / 2);
    let cases = [
        (Vec::new(), "The photo cannot be used: the file is empty."),
        (
            b"<!doctype html><title>not a photo</title>".to_vec(),
            "The photo cannot be used: the file is not a JPEG or PNG image.",
        ),
        (
            truncated,
            "The photo cannot be used: the JPEG file is truncated.",
        ),
        (
            png(),
            "The photo cannot be used: the file is a PNG image but its name says JPEG.",
        ),
    ];
    for (bytes, reason) in cases {
        let h = Harness::new().await;
        h.photos.put_with_etag(OBAMA, FIRST_ETAG, bytes);

        let results = h
            .handle("s3-put.json")
            .await
            .expect("recorded, not retried");

        assert_eq!(rejection(&results), reason);
        let person = h.person(OBAMA).await.expect("person");
        assert_eq!(person.status, Status::Rejected);
        assert_eq!(person.status_reason.as_deref(), Some(reason));
        assert!(h.faces.index_calls().is_empty());
    }
}

#[tokio::test]
async fn unconventional_keys_are_decoded_and_rejected_with_a_reason() {
    let cases = [
        ("s3-put-accented-key.json", "garcía_josé.jpg"),
        ("s3-put-plus-key.json", "barack obama 2024.jpg"),
    ];
    for (event, key) in cases {
        let h = Harness::new().await;
        h.photos.put_with_etag(key, "etag", jpeg());

        let results = h.handle(event).await.expect("recorded, not retried");

        assert_eq!(
            rejection(&results),
            format!(
                "The file name is not usable: object key {key:?} does not follow \
                 lastname_firstname.jpg or lastname_firstname.png."
            )
        );
        let person = h.person(key).await.expect("recorded under the decoded key");
        assert_eq!(person.status, Status::Rejected);
        assert!(h.faces.index_calls().is_empty());
    }
}

/// A long file name that follows no convention: its reason quotes it, cut
/// to what the record keeps, rather than failing the record (and sending
/// the photo's own fault to the dead-letter queue).
#[tokio::test]
async fn a_long_unusable_file_name_is_recorded_with_its_reason_cut() {
    let h = Harness::new().await;
    let key = format!("{}.jpg", "holiday ".repeat(60).trim_end());
    let mut event = registry_testkit::events::event_json("s3-put.json");
    event["Records"][0]["s3"]["object"]["key"] = serde_json::json!(key.replace(' ', "+"));
    let event: registry_api::indexer::S3Event = serde_json::from_value(event).unwrap();
    let report = h
        .indexer
        .handle(&event, "indexer-request")
        .await
        .expect("recorded");
    assert_eq!(report.results.len(), 1);
    let person = h
        .person(&key)
        .await
        .expect("recorded under the decoded key");
    assert_eq!(person.status, Status::Rejected);
    let reason = person.status_reason.expect("a reason");
    assert_eq!(reason.chars().count(), registry::indexing::MAX_REASON_CHARS);
    assert!(
        reason.starts_with("The file name is not usable") && reason.ends_with('…'),
        "{reason}"
    );
}
