//! `face-engine`: the Rekognition-compatible face engine as a server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use face_engine::{AccessCredentials, DetectorKind, EngineConfig, FaceEngine};
use tracing_subscriber::EnvFilter;

/// A Rekognition-compatible face engine backed by dlib. Point any AWS SDK at
/// it with `AWS_ENDPOINT_URL_REKOGNITION=http://<listen>`.
#[derive(Debug, Parser)]
#[command(name = "face-engine", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "FACE_ENGINE_LISTEN", default_value = "127.0.0.1:3002")]
    listen: SocketAddr,
    /// Where collections are kept.
    #[arg(
        long,
        env = "FACE_ENGINE_DATA_DIR",
        default_value = ".local/face-engine"
    )]
    data_dir: PathBuf,
    /// Folder with the dlib model files (`make models`).
    #[arg(long, env = "FACE_ENGINE_MODELS_DIR", default_value = ".local/models")]
    models_dir: PathBuf,
    /// Face detector.
    #[arg(long, env = "FACE_ENGINE_DETECTOR", value_enum, default_value_t = DetectorKind::Hog)]
    detector: DetectorKind,
    /// Images analysed at once (one model set each).
    #[arg(long, env = "FACE_ENGINE_WORKERS")]
    workers: Option<usize>,
    /// Region requests are signed for.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
    /// Access key requests must be signed with; with no key pair, unsigned requests are accepted.
    #[arg(long, env = "AWS_ACCESS_KEY_ID", requires = "secret_access_key")]
    access_key_id: Option<String>,
    /// Secret key matching --access-key-id.
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        hide_env_values = true,
        requires = "access_key_id"
    )]
    secret_access_key: Option<String>,
    /// Use path-style S3 addressing (as a local S3 store needs).
    #[arg(long, env = "S3_FORCE_PATH_STYLE", default_value_t = false)]
    s3_force_path_style: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "face engine stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = EngineConfig::new(args.data_dir, args.models_dir);
    config.detector = args.detector;
    config.region = args.region;
    if let Some(workers) = args.workers {
        config.workers = workers;
    }
    config.credentials = match (args.access_key_id, args.secret_access_key) {
        (Some(access_key_id), Some(secret_access_key)) => Some(AccessCredentials {
            access_key_id,
            secret_access_key,
        }),
        _ => {
            tracing::warn!("no access key configured: unsigned requests are accepted");
            None
        }
    };
    let s3 = face_engine::s3_client_from_env(&config.region, args.s3_force_path_style).await;
    let engine = FaceEngine::open(config, s3).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    face_engine::serve_with_shutdown(listener, engine, async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("shutting down");
        }
    })
    .await?;
    Ok(())
}
