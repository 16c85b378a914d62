//! The four functions' handlers, built exactly as their `main.rs` build them.

use std::sync::Arc;

use async_trait::async_trait;
use registry_adapters::{
    Adapters, Config, MysqlPersonStore, RekognitionFaceIndex, S3PhotoStore, database,
};
use registry_api::indexer::S3Event;
use registry_api::{FacesApi, HealthApi, IndexerFn, Metrics, PhotoLinks, UploadApi};
use s3_store::{EventTarget, InvocationError, event_to_json};

/// A Lambda instance holds two connections; the local process serves every
/// function at once, so its one pool is larger.
const POOL_SIZE: u32 = 10;

pub type Upload = UploadApi<MysqlPersonStore, S3PhotoStore>;
pub type Faces = FacesApi<MysqlPersonStore, S3PhotoStore>;
pub type Health = HealthApi<MysqlPersonStore>;
pub type Indexer = IndexerFn<MysqlPersonStore, S3PhotoStore, RekognitionFaceIndex>;

/// The handlers of `upload`, `faces`, `health` and `indexer`.
pub struct Functions {
    pub upload: Upload,
    pub faces: Faces,
    pub health: Health,
    pub indexer: Indexer,
    pub adapters: Adapters,
}

impl Functions {
    /// Connects the adapters (`aws` is the functions' shared AWS
    /// configuration) and builds the handlers as the mains do.
    pub async fn connect(
        config: &Config,
        aws: aws_config::SdkConfig,
    ) -> Result<Self, database::DatabaseError> {
        let pool = database::connect(&config.database, &aws, POOL_SIZE).await?;
        let adapters = Adapters { aws, pool };
        Ok(Self::build(config, adapters))
    }

    pub fn build(config: &Config, adapters: Adapters) -> Self {
        let photo_links = match &config.public_media_base_url {
            Some(base) => PhotoLinks::PublicBase(base.clone()),
            None => PhotoLinks::Presigned {
                ttl: config.photo_url_ttl,
            },
        };
        // Metrics go to tracing: this process's standard output is a terminal, not CloudWatch Logs.
        Self {
            upload: UploadApi {
                people: adapters.people(),
                photos: adapters.photos(config),
                url_ttl: config.upload_url_ttl,
                metrics: Metrics::traced(&config.metrics_namespace, "upload"),
            },
            faces: FacesApi {
                people: adapters.people(),
                photos: adapters.photos(config),
                photo_links,
                metrics: Metrics::traced(&config.metrics_namespace, "faces"),
            },
            health: HealthApi {
                people: adapters.people(),
                bucket: config.bucket.clone(),
                collection: config.collection.clone(),
                metrics: Metrics::traced(&config.metrics_namespace, "health"),
            },
            indexer: IndexerFn {
                people: adapters.people(),
                photos: adapters.photos(config),
                faces: adapters.faces(config),
                metrics: Metrics::traced(&config.metrics_namespace, "indexer"),
            },
            adapters,
        }
    }
}

/// Delivers the S3 store's events to the indexer handler in this process.
/// The event goes through JSON first, as Lambda hands it to the function.
pub struct InProcessIndexer(pub Arc<Functions>);

#[async_trait]
impl EventTarget for InProcessIndexer {
    async fn invoke(&self, event: &S3Event) -> Result<(), InvocationError> {
        let payload: S3Event = serde_json::from_value(event_to_json(event)?)?;
        self.0
            .indexer
            .handle(&payload)
            .await
            .map(|_| ())
            .map_err(InvocationError::function)
    }
}
