//! Browser form uploads (POST with a SigV4-signed policy) emit
//! `ObjectCreated:Post`.

use crate::common;

use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use common::*;
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The form fields of a POST upload, signed as SigV4 POST policies are.
fn signed_form(key: &str, secret: &str) -> Vec<(String, String)> {
    let now = Utc::now();
    let date = now.format("%Y%m%d").to_string();
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let credential = format!("{ACCESS_KEY}/{date}/{REGION}/s3/aws4_request");
    let expiration = (now + chrono::Duration::minutes(5))
        .format("%Y-%m-%dT%H:%M:%S.000Z")
        .to_string();
    let policy = serde_json::json!({
        "expiration": expiration,
        "conditions": [
            {"bucket": BUCKET},
            ["eq", "$key", key],
            ["content-length-range", 1, 1_048_576],
            {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
            {"x-amz-credential": credential},
            {"x-amz-date": amz_date},
        ]
    });
    let policy = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
    let signing_key = ["s3", "aws4_request"].iter().fold(
        hmac(&hmac(format!("AWS4{secret}").as_bytes(), &date), REGION),
        |key, part| hmac(&key, part),
    );
    let signature = hex::encode(hmac(&signing_key, &policy));
    [
        ("key", key.to_owned()),
        ("x-amz-algorithm", "AWS4-HMAC-SHA256".to_owned()),
        ("x-amz-credential", credential),
        ("x-amz-date", amz_date),
        ("policy", policy),
        ("x-amz-signature", signature),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

fn multipart_body(fields: &[(String, String)], file: &[u8], boundary: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .bytes(),
        );
    }
    body.extend(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
        )
        .bytes(),
    );
    body.extend_from_slice(file);
    body.extend(format!("\r\n--{boundary}--\r\n").bytes());
    body
}

async fn post(t: &TestStore, fields: &[(String, String)], file: &[u8]) -> reqwest::Response {
    let boundary = "----s3storetestboundary";
    reqwest::Client::new()
        .post(format!("{}/{BUCKET}", t.store.endpoint_url()))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(multipart_body(fields, file, boundary))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_signed_form_upload_emits_a_post_event_and_a_forged_one_is_refused() {
    let target = RecordingTarget::new();
    let t = start(target.clone()).await;
    let file = vec![0xD8_u8; 777];

    let forged = post(&t, &signed_form("forged.jpg", "wrong-secret"), &file).await;
    assert_eq!(forged.status(), 403, "{}", forged.text().await.unwrap());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(target.events().is_empty());

    let accepted = post(&t, &signed_form("form upload.jpg", SECRET_KEY), &file).await;
    assert!(
        accepted.status().is_success(),
        "{}: {}",
        accepted.status(),
        accepted.text().await.unwrap()
    );

    let events = target.wait_for(1).await;
    let post = record(&events[0]);
    assert_eq!(post.event_name.as_deref(), Some("ObjectCreated:Post"));
    assert_eq!(post.s3.object.key.as_deref(), Some("form+upload.jpg"));
    assert_eq!(post.s3.object.size, Some(777));
    let head = t
        .client
        .head_object()
        .bucket(BUCKET)
        .key("form upload.jpg")
        .send()
        .await
        .unwrap();
    assert_eq!(
        post.s3.object.e_tag.as_deref(),
        head.e_tag().map(|e| e.trim_matches('"'))
    );
    t.store.shutdown().await.unwrap();
}
