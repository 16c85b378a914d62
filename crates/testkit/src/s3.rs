//! An S3 client with a fixed region, credentials and endpoint: presigning
//! is computed locally, so the handlers' URLs can be checked without a server.

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use registry_adapters::S3PhotoStore;

/// The bucket the sample events name.
pub const TEST_BUCKET: &str = "face-registry-123456789012-us-east-1-photos";
pub const TEST_REGION: &str = "eu-west-1";
/// Nothing needs to listen here: presigning makes no request.
pub const TEST_ENDPOINT: &str = "http://127.0.0.1:9";
const TEST_ACCESS_KEY_ID: &str = "AKIATESTKEYID000000";
const TEST_SECRET_ACCESS_KEY: &str = "test-secret-access-key-never-shown";

fn test_credentials() -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Credentials::new(
        TEST_ACCESS_KEY_ID,
        TEST_SECRET_ACCESS_KEY,
        None,
        None,
        "registry-testkit",
    ))
}

/// A path-style S3 client for `endpoint` with the test credentials.
pub fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(TEST_REGION))
        .credentials_provider(test_credentials())
        .endpoint_url(endpoint)
        .force_path_style(true)
        .http_client(registry_adapters::aws::https_client())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The photo store of the sample events' bucket, for presigning.
pub fn presigning_photo_store() -> S3PhotoStore {
    S3PhotoStore::new(
        s3_client(TEST_ENDPOINT),
        Some(test_credentials()),
        TEST_BUCKET,
    )
}

/// The secret access key the test client signs with, to check it never leaks.
pub fn test_secret_access_key() -> &'static str {
    TEST_SECRET_ACCESS_KEY
}
