//! An S3-compatible object store on local disk for development and tests.
//!
//! It serves the S3 REST API on 127.0.0.1 (path-style, SigV4 and presigned
//! URLs checked, CORS for configured origins) on top of `s3s-fs`, and after
//! every object creation (PutObject, PostObject, CopyObject,
//! CompleteMultipartUpload) delivers a real S3 `ObjectCreated` event to an
//! [`EventTarget`], asynchronously and with Lambda's retry rules; events that
//! still fail are kept as [`DeadLetter`]s on disk.
//!
//! ```no_run
//! use std::sync::Arc;
//! use s3_store::{EventTarget, InvocationError, S3Event, S3Store, S3StoreConfig};
//!
//! struct Indexer;
//!
//! #[async_trait::async_trait]
//! impl EventTarget for Indexer {
//!     async fn invoke(&self, event: &S3Event) -> Result<(), InvocationError> {
//!         // Run the indexer handler; an Err is retried, then dead-lettered.
//!         Ok(())
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = S3StoreConfig::new(".local/s3", ".local/s3-dead-letters", "AKIDLOCAL", "local-secret");
//! config.buckets = vec!["photos".to_owned()];
//! config.cors_origins = vec!["http://127.0.0.1:3000".to_owned()];
//! let store = S3Store::bind(config, "127.0.0.1:3001".parse()?, Arc::new(Indexer)).await?;
//! println!("AWS_ENDPOINT_URL_S3={}", store.endpoint_url());
//! for letter in store.dead_letters().list().await? {
//!     store.dead_letters().replay(&letter.id).await?;
//! }
//! store.shutdown().await?;
//! # Ok(())
//! # }
//! ```

mod config;
mod dead_letter;
mod delivery;
mod event;
mod notify;
mod server;
mod target;

pub use config::{ConfigError, DeliveryPolicy, MAX_RETRIES, S3StoreConfig, SecretKey};
pub use dead_letter::{DeadLetter, DeadLetterError, DeadLetterReason, DeadLetters};
pub use event::{
    EVENT_SOURCE, EVENT_VERSION, EventContext, KeyDecodeError, ObjectCreated, ObjectCreation,
    S3_SCHEMA_VERSION, SEQUENCER_WIDTH, SequencerClock, compare_sequencers, decode_event_key,
    encode_event_key, event_to_json, object_created_event,
};
pub use server::{RunningS3Store, S3Store, ShutdownError, StartError};
pub use target::{EventTarget, InvocationError, InvokeTargetError, LambdaInvokeTarget};

/// The event type delivered to targets, re-exported for implementors.
pub use aws_lambda_events::s3::S3Event;
