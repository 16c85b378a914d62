//! Enrolment: validate the request, issue a presigned PUT, record the
//! person as pending. A new photo for a person already enrolled goes to
//! that person's key (by id); an admin may correct a person's names, and
//! the key with them.

use std::time::Duration;

use crate::audit::AuditContext;
use crate::key::{ObjectKey, PhotoFormat};
use crate::names::{DisplayName, NameError};
use crate::person::{Person, PersonId, Status};
use crate::ports::{
    CreatedOnce, KeyMove, NewPerson, PersonStore, PhotoStore, PortError, PresignedRequest,
    RequestKey,
};

/// The longest idempotency key taken.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 128;

/// What the caller asks to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    pub lastname: String,
    pub firstname: String,
    pub content_type: String,
    pub content_length: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("contentType {0:?} is not accepted; use image/jpeg or image/png")]
    UnsupportedContentType(String),
    #[error("contentLength must be more than 0 bytes")]
    EmptyFile,
    #[error("contentLength {size} is over the limit of {max} bytes")]
    TooLarge { size: u64, max: u64 },
    #[error("no person with id {0}")]
    NoSuchPerson(PersonId),
    #[error(
        "person {id}'s photo is a {kept}; a new photo replaces it under the same key, so it must be a {kept} too"
    )]
    FormatChanged { id: PersonId, kept: &'static str },
    #[error(
        "person {0} has no photo key that a new photo can replace (the file name was not usable)"
    )]
    NotReplaceable(PersonId),
    #[error("give lastname, firstname or both")]
    NothingToRename,
    #[error(
        "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} letters, digits, '-', '_', '.' or ':'"
    )]
    BadIdempotencyKey,
    #[error("this Idempotency-Key was given to another request; use a new key for a new request")]
    IdempotencyKeyReused,
    #[error(
        "this request was carried out already and its person's photo has arrived since (person {0})"
    )]
    AlreadyCarriedOut(PersonId),
    #[error("this request was carried out already and its person has been erased since")]
    EarlierPersonErased,
    #[error("person {0}'s photo is on its way; correct the name once it is indexed or rejected")]
    PhotoOnItsWay(PersonId),
    #[error(transparent)]
    Port(#[from] PortError),
}

#[derive(Debug, Clone, PartialEq)]
pub struct UploadTicket {
    pub person: Person,
    pub key: String,
    pub request: PresignedRequest,
}

/// Validated, the request names a key and a format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidUpload {
    pub lastname: DisplayName,
    pub firstname: DisplayName,
    pub format: PhotoFormat,
    pub content_length: u64,
    pub key: ObjectKey,
}

/// The declared type and size of a photo to upload.
fn photo_format(content_type: &str, content_length: u64) -> Result<PhotoFormat, UploadError> {
    let format = PhotoFormat::from_content_type(content_type)
        .ok_or_else(|| UploadError::UnsupportedContentType(content_type.to_owned()))?;
    if content_length == 0 {
        return Err(UploadError::EmptyFile);
    }
    if content_length > crate::MAX_PHOTO_BYTES {
        return Err(UploadError::TooLarge {
            size: content_length,
            max: crate::MAX_PHOTO_BYTES,
        });
    }
    Ok(format)
}

pub fn validate(request: &UploadRequest) -> Result<ValidUpload, UploadError> {
    let lastname = DisplayName::parse("lastname", &request.lastname)?;
    let firstname = DisplayName::parse("firstname", &request.firstname)?;
    let format = photo_format(&request.content_type, request.content_length)?;
    let key = ObjectKey::for_new_person(&lastname, &firstname, format);
    Ok(ValidUpload {
        lastname,
        firstname,
        format,
        content_length: request.content_length,
        key,
    })
}

/// Validates the request, signs the upload, then records a new person as
/// pending (namesakes included: each gets a key of its own). Signing comes
/// first: it has no side effect, so a failure leaves nothing half-written.
///
/// With an idempotency key (`Idempotency-Key`), the same request sent again
/// (its reply lost) creates nobody: it answers the person the first one
/// created, with a new signature for their key, while their photo has not
/// arrived.
pub async fn start_upload<P: PersonStore + ?Sized, S: PhotoStore + ?Sized>(
    people: &P,
    photos: &S,
    request: &UploadRequest,
    idempotency_key: Option<&str>,
    ttl: Duration,
    audit: &AuditContext,
) -> Result<UploadTicket, UploadError> {
    let upload = validate(request)?;
    let request_key = idempotency_key
        .map(|key| request_key(key, &upload, audit))
        .transpose()?;
    let key = upload.key.as_string();
    let presigned = photos
        .presign_upload(
            &key,
            upload.format.content_type(),
            upload.content_length,
            ttl,
        )
        .await?;
    let new_person = NewPerson {
        lastname: upload.lastname.into_string(),
        firstname: upload.firstname.into_string(),
        object_key: key.clone(),
    };
    let Some(request_key) = request_key else {
        let person = people.create_pending(&new_person, audit).await?;
        return Ok(UploadTicket {
            person,
            key,
            request: presigned,
        });
    };
    match people
        .create_pending_once(&new_person, &request_key, audit)
        .await?
    {
        CreatedOnce::New(person) => Ok(UploadTicket {
            person,
            key,
            request: presigned,
        }),
        CreatedOnce::Earlier {
            same_request: false,
            ..
        } => Err(UploadError::IdempotencyKeyReused),
        CreatedOnce::Earlier { person: None, .. } => Err(UploadError::EarlierPersonErased),
        CreatedOnce::Earlier {
            person: Some(person),
            ..
        } => replay(photos, person, upload.format, upload.content_length, ttl).await,
    }
}

/// The first request's person again, their key signed anew, as long as no
/// photo has come for it (a photo later is a replacement).
async fn replay<S: PhotoStore + ?Sized>(
    photos: &S,
    person: Person,
    format: PhotoFormat,
    content_length: u64,
    ttl: Duration,
) -> Result<UploadTicket, UploadError> {
    if person.object_etag.is_some() {
        return Err(UploadError::AlreadyCarriedOut(person.id));
    }
    let request = photos
        .presign_upload(
            &person.object_key,
            format.content_type(),
            content_length,
            ttl,
        )
        .await?;
    Ok(UploadTicket {
        key: person.object_key.clone(),
        person,
        request,
    })
}

/// The request's key: the caller's, checked, with a digest of what it asks
/// (the names as kept, the type and the size).
fn request_key(
    key: &str,
    upload: &ValidUpload,
    audit: &AuditContext,
) -> Result<RequestKey, UploadError> {
    let valid = (1..=MAX_IDEMPOTENCY_KEY_CHARS).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if !valid {
        return Err(UploadError::BadIdempotencyKey);
    }
    let caller = audit
        .actor
        .subject
        .clone()
        .or_else(|| audit.actor.username.clone())
        .unwrap_or_default();
    let content = serde_json::json!([
        upload.lastname.as_str(),
        upload.firstname.as_str(),
        upload.format.content_type(),
        upload.content_length,
    ]);
    Ok(RequestKey {
        caller,
        key: key.to_owned(),
        digest: crate::photo::sha256_hex(content.to_string().as_bytes()),
    })
}

/// A new photo for person `id`: signed for the person's own key (so the
/// indexer records its face and retires the old one, as for any new
/// version), then the person marked pending. The key keeps its format.
pub async fn start_replacement<P: PersonStore + ?Sized, S: PhotoStore + ?Sized>(
    people: &P,
    photos: &S,
    id: PersonId,
    content_type: &str,
    content_length: u64,
    ttl: Duration,
    audit: &AuditContext,
) -> Result<UploadTicket, UploadError> {
    let format = photo_format(content_type, content_length)?;
    let person = people.get(id).await?.ok_or(UploadError::NoSuchPerson(id))?;
    let key = ObjectKey::parse(&person.object_key).map_err(|_| UploadError::NotReplaceable(id))?;
    if key.format() != format {
        return Err(UploadError::FormatChanged {
            id,
            kept: key.format().name(),
        });
    }
    let presigned = photos
        .presign_upload(
            &person.object_key,
            format.content_type(),
            content_length,
            ttl,
        )
        .await?;
    let person = people
        .mark_pending(id, audit)
        .await?
        .ok_or(UploadError::NoSuchPerson(id))?;
    Ok(UploadTicket {
        key: person.object_key.clone(),
        person,
        request: presigned,
    })
}

/// New names for a person, as typed (either or both).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rename {
    pub lastname: Option<String>,
    pub firstname: Option<String>,
}

/// Corrects a person's names. When the key spells the old names, the
/// photo moves to a key of the new ones, so that no current or later read
/// shows the old name: the record names the new key, the photo is copied
/// there (its event has it indexed anew under the new `ExternalImageId`,
/// and the indexer then retires the old face), and every version of the old
/// key is deleted, as erasure deletes them. A move cut short is finished by
/// the next correction of that person.
pub async fn rename<P: PersonStore + ?Sized, S: PhotoStore + ?Sized>(
    people: &P,
    photos: &S,
    id: PersonId,
    rename: &Rename,
    audit: &AuditContext,
) -> Result<Person, UploadError> {
    if rename.lastname.is_none() && rename.firstname.is_none() {
        return Err(UploadError::NothingToRename);
    }
    let lastname = rename
        .lastname
        .as_deref()
        .map(|n| DisplayName::parse("lastname", n))
        .transpose()?;
    let firstname = rename
        .firstname
        .as_deref()
        .map(|n| DisplayName::parse("firstname", n))
        .transpose()?;
    if let Some(unfinished) = people.unfinished_move(id).await? {
        finish_move(people, photos, id, &unfinished).await?;
    }
    let person = people.get(id).await?.ok_or(UploadError::NoSuchPerson(id))?;
    let (last, first) = (lastname.as_ref(), firstname.as_ref());
    let names_only = || async {
        people
            .rename(
                id,
                last.map(DisplayName::as_str),
                first.map(DisplayName::as_str),
                audit,
            )
            .await?
            .ok_or(UploadError::NoSuchPerson(id))
    };
    // A key of another shape names nobody: the names alone change.
    let Ok(key) = ObjectKey::parse(&person.object_key) else {
        return names_only().await;
    };
    let new_last = match last {
        Some(name) => name.clone(),
        None => DisplayName::parse("lastname", &person.lastname)?,
    };
    let new_first = match first {
        Some(name) => name.clone(),
        None => DisplayName::parse("firstname", &person.firstname)?,
    };
    if key.spells(&new_last, &new_first) {
        return names_only().await;
    }
    // The photo is on its way to the old key: moved now, it would arrive
    // where nobody is recorded.
    if person.status == Status::Pending {
        return Err(UploadError::PhotoOnItsWay(id));
    }
    let moved = KeyMove {
        from: person.object_key.clone(),
        to: ObjectKey::for_new_person(&new_last, &new_first, key.format()).as_string(),
    };
    let renamed = people
        .rename_with_key(
            id,
            last.map(DisplayName::as_str),
            first.map(DisplayName::as_str),
            &moved.to,
            audit,
        )
        .await?
        .ok_or(UploadError::NoSuchPerson(id))?;
    finish_move(people, photos, id, &moved).await?;
    Ok(renamed)
}

/// Copies the photo to its new key and deletes every version of the old
/// one, then forgets the move. Done twice, the second does nothing more:
/// the old key has no version left to copy or delete.
pub async fn finish_move<P: PersonStore + ?Sized, S: PhotoStore + ?Sized>(
    people: &P,
    photos: &S,
    id: PersonId,
    moved: &KeyMove,
) -> Result<(), UploadError> {
    photos.copy(&moved.from, &moved.to).await?;
    for version in photos.versions(&moved.from).await? {
        photos
            .delete_version(&moved.from, &version.version_id)
            .await?;
    }
    people.forget_move(id).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(last: &str, first: &str, ct: &str, len: u64) -> UploadRequest {
        UploadRequest {
            lastname: last.into(),
            firstname: first.into(),
            content_type: ct.into(),
            content_length: len,
        }
    }

    #[test]
    fn a_good_request_names_its_key() {
        let valid = validate(&request(" Obama ", "Barack", "image/jpeg", 1000)).unwrap();
        assert!(valid.key.as_string().ends_with(".obama_barack.jpg"));
        assert_eq!(valid.lastname.as_str(), "Obama");
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let cases = [
            (request("", "Barack", "image/jpeg", 1), "lastname is empty"),
            (
                request("Obama", "\u{0}", "image/jpeg", 1),
                "firstname contains control characters",
            ),
            (
                request("Obama", "Barack", "image/gif", 1),
                "contentType \"image/gif\" is not accepted; use image/jpeg or image/png",
            ),
            (
                request("Obama", "Barack", "image/png", 0),
                "contentLength must be more than 0 bytes",
            ),
            (
                request("Obama", "Barack", "image/png", 15 * 1024 * 1024 + 1),
                "contentLength 15728641 is over the limit of 15728640 bytes",
            ),
            (
                request("***", "Barack", "image/png", 1),
                "lastname has no letters or digits to build a file name from",
            ),
        ];
        for (req, message) in cases {
            assert_eq!(validate(&req).unwrap_err().to_string(), message);
        }
    }
}
