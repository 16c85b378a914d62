//! The duplicate guard: a newly indexed face is searched in the collection,
//! and a person whose current face it matches is flagged as the new
//! person's possible duplicate, until an admin resolves it: "same person"
//! (the operator then erases one of them) or "different people" (the flag is
//! cleared and never raised again for that pair).

use serde::{Deserialize, Serialize};

use crate::audit::AuditContext;
use crate::person::{Person, PersonId};
use crate::ports::{FaceMatch, PersonStore, PortError};

/// Similarity (0–100) from which a match flags a possible duplicate:
/// Rekognition's default match threshold, as identify uses it.
pub const DUPLICATE_THRESHOLD: f32 = 80.0;
/// Matches looked at per new face: enough to find a person not yet ruled out.
pub const MAX_DUPLICATE_MATCHES: u32 = 10;

/// Another person the new face matches.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PossibleDuplicate {
    pub person_id: PersonId,
    pub similarity: f32,
}

/// The most similar other person whose current face is among `matches`,
/// leaving out the person under `own_key` (their previous face is still
/// in the collection while a new one is recorded) and the people
/// `ruled_out` (resolved as different people).
pub fn possible_duplicate(
    matches: &[FaceMatch],
    people: &[Person],
    own_key: &str,
    ruled_out: &[PersonId],
) -> Option<PossibleDuplicate> {
    matches
        .iter()
        .filter(|m| m.similarity >= DUPLICATE_THRESHOLD)
        .filter_map(|m| {
            let person = people
                .iter()
                .find(|p| p.identity.as_deref() == Some(m.face_id.as_str()))?;
            (person.object_key != own_key && !ruled_out.contains(&person.id)).then_some(
                PossibleDuplicate {
                    person_id: person.id,
                    similarity: m.similarity,
                },
            )
        })
        .max_by(|a, b| a.similarity.total_cmp(&b.similarity))
}

/// An admin's answer to a possible duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// One person enrolled twice: the flag is cleared, the operator erases one.
    Same,
    /// Two people who look alike: the flag is cleared and the pair remembered.
    Different,
}

/// What resolving found.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// The flag is cleared: the person as they are now, and who they were
    /// flagged against.
    Cleared {
        person: Box<Person>,
        other: PersonId,
    },
    NotFlagged,
    NoSuchPerson,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DuplicateError {
    #[error("no person with id {0}")]
    NoSuchPerson(PersonId),
    #[error("person {0} is not flagged as a possible duplicate")]
    NotFlagged(PersonId),
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Resolves person `id`'s possible duplicate; the person as they are now.
pub async fn resolve<P: PersonStore + ?Sized>(
    people: &P,
    id: PersonId,
    resolution: Resolution,
    audit: &AuditContext,
) -> Result<Person, DuplicateError> {
    match people.resolve_duplicate(id, resolution, audit).await? {
        Resolved::Cleared { person, .. } => Ok(*person),
        Resolved::NotFlagged => Err(DuplicateError::NotFlagged(id)),
        Resolved::NoSuchPerson => Err(DuplicateError::NoSuchPerson(id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::Status;

    fn person(id: u64, key: &str, face: &str) -> Person {
        Person {
            id: PersonId(id),
            lastname: "L".into(),
            firstname: "F".into(),
            object_key: key.into(),
            identity: Some(face.into()),
            status: Status::Indexed,
            status_reason: None,
            object_etag: None,
            object_sequencer: None,
            photo_sha256: None,
            face_confidence: None,
            face_box: None,
            possible_duplicate: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    fn hit(face: &str, similarity: f32) -> FaceMatch {
        FaceMatch {
            face_id: face.into(),
            similarity,
        }
    }

    #[test]
    fn the_most_similar_other_person_not_ruled_out_is_flagged() {
        let people = [
            person(1, "me.jpg", "f-me-old"),
            person(2, "two.jpg", "f-2"),
            person(3, "three.jpg", "f-3"),
        ];
        let matches = [
            hit("f-me-old", 99.0),
            hit("f-2", 85.0),
            hit("f-3", 93.0),
            // A retired face of someone: nobody's current face.
            hit("f-gone", 99.5),
        ];
        assert_eq!(
            possible_duplicate(&matches, &people, "me.jpg", &[]),
            Some(PossibleDuplicate {
                person_id: PersonId(3),
                similarity: 93.0
            })
        );
        assert_eq!(
            possible_duplicate(&matches, &people, "me.jpg", &[PersonId(3)]),
            Some(PossibleDuplicate {
                person_id: PersonId(2),
                similarity: 85.0
            })
        );
        assert_eq!(
            possible_duplicate(&matches, &people, "me.jpg", &[PersonId(2), PersonId(3)]),
            None
        );
        assert_eq!(
            possible_duplicate(&[hit("f-2", 79.9)], &people, "me.jpg", &[]),
            None,
            "below the threshold"
        );
    }
}
