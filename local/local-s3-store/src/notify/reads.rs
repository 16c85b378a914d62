//! What a request may see: its preconditions, a bucket that must exist,
//! S3's answer for a missing key, and older versions read back.

use super::*;

impl NotifyingFileSystem {
    pub(super) fn versioned(&self, bucket: &str) -> bool {
        self.shared.versioned.contains(bucket)
    }

    /// `If-Match`, which the file system ignores: S3 answers
    /// `PreconditionFailed` when the object is no longer that version.
    pub(super) async fn require_match<T>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
        key: &str,
        if_match: Option<&ETagCondition>,
    ) -> S3Result<()> {
        let Some(ETagCondition::ETag(expected)) = if_match else {
            return Ok(());
        };
        let current = self
            .shared
            .inner
            .head_object(internal_request(
                head_input(bucket, key)?,
                req.credentials.clone(),
            ))
            .await?
            .output
            .e_tag;
        if current.as_ref().map(ETag::value) == Some(expected.value()) {
            Ok(())
        } else {
            Err(s3_error!(
                PreconditionFailed,
                "the object is not the version If-Match names"
            ))
        }
    }

    /// The file system would create a missing bucket folder on write; S3
    /// answers `NoSuchBucket`.
    pub(super) async fn require_bucket<T>(&self, req: &S3Request<T>, bucket: &str) -> S3Result<()> {
        let input = HeadBucketInput::builder()
            .bucket(bucket.to_owned())
            .build()
            .map_err(|error| s3_error!(InternalError, "head bucket request: {error}"))?;
        self.shared
            .inner
            .head_bucket(internal_request(input, req.credentials.clone()))
            .await
            .map(drop)
    }

    /// A missing key or version: 404 only to callers that may list the
    /// bucket, 403 to the others (S3 API reference, GetObject, HeadObject).
    pub(super) fn missing(&self, caller: Option<&Caller>, bucket: &str, error: S3Error) -> S3Error {
        if !matches!(
            error.code(),
            S3ErrorCode::NoSuchKey | S3ErrorCode::NoSuchVersion
        ) {
            return error;
        }
        match caller {
            Some(caller) if self.access.may_list(caller, bucket) => error,
            _ => s3_error!(AccessDenied, "Access Denied"),
        }
    }

    pub(super) async fn latest(&self, bucket: &str, key: &str) -> Option<Version> {
        if !self.versioned(bucket) {
            return None;
        }
        self.shared
            .versions
            .latest(bucket, key)
            .await
            .ok()
            .flatten()
    }

    /// A version of a versioned bucket's key: `Ok(None)` when it is the
    /// current object (the file system serves it).
    pub(super) async fn older_version(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
    ) -> S3Result<Option<Version>> {
        let found = if self.versioned(bucket) {
            self.shared
                .versions
                .find(bucket, key, id)
                .await
                .map_err(|error| s3_error!(InternalError, "versions of {key}: {error}"))?
        } else {
            None
        };
        match found {
            None if !self.versioned(bucket) && id == "null" => Ok(None),
            None => Err(s3_error!(
                NoSuchVersion,
                "The specified version does not exist."
            )),
            Some((version, _)) if version.delete_marker => Err(delete_marker_error(&version)),
            Some((_, true)) => Ok(None),
            Some((version, false)) => Ok(Some(version)),
        }
    }

    pub(super) async fn read_version(
        &self,
        bucket: &str,
        key: &str,
        version: &Version,
        range: Option<&Range>,
    ) -> S3Result<(Vec<u8>, Option<String>)> {
        let bytes = tokio::fs::read(self.shared.versions.data_path(bucket, key, &version.id))
            .await
            .map_err(|error| s3_error!(InternalError, "version {}: {error}", version.id))?;
        match range {
            None => Ok((bytes, None)),
            Some(range) => {
                let span = range.check(bytes.len() as u64).map_err(|_| {
                    s3_error!(InvalidRange, "The requested range is not satisfiable")
                })?;
                let content_range = format!(
                    "bytes {}-{}/{}",
                    span.start,
                    span.end.saturating_sub(1),
                    bytes.len()
                );
                let (start, end) = (
                    usize::try_from(span.start).unwrap_or(0),
                    usize::try_from(span.end).unwrap_or(0),
                );
                Ok((bytes[start..end].to_vec(), Some(content_range)))
            }
        }
    }
}
