//! The functions' environment: the variables the template sets in AWS, with
//! the local endpoints. The handlers read it through the very same
//! `Config::from_lookup` and `Adapters` as the Lambda mains; only the lookup
//! is a map instead of the process environment, so that several runtimes
//! (tests) can live in one process.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::{Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use registry_adapters::{Config, ConfigError};

use crate::credentials::LocalCredentials;

pub const PHOTO_BUCKET: &str = "PHOTO_BUCKET";
pub const FACE_COLLECTION: &str = "FACE_COLLECTION";
pub const DATABASE_URL: &str = "DATABASE_URL";
pub const S3_FORCE_PATH_STYLE: &str = "S3_FORCE_PATH_STYLE";
pub const AWS_ENDPOINT_URL_S3: &str = "AWS_ENDPOINT_URL_S3";
pub const AWS_ENDPOINT_URL_REKOGNITION: &str = "AWS_ENDPOINT_URL_REKOGNITION";
pub const AWS_REGION: &str = "AWS_REGION";
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
pub const UPLOAD_URL_TTL_SECONDS: &str = "UPLOAD_URL_TTL_SECONDS";
pub const PHOTO_URL_TTL_SECONDS: &str = "PHOTO_URL_TTL_SECONDS";
pub const METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";

/// Values that vary between local runs.
#[derive(Debug, Clone)]
pub struct EnvironmentSettings {
    pub bucket: String,
    pub collection: String,
    pub region: String,
    pub database_url: String,
    pub s3_endpoint: String,
    pub engine_endpoint: String,
    pub upload_url_ttl: Duration,
    pub photo_url_ttl: Duration,
    pub metrics_namespace: String,
}

/// The variables a function sees.
#[derive(Clone)]
pub struct FunctionEnvironment {
    vars: BTreeMap<&'static str, String>,
}

impl std::fmt::Debug for FunctionEnvironment {
    // DATABASE_URL and the secret key are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.public_vars())
            .finish_non_exhaustive()
    }
}

impl FunctionEnvironment {
    pub fn new(settings: &EnvironmentSettings, credentials: &LocalCredentials) -> Self {
        let vars = BTreeMap::from([
            (PHOTO_BUCKET, settings.bucket.clone()),
            (FACE_COLLECTION, settings.collection.clone()),
            (DATABASE_URL, settings.database_url.clone()),
            (S3_FORCE_PATH_STYLE, "true".to_owned()),
            (AWS_ENDPOINT_URL_S3, settings.s3_endpoint.clone()),
            (
                AWS_ENDPOINT_URL_REKOGNITION,
                settings.engine_endpoint.clone(),
            ),
            (AWS_REGION, settings.region.clone()),
            (AWS_ACCESS_KEY_ID, credentials.access_key_id.clone()),
            (
                AWS_SECRET_ACCESS_KEY,
                credentials.secret_access_key().to_owned(),
            ),
            (
                UPLOAD_URL_TTL_SECONDS,
                settings.upload_url_ttl.as_secs().to_string(),
            ),
            (
                PHOTO_URL_TTL_SECONDS,
                settings.photo_url_ttl.as_secs().to_string(),
            ),
            (METRICS_NAMESPACE, settings.metrics_namespace.clone()),
        ]);
        Self { vars }
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    /// The handlers' typed configuration, read as the Lambda mains read it.
    pub fn config(&self) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| self.get(name))
    }

    /// The shared AWS configuration: the standard loader, with the region,
    /// credentials and per-service endpoints taken from these variables.
    pub async fn sdk_config(&self) -> SdkConfig {
        let region = self.get(AWS_REGION).unwrap_or_default();
        let credentials = Credentials::new(
            self.get(AWS_ACCESS_KEY_ID).unwrap_or_default(),
            self.get(AWS_SECRET_ACCESS_KEY).unwrap_or_default(),
            None,
            None,
            "registry-local",
        );
        registry_adapters::aws::config_loader()
            .region(Region::new(region))
            .credentials_provider(credentials)
            .load()
            .await
            .into_builder()
            .service_config(ServiceVariables(self.vars.clone()))
            .build()
    }

    /// The variables that may be shown: all but the database URL (it may
    /// hold a password) and the secret key.
    pub fn public_vars(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.vars
            .iter()
            .filter(|(name, _)| **name != DATABASE_URL && **name != AWS_SECRET_ACCESS_KEY)
            .map(|(name, value)| (*name, value.as_str()))
    }
}

/// Per-service settings (`AWS_ENDPOINT_URL_<SERVICE>`) looked up in the
/// variables, as the SDK looks them up in the process environment.
#[derive(Debug)]
struct ServiceVariables(BTreeMap<&'static str, String>);

impl LoadServiceConfig for ServiceVariables {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_uppercase().replace(' ', "_");
        let specific = format!("{}_{service}", key.env());
        self.0
            .get(specific.as_str())
            .or_else(|| self.0.get(key.env()))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment() -> FunctionEnvironment {
        let dir = tempfile::tempdir().unwrap();
        let credentials = LocalCredentials::load_or_create(&dir.path().join("aws.env")).unwrap();
        FunctionEnvironment::new(
            &EnvironmentSettings {
                bucket: "photos".into(),
                collection: "faces".into(),
                region: "us-east-1".into(),
                database_url: "mysql://u:pw@127.0.0.1:3306/db".into(),
                s3_endpoint: "http://127.0.0.1:9001".into(),
                engine_endpoint: "http://127.0.0.1:9002".into(),
                upload_url_ttl: Duration::from_secs(300),
                photo_url_ttl: Duration::from_secs(120),
                metrics_namespace: "FaceRegistry".into(),
            },
            &credentials,
        )
    }

    #[test]
    fn the_handlers_configuration_reads_the_variables() {
        let config = environment().config().unwrap();
        assert_eq!(config.bucket, "photos");
        assert_eq!(config.collection, "faces");
        assert!(config.s3_force_path_style);
        assert_eq!(config.photo_url_ttl, Duration::from_secs(120));
    }

    #[tokio::test]
    async fn each_service_gets_its_own_endpoint() {
        let sdk = environment().sdk_config().await;
        let endpoint = |service: &str| {
            let key = ServiceConfigKey::builder()
                .service_id(service)
                .env("AWS_ENDPOINT_URL")
                .profile("endpoint_url")
                .build()
                .unwrap();
            sdk.service_config().unwrap().load_config(key)
        };
        assert_eq!(endpoint("S3").as_deref(), Some("http://127.0.0.1:9001"));
        assert_eq!(
            endpoint("Rekognition").as_deref(),
            Some("http://127.0.0.1:9002")
        );
        assert_eq!(endpoint("Lambda"), None);
    }

    #[test]
    fn secrets_are_not_shown() {
        let environment = environment();
        let shown = format!("{environment:?}");
        assert!(!shown.contains("pw@"), "{shown}");
        let secret = environment.get(AWS_SECRET_ACCESS_KEY).unwrap();
        assert!(!shown.contains(&secret));
        assert!(shown.contains("AWS_ENDPOINT_URL_S3"));
    }
}
