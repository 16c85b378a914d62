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
//! In memory, embeddings sit in one contiguous `Vec<f32>` so a search is a
//! straight scan; faces are ordered by FaceId for stable pagination.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
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

/// One line of `faces.log`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum LogRecord {
    Add {
        #[serde(flatten)]
        face: FaceRecord,
        /// Little-endian f32s, base64.
        embedding: String,
    },
    Delete {
        face_id: Uuid,
    },
}

fn encode_embedding(embedding: &[f32; EMBEDDING_LEN]) -> String {
    let bytes: Vec<u8> = embedding.iter().flat_map(|v| v.to_le_bytes()).collect();
    STANDARD.encode(bytes)
}

fn decode_embedding(text: &str) -> Result<[f32; EMBEDDING_LEN], String> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| format!("embedding is not base64: {e}"))?;
    if bytes.len() != EMBEDDING_LEN * 4 {
        return Err(format!(
            "embedding has {} bytes, expected {}",
            bytes.len(),
            EMBEDDING_LEN * 4
        ));
    }
    let mut embedding = [0f32; EMBEDDING_LEN];
    for (value, chunk) in embedding.iter_mut().zip(bytes.chunks_exact(4)) {
        *value = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    Ok(embedding)
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
    slots: BTreeMap<Uuid, usize>,
}

impl FaceSet {
    fn insert(&mut self, face: FaceRecord, embedding: &[f32; EMBEDDING_LEN]) {
        if let Some(&slot) = self.slots.get(&face.face_id) {
            self.records[slot] = face;
            self.embeddings[slot * EMBEDDING_LEN..(slot + 1) * EMBEDDING_LEN]
                .copy_from_slice(embedding);
            return;
        }
        self.slots.insert(face.face_id, self.records.len());
        self.records.push(face);
        self.embeddings.extend_from_slice(embedding);
    }

    fn remove(&mut self, face_id: &Uuid) -> bool {
        let Some(slot) = self.slots.remove(face_id) else {
            return false;
        };
        let last = self.records.len() - 1;
        self.records.swap_remove(slot);
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

struct FaceLog {
    file: File,
    path: PathBuf,
    /// Delete records plus overwritten adds: lines that no longer describe a live face.
    dead_records: usize,
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

    /// Brute-force nearest neighbours: every face at or above `threshold`
    /// similarity, best first, at most `max_matches`, skipping `exclude`.
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
        let max_squared = max_distance * max_distance;
        let set = read(&self.faces);
        let mut candidates: Vec<(f32, usize)> = set
            .embeddings
            .chunks_exact(EMBEDDING_LEN)
            .enumerate()
            .filter_map(|(slot, stored)| {
                let squared = squared_distance(query, stored);
                (squared <= max_squared).then_some((squared, slot))
            })
            .collect();
        candidates.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
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

fn append(log: &mut FaceLog, lines: &str) -> Result<(), StoreError> {
    let context = || format!("appending to {}", log.path.display());
    log.file
        .write_all(lines.as_bytes())
        .map_err(io_error(context()))?;
    log.file.sync_data().map_err(io_error(context()))
}

/// Rewrites the log with only the live faces.
fn compact(log: &mut FaceLog, set: &FaceSet) -> Result<(), StoreError> {
    let temp = log.path.with_extension("log.compacting");
    let context = || format!("compacting {}", log.path.display());
    {
        let file = File::create(&temp).map_err(io_error(context()))?;
        let mut writer = BufWriter::new(file);
        for (slot, record) in set.records.iter().enumerate() {
            let mut embedding = [0f32; EMBEDDING_LEN];
            embedding.copy_from_slice(set.embedding(slot));
            let line = LogRecord::Add {
                face: record.clone(),
                embedding: encode_embedding(&embedding),
            };
            serde_json::to_writer(&mut writer, &line).map_err(|e| io_error(context())(e.into()))?;
            writer.write_all(b"\n").map_err(io_error(context()))?;
        }
        let file = writer
            .into_inner()
            .map_err(|e| io_error(context())(e.into_error()))?;
        file.sync_all().map_err(io_error(context()))?;
    }
    fs::rename(&temp, &log.path).map_err(io_error(context()))?;
    sync_parent(&log.path)?;
    log.file = OpenOptions::new()
        .append(true)
        .open(&log.path)
        .map_err(io_error(context()))?;
    log.dead_records = 0;
    Ok(())
}

fn sync_parent(path: &Path) -> Result<(), StoreError> {
    if let Some(parent) = path.parent() {
        File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(io_error(format!("syncing {}", parent.display())))?;
    }
    Ok(())
}

/// Reads a collection's log, cutting off a torn last line.
fn load_faces(path: &Path) -> Result<(FaceSet, usize), StoreError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_error(format!("opening {}", path.display())))?;
    let mut reader = BufReader::new(&mut file);
    let mut set = FaceSet::default();
    let mut dead = 0;
    let mut good_len: u64 = 0;
    let mut line = String::new();
    let mut number = 0;
    let mut torn = false;
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .map_err(io_error(format!("reading {}", path.display())))?;
        if read == 0 {
            break;
        }
        number += 1;
        let complete = line.ends_with('\n');
        let parsed = serde_json::from_str::<LogRecord>(line.trim_end()).map_err(|e| e.to_string());
        let record = match (parsed, complete) {
            (Ok(record), true) => record,
            // Only the very last line can be torn by a crash mid-append.
            (_, false) => {
                torn = true;
                break;
            }
            (Err(reason), true) => {
                return Err(StoreError::Corrupt {
                    path: path.to_owned(),
                    line: number,
                    reason,
                });
            }
        };
        match record {
            LogRecord::Add { face, embedding } => {
                let embedding =
                    decode_embedding(&embedding).map_err(|reason| StoreError::Corrupt {
                        path: path.to_owned(),
                        line: number,
                        reason,
                    })?;
                if set.slots.contains_key(&face.face_id) {
                    dead += 1;
                }
                set.insert(face, &embedding);
            }
            LogRecord::Delete { face_id } => {
                if set.remove(&face_id) {
                    dead += 2;
                } else {
                    dead += 1;
                }
            }
        }
        good_len += read as u64;
    }
    drop(reader);
    if torn {
        tracing::warn!(path = %path.display(), line = number, "cutting off a torn last record");
        file.set_len(good_len)
            .and_then(|()| file.seek(SeekFrom::End(0)).map(|_| ()))
            .and_then(|()| file.sync_all())
            .map_err(io_error(format!("repairing {}", path.display())))?;
    }
    Ok((set, dead))
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
mod tests {
    use super::*;

    fn meta(id: &str) -> CollectionMeta {
        CollectionMeta {
            collection_id: id.to_owned(),
            created_at: 1_700_000_000.0,
            face_model_version: "test".to_owned(),
        }
    }

    fn face(seed: f32) -> NewFace {
        let mut embedding = [0f32; EMBEDDING_LEN];
        embedding[0] = seed;
        NewFace {
            record: FaceRecord {
                face_id: Uuid::new_v4(),
                image_id: Uuid::new_v4(),
                external_image_id: Some(format!("img-{seed}")),
                bounding_box: BoundingBox {
                    width: 0.5,
                    height: 0.5,
                    left: 0.25,
                    top: 0.25,
                },
                confidence: 99.0,
            },
            embedding,
        }
    }

    #[test]
    fn faces_survive_reopen_and_deletes_stick() {
        let dir = tempfile::tempdir().unwrap();
        let faces: Vec<NewFace> = (0..5).map(|i| face(i as f32 * 0.1)).collect();
        {
            let store = CollectionStore::open(dir.path()).unwrap();
            let collection = store.create(meta("people")).unwrap();
            collection.add_faces(&faces).unwrap();
            let deleted = collection
                .delete_faces(&[faces[1].record.face_id, Uuid::new_v4()])
                .unwrap();
            assert_eq!(deleted, vec![true, false]);
        }
        let store = CollectionStore::open(dir.path()).unwrap();
        let collection = store.get("people").unwrap();
        assert_eq!(collection.face_count(), 4);
        assert!(collection.get(&faces[1].record.face_id).is_none());
        let (record, embedding) = collection.get(&faces[3].record.face_id).unwrap();
        assert_eq!(record, faces[3].record);
        assert_eq!(embedding, faces[3].embedding);
    }

    #[test]
    fn torn_last_line_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let kept = face(0.1);
        {
            let store = CollectionStore::open(dir.path()).unwrap();
            store
                .create(meta("people"))
                .unwrap()
                .add_faces(std::slice::from_ref(&kept))
                .unwrap();
        }
        let log = dir.path().join("collections/c-people/faces.log");
        let mut file = OpenOptions::new().append(true).open(&log).unwrap();
        file.write_all(b"{\"op\":\"add\",\"face_id\":").unwrap();
        drop(file);

        let store = CollectionStore::open(dir.path()).unwrap();
        let collection = store.get("people").unwrap();
        assert_eq!(collection.face_count(), 1);
        collection.add_faces(&[face(0.2)]).unwrap();
        drop(store);
        let store = CollectionStore::open(dir.path()).unwrap();
        assert_eq!(store.get("people").unwrap().face_count(), 2);
    }

    #[test]
    fn corrupt_middle_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = CollectionStore::open(dir.path()).unwrap();
            store
                .create(meta("people"))
                .unwrap()
                .add_faces(&[face(0.1)])
                .unwrap();
        }
        let log = dir.path().join("collections/c-people/faces.log");
        let text = fs::read_to_string(&log).unwrap();
        fs::write(&log, format!("garbage\n{text}")).unwrap();
        let error = CollectionStore::open(dir.path()).err().unwrap();
        assert!(
            matches!(error, StoreError::Corrupt { line: 1, .. }),
            "{error}"
        );
    }

    #[test]
    fn many_deletes_compact_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = CollectionStore::open(dir.path()).unwrap();
        let collection = store.create(meta("people")).unwrap();
        let faces: Vec<NewFace> = (0..COMPACT_MIN_DEAD + 10).map(|i| face(i as f32)).collect();
        collection.add_faces(&faces).unwrap();
        let ids: Vec<Uuid> = faces.iter().skip(5).map(|f| f.record.face_id).collect();
        collection.delete_faces(&ids).unwrap();
        let log = dir.path().join("collections/c-people/faces.log");
        let lines = fs::read_to_string(&log).unwrap().lines().count();
        assert_eq!(lines, 5);
        drop(store);
        let store = CollectionStore::open(dir.path()).unwrap();
        assert_eq!(store.get("people").unwrap().face_count(), 5);
    }

    #[test]
    fn create_delete_and_list_collections() {
        let dir = tempfile::tempdir().unwrap();
        let store = CollectionStore::open(dir.path()).unwrap();
        for id in ["b", "a", "c"] {
            store.create(meta(id)).unwrap();
        }
        assert!(matches!(
            store.create(meta("a")),
            Err(StoreError::AlreadyExists(_))
        ));
        let (page, more) = store.list(None, 2);
        assert_eq!(
            page.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(more);
        let (page, more) = store.list(Some("b"), 2);
        assert_eq!(page.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), ["c"]);
        assert!(!more);
        store.delete("b").unwrap();
        assert!(matches!(store.delete("b"), Err(StoreError::NotFound(_))));
        drop(store);
        let store = CollectionStore::open(dir.path()).unwrap();
        let (page, _) = store.list(None, 10);
        assert_eq!(
            page.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
            ["a", "c"]
        );
    }

    #[test]
    fn search_ranks_by_distance_and_applies_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let store = CollectionStore::open(dir.path()).unwrap();
        let collection = store.create(meta("people")).unwrap();
        let faces = [face(0.0), face(0.3), face(0.5), face(0.9)];
        collection.add_faces(&faces).unwrap();
        let query = faces[0].embedding;
        let matches = collection.search(&query, 80.0, 10, None);
        let ids: Vec<Uuid> = matches.iter().map(|m| m.record.face_id).collect();
        assert_eq!(ids, [0, 1, 2].map(|i| faces[i].record.face_id));
        assert!(
            matches
                .windows(2)
                .all(|w| w[0].similarity >= w[1].similarity)
        );
        let excluded = collection.search(&query, 80.0, 1, Some(faces[0].record.face_id));
        assert_eq!(excluded[0].record.face_id, faces[1].record.face_id);
        assert!(collection.search(&query, 100.0, 10, None).is_empty());
        assert_eq!(collection.search(&query, 0.0, 10, None).len(), 4);
    }

    #[test]
    fn list_pages_in_face_id_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = CollectionStore::open(dir.path()).unwrap();
        let collection = store.create(meta("people")).unwrap();
        let faces: Vec<NewFace> = (0..7).map(|i| face(i as f32)).collect();
        collection.add_faces(&faces).unwrap();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let (page, more) = collection.list(after, 3);
            seen.extend(page.iter().map(|r| r.face_id));
            after = page.last().map(|r| r.face_id);
            if !more {
                break;
            }
        }
        let mut expected: Vec<Uuid> = faces.iter().map(|f| f.record.face_id).collect();
        expected.sort();
        assert_eq!(seen, expected);
    }
}
