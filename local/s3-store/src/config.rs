//! Configuration of the store and of event delivery.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

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

    fn validate(&self) -> Result<(), ConfigError> {
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

/// The secret half of the store's credentials; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl From<String> for SecretKey {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl From<&str> for SecretKey {
    fn from(secret: &str) -> Self {
        Self(secret.to_owned())
    }
}

/// Everything the store needs to run.
#[derive(Debug, Clone)]
pub struct S3StoreConfig {
    /// Objects live under `root_dir/<bucket>/<key>`.
    pub root_dir: PathBuf,
    /// The one access key id requests must be signed with (SigV4).
    pub access_key_id: String,
    pub secret_access_key: SecretKey,
    /// Region named in events (`awsRegion`).
    pub region: String,
    /// Buckets created at start when missing.
    pub buckets: Vec<String>,
    /// Browser origins allowed by CORS, e.g. `http://127.0.0.1:3000`.
    pub cors_origins: Vec<String>,
    /// Events that could not be delivered are kept here, one JSON file each.
    /// Must lie outside `root_dir`, where every folder is a bucket.
    pub dead_letter_dir: PathBuf,
    pub delivery: DeliveryPolicy,
    /// `s3.configurationId` of the events (the notification's name).
    pub configuration_id: String,
    /// `principalId` of the requester and the bucket owner in events.
    pub principal_id: String,
}

impl S3StoreConfig {
    /// A configuration with the local defaults: region `us-east-1`, no
    /// buckets, no CORS origins, local delivery timings.
    pub fn new(
        root_dir: impl Into<PathBuf>,
        dead_letter_dir: impl Into<PathBuf>,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<SecretKey>,
    ) -> Self {
        Self {
            root_dir: root_dir.into(),
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            region: "us-east-1".to_owned(),
            buckets: Vec::new(),
            cors_origins: Vec::new(),
            dead_letter_dir: dead_letter_dir.into(),
            delivery: DeliveryPolicy::default(),
            configuration_id: "s3-store-object-created".to_owned(),
            principal_id: "s3-store".to_owned(),
        }
    }

    /// Checks everything that can be checked without touching the disk.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.access_key_id.trim().is_empty() {
            return Err(ConfigError::Missing("access key id"));
        }
        if self.secret_access_key.expose().is_empty() {
            return Err(ConfigError::Missing("secret access key"));
        }
        let region_ok = !self.region.is_empty()
            && self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(ConfigError::InvalidRegion(self.region.clone()));
        }
        if let Some(bucket) = self
            .buckets
            .iter()
            .find(|bucket| !s3s::path::check_bucket_name(bucket))
        {
            return Err(ConfigError::InvalidBucket(bucket.clone()));
        }
        for origin in &self.cors_origins {
            validate_origin(origin)?;
        }
        if self.configuration_id.is_empty() {
            return Err(ConfigError::Missing("configuration id"));
        }
        if self.principal_id.is_empty() {
            return Err(ConfigError::Missing("principal id"));
        }
        self.delivery.validate()
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
        S3StoreConfig::new("/tmp/root", "/tmp/dead", "AKID", "secret")
    }

    #[test]
    fn defaults_are_valid_and_secret_is_not_printed() {
        let mut config = config();
        config.secret_access_key = SecretKey::new("wJalrXUtnFEMI-example");
        config.validate().unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("wJalrXUtnFEMI"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
    }

    #[test]
    fn bad_values_are_named() {
        let mut c = config();
        c.buckets = vec!["Bad_Bucket".to_owned()];
        assert!(c.validate().unwrap_err().to_string().contains("Bad_Bucket"));

        let mut c = config();
        c.cors_origins = vec!["http://localhost:3000/".to_owned()];
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("trailing slash")
        );

        let mut c = config();
        c.cors_origins = vec![
            "http://localhost:3000".to_owned(),
            "https://app.example".to_owned(),
        ];
        c.validate().unwrap();

        let mut c = config();
        c.delivery.retry_delays = vec![Duration::from_secs(1); 3];
        assert!(matches!(c.validate(), Err(ConfigError::TooManyRetries(3))));

        let mut c = config();
        c.access_key_id = " ".to_owned();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("access key id")
        );

        let mut c = config();
        c.region = "US East".to_owned();
        assert!(matches!(c.validate(), Err(ConfigError::InvalidRegion(_))));
    }
}
