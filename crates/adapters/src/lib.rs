//! Adapters behind the registry's ports: MySQL (sqlx), S3 and Rekognition
//! (the AWS SDK), and the typed configuration the functions read once at
//! cold start.

pub mod aws;
pub mod cognito;
pub mod config;
pub mod database;
pub mod mysql;
mod presign;
pub mod rekognition;
pub mod s3;
mod sdk;
pub mod users;
pub mod wiring;

pub use config::{
    AlbTokenSettings, AppRole, AppUser, AppUserAuth, Config, ConfigError, DatabaseCa,
    DatabaseSource, SignIn,
};
pub use database::Database;
pub use mysql::MysqlPersonStore;
pub use rekognition::RekognitionFaceIndex;
pub use s3::S3PhotoStore;
pub use wiring::Adapters;

/// The migrations in `migrations/`, embedded.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");
