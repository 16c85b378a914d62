//! Presigned photo URLs at listing speed. A page of people carries a URL
//! per photo; the SDK's presigning runs its whole request pipeline for each
//! (about 0.1 ms a URL). This signs the same `GetObject` URL with the SDK's
//! own SigV4 signer (`aws-sigv4`), the endpoint learned once from a URL the
//! SDK presigned, so that nothing about the URL is worked out twice.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use registry::ports::PortError;
use tokio::sync::{Mutex, OnceCell};

use crate::sdk::port_error;

/// What a key's path segments escape: everything but S3's unreserved
/// characters and the `/` between segments (the SDK's greedy label).
const KEY_PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// What a query value escapes: everything but S3's unreserved characters.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The key the endpoint is learned with.
const PROBE_KEY: &str = "probe";

/// Credentials are fetched again this long before they expire.
const CREDENTIALS_MARGIN: Duration = Duration::from_secs(300);

pub struct DownloadSigner {
    client: Client,
    /// `None`: the configuration has no credentials, and no URL can be signed.
    provider: Option<SharedCredentialsProvider>,
    bucket: String,
    /// The URL of the bucket's objects, up to the key (`https://<bucket>.s3.<region>.amazonaws.com/`,
    /// or `http://127.0.0.1:3001/<bucket>/` path-style).
    base: OnceCell<String>,
    credentials: Mutex<Option<Credentials>>,
}

impl DownloadSigner {
    pub fn new(
        client: Client,
        provider: Option<SharedCredentialsProvider>,
        bucket: impl Into<String>,
    ) -> Self {
        Self {
            client,
            provider,
            bucket: bucket.into(),
            base: OnceCell::new(),
            credentials: Mutex::new(None),
        }
    }

    /// A presigned `GetObject` URL of `key`, valid `ttl` from `now`.
    pub async fn presign_get(
        &self,
        key: &str,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<String, PortError> {
        let base = self.base.get_or_try_init(|| self.learn_base()).await?;
        let credentials = self.credentials().await?;
        let region = self
            .client
            .config()
            .region()
            .ok_or_else(|| PortError::Permanent("S3: no region is configured".into()))?;
        let url = format!(
            "{base}{}?x-id=GetObject",
            percent_encoding::utf8_percent_encode(key, KEY_PATH)
        );
        let identity = credentials.into();
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(ttl);
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region.as_ref())
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| PortError::Permanent(format!("presigning: {e}")))?
            .into();
        let request = SignableRequest::new(
            "GET",
            &url,
            std::iter::empty(),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| PortError::Permanent(format!("presigning: {e}")))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| PortError::Permanent(format!("presigning: {e}")))?
            .into_parts();
        let mut signed = url;
        for (name, value) in instructions.params() {
            signed.push('&');
            signed.push_str(name);
            signed.push('=');
            signed.extend(percent_encoding::utf8_percent_encode(value, QUERY_VALUE));
        }
        Ok(signed)
    }

    /// The bucket's URL, from one URL the SDK presigns (its endpoint rules:
    /// region, path style, a local endpoint).
    async fn learn_base(&self) -> Result<String, PortError> {
        let config = PresigningConfig::expires_in(Duration::from_secs(60))
            .map_err(|e| PortError::Permanent(format!("presigning: {e}")))?;
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(PROBE_KEY)
            .presigned(config)
            .await
            .map_err(|e| port_error("S3", e))?;
        let url = presigned.uri();
        let path = url.split('?').next().unwrap_or(url);
        path.strip_suffix(PROBE_KEY)
            .map(str::to_owned)
            .ok_or_else(|| {
                PortError::Permanent(format!("S3: a presigned URL of an unexpected form: {path}"))
            })
    }

    async fn credentials(&self) -> Result<Credentials, PortError> {
        let mut cached = self.credentials.lock().await;
        if let Some(credentials) = cached.as_ref()
            && credentials
                .expiry()
                .is_none_or(|expiry| expiry > SystemTime::now() + CREDENTIALS_MARGIN)
        {
            return Ok(credentials.clone());
        }
        let provider = self
            .provider
            .as_ref()
            .ok_or_else(|| PortError::Permanent("S3: no credentials are configured".into()))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| PortError::Transient(format!("S3: credentials: {e}")))?;
        *cached = Some(credentials.clone());
        Ok(credentials)
    }
}
