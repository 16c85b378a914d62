//! The person store's contract: what every [`PersonStore`] (with its
//! [`AuditTrail`]) promises, as one suite that runs against the MySQL store
//! and against [`crate::InMemoryPersonStore`], so that a rule the fake keeps
//! is a rule the database keeps.
//!
//! Each case takes a fresh, empty store. [`person_store_contract!`] makes a
//! test of each case from an expression that makes one.

use chrono::{Duration, DurationRound, Utc};
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

mod audit;
mod calls;
mod duplicates;
mod enrolment;
mod erasure;
mod indexing;
mod listing;

pub use audit::*;
pub use calls::*;
pub use duplicates::*;
pub use enrolment::*;
pub use erasure::*;
pub use indexing::*;
pub use listing::*;

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
            calls_are_counted_per_caller_and_minute,
            a_request_key_creates_one_person_however_often_it_comes,
            a_rename_with_a_key_moves_the_record_and_remembers_the_move,
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
