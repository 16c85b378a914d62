//! Configuration of the store: its buckets (versioning, encryption key,
//! policy, CORS, notifications), who may call it, and event delivery.

pub use local_s3_types::{CorsRule, EventFilter};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use local_iam::{Access, Policy};

use crate::target::{EventTarget, FailureDestination};

/// Lambda's asynchronous invocation retries an event at most twice.
pub const MAX_RETRIES: usize = 2;

/// How events are delivered, modelled on Lambda's asynchronous invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Wait before each retry; its length is the number of retries (0 to 2).
    pub retry_delays: Vec<Duration>,
    /// An event older than this is not tried again and becomes a dead letter.
    pub max_event_age: Duration,
    /// Longest time one invocation may take before it counts as failed.
    pub attempt_timeout: Duration,
    /// Invocations running at once; further events wait their turn.
    pub max_concurrent_deliveries: usize,
    /// On shutdown, how long pending deliveries may still run before the
    /// rest are kept as dead letters.
    pub shutdown_grace: Duration,
}

impl Default for DeliveryPolicy {
    /// Local timings: retries after 1 s and 2 s.
    fn default() -> Self {
        Self {
            retry_delays: vec![Duration::from_secs(1), Duration::from_secs(2)],
            max_event_age: Duration::from_secs(6 * 60 * 60),
            attempt_timeout: Duration::from_secs(60),
            max_concurrent_deliveries: 8,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl DeliveryPolicy {
    /// AWS's timings: retries after about 1 and 2 minutes, events kept up to
    /// 6 hours, invocations up to 15 minutes.
    #[must_use]
    pub fn aws() -> Self {
        Self {
            retry_delays: vec![Duration::from_secs(60), Duration::from_secs(120)],
            max_event_age: Duration::from_secs(6 * 60 * 60),
            attempt_timeout: Duration::from_secs(15 * 60),
            ..Self::default()
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.retry_delays.len() > MAX_RETRIES {
            return Err(ConfigError::TooManyRetries(self.retry_delays.len()));
        }
        for (name, value) in [
            ("max_event_age", self.max_event_age),
            ("attempt_timeout", self.attempt_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::ZeroDuration(name));
            }
        }
        if self.max_concurrent_deliveries == 0 {
            return Err(ConfigError::NoConcurrency);
        }
        Ok(())
    }
}

/// Who receives a bucket's events, and how (Lambda's asynchronous invocation).
#[derive(Clone)]
pub struct NotificationTarget {
    /// Names the target in logs; notifications with the same name share
    /// one delivery queue and dead-letter folder.
    pub name: String,
    pub target: Arc<dyn EventTarget>,
    pub delivery: DeliveryPolicy,
    /// Events that failed every attempt are kept here.
    pub dead_letter_dir: PathBuf,
    /// Who may keep them there; `None`: always.
    pub destination: Option<Arc<dyn FailureDestination>>,
}

impl fmt::Debug for NotificationTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotificationTarget")
            .field("name", &self.name)
            .field("delivery", &self.delivery)
            .field("dead_letter_dir", &self.dead_letter_dir)
            .finish_non_exhaustive()
    }
}

/// One entry of a bucket's notification configuration.
#[derive(Debug, Clone)]
pub struct Notification {
    /// `s3.configurationId` of its events.
    pub id: String,
    pub filter: EventFilter,
    pub target: NotificationTarget,
}

impl Notification {
    /// Every object creation of the bucket.
    pub fn all_created(target: NotificationTarget) -> Self {
        Self {
            id: "s3-store-object-created".to_owned(),
            filter: EventFilter::all_created(),
            target,
        }
    }

    pub(crate) fn matches(&self, event_name: &str, key: &str) -> bool {
        self.filter.matches(event_name, key)
    }
}

/// A bucket and everything S3 keeps about it.
#[derive(Debug, Clone)]
pub struct BucketConfig {
    pub name: String,
    /// Versioning enabled: every write keeps a version, deletes leave markers.
    pub versioned: bool,
    /// Default encryption with this KMS key (SSE-KMS): writers need
    /// `kms:GenerateDataKey` on it and readers `kms:Decrypt`.
    pub kms_key: Option<KmsKey>,
    /// Its bucket policy.
    pub policy: Option<Policy>,
    pub cors: Vec<CorsRule>,
    pub notifications: Vec<Notification>,
}

impl BucketConfig {
    /// An unversioned bucket without policy, encryption key, CORS or notifications.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            versioned: false,
            kms_key: None,
            policy: None,
            cors: Vec::new(),
            notifications: Vec::new(),
        }
    }
}

/// A KMS key and its key policy.
#[derive(Debug, Clone)]
pub struct KmsKey {
    pub arn: String,
    pub policy: Policy,
}

/// Everything the store needs to run.
#[derive(Debug, Clone)]
pub struct S3StoreConfig {
    /// Current objects live under `root_dir/<bucket>/<key>`.
    pub root_dir: PathBuf,
    /// Versions of versioned buckets. Must lie outside `root_dir`.
    pub versions_dir: PathBuf,
    pub access: Access,
    /// Region named in events (`awsRegion`) and in signatures.
    pub region: String,
    pub buckets: Vec<BucketConfig>,
    /// VPC endpoint id → its policy. Requests that name an endpoint in the
    /// [`NETWORK_HEADER`](crate::NETWORK_HEADER) header pass its policy.
    pub endpoints: BTreeMap<String, Option<Policy>>,
    /// `principalId` of the requester and the bucket owner in events.
    pub principal_id: String,
}

impl S3StoreConfig {
    /// A configuration with the local defaults: region `us-east-1`, no buckets.
    pub fn new(
        root_dir: impl Into<PathBuf>,
        versions_dir: impl Into<PathBuf>,
        access: Access,
    ) -> Self {
        Self {
            root_dir: root_dir.into(),
            versions_dir: versions_dir.into(),
            access,
            region: "us-east-1".to_owned(),
            buckets: Vec::new(),
            endpoints: BTreeMap::new(),
            principal_id: "s3-store".to_owned(),
        }
    }

    /// Checks everything that can be checked without touching the disk.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let region_ok = !self.region.is_empty()
            && self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(ConfigError::InvalidRegion(self.region.clone()));
        }
        for bucket in &self.buckets {
            if !s3s::path::check_bucket_name(&bucket.name) {
                return Err(ConfigError::InvalidBucket(bucket.name.clone()));
            }
            for rule in &bucket.cors {
                for origin in rule.allowed_origins.iter().filter(|o| *o != "*") {
                    validate_origin(origin)?;
                }
            }
            for notification in &bucket.notifications {
                notification.target.delivery.validate()?;
            }
        }
        if self.principal_id.is_empty() {
            return Err(ConfigError::Missing("principal id"));
        }
        Ok(())
    }
}

/// An origin is `scheme://host[:port]`, nothing more.
fn validate_origin(origin: &str) -> Result<(), ConfigError> {
    let invalid = |reason: &str| ConfigError::InvalidOrigin {
        origin: origin.to_owned(),
        reason: reason.to_owned(),
    };
    let url = reqwest::Url::parse(origin).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("scheme must be http or https"));
    }
    if url.origin().ascii_serialization() != origin {
        return Err(invalid(
            "expected scheme://host[:port] without path, query or trailing slash",
        ));
    }
    Ok(())
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("region {0:?} is not a region name (lower-case letters, digits and '-')")]
    InvalidRegion(String),
    #[error("bucket name {0:?} is not a valid S3 bucket name")]
    InvalidBucket(String),
    #[error("CORS origin {origin:?} is invalid: {reason}")]
    InvalidOrigin { origin: String, reason: String },
    #[error("{0} retries configured; Lambda's asynchronous invocation allows at most 2")]
    TooManyRetries(usize),
    #[error("delivery {0} must be greater than zero")]
    ZeroDuration(&'static str),
    #[error("max_concurrent_deliveries must be at least 1")]
    NoConcurrency,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> S3StoreConfig {
        S3StoreConfig::new(
            "/tmp/root",
            "/tmp/versions",
            Access::single_key("AKID", "wJalrXUtnFEMI-example", "123456789012").unwrap(),
        )
    }

    #[test]
    fn defaults_are_valid_and_secret_is_not_printed() {
        let config = config();
        config.validate().unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("wJalrXUtnFEMI"), "{printed}");
    }

    #[test]
    fn bad_values_are_named() {
        let mut c = config();
        c.buckets = vec![BucketConfig::new("Bad_Bucket")];
        assert!(c.validate().unwrap_err().to_string().contains("Bad_Bucket"));

        let mut c = config();
        let mut bucket = BucketConfig::new("photos");
        bucket.cors = vec![CorsRule {
            allowed_methods: vec!["GET".into()],
            allowed_origins: vec!["http://localhost:3000/".into()],
            allowed_headers: vec![],
            exposed_headers: vec![],
            max_age_seconds: None,
        }];
        c.buckets = vec![bucket];
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("trailing slash")
        );

        assert!(Access::single_key(" ", "x", "1").is_err());

        let mut c = config();
        c.region = "US East".to_owned();
        assert!(matches!(c.validate(), Err(ConfigError::InvalidRegion(_))));

        let policy = DeliveryPolicy {
            retry_delays: vec![Duration::from_secs(1); 3],
            ..DeliveryPolicy::default()
        };
        assert!(matches!(
            policy.validate(),
            Err(ConfigError::TooManyRetries(3))
        ));
    }

    #[test]
    fn notifications_match_events_prefixes_and_suffixes() {
        struct Nothing;
        #[async_trait::async_trait]
        impl EventTarget for Nothing {
            async fn invoke(&self, _: &crate::S3Event) -> Result<(), crate::InvocationError> {
                Ok(())
            }
        }
        let target = NotificationTarget {
            name: "indexer".into(),
            target: Arc::new(Nothing),
            delivery: DeliveryPolicy::default(),
            dead_letter_dir: "/tmp/dead".into(),
            destination: None,
        };
        let mut jpg = Notification::all_created(target);
        jpg.filter.suffix = Some(".jpg".into());
        assert!(jpg.matches("ObjectCreated:Put", "a.jpg"));
        assert!(jpg.matches("ObjectCreated:CompleteMultipartUpload", "a.jpg"));
        assert!(!jpg.matches("ObjectCreated:Put", "a.png"));
        assert!(!jpg.matches("ObjectRemoved:Delete", "a.jpg"));
        jpg.filter.event = "s3:ObjectCreated:Post".into();
        assert!(!jpg.matches("ObjectCreated:Put", "a.jpg"));
    }
}
