//! The registry end to end, through the gateway, the S3 store, the indexer
//! and the face engine, with real photos and a real database.

use crate::common;

use std::io::Cursor;
use std::time::Duration;

use aws_sdk_rekognition::primitives::Blob;
use aws_sdk_rekognition::types::Image;
use common::{Harness, test_image};
use registry::PhotoFormat;
use registry::metadata::strip_metadata;
use serde_json::Value;

/// Generous for a loaded machine; the benchmark measures the real figure.
const INDEXING_WITHIN: Duration = Duration::from_secs(20);

async fn search(harness: &Harness, photo: &[u8], threshold: f32) -> Vec<(String, f32)> {
    let result = harness
        .rekognition()
        .await
        .search_faces_by_image()
        .collection_id(harness.collection())
        .image(Image::builder().bytes(Blob::new(photo.to_vec())).build())
        .face_match_threshold(threshold)
        .send()
        .await;
    match result {
        Ok(output) => output
            .face_matches()
            .iter()
            .filter_map(|m| Some((m.face()?.face_id()?.to_owned(), m.similarity()?)))
            .collect(),
        Err(error) => panic!(
            "SearchFacesByImage failed: {}",
            aws_sdk_rekognition::error::DisplayErrorContext(error)
        ),
    }
}

/// obama.jpg and biden.jpg side by side: a photo with two faces.
fn two_faces() -> Vec<u8> {
    let left = image::load_from_memory(&test_image("obama.jpg")).expect("obama.jpg decodes");
    let right = image::load_from_memory(&test_image("biden.jpg")).expect("biden.jpg decodes");
    let height = left.height().max(right.height());
    let mut canvas = image::RgbImage::new(left.width() + right.width(), height);
    image::imageops::overlay(&mut canvas, &left.to_rgb8(), 0, 0);
    image::imageops::overlay(&mut canvas, &right.to_rgb8(), i64::from(left.width()), 0);
    encode_jpeg(&image::DynamicImage::ImageRgb8(canvas))
}

/// A landscape-like gradient: a real photo-sized JPEG without any face.
fn no_face() -> Vec<u8> {
    let canvas = image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x / 3) as u8, (y / 2) as u8, ((x + y) / 5) as u8])
    });
    encode_jpeg(&image::DynamicImage::ImageRgb8(canvas))
}

fn encode_jpeg(picture: &image::DynamicImage) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    picture
        .write_to(&mut bytes, image::ImageOutputFormat::Jpeg(90))
        .expect("JPEG encoding");
    bytes.into_inner()
}

/// The file names of a listing's people: their keys without the token.
fn file_names_of(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["key"].as_str())
                .map(|key| match key.split_once('.') {
                    Some((token, file)) if token.len() == 32 => file.to_owned(),
                    _ => key.to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enrol_namesakes_identify_replay_and_replace() {
    let harness = Harness::start().await;
    let admin = harness.token("admins").await;

    // Enrol obama.jpg through the gateway and the presigned PUT.
    let obama = test_image("obama.jpg");
    let ticket = harness
        .enrol(&admin, "Obama", "Barack", &obama, "image/jpeg")
        .await;
    let key = ticket["key"].as_str().expect("a key").to_owned();
    assert!(key.ends_with(".obama_barack.jpg"), "{key}");
    let person = harness
        .settle(&admin, &ticket["personId"], INDEXING_WITHIN)
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

    // The presigned photo URL serves the photo.
    let photo = harness
        .http
        .get(person["photoUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(photo.status(), 200);
    // The photo as stored: without the metadata obama.jpg carries.
    let stored = strip_metadata(PhotoFormat::Jpeg, &obama)
        .unwrap()
        .expect("obama.jpg carries metadata");
    assert_eq!(photo.bytes().await.unwrap().as_ref(), &stored[..]);

    // Identify: another photo of the same man matches; another man does not.
    let matches = search(&harness, &test_image("obama2.jpg"), 80.0).await;
    let similarity = matches
        .iter()
        .find(|(id, _)| *id == face_id)
        .map(|(_, s)| *s)
        .unwrap_or_else(|| panic!("obama2.jpg did not match {face_id}: {matches:?}"));
    assert!(similarity >= 80.0, "similarity {similarity}");
    let biden = search(&harness, &test_image("biden.jpg"), 80.0).await;
    assert!(biden.is_empty(), "biden.jpg matched {biden:?}");

    // Replaying the recorded S3 events (the upload's, and the one of the
    // photo stored again without metadata) changes nothing, three times over.
    let events = harness.recorded_events(&key);
    assert_eq!(events.len(), 2, "the upload and the photo without metadata");
    let faces_before = harness.face_ids().await;
    assert_eq!(faces_before, vec![face_id.clone()]);
    for _ in 0..3 {
        for event in &events {
            harness
                .invoke_indexer(event)
                .await
                .expect("a replay succeeds");
        }
    }
    let (_, after_replays) = harness
        .get(&format!("/api/faces/{}", ticket["personId"]), Some(&admin))
        .await;
    let without_url = |mut p: Value| {
        p.as_object_mut().unwrap().remove("photoUrl");
        p
    };
    assert_eq!(without_url(after_replays), without_url(person.clone()));
    assert_eq!(harness.face_ids().await, faces_before);

    // A namesake is another person, with a photo and a face of their own.
    let namesake = harness
        .enrol(
            &admin,
            "Obama",
            "Barack",
            &test_image("biden.jpg"),
            "image/jpeg",
        )
        .await;
    assert_ne!(namesake["personId"], ticket["personId"]);
    assert_ne!(namesake["key"], ticket["key"]);
    let namesake = harness
        .settle(&admin, &namesake["personId"], INDEXING_WITHIN)
        .await;
    assert_eq!(namesake["status"], "indexed", "{namesake}");
    let namesake_face = namesake["identity"].as_str().unwrap().to_owned();
    let (_, first) = harness
        .get(&format!("/api/faces/{}", ticket["personId"]), Some(&admin))
        .await;
    assert_eq!(
        first["identity"],
        face_id.as_str(),
        "the first one is untouched"
    );
    let mut both = vec![face_id.clone(), namesake_face.clone()];
    both.sort();
    assert_eq!(harness.face_ids().await, both);

    // A new photo of the first one, by id, replaces its face; the old
    // FaceId leaves the collection, the namesake's stays.
    let again = harness
        .replace_photo(
            &admin,
            &ticket["personId"],
            &test_image("obama2.jpg"),
            "image/jpeg",
        )
        .await;
    assert_eq!(again["key"], ticket["key"]);
    let replaced = harness
        .wait_for(&admin, &ticket["personId"], INDEXING_WITHIN, |p| {
            p["status"] == "indexed" && p["identity"] != face_id.as_str()
        })
        .await;
    let new_face = replaced["identity"].as_str().unwrap().to_owned();
    let mut faces = vec![new_face.clone(), namesake_face.clone()];
    faces.sort();
    assert_eq!(harness.face_ids().await, faces);

    // The first upload's event is older than the recorded one: ignored.
    let events = harness.recorded_events(&key);
    let replacement_events = match strip_metadata(PhotoFormat::Jpeg, &test_image("obama2.jpg")) {
        Ok(Some(_)) => 2,
        _ => 1,
    };
    assert_eq!(events.len(), 2 + replacement_events);
    harness
        .invoke_indexer(&events[0])
        .await
        .expect("an old event is handled");
    let (_, current) = harness
        .get(&format!("/api/faces/{}", ticket["personId"]), Some(&admin))
        .await;
    assert_eq!(current["identity"], new_face.as_str());
    assert_eq!(harness.face_ids().await, faces);

    // An admin corrects the name; the trail lists every change to this
    // person with its caller (the indexer's outcomes as the registry's).
    let renamed = harness
        .http
        .patch(harness.url(&format!("/api/faces/{}", ticket["personId"])))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"firstname": "Barack Hussein"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    let (status, trail) = harness
        .get(
            &format!("/api/audit?person={}", ticket["personId"]),
            Some(&admin),
        )
        .await;
    assert_eq!(status, 200, "{trail}");
    let entries = trail["items"].as_array().unwrap();
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
    assert_eq!(entries[1]["detail"]["faceId"], new_face.as_str());
    assert!(
        !trail.to_string().to_lowercase().contains("obama"),
        "no names: {trail}"
    );
    // The right of access: everything about the person in one document,
    // every face ever recorded included; the export is recorded too.
    let (status, export) = harness
        .get(
            &format!("/api/faces/{}/export", ticket["personId"]),
            Some(&admin),
        )
        .await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["person"]["firstname"], "Barack Hussein");
    assert!(export["person"]["photoUrl"].is_string());
    let mut ever: Vec<&str> = export["faceIds"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    ever.sort_unstable();
    let mut expected = vec![face_id.as_str(), new_face.as_str()];
    expected.sort_unstable();
    assert_eq!(ever, expected);
    assert_eq!(export["audit"][0]["action"], "export", "{export}");
    assert_eq!(export["audit"].as_array().unwrap().len(), 6);
    let viewer = harness.token("viewers").await;
    let (status, _) = harness.get("/api/audit", Some(&viewer)).await;
    assert_eq!(status, 403);
    let (status, _) = harness
        .get(
            &format!("/api/faces/{}/export", ticket["personId"]),
            Some(&viewer),
        )
        .await;
    assert_eq!(status, 403);

    // Erasure: every face the person ever had, every version of the
    // photo, and the record go; the receipt says so, and so do the
    // collection, the bucket and the table.
    let person_path = format!("/api/faces/{}", ticket["personId"]);
    let (status, _) = erase(&harness, &viewer, &person_path).await;
    assert_eq!(status, 403);
    let (status, receipt) = erase(&harness, &admin, &person_path).await;
    assert_eq!(status, 200, "{receipt}");
    let mut removed: Vec<&str> = receipt["removed"]["faceIds"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    removed.sort_unstable();
    assert_eq!(removed, expected, "{receipt}");
    assert_eq!(receipt["removed"]["photoVersions"], 2, "{receipt}");
    assert_eq!(receipt["removed"]["record"], true);
    assert_eq!(
        receipt["checked"],
        serde_json::json!({"faceIds": 2, "facesLeft": 0, "photoVersionsLeft": 0, "recordLeft": false})
    );
    assert_eq!(harness.get(&person_path, Some(&admin)).await.0, 404);
    assert_eq!(harness.face_ids().await, vec![namesake_face.clone()]);
    let listed = harness
        .rekognition()
        .await
        .list_faces()
        .collection_id(harness.collection())
        .set_face_ids(Some(vec![face_id.clone(), new_face.clone()]))
        .send()
        .await
        .unwrap();
    assert!(listed.faces().is_empty(), "{listed:?}");
    let versions = harness.photo_versions(&key).await.unwrap();
    assert!(
        versions.versions().is_empty() && versions.delete_markers().is_empty(),
        "{versions:?}"
    );

    // Late events for the erased photo bring nobody back; asking again
    // answers the same receipt.
    for event in harness.recorded_events(&key) {
        harness
            .invoke_indexer(&event)
            .await
            .expect("a late event is handled");
    }
    assert_eq!(harness.get(&person_path, Some(&admin)).await.0, 404);
    assert_eq!(harness.face_ids().await, vec![namesake_face.clone()]);
    let (_, list) = harness.get("/api/faces", Some(&admin)).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    let (status, again) = erase(&harness, &admin, &person_path).await;
    assert_eq!((status, &again), (200, &receipt));

    // A photo sent with an upload URL issued before the erasure is not
    // kept either, and brings nobody back.
    let late = harness
        .request_upload(&admin, "Obama", "Barack", obama.len(), "image/jpeg")
        .await;
    let late_path = format!("/api/faces/{}", late["personId"]);
    assert_eq!(erase(&harness, &admin, &late_path).await.0, 200);
    harness.put_photo(&late, &obama).await;
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
    assert_eq!(harness.get(&late_path, Some(&admin)).await.0, 404);
    assert_eq!(harness.face_ids().await, vec![namesake_face.clone()]);

    // The trail keeps the erasure with its caller, and no name.
    let (_, trail) = harness
        .get(
            &format!("/api/audit?person={}&action=erasure", ticket["personId"]),
            Some(&admin),
        )
        .await;
    let entries = trail["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{trail}");
    assert_eq!(
        entries[0]["caller"]["groups"],
        serde_json::json!(["admins"])
    );
    assert_eq!(entries[0]["detail"], receipt);
    assert!(!trail.to_string().to_lowercase().contains("obama"));

    harness.stop().await;
}

async fn erase(harness: &Harness, token: &str, path: &str) -> (u16, Value) {
    Harness::answer(harness.http.delete(harness.url(path)).bearer_auth(token)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unusable_photos_are_rejected_with_a_reason() {
    let harness = Harness::start().await;
    let admin = harness.token("admins").await;

    let empty = harness
        .enrol(&admin, "Nobody", "Here", &no_face(), "image/jpeg")
        .await;
    let pair = harness
        .enrol(&admin, "Two", "People", &two_faces(), "image/jpeg")
        .await;

    // A photo dropped straight into the bucket under a name outside the convention.
    harness
        .s3()
        .await
        .put_object()
        .bucket(harness.bucket())
        .key("holiday photo.jpg")
        .content_type("image/jpeg")
        .body(test_image("obama3.jpg").into())
        .send()
        .await
        .expect("PutObject");

    let nobody = harness
        .settle(&admin, &empty["personId"], INDEXING_WITHIN)
        .await;
    assert_eq!(nobody["status"], "rejected", "{nobody}");
    assert_eq!(nobody["statusReason"], "No face was found in the photo.");
    assert!(nobody["identity"].is_null());

    let two = harness
        .settle(&admin, &pair["personId"], INDEXING_WITHIN)
        .await;
    assert_eq!(two["status"], "rejected", "{two}");
    assert!(
        two["statusReason"]
            .as_str()
            .unwrap()
            .contains("several faces"),
        "{two}"
    );
    // Faces of a rejected photo are not kept: they are deleted right
    // after the rejection is recorded.
    let started = std::time::Instant::now();
    while !harness.face_ids().await.is_empty() {
        assert!(
            started.elapsed() < INDEXING_WITHIN,
            "the faces of the photo with several are kept"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let started = std::time::Instant::now();
    let stray = loop {
        let (status, list) = harness
            .get("/api/faces?status=rejected", Some(&admin))
            .await;
        assert_eq!(status, 200, "{list}");
        if let Some(item) = list["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["key"] == "holiday photo.jpg"))
        {
            break item.clone();
        }
        assert!(
            started.elapsed() < INDEXING_WITHIN,
            "the stray object was not recorded: {list}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let reason = stray["statusReason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("The file name is not usable"), "{stray}");

    // The status filter.
    let (_, rejected) = harness
        .get("/api/faces?status=rejected", Some(&admin))
        .await;
    let mut keys = file_names_of(&rejected);
    keys.sort();
    assert_eq!(
        keys,
        vec!["holiday photo.jpg", "nobody_here.jpg", "two_people.jpg"]
    );
    let (_, indexed) = harness.get("/api/faces?status=indexed", Some(&admin)).await;
    assert!(file_names_of(&indexed).is_empty(), "{indexed}");
    let (status, invalid) = harness.get("/api/faces?status=lost", Some(&admin)).await;
    assert_eq!(status, 400, "{invalid}");

    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gateway_guards_routes_as_api_gateway_does() {
    let harness = Harness::start().await;
    let viewer = harness.token("viewers").await;
    let admin = harness.token("admins").await;

    let (status, body) = harness.get("/api/faces", None).await;
    assert_eq!(
        (status, &body),
        (401, &serde_json::json!({"message": "Unauthorized"}))
    );
    let (status, _) = harness.get("/api/faces", Some("not-a-token")).await;
    assert_eq!(status, 401);
    let (status, body) = harness.get("/api/faces", Some(&viewer)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"], serde_json::json!([]));

    let unauthenticated = harness
        .http
        .post(harness.url("/api/uploads"))
        .json(&serde_json::json!({"lastname": "A", "firstname": "B", "contentType": "image/jpeg", "contentLength": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let forbidden = harness
        .http
        .post(harness.url("/api/uploads"))
        .bearer_auth(&viewer)
        .json(&serde_json::json!({"lastname": "A", "firstname": "B", "contentType": "image/jpeg", "contentLength": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);

    let (status, health) = harness.get("/healthz", None).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["bucket"], harness.bucket().as_str());

    for page in ["/upload", "/faces"] {
        let response = harness.http.get(harness.url(page)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
    let (status, body) = harness.get("/nowhere", Some(&admin)).await;
    assert_eq!(
        (status, body),
        (404, serde_json::json!({"message": "Not Found"}))
    );
    let (status, _) = harness.get("/api/uploads", Some(&admin)).await;
    assert_eq!(status, 404, "only POST is routed");
    // No route issues tokens: operators sign in at the user pool's domain.
    let (status, _) = harness.get("/local/token", None).await;
    assert_eq!(status, 404);

    let (status, _) = harness.get("/local/dead-letters", Some(&viewer)).await;
    assert_eq!(status, 403);
    let (status, letters) = harness.get("/local/dead-letters", Some(&admin)).await;
    assert_eq!((status, &letters["items"]), (200, &serde_json::json!([])));

    harness.stop().await;
}

/// Enrols obama.jpg with the collection deleted: indexing fails on every
/// attempt, and the event becomes a dead letter. The upload ticket, and the
/// Rekognition client to create the collection again with.
async fn enrol_while_indexing_fails(
    harness: &Harness,
    admin: &str,
) -> (Value, aws_sdk_rekognition::Client) {
    let rekognition = harness.rekognition().await;
    rekognition
        .delete_collection()
        .collection_id(harness.collection())
        .send()
        .await
        .expect("DeleteCollection");
    let ticket = harness
        .enrol(
            admin,
            "Obama",
            "Barack",
            &test_image("obama.jpg"),
            "image/jpeg",
        )
        .await;
    (ticket, rekognition)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_events_become_dead_letters_and_replay() {
    let harness = Harness::start().await;
    let admin = harness.token("admins").await;
    let (ticket, rekognition) = enrol_while_indexing_fails(&harness, &admin).await;
    let started = std::time::Instant::now();
    let letter = loop {
        let (status, letters) = harness.get("/local/dead-letters", Some(&admin)).await;
        assert_eq!(status, 200, "{letters}");
        if let Some(letter) = letters["items"].as_array().and_then(|items| items.first()) {
            break letter.clone();
        }
        assert!(started.elapsed() < INDEXING_WITHIN, "no dead letter yet");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // IndexQueue's redrive policy: five receives, then the dead letters.
    assert_eq!(letter["receives"], 5, "{letter}");
    assert_eq!(
        letter["objects"],
        serde_json::json!([format!(
            "{}/{}",
            harness.bucket(),
            ticket["key"].as_str().unwrap()
        )])
    );
    let (_, person) = harness
        .get(&format!("/api/faces/{}", ticket["personId"]), Some(&admin))
        .await;
    assert_eq!(person["status"], "pending");

    rekognition
        .create_collection()
        .collection_id(harness.collection())
        .send()
        .await
        .expect("CreateCollection");
    let id = letter["id"].as_str().unwrap();
    let viewer = harness.token("viewers").await;
    let refused = harness
        .http
        .post(harness.url(&format!("/local/dead-letters/{id}/replay")))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let replayed = harness
        .http
        .post(harness.url(&format!("/local/dead-letters/{id}/replay")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 202);
    harness
        .wait_for(&admin, &ticket["personId"], INDEXING_WITHIN, |p| {
            p["status"] == "indexed"
        })
        .await;
    let (_, letters) = harness.get("/local/dead-letters", Some(&admin)).await;
    assert_eq!(letters["items"], serde_json::json!([]));

    harness.stop().await;
}

/// `registry dead-letters`, as against a deployed stack: the dead-letter
/// queue read through SQS's API, each message the S3 event as S3 sent it,
/// replayed by sending it back to IndexQueue.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dead_letters_are_read_and_replayed_through_sqs() {
    use aws_sdk_sqs::error::ProvideErrorMetadata;
    use aws_sdk_sqs::types::MessageSystemAttributeName;
    use registry_cli::dead_letters::DeadLetterQueue;

    let harness = Harness::start().await;
    let admin = harness.token("admins").await;
    let (ticket, rekognition) = enrol_while_indexing_fails(&harness, &admin).await;

    let stack = harness.runtime.stack();
    let indexer = stack.function("IndexerFunction").expect("the indexer");
    let (_, dead_letter_queue) =
        local_runtime::runtime::photo_dead_letter_queue(stack).expect("IndexQueue's dead letters");
    let queue_url = dead_letter_queue.url.clone();
    let sdk = harness.sdk().await;
    let queue = DeadLetterQueue::new(&sdk, &queue_url);
    let started = std::time::Instant::now();
    let letter = loop {
        let letters = queue.list().await.expect("the dead letters");
        if let Some(letter) = letters.first() {
            break letter.clone();
        }
        assert!(started.elapsed() < INDEXING_WITHIN, "no dead letter yet");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(letter.receives.is_some_and(|n| n > 5), "{letter:?}");
    assert!(letter.sent_at.is_some(), "{letter:?}");
    assert_eq!(
        letter.objects,
        [format!(
            "{}/{}",
            harness.bucket(),
            ticket["key"].as_str().unwrap()
        )]
    );
    assert_eq!(letter.error, None, "{letter:?}");

    // SQS's visibility and receipt handles, through the SDK.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let receive = || {
        sqs.receive_message()
            .queue_url(&queue_url)
            .visibility_timeout(60)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
    };
    let first = receive().send().await.expect("ReceiveMessage");
    let [message] = first.messages() else {
        panic!("one message: {first:?}")
    };
    let receives: u32 = message.attributes().unwrap()
        [&MessageSystemAttributeName::ApproximateReceiveCount]
        .parse()
        .unwrap();
    assert!(
        receives > 6,
        "received by the indexer and listed before: {receives}"
    );
    let old_receipt = message.receipt_handle().unwrap().to_owned();
    let hidden = receive().send().await.unwrap();
    assert!(hidden.messages().is_empty(), "hidden while in flight");
    sqs.change_message_visibility()
        .queue_url(&queue_url)
        .receipt_handle(&old_receipt)
        .visibility_timeout(0)
        .send()
        .await
        .expect("released");
    let second = receive().send().await.unwrap();
    let new_receipt = second.messages()[0].receipt_handle().unwrap().to_owned();
    assert_ne!(new_receipt, old_receipt);
    // An old receipt deletes nothing (and says nothing), and no longer
    // changes the message's visibility.
    sqs.delete_message()
        .queue_url(&queue_url)
        .receipt_handle(&old_receipt)
        .send()
        .await
        .expect("DeleteMessage with an old receipt succeeds");
    let stale = sqs
        .change_message_visibility()
        .queue_url(&queue_url)
        .receipt_handle(&old_receipt)
        .visibility_timeout(0)
        .send()
        .await
        .expect_err("an old receipt");
    assert_eq!(stale.code(), Some("MessageNotInflight"));
    let counts = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .expect("GetQueueAttributes");
    let attribute = |name: &str| {
        counts
            .attributes()
            .and_then(|a| a.get(&name.into()))
            .cloned()
    };
    assert_eq!(
        (
            attribute("ApproximateNumberOfMessages").as_deref(),
            attribute("ApproximateNumberOfMessagesNotVisible").as_deref()
        ),
        (Some("0"), Some("1"))
    );
    sqs.change_message_visibility()
        .queue_url(&queue_url)
        .receipt_handle(&new_receipt)
        .visibility_timeout(0)
        .send()
        .await
        .expect("released");
    let unknown = sqs
        .receive_message()
        .queue_url(queue_url.replace("-indexer-dlq", "-elsewhere"))
        .send()
        .await
        .expect_err("no such queue");
    assert_eq!(unknown.code(), Some("QueueDoesNotExist"));

    // Once the cause is gone, the replay sends the event back to IndexQueue,
    // the indexer indexes the photo, and the message leaves the queue.
    rekognition
        .create_collection()
        .collection_id(harness.collection())
        .send()
        .await
        .expect("CreateCollection");
    let outcomes = queue
        .replay(Some(&[letter.id.clone(), "no-such-letter".into()]))
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert!(
        outcomes[0].replayed && outcomes[0].error.is_none(),
        "{outcomes:?}"
    );
    assert_eq!(
        (outcomes[1].replayed, outcomes[1].error.as_deref()),
        (false, Some("no such dead letter in the queue"))
    );
    harness
        .wait_for(&admin, &ticket["personId"], INDEXING_WITHIN, |p| {
            p["status"] == "indexed"
        })
        .await;
    assert!(queue.list().await.unwrap().is_empty());

    // The Lambda API answers as Lambda does for what is not there.
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let missing = lambda
        .invoke()
        .function_name("no-such-function")
        .send()
        .await
        .expect_err("no such function");
    assert_eq!(missing.code(), Some("ResourceNotFoundException"));
    let version = lambda
        .invoke()
        .function_name(format!("{}:7", indexer.arn))
        .send()
        .await
        .expect_err("only $LATEST exists locally");
    assert_eq!(version.code(), Some("ResourceNotFoundException"));

    // Both authorize by IAM: CloudFormation's principal may do neither.
    let cloudformation = harness
        .runtime
        .access()
        .keys
        .named(local_runtime::principals::CLOUDFORMATION)
        .unwrap();
    let as_cloudformation = sdk
        .to_builder()
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
            aws_sdk_sqs::config::Credentials::new(
                &cloudformation.access_key_id,
                cloudformation.secret_access_key(),
                None,
                None,
                "test",
            ),
        ))
        .build();
    let refused = aws_sdk_lambda::Client::new(&as_cloudformation)
        .invoke()
        .function_name(&indexer.arn)
        .send()
        .await
        .expect_err("not CloudFormation's to invoke");
    assert_eq!(refused.code(), Some("AccessDeniedException"));
    let refused = aws_sdk_sqs::Client::new(&as_cloudformation)
        .receive_message()
        .queue_url(&queue_url)
        .send()
        .await
        .expect_err("not CloudFormation's to read");
    assert_eq!(refused.code(), Some("AccessDenied"));

    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operators_sign_in_at_the_user_pools_domain() {
    let harness = Harness::start().await;
    let pool = harness.runtime.user_pool().expect("a user pool").clone();

    // What the pages read: the local domain stands in for the pool's.
    let (status, config) = harness.get("/auth/config", None).await;
    assert_eq!(status, 200, "{config}");
    let sign_in = harness.runtime.sign_in_url();
    assert_eq!(
        config["authorizationEndpoint"],
        format!("{sign_in}/oauth2/authorize")
    );
    assert_eq!(config["scope"], "openid email profile");
    let client_id = config["clientId"].as_str().unwrap().to_owned();

    // The custom resource gave the client the API's own callback: the
    // template cannot name it on the client itself.
    let client = pool.client(&client_id).expect("the app client");
    let origin = harness.runtime.gateway_url();
    assert!(
        client.callback_urls.contains(&format!("{origin}/faces")),
        "{:?}",
        client.callback_urls
    );
    assert!(
        client
            .callback_urls
            .contains(&"http://localhost:8085/callback".to_owned())
    );
    assert!(client.logout_urls.contains(&format!("{origin}/faces")));

    let password = pool.users().policy().generate();
    pool.users()
        .add("ada@example.org", &["viewers".into()], &password, true)
        .unwrap();
    let signed_in = common::sign_in(&config, &origin, "ada@example.org", &password).await;
    let (status, body) = harness
        .get("/api/faces", Some(&signed_in.access_token))
        .await;
    assert_eq!(status, 200, "{body}");
    // The ID token is accepted too (its audience is the client), as by API Gateway.
    let (status, _) = harness.get("/api/faces", Some(&signed_in.id_token)).await;
    assert_eq!(status, 200);

    // Refreshed, then revoked: the refresh token gives nothing any more.
    let refresh = |token: String| {
        let (endpoint, client_id) = (format!("{sign_in}/oauth2/token"), client_id.clone());
        async move {
            reqwest::Client::new()
                .post(endpoint)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", client_id.as_str()),
                    ("refresh_token", token.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let refreshed: serde_json::Value = refresh(signed_in.refresh_token.clone())
        .await
        .json()
        .await
        .unwrap();
    let (status, _) = harness
        .get(
            "/api/faces",
            Some(refreshed["access_token"].as_str().unwrap()),
        )
        .await;
    assert_eq!(status, 200);
    let revoked = reqwest::Client::new()
        .post(format!("{sign_in}/oauth2/revoke"))
        .form(&[
            ("token", signed_in.refresh_token.as_str()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(refresh(signed_in.refresh_token.clone()).await.status(), 400);

    // A token the pool did not sign is refused at the gateway.
    let foreign = local_user_pool::TokenAuthority::from_pem(
        &local_user_pool::TokenAuthority::generate_key().unwrap(),
    )
    .unwrap()
    .for_authorizer(pool.issuer(), &client_id)
    .issue(
        local_runtime::Group::Admins,
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let (status, _) = harness.get("/api/faces", Some(&foreign.token)).await;
    assert_eq!(status, 401);

    harness.stop().await;
}

/// A request as an ALB with `authenticate-cognito` hands it to a Lambda
/// target, with the access token it forwards.
fn alb_event(method: &str, path: &str, access_token: Option<&str>, body: &str) -> Value {
    let mut headers = serde_json::json!({
        "host": "registry.example.org",
        "content-type": "application/json",
        "x-amzn-oidc-identity": "someone",
    });
    if let Some(token) = access_token {
        headers["x-amzn-oidc-accesstoken"] = serde_json::json!(token);
    }
    serde_json::json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/faces/0123456789abcdef"}},
        "httpMethod": method, "path": path, "queryStringParameters": {},
        "headers": headers, "body": body, "isBase64Encoded": false,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn behind_the_alb_the_functions_verify_the_forwarded_access_token() {
    let harness = Harness::start_with(|options| {
        for (name, value) in [
            ("EnableAlb", "true"),
            ("AlbCertificateArn", "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"),
            ("AlbDomainName", "registry.example.org"),
        ] {
            options.parameters.insert(name.to_owned(), value.to_owned());
        }
    })
    .await;
    let pool = harness.runtime.user_pool().expect("a user pool").clone();
    // The pool's keys reached the functions at deploy time, by the custom resource.
    let faces = harness
        .runtime
        .lambda()
        .function("FacesFunction")
        .expect("faces")
        .clone();
    let keys: Value = serde_json::from_str(&faces.environment()["ALB_TOKEN_KEYS"]).expect("a JWKS");
    let pool_keys = pool.tokens_for("any").jwks();
    assert_eq!(keys["keys"][0]["kid"], pool_keys["keys"][0]["kid"]);
    assert_eq!(keys["keys"][0]["n"], pool_keys["keys"][0]["n"]);
    let alb_client = faces.environment()["ALB_TOKEN_CLIENT_ID"].clone();
    assert!(
        pool.client(&alb_client)
            .expect("the ALB's client")
            .generate_secret
    );
    // Through the load balancer's listener: its rules, its sign-in.
    let alb = harness
        .runtime
        .load_balancer()
        .expect("the stack has a load balancer")
        .url()
        .to_owned();
    // The public client also calls back to the ALB's origin (the domain
    // name's, served here by the local listener).
    let web_client = harness.runtime.tokens().audience().to_owned();
    assert!(
        pool.client(&web_client)
            .unwrap()
            .callback_urls
            .contains(&format!("{alb}/faces"))
    );
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{alb}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let other = http.get(format!("{alb}/elsewhere")).send().await.unwrap();
    assert_eq!(other.status(), 404, "the listener's default action");
    // The API denies a request without a session; a forged session cookie is none.
    let denied = http.get(format!("{alb}/api/faces")).send().await.unwrap();
    assert_eq!(denied.status(), 401);
    let forged = http
        .get(format!("{alb}/api/faces"))
        .header("cookie", "AWSELBAuthSessionCookie-0=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    // A viewer opens the faces page: sent to the user pool, back through
    // /oauth2/idpresponse (the ALB's client, with its secret), then to the page.
    let sign_in_at_alb = |group: &'static str| {
        let (email, password) = harness.member(group);
        let (alb, alb_client) = (alb.clone(), alb_client.clone());
        async move {
            let browser = common::browser();
            let to_pool = browser.get(format!("{alb}/faces")).send().await.unwrap();
            let authorize = common::redirect_location(&to_pool);
            assert!(
                authorize.contains(&format!("client_id={alb_client}")),
                "{authorize}"
            );
            let answer =
                common::fill_in_sign_in_form(&browser, &authorize, &email, &password).await;
            let callback = common::redirect_location(&answer);
            assert!(
                callback.starts_with(&format!("{alb}/oauth2/idpresponse?")),
                "{callback}"
            );
            let back = browser.get(&callback).send().await.unwrap();
            assert_eq!(common::redirect_location(&back), format!("{alb}/faces"));
            // The code is spent: the same callback again opens nothing.
            let replayed = common::browser().get(&callback).send().await.unwrap();
            assert_eq!(replayed.status(), 401);
            (browser, alb)
        }
    };
    let (viewer, alb) = sign_in_at_alb("viewers").await;
    let page = viewer.get(format!("{alb}/faces")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<html"));
    let listed = viewer.get(format!("{alb}/api/faces")).send().await.unwrap();
    assert_eq!(listed.status(), 200);
    let listed: Value = listed.json().await.unwrap();
    assert!(listed["items"].is_array(), "{listed}");
    // The groups decide, as through API Gateway.
    let body = r#"{"lastname":"Lovelace","firstname":"Ada","contentType":"image/jpeg","contentLength":1000}"#;
    let upload = |browser: &reqwest::Client| {
        browser
            .post(format!("{alb}/api/uploads"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(upload(&viewer).await.unwrap().status(), 403);
    let (admin, _) = sign_in_at_alb("admins").await;
    assert_eq!(upload(&admin).await.unwrap().status(), 201);
    // The audit trail and search have a rule of their own (ELB: three
    // values in a condition), to the faces function too.
    let audit = admin.get(format!("{alb}/api/audit")).send().await.unwrap();
    assert_eq!(audit.status(), 200);
    let audit: Value = audit.json().await.unwrap();
    assert!(audit["items"].is_array(), "{audit}");
    // Over 1 MB never reaches a Lambda target.
    let too_large = admin
        .post(format!("{alb}/api/uploads"))
        .header("content-type", "application/json")
        .body(vec![b' '; 1024 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), 413);
    // Signing out ends the ALB's session: the API is refused afterwards.
    let signed_out = viewer
        .post(format!("{alb}/auth/sign-out"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 204);
    let refused = viewer.get(format!("{alb}/api/faces")).send().await.unwrap();
    assert_eq!(refused.status(), 401);

    // Nothing unverified is trusted: a function invoked with no token,
    // another client's, or a forged one refuses it.
    let token_for = |client: &str, group: &str| {
        let groups = vec![group.to_owned()];
        pool.tokens_for(client)
            .access_token(
                &local_user_pool::SignedIn {
                    sub: "7d0c6b5a",
                    username: "7d0c6b5a",
                    email: Some("ada@example.org"),
                    groups: &groups,
                    client_id: client,
                    scopes: &["openid".to_owned(), "email".to_owned()],
                    auth_time: 0,
                    origin_jti: "o",
                },
                Duration::from_secs(300),
            )
            .unwrap()
    };
    let status = |answer: &Value| answer["statusCode"].as_u64().unwrap_or_default();
    for token in [
        None,
        Some(token_for(&web_client, "admins")),
        Some("forged.token.value".to_owned()),
    ] {
        let refused = faces
            .invoke(alb_event("GET", "/api/faces", token.as_deref(), ""))
            .await
            .unwrap();
        assert_eq!(status(&refused), 401, "{refused}");
    }
    let accepted = faces
        .invoke(alb_event(
            "GET",
            "/api/faces",
            Some(&token_for(&alb_client, "viewers")),
            "",
        ))
        .await
        .unwrap();
    assert_eq!(status(&accepted), 200, "{accepted}");

    harness.stop().await;
}

/// `POST /api/search` with `photo`; the status and the answer.
async fn identify(harness: &Harness, token: &str, photo: &[u8], query: &str) -> (u16, Value) {
    let request = harness
        .http
        .post(harness.url(&format!("/api/search{query}")))
        .bearer_auth(token)
        .header("content-type", "image/jpeg")
        .body(photo.to_vec());
    Harness::answer(request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identify_answers_every_face_a_stranger_is_unknown_and_nothing_is_kept() {
    let harness = Harness::start().await;
    let admin = harness.token("admins").await;
    let viewer = harness.token("viewers").await;
    let ticket = harness
        .enrol(
            &admin,
            "Obama",
            "Barack",
            &test_image("obama.jpg"),
            "image/jpeg",
        )
        .await;
    let obama = harness
        .settle(&admin, &ticket["personId"], INDEXING_WITHIN)
        .await;
    assert_eq!(obama["status"], "indexed", "{obama}");
    let faces_before = harness.face_ids().await;

    // Another photo of him: found, with his own photo link.
    let (status, answer) = identify(&harness, &viewer, &test_image("obama2.jpg"), "").await;
    assert_eq!(status, 200, "{answer}");
    let faces = answer["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 1, "{answer}");
    let best = &faces[0]["matches"][0];
    assert_eq!(best["person"]["id"], ticket["personId"], "{answer}");
    assert!(best["similarity"].as_f64().unwrap() >= 80.0, "{answer}");
    assert!(best["person"]["photoUrl"].is_string());
    assert!(faces[0]["box"]["width"].as_f64().unwrap() > 0.0);
    assert!(faces[0]["sharpness"].as_f64().unwrap() > 0.0, "{answer}");

    // A stranger: an explicit unknown.
    let (status, answer) = identify(&harness, &viewer, &test_image("biden.jpg"), "").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["faces"][0]["unknown"], true, "{answer}");
    assert!(answer["faces"][0]["matches"].as_array().unwrap().is_empty());

    // A group photo: each face answered, left to right as the boxes say.
    let (status, answer) = identify(&harness, &admin, &two_faces(), "").await;
    assert_eq!(status, 200, "{answer}");
    let mut faces = answer["faces"].as_array().unwrap().clone();
    assert_eq!(faces.len(), 2, "{answer}");
    faces.sort_by(|a, b| {
        a["box"]["left"]
            .as_f64()
            .partial_cmp(&b["box"]["left"].as_f64())
            .unwrap()
    });
    assert_eq!(
        faces[0]["matches"][0]["person"]["id"], ticket["personId"],
        "{answer}"
    );
    assert_eq!(faces[1]["unknown"], true, "{answer}");

    // No face, not a photo: said so.
    let (status, answer) = identify(&harness, &viewer, &no_face(), "").await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (422, Some("unprocessable")),
        "{answer}"
    );
    let (status, _) = identify(&harness, &viewer, b"not a photo at all", "").await;
    assert_eq!(status, 415);

    // Nothing searched was kept: the same faces, the same people.
    assert_eq!(harness.face_ids().await, faces_before);
    let (_, people) = harness.get("/api/faces", Some(&admin)).await;
    assert_eq!(people["items"].as_array().unwrap().len(), 1);
    // Each search is in the trail, with its caller.
    let (_, trail) = harness.get("/api/audit?action=search", Some(&admin)).await;
    let entries = trail["items"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "obama2, biden, the pair: {trail}");
    assert!(entries.iter().any(|e| e["personId"] == ticket["personId"]
        && e["caller"]["groups"] == serde_json::json!(["viewers"])));

    harness.stop().await;
}

/// Enrols Barack `lastname` with `photo` (JPEG) and waits until indexed.
async fn enrol_indexed(harness: &Harness, token: &str, lastname: &str, photo: Vec<u8>) -> Value {
    let ticket = harness
        .enrol(token, lastname, "Barack", &photo, "image/jpeg")
        .await;
    let person = harness
        .settle(token, &ticket["personId"], INDEXING_WITHIN)
        .await;
    assert_eq!(person["status"], "indexed", "{person}");
    person
}

async fn resolve(harness: &Harness, token: &str, id: &Value, resolution: &str) -> (u16, Value) {
    let request = harness
        .http
        .post(harness.url(&format!("/api/faces/{id}/duplicate")))
        .bearer_auth(token)
        .json(&serde_json::json!({ "resolution": resolution }));
    Harness::answer(request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_face_enrolled_twice_is_flagged_until_an_admin_resolves_it() {
    let harness = Harness::start().await;
    let admin = harness.token("admins").await;
    let enrolled = |lastname, photo| enrol_indexed(&harness, &admin, lastname, test_image(photo));
    let first = enrolled("Obama", "obama.jpg").await;
    assert_eq!(first["possibleDuplicate"], Value::Null);
    // The same man again under another name, and a stranger.
    let second = enrolled("Obomo", "obama2.jpg").await;
    let stranger = enrolled("Biden", "biden.jpg").await;
    assert_eq!(stranger["possibleDuplicate"], Value::Null);
    assert_eq!(
        second["possibleDuplicate"]["personId"], first["id"],
        "{second}"
    );
    assert!(second["possibleDuplicate"]["similarity"].as_f64().unwrap() >= 80.0);
    let (_, flagged) = harness
        .get("/api/faces?duplicates=true", Some(&admin))
        .await;
    let ids: Vec<&Value> = flagged["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["id"])
        .collect();
    assert_eq!(ids, [&second["id"]], "{flagged}");

    // Viewers cannot resolve; an unflagged person cannot be resolved.
    let viewer = harness.token("viewers").await;
    assert_eq!(
        resolve(&harness, &viewer, &second["id"], "different")
            .await
            .0,
        403
    );
    assert_eq!(resolve(&harness, &admin, &first["id"], "same").await.0, 409);
    assert_eq!(
        resolve(&harness, &admin, &second["id"], "maybe").await.0,
        400
    );

    // "Different people": cleared, and not raised again for that pair when
    // the second one's photo is replaced by another of the same face.
    let (status, resolved) = resolve(&harness, &admin, &second["id"], "different").await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["possibleDuplicate"], Value::Null);
    let old_face = second["identity"].clone();
    harness
        .replace_photo(
            &admin,
            &second["id"],
            &test_image("obama3.jpg"),
            "image/jpeg",
        )
        .await;
    let replaced = harness
        .wait_for(&admin, &second["id"], INDEXING_WITHIN, |p| {
            p["status"] == "indexed" && p["identity"] != old_face
        })
        .await;
    assert_eq!(replaced["possibleDuplicate"], Value::Null, "{replaced}");

    // A third photo of him is flagged against one of the two; "same
    // person" clears it, and the operator erases the extra record.
    let third = enrolled("Obama", "obama3.jpg").await;
    let other = third["possibleDuplicate"]["personId"].clone();
    assert!(other == first["id"] || other == second["id"], "{third}");
    let (status, resolved) = resolve(&harness, &admin, &third["id"], "same").await;
    assert_eq!(status, 200, "{resolved}");
    let (_, flagged) = harness
        .get("/api/faces?duplicates=true", Some(&admin))
        .await;
    assert!(flagged["items"].as_array().unwrap().is_empty(), "{flagged}");
    let (status, _) = erase(&harness, &admin, &format!("/api/faces/{}", third["id"])).await;
    assert_eq!(status, 200);

    // The trail says who resolved what.
    let (_, trail) = harness
        .get("/api/audit?action=duplicate_resolution", Some(&admin))
        .await;
    let entries = trail["items"].as_array().unwrap();
    let resolutions: Vec<(&Value, &Value)> = entries
        .iter()
        .map(|e| (&e["personId"], &e["detail"]["resolution"]))
        .collect();
    assert_eq!(
        resolutions,
        [
            (&third["id"], &Value::from("same")),
            (&second["id"], &Value::from("different"))
        ],
        "{trail}"
    );
    assert_eq!(
        entries[0]["caller"]["groups"],
        serde_json::json!(["admins"])
    );

    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn photos_are_kept_without_location_or_device_and_upright_for_all() {
    use registry_testkit::{REVEALING_TEXT, jpeg_with_revealing_metadata};

    let harness = Harness::start().await;
    let admin = harness.token("admins").await;
    let viewer = harness.token("viewers").await;
    let upright = test_image("obama.jpg");
    let reference = enrol_indexed(&harness, &admin, "Obama", upright.clone()).await;

    // A phone's photo: location, serial number, owner, a second picture;
    // and taken sideways: the pixels lie on their side and EXIF says to
    // turn them a quarter clockwise (orientation 6).
    let sideways = image::load_from_memory(&upright).unwrap().rotate270();
    let phone = jpeg_with_revealing_metadata(&encode_jpeg(&sideways), 6);
    let person = enrol_indexed(&harness, &admin, "Obamo", phone).await;
    let key = person["key"].as_str().unwrap();

    // What a viewer is shown holds none of it.
    let (_, seen) = harness
        .get(&format!("/api/faces/{}", person["id"]), Some(&viewer))
        .await;
    let shown = harness
        .http
        .get(seen["photoUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    for text in REVEALING_TEXT {
        assert!(
            !shown.windows(text.len()).any(|w| w == text.as_bytes()),
            "{text} is shown"
        );
    }
    let exif = exif::Reader::new()
        .read_from_container(&mut Cursor::new(&shown[..]))
        .expect("the orientation is kept");
    let tags: Vec<exif::Tag> = exif.fields().map(|f| f.tag).collect();
    assert_eq!(tags, [exif::Tag::Orientation]);
    // Nor is the photo as uploaded kept as an older version.
    let versions = harness.photo_versions(key).await.unwrap();
    assert_eq!(versions.versions().len(), 1, "{versions:?}");

    // The engine turned it upright as browsers do: the face box is where
    // it is on the upright photo.
    for side in ["left", "top", "width", "height"] {
        let (a, b) = (
            person["faceBox"][side].as_f64().unwrap(),
            reference["faceBox"][side].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 0.03, "{side}: {a} against {b}");
    }
    harness.stop().await;
}

// ---------------------------------------------------------------- bulk import

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_folder_is_imported_interrupted_and_resumed_without_enrolling_anyone_twice() {
    use registry_cli::client::Client;
    use registry_cli::import::{self, FileReport, Options, Outcome};
    use tokio_util::sync::CancellationToken;

    let harness = Harness::start().await;
    let admin = harness.token("admins").await;
    let dir = tempfile::tempdir().expect("a folder");
    let root = dir.path();
    let write = |name: &str, bytes: &[u8]| {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    let obama = test_image("obama.jpg");
    let biden = test_image("biden.jpg");
    let smaller = image::load_from_memory(&obama).unwrap();
    let smaller = smaller.resize(
        smaller.width() / 2,
        smaller.height() / 2,
        image::imageops::FilterType::Triangle,
    );
    // A folder of one person: the larger face is the best; the photo
    // carries metadata, so the registry stores it rewritten.
    write("Obama Barack/a.jpg", &encode_jpeg(&smaller));
    let revealing = registry_testkit::jpeg_with_revealing_metadata(&obama, 1);
    write("Obama Barack/b.jpg", &revealing);
    write("biden_joe.jpg", &biden);
    write("blank_wall.jpg", &no_face());
    write("copy_joe.jpg", &biden);
    write("notes.txt", b"not a photo");
    write("obama-again_barack.jpg", &test_image("obama2.jpg"));
    write("two_people.jpg", &two_faces());
    write("unnamed.jpg", &biden);

    let client = Client::new(url::Url::parse(&harness.url("/")).unwrap(), admin.clone()).unwrap();
    let options = Options {
        concurrency: 1,
        wait: INDEXING_WITHIN,
        ..Options::default()
    };
    let outcomes = |reports: &[FileReport]| -> Vec<(String, Outcome, bool)> {
        reports
            .iter()
            .map(|r| {
                let name = std::path::Path::new(&r.path).file_name().unwrap();
                (name.to_string_lossy().into_owned(), r.outcome, r.already_in)
            })
            .collect()
    };

    // Interrupted (as by Ctrl-C) once three are done: the rest do not start.
    let stop = CancellationToken::new();
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let first = import::import(
        &client,
        import::scan(root).unwrap(),
        &options,
        &stop,
        |_| {
            if finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == 3 {
                stop.cancel();
            }
        },
    )
    .await;
    use Outcome::{Indexed, Interrupted, Rejected};
    let names = [
        "Obama Barack",
        "biden_joe.jpg",
        "blank_wall.jpg",
        "copy_joe.jpg",
        "notes.txt",
        "obama-again_barack.jpg",
        "two_people.jpg",
        "unnamed.jpg",
    ];
    let expect = |outcomes: &[(Outcome, bool)]| -> Vec<(String, Outcome, bool)> {
        names
            .iter()
            .zip(outcomes)
            .map(|(n, (o, a))| ((*n).to_owned(), *o, *a))
            .collect()
    };
    assert_eq!(
        outcomes(&first),
        expect(&[
            (Indexed, false),
            (Indexed, false),
            (Rejected, false),
            (Interrupted, false),
            (Interrupted, false),
            (Interrupted, false),
            (Interrupted, false),
            (Interrupted, false)
        ]),
        "{first:#?}"
    );
    assert!(
        first[0].photo.as_deref().unwrap().ends_with("b.jpg"),
        "the larger face: {first:#?}"
    );
    assert_eq!(
        first[0].sha256,
        Some(registry::photo::sha256_hex(&revealing))
    );
    assert_eq!(
        first[2].reason.as_deref(),
        Some("No face was found in the photo.")
    );
    let (_, listed) = harness.get("/api/faces?limit=100", Some(&admin)).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 3, "{listed}");

    // Resumed: what is in is found by its hash, the rest is imported.
    let resumed = import::import(
        &client,
        import::scan(root).unwrap(),
        &Options {
            concurrency: 3,
            ..options.clone()
        },
        &CancellationToken::new(),
        |_| {},
    )
    .await;
    assert_eq!(
        outcomes(&resumed),
        expect(&[
            (Indexed, true),
            (Indexed, true),
            (Rejected, true),
            (Indexed, true),
            (Rejected, false),
            (Indexed, false),
            (Rejected, false),
            (Rejected, false)
        ]),
        "{resumed:#?}"
    );
    let obama_id = first[0].person_id.expect("Obama's id");
    assert_eq!(resumed[0].person_id, Some(obama_id));
    assert_eq!(
        resumed[3].person_id, first[1].person_id,
        "the same bytes: Biden"
    );
    assert_eq!(resumed[5].possible_duplicate_of, Some(obama_id));
    assert_eq!(
        resumed[6].reason.as_deref(),
        Some("The photo shows several faces; it must show exactly one.")
    );
    assert!(
        resumed[7]
            .reason
            .as_deref()
            .unwrap()
            .contains("lastname_firstname"),
        "{resumed:#?}"
    );
    assert_eq!(
        import::to_json(&resumed)["counts"],
        serde_json::json!({
            "indexed": 4, "rejected": 4, "failed": 0, "interrupted": 0,
            "alreadyIn": 4, "possibleDuplicates": 1,
        })
    );

    // Once more: nothing is uploaded again.
    let (_, before) = harness.get("/api/faces?limit=100", Some(&admin)).await;
    let again = import::import(
        &client,
        import::scan(root).unwrap(),
        &options,
        &CancellationToken::new(),
        |_| {},
    )
    .await;
    let (_, after) = harness.get("/api/faces?limit=100", Some(&admin)).await;
    let people = |listing: &Value| -> Vec<(Value, Value)> {
        listing["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["id"].clone(), p["updatedAt"].clone()))
            .collect()
    };
    assert_eq!(people(&before).len(), 5, "{before}");
    assert_eq!(people(&before), people(&after));
    assert!(
        again.iter().all(|r| r.already_in || r.person_id.is_none()),
        "{again:#?}"
    );
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_command_line_signs_in_through_its_loopback_redirect() {
    let harness = Harness::start().await;
    let (email, password) = harness.member("admins");
    let api = url::Url::parse(&harness.url("/")).unwrap();
    let (shown, authorize) = tokio::sync::oneshot::channel();
    let signing_in = tokio::spawn(async move {
        registry_cli::sign_in::sign_in(&api, |url| shown.send(url.to_string()).unwrap()).await
    });
    let authorize = authorize.await.expect("the address to open");

    // The user's browser: the pool's form, then back to the command line.
    let browser = common::browser();
    let answer = common::fill_in_sign_in_form(&browser, &authorize, &email, &password).await;
    let callback = common::redirect_location(&answer);
    assert!(
        callback.starts_with(&format!("{}?", registry_cli::sign_in::REDIRECT_URI)),
        "{callback}"
    );
    let page = browser
        .get(&callback)
        .send()
        .await
        .expect("the loopback answers");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Signed in"));

    let token = signing_in.await.unwrap().expect("signed in");
    let (status, listed) = harness.get("/api/faces", Some(&token)).await;
    assert_eq!(status, 200, "{listed}");

    // An answer that is not this sign-in's (another state) is refused.
    let api = url::Url::parse(&harness.url("/")).unwrap();
    let (shown, authorize) = tokio::sync::oneshot::channel();
    let signing_in = tokio::spawn(async move {
        registry_cli::sign_in::sign_in(&api, |url| shown.send(url.to_string()).unwrap()).await
    });
    authorize.await.expect("the address to open");
    let forged = format!(
        "{}?code=stolen&state=not-this-one",
        registry_cli::sign_in::REDIRECT_URI
    );
    browser
        .get(&forged)
        .send()
        .await
        .expect("the loopback answers");
    let refused = signing_in.await.unwrap().expect_err("not this sign-in's");
    assert!(
        matches!(refused, registry_cli::sign_in::SignInError::StateMismatch),
        "{refused}"
    );
    harness.stop().await;
}
