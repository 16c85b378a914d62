//! A versioned bucket, through the AWS SDK: versions on every write, in the
//! events, readable by id; delete markers; deleting a version.

use crate::common;

use aws_sdk_s3::primitives::ByteStream;
use common::{BUCKET, RecordingTarget, fast_policy, record, start_configured};

async fn versioned_store(target: std::sync::Arc<RecordingTarget>) -> common::TestStore {
    start_configured(target, fast_policy(), |config| {
        config.buckets[0].versioned = true
    })
    .await
}

async fn put(t: &common::TestStore, key: &str, body: &'static [u8]) -> String {
    t.client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .content_type("image/jpeg")
        .body(ByteStream::from_static(body))
        .send()
        .await
        .expect("PutObject")
        .version_id()
        .expect("a version id")
        .to_owned()
}

async fn body(t: &common::TestStore, key: &str, version: Option<&str>) -> Result<Vec<u8>, String> {
    match t
        .client
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .send()
        .await
    {
        Ok(output) => Ok(output.body.collect().await.unwrap().into_bytes().to_vec()),
        Err(error) => Err(error
            .raw_response()
            .map(|r| r.status().as_u16().to_string())
            .unwrap_or_else(|| error.to_string())),
    }
}

#[tokio::test]
async fn every_write_is_a_version_the_events_name() {
    let target = RecordingTarget::new();
    let t = versioned_store(target.clone()).await;
    let first = put(&t, "doe_jane.jpg", b"first").await;
    let second = put(&t, "doe_jane.jpg", b"second").await;
    assert_ne!(first, second);

    let events = target.wait_for(2).await;
    let mut versions: Vec<String> = events
        .iter()
        .map(|e| record(e).s3.object.version_id.clone().expect("a versionId"))
        .collect();
    versions.sort();
    let mut expected = vec![first.clone(), second.clone()];
    expected.sort();
    assert_eq!(versions, expected);

    assert_eq!(body(&t, "doe_jane.jpg", None).await.unwrap(), b"second");
    assert_eq!(
        body(&t, "doe_jane.jpg", Some(&first)).await.unwrap(),
        b"first"
    );
    assert_eq!(
        body(&t, "doe_jane.jpg", Some(&second)).await.unwrap(),
        b"second"
    );
    let head = t
        .client
        .head_object()
        .bucket(BUCKET)
        .key("doe_jane.jpg")
        .version_id(&first)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(5));
    assert_eq!(head.version_id(), Some(first.as_str()));
    let ranged = t
        .client
        .get_object()
        .bucket(BUCKET)
        .key("doe_jane.jpg")
        .version_id(&first)
        .range("bytes=1-2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ranged.body.collect().await.unwrap().into_bytes().as_ref(),
        b"ir"
    );
    assert_eq!(
        body(&t, "doe_jane.jpg", Some("no-such-version"))
            .await
            .unwrap_err(),
        "404"
    );
    t.store.shutdown().await.unwrap();
}

#[tokio::test]
async fn deletes_leave_markers_and_deleting_versions_restores_the_previous() {
    let t = versioned_store(RecordingTarget::new()).await;
    let first = put(&t, "doe_john.jpg", b"first").await;
    let second = put(&t, "doe_john.jpg", b"second").await;

    let deleted = t
        .client
        .delete_object()
        .bucket(BUCKET)
        .key("doe_john.jpg")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.delete_marker(), Some(true));
    let marker = deleted.version_id().unwrap().to_owned();
    assert_eq!(body(&t, "doe_john.jpg", None).await.unwrap_err(), "404");
    assert_eq!(
        body(&t, "doe_john.jpg", Some(&marker)).await.unwrap_err(),
        "405"
    );
    assert_eq!(
        body(&t, "doe_john.jpg", Some(&second)).await.unwrap(),
        b"second"
    );

    let listed = t
        .client
        .list_object_versions()
        .bucket(BUCKET)
        .prefix("doe_john")
        .send()
        .await
        .unwrap();
    let versions: Vec<(&str, bool)> = listed
        .versions()
        .iter()
        .map(|v| (v.version_id().unwrap(), v.is_latest().unwrap()))
        .collect();
    assert_eq!(
        versions,
        [(second.as_str(), false), (first.as_str(), false)]
    );
    assert_eq!(listed.delete_markers().len(), 1);
    assert_eq!(listed.delete_markers()[0].is_latest(), Some(true));

    // Removing the marker brings the newest version back; removing that,
    // the one before it.
    for version in [&marker, &second] {
        t.client
            .delete_object()
            .bucket(BUCKET)
            .key("doe_john.jpg")
            .version_id(version)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(body(&t, "doe_john.jpg", None).await.unwrap(), b"first");
    t.client
        .delete_object()
        .bucket(BUCKET)
        .key("doe_john.jpg")
        .version_id(&first)
        .send()
        .await
        .unwrap();
    assert_eq!(body(&t, "doe_john.jpg", None).await.unwrap_err(), "404");
    let listed = t
        .client
        .list_object_versions()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert!(listed.versions().is_empty() && listed.delete_markers().is_empty());
    t.store.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_unversioned_bucket_has_no_versions() {
    let target = RecordingTarget::new();
    let t = common::start(target.clone()).await;
    let output = t
        .client
        .put_object()
        .bucket(BUCKET)
        .key("a.jpg")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(output.version_id(), None);
    let events = target.wait_for(1).await;
    assert_eq!(record(&events[0]).s3.object.version_id, None);
    t.store.shutdown().await.unwrap();
}
