//! A Rekognition-compatible face engine for running the registry offline.
//!
//! It speaks the AWS JSON 1.1 protocol of Amazon Rekognition on a local
//! port, so the unmodified `aws-sdk-rekognition` client (or any AWS SDK)
//! works against it through `AWS_ENDPOINT_URL_REKOGNITION`. Faces are real:
//! dlib's HOG (or MMOD CNN) detector, its five-point landmark model and its
//! ResNet 128-d face embedding.
//!
//! Operations: `CreateCollection`, `DescribeCollection`, `ListCollections`,
//! `DeleteCollection`, `IndexFaces`, `ListFaces`, `DeleteFaces`,
//! `SearchFaces`, `SearchFacesByImage`, `DetectFaces`.
//!
//! * Similarity: see [`similarity`]; similarity 80 (Rekognition's default
//!   threshold) is exactly dlib's same-person distance 0.6.
//! * Quality filter and `UnindexedFaces` reasons: see [`quality`].
//! * Persistence: see [`store`]; search scans 8-bit codes of the embeddings,
//!   then ranks the candidates by the embeddings themselves (exact).
//! * Callers: every request is signed (SigV4) with a key of the
//!   [`local_iam::KeyRing`] and authorized as Rekognition authorizes it
//!   (`rekognition:<Operation>` on the collection); images in S3 are read
//!   with the caller's own permissions.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use local_face_engine::{EngineConfig, FaceEngine};
//! let access = local_iam::Access::single_key("AKIDLOCAL", "local-secret", "123456789012")?;
//! let config = EngineConfig::new(".local/face-engine", ".local/models", access);
//! let s3 = local_face_engine::s3_config_from_env(&config.region, true).await;
//! let engine = FaceEngine::open(config, s3).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3002").await?;
//! local_face_engine::serve(listener, engine).await?;
//! # Ok(()) }
//! ```

pub mod api;
pub mod config;
pub mod engine;
pub mod error;
pub mod hog;
pub mod image_input;
pub mod pagination;
pub mod quality;
pub mod server;
pub mod similarity;
pub mod store;
pub mod synthetic;
pub mod vision;

pub use config::{DetectorKind, EngineConfig};
pub use engine::{FACE_MODEL_VERSION, FaceEngine, OpenError};
pub use error::ApiError;
pub use server::{serve, serve_with_shutdown};

/// Where images in S3 are read from, from the standard AWS environment
/// (`AWS_ENDPOINT_URL_S3` or a profile's endpoint), for `region`, with
/// path-style addressing when asked, as a local S3 store on `127.0.0.1`
/// needs. Reads are signed as each caller, so no credentials here.
pub async fn s3_config_from_env(
    region: &str,
    force_path_style: bool,
) -> aws_sdk_s3::config::Builder {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https)
        .region(aws_config::Region::new(region.to_owned()))
        .no_credentials()
        .load()
        .await;
    aws_sdk_s3::config::Builder::from(&shared).force_path_style(force_path_style)
}
