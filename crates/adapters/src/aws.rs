//! The AWS SDK configuration shared by every function.
//!
//! The SDK crates are built without a default HTTPS client; this is the one
//! they all use: rustls with ring, trusting the platform's root certificates,
//! through the proxy `HTTPS_PROXY` / `HTTP_PROXY` name (but what `NO_PROXY`
//! names), as the AWS CLI and the other SDKs honour them. Lambda sets none.

use aws_config::{BehaviorVersion, ConfigLoader};
use aws_smithy_http_client::Connector;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_types::sdk_config::SharedHttpClient;

/// The HTTPS client for every AWS API call.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = Connector::builder()
            .proxy_config(ProxyConfig::from_env())
            .tls_provider(Provider::Rustls(CryptoMode::Ring));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.build()
    })
}

/// The standard configuration chain (region, credentials,
/// `AWS_ENDPOINT_URL_<SERVICE>`) over [`https_client`].
pub fn config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client())
}
