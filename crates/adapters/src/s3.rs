//! The photo store on S3.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::copy_object::builders::CopyObjectFluentBuilder;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::MetadataDirective;
use chrono::{DateTime, Utc};
use registry::ports::{
    ListedPhoto, ObjectVersion, PhotoPage, PhotoStore, PortError, PresignedRequest, StoredObject,
};

use crate::presign::{DownloadSigner, KEY_PATH};
use crate::sdk::{error_code, port_error};

/// The user metadata (`x-amz-meta-uploaded-sha256`) in which a photo the
/// indexer rewrote keeps the SHA-256 of the bytes uploaded.
const UPLOADED_SHA256: &str = "uploaded-sha256";

#[derive(Clone)]
pub struct S3PhotoStore {
    client: Client,
    bucket: String,
    downloads: Arc<DownloadSigner>,
}

impl S3PhotoStore {
    /// The store of `bucket` with a client of its own, and the credentials
    /// its download URLs are signed with (the client's).
    pub fn new(
        client: Client,
        credentials: Option<SharedCredentialsProvider>,
        bucket: impl Into<String>,
    ) -> Self {
        let bucket = bucket.into();
        Self {
            downloads: Arc::new(DownloadSigner::new(
                client.clone(),
                credentials,
                bucket.clone(),
            )),
            client,
            bucket,
        }
    }

    /// The store of `bucket` with the shared AWS configuration.
    pub fn from_config(
        aws: &aws_config::SdkConfig,
        force_path_style: bool,
        bucket: impl Into<String>,
    ) -> Self {
        Self::new(
            Self::client(aws, force_path_style),
            aws.credentials_provider(),
            bucket,
        )
    }

    /// An S3 client from the shared AWS configuration; path-style addressing
    /// for S3-compatible stores.
    pub fn client(aws: &aws_config::SdkConfig, force_path_style: bool) -> Client {
        let config = aws_sdk_s3::config::Builder::from(aws)
            .force_path_style(force_path_style)
            .build();
        Client::from_conf(config)
    }
}

fn presigning(ttl: Duration) -> Result<PresigningConfig, PortError> {
    PresigningConfig::builder()
        .start_time(SystemTime::now())
        .expires_in(ttl)
        .build()
        .map_err(|e| PortError::Permanent(format!("presigning: {e}")))
}

fn expiry(ttl: Duration) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX)
}

#[async_trait]
impl PhotoStore for S3PhotoStore {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn presign_upload(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> Result<PresignedRequest, PortError> {
        let length = i64::try_from(content_length)
            .map_err(|_| PortError::Permanent("content length out of range".into()))?;
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(length)
            .customize()
            // In Lambda with tracing on, the SDK's recursion detection adds
            // the invocation's X-Amzn-Trace-Id before signing: signed into
            // the URL, the browser would have to send it, and the bucket's
            // CORS (content-type, content-length, content-md5) refuses it.
            .mutate_request(|request| {
                request.headers_mut().remove("x-amzn-trace-id");
            })
            .presigned(presigning(ttl)?)
            .await
            .map_err(|e| port_error("S3", e))?;
        let mut headers: Vec<(String, String)> = presigned
            .headers()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
            .collect();
        headers.sort();
        Ok(PresignedRequest {
            url: presigned.uri().to_owned(),
            method: presigned.method().to_owned(),
            headers,
            expires_at: expiry(ttl),
        })
    }

    async fn presign_download(&self, key: &str, ttl: Duration) -> Result<String, PortError> {
        self.downloads
            .presign_get(key, ttl, SystemTime::now())
            .await
    }

    async fn stat(&self, key: &str) -> Result<Option<StoredObject>, PortError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(StoredObject {
                size: head
                    .content_length()
                    .and_then(|l| u64::try_from(l).ok())
                    .unwrap_or(0),
                etag: head.e_tag().map(str::to_owned),
                version_id: head.version_id().map(str::to_owned),
                uploaded_sha256: head
                    .metadata()
                    .and_then(|m| m.get(UPLOADED_SHA256))
                    .cloned(),
            })),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(error) => Err(port_error("S3", error)),
        }
    }

    async fn read(&self, key: &str, etag: Option<&str>) -> Result<Option<Vec<u8>>, PortError> {
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_if_match(etag.map(str::to_owned));
        match request.send().await {
            Ok(object) => {
                let body =
                    object.body.collect().await.map_err(|e| {
                        PortError::Transient(format!("S3: reading the object: {e}"))
                    })?;
                Ok(Some(body.into_bytes().to_vec()))
            }
            Err(error)
                if matches!(error_code(&error), Some("NoSuchKey" | "PreconditionFailed")) =>
            {
                Ok(None)
            }
            Err(error)
                if error
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 412) =>
            {
                Ok(None)
            }
            Err(error) => Err(port_error("S3", error)),
        }
    }

    /// A conditional write: PutObject with `If-Match` answers 412
    /// PreconditionFailed when the object is another version, 404 NoSuchKey
    /// when there is none, and 409 ConditionalRequestConflict when another
    /// write raced it (then retry). S3 user guide, "Conditional writes".
    async fn replace_if_unchanged(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        etag: &str,
        uploaded_sha256: &str,
    ) -> Result<bool, PortError> {
        let written = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .metadata(UPLOADED_SHA256, uploaded_sha256)
            .if_match(etag)
            .body(bytes.into())
            .send()
            .await;
        match written {
            Ok(_) => Ok(true),
            Err(error)
                if matches!(error_code(&error), Some("PreconditionFailed" | "NoSuchKey")) =>
            {
                Ok(false)
            }
            Err(error)
                if error
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 409) =>
            {
                Err(PortError::Transient(
                    "S3: a concurrent write to the photo; try again".into(),
                ))
            }
            Err(error) => Err(port_error("S3", error)),
        }
    }

    /// ListObjectVersions (permission `s3:ListBucketVersions` on the
    /// bucket), by prefix, keeping the exact key; pages follow the key and
    /// version-id markers.
    async fn versions(&self, key: &str) -> Result<Vec<ObjectVersion>, PortError> {
        let mut found = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(key)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| port_error("S3", e))?;
            let versions = page
                .versions()
                .iter()
                .filter(|v| v.key() == Some(key))
                .map(|v| (v.version_id(), false, v.last_modified()));
            let markers = page
                .delete_markers()
                .iter()
                .filter(|m| m.key() == Some(key))
                .map(|m| (m.version_id(), true, m.last_modified()));
            for (version_id, delete_marker, last_modified) in versions.chain(markers) {
                found.push(ObjectVersion {
                    // An object written before versioning was enabled is the "null" version.
                    version_id: version_id.unwrap_or("null").to_owned(),
                    delete_marker,
                    last_modified: last_modified.and_then(chrono_time),
                });
            }
            if page.is_truncated() != Some(true) {
                return Ok(found);
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
            if key_marker.is_none() {
                return Err(PortError::Transient(
                    "S3: a truncated version listing gave no marker to go on from".into(),
                ));
            }
        }
    }

    /// DeleteObject with a version id (permission `s3:DeleteObjectVersion`)
    /// removes that version or delete marker for good; without one it would
    /// only add a delete marker.
    async fn delete_version(&self, key: &str, version_id: &str) -> Result<(), PortError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .version_id(version_id)
            .send()
            .await
            .map_err(|e| port_error("S3", e))?;
        Ok(())
    }

    /// ListObjectsV2 (permission `s3:ListBucket`): current versions only
    /// (a key whose current version is a delete marker is not listed), in
    /// ascending UTF-8 binary key order, at most 1,000 a page, from the key
    /// after `StartAfter`.
    async fn list_photos(&self, after: Option<&str>, limit: u32) -> Result<PhotoPage, PortError> {
        let page = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .set_start_after(after.map(str::to_owned))
            .max_keys(i32::try_from(limit.min(1000)).unwrap_or(1000))
            .send()
            .await
            .map_err(|e| port_error("S3", e))?;
        Ok(PhotoPage {
            photos: page
                .contents()
                .iter()
                .filter_map(|object| {
                    Some(ListedPhoto {
                        key: object.key()?.to_owned(),
                        last_modified: object.last_modified().and_then(chrono_time),
                    })
                })
                .collect(),
            truncated: page.is_truncated() == Some(true),
        })
    }

    /// CopyObject of the current version of `from` to `to` (`s3:GetObject`
    /// on the source with `kms:Decrypt`, `s3:PutObject` on the target with
    /// `kms:GenerateDataKey`), metadata copied; the bucket encrypts the copy
    /// with its default key and notifies `ObjectCreated:Copy`.
    async fn copy(&self, from: &str, to: &str) -> Result<bool, PortError> {
        copied(self.copy_from(from).key(to).send().await)
    }

    /// CopyObject onto itself (permissions `s3:GetObject` on the source and
    /// `s3:PutObject` on the target; with SSE-KMS, `kms:Decrypt` and
    /// `kms:GenerateDataKey`). S3 refuses a copy onto itself that changes
    /// nothing (400 InvalidRequest, "This copy request is illegal because it
    /// is trying to copy an object to itself without changing the object's
    /// metadata, ..."), unless `MetadataDirective` is `REPLACE`: the
    /// metadata is replaced with the same content type. The bucket encrypts
    /// the copy with its default key, and notifies `ObjectCreated:Copy`.
    /// `REPLACE` drops user metadata, so the upload's hash is read first and
    /// written again.
    async fn rewrite_in_place(&self, key: &str, content_type: &str) -> Result<bool, PortError> {
        let Some(object) = self.stat(key).await? else {
            return Ok(false);
        };
        let copy = self
            .copy_from(key)
            .key(key)
            .metadata_directive(MetadataDirective::Replace)
            .set_metadata(
                object
                    .uploaded_sha256
                    .map(|hash| [(UPLOADED_SHA256.to_owned(), hash)].into()),
            )
            .content_type(content_type)
            .send()
            .await;
        copied(copy)
    }
}

impl S3PhotoStore {
    /// A CopyObject request from the current version of `key` in the bucket,
    /// to a key yet to be named.
    fn copy_from(&self, key: &str) -> CopyObjectFluentBuilder {
        let source = format!(
            "{}/{}",
            self.bucket,
            percent_encoding::utf8_percent_encode(key, KEY_PATH)
        );
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(source)
    }
}

/// What a CopyObject answered: `false` when its source has no current version.
fn copied<T, E, R>(answer: Result<T, SdkError<E, R>>) -> Result<bool, PortError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match answer {
        Ok(_) => Ok(true),
        Err(error) if matches!(error_code(&error), Some("NoSuchKey")) => Ok(false),
        Err(error) => Err(port_error("S3", error)),
    }
}

fn chrono_time(time: &aws_sdk_s3::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(time.secs(), time.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

    fn client(
        endpoint: Option<&str>,
        path_style: bool,
        token: Option<&str>,
    ) -> (Client, SharedCredentialsProvider) {
        let credentials = SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_owned),
            None,
            "test",
        ));
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(credentials.clone())
            .force_path_style(path_style);
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint);
        }
        (Client::from_conf(config.build()), credentials)
    }

    /// The URL the SDK presigns for `key` at `at`.
    async fn sdk_url(client: &Client, key: &str, at: SystemTime) -> String {
        let config = PresigningConfig::builder()
            .start_time(at)
            .expires_in(Duration::from_secs(300))
            .build()
            .unwrap();
        client
            .get_object()
            .bucket("photos-bucket")
            .key(key)
            .presigned(config)
            .await
            .unwrap()
            .uri()
            .to_owned()
    }

    #[tokio::test]
    async fn download_urls_are_the_ones_the_sdk_presigns() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        for (endpoint, path_style, token) in [
            (None, false, None),
            (None, false, Some("session/token+with=odd chars")),
            (Some("http://127.0.0.1:3001"), true, None),
        ] {
            let (client, credentials) = client(endpoint, path_style, token);
            let signer = DownloadSigner::new(client.clone(), Some(credentials), "photos-bucket");
            for key in [
                "0123456789abcdef0123456789abcdef.dupont_jean.jpg",
                "garcia-marquez_gabriel-jose.png",
                "odd key+with/slash~.jpg",
            ] {
                // The next day needs a signing key of its own.
                for at in [at, at + Duration::from_secs(86_400)] {
                    assert_eq!(
                        signer
                            .presign_get(key, Duration::from_secs(300), at)
                            .await
                            .unwrap(),
                        sdk_url(&client, key, at).await,
                        "{endpoint:?} {key} {at:?}"
                    );
                }
            }
        }
    }
}
