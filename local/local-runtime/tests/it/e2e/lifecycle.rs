//! One person's whole life in the registry, step by step: enrolment,
//! identification, replayed events, a namesake, a replaced photo, a
//! corrected name, the right of access, erasure, and what comes after it.

use serde_json::Value;

use super::*;

/// The first person enrolled: what the steps after the enrolment refer to.
struct Enrolled {
    /// `POST /api/uploads`'s answer.
    ticket: Value,
    key: String,
    /// The person once indexed.
    person: Value,
    face_id: String,
}

impl Enrolled {
    fn path(&self) -> String {
        format!("/api/faces/{}", self.ticket["personId"])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enrol_namesakes_identify_replay_and_replace() {
    let harness = Harness::start().await;
    let admin = harness.token("admins").await;
    let obama = test_image("obama.jpg");
    let first = enrol_and_serve_the_photo(&harness, &admin, &obama).await;
    identify_the_same_man_and_not_another(&harness, &first).await;
    replays_change_nothing(&harness, &admin, &first).await;
    let namesake_face = a_namesake_is_another_person(&harness, &admin, &first).await;
    let new_face = a_new_photo_replaces_the_face(&harness, &admin, &first, &namesake_face).await;
    let viewer = harness.token("viewers").await;
    let expected = rename_trail_and_export(&harness, &admin, &viewer, &first, &new_face).await;
    let receipt = erase_everything(&harness, &admin, &viewer, &first, &expected).await;
    let last = AfterErasure {
        first: &first,
        namesake_face: &namesake_face,
        receipt: &receipt,
    };
    late_events_and_uploads_bring_nobody_back(&harness, &admin, &last, &obama).await;
    the_trail_keeps_the_erasure(&harness, &admin, &last).await;
    harness.stop().await;
}

/// Enrol obama.jpg through the gateway and the presigned PUT; the presigned
/// photo URL serves the photo as stored.
async fn enrol_and_serve_the_photo(harness: &Harness, admin: &str, obama: &[u8]) -> Enrolled {
    let ticket = harness
        .enrol(admin, "Obama", "Barack", obama, "image/jpeg")
        .await;
    let key = ticket["key"].as_str().expect("a key").to_owned();
    assert!(key.ends_with(".obama_barack.jpg"), "{key}");
    let person = harness
        .settle(admin, &ticket["personId"], INDEXING_WITHIN)
        .await;
    assert_eq!(person["status"], "indexed", "{person}");
    assert_eq!(person["lastname"], "Obama");
    assert_eq!(person["firstname"], "Barack");
    let face_id = person["identity"].as_str().expect("a FaceId").to_owned();
    assert!(
        person["photoUrl"]
            .as_str()
            .is_some_and(|u| u.starts_with(&harness.runtime.s3_endpoint()))
    );

    let photo = harness
        .http
        .get(person["photoUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(photo.status(), 200);
    // The photo as stored: without the metadata obama.jpg carries.
    let stored = strip_metadata(PhotoFormat::Jpeg, obama)
        .unwrap()
        .expect("obama.jpg carries metadata");
    assert_eq!(photo.bytes().await.unwrap().as_ref(), &stored[..]);
    Enrolled {
        ticket,
        key,
        person,
        face_id,
    }
}

/// Another photo of the same man matches; another man does not.
async fn identify_the_same_man_and_not_another(harness: &Harness, first: &Enrolled) {
    let face_id = &first.face_id;
    let matches = search(harness, &test_image("obama2.jpg"), 80.0).await;
    let similarity = matches
        .iter()
        .find(|(id, _)| id == face_id)
        .map(|(_, s)| *s)
        .unwrap_or_else(|| panic!("obama2.jpg did not match {face_id}: {matches:?}"));
    assert!(similarity >= 80.0, "similarity {similarity}");
    let biden = search(harness, &test_image("biden.jpg"), 80.0).await;
    assert!(biden.is_empty(), "biden.jpg matched {biden:?}");
}

/// Replaying the recorded S3 events (the upload's, and the one of the
/// photo stored again without metadata) changes nothing, three times over.
async fn replays_change_nothing(harness: &Harness, admin: &str, first: &Enrolled) {
    let events = harness.recorded_events(&first.key);
    assert_eq!(events.len(), 2, "the upload and the photo without metadata");
    let faces_before = harness.face_ids().await;
    assert_eq!(faces_before, vec![first.face_id.clone()]);
    for _ in 0..3 {
        for event in &events {
            harness
                .invoke_indexer(event)
                .await
                .expect("a replay succeeds");
        }
    }
    let (_, after_replays) = harness.get(&first.path(), Some(admin)).await;
    let without_url = |mut p: Value| {
        p.as_object_mut().unwrap().remove("photoUrl");
        p
    };
    assert_eq!(
        without_url(after_replays),
        without_url(first.person.clone())
    );
    assert_eq!(harness.face_ids().await, faces_before);
}

/// A namesake is another person, with a photo and a face of their own:
/// the namesake's FaceId.
async fn a_namesake_is_another_person(harness: &Harness, admin: &str, first: &Enrolled) -> String {
    let namesake = harness
        .enrol(
            admin,
            "Obama",
            "Barack",
            &test_image("biden.jpg"),
            "image/jpeg",
        )
        .await;
    assert_ne!(namesake["personId"], first.ticket["personId"]);
    assert_ne!(namesake["key"], first.ticket["key"]);
    let namesake = harness
        .settle(admin, &namesake["personId"], INDEXING_WITHIN)
        .await;
    assert_eq!(namesake["status"], "indexed", "{namesake}");
    let namesake_face = namesake["identity"].as_str().unwrap().to_owned();
    let (_, person) = harness.get(&first.path(), Some(admin)).await;
    assert_eq!(
        person["identity"],
        first.face_id.as_str(),
        "the first one is untouched"
    );
    let mut both = vec![first.face_id.clone(), namesake_face.clone()];
    both.sort();
    assert_eq!(harness.face_ids().await, both);
    namesake_face
}

/// A new photo of the first one, by id, replaces its face; the old FaceId
/// leaves the collection, the namesake's stays; the first upload's event,
/// older than the recorded one, is then ignored. The new FaceId.
async fn a_new_photo_replaces_the_face(
    harness: &Harness,
    admin: &str,
    first: &Enrolled,
    namesake_face: &str,
) -> String {
    let again = harness
        .replace_photo(
            admin,
            &first.ticket["personId"],
            &test_image("obama2.jpg"),
            "image/jpeg",
        )
        .await;
    assert_eq!(again["key"], first.ticket["key"]);
    let replaced = harness
        .wait_for(admin, &first.ticket["personId"], INDEXING_WITHIN, |p| {
            p["status"] == "indexed" && p["identity"] != first.face_id.as_str()
        })
        .await;
    let new_face = replaced["identity"].as_str().unwrap().to_owned();
    let mut faces = vec![new_face.clone(), namesake_face.to_owned()];
    faces.sort();
    harness.wait_for_faces(&faces, INDEXING_WITHIN).await;

    let events = harness.recorded_events(&first.key);
    let replacement_events = match strip_metadata(PhotoFormat::Jpeg, &test_image("obama2.jpg")) {
        Ok(Some(_)) => 2,
        _ => 1,
    };
    assert_eq!(events.len(), 2 + replacement_events);
    harness
        .invoke_indexer(&events[0])
        .await
        .expect("an old event is handled");
    let (_, current) = harness.get(&first.path(), Some(admin)).await;
    assert_eq!(current["identity"], new_face.as_str());
    assert_eq!(harness.face_ids().await, faces);
    new_face
}

/// An admin corrects the name; the trail lists every change to this person
/// with its caller (the indexer's outcomes as the registry's). The right
/// of access: everything about the person in one document, every face
/// ever recorded included; the export is recorded too, and viewers have
/// neither. Every FaceId the person had, sorted.
async fn rename_trail_and_export(
    harness: &Harness,
    admin: &str,
    viewer: &str,
    first: &Enrolled,
    new_face: &str,
) -> Vec<String> {
    let renamed = harness
        .http
        .patch(harness.url(&first.path()))
        .bearer_auth(admin)
        .json(&serde_json::json!({"firstname": "BARACK"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    let (status, trail) = harness
        .get(
            &format!("/api/audit?person={}", first.ticket["personId"]),
            Some(admin),
        )
        .await;
    assert_eq!(status, 200, "{trail}");
    // Every look at the person is there too (the polls of this test), by
    // the admin who looked.
    let (views, entries): (Vec<&Value>, Vec<&Value>) = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .partition(|e| e["action"] == "view");
    assert!(!views.is_empty(), "{trail}");
    assert!(
        views
            .iter()
            .all(|v| v["caller"]["groups"] == serde_json::json!(["admins"]))
    );
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "rename",
            "indexing",
            "photo_replacement",
            "indexing",
            "enrolment"
        ],
        "{trail}"
    );
    let callers: Vec<&Value> = entries.iter().map(|e| &e["caller"]["groups"]).collect();
    assert_eq!(callers[0], &serde_json::json!(["admins"]));
    assert_eq!(
        entries[1]["caller"]["subject"],
        Value::Null,
        "the indexer is the registry"
    );
    assert_eq!(entries[1]["detail"]["faceId"], new_face);
    assert!(
        !trail.to_string().to_lowercase().contains("obama"),
        "no names: {trail}"
    );

    let export_path = format!("{}/export", first.path());
    let request = harness
        .http
        .post(harness.url(&export_path))
        .bearer_auth(admin);
    let (status, export) = Harness::answer(request).await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["person"]["firstname"], "BARACK");
    assert_eq!(
        export["person"]["key"],
        first.key.as_str(),
        "the key spells BARACK too"
    );
    assert!(export["person"]["photoUrl"].is_string());
    let mut ever: Vec<&str> = export["faceIds"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    ever.sort_unstable();
    let mut expected = vec![first.face_id.clone(), new_face.to_owned()];
    expected.sort_unstable();
    assert_eq!(ever, expected);
    assert_eq!(export["audit"][0]["action"], "export", "{export}");
    let changes = export["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] != "view")
        .count();
    assert_eq!(changes, 6, "{export}");
    let (status, _) = harness.get("/api/audit", Some(viewer)).await;
    assert_eq!(status, 403);
    let request = harness
        .http
        .post(harness.url(&export_path))
        .bearer_auth(viewer);
    assert_eq!(Harness::answer(request).await.0, 403);
    expected
}

/// Erasure: every face the person ever had (`faces_ever`), every version of
/// the photo, and the record go; the receipt says so, and so do the
/// collection, the bucket and the table. The receipt.
async fn erase_everything(
    harness: &Harness,
    admin: &str,
    viewer: &str,
    first: &Enrolled,
    faces_ever: &[String],
) -> Value {
    let person_path = first.path();
    let (status, _) = erase(harness, viewer, &person_path).await;
    assert_eq!(status, 403);
    let (status, receipt) = erase(harness, admin, &person_path).await;
    assert_eq!(status, 200, "{receipt}");
    let mut removed: Vec<&str> = receipt["removed"]["faceIds"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    removed.sort_unstable();
    assert_eq!(removed, faces_ever, "{receipt}");
    assert_eq!(receipt["removed"]["photoVersions"], 2, "{receipt}");
    assert_eq!(receipt["removed"]["record"], true);
    assert_eq!(
        receipt["checked"],
        serde_json::json!({"faceIds": 2, "facesLeft": 0, "photoVersionsLeft": 0, "recordLeft": false})
    );
    assert_eq!(harness.get(&person_path, Some(admin)).await.0, 404);
    let listed = harness
        .rekognition()
        .await
        .list_faces()
        .collection_id(harness.collection())
        .set_face_ids(Some(faces_ever.to_vec()))
        .send()
        .await
        .unwrap();
    assert!(listed.faces().is_empty(), "{listed:?}");
    let versions = harness.photo_versions(&first.key).await.unwrap();
    assert!(
        versions.versions().is_empty() && versions.delete_markers().is_empty(),
        "{versions:?}"
    );
    receipt
}

/// What the steps after the erasure check against.
struct AfterErasure<'a> {
    first: &'a Enrolled,
    namesake_face: &'a str,
    receipt: &'a Value,
}

/// Late events for the erased photo bring nobody back; asking again answers
/// the same receipt. A photo sent with an upload URL issued before the
/// erasure is not kept either, and brings nobody back.
async fn late_events_and_uploads_bring_nobody_back(
    harness: &Harness,
    admin: &str,
    last: &AfterErasure<'_>,
    obama: &[u8],
) {
    let person_path = last.first.path();
    let only_the_namesake = vec![last.namesake_face.to_owned()];
    assert_eq!(harness.face_ids().await, only_the_namesake);
    for event in harness.recorded_events(&last.first.key) {
        harness
            .invoke_indexer(&event)
            .await
            .expect("a late event is handled");
    }
    assert_eq!(harness.get(&person_path, Some(admin)).await.0, 404);
    assert_eq!(harness.face_ids().await, only_the_namesake);
    let (_, list) = harness.get("/api/faces", Some(admin)).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    let (status, again) = erase(harness, admin, &person_path).await;
    assert_eq!((status, &again), (200, last.receipt));

    let late = harness
        .request_upload(admin, "Obama", "Barack", obama.len(), "image/jpeg")
        .await;
    let late_path = format!("/api/faces/{}", late["personId"]);
    assert_eq!(erase(harness, admin, &late_path).await.0, 200);
    harness.put_photo(&late, obama).await;
    let late_key = late["key"].as_str().unwrap();
    let started = std::time::Instant::now();
    loop {
        let versions = harness.photo_versions(late_key).await.unwrap();
        if !harness.recorded_events(late_key).is_empty() && versions.versions().is_empty() {
            break;
        }
        assert!(started.elapsed() < INDEXING_WITHIN, "{versions:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(harness.get(&late_path, Some(admin)).await.0, 404);
    assert_eq!(harness.face_ids().await, only_the_namesake);
}

/// The trail keeps the erasure with its caller, and no name.
async fn the_trail_keeps_the_erasure(harness: &Harness, admin: &str, last: &AfterErasure<'_>) {
    let (_, trail) = harness
        .get(
            &format!(
                "/api/audit?person={}&action=erasure",
                last.first.ticket["personId"]
            ),
            Some(admin),
        )
        .await;
    let entries = trail["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{trail}");
    assert_eq!(
        entries[0]["caller"]["groups"],
        serde_json::json!(["admins"])
    );
    assert_eq!(&entries[0]["detail"], last.receipt);
    assert!(!trail.to_string().to_lowercase().contains("obama"));
}
