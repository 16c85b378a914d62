//! Erasure: the person gone, the receipt kept, and an erased key that
//! records nothing again.

use super::*;

fn receipt(
    person: PersonId,
    requested_at: chrono::DateTime<Utc>,
    faces: &[String],
) -> ErasureReceipt {
    ErasureReceipt {
        person_id: person,
        requested_at,
        completed_at: Utc::now(),
        removed: Removed {
            face_ids: faces.to_vec(),
            photo_versions: 1,
            delete_markers: 0,
            record: true,
        },
        checked: Checked {
            face_ids: faces.len(),
            faces_left: 0,
            photo_versions_left: 0,
            record_left: false,
        },
    }
}

pub async fn an_erased_key_records_nothing<S: PersonStore + AuditTrail>(store: &S) {
    let ada = enrol(store, "Lovelace", "Ada").await;
    let key = ada.object_key.clone();
    recorded(
        store
            .record_indexing(&indexed(&key, "01", "face-1"), &registry_audit())
            .await
            .unwrap(),
    );
    let ErasureBegun::Started(erasure) = store.begin_erasure(ada.id).await.unwrap() else {
        panic!("the erasure starts");
    };
    // While it runs, and after it is finished, nothing is recorded for the key.
    let during = store
        .record_indexing(&indexed(&key, "02", "face-2"), &registry_audit())
        .await
        .unwrap();
    assert_eq!(during, RecordOutcome::Erased);
    store
        .finish_erasure(
            &erasure,
            &receipt(ada.id, erasure.requested_at, &erasure.face_ids),
            &admin_audit(),
        )
        .await
        .unwrap();
    let mut later = indexed(&key, "03", "face-3");
    later.object_created_at = Utc::now() + Duration::hours(1);
    let after = store
        .record_indexing(&later, &registry_audit())
        .await
        .unwrap();
    assert_eq!(
        after,
        RecordOutcome::Erased,
        "a key with a token was one person's only"
    );
    assert_eq!(store.find_by_key(&key).await.unwrap(), None);
}

pub async fn a_plain_key_is_used_again_after_its_erasure<S: PersonStore + AuditTrail>(store: &S) {
    let key = "lovelace_ada.jpg";
    let (ada, _) = recorded(
        store
            .record_indexing(&indexed(key, "01", "face-1"), &registry_audit())
            .await
            .unwrap(),
    );
    let ErasureBegun::Started(erasure) = store.begin_erasure(ada.id).await.unwrap() else {
        panic!("the erasure starts");
    };
    let receipt = receipt(ada.id, erasure.requested_at, &erasure.face_ids);
    store
        .finish_erasure(&erasure, &receipt, &admin_audit())
        .await
        .unwrap();
    // An event for the erased photo, late: still refused.
    let mut late = indexed(key, "02", "face-2");
    late.object_created_at = receipt.completed_at - Duration::seconds(5);
    assert_eq!(
        store
            .record_indexing(&late, &registry_audit())
            .await
            .unwrap(),
        RecordOutcome::Erased
    );
    // A photo dropped under the same name after the erasure enrols someone new.
    let mut dropped = indexed(key, "03", "face-3");
    dropped.object_created_at = receipt.completed_at + Duration::seconds(5);
    let (newcomer, retired) = recorded(
        store
            .record_indexing(&dropped, &registry_audit())
            .await
            .unwrap(),
    );
    assert_ne!(newcomer.id, ada.id);
    assert_eq!(retired, None);
    assert_eq!(store.faces_ever(newcomer.id).await.unwrap(), ["face-3"]);
}

pub async fn erasure_removes_the_person_and_keeps_the_receipt<S: PersonStore + AuditTrail>(
    store: &S,
) {
    assert_eq!(
        store.begin_erasure(PersonId(4242)).await.unwrap(),
        ErasureBegun::NoSuchPerson
    );
    let ada = enrol(store, "Lovelace", "Ada").await;
    let grace = enrol(store, "Hopper", "Grace").await;
    let key = ada.object_key.clone();
    recorded(
        store
            .record_indexing(&indexed(&key, "01", "face-1"), &registry_audit())
            .await
            .unwrap(),
    );
    recorded(
        store
            .record_indexing(&indexed(&key, "02", "face-2"), &registry_audit())
            .await
            .unwrap(),
    );
    let mut flagged = indexed(&grace.object_key, "01", "face-g");
    flagged.possible_duplicate = Some(PossibleDuplicate {
        person_id: ada.id,
        similarity: 91.0,
    });
    recorded(
        store
            .record_indexing(&flagged, &registry_audit())
            .await
            .unwrap(),
    );

    let ErasureBegun::Started(erasure) = store.begin_erasure(ada.id).await.unwrap() else {
        panic!("the erasure starts");
    };
    assert_eq!(erasure.person_id, ada.id);
    assert_eq!(erasure.object_key, key);
    assert_eq!(
        erasure.face_ids,
        ["face-1", "face-2"],
        "every face ever, oldest first"
    );
    let ErasureBegun::Started(again) = store.begin_erasure(ada.id).await.unwrap() else {
        panic!("asked again, it is still to be carried out");
    };
    assert_eq!(again, erasure, "asking again changes nothing");

    let receipt = receipt(ada.id, erasure.requested_at, &erasure.face_ids);
    store
        .finish_erasure(&erasure, &receipt, &admin_audit())
        .await
        .unwrap();
    assert_eq!(store.get(ada.id).await.unwrap(), None);
    assert_eq!(store.find_by_key(&key).await.unwrap(), None);
    assert!(store.faces_ever(ada.id).await.unwrap().is_empty());
    assert!(
        !store
            .retired_faces(10)
            .await
            .unwrap()
            .contains(&"face-1".to_owned()),
        "the erasure deleted the retired face"
    );
    let grace_now = store.get(grace.id).await.unwrap().unwrap();
    assert_eq!(
        grace_now.possible_duplicate, None,
        "nobody stays flagged against a person who is gone"
    );
    assert_eq!(
        store.begin_erasure(ada.id).await.unwrap(),
        ErasureBegun::Finished(receipt.clone())
    );
    assert_eq!(
        erasures_in_trail(store, ada.id).await,
        [serde_json::to_value(&receipt).unwrap()]
    );
}

pub async fn two_finishers_of_one_erasure_keep_one_receipt<S: PersonStore + AuditTrail>(store: &S) {
    let ada = enrol(store, "Lovelace", "Ada").await;
    let ErasureBegun::Started(erasure) = store.begin_erasure(ada.id).await.unwrap() else {
        panic!("the erasure starts");
    };
    // The request that began it and reconcile, say, finish it at once.
    let first = receipt(ada.id, erasure.requested_at, &erasure.face_ids);
    let mut second = first.clone();
    second.completed_at = first.completed_at + Duration::seconds(1);
    let audit = admin_audit();
    let (a, b) = tokio::join!(
        store.finish_erasure(&erasure, &first, &audit),
        store.finish_erasure(&erasure, &second, &audit),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let kept = match (&a, &b) {
        (ErasureFinished::Recorded, ErasureFinished::Before(kept)) => {
            assert_eq!(
                kept, &first,
                "the second finisher is answered the first's receipt"
            );
            first.clone()
        }
        (ErasureFinished::Before(kept), ErasureFinished::Recorded) => {
            assert_eq!(
                kept, &second,
                "the first finisher is answered the second's receipt"
            );
            second.clone()
        }
        _ => panic!("exactly one receipt is recorded: {a:?}, {b:?}"),
    };
    assert_eq!(
        store.begin_erasure(ada.id).await.unwrap(),
        ErasureBegun::Finished(kept.clone())
    );
    assert_eq!(
        erasures_in_trail(store, ada.id).await,
        [serde_json::to_value(&kept).unwrap()],
        "one erasure in the trail"
    );
    // Finished long after, it is the same answer.
    assert_eq!(
        store
            .finish_erasure(&erasure, &first, &audit)
            .await
            .unwrap(),
        ErasureFinished::Before(kept)
    );
}
