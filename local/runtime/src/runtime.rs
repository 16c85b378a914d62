//! Starting and stopping the whole registry in one process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use face_engine::{AccessCredentials, DetectorKind, EngineConfig, FaceEngine};
use registry_adapters::database;
use s3_store::{
    DeadLetters, DeliveryPolicy, EventTarget, LambdaInvokeTarget, RunningS3Store, S3Store,
    S3StoreConfig,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::credentials::LocalCredentials;
use crate::environment::{EnvironmentSettings, FunctionEnvironment};
use crate::functions::{Functions, InProcessIndexer};
use crate::gateway::Gateway;
use crate::recording::RecordingTarget;
use crate::secrets::SecretFileError;
use crate::tokens::{TokenAuthority, TokenError};

pub const DEFAULT_GATEWAY: &str = "127.0.0.1:3000";
pub const DEFAULT_S3: &str = "127.0.0.1:3001";
pub const DEFAULT_ENGINE: &str = "127.0.0.1:3002";
pub const DEFAULT_BUCKET: &str = "face-registry-photos";
pub const DEFAULT_COLLECTION: &str = "face-registry";
pub const DEFAULT_REGION: &str = "us-east-1";

/// Where the runtime keeps its files, all under one state folder.
#[derive(Debug, Clone)]
pub struct StatePaths {
    pub root: PathBuf,
}

impl StatePaths {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// The local access key pair, as `KEY=value` lines a shell can source.
    pub fn credentials(&self) -> PathBuf {
        self.root.join("runtime/aws.env")
    }
    /// The key local tokens are signed with.
    pub fn signing_key(&self) -> PathBuf {
        self.root.join("runtime/jwt-signing-key.pem")
    }
    /// The S3 store's data: one folder per bucket.
    pub fn s3(&self) -> PathBuf {
        self.root.join("s3")
    }
    pub fn dead_letters(&self) -> PathBuf {
        self.root.join("s3-dead-letters")
    }
    /// The face engine's collections.
    pub fn faces(&self) -> PathBuf {
        self.root.join("faces")
    }
}

/// What to start, and where.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    pub state: StatePaths,
    pub models_dir: PathBuf,
    pub database_url: String,
    pub gateway_listen: SocketAddr,
    pub s3_listen: SocketAddr,
    pub engine_listen: SocketAddr,
    pub bucket: String,
    pub collection: String,
    pub region: String,
    pub detector: DetectorKind,
    pub upload_url_ttl: Duration,
    pub photo_url_ttl: Duration,
    /// Deliver S3 events through the Lambda Invoke API (e.g. to `cargo
    /// lambda watch`) instead of to the in-process indexer.
    pub indexer_invoke_url: Option<String>,
    /// Keep a copy of every S3 event delivered in this folder.
    pub record_events: Option<PathBuf>,
    pub delivery: DeliveryPolicy,
}

impl RuntimeOptions {
    /// The `make dev` settings: fixed ports, default names.
    pub fn new(
        state_dir: impl Into<PathBuf>,
        models_dir: impl Into<PathBuf>,
        database_url: impl Into<String>,
    ) -> Self {
        let addr = |s: &str| {
            s.parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
        };
        Self {
            state: StatePaths::new(state_dir),
            models_dir: models_dir.into(),
            database_url: database_url.into(),
            gateway_listen: addr(DEFAULT_GATEWAY),
            s3_listen: addr(DEFAULT_S3),
            engine_listen: addr(DEFAULT_ENGINE),
            bucket: DEFAULT_BUCKET.to_owned(),
            collection: DEFAULT_COLLECTION.to_owned(),
            region: DEFAULT_REGION.to_owned(),
            detector: DetectorKind::Hog,
            upload_url_ttl: Duration::from_secs(300),
            photo_url_ttl: Duration::from_secs(300),
            indexer_invoke_url: None,
            record_events: None,
            delivery: DeliveryPolicy::default(),
        }
    }

    /// Ephemeral ports (for tests and side-by-side runs).
    pub fn with_ephemeral_ports(mut self) -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        self.gateway_listen = any;
        self.s3_listen = any;
        self.engine_listen = any;
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the {what} must listen on a loopback address, not {addr}")]
    NotLoopback {
        what: &'static str,
        addr: SocketAddr,
    },
    #[error("the {what} cannot listen on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the models folder {0} lacks {1} (run `make models`)")]
    MissingModel(PathBuf, &'static str),
    #[error(transparent)]
    Secret(#[from] SecretFileError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the functions' configuration is invalid: {0}")]
    Config(#[from] registry_adapters::ConfigError),
    #[error("database: {0}")]
    Database(#[from] database::DatabaseError),
    #[error("the face engine could not start: {0}")]
    Engine(#[from] face_engine::OpenError),
    #[error("the face collection could not be created: {0}")]
    Collection(String),
    #[error("the S3 store could not start: {0}")]
    S3(#[from] s3_store::StartError),
    #[error("the indexer invoke URL is unusable: {0}")]
    InvokeTarget(#[from] s3_store::InvokeTargetError),
}

/// The registry, running.
pub struct LocalRuntime {
    gateway_addr: SocketAddr,
    engine_addr: SocketAddr,
    environment: FunctionEnvironment,
    functions: Arc<Functions>,
    tokens: Arc<TokenAuthority>,
    s3: RunningS3Store,
    gateway_stop: CancellationToken,
    engine_stop: CancellationToken,
    gateway_task: JoinHandle<std::io::Result<()>>,
    engine_task: JoinHandle<std::io::Result<()>>,
    _stop_on_drop: (DropGuard, DropGuard),
}

const MODEL_FILES: [&str; 3] = [
    "shape_predictor_5_face_landmarks.dat",
    "dlib_face_recognition_resnet_model_v1.dat",
    "mmod_human_face_detector.dat",
];

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    if !addr.ip().is_loopback() {
        return Err(StartError::NotLoopback { what, addr });
    }
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { what, addr, source })
}

fn local_addr(
    what: &'static str,
    listener: &TcpListener,
    addr: SocketAddr,
) -> Result<SocketAddr, StartError> {
    listener
        .local_addr()
        .map_err(|source| StartError::Bind { what, addr, source })
}

impl LocalRuntime {
    pub async fn start(options: RuntimeOptions) -> Result<Self, StartError> {
        check_models(&options.models_dir)?;
        // Every port first: the S3 store's CORS rule names the gateway's origin.
        let gateway_listener = bind("gateway", options.gateway_listen).await?;
        let s3_listener = bind("S3 store", options.s3_listen).await?;
        let engine_listener = bind("face engine", options.engine_listen).await?;
        let gateway_addr = local_addr("gateway", &gateway_listener, options.gateway_listen)?;
        let s3_addr = local_addr("S3 store", &s3_listener, options.s3_listen)?;
        let engine_addr = local_addr("face engine", &engine_listener, options.engine_listen)?;

        let credentials = LocalCredentials::load_or_create(&options.state.credentials())?;
        let tokens = Arc::new(TokenAuthority::load_or_create(
            &options.state.signing_key(),
        )?);
        let environment = FunctionEnvironment::new(
            &EnvironmentSettings {
                bucket: options.bucket.clone(),
                collection: options.collection.clone(),
                region: options.region.clone(),
                database_url: options.database_url.clone(),
                s3_endpoint: format!("http://{s3_addr}"),
                engine_endpoint: format!("http://{engine_addr}"),
                upload_url_ttl: options.upload_url_ttl,
                photo_url_ttl: options.photo_url_ttl,
                metrics_namespace: "FaceRegistry".to_owned(),
            },
            &credentials,
        );
        let config = environment.config()?;
        let sdk = environment.sdk_config().await;

        let functions = Arc::new(Functions::connect(&config, sdk.clone()).await?);
        database::migrate(&functions.adapters.pool).await?;
        tracing::info!("database migrations applied");

        let engine_stop = CancellationToken::new();
        let mut engine_config = EngineConfig::new(options.state.faces(), &options.models_dir);
        engine_config.detector = options.detector;
        engine_config.region.clone_from(&options.region);
        engine_config.credentials = Some(AccessCredentials {
            access_key_id: credentials.access_key_id.clone(),
            secret_access_key: credentials.secret_access_key().to_owned(),
        });
        let engine_s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        let engine = FaceEngine::open(engine_config, engine_s3).await?;
        let engine_task = tokio::spawn(face_engine::serve_with_shutdown(
            engine_listener,
            engine,
            engine_stop.clone().cancelled_owned(),
        ));
        ensure_collection(&aws_sdk_rekognition::Client::new(&sdk), &config.collection).await?;

        let target: Arc<dyn EventTarget> = match &options.indexer_invoke_url {
            Some(url) => Arc::new(LambdaInvokeTarget::new(
                url,
                options.delivery.attempt_timeout,
            )?),
            None => Arc::new(InProcessIndexer(Arc::clone(&functions))),
        };
        let target: Arc<dyn EventTarget> = match &options.record_events {
            Some(dir) => Arc::new(RecordingTarget {
                inner: target,
                dir: dir.clone(),
            }),
            None => target,
        };
        let mut store_config = S3StoreConfig::new(
            options.state.s3(),
            options.state.dead_letters(),
            credentials.access_key_id.clone(),
            credentials.secret_access_key(),
        );
        store_config.region.clone_from(&options.region);
        store_config.buckets = vec![config.bucket.clone()];
        store_config.cors_origins = vec![
            format!("http://127.0.0.1:{}", gateway_addr.port()),
            format!("http://localhost:{}", gateway_addr.port()),
        ];
        store_config.delivery = options.delivery.clone();
        let s3 = S3Store::start(store_config, s3_listener, target).await?;

        let gateway = Arc::new(Gateway {
            functions: Arc::clone(&functions),
            tokens: Arc::clone(&tokens),
            dead_letters: s3.dead_letters().clone(),
            local_addr: gateway_addr,
        });
        let gateway_stop = CancellationToken::new();
        let gateway_task = tokio::spawn({
            let stop = gateway_stop.clone();
            async move {
                axum::serve(
                    gateway_listener,
                    gateway
                        .router()
                        .into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
            }
        });
        tracing::info!(gateway = %gateway_addr, s3 = %s3_addr, engine = %engine_addr, "registry running");
        Ok(Self {
            gateway_addr,
            engine_addr,
            environment,
            functions,
            tokens,
            s3,
            _stop_on_drop: (
                gateway_stop.clone().drop_guard(),
                engine_stop.clone().drop_guard(),
            ),
            gateway_stop,
            engine_stop,
            gateway_task,
            engine_task,
        })
    }

    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway_addr)
    }
    pub fn s3_endpoint(&self) -> String {
        self.s3.endpoint_url()
    }
    pub fn engine_endpoint(&self) -> String {
        format!("http://{}", self.engine_addr)
    }
    /// The variables the functions run with.
    pub fn environment(&self) -> &FunctionEnvironment {
        &self.environment
    }
    pub fn functions(&self) -> &Arc<Functions> {
        &self.functions
    }
    pub fn tokens(&self) -> &TokenAuthority {
        &self.tokens
    }
    pub fn dead_letters(&self) -> &DeadLetters {
        self.s3.dead_letters()
    }

    /// Stops taking requests, lets pending event deliveries finish, then
    /// stops the face engine and closes the database pool.
    pub async fn shutdown(self) {
        self.gateway_stop.cancel();
        match self.gateway_task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "the gateway stopped with an error"),
            Err(error) => tracing::warn!(%error, "the gateway task failed"),
        }
        if let Err(error) = self.s3.shutdown().await {
            tracing::warn!(%error, "the S3 store stopped with an error");
        }
        self.engine_stop.cancel();
        match self.engine_task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "the face engine stopped with an error"),
            Err(error) => tracing::warn!(%error, "the face engine task failed"),
        }
        self.functions.adapters.pool.close().await;
        tracing::info!("registry stopped");
    }
}

fn check_models(dir: &Path) -> Result<(), StartError> {
    for file in MODEL_FILES {
        if !dir.join(file).is_file() {
            return Err(StartError::MissingModel(dir.to_owned(), file));
        }
    }
    Ok(())
}

/// Creates the collection when missing, with the functions' own client.
async fn ensure_collection(
    client: &aws_sdk_rekognition::Client,
    collection: &str,
) -> Result<(), StartError> {
    let describe = client
        .describe_collection()
        .collection_id(collection)
        .send()
        .await;
    match describe {
        Ok(_) => return Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) => {}
        Err(error) => {
            return Err(StartError::Collection(
                aws_sdk_rekognition::error::DisplayErrorContext(error).to_string(),
            ));
        }
    }
    match client
        .create_collection()
        .collection_id(collection)
        .send()
        .await
    {
        Ok(_) => {
            tracing::info!(collection, "face collection created");
            Ok(())
        }
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(error) => Err(StartError::Collection(
            aws_sdk_rekognition::error::DisplayErrorContext(error).to_string(),
        )),
    }
}
