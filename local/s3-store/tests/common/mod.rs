//! Shared helpers: a store on an ephemeral port, an SDK client for it, and
//! event targets that record what they receive.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use s3_store::{
    DeliveryPolicy, EventTarget, InvocationError, RunningS3Store, S3Event, S3Store, S3StoreConfig,
};
use tempfile::TempDir;
use tokio::sync::Notify;

pub const ACCESS_KEY: &str = "AKIALOCALTEST";
pub const SECRET_KEY: &str = "local-test-secret-key";
pub const BUCKET: &str = "photos";
pub const REGION: &str = "eu-west-1";
pub const ALLOWED_ORIGIN: &str = "http://127.0.0.1:3000";

/// How long a test waits for an event that should come.
pub const EVENT_WAIT: Duration = Duration::from_secs(10);

/// Records events; fails the first `failures` invocations, and every
/// invocation while `healthy` is false.
pub struct RecordingTarget {
    events: Mutex<Vec<S3Event>>,
    arrived: Notify,
    failures_left: AtomicU32,
    healthy: AtomicBool,
    pub invocations: AtomicU32,
    delay: Duration,
}

impl RecordingTarget {
    pub fn new() -> Arc<Self> {
        Self::build(0, true, Duration::ZERO)
    }

    pub fn failing_first(failures: u32) -> Arc<Self> {
        Self::build(failures, true, Duration::ZERO)
    }

    pub fn unhealthy() -> Arc<Self> {
        Self::build(0, false, Duration::ZERO)
    }

    pub fn slow(delay: Duration) -> Arc<Self> {
        Self::build(0, true, delay)
    }

    fn build(failures: u32, healthy: bool, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            events: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            failures_left: AtomicU32::new(failures),
            healthy: AtomicBool::new(healthy),
            invocations: AtomicU32::new(0),
            delay,
        })
    }

    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::SeqCst);
    }

    pub fn events(&self) -> Vec<S3Event> {
        self.events.lock().unwrap().clone()
    }

    /// Waits until at least `count` events arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<S3Event> {
        tokio::time::timeout(EVENT_WAIT, async {
            loop {
                let notified = self.arrived.notified();
                let events = self.events();
                if events.len() >= count {
                    return events;
                }
                notified.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("expected {count} events, got {:?}", self.events()))
    }
}

#[async_trait]
impl EventTarget for RecordingTarget {
    async fn invoke(&self, event: &S3Event) -> Result<(), InvocationError> {
        self.invocations.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if !self.healthy.load(Ordering::SeqCst) {
            return Err(InvocationError::function("indexer unavailable"));
        }
        let failed = self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        if failed {
            return Err(InvocationError::function("transient failure"));
        }
        self.events.lock().unwrap().push(event.clone());
        self.arrived.notify_waiters();
        Ok(())
    }
}

pub struct TestStore {
    pub store: RunningS3Store,
    pub client: aws_sdk_s3::Client,
    pub dir: TempDir,
}

/// Local delivery with short delays so that tests finish quickly.
pub fn fast_policy() -> DeliveryPolicy {
    DeliveryPolicy {
        retry_delays: vec![Duration::from_millis(20), Duration::from_millis(40)],
        shutdown_grace: Duration::from_secs(5),
        ..DeliveryPolicy::default()
    }
}

pub async fn start(target: Arc<dyn EventTarget>) -> TestStore {
    start_with(target, fast_policy()).await
}

pub async fn start_with(target: Arc<dyn EventTarget>, policy: DeliveryPolicy) -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let mut config = S3StoreConfig::new(
        dir.path().join("s3"),
        dir.path().join("dead-letters"),
        ACCESS_KEY,
        SECRET_KEY,
    );
    config.region = REGION.to_owned();
    config.buckets = vec![BUCKET.to_owned()];
    config.cors_origins = vec![
        ALLOWED_ORIGIN.to_owned(),
        "http://localhost:3000".to_owned(),
    ];
    config.delivery = policy;
    let store = S3Store::bind(config, "127.0.0.1:0".parse().unwrap(), target)
        .await
        .unwrap();
    let client = client(&store.endpoint_url(), SECRET_KEY);
    TestStore { store, client, dir }
}

pub fn client(endpoint: &str, secret: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(ACCESS_KEY, secret, None, None, "test"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The one record of an event.
pub fn record(event: &S3Event) -> &aws_lambda_events::s3::S3EventRecord {
    assert_eq!(event.records.len(), 1, "{event:?}");
    &event.records[0]
}

pub fn unquote(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}
