//! A person as the API shows it, and person ids as the API takes them.

use std::borrow::Cow;

use registry::duplicates::PossibleDuplicate;
use registry::person::{FaceBox, Person, PersonId, Status};
use serde::Serialize;

use crate::error::ApiError;
use crate::i18n::Lang;

/// A person as the API shows it, serialized straight from the record (a
/// page of people is written without building a JSON tree of each).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonView<'a> {
    id: PersonId,
    lastname: &'a str,
    firstname: &'a str,
    key: &'a str,
    status: Status,
    /// As recorded (English), or in the language of [`PersonView::in_language`].
    status_reason: Option<Cow<'a, str>>,
    identity: Option<&'a str>,
    face_confidence: Option<f32>,
    face_box: Option<FaceBox>,
    possible_duplicate: Option<PossibleDuplicate>,
    /// SHA-256 of the photo as uploaded (hex), once indexed or rejected.
    photo_sha256: Option<&'a str>,
    created_at: String,
    updated_at: String,
    /// The faces function's link to the photo (`null` while there is none);
    /// absent from the other functions' answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    photo_url: Option<Option<String>>,
}

impl<'a> PersonView<'a> {
    pub fn of(person: &'a Person) -> Self {
        let time = |t: &chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        Self {
            id: person.id,
            lastname: &person.lastname,
            firstname: &person.firstname,
            key: &person.object_key,
            status: person.status,
            status_reason: person.status_reason.as_deref().map(Cow::Borrowed),
            identity: person.identity.as_deref(),
            face_confidence: person.face_confidence,
            face_box: person.face_box,
            possible_duplicate: person.possible_duplicate,
            photo_sha256: person.photo_sha256.as_deref(),
            created_at: time(&person.created_at),
            updated_at: time(&person.updated_at),
            photo_url: None,
        }
    }

    /// With the reason of a rejection in `lang` (a reason none of the
    /// registry's sentences stays as recorded).
    pub fn in_language(mut self, lang: Lang) -> Self {
        if let Some(reason) = &self.status_reason
            && let Some(message) = crate::error::messages::rejection(reason)
        {
            self.status_reason = Some(Cow::Owned(message.render(lang)));
        }
        self
    }

    /// With the link to the photo, or `null` for none.
    pub fn with_photo_url(mut self, url: Option<String>) -> Self {
        self.photo_url = Some(url);
        self
    }
}

/// A person id from a path segment.
pub fn parse_person_id(text: &str) -> Result<PersonId, ApiError> {
    text.parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .map(PersonId)
        .ok_or_else(|| ApiError::not_a_person_id(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> Person {
        let at: chrono::DateTime<chrono::Utc> = "2026-12-01T12:00:00.5Z".parse().unwrap();
        Person {
            id: PersonId(7),
            lastname: "Dupont".into(),
            firstname: "Jean".into(),
            object_key: "dupont_jean.jpg".into(),
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

    #[test]
    fn a_person_is_shown_with_every_field_and_the_photo_link_only_when_asked() {
        let person = person();
        let shown = serde_json::to_value(PersonView::of(&person)).unwrap();
        assert_eq!(
            shown,
            serde_json::json!({
                "id": 7, "lastname": "Dupont", "firstname": "Jean", "key": "dupont_jean.jpg",
                "status": "pending", "statusReason": null, "identity": null,
                "faceConfidence": null, "faceBox": null, "possibleDuplicate": null,
                "photoSha256": null,
                "createdAt": "2026-12-01T12:00:00.500Z", "updatedAt": "2026-12-01T12:00:00.500Z",
            })
        );
        let listed = serde_json::to_value(PersonView::of(&person).with_photo_url(None)).unwrap();
        assert_eq!(listed["photoUrl"], serde_json::Value::Null);
        assert!(listed.as_object().unwrap().contains_key("photoUrl"));
    }
}
