//! Search by photo, and the duplicates a newly indexed face reveals.

use super::*;

/// A crowd: obama.jpg's face, cut out and made 150 px square, 100 times on
/// a 10 × 10 grid (1,500 px a side, which the face engine scans whole).
async fn crowd(harness: &Harness) -> Vec<u8> {
    let photo = test_image("obama.jpg");
    let detected = harness
        .rekognition()
        .await
        .detect_faces()
        .image(Image::builder().bytes(Blob::new(photo.clone())).build())
        .send()
        .await
        .expect("DetectFaces");
    let face = detected.face_details()[0].bounding_box().unwrap();
    let picture = image::load_from_memory(&photo).unwrap();
    let (width, height) = (picture.width() as f32, picture.height() as f32);
    // The face and a fifth of its size around it.
    let side = face.width().unwrap() * width * 1.4;
    let left = (face.left().unwrap() * width - side * 0.2).max(0.0);
    let top = (face.top().unwrap() * height - side * 0.2).max(0.0);
    let tile = picture
        .crop_imm(left as u32, top as u32, side as u32, side as u32)
        .resize_exact(150, 150, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let mut canvas = image::RgbImage::new(1500, 1500);
    for row in 0..10 {
        for column in 0..10 {
            image::imageops::overlay(&mut canvas, &tile, column * 150, row * 150);
        }
    }
    encode_jpeg(&image::DynamicImage::ImageRgb8(canvas))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bomb_a_crowd_and_a_burst_leave_the_registry_serving_everyone() {
    use registry::search::{MAX_FACES_SEARCHED, SEARCHES_PER_MINUTE};
    let harness = Harness::start().await;
    let admin = harness.token("admins").await;
    let viewer = harness.token("viewers").await;

    // The rate counts calendar minutes: the viewer's searches below are
    // made within one (a crowd search may take longer than that on a busy
    // machine, so it is the admin's, after them).
    let second = u64::from(chrono::Timelike::second(&chrono::Utc::now()));
    if second > 40 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }

    // 81 megapixels in a few hundred KB: refused before it is decoded.
    let bomb = registry_testkit::png_bomb(9_000, 9_000);
    let request = harness
        .http
        .post(harness.url("/api/search"))
        .bearer_auth(&viewer)
        .header("content-type", "image/png")
        .body(bomb);
    let (status, answer) = Harness::answer(request).await;
    assert_eq!(status, 413, "{answer}");

    // A viewer cannot lower the floor.
    let (status, _) = identify(&harness, &viewer, &no_face(), "?threshold=1").await;
    assert_eq!(status, 403);

    // A burst: past the viewer's rate, refused with when to come back.
    let burst = (0..SEARCHES_PER_MINUTE).map(|_| identify(&harness, &viewer, b"not a photo", ""));
    let statuses: Vec<u16> = futures::future::join_all(burst)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    // Two searches were counted before the burst.
    assert_eq!(refused, 2, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [415, 429].contains(s)),
        "{statuses:?}"
    );

    // A hundred faces: the largest searched, the others said to be left out.
    let (status, answer) = identify(&harness, &admin, &crowd(&harness).await, "").await;
    assert_eq!(status, 200, "{answer}");
    let searched = answer["faces"].as_array().unwrap().len();
    let left_out = answer["notSearched"].as_array().unwrap().len();
    assert_eq!(searched, MAX_FACES_SEARCHED, "{answer}");
    // DetectFaces answers the 100 largest; the face engine finds most of them.
    assert!(
        (90..=100).contains(&(searched + left_out)),
        "{searched} + {left_out} faces"
    );

    // Everyone else is served.
    let (status, answer) = identify(&harness, &admin, &test_image("obama2.jpg"), "").await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = harness.get("/api/faces", Some(&viewer)).await;
    assert_eq!(status, 200);

    harness.stop().await;
}

#[test]
fn a_searched_photo_decodes_within_a_quarter_of_the_faces_functions_memory() {
    use registry::search::MAX_DECODED_BYTES;
    let stack = local_stack::LocalStack::load(
        &common::template(),
        &local_stack::StackSettings::new("face-registry"),
    )
    .expect("the template loads");
    let memory_mb = stack
        .function("FacesFunction")
        .expect("the function")
        .memory_mb;
    assert!(
        MAX_DECODED_BYTES * 4 <= u64::from(memory_mb) * 1024 * 1024,
        "{memory_mb} MB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identify_answers_every_face_a_stranger_is_unknown_and_nothing_is_kept() {
    let harness = Harness::start().await;
    let admin = harness.token("admins").await;
    let viewer = harness.token("viewers").await;
    let (ticket, _) = enrol_obama(&harness, &admin).await;
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
