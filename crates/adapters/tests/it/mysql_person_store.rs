//! The MySQL person store against the real server of `DATABASE_URL`, each
//! test in a fresh database of its own: what only a database shows
//! (concurrent writers, an unreachable server, migrations of rows already
//! there). What every person store promises is the contract suite's
//! (`registry_testkit::contract`), run against this store too.

use std::collections::HashSet;
use std::sync::Arc;

use registry::audit::AuditContext;
use registry::person::{FaceBox, Person, Status};
use registry::ports::{IndexingRecord, PersonStore, RecordOutcome};
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

fn indexed(key: &str, sequencer: &str, face_id: &str) -> IndexingRecord {
    IndexingRecord {
        object_key: key.into(),
        lastname: "Obama".into(),
        firstname: "Barack".into(),
        status: Status::Indexed,
        status_reason: None,
        identity: Some(face_id.into()),
        object_etag: Some(format!("\"etag-{sequencer}\"")),
        photo_sha256: None,
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
    let database = TestDatabase::create_empty()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pool = database.pool();
    migrate_until(pool, 20261124000001).await;
    sqlx::query(
        "INSERT INTO person (lastname, firstname, object_key, identity, status, object_sequencer) \
         VALUES ('García Márquez', 'Gabriel', 'garcia-marquez_gabriel.jpg', 'face-1', 'indexed', '01')",
    )
    .execute(pool)
    .await
    .expect("an old person");
    registry_adapters::MIGRATOR
        .run(pool)
        .await
        .expect("the later migrations");
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

/// Applies the repository's migrations up to `version`, as a stack
/// deployed then had them (recorded as sqlx records them); the embedded
/// migrator then applies the rest.
async fn migrate_until(pool: &sqlx::MySqlPool, version: i64) {
    let dir = tempfile::tempdir().expect("a folder");
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    for migration in registry_adapters::MIGRATOR
        .iter()
        .filter(|m| m.version <= version)
    {
        let name = format!(
            "{}_{}.sql",
            migration.version,
            migration.description.replace(' ', "_")
        );
        std::fs::copy(migrations.join(&name), dir.path().join(&name)).expect("a migration");
    }
    sqlx::migrate::Migrator::new(dir.path())
        .await
        .expect("the migrations so far")
        .run(pool)
        .await
        .expect("applied");
}

/// Erasures recorded before keys were told apart kept their digest for
/// good; the migration after takes them as plain keys, whose digests
/// reconcile forgets. Later ones keep what they were recorded with.
#[tokio::test]
async fn erasures_recorded_before_keys_were_told_apart_are_taken_as_plain() {
    let database = TestDatabase::create_empty()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pool = database.pool();
    migrate_until(pool, 20261201000001).await;
    sqlx::query(
        "INSERT INTO erasure (person_id, key_digest, requested_at, completed_at) \
         VALUES (1, UNHEX(SHA2('dupont_jean.jpg', 256)), NOW(3) - INTERVAL 1 DAY, NOW(3) - INTERVAL 1 DAY)",
    )
    .execute(pool)
    .await
    .expect("an old erasure");
    migrate_until(pool, 20261203000001).await;
    sqlx::query(
        "INSERT INTO erasure (person_id, key_digest, key_has_token, requested_at, completed_at) \
         VALUES (2, UNHEX(SHA2('0a.dupont_jean.jpg', 256)), TRUE, NOW(3) + INTERVAL 1 SECOND, NOW(3) + INTERVAL 1 SECOND)",
    )
    .execute(pool)
    .await
    .expect("a later erasure");
    registry_adapters::MIGRATOR
        .run(pool)
        .await
        .expect("the later migrations");
    let marks: Vec<(u64, bool)> =
        sqlx::query_as("SELECT person_id, key_has_token FROM erasure ORDER BY person_id")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(marks, [(1, false), (2, true)]);
}
