//! The indexer against the real MariaDB, driven by the S3 events of
//! `events/`. The photo store and the face index are narrow in-test fakes:
//! the local S3 store and face engine have end-to-end tests of their own.

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

#[tokio::test]
async fn one_face_is_indexed_for_the_person_named_by_the_key() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));

    let results = h.handle("s3-put.json").await.expect("indexed");

    let person = h
        .person(OBAMA)
        .await
        .expect("a person created from the key");
    assert_eq!(
        results,
        [IndexingResult::Indexed {
            person: person.id,
            face_id: "face-1".into()
        }]
    );
    assert_eq!(
        (person.lastname.as_str(), person.firstname.as_str()),
        ("Obama", "Barack")
    );
    assert_eq!(person.status, Status::Indexed);
    assert_eq!(person.status_reason, None);
    assert_eq!(person.identity.as_deref(), Some("face-1"));
    assert_eq!(person.face_confidence, Some(99.9));
    assert_eq!(
        person.face_box,
        Some(FaceBox {
            left: 0.3,
            top: 0.2,
            width: 0.4,
            height: 0.5
        })
    );
    assert_eq!(
        person.object_sequencer.as_deref(),
        Some("0067A3F2C1B0D4E501")
    );
    assert_eq!(
        person.object_etag.as_deref(),
        Some(format!("\"{FIRST_ETAG}\"").as_str())
    );
    assert_eq!(h.faces.index_calls(), [OBAMA]);
    assert!(h.faces.deletions().is_empty());
}

#[tokio::test]
async fn an_uploaded_person_keeps_the_names_as_typed() {
    let h = Harness::new().await;
    h.people
        .create_pending(
            &registry::ports::NewPerson {
                lastname: "Obama".into(),
                firstname: "Barack Hussein".into(),
                object_key: OBAMA.into(),
            },
            &registry_testkit::admin_audit(),
        )
        .await
        .expect("upload");
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));

    h.handle("s3-put.json").await.expect("indexed");

    let person = h.person(OBAMA).await.expect("person");
    assert_eq!(person.firstname, "Barack Hussein");
    assert_eq!(person.status, Status::Indexed);
    assert_eq!(h.rows().await, 1);
}

#[tokio::test]
async fn faces_the_registry_cannot_use_are_rejected_with_readable_reasons() {
    let cases = [
        (Ok(faces(&[], &[])), "No face was found in the photo."),
        (
            Ok(faces(&["face-a", "face-b"], &[])),
            "The photo shows several faces; it must show exactly one.",
        ),
        (
            Ok(faces(&[], &[&["LOW_SHARPNESS", "SMALL_BOUNDING_BOX"]])),
            "The face is not clear enough to index: the photo is blurred, the face is too small.",
        ),
        (
            Ok(IndexAnswer::InvalidImage {
                message: "Request has invalid image format".into(),
            }),
            "The photo could not be read as an image: Request has invalid image format.",
        ),
    ];
    for (answer, reason) in cases {
        let h = Harness::new().await;
        h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
        h.faces.answer(OBAMA, answer);

        let results = h.handle("s3-put.json").await.expect("recorded");

        assert_eq!(rejection(&results), reason);
        let person = h.person(OBAMA).await.expect("person");
        assert_eq!(person.status, Status::Rejected);
        assert_eq!(person.status_reason.as_deref(), Some(reason));
        assert_eq!(person.identity, None);
        assert_eq!(
            person.object_sequencer.as_deref(),
            Some("0067A3F2C1B0D4E501")
        );
    }
}

#[tokio::test]
async fn the_faces_of_a_photo_with_several_are_deleted_from_the_collection() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, Ok(faces(&["face-a", "face-b"], &[])));

    h.handle("s3-put.json").await.expect("recorded");

    assert_eq!(h.faces.deleted_faces(), ["face-a", "face-b"]);
    assert!(h.retired().await.is_empty());
}

#[tokio::test]
async fn the_faces_of_a_photo_with_several_are_deleted_even_when_the_first_deletion_fails() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, Ok(faces(&["face-a", "face-b"], &[])));
    h.faces.fail_next_deletions(1);

    h.handle("s3-put.json")
        .await
        .expect_err("the deletion failed");
    let person = h.person(OBAMA).await.expect("the rejection is recorded");
    assert_eq!(person.status, Status::Rejected);
    assert_eq!(h.retired().await.len(), 2, "set aside, not lost");

    // Lambda's retry is a replay, which finishes the deletion.
    let results = h.handle("s3-put.json").await.expect("the retry");
    assert_eq!(results, [IndexingResult::Ignored(Ignored::Stale)]);
    let mut deleted = h.faces.deleted_faces();
    deleted.sort();
    assert_eq!(deleted, ["face-a", "face-b"]);
    assert!(h.retired().await.is_empty());
    assert_eq!(h.faces.index_calls(), [OBAMA], "not indexed again");
}

#[tokio::test]
async fn a_new_face_left_unrecorded_is_set_aside_when_it_cannot_be_deleted() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    // The index goes away after storing the face: the duplicate guard's
    // search fails, and so does the deletion of the face.
    h.faces.similar(
        "face-1",
        Err(PortError::Transient(
            "Rekognition: ServiceUnavailable".into(),
        )),
    );
    h.faces.fail_next_deletions(1);

    h.handle("s3-put.json")
        .await
        .expect_err("the search failed: retried");
    assert_eq!(h.person(OBAMA).await, None, "nothing recorded");
    assert_eq!(h.retired().await, ["face-1"], "set aside, not orphaned");

    // The retry indexes the photo anew; the next sweep deletes the first face.
    h.faces.answer(OBAMA, one_face("face-2"));
    let results = h.handle("s3-put.json").await.expect("the retry");
    assert!(
        matches!(&results[..], [IndexingResult::Indexed { face_id, .. }] if face_id == "face-2")
    );
    let swept = registry::indexing::sweep_retired_faces(&h.people, &h.faces)
        .await
        .expect("the sweep");
    assert_eq!(swept, 1);
    assert_eq!(h.faces.deleted_faces(), ["face-1"]);
    assert!(h.retired().await.is_empty());
}

#[tokio::test]
async fn bad_files_are_rejected_with_a_reason_without_calling_the_index() {
    let mut truncated = jpeg();
    truncated.truncate(truncated.len() / 2);
    let cases = [
        (Vec::new(), "The photo cannot be used: the file is empty."),
        (
            b"<!doctype html><title>not a photo</title>".to_vec(),
            "The photo cannot be used: the file is not a JPEG or PNG image.",
        ),
        (
            truncated,
            "The photo cannot be used: the JPEG file is truncated.",
        ),
        (
            png(),
            "The photo cannot be used: the file is a PNG image but its name says JPEG.",
        ),
    ];
    for (bytes, reason) in cases {
        let h = Harness::new().await;
        h.photos.put_with_etag(OBAMA, FIRST_ETAG, bytes);

        let results = h
            .handle("s3-put.json")
            .await
            .expect("recorded, not retried");

        assert_eq!(rejection(&results), reason);
        let person = h.person(OBAMA).await.expect("person");
        assert_eq!(person.status, Status::Rejected);
        assert_eq!(person.status_reason.as_deref(), Some(reason));
        assert!(h.faces.index_calls().is_empty());
    }
}

#[tokio::test]
async fn unconventional_keys_are_decoded_and_rejected_with_a_reason() {
    let cases = [
        ("s3-put-accented-key.json", "garcía_josé.jpg"),
        ("s3-put-plus-key.json", "barack obama 2024.jpg"),
    ];
    for (event, key) in cases {
        let h = Harness::new().await;
        h.photos.put_with_etag(key, "etag", jpeg());

        let results = h.handle(event).await.expect("recorded, not retried");

        assert_eq!(
            rejection(&results),
            format!(
                "The file name is not usable: object key {key:?} does not follow \
                 lastname_firstname.jpg or lastname_firstname.png."
            )
        );
        let person = h.person(key).await.expect("recorded under the decoded key");
        assert_eq!(person.status, Status::Rejected);
        assert!(h.faces.index_calls().is_empty());
    }
}

/// A long file name that follows no convention: its reason quotes it, cut
/// to what the record keeps, rather than failing the record (and sending
/// the photo's own fault to the dead-letter queue).
#[tokio::test]
async fn a_long_unusable_file_name_is_recorded_with_its_reason_cut() {
    let h = Harness::new().await;
    let key = format!("{}.jpg", "holiday ".repeat(60).trim_end());
    let mut event = registry_testkit::events::event_json("s3-put.json");
    event["Records"][0]["s3"]["object"]["key"] = serde_json::json!(key.replace(' ', "+"));
    let event: registry_api::indexer::S3Event = serde_json::from_value(event).unwrap();
    let report = h
        .indexer
        .handle(&event, "indexer-request")
        .await
        .expect("recorded");
    assert_eq!(report.results.len(), 1);
    let person = h
        .person(&key)
        .await
        .expect("recorded under the decoded key");
    assert_eq!(person.status, Status::Rejected);
    let reason = person.status_reason.expect("a reason");
    assert_eq!(reason.chars().count(), registry::indexing::MAX_REASON_CHARS);
    assert!(
        reason.starts_with("The file name is not usable") && reason.ends_with('…'),
        "{reason}"
    );
}

#[tokio::test]
async fn every_record_of_a_batch_is_handled() {
    let h = Harness::new().await;
    let keys = [
        "biden_joe.jpg",
        "obama_michelle.png",
        "garcia-marquez_gabriel-jose.jpg",
    ];
    h.photos
        .put_with_etag(keys[0], "0cc175b9c0f1b6a831c399e269772661", jpeg());
    h.photos
        .put_with_etag(keys[1], "92eb5ffee6ae2fec3ad71c777531578f", png());
    h.photos
        .put_with_etag(keys[2], "4a8a08f09d37b73795649038408b5f33", jpeg());
    h.faces.answer(keys[0], one_face("face-joe"));
    h.faces.answer(keys[1], Ok(faces(&[], &[])));
    h.faces.answer(keys[2], one_face("face-gabriel"));

    let results = h.handle("s3-put-batch.json").await.expect("batch");

    assert_eq!(results.len(), 3);
    assert_eq!(h.faces.index_calls(), keys);
    assert_eq!(
        h.person(keys[1]).await.expect("michelle").status,
        Status::Rejected
    );
    let gabriel = h.person(keys[2]).await.expect("gabriel");
    assert_eq!(
        (gabriel.lastname.as_str(), gabriel.firstname.as_str()),
        ("Garcia Marquez", "Gabriel Jose")
    );
    assert_eq!(gabriel.status, Status::Indexed);
}

// ---------------------------------------------------------------- retries

#[tokio::test]
async fn a_transient_index_failure_is_retried_and_records_nothing() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(
        OBAMA,
        Err(PortError::Transient(
            "Rekognition: ThrottlingException".into(),
        )),
    );

    let error = h.handle("s3-put.json").await.expect_err("to be retried");

    assert!(matches!(
        error,
        IndexerError::Retry {
            failed: 1,
            total: 1,
            ..
        }
    ));
    assert_eq!(h.person(OBAMA).await, None, "nothing recorded");
    assert_eq!(h.rows().await, 0);

    // Lambda's retry then succeeds.
    h.faces.answer(OBAMA, one_face("face-1"));
    h.handle("s3-put.json").await.expect("retried");
    assert_eq!(
        h.person(OBAMA).await.expect("person").identity.as_deref(),
        Some("face-1")
    );
}

#[tokio::test]
async fn a_failed_record_in_a_batch_fails_the_invocation_and_the_others_stay_recorded() {
    let h = Harness::new().await;
    h.photos
        .put_with_etag("biden_joe.jpg", "0cc175b9c0f1b6a831c399e269772661", jpeg());
    h.photos.put_with_etag(
        "obama_michelle.png",
        "92eb5ffee6ae2fec3ad71c777531578f",
        png(),
    );
    h.photos.put_with_etag(
        "garcia-marquez_gabriel-jose.jpg",
        "4a8a08f09d37b73795649038408b5f33",
        jpeg(),
    );
    h.faces.answer("biden_joe.jpg", one_face("face-joe"));
    h.faces.answer(
        "obama_michelle.png",
        Err(PortError::Transient(
            "Rekognition: ThrottlingException".into(),
        )),
    );
    h.faces
        .answer("garcia-marquez_gabriel-jose.jpg", one_face("face-gabriel"));

    let error = h.handle("s3-put-batch.json").await.expect_err("retried");
    assert!(matches!(
        error,
        IndexerError::Retry {
            failed: 1,
            total: 3,
            ..
        }
    ));

    // The retry indexes only what is missing: the others are replays.
    h.faces
        .answer("obama_michelle.png", one_face("face-michelle"));
    let results = h.handle("s3-put-batch.json").await.expect("retried");
    assert_eq!(
        results
            .iter()
            .filter(|r| matches!(r, IndexingResult::Ignored(Ignored::Stale)))
            .count(),
        2
    );
    assert_eq!(
        h.faces.index_calls(),
        [
            "biden_joe.jpg",
            "obama_michelle.png",
            "garcia-marquez_gabriel-jose.jpg",
            "obama_michelle.png"
        ]
    );
    assert_eq!(h.rows().await, 3);
}

// ---------------------------------------------------------- queue messages

/// An IndexQueue message holding `body`, as Lambda hands it over.
fn message(id: &str, body: &str) -> serde_json::Value {
    serde_json::json!({
        "messageId": id,
        "receiptHandle": format!("{id}.1"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1796119200000"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:face-registry-index",
        "awsRegion": "us-east-1"
    })
}

fn batch(messages: Vec<serde_json::Value>) -> registry_api::indexer::SqsEvent {
    serde_json::from_value(serde_json::json!({ "Records": messages })).unwrap()
}

fn failed_ids(response: &registry_api::indexer::SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

/// Only the message that failed comes back; S3's test event and the
/// handled photo do not, and a message that is not an S3 event is sent on
/// to the dead letters, where it can be read.
#[tokio::test]
async fn only_the_messages_that_failed_are_reported() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    h.photos
        .put_with_etag("biden_joe.jpg", "0cc175b9c0f1b6a831c399e269772661", jpeg());
    h.faces.answer(
        "biden_joe.jpg",
        Err(PortError::Transient(
            "Rekognition: ThrottlingException".into(),
        )),
    );
    let obama = registry_testkit::events::event_json("s3-put.json").to_string();
    let mut biden = registry_testkit::events::event_json("s3-put.json");
    biden["Records"][0]["s3"]["object"]["key"] = serde_json::json!("biden_joe.jpg");
    biden["Records"][0]["s3"]["object"]["eTag"] =
        serde_json::json!("0cc175b9c0f1b6a831c399e269772661");
    let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-12-01T10:00:00.000Z","Bucket":"face-registry-123456789012-us-east-1-photos","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}"#;

    let response = h
        .indexer
        .handle_messages(
            &batch(vec![
                message("m-obama", &obama),
                message("m-test", test_event),
                message("m-biden", &biden.to_string()),
                message("m-garbage", "not an event"),
            ]),
            "indexer-request",
        )
        .await
        .expect("an answer");

    assert_eq!(failed_ids(&response), ["m-biden", "m-garbage"]);
    assert_eq!(
        h.person(OBAMA).await.expect("obama").identity.as_deref(),
        Some("face-1")
    );
    assert_eq!(h.person("biden_joe.jpg").await, None, "nothing recorded");
}

// ---------------------------------------------------------------- order

#[tokio::test]
async fn a_replayed_event_changes_nothing_and_does_not_index_again() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    h.handle("s3-put.json").await.expect("first delivery");
    let before = h.person(OBAMA).await.expect("person");

    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let results = h.handle("s3-put-replay.json").await.expect("replay");
        assert_eq!(results, [IndexingResult::Ignored(Ignored::Stale)]);
    }

    assert_eq!(h.person(OBAMA).await, Some(before), "updated_at included");
    assert_eq!(h.faces.index_calls(), [OBAMA], "IndexFaces called once");
    assert!(h.faces.deletions().is_empty());
    assert_eq!(h.rows().await, 1);
}

#[tokio::test]
async fn an_older_event_after_a_newer_one_is_ignored() {
    let h = Harness::new().await;
    // The bucket holds the newer object; its event arrives first.
    h.photos.put_with_etag(OBAMA, SECOND_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-2"));

    let results = h.handle("s3-put-out-of-order.json").await.expect("both");

    let person = h.person(OBAMA).await.expect("person");
    assert_eq!(
        results,
        [
            IndexingResult::Indexed {
                person: person.id,
                face_id: "face-2".into()
            },
            IndexingResult::Ignored(Ignored::Stale)
        ]
    );
    assert_eq!(
        person.object_sequencer.as_deref(),
        Some("0067A3F3D0E1F2A3B4")
    );
    assert_eq!(person.identity.as_deref(), Some("face-2"));
    assert_eq!(h.faces.index_calls(), [OBAMA]);
}

#[tokio::test]
async fn an_event_for_an_object_overwritten_since_is_left_to_the_newer_event() {
    let h = Harness::new().await;
    // The event names the first version, the bucket already holds the second.
    h.photos.put_with_etag(OBAMA, SECOND_ETAG, jpeg());

    let results = h.handle("s3-put.json").await.expect("ignored");

    assert_eq!(results, [IndexingResult::Ignored(Ignored::ObjectReplaced)]);
    assert_eq!(h.person(OBAMA).await, None);
    assert!(h.faces.index_calls().is_empty());
}

// ---------------------------------------------------------------- replace

#[tokio::test]
async fn a_replaced_face_is_deleted_only_after_the_new_one_is_recorded() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    h.handle("s3-put.json").await.expect("first photo");

    h.photos.put_with_etag(OBAMA, SECOND_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-2"));
    h.handle("s3-put-replacement.json")
        .await
        .expect("second photo");

    let person = h.person(OBAMA).await.expect("person");
    assert_eq!(person.identity.as_deref(), Some("face-2"));
    assert_eq!(
        h.faces.deletions(),
        [Deletion {
            faces: vec!["face-1".into()],
            identities_recorded: vec!["face-2".into()],
        }],
        "face-1 is deleted once face-2 is what the registry records"
    );
    assert!(h.retired().await.is_empty(), "forgotten once deleted");
}

#[tokio::test]
async fn a_failed_deletion_is_retried_by_the_next_invocation() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    h.handle("s3-put.json").await.expect("first photo");

    h.photos.put_with_etag(OBAMA, SECOND_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-2"));
    h.faces.fail_next_deletions(1);
    let error = h
        .handle("s3-put-replacement.json")
        .await
        .expect_err("the deletion failed");
    assert!(matches!(error, IndexerError::Retry { .. }));

    // The new face is recorded and the old one set aside, not lost.
    assert_eq!(
        h.person(OBAMA).await.expect("person").identity.as_deref(),
        Some("face-2")
    );
    assert_eq!(h.retired().await, ["face-1"]);
    assert!(h.faces.deletions().is_empty());

    // Lambda retries the event: a replay now, which sweeps the retired face.
    let results = h
        .handle("s3-put-replacement.json")
        .await
        .expect("the retry");
    assert_eq!(results, [IndexingResult::Ignored(Ignored::Stale)]);
    assert_eq!(h.faces.deleted_faces(), ["face-1"]);
    assert!(h.retired().await.is_empty());
    assert_eq!(h.faces.index_calls(), [OBAMA, OBAMA], "no extra IndexFaces");
}

// ---------------------------------------------------------------- erasure

#[tokio::test]
async fn no_indexing_run_records_an_erased_person_again() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    h.handle("s3-put.json").await.expect("indexed");
    let person = h.person(OBAMA).await.expect("person");

    // The erasure is recorded; a run for a newer photo is under way.
    let ErasureBegun::Started(erasure) = h.people.begin_erasure(person.id).await.expect("begun")
    else {
        panic!("the erasure did not start");
    };
    assert_eq!(erasure.face_ids, ["face-1"]);
    h.photos.put_with_etag(OBAMA, SECOND_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-2"));
    let results = h.handle("s3-put-replacement.json").await.expect("refused");
    assert_eq!(results, [IndexingResult::Ignored(Ignored::Erased)]);
    assert_eq!(
        h.faces.deleted_faces(),
        ["face-2"],
        "its new face is not kept"
    );
    assert_eq!(
        h.person(OBAMA)
            .await
            .expect("still there")
            .identity
            .as_deref(),
        Some("face-1")
    );

    let eraser = Eraser {
        people: &h.people,
        photos: &h.photos,
        faces: &h.faces,
    };
    // As after a crash between recording the erasure and carrying it out:
    // asking again finishes it.
    let erased = eraser
        .erase(person.id, &registry_testkit::admin_audit())
        .await
        .expect("erased");
    assert!(erased.by_this_request);
    let receipt = erased.receipt;
    assert_eq!(
        receipt.requested_at, erasure.requested_at,
        "the same erasure"
    );
    assert_eq!(receipt.removed.face_ids, ["face-1"]);
    // The first photo and the one uploaded while the erasure ran.
    assert_eq!(receipt.removed.photo_versions, 2);
    assert_eq!(h.rows().await, 0);
    assert_eq!(
        h.people
            .begin_erasure(person.id)
            .await
            .expect("asked again"),
        ErasureBegun::Finished(receipt.clone()),
        "asked again, the same receipt"
    );
    let again = eraser
        .erase(person.id, &registry_testkit::admin_audit())
        .await
        .expect("answered again");
    assert_eq!(
        again,
        Erased {
            receipt,
            by_this_request: false
        },
        "asked again, the receipt of the erasure before: nothing erased twice"
    );

    // A late event whose photo the run still read: nothing comes back.
    h.photos.put_with_etag(OBAMA, SECOND_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-3"));
    let results = h.handle("s3-put-replacement.json").await.expect("refused");
    assert_eq!(results, [IndexingResult::Ignored(Ignored::Erased)]);
    assert_eq!(h.rows().await, 0);
    assert!(h.faces.deleted_faces().contains(&"face-3".to_owned()));

    // A plain file name may be used again by a photo dropped afterwards.
    let mut later = s3_event("s3-put-replacement.json");
    later.records[0].event_time = chrono::Utc::now() + chrono::Duration::minutes(1);
    h.faces.answer(OBAMA, one_face("face-4"));
    let results = h.handle_event(&later).await.expect("enrolled");
    assert!(
        matches!(&results[..], [IndexingResult::Indexed { face_id, .. }] if face_id == "face-4"),
        "{results:?}"
    );
    assert_ne!(h.person(OBAMA).await.expect("someone new").id, person.id);
}

// ---------------------------------------------------------------- duplicates

fn like(face_id: &str, similarity: f32) -> FaceMatch {
    FaceMatch {
        face_id: face_id.into(),
        similarity,
    }
}

#[tokio::test]
async fn a_face_like_another_persons_is_flagged_until_resolved() {
    let h = Harness::new().await;
    const MICHELLE: &str = "obama_michelle.png";
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    h.handle("s3-put.json").await.expect("the first");
    let first = h.person(OBAMA).await.expect("first");
    assert_eq!(first.possible_duplicate, None);

    // The batch's second photo shows a face like the first one's.
    h.photos
        .put_with_etag("biden_joe.jpg", "0cc175b9c0f1b6a831c399e269772661", jpeg());
    h.photos
        .put_with_etag(MICHELLE, "92eb5ffee6ae2fec3ad71c777531578f", png());
    h.photos.put_with_etag(
        "garcia-marquez_gabriel-jose.jpg",
        "4a8a08f09d37b73795649038408b5f33",
        jpeg(),
    );
    h.faces.answer("biden_joe.jpg", one_face("face-biden"));
    h.faces.answer(MICHELLE, one_face("face-2"));
    h.faces
        .answer("garcia-marquez_gabriel-jose.jpg", one_face("face-gabo"));
    h.faces.similar(
        "face-2",
        Ok(vec![like("face-1", 96.5), like("face-x", 99.0)]),
    );
    h.handle("s3-put-batch.json").await.expect("the batch");
    let second = h.person(MICHELLE).await.expect("second");
    assert_eq!(
        second.possible_duplicate,
        Some(PossibleDuplicate {
            person_id: first.id,
            similarity: 96.5
        })
    );
    assert_eq!(
        h.person("biden_joe.jpg").await.unwrap().possible_duplicate,
        None
    );

    // "Different people": cleared, and the pair is remembered.
    let resolved = h
        .people
        .resolve_duplicate(
            second.id,
            Resolution::Different,
            &registry_testkit::admin_audit(),
        )
        .await
        .expect("resolved");
    assert!(matches!(resolved, Resolved::Cleared { other, .. } if other == first.id));
    assert_eq!(
        h.people
            .resolve_duplicate(
                second.id,
                Resolution::Same,
                &registry_testkit::admin_audit()
            )
            .await
            .expect("asked again"),
        Resolved::NotFlagged
    );
    assert_eq!(
        h.people.ruled_out_duplicates(first.id).await.unwrap(),
        [second.id]
    );

    // The first one's new photo is like the second's face: not flagged again.
    h.photos.put_with_etag(OBAMA, SECOND_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-3"));
    h.faces.similar("face-3", Ok(vec![like("face-2", 97.0)]));
    h.handle("s3-put-replacement.json").await.expect("replaced");
    assert_eq!(h.person(OBAMA).await.unwrap().possible_duplicate, None);
}

#[tokio::test]
async fn a_failed_duplicate_search_records_nothing_and_keeps_no_face() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    h.faces.similar(
        "face-1",
        Err(PortError::Transient(
            "Rekognition: ThrottlingException".into(),
        )),
    );
    let error = h.handle("s3-put.json").await.expect_err("retried");
    assert!(matches!(error, IndexerError::Retry { .. }));
    assert_eq!(h.person(OBAMA).await, None);
    assert_eq!(h.faces.deleted_faces(), ["face-1"]);
}

// ---------------------------------------------------------------- metadata

#[tokio::test]
async fn a_photo_with_metadata_is_stored_again_without_it_before_it_is_indexed() {
    let h = Harness::new().await;
    let revealing = registry_testkit::jpeg_with_revealing_metadata(&jpeg(), 1);
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, revealing.clone());

    let results = h.handle("s3-put.json").await.expect("stripped");

    assert_eq!(
        results,
        [IndexingResult::Ignored(Ignored::MetadataStripped)]
    );
    let stored = h.photos.read(OBAMA, None).await.unwrap().expect("stored");
    assert_eq!(stored, jpeg(), "the pixels, nothing else");
    assert!(
        h.faces.index_calls().is_empty(),
        "the new version's event indexes it"
    );
    assert_eq!(h.rows().await, 0);

    // The new version's event: the person records the hash of the photo as
    // uploaded, so that a bulk import re-run knows the file is in.
    let stripped = h
        .photos
        .stat(OBAMA)
        .await
        .unwrap()
        .expect("stripped version");
    let mut event = s3_event("s3-put-replacement.json");
    event.records[0].s3.object.e_tag = stripped.etag.map(|e| e.trim_matches('"').to_owned());
    event.records[0].s3.object.version_id = stripped.version_id;
    h.faces.answer(OBAMA, one_face("face-1"));
    let results = h.handle_event(&event).await.expect("indexed");
    assert!(
        matches!(results[..], [IndexingResult::Indexed { .. }]),
        "{results:?}"
    );
    let person = h.person(OBAMA).await.expect("recorded");
    assert_eq!(person.photo_sha256, Some(sha256_hex(&revealing)));
}

#[tokio::test]
async fn the_hash_of_the_photo_is_recorded_indexed_or_rejected() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(
        OBAMA,
        Ok(IndexAnswer::Faces {
            indexed: vec![],
            unindexed: vec![],
        }),
    );
    h.handle("s3-put.json").await.expect("rejected");
    let person = h.person(OBAMA).await.expect("recorded");
    assert_eq!(person.status, Status::Rejected);
    assert_eq!(person.photo_sha256, Some(sha256_hex(&jpeg())));
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn a_face_recorded_before_the_reply_was_lost_is_kept() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    h.indexer.people.lose_next_record_replies(1);

    let error = h
        .handle("s3-put.json")
        .await
        .expect_err("the reply was lost");
    assert!(matches!(error, IndexerError::Retry { .. }));
    let person = h.person(OBAMA).await.expect("committed");
    assert_eq!(person.identity.as_deref(), Some("face-1"));
    assert!(
        h.faces.deleted_faces().is_empty(),
        "the recorded face stays"
    );

    // Lambda retries the event: a replay, which changes nothing.
    let results = h.handle("s3-put.json").await.expect("the retry");
    assert_eq!(results, [IndexingResult::Ignored(Ignored::Stale)]);
    assert!(h.faces.deleted_faces().is_empty());
    assert_eq!(h.faces.index_calls(), [OBAMA]);
}

#[tokio::test]
async fn a_face_whose_record_failed_is_deleted_and_the_retry_indexes_again() {
    let h = Harness::new().await;
    h.photos.put_with_etag(OBAMA, FIRST_ETAG, jpeg());
    h.faces.answer(OBAMA, one_face("face-1"));
    h.indexer.people.fail_next_records(1);

    h.handle("s3-put.json")
        .await
        .expect_err("the record failed");
    assert_eq!(h.person(OBAMA).await, None);
    assert_eq!(h.faces.deleted_faces(), ["face-1"], "no orphan");

    h.faces.answer(OBAMA, one_face("face-2"));
    h.handle("s3-put.json").await.expect("the retry");
    assert_eq!(
        h.person(OBAMA).await.expect("indexed").identity.as_deref(),
        Some("face-2")
    );
}
