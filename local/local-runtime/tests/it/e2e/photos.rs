//! Photos the registry refuses, with a reason, and photos it keeps:
//! without location or device, upright for everyone.

use super::*;

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
