//! A corrected name: the photo moves to a key of the new name, its face is
//! indexed anew under that key, and no key, face or read keeps the old name.

use serde_json::json;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrected_name_leaves_the_old_one_in_no_key_face_or_read() {
    let harness = Harness::start().await;
    let admin = harness.token("admins").await;
    let (ticket, before) = enrol_obama(&harness, &admin).await;
    let id = ticket["personId"].clone();
    let path = format!("/api/faces/{id}");
    let old_key = before["key"].as_str().unwrap().to_owned();
    let old_face = before["identity"].clone();

    let request = harness
        .http
        .patch(harness.url(&path))
        .bearer_auth(&admin)
        .json(&json!({"lastname": "Dunham"}));
    let (status, renamed) = Harness::answer(request).await;
    assert_eq!(status, 200, "{renamed}");
    let new_key = renamed["key"].as_str().unwrap().to_owned();
    assert!(new_key.ends_with(".dunham_barack.jpg"), "{new_key}");

    // Indexed anew under the new key; the old face leaves the collection.
    let after = harness
        .wait_for(&admin, &id, INDEXING_WITHIN, |p| {
            p["status"] == "indexed" && p["identity"] != old_face
        })
        .await;
    let new_face = after["identity"].as_str().unwrap().to_owned();
    let started = std::time::Instant::now();
    while harness.face_ids().await != [new_face.clone()] {
        assert!(started.elapsed() < INDEXING_WITHIN, "the old face stays");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let faces = harness
        .rekognition()
        .await
        .list_faces()
        .collection_id(harness.collection())
        .send()
        .await
        .unwrap();
    assert_eq!(faces.faces()[0].external_image_id(), Some(new_key.as_str()));
    // No version of the old key is left; the photo is served from the new.
    let versions = harness.photo_versions(&old_key).await.unwrap();
    assert!(
        versions.versions().is_empty() && versions.delete_markers().is_empty(),
        "{versions:?}"
    );
    let photo = harness
        .http
        .get(after["photoUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(photo.status(), 200);

    // Nothing read shows the old name: the listing, the person, the
    // export and the trail (which says a rename happened, and no name).
    let (_, listing) = harness.get("/api/faces", Some(&admin)).await;
    let (_, person) = harness.get(&path, Some(&admin)).await;
    let export = harness
        .http
        .post(harness.url(&format!("{path}/export")))
        .bearer_auth(&admin);
    let (status, export) = Harness::answer(export).await;
    assert_eq!(status, 200, "{export}");
    for read in [&listing, &person, &export] {
        assert!(!read.to_string().to_lowercase().contains("obama"), "{read}");
    }
    let (_, trail) = harness
        .get(
            &format!("/api/audit?person={id}&action=rename"),
            Some(&admin),
        )
        .await;
    assert_eq!(
        trail["items"][0]["detail"],
        json!({"fields": ["lastname"], "newKey": true}),
        "{trail}"
    );
    assert!(
        !trail.to_string().to_lowercase().contains("dunham"),
        "{trail}"
    );

    // Erased, the new key goes as the old one went.
    let (status, receipt) = erase(&harness, &admin, &path).await;
    assert_eq!(status, 200, "{receipt}");
    let versions = harness.photo_versions(&new_key).await.unwrap();
    assert!(versions.versions().is_empty(), "{versions:?}");
    assert!(harness.face_ids().await.is_empty());
    harness.stop().await;
}
