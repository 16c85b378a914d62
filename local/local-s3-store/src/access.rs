//! Who is calling and whether they may: SigV4 keys from the shared key
//! ring, then, for every operation, the action S3 authorizes it as,
//! evaluated against the caller's identity policies, the bucket policy, the
//! VPC endpoint policy the request passed (if any) and, for SSE-KMS
//! buckets, the KMS key policy.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use local_iam::{Access, AuthorizeError, Call, Conditions, Identity, KeyUse, Policy};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{Credentials, S3Auth, SecretKey};
use s3s::dto::*;
use s3s::{S3Request, S3Result, s3_error};

use crate::config::{BucketConfig, KmsKey, S3StoreConfig};
use crate::notify::PeerAddr;

/// The header that says which VPC endpoint a request passed. The local
/// runtime sets it on the requests of functions that run in a VPC, as the
/// route table of their subnets sends them through the endpoint.
pub const NETWORK_HEADER: &str = "x-local-vpc-endpoint";

/// What the store knows to authorize requests.
pub(crate) struct StoreAccess {
    access: Access,
    region: String,
    buckets: HashMap<String, BucketSettings>,
    endpoints: HashMap<String, Option<Policy>>,
}

struct BucketSettings {
    policy: Option<Policy>,
    kms_key: Option<KmsKey>,
}

/// What a request is allowed as.
pub(crate) struct Caller {
    pub identity: Arc<Identity>,
    conditions: Conditions,
    endpoint: Option<String>,
}

impl StoreAccess {
    pub(crate) fn new(config: &S3StoreConfig) -> Self {
        let settings = |bucket: &BucketConfig| BucketSettings {
            policy: bucket.policy.clone(),
            kms_key: bucket.kms_key.clone(),
        };
        Self {
            access: config.access.clone(),
            region: config.region.clone(),
            buckets: config
                .buckets
                .iter()
                .map(|b| (b.name.clone(), settings(b)))
                .collect(),
            endpoints: config.endpoints.clone().into_iter().collect(),
        }
    }

    /// The caller of a request: its identity and the condition keys S3
    /// sets for it.
    pub(crate) fn caller<T>(&self, req: &S3Request<T>) -> S3Result<Caller> {
        let identity = req
            .credentials
            .as_ref()
            .and_then(|c| self.access.keys.get(&c.access_key))
            .ok_or_else(|| s3_error!(AccessDenied, "Anonymous access is not allowed"))?;
        let endpoint = req
            .headers
            .get(NETWORK_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(endpoint) = &endpoint
            && !self.endpoints.contains_key(endpoint)
        {
            return Err(s3_error!(AccessDenied, "unknown VPC endpoint {endpoint}"));
        }
        let presigned = req
            .uri
            .query()
            .is_some_and(|q| q.contains("X-Amz-Signature="));
        // The local store serves plain HTTP on loopback; it stands in for
        // the HTTPS endpoint the SDKs and browsers use in AWS.
        let mut conditions = Conditions::of_caller(&identity)
            .number("s3:TlsVersion", 1.3)
            .string("s3:signatureversion", "AWS4-HMAC-SHA256")
            .string(
                "s3:authType",
                if presigned {
                    "REST-QUERY-STRING"
                } else {
                    "REST-HEADER"
                },
            );
        conditions = match (&endpoint, req.extensions.get::<PeerAddr>()) {
            (Some(endpoint), _) => conditions.string("aws:SourceVpce", endpoint.clone()),
            (None, Some(peer)) => conditions.string("aws:SourceIp", source_ip(peer.0.ip())),
            (None, None) => conditions,
        };
        Ok(Caller {
            identity,
            conditions,
            endpoint,
        })
    }

    /// `action` on `resource` (an object or bucket ARN of `bucket`).
    pub(crate) fn authorize(
        &self,
        caller: &Caller,
        action: &str,
        bucket: &str,
        resource: &str,
    ) -> S3Result<()> {
        let settings = self.buckets.get(bucket);
        let endpoint_policy = caller
            .endpoint
            .as_ref()
            .and_then(|e| self.endpoints.get(e))
            .and_then(Option::as_ref);
        let call = Call {
            caller: &caller.identity,
            action,
            resource,
            conditions: &caller.conditions,
        };
        self.access
            .authorizer
            .authorize(
                call,
                settings.and_then(|s| s.policy.as_ref()),
                endpoint_policy,
            )
            .map_err(|error| denied(&caller.identity, &error))
    }

    /// What S3 asks KMS on the caller's behalf for an SSE-KMS bucket.
    fn authorize_key(&self, caller: &Caller, action: &str, bucket: &str) -> S3Result<()> {
        let Some(key) = self.buckets.get(bucket).and_then(|s| s.kms_key.as_ref()) else {
            return Ok(());
        };
        let key_use = KeyUse {
            caller: &caller.identity,
            conditions: caller.conditions.clone(),
            service: "s3",
            region: &self.region,
            action,
            key_arn: &key.arn,
            // With an S3 Bucket Key the encryption context is the bucket's ARN.
            context: ("kms:EncryptionContext:aws:s3:arn", bucket_arn(bucket)),
        };
        self.access
            .authorizer
            .authorize_key_use(key_use, &key.policy)
            .map_err(|error| denied(&caller.identity, &error))
    }

    /// Whether the caller may list the bucket: S3 then answers 404 for a
    /// missing key, and 403 otherwise.
    pub(crate) fn may_list(&self, caller: &Caller, bucket: &str) -> bool {
        self.authorize(caller, "s3:ListBucket", bucket, &bucket_arn(bucket))
            .is_ok()
    }

    /// Writing an object: `s3:PutObject`, and a data key of the bucket's key.
    fn write<T>(&self, req: &S3Request<T>, bucket: &str, key: &str) -> S3Result<()> {
        self.object(
            req,
            "s3:PutObject",
            bucket,
            key,
            Some("kms:GenerateDataKey"),
        )
    }

    /// Writing a part of a multipart upload: S3 decrypts the upload's data
    /// key, made by CreateMultipartUpload, with `kms:Decrypt` (AWS knowledge
    /// center, "s3-large-file-encryption-kms-key").
    fn write_part<T>(&self, req: &S3Request<T>, bucket: &str, key: &str) -> S3Result<()> {
        self.object(req, "s3:PutObject", bucket, key, Some("kms:Decrypt"))
    }

    /// Reading the source of a copy (that version, if one is named).
    fn read_copy_source<T>(&self, req: &S3Request<T>, source: &CopySource) -> S3Result<()> {
        match source {
            CopySource::Bucket {
                bucket,
                key,
                version_id,
            } => {
                let action = if version_id.is_some() {
                    "s3:GetObjectVersion"
                } else {
                    "s3:GetObject"
                };
                self.object(req, action, bucket, key, Some("kms:Decrypt"))
            }
            // Access points and outposts: the store has none to copy from.
            _ => Ok(()),
        }
    }

    fn object<T>(
        &self,
        req: &S3Request<T>,
        action: &str,
        bucket: &str,
        key: &str,
        kms: Option<&str>,
    ) -> S3Result<()> {
        storable_key(key)?;
        let caller = self.caller(req)?;
        self.authorize(&caller, action, bucket, &object_arn(bucket, key))?;
        match kms {
            Some(kms_action) => self.authorize_key(&caller, kms_action, bucket),
            None => Ok(()),
        }
    }

    fn bucket<T>(&self, req: &S3Request<T>, action: &str, bucket: &str) -> S3Result<()> {
        let caller = self.caller(req)?;
        self.authorize(&caller, action, bucket, &bucket_arn(bucket))
    }
}

/// Refuses a key the store cannot keep as a file in its bucket's folder.
/// In S3 `../x` or `/x` is just a key; here an object is a file under the
/// bucket's folder, and such a key would name a file outside it (another
/// bucket's, past that bucket's policy). The registry's keys never have
/// such segments; another key with them is refused rather than misplaced.
fn storable_key(key: &str) -> S3Result<()> {
    if key
        .split('/')
        .any(|segment| matches!(segment, "" | "." | ".."))
    {
        return Err(s3_error!(
            InvalidArgument,
            "The local S3 store keeps each object as a file under its bucket's folder, and cannot keep a key with an empty, '.' or '..' segment"
        ));
    }
    Ok(())
}

pub(crate) fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

pub(crate) fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

fn source_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

fn denied(identity: &Identity, error: &AuthorizeError) -> s3s::S3Error {
    tracing::warn!(principal = %identity.name, %error, "S3 request refused");
    match error {
        AuthorizeError::Denied(denied) => s3_error!(AccessDenied, "{denied}"),
        AuthorizeError::Policy(policy) => s3_error!(InternalError, "{policy}"),
    }
}

/// The keys of [`Access`] as SigV4 secrets.
pub(crate) struct KeyAuth(pub(crate) Access);

#[async_trait::async_trait]
impl S3Auth for KeyAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        self.0
            .keys
            .get(access_key)
            .map(|identity| SecretKey::from(identity.secret_access_key()))
            .ok_or_else(|| {
                s3_error!(
                    InvalidAccessKeyId,
                    "The AWS Access Key Id you provided does not exist in our records."
                )
            })
    }
}

/// Authorization of every operation the store serves, as S3 authorizes it.
pub(crate) struct OperationAccess(pub(crate) Arc<StoreAccess>);

fn version_action(
    version_id: Option<&ObjectVersionId>,
    plain: &'static str,
    versioned: &'static str,
) -> &'static str {
    if version_id.is_some() {
        versioned
    } else {
        plain
    }
}

#[async_trait::async_trait]
impl S3Access for OperationAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        // Every operation is authorized by its own method below; here only
        // that the request is signed with a known key.
        match cx.credentials() {
            Some(Credentials { access_key, .. })
                if self.0.access.keys.get(access_key).is_some() =>
            {
                Ok(())
            }
            _ => Err(s3_error!(AccessDenied, "Anonymous access is not allowed")),
        }
    }

    async fn get_object(&self, req: &mut S3Request<GetObjectInput>) -> S3Result<()> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let action = version_action(
            req.input.version_id.as_ref(),
            "s3:GetObject",
            "s3:GetObjectVersion",
        );
        self.0
            .object(req, action, &bucket, &key, Some("kms:Decrypt"))
    }

    async fn head_object(&self, req: &mut S3Request<HeadObjectInput>) -> S3Result<()> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let action = version_action(
            req.input.version_id.as_ref(),
            "s3:GetObject",
            "s3:GetObjectVersion",
        );
        self.0.object(req, action, &bucket, &key, None)
    }

    async fn put_object(&self, req: &mut S3Request<PutObjectInput>) -> S3Result<()> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.0.write(req, &bucket, &key)
    }

    async fn post_object(&self, req: &mut S3Request<PostObjectInput>) -> S3Result<()> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.0.write(req, &bucket, &key)
    }

    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.0.write(req, &bucket, &key)?;
        self.0.read_copy_source(req, &req.input.copy_source)
    }

    async fn create_multipart_upload(
        &self,
        req: &mut S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<()> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.0.write(req, &bucket, &key)
    }

    async fn upload_part(&self, req: &mut S3Request<UploadPartInput>) -> S3Result<()> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.0.write_part(req, &bucket, &key)
    }

    async fn upload_part_copy(&self, req: &mut S3Request<UploadPartCopyInput>) -> S3Result<()> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.0.write_part(req, &bucket, &key)?;
        self.0.read_copy_source(req, &req.input.copy_source)
    }

    async fn complete_multipart_upload(
        &self,
        req: &mut S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<()> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.0
            .object(req, "s3:PutObject", &bucket, &key, Some("kms:Decrypt"))
    }

    async fn abort_multipart_upload(
        &self,
        req: &mut S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<()> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.0
            .object(req, "s3:AbortMultipartUpload", &bucket, &key, None)
    }

    async fn list_parts(&self, req: &mut S3Request<ListPartsInput>) -> S3Result<()> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.0
            .object(req, "s3:ListMultipartUploadParts", &bucket, &key, None)
    }

    async fn delete_object(&self, req: &mut S3Request<DeleteObjectInput>) -> S3Result<()> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let action = version_action(
            req.input.version_id.as_ref(),
            "s3:DeleteObject",
            "s3:DeleteObjectVersion",
        );
        self.0.object(req, action, &bucket, &key, None)
    }

    async fn delete_objects(&self, req: &mut S3Request<DeleteObjectsInput>) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        let objects: Vec<(String, bool)> = req
            .input
            .delete
            .objects
            .iter()
            .map(|o| (o.key.clone(), o.version_id.is_some()))
            .collect();
        for (key, versioned) in objects {
            let action = if versioned {
                "s3:DeleteObjectVersion"
            } else {
                "s3:DeleteObject"
            };
            self.0.object(req, action, &bucket, &key, None)?;
        }
        Ok(())
    }

    async fn list_objects(&self, req: &mut S3Request<ListObjectsInput>) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        self.0.bucket(req, "s3:ListBucket", &bucket)
    }

    async fn list_objects_v2(&self, req: &mut S3Request<ListObjectsV2Input>) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        self.0.bucket(req, "s3:ListBucket", &bucket)
    }

    async fn list_object_versions(
        &self,
        req: &mut S3Request<ListObjectVersionsInput>,
    ) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        self.0.bucket(req, "s3:ListBucketVersions", &bucket)
    }

    async fn head_bucket(&self, req: &mut S3Request<HeadBucketInput>) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        self.0.bucket(req, "s3:ListBucket", &bucket)
    }

    async fn get_bucket_location(
        &self,
        req: &mut S3Request<GetBucketLocationInput>,
    ) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        self.0.bucket(req, "s3:GetBucketLocation", &bucket)
    }

    async fn create_bucket(&self, req: &mut S3Request<CreateBucketInput>) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        self.0.bucket(req, "s3:CreateBucket", &bucket)
    }

    async fn delete_bucket(&self, req: &mut S3Request<DeleteBucketInput>) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        self.0.bucket(req, "s3:DeleteBucket", &bucket)
    }

    async fn list_buckets(&self, req: &mut S3Request<ListBucketsInput>) -> S3Result<()> {
        let caller = self.0.caller(req)?;
        self.0
            .authorize(&caller, "s3:ListAllMyBuckets", "", "arn:aws:s3:::*")
    }
}
