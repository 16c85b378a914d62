//! `face-engine`: the Rekognition-compatible face engine as a server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use local_face_engine::{DetectorKind, EngineConfig, FaceEngine};
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
    /// Access key every request must be signed with.
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    access_key_id: String,
    /// Secret key matching --access-key-id.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    secret_access_key: String,
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
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("face-engine: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    // Loopback only: the engine holds biometric data and is not hardened
    // for a network.
    if !args.listen.ip().is_loopback() {
        return Err(format!(
            "refusing to listen on {}: the face engine only listens on loopback addresses",
            args.listen
        )
        .into());
    }
    let access = local_iam::Access::single_key(
        &args.access_key_id,
        &args.secret_access_key,
        "000000000000",
    )?;
    let mut config = EngineConfig::new(args.data_dir, args.models_dir, access);
    config.detector = args.detector;
    config.region = args.region;
    if let Some(workers) = args.workers {
        config.workers = workers;
    }
    let s3 = local_face_engine::s3_config_from_env(&config.region, args.s3_force_path_style).await;
    let engine = FaceEngine::open(config, s3).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    local_face_engine::serve_with_shutdown(listener, engine, async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("shutting down");
        }
    })
    .await?;
    Ok(())
}
