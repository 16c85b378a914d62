//! The S3 store as S3's clients and S3's events see it: authorization,
//! versions, listings, POST uploads, event delivery with Lambda's retries.
//!
//! One test binary for the crate (one link), a module per feature.

mod authorization;
mod common;
mod delivery;
mod events;
mod lambda_invoke;
mod listing;
mod post_object;
mod versions;
