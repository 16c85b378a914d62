//! `registry-local`: the whole registry on 127.0.0.1 in one process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use face_engine::DetectorKind;
use registry_local::environment::{EnvironmentSettings, FunctionEnvironment};
use registry_local::runtime::{
    DEFAULT_BUCKET, DEFAULT_COLLECTION, DEFAULT_ENGINE, DEFAULT_GATEWAY, DEFAULT_REGION, DEFAULT_S3,
};
use registry_local::{
    Group, LocalCredentials, LocalRuntime, RuntimeOptions, ScratchDatabase, StatePaths,
    TokenAuthority,
};
use s3_store::{DeadLetters, EventTarget, InvocationError, S3Event};

#[derive(Debug, Parser)]
#[command(
    name = "registry-local",
    version,
    about = "The Face Registry on one machine: gateway, S3 store, face engine and the functions"
)]
struct Cli {
    /// Folder of the local state: credentials, signing key, objects, faces.
    #[arg(
        long,
        env = "REGISTRY_LOCAL_STATE_DIR",
        default_value = ".local",
        global = true
    )]
    state_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the registry until Ctrl-C.
    Serve(ServeArgs),
    /// Print a bearer token for a group (valid one hour).
    Token {
        #[arg(long, default_value = "admins")]
        group: String,
    },
    /// Print the functions' environment (without secrets) as shell exports,
    /// for running a function under `cargo lambda watch`.
    Env {
        #[arg(long, default_value = DEFAULT_S3)]
        s3_listen: SocketAddr,
        #[arg(long, default_value = DEFAULT_ENGINE)]
        engine_listen: SocketAddr,
    },
    /// S3 events the indexer could not handle.
    DeadLetters {
        #[command(subcommand)]
        action: DeadLetterAction,
    },
}

#[derive(Debug, Subcommand)]
enum DeadLetterAction {
    /// Print every dead letter as one JSON line.
    List,
    /// Deliver one again to the indexer, through the running gateway.
    Replay {
        id: String,
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        gateway_url: String,
    },
    /// Remove one.
    Delete { id: String },
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[arg(long, default_value = DEFAULT_GATEWAY)]
    gateway_listen: SocketAddr,
    #[arg(long, default_value = DEFAULT_S3)]
    s3_listen: SocketAddr,
    #[arg(long, default_value = DEFAULT_ENGINE)]
    engine_listen: SocketAddr,
    /// The dlib models (`make models`).
    #[arg(long, env = "FACE_ENGINE_MODELS_DIR", default_value = ".local/models")]
    models_dir: PathBuf,
    /// The MySQL server and database (`make database` writes it to .local/database.env).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Use a new database on the DATABASE_URL server, dropped on exit.
    #[arg(long)]
    scratch_database: bool,
    #[arg(long, env = "FACE_ENGINE_DETECTOR", value_enum, default_value_t = DetectorKind::Hog)]
    detector: DetectorKind,
    #[arg(long, default_value = DEFAULT_BUCKET)]
    bucket: String,
    #[arg(long, default_value = DEFAULT_COLLECTION)]
    collection: String,
    /// Deliver S3 events through the Lambda Invoke API instead of in-process, e.g.
    /// http://127.0.0.1:9000/2015-03-31/functions/indexer/invocations (cargo lambda watch).
    #[arg(long)]
    indexer_invoke_url: Option<String>,
    /// Keep a copy of every S3 event delivered in this folder (JSON, as
    /// Lambda receives it; usable with `cargo lambda invoke --data-file`).
    #[arg(long)]
    record_events: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Start(#[from] registry_local::StartError),
    #[error(transparent)]
    Scratch(#[from] registry_local::scratch::ScratchError),
    #[error(transparent)]
    Secret(#[from] registry_local::SecretFileError),
    #[error(transparent)]
    Token(#[from] registry_local::tokens::TokenError),
    #[error(transparent)]
    Group(#[from] registry_local::tokens::UnknownGroup),
    #[error(transparent)]
    DeadLetter(#[from] s3_store::DeadLetterError),
    #[error("waiting for a signal failed: {0}")]
    Signal(#[source] std::io::Error),
    #[error("the gateway URL {0:?} is not a valid http URL")]
    GatewayUrl(String),
    #[error("the gateway did not answer: {0}")]
    Gateway(#[source] reqwest::Error),
    #[error("the gateway refused the replay (HTTP {status}): {body}")]
    Replay { status: u16, body: String },
    #[error("output failed: {0}")]
    Output(#[from] serde_json::Error),
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,s3s=warn,sqlx=warn,aws_config=warn")
            }),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let state = StatePaths::new(&cli.state_dir);
    let result = match cli.command {
        Command::Serve(args) => serve(state, args).await,
        Command::Token { group } => token(&state, &group),
        Command::Env {
            s3_listen,
            engine_listen,
        } => env(&state, s3_listen, engine_listen),
        Command::DeadLetters { action } => dead_letters(&state, action).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("registry-local: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(state: StatePaths, args: ServeArgs) -> Result<(), CliError> {
    let scratch = if args.scratch_database {
        Some(ScratchDatabase::create(&args.database_url, "registry_local").await?)
    } else {
        None
    };
    let database_url = scratch
        .as_ref()
        .map_or(args.database_url.clone(), |s| s.url().to_owned());
    let mut options = RuntimeOptions::new(state.root.clone(), args.models_dir, database_url);
    options.gateway_listen = args.gateway_listen;
    options.s3_listen = args.s3_listen;
    options.engine_listen = args.engine_listen;
    options.detector = args.detector;
    options.bucket = args.bucket;
    options.collection = args.collection;
    options.indexer_invoke_url = args.indexer_invoke_url;
    options.record_events = args.record_events;
    let started = LocalRuntime::start(options).await;
    let runtime = match started {
        Ok(runtime) => runtime,
        Err(error) => {
            if let Some(scratch) = scratch {
                drop_scratch(scratch).await;
            }
            return Err(error.into());
        }
    };
    print_banner(&runtime, &state, scratch.as_ref());
    let signal = wait_for_signal().await;
    if let Ok(name) = &signal {
        tracing::info!(signal = name, "stopping");
    }
    runtime.shutdown().await;
    if let Some(scratch) = scratch {
        drop_scratch(scratch).await;
    }
    signal.map(|_| ())
}

async fn drop_scratch(scratch: ScratchDatabase) {
    if let Err(error) = scratch.drop_database().await {
        tracing::warn!(%error, "the scratch database was not dropped");
    }
}

fn print_banner(runtime: &LocalRuntime, state: &StatePaths, scratch: Option<&ScratchDatabase>) {
    let gateway = runtime.gateway_url();
    let environment = runtime.environment();
    let var = |name: &str| environment.get(name).unwrap_or_default();
    println!("Face Registry is running.");
    println!("  Gateway       {gateway}");
    println!("  Enrol         {gateway}/upload");
    println!("  People        {gateway}/faces");
    println!("  API           {gateway}/api/faces");
    println!("  Health        {gateway}/healthz");
    println!(
        "  S3 store      {}  (bucket {})",
        runtime.s3_endpoint(),
        var("PHOTO_BUCKET")
    );
    println!(
        "  Face engine   {}  (collection {})",
        runtime.engine_endpoint(),
        var("FACE_COLLECTION")
    );
    if let Some(scratch) = scratch {
        println!(
            "  Database      {} (scratch, dropped on exit)",
            scratch.name()
        );
    }
    println!(
        "  Credentials   {} (AWS_ACCESS_KEY_ID {})",
        state.credentials().display(),
        var("AWS_ACCESS_KEY_ID")
    );
    println!("Sign in with the pages' local sign-in buttons, or get a token:");
    println!("  make dev-token GROUP=admins     (or GROUP=viewers)");
    println!(
        "  curl -H \"Authorization: Bearer $(make -s dev-token GROUP=admins)\" {gateway}/api/faces"
    );
    println!("Ctrl-C stops.");
}

async fn wait_for_signal() -> Result<&'static str, CliError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).map_err(CliError::Signal)?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.map(|()| "SIGINT").map_err(CliError::Signal),
        _ = terminate.recv() => Ok("SIGTERM"),
    }
}

fn token(state: &StatePaths, group: &str) -> Result<(), CliError> {
    let group: Group = group.parse()?;
    let tokens = TokenAuthority::load_or_create(&state.signing_key())?;
    let issued = tokens.issue(group, registry_local::tokens::TOKEN_LIFETIME)?;
    println!("{}", issued.token);
    Ok(())
}

fn env(
    state: &StatePaths,
    s3_listen: SocketAddr,
    engine_listen: SocketAddr,
) -> Result<(), CliError> {
    let credentials = LocalCredentials::load_or_create(&state.credentials())?;
    let environment = FunctionEnvironment::new(
        &EnvironmentSettings {
            bucket: DEFAULT_BUCKET.to_owned(),
            collection: DEFAULT_COLLECTION.to_owned(),
            region: DEFAULT_REGION.to_owned(),
            database_url: String::new(),
            s3_endpoint: format!("http://{s3_listen}"),
            engine_endpoint: format!("http://{engine_listen}"),
            upload_url_ttl: Duration::from_secs(300),
            photo_url_ttl: Duration::from_secs(300),
            metrics_namespace: "FaceRegistry".to_owned(),
        },
        &credentials,
    );
    for (name, value) in environment.public_vars() {
        println!("export {name}={value}");
    }
    Ok(())
}

async fn dead_letters(state: &StatePaths, action: DeadLetterAction) -> Result<(), CliError> {
    let letters = DeadLetters::open(state.dead_letters(), Arc::new(NoDelivery)).await?;
    match action {
        DeadLetterAction::List => {
            for letter in letters.list().await? {
                println!("{}", serde_json::to_string(&letter)?);
            }
        }
        DeadLetterAction::Delete { id } => {
            letters.delete(&id).await?;
            println!("deleted {id}");
        }
        DeadLetterAction::Replay { id, gateway_url } => {
            let mut url = url::Url::parse(&gateway_url)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| CliError::GatewayUrl(gateway_url.clone()))?;
            url.path_segments_mut()
                .map_err(|()| CliError::GatewayUrl(gateway_url.clone()))?
                .extend(["local", "dead-letters", &id, "replay"]);
            let tokens = TokenAuthority::load_or_create(&state.signing_key())?;
            let token = tokens.issue(Group::Admins, Duration::from_secs(60))?.token;
            let response = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .send()
                .await
                .map_err(CliError::Gateway)?;
            let status = response.status();
            let body = response.text().await.map_err(CliError::Gateway)?;
            if !status.is_success() {
                return Err(CliError::Replay {
                    status: status.as_u16(),
                    body,
                });
            }
            println!("replayed {id}");
        }
    }
    Ok(())
}

/// Listing and deleting never deliver; replays go through the gateway.
struct NoDelivery;

#[async_trait::async_trait]
impl EventTarget for NoDelivery {
    async fn invoke(&self, _event: &S3Event) -> Result<(), InvocationError> {
        Err(InvocationError::Function(
            "replays go through the running gateway".to_owned(),
        ))
    }
}
