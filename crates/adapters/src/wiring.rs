//! Building the adapters once per function instance, from the typed config.

use aws_config::SdkConfig;
use sqlx::mysql::MySqlPool;

use crate::config::Config;
use crate::database::{self, DatabaseError};
use crate::{MysqlPersonStore, RekognitionFaceIndex, S3PhotoStore};

/// A Lambda instance serves one request at a time; two connections leave
/// room for a health check while a transaction is open.
const POOL_SIZE: u32 = 2;

/// The shared AWS configuration and the database pool of one instance.
#[derive(Clone)]
pub struct Adapters {
    pub aws: SdkConfig,
    pub pool: MySqlPool,
}

impl Adapters {
    /// Loads the AWS configuration from the standard environment (region,
    /// credentials, `AWS_ENDPOINT_URL_<SERVICE>`) and opens the pool lazily.
    pub async fn connect(config: &Config) -> Result<Self, DatabaseError> {
        let aws = crate::aws::config_loader().load().await;
        let pool = database::connect(&config.database, &aws, POOL_SIZE).await?;
        Ok(Self { aws, pool })
    }

    pub fn people(&self) -> MysqlPersonStore {
        MysqlPersonStore::new(self.pool.clone())
    }

    pub fn photos(&self, config: &Config) -> S3PhotoStore {
        S3PhotoStore::new(
            S3PhotoStore::client(&self.aws, config.s3_force_path_style),
            &config.bucket,
        )
    }

    pub fn faces(&self, config: &Config) -> RekognitionFaceIndex {
        RekognitionFaceIndex::new(
            aws_sdk_rekognition::Client::new(&self.aws),
            &config.collection,
        )
    }
}
