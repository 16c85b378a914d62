//! Adapters behind the registry's ports: MySQL (sqlx), S3 and Rekognition
//! (the AWS SDK), and the typed configuration the functions read once at
//! cold start.

pub mod aws;
pub mod cognito;
pub mod config;
pub mod database;
pub mod mysql;
mod presign;
mod rds_token;
pub mod rekognition;
pub mod s3;
mod sdk;
pub mod users;

pub use config::{
    AppRole, AppUser, AppUserAuth, Config, ConfigError, DatabaseCa, DatabaseSource,
    PoolTokenSettings, SignIn,
};
pub use database::Database;
pub use mysql::MysqlPersonStore;
pub use rekognition::RekognitionFaceIndex;
pub use s3::S3PhotoStore;

pub use sqlx::migrate::Migrator;

/// The migrations in `migrations/`, embedded.
///
/// Migrations a database has applied and this build lacks are ignored, so
/// that older code answering CloudFormation (a rollback, a redeploy of an
/// earlier build) changes nothing instead of failing: migrations only add
/// to the schema, which the previous build must still run against.
pub static MIGRATOR: Migrator = Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("../../migrations")
};
