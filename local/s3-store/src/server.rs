//! Starting, serving and stopping the store.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnectionBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::config::{ConfigError, S3StoreConfig};
use crate::dead_letter::{DeadLetterError, DeadLetters};
use crate::delivery::Dispatcher;
use crate::event::{EventContext, SequencerClock};
use crate::notify::{EventEmitter, NotifyingFileSystem, PeerAddr};
use crate::target::EventTarget;

/// How long open connections may finish their requests on shutdown.
const CONNECTION_GRACE: Duration = Duration::from_secs(10);

/// Error starting the store.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("listener address unavailable: {0}")]
    Listener(#[source] io::Error),
    #[error("refusing to serve on {0}: the store only listens on loopback addresses")]
    NotLoopback(SocketAddr),
    #[error("folder {path}: {source}")]
    Directory {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "dead-letter folder {dead_letters} lies inside the data root {root}, where every folder is a bucket"
    )]
    DeadLettersInsideRoot {
        dead_letters: PathBuf,
        root: PathBuf,
    },
    #[error("file system store at {path} could not be opened: {message}")]
    FileSystem { path: PathBuf, message: String },
    #[error("CORS origin {0:?} is not a valid header value")]
    CorsOrigin(String),
    #[error(transparent)]
    DeadLetters(#[from] DeadLetterError),
}

/// Error stopping the store.
#[derive(Debug, thiserror::Error)]
pub enum ShutdownError {
    #[error("server task failed: {0}")]
    Server(#[source] tokio::task::JoinError),
}

/// The S3-compatible store.
#[derive(Debug)]
pub struct S3Store;

impl S3Store {
    /// Binds `addr` (a loopback address; port 0 picks a free one) and starts.
    pub async fn bind(
        config: S3StoreConfig,
        addr: SocketAddr,
        target: Arc<dyn EventTarget>,
    ) -> Result<RunningS3Store, StartError> {
        if !addr.ip().is_loopback() {
            return Err(StartError::NotLoopback(addr));
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        Self::start(config, listener, target).await
    }

    /// Serves on `listener`: creates the data root, the configured buckets
    /// and the dead-letter folder, then accepts connections in the background.
    pub async fn start(
        config: S3StoreConfig,
        listener: TcpListener,
        target: Arc<dyn EventTarget>,
    ) -> Result<RunningS3Store, StartError> {
        config.validate()?;
        let local_addr = listener.local_addr().map_err(StartError::Listener)?;
        if !local_addr.ip().is_loopback() {
            return Err(StartError::NotLoopback(local_addr));
        }

        let root = create_dir(&config.root_dir).await?;
        let dead_letter_dir = create_dir(&config.dead_letter_dir).await?;
        if dead_letter_dir.starts_with(&root) {
            return Err(StartError::DeadLettersInsideRoot {
                dead_letters: dead_letter_dir,
                root,
            });
        }
        for bucket in &config.buckets {
            create_dir(&root.join(bucket)).await?;
        }

        let dead_letters = DeadLetters::open(dead_letter_dir, Arc::clone(&target)).await?;
        let dispatcher = Dispatcher::new(target, config.delivery.clone(), dead_letters.clone());
        let emitter = Arc::new(EventEmitter {
            context: EventContext {
                region: config.region.clone(),
                configuration_id: config.configuration_id.clone(),
                principal_id: config.principal_id.clone(),
            },
            sequencers: SequencerClock::new(),
            dispatcher: Arc::clone(&dispatcher),
        });
        let file_system =
            s3s_fs::FileSystem::new(&root).map_err(|error| StartError::FileSystem {
                path: root.clone(),
                message: format!("{error:?}"),
            })?;

        let mut builder = S3ServiceBuilder::new(NotifyingFileSystem::new(file_system, emitter));
        builder.set_auth(SimpleAuth::from_single(
            config.access_key_id.clone(),
            config.secret_access_key.expose(),
        ));
        let service = cors_layer(&config.cors_origins)?.layer(builder.build());

        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(listener, service, stop.clone()));
        tracing::info!(
            %local_addr,
            root = %root.display(),
            buckets = ?config.buckets,
            cors_origins = ?config.cors_origins,
            "S3 store listening"
        );
        Ok(RunningS3Store {
            local_addr,
            dead_letters,
            stop,
            server,
            dispatcher,
        })
    }
}

/// A store serving in the background.
#[derive(Debug)]
pub struct RunningS3Store {
    local_addr: SocketAddr,
    dead_letters: DeadLetters,
    stop: CancellationToken,
    server: JoinHandle<()>,
    dispatcher: Arc<Dispatcher>,
}

impl RunningS3Store {
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://127.0.0.1:PORT`, for `endpoint_url` / `AWS_ENDPOINT_URL_S3`.
    #[must_use]
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The events that could not be delivered.
    #[must_use]
    pub fn dead_letters(&self) -> &DeadLetters {
        &self.dead_letters
    }

    /// Stops accepting connections, lets open requests finish, then lets
    /// pending deliveries finish for the policy's grace period; what is still
    /// pending after that is kept as dead letters.
    pub async fn shutdown(mut self) -> Result<(), ShutdownError> {
        self.stop.cancel();
        (&mut self.server).await.map_err(ShutdownError::Server)?;
        self.dispatcher.shutdown().await;
        tracing::info!(local_addr = %self.local_addr, "S3 store stopped");
        Ok(())
    }
}

impl Drop for RunningS3Store {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn create_dir(path: &Path) -> Result<PathBuf, StartError> {
    let failed = |source| StartError::Directory {
        path: path.to_owned(),
        source,
    };
    tokio::fs::create_dir_all(path).await.map_err(failed)?;
    tokio::fs::canonicalize(path).await.map_err(failed)
}

/// CORS as S3 answers it for a bucket CORS rule allowing the given origins.
fn cors_layer(origins: &[String]) -> Result<CorsLayer, StartError> {
    let origins = origins
        .iter()
        .map(|origin| {
            HeaderValue::from_str(origin).map_err(|_| StartError::CorsOrigin(origin.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::POST,
            Method::DELETE,
        ])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            header::ETAG,
            HeaderName::from_static("x-amz-request-id"),
            HeaderName::from_static("x-amz-id-2"),
            HeaderName::from_static("x-amz-version-id"),
        ])
        .max_age(Duration::from_secs(3000)))
}

async fn serve(
    listener: TcpListener,
    service: tower_http::cors::Cors<s3s::service::S3Service>,
    stop: CancellationToken,
) {
    let connections = ConnectionBuilder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let service = service.clone();
        let per_request =
            hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
                request.extensions_mut().insert(PeerAddr(peer));
                service.clone().oneshot(request)
            });
        let connection = connections
            .serve_connection(TokioIo::new(socket), per_request)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(CONNECTION_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?CONNECTION_GRACE, "open connections did not finish in time");
    }
}
