//! Test support shared by the registry's integration tests and benchmark:
//! a fresh, migrated database per test on the server at `DATABASE_URL`, the
//! sample events of `events/` turned into handler inputs, and an S3 client
//! with fixed test credentials for presigning, and the audit context of
//! an admin's request.

pub mod audit;
pub mod bomb;
pub mod bucket;
pub mod collection_contract;
pub mod contract;
pub mod database;
pub mod events;
pub mod faces;
pub mod faults;
pub mod people;
pub mod photo_contract;
pub mod photos;
pub mod s3;
pub mod seed;

pub use audit::{ADMIN_SUBJECT, admin_audit};
pub use bomb::png_bomb;
pub use bucket::InMemoryBucket;
pub use database::{TestDatabase, TestkitError, closed_port_url};
pub use events::{ApiEvent, response_json, s3_event};
pub use faces::{InMemoryCollection, ScriptedFaceSearch};
pub use faults::FaultyPersonStore;
pub use people::InMemoryPersonStore;
pub use photos::{REVEALING_TEXT, jpeg_with_revealing_metadata};
pub use s3::{
    TEST_BUCKET, TEST_ENDPOINT, TEST_REGION, presigning_photo_store, s3_client,
    test_secret_access_key,
};
