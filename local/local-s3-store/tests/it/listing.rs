//! ListObjectsV2 without a delimiter, served from the store's key index:
//! what was on disk at start and every write and deletion since, in
//! S3's pages of at most 1,000 keys.

use crate::common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use common::{BUCKET, RecordingTarget, fast_policy, start_configured};

/// One page: its keys with their sizes, and the next page's token.
async fn page(
    t: &common::TestStore,
    prefix: Option<&str>,
    start_after: Option<&str>,
    token: Option<String>,
) -> (Vec<(String, i64)>, Option<String>) {
    let output = t
        .client
        .list_objects_v2()
        .bucket(BUCKET)
        .set_prefix(prefix.map(str::to_owned))
        .set_start_after(start_after.map(str::to_owned))
        .set_continuation_token(token)
        .max_keys(5000)
        .send()
        .await
        .expect("ListObjectsV2");
    let keys = output
        .contents()
        .iter()
        .map(|o| (o.key().unwrap().to_owned(), o.size().unwrap()))
        .collect();
    let next = output.next_continuation_token().map(str::to_owned);
    assert_eq!(output.is_truncated(), Some(next.is_some()));
    (keys, next)
}

fn keys(listed: &[(String, i64)]) -> Vec<&str> {
    listed.iter().map(|(key, _)| key.as_str()).collect()
}

async fn put(t: &common::TestStore, key: &str, body: &'static [u8]) {
    t.client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from_static(body))
        .send()
        .await
        .expect("PutObject");
}

#[tokio::test]
async fn pages_hold_what_was_on_disk_at_start_and_every_write_since() {
    // 1,001 objects before the store starts, one of them in a folder.
    let t = start_configured(RecordingTarget::new(), fast_policy(), |config| {
        let bucket = config.root_dir.join(BUCKET);
        std::fs::create_dir_all(bucket.join("folder")).unwrap();
        for n in 0..1000 {
            std::fs::write(bucket.join(format!("{n:04}.jpg")), b"x").unwrap();
        }
        std::fs::write(bucket.join("folder/inside.jpg"), b"inside").unwrap();
    })
    .await;

    // 5,000 asked for, 1,000 given, as S3 gives.
    let (first, token) = page(&t, None, None, None).await;
    assert_eq!(first.len(), 1000);
    assert_eq!(first[0], ("0000.jpg".to_owned(), 1));
    let (rest, end) = page(&t, None, None, token).await;
    assert_eq!(rest, [("folder/inside.jpg".to_owned(), 6)]);
    assert_eq!(end, None);

    put(&t, "zz.jpg", b"zz").await;
    put(&t, "0500.jpg", b"again").await;
    t.client
        .copy_object()
        .bucket(BUCKET)
        .key("zy.jpg")
        .copy_source(format!("{BUCKET}/zz.jpg"))
        .send()
        .await
        .expect("CopyObject");
    t.client
        .delete_object()
        .bucket(BUCKET)
        .key("0000.jpg")
        .send()
        .await
        .expect("DeleteObject");
    let both = ["0001.jpg", "0002.jpg"].map(|key| {
        ObjectIdentifier::builder()
            .key(key)
            .build()
            .expect("an identifier")
    });
    t.client
        .delete_objects()
        .bucket(BUCKET)
        .delete(
            Delete::builder()
                .set_objects(Some(both.to_vec()))
                .build()
                .expect("a deletion"),
        )
        .send()
        .await
        .expect("DeleteObjects");

    let (z, _) = page(&t, Some("z"), None, None).await;
    assert_eq!(z, [("zy.jpg".to_owned(), 2), ("zz.jpg".to_owned(), 2)]);
    let (after, _) = page(&t, None, Some("0998.jpg"), None).await;
    assert_eq!(
        keys(&after),
        ["0999.jpg", "folder/inside.jpg", "zy.jpg", "zz.jpg"]
    );
    let (first, _) = page(&t, None, None, None).await;
    assert_eq!(keys(&first[..2]), ["0003.jpg", "0004.jpg"]);
    assert!(first.contains(&("0500.jpg".to_owned(), 5)));
    let (nothing, end) = page(&t, Some("none"), None, None).await;
    assert!(nothing.is_empty() && end.is_none());
}

#[tokio::test]
async fn a_versioned_key_is_listed_while_it_has_a_current_version() {
    let t = start_configured(RecordingTarget::new(), fast_policy(), |config| {
        config.buckets[0].versioned = true
    })
    .await;
    put(&t, "doe_jane.jpg", b"first").await;
    put(&t, "doe_jane.jpg", b"second").await;
    let marker = t
        .client
        .delete_object()
        .bucket(BUCKET)
        .key("doe_jane.jpg")
        .send()
        .await
        .expect("DeleteObject")
        .version_id()
        .expect("a delete marker")
        .to_owned();
    assert!(page(&t, None, None, None).await.0.is_empty());

    // The marker deleted: the second version is current again.
    t.client
        .delete_object()
        .bucket(BUCKET)
        .key("doe_jane.jpg")
        .version_id(marker)
        .send()
        .await
        .expect("DeleteObject of the marker");
    let (listed, _) = page(&t, None, None, None).await;
    assert_eq!(listed, [("doe_jane.jpg".to_owned(), 6)]);
}
