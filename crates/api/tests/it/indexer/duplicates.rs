//! A new face like another person's: flagged until an admin resolves it.

use super::*;

fn like(face_id: &str, similarity: f32) -> FaceMatch {
    FaceMatch {
        face_id: face_id.into(),
        similarity,
    }
}

#[tokio::test]
async fn a_face_like_another_persons_is_flagged_until_resolved() {
    let h = Harness::new().await;
    const MICHELLE: &str = "obama_michelle.png";
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    h.handle("s3-put.json").await.expect("the first");
    let first = h.person(OBAMA).await.expect("first");
    assert_eq!(first.possible_duplicate, None);

    // The batch's second photo shows a face like the first one's.
    h.photos
        .put_with_etag("biden_joe.jpg", "0cc175b9c0f1b6a831c399e269772661", jpeg());
    h.photos
        .put_with_etag(MICHELLE, "92eb5ffee6ae2fec3ad71c777531578f", png());
    h.photos.put_with_etag(
        "garcia-marquez_gabriel-jose.jpg",
        "4a8a08f09d37b73795649038408b5f33",
        jpeg(),
    );
    h.faces.answer("biden_joe.jpg", one_face("face-biden"));
    h.faces.answer(MICHELLE, one_face("face-2"));
    h.faces
        .answer("garcia-marquez_gabriel-jose.jpg", one_face("face-gabo"));
    h.faces.similar(
        "face-2",
        Ok(vec![like("face-1", 96.5), like("face-x", 99.0)]),
    );
    h.handle("s3-put-batch.json").await.expect("the batch");
    let second = h.person(MICHELLE).await.expect("second");
    assert_eq!(
        second.possible_duplicate,
        Some(PossibleDuplicate {
            person_id: first.id,
            similarity: 96.5
        })
    );
    assert_eq!(
        h.person("biden_joe.jpg").await.unwrap().possible_duplicate,
        None
    );

    // "Different people": cleared, and the pair is remembered.
    let resolved = h
        .people
        .resolve_duplicate(
            second.id,
            Resolution::Different,
            &registry_testkit::admin_audit(),
        )
        .await
        .expect("resolved");
    assert!(matches!(resolved, Resolved::Cleared { other, .. } if other == first.id));
    assert_eq!(
        h.people
            .resolve_duplicate(
                second.id,
                Resolution::Same,
                &registry_testkit::admin_audit()
            )
            .await
            .expect("asked again"),
        Resolved::NotFlagged
    );
    assert_eq!(
        h.people.ruled_out_duplicates(first.id).await.unwrap(),
        [second.id]
    );

    // The first one's new photo is like the second's face: not flagged again.
    h.photos.put_with_etag(OBAMA, SECOND_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-3"));
    h.faces.similar("face-3", Ok(vec![like("face-2", 97.0)]));
    h.handle("s3-put-replacement.json").await.expect("replaced");
    assert_eq!(h.person(OBAMA).await.unwrap().possible_duplicate, None);
}

#[tokio::test]
async fn a_failed_duplicate_search_records_nothing_and_keeps_no_face() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    h.faces.similar(
        "face-1",
        Err(PortError::Transient(
            "Rekognition: ThrottlingException".into(),
        )),
    );
    let error = h.handle("s3-put.json").await.expect_err("retried");
    assert!(matches!(error, IndexerError::Retry { .. }));
    assert_eq!(h.person(OBAMA).await, None);
    assert_eq!(h.faces.deleted_faces(), ["face-1"]);
}

// ---------------------------------------------------------------- metadata
