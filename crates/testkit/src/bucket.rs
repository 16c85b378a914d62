//! A versioned bucket in memory: for the domain's rules over the photo
//! store (what the indexer checks of a photo, what reconcile does with each
//! photo it lists). It keeps the photo store's contract
//! ([`crate::photo_contract`]), as the S3 adapter on the local S3 store does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use registry::ports::{
    ListedPhoto, ObjectVersion, PhotoPage, PhotoStore, PortError, PresignedRequest, StoredObject,
};

#[derive(Debug, Clone)]
struct Version {
    id: String,
    /// Quoted, as S3 gives it.
    etag: String,
    /// `None` for a delete marker.
    bytes: Option<Vec<u8>>,
    last_modified: DateTime<Utc>,
    /// The user metadata the registry writes with a rewritten photo.
    uploaded_sha256: Option<String>,
}

#[derive(Default)]
struct State {
    /// Versions per key, oldest first.
    objects: BTreeMap<String, Vec<Version>>,
    next_version: u64,
    /// Keys written again in place (reconcile's re-drives), in order.
    rewrites: Vec<String>,
}

/// Clones share one bucket.
#[derive(Default, Clone)]
pub struct InMemoryBucket {
    state: Arc<Mutex<State>>,
}

impl InMemoryBucket {
    /// Writes the current version of `from`, bytes and upload hash, as a
    /// new version of `to`; `false` when `from` has none.
    fn copy_current(&self, from: &str, to: &str) -> bool {
        let current = {
            let state = self.lock();
            Self::current(&state, from)
        };
        let Some(Version {
            bytes: Some(bytes),
            uploaded_sha256,
            ..
        }) = current
        else {
            return false;
        };
        self.push(to, Some(bytes), None, Utc::now(), uploaded_sha256);
        true
    }

    /// Writes a new version of `key`, last modified at `at`.
    pub fn put(&self, key: &str, bytes: &[u8], at: DateTime<Utc>) {
        self.push(key, Some(bytes.to_vec()), None, at, None);
    }

    /// Writes a new version of `key` with the ETag an S3 event for it
    /// carries (unquoted).
    pub fn put_with_etag(&self, key: &str, etag: &str, bytes: Vec<u8>) {
        self.push(
            key,
            Some(bytes),
            Some(format!("\"{etag}\"")),
            Utc::now(),
            None,
        );
    }

    /// Deletes `key` as a plain DeleteObject does: a delete marker on top.
    pub fn delete(&self, key: &str) {
        self.push(key, None, None, Utc::now(), None);
    }

    /// How many versions and delete markers are under `key`.
    pub fn version_count(&self, key: &str) -> usize {
        self.lock().objects.get(key).map_or(0, Vec::len)
    }

    /// The keys written again in place so far.
    pub fn rewrites(&self) -> Vec<String> {
        self.lock().rewrites.clone()
    }

    fn push(
        &self,
        key: &str,
        bytes: Option<Vec<u8>>,
        etag: Option<String>,
        at: DateTime<Utc>,
        uploaded_sha256: Option<String>,
    ) {
        let mut state = self.lock();
        state.next_version += 1;
        let id = format!("v{}", state.next_version);
        state
            .objects
            .entry(key.to_owned())
            .or_default()
            .push(Version {
                etag: etag.unwrap_or_else(|| format!("\"{id}\"")),
                id,
                bytes,
                last_modified: at,
                uploaded_sha256,
            });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("not poisoned")
    }

    fn current(state: &State, key: &str) -> Option<Version> {
        state
            .objects
            .get(key)
            .and_then(|versions| versions.last())
            .filter(|version| version.bytes.is_some())
            .cloned()
    }
}

#[async_trait]
impl PhotoStore for InMemoryBucket {
    fn bucket(&self) -> &str {
        crate::TEST_BUCKET
    }

    async fn presign_upload(
        &self,
        key: &str,
        _content_type: &str,
        _content_length: u64,
        _ttl: Duration,
    ) -> Result<PresignedRequest, PortError> {
        Err(PortError::Permanent(format!(
            "the in-memory bucket has no URLs (asked for {key})"
        )))
    }

    async fn presign_download(&self, key: &str, _ttl: Duration) -> Result<String, PortError> {
        Err(PortError::Permanent(format!(
            "the in-memory bucket has no URLs (asked for {key})"
        )))
    }

    async fn stat(&self, key: &str) -> Result<Option<StoredObject>, PortError> {
        let state = self.lock();
        Ok(Self::current(&state, key).map(|version| StoredObject {
            size: version.bytes.as_ref().map_or(0, Vec::len) as u64,
            etag: Some(version.etag.clone()),
            version_id: Some(version.id.clone()),
            uploaded_sha256: version.uploaded_sha256.clone(),
        }))
    }

    async fn read(&self, key: &str, expected: Option<&str>) -> Result<Option<Vec<u8>>, PortError> {
        let state = self.lock();
        Ok(Self::current(&state, key)
            .filter(|version| expected.is_none_or(|e| e == version.etag))
            .and_then(|version| version.bytes))
    }

    async fn replace_if_unchanged(
        &self,
        key: &str,
        bytes: Vec<u8>,
        _content_type: &str,
        expected: &str,
        uploaded_sha256: &str,
    ) -> Result<bool, PortError> {
        let unchanged = {
            let state = self.lock();
            Self::current(&state, key).is_some_and(|version| version.etag == expected)
        };
        if unchanged {
            let hash = Some(uploaded_sha256.to_owned());
            self.push(key, Some(bytes), None, Utc::now(), hash);
        }
        Ok(unchanged)
    }

    async fn versions(&self, key: &str) -> Result<Vec<ObjectVersion>, PortError> {
        let state = self.lock();
        Ok(state
            .objects
            .get(key)
            .into_iter()
            .flatten()
            .map(|version| ObjectVersion {
                version_id: version.id.clone(),
                delete_marker: version.bytes.is_none(),
                last_modified: Some(version.last_modified),
            })
            .collect())
    }

    async fn delete_version(&self, key: &str, version_id: &str) -> Result<(), PortError> {
        let mut state = self.lock();
        if let Some(versions) = state.objects.get_mut(key) {
            versions.retain(|version| version.id != version_id);
            if versions.is_empty() {
                state.objects.remove(key);
            }
        }
        Ok(())
    }

    /// As ListObjectsV2: current versions only, in key order, after `after`.
    async fn list_photos(&self, after: Option<&str>, limit: u32) -> Result<PhotoPage, PortError> {
        let state = self.lock();
        let mut current = state
            .objects
            .iter()
            .filter(|(key, _)| after.is_none_or(|after| key.as_str() > after))
            .filter_map(|(key, _)| {
                Self::current(&state, key).map(|version| ListedPhoto {
                    key: key.clone(),
                    last_modified: Some(version.last_modified),
                })
            });
        let photos: Vec<ListedPhoto> = current.by_ref().take(limit as usize).collect();
        Ok(PhotoPage {
            truncated: current.next().is_some(),
            photos,
        })
    }

    async fn copy(&self, from: &str, to: &str) -> Result<bool, PortError> {
        Ok(self.copy_current(from, to))
    }

    async fn rewrite_in_place(&self, key: &str, _content_type: &str) -> Result<bool, PortError> {
        if !self.copy_current(key, key) {
            return Ok(false);
        }
        self.lock().rewrites.push(key.to_owned());
        Ok(true)
    }
}
