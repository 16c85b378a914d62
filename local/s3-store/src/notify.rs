//! The S3 implementation served: `s3s_fs::FileSystem` plus an
//! `ObjectCreated` event after every successful object creation.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use base64::Engine as _;
use chrono::Utc;
use http::{HeaderMap, HeaderValue};
use s3s::auth::Credentials;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};
use s3s_fs::FileSystem;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::delivery::Dispatcher;
use crate::event::{
    EventContext, ObjectCreated, ObjectCreation, SequencerClock, object_created_event,
};

/// The client's address, put into each request's extensions by the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub(crate) SocketAddr);

/// Builds events and hands them to the dispatcher.
pub(crate) struct EventEmitter {
    pub(crate) context: EventContext,
    pub(crate) sequencers: SequencerClock,
    pub(crate) dispatcher: Arc<Dispatcher>,
}

/// Serialises writes per key (striped), so that sequencers follow the order
/// in which writes of one key take effect and the size and ETag read back
/// after a write belong to that write.
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

pub(crate) struct NotifyingFileSystem {
    inner: Arc<FileSystem>,
    emitter: Arc<EventEmitter>,
    locks: KeyLocks,
}

impl NotifyingFileSystem {
    pub(crate) fn new(inner: FileSystem, emitter: Arc<EventEmitter>) -> Self {
        Self {
            inner: Arc::new(inner),
            emitter,
            locks: KeyLocks::new(),
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

    /// Reads back the object's size (and ETag when the write did not report
    /// one), then queues the event.
    async fn announce(
        self,
        inner: &FileSystem,
        emitter: &EventEmitter,
        kind: ObjectCreated,
        e_tag: Option<String>,
    ) {
        let (size, stored_e_tag) = match self.head(inner).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(bucket = %self.bucket, key = %self.key, %error, "created object could not be read back; event has no size");
                (None, None)
            }
        };
        let creation = ObjectCreation {
            kind,
            size,
            e_tag: e_tag.or(stored_e_tag),
            sequencer: emitter.sequencers.next_sequencer(),
            event_time: Utc::now(),
            source_ip: self.source_ip,
            request_id: self.request_id,
            host_id: self.host_id,
            bucket: self.bucket,
            key: self.key,
        };
        tracing::info!(
            event_name = kind.event_name(),
            bucket = %creation.bucket,
            key = %creation.key,
            size = creation.size,
            sequencer = %creation.sequencer,
            "object created"
        );
        let event = object_created_event(&emitter.context, &creation);
        emitter
            .dispatcher
            .dispatch(creation.sequencer, event, creation.event_time);
    }

    async fn head(&self, inner: &FileSystem) -> S3Result<(Option<u64>, Option<String>)> {
        let input = HeadObjectInput::builder()
            .bucket(self.bucket.clone())
            .key(self.key.clone())
            .build()
            .map_err(|error| s3s::s3_error!(InternalError, "head request: {error}"))?;
        let output = inner
            .head_object(internal_request(input, self.credentials.clone()))
            .await?
            .output;
        let size = output
            .content_length
            .and_then(|length| u64::try_from(length).ok());
        Ok((size, output.e_tag.map(ETag::into_value)))
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

impl NotifyingFileSystem {
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
        let input = HeadObjectInput::builder()
            .bucket(bucket.to_owned())
            .key(key.to_owned())
            .build()
            .map_err(|error| s3s::s3_error!(InternalError, "head request: {error}"))?;
        let current = self
            .inner
            .head_object(internal_request(input, req.credentials.clone()))
            .await?
            .output
            .e_tag;
        if current.as_ref().map(ETag::value) == Some(expected.value()) {
            Ok(())
        } else {
            Err(s3s::s3_error!(
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
            .map_err(|error| s3s::s3_error!(InternalError, "head bucket request: {error}"))?;
        self.inner
            .head_bucket(internal_request(input, req.credentials.clone()))
            .await
            .map(drop)
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
                    self.inner.$method(req).await
                }
            )*
            $($custom)*
        }
    };
}

impl_s3_forwarding! {
    impl S3 for NotifyingFileSystem {
        forward {
            create_bucket(CreateBucketInput) -> CreateBucketOutput;
            delete_bucket(DeleteBucketInput) -> DeleteBucketOutput;
            delete_objects(DeleteObjectsInput) -> DeleteObjectsOutput;
            get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput;
            head_bucket(HeadBucketInput) -> HeadBucketOutput;
            list_buckets(ListBucketsInput) -> ListBucketsOutput;
            list_objects(ListObjectsInput) -> ListObjectsOutput;
            list_objects_v2(ListObjectsV2Input) -> ListObjectsV2Output;
            upload_part(UploadPartInput) -> UploadPartOutput;
            upload_part_copy(UploadPartCopyInput) -> UploadPartCopyOutput;
            list_parts(ListPartsInput) -> ListPartsOutput;
            abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput;
        }

        async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
            self.require_match(&req, &req.input.bucket, &req.input.key, req.input.if_match.as_ref()).await?;
            self.inner.get_object(req).await
        }

        async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
            self.require_match(&req, &req.input.bucket, &req.input.key, req.input.if_match.as_ref()).await?;
            self.inner.head_object(req).await
        }

        async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
            self.require_bucket(&req, &req.input.bucket).await?;
            let write = Write::of(&req, &req.input.bucket, &req.input.key);
            let _guard = self.locks.lock(&write.bucket, &write.key).await;
            let mut response = self.inner.put_object(req).await?;
            write.tag_response(&mut response.headers);
            let e_tag = response.output.e_tag.clone().map(ETag::into_value);
            write.announce(&self.inner, &self.emitter, ObjectCreated::Put, e_tag).await;
            Ok(response)
        }

        async fn post_object(&self, req: S3Request<PostObjectInput>) -> S3Result<S3Response<PostObjectOutput>> {
            self.require_bucket(&req, &req.input.bucket).await?;
            let write = Write::of(&req, &req.input.bucket, &req.input.key);
            let _guard = self.locks.lock(&write.bucket, &write.key).await;
            let mut response = self.inner.post_object(req).await?;
            write.tag_response(&mut response.headers);
            let e_tag = response.output.e_tag.clone().map(ETag::into_value);
            write.announce(&self.inner, &self.emitter, ObjectCreated::Post, e_tag).await;
            Ok(response)
        }

        async fn create_multipart_upload(
            &self,
            req: S3Request<CreateMultipartUploadInput>,
        ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
            self.require_bucket(&req, &req.input.bucket).await?;
            self.inner.create_multipart_upload(req).await
        }

        async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
            let write = Write::of(&req, &req.input.bucket, &req.input.key);
            let _guard = self.locks.lock(&write.bucket, &write.key).await;
            let mut response = self.inner.copy_object(req).await?;
            write.tag_response(&mut response.headers);
            let e_tag = response
                .output
                .copy_object_result
                .as_ref()
                .and_then(|result| result.e_tag.clone())
                .map(ETag::into_value);
            write.announce(&self.inner, &self.emitter, ObjectCreated::Copy, e_tag).await;
            Ok(response)
        }

        async fn complete_multipart_upload(
            &self,
            req: S3Request<CompleteMultipartUploadInput>,
        ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
            let write = Write::of(&req, &req.input.bucket, &req.input.key);
            let guard = self.locks.lock(&write.bucket, &write.key).await;
            let mut response = self.inner.complete_multipart_upload(req).await?;
            write.tag_response(&mut response.headers);
            match response.output.future.take() {
                // The file system finishes the upload in a future that s3s
                // awaits while keeping the connection alive: announce after it.
                Some(completion) => {
                    let inner = Arc::clone(&self.inner);
                    let emitter = Arc::clone(&self.emitter);
                    response.output.future = Some(Box::pin(async move {
                        let output = completion.await?;
                        let e_tag = output.e_tag.clone().map(ETag::into_value);
                        write
                            .announce(&inner, &emitter, ObjectCreated::CompleteMultipartUpload, e_tag)
                            .await;
                        drop(guard);
                        Ok(output)
                    }));
                }
                None => {
                    let e_tag = response.output.e_tag.clone().map(ETag::into_value);
                    write
                        .announce(&self.inner, &self.emitter, ObjectCreated::CompleteMultipartUpload, e_tag)
                        .await;
                }
            }
            Ok(response)
        }

        async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
            let _guard = self.locks.lock(&req.input.bucket, &req.input.key).await;
            self.inner.delete_object(req).await
        }
    }
}
