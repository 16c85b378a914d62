//! Reconcile against the whole local stack: drift made on purpose in the
//! table, the collection and the bucket, each repaired, and nothing else
//! touched; then runs that find nothing change nothing.

use crate::common;

use std::time::Duration;

use common::{Harness, test_image};
use registry::erasure::key_digest;
use serde_json::{Value, json};

const WITHIN: Duration = Duration::from_secs(30);

async fn enrol_indexed(harness: &Harness, token: &str, lastname: &str, photo: &str) -> Value {
    let ticket = harness
        .enrol(token, lastname, "Test", &test_image(photo), "image/jpeg")
        .await;
    let person = harness.settle(token, &ticket["personId"], WITHIN).await;
    assert_eq!(person["status"], "indexed", "{person}");
    person
}

/// Every current face the table records, sorted.
async fn identities(database: &sqlx::MySqlPool) -> Vec<String> {
    let mut identities: Vec<String> =
        sqlx::query_scalar("SELECT identity FROM person WHERE identity IS NOT NULL")
            .fetch_all(database)
            .await
            .expect("identities");
    identities.sort();
    identities
}

async fn reconcile(harness: &Harness) -> Value {
    harness
        .reconcile()
        .await
        .unwrap_or_else(|error| panic!("reconcile failed: {error}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reconcile_repairs_drift_in_the_table_the_collection_and_the_bucket() {
    let harness = Harness::start().await;
    let admin = harness.token("admins").await;
    let database = harness.database().await;
    let bucket = harness.bucket();
    let s3 = harness.s3().await;
    let rekognition = harness.rekognition().await;

    // Nothing is out of place in a registry that went by the book.
    let kept = enrol_indexed(&harness, &admin, "Kept", "obama.jpg").await;
    let in_order = reconcile(&harness).await;
    assert_eq!(in_order["orphanFacesFound"], 0, "{in_order}");
    assert_eq!(in_order["unindexedPhotosFound"], 0, "{in_order}");
    assert_eq!(in_order["facesPassComplete"], true, "{in_order}");
    assert_eq!(in_order["photosPassComplete"], true, "{in_order}");

    // The collection: a face nobody records (a run that crashed between
    // IndexFaces and recording it).
    let stray = rekognition
        .index_faces()
        .collection_id(harness.collection())
        .image(
            aws_sdk_rekognition::types::Image::builder()
                .s3_object(
                    aws_sdk_rekognition::types::S3Object::builder()
                        .bucket(&bucket)
                        .name(kept["key"].as_str().expect("a key"))
                        .build(),
                )
                .build(),
        )
        .max_faces(1)
        .send()
        .await
        .expect("IndexFaces")
        .face_records()[0]
        .face()
        .and_then(|f| f.face_id())
        .expect("a stray face")
        .to_owned();

    // The bucket: a person's photo deleted outside the registry.
    let gone = enrol_indexed(&harness, &admin, "Gone", "biden.jpg").await;
    s3.delete_object()
        .bucket(&bucket)
        .key(gone["key"].as_str().expect("a key"))
        .send()
        .await
        .expect("DeleteObject");

    // The table: a row lost (a restore from before it was written); its
    // photo is still in the bucket and its old face in the collection.
    let lost = enrol_indexed(&harness, &admin, "Lost", "obama2.jpg").await;
    let lost_key = lost["key"].as_str().expect("a key").to_owned();
    sqlx::query("DELETE FROM person WHERE id = ?")
        .bind(lost["id"].as_u64())
        .execute(&database)
        .await
        .expect("the row deleted");

    // A person whose upload URL was issued and never used.
    let never = harness
        .request_upload(&admin, "Never", "Test", 1000, "image/jpeg")
        .await;

    // An erasure asked for, and interrupted before anything was removed.
    let interrupted = enrol_indexed(&harness, &admin, "Interrupted", "obama3.jpg").await;
    sqlx::query("INSERT INTO erasure (person_id, key_digest) VALUES (?, ?)")
        .bind(interrupted["id"].as_u64())
        .bind(key_digest(interrupted["key"].as_str().expect("a key")).as_slice())
        .execute(&database)
        .await
        .expect("the erasure recorded");

    // Within the grace period, what is out of place is noted, and nothing
    // is done.
    let early = reconcile(&harness).await;
    // The stray face and the lost row's face; the lost row's photo.
    assert_eq!(early["orphanFacesFound"], 2, "{early}");
    assert_eq!(early["unindexedPhotosFound"], 1, "{early}");
    for count in [
        "orphanFacesDeleted",
        "photosRedriven",
        "pendingExpired",
        "photosGone",
        "erasuresFinished",
    ] {
        assert_eq!(early[count], 0, "{count}: {early}");
    }
    assert!(harness.face_ids().await.contains(&stray));

    // Once it has passed, each is repaired.
    harness.let_reconcile_grace_pass().await;
    let repaired = reconcile(&harness).await;
    assert_eq!(repaired["unfinishedErasuresFound"], 1, "{repaired}");
    assert_eq!(repaired["erasuresFinished"], 1, "{repaired}");
    assert_eq!(repaired["pendingExpired"], 1, "{repaired}");
    assert_eq!(repaired["photosGone"], 1, "{repaired}");
    assert_eq!(repaired["orphanFacesDeleted"], 2, "{repaired}");
    assert_eq!(repaired["photosRedriven"], 1, "{repaired}");
    assert!(!harness.face_ids().await.contains(&stray));

    let (_, never_now) = harness
        .get(&format!("/api/faces/{}", never["personId"]), Some(&admin))
        .await;
    assert_eq!(never_now["status"], "rejected", "{never_now}");
    assert_eq!(
        never_now["statusReason"],
        registry::reconcile::NO_PHOTO_ARRIVED
    );
    let (_, gone_now) = harness
        .get(&format!("/api/faces/{}", gone["id"]), Some(&admin))
        .await;
    assert_eq!(gone_now["status"], "rejected", "{gone_now}");
    assert_eq!(gone_now["statusReason"], registry::reconcile::PHOTO_GONE);
    assert_eq!(gone_now["identity"], Value::Null, "{gone_now}");
    let (status, _) = harness
        .get(&format!("/api/faces/{}", interrupted["id"]), Some(&admin))
        .await;
    assert_eq!(status, 404, "the interrupted erasure is finished");
    let left = harness
        .photo_versions(interrupted["key"].as_str().expect("a key"))
        .await
        .expect("ListObjectVersions");
    assert!(left.versions().is_empty() && left.delete_markers().is_empty());

    // The lost row's photo, written again, is indexed again: the row is back.
    let started = std::time::Instant::now();
    let restored = loop {
        let (_, list) = harness.get("/api/faces?q=lost", Some(&admin)).await;
        if let Some(person) = list["items"]
            .as_array()
            .and_then(|items| items.iter().find(|p| p["key"] == lost_key.as_str()))
            && person["status"] == "indexed"
        {
            break person.clone();
        }
        assert!(
            started.elapsed() < WITHIN,
            "the lost row is not back: {list}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(restored["identity"], lost["identity"]);

    // Every face is someone's, and every run from now on finds nothing.
    let identities = identities(&database).await;
    harness.let_reconcile_grace_pass().await;
    let settled = reconcile(&harness).await;
    assert_eq!(harness.face_ids().await, identities, "{settled}");
    for _ in 0..2 {
        let again = reconcile(&harness).await;
        for count in [
            "orphanFacesFound",
            "unindexedPhotosFound",
            "unfinishedErasuresFound",
            "pendingExpired",
            "photosGone",
            "erasedPhotoVersionsDeleted",
        ] {
            assert_eq!(again[count], 0, "{count}: {again}");
        }
    }
    assert_eq!(harness.face_ids().await, identities);

    // What reconcile changed about people is in the audit trail, by id.
    let (_, trail) = harness
        .get("/api/audit?action=reconcile", Some(&admin))
        .await;
    let people: Vec<&Value> = trail["items"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| &entry["personId"])
        .collect();
    assert!(people.contains(&&never["personId"]) && people.contains(&&gone["id"]));
    database.close().await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_collection_is_rebuilt_from_the_bucket_and_the_table() {
    let harness = Harness::start().await;
    let admin = harness.token("admins").await;
    let first = enrol_indexed(&harness, &admin, "First", "obama.jpg").await;
    let second = enrol_indexed(&harness, &admin, "Second", "biden.jpg").await;

    // The collection loses every face.
    harness
        .rekognition()
        .await
        .delete_faces()
        .collection_id(harness.collection())
        .set_face_ids(Some(harness.face_ids().await))
        .send()
        .await
        .expect("DeleteFaces");
    assert!(harness.face_ids().await.is_empty());

    let reconcile_fn = harness
        .runtime
        .lambda()
        .function("ReconcileFunction")
        .expect("the reconcile function");
    let refused = reconcile_fn
        .invoke(json!({"rebuild": true}))
        .await
        .expect_err("an unknown request is refused");
    assert!(refused.message.contains("rebuild"), "{refused}");
    let report = reconcile_fn
        .invoke(json!({"rebuildCollection": true}))
        .await
        .expect("the rebuild");
    assert_eq!(report["photosRedriven"], 2, "{report}");
    assert_eq!(report["complete"], true, "{report}");

    // Each photo is indexed again: a new face, in the collection.
    for person in [&first, &second] {
        harness
            .wait_for(&admin, &person["id"], WITHIN, |now| {
                now["status"] == "indexed" && now["identity"] != person["identity"]
            })
            .await;
    }
    let database = harness.database().await;
    let identities = identities(&database).await;
    assert_eq!(identities.len(), 2);
    assert_eq!(harness.face_ids().await, identities);
    let after = reconcile(&harness).await;
    assert_eq!(after["orphanFacesFound"], 0, "{after}");
    assert_eq!(after["unindexedPhotosFound"], 0, "{after}");
    database.close().await;
    harness.stop().await;
}
