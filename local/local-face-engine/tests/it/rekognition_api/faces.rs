//! Faces indexed, searched, listed page by page and filtered for quality;
//! no face and several faces reported as Rekognition reports them.

use super::*;

#[tokio::test]
async fn indexed_face_is_found_by_another_photo_of_the_same_person_only() {
    let (_data, engine) = Running::with_people(unreachable_s3()).await;
    let rekognition = &engine.client;

    let indexed = rekognition
        .index_faces()
        .collection_id("people")
        .image(bytes(photo("obama.jpg")))
        .external_image_id("obama_barack.jpg")
        .max_faces(1)
        .quality_filter(QualityFilter::Auto)
        .send()
        .await
        .unwrap();
    assert_eq!(indexed.face_records().len(), 1, "{indexed:?}");
    assert!(indexed.unindexed_faces().is_empty(), "{indexed:?}");
    let face = indexed.face_records()[0].face().unwrap();
    let face_id = face.face_id().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&face_id).is_ok());
    assert_eq!(face.external_image_id(), Some("obama_barack.jpg"));
    assert!(face.confidence().unwrap() > 90.0, "{face:?}");
    let bounding_box = face.bounding_box().unwrap();
    let (left, top) = (bounding_box.left().unwrap(), bounding_box.top().unwrap());
    let (width, height) = (
        bounding_box.width().unwrap(),
        bounding_box.height().unwrap(),
    );
    assert!(
        (0.0..1.0).contains(&left) && (0.0..1.0).contains(&top),
        "{bounding_box:?}"
    );
    assert!(
        (0.1..0.9).contains(&width) && (0.1..0.9).contains(&height),
        "{bounding_box:?}"
    );
    assert!(
        left + width <= 1.0 && top + height <= 1.0,
        "{bounding_box:?}"
    );
    let detail = indexed.face_records()[0].face_detail().unwrap();
    assert_eq!(detail.landmarks().len(), 7);
    let pose = detail.pose().unwrap();
    assert!(
        pose.yaw().unwrap().abs() < 30.0 && pose.roll().unwrap().abs() < 30.0,
        "{pose:?}"
    );

    let found = rekognition
        .search_faces_by_image()
        .collection_id("people")
        .image(bytes(photo("obama2.jpg")))
        .send()
        .await
        .unwrap();
    assert_eq!(found.face_matches().len(), 1, "{found:?}");
    let best = &found.face_matches()[0];
    assert!(best.similarity().unwrap() >= 80.0, "{best:?}");
    assert_eq!(best.face().unwrap().face_id(), Some(face_id.as_str()));
    assert!(found.searched_face_confidence().unwrap() > 90.0);
    assert!(found.searched_face_bounding_box().unwrap().width().unwrap() > 0.05);

    let stranger = rekognition
        .search_faces_by_image()
        .collection_id("people")
        .image(bytes(photo("biden.jpg")))
        .face_match_threshold(80.0)
        .send()
        .await
        .unwrap();
    assert!(stranger.face_matches().is_empty(), "{stranger:?}");

    // With the threshold at 0 the other person shows up, with a low score.
    let biden = rekognition
        .index_faces()
        .collection_id("people")
        .image(bytes(photo("biden.jpg")))
        .external_image_id("biden_joe.jpg")
        .send()
        .await
        .unwrap();
    let biden_id = biden.face_records()[0]
        .face()
        .unwrap()
        .face_id()
        .unwrap()
        .to_owned();
    let by_id = rekognition
        .search_faces()
        .collection_id("people")
        .face_id(&face_id)
        .face_match_threshold(0.0)
        .send()
        .await
        .unwrap();
    assert_eq!(by_id.searched_face_id(), Some(face_id.as_str()));
    assert_eq!(
        by_id.face_matches().len(),
        1,
        "the searched face itself is not a match"
    );
    assert_eq!(
        by_id.face_matches()[0].face().unwrap().face_id(),
        Some(biden_id.as_str())
    );
    assert!(by_id.face_matches()[0].similarity().unwrap() < 50.0);

    let described = rekognition
        .describe_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap();
    assert_eq!(described.face_count(), Some(2));

    let missing = uuid::Uuid::new_v4().to_string();
    let deleted = rekognition
        .delete_faces()
        .collection_id("people")
        .face_ids(&face_id)
        .face_ids(&missing)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.deleted_faces(), std::slice::from_ref(&face_id));
    let failed = deleted.unsuccessful_face_deletions();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].face_id(), Some(missing.as_str()));
    assert_eq!(failed[0].reasons()[0].as_str(), "FACE_NOT_FOUND");
    let after = rekognition
        .search_faces_by_image()
        .collection_id("people")
        .image(bytes(photo("obama2.jpg")))
        .send()
        .await
        .unwrap();
    assert!(after.face_matches().is_empty(), "{after:?}");
    let gone = rekognition
        .search_faces()
        .collection_id("people")
        .face_id(&face_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(gone), "InvalidParameterException");
    engine.stop().await;
}

#[tokio::test]
async fn no_face_and_several_faces_are_reported_as_rekognition_does() {
    let (_data, engine) = Running::with_people(unreachable_s3()).await;
    let rekognition = &engine.client;

    let empty = rekognition
        .index_faces()
        .collection_id("people")
        .image(bytes(no_face_picture()))
        .max_faces(1)
        .quality_filter(QualityFilter::Auto)
        .send()
        .await
        .unwrap();
    assert!(empty.face_records().is_empty(), "{empty:?}");
    assert!(empty.unindexed_faces().is_empty(), "{empty:?}");
    let no_face = rekognition
        .search_faces_by_image()
        .collection_id("people")
        .image(bytes(no_face_picture()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(no_face), "InvalidParameterException");

    let two = two_faces_picture();
    let detected = rekognition
        .detect_faces()
        .image(bytes(two.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(detected.face_details().len(), 2, "{detected:?}");

    let indexed = rekognition
        .index_faces()
        .collection_id("people")
        .image(bytes(two))
        .max_faces(1)
        .quality_filter(QualityFilter::Auto)
        .send()
        .await
        .unwrap();
    assert_eq!(indexed.face_records().len(), 1, "{indexed:?}");
    assert_eq!(indexed.unindexed_faces().len(), 1, "{indexed:?}");
    assert_eq!(
        indexed.unindexed_faces()[0].reasons(),
        [Reason::ExceedsMaxFaces]
    );
    let kept = indexed.face_records()[0]
        .face()
        .unwrap()
        .bounding_box()
        .unwrap();
    let dropped = indexed.unindexed_faces()[0]
        .face_detail()
        .unwrap()
        .bounding_box()
        .unwrap();
    let area =
        |b: &aws_sdk_rekognition::types::BoundingBox| b.width().unwrap() * b.height().unwrap();
    assert!(area(kept) >= area(dropped), "the larger face is kept");
    engine.stop().await;
}

/// obama.jpg changed by `edit`, as JPEG.
fn edited_photo(edit: impl Fn(&RgbImage) -> RgbImage) -> Vec<u8> {
    let original = image::load_from_memory(&photo("obama.jpg"))
        .unwrap()
        .to_rgb8();
    jpeg(&edit(&original))
}

#[tokio::test]
async fn faces_too_poor_are_not_indexed_unless_the_filter_is_off() {
    let (_data, engine) = Running::with_people(unreachable_s3()).await;
    let rekognition = &engine.client;
    let index = |image: Vec<u8>, filter: QualityFilter| {
        rekognition
            .index_faces()
            .collection_id("people")
            .image(bytes(image))
            .max_faces(1)
            .quality_filter(filter)
            .send()
    };

    let blurred = edited_photo(|image| imageops::blur(image, 4.0));
    let refused = index(blurred.clone(), QualityFilter::Auto).await.unwrap();
    assert!(refused.face_records().is_empty(), "{refused:?}");
    assert_eq!(refused.unindexed_faces().len(), 1, "{refused:?}");
    assert_eq!(
        refused.unindexed_faces()[0].reasons(),
        [Reason::LowSharpness]
    );
    let sharpness = refused.unindexed_faces()[0]
        .face_detail()
        .unwrap()
        .quality()
        .unwrap()
        .sharpness();
    assert!(sharpness.unwrap() < 12.0, "{sharpness:?}");
    let accepted = index(blurred, QualityFilter::None).await.unwrap();
    assert_eq!(accepted.face_records().len(), 1, "{accepted:?}");

    let dark = edited_photo(|image| imageops::brighten(image, -150));
    let refused = index(dark, QualityFilter::Auto).await.unwrap();
    assert!(refused.face_records().is_empty(), "{refused:?}");
    assert_eq!(
        refused.unindexed_faces()[0].reasons(),
        [Reason::LowBrightness]
    );

    // A face cut by the image edge: kept by AUTO, refused by HIGH.
    let partial = photo("obama_partial_face.jpg");
    let strict = index(partial.clone(), QualityFilter::High).await.unwrap();
    assert!(strict.face_records().is_empty(), "{strict:?}");
    assert!(
        strict.unindexed_faces()[0]
            .reasons()
            .contains(&Reason::LowFaceQuality),
        "{strict:?}"
    );
    let lenient = index(partial, QualityFilter::Auto).await.unwrap();
    assert_eq!(lenient.face_records().len(), 1, "{lenient:?}");
    engine.stop().await;
}

#[tokio::test]
async fn faces_are_listed_page_by_page_and_survive_a_restart() {
    let (data, engine) = Running::with_people(unreachable_s3()).await;
    let rekognition = &engine.client;
    let mut indexed = Vec::new();
    for (name, image) in [
        ("obama", photo("obama.jpg")),
        ("obama3", photo("obama3.jpg")),
        ("both", two_faces_picture()),
    ] {
        let response = rekognition
            .index_faces()
            .collection_id("people")
            .image(bytes(image))
            .external_image_id(name)
            .max_faces(2)
            .send()
            .await
            .unwrap();
        indexed.extend(
            response
                .face_records()
                .iter()
                .map(|r| r.face().unwrap().face_id().unwrap().to_owned()),
        );
    }
    assert_eq!(indexed.len(), 4);

    let mut listed = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = rekognition
            .list_faces()
            .collection_id("people")
            .max_results(3)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        pages += 1;
        assert!(page.faces().len() <= 3);
        listed.extend(page.faces().iter().map(|f| f.face_id().unwrap().to_owned()));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 2);
    let mut expected = indexed.clone();
    expected.sort();
    assert_eq!(listed, expected);
    let bad_token = rekognition
        .list_faces()
        .collection_id("people")
        .next_token("bogus")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(bad_token), "InvalidPaginationTokenException");
    let selected = rekognition
        .list_faces()
        .collection_id("people")
        .face_ids(&indexed[0])
        .send()
        .await
        .unwrap();
    assert_eq!(selected.faces().len(), 1);
    assert_eq!(selected.faces()[0].external_image_id(), Some("obama"));

    rekognition
        .delete_faces()
        .collection_id("people")
        .face_ids(&indexed[3])
        .send()
        .await
        .unwrap();
    engine.stop().await;

    let engine = Running::start(data.path(), unreachable_s3()).await;
    let rekognition = &engine.client;
    let described = rekognition
        .describe_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap();
    assert_eq!(described.face_count(), Some(3));
    let found = rekognition
        .search_faces_by_image()
        .collection_id("people")
        .image(bytes(photo("obama2.jpg")))
        .send()
        .await
        .unwrap();
    let matched: Vec<&str> = found
        .face_matches()
        .iter()
        .map(|m| m.face().unwrap().face_id().unwrap())
        .collect();
    assert!(matched.contains(&indexed[0].as_str()), "{found:?}");
    assert!(matched.contains(&indexed[1].as_str()), "{found:?}");
    engine.stop().await;
}
