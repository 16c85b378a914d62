//! An S3-compatible object store on local disk for development and tests.
//!
//! It serves the S3 REST API on 127.0.0.1 (path-style) on top of `s3s-fs`,
//! as S3 behaves for the stack's buckets: SigV4 and presigned URLs signed
//! with the shared key ring, every operation authorized as S3 authorizes it
//! (identity, bucket, VPC endpoint and KMS key policies, 403 for a missing
//! key to callers that may not list the bucket), object versions in
//! versioned buckets, CORS from each bucket's rules, and after every object
//! creation a real S3 `ObjectCreated` event for each matching notification,
//! delivered asynchronously with Lambda's retry rules; events that still
//! fail are kept as [`DeadLetter`]s on disk.
//!
//! ```no_run
//! use std::sync::Arc;
//! use local_s3_store::{Access, BucketConfig, DeliveryPolicy, EventTarget, InvocationError,
//!     Notification, NotificationTarget, S3Event, S3Store, S3StoreConfig};
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
//! let access = Access::single_key("AKIDLOCAL", "local-secret", "123456789012")?;
//! let mut config = S3StoreConfig::new(".local/s3", ".local/s3-versions", access);
//! let mut bucket = BucketConfig::new("photos");
//! bucket.versioned = true;
//! bucket.notifications.push(Notification::all_created(NotificationTarget {
//!     name: "indexer".to_owned(),
//!     target: Arc::new(Indexer),
//!     delivery: DeliveryPolicy::default(),
//!     dead_letter_dir: ".local/s3-dead-letters".into(),
//!     destination: None,
//! }));
//! config.buckets = vec![bucket];
//! let store = S3Store::bind(config, "127.0.0.1:3001".parse()?).await?;
//! println!("AWS_ENDPOINT_URL_S3={}", store.endpoint_url());
//! store.shutdown().await?;
//! # Ok(())
//! # }
//! ```

mod access;
mod config;
mod cors;
mod dead_letter;
mod delivery;
mod event;
mod notify;
mod server;
mod target;
mod versions;

pub use access::NETWORK_HEADER;
pub use config::{
    BucketConfig, ConfigError, CorsRule, DeliveryPolicy, EventFilter, KmsKey, MAX_RETRIES,
    Notification, NotificationTarget, S3StoreConfig,
};
pub use dead_letter::{DeadLetter, DeadLetterError, DeadLetterReason, DeadLetters};
pub use event::{
    EVENT_SOURCE, EVENT_VERSION, EventContext, KeyDecodeError, ObjectCreated, ObjectCreation,
    S3_SCHEMA_VERSION, SEQUENCER_WIDTH, SequencerClock, compare_sequencers, decode_event_key,
    encode_event_key, event_to_json, object_created_event,
};
pub use local_iam::Access;
pub use server::{RunningS3Store, S3Store, ShutdownError, StartError};
pub use target::{
    EventTarget, FailureDestination, InvocationError, InvokeTargetError, LambdaInvokeTarget,
};

/// The event type delivered to targets, re-exported for implementors.
pub use aws_lambda_events::s3::S3Event;
