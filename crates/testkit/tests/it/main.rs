//! The ports' contract suites, run against each in-memory fake and its real
//! adapter.
//!
//! One test binary for the crate (one link), a module per feature.

mod person_store_contract;
mod photo_store_contract;
