//! An S3-compatible object store on local disk for development and tests.
//!
//! It serves the S3 REST API on 127.0.0.1 (path-style, SigV4 and presigned
//! URLs checked, CORS for configured origins) on top of `s3s-fs`, and after
//! every object creation (PutObject, PostObject, CopyObject,
//! CompleteMultipartUpload) delivers a real S3 `ObjectCreated` event to an
//! [`EventTarget`], asynchronously and with Lambda's retry rules; events that
//! still fail are kept as [`DeadLetter`]s on disk.

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
