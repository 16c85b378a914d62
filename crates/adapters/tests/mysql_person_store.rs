//! The MySQL person store against the real server of `DATABASE_URL`, each
//! test in a fresh database of its own.

use std::collections::HashSet;
use std::sync::Arc;

use registry::audit::AuditContext;
use registry::listing::{ListParams, list_people, parse_params};
use registry::person::{FaceBox, Person, PersonId, Status};
use registry::ports::{IndexingRecord, ListFilter, NewPerson, PersonStore, RecordOutcome};
use registry_adapters::MysqlPersonStore;
use registry_testkit::{TestDatabase, admin_audit, closed_port_url};

async fn fresh_store() -> (TestDatabase, MysqlPersonStore) {
    let database = TestDatabase::create()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let store = MysqlPersonStore::new(database.pool().clone());
    (database, store)
}

fn audit() -> AuditContext {
    admin_audit()
}

fn new_person(lastname: &str, firstname: &str, key: &str) -> NewPerson {
    NewPerson {
        lastname: lastname.into(),
        firstname: firstname.into(),
        object_key: key.into(),
    }
}

fn indexed(key: &str, sequencer: &str, face_id: &str) -> IndexingRecord {
    IndexingRecord {
        object_key: key.into(),
        lastname: "Obama".into(),
        firstname: "Barack".into(),
        status: Status::Indexed,
        status_reason: None,
        identity: Some(face_id.into()),
        object_etag: Some(format!("\"etag-{sequencer}\"")),
        object_sequencer: sequencer.into(),
        object_created_at: chrono::Utc::now(),
        face_confidence: Some(99.5),
        face_box: Some(FaceBox {
            left: 0.25,
            top: 0.125,
            width: 0.5,
            height: 0.625,
        }),
        possible_duplicate: None,
        discarded_faces: Vec::new(),
    }
}

fn rejected(key: &str, sequencer: &str, reason: &str) -> IndexingRecord {
    IndexingRecord {
        status: Status::Rejected,
        status_reason: Some(reason.into()),
        identity: None,
        face_confidence: None,
        face_box: None,
        ..indexed(key, sequencer, "unused")
    }
}

async fn row_count(database: &TestDatabase) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM person")
        .fetch_one(database.pool())
        .await
        .expect("count people")
}

async fn person_by_key(store: &MysqlPersonStore, key: &str) -> Person {
    store
        .find_by_key(key)
        .await
        .expect("find by key")
        .unwrap_or_else(|| panic!("no person with key {key}"))
}

fn recorded(outcome: RecordOutcome) -> (Person, Option<String>) {
    match outcome {
        RecordOutcome::Recorded {
            person,
            retired_face,
        } => ((*person).clone(), retired_face),
        RecordOutcome::Stale { recorded_sequencer } => {
            panic!("expected the record to be written, it was stale against {recorded_sequencer}")
        }
        RecordOutcome::Erased => panic!("expected the record to be written, the key is erased"),
    }
}

#[tokio::test]
async fn namesakes_are_two_people_and_keys_compare_byte_for_byte() {
    let (database, store) = fresh_store().await;
    let one = store
        .create_pending(
            &new_person("Dupont", "Jean", "0a.dupont_jean.jpg"),
            &audit(),
        )
        .await
        .expect("one");
    let other = store
        .create_pending(
            &new_person("Dupont", "Jean", "0b.dupont_jean.jpg"),
            &audit(),
        )
        .await
        .expect("the other");
    assert_ne!(one.id, other.id);
    assert_eq!(
        (other.status, other.identity.as_deref()),
        (Status::Pending, None)
    );
    // Keys that differ only in case (or accents) are two objects in S3.
    let upper = store
        .create_pending(
            &new_person("Dupont", "Jean", "0A.dupont_jean.jpg"),
            &audit(),
        )
        .await
        .expect("a key in upper case is another key");
    assert_ne!(upper.id, one.id);
    assert_eq!(
        store
            .find_by_key("0A.dupont_jean.jpg")
            .await
            .unwrap()
            .map(|p| p.id),
        Some(upper.id)
    );
    // The same key twice is refused, not merged.
    assert!(
        store
            .create_pending(
                &new_person("Dupont", "Jeanne", "0a.dupont_jean.jpg"),
                &audit()
            )
            .await
            .is_err()
    );
    assert_eq!(row_count(&database).await, 3);
}

#[tokio::test]
async fn a_new_photo_marks_an_indexed_person_pending_and_keeps_the_face_until_replaced() {
    let (_database, store) = fresh_store().await;
    let (person, _) = recorded(
        store
            .record_indexing(
                &indexed("obama_barack.jpg", "0067A3F2C1B0D4E501", "face-1"),
                &audit(),
            )
            .await
            .expect("record"),
    );

    let pending = store
        .mark_pending(person.id, &audit())
        .await
        .expect("marked")
        .expect("the person");

    assert_eq!(pending.status, Status::Pending);
    assert_eq!(pending.identity.as_deref(), Some("face-1"));
    assert_eq!(
        pending.object_sequencer.as_deref(),
        Some("0067A3F2C1B0D4E501")
    );
    assert_eq!(
        store
            .mark_pending(PersonId(person.id.0 + 1), &audit())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_rename_changes_the_names_given_and_nothing_else() {
    let (_database, store) = fresh_store().await;
    let person = store
        .create_pending(
            &new_person("Dupnot", "Jean", "0a.dupnot_jean.jpg"),
            &audit(),
        )
        .await
        .unwrap();
    let renamed = store
        .rename(person.id, Some("Dupont"), None, &audit())
        .await
        .unwrap()
        .expect("the person");
    assert_eq!(
        (renamed.lastname.as_str(), renamed.firstname.as_str()),
        ("Dupont", "Jean")
    );
    assert_eq!(renamed.object_key, "0a.dupnot_jean.jpg");
    let renamed = store
        .rename(person.id, None, Some("Jeanne"), &audit())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (renamed.lastname.as_str(), renamed.firstname.as_str()),
        ("Dupont", "Jeanne")
    );
    assert_eq!(
        store
            .rename(PersonId(person.id.0 + 1), Some("X"), None, &audit())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_replayed_record_changes_nothing_after_the_first() {
    let (database, store) = fresh_store().await;
    let record = indexed("obama_barack.jpg", "0067A3F2C1B0D4E501", "face-1");

    let (first, retired) = recorded(
        store
            .record_indexing(&record, &audit())
            .await
            .expect("record"),
    );
    assert_eq!(retired, None);
    assert_eq!(first.status, Status::Indexed);
    assert_eq!(first.identity.as_deref(), Some("face-1"));
    assert_eq!(first.face_confidence, Some(99.5));
    assert_eq!(first.face_box, record.face_box);
    assert_eq!(
        first.object_etag.as_deref(),
        Some("\"etag-0067A3F2C1B0D4E501\"")
    );

    for _ in 0..3 {
        // Timestamps have millisecond precision: make a second write visible.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let outcome = store
            .record_indexing(&record, &audit())
            .await
            .expect("replay");
        assert_eq!(
            outcome,
            RecordOutcome::Stale {
                recorded_sequencer: "0067A3F2C1B0D4E501".into()
            }
        );
    }

    let now = person_by_key(&store, "obama_barack.jpg").await;
    assert_eq!(now, first, "the row, updated_at included, is unchanged");
    assert_eq!(row_count(&database).await, 1);
    assert!(store.retired_faces(10).await.expect("retired").is_empty());
}

#[tokio::test]
async fn an_older_record_after_a_newer_one_is_stale() {
    let (_database, store) = fresh_store().await;
    let newer = indexed("obama_barack.jpg", "0067A3F3D0E1F2A3B4", "face-new");
    let older = indexed("obama_barack.jpg", "0067A3F2C1B0D4E501", "face-old");

    let (person, _) = recorded(
        store
            .record_indexing(&newer, &audit())
            .await
            .expect("newer"),
    );
    let outcome = store
        .record_indexing(&older, &audit())
        .await
        .expect("older");

    assert_eq!(
        outcome,
        RecordOutcome::Stale {
            recorded_sequencer: "0067A3F3D0E1F2A3B4".into()
        }
    );
    assert_eq!(person_by_key(&store, "obama_barack.jpg").await, person);
    // A shorter sequencer is compared right-padded: "0067A3F3D0E1F2A3B4" > "0067A3F3".
    let shorter = store
        .record_indexing(
            &indexed("obama_barack.jpg", "0067A3F3", "face-short"),
            &audit(),
        )
        .await
        .expect("shorter");
    assert!(matches!(shorter, RecordOutcome::Stale { .. }));
}

#[tokio::test]
async fn a_replacement_sets_the_old_face_aside_until_it_is_forgotten() {
    let (_database, store) = fresh_store().await;
    recorded(
        store
            .record_indexing(
                &indexed("obama_barack.jpg", "0067A3F2C1B0D4E501", "face-1"),
                &audit(),
            )
            .await
            .expect("first"),
    );

    let (person, retired) = recorded(
        store
            .record_indexing(
                &indexed("obama_barack.jpg", "0067A3F3D0E1F2A3B4", "face-2"),
                &audit(),
            )
            .await
            .expect("replacement"),
    );
    assert_eq!(retired.as_deref(), Some("face-1"));
    assert_eq!(person.identity.as_deref(), Some("face-2"));
    assert_eq!(
        store.retired_faces(10).await.expect("retired"),
        vec!["face-1".to_owned()]
    );

    // A rejected newer photo retires the indexed face too: the person no longer has one.
    let (person, retired) = recorded(
        store
            .record_indexing(
                &rejected(
                    "obama_barack.jpg",
                    "0067A3F4000000000000",
                    "No face was found in the photo.",
                ),
                &audit(),
            )
            .await
            .expect("rejection"),
    );
    assert_eq!(retired.as_deref(), Some("face-2"));
    assert_eq!(person.status, Status::Rejected);
    assert_eq!(person.identity, None);
    assert_eq!(person.face_box, None);
    assert_eq!(
        person.status_reason.as_deref(),
        Some("No face was found in the photo.")
    );

    let mut faces = store.retired_faces(10).await.expect("retired");
    faces.sort();
    assert_eq!(faces, vec!["face-1".to_owned(), "face-2".to_owned()]);
    assert_eq!(store.retired_faces(1).await.expect("limit").len(), 1);
    // Every face the person ever had stays known, whatever became of it.
    let mut ever = store.faces_ever(person.id).await.expect("faces ever");
    ever.sort();
    assert_eq!(ever, ["face-1", "face-2"]);

    store
        .forget_retired_faces(&["face-1".to_owned()])
        .await
        .expect("forget one");
    assert_eq!(
        store.retired_faces(10).await.expect("retired"),
        vec!["face-2".to_owned()]
    );
    store
        .forget_retired_faces(&["face-2".to_owned(), "never-retired".to_owned()])
        .await
        .expect("forget the rest");
    store.forget_retired_faces(&[]).await.expect("forget none");
    assert!(store.retired_faces(10).await.expect("retired").is_empty());
}

#[tokio::test]
async fn recording_the_same_face_again_does_not_retire_it() {
    let (_database, store) = fresh_store().await;
    store
        .record_indexing(&indexed("obama_barack.jpg", "01", "face-1"), &audit())
        .await
        .expect("first");
    let (_, retired) = recorded(
        store
            .record_indexing(&indexed("obama_barack.jpg", "02", "face-1"), &audit())
            .await
            .expect("second"),
    );
    assert_eq!(retired, None);
    assert!(store.retired_faces(10).await.expect("retired").is_empty());
}

#[tokio::test]
async fn a_record_without_a_row_creates_the_person_from_its_names() {
    let (_database, store) = fresh_store().await;
    let mut record = rejected("garcia_jose.jpg", "0A", "The file is empty.");
    record.lastname = "Garcia".into();
    record.firstname = "Jose".into();

    let (person, _) = recorded(
        store
            .record_indexing(&record, &audit())
            .await
            .expect("record"),
    );

    assert_eq!(
        (person.lastname.as_str(), person.firstname.as_str()),
        ("Garcia", "Jose")
    );
    assert_eq!(person.status, Status::Rejected);
    assert_eq!(store.get(person.id).await.expect("get"), Some(person));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_photos_for_one_key_leave_one_row_and_the_newest_version() {
    let (database, store) = fresh_store().await;
    let store = Arc::new(store);
    const UPLOADS: usize = 20;

    let tasks: Vec<_> = (0..UPLOADS)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let sequencer = format!("0067A3F2C1B0D4E5{i:02X}");
                let outcome = store
                    .record_indexing(
                        &indexed("obama_barack.jpg", &sequencer, &format!("face-{i:02}")),
                        &audit(),
                    )
                    .await
                    .map_err(|e| format!("record {i}: {e}"))?;
                Ok::<_, String>((i, outcome))
            })
        })
        .collect();

    let mut written = HashSet::new();
    let mut stale = 0;
    for task in tasks {
        match task.await.expect("task panicked") {
            Ok((i, RecordOutcome::Recorded { .. })) => {
                written.insert(format!("face-{i:02}"));
            }
            Ok((_, RecordOutcome::Stale { .. })) => stale += 1,
            Ok((_, RecordOutcome::Erased)) => panic!("nobody was erased"),
            Err(error) => panic!("{error}"),
        }
    }

    assert_eq!(row_count(&database).await, 1);
    let person = person_by_key(&store, "obama_barack.jpg").await;
    let last = UPLOADS - 1;
    assert_eq!(
        person.object_sequencer.as_deref(),
        Some(format!("0067A3F2C1B0D4E5{last:02X}").as_str()),
        "the highest sequencer wins"
    );
    assert_eq!(
        person.identity.as_deref(),
        Some(format!("face-{last:02}").as_str())
    );
    assert_eq!(written.len() + stale, UPLOADS);
    // Every face that was recorded and then replaced is set aside, and only those.
    let retired: HashSet<String> = store
        .retired_faces(100)
        .await
        .expect("retired")
        .into_iter()
        .collect();
    let mut expected = written.clone();
    expected.remove(&format!("face-{last:02}"));
    assert_eq!(retired, expected);
}

/// Seeds people with chosen names and statuses; returns their ids in insertion order.
async fn seed(store: &MysqlPersonStore, people: &[(&str, &str, Status)]) -> Vec<PersonId> {
    static SEEDED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut ids = Vec::new();
    for (lastname, firstname, status) in people {
        // Every seeded person has a key of its own.
        let n = SEEDED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = format!("person-{n}_{n}.jpg");
        let person = store
            .create_pending(&new_person(lastname, firstname, &key), &audit())
            .await
            .expect("seed");
        match status {
            Status::Pending => {}
            Status::Indexed => {
                store
                    .record_indexing(&indexed(&key, "01", &format!("face-{n}")), &audit())
                    .await
                    .expect("seed indexed");
            }
            Status::Rejected => {
                store
                    .record_indexing(
                        &rejected(&key, "01", "No face was found in the photo."),
                        &audit(),
                    )
                    .await
                    .expect("seed rejected");
            }
        }
        ids.push(person.id);
    }
    ids
}

async fn names(store: &MysqlPersonStore, filter: ListFilter) -> Vec<String> {
    store
        .list(&filter)
        .await
        .expect("list")
        .into_iter()
        .map(|p| format!("{} {}", p.firstname, p.lastname))
        .collect()
}

fn by_name(q: &str) -> ListFilter {
    ListFilter {
        name_prefix: Some(q.into()),
        limit: 100,
        ..Default::default()
    }
}

#[tokio::test]
async fn listing_filters_by_status_and_by_name_prefix() {
    let (_database, store) = fresh_store().await;
    seed(
        &store,
        &[
            ("Obama", "Barack", Status::Indexed),
            ("Obama", "Michelle", Status::Rejected),
            ("Biden", "Joe", Status::Indexed),
            ("García Márquez", "Gabriel", Status::Pending),
            ("Øvergaard", "Ölaf", Status::Indexed),
            ("Barack", "Obadiah", Status::Pending),
            ("50% Off", "Sale", Status::Indexed),
            ("500", "Club", Status::Indexed),
            ("Under_score", "Ann", Status::Indexed),
            ("Underwood", "Frank", Status::Indexed),
            ("Back\\slash", "Bob", Status::Indexed),
        ],
    )
    .await;

    let indexed_only = ListFilter {
        status: Some(Status::Indexed),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        names(&store, indexed_only).await,
        [
            "Bob Back\\slash",
            "Frank Underwood",
            "Ann Under_score",
            "Club 500",
            "Sale 50% Off",
            "Ölaf Øvergaard",
            "Joe Biden",
            "Barack Obama"
        ]
    );
    let rejected_only = ListFilter {
        status: Some(Status::Rejected),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(names(&store, rejected_only).await, ["Michelle Obama"]);

    // The prefix of either name; newest first.
    assert_eq!(
        names(&store, by_name("Oba")).await,
        ["Obadiah Barack", "Michelle Obama", "Barack Obama"]
    );
    assert_eq!(
        names(&store, by_name("bar")).await,
        ["Obadiah Barack", "Barack Obama"]
    );
    assert!(
        names(&store, by_name("bama")).await.is_empty(),
        "a prefix, not a substring"
    );
    // Case and accents are ignored, both ways.
    assert_eq!(
        names(&store, by_name("GARCIA MAR")).await,
        ["Gabriel García Márquez"]
    );
    assert_eq!(
        names(&store, by_name("gárcía")).await,
        ["Gabriel García Márquez"]
    );
    assert_eq!(names(&store, by_name("öla")).await, ["Ölaf Øvergaard"]);
    // LIKE metacharacters match themselves.
    assert_eq!(names(&store, by_name("50%")).await, ["Sale 50% Off"]);
    assert_eq!(
        names(&store, by_name("5")).await,
        ["Club 500", "Sale 50% Off"]
    );
    assert!(names(&store, by_name("%")).await.is_empty());
    assert!(names(&store, by_name("_")).await.is_empty());
    assert_eq!(names(&store, by_name("Under_")).await, ["Ann Under_score"]);
    assert_eq!(names(&store, by_name("Back\\")).await, ["Bob Back\\slash"]);

    // Filters combine.
    let filter = ListFilter {
        status: Some(Status::Indexed),
        name_prefix: Some("obama".into()),
        possible_duplicates: false,
        limit: 100,
        before_id: None,
    };
    assert_eq!(names(&store, filter).await, ["Barack Obama"]);
}

/// Walks every page through the listing service, as the API does, from `cursor`.
async fn walk_from(
    store: &MysqlPersonStore,
    status: Option<&str>,
    limit: u32,
    mut cursor: Option<String>,
) -> Vec<Vec<PersonId>> {
    let mut pages = Vec::new();
    loop {
        let filter = parse_params(&ListParams {
            status: status.map(Into::into),
            duplicates: None,
            q: None,
            limit: Some(limit.to_string()),
            cursor: cursor.clone(),
        })
        .expect("parameters");
        let page = list_people(store, &filter).await.expect("page");
        assert!(page.items.len() <= limit as usize);
        pages.push(page.items.iter().map(|p| p.id).collect());
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return pages,
        }
        assert!(pages.len() < 1000, "the cursor does not advance");
    }
}

async fn walk(store: &MysqlPersonStore, status: Option<&str>, limit: u32) -> Vec<Vec<PersonId>> {
    walk_from(store, status, limit, None).await
}

#[tokio::test]
async fn cursors_walk_every_row_once_in_a_fixed_order() {
    let (_database, store) = fresh_store().await;
    let statuses = [Status::Indexed, Status::Pending, Status::Rejected];
    let people: Vec<(String, String, Status)> = (0..57)
        .map(|i| (format!("Last{i}"), format!("First{i}"), statuses[i % 3]))
        .collect();
    let borrowed: Vec<(&str, &str, Status)> = people
        .iter()
        .map(|(l, f, s)| (l.as_str(), f.as_str(), *s))
        .collect();
    let ids = seed(&store, &borrowed).await;
    let mut newest_first = ids.clone();
    newest_first.reverse();

    let pages = walk(&store, None, 10).await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [10, 10, 10, 10, 10, 7]
    );
    let walked: Vec<PersonId> = pages.concat();
    assert_eq!(walked, newest_first, "no duplicates, no gaps, newest first");
    assert_eq!(walk(&store, None, 10).await, pages, "deterministic");

    // A page size that divides the total: the last full page has no next cursor.
    let exact = walk(&store, None, 19).await;
    assert_eq!(exact.iter().map(Vec::len).collect::<Vec<_>>(), [19, 19, 19]);

    let indexed_ids: Vec<PersonId> = newest_first
        .iter()
        .zip(people.iter().rev())
        .filter(|(_, (_, _, status))| *status == Status::Indexed)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(walk(&store, Some("indexed"), 4).await.concat(), indexed_ids);

    // A row added while walking appears on no later page, and shifts nothing.
    let filter = parse_params(&ListParams {
        limit: Some("10".into()),
        ..Default::default()
    })
    .expect("parameters");
    let first_page = list_people(&store, &filter).await.expect("first page");
    seed(&store, &[("Late", "Comer", Status::Pending)]).await;
    let rest = walk_from(&store, None, 10, first_page.next_cursor).await;
    let mut walked: Vec<PersonId> = first_page.items.iter().map(|p| p.id).collect();
    walked.extend(rest.concat());
    assert_eq!(walked, newest_first);
}

#[tokio::test]
async fn unknown_ids_and_keys_are_none() {
    let (_database, store) = fresh_store().await;
    assert_eq!(store.get(PersonId(424242)).await.expect("get"), None);
    assert_eq!(
        store.find_by_key("nobody_here.jpg").await.expect("find"),
        None
    );
    assert!(
        store
            .list(&ListFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("list")
            .is_empty()
    );
}

#[tokio::test]
async fn ping_answers_and_an_unreachable_database_is_transient() {
    let (_database, store) = fresh_store().await;
    store.ping().await.expect("ping");

    let url = closed_port_url("s3cr3t-never-shown").expect("a free port");
    let pool = sqlx::mysql::MySqlPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect_lazy(&url)
        .expect("lazy pool");
    let error = MysqlPersonStore::new(pool)
        .ping()
        .await
        .expect_err("nothing listens");
    assert!(error.is_transient(), "{error}");
    assert!(!error.to_string().contains("s3cr3t-never-shown"), "{error}");
}

/// The migration to byte-for-byte keys keeps the people and keys of the
/// first schema: applied one by one, as a deployed stack meets them.
#[tokio::test]
async fn people_enrolled_before_the_key_migration_keep_their_rows_and_keys() {
    use sqlx::Executor;
    let database = TestDatabase::create_empty()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pool = database.pool();
    let mut migrations = registry_adapters::MIGRATOR.iter();
    let first = migrations.next().expect("the first migration");
    pool.execute(&*first.sql).await.expect("the first schema");
    sqlx::query(
        "INSERT INTO person (lastname, firstname, object_key, identity, status, object_sequencer) \
         VALUES ('García Márquez', 'Gabriel', 'garcia-marquez_gabriel.jpg', 'face-1', 'indexed', '01')",
    )
    .execute(pool)
    .await
    .expect("an old person");
    for migration in migrations {
        pool.execute(&*migration.sql)
            .await
            .expect("a later migration");
    }
    let store = MysqlPersonStore::new(pool.clone());
    let person = store
        .find_by_key("garcia-marquez_gabriel.jpg")
        .await
        .expect("find")
        .expect("the old person is there");
    assert_eq!(
        (
            person.lastname.as_str(),
            person.identity.as_deref(),
            person.status
        ),
        ("García Márquez", Some("face-1"), Status::Indexed)
    );
    // Byte for byte now: another case is another key.
    assert_eq!(
        store
            .find_by_key("GARCIA-MARQUEZ_GABRIEL.jpg")
            .await
            .unwrap(),
        None
    );
    // Its face is in the history of faces the migration started.
    assert_eq!(store.faces_ever(person.id).await.unwrap(), ["face-1"]);
}

#[tokio::test]
async fn every_change_is_in_the_audit_trail_with_its_caller_and_no_name() {
    use registry::audit::{Actor, AuditAction, AuditFilter, AuditTrail};
    let (_database, store) = fresh_store().await;
    let key = "0a.lovelace_ada.jpg";
    let person = store
        .create_pending(&new_person("Lovelace", "Ada", key), &audit())
        .await
        .unwrap();
    let indexer = AuditContext {
        actor: Actor::registry(),
        request_id: "indexer-1".into(),
    };
    store
        .record_indexing(&indexed(key, "01", "face-1"), &indexer)
        .await
        .unwrap();
    store.mark_pending(person.id, &audit()).await.unwrap();
    store
        .record_indexing(&indexed(key, "02", "face-2"), &indexer)
        .await
        .unwrap();
    store
        .rename(person.id, None, Some("Augusta Ada"), &audit())
        .await
        .unwrap();
    // Someone else's change is not this person's.
    store
        .create_pending(
            &new_person("Babbage", "Charles", "0b.babbage_charles.jpg"),
            &audit(),
        )
        .await
        .unwrap();

    let trail = |filter: AuditFilter| {
        let store = store.clone();
        async move { store.audit_trail(&filter).await.expect("the trail") }
    };
    let mine = trail(AuditFilter {
        person_id: Some(person.id),
        limit: 10,
        ..AuditFilter::default()
    })
    .await;
    let actions: Vec<AuditAction> = mine.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::Rename,
            AuditAction::Indexing,
            AuditAction::PhotoReplacement,
            AuditAction::Indexing,
            AuditAction::Enrolment,
        ],
        "newest first"
    );
    assert_eq!(mine[0].actor, audit().actor);
    assert_eq!(mine[0].request_id, "req-1");
    assert_eq!(mine[0].detail, serde_json::json!({"fields": ["firstname"]}));
    assert_eq!(mine[1].actor, Actor::registry());
    assert_eq!(mine[1].detail["faceId"], "face-2");
    assert_eq!(mine[1].detail["retiredFaceId"], "face-1");
    for entry in &mine {
        let text = entry.detail.to_string();
        for name in ["Lovelace", "Ada", "lovelace"] {
            assert!(!text.contains(name), "{text}");
        }
    }
    // Filters and the keyset cursor.
    let renames = trail(AuditFilter {
        action: Some(AuditAction::Rename),
        limit: 10,
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(renames.len(), 1);
    let by_registry = trail(AuditFilter {
        subject: Some(registry_testkit::ADMIN_SUBJECT.into()),
        limit: 10,
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(
        by_registry.len(),
        4,
        "the admin's four changes, not the indexer's"
    );
    let older = trail(AuditFilter {
        person_id: Some(person.id),
        before_id: Some(mine[1].id),
        limit: 10,
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(older, mine[2..].to_vec());
}
