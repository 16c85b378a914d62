//! The indexer against the real MariaDB, driven by the S3 events of
//! `events/`. The photo store and the face index are narrow in-test fakes:
//! the local S3 store and face engine have end-to-end tests of their own.

mod batches;
mod duplicates;
mod order;
mod outcomes;
mod photos;

use std::collections::{HashMap, VecDeque};
use std::io::Cursor;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use registry::duplicates::{PossibleDuplicate, Resolution, Resolved};
use registry::erasure::{Erased, Eraser, ErasureBegun};
use registry::indexing::{Ignored, IndexingResult};
use registry::person::{FaceBox, Person, Status};
use registry::photo::sha256_hex;
use registry::ports::{
    FaceIndex, FaceMatch, FacePage, IndexAnswer, IndexedFace, PersonStore, PhotoStore, PortError,
};
use registry_adapters::MysqlPersonStore;
use registry_api::{IndexerError, IndexerFn};
use registry_testkit::{FaultyPersonStore, InMemoryBucket, TEST_BUCKET, TestDatabase, s3_event};

// ---------------------------------------------------------------- fakes

#[derive(Default)]
struct FaceIndexState {
    /// What IndexFaces answers, per key, in order.
    script: HashMap<String, VecDeque<Result<IndexAnswer, PortError>>>,
    index_calls: Vec<String>,
    /// Deletions that are to fail, before any succeeds.
    failing_deletions: usize,
    /// What SearchFaces answers, per face searched with.
    similar: HashMap<String, Result<Vec<FaceMatch>, PortError>>,
    /// Faces deleted, with the identities the registry held at that moment.
    deletions: Vec<Deletion>,
}

#[derive(Debug, Clone, PartialEq)]
struct Deletion {
    faces: Vec<String>,
    identities_recorded: Vec<String>,
}

/// A collection that answers as scripted and remembers what it was asked.
#[derive(Clone)]
struct FakeFaceIndex {
    state: Arc<Mutex<FaceIndexState>>,
    /// The registry's table, read at each deletion to check its timing.
    registry: MysqlPersonStore,
}

impl FakeFaceIndex {
    fn new(registry: MysqlPersonStore) -> Self {
        Self {
            state: Arc::default(),
            registry,
        }
    }

    fn answer(&self, key: &str, outcome: Result<IndexAnswer, PortError>) {
        self.state
            .lock()
            .expect("state")
            .script
            .entry(key.to_owned())
            .or_default()
            .push_back(outcome);
    }

    fn similar(&self, face_id: &str, matches: Result<Vec<FaceMatch>, PortError>) {
        self.state
            .lock()
            .expect("state")
            .similar
            .insert(face_id.to_owned(), matches);
    }

    fn fail_next_deletions(&self, count: usize) {
        self.state.lock().expect("state").failing_deletions = count;
    }

    fn index_calls(&self) -> Vec<String> {
        self.state.lock().expect("state").index_calls.clone()
    }

    fn deletions(&self) -> Vec<Deletion> {
        self.state.lock().expect("state").deletions.clone()
    }

    fn deleted_faces(&self) -> Vec<String> {
        self.deletions().into_iter().flat_map(|d| d.faces).collect()
    }
}

#[async_trait]
impl FaceIndex for FakeFaceIndex {
    fn collection(&self) -> &str {
        "face-registry-test"
    }

    async fn index_photo(
        &self,
        bucket: &str,
        key: &str,
        _version_id: Option<&str>,
    ) -> Result<IndexAnswer, PortError> {
        assert_eq!(bucket, TEST_BUCKET);
        let mut state = self.state.lock().expect("state");
        state.index_calls.push(key.to_owned());
        state
            .script
            .get_mut(key)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| panic!("IndexFaces was not expected for {key}"))
    }

    async fn delete_faces(&self, face_ids: &[String]) -> Result<(), PortError> {
        {
            let mut state = self.state.lock().expect("state");
            if state.failing_deletions > 0 {
                state.failing_deletions -= 1;
                return Err(PortError::Transient(
                    "Rekognition: ThrottlingException".into(),
                ));
            }
        }
        let identities_recorded: Vec<String> =
            sqlx::query_scalar("SELECT identity FROM person WHERE identity IS NOT NULL")
                .fetch_all(self.registry.pool())
                .await
                .map_err(|e| PortError::Transient(e.to_string()))?;
        self.state.lock().expect("state").deletions.push(Deletion {
            faces: face_ids.to_vec(),
            identities_recorded,
        });
        Ok(())
    }

    async fn list_faces(
        &self,
        _next_token: Option<&str>,
        _limit: u32,
    ) -> Result<FacePage, PortError> {
        Err(PortError::Permanent(
            "the indexer never lists the collection".into(),
        ))
    }

    /// As scripted; no match otherwise.
    async fn search_by_face(
        &self,
        face_id: &str,
        threshold: f32,
        _max_matches: u32,
    ) -> Result<Vec<FaceMatch>, PortError> {
        let state = self.state.lock().expect("state");
        match state.similar.get(face_id) {
            Some(Ok(matches)) => Ok(matches
                .iter()
                .filter(|m| m.similarity >= threshold)
                .cloned()
                .collect()),
            Some(Err(error)) => Err(error.clone()),
            None => Ok(Vec::new()),
        }
    }

    /// Every face it was asked about that it has not deleted.
    async fn faces_present(&self, face_ids: &[String]) -> Result<Vec<String>, PortError> {
        let deleted = self.deleted_faces();
        Ok(face_ids
            .iter()
            .filter(|id| !deleted.contains(id))
            .cloned()
            .collect())
    }
}

// ---------------------------------------------------------------- photos

fn jpeg() -> Vec<u8> {
    let image = image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([x as u8 * 8, y as u8 * 8, 90]));
    let mut bytes = Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageOutputFormat::Jpeg(90))
        .expect("encode JPEG");
    bytes.into_inner()
}

fn png() -> Vec<u8> {
    let image = image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([90, x as u8 * 8, y as u8 * 8]));
    let mut bytes = Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageOutputFormat::Png)
        .expect("encode PNG");
    bytes.into_inner()
}

fn one_face(face_id: &str) -> Result<IndexAnswer, PortError> {
    Ok(faces(&[face_id], &[]))
}

/// What the index answers: these faces stored, these left out (their reasons).
fn faces(indexed: &[&str], unindexed: &[&[&str]]) -> IndexAnswer {
    IndexAnswer::Faces {
        indexed: indexed.iter().map(|id| stored_face(id)).collect(),
        unindexed: unindexed
            .iter()
            .map(|reasons| reasons.iter().map(|r| (*r).to_owned()).collect())
            .collect(),
    }
}

fn stored_face(face_id: &str) -> IndexedFace {
    IndexedFace {
        face_id: face_id.into(),
        confidence: 99.9,
        face_box: FaceBox {
            left: 0.3,
            top: 0.2,
            width: 0.4,
            height: 0.5,
        },
    }
}

// ---------------------------------------------------------------- harness

const OBAMA: &str = "obama_barack.jpg";
/// The ETags of `events/s3-put.json` and `events/s3-put-replacement.json`.
const FIRST_ETAG: &str = "5d41402abc4b2a76b9719d911017c592";
const SECOND_ETAG: &str = "7d793037a0760186574b0282f2f435e7";

struct Harness {
    database: TestDatabase,
    people: MysqlPersonStore,
    photos: InMemoryBucket,
    faces: FakeFaceIndex,
    indexer: IndexerFn<FaultyPersonStore<MysqlPersonStore>, InMemoryBucket, FakeFaceIndex>,
}

impl Harness {
    async fn new() -> Self {
        let database = TestDatabase::create()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let people = MysqlPersonStore::new(database.pool().clone());
        let photos = InMemoryBucket::default();
        let faces = FakeFaceIndex::new(people.clone());
        let indexer = IndexerFn {
            people: FaultyPersonStore::new(people.clone()),
            photos: photos.clone(),
            faces: faces.clone(),
        };
        Self {
            database,
            people,
            photos,
            faces,
            indexer,
        }
    }

    async fn handle(&self, event: &str) -> Result<Vec<IndexingResult>, IndexerError> {
        self.handle_event(&s3_event(event)).await
    }

    async fn handle_event(
        &self,
        event: &registry_api::indexer::S3Event,
    ) -> Result<Vec<IndexingResult>, IndexerError> {
        self.indexer
            .handle(event, "indexer-request")
            .await
            .map(|report| report.results)
    }

    async fn person(&self, key: &str) -> Option<Person> {
        self.people.find_by_key(key).await.expect("find by key")
    }

    async fn rows(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM person")
            .fetch_one(self.database.pool())
            .await
            .expect("count")
    }

    async fn retired(&self) -> Vec<String> {
        self.people.retired_faces(100).await.expect("retired")
    }
}

fn rejection(results: &[IndexingResult]) -> &str {
    match results {
        [IndexingResult::Rejected { reason, .. }] => reason,
        other => panic!("expected one rejection, got {other:?}"),
    }
}

// ---------------------------------------------------------------- outcomes
