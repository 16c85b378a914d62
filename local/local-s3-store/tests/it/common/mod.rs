//! Shared helpers: a store on an ephemeral port, an SDK client for it, and
//! event targets that record what they receive.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use local_s3_store::{
    Access, BucketConfig, CorsRule, DeadLetters, DeliveryPolicy, EventTarget, InvocationError,
    Notification, NotificationTarget, RunningS3Store, S3Event, S3Store, S3StoreConfig,
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
    start_configured(target, policy, |_| {}).await
}

/// The name of the tests' notification target.
pub const TARGET: &str = "events";

/// A store with the `photos` bucket, CORS for the test origins and a
/// notification of every object creation to `target`; `adjust` changes
/// the configuration before the store starts.
pub async fn start_configured(
    target: Arc<dyn EventTarget>,
    policy: DeliveryPolicy,
    adjust: impl FnOnce(&mut S3StoreConfig),
) -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let access = Access::single_key(ACCESS_KEY, SECRET_KEY, "123456789012").unwrap();
    let mut config = S3StoreConfig::new(dir.path().join("s3"), dir.path().join("versions"), access);
    config.region = REGION.to_owned();
    let mut bucket = BucketConfig::new(BUCKET);
    bucket.cors = vec![CorsRule {
        allowed_methods: vec!["GET".into(), "PUT".into(), "POST".into()],
        allowed_origins: vec![
            ALLOWED_ORIGIN.to_owned(),
            "http://localhost:3000".to_owned(),
        ],
        allowed_headers: vec!["*".into()],
        exposed_headers: vec!["ETag".into()],
        max_age_seconds: Some(600),
    }];
    bucket.notifications = vec![Notification::all_created(NotificationTarget {
        name: TARGET.to_owned(),
        target,
        delivery: policy,
        dead_letter_dir: dir.path().join("dead-letters"),
        destination: None,
    })];
    config.buckets = vec![bucket];
    adjust(&mut config);
    let store = S3Store::bind(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = client(&store.endpoint_url(), SECRET_KEY);
    TestStore { store, client, dir }
}

impl TestStore {
    /// The dead letters of the tests' notification target.
    pub fn dead_letters(&self) -> &DeadLetters {
        self.store
            .dead_letters(TARGET)
            .expect("the target's dead letters")
    }
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
