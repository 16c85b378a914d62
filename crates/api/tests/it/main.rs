//! The handlers driven as Lambda drives them, over the test kit's fakes and a
//! real database: each function's routes and events.
//!
//! One test binary for the crate (one link), a module per feature.

mod faces_api;
mod health_api;
mod indexer;
mod metrics;
mod reconcile;
mod upload_api;
