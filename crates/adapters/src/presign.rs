//! Presigned photo URLs at listing speed. A page of people carries a URL
//! per photo; the SDK's presigning runs its whole request pipeline for each
//! (about 0.1 ms a URL). This signs the same `GetObject` URL with the SDK's
//! SigV4 primitives (`aws-sigv4`: the signing key, the signature), the
//! endpoint learned once from a URL the SDK presigned; a test checks the
//! URLs byte for byte against the SDK's. What the URLs of one second share
//! (time, scope, credential, token, signing key) is made once for them all.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sigv4::sign::v4;
use registry::ports::PortError;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, OnceCell};

use crate::sdk::port_error;

/// What a key's path segments escape: everything but S3's unreserved
/// characters and the `/` between segments (the SDK's greedy label; a copy
/// source's key is escaped the same way).
pub(crate) const KEY_PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
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
    /// What the URLs signed in the last second share.
    shared: std::sync::Mutex<Option<Arc<SharedPart>>>,
}

/// The part of a presigned URL that depends on the second it is signed in,
/// its lifetime and the credentials, not on the key.
struct SharedPart {
    /// Seconds since the epoch.
    second: u64,
    ttl: Duration,
    /// `X-Amz-Date`: `20261201T104950Z`.
    date_time: String,
    /// `<date>/<region>/s3/aws4_request`.
    scope: String,
    /// The signed query parameters that sort before the token.
    signed_query: String,
    /// `&X-Amz-Security-Token=...`, or empty without a session token.
    token: String,
    signing_key: Vec<u8>,
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
            shared: std::sync::Mutex::new(None),
        }
    }

    /// A presigned `GetObject` URL of `key`, valid `ttl` from `now`: SigV4
    /// query authentication as the SDK computes it for S3 (its canonical
    /// request: the path as encoded once, the query sorted, `host` the only
    /// signed header, an unsigned payload).
    pub async fn presign_get(
        &self,
        key: &str,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<String, PortError> {
        let base = self.base.get_or_try_init(|| self.learn_base()).await?;
        let (host, path) = base
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('/'))
            .ok_or_else(|| {
                PortError::Permanent(format!("S3: a bucket URL without a path: {base}"))
            })?;
        let shared = self.shared_part(ttl, now).await?;
        let key = percent_encoding::utf8_percent_encode(key, KEY_PATH).to_string();
        let mut canonical_request = Sha256::new();
        for part in [
            "GET\n/",
            path,
            &key,
            "\n",
            &shared.signed_query,
            &shared.token,
            "&X-Amz-SignedHeaders=host&x-id=GetObject\nhost:",
            host,
            "\n\nhost\nUNSIGNED-PAYLOAD",
        ] {
            canonical_request.update(part.as_bytes());
        }
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{}\n{}\n{:x}",
            shared.date_time,
            shared.scope,
            canonical_request.finalize()
        );
        let signature = v4::calculate_signature(&shared.signing_key, string_to_sign.as_bytes());
        Ok(format!(
            "{base}{key}?x-id=GetObject&{}&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}{}",
            shared.signed_query, shared.token
        ))
    }

    /// The shared part of the URLs signed in `now`'s second for `ttl`: made
    /// (the signing key's four HMACs included) once for them.
    async fn shared_part(
        &self,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<Arc<SharedPart>, PortError> {
        let second = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let lock = || {
            self.shared
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(shared) = lock().as_ref()
            && shared.second == second
            && shared.ttl == ttl
        {
            return Ok(Arc::clone(shared));
        }
        let credentials = self.credentials().await?;
        let region = self
            .client
            .config()
            .region()
            .ok_or_else(|| PortError::Permanent("S3: no region is configured".into()))?;
        let date_time = chrono::DateTime::<chrono::Utc>::from(now)
            .format("%Y%m%dT%H%M%SZ")
            .to_string();
        let date = &date_time[..8];
        let scope = format!("{date}/{region}/s3/aws4_request");
        let encode =
            |value: &str| percent_encoding::utf8_percent_encode(value, QUERY_VALUE).to_string();
        let signed_query = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date={date_time}&X-Amz-Expires={}",
            encode(&format!("{}/{scope}", credentials.access_key_id())),
            ttl.as_secs()
        );
        let token = credentials
            .session_token()
            .map(|token| format!("&X-Amz-Security-Token={}", encode(token)))
            .unwrap_or_default();
        let signing_key =
            v4::generate_signing_key(credentials.secret_access_key(), now, region.as_ref(), "s3")
                .as_ref()
                .to_vec();
        let shared = Arc::new(SharedPart {
            second,
            ttl,
            date_time,
            scope,
            signed_query,
            token,
            signing_key,
        });
        *lock() = Some(Arc::clone(&shared));
        Ok(shared)
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
