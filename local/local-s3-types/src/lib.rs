//! S3's vocabulary that both the template model (`local-stack`, which reads
//! a bucket's `CorsConfiguration` and `NotificationConfiguration`) and the
//! S3 store (which applies them) speak, defined once.

/// A CORS rule of a bucket, as S3 evaluates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsRule {
    pub allowed_methods: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub exposed_headers: Vec<String>,
    pub max_age_seconds: Option<u64>,
}

/// Which events a notification sends: an event type, and the key's prefix
/// and suffix (its `Filter.S3Key` rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    /// e.g. `s3:ObjectCreated:*` or `s3:ObjectCreated:Put`.
    pub event: String,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
}

impl EventFilter {
    /// Every object creation.
    pub fn all_created() -> Self {
        Self {
            event: "s3:ObjectCreated:*".to_owned(),
            prefix: None,
            suffix: None,
        }
    }

    /// Whether an event named `event_name` (e.g. `ObjectCreated:Put`) for
    /// `key` passes the filter.
    pub fn matches(&self, event_name: &str, key: &str) -> bool {
        let pattern = self.event.strip_prefix("s3:").unwrap_or(&self.event);
        let event = match pattern.strip_suffix('*') {
            Some(prefix) => event_name.starts_with(prefix),
            None => event_name == pattern,
        };
        event
            && self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && self.suffix.as_deref().is_none_or(|s| key.ends_with(s))
    }
}
