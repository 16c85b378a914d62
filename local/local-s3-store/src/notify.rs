//! The S3 implementation served: `s3s_fs::FileSystem` for the current
//! objects, versions of versioned buckets beside it, S3's answers for what
//! a caller may not see, and an `ObjectCreated` event after every
//! successful object creation, for each notification of the bucket that
//! matches it.

use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue, StatusCode};
use path_absolutize::Absolutize;
use s3s::auth::Credentials;
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use s3s_fs::FileSystem;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::access::{Caller, StoreAccess};
use crate::config::Notification;
use crate::delivery::Dispatcher;
use crate::event::{
    EventContext, ObjectCreated, ObjectCreation, SequencerClock, object_created_event,
};
use crate::versions::{Version, VersionStore, new_version_id};

/// The client's address, put into each request's extensions by the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub(crate) SocketAddr);

/// One notification of one bucket and the queue of its target.
pub(crate) struct Route {
    pub(crate) bucket: String,
    pub(crate) notification: Notification,
    pub(crate) dispatcher: Arc<Dispatcher>,
}

/// Builds events and hands them to the dispatchers of matching notifications.
pub(crate) struct EventEmitter {
    pub(crate) context: EventContext,
    pub(crate) sequencers: SequencerClock,
    pub(crate) routes: Vec<Route>,
}

impl EventEmitter {
    fn emit(&self, creation: &ObjectCreation) {
        for route in &self.routes {
            if route.bucket == creation.bucket
                && route
                    .notification
                    .matches(creation.kind.event_name(), &creation.key)
            {
                let event = object_created_event(&self.context, &route.notification.id, creation);
                route
                    .dispatcher
                    .dispatch(creation.sequencer.clone(), event, creation.event_time);
            }
        }
    }
}

/// Serialises writes per key (striped), so that sequencers and versions
/// follow the order in which writes of one key take effect and what is read
/// back after a write belongs to that write.
struct KeyLocks {
    stripes: Vec<Arc<Mutex<()>>>,
    hasher: RandomState,
}

impl KeyLocks {
    const STRIPES: usize = 64;

    fn new() -> Self {
        Self {
            stripes: (0..Self::STRIPES)
                .map(|_| Arc::new(Mutex::new(())))
                .collect(),
            hasher: RandomState::new(),
        }
    }

    async fn lock(&self, bucket: &str, key: &str) -> OwnedMutexGuard<()> {
        let hash = self.hasher.hash_one((bucket, key));
        let stripe = usize::try_from(hash % Self::STRIPES as u64).unwrap_or(0);
        Arc::clone(&self.stripes[stripe]).lock_owned().await
    }
}

/// What object creations and deletions need, shared with the futures of
/// multipart completions.
struct Shared {
    inner: Arc<FileSystem>,
    root: PathBuf,
    emitter: Arc<EventEmitter>,
    versions: VersionStore,
    versioned: HashSet<String>,
}

pub(crate) struct NotifyingFileSystem {
    shared: Arc<Shared>,
    locks: KeyLocks,
    access: Arc<StoreAccess>,
}

impl NotifyingFileSystem {
    pub(crate) fn new(
        inner: FileSystem,
        root: PathBuf,
        emitter: Arc<EventEmitter>,
        versions: VersionStore,
        versioned: HashSet<String>,
        access: Arc<StoreAccess>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                inner: Arc::new(inner),
                root,
                emitter,
                versions,
                versioned,
            }),
            locks: KeyLocks::new(),
            access,
        }
    }
}

/// What one object-creating request contributes to its event.
struct Write {
    bucket: String,
    key: String,
    source_ip: Option<IpAddr>,
    credentials: Option<Credentials>,
    request_id: String,
    host_id: String,
}

impl Write {
    fn of<T>(req: &S3Request<T>, bucket: &str, key: &str) -> Self {
        let mut host_id = [0_u8; 48];
        rand::Rng::fill(&mut rand::thread_rng(), &mut host_id[..]);
        Self {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            source_ip: req.extensions.get::<PeerAddr>().map(|peer| peer.0.ip()),
            credentials: req.credentials.clone(),
            request_id: format!("{:016X}", rand::random::<u64>()),
            host_id: base64::engine::general_purpose::STANDARD.encode(host_id),
        }
    }

    /// S3 names the request in the response as well as in the event.
    fn tag_response(&self, headers: &mut HeaderMap) {
        for (name, value) in [
            ("x-amz-request-id", &self.request_id),
            ("x-amz-id-2", &self.host_id),
        ] {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        }
    }
}

/// A request the store makes to the file system on its own behalf.
fn internal_request<T>(input: T, credentials: Option<Credentials>) -> S3Request<T> {
    S3Request {
        input,
        method: http::Method::HEAD,
        uri: http::Uri::default(),
        headers: HeaderMap::new(),
        extensions: http::Extensions::new(),
        credentials,
        region: None,
        service: None,
        trailing_headers: None,
    }
}

fn head_input(bucket: &str, key: &str) -> S3Result<HeadObjectInput> {
    HeadObjectInput::builder()
        .bucket(bucket.to_owned())
        .key(key.to_owned())
        .build()
        .map_err(|error| s3_error!(InternalError, "head request: {error}"))
}

impl Shared {
    /// Where the file system keeps the current object of a key.
    fn object_path(&self, bucket: &str, key: &str) -> S3Result<PathBuf> {
        Path::new(bucket)
            .join(key)
            .absolutize_virtually(&self.root)
            .map(std::borrow::Cow::into_owned)
            .map_err(|error| s3_error!(InvalidArgument, "object key {key:?}: {error}"))
    }

    /// After a write: keeps the new object as a version (versioned buckets),
    /// then queues the events. Returns the version id.
    async fn created(
        &self,
        write: Write,
        kind: ObjectCreated,
        e_tag: Option<String>,
    ) -> Option<String> {
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

    async fn keep_version(
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
    async fn restore(&self, bucket: &str, key: &str, version: Option<&Version>) -> S3Result<()> {
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
                self.inner
                    .put_object(internal_request(input, None))
                    .await
                    .map(drop)
            }
            None => self.remove_current(bucket, key).await,
        }
    }

    async fn remove_current(&self, bucket: &str, key: &str) -> S3Result<()> {
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
            _ => Ok(()),
        }
    }
}

fn timestamp(time: DateTime<Utc>) -> Timestamp {
    Timestamp::from(SystemTime::from(time))
}

/// 404 with `x-amz-delete-marker` when the latest version is a delete marker.
fn with_delete_marker(mut error: S3Error, marker: Option<&Version>) -> S3Error {
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
fn delete_marker_error(marker: &Version) -> S3Error {
    let mut error = s3_error!(
        MethodNotAllowed,
        "The specified method is not allowed against this resource."
    );
    error.set_status_code(StatusCode::METHOD_NOT_ALLOWED);
    with_delete_marker(error, Some(marker))
}

impl NotifyingFileSystem {
    fn versioned(&self, bucket: &str) -> bool {
        self.shared.versioned.contains(bucket)
    }

    /// `If-Match`, which the file system ignores: S3 answers
    /// `PreconditionFailed` when the object is no longer that version.
    async fn require_match<T>(
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
    async fn require_bucket<T>(&self, req: &S3Request<T>, bucket: &str) -> S3Result<()> {
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
    fn missing(&self, caller: Option<&Caller>, bucket: &str, error: S3Error) -> S3Error {
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

    async fn latest(&self, bucket: &str, key: &str) -> Option<Version> {
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
    async fn older_version(&self, bucket: &str, key: &str, id: &str) -> S3Result<Option<Version>> {
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

    async fn read_version(
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

/// Emits the whole `#[async_trait] impl S3` block: the listed operations go
/// straight to the file system, the rest are written out after the list.
/// (A macro inside an `#[async_trait]` block would expand too late.)
macro_rules! impl_s3_forwarding {
    (
        impl S3 for $ty:ty {
            forward { $( $method:ident($input:ty) -> $output:ty; )* }
            $($custom:tt)*
        }
    ) => {
        #[async_trait::async_trait]
        impl S3 for $ty {
            $(
                async fn $method(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    self.shared.inner.$method(req).await
                }
            )*
            $($custom)*
        }
    };
}

impl_s3_forwarding! {
    impl S3 for NotifyingFileSystem {
        forward {
            get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput;
            head_bucket(HeadBucketInput) -> HeadBucketOutput;
            list_buckets(ListBucketsInput) -> ListBucketsOutput;
            list_objects(ListObjectsInput) -> ListObjectsOutput;
            list_objects_v2(ListObjectsV2Input) -> ListObjectsV2Output;
            upload_part(UploadPartInput) -> UploadPartOutput;
            list_parts(ListPartsInput) -> ListPartsOutput;
            abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput;
        }

        async fn get_object(&self, mut req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
            let caller = self.access.caller(&req).ok();
            let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
            if let Some(id) = req.input.version_id.clone() {
                match self.older_version(&bucket, &key, &id).await {
                    Err(error) => return Err(self.missing(caller.as_ref(), &bucket, error)),
                    Ok(Some(version)) => {
                        let (bytes, content_range) = self.read_version(&bucket, &key, &version, req.input.range.as_ref()).await?;
                        let output = GetObjectOutput {
                            content_length: Some(i64::try_from(bytes.len()).unwrap_or(i64::MAX)),
                            body: Some(StreamingBlob::from(s3s::Body::from(bytes::Bytes::from(bytes)))),
                            content_range,
                            content_type: version.content_type.clone(),
                            e_tag: version.e_tag.clone().map(ETag::Strong),
                            last_modified: Some(timestamp(version.last_modified)),
                            metadata: (!version.metadata.is_empty()).then(|| version.metadata.clone().into_iter().collect()),
                            version_id: Some(version.id.clone()),
                            accept_ranges: Some("bytes".to_owned()),
                            ..Default::default()
                        };
                        return Ok(S3Response::new(output));
                    }
                    Ok(None) => req.input.version_id = None,
                }
            }
            self.require_match(&req, &bucket, &key, req.input.if_match.as_ref()).await?;
            let latest = self.latest(&bucket, &key).await;
            match self.shared.inner.get_object(req).await {
                Ok(mut response) => {
                    response.output.version_id = latest.map(|v| v.id);
                    Ok(response)
                }
                Err(error) => {
                    Err(self.missing(caller.as_ref(), &bucket, with_delete_marker(error, latest.as_ref())))
                }
            }
        }

        async fn head_object(&self, mut req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
            let caller = self.access.caller(&req).ok();
            let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
            if let Some(id) = req.input.version_id.clone() {
                match self.older_version(&bucket, &key, &id).await {
                    Err(error) => return Err(self.missing(caller.as_ref(), &bucket, error)),
                    Ok(Some(version)) => {
                        let output = HeadObjectOutput {
                            content_length: Some(i64::try_from(version.size).unwrap_or(i64::MAX)),
                            content_type: version.content_type.clone(),
                            e_tag: version.e_tag.clone().map(ETag::Strong),
                            last_modified: Some(timestamp(version.last_modified)),
                            metadata: (!version.metadata.is_empty()).then(|| version.metadata.clone().into_iter().collect()),
                            version_id: Some(version.id.clone()),
                            accept_ranges: Some("bytes".to_owned()),
                            ..Default::default()
                        };
                        return Ok(S3Response::new(output));
                    }
                    Ok(None) => req.input.version_id = None,
                }
            }
            self.require_match(&req, &bucket, &key, req.input.if_match.as_ref()).await?;
            let latest = self.latest(&bucket, &key).await;
            match self.shared.inner.head_object(req).await {
                Ok(mut response) => {
                    response.output.version_id = latest.map(|v| v.id);
                    Ok(response)
                }
                Err(error) => {
                    Err(self.missing(caller.as_ref(), &bucket, with_delete_marker(error, latest.as_ref())))
                }
            }
        }

        async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
            self.require_bucket(&req, &req.input.bucket).await?;
            let write = Write::of(&req, &req.input.bucket, &req.input.key);
            let _guard = self.locks.lock(&write.bucket, &write.key).await;
            // A conditional write, checked under the key's lock as S3 checks it atomically.
            self.require_match(&req, &write.bucket, &write.key, req.input.if_match.as_ref())
                .await?;
            let mut response = self.shared.inner.put_object(req).await?;
            write.tag_response(&mut response.headers);
            let e_tag = response.output.e_tag.clone().map(ETag::into_value);
            response.output.version_id = self.shared.created(write, ObjectCreated::Put, e_tag).await;
            Ok(response)
        }

        async fn post_object(&self, req: S3Request<PostObjectInput>) -> S3Result<S3Response<PostObjectOutput>> {
            self.require_bucket(&req, &req.input.bucket).await?;
            let write = Write::of(&req, &req.input.bucket, &req.input.key);
            let _guard = self.locks.lock(&write.bucket, &write.key).await;
            let mut response = self.shared.inner.post_object(req).await?;
            write.tag_response(&mut response.headers);
            let e_tag = response.output.e_tag.clone().map(ETag::into_value);
            response.output.version_id = self.shared.created(write, ObjectCreated::Post, e_tag).await;
            Ok(response)
        }

        async fn create_multipart_upload(
            &self,
            req: S3Request<CreateMultipartUploadInput>,
        ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
            self.require_bucket(&req, &req.input.bucket).await?;
            self.shared.inner.create_multipart_upload(req).await
        }

        async fn upload_part_copy(&self, req: S3Request<UploadPartCopyInput>) -> S3Result<S3Response<UploadPartCopyOutput>> {
            if let CopySource::Bucket { bucket, version_id: Some(_), .. } = &req.input.copy_source
                && self.versioned(bucket)
            {
                return Err(s3_error!(NotImplemented, "copying a part from a given version is not supported locally"));
            }
            self.shared.inner.upload_part_copy(req).await
        }

        async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
            if let CopySource::Bucket { bucket, version_id: Some(_), .. } = &req.input.copy_source
                && self.versioned(bucket)
            {
                return Err(s3_error!(NotImplemented, "copying from a given version is not supported locally"));
            }
            // S3 refuses a copy onto itself that changes nothing (400
            // InvalidRequest); replacing the metadata is a change.
            if let CopySource::Bucket { bucket, key, .. } = &req.input.copy_source
                && **bucket == *req.input.bucket
                && **key == *req.input.key
                && req.input.metadata_directive.as_ref().is_none_or(|d| d.as_str() != MetadataDirective::REPLACE)
                && req.input.storage_class.is_none()
                && req.input.server_side_encryption.is_none()
                && req.input.website_redirect_location.is_none()
            {
                return Err(s3_error!(
                    InvalidRequest,
                    "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
                ));
            }
            let write = Write::of(&req, &req.input.bucket, &req.input.key);
            let _guard = self.locks.lock(&write.bucket, &write.key).await;
            let mut response = self.shared.inner.copy_object(req).await?;
            write.tag_response(&mut response.headers);
            let e_tag = response
                .output
                .copy_object_result
                .as_ref()
                .and_then(|result| result.e_tag.clone())
                .map(ETag::into_value);
            response.output.version_id = self.shared.created(write, ObjectCreated::Copy, e_tag).await;
            Ok(response)
        }

        async fn complete_multipart_upload(
            &self,
            req: S3Request<CompleteMultipartUploadInput>,
        ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
            let write = Write::of(&req, &req.input.bucket, &req.input.key);
            let guard = self.locks.lock(&write.bucket, &write.key).await;
            let mut response = self.shared.inner.complete_multipart_upload(req).await?;
            write.tag_response(&mut response.headers);
            match response.output.future.take() {
                // The file system finishes the upload in a future that s3s
                // awaits while keeping the connection alive: announce after it.
                Some(completion) => {
                    let shared = Arc::clone(&self.shared);
                    response.output.future = Some(Box::pin(async move {
                        let mut output = completion.await?;
                        let e_tag = output.e_tag.clone().map(ETag::into_value);
                        output.version_id = shared.created(write, ObjectCreated::CompleteMultipartUpload, e_tag).await;
                        drop(guard);
                        Ok(output)
                    }));
                }
                None => {
                    let e_tag = response.output.e_tag.clone().map(ETag::into_value);
                    response.output.version_id = self
                        .shared
                        .created(write, ObjectCreated::CompleteMultipartUpload, e_tag)
                        .await;
                }
            }
            Ok(response)
        }

        async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
            let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
            let _guard = self.locks.lock(&bucket, &key).await;
            if !self.versioned(&bucket) {
                return self.shared.inner.delete_object(req).await;
            }
            let versions = &self.shared.versions;
            let io = |error: std::io::Error| s3_error!(InternalError, "versions of {key}: {error}");
            let output = match req.input.version_id.clone() {
                // Without a version: a delete marker becomes the current version.
                None => {
                    self.shared.remove_current(&bucket, &key).await?;
                    let marker = versions.add_delete_marker(&bucket, &key).await.map_err(io)?;
                    DeleteObjectOutput {
                        delete_marker: Some(true),
                        version_id: Some(marker.id),
                        ..Default::default()
                    }
                }
                // A version: gone for good; the one before becomes current.
                Some(id) => {
                    let removed = versions.remove(&bucket, &key, &id).await.map_err(io)?;
                    if let Some((_, true)) = &removed {
                        let latest = versions.latest(&bucket, &key).await.map_err(io)?;
                        self.shared.restore(&bucket, &key, latest.as_ref()).await?;
                    }
                    DeleteObjectOutput {
                        delete_marker: removed.as_ref().map(|(v, _)| v.delete_marker).filter(|m| *m),
                        version_id: Some(id),
                        ..Default::default()
                    }
                }
            };
            Ok(S3Response::new(output))
        }

        async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
            if self.versioned(&req.input.bucket) {
                return Err(s3_error!(NotImplemented, "DeleteObjects on a versioned bucket is not supported locally; delete one object at a time"));
            }
            self.shared.inner.delete_objects(req).await
        }

        async fn list_object_versions(
            &self,
            req: S3Request<ListObjectVersionsInput>,
        ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
            let bucket = req.input.bucket.clone();
            self.require_bucket(&req, &bucket).await?;
            let prefix = req.input.prefix.clone().unwrap_or_default();
            let max_keys = req.input.max_keys.unwrap_or(1000).clamp(0, 1000);
            let key_marker = req.input.key_marker.clone();
            let keys = self
                .shared
                .versions
                .keys(&bucket)
                .await
                .map_err(|error| s3_error!(InternalError, "versions of {bucket}: {error}"))?;
            let mut versions = Vec::new();
            let mut markers = Vec::new();
            let mut listed = 0;
            let mut next_key_marker = None;
            for key in keys
                .into_iter()
                .filter(|k| k.starts_with(&prefix))
                .filter(|k| key_marker.as_ref().is_none_or(|m| k > m))
            {
                let all = self
                    .shared
                    .versions
                    .versions(&bucket, &key)
                    .await
                    .map_err(|error| s3_error!(InternalError, "versions of {key}: {error}"))?;
                if listed + all.len() > usize::try_from(max_keys).unwrap_or(0) && listed > 0 {
                    next_key_marker = versions
                        .iter()
                        .map(|v: &ObjectVersion| v.key.clone())
                        .chain(markers.iter().map(|m: &DeleteMarkerEntry| m.key.clone()))
                        .flatten()
                        .max();
                    break;
                }
                for (index, version) in all.into_iter().rev().enumerate() {
                    let is_latest = index == 0;
                    listed += 1;
                    if version.delete_marker {
                        markers.push(DeleteMarkerEntry {
                            is_latest: Some(is_latest),
                            key: Some(key.clone()),
                            last_modified: Some(timestamp(version.last_modified)),
                            version_id: Some(version.id),
                            ..Default::default()
                        });
                    } else {
                        versions.push(ObjectVersion {
                            e_tag: version.e_tag.map(ETag::Strong),
                            is_latest: Some(is_latest),
                            key: Some(key.clone()),
                            last_modified: Some(timestamp(version.last_modified)),
                            size: Some(i64::try_from(version.size).unwrap_or(i64::MAX)),
                            storage_class: Some(ObjectVersionStorageClass::from_static(ObjectVersionStorageClass::STANDARD)),
                            version_id: Some(version.id),
                            ..Default::default()
                        });
                    }
                }
            }
            let output = ListObjectVersionsOutput {
                name: Some(bucket),
                prefix: Some(prefix),
                key_marker,
                max_keys: Some(max_keys),
                is_truncated: Some(next_key_marker.is_some()),
                next_key_marker,
                versions: Some(versions),
                delete_markers: Some(markers),
                ..Default::default()
            };
            Ok(S3Response::new(output))
        }
    }
}
