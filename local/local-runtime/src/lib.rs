//! The whole registry on one machine, driven by `template.yaml` as
//! `sam local` is: the stack's functions run in one process (the local
//! Lambda service) with their template environment, timeouts and
//! asynchronous invocation settings, each with its own credentials; a
//! gateway serves the HTTP API's routes with its JWT authorizer; the S3
//! store, the face engine and Secrets Manager stand in for AWS's and
//! authorize every call by the template's IAM, bucket, endpoint and key
//! policies; the database cluster is a database and users on the local
//! MySQL server; the user pool signs operators in with its domain's OAuth
//! endpoints; the optional load balancer runs its listener's rules and
//! signs people in as an ALB does; custom resources run as CloudFormation
//! runs them; schedules invoke their functions at their rate (`serve`).
//! All of it bound to 127.0.0.1.

pub mod alb;
pub mod api_gateway;
pub mod build;
pub mod cloudformation;
pub mod lambda;
pub mod monitoring;
pub mod network;
pub mod principals;
pub mod rds;
pub mod recording;
pub mod runtime;
pub mod scheduler;
pub mod scratch;
pub mod sdk;
mod secrets;
mod services;
pub mod sqs;
pub mod targets;
pub mod urls;
pub mod vpc_proxy;

pub use build::FunctionsBuild;
pub use local_user_pool::{Group, TokenAuthority, UserPool, tokens};
pub use runtime::{LocalRuntime, RuntimeOptions, StartError, StatePaths};
pub use scratch::ScratchDatabase;
pub use secrets::{SecretFileError, write_private};
