//! The photo store's contract: what every [`PhotoStore`] promises the
//! indexer, erasure and reconcile, as one suite that runs against the S3
//! adapter on the local S3 store and against [`crate::InMemoryBucket`], so
//! that what the fake does is what S3 does.
//!
//! Each case takes a fresh, empty, versioned bucket. [`photo_store_contract!`]
//! makes a test of each case from an expression that makes one. Presigned
//! URLs are not part of it: the fake has none, and the S3 store checks them
//! end to end.

use async_trait::async_trait;
use chrono::Utc;
use registry::photo::sha256_hex;
use registry::ports::PhotoStore;

use crate::InMemoryBucket;

/// A bucket a case can also write to as a client would, besides the store.
#[async_trait]
pub trait BucketUnderTest: Send + Sync {
    type Store: PhotoStore;
    fn store(&self) -> &Self::Store;
    /// A new version of `key`, as a client's PutObject writes it.
    async fn put_object(&self, key: &str, bytes: &[u8]);
    /// A plain DeleteObject: a delete marker on top.
    async fn delete_object(&self, key: &str);
}

#[async_trait]
impl BucketUnderTest for InMemoryBucket {
    type Store = Self;

    fn store(&self) -> &Self {
        self
    }

    async fn put_object(&self, key: &str, bytes: &[u8]) {
        self.put(key, bytes, Utc::now());
    }

    async fn delete_object(&self, key: &str) {
        self.delete(key);
    }
}

/// One test per case, each on the bucket `$new_bucket` (an expression whose
/// future yields `(guard, bucket)`; the guard lives as long as the test).
#[macro_export]
macro_rules! photo_store_contract {
    ($new_bucket:expr) => {
        $crate::contract_tests!(photo_contract, $new_bucket;
            a_photo_is_stated_and_read_by_its_version,
            a_conditional_replace_writes_only_over_the_version_named,
            versions_are_every_version_and_delete_marker_of_exactly_the_key,
            deleting_the_current_version_brings_back_the_one_before,
            photos_are_listed_in_key_order_after_a_key_in_pages,
            a_rewrite_in_place_is_a_new_version_of_the_same_bytes,
            a_copy_is_the_current_version_under_another_key,
        );
    };
}

const ADA: &str = "lovelace_ada.jpg";
/// A key that needs encoding in a URL and in CopyObject's source.
const ODD: &str = "o'brien+zoë ann_marie (2).jpg";

pub async fn a_photo_is_stated_and_read_by_its_version<B: BucketUnderTest>(bucket: &B) {
    let store = bucket.store();
    assert_eq!(store.stat(ADA).await.unwrap(), None);
    assert_eq!(store.read(ADA, None).await.unwrap(), None);

    bucket.put_object(ADA, b"first photo").await;
    let stored = store.stat(ADA).await.unwrap().expect("stored");
    assert_eq!(stored.size, 11);
    assert!(stored.version_id.is_some(), "a versioned bucket");
    assert_eq!(stored.uploaded_sha256, None, "as a client wrote it");
    let etag = stored.etag.as_deref().expect("an ETag");
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "quoted: {etag}"
    );
    assert_eq!(
        store.read(ADA, None).await.unwrap().as_deref(),
        Some(&b"first photo"[..])
    );
    assert_eq!(
        store.read(ADA, Some(etag)).await.unwrap().as_deref(),
        Some(&b"first photo"[..])
    );
    assert_eq!(
        store.read(ADA, Some("\"0123456789abcdef\"")).await.unwrap(),
        None,
        "another version's ETag reads nothing"
    );

    bucket.put_object(ODD, b"odd").await;
    assert_eq!(store.stat(ODD).await.unwrap().map(|s| s.size), Some(3));
    assert_eq!(
        store.read(ODD, None).await.unwrap().as_deref(),
        Some(&b"odd"[..])
    );
}

pub async fn a_conditional_replace_writes_only_over_the_version_named<B: BucketUnderTest>(
    bucket: &B,
) {
    let store = bucket.store();
    let hash = sha256_hex(b"as uploaded");
    let other = "\"0123456789abcdef\"";
    assert!(
        !store
            .replace_if_unchanged(ADA, b"x".to_vec(), "image/jpeg", other, &hash)
            .await
            .unwrap(),
        "no object: nothing written"
    );
    assert_eq!(store.stat(ADA).await.unwrap(), None);

    bucket.put_object(ADA, b"as uploaded").await;
    let uploaded = store.stat(ADA).await.unwrap().expect("stored");
    assert!(
        !store
            .replace_if_unchanged(ADA, b"x".to_vec(), "image/jpeg", other, &hash)
            .await
            .unwrap(),
        "another version named: nothing written"
    );
    assert_eq!(store.stat(ADA).await.unwrap().as_ref(), Some(&uploaded));

    let etag = uploaded.etag.as_deref().unwrap();
    assert!(
        store
            .replace_if_unchanged(ADA, b"rewritten".to_vec(), "image/jpeg", etag, &hash)
            .await
            .unwrap()
    );
    let rewritten = store.stat(ADA).await.unwrap().expect("stored");
    assert_ne!(rewritten.etag, uploaded.etag);
    assert_ne!(rewritten.version_id, uploaded.version_id);
    assert_eq!(rewritten.uploaded_sha256, Some(hash));
    assert_eq!(
        store.read(ADA, None).await.unwrap().as_deref(),
        Some(&b"rewritten"[..])
    );
    assert_eq!(store.versions(ADA).await.unwrap().len(), 2);
}

pub async fn versions_are_every_version_and_delete_marker_of_exactly_the_key<B: BucketUnderTest>(
    bucket: &B,
) {
    let store = bucket.store();
    assert!(store.versions(ADA).await.unwrap().is_empty());
    bucket.put_object(ADA, b"one").await;
    bucket.put_object(ADA, b"two").await;
    // A key that starts with the other is another key.
    let sibling = format!("{ADA}.old");
    bucket.put_object(&sibling, b"sibling").await;
    bucket.delete_object(ADA).await;

    let versions = store.versions(ADA).await.unwrap();
    assert_eq!(versions.len(), 3, "{versions:?}");
    assert_eq!(versions.iter().filter(|v| v.delete_marker).count(), 1);
    let mut ids: Vec<&str> = versions.iter().map(|v| v.version_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each version its own id");
    assert!(versions.iter().all(|v| v.last_modified.is_some()));
    assert_eq!(store.versions(&sibling).await.unwrap().len(), 1);
    assert_eq!(
        store.stat(ADA).await.unwrap(),
        None,
        "a delete marker on top"
    );
    assert_eq!(store.read(ADA, None).await.unwrap(), None);

    // Every version removed for good: nothing is left of the key.
    for version in &versions {
        store
            .delete_version(ADA, &version.version_id)
            .await
            .unwrap();
    }
    assert!(store.versions(ADA).await.unwrap().is_empty());
    assert_eq!(store.versions(&sibling).await.unwrap().len(), 1);
}

pub async fn deleting_the_current_version_brings_back_the_one_before<B: BucketUnderTest>(
    bucket: &B,
) {
    let store = bucket.store();
    bucket.put_object(ADA, b"one").await;
    let first = store.stat(ADA).await.unwrap().expect("stored");
    bucket.put_object(ADA, b"two").await;
    let second = store.stat(ADA).await.unwrap().expect("stored");
    store
        .delete_version(ADA, second.version_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(store.stat(ADA).await.unwrap().as_ref(), Some(&first));
    assert_eq!(
        store.read(ADA, None).await.unwrap().as_deref(),
        Some(&b"one"[..])
    );
}

pub async fn photos_are_listed_in_key_order_after_a_key_in_pages<B: BucketUnderTest>(bucket: &B) {
    let store = bucket.store();
    let page = store.list_photos(None, 10).await.unwrap();
    assert!(page.photos.is_empty() && !page.truncated);
    for key in ["c_c.jpg", "a_a.jpg", "d_d.jpg", "b_b.jpg"] {
        bucket.put_object(key, key.as_bytes()).await;
    }
    bucket.put_object("a_a.jpg", b"a newer version").await;
    bucket.delete_object("d_d.jpg").await;

    let keys = |page: &registry::ports::PhotoPage| -> Vec<String> {
        page.photos.iter().map(|p| p.key.clone()).collect()
    };
    let first = store.list_photos(None, 2).await.unwrap();
    assert_eq!(
        keys(&first),
        ["a_a.jpg", "b_b.jpg"],
        "current versions once"
    );
    assert!(first.truncated);
    assert!(first.photos.iter().all(|p| p.last_modified.is_some()));
    let next = store.list_photos(Some("b_b.jpg"), 2).await.unwrap();
    assert_eq!(keys(&next), ["c_c.jpg"], "a deleted key is not listed");
    assert!(!next.truncated);
}

pub async fn a_rewrite_in_place_is_a_new_version_of_the_same_bytes<B: BucketUnderTest>(bucket: &B) {
    let store = bucket.store();
    assert!(!store.rewrite_in_place(ODD, "image/jpeg").await.unwrap());
    assert!(
        store.versions(ODD).await.unwrap().is_empty(),
        "nothing written"
    );

    bucket.put_object(ODD, b"as uploaded").await;
    let uploaded = store.stat(ODD).await.unwrap().expect("stored");
    let hash = sha256_hex(b"as uploaded");
    let etag = uploaded.etag.as_deref().unwrap();
    store
        .replace_if_unchanged(ODD, b"stripped".to_vec(), "image/jpeg", etag, &hash)
        .await
        .unwrap();
    let stripped = store.stat(ODD).await.unwrap().expect("stored");

    assert!(store.rewrite_in_place(ODD, "image/jpeg").await.unwrap());
    let again = store.stat(ODD).await.unwrap().expect("stored");
    assert_ne!(again.version_id, stripped.version_id, "a new version");
    assert_eq!(again.size, stripped.size);
    assert_eq!(again.uploaded_sha256, Some(hash), "the upload's hash kept");
    assert_eq!(
        store.read(ODD, None).await.unwrap().as_deref(),
        Some(&b"stripped"[..])
    );
    assert_eq!(store.versions(ODD).await.unwrap().len(), 3);
}

pub async fn a_copy_is_the_current_version_under_another_key<B: BucketUnderTest>(bucket: &B) {
    let store = bucket.store();
    let to = "0123456789abcdef0123456789abcdef.dunham_ann.jpg";
    assert!(!store.copy(ODD, to).await.unwrap(), "nothing to copy");
    assert!(store.versions(to).await.unwrap().is_empty());

    bucket.put_object(ODD, b"as uploaded").await;
    let uploaded = store.stat(ODD).await.unwrap().expect("stored");
    let hash = sha256_hex(b"as uploaded");
    store
        .replace_if_unchanged(
            ODD,
            b"stripped".to_vec(),
            "image/jpeg",
            uploaded.etag.as_deref().unwrap(),
            &hash,
        )
        .await
        .unwrap();

    assert!(store.copy(ODD, to).await.unwrap());
    let copied = store.stat(to).await.unwrap().expect("copied");
    assert_eq!(copied.uploaded_sha256, Some(hash), "metadata copied");
    assert_eq!(
        store.read(to, None).await.unwrap().as_deref(),
        Some(&b"stripped"[..]),
        "the current version"
    );
    assert_eq!(
        store.versions(ODD).await.unwrap().len(),
        2,
        "the source stays"
    );
}
