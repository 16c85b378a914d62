//! A corrected name moves the photo to a key of the new names; a move cut
//! short is finished by the next correction.

use chrono::Utc;
use registry::audit::{Actor, AuditContext};
use registry::person::{Person, PersonId, Status};
use registry::ports::{IndexingRecord, NewPerson, PersonStore, PhotoStore};
use registry::upload::{Rename, UploadError, rename};
use registry_testkit::{InMemoryBucket, InMemoryPersonStore, admin_audit};

const KEY: &str = "0123456789abcdef0123456789abcdef.obama_barack.jpg";

/// Barack Obama, pending: his photo is on its way.
async fn pending() -> (InMemoryPersonStore, InMemoryBucket, Person) {
    let people = InMemoryPersonStore::new();
    let person = people
        .create_pending(
            &NewPerson {
                lastname: "Obama".into(),
                firstname: "Barack".into(),
                object_key: KEY.into(),
            },
            &admin_audit(),
        )
        .await
        .unwrap();
    (people, InMemoryBucket::default(), person)
}

/// Barack Obama, indexed, his photo in the bucket.
async fn enrolled() -> (InMemoryPersonStore, InMemoryBucket, PersonId) {
    let (people, bucket, person) = pending().await;
    bucket.put(KEY, b"photo", Utc::now());
    let record = IndexingRecord {
        object_key: KEY.into(),
        lastname: "Obama".into(),
        firstname: "Barack".into(),
        status: Status::Indexed,
        status_reason: None,
        identity: Some("face-1".into()),
        object_etag: Some("\"5d41402abc4b2a76b9719d911017c592\"".into()),
        photo_sha256: None,
        object_sequencer: "0067A3F2C1B0D4E501".into(),
        object_created_at: Utc::now(),
        face_confidence: Some(99.5),
        face_box: None,
        possible_duplicate: None,
        discarded_faces: Vec::new(),
    };
    people
        .record_indexing(
            &record,
            &AuditContext {
                actor: Actor::registry(),
                request_id: "event".into(),
            },
        )
        .await
        .unwrap();
    (people, bucket, person.id)
}

fn lastname(name: &str) -> Rename {
    Rename {
        lastname: Some(name.into()),
        firstname: None,
    }
}

#[tokio::test]
async fn the_photo_moves_to_a_key_of_the_new_name_and_the_old_key_is_emptied() {
    let (people, bucket, id) = enrolled().await;
    let renamed = rename(&people, &bucket, id, &lastname("Dunham"), &admin_audit())
        .await
        .unwrap();
    assert!(
        renamed.object_key.ends_with(".dunham_barack.jpg"),
        "{}",
        renamed.object_key
    );
    assert_eq!(
        bucket
            .read(&renamed.object_key, None)
            .await
            .unwrap()
            .as_deref(),
        Some(&b"photo"[..])
    );
    assert!(bucket.versions(KEY).await.unwrap().is_empty());
    assert_eq!(people.unfinished_move(id).await.unwrap(), None);

    // A correction the key spells changes the names only.
    let again = rename(&people, &bucket, id, &lastname("DUNHAM"), &admin_audit())
        .await
        .unwrap();
    assert_eq!(
        (again.lastname.as_str(), again.object_key.as_str()),
        ("DUNHAM", renamed.object_key.as_str())
    );
}

#[tokio::test]
async fn a_move_cut_short_is_finished_by_the_next_correction() {
    let (people, bucket, id) = enrolled().await;
    // The record was moved, then the function stopped before the copy.
    let to = "fedcba9876543210fedcba9876543210.dunham_barack.jpg";
    people
        .rename_with_key(id, Some("Dunham"), None, to, &admin_audit())
        .await
        .unwrap();
    let finished = rename(&people, &bucket, id, &lastname("Dunham"), &admin_audit())
        .await
        .unwrap();
    assert_eq!(finished.object_key, to);
    assert_eq!(
        bucket.read(to, None).await.unwrap().as_deref(),
        Some(&b"photo"[..])
    );
    assert!(bucket.versions(KEY).await.unwrap().is_empty());
    assert_eq!(people.unfinished_move(id).await.unwrap(), None);
}

#[tokio::test]
async fn a_person_whose_photo_is_on_its_way_keeps_the_key_until_it_arrives() {
    let (people, bucket, person) = pending().await;
    let refused = rename(
        &people,
        &bucket,
        person.id,
        &lastname("Dunham"),
        &admin_audit(),
    )
    .await;
    assert_eq!(refused, Err(UploadError::PhotoOnItsWay(person.id)));
    assert_eq!(
        people.get(person.id).await.unwrap().unwrap().lastname,
        "Obama"
    );
}
