//! Object creations through the real AWS SDK produce real S3 events.

use crate::common;

use std::cmp::Ordering;
use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::*;
use local_s3_store::{compare_sequencers, decode_event_key};

#[tokio::test]
async fn put_object_emits_one_put_event_with_encoded_key_and_increasing_sequencer() {
    let target = RecordingTarget::new();
    let t = start(target.clone()).await;
    let key = "doe jane/zoë photo.jpg";
    let body = b"first version of the photo".to_vec();

    let put = t
        .client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .content_type("image/jpeg")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let events = target.wait_for(1).await;
    let first = record(&events[0]).clone();
    assert_eq!(first.event_version.as_deref(), Some("2.1"));
    assert_eq!(first.event_source.as_deref(), Some("aws:s3"));
    assert_eq!(first.aws_region.as_deref(), Some(REGION));
    assert_eq!(first.event_name.as_deref(), Some("ObjectCreated:Put"));
    assert_eq!(
        first.request_parameters.source_ip_address.as_deref(),
        Some("127.0.0.1")
    );
    assert!(first.response_elements.contains_key("x-amz-request-id"));
    assert_eq!(first.s3.schema_version.as_deref(), Some("1.0"));
    assert_eq!(first.s3.bucket.name.as_deref(), Some(BUCKET));
    assert_eq!(first.s3.bucket.arn.as_deref(), Some("arn:aws:s3:::photos"));
    assert_eq!(
        first.s3.object.key.as_deref(),
        Some("doe+jane/zo%C3%AB+photo.jpg")
    );
    assert_eq!(
        decode_event_key(first.s3.object.key.as_deref().unwrap()).unwrap(),
        key
    );
    assert_eq!(
        first.s3.object.size,
        Some(i64::try_from(body.len()).unwrap())
    );
    let etag = unquote(put.e_tag().unwrap());
    assert_eq!(first.s3.object.e_tag.as_deref(), Some(etag.as_str()));
    assert_eq!(etag.len(), 32, "an MD5 hex digest: {etag}");

    // The object is readable with the key from the event, decoded.
    let got = t
        .client
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        body.as_slice()
    );

    let second_body = b"second, longer version of the photo".to_vec();
    t.client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(second_body.clone()))
        .send()
        .await
        .unwrap();
    let events = target.wait_for(2).await;
    let second = record(&events[1]);
    assert_eq!(
        second.s3.object.size,
        Some(i64::try_from(second_body.len()).unwrap())
    );
    let (a, b) = (
        first.s3.object.sequencer.unwrap(),
        second.s3.object.sequencer.clone().unwrap(),
    );
    assert_eq!(compare_sequencers(&a, &b), Ordering::Less, "{a} then {b}");

    // Nothing else arrives: one event per write.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(target.events().len(), 2);
    t.store.shutdown().await.unwrap();
}

#[tokio::test]
async fn copy_and_multipart_completion_emit_their_events() {
    let target = RecordingTarget::new();
    let t = start(target.clone()).await;
    t.client
        .put_object()
        .bucket(BUCKET)
        .key("source.jpg")
        .body(ByteStream::from_static(b"source bytes"))
        .send()
        .await
        .unwrap();
    target.wait_for(1).await;

    t.client
        .copy_object()
        .bucket(BUCKET)
        .key("copy of source.jpg")
        .copy_source(format!("{BUCKET}/source.jpg"))
        .send()
        .await
        .unwrap();
    let events = target.wait_for(2).await;
    let copy = record(&events[1]);
    assert_eq!(copy.event_name.as_deref(), Some("ObjectCreated:Copy"));
    assert_eq!(copy.s3.object.key.as_deref(), Some("copy+of+source.jpg"));
    assert_eq!(copy.s3.object.size, Some(12));
    assert_eq!(copy.s3.object.e_tag, record(&events[0]).s3.object.e_tag);

    let key = "big photo.png";
    let upload = t
        .client
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let parts = [vec![7_u8; 5 * 1024 * 1024], vec![9_u8; 1000]];
    let mut completed = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let number = i32::try_from(index + 1).unwrap();
        let uploaded = t
            .client
            .upload_part()
            .bucket(BUCKET)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .unwrap();
        completed.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(uploaded.e_tag().unwrap())
                .build(),
        );
    }
    // Parts alone create no object and no event.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(target.events().len(), 2);

    let done = t
        .client
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let events = target.wait_for(3).await;
    let multipart = record(&events[2]);
    assert_eq!(
        multipart.event_name.as_deref(),
        Some("ObjectCreated:CompleteMultipartUpload")
    );
    assert_eq!(multipart.s3.object.key.as_deref(), Some("big+photo.png"));
    assert_eq!(multipart.s3.object.size, Some(5 * 1024 * 1024 + 1000));
    let etag = unquote(done.e_tag().unwrap());
    assert!(etag.ends_with("-2"), "{etag}");
    assert_eq!(multipart.s3.object.e_tag.as_deref(), Some(etag.as_str()));

    let sequencers: Vec<String> = events
        .iter()
        .map(|e| record(e).s3.object.sequencer.clone().unwrap())
        .collect();
    assert!(
        sequencers
            .windows(2)
            .all(|w| compare_sequencers(&w[0], &w[1]) == Ordering::Less),
        "{sequencers:?}"
    );
    t.store.shutdown().await.unwrap();
}

#[tokio::test]
async fn failed_writes_emit_nothing_and_bad_credentials_are_refused() {
    let target = RecordingTarget::new();
    let t = start(target.clone()).await;

    let intruder = client(&t.store.endpoint_url(), "not-the-secret");
    let refused = intruder
        .put_object()
        .bucket(BUCKET)
        .key("intruder.jpg")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    let code = refused
        .into_service_error()
        .meta()
        .code()
        .map(str::to_owned);
    assert_eq!(code.as_deref(), Some("SignatureDoesNotMatch"));

    let missing_bucket = t
        .client
        .put_object()
        .bucket("no-such-bucket")
        .key("x.jpg")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert!(missing_bucket.is_err());
    let missing_source = t
        .client
        .copy_object()
        .bucket(BUCKET)
        .key("copy.jpg")
        .copy_source(format!("{BUCKET}/absent.jpg"))
        .send()
        .await;
    assert!(missing_source.is_err());

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(target.events().is_empty(), "{:?}", target.events());
    assert!(
        t.client
            .head_object()
            .bucket(BUCKET)
            .key("intruder.jpg")
            .send()
            .await
            .is_err()
    );
    t.store.shutdown().await.unwrap();
}

/// Presigns a PUT as the registry's upload function does: content type and
/// length are part of the signature.
async fn presign_put(
    t: &TestStore,
    key: &str,
    content_type: &str,
    length: usize,
) -> (String, Vec<(String, String)>) {
    let presigned = t
        .client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .content_type(content_type)
        .content_length(i64::try_from(length).unwrap())
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let headers = presigned
        .headers()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    (presigned.uri().to_owned(), headers)
}

#[tokio::test]
async fn presigned_put_works_from_a_browser_origin_and_tampering_is_refused() {
    let target = RecordingTarget::new();
    let t = start(target.clone()).await;
    let http = reqwest::Client::new();
    let body = vec![0xFF_u8; 2048];
    let (url, headers) = presign_put(&t, "upload me.jpg", "image/jpeg", body.len()).await;
    assert!(url.contains("X-Amz-Signature="), "{url}");
    assert!(
        url.contains("content-type"),
        "content type must be signed: {url}"
    );

    // Wrong content type: refused, nothing stored, no event.
    let wrong_type = http
        .put(&url)
        .header("content-type", "image/png")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        wrong_type.status(),
        403,
        "{}",
        wrong_type.text().await.unwrap()
    );

    // Another length than signed: refused.
    let wrong_length = http
        .put(&url)
        .header("content-type", "image/jpeg")
        .body(vec![0xFF_u8; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_length.status(), 403);

    // Tampered signature: refused.
    let signature_start = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut tampered = url.clone();
    let flipped = if &url[signature_start..=signature_start] == "0" {
        "1"
    } else {
        "0"
    };
    tampered.replace_range(signature_start..=signature_start, flipped);
    let bad_signature = http
        .put(&tampered)
        .header("content-type", "image/jpeg")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(bad_signature.status(), 403);

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(target.events().is_empty(), "{:?}", target.events());

    // As signed, from the gateway's origin: accepted, with CORS headers.
    let mut request = http
        .put(&url)
        .header("origin", ALLOWED_ORIGIN)
        .body(body.clone());
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let accepted = request.send().await.unwrap();
    assert_eq!(accepted.status(), 200, "{:?}", accepted.headers());
    assert_eq!(
        accepted.headers()["access-control-allow-origin"],
        ALLOWED_ORIGIN
    );
    let exposed = accepted.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("etag"), "{exposed}");
    let etag = unquote(accepted.headers()["etag"].to_str().unwrap());

    let events = target.wait_for(1).await;
    let put = record(&events[0]);
    assert_eq!(put.event_name.as_deref(), Some("ObjectCreated:Put"));
    assert_eq!(put.s3.object.key.as_deref(), Some("upload+me.jpg"));
    assert_eq!(put.s3.object.size, Some(2048));
    assert_eq!(put.s3.object.e_tag.as_deref(), Some(etag.as_str()));

    // A presigned GET reads it back.
    let get = t
        .client
        .get_object()
        .bucket(BUCKET)
        .key("upload me.jpg")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let fetched = http.get(get.uri()).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["content-type"], "image/jpeg");
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), body.as_slice());
    t.store.shutdown().await.unwrap();
}

#[tokio::test]
async fn cors_preflight_is_answered_for_allowed_origins_only() {
    let t = start(RecordingTarget::new()).await;
    let http = reqwest::Client::new();
    let url = format!("{}/{BUCKET}/some%20key.jpg", t.store.endpoint_url());
    let preflight = |origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "content-type")
            .send()
    };

    for origin in [ALLOWED_ORIGIN, "http://localhost:3000"] {
        let allowed = preflight(origin).await.unwrap();
        assert!(allowed.status().is_success(), "{}", allowed.status());
        let headers = allowed.headers();
        assert_eq!(headers["access-control-allow-origin"], origin);
        assert!(
            headers["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains("PUT")
        );
        assert!(
            headers["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .to_ascii_lowercase()
                .contains("content-type")
        );
    }

    let other = preflight("http://evil.example:3000").await.unwrap();
    assert!(
        other.headers().get("access-control-allow-origin").is_none(),
        "{:?}",
        other.headers()
    );
    t.store.shutdown().await.unwrap();
}
