//! The person store in memory: the same promises as the MySQL store (the
//! contract suite in [`crate::contract`] runs against both), so that the
//! domain's rules can be tested without a database. One lock stands for a
//! transaction: each call sees and leaves a consistent state.
//!
//! It refuses what the schema refuses under strict SQL mode (a value longer
//! than its column, a key or a face recorded twice), with a permanent error
//! and nothing written, as the database does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use registry::Sequencer;
use registry::audit::{AuditAction, AuditContext, AuditEntry, AuditFilter, AuditTrail, detail};
use registry::duplicates::{Resolution, Resolved};
use registry::erasure::{
    Erasure, ErasureBegun, ErasureFinished, ErasureMark, ErasureReceipt, key_digest,
};
use registry::person::{Person, PersonId, Status};
use registry::ports::{
    CallCounter, CreatedOnce, IndexingRecord, KeyMove, ListFilter, NewPerson, PersonStore,
    PortError, RecordOutcome, RequestKey,
};
use serde_json::{Value, json};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The schema's column lengths, in characters (`migrations/`).
const LASTNAME_CHARS: usize = 100;
const FIRSTNAME_CHARS: usize = 100;
const OBJECT_KEY_CHARS: usize = 512;
const FACE_ID_CHARS: usize = 64;
const STATUS_REASON_CHARS: usize = 500;
const ETAG_CHARS: usize = 128;
const SEQUENCER_CHARS: usize = 64;
const PHOTO_SHA256_CHARS: usize = 64;
const ACTOR_CHARS: usize = 128;
const ACTOR_GROUPS_CHARS: usize = 512;
const REQUEST_ID_CHARS: usize = 128;

#[derive(Default)]
pub struct InMemoryPersonStore {
    state: Mutex<State>,
}

#[derive(Default, Clone)]
struct State {
    last_person_id: u64,
    people: BTreeMap<PersonId, Person>,
    /// Faces to delete from the collection, oldest first.
    retired_faces: Vec<String>,
    /// Every face recorded for a person, oldest first.
    person_faces: Vec<(String, PersonId)>,
    erasures: BTreeMap<PersonId, ErasureRow>,
    /// Pairs resolved as different people, the smaller id first.
    distinct_pairs: BTreeSet<(PersonId, PersonId)>,
    audit: Vec<AuditEntry>,
    /// Calls counted per caller: the window and its count.
    calls: BTreeMap<String, (DateTime<Utc>, u32)>,
    /// Enrolments' idempotency keys, by caller and key: the digest and the
    /// person created.
    requests: BTreeMap<(String, String), (String, PersonId)>,
    /// Photos moving to the key of corrected names.
    moves: BTreeMap<PersonId, KeyMove>,
}

#[derive(Clone)]
struct ErasureRow {
    key_digest: [u8; 32],
    requested_at: DateTime<Utc>,
    receipt: Option<ErasureReceipt>,
}

/// The database keeps times to the millisecond (`TIMESTAMP(3)`).
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// What strict SQL mode answers for a value longer than its column.
fn check_length(column: &str, value: Option<&str>, max_chars: usize) -> Result<(), PortError> {
    match value {
        Some(value) if value.chars().count() > max_chars => Err(PortError::Permanent(format!(
            "database: data too long for column '{column}'"
        ))),
        _ => Ok(()),
    }
}

fn duplicate_entry(index: &str) -> PortError {
    PortError::Permanent(format!("database: duplicate entry for key '{index}'"))
}

/// `utf8mb4_unicode_ci` as far as a name prefix needs: case and accents ignored.
fn fold(text: &str) -> String {
    text.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

impl InMemoryPersonStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("no test panicked holding the store")
    }
}

impl State {
    fn by_key(&self, object_key: &str) -> Option<&Person> {
        self.people.values().find(|p| p.object_key == object_key)
    }

    fn append_audit(
        &mut self,
        action: AuditAction,
        person_id: Option<PersonId>,
        audit: &AuditContext,
        detail: Value,
    ) -> Result<(), PortError> {
        let actor = &audit.actor;
        check_length("actor_subject", actor.subject.as_deref(), ACTOR_CHARS)?;
        check_length("actor_username", actor.username.as_deref(), ACTOR_CHARS)?;
        let groups = json!(actor.groups).to_string();
        check_length("actor_groups", Some(&groups), ACTOR_GROUPS_CHARS)?;
        check_length("request_id", Some(&audit.request_id), REQUEST_ID_CHARS)?;
        let id = self.audit.last().map_or(1, |last| last.id + 1);
        self.audit.push(AuditEntry {
            id,
            occurred_at: now(),
            action,
            person_id,
            actor: actor.clone(),
            request_id: audit.request_id.clone(),
            detail,
        });
        Ok(())
    }

    /// A new person, `pending`, with the next id (not stored yet).
    fn new_pending(&mut self, lastname: &str, firstname: &str, object_key: &str) -> Person {
        self.last_person_id += 1;
        let at = now();
        Person {
            id: PersonId(self.last_person_id),
            lastname: lastname.to_owned(),
            firstname: firstname.to_owned(),
            object_key: object_key.to_owned(),
            identity: None,
            status: Status::Pending,
            status_reason: None,
            object_etag: None,
            object_sequencer: None,
            photo_sha256: None,
            face_confidence: None,
            face_box: None,
            possible_duplicate: None,
            created_at: at,
            updated_at: at,
        }
    }

    fn retire(&mut self, face_id: &str) {
        if !self.retired_faces.iter().any(|f| f == face_id) {
            self.retired_faces.push(face_id.to_owned());
        }
    }

    fn check_record(
        &self,
        record: &IndexingRecord,
        person: Option<PersonId>,
    ) -> Result<(), PortError> {
        check_length("lastname", Some(&record.lastname), LASTNAME_CHARS)?;
        check_length("firstname", Some(&record.firstname), FIRSTNAME_CHARS)?;
        check_length("object_key", Some(&record.object_key), OBJECT_KEY_CHARS)?;
        check_length("identity", record.identity.as_deref(), FACE_ID_CHARS)?;
        check_length(
            "status_reason",
            record.status_reason.as_deref(),
            STATUS_REASON_CHARS,
        )?;
        check_length("object_etag", record.object_etag.as_deref(), ETAG_CHARS)?;
        check_length(
            "object_sequencer",
            Some(&record.object_sequencer),
            SEQUENCER_CHARS,
        )?;
        check_length(
            "photo_sha256",
            record.photo_sha256.as_deref(),
            PHOTO_SHA256_CHARS,
        )?;
        let taken = |face: &String| {
            self.people
                .values()
                .any(|p| Some(p.id) != person && p.identity.as_ref() == Some(face))
        };
        if record.identity.as_ref().is_some_and(taken) {
            return Err(duplicate_entry("uq_person_identity"));
        }
        Ok(())
    }

    fn record(
        &mut self,
        record: &IndexingRecord,
        audit: &AuditContext,
    ) -> Result<RecordOutcome, PortError> {
        let current = self.by_key(&record.object_key).cloned();
        if let Some(recorded) = current.as_ref().and_then(|p| p.object_sequencer.clone())
            && Sequencer::new(recorded.clone()) >= Sequencer::new(record.object_sequencer.clone())
        {
            return Ok(RecordOutcome::Stale {
                recorded_sequencer: recorded,
            });
        }
        let digest = key_digest(&record.object_key);
        let erased = self.erasures.values().any(|erasure| {
            erasure.key_digest == digest
                && ErasureMark {
                    completed_at: erasure.receipt.as_ref().map(|r| r.completed_at),
                }
                .covers(&record.object_key, record.object_created_at)
        });
        if erased {
            return Ok(RecordOutcome::Erased);
        }
        self.check_record(record, current.as_ref().map(|p| p.id))?;
        let at = now();
        let mut person = match current.clone() {
            Some(person) => person,
            None => self.new_pending(&record.lastname, &record.firstname, &record.object_key),
        };
        let retired_face = current
            .and_then(|p| p.identity)
            .filter(|old| Some(old) != record.identity.as_ref());
        person.status = record.status;
        person.status_reason = record.status_reason.clone();
        person.identity = record.identity.clone();
        person.object_etag = record.object_etag.clone();
        person.object_sequencer = Some(record.object_sequencer.clone());
        person.photo_sha256 = record.photo_sha256.clone();
        person.face_confidence = record.face_confidence;
        person.face_box = record.face_box;
        person.possible_duplicate = record.possible_duplicate;
        person.updated_at = at;
        self.people.insert(person.id, person.clone());
        if let Some(old) = &retired_face {
            self.retire(old);
        }
        for face in &record.discarded_faces {
            self.retire(face);
        }
        if let Some(face) = &record.identity
            && !self.person_faces.iter().any(|(f, _)| f == face)
        {
            self.person_faces.push((face.clone(), person.id));
        }
        self.append_audit(
            AuditAction::Indexing,
            Some(person.id),
            audit,
            detail::indexing(record, retired_face.as_deref()),
        )?;
        Ok(RecordOutcome::Recorded {
            person: Box::new(person),
            retired_face,
        })
    }
}

/// Runs `change` on a copy of the state and keeps it only if it succeeds:
/// all or nothing, as a transaction.
fn transaction<T>(
    state: &mut State,
    change: impl FnOnce(&mut State) -> Result<T, PortError>,
) -> Result<T, PortError> {
    let mut draft = state.clone();
    let value = change(&mut draft)?;
    *state = draft;
    Ok(value)
}

#[async_trait]
impl PersonStore for InMemoryPersonStore {
    async fn create_pending(
        &self,
        person: &NewPerson,
        audit: &AuditContext,
    ) -> Result<Person, PortError> {
        transaction(&mut self.state(), |state| {
            check_length("lastname", Some(&person.lastname), LASTNAME_CHARS)?;
            check_length("firstname", Some(&person.firstname), FIRSTNAME_CHARS)?;
            check_length("object_key", Some(&person.object_key), OBJECT_KEY_CHARS)?;
            if state.by_key(&person.object_key).is_some() {
                return Err(duplicate_entry("uq_person_object_key"));
            }
            let created =
                state.new_pending(&person.lastname, &person.firstname, &person.object_key);
            state.people.insert(created.id, created.clone());
            state.append_audit(AuditAction::Enrolment, Some(created.id), audit, json!({}))?;
            Ok(created)
        })
    }

    async fn create_pending_once(
        &self,
        person: &NewPerson,
        request: &RequestKey,
        audit: &AuditContext,
    ) -> Result<CreatedOnce, PortError> {
        check_length("caller", Some(&request.caller), ACTOR_CHARS)?;
        check_length("request_key", Some(&request.key), ACTOR_CHARS)?;
        let earlier = self
            .state()
            .requests
            .get(&(request.caller.clone(), request.key.clone()))
            .cloned();
        if let Some((digest, id)) = earlier {
            return Ok(CreatedOnce::Earlier {
                person: self.state().people.get(&id).cloned(),
                same_request: digest == request.digest,
            });
        }
        let created = self.create_pending(person, audit).await?;
        self.state().requests.insert(
            (request.caller.clone(), request.key.clone()),
            (request.digest.clone(), created.id),
        );
        Ok(CreatedOnce::New(created))
    }

    async fn rename_with_key(
        &self,
        id: PersonId,
        lastname: Option<&str>,
        firstname: Option<&str>,
        to_key: &str,
        audit: &AuditContext,
    ) -> Result<Option<Person>, PortError> {
        check_length("object_key", Some(to_key), OBJECT_KEY_CHARS)?;
        let renamed = self.rename(id, lastname, firstname, audit).await?;
        let Some(mut person) = renamed else {
            return Ok(None);
        };
        let mut state = self.state();
        let from = std::mem::replace(&mut person.object_key, to_key.to_owned());
        person.object_etag = None;
        person.object_sequencer = None;
        state.people.insert(id, person.clone());
        state.moves.insert(
            id,
            KeyMove {
                from,
                to: to_key.to_owned(),
            },
        );
        if let Some(entry) = state.audit.last_mut() {
            entry.detail["newKey"] = json!(true);
        }
        Ok(Some(person))
    }

    async fn unfinished_move(&self, id: PersonId) -> Result<Option<KeyMove>, PortError> {
        Ok(self.state().moves.get(&id).cloned())
    }

    async fn forget_move(&self, id: PersonId) -> Result<(), PortError> {
        self.state().moves.remove(&id);
        Ok(())
    }

    async fn mark_pending(
        &self,
        id: PersonId,
        audit: &AuditContext,
    ) -> Result<Option<Person>, PortError> {
        transaction(&mut self.state(), |state| {
            let Some(person) = state.people.get_mut(&id) else {
                return Ok(None);
            };
            person.status = Status::Pending;
            person.status_reason = None;
            person.updated_at = now();
            let person = person.clone();
            state.append_audit(AuditAction::PhotoReplacement, Some(id), audit, json!({}))?;
            Ok(Some(person))
        })
    }

    async fn rename(
        &self,
        id: PersonId,
        lastname: Option<&str>,
        firstname: Option<&str>,
        audit: &AuditContext,
    ) -> Result<Option<Person>, PortError> {
        transaction(&mut self.state(), |state| {
            check_length("lastname", lastname, LASTNAME_CHARS)?;
            check_length("firstname", firstname, FIRSTNAME_CHARS)?;
            let Some(person) = state.people.get_mut(&id) else {
                return Ok(None);
            };
            if let Some(lastname) = lastname {
                person.lastname = lastname.to_owned();
            }
            if let Some(firstname) = firstname {
                person.firstname = firstname.to_owned();
            }
            person.updated_at = now();
            let person = person.clone();
            state.append_audit(
                AuditAction::Rename,
                Some(id),
                audit,
                detail::rename(lastname, firstname),
            )?;
            Ok(Some(person))
        })
    }

    async fn get(&self, id: PersonId) -> Result<Option<Person>, PortError> {
        Ok(self.state().people.get(&id).cloned())
    }

    async fn find_by_key(&self, object_key: &str) -> Result<Option<Person>, PortError> {
        Ok(self.state().by_key(object_key).cloned())
    }

    async fn find_by_identities(&self, face_ids: &[String]) -> Result<Vec<Person>, PortError> {
        Ok(self
            .state()
            .people
            .values()
            .filter(|p| p.identity.as_ref().is_some_and(|f| face_ids.contains(f)))
            .cloned()
            .collect())
    }

    async fn list(&self, filter: &ListFilter) -> Result<Vec<Person>, PortError> {
        let prefix = filter.name_prefix.as_deref().map(fold);
        let state = self.state();
        Ok(state
            .people
            .values()
            .rev()
            .filter(|p| filter.before_id.is_none_or(|before| p.id < before))
            .filter(|p| filter.status.is_none_or(|status| p.status == status))
            .filter(|p| !filter.possible_duplicates || p.possible_duplicate.is_some())
            .filter(|p| {
                filter
                    .photo_sha256
                    .as_ref()
                    .is_none_or(|h| p.photo_sha256.as_ref() == Some(h))
            })
            .filter(|p| {
                prefix.as_ref().is_none_or(|prefix| {
                    fold(&p.lastname).starts_with(prefix) || fold(&p.firstname).starts_with(prefix)
                })
            })
            .take(filter.limit as usize)
            .cloned()
            .collect())
    }

    async fn record_indexing(
        &self,
        record: &IndexingRecord,
        audit: &AuditContext,
    ) -> Result<RecordOutcome, PortError> {
        transaction(&mut self.state(), |state| state.record(record, audit))
    }

    async fn begin_erasure(&self, id: PersonId) -> Result<ErasureBegun, PortError> {
        let mut state = self.state();
        let Some(person) = state.people.get(&id).cloned() else {
            return Ok(
                match state.erasures.get(&id).and_then(|e| e.receipt.clone()) {
                    Some(receipt) => ErasureBegun::Finished(receipt),
                    None => ErasureBegun::NoSuchPerson,
                },
            );
        };
        let requested_at = state
            .erasures
            .entry(id)
            .or_insert_with(|| ErasureRow {
                key_digest: key_digest(&person.object_key),
                requested_at: now(),
                receipt: None,
            })
            .requested_at;
        let mut face_ids: Vec<String> = state
            .person_faces
            .iter()
            .filter(|(_, owner)| *owner == id)
            .map(|(face, _)| face.clone())
            .collect();
        if let Some(current) = &person.identity
            && !face_ids.contains(current)
        {
            face_ids.push(current.clone());
        }
        Ok(ErasureBegun::Started(Erasure {
            person_id: id,
            object_key: person.object_key,
            face_ids,
            requested_at,
        }))
    }

    async fn finish_erasure(
        &self,
        erasure: &Erasure,
        receipt: &ErasureReceipt,
        audit: &AuditContext,
    ) -> Result<ErasureFinished, PortError> {
        let id = erasure.person_id;
        let receipt_json = detail::erasure(receipt);
        transaction(&mut self.state(), |state| {
            if let Some(earlier) = state.erasures.get(&id).and_then(|row| row.receipt.clone()) {
                return Ok(ErasureFinished::Before(earlier));
            }
            state.people.remove(&id);
            state.person_faces.retain(|(_, owner)| *owner != id);
            state
                .retired_faces
                .retain(|face| !erasure.face_ids.contains(face));
            for person in state.people.values_mut() {
                if person.possible_duplicate.is_some_and(|d| d.person_id == id) {
                    person.possible_duplicate = None;
                }
            }
            state
                .distinct_pairs
                .retain(|(low, high)| *low != id && *high != id);
            if let Some(row) = state.erasures.get_mut(&id) {
                row.receipt = Some(receipt.clone());
            }
            state.append_audit(AuditAction::Erasure, Some(id), audit, receipt_json)?;
            Ok(ErasureFinished::Recorded)
        })
    }

    async fn resolve_duplicate(
        &self,
        id: PersonId,
        resolution: Resolution,
        audit: &AuditContext,
    ) -> Result<Resolved, PortError> {
        transaction(&mut self.state(), |state| {
            let Some(person) = state.people.get_mut(&id) else {
                return Ok(Resolved::NoSuchPerson);
            };
            let Some(duplicate) = person.possible_duplicate.take() else {
                return Ok(Resolved::NotFlagged);
            };
            person.updated_at = now();
            let person = person.clone();
            let other = duplicate.person_id;
            if resolution == Resolution::Different {
                state.distinct_pairs.insert((id.min(other), id.max(other)));
            }
            state.append_audit(
                AuditAction::DuplicateResolution,
                Some(id),
                audit,
                detail::duplicate_resolution(resolution, other, Some(duplicate.similarity)),
            )?;
            Ok(Resolved::Cleared {
                person: Box::new(person),
                other,
            })
        })
    }

    async fn ruled_out_duplicates(&self, id: PersonId) -> Result<Vec<PersonId>, PortError> {
        Ok(self
            .state()
            .distinct_pairs
            .iter()
            .filter_map(|&(low, high)| match id {
                _ if low == id => Some(high),
                _ if high == id => Some(low),
                _ => None,
            })
            .collect())
    }

    async fn faces_ever(&self, id: PersonId) -> Result<Vec<String>, PortError> {
        Ok(self
            .state()
            .person_faces
            .iter()
            .filter(|(_, owner)| *owner == id)
            .map(|(face, _)| face.clone())
            .collect())
    }

    async fn retired_faces(&self, limit: u32) -> Result<Vec<String>, PortError> {
        Ok(self
            .state()
            .retired_faces
            .iter()
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn set_faces_aside(&self, face_ids: &[String]) -> Result<(), PortError> {
        let mut state = self.state();
        for face in face_ids {
            state.retire(face);
        }
        Ok(())
    }

    async fn forget_retired_faces(&self, face_ids: &[String]) -> Result<(), PortError> {
        self.state()
            .retired_faces
            .retain(|face| !face_ids.contains(face));
        Ok(())
    }

    async fn ping(&self) -> Result<(), PortError> {
        Ok(())
    }
}

#[async_trait]
impl AuditTrail for InMemoryPersonStore {
    async fn audit_trail(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, PortError> {
        Ok(self
            .state()
            .audit
            .iter()
            .rev()
            .filter(|e| filter.before_id.is_none_or(|before| e.id < before))
            .filter(|e| filter.person_id.is_none_or(|p| e.person_id == Some(p)))
            .filter(|e| filter.action.is_none_or(|a| e.action == a))
            .filter(|e| {
                filter
                    .subject
                    .as_ref()
                    .is_none_or(|s| e.actor.subject.as_ref() == Some(s))
            })
            .take(filter.limit as usize)
            .cloned()
            .collect())
    }

    async fn append(
        &self,
        entries: &[(AuditAction, Option<PersonId>, Value)],
        audit: &AuditContext,
    ) -> Result<(), PortError> {
        transaction(&mut self.state(), |state| {
            for (action, person, detail) in entries {
                state.append_audit(*action, *person, audit, detail.clone())?;
            }
            Ok(())
        })
    }
}

#[async_trait]
impl CallCounter for InMemoryPersonStore {
    async fn count_call(
        &self,
        caller: &str,
        window_start: DateTime<Utc>,
    ) -> Result<u32, PortError> {
        check_length("caller", Some(caller), ACTOR_CHARS)?;
        let mut state = self.state();
        let counted = state
            .calls
            .entry(caller.to_owned())
            .or_insert((window_start, 0));
        if counted.0 < window_start {
            *counted = (window_start, 0);
        }
        if counted.0 == window_start {
            counted.1 += 1;
            Ok(counted.1)
        } else {
            // A window older than the one kept: forgotten already, counted anew.
            Ok(1)
        }
    }
}
