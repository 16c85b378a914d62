//! Object versions of versioned buckets, kept beside the file system store.
//!
//! The file system store (`s3s-fs`) holds each key's current object. Here,
//! per key, an index lists every version oldest first (delete markers
//! included), and each version's bytes are a hard link to the file the
//! store wrote for it: the store replaces an object by renaming a new file
//! over it, so the old inode, and with it the old version, stays intact.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One version of a key, or a delete marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Version {
    pub id: String,
    pub delete_marker: bool,
    pub e_tag: Option<String>,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
    pub content_type: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    /// Oldest first.
    versions: Vec<Version>,
}

/// The versions of every key of the versioned buckets.
#[derive(Debug, Clone)]
pub(crate) struct VersionStore {
    dir: PathBuf,
}

/// A new version id: 32 URL-safe characters, as S3's are.
pub(crate) fn new_version_id() -> String {
    let bytes: [u8; 24] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn encode(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name)
}

impl VersionStore {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn key_dir(&self, bucket: &str, key: &str) -> PathBuf {
        self.dir.join(encode(bucket)).join(encode(key))
    }

    /// Where a version's bytes are.
    pub(crate) fn data_path(&self, bucket: &str, key: &str, id: &str) -> PathBuf {
        self.key_dir(bucket, key).join(format!("{id}.data"))
    }

    /// Every version of `key`, oldest first.
    pub(crate) async fn versions(&self, bucket: &str, key: &str) -> io::Result<Vec<Version>> {
        Ok(self.read_index(bucket, key).await?.versions)
    }

    pub(crate) async fn latest(&self, bucket: &str, key: &str) -> io::Result<Option<Version>> {
        Ok(self.read_index(bucket, key).await?.versions.pop())
    }

    pub(crate) async fn find(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
    ) -> io::Result<Option<(Version, bool)>> {
        let versions = self.versions(bucket, key).await?;
        let latest = versions.last().map(|v| v.id.clone());
        Ok(versions.into_iter().find(|v| v.id == id).map(|v| {
            let is_latest = latest.as_deref() == Some(v.id.as_str());
            (v, is_latest)
        }))
    }

    /// Keeps the object just written at `current` as the newest version.
    pub(crate) async fn add(
        &self,
        bucket: &str,
        key: &str,
        current: &Path,
        version: Version,
    ) -> io::Result<()> {
        let dir = self.key_dir(bucket, key);
        tokio::fs::create_dir_all(&dir).await?;
        let data = self.data_path(bucket, key, &version.id);
        if tokio::fs::hard_link(current, &data).await.is_err() {
            tokio::fs::copy(current, &data).await?;
        }
        let mut index = self.read_index(bucket, key).await?;
        index.versions.push(version);
        self.write_index(bucket, key, &index).await
    }

    /// Adds a delete marker as the newest version.
    pub(crate) async fn add_delete_marker(&self, bucket: &str, key: &str) -> io::Result<Version> {
        tokio::fs::create_dir_all(self.key_dir(bucket, key)).await?;
        let marker = Version {
            id: new_version_id(),
            delete_marker: true,
            e_tag: None,
            size: 0,
            last_modified: Utc::now(),
            content_type: None,
            metadata: BTreeMap::new(),
        };
        let mut index = self.read_index(bucket, key).await?;
        index.versions.push(marker.clone());
        self.write_index(bucket, key, &index).await?;
        Ok(marker)
    }

    /// Removes one version for good; returns it and whether it was the latest.
    pub(crate) async fn remove(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
    ) -> io::Result<Option<(Version, bool)>> {
        let mut index = self.read_index(bucket, key).await?;
        let Some(position) = index.versions.iter().position(|v| v.id == id) else {
            return Ok(None);
        };
        let was_latest = position + 1 == index.versions.len();
        let removed = index.versions.remove(position);
        if !removed.delete_marker {
            match tokio::fs::remove_file(self.data_path(bucket, key, id)).await {
                Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
                _ => {}
            }
        }
        if index.versions.is_empty() {
            tokio::fs::remove_dir_all(self.key_dir(bucket, key)).await?;
        } else {
            self.write_index(bucket, key, &index).await?;
        }
        Ok(Some((removed, was_latest)))
    }

    /// The keys of a bucket that have versions, sorted.
    pub(crate) async fn keys(&self, bucket: &str) -> io::Result<Vec<String>> {
        let dir = self.dir.join(encode(bucket));
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        let mut keys = Vec::new();
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name();
            let decoded = name
                .to_str()
                .and_then(|n| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(n)
                        .ok()
                })
                .and_then(|bytes| String::from_utf8(bytes).ok());
            if let Some(key) = decoded {
                keys.push(key);
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn read_index(&self, bucket: &str, key: &str) -> io::Result<Index> {
        let path = self.key_dir(bucket, key).join("index.json");
        match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Index::default()),
            Err(error) => Err(error),
        }
    }

    /// Atomically: a temporary file, then a rename.
    async fn write_index(&self, bucket: &str, key: &str, index: &Index) -> io::Result<()> {
        let dir = self.key_dir(bucket, key);
        let temporary = dir.join("index.json.tmp");
        let bytes = serde_json::to_vec(index).map_err(io::Error::other)?;
        tokio::fs::write(&temporary, bytes).await?;
        tokio::fs::rename(&temporary, dir.join("index.json")).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(id: &str) -> Version {
        Version {
            id: id.to_owned(),
            delete_marker: false,
            e_tag: Some(format!("\"{id}\"")),
            size: 1,
            last_modified: Utc::now(),
            content_type: Some("image/jpeg".into()),
            metadata: BTreeMap::new(),
        }
    }

    #[tokio::test]
    async fn versions_survive_the_current_file_being_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = VersionStore::new(dir.path().join("versions"));
        let current = dir.path().join("current");
        tokio::fs::write(&current, b"one").await.unwrap();
        store
            .add("photos", "a b/ü.jpg", &current, version("v1"))
            .await
            .unwrap();
        // The store replaces files by renaming a new one over them.
        let next = dir.path().join("next");
        tokio::fs::write(&next, b"two").await.unwrap();
        tokio::fs::rename(&next, &current).await.unwrap();
        store
            .add("photos", "a b/ü.jpg", &current, version("v2"))
            .await
            .unwrap();

        let data = |id| tokio::fs::read(store.data_path("photos", "a b/ü.jpg", id));
        assert_eq!(data("v1").await.unwrap(), b"one");
        assert_eq!(data("v2").await.unwrap(), b"two");
        assert_eq!(store.keys("photos").await.unwrap(), ["a b/ü.jpg"]);
        let marker = store
            .add_delete_marker("photos", "a b/ü.jpg")
            .await
            .unwrap();
        let latest = store.latest("photos", "a b/ü.jpg").await.unwrap().unwrap();
        assert!(latest.delete_marker);
        assert_eq!(latest.id, marker.id);
        let (removed, was_latest) = store
            .remove("photos", "a b/ü.jpg", &marker.id)
            .await
            .unwrap()
            .unwrap();
        assert!(removed.delete_marker && was_latest);
        let (_, v1_latest) = store
            .find("photos", "a b/ü.jpg", "v1")
            .await
            .unwrap()
            .unwrap();
        assert!(!v1_latest);
        store.remove("photos", "a b/ü.jpg", "v1").await.unwrap();
        store.remove("photos", "a b/ü.jpg", "v2").await.unwrap();
        assert!(store.keys("photos").await.unwrap().is_empty());
    }
}
