//! A person's row, read into the domain's `Person`.

use chrono::{DateTime, Utc};
use registry::duplicates::PossibleDuplicate;
use registry::person::{FaceBox, Person, PersonId, Status};
use registry::ports::PortError;

use super::errors::port_error;

/// The columns a [`PersonRow`] reads.
pub(super) const PERSON_COLUMNS: &str = "id, lastname, firstname, object_key, identity, status, status_reason, \
     object_etag, object_sequencer, photo_sha256, face_confidence, face_left, face_top, face_width, face_height, \
     duplicate_of, duplicate_similarity, created_at, updated_at";

/// The text columns of a binary collation, which the driver reads as bytes.
pub(super) fn utf8(bytes: Vec<u8>) -> Result<String, sqlx::Error> {
    String::from_utf8(bytes).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

pub(super) fn people(rows: Vec<PersonRow>) -> Result<Vec<Person>, PortError> {
    rows.into_iter()
        .map(Person::try_from)
        .collect::<Result<_, _>>()
        .map_err(port_error)
}

#[derive(sqlx::FromRow)]
pub(super) struct PersonRow {
    id: u64,
    lastname: String,
    firstname: String,
    /// Its binary collation makes the driver see bytes.
    object_key: Vec<u8>,
    identity: Option<String>,
    status: String,
    status_reason: Option<String>,
    object_etag: Option<String>,
    object_sequencer: Option<String>,
    photo_sha256: Option<String>,
    face_confidence: Option<f32>,
    face_left: Option<f32>,
    face_top: Option<f32>,
    face_width: Option<f32>,
    face_height: Option<f32>,
    duplicate_of: Option<u64>,
    duplicate_similarity: Option<f32>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<PersonRow> for Person {
    type Error = sqlx::Error;

    fn try_from(row: PersonRow) -> Result<Self, Self::Error> {
        let status = row
            .status
            .parse::<Status>()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let face_box = match (row.face_left, row.face_top, row.face_width, row.face_height) {
            (Some(left), Some(top), Some(width), Some(height)) => Some(FaceBox {
                left,
                top,
                width,
                height,
            }),
            _ => None,
        };
        Ok(Person {
            id: PersonId(row.id),
            lastname: row.lastname,
            firstname: row.firstname,
            object_key: utf8(row.object_key)?,
            identity: row.identity,
            status,
            status_reason: row.status_reason,
            object_etag: row.object_etag,
            object_sequencer: row.object_sequencer,
            photo_sha256: row.photo_sha256,
            face_confidence: row.face_confidence,
            face_box,
            possible_duplicate: row.duplicate_of.map(|other| PossibleDuplicate {
                person_id: PersonId(other),
                similarity: row.duplicate_similarity.unwrap_or_default(),
            }),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}
