//! The engine on 127.0.0.1:0, driven by the real `aws-sdk-rekognition`
//! client, with the dlib models from `.local/models` and the photos from
//! `.local/test-images` (`make models test-images`).

mod collections;
mod faces;
mod requests;

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
    /// An engine with an empty collection `people`, its data in a folder
    /// that lives as long as the test keeps it.
    async fn with_people(s3: aws_sdk_s3::config::Builder) -> (tempfile::TempDir, Self) {
        let data = tempfile::tempdir().unwrap();
        let engine = Self::start(data.path(), s3).await;
        engine
            .client
            .create_collection()
            .collection_id("people")
            .send()
            .await
            .unwrap();
        (data, engine)
    }

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
