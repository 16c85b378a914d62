//! Ports: the narrow traits the services need from the outside world. The
//! MySQL, S3 and Rekognition adapters implement them.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::audit::AuditContext;
use crate::duplicates::{PossibleDuplicate, Resolution, Resolved};
use crate::erasure::{Erasure, ErasureBegun, ErasureFinished, ErasureMark, ErasureReceipt};
use crate::person::{FaceBox, Person, PersonId, Status};

/// Errors of an adapter, classified by what the caller can do about them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// May pass on its own (throttling, a connection lost, a timeout): retry.
    #[error("temporarily unavailable: {0}")]
    Transient(String),
    /// Will not pass by retrying (a bad configuration, a missing resource).
    #[error("{0}")]
    Permanent(String),
}

impl PortError {
    pub fn is_transient(&self) -> bool {
        matches!(self, PortError::Transient(_))
    }
}

/// A person about to be enrolled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPerson {
    pub lastname: String,
    pub firstname: String,
    pub object_key: String,
}

/// A request its client may send again when the reply was lost: who sent
/// it, the key they gave it, and a digest of what it asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    pub caller: String,
    pub key: String,
    /// SHA-256 (hex) of the request's content.
    pub digest: String,
}

/// What a request with a key found.
#[derive(Debug, Clone, PartialEq)]
pub enum CreatedOnce {
    /// The first time: the person created.
    New(Person),
    /// The key was used before, by this request (`same_request`) or
    /// another; the person it created, unless erased since.
    Earlier {
        person: Option<Person>,
        same_request: bool,
    },
}

/// A person's photo on its way from the key of their old names to the key
/// of their new ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMove {
    pub from: String,
    pub to: String,
}

/// What the listing asks the store for: one page in descending id order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListFilter {
    pub status: Option<Status>,
    /// Matches the start of the last name or of the first name, ignoring case and accents.
    pub name_prefix: Option<String>,
    /// Only the people flagged as possible duplicates.
    pub possible_duplicates: bool,
    /// Only the people whose photo, as uploaded, has this SHA-256.
    pub photo_sha256: Option<String>,
    /// Only ids below this one (the keyset cursor).
    pub before_id: Option<PersonId>,
    pub limit: u32,
}

/// The outcome of indexing one object version, to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexingRecord {
    pub object_key: String,
    /// Names for a person created from the key alone (no row yet).
    pub lastname: String,
    pub firstname: String,
    pub status: Status,
    pub status_reason: Option<String>,
    pub identity: Option<String>,
    pub object_etag: Option<String>,
    /// SHA-256 of the photo as uploaded (see [`crate::photo::sha256_hex`]);
    /// `None` when it was not read.
    pub photo_sha256: Option<String>,
    pub object_sequencer: String,
    /// When S3 created the object version (its event's time).
    pub object_created_at: DateTime<Utc>,
    pub face_confidence: Option<f32>,
    pub face_box: Option<FaceBox>,
    /// Another person the indexed face matches (not ruled out).
    pub possible_duplicate: Option<PossibleDuplicate>,
    /// Faces the index stored that the outcome does not keep (a photo with
    /// several faces): set aside for deletion with the outcome, as replaced
    /// faces are, so that a failed deletion is retried and none is orphaned.
    pub discarded_faces: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RecordOutcome {
    /// Recorded. A face the person had before, now replaced, was set aside
    /// for deletion from the collection.
    Recorded {
        person: Box<Person>,
        retired_face: Option<String>,
    },
    /// The person already records this object version or a newer one.
    Stale { recorded_sequencer: String },
    /// The object is an erased person's: nothing is recorded.
    Erased,
}

/// Every change is recorded in the audit trail with `audit`, in the same
/// transaction: a change is never without its entry, nor an entry without
/// its change.
#[async_trait]
pub trait PersonStore: Send + Sync {
    /// Creates a new person, `pending` (the key is new: it is unique).
    async fn create_pending(
        &self,
        person: &NewPerson,
        audit: &AuditContext,
    ) -> Result<Person, PortError>;
    /// As [`PersonStore::create_pending`], once per request key: the same
    /// key again creates nobody and answers what the first one created.
    /// Keys are kept a day.
    async fn create_pending_once(
        &self,
        person: &NewPerson,
        request: &RequestKey,
        audit: &AuditContext,
    ) -> Result<CreatedOnce, PortError>;
    /// Marks a person `pending` again (a new photo is on its way); the
    /// current face stays until the new photo is indexed. `None`: no such person.
    async fn mark_pending(
        &self,
        id: PersonId,
        audit: &AuditContext,
    ) -> Result<Option<Person>, PortError>;
    /// Sets new display names (either or both). `None`: no such person.
    async fn rename(
        &self,
        id: PersonId,
        lastname: Option<&str>,
        firstname: Option<&str>,
        audit: &AuditContext,
    ) -> Result<Option<Person>, PortError>;
    /// Sets new display names (either or both) and the key they make, in
    /// one change: the record names `to_key`, with no version of it
    /// recorded yet (so that the event of the photo's copy there is
    /// recorded, whatever its sequencer), the move from the old key is
    /// remembered until [`PersonStore::forget_move`], and the rename is in
    /// the trail, without either name. `None`: no such person.
    async fn rename_with_key(
        &self,
        id: PersonId,
        lastname: Option<&str>,
        firstname: Option<&str>,
        to_key: &str,
        audit: &AuditContext,
    ) -> Result<Option<Person>, PortError>;
    /// The move of person `id`'s photo to a new key still to finish.
    async fn unfinished_move(&self, id: PersonId) -> Result<Option<KeyMove>, PortError>;
    /// The move of person `id`'s photo is finished.
    async fn forget_move(&self, id: PersonId) -> Result<(), PortError>;
    async fn get(&self, id: PersonId) -> Result<Option<Person>, PortError>;
    async fn find_by_key(&self, object_key: &str) -> Result<Option<Person>, PortError>;
    /// The people whose current face is one of `face_ids`.
    async fn find_by_identities(&self, face_ids: &[String]) -> Result<Vec<Person>, PortError>;
    async fn list(&self, filter: &ListFilter) -> Result<Vec<Person>, PortError>;
    /// Records an indexing outcome unless a newer (or the same) object
    /// version is already recorded, or the object is an erased person's
    /// ([`crate::erasure::ErasureMark::covers`]); atomically sets the
    /// replaced face aside.
    async fn record_indexing(
        &self,
        record: &IndexingRecord,
        audit: &AuditContext,
    ) -> Result<RecordOutcome, PortError>;
    /// Records that person `id` is to be erased (unless it is already), and
    /// says what to remove; from then on no outcome is recorded for the
    /// person's key.
    async fn begin_erasure(&self, id: PersonId) -> Result<ErasureBegun, PortError>;
    /// Once the faces and photos are gone: removes the record and what is
    /// kept about the person's faces, and keeps the receipt (also in the
    /// audit trail). If another finished the erasure first, changes nothing
    /// and answers the receipt kept then.
    async fn finish_erasure(
        &self,
        erasure: &Erasure,
        receipt: &ErasureReceipt,
        audit: &AuditContext,
    ) -> Result<ErasureFinished, PortError>;
    /// Clears person `id`'s possible duplicate as `resolution` says (for
    /// "different people", the pair is remembered).
    async fn resolve_duplicate(
        &self,
        id: PersonId,
        resolution: Resolution,
        audit: &AuditContext,
    ) -> Result<Resolved, PortError>;
    /// The people resolved as different from person `id`.
    async fn ruled_out_duplicates(&self, id: PersonId) -> Result<Vec<PersonId>, PortError>;
    /// Every FaceId ever recorded for person `id`, oldest first.
    async fn faces_ever(&self, id: PersonId) -> Result<Vec<String>, PortError>;
    /// Faces replaced in the registry but maybe still in the collection.
    async fn retired_faces(&self, limit: u32) -> Result<Vec<String>, PortError>;
    /// Sets faces aside for deletion from the collection, as replaced faces
    /// are: faces the index stored that no outcome records, whose deletion
    /// failed, so that the next sweep deletes them.
    async fn set_faces_aside(&self, face_ids: &[String]) -> Result<(), PortError>;
    /// Forgets retired faces once they are gone from the collection.
    async fn forget_retired_faces(&self, face_ids: &[String]) -> Result<(), PortError>;
    /// Round trip to the database.
    async fn ping(&self) -> Result<(), PortError>;
}

/// A person as reconcile compares them with the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedPerson {
    pub id: PersonId,
    pub object_key: String,
    pub status: Status,
    /// Whether the person has a current face (`identity`).
    pub has_face: bool,
    pub updated_at: DateTime<Utc>,
    /// Whether an erasure of the person was asked for (and is not finished).
    pub erasing: bool,
}

/// What reconcile walks through, each from a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// The collection's faces (the position is ListFaces' token).
    Faces,
    /// The bucket's photos (the position is the last key reached).
    Photos,
    /// A rebuild of the collection: every person's photo indexed again
    /// (the position is the last key reached).
    Rebuild,
}

impl Scan {
    pub fn as_str(self) -> &'static str {
        match self {
            Scan::Faces => "faces",
            Scan::Photos => "photos",
            Scan::Rebuild => "rebuild",
        }
    }
}

/// Where an unfinished pass of a scan stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Checkpoint {
    /// `None`: the next pass starts from the beginning.
    pub position: Option<String>,
    /// When the pass under way began.
    pub pass_started_at: Option<DateTime<Utc>>,
}

/// Something found out of place, remembered between runs so that reconcile
/// acts only on what stays out of place for its grace period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SightingKind {
    /// A face of the collection that no person records (by FaceId).
    Face,
    /// A photo of the bucket that no person records (by the SHA-256 of its
    /// key, which holds a name).
    Photo,
}

/// What reconcile needs of the database beyond [`PersonStore`].
#[async_trait]
pub trait ReconcileStore: Send + Sync {
    /// Which of `face_ids` no person records as their current face, nor as
    /// a face to delete.
    async fn unreferenced_faces(&self, face_ids: &[String]) -> Result<Vec<String>, PortError>;
    /// Notes that `subjects` are out of place at `now`; when each was first
    /// seen so (in the order given).
    async fn sight(
        &self,
        kind: SightingKind,
        subjects: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, PortError>;
    /// Forgets sightings: repaired, or no longer out of place.
    async fn forget_sightings(
        &self,
        kind: SightingKind,
        subjects: &[String],
    ) -> Result<(), PortError>;
    /// Forgets the sightings not seen again since `since` (a pass's start).
    async fn forget_sightings_before(
        &self,
        kind: SightingKind,
        since: DateTime<Utc>,
    ) -> Result<u64, PortError>;
    /// Photos' moves to the key of corrected names begun before
    /// `moved_before` and not finished, by person.
    async fn unfinished_moves(
        &self,
        moved_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(PersonId, KeyMove)>, PortError>;
    /// Erasures asked for before `requested_before` and not finished.
    async fn unfinished_erasures(
        &self,
        requested_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Erasure>, PortError>;
    /// The first `limit` people whose key is after `after` and up to
    /// `through` (either end open when `None`), in key order.
    async fn people_by_key(
        &self,
        after: Option<&str>,
        through: Option<&str>,
        limit: u32,
    ) -> Result<Vec<KeyedPerson>, PortError>;
    /// The erasures that name each of `keys`, if any (by digest).
    async fn erasure_marks(&self, keys: &[String]) -> Result<Vec<Option<ErasureMark>>, PortError>;
    /// Sets the status of person `id` to rejected with `reason`, retiring
    /// their face, provided the row is unchanged since `seen_updated_at`;
    /// `false` when it changed (or is gone).
    async fn reject_unchanged(
        &self,
        id: PersonId,
        seen_updated_at: DateTime<Utc>,
        reason: &str,
        audit: &AuditContext,
    ) -> Result<bool, PortError>;
    /// Forgets the key digests of plain-key erasures finished before
    /// `finished_before` (a plain key's digest can be confirmed by guessing
    /// the name); how many.
    async fn forget_plain_key_digests(
        &self,
        finished_before: DateTime<Utc>,
    ) -> Result<u64, PortError>;
    async fn checkpoint(&self, scan: Scan) -> Result<Checkpoint, PortError>;
    async fn save_checkpoint(&self, scan: Scan, checkpoint: &Checkpoint) -> Result<(), PortError>;
}

/// A request the browser makes straight to the photo store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedRequest {
    pub url: String,
    pub method: String,
    /// Headers the request must carry exactly (they are signed).
    pub headers: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub size: u64,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    /// For a photo the registry rewrote without its metadata, the SHA-256
    /// of the bytes as they were uploaded (kept with the new version).
    pub uploaded_sha256: Option<String>,
}

/// One version of an object, or a delete marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    pub version_id: String,
    pub delete_marker: bool,
    pub last_modified: Option<DateTime<Utc>>,
}

/// A photo in the bucket (its current version), as a listing gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPhoto {
    pub key: String,
    pub last_modified: Option<DateTime<Utc>>,
}

/// One page of the bucket's photos, in key order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhotoPage {
    pub photos: Vec<ListedPhoto>,
    /// Whether photos with keys after the last one remain.
    pub truncated: bool,
}

/// One page of the collection's faces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FacePage {
    pub face_ids: Vec<String>,
    /// Where the next page starts; `None` after the last one.
    pub next_token: Option<String>,
}

#[async_trait]
pub trait PhotoStore: Send + Sync {
    fn bucket(&self) -> &str;
    async fn presign_upload(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> Result<PresignedRequest, PortError>;
    async fn presign_download(&self, key: &str, ttl: Duration) -> Result<String, PortError>;
    /// The object's size and version, or `None` when there is no such object.
    async fn stat(&self, key: &str) -> Result<Option<StoredObject>, PortError>;
    /// The object's bytes, provided it is still the version with `etag`.
    /// `None` when the object is gone or was replaced.
    async fn read(&self, key: &str, etag: Option<&str>) -> Result<Option<Vec<u8>>, PortError>;
    /// Writes `bytes` as the new version of `key`, provided the object is
    /// still the version with `etag`; `false` (nothing written) when it is
    /// gone or was replaced. The new version keeps `uploaded_sha256`, the
    /// hash of the bytes it stands for (see [`StoredObject`]).
    async fn replace_if_unchanged(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        etag: &str,
        uploaded_sha256: &str,
    ) -> Result<bool, PortError>;
    /// Every version of the object under exactly `key`, delete markers included.
    async fn versions(&self, key: &str) -> Result<Vec<ObjectVersion>, PortError>;
    /// Removes one version (or delete marker) for good.
    async fn delete_version(&self, key: &str, version_id: &str) -> Result<(), PortError>;
    /// Up to `limit` photos (current versions) with keys after `after`.
    async fn list_photos(&self, after: Option<&str>, limit: u32) -> Result<PhotoPage, PortError>;
    /// Copies the current version of `from` to `to`, metadata and all (the
    /// bucket notifies the indexer of `to`); `false` when `from` has none.
    async fn copy(&self, from: &str, to: &str) -> Result<bool, PortError>;
    /// Writes the photo again as a new version of itself, bytes unchanged,
    /// so that the bucket notifies the indexer of it once more; `false`
    /// when there is no such photo.
    async fn rewrite_in_place(&self, key: &str, content_type: &str) -> Result<bool, PortError>;
}

/// A face stored in the collection.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedFace {
    pub face_id: String,
    pub confidence: f32,
    pub face_box: FaceBox,
}

/// What the index answered for a photo, as it answered (what that means
/// for the person is the domain's rule: [`crate::indexing::IndexOutcome`]).
#[derive(Debug, Clone, PartialEq)]
pub enum IndexAnswer {
    /// The faces it stored, and for each face it found but did not store,
    /// its reasons as the index gives them (`EXCEEDS_MAX_FACES`, `LOW_SHARPNESS`, ...).
    Faces {
        indexed: Vec<IndexedFace>,
        unindexed: Vec<Vec<String>>,
    },
    /// It refused the image itself (format, size, unreadable).
    InvalidImage { message: String },
}

#[async_trait]
pub trait FaceIndex: Send + Sync {
    fn collection(&self) -> &str;
    /// Indexes the largest face of a stored photo, named by its key; any
    /// other face comes back unindexed (`EXCEEDS_MAX_FACES`).
    async fn index_photo(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<IndexAnswer, PortError>;
    async fn delete_faces(&self, face_ids: &[String]) -> Result<(), PortError>;
    /// Which of `face_ids` are in the collection.
    async fn faces_present(&self, face_ids: &[String]) -> Result<Vec<String>, PortError>;
    /// One page of every face in the collection, from `next_token` (the
    /// previous page's) or from the start.
    async fn list_faces(&self, next_token: Option<&str>, limit: u32)
    -> Result<FacePage, PortError>;
    /// The collection's faces like face `face_id` (itself left out), at
    /// least `threshold` similar, at most `max_matches`.
    async fn search_by_face(
        &self,
        face_id: &str,
        threshold: f32,
        max_matches: u32,
    ) -> Result<Vec<FaceMatch>, PortError>;
}

/// A face found in a photo.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectedFace {
    pub face_box: FaceBox,
    pub confidence: f32,
    /// 0–100, as DetectFaces' default attributes give it (`Quality.Sharpness`).
    pub sharpness: Option<f32>,
}

/// A face of the collection like a searched one.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceMatch {
    pub face_id: String,
    /// 0–100.
    pub similarity: f32,
}

/// Searching the collection with a photo that is not stored.
#[async_trait]
pub trait FaceSearch: Send + Sync {
    /// Every face in `image` (the bytes of a JPEG or PNG).
    async fn detect_faces(&self, image: &[u8]) -> Result<Vec<DetectedFace>, PortError>;
    /// The collection's faces like the largest face of `image`, at least
    /// `threshold` similar, at most `max_matches`; `None` when the index
    /// finds no face in `image` to search with.
    async fn search_by_image(
        &self,
        image: &[u8],
        threshold: f32,
        max_matches: u32,
    ) -> Result<Option<Vec<FaceMatch>>, PortError>;
}

/// Counts a caller's calls in fixed windows: a rate that holds across
/// every execution environment of a function, which share nothing else.
#[async_trait]
pub trait CallCounter: Send + Sync {
    /// Counts one more call of `caller` in the window that began at
    /// `window_start` and answers how many it holds now, this one included.
    /// The caller's older windows may be forgotten.
    async fn count_call(&self, caller: &str, window_start: DateTime<Utc>)
    -> Result<u32, PortError>;
}
