//! A person as the API shows it, and person ids as the API takes them.

use registry::person::{Person, PersonId};
use serde_json::{Value, json};

use crate::error::ApiError;

/// The person's record (the faces function adds a link to the photo).
pub fn person_json(person: &Person) -> Value {
    json!({
        "id": person.id,
        "lastname": person.lastname,
        "firstname": person.firstname,
        "key": person.object_key,
        "status": person.status,
        "statusReason": person.status_reason,
        "identity": person.identity,
        "faceConfidence": person.face_confidence,
        "faceBox": person.face_box,
        "possibleDuplicate": person.possible_duplicate,
        "createdAt": person.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "updatedAt": person.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
}

/// A person id from a path segment.
pub fn parse_person_id(text: &str) -> Result<PersonId, ApiError> {
    text.parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .map(PersonId)
        .ok_or_else(|| ApiError::BadRequest(format!("{text:?} is not a person id")))
}
