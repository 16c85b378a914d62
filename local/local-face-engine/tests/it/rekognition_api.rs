//! The engine on 127.0.0.1:0, driven by the real `aws-sdk-rekognition`
//! client, with the dlib models from `.local/models` and the photos from
//! `.local/test-images` (`make models test-images`).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use aws_sdk_rekognition::Client;
use aws_sdk_rekognition::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_rekognition::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rekognition::primitives::Blob;
use aws_sdk_rekognition::types::{Image, QualityFilter, Reason, S3Object};
use image::{DynamicImage, ImageOutputFormat, Rgb, RgbImage, imageops};
use local_face_engine::{EngineConfig, FaceEngine};
use local_iam::{Access, Authorizer, KeyRing, Policy, Principal};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const ACCESS_KEY: &str = "AKIDFACEENGINETEST";
const SECRET_KEY: &str = "face-engine-test-secret";
const REGION: &str = "us-east-1";

fn local(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../.local")
        .join(dir)
}

fn photo(name: &str) -> Vec<u8> {
    let path = local("test-images").join(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `make test-images`)", path.display()))
}

fn bytes(data: Vec<u8>) -> Image {
    Image::builder().bytes(Blob::new(data)).build()
}

fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(image.clone())
        .write_to(&mut Cursor::new(&mut out), ImageOutputFormat::Jpeg(92))
        .expect("JPEG encodes");
    out
}

/// A picture with no face: a colour gradient with a few flat shapes.
fn no_face_picture() -> Vec<u8> {
    let mut picture = RgbImage::from_fn(640, 480, |x, y| Rgb([(x / 3) as u8, (y / 2) as u8, 128]));
    for (i, colour) in [[200, 40, 40], [40, 200, 40], [40, 40, 200]]
        .into_iter()
        .enumerate()
    {
        let left = 60 + i as u32 * 190;
        for y in 150..330 {
            for x in left..left + 120 {
                picture.put_pixel(x, y, Rgb(colour));
            }
        }
    }
    jpeg(&picture)
}

/// obama.jpg and biden.jpg side by side.
fn two_faces_picture() -> Vec<u8> {
    let left = image::load_from_memory(&photo("obama.jpg"))
        .unwrap()
        .to_rgb8();
    let right = image::load_from_memory(&photo("biden.jpg"))
        .unwrap()
        .to_rgb8();
    let mut joined = RgbImage::from_pixel(
        left.width() + right.width(),
        left.height().max(right.height()),
        Rgb([255, 255, 255]),
    );
    imageops::replace(&mut joined, &left, 0, 0);
    imageops::replace(&mut joined, &right, i64::from(left.width()), 0);
    jpeg(&joined)
}

fn error_code<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    error: SdkError<E, R>,
) -> String {
    match error {
        SdkError::ServiceError(service) => service.err().code().unwrap_or("<none>").to_owned(),
        other => panic!("expected a service error, got {other:?}"),
    }
}

fn unreachable_s3() -> aws_sdk_s3::config::Builder {
    s3_config("http://127.0.0.1:9")
}

/// Where the engine reads images; it signs each read as its caller.
fn s3_config(endpoint: &str) -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(REGION))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
}

/// The operator (may do anything) and a `Viewer` that may only list faces.
fn access() -> Access {
    let mut keys = KeyRing::new(b"unused");
    let policy = |statements: serde_json::Value| {
        Policy::parse(
            "test",
            &serde_json::json!({"Version": "2012-10-17", "Statement": statements}),
        )
        .unwrap()
    };
    let principal = |name: &str, policies| Principal {
        name: name.to_owned(),
        principal_arn: format!("arn:aws:iam::123456789012:user/{name}"),
        role_arn: format!("arn:aws:iam::123456789012:user/{name}"),
        account: "123456789012".to_owned(),
        policies,
    };
    keys.insert(
        principal(
            "operator",
            vec![policy(
                serde_json::json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}]),
            )],
        ),
        ACCESS_KEY,
        SECRET_KEY,
    );
    keys.insert(
        principal(
            "Viewer",
            vec![policy(
                serde_json::json!([{"Effect": "Allow", "Action": "rekognition:ListFaces",
                "Resource": "arn:aws:rekognition:us-east-1:123456789012:collection/people"}]),
            )],
        ),
        VIEWER_KEY,
        SECRET_KEY,
    );
    Access {
        keys: std::sync::Arc::new(keys),
        authorizer: std::sync::Arc::new(Authorizer::new()),
    }
}

const VIEWER_KEY: &str = "AKIDFACEENGINEVIEWER";

fn client(address: std::net::SocketAddr, access_key: &str, secret_key: &str) -> Client {
    Client::from_conf(
        aws_sdk_rekognition::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(access_key, secret_key, None, None, "test"))
            .endpoint_url(format!("http://{address}"))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build(),
    )
}

struct Running {
    client: Client,
    address: std::net::SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(data_dir: &Path, s3: aws_sdk_s3::config::Builder) -> Self {
        let mut config = EngineConfig::new(data_dir, local("models"), access());
        config.workers = 1;
        config.region = REGION.to_owned();
        config.account_id = "123456789012".to_owned();
        let engine = FaceEngine::open(config, s3)
            .await
            .expect("engine opens (run `make models`)");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(local_face_engine::serve_with_shutdown(
            listener,
            engine,
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            client: client(address, ACCESS_KEY, SECRET_KEY),
            address,
            stop,
            task,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn collections_are_created_described_listed_and_deleted() {
    let data = tempfile::tempdir().unwrap();
    let engine = Running::start(data.path(), unreachable_s3()).await;
    let rekognition = &engine.client;

    let created = rekognition
        .create_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status_code(), Some(200));
    assert_eq!(
        created.collection_arn(),
        Some("arn:aws:rekognition:us-east-1:123456789012:collection/people")
    );
    assert_eq!(
        created.face_model_version(),
        Some(local_face_engine::FACE_MODEL_VERSION)
    );

    let again = rekognition
        .create_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(again), "ResourceAlreadyExistsException");
    let bad = rekognition
        .create_collection()
        .collection_id("no spaces")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(bad), "InvalidParameterException");

    let described = rekognition
        .describe_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap();
    assert_eq!(described.face_count(), Some(0));
    assert_eq!(
        described.collection_arn(),
        Some("arn:aws:rekognition:us-east-1:123456789012:collection/people")
    );
    let created_at = described.creation_timestamp().unwrap().secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - created_at).abs() < 60, "{created_at} vs {now}");

    for id in ["archive", "visitors"] {
        rekognition
            .create_collection()
            .collection_id(id)
            .send()
            .await
            .unwrap();
    }
    let mut listed = Vec::new();
    let mut token = None;
    loop {
        let page = rekognition
            .list_collections()
            .max_results(2)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        assert!(page.collection_ids().len() <= 2);
        assert_eq!(
            page.collection_ids().len(),
            page.face_model_versions().len()
        );
        listed.extend(page.collection_ids().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(listed, ["archive", "people", "visitors"]);
    let bad_token = rekognition
        .list_collections()
        .next_token("bogus")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(bad_token), "InvalidPaginationTokenException");

    let deleted = rekognition
        .delete_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status_code(), Some(200));
    let gone = rekognition
        .describe_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(gone), "ResourceNotFoundException");
    let gone = rekognition
        .delete_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(gone), "ResourceNotFoundException");
    let listed = rekognition.list_collections().send().await.unwrap();
    assert_eq!(listed.collection_ids(), ["archive", "visitors"]);
    engine.stop().await;
}

#[tokio::test]
async fn indexed_face_is_found_by_another_photo_of_the_same_person_only() {
    let data = tempfile::tempdir().unwrap();
    let engine = Running::start(data.path(), unreachable_s3()).await;
    let rekognition = &engine.client;
    rekognition
        .create_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap();

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
    let data = tempfile::tempdir().unwrap();
    let engine = Running::start(data.path(), unreachable_s3()).await;
    let rekognition = &engine.client;
    rekognition
        .create_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap();

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
    let data = tempfile::tempdir().unwrap();
    let engine = Running::start(data.path(), unreachable_s3()).await;
    let rekognition = &engine.client;
    rekognition
        .create_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap();
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
    let data = tempfile::tempdir().unwrap();
    let engine = Running::start(data.path(), unreachable_s3()).await;
    let rekognition = &engine.client;
    rekognition
        .create_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap();
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

#[tokio::test]
async fn bad_input_and_bad_signatures_are_rejected() {
    let data = tempfile::tempdir().unwrap();
    let engine = Running::start(data.path(), unreachable_s3()).await;
    let rekognition = &engine.client;
    rekognition
        .create_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap();

    let garbage = rekognition
        .index_faces()
        .collection_id("people")
        .image(bytes(b"definitely not a photo".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(garbage), "InvalidImageFormatException");

    let bad_external_id = rekognition
        .index_faces()
        .collection_id("people")
        .image(bytes(photo("obama.jpg")))
        .external_image_id("obama barack/photo.jpg")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(bad_external_id), "InvalidParameterException");

    let unknown = rekognition
        .index_faces()
        .collection_id("nobody")
        .image(bytes(photo("obama.jpg")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(unknown), "ResourceNotFoundException");

    let too_large = rekognition
        .detect_faces()
        .image(bytes(vec![0xFF; 5 * 1024 * 1024 + 1]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(too_large), "ImageTooLargeException");

    let bad_threshold = rekognition
        .search_faces_by_image()
        .collection_id("people")
        .image(bytes(photo("obama.jpg")))
        .face_match_threshold(101.0)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(bad_threshold), "InvalidParameterException");

    let wrong_secret = client(engine.address, ACCESS_KEY, "not-the-secret");
    let denied = wrong_secret.list_collections().send().await.unwrap_err();
    assert_eq!(error_code(denied), "InvalidSignatureException");
    let wrong_key = client(engine.address, "AKIDSOMEONEELSE", SECRET_KEY);
    let denied = wrong_key.list_collections().send().await.unwrap_err();
    assert_eq!(error_code(denied), "UnrecognizedClientException");

    // A known caller may do only what its policies allow.
    let viewer = client(engine.address, VIEWER_KEY, SECRET_KEY);
    viewer
        .list_faces()
        .collection_id("people")
        .send()
        .await
        .unwrap();
    let denied = viewer
        .index_faces()
        .collection_id("people")
        .image(bytes(photo("obama.jpg")))
        .send()
        .await
        .unwrap_err();
    let message = denied
        .as_service_error()
        .and_then(|e| e.message())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(error_code(denied), "AccessDeniedException");
    assert_eq!(
        message,
        "User: arn:aws:iam::123456789012:user/Viewer is not authorized to perform: rekognition:IndexFaces on \
         resource: arn:aws:rekognition:us-east-1:123456789012:collection/people because no identity-based \
         policy allows the rekognition:IndexFaces action"
    );
    engine.stop().await;
}

/// A local S3 (s3s-fs over a temp dir) on 127.0.0.1:0.
async fn start_s3(root: &Path) -> (String, JoinHandle<()>) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder as ConnBuilder;

    let fs = s3s_fs::FileSystem::new(root).unwrap();
    let mut builder = s3s::service::S3ServiceBuilder::new(fs);
    builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = builder.build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let service = service.clone();
            tokio::spawn(async move {
                let _ = ConnBuilder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    (format!("http://{address}"), task)
}

#[tokio::test]
async fn images_are_read_from_s3_objects() {
    let s3_root = tempfile::tempdir().unwrap();
    std::fs::create_dir(s3_root.path().join("photos")).unwrap();
    std::fs::write(
        s3_root.path().join("photos/obama_barack.jpg"),
        photo("obama.jpg"),
    )
    .unwrap();
    std::fs::write(s3_root.path().join("photos/notes.txt"), b"not a photo").unwrap();
    let (endpoint, s3_task) = start_s3(s3_root.path()).await;

    let data = tempfile::tempdir().unwrap();
    let engine = Running::start(data.path(), s3_config(&endpoint)).await;
    let rekognition = &engine.client;
    rekognition
        .create_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap();

    let object = |key: &str| {
        Image::builder()
            .s3_object(S3Object::builder().bucket("photos").name(key).build())
            .build()
    };
    let indexed = rekognition
        .index_faces()
        .collection_id("people")
        .image(object("obama_barack.jpg"))
        .external_image_id("obama_barack.jpg")
        .max_faces(1)
        .quality_filter(QualityFilter::Auto)
        .send()
        .await
        .unwrap();
    assert_eq!(indexed.face_records().len(), 1, "{indexed:?}");

    let missing = rekognition
        .index_faces()
        .collection_id("people")
        .image(object("nobody.jpg"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(missing), "InvalidS3ObjectException");
    let not_a_photo = rekognition
        .index_faces()
        .collection_id("people")
        .image(object("notes.txt"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(not_a_photo), "InvalidImageFormatException");
    engine.stop().await;
    s3_task.abort();
}
