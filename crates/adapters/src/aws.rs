//! The AWS SDK configuration shared by every function.
//!
//! The SDK crates are built without a default HTTPS client; this is the one
//! they all use: rustls with ring, trusting the platform's root certificates.

use aws_config::{BehaviorVersion, ConfigLoader};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_types::sdk_config::SharedHttpClient;

/// The HTTPS client for every AWS API call.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The standard configuration chain (region, credentials,
/// `AWS_ENDPOINT_URL_<SERVICE>`) over [`https_client`].
pub fn config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client())
}
