//! Creations and deletions as a bucket makes them: the event of a
//! creation, the version a versioned bucket keeps, a version restored or
//! the current object removed.

use super::*;

impl Shared {
    /// Where the file system keeps the current object of a key.
    pub(super) fn object_path(&self, bucket: &str, key: &str) -> S3Result<PathBuf> {
        Path::new(bucket)
            .join(key)
            .absolutize_virtually(&self.root)
            .map(std::borrow::Cow::into_owned)
            .map_err(|error| s3_error!(InvalidArgument, "object key {key:?}: {error}"))
    }

    /// After a write: keeps the new object as a version (versioned buckets),
    /// then queues the events. Returns the version id.
    pub(super) async fn created(
        &self,
        write: Write,
        kind: ObjectCreated,
        e_tag: Option<String>,
    ) -> Option<String> {
        self.keys.insert(&write.bucket, &write.key);
        let head = self
            .inner
            .head_object(internal_request(
                head_input(&write.bucket, &write.key).ok()?,
                write.credentials.clone(),
            ))
            .await
            .map(|r| r.output);
        let head = match head {
            Ok(head) => Some(head),
            Err(error) => {
                tracing::warn!(bucket = %write.bucket, key = %write.key, %error, "created object could not be read back");
                None
            }
        };
        let size = head
            .as_ref()
            .and_then(|h| h.content_length)
            .and_then(|length| u64::try_from(length).ok());
        let e_tag = e_tag.or_else(|| {
            head.as_ref()
                .and_then(|h| h.e_tag.clone())
                .map(ETag::into_value)
        });
        let version_id = match (&head, self.versioned.contains(&write.bucket)) {
            (Some(head), true) => {
                self.keep_version(&write.bucket, &write.key, head, e_tag.clone())
                    .await
            }
            _ => None,
        };
        let creation = ObjectCreation {
            kind,
            size,
            e_tag,
            version_id: version_id.clone(),
            sequencer: self.emitter.sequencers.next_sequencer(),
            event_time: Utc::now(),
            source_ip: write.source_ip,
            request_id: write.request_id,
            host_id: write.host_id,
            bucket: write.bucket,
            key: write.key,
        };
        tracing::info!(
            event_name = kind.event_name(),
            bucket = %creation.bucket,
            key = %creation.key,
            size = creation.size,
            version_id = creation.version_id.as_deref().unwrap_or("null"),
            sequencer = %creation.sequencer,
            "object created"
        );
        self.emitter.emit(&creation);
        version_id
    }

    pub(super) async fn keep_version(
        &self,
        bucket: &str,
        key: &str,
        head: &HeadObjectOutput,
        e_tag: Option<String>,
    ) -> Option<String> {
        let path = self.object_path(bucket, key).ok()?;
        let version = Version {
            id: new_version_id(),
            delete_marker: false,
            e_tag,
            size: head
                .content_length
                .and_then(|l| u64::try_from(l).ok())
                .unwrap_or(0),
            last_modified: head
                .last_modified
                .clone()
                .map(|t| {
                    let nanos = time::OffsetDateTime::from(t).unix_timestamp_nanos();
                    DateTime::from_timestamp_nanos(i64::try_from(nanos).unwrap_or_default())
                })
                .unwrap_or_else(Utc::now),
            content_type: head.content_type.clone(),
            metadata: head
                .metadata
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
        };
        let id = version.id.clone();
        match self.versions.add(bucket, key, &path, version).await {
            Ok(()) => Some(id),
            Err(error) => {
                tracing::error!(%bucket, %key, %error, "the new version could not be kept");
                None
            }
        }
    }

    /// Makes `version` the current object again (after the newer versions
    /// were deleted), or removes the current object when there is none.
    pub(super) async fn restore(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&Version>,
    ) -> S3Result<()> {
        match version.filter(|v| !v.delete_marker) {
            Some(version) => {
                let bytes = tokio::fs::read(self.versions.data_path(bucket, key, &version.id))
                    .await
                    .map_err(|error| s3_error!(InternalError, "version {}: {error}", version.id))?;
                let input = PutObjectInput::builder()
                    .bucket(bucket.to_owned())
                    .key(key.to_owned())
                    .content_length(Some(i64::try_from(bytes.len()).unwrap_or(i64::MAX)))
                    .content_type(version.content_type.clone())
                    .metadata(
                        (!version.metadata.is_empty())
                            .then(|| version.metadata.clone().into_iter().collect()),
                    )
                    .body(Some(StreamingBlob::from(s3s::Body::from(
                        bytes::Bytes::from(bytes),
                    ))))
                    .build()
                    .map_err(|error| s3_error!(InternalError, "restoring a version: {error}"))?;
                self.inner.put_object(internal_request(input, None)).await?;
                self.keys.insert(bucket, key);
                Ok(())
            }
            None => self.remove_current(bucket, key).await,
        }
    }

    pub(super) async fn remove_current(&self, bucket: &str, key: &str) -> S3Result<()> {
        let input = DeleteObjectInput::builder()
            .bucket(bucket.to_owned())
            .key(key.to_owned())
            .build()
            .map_err(|error| s3_error!(InternalError, "delete request: {error}"))?;
        match self
            .inner
            .delete_object(internal_request(input, None))
            .await
        {
            Err(error) if *error.code() != S3ErrorCode::NoSuchKey => Err(error),
            _ => {
                self.keys.remove(bucket, key);
                Ok(())
            }
        }
    }
}

pub(super) fn timestamp(time: DateTime<Utc>) -> Timestamp {
    Timestamp::from(SystemTime::from(time))
}

/// 404 with `x-amz-delete-marker` when the latest version is a delete marker.
pub(super) fn with_delete_marker(mut error: S3Error, marker: Option<&Version>) -> S3Error {
    if let Some(marker) = marker.filter(|v| v.delete_marker) {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-delete-marker", HeaderValue::from_static("true"));
        if let Ok(id) = HeaderValue::from_str(&marker.id) {
            headers.insert("x-amz-version-id", id);
        }
        error.set_headers(headers);
    }
    error
}

/// A version that is a delete marker: S3 answers 405.
pub(super) fn delete_marker_error(marker: &Version) -> S3Error {
    let mut error = s3_error!(
        MethodNotAllowed,
        "The specified method is not allowed against this resource."
    );
    error.set_status_code(StatusCode::METHOD_NOT_ALLOWED);
    with_delete_marker(error, Some(marker))
}
