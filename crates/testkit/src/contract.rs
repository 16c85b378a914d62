//! The person store's contract: what every [`PersonStore`] (with its
//! [`AuditTrail`]) promises, as one suite that runs against the MySQL store
//! and against [`crate::InMemoryPersonStore`], so that a rule the fake keeps
//! is a rule the database keeps.
//!
//! Each case takes a fresh, empty store. [`person_store_contract!`] makes a
//! test of each case from an expression that makes one.

use chrono::{Duration, Utc};
use registry::audit::{Actor, AuditAction, AuditContext, AuditFilter, AuditTrail};
use registry::duplicates::{PossibleDuplicate, Resolution, Resolved};
use registry::erasure::{Checked, ErasureBegun, ErasureFinished, ErasureReceipt, Removed};
use registry::listing::{ListParams, list_people, parse_params};
use registry::person::{FaceBox, Person, PersonId, Status};
use registry::photo::sha256_hex;
use registry::ports::{
    IndexingRecord, ListFilter, NewPerson, PersonStore, PortError, RecordOutcome,
};
use serde_json::json;

use crate::admin_audit;

/// The cases, by name: the macro makes one test of each.
#[macro_export]
macro_rules! person_store_contract {
    ($new_store:expr) => {
        $crate::contract_tests!(contract, $new_store;
            enrolment_creates_a_pending_person,
            values_longer_than_their_columns_are_refused_whole,
            listing_pages_and_filters,
            people_are_found_by_their_photos_hash,
            an_outcome_for_a_new_key_enrols_from_the_names_given,
            only_a_newer_object_version_is_recorded,
            a_replaced_face_is_retired_until_forgotten,
            faces_set_aside_are_retired_until_forgotten,
            a_face_is_one_persons,
            an_erased_key_records_nothing,
            a_plain_key_is_used_again_after_its_erasure,
            erasure_removes_the_person_and_keeps_the_receipt,
            two_finishers_of_one_erasure_keep_one_receipt,
            duplicates_are_resolved_and_remembered,
            the_trail_filters_and_pages,
            namesakes_are_two_people_and_keys_compare_byte_for_byte,
            a_new_photo_marks_an_indexed_person_pending_and_keeps_the_face_until_replaced,
            a_rename_changes_the_names_given_and_nothing_else,
            a_replayed_record_changes_nothing_after_the_first,
            an_older_record_after_a_newer_one_is_stale,
            a_replacement_sets_the_old_face_aside_until_it_is_forgotten,
            recording_the_same_face_again_does_not_retire_it,
            a_record_without_a_row_creates_the_person_from_its_names,
            listing_filters_by_status_and_by_name_prefix,
            cursors_walk_every_row_once_in_a_fixed_order,
            unknown_ids_and_keys_are_none,
            every_change_is_in_the_audit_trail_with_its_caller_and_no_name,
        );
    };
}

/// One test per case of the contract in module `$module`, each on what
/// `$new_subject` makes (an expression whose future yields `(guard,
/// subject)`; the guard lives as long as the test).
#[macro_export]
macro_rules! contract_tests {
    ($module:ident, $new_subject:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (_guard, subject) = $new_subject.await;
                $crate::$module::$case(&subject).await;
            }
        )*
    };
}

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn audit() -> AuditContext {
    admin_audit()
}

/// How many people the store holds.
async fn row_count<S: PersonStore>(store: &S) -> i64 {
    let all = store.list(&page(10_000)).await.expect("list");
    i64::try_from(all.len()).expect("a count")
}

async fn person_by_key<S: PersonStore>(store: &S, key: &str) -> Person {
    store
        .find_by_key(key)
        .await
        .expect("find by key")
        .unwrap_or_else(|| panic!("no person with key {key}"))
}

fn registry_audit() -> AuditContext {
    AuditContext {
        actor: registry::audit::Actor::registry(),
        request_id: "event-1".into(),
    }
}

fn new_person(lastname: &str, firstname: &str, key: &str) -> NewPerson {
    NewPerson {
        lastname: lastname.into(),
        firstname: firstname.into(),
        object_key: key.into(),
    }
}

/// An indexed outcome of the object version `sequencer` of `key`, with face `face`.
fn indexed(key: &str, sequencer: &str, face: &str) -> IndexingRecord {
    IndexingRecord {
        object_key: key.into(),
        lastname: "Lovelace".into(),
        firstname: "Ada".into(),
        status: Status::Indexed,
        status_reason: None,
        identity: Some(face.into()),
        object_etag: Some(format!("\"etag-{sequencer}\"")),
        photo_sha256: Some(sha256_hex(format!("{key}@{sequencer}").as_bytes())),
        object_sequencer: sequencer.into(),
        object_created_at: Utc::now(),
        face_confidence: Some(99.5),
        face_box: Some(FaceBox {
            left: 0.25,
            top: 0.125,
            width: 0.5,
            height: 0.5,
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

fn recorded(outcome: RecordOutcome) -> (Person, Option<String>) {
    match outcome {
        RecordOutcome::Recorded {
            person,
            retired_face,
        } => (*person, retired_face),
        other => panic!("expected the outcome recorded, got {other:?}"),
    }
}

fn page(limit: u32) -> ListFilter {
    ListFilter {
        limit,
        ..ListFilter::default()
    }
}

fn ids(people: &[Person]) -> Vec<PersonId> {
    people.iter().map(|p| p.id).collect()
}

async fn trail<S: AuditTrail>(store: &S, person: PersonId) -> Vec<AuditAction> {
    let filter = AuditFilter {
        person_id: Some(person),
        limit: 100,
        ..AuditFilter::default()
    };
    let entries = store.audit_trail(&filter).await.expect("the trail is read");
    entries.into_iter().rev().map(|e| e.action).collect()
}

/// The details (receipts) of the erasures of `person` in the trail.
async fn erasures_in_trail<S: AuditTrail>(store: &S, person: PersonId) -> Vec<serde_json::Value> {
    let filter = AuditFilter {
        person_id: Some(person),
        action: Some(AuditAction::Erasure),
        limit: 10,
        ..AuditFilter::default()
    };
    let entries = store.audit_trail(&filter).await.expect("the trail is read");
    entries.into_iter().map(|e| e.detail).collect()
}

async fn enrol<S: PersonStore>(store: &S, lastname: &str, firstname: &str) -> Person {
    let key = format!(
        "{TOKEN}.{}_{}.jpg",
        lastname.to_lowercase(),
        firstname.to_lowercase()
    );
    store
        .create_pending(&new_person(lastname, firstname, &key), &admin_audit())
        .await
        .expect("the person is enrolled")
}

fn receipt(
    person: PersonId,
    requested_at: chrono::DateTime<Utc>,
    faces: &[String],
) -> ErasureReceipt {
    ErasureReceipt {
        person_id: person,
        requested_at,
        completed_at: Utc::now(),
        removed: Removed {
            face_ids: faces.to_vec(),
            photo_versions: 1,
            delete_markers: 0,
            record: true,
        },
        checked: Checked {
            face_ids: faces.len(),
            faces_left: 0,
            photo_versions_left: 0,
            record_left: false,
        },
    }
}

pub async fn enrolment_creates_a_pending_person<S: PersonStore + AuditTrail>(store: &S) {
    let key = format!("{TOKEN}.lovelace_ada.jpg");
    let person = store
        .create_pending(&new_person("Lovelace", "Ada", &key), &admin_audit())
        .await
        .expect("enrolled");
    assert_eq!(person.status, Status::Pending);
    assert_eq!(
        (person.lastname.as_str(), person.firstname.as_str()),
        ("Lovelace", "Ada")
    );
    assert_eq!(person.object_key, key);
    assert_eq!(person.identity, None);
    assert_eq!(store.get(person.id).await.unwrap(), Some(person.clone()));
    assert_eq!(store.find_by_key(&key).await.unwrap(), Some(person.clone()));
    assert_eq!(store.get(PersonId(person.id.0 + 1000)).await.unwrap(), None);
    assert_eq!(store.find_by_key("lovelace_ada.jpg").await.unwrap(), None);
    assert_eq!(trail(store, person.id).await, [AuditAction::Enrolment]);
    store.ping().await.expect("the store answers");
}

pub async fn values_longer_than_their_columns_are_refused_whole<S: PersonStore + AuditTrail>(
    store: &S,
) {
    let long_name = "a".repeat(101);
    let refused = store
        .create_pending(
            &new_person(&long_name, "Ada", &format!("{TOKEN}.x_ada.jpg")),
            &admin_audit(),
        )
        .await;
    assert!(
        matches!(refused, Err(PortError::Permanent(_))),
        "{refused:?}"
    );
    // A hundred characters fit, whatever their size in bytes.
    let hundred = "é".repeat(100);
    let fits = store
        .create_pending(
            &new_person(&hundred, "Ada", &format!("{TOKEN}.e_ada.jpg")),
            &admin_audit(),
        )
        .await
        .expect("100 characters fit");
    assert_eq!(fits.lastname, hundred);

    let key = "lovelace_ada.jpg";
    let too_long = rejected(key, "01", &"r".repeat(501));
    let refused = store.record_indexing(&too_long, &registry_audit()).await;
    assert!(
        matches!(refused, Err(PortError::Permanent(_))),
        "{refused:?}"
    );
    assert_eq!(
        store.find_by_key(key).await.unwrap(),
        None,
        "nothing half-written"
    );
    let renamed = store
        .rename(fits.id, Some(&long_name), None, &admin_audit())
        .await;
    assert!(
        matches!(renamed, Err(PortError::Permanent(_))),
        "{renamed:?}"
    );
    assert_eq!(store.get(fits.id).await.unwrap().unwrap().lastname, hundred);
    assert_eq!(trail(store, fits.id).await, [AuditAction::Enrolment]);
}

pub async fn listing_pages_and_filters<S: PersonStore + AuditTrail>(store: &S) {
    let mut people = Vec::new();
    for n in 0..7 {
        people.push(enrol(store, &format!("Name{n}"), "Ada").await);
    }
    let newest_first: Vec<PersonId> = people.iter().rev().map(|p| p.id).collect();
    let first = store.list(&page(3)).await.unwrap();
    assert_eq!(ids(&first), newest_first[..3]);
    let second = store
        .list(&ListFilter {
            before_id: Some(first[2].id),
            limit: 3,
            ..ListFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&second), newest_first[3..6]);

    store
        .record_indexing(
            &indexed(&people[1].object_key, "01", "face-1"),
            &registry_audit(),
        )
        .await
        .unwrap();
    store
        .record_indexing(
            &rejected(&people[2].object_key, "01", "no face"),
            &registry_audit(),
        )
        .await
        .unwrap();
    let by_status = async |status| {
        store
            .list(&ListFilter {
                status: Some(status),
                limit: 10,
                ..ListFilter::default()
            })
            .await
    };
    assert_eq!(
        ids(&by_status(Status::Indexed).await.unwrap()),
        [people[1].id]
    );
    assert_eq!(
        ids(&by_status(Status::Rejected).await.unwrap()),
        [people[2].id]
    );
    assert_eq!(by_status(Status::Pending).await.unwrap().len(), 5);

    let mut flagged = indexed(&people[3].object_key, "01", "face-3");
    flagged.possible_duplicate = Some(PossibleDuplicate {
        person_id: people[1].id,
        similarity: 97.5,
    });
    store
        .record_indexing(&flagged, &registry_audit())
        .await
        .unwrap();
    let duplicates = store
        .list(&ListFilter {
            possible_duplicates: true,
            limit: 10,
            ..ListFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&duplicates), [people[3].id]);
    assert_eq!(duplicates[0].possible_duplicate, flagged.possible_duplicate);

    let faces = [
        "face-1".to_owned(),
        "face-3".to_owned(),
        "face-unknown".to_owned(),
    ];
    let mut found = ids(&store.find_by_identities(&faces).await.unwrap());
    found.sort();
    assert_eq!(found, [people[1].id, people[3].id]);
    assert!(store.find_by_identities(&[]).await.unwrap().is_empty());
}

/// A re-run of a bulk import finds the files already in by their hash:
/// indexed or rejected, and only for the photo recorded now.
pub async fn people_are_found_by_their_photos_hash<S: PersonStore + AuditTrail>(store: &S) {
    let audit = registry_audit();
    let first = indexed("lovelace_ada.jpg", "0A", "face-1");
    let refused = rejected(
        "babbage_charles.jpg",
        "0A",
        "No face was found in the photo.",
    );
    let (ada, _) = recorded(store.record_indexing(&first, &audit).await.unwrap());
    let (charles, _) = recorded(store.record_indexing(&refused, &audit).await.unwrap());
    let by_hash = |hash: &Option<String>| ListFilter {
        photo_sha256: hash.clone(),
        limit: 10,
        ..ListFilter::default()
    };
    let ids = |people: Vec<Person>| people.into_iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list(&by_hash(&first.photo_sha256)).await.unwrap()),
        [ada.id]
    );
    assert_eq!(
        ids(store.list(&by_hash(&refused.photo_sha256)).await.unwrap()),
        [charles.id]
    );
    let unknown = Some(sha256_hex(b"never uploaded"));
    assert!(store.list(&by_hash(&unknown)).await.unwrap().is_empty());

    // A new photo of Ada: her record holds its hash, not the old one's.
    let second = indexed("lovelace_ada.jpg", "0B", "face-2");
    store.record_indexing(&second, &audit).await.unwrap();
    assert!(
        store
            .list(&by_hash(&first.photo_sha256))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(store.list(&by_hash(&second.photo_sha256)).await.unwrap()),
        [ada.id]
    );
}

pub async fn an_outcome_for_a_new_key_enrols_from_the_names_given<S: PersonStore + AuditTrail>(
    store: &S,
) {
    let key = "lovelace_ada.jpg";
    let record = indexed(key, "0A", "face-1");
    let (person, retired) = recorded(
        store
            .record_indexing(&record, &registry_audit())
            .await
            .unwrap(),
    );
    assert_eq!(retired, None);
    assert_eq!(
        (person.lastname.as_str(), person.firstname.as_str()),
        ("Lovelace", "Ada")
    );
    assert_eq!(person.object_key, key);
    assert_eq!(person.status, Status::Indexed);
    assert_eq!(person.identity.as_deref(), Some("face-1"));
    assert_eq!(person.object_etag, record.object_etag);
    assert_eq!(person.object_sequencer.as_deref(), Some("0A"));
    assert_eq!(person.photo_sha256, record.photo_sha256);
    assert_eq!(person.face_confidence, Some(99.5));
    assert_eq!(person.face_box, record.face_box);
    assert_eq!(store.get(person.id).await.unwrap(), Some(person.clone()));
    assert_eq!(store.faces_ever(person.id).await.unwrap(), ["face-1"]);
    let entries = store
        .audit_trail(&AuditFilter {
            person_id: Some(person.id),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, AuditAction::Indexing);
    assert_eq!(entries[0].actor.subject, None, "the registry's own work");
    assert_eq!(
        entries[0].detail,
        json!({ "status": "indexed", "sequencer": "0A", "faceId": "face-1" })
    );
}

pub async fn only_a_newer_object_version_is_recorded<S: PersonStore + AuditTrail>(store: &S) {
    let ada = enrol(store, "Lovelace", "Ada").await;
    let key = &ada.object_key;
    recorded(
        store
            .record_indexing(&indexed(key, "0B", "face-1"), &registry_audit())
            .await
            .unwrap(),
    );
    for (sequencer, why) in [
        ("0B", "the same version"),
        ("0A", "an older version"),
        ("0a", "the same, in lower case"),
    ] {
        let outcome = store
            .record_indexing(&rejected(key, sequencer, "late"), &registry_audit())
            .await
            .unwrap();
        assert!(
            matches!(&outcome, RecordOutcome::Stale { recorded_sequencer } if recorded_sequencer == "0B"),
            "{why} is stale: {outcome:?}"
        );
    }
    // Sequencers of different lengths compare as if padded with zeros.
    let outcome = store
        .record_indexing(&rejected(key, "0B00", "same, padded"), &registry_audit())
        .await
        .unwrap();
    assert!(
        matches!(outcome, RecordOutcome::Stale { .. }),
        "{outcome:?}"
    );
    let (person, _) = recorded(
        store
            .record_indexing(&rejected(key, "0B01", "no face"), &registry_audit())
            .await
            .unwrap(),
    );
    assert_eq!(person.status, Status::Rejected);
    assert_eq!(person.status_reason.as_deref(), Some("no face"));
    assert_eq!(person.identity, None);
    assert_eq!(person.face_box, None);
    assert_eq!(
        trail(store, ada.id).await,
        [
            AuditAction::Enrolment,
            AuditAction::Indexing,
            AuditAction::Indexing
        ],
        "a stale outcome leaves no entry"
    );
}

pub async fn a_replaced_face_is_retired_until_forgotten<S: PersonStore + AuditTrail>(store: &S) {
    let ada = enrol(store, "Lovelace", "Ada").await;
    let key = &ada.object_key;
    recorded(
        store
            .record_indexing(&indexed(key, "01", "face-1"), &registry_audit())
            .await
            .unwrap(),
    );
    let mut second = indexed(key, "02", "face-2");
    second.discarded_faces = vec!["face-extra".into()];
    let (person, retired) = recorded(
        store
            .record_indexing(&second, &registry_audit())
            .await
            .unwrap(),
    );
    assert_eq!(retired.as_deref(), Some("face-1"));
    assert_eq!(person.identity.as_deref(), Some("face-2"));
    let mut retired = store.retired_faces(10).await.unwrap();
    retired.sort();
    assert_eq!(retired, ["face-1", "face-extra"]);
    assert_eq!(store.retired_faces(1).await.unwrap().len(), 1);
    assert_eq!(
        store.faces_ever(ada.id).await.unwrap(),
        ["face-1", "face-2"]
    );
    // The same face again retires nothing.
    let (_, retired) = recorded(
        store
            .record_indexing(&indexed(key, "03", "face-2"), &registry_audit())
            .await
            .unwrap(),
    );
    assert_eq!(retired, None);

    store
        .forget_retired_faces(&["face-1".into(), "face-never-retired".into()])
        .await
        .unwrap();
    assert_eq!(store.retired_faces(10).await.unwrap(), ["face-extra"]);
    store.forget_retired_faces(&[]).await.unwrap();
    // A rejection retires the face it replaces.
    let (_, retired) = recorded(
        store
            .record_indexing(&rejected(key, "04", "no face"), &registry_audit())
            .await
            .unwrap(),
    );
    assert_eq!(retired.as_deref(), Some("face-2"));
    let entry = store
        .audit_trail(&AuditFilter {
            person_id: Some(ada.id),
            limit: 1,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        entry[0].detail,
        json!({ "status": "rejected", "sequencer": "04", "retiredFaceId": "face-2" })
    );
}

pub async fn faces_set_aside_are_retired_until_forgotten<S: PersonStore + AuditTrail>(store: &S) {
    let faces = ["face-x".to_owned(), "face-y".to_owned()];
    store.set_faces_aside(&faces).await.unwrap();
    store.set_faces_aside(&faces[..1]).await.unwrap();
    store.set_faces_aside(&[]).await.unwrap();
    let mut retired = store.retired_faces(10).await.unwrap();
    retired.sort();
    assert_eq!(retired, faces, "each once");
    store.forget_retired_faces(&faces).await.unwrap();
    assert!(store.retired_faces(10).await.unwrap().is_empty());
}

pub async fn a_face_is_one_persons<S: PersonStore + AuditTrail>(store: &S) {
    let ada = enrol(store, "Lovelace", "Ada").await;
    let grace = enrol(store, "Hopper", "Grace").await;
    recorded(
        store
            .record_indexing(&indexed(&ada.object_key, "01", "face-1"), &registry_audit())
            .await
            .unwrap(),
    );
    let refused = store
        .record_indexing(
            &indexed(&grace.object_key, "01", "face-1"),
            &registry_audit(),
        )
        .await;
    assert!(
        matches!(refused, Err(PortError::Permanent(_))),
        "{refused:?}"
    );
    let grace_now = store.get(grace.id).await.unwrap().unwrap();
    assert_eq!(grace_now.status, Status::Pending, "nothing half-written");
    assert_eq!(grace_now.object_sequencer, None);
    assert_eq!(trail(store, grace.id).await, [AuditAction::Enrolment]);
}

pub async fn an_erased_key_records_nothing<S: PersonStore + AuditTrail>(store: &S) {
    let ada = enrol(store, "Lovelace", "Ada").await;
    let key = ada.object_key.clone();
    recorded(
        store
            .record_indexing(&indexed(&key, "01", "face-1"), &registry_audit())
            .await
            .unwrap(),
    );
    let ErasureBegun::Started(erasure) = store.begin_erasure(ada.id).await.unwrap() else {
        panic!("the erasure starts");
    };
    // While it runs, and after it is finished, nothing is recorded for the key.
    let during = store
        .record_indexing(&indexed(&key, "02", "face-2"), &registry_audit())
        .await
        .unwrap();
    assert_eq!(during, RecordOutcome::Erased);
    store
        .finish_erasure(
            &erasure,
            &receipt(ada.id, erasure.requested_at, &erasure.face_ids),
            &admin_audit(),
        )
        .await
        .unwrap();
    let mut later = indexed(&key, "03", "face-3");
    later.object_created_at = Utc::now() + Duration::hours(1);
    let after = store
        .record_indexing(&later, &registry_audit())
        .await
        .unwrap();
    assert_eq!(
        after,
        RecordOutcome::Erased,
        "a key with a token was one person's only"
    );
    assert_eq!(store.find_by_key(&key).await.unwrap(), None);
}

pub async fn a_plain_key_is_used_again_after_its_erasure<S: PersonStore + AuditTrail>(store: &S) {
    let key = "lovelace_ada.jpg";
    let (ada, _) = recorded(
        store
            .record_indexing(&indexed(key, "01", "face-1"), &registry_audit())
            .await
            .unwrap(),
    );
    let ErasureBegun::Started(erasure) = store.begin_erasure(ada.id).await.unwrap() else {
        panic!("the erasure starts");
    };
    let receipt = receipt(ada.id, erasure.requested_at, &erasure.face_ids);
    store
        .finish_erasure(&erasure, &receipt, &admin_audit())
        .await
        .unwrap();
    // An event for the erased photo, late: still refused.
    let mut late = indexed(key, "02", "face-2");
    late.object_created_at = receipt.completed_at - Duration::seconds(5);
    assert_eq!(
        store
            .record_indexing(&late, &registry_audit())
            .await
            .unwrap(),
        RecordOutcome::Erased
    );
    // A photo dropped under the same name after the erasure enrols someone new.
    let mut dropped = indexed(key, "03", "face-3");
    dropped.object_created_at = receipt.completed_at + Duration::seconds(5);
    let (newcomer, retired) = recorded(
        store
            .record_indexing(&dropped, &registry_audit())
            .await
            .unwrap(),
    );
    assert_ne!(newcomer.id, ada.id);
    assert_eq!(retired, None);
    assert_eq!(store.faces_ever(newcomer.id).await.unwrap(), ["face-3"]);
}

pub async fn erasure_removes_the_person_and_keeps_the_receipt<S: PersonStore + AuditTrail>(
    store: &S,
) {
    assert_eq!(
        store.begin_erasure(PersonId(4242)).await.unwrap(),
        ErasureBegun::NoSuchPerson
    );
    let ada = enrol(store, "Lovelace", "Ada").await;
    let grace = enrol(store, "Hopper", "Grace").await;
    let key = ada.object_key.clone();
    recorded(
        store
            .record_indexing(&indexed(&key, "01", "face-1"), &registry_audit())
            .await
            .unwrap(),
    );
    recorded(
        store
            .record_indexing(&indexed(&key, "02", "face-2"), &registry_audit())
            .await
            .unwrap(),
    );
    let mut flagged = indexed(&grace.object_key, "01", "face-g");
    flagged.possible_duplicate = Some(PossibleDuplicate {
        person_id: ada.id,
        similarity: 91.0,
    });
    recorded(
        store
            .record_indexing(&flagged, &registry_audit())
            .await
            .unwrap(),
    );

    let ErasureBegun::Started(erasure) = store.begin_erasure(ada.id).await.unwrap() else {
        panic!("the erasure starts");
    };
    assert_eq!(erasure.person_id, ada.id);
    assert_eq!(erasure.object_key, key);
    assert_eq!(
        erasure.face_ids,
        ["face-1", "face-2"],
        "every face ever, oldest first"
    );
    let ErasureBegun::Started(again) = store.begin_erasure(ada.id).await.unwrap() else {
        panic!("asked again, it is still to be carried out");
    };
    assert_eq!(again, erasure, "asking again changes nothing");

    let receipt = receipt(ada.id, erasure.requested_at, &erasure.face_ids);
    store
        .finish_erasure(&erasure, &receipt, &admin_audit())
        .await
        .unwrap();
    assert_eq!(store.get(ada.id).await.unwrap(), None);
    assert_eq!(store.find_by_key(&key).await.unwrap(), None);
    assert!(store.faces_ever(ada.id).await.unwrap().is_empty());
    assert!(
        !store
            .retired_faces(10)
            .await
            .unwrap()
            .contains(&"face-1".to_owned()),
        "the erasure deleted the retired face"
    );
    let grace_now = store.get(grace.id).await.unwrap().unwrap();
    assert_eq!(
        grace_now.possible_duplicate, None,
        "nobody stays flagged against a person who is gone"
    );
    assert_eq!(
        store.begin_erasure(ada.id).await.unwrap(),
        ErasureBegun::Finished(receipt.clone())
    );
    assert_eq!(
        erasures_in_trail(store, ada.id).await,
        [serde_json::to_value(&receipt).unwrap()]
    );
}

pub async fn two_finishers_of_one_erasure_keep_one_receipt<S: PersonStore + AuditTrail>(store: &S) {
    let ada = enrol(store, "Lovelace", "Ada").await;
    let ErasureBegun::Started(erasure) = store.begin_erasure(ada.id).await.unwrap() else {
        panic!("the erasure starts");
    };
    // The request that began it and reconcile, say, finish it at once.
    let first = receipt(ada.id, erasure.requested_at, &erasure.face_ids);
    let mut second = first.clone();
    second.completed_at = first.completed_at + Duration::seconds(1);
    let audit = admin_audit();
    let (a, b) = tokio::join!(
        store.finish_erasure(&erasure, &first, &audit),
        store.finish_erasure(&erasure, &second, &audit),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let kept = match (&a, &b) {
        (ErasureFinished::Recorded, ErasureFinished::Before(kept)) => {
            assert_eq!(
                kept, &first,
                "the second finisher is answered the first's receipt"
            );
            first.clone()
        }
        (ErasureFinished::Before(kept), ErasureFinished::Recorded) => {
            assert_eq!(
                kept, &second,
                "the first finisher is answered the second's receipt"
            );
            second.clone()
        }
        _ => panic!("exactly one receipt is recorded: {a:?}, {b:?}"),
    };
    assert_eq!(
        store.begin_erasure(ada.id).await.unwrap(),
        ErasureBegun::Finished(kept.clone())
    );
    assert_eq!(
        erasures_in_trail(store, ada.id).await,
        [serde_json::to_value(&kept).unwrap()],
        "one erasure in the trail"
    );
    // Finished long after, it is the same answer.
    assert_eq!(
        store
            .finish_erasure(&erasure, &first, &audit)
            .await
            .unwrap(),
        ErasureFinished::Before(kept)
    );
}

pub async fn duplicates_are_resolved_and_remembered<S: PersonStore + AuditTrail>(store: &S) {
    let ada = enrol(store, "Lovelace", "Ada").await;
    let grace = enrol(store, "Hopper", "Grace").await;
    let alan = enrol(store, "Turing", "Alan").await;
    assert_eq!(
        store
            .resolve_duplicate(PersonId(4242), Resolution::Same, &admin_audit())
            .await
            .unwrap(),
        Resolved::NoSuchPerson
    );
    assert_eq!(
        store
            .resolve_duplicate(ada.id, Resolution::Same, &admin_audit())
            .await
            .unwrap(),
        Resolved::NotFlagged
    );
    for (person, other) in [(&grace, &ada), (&alan, &ada)] {
        let mut flagged = indexed(&person.object_key, "01", &format!("face-{}", person.id));
        flagged.possible_duplicate = Some(PossibleDuplicate {
            person_id: other.id,
            similarity: 90.5,
        });
        recorded(
            store
                .record_indexing(&flagged, &registry_audit())
                .await
                .unwrap(),
        );
    }
    let Resolved::Cleared { person, other } = store
        .resolve_duplicate(grace.id, Resolution::Different, &admin_audit())
        .await
        .unwrap()
    else {
        panic!("the flag is cleared");
    };
    assert_eq!((person.id, other), (grace.id, ada.id));
    assert_eq!(person.possible_duplicate, None);
    assert_eq!(
        store.ruled_out_duplicates(grace.id).await.unwrap(),
        [ada.id]
    );
    assert_eq!(
        store.ruled_out_duplicates(ada.id).await.unwrap(),
        [grace.id],
        "both ways"
    );
    let Resolved::Cleared { .. } = store
        .resolve_duplicate(alan.id, Resolution::Same, &admin_audit())
        .await
        .unwrap()
    else {
        panic!("the flag is cleared");
    };
    assert!(
        store
            .ruled_out_duplicates(alan.id)
            .await
            .unwrap()
            .is_empty(),
        "the same person is not a pair"
    );
    let entries = store
        .audit_trail(&AuditFilter {
            action: Some(AuditAction::DuplicateResolution),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[1].detail,
        json!({ "resolution": "different", "otherPersonId": ada.id, "similarity": 90.5 })
    );
}

pub async fn the_trail_filters_and_pages<S: PersonStore + AuditTrail>(store: &S) {
    let ada = enrol(store, "Lovelace", "Ada").await;
    let viewer = AuditContext {
        actor: registry::audit::Actor {
            subject: Some("viewer-subject".into()),
            username: Some("vic".into()),
            groups: vec!["viewers".into()],
        },
        request_id: "req-2".into(),
    };
    store
        .append(
            &[
                (
                    AuditAction::Search,
                    Some(ada.id),
                    json!({ "similarity": 99.0 }),
                ),
                (AuditAction::Search, None, json!({ "matched": 0 })),
            ],
            &viewer,
        )
        .await
        .unwrap();
    let all = store
        .audit_trail(&AuditFilter {
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(all[0].person_id, None);
    assert_eq!(all[0].actor, viewer.actor);
    assert_eq!(all[0].request_id, "req-2");
    let by_viewer = store
        .audit_trail(&AuditFilter {
            subject: Some("viewer-subject".into()),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(by_viewer.len(), 2);
    let older = store
        .audit_trail(&AuditFilter {
            before_id: Some(all[0].id),
            limit: 1,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(older, all[1..2]);
    // All or none: an entry the trail cannot hold leaves none of the others.
    let too_long = AuditContext {
        request_id: "r".repeat(129),
        ..viewer
    };
    let refused = store
        .append(
            &[
                (AuditAction::Search, None, json!({})),
                (AuditAction::Search, None, json!({})),
            ],
            &too_long,
        )
        .await;
    assert!(
        matches!(refused, Err(PortError::Permanent(_))),
        "{refused:?}"
    );
    let after = store
        .audit_trail(&AuditFilter {
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(after.len(), 3);
}

/// Seeds people with chosen names and statuses; returns their ids in insertion order.
async fn seed<S: PersonStore>(store: &S, people: &[(&str, &str, Status)]) -> Vec<PersonId> {
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

async fn names<S: PersonStore>(store: &S, filter: ListFilter) -> Vec<String> {
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

/// Walks every page through the listing service, as the API does, from `cursor`.
async fn walk_from<S: PersonStore>(
    store: &S,
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
            sha256: None,
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

async fn walk<S: PersonStore>(store: &S, status: Option<&str>, limit: u32) -> Vec<Vec<PersonId>> {
    walk_from(store, status, limit, None).await
}

pub async fn namesakes_are_two_people_and_keys_compare_byte_for_byte<
    S: PersonStore + AuditTrail,
>(
    store: &S,
) {
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
    assert_eq!(row_count(store).await, 3);
}

pub async fn a_new_photo_marks_an_indexed_person_pending_and_keeps_the_face_until_replaced<
    S: PersonStore + AuditTrail,
>(
    store: &S,
) {
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

pub async fn a_rename_changes_the_names_given_and_nothing_else<S: PersonStore + AuditTrail>(
    store: &S,
) {
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

pub async fn a_replayed_record_changes_nothing_after_the_first<S: PersonStore + AuditTrail>(
    store: &S,
) {
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

    let now = person_by_key(store, "obama_barack.jpg").await;
    assert_eq!(now, first, "the row, updated_at included, is unchanged");
    assert_eq!(row_count(store).await, 1);
    assert!(store.retired_faces(10).await.expect("retired").is_empty());
}

pub async fn an_older_record_after_a_newer_one_is_stale<S: PersonStore + AuditTrail>(store: &S) {
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
    assert_eq!(person_by_key(store, "obama_barack.jpg").await, person);
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

pub async fn a_replacement_sets_the_old_face_aside_until_it_is_forgotten<
    S: PersonStore + AuditTrail,
>(
    store: &S,
) {
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

pub async fn recording_the_same_face_again_does_not_retire_it<S: PersonStore + AuditTrail>(
    store: &S,
) {
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

pub async fn a_record_without_a_row_creates_the_person_from_its_names<
    S: PersonStore + AuditTrail,
>(
    store: &S,
) {
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

pub async fn listing_filters_by_status_and_by_name_prefix<S: PersonStore + AuditTrail>(store: &S) {
    seed(
        store,
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
        names(store, indexed_only).await,
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
    assert_eq!(names(store, rejected_only).await, ["Michelle Obama"]);

    // The prefix of either name; newest first.
    assert_eq!(
        names(store, by_name("Oba")).await,
        ["Obadiah Barack", "Michelle Obama", "Barack Obama"]
    );
    assert_eq!(
        names(store, by_name("bar")).await,
        ["Obadiah Barack", "Barack Obama"]
    );
    assert!(
        names(store, by_name("bama")).await.is_empty(),
        "a prefix, not a substring"
    );
    // Case and accents are ignored, both ways.
    assert_eq!(
        names(store, by_name("GARCIA MAR")).await,
        ["Gabriel García Márquez"]
    );
    assert_eq!(
        names(store, by_name("gárcía")).await,
        ["Gabriel García Márquez"]
    );
    assert_eq!(names(store, by_name("öla")).await, ["Ölaf Øvergaard"]);
    // LIKE metacharacters match themselves.
    assert_eq!(names(store, by_name("50%")).await, ["Sale 50% Off"]);
    assert_eq!(
        names(store, by_name("5")).await,
        ["Club 500", "Sale 50% Off"]
    );
    assert!(names(store, by_name("%")).await.is_empty());
    assert!(names(store, by_name("_")).await.is_empty());
    assert_eq!(names(store, by_name("Under_")).await, ["Ann Under_score"]);
    assert_eq!(names(store, by_name("Back\\")).await, ["Bob Back\\slash"]);

    // Filters combine.
    let filter = ListFilter {
        status: Some(Status::Indexed),
        name_prefix: Some("obama".into()),
        possible_duplicates: false,
        photo_sha256: None,
        limit: 100,
        before_id: None,
    };
    assert_eq!(names(store, filter).await, ["Barack Obama"]);
}

pub async fn cursors_walk_every_row_once_in_a_fixed_order<S: PersonStore + AuditTrail>(store: &S) {
    let statuses = [Status::Indexed, Status::Pending, Status::Rejected];
    let people: Vec<(String, String, Status)> = (0..57)
        .map(|i| (format!("Last{i}"), format!("First{i}"), statuses[i % 3]))
        .collect();
    let borrowed: Vec<(&str, &str, Status)> = people
        .iter()
        .map(|(l, f, s)| (l.as_str(), f.as_str(), *s))
        .collect();
    let ids = seed(store, &borrowed).await;
    let mut newest_first = ids.clone();
    newest_first.reverse();

    let pages = walk(store, None, 10).await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [10, 10, 10, 10, 10, 7]
    );
    let walked: Vec<PersonId> = pages.concat();
    assert_eq!(walked, newest_first, "no duplicates, no gaps, newest first");
    assert_eq!(walk(store, None, 10).await, pages, "deterministic");

    // A page size that divides the total: the last full page has no next cursor.
    let exact = walk(store, None, 19).await;
    assert_eq!(exact.iter().map(Vec::len).collect::<Vec<_>>(), [19, 19, 19]);

    let indexed_ids: Vec<PersonId> = newest_first
        .iter()
        .zip(people.iter().rev())
        .filter(|(_, (_, _, status))| *status == Status::Indexed)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(walk(store, Some("indexed"), 4).await.concat(), indexed_ids);

    // A row added while walking appears on no later page, and shifts nothing.
    let filter = parse_params(&ListParams {
        limit: Some("10".into()),
        ..Default::default()
    })
    .expect("parameters");
    let first_page = list_people(store, &filter).await.expect("first page");
    seed(store, &[("Late", "Comer", Status::Pending)]).await;
    let rest = walk_from(store, None, 10, first_page.next_cursor).await;
    let mut walked: Vec<PersonId> = first_page.items.iter().map(|p| p.id).collect();
    walked.extend(rest.concat());
    assert_eq!(walked, newest_first);
}

pub async fn unknown_ids_and_keys_are_none<S: PersonStore + AuditTrail>(store: &S) {
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

pub async fn every_change_is_in_the_audit_trail_with_its_caller_and_no_name<
    S: PersonStore + AuditTrail,
>(
    store: &S,
) {
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

    let trail = async |filter: AuditFilter| store.audit_trail(&filter).await.expect("the trail");
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
        subject: Some(crate::ADMIN_SUBJECT.into()),
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
