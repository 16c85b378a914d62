//! Indexing: what the indexer does with one `ObjectCreated` event.
//!
//! Replays change nothing (the recorded `sequencer` is compared first and
//! again atomically when recording), older events are ignored, and a face
//! that a new photo replaces is deleted from the collection only after the
//! new outcome is recorded. Replaced faces are set aside in the same
//! transaction that records the new face, so a failed deletion is retried
//! by the next invocation and no face is left behind.

use chrono::{DateTime, Utc};

use crate::audit::{Actor, AuditContext};
use crate::duplicates::{
    DUPLICATE_THRESHOLD, MAX_DUPLICATE_MATCHES, PossibleDuplicate, possible_duplicate,
};
use crate::key::{ObjectKey, PhotoFormat};
use crate::metadata::strip_metadata;
use crate::person::{PersonId, Status};
use crate::photo::{check_photo, sha256_hex};
use crate::ports::{
    FaceIndex, IndexAnswer, IndexedFace, IndexingRecord, PersonStore, PhotoStore, PortError,
    RecordOutcome, StoredObject,
};
use crate::rejection::Rejection;
use crate::sequencer::Sequencer;

/// Longest key the registry records; longer keys cannot follow the convention.
pub const MAX_KEY_CHARS: usize = 512;
/// Longest reason a record keeps (the `status_reason` column).
pub const MAX_REASON_CHARS: usize = 500;

/// What an indexed photo means for its person: usable only with exactly
/// one face, good enough to index.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexOutcome {
    OneFace(IndexedFace),
    NoFace,
    /// More than one face; `indexed` are the faces the index kept anyway.
    SeveralFaces {
        indexed: Vec<String>,
    },
    /// A face was found but is not good enough; the reasons as the index gives them.
    PoorQuality {
        reasons: Vec<String>,
    },
    /// The index refused the image itself (format, size, unreadable).
    InvalidImage {
        message: String,
    },
}

impl IndexOutcome {
    /// The rule: one face stored and none left out is a usable photo; a
    /// second face, stored or left out because only the largest may be,
    /// makes several; a single face left out for its quality is a poor one.
    pub fn of(answer: IndexAnswer) -> Self {
        match answer {
            IndexAnswer::InvalidImage { message } => IndexOutcome::InvalidImage { message },
            IndexAnswer::Faces { indexed, unindexed } => {
                let beyond_max = unindexed
                    .iter()
                    .flatten()
                    .any(|reason| reason == "EXCEEDS_MAX_FACES");
                match (indexed.len(), unindexed.len()) {
                    (0, 0) => IndexOutcome::NoFace,
                    (1, 0) => IndexOutcome::OneFace(indexed.into_iter().next().expect("one face")),
                    (found, left_out) if beyond_max || found + left_out > 1 => {
                        IndexOutcome::SeveralFaces {
                            indexed: indexed.into_iter().map(|f| f.face_id).collect(),
                        }
                    }
                    _ => IndexOutcome::PoorQuality {
                        reasons: unindexed.into_iter().flatten().collect(),
                    },
                }
            }
        }
    }
}

/// One object creation, as an S3 event record reports it (key decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCreated {
    pub bucket: String,
    pub key: String,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub sequencer: Sequencer,
    /// When S3 created the object (the event's time).
    pub event_time: DateTime<Utc>,
}

/// Why an event changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// The same or a newer version of the object is already recorded.
    Stale,
    /// The object no longer exists.
    ObjectGone,
    /// The object was overwritten since; the newer event will index it.
    ObjectReplaced,
    /// The event is for another bucket than the registry's.
    OtherBucket,
    /// The key is too long to be one of the registry's.
    KeyTooLong,
    /// The object is an erased person's.
    Erased,
    /// The photo carried metadata (location, device): it was stored again
    /// without, and that new version's event indexes it.
    MetadataStripped,
}

impl Ignored {
    pub fn as_str(self) -> &'static str {
        match self {
            Ignored::Stale => "stale",
            Ignored::ObjectGone => "object_gone",
            Ignored::ObjectReplaced => "object_replaced",
            Ignored::OtherBucket => "other_bucket",
            Ignored::KeyTooLong => "key_too_long",
            Ignored::Erased => "erased",
            Ignored::MetadataStripped => "metadata_stripped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexingResult {
    Indexed { person: PersonId, face_id: String },
    Rejected { person: PersonId, reason: String },
    Ignored(Ignored),
}

/// The services indexing needs, and the invocation it runs in (its
/// outcomes are recorded in the audit trail as the registry's own work).
pub struct Indexer<'a, P: ?Sized, S: ?Sized, F: ?Sized> {
    pub people: &'a P,
    pub photos: &'a S,
    pub faces: &'a F,
    pub request_id: &'a str,
}

impl<P, S, F> Indexer<'_, P, S, F>
where
    P: PersonStore + ?Sized,
    S: PhotoStore + ?Sized,
    F: FaceIndex + ?Sized,
{
    /// Handles one event. An `Err` is a failure to retry (transient, or a
    /// misconfiguration that retrying and then the dead-letter queue will
    /// surface); everything that is the photo's fault is recorded and `Ok`.
    pub async fn handle(&self, event: &ObjectCreated) -> Result<IndexingResult, PortError> {
        let result = self.index(event).await?;
        if result == IndexingResult::Ignored(Ignored::Erased)
            && let Some(version) = &event.version_id
        {
            // A photo sent to an erased person's key after the erasure (with
            // an upload URL issued before it) is not kept either.
            self.photos.delete_version(&event.key, version).await?;
        }
        Ok(result)
    }

    async fn index(&self, event: &ObjectCreated) -> Result<IndexingResult, PortError> {
        if event.bucket != self.photos.bucket() {
            return Ok(IndexingResult::Ignored(Ignored::OtherBucket));
        }
        if event.key.chars().count() > MAX_KEY_CHARS {
            return Ok(IndexingResult::Ignored(Ignored::KeyTooLong));
        }
        let recorded = self.people.find_by_key(&event.key).await?;
        if let Some(person) = &recorded
            && person
                .object_sequencer
                .as_ref()
                .is_some_and(|recorded| Sequencer::new(recorded.clone()) >= event.sequencer)
        {
            // A replay: finish any deletion a failed earlier run left over.
            sweep_retired_faces(self.people, self.faces).await?;
            return Ok(IndexingResult::Ignored(Ignored::Stale));
        }

        let key = match ObjectKey::parse(&event.key) {
            Ok(key) => key,
            Err(error) => {
                let lastname: String = event
                    .key
                    .chars()
                    .take(crate::names::MAX_NAME_CHARS)
                    .collect();
                let reason = Rejection::UnusableFileName(error.to_string()).to_string();
                return self
                    .record_rejection(event, lastname, String::new(), reason, None)
                    .await;
            }
        };
        let (lastname, firstname) = key.recovered_names();

        let Some(object) = self.photos.stat(&event.key).await? else {
            return Ok(IndexingResult::Ignored(Ignored::ObjectGone));
        };
        if event.etag.is_some() && object.etag.is_some() && event.etag != object.etag {
            return Ok(IndexingResult::Ignored(Ignored::ObjectReplaced));
        }
        let etag = object.etag.as_deref();
        let photo = if object.size == 0 || object.size > crate::MAX_PHOTO_BYTES {
            Vec::new()
        } else {
            match self.photos.read(&event.key, etag).await? {
                Some(photo) => photo,
                None => return Ok(IndexingResult::Ignored(Ignored::ObjectReplaced)),
            }
        };
        // The hash of the bytes as uploaded: a version the registry rewrote
        // without metadata carries its upload's hash.
        let photo_sha256 = object
            .uploaded_sha256
            .clone()
            .or_else(|| (!photo.is_empty()).then(|| sha256_hex(&photo)));
        let stripped = check_photo(key.format(), object.size, &photo)
            .map_err(|problem| problem.to_string())
            .and_then(|()| strip_metadata(key.format(), &photo).map_err(|e| e.to_string()));
        match stripped {
            Err(problem) => {
                let reason = Rejection::UnusablePhoto(problem).to_string();
                return self
                    .record_rejection(event, lastname, firstname, reason, photo_sha256)
                    .await;
            }
            Ok(Some(stripped)) => {
                let uploaded_sha256 = photo_sha256.unwrap_or_else(|| sha256_hex(&photo));
                return self
                    .store_stripped(event, &object, stripped, key.format(), &uploaded_sha256)
                    .await;
            }
            Ok(None) => {}
        }

        let version = event.version_id.as_deref().or(object.version_id.as_deref());
        let outcome = IndexOutcome::of(
            self.faces
                .index_photo(&event.bucket, &event.key, version)
                .await?,
        );
        let mut record = IndexingRecord {
            object_key: event.key.clone(),
            lastname,
            firstname,
            status: Status::Rejected,
            status_reason: None,
            identity: None,
            object_etag: object.etag.clone(),
            photo_sha256,
            object_sequencer: event.sequencer.as_str().to_owned(),
            object_created_at: event.event_time,
            face_confidence: None,
            face_box: None,
            possible_duplicate: None,
            discarded_faces: Vec::new(),
        };
        match outcome {
            IndexOutcome::OneFace(face) => {
                let own_id = recorded.as_ref().map(|p| p.id);
                record.possible_duplicate = match self
                    .possible_duplicate(&face.face_id, &event.key, own_id)
                    .await
                {
                    Ok(duplicate) => duplicate,
                    Err(error) => {
                        self.discard_unrecorded(std::slice::from_ref(&face.face_id))
                            .await;
                        return Err(error);
                    }
                };
                record.status = Status::Indexed;
                record.identity = Some(face.face_id);
                record.face_confidence = Some(face.confidence);
                record.face_box = Some(face.face_box);
            }
            IndexOutcome::NoFace => {
                record.status_reason = Some(Rejection::NoFace.to_string());
            }
            IndexOutcome::SeveralFaces { indexed } => {
                // Not the person's face: deleted once the rejection is recorded.
                record.discarded_faces = indexed;
                record.status_reason = Some(Rejection::SeveralFaces.to_string());
            }
            IndexOutcome::PoorQuality { reasons } => {
                record.status_reason = Some(Rejection::poor_quality(&reasons).to_string());
            }
            IndexOutcome::InvalidImage { message } => {
                record.status_reason = Some(Rejection::UnreadableImage(message).to_string());
            }
        }

        self.record(&record).await
    }

    async fn record_rejection(
        &self,
        event: &ObjectCreated,
        lastname: String,
        firstname: String,
        reason: String,
        photo_sha256: Option<String>,
    ) -> Result<IndexingResult, PortError> {
        self.record(&IndexingRecord {
            object_key: event.key.clone(),
            lastname,
            firstname,
            status: Status::Rejected,
            status_reason: Some(reason),
            identity: None,
            object_etag: event.etag.clone(),
            photo_sha256,
            object_sequencer: event.sequencer.as_str().to_owned(),
            object_created_at: event.event_time,
            face_confidence: None,
            face_box: None,
            possible_duplicate: None,
            discarded_faces: Vec::new(),
        })
        .await
    }

    /// Stores the photo without its metadata as the object's new version,
    /// whose own event indexes it, and deletes the version as uploaded.
    /// Should that deletion fail, the retry finds the object replaced, and
    /// the bucket's lifecycle removes the old version with the other
    /// replaced ones.
    async fn store_stripped(
        &self,
        event: &ObjectCreated,
        object: &StoredObject,
        stripped: Vec<u8>,
        format: PhotoFormat,
        uploaded_sha256: &str,
    ) -> Result<IndexingResult, PortError> {
        let etag = object.etag.as_deref().ok_or_else(|| {
            PortError::Permanent("the photo store gave the object no ETag".into())
        })?;
        let written = self
            .photos
            .replace_if_unchanged(
                &event.key,
                stripped,
                format.content_type(),
                etag,
                uploaded_sha256,
            )
            .await?;
        if !written {
            return Ok(IndexingResult::Ignored(Ignored::ObjectReplaced));
        }
        if let Some(uploaded) = event.version_id.as_deref().or(object.version_id.as_deref()) {
            self.photos.delete_version(&event.key, uploaded).await?;
        }
        Ok(IndexingResult::Ignored(Ignored::MetadataStripped))
    }

    /// The duplicate guard: another person whose current face the new face
    /// matches, unless ruled out for this person.
    async fn possible_duplicate(
        &self,
        face_id: &str,
        key: &str,
        person: Option<PersonId>,
    ) -> Result<Option<PossibleDuplicate>, PortError> {
        let matches = self
            .faces
            .search_by_face(face_id, DUPLICATE_THRESHOLD, MAX_DUPLICATE_MATCHES)
            .await?;
        if matches.is_empty() {
            return Ok(None);
        }
        let face_ids: Vec<String> = matches.iter().map(|m| m.face_id.clone()).collect();
        let people = self.people.find_by_identities(&face_ids).await?;
        let ruled_out = match person {
            Some(id) => self.people.ruled_out_duplicates(id).await?,
            None => Vec::new(),
        };
        Ok(possible_duplicate(&matches, &people, key, &ruled_out))
    }

    /// New faces that will not be recorded would be orphans (the retry
    /// indexes the photo again): they are deleted, or when the index is
    /// unavailable, set aside for the next sweep. Should the database be
    /// unavailable too, reconcile deletes them once its grace has passed.
    async fn discard_unrecorded(&self, face_ids: &[String]) {
        if face_ids.is_empty() {
            return;
        }
        let Err(error) = self.faces.delete_faces(face_ids).await else {
            return;
        };
        match self.people.set_faces_aside(face_ids).await {
            Ok(()) => {
                tracing::warn!(?face_ids, %error, "unrecorded faces not deleted: set aside for the next sweep");
            }
            Err(aside) => {
                tracing::warn!(?face_ids, %error, %aside, "unrecorded faces neither deleted nor set aside: reconcile deletes them");
            }
        }
    }

    /// Records an outcome; a new face that ends up unrecorded is deleted,
    /// and a face it replaced is deleted once the outcome is recorded.
    async fn record(&self, record: &IndexingRecord) -> Result<IndexingResult, PortError> {
        // A reason may quote a long key or the index's message: it is cut
        // to what the record keeps, rather than failing the record.
        let cut;
        let record = match &record.status_reason {
            Some(reason) if reason.chars().count() > MAX_REASON_CHARS => {
                let mut shorter = record.clone();
                let kept: String = reason.chars().take(MAX_REASON_CHARS - 1).collect();
                shorter.status_reason = Some(format!("{kept}…"));
                cut = shorter;
                &cut
            }
            _ => record,
        };
        let new_face = record.identity.as_ref();
        let audit = AuditContext {
            actor: Actor::registry(),
            request_id: self.request_id.to_owned(),
        };
        let recorded = match self.people.record_indexing(record, &audit).await {
            Ok(recorded) => recorded,
            Err(error) => {
                // The write may have been committed and only its reply lost:
                // a face the record now holds must stay. When even that
                // cannot be read, the face goes: a face unknown to the
                // registry would outlive an erasure.
                let mut unrecorded = record.discarded_faces.clone();
                if let Some(face) = new_face {
                    let recorded = self.people.find_by_key(&record.object_key).await;
                    let kept =
                        matches!(&recorded, Ok(Some(p)) if p.identity.as_ref() == Some(face));
                    if !kept {
                        unrecorded.push(face.clone());
                    }
                }
                self.discard_unrecorded(&unrecorded).await;
                // Retried, the event is then a replay, which finishes the rest.
                return Err(error);
            }
        };
        match recorded {
            RecordOutcome::Stale { .. } | RecordOutcome::Erased => {
                let unrecorded: Vec<String> = new_face
                    .into_iter()
                    .chain(&record.discarded_faces)
                    .cloned()
                    .collect();
                if !unrecorded.is_empty() {
                    self.faces.delete_faces(&unrecorded).await?;
                }
                Ok(IndexingResult::Ignored(match recorded {
                    RecordOutcome::Erased => Ignored::Erased,
                    _ => Ignored::Stale,
                }))
            }
            RecordOutcome::Recorded {
                person,
                retired_face,
            } => {
                if retired_face.is_some() || !record.discarded_faces.is_empty() {
                    sweep_retired_faces(self.people, self.faces).await?;
                }
                Ok(match (person.status, person.identity) {
                    (Status::Indexed, Some(face_id)) => IndexingResult::Indexed {
                        person: person.id,
                        face_id,
                    },
                    _ => IndexingResult::Rejected {
                        person: person.id,
                        reason: person.status_reason.unwrap_or_default(),
                    },
                })
            }
        }
    }
}

/// Replaced and discarded faces deleted per sweep.
const SWEEP_BATCH: u32 = 100;

/// Deletes a batch of retired faces (replaced, or discarded) from the
/// collection, then forgets them; how many. The indexer sweeps after each
/// outcome that retires a face, reconcile on its schedule.
pub async fn sweep_retired_faces<P, F>(people: &P, faces: &F) -> Result<usize, PortError>
where
    P: PersonStore + ?Sized,
    F: FaceIndex + ?Sized,
{
    let retired = people.retired_faces(SWEEP_BATCH).await?;
    if retired.is_empty() {
        return Ok(0);
    }
    faces.delete_faces(&retired).await?;
    people.forget_retired_faces(&retired).await?;
    tracing::info!(
        count = retired.len(),
        "deleted replaced faces from the collection"
    );
    Ok(retired.len())
}

#[cfg(test)]
mod rule_tests {
    use super::*;
    use crate::person::FaceBox;

    fn face(id: &str) -> IndexedFace {
        IndexedFace {
            face_id: id.into(),
            confidence: 99.0,
            face_box: FaceBox {
                left: 0.1,
                top: 0.1,
                width: 0.3,
                height: 0.4,
            },
        }
    }

    fn answer(indexed: &[&str], unindexed: &[&[&str]]) -> IndexAnswer {
        IndexAnswer::Faces {
            indexed: indexed.iter().map(|id| face(id)).collect(),
            unindexed: unindexed
                .iter()
                .map(|r| r.iter().map(|s| (*s).to_owned()).collect())
                .collect(),
        }
    }

    #[test]
    fn exactly_one_usable_face_makes_a_usable_photo() {
        assert_eq!(
            IndexOutcome::of(answer(&["a"], &[])),
            IndexOutcome::OneFace(face("a"))
        );
        assert_eq!(IndexOutcome::of(answer(&[], &[])), IndexOutcome::NoFace);
        // MaxFaces = 1: the second face is left out, and says so.
        assert_eq!(
            IndexOutcome::of(answer(&["a"], &[&["EXCEEDS_MAX_FACES"]])),
            IndexOutcome::SeveralFaces {
                indexed: vec!["a".into()]
            }
        );
        // Two faces left out for their quality are still two faces.
        assert_eq!(
            IndexOutcome::of(answer(&[], &[&["LOW_SHARPNESS"], &["SMALL_BOUNDING_BOX"]])),
            IndexOutcome::SeveralFaces { indexed: vec![] }
        );
        assert_eq!(
            IndexOutcome::of(answer(&[], &[&["LOW_SHARPNESS", "SMALL_BOUNDING_BOX"]])),
            IndexOutcome::PoorQuality {
                reasons: vec!["LOW_SHARPNESS".into(), "SMALL_BOUNDING_BOX".into()]
            }
        );
        assert_eq!(
            IndexOutcome::of(IndexAnswer::InvalidImage {
                message: "bad".into()
            }),
            IndexOutcome::InvalidImage {
                message: "bad".into()
            }
        );
    }
}
