//! The whole stack on one machine, end to end: deployment as CloudFormation
//! runs it, the functions through the gateway and the ALB, least privilege,
//! reconcile, the sample events.
//!
//! One test binary for the crate (one link), a module per feature.

mod common;
mod deployment;
mod e2e;
mod environment;
mod least_privilege;
mod operators;
mod reconcile;
mod sample_events;
