//! What a request may see: its preconditions, a bucket that must exist,
//! S3's answer for a missing key, older versions read back, and listings
//! from the key index.

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

    /// A listing without a delimiter, from the key index: a page of keys,
    /// each file read for its size and time (as the file system store
    /// reports them). A key deleted since the index was read is left out.
    pub(super) async fn list_from_index(
        &self,
        input: ListObjectsV2Input,
    ) -> S3Result<ListObjectsV2Output> {
        let requested = input.max_keys.unwrap_or(1000);
        // S3 returns at most 1,000 keys a page, whatever is asked for.
        let max_keys = usize::try_from(requested.clamp(0, 1000)).unwrap_or(0);
        let prefix = input
            .prefix
            .as_deref()
            .unwrap_or("")
            .trim_start_matches('/');
        // The later of the two resume points, as the file system store reads them.
        let start_after = match (
            input.continuation_token.as_deref(),
            input.start_after.as_deref(),
        ) {
            (Some(token), Some(after)) => Some(token.max(after)),
            (token, after) => token.or(after),
        };
        let page = self
            .shared
            .keys
            .page(&input.bucket, prefix, start_after, max_keys)
            .ok_or_else(|| s3_error!(NoSuchBucket))?;
        let paths = page
            .keys
            .iter()
            .map(|key| Ok((key.clone(), self.shared.object_path(&input.bucket, key)?)))
            .collect::<S3Result<Vec<_>>>()?;
        let objects = tokio::task::spawn_blocking(move || listed_objects(paths))
            .await
            .map_err(|error| s3_error!(InternalError, "listing: {error}"))??;
        let next_continuation_token = page.truncated.then(|| page.keys.last().cloned()).flatten();
        Ok(ListObjectsV2Output {
            key_count: Some(i32::try_from(objects.len()).unwrap_or(i32::MAX)),
            max_keys: Some(requested),
            is_truncated: Some(page.truncated),
            contents: (!objects.is_empty()).then_some(objects),
            continuation_token: input.continuation_token,
            next_continuation_token,
            encoding_type: input.encoding_type,
            name: Some(input.bucket),
            prefix: input.prefix,
            start_after: input.start_after,
            ..Default::default()
        })
    }
}

/// Each key's object, with its file's size and modification time.
fn listed_objects(paths: Vec<(String, PathBuf)>) -> S3Result<Vec<Object>> {
    let mut objects = Vec::with_capacity(paths.len());
    for (key, path) in paths {
        let metadata = match std::fs::metadata(&path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(s3_error!(InternalError, "{key}: {error}")),
        };
        let modified = metadata
            .modified()
            .map_err(|error| s3_error!(InternalError, "{key}: {error}"))?;
        objects.push(Object {
            key: Some(key),
            last_modified: Some(Timestamp::from(modified)),
            size: Some(i64::try_from(metadata.len()).unwrap_or(i64::MAX)),
            ..Default::default()
        });
    }
    Ok(objects)
}
