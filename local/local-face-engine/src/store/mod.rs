//! Collections on disk and in memory.
//!
//! Layout under the data dir:
//!
//! ```text
//! collections/c-<CollectionId>/collection.json   written once (temp file + rename)
//! collections/c-<CollectionId>/faces.log         append-only, one JSON record a line
//! ```
//!
//! A collection is created by writing its directory under a temporary name
//! and renaming it into place, and deleted by renaming it away before
//! removing it, so a crash never leaves half a collection. Every change to the
//! faces is one appended line, synced before the call returns; a torn last
//! line (a crash mid-append) is cut off at the next open. When deleted faces
//! outnumber live ones the log is rewritten (temp file + rename).
//!
//! In memory, embeddings sit in one contiguous `Vec<f32>`, each with an
//! eight-bit code that a search scans first (`codes`: exact, and a quarter
//! of the memory to read); faces are ordered by FaceId for stable
//! pagination.
//!
//! The log's records, its recovery and its compaction are in `log`.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};

mod codes;
mod log;

use self::codes::FaceCodes;
use self::log::{FaceLog, LogRecord, append, compact, encode_embedding, load_faces, sync_parent};
use uuid::Uuid;

use crate::similarity;

/// Length of a dlib face embedding.
pub const EMBEDDING_LEN: usize = 128;

const COLLECTIONS_DIR: &str = "collections";
const COLLECTION_PREFIX: &str = "c-";
const META_FILE: &str = "collection.json";
const LOG_FILE: &str = "faces.log";
/// Rewrite the log once it holds this many dead records and more dead than live.
const COMPACT_MIN_DEAD: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("collection {0} already exists")]
    AlreadyExists(String),
    #[error("collection {0} not found")]
    NotFound(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{path}: corrupt record at line {line}: {reason}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

/// A face box as ratios of the image's width and height.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BoundingBox {
    pub width: f32,
    pub height: f32,
    pub left: f32,
    pub top: f32,
}

/// What the collection keeps about a face besides its embedding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceRecord {
    pub face_id: Uuid,
    pub image_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_image_id: Option<String>,
    pub bounding_box: BoundingBox,
    pub confidence: f32,
}

/// A face and its embedding, as added to a collection.
#[derive(Clone, Debug, PartialEq)]
pub struct NewFace {
    pub record: FaceRecord,
    pub embedding: [f32; EMBEDDING_LEN],
}

/// Metadata written once when a collection is created.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CollectionMeta {
    pub collection_id: String,
    /// Seconds since the Unix epoch.
    pub created_at: f64,
    pub face_model_version: String,
}

/// A match found by [`Collection::search`].
#[derive(Clone, Debug, PartialEq)]
pub struct FaceMatch {
    pub record: FaceRecord,
    pub similarity: f32,
}

/// The faces of one collection, in memory.
#[derive(Default)]
struct FaceSet {
    records: Vec<FaceRecord>,
    /// `records.len() * EMBEDDING_LEN` values; face `i` at `i * EMBEDDING_LEN`.
    embeddings: Vec<f32>,
    /// Slot for slot with `embeddings`.
    codes: FaceCodes,
    slots: BTreeMap<Uuid, usize>,
}

impl FaceSet {
    fn insert(&mut self, face: FaceRecord, embedding: &[f32; EMBEDDING_LEN]) {
        if let Some(&slot) = self.slots.get(&face.face_id) {
            self.records[slot] = face;
            self.embeddings[slot * EMBEDDING_LEN..(slot + 1) * EMBEDDING_LEN]
                .copy_from_slice(embedding);
            self.codes.replace(slot, embedding);
            return;
        }
        self.slots.insert(face.face_id, self.records.len());
        self.records.push(face);
        self.embeddings.extend_from_slice(embedding);
        self.codes.push(embedding);
    }

    fn remove(&mut self, face_id: &Uuid) -> bool {
        let Some(slot) = self.slots.remove(face_id) else {
            return false;
        };
        let last = self.records.len() - 1;
        self.records.swap_remove(slot);
        self.codes.swap_remove(slot);
        if slot != last {
            let (head, tail) = self.embeddings.split_at_mut(last * EMBEDDING_LEN);
            head[slot * EMBEDDING_LEN..(slot + 1) * EMBEDDING_LEN]
                .copy_from_slice(&tail[..EMBEDDING_LEN]);
            self.slots.insert(self.records[slot].face_id, slot);
        }
        self.embeddings.truncate(last * EMBEDDING_LEN);
        true
    }

    fn embedding(&self, slot: usize) -> &[f32] {
        &self.embeddings[slot * EMBEDDING_LEN..(slot + 1) * EMBEDDING_LEN]
    }
}

/// One collection: its metadata, faces and log.
pub struct Collection {
    meta: CollectionMeta,
    dir: PathBuf,
    faces: RwLock<FaceSet>,
    log: Mutex<FaceLog>,
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Collection {
    pub fn meta(&self) -> &CollectionMeta {
        &self.meta
    }

    pub fn face_count(&self) -> usize {
        read(&self.faces).records.len()
    }

    /// Adds faces durably: the log is synced before they become visible.
    pub fn add_faces(&self, faces: &[NewFace]) -> Result<(), StoreError> {
        if faces.is_empty() {
            return Ok(());
        }
        let mut lines = String::new();
        for face in faces {
            let record = LogRecord::Add {
                face: face.record.clone(),
                embedding: encode_embedding(&face.embedding),
            };
            lines.push_str(&serde_json::to_string(&record).expect("log records serialize"));
            lines.push('\n');
        }
        let mut log = lock(&self.log);
        append(&mut log, &lines)?;
        let mut set = write(&self.faces);
        for face in faces {
            if set.slots.contains_key(&face.record.face_id) {
                log.dead_records += 1;
            }
            set.insert(face.record.clone(), &face.embedding);
        }
        Ok(())
    }

    /// Deletes the faces that exist; returns which of `face_ids` were deleted.
    pub fn delete_faces(&self, face_ids: &[Uuid]) -> Result<Vec<bool>, StoreError> {
        let mut log = lock(&self.log);
        let present: Vec<bool> = {
            let set = read(&self.faces);
            face_ids
                .iter()
                .map(|id| set.slots.contains_key(id))
                .collect()
        };
        let mut lines = String::new();
        for (id, _) in face_ids
            .iter()
            .zip(&present)
            .filter(|(_, present)| **present)
        {
            let record = LogRecord::Delete { face_id: *id };
            lines.push_str(&serde_json::to_string(&record).expect("log records serialize"));
            lines.push('\n');
        }
        if lines.is_empty() {
            return Ok(present);
        }
        append(&mut log, &lines)?;
        let mut set = write(&self.faces);
        let mut deleted = Vec::with_capacity(face_ids.len());
        for id in face_ids {
            let removed = set.remove(id);
            if removed {
                // The delete line and the add line it cancels are both dead now.
                log.dead_records += 2;
            }
            deleted.push(removed);
        }
        if log.dead_records >= COMPACT_MIN_DEAD
            && log.dead_records > set.records.len()
            && let Err(error) = compact(&mut log, &set)
        {
            // The log is still correct, only longer than needed.
            tracing::warn!(collection_id = %self.meta.collection_id, %error, "log compaction failed");
        }
        Ok(deleted)
    }

    pub fn get(&self, face_id: &Uuid) -> Option<(FaceRecord, [f32; EMBEDDING_LEN])> {
        let set = read(&self.faces);
        let slot = *set.slots.get(face_id)?;
        let mut embedding = [0f32; EMBEDDING_LEN];
        embedding.copy_from_slice(set.embedding(slot));
        Some((set.records[slot].clone(), embedding))
    }

    /// Faces in FaceId order starting after `after`; the second value says
    /// whether more follow.
    pub fn list(&self, after: Option<Uuid>, limit: usize) -> (Vec<FaceRecord>, bool) {
        let set = read(&self.faces);
        let range = match after {
            Some(after) => set
                .slots
                .range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded)),
            None => set.slots.range(..),
        };
        let mut page: Vec<FaceRecord> = Vec::with_capacity(limit.min(set.records.len()));
        let mut more = false;
        for (_, &slot) in range {
            if page.len() == limit {
                more = true;
                break;
            }
            page.push(set.records[slot].clone());
        }
        (page, more)
    }

    /// Faces among `face_ids` that exist, in FaceId order.
    pub fn select(&self, face_ids: &[Uuid]) -> Vec<FaceRecord> {
        let set = read(&self.faces);
        let mut ids = face_ids.to_vec();
        ids.sort();
        ids.dedup();
        ids.iter()
            .filter_map(|id| set.slots.get(id).map(|&slot| set.records[slot].clone()))
            .collect()
    }

    /// Nearest neighbours: every face at or above `threshold` similarity,
    /// best first, at most `max_matches`, skipping `exclude`. The codes
    /// pick the candidates; their embeddings rank them, so the answer is
    /// the [`search_exhaustive`](Self::search_exhaustive) one.
    pub fn search(
        &self,
        query: &[f32; EMBEDDING_LEN],
        threshold: f32,
        max_matches: usize,
        exclude: Option<Uuid>,
    ) -> Vec<FaceMatch> {
        let Some(max_distance) = similarity::max_distance_for(threshold) else {
            return Vec::new();
        };
        let set = read(&self.faces);
        // One more when one face is to be skipped: it may be among them.
        let keep = max_matches + usize::from(exclude.is_some());
        let candidates = set.codes.candidates(query, max_distance, keep);
        rank(&set, candidates, query, threshold, max_matches, exclude)
    }

    /// The same answer as [`search`](Self::search), from every embedding:
    /// what the codes are measured and tested against.
    pub fn search_exhaustive(
        &self,
        query: &[f32; EMBEDDING_LEN],
        threshold: f32,
        max_matches: usize,
        exclude: Option<Uuid>,
    ) -> Vec<FaceMatch> {
        let set = read(&self.faces);
        let every_slot = 0..set.records.len();
        rank(&set, every_slot, query, threshold, max_matches, exclude)
    }
}

/// The faces among `slots` at or above `threshold` similarity to `query`,
/// by their embeddings, best first, at most `max_matches`, skipping `exclude`.
fn rank(
    set: &FaceSet,
    slots: impl IntoIterator<Item = usize>,
    query: &[f32; EMBEDDING_LEN],
    threshold: f32,
    max_matches: usize,
    exclude: Option<Uuid>,
) -> Vec<FaceMatch> {
    let Some(max_distance) = similarity::max_distance_for(threshold) else {
        return Vec::new();
    };
    let max_squared = max_distance * max_distance;
    let mut candidates: Vec<(f32, usize)> = slots
        .into_iter()
        .filter_map(|slot| {
            let squared = squared_distance(query, set.embedding(slot));
            (squared <= max_squared).then_some((squared, slot))
        })
        .collect();
    candidates.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    candidates
        .into_iter()
        .filter(|&(_, slot)| Some(set.records[slot].face_id) != exclude)
        .map(|(squared, slot)| FaceMatch {
            record: set.records[slot].clone(),
            similarity: similarity::similarity_from_distance(squared.sqrt()),
        })
        .filter(|m| m.similarity >= threshold)
        .take(max_matches)
        .collect()
}

/// Squared Euclidean distance, written so the compiler vectorises it.
pub fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    for (a, b) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for i in 0..8 {
            let d = a[i] - b[i];
            lanes[i] += d * d;
        }
    }
    lanes.iter().sum()
}

/// All collections under a data dir.
pub struct CollectionStore {
    root: PathBuf,
    collections: RwLock<BTreeMap<String, Arc<Collection>>>,
}

impl CollectionStore {
    /// Opens (creating if needed) the store and loads every collection.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let root = data_dir.join(COLLECTIONS_DIR);
        fs::create_dir_all(&root).map_err(io_error(format!("creating {}", root.display())))?;
        let mut collections = BTreeMap::new();
        let entries =
            fs::read_dir(&root).map_err(io_error(format!("listing {}", root.display())))?;
        for entry in entries {
            let entry = entry.map_err(io_error(format!("listing {}", root.display())))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = entry.path();
            if let Some(collection_id) = name.strip_prefix(COLLECTION_PREFIX) {
                let collection = Self::load_collection(&path, collection_id)?;
                collections.insert(collection_id.to_owned(), Arc::new(collection));
            } else if name.starts_with('.') {
                // Leftover of an interrupted create or delete.
                if let Err(error) = fs::remove_dir_all(&path) {
                    tracing::warn!(path = %path.display(), %error, "could not remove leftover directory");
                }
            }
        }
        Ok(Self {
            root,
            collections: RwLock::new(collections),
        })
    }

    fn load_collection(dir: &Path, collection_id: &str) -> Result<Collection, StoreError> {
        let meta_path = dir.join(META_FILE);
        let text = fs::read_to_string(&meta_path)
            .map_err(io_error(format!("reading {}", meta_path.display())))?;
        let meta: CollectionMeta =
            serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                path: meta_path.clone(),
                line: 1,
                reason: e.to_string(),
            })?;
        if meta.collection_id != collection_id {
            return Err(StoreError::Corrupt {
                path: meta_path,
                line: 1,
                reason: format!(
                    "names collection {} but lives in the folder of {collection_id}",
                    meta.collection_id
                ),
            });
        }
        let log_path = dir.join(LOG_FILE);
        let (set, dead_records) = load_faces(&log_path)?;
        let file = OpenOptions::new()
            .append(true)
            .open(&log_path)
            .map_err(io_error(format!("opening {}", log_path.display())))?;
        let mut log = FaceLog {
            file,
            path: log_path,
            dead_records,
        };
        if dead_records >= COMPACT_MIN_DEAD && dead_records > set.records.len() {
            compact(&mut log, &set)?;
        }
        tracing::info!(
            collection_id,
            faces = set.records.len(),
            "collection loaded"
        );
        Ok(Collection {
            meta,
            dir: dir.to_owned(),
            faces: RwLock::new(set),
            log: Mutex::new(log),
        })
    }

    pub fn get(&self, collection_id: &str) -> Result<Arc<Collection>, StoreError> {
        read(&self.collections)
            .get(collection_id)
            .cloned()
            .ok_or_else(|| StoreError::NotFound(collection_id.to_owned()))
    }

    /// Creates an empty collection. The caller has validated the id.
    pub fn create(&self, meta: CollectionMeta) -> Result<Arc<Collection>, StoreError> {
        let mut collections = write(&self.collections);
        let collection_id = meta.collection_id.clone();
        if collections.contains_key(&collection_id) {
            return Err(StoreError::AlreadyExists(collection_id));
        }
        let staging = self.root.join(format!(".new-{}", Uuid::new_v4()));
        let dir = self
            .root
            .join(format!("{COLLECTION_PREFIX}{collection_id}"));
        let result = (|| {
            let context = || format!("creating collection {collection_id}");
            fs::create_dir(&staging).map_err(io_error(context()))?;
            let meta_path = staging.join(META_FILE);
            let mut file = File::create(&meta_path).map_err(io_error(context()))?;
            file.write_all(&serde_json::to_vec_pretty(&meta).expect("metadata serializes"))
                .and_then(|()| file.sync_all())
                .map_err(io_error(context()))?;
            File::create(staging.join(LOG_FILE))
                .and_then(|f| f.sync_all())
                .map_err(io_error(context()))?;
            sync_parent(&meta_path)?;
            fs::rename(&staging, &dir).map_err(io_error(context()))?;
            sync_parent(&dir)?;
            Self::load_collection(&dir, &collection_id)
        })();
        let collection = match result {
            Ok(collection) => Arc::new(collection),
            Err(error) => {
                let _ = fs::remove_dir_all(&staging);
                return Err(error);
            }
        };
        collections.insert(collection_id, collection.clone());
        Ok(collection)
    }

    pub fn delete(&self, collection_id: &str) -> Result<(), StoreError> {
        let mut collections = write(&self.collections);
        let collection = collections
            .get(collection_id)
            .cloned()
            .ok_or_else(|| StoreError::NotFound(collection_id.to_owned()))?;
        let trash = self.root.join(format!(".deleted-{}", Uuid::new_v4()));
        fs::rename(&collection.dir, &trash)
            .map_err(io_error(format!("deleting collection {collection_id}")))?;
        sync_parent(&trash)?;
        collections.remove(collection_id);
        drop(collections);
        if let Err(error) = fs::remove_dir_all(&trash) {
            // Removed from view already; the next open sweeps it.
            tracing::warn!(path = %trash.display(), %error, "could not remove deleted collection");
        }
        Ok(())
    }

    /// Collection ids in order, after `after`, at most `limit`; whether more follow.
    pub fn list(&self, after: Option<&str>, limit: usize) -> (Vec<(String, String)>, bool) {
        let collections = read(&self.collections);
        let mut page = Vec::new();
        let mut more = false;
        let iter = collections
            .iter()
            .filter(|(id, _)| after.is_none_or(|after| id.as_str() > after));
        for (id, collection) in iter {
            if page.len() == limit {
                more = true;
                break;
            }
            page.push((id.clone(), collection.meta.face_model_version.clone()));
        }
        (page, more)
    }
}

#[cfg(test)]
mod tests;
