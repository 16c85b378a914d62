//! The functions' handlers: HTTP for `upload`, `faces` and `health`, S3
//! events for `indexer`, a schedule for `reconcile`. Each function's `main.rs` builds one of these with
//! the adapters and hands it to the Lambda runtime; the local gateway calls
//! the very same handlers.

pub mod auth;
pub mod custom_resource;
pub mod error;
pub mod faces;
pub mod health;
pub mod http;
pub mod i18n;
pub mod indexer;
pub mod metrics;
pub mod openapi;
pub mod origin;
pub mod pages;
pub mod people;
pub mod reconcile;
pub mod upload;

pub use error::ApiError;
pub use faces::{FacesApi, PhotoLinks, SignInSettings};
pub use health::HealthApi;
pub use indexer::{IndexerError, IndexerFn, IndexerReport};
pub use reconcile::{ReconcileError, ReconcileFn};
pub use upload::UploadApi;
