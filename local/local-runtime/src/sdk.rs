//! The AWS configuration a principal's clients use locally: its own keys,
//! the local endpoints (`AWS_ENDPOINT_URL_<SERVICE>`, looked up in a map
//! instead of the process environment, so that many functions live in one
//! process) and, for a function, the routes of its VPC.

use std::collections::BTreeMap;

use aws_config::{Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use local_iam::Identity;

use crate::network::{RoutedHttpClient, Routes};

/// Per-service settings (`AWS_ENDPOINT_URL_<SERVICE>`) looked up in the
/// variables, as the SDK looks them up in the process environment.
#[derive(Debug)]
struct ServiceVariables(BTreeMap<String, String>);

impl LoadServiceConfig for ServiceVariables {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_uppercase().replace(' ', "_");
        let specific = format!("{}_{service}", key.env());
        self.0
            .get(&specific)
            .or_else(|| self.0.get(key.env()))
            .cloned()
    }
}

/// `identity`'s configuration with the endpoints in `variables`, its
/// requests routed by `routes`.
pub async fn config_for(
    identity: &Identity,
    region: &str,
    variables: &BTreeMap<String, String>,
    routes: Routes,
) -> SdkConfig {
    let credentials = Credentials::new(
        &identity.access_key_id,
        identity.secret_access_key(),
        None,
        None,
        "registry-local",
    );
    registry_adapters::aws::config_loader()
        .http_client(RoutedHttpClient::shared(
            registry_adapters::aws::https_client(),
            routes,
        ))
        .region(Region::new(region.to_owned()))
        .credentials_provider(credentials)
        .load()
        .await
        .into_builder()
        .service_config(ServiceVariables(variables.clone()))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_service_gets_its_own_endpoint() {
        let mut keys = local_iam::KeyRing::new(b"test");
        let identity = keys.add(local_iam::Principal {
            name: "F".into(),
            principal_arn: "arn:aws:sts::1:assumed-role/r/f".into(),
            role_arn: "arn:aws:iam::1:role/r".into(),
            account: "1".into(),
            policies: Vec::new(),
        });
        let variables = BTreeMap::from([
            (
                "AWS_ENDPOINT_URL_S3".to_owned(),
                "http://127.0.0.1:9001".to_owned(),
            ),
            (
                "AWS_ENDPOINT_URL_REKOGNITION".to_owned(),
                "http://127.0.0.1:9002".to_owned(),
            ),
            (
                "AWS_ENDPOINT_URL_SECRETS_MANAGER".to_owned(),
                "http://127.0.0.1:9003".to_owned(),
            ),
        ]);
        let sdk = config_for(&identity, "us-east-1", &variables, Routes::default()).await;
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
        assert_eq!(
            endpoint("Secrets Manager").as_deref(),
            Some("http://127.0.0.1:9003")
        );
        assert_eq!(endpoint("Lambda"), None);
    }
}
