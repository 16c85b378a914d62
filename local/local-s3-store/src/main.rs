//! `s3-store`: the local S3-compatible store on its own.
//!
//! Credentials come from `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use local_s3_store::{
    Access, BucketConfig, CorsRule, DeadLetters, DeliveryPolicy, EventTarget, LambdaInvokeTarget,
    Notification, NotificationTarget, S3Store, S3StoreConfig,
};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "S3-compatible store on local disk that emits S3 ObjectCreated events"
)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the store (the default).
    Serve,
    /// Inspect, replay or delete events that could not be delivered.
    DeadLetters {
        #[command(subcommand)]
        action: DeadLetterAction,
    },
}

#[derive(Debug, Subcommand)]
enum DeadLetterAction {
    /// Print every dead letter as one JSON line.
    List,
    /// Deliver a dead letter again (needs --invoke-url); removed on success.
    Replay { id: String },
    /// Remove a dead letter.
    Delete { id: String },
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Loopback address to listen on.
    #[arg(
        long,
        env = "S3_STORE_LISTEN",
        default_value = "127.0.0.1:3001",
        global = true
    )]
    listen: SocketAddr,
    /// Data root: one folder per bucket.
    #[arg(
        long,
        env = "S3_STORE_ROOT",
        default_value = ".local/s3",
        global = true
    )]
    root: PathBuf,
    /// Folder of undeliverable events (outside the root).
    #[arg(
        long,
        env = "S3_STORE_DEAD_LETTER_DIR",
        default_value = ".local/s3-dead-letters",
        global = true
    )]
    dead_letter_dir: PathBuf,
    /// Folder of object versions (outside the root).
    #[arg(
        long,
        env = "S3_STORE_VERSIONS_DIR",
        default_value = ".local/s3-versions",
        global = true
    )]
    versions_dir: PathBuf,
    /// Keep every version of every object, as a versioned bucket does.
    #[arg(long, global = true)]
    versioned: bool,
    /// Bucket to create at start when missing (repeatable).
    #[arg(
        long = "bucket",
        env = "S3_STORE_BUCKETS",
        value_delimiter = ',',
        global = true
    )]
    buckets: Vec<String>,
    /// Browser origin allowed by CORS (repeatable).
    #[arg(
        long = "cors-origin",
        env = "S3_STORE_CORS_ORIGINS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:3000,http://localhost:3000",
        global = true
    )]
    cors_origins: Vec<String>,
    /// Lambda Invoke API URL events are delivered to, e.g.
    /// http://127.0.0.1:9000/2015-03-31/functions/indexer/invocations
    #[arg(long, env = "S3_STORE_INVOKE_URL", global = true)]
    invoke_url: Option<String>,
    /// Region named in events.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1", global = true)]
    region: String,
    /// Seconds to wait before each retry (at most two values).
    #[arg(long, value_delimiter = ',', default_value = "1,2", global = true)]
    retry_delays: Vec<f64>,
    /// Events older than this many seconds are not retried.
    #[arg(long, default_value_t = 21_600.0, global = true)]
    max_event_age: f64,
    /// Seconds one invocation may take.
    #[arg(long, default_value_t = 60.0, global = true)]
    invoke_timeout: f64,
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0} is not set")]
    MissingEnv(&'static str),
    #[error("--invoke-url is required: events need a target")]
    MissingInvokeUrl,
    #[error("{name} must be a finite, non-negative number of seconds, got {value}")]
    InvalidSeconds { name: &'static str, value: f64 },
    #[error(transparent)]
    InvokeTarget(#[from] local_s3_store::InvokeTargetError),
    #[error(transparent)]
    Access(#[from] local_iam::AccessError),
    #[error(transparent)]
    Start(#[from] local_s3_store::StartError),
    #[error(transparent)]
    Shutdown(#[from] local_s3_store::ShutdownError),
    #[error(transparent)]
    DeadLetter(#[from] local_s3_store::DeadLetterError),
    #[error("waiting for Ctrl-C failed: {0}")]
    Signal(#[source] std::io::Error),
    #[error("output failed: {0}")]
    Output(#[from] serde_json::Error),
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,s3s=warn")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        None | Some(Command::Serve) => serve(&cli.serve).await,
        Some(Command::DeadLetters { action }) => dead_letters(&cli.serve, action).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("s3-store: {error}");
            ExitCode::FAILURE
        }
    }
}

fn seconds(name: &'static str, value: f64) -> Result<Duration, CliError> {
    Duration::try_from_secs_f64(value).map_err(|_| CliError::InvalidSeconds { name, value })
}

fn target(args: &ServeArgs) -> Result<Arc<dyn EventTarget>, CliError> {
    let url = args
        .invoke_url
        .as_deref()
        .ok_or(CliError::MissingInvokeUrl)?;
    let timeout = seconds("--invoke-timeout", args.invoke_timeout)?;
    Ok(Arc::new(LambdaInvokeTarget::new(url, timeout)?))
}

async fn serve(args: &ServeArgs) -> Result<(), CliError> {
    let access_key = std::env::var("AWS_ACCESS_KEY_ID")
        .map_err(|_| CliError::MissingEnv("AWS_ACCESS_KEY_ID"))?;
    let secret_key = std::env::var("AWS_SECRET_ACCESS_KEY")
        .map_err(|_| CliError::MissingEnv("AWS_SECRET_ACCESS_KEY"))?;
    let access = Access::single_key(&access_key, &secret_key, "000000000000")?;
    let mut config = S3StoreConfig::new(&args.root, &args.versions_dir, access);
    config.region.clone_from(&args.region);
    let target = NotificationTarget {
        name: "events".to_owned(),
        target: target(args)?,
        delivery: DeliveryPolicy {
            retry_delays: args
                .retry_delays
                .iter()
                .map(|&delay| seconds("--retry-delays", delay))
                .collect::<Result<_, _>>()?,
            max_event_age: seconds("--max-event-age", args.max_event_age)?,
            attempt_timeout: seconds("--invoke-timeout", args.invoke_timeout)?,
            ..DeliveryPolicy::default()
        },
        dead_letter_dir: args.dead_letter_dir.clone(),
        destination: None,
    };
    config.buckets = args
        .buckets
        .iter()
        .map(|name| {
            let mut bucket = BucketConfig::new(name);
            bucket.versioned = args.versioned;
            bucket.cors = vec![CorsRule {
                allowed_methods: ["GET", "HEAD", "PUT", "POST", "DELETE"]
                    .map(str::to_owned)
                    .to_vec(),
                allowed_origins: args.cors_origins.clone(),
                allowed_headers: vec!["*".to_owned()],
                exposed_headers: ["ETag", "x-amz-version-id", "x-amz-request-id"]
                    .map(str::to_owned)
                    .to_vec(),
                max_age_seconds: Some(3000),
            }];
            bucket.notifications = vec![Notification::all_created(target.clone())];
            bucket
        })
        .collect();
    let store = S3Store::bind(config, args.listen).await?;
    println!("S3 store listening on {}", store.endpoint_url());
    tokio::signal::ctrl_c().await.map_err(CliError::Signal)?;
    store.shutdown().await?;
    Ok(())
}

async fn dead_letters(args: &ServeArgs, action: DeadLetterAction) -> Result<(), CliError> {
    match action {
        DeadLetterAction::List => {
            let letters = DeadLetters::open(&args.dead_letter_dir, Arc::new(NoReplay)).await?;
            for letter in letters.list().await? {
                println!("{}", serde_json::to_string(&letter)?);
            }
        }
        DeadLetterAction::Replay { id } => {
            let letters = DeadLetters::open(&args.dead_letter_dir, target(args)?).await?;
            letters.replay(&id).await?;
            println!("replayed {id}");
        }
        DeadLetterAction::Delete { id } => {
            let letters = DeadLetters::open(&args.dead_letter_dir, Arc::new(NoReplay)).await?;
            letters.delete(&id).await?;
            println!("deleted {id}");
        }
    }
    Ok(())
}

/// Target for commands that never deliver.
struct NoReplay;

#[async_trait::async_trait]
impl EventTarget for NoReplay {
    async fn invoke(
        &self,
        _event: &local_s3_store::S3Event,
    ) -> Result<(), local_s3_store::InvocationError> {
        Err(local_s3_store::InvocationError::Function(
            "this command does not deliver events".to_owned(),
        ))
    }
}
