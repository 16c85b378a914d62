//! Erasure: a person removed for good, on request. Every face the person
//! ever had leaves the collection, every version of the photo (and every
//! delete marker) leaves the bucket, and the record goes; then each is
//! checked, and a receipt says what was removed and what was checked.
//!
//! The erasure is recorded before anything is removed, so that it can be
//! finished by asking again (or by whatever sweeps leftovers) after a crash
//! between steps, and so that no indexing run brings the person back: the
//! store refuses to record an outcome for an erased key (see
//! [`ErasureMark::covers`]). What remembers the erasure holds the person's
//! id and a SHA-256 digest of the key, never the key, which holds the name.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::AuditContext;
use crate::key::ObjectKey;
use crate::person::PersonId;
use crate::ports::{FaceIndex, PersonStore, PhotoStore, PortError};

/// Rounds of removal and checking before an erasure is left to be repeated:
/// a photo uploaded while the erasure runs is removed by the next round.
const ROUNDS: usize = 3;

/// How the erasure record names the key: its SHA-256, so that it holds no name.
pub fn key_digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// An erasure asked for and not finished: what is left to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    pub person_id: PersonId,
    pub object_key: String,
    /// Every FaceId ever recorded for the person.
    pub face_ids: Vec<String>,
    pub requested_at: DateTime<Utc>,
}

/// What asking for an erasure found.
#[derive(Debug, Clone, PartialEq)]
pub enum ErasureBegun {
    /// Recorded now, or earlier and not finished: to be carried out.
    Started(Erasure),
    /// Finished earlier: its receipt.
    Finished(ErasureReceipt),
    /// There is no such person, and none was erased.
    NoSuchPerson,
}

/// An erasure of a key, as the store remembers it when an outcome is to be
/// recorded for that key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErasureMark {
    /// `None` while the erasure runs.
    pub completed_at: Option<DateTime<Utc>>,
}

impl ErasureMark {
    /// Whether the object under `key`, created at `created_at`, is the
    /// erased person's. A key with a token was one person's only, so
    /// anything under it is; a plain key (`lastname_firstname.jpg`) may be
    /// used again for a photo dropped after the erasure finished.
    pub fn covers(&self, key: &str, created_at: DateTime<Utc>) -> bool {
        let one_persons = ObjectKey::parse(key).is_ok_and(|k| k.has_token());
        one_persons || self.completed_at.is_none_or(|done| created_at <= done)
    }
}

/// What an erasure removed and what it then checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErasureReceipt {
    pub person_id: PersonId,
    pub requested_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub removed: Removed,
    pub checked: Checked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Removed {
    /// Every FaceId the person ever had, deleted from the collection
    /// (deleting one already gone is a no-op).
    pub face_ids: Vec<String>,
    pub photo_versions: u32,
    pub delete_markers: u32,
    pub record: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checked {
    /// FaceIds looked up in the collection, and how many were still there.
    pub face_ids: usize,
    pub faces_left: usize,
    /// Versions and delete markers still under the key.
    pub photo_versions_left: usize,
    pub record_left: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErasureError {
    #[error("no person with id {0}")]
    NoSuchPerson(PersonId),
    #[error(
        "person {id} is not erased yet: {faces_left} face(s) and {versions_left} photo version(s) were still there after {ROUNDS} rounds; ask again"
    )]
    Unfinished {
        id: PersonId,
        faces_left: usize,
        versions_left: usize,
    },
    #[error(transparent)]
    Port(#[from] PortError),
}

/// What became of a receipt given to [`PersonStore::finish_erasure`].
#[derive(Debug, Clone, PartialEq)]
pub enum ErasureFinished {
    /// It is the erasure's receipt.
    Recorded,
    /// Another finished the erasure first; its receipt stands.
    Before(ErasureReceipt),
}

/// The answer to an erasure request.
#[derive(Debug, Clone, PartialEq)]
pub struct Erased {
    pub receipt: ErasureReceipt,
    /// `false` when the erasure was finished before and its receipt is
    /// answered again: this request erased nothing.
    pub by_this_request: bool,
}

/// The services an erasure needs.
pub struct Eraser<'a, P: ?Sized, S: ?Sized, F: ?Sized> {
    pub people: &'a P,
    pub photos: &'a S,
    pub faces: &'a F,
}

impl<P, S, F> Eraser<'_, P, S, F>
where
    P: PersonStore + ?Sized,
    S: PhotoStore + ?Sized,
    F: FaceIndex + ?Sized,
{
    /// Erases person `id`, or finishes an erasure begun earlier; for a
    /// person already erased, the receipt of that erasure.
    pub async fn erase(&self, id: PersonId, audit: &AuditContext) -> Result<Erased, ErasureError> {
        // A photo still at the key of the person's names before a
        // correction goes too.
        if let Some(moved) = self.people.unfinished_move(id).await? {
            for version in self.photos.versions(&moved.from).await? {
                self.photos
                    .delete_version(&moved.from, &version.version_id)
                    .await?;
            }
            self.people.forget_move(id).await?;
        }
        match self.people.begin_erasure(id).await? {
            ErasureBegun::NoSuchPerson => Err(ErasureError::NoSuchPerson(id)),
            ErasureBegun::Finished(receipt) => Ok(Erased {
                receipt,
                by_this_request: false,
            }),
            ErasureBegun::Started(erasure) => self.finish(&erasure, audit).await,
        }
    }

    /// Removes what `erasure` names, checks that nothing is left, then
    /// removes the record with the receipt; if another finished it
    /// meanwhile, the receipt kept then.
    pub async fn finish(
        &self,
        erasure: &Erasure,
        audit: &AuditContext,
    ) -> Result<Erased, ErasureError> {
        let key = &erasure.object_key;
        let (mut photo_versions, mut delete_markers) = (0, 0);
        let mut left = (0, 0);
        for _ in 0..ROUNDS {
            if !erasure.face_ids.is_empty() {
                self.faces.delete_faces(&erasure.face_ids).await?;
            }
            for version in self.photos.versions(key).await? {
                self.photos.delete_version(key, &version.version_id).await?;
                if version.delete_marker {
                    delete_markers += 1;
                } else {
                    photo_versions += 1;
                }
            }
            let faces_left = if erasure.face_ids.is_empty() {
                0
            } else {
                self.faces.faces_present(&erasure.face_ids).await?.len()
            };
            left = (faces_left, self.photos.versions(key).await?.len());
            if left == (0, 0) {
                break;
            }
        }
        if left != (0, 0) {
            return Err(ErasureError::Unfinished {
                id: erasure.person_id,
                faces_left: left.0,
                versions_left: left.1,
            });
        }
        let mut receipt = ErasureReceipt {
            person_id: erasure.person_id,
            requested_at: erasure.requested_at,
            completed_at: Utc::now(),
            removed: Removed {
                face_ids: erasure.face_ids.clone(),
                photo_versions,
                delete_markers,
                record: true,
            },
            checked: Checked {
                face_ids: erasure.face_ids.len(),
                faces_left: 0,
                photo_versions_left: 0,
                record_left: false,
            },
        };
        let by_this_request = match self.people.finish_erasure(erasure, &receipt, audit).await? {
            ErasureFinished::Recorded => true,
            ErasureFinished::Before(earlier) => {
                receipt = earlier;
                false
            }
        };
        receipt.checked.record_left = self.people.get(erasure.person_id).await?.is_some();
        if receipt.checked.record_left {
            return Err(PortError::Permanent(format!(
                "person {} is still recorded after the erasure removed the record",
                erasure.person_id
            ))
            .into());
        }
        Ok(Erased {
            receipt,
            by_this_request,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_the_keys_sha256() {
        assert_eq!(
            hex::encode(key_digest("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_persons_own_key_stays_erased_a_plain_key_may_be_used_again() {
        let done: DateTime<Utc> = "2026-11-30T12:00:00Z".parse().unwrap();
        let before = done - chrono::Duration::seconds(1);
        let after = done + chrono::Duration::seconds(1);
        let finished = ErasureMark {
            completed_at: Some(done),
        };
        let running = ErasureMark { completed_at: None };
        let token_key = "0123456789abcdef0123456789abcdef.dupont_jean.jpg";
        for created in [before, after] {
            assert!(finished.covers(token_key, created));
            assert!(running.covers(token_key, created));
            assert!(running.covers("dupont_jean.jpg", created));
        }
        assert!(finished.covers("dupont_jean.jpg", before));
        assert!(finished.covers("dupont_jean.jpg", done));
        assert!(!finished.covers("dupont_jean.jpg", after));
    }
}
