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
//! * Persistence: see [`store`]; search is a brute-force scan.
//! * Request signing: see [`auth`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use face_engine::{EngineConfig, FaceEngine};
//! let config = EngineConfig::new(".local/face-engine", ".local/models");
//! let s3 = face_engine::s3_client_from_env(&config.region, true).await;
//! let engine = FaceEngine::open(config, s3).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3002").await?;
//! face_engine::serve(listener, engine).await?;
//! # Ok(()) }
//! ```

pub mod api;
pub mod auth;
pub mod config;
pub mod engine;
pub mod error;
pub mod image_input;
pub mod pagination;
pub mod quality;
pub mod server;
pub mod similarity;
pub mod store;
pub mod vision;

pub use config::{AccessCredentials, DetectorKind, EngineConfig};
pub use engine::{FACE_MODEL_VERSION, FaceEngine, OpenError};
pub use error::ApiError;
pub use server::{serve, serve_with_shutdown};

/// An S3 client from the standard AWS environment (`AWS_ENDPOINT_URL_S3`,
/// `AWS_ACCESS_KEY_ID`, ..., or a profile), for `region`, with path-style
/// addressing when asked, as a local S3 store on `127.0.0.1` needs.
///
/// Region and credentials never come from the EC2 instance metadata
/// service: this engine runs on a workstation, where that lookup would only
/// send requests to an address outside the machine and time out.
pub async fn s3_client_from_env(region: &str, force_path_style: bool) -> aws_sdk_s3::Client {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_config::meta::credentials::CredentialsProviderChain;
    use aws_config::profile::ProfileFileCredentialsProvider;
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

    let credentials = CredentialsProviderChain::first_try(
        "Environment",
        EnvironmentVariableCredentialsProvider::new(),
    )
    .or_else("Profile", ProfileFileCredentialsProvider::builder().build());
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(credentials)
        .load()
        .await;
    let config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(force_path_style)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}
