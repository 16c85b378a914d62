//! The whole registry on one machine: a gateway in front of the functions'
//! handlers (as API Gateway HTTP API with its JWT authorizer), the
//! S3-compatible store whose `ObjectCreated` events drive the indexer, the
//! Rekognition-compatible face engine, and the database migrations, in one
//! process bound to 127.0.0.1.

pub mod apigw;
pub mod credentials;
pub mod environment;
pub mod functions;
pub mod gateway;
pub mod recording;
pub mod runtime;
pub mod scratch;
mod secrets;
pub mod tokens;

pub use credentials::LocalCredentials;
pub use environment::FunctionEnvironment;
pub use functions::Functions;
pub use runtime::{LocalRuntime, RuntimeOptions, StartError, StatePaths};
pub use scratch::ScratchDatabase;
pub use secrets::SecretFileError;
pub use tokens::{Group, TokenAuthority};
