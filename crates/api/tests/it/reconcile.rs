//! Reconcile's rules over the MySQL store (each test in a fresh database on
//! the `DATABASE_URL` server), with the collection and the bucket in memory
//! so that faults can be injected and pages made small. The function
//! against the whole local stack is tested end to end (`registry-local`).

use std::time::{Duration, Instant};

use chrono::Utc;
use registry::audit::{Actor, AuditContext};
use registry::erasure::key_digest;
use registry::person::{FaceBox, Status};
use registry::ports::{
    IndexingRecord, NewPerson, PersonStore, PhotoStore, PortError, ReconcileStore,
};
use registry::reconcile::{ReconcileReport, ReconcileSettings, Reconciler};
use registry_adapters::MysqlPersonStore;
use registry_testkit::{InMemoryBucket, InMemoryCollection, TestDatabase, admin_audit};

struct World {
    database: TestDatabase,
    people: MysqlPersonStore,
    faces: InMemoryCollection,
    photos: InMemoryBucket,
}

impl World {
    async fn new() -> Self {
        let database = TestDatabase::create()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let people = MysqlPersonStore::new(database.pool().clone());
        Self {
            database,
            people,
            faces: InMemoryCollection::default(),
            photos: InMemoryBucket::default(),
        }
    }

    fn reconciler<'a>(
        &'a self,
        audit: &'a AuditContext,
    ) -> Reconciler<'a, MysqlPersonStore, InMemoryBucket, InMemoryCollection> {
        Reconciler {
            people: &self.people,
            photos: &self.photos,
            faces: &self.faces,
            settings: ReconcileSettings {
                grace: chrono::Duration::minutes(15),
                upload_url_ttl: chrono::Duration::minutes(5),
                // Small pages: every scan takes several.
                page_size: 2,
                late_events_for: chrono::Duration::days(14),
            },
            audit,
        }
    }

    async fn run(&self) -> Result<ReconcileReport, PortError> {
        self.reconciler(&registry_audit())
            .run(Instant::now() + Duration::from_secs(60))
            .await
    }

    /// The grace period passes for everything so far.
    async fn let_grace_pass(&self) {
        for statement in [
            "UPDATE person SET updated_at = updated_at - INTERVAL 1 HOUR",
            "UPDATE drift_sighting SET first_seen_at = first_seen_at - INTERVAL 1 HOUR",
        ] {
            sqlx::query(statement)
                .execute(self.database.pool())
                .await
                .expect("times moved back");
        }
    }

    /// A person indexed with `face`, their photo in the bucket.
    async fn indexed(&self, key: &str, face: &str) {
        self.people
            .record_indexing(
                &IndexingRecord {
                    object_key: key.into(),
                    lastname: "Dupont".into(),
                    firstname: "Jean".into(),
                    status: Status::Indexed,
                    status_reason: None,
                    identity: Some(face.into()),
                    object_etag: None,
                    photo_sha256: None,
                    object_sequencer: "0A".into(),
                    object_created_at: Utc::now(),
                    face_confidence: Some(99.0),
                    face_box: Some(FaceBox {
                        left: 0.1,
                        top: 0.1,
                        width: 0.5,
                        height: 0.5,
                    }),
                    possible_duplicate: None,
                    discarded_faces: Vec::new(),
                },
                &admin_audit(),
            )
            .await
            .expect("recorded");
        self.faces.add(face);
        self.photos.put(key, b"photo", Utc::now());
    }
}

fn registry_audit() -> AuditContext {
    AuditContext {
        actor: Actor::registry(),
        request_id: "reconcile-test".into(),
    }
}

fn key(n: u32) -> String {
    format!("{n:032x}.dupont_jean.jpg")
}

#[tokio::test]
async fn a_run_stopped_by_a_fault_resumes_from_its_checkpoint() {
    let world = World::new().await;
    for n in 0..5 {
        world.faces.add(&format!("stray-{n}"));
    }
    // The first page is listed, the second fails.
    world.faces.fail_listing_after(1);
    let stopped = world.run().await.unwrap_err();
    assert!(stopped.is_transient(), "{stopped}");

    let resumed = world.run().await.expect("the run");
    assert!(resumed.faces_pass_complete, "{resumed:?}");
    // The pass went on from the second page.
    assert_eq!(resumed.faces_checked, 3, "{resumed:?}");

    // Both runs' sightings count for the pass: after the grace, a new pass
    // deletes all five.
    world.let_grace_pass().await;
    let repaired = world.run().await.expect("the run");
    assert_eq!(repaired.faces_checked, 5, "{repaired:?}");
    assert_eq!(repaired.orphan_faces_deleted, 5, "{repaired:?}");
    assert!(world.faces.faces().is_empty());
}

#[tokio::test]
async fn the_scans_page_through_everything_and_touch_nothing_in_place() {
    let world = World::new().await;
    for n in 0..5 {
        world.indexed(&key(n), &format!("face-{n}")).await;
    }
    world.let_grace_pass().await;
    let report = world.run().await.expect("the run");
    assert_eq!(report.faces_checked, 5);
    assert_eq!(report.photos_checked, 5);
    assert_eq!(report.drift(), 0, "{report:?}");
    assert_eq!(world.faces.faces().len(), 5);
    assert!(world.photos.rewrites().is_empty());
}

#[tokio::test]
async fn people_whose_photos_are_gone_are_read_a_page_at_a_time() {
    let world = World::new().await;
    for n in 0..7 {
        world.indexed(&key(n), &format!("face-{n}")).await;
    }
    // Five photos in a row gone: their range holds more people than a page.
    for n in 1..=5 {
        world.photos.delete(&key(n));
    }
    let first_two = world
        .people
        .people_by_key(None, None, 2)
        .await
        .expect("read");
    let keys: Vec<&str> = first_two.iter().map(|p| p.object_key.as_str()).collect();
    assert_eq!(keys, [key(0), key(1)]);

    world.let_grace_pass().await;
    let report = world.run().await.expect("the run");
    assert!(report.photos_pass_complete, "{report:?}");
    assert_eq!(report.photos_checked, 2, "{report:?}");
    assert_eq!(report.photos_gone, 5, "{report:?}");
    for n in 0..7 {
        let person = world
            .people
            .find_by_key(&key(n))
            .await
            .expect("read")
            .expect("kept");
        let gone = (1..=5).contains(&n);
        assert_eq!(person.status == Status::Rejected, gone, "person {n}");
    }
}

#[tokio::test]
async fn concurrent_runs_repair_once_and_both_succeed() {
    let world = World::new().await;
    world.indexed(&key(1), "face-1").await;
    world.faces.add("stray");
    world.photos.put(&key(2), b"never recorded", Utc::now());
    world.run().await.expect("first sightings");
    world.let_grace_pass().await;

    let (a, b) = tokio::join!(world.run(), world.run());
    let (a, b) = (a.expect("a run"), b.expect("the other run"));
    assert!(a.orphan_faces_deleted + b.orphan_faces_deleted >= 1);
    assert_eq!(world.faces.faces(), ["face-1"]);
    // Written again at most once per run, and the photo is still there.
    assert!((1..=2).contains(&world.photos.rewrites().len()));
    assert!(world.photos.version_count(&key(2)) >= 2);
}

#[tokio::test]
async fn what_an_erasure_covers_is_deleted_and_a_plain_key_used_again_is_kept() {
    let world = World::new().await;
    let done = Utc::now() - chrono::Duration::hours(2);
    let erase = |person_id: u64, key: String| {
        let pool = world.database.pool().clone();
        async move {
            sqlx::query(
                "INSERT INTO erasure (person_id, key_digest, requested_at, completed_at, receipt) \
                 VALUES (?, ?, ?, ?, '{}')",
            )
            .bind(person_id)
            .bind(key_digest(&key).as_slice())
            .bind(done)
            .bind(done)
            .execute(&pool)
            .await
            .expect("an erasure recorded");
        }
    };
    // A key with a token: everything under it was the erased person's.
    let token_key = key(7);
    world.photos.put(
        &token_key,
        b"left behind",
        done - chrono::Duration::hours(1),
    );
    world.photos.put(&token_key, b"a late PUT", Utc::now());
    erase(1001, token_key.clone()).await;
    // A plain key: the version from before the erasure was the erased
    // person's, the one after is a new person's photo.
    let plain = "dupont_jean.jpg";
    world
        .photos
        .put(plain, b"left behind", done - chrono::Duration::hours(1));
    world.photos.put(plain, b"a new person", Utc::now());
    erase(1002, plain.to_owned()).await;

    let report = world.run().await.expect("the run");
    assert_eq!(report.erased_photo_versions_deleted, 3, "{report:?}");
    assert_eq!(world.photos.version_count(&token_key), 0);
    assert_eq!(world.photos.version_count(plain), 1);
    // The new person's photo is unindexed: noted, and written again once
    // the grace has passed.
    assert_eq!(report.unindexed_photos_found, 1, "{report:?}");
    world.let_grace_pass().await;
    world.run().await.expect("the run");
    assert_eq!(world.photos.rewrites(), [plain]);
}

#[tokio::test]
async fn a_row_changed_since_it_was_read_is_left_alone() {
    let world = World::new().await;
    let person = world
        .people
        .create_pending(
            &NewPerson {
                lastname: "Dupont".into(),
                firstname: "Jean".into(),
                object_key: key(3),
            },
            &admin_audit(),
        )
        .await
        .expect("created");
    let stale = person.updated_at - chrono::Duration::seconds(1);
    assert!(
        !world
            .people
            .reject_unchanged(person.id, stale, "test", &admin_audit())
            .await
            .expect("asked")
    );
    assert!(
        world
            .people
            .reject_unchanged(person.id, person.updated_at, "test", &admin_audit())
            .await
            .expect("asked")
    );
    let now = world
        .people
        .get(person.id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(now.status, Status::Rejected);
    assert_eq!(now.status_reason.as_deref(), Some("test"));
}

#[tokio::test]
async fn a_rebuild_writes_every_persons_photo_again_but_an_erased_ones() {
    let world = World::new().await;
    for n in 0..5 {
        world.indexed(&key(n), &format!("face-{n}")).await;
    }
    // A photo no person records is the scan's to judge, not the rebuild's.
    world.photos.put(&key(9), b"nobody's", Utc::now());
    let erasing = world
        .people
        .find_by_key(&key(4))
        .await
        .expect("read")
        .expect("a person");
    world
        .people
        .begin_erasure(erasing.id)
        .await
        .expect("erasure begun");

    let report = world
        .reconciler(&registry_audit())
        .rebuild_collection(Instant::now() + Duration::from_secs(60))
        .await
        .expect("the rebuild");
    assert!(report.complete, "{report:?}");
    assert_eq!(report.photos_checked, 6);
    assert_eq!(report.photos_redriven, 4);
    assert_eq!(world.photos.rewrites(), [key(0), key(1), key(2), key(3)]);
}

#[tokio::test]
async fn a_plain_keys_digest_is_forgotten_once_no_late_event_can_come() {
    let world = World::new().await;
    let erase = |id: u64, key: &str, has_token: bool, days_ago: i64| {
        let pool = world.database.pool().clone();
        let key = key.to_owned();
        async move {
            let done = Utc::now() - chrono::Duration::days(days_ago);
            sqlx::query(
                "INSERT INTO erasure (person_id, key_digest, key_has_token, requested_at, \
                 completed_at, receipt) VALUES (?, ?, ?, ?, ?, '{}')",
            )
            .bind(id)
            .bind(key_digest(&key).as_slice())
            .bind(has_token)
            .bind(done)
            .bind(done)
            .execute(&pool)
            .await
            .expect("an erasure recorded");
        }
    };
    erase(1, "dupont_jean.jpg", false, 15).await;
    erase(2, "martin_anne.jpg", false, 13).await;
    erase(3, &key(3), true, 400).await;
    let report = world.run().await.expect("the run");
    assert_eq!(report.erased_key_digests_forgotten, 1);
    let kept: Vec<u64> = sqlx::query_scalar(
        "SELECT person_id FROM erasure WHERE key_digest IS NOT NULL ORDER BY person_id",
    )
    .fetch_all(world.database.pool())
    .await
    .expect("read");
    assert_eq!(kept, [2, 3]);
}

#[tokio::test]
async fn an_erasure_records_whether_its_key_has_a_token() {
    let world = World::new().await;
    world.indexed(&key(1), "face-1").await;
    world.indexed("dupont_jean.jpg", "face-2").await;
    for (key, has_token) in [(key(1), true), ("dupont_jean.jpg".to_owned(), false)] {
        let person = world
            .people
            .find_by_key(&key)
            .await
            .expect("read")
            .expect("a person");
        world
            .people
            .begin_erasure(person.id)
            .await
            .expect("erasure begun");
        let recorded: bool =
            sqlx::query_scalar("SELECT key_has_token FROM erasure WHERE person_id = ?")
                .bind(person.id.0)
                .fetch_one(world.database.pool())
                .await
                .expect("the erasure");
        assert_eq!(recorded, has_token, "{key}");
    }
}

/// A corrected name's move cut short (the record moved, the photo still
/// at the old key) is finished once its grace has passed, before the photo
/// scan could take the old key for a photo nobody records.
#[tokio::test]
async fn a_move_to_a_corrected_names_key_cut_short_is_finished() {
    let world = World::new().await;
    let old = key(1);
    world.indexed(&old, "face-1").await;
    let person = world.people.find_by_key(&old).await.unwrap().unwrap();
    let new = format!("{:032x}.durand_jean.jpg", 2);
    world
        .people
        .rename_with_key(person.id, Some("Durand"), None, &new, &admin_audit())
        .await
        .unwrap();
    let report = world.run().await.unwrap();
    assert_eq!(
        report.unfinished_moves_found, 0,
        "within its grace: {report:?}"
    );
    assert_eq!(
        report.photos_redriven, 0,
        "the old key is not taken for a new photo"
    );
    sqlx::query("UPDATE key_move SET moved_at = moved_at - INTERVAL 1 HOUR")
        .execute(world.database.pool())
        .await
        .unwrap();
    world.let_grace_pass().await;
    let report = world.run().await.unwrap();
    assert_eq!(
        (report.unfinished_moves_found, report.moves_finished),
        (1, 1),
        "{report:?}"
    );
    assert!(world.photos.versions(&old).await.unwrap().is_empty());
    assert!(world.photos.stat(&new).await.unwrap().is_some());
    assert_eq!(world.people.unfinished_move(person.id).await.unwrap(), None);
    assert_eq!(report.photos_redriven, 0, "{report:?}");
}
