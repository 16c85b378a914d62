//! Starting, serving and stopping the store.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnectionBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower::{Layer, ServiceExt};

use crate::access::{KeyAuth, OperationAccess, StoreAccess};
use crate::config::{ConfigError, S3StoreConfig};
use crate::cors::{CorsLayer, CorsRules};
use crate::dead_letter::{DeadLetterError, DeadLetters};
use crate::delivery::Dispatcher;
use crate::event::{EventContext, SequencerClock};
use crate::notify::{EventEmitter, KeyIndex, NotifyingFileSystem, PeerAddr, Route};
use crate::versions::VersionStore;

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
        "the {what} folder {path} lies inside the data root {root}, where every folder is a bucket"
    )]
    InsideRoot {
        what: &'static str,
        path: PathBuf,
        root: PathBuf,
    },
    #[error("file system store at {path} could not be opened: {message}")]
    FileSystem { path: PathBuf, message: String },
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
    ) -> Result<RunningS3Store, StartError> {
        if !addr.ip().is_loopback() {
            return Err(StartError::NotLoopback(addr));
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        Self::start(config, listener).await
    }

    /// Serves on `listener`: creates the data root, the configured buckets,
    /// the versions and dead-letter folders, then accepts connections in the
    /// background.
    pub async fn start(
        config: S3StoreConfig,
        listener: TcpListener,
    ) -> Result<RunningS3Store, StartError> {
        config.validate()?;
        let local_addr = listener.local_addr().map_err(StartError::Listener)?;
        if !local_addr.ip().is_loopback() {
            return Err(StartError::NotLoopback(local_addr));
        }

        let root = create_dir(&config.root_dir).await?;
        let versions_dir = create_dir(&config.versions_dir).await?;
        if versions_dir.starts_with(&root) {
            return Err(StartError::InsideRoot {
                what: "versions",
                path: versions_dir,
                root,
            });
        }
        for bucket in &config.buckets {
            create_dir(&root.join(&bucket.name)).await?;
        }

        // One queue and dead-letter folder per target, as Lambda keeps one
        // asynchronous invocation queue per function.
        let mut dispatchers: BTreeMap<String, (Arc<Dispatcher>, DeadLetters)> = BTreeMap::new();
        let mut routes = Vec::new();
        for bucket in &config.buckets {
            for notification in &bucket.notifications {
                let target = &notification.target;
                let (dispatcher, _) = match dispatchers.get(&target.name) {
                    Some(existing) => existing.clone(),
                    None => {
                        let dir = create_dir(&target.dead_letter_dir).await?;
                        if dir.starts_with(&root) {
                            return Err(StartError::InsideRoot {
                                what: "dead letters",
                                path: dir,
                                root,
                            });
                        }
                        let dead_letters =
                            DeadLetters::open(dir, Arc::clone(&target.target)).await?;
                        let dispatcher = Dispatcher::new(
                            Arc::clone(&target.target),
                            target.destination.clone(),
                            target.delivery.clone(),
                            dead_letters.clone(),
                        );
                        dispatchers.insert(
                            target.name.clone(),
                            (Arc::clone(&dispatcher), dead_letters.clone()),
                        );
                        (dispatcher, dead_letters)
                    }
                };
                routes.push(Route {
                    bucket: bucket.name.clone(),
                    notification: notification.clone(),
                    dispatcher,
                });
            }
        }
        let emitter = Arc::new(EventEmitter {
            context: EventContext {
                region: config.region.clone(),
                principal_id: config.principal_id.clone(),
            },
            sequencers: SequencerClock::new(),
            routes,
        });
        let file_system =
            s3s_fs::FileSystem::new(&root).map_err(|error| StartError::FileSystem {
                path: root.clone(),
                message: format!("{error:?}"),
            })?;
        let access = Arc::new(StoreAccess::new(&config));
        let versioned = config
            .buckets
            .iter()
            .filter(|b| b.versioned)
            .map(|b| b.name.clone())
            .collect();
        let keys = load_keys(&root, &config).await?;
        let store = NotifyingFileSystem::new(
            file_system,
            root.clone(),
            emitter,
            VersionStore::new(versions_dir),
            versioned,
            keys,
            Arc::clone(&access),
        );

        let mut builder = S3ServiceBuilder::new(store);
        builder.set_auth(KeyAuth(config.access.clone()));
        builder.set_access(OperationAccess(access));
        let cors = CorsRules::new(
            config
                .buckets
                .iter()
                .map(|b| (b.name.clone(), b.cors.clone()))
                .collect(),
        );
        let service = CorsLayer(cors).layer(builder.build());

        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(listener, service, stop.clone()));
        tracing::info!(
            %local_addr,
            root = %root.display(),
            buckets = ?config.buckets.iter().map(|b| &b.name).collect::<Vec<_>>(),
            "S3 store listening"
        );
        Ok(RunningS3Store {
            local_addr,
            dead_letters: dispatchers
                .iter()
                .map(|(name, (_, letters))| (name.clone(), letters.clone()))
                .collect(),
            dispatchers: dispatchers.into_values().map(|(d, _)| d).collect(),
            stop,
            server,
        })
    }
}

/// A store serving in the background.
#[derive(Debug)]
pub struct RunningS3Store {
    local_addr: SocketAddr,
    dead_letters: BTreeMap<String, DeadLetters>,
    stop: CancellationToken,
    server: JoinHandle<()>,
    dispatchers: Vec<Arc<Dispatcher>>,
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

    /// The events a notification target could not take.
    #[must_use]
    pub fn dead_letters(&self, target: &str) -> Option<&DeadLetters> {
        self.dead_letters.get(target)
    }

    /// Stops accepting connections, lets open requests finish, then lets
    /// pending deliveries finish for their policy's grace period; what is
    /// still pending after that is kept as dead letters.
    pub async fn shutdown(mut self) -> Result<(), ShutdownError> {
        self.stop.cancel();
        (&mut self.server).await.map_err(ShutdownError::Server)?;
        for dispatcher in &self.dispatchers {
            dispatcher.shutdown().await;
        }
        tracing::info!(local_addr = %self.local_addr, "S3 store stopped");
        Ok(())
    }
}

impl Drop for RunningS3Store {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The buckets' keys, walked once, off the async runtime.
async fn load_keys(root: &Path, config: &S3StoreConfig) -> Result<KeyIndex, StartError> {
    let folder = root.to_owned();
    let buckets: Vec<String> = config.buckets.iter().map(|b| b.name.clone()).collect();
    tokio::task::spawn_blocking(move || KeyIndex::load(&folder, buckets.iter().map(String::as_str)))
        .await
        .map_err(io::Error::other)
        .and_then(|loaded| loaded)
        .map_err(|error| StartError::FileSystem {
            path: root.to_owned(),
            message: error.to_string(),
        })
}

async fn create_dir(path: &Path) -> Result<PathBuf, StartError> {
    let failed = |source| StartError::Directory {
        path: path.to_owned(),
        source,
    };
    tokio::fs::create_dir_all(path).await.map_err(failed)?;
    tokio::fs::canonicalize(path).await.map_err(failed)
}

async fn serve(
    listener: TcpListener,
    service: crate::cors::Cors<s3s::service::S3Service>,
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
