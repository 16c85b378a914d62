//! The adapters of one function instance, built once from the typed
//! configuration: the shared AWS configuration and the database pool.

use aws_config::SdkConfig;
use registry_adapters::database::{self, Database, DatabaseError};
use registry_adapters::{Config, MysqlPersonStore, RekognitionFaceIndex, S3PhotoStore};

/// A Lambda instance serves one request at a time; two connections leave
/// room for a health check while a transaction is open.
pub const POOL_SIZE: u32 = 2;

/// The shared AWS configuration and the database of one instance.
#[derive(Clone)]
pub struct Adapters {
    pub aws: SdkConfig,
    pub database: Database,
}

impl Adapters {
    /// Opens the database lazily with `aws` (the standard environment's
    /// configuration in Lambda: region, credentials,
    /// `AWS_ENDPOINT_URL_<SERVICE>`).
    pub async fn connect(
        config: &Config,
        aws: SdkConfig,
        pool_size: u32,
    ) -> Result<Self, DatabaseError> {
        let database =
            database::connect(&config.database, &config.database_ca, &aws, pool_size).await?;
        Ok(Self { aws, database })
    }

    pub fn people(&self) -> MysqlPersonStore {
        MysqlPersonStore::new(self.database.clone())
    }

    pub fn photos(&self, config: &Config) -> S3PhotoStore {
        S3PhotoStore::from_config(&self.aws, config.s3_force_path_style, &config.bucket)
    }

    pub fn faces(&self, config: &Config) -> RekognitionFaceIndex {
        RekognitionFaceIndex::from_config(&self.aws, &config.collection)
    }
}
