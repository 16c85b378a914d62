//! Each caller gets what its policies, the bucket's, the VPC endpoint's and
//! the KMS key's allow, and S3's answers follow S3's rules.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use common::{BUCKET, REGION, RecordingTarget, fast_policy, start_configured};
use local_iam::{Authorizer, KeyRing, Policy, Principal};
use local_s3_store::{Access, KmsKey, NETWORK_HEADER};
use serde_json::json;

const ACCOUNT: &str = "123456789012";
const KEY_ARN: &str = "arn:aws:kms:eu-west-1:123456789012:key/registry";
const ENDPOINT: &str = "vpce-0123456789abcdef0";

fn objects() -> String {
    format!("arn:aws:s3:::{BUCKET}/*")
}

fn principal(name: &str, statements: serde_json::Value) -> Principal {
    Principal {
        name: name.to_owned(),
        principal_arn: format!("arn:aws:sts::{ACCOUNT}:assumed-role/{name}Role/{name}"),
        role_arn: format!("arn:aws:iam::{ACCOUNT}:role/{name}Role"),
        account: ACCOUNT.to_owned(),
        policies: vec![
            Policy::parse(
                format!("{name}Role"),
                &json!({"Version": "2012-10-17", "Statement": statements}),
            )
            .unwrap(),
        ],
    }
}

struct Callers {
    keys: KeyRing,
}

impl Callers {
    fn new() -> Self {
        let mut keys = KeyRing::new(b"test root");
        keys.add(principal(
            "Writer",
            json!([{"Effect": "Allow", "Action": "s3:PutObject", "Resource": objects()},
                   {"Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": KEY_ARN}]),
        ));
        keys.add(principal(
            "MultipartWriter",
            json!([{"Effect": "Allow", "Action": "s3:PutObject", "Resource": objects()},
                   {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": KEY_ARN}]),
        ));
        keys.add(principal(
            "WriterWithoutKey",
            json!([{"Effect": "Allow", "Action": "s3:PutObject", "Resource": objects()}]),
        ));
        keys.add(principal(
            "Reader",
            json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": objects()},
                   {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN}]),
        ));
        keys.add(principal(
            "Lister",
            json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": objects()},
                   {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN},
                   {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{BUCKET}")}]),
        ));
        Self { keys }
    }

    fn client(&self, t: &common::TestStore, name: &str) -> aws_sdk_s3::Client {
        let identity = self.keys.named(name).unwrap();
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(REGION))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                &identity.access_key_id,
                identity.secret_access_key(),
                None,
                None,
                "test",
            ))
            .endpoint_url(t.store.endpoint_url())
            .force_path_style(true)
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

async fn store(callers: &Callers) -> common::TestStore {
    let keys = Arc::new(callers.keys.clone());
    start_configured(RecordingTarget::new(), fast_policy(), |config| {
        config.access = Access {
            keys,
            authorizer: Arc::new(Authorizer::new()),
        };
        let bucket = &mut config.buckets[0];
        bucket.kms_key = Some(KmsKey {
            arn: KEY_ARN.to_owned(),
            policy: Policy::parse(
                "RegistryKey",
                &json!({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
                     "Action": "kms:*", "Resource": "*"}]}),
            )
            .unwrap(),
        });
        bucket.policy = Some(
            Policy::parse(
                "PhotoBucketPolicy",
                &json!({"Version": "2012-10-17", "Statement": [
                    {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                     "Resource": [format!("arn:aws:s3:::{BUCKET}"), objects()],
                     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                    {"Sid": "NoListerWrites", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                     "Resource": objects(),
                     "Condition": {"StringEquals": {"aws:PrincipalArn": format!("arn:aws:iam::{ACCOUNT}:role/ListerRole")}}}]}),
            )
            .unwrap(),
        );
        config.endpoints = BTreeMap::from([(
            ENDPOINT.to_owned(),
            Some(
                Policy::parse(
                    "S3GatewayEndpoint",
                    &json!({"Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": objects()}]}),
                )
                .unwrap(),
            ),
        )]);
    })
    .await
}

/// The status and error message of a failed call.
fn refusal<E: aws_sdk_s3::error::ProvideErrorMetadata>(
    error: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> (u16, String) {
    (
        error.raw_response().map_or(0, |r| r.status().as_u16()),
        error
            .as_service_error()
            .and_then(|e| e.message())
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn put(client: &aws_sdk_s3::Client, key: &str) -> Result<(), (u16, String)> {
    client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from_static(b"photo"))
        .send()
        .await
        .map(drop)
        .map_err(|e| refusal(&e))
}

async fn get(client: &aws_sdk_s3::Client, key: &str) -> Result<(), (u16, String)> {
    client
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .map(drop)
        .map_err(|e| refusal(&e))
}

#[tokio::test]
async fn identity_policies_and_the_key_policy_decide() {
    let callers = Callers::new();
    let t = store(&callers).await;
    let writer = callers.client(&t, "Writer");
    let reader = callers.client(&t, "Reader");
    put(&writer, "a.jpg").await.unwrap();
    get(&reader, "a.jpg").await.unwrap();

    let (status, message) = put(&reader, "b.jpg").await.unwrap_err();
    assert_eq!(status, 403);
    assert!(
        message.contains("ReaderRole/Reader is not authorized to perform: s3:PutObject"),
        "{message}"
    );
    assert!(
        message.ends_with("because no identity-based policy allows the s3:PutObject action"),
        "{message}"
    );

    let (status, message) = put(&callers.client(&t, "WriterWithoutKey"), "c.jpg")
        .await
        .unwrap_err();
    assert_eq!(status, 403);
    assert!(
        message.contains(&format!("kms:GenerateDataKey on resource: {KEY_ARN}")),
        "{message}"
    );

    let (_, message) = put(&callers.client(&t, "Lister"), "d.jpg")
        .await
        .unwrap_err();
    assert!(
        message.ends_with("with an explicit deny in a resource-based policy"),
        "{message}"
    );
    t.store.shutdown().await.unwrap();
}

/// A multipart upload: CreateMultipartUpload, one UploadPart, complete.
async fn put_in_parts(client: &aws_sdk_s3::Client, key: &str) -> Result<(), (u16, String)> {
    let upload = client
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .map_err(|e| refusal(&e))?;
    let upload_id = upload.upload_id().unwrap_or_default();
    let part = client
        .upload_part()
        .bucket(BUCKET)
        .key(key)
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from_static(b"photo"))
        .send()
        .await
        .map_err(|e| refusal(&e))?;
    let parts = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(1)
                .set_e_tag(part.e_tag().map(str::to_owned))
                .build(),
        )
        .build();
    client
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(parts)
        .send()
        .await
        .map(drop)
        .map_err(|e| refusal(&e))
}

/// A single PUT needs a data key only; the parts of a multipart upload are
/// encrypted with the upload's data key, which S3 decrypts as the caller.
#[tokio::test]
async fn parts_of_an_encrypted_upload_need_kms_decrypt() {
    let callers = Callers::new();
    let t = store(&callers).await;
    put_in_parts(&callers.client(&t, "MultipartWriter"), "parts.jpg")
        .await
        .unwrap();
    let (status, message) = put_in_parts(&callers.client(&t, "Writer"), "no-parts.jpg")
        .await
        .unwrap_err();
    assert_eq!(status, 403);
    assert!(
        message.contains(&format!("kms:Decrypt on resource: {KEY_ARN}")),
        "{message}"
    );
    t.store.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_missing_key_is_404_only_for_who_may_list() {
    let callers = Callers::new();
    let t = store(&callers).await;
    assert_eq!(
        get(&callers.client(&t, "Reader"), "missing.jpg")
            .await
            .unwrap_err()
            .0,
        403
    );
    assert_eq!(
        get(&callers.client(&t, "Lister"), "missing.jpg")
            .await
            .unwrap_err()
            .0,
        404
    );
    let head = callers
        .client(&t, "Reader")
        .head_object()
        .bucket(BUCKET)
        .key("missing.jpg")
        .send()
        .await
        .unwrap_err();
    assert_eq!(refusal(&head).0, 403);
    t.store.shutdown().await.unwrap();
}

#[tokio::test]
async fn requests_through_the_vpc_endpoint_pass_its_policy() {
    let callers = Callers::new();
    let t = store(&callers).await;
    put(&callers.client(&t, "Writer"), "a.jpg").await.unwrap();
    let through_endpoint = |client: &aws_sdk_s3::Client| {
        client
            .put_object()
            .bucket(BUCKET)
            .key("e.jpg")
            .body(ByteStream::from_static(b"photo"))
            .customize()
            .mutate_request(|request| {
                request.headers_mut().insert(NETWORK_HEADER, ENDPOINT);
            })
    };
    let error = through_endpoint(&callers.client(&t, "Writer"))
        .send()
        .await
        .unwrap_err();
    let (status, message) = refusal(&error);
    assert_eq!(status, 403);
    assert!(
        message.ends_with("because no VPC endpoint policy allows the s3:PutObject action"),
        "{message}"
    );
    callers
        .client(&t, "Reader")
        .get_object()
        .bucket(BUCKET)
        .key("a.jpg")
        .customize()
        .mutate_request(|request| {
            request.headers_mut().insert(NETWORK_HEADER, ENDPOINT);
        })
        .send()
        .await
        .unwrap();
    t.store.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_presigned_url_carries_the_permissions_of_its_signer() {
    let callers = Callers::new();
    let t = store(&callers).await;
    let presigned = |client: aws_sdk_s3::Client| async move {
        client
            .put_object()
            .bucket(BUCKET)
            .key("p.jpg")
            .presigned(PresigningConfig::expires_in(std::time::Duration::from_secs(60)).unwrap())
            .await
            .unwrap()
    };
    let http = reqwest::Client::new();
    let by_writer = presigned(callers.client(&t, "Writer")).await;
    let response = http
        .put(by_writer.uri())
        .body("photo")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let by_reader = presigned(callers.client(&t, "Reader")).await;
    let response = http
        .put(by_reader.uri())
        .body("photo")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body = response.text().await.unwrap();
    assert!(body.contains("s3:PutObject"), "{body}");
    t.store.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_key_that_would_name_a_file_outside_its_bucket_is_refused() {
    let callers = Callers::new();
    let t = store(&callers).await;
    let writer = callers.client(&t, "Writer");
    for key in ["../x.jpg", "a/../../x.jpg", "a/./b.jpg", "a//b.jpg"] {
        let (status, message) = put(&writer, key).await.unwrap_err();
        assert_eq!(status, 400, "{key}");
        assert!(message.contains("'..' segment"), "{key}: {message}");
    }
    let (status, _) = get(&writer, "../x.jpg").await.unwrap_err();
    assert_eq!(status, 400);
    // Nothing was written beside the buckets' folders.
    let stray: Vec<_> = std::fs::read_dir(t.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().contains("x.jpg"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    // The registry's keys are kept as before.
    put(&writer, "0a1b2c3d4e5f60718293a4b5c6d7e8f9.curie_marie.jpg")
        .await
        .unwrap();
    t.store.shutdown().await.unwrap();
}
