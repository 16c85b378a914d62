//! The S3 and Rekognition adapters against the local S3 store and the local
//! face engine, both driven through the real AWS SDK clients. Photos come
//! from `.local/test-images`, models from `.local/models` (`make models
//! test-images`).

use std::io::Cursor;
use std::path::PathBuf;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use image::{DynamicImage, ImageOutputFormat, imageops};
use local_face_engine::{EngineConfig, FaceEngine};
use local_s3_store::{Access, BucketConfig, RunningS3Store, S3Store, S3StoreConfig};
use registry::indexing::IndexOutcome;
use registry::ports::{FaceIndex, PhotoStore};
use registry_adapters::{RekognitionFaceIndex, S3PhotoStore};
use tokio::net::TcpListener;

const ACCESS_KEY: &str = "AKIDADAPTERTESTS";
const SECRET_KEY: &str = "adapter-tests-secret";
const BUCKET: &str = "photos";
const COLLECTION: &str = "faces";

fn photo(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../.local/test-images")
        .join(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `make test-images`)", path.display()))
}

fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            ACCESS_KEY, SECRET_KEY, None, None, "tests",
        )))
        .http_client(registry_adapters::aws::https_client())
        .build()
}

struct World {
    _dirs: tempfile::TempDir,
    store: RunningS3Store,
    photos: S3PhotoStore,
    s3: aws_sdk_s3::Client,
    faces: RekognitionFaceIndex,
    rekognition: aws_sdk_rekognition::Client,
}

async fn world() -> World {
    let dirs = tempfile::tempdir().unwrap();
    // One key pair that may do anything: the adapters are under test here,
    // not authorization or event delivery (the bucket notifies no one).
    let access = Access::single_key(ACCESS_KEY, SECRET_KEY, "123456789012").unwrap();
    let mut config = S3StoreConfig::new(
        dirs.path().join("s3"),
        dirs.path().join("versions"),
        access.clone(),
    );
    let mut bucket = BucketConfig::new(BUCKET);
    bucket.versioned = true;
    config.buckets = vec![bucket];
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let store = S3Store::start(config, listener)
        .await
        .expect("S3 store starts");
    let s3_sdk = sdk_config(&store.endpoint_url());
    let s3 = S3PhotoStore::client(&s3_sdk, true);

    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.local/models");
    let engine_config = EngineConfig::new(dirs.path().join("engine"), models, access);
    let engine_s3 = aws_sdk_s3::config::Builder::from(&s3_sdk).force_path_style(true);
    let engine = FaceEngine::open(engine_config, engine_s3)
        .await
        .expect("face engine opens (run `make models`)");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let engine_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(local_face_engine::serve(listener, engine));
    let rekognition = aws_sdk_rekognition::Client::new(&sdk_config(&engine_url));
    rekognition
        .create_collection()
        .collection_id(COLLECTION)
        .send()
        .await
        .expect("collection created");

    World {
        _dirs: dirs,
        photos: S3PhotoStore::from_config(&s3_sdk, true, BUCKET),
        faces: RekognitionFaceIndex::new(rekognition.clone(), COLLECTION),
        store,
        s3,
        rekognition,
    }
}

impl World {
    async fn put(&self, key: &str, body: Vec<u8>) {
        self.s3
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(body.into())
            .send()
            .await
            .expect("put");
    }

    async fn face_ids(&self) -> Vec<String> {
        let listed = self
            .rekognition
            .list_faces()
            .collection_id(COLLECTION)
            .send()
            .await
            .unwrap();
        let mut ids: Vec<String> = listed
            .faces()
            .iter()
            .filter_map(|f| f.face_id().map(str::to_owned))
            .collect();
        ids.sort();
        ids
    }
}

fn jpeg(image: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut out), ImageOutputFormat::Jpeg(90))
        .unwrap();
    out
}

#[tokio::test]
async fn presigned_upload_covers_type_and_length() {
    let world = world().await;
    let body = photo("obama.jpg");
    let ticket = world
        .photos
        .presign_upload(
            "obama_barack.jpg",
            "image/jpeg",
            body.len() as u64,
            Duration::from_secs(300),
        )
        .await
        .unwrap();
    assert_eq!(ticket.method, "PUT");
    assert!(ticket.url.contains("X-Amz-Signature="));
    let signed = ticket
        .url
        .split("X-Amz-SignedHeaders=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        signed.contains("content-type") && signed.contains("content-length"),
        "{signed}"
    );

    let http = reqwest::Client::new();
    let wrong_type = http
        .put(&ticket.url)
        .header("content-type", "image/png")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        wrong_type.status(),
        403,
        "a different content type breaks the signature"
    );
    let wrong_length = http
        .put(&ticket.url)
        .header("content-type", "image/jpeg")
        .body(body[..100].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(
        wrong_length.status(),
        403,
        "a different length breaks the signature"
    );
    let ok = http
        .put(&ticket.url)
        .header("content-type", "image/jpeg")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());

    let stored = world
        .photos
        .stat("obama_barack.jpg")
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.size, body.len() as u64);
    let download = world
        .photos
        .presign_download("obama_barack.jpg", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        http.get(&download)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        &body[..]
    );
    world.store.shutdown().await.unwrap();
}

#[tokio::test]
async fn indexing_tells_one_none_several_and_unreadable_apart() {
    let world = world().await;

    world.put("obama_barack.jpg", photo("obama.jpg")).await;
    let IndexOutcome::OneFace(face) = IndexOutcome::of(
        world
            .faces
            .index_photo(BUCKET, "obama_barack.jpg", None)
            .await
            .unwrap(),
    ) else {
        panic!("one face expected");
    };
    assert!(face.confidence > 90.0, "{}", face.confidence);
    assert!(face.face_box.width > 0.05 && face.face_box.width < 1.0);
    assert_eq!(world.face_ids().await, vec![face.face_id.clone()]);

    let blank = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
        400,
        300,
        image::Rgb([90, 140, 200]),
    ));
    world.put("blank_wall.jpg", jpeg(&blank)).await;
    assert_eq!(
        IndexOutcome::of(
            world
                .faces
                .index_photo(BUCKET, "blank_wall.jpg", None)
                .await
                .unwrap()
        ),
        IndexOutcome::NoFace
    );

    let left = image::load_from_memory(&photo("obama.jpg"))
        .unwrap()
        .to_rgb8();
    let right = image::load_from_memory(&photo("biden.jpg"))
        .unwrap()
        .to_rgb8();
    let height = left.height().max(right.height());
    let mut pair = image::RgbImage::new(left.width() + right.width(), height);
    imageops::replace(&mut pair, &left, 0, 0);
    imageops::replace(&mut pair, &right, i64::from(left.width()), 0);
    world
        .put("pair_two.jpg", jpeg(&DynamicImage::ImageRgb8(pair)))
        .await;
    let IndexOutcome::SeveralFaces { indexed } = IndexOutcome::of(
        world
            .faces
            .index_photo(BUCKET, "pair_two.jpg", None)
            .await
            .unwrap(),
    ) else {
        panic!("several faces expected");
    };
    assert_eq!(indexed.len(), 1, "MaxFaces = 1 keeps the largest face only");

    world
        .put("garbage_bytes.jpg", b"this is not an image at all".to_vec())
        .await;
    assert!(matches!(
        IndexOutcome::of(
            world
                .faces
                .index_photo(BUCKET, "garbage_bytes.jpg", None)
                .await
                .unwrap()
        ),
        IndexOutcome::InvalidImage { .. }
    ));

    world.faces.delete_faces(&indexed).await.unwrap();
    world
        .faces
        .delete_faces(&indexed)
        .await
        .expect("deleting twice is fine");
    assert_eq!(world.face_ids().await, vec![face.face_id]);
    world.store.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_missing_collection_is_not_the_photos_fault() {
    let world = world().await;
    world.put("obama_barack.jpg", photo("obama.jpg")).await;
    let elsewhere = RekognitionFaceIndex::new(world.rekognition.clone(), "no-such-collection");
    let error = elsewhere
        .index_photo(BUCKET, "obama_barack.jpg", None)
        .await
        .unwrap_err();
    assert!(!error.is_transient(), "{error}");
    assert!(
        error.to_string().contains("ResourceNotFoundException"),
        "{error}"
    );
    world.store.shutdown().await.unwrap();
}

/// The collection's contract on the Rekognition adapter and the local face
/// engine (faces added by indexing a photo), and on the in-memory collection.
mod collection_contract {
    use async_trait::async_trait;
    use registry_testkit::collection_contract::CollectionUnderTest;

    use super::*;

    #[async_trait]
    impl CollectionUnderTest for World {
        type Index = RekognitionFaceIndex;

        fn index(&self) -> &RekognitionFaceIndex {
            &self.faces
        }

        async fn add_face(&self) -> String {
            static ADDED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = ADDED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let key = format!("person-{n}_face.jpg");
            self.put(&key, photo("obama.jpg")).await;
            match IndexOutcome::of(self.faces.index_photo(BUCKET, &key, None).await.unwrap()) {
                IndexOutcome::OneFace(face) => face.face_id,
                other => panic!("one face expected, got {other:?}"),
            }
        }
    }

    mod face_engine {
        registry_testkit::face_index_contract!(async { ((), super::world().await) });
    }

    mod in_memory {
        registry_testkit::face_index_contract!(async {
            ((), registry_testkit::InMemoryCollection::default())
        });
    }
}
