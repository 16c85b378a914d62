//! The keys of each bucket, sorted, so that a page of a listing costs a
//! page. S3 lists from an index of its own; the file system store walks,
//! stats and sorts the whole bucket folder for every page, so that a pass
//! over a bucket of a million photos, a thousand keys a page, walked a
//! million files a thousand times.
//!
//! Loaded by one walk of each bucket folder at start; every creation and
//! deletion updates it, under the key's lock. It holds the keys only (about
//! a hundred bytes each): a listed object's size and time are read from
//! its file, as the file system store reads them.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::ops::Bound;
use std::path::Path;
use std::sync::{PoisonError, RwLock};

/// The sorted keys of every bucket the store serves.
pub(crate) struct KeyIndex {
    buckets: HashMap<String, RwLock<BTreeSet<Box<str>>>>,
}

/// Keys of a listing page, and whether keys after them remain.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct KeyPage {
    pub keys: Vec<String>,
    pub truncated: bool,
}

impl KeyIndex {
    /// Walks the folder of each of `buckets` under `root`.
    pub(crate) fn load<'a>(
        root: &Path,
        buckets: impl IntoIterator<Item = &'a str>,
    ) -> io::Result<Self> {
        let mut loaded = HashMap::new();
        for bucket in buckets {
            let mut keys = BTreeSet::new();
            walk(&root.join(bucket), "", &mut keys)?;
            loaded.insert(bucket.to_owned(), RwLock::new(keys));
        }
        Ok(Self { buckets: loaded })
    }

    /// Whether `bucket` is one of the store's.
    pub(crate) fn serves(&self, bucket: &str) -> bool {
        self.buckets.contains_key(bucket)
    }

    pub(crate) fn insert(&self, bucket: &str, key: &str) {
        if let Some(keys) = self.buckets.get(bucket) {
            keys.write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key.into());
        }
    }

    pub(crate) fn remove(&self, bucket: &str, key: &str) {
        if let Some(keys) = self.buckets.get(bucket) {
            keys.write()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(key);
        }
    }

    /// Up to `max_keys` keys that begin with `prefix`, after `start_after`;
    /// `None` for a bucket the store does not serve.
    pub(crate) fn page(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        max_keys: usize,
    ) -> Option<KeyPage> {
        let keys = self
            .buckets
            .get(bucket)?
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        // The first key that can match: the prefix itself, or after the marker.
        let from = match start_after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let mut matching = keys
            .range::<str, _>((from, Bound::Unbounded))
            .take_while(|key| key.starts_with(prefix));
        let page: Vec<String> = matching
            .by_ref()
            .take(max_keys)
            .map(|key| key.to_string())
            .collect();
        let truncated = max_keys > 0 && matching.next().is_some();
        Some(KeyPage {
            keys: page,
            truncated,
        })
    }
}

/// Every file under `dir`, as keys: its path below the bucket folder, `/`
/// between folders (names that are not UTF-8 are not keys S3 could hold).
fn walk(dir: &Path, prefix: &str, keys: &mut BTreeSet<Box<str>>) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let key = format!("{prefix}{name}");
        if entry.file_type()?.is_dir() {
            walk(&entry.path(), &format!("{key}/"), keys)?;
        } else {
            keys.insert(key.into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_of(keys: &[&str]) -> KeyIndex {
        let root = tempfile::tempdir().unwrap();
        for key in keys {
            let path = root.path().join("photos").join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        KeyIndex::load(root.path(), ["photos", "empty"]).unwrap()
    }

    fn keys(page: &KeyPage) -> Vec<&str> {
        page.keys.iter().map(String::as_str).collect()
    }

    #[test]
    fn the_walk_finds_every_key_folders_included_in_byte_order() {
        let index = index_of(&["b.jpg", "a/z.jpg", "a/b/c.jpg", "A.jpg", "é.jpg"]);
        let page = index.page("photos", "", None, 1000).unwrap();
        assert_eq!(
            keys(&page),
            ["A.jpg", "a/b/c.jpg", "a/z.jpg", "b.jpg", "é.jpg"]
        );
        assert!(!page.truncated);
        assert_eq!(index.page("empty", "", None, 1000).unwrap().keys.len(), 0);
        assert!(index.page("unknown", "", None, 1000).is_none());
    }

    #[test]
    fn pages_follow_the_marker_and_the_prefix() {
        let index = index_of(&["a1", "a2", "a3", "b1", "b2"]);
        let first = index.page("photos", "", None, 2).unwrap();
        assert_eq!((keys(&first), first.truncated), (vec!["a1", "a2"], true));
        let next = index.page("photos", "", Some("a2"), 2).unwrap();
        assert_eq!((keys(&next), next.truncated), (vec!["a3", "b1"], true));
        let last = index.page("photos", "", Some("b1"), 2).unwrap();
        assert_eq!((keys(&last), last.truncated), (vec!["b2"], false));

        let prefixed = index.page("photos", "b", None, 5).unwrap();
        assert_eq!(
            (keys(&prefixed), prefixed.truncated),
            (vec!["b1", "b2"], false)
        );
        // A marker before the prefix starts at the prefix; one past it, nowhere.
        assert_eq!(
            keys(&index.page("photos", "b", Some("a"), 5).unwrap()),
            ["b1", "b2"]
        );
        assert!(
            index
                .page("photos", "a", Some("a9"), 5)
                .unwrap()
                .keys
                .is_empty()
        );
        // A full page that is the prefix's last is not truncated.
        let exact = index.page("photos", "a", None, 3).unwrap();
        assert_eq!(
            (keys(&exact), exact.truncated),
            (vec!["a1", "a2", "a3"], false)
        );
        assert!(!index.page("photos", "", None, 0).unwrap().truncated);
    }

    #[test]
    fn creations_and_deletions_update_the_index() {
        let index = index_of(&["a"]);
        index.insert("photos", "c");
        index.insert("photos", "b");
        index.insert("photos", "b");
        index.remove("photos", "a");
        index.remove("photos", "missing");
        index.insert("unknown", "x");
        assert_eq!(
            keys(&index.page("photos", "", None, 10).unwrap()),
            ["b", "c"]
        );
    }
}
