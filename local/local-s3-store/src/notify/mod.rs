//! The S3 implementation served: `s3s_fs::FileSystem` for the current
//! objects, versions of versioned buckets beside it, S3's answers for what
//! a caller may not see, and an `ObjectCreated` event after every
//! successful object creation, for each notification of the bucket that
//! matches it. The S3 operations are here; events, creations and deletions,
//! what a request may read, and the index of keys listings are served from
//! each have a file.

use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue, StatusCode};
use path_absolutize::Absolutize;
use s3s::auth::Credentials;
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use s3s_fs::FileSystem;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::access::{Caller, StoreAccess};
use crate::event::{ObjectCreated, ObjectCreation};
use crate::versions::{Version, VersionStore, new_version_id};

mod events;
mod keys;
mod objects;
mod reads;

use self::events::Write;
pub(crate) use self::events::{EventEmitter, Route};
pub(crate) use self::keys::KeyIndex;
use self::objects::{delete_marker_error, timestamp, with_delete_marker};

/// The client's address, put into each request's extensions by the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub(crate) SocketAddr);

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
    keys: KeyIndex,
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
        keys: KeyIndex,
        access: Arc<StoreAccess>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                inner: Arc::new(inner),
                root,
                emitter,
                versions,
                versioned,
                keys,
            }),
            locks: KeyLocks::new(),
            access,
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
            upload_part(UploadPartInput) -> UploadPartOutput;
            list_parts(ListPartsInput) -> ListPartsOutput;
            abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput;
        }

        async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
            // By folder (nothing of the registry lists so): the file system's walk.
            if req.input.delimiter.is_some() || !self.shared.keys.serves(&req.input.bucket) {
                return self.shared.inner.list_objects_v2(req).await;
            }
            self.list_from_index(req.input).await.map(S3Response::new)
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
                let response = self.shared.inner.delete_object(req).await?;
                self.shared.keys.remove(&bucket, &key);
                return Ok(response);
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
            let bucket = req.input.bucket.clone();
            let response = self.shared.inner.delete_objects(req).await?;
            // Not under the keys' locks: a key written again since is kept.
            for deleted in response.output.deleted.iter().flatten() {
                if let Some(key) = &deleted.key
                    && !self.shared.object_path(&bucket, key).is_ok_and(|path| path.exists())
                {
                    self.shared.keys.remove(&bucket, key);
                }
            }
            Ok(response)
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
