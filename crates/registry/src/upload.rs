//! Enrolment: validate the request, issue a presigned PUT, record the
//! person as pending.

use std::time::Duration;

use crate::key::{ObjectKey, PhotoFormat};
use crate::names::{DisplayName, NameError};
use crate::person::Person;
use crate::ports::{NewPerson, PersonStore, PhotoStore, PortError, PresignedRequest};

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

pub fn validate(request: &UploadRequest) -> Result<ValidUpload, UploadError> {
    let lastname = DisplayName::parse("lastname", &request.lastname)?;
    let firstname = DisplayName::parse("firstname", &request.firstname)?;
    let format = PhotoFormat::from_content_type(&request.content_type)
        .ok_or_else(|| UploadError::UnsupportedContentType(request.content_type.clone()))?;
    if request.content_length == 0 {
        return Err(UploadError::EmptyFile);
    }
    if request.content_length > crate::MAX_PHOTO_BYTES {
        return Err(UploadError::TooLarge {
            size: request.content_length,
            max: crate::MAX_PHOTO_BYTES,
        });
    }
    let key = ObjectKey::for_person(&lastname, &firstname, format);
    Ok(ValidUpload {
        lastname,
        firstname,
        format,
        content_length: request.content_length,
        key,
    })
}

/// Validates the request, signs the upload, then records the person as
/// pending. Signing comes first: it has no side effect, so a failure leaves
/// nothing half-written.
pub async fn start_upload<P: PersonStore + ?Sized, S: PhotoStore + ?Sized>(
    people: &P,
    photos: &S,
    request: &UploadRequest,
    ttl: Duration,
) -> Result<UploadTicket, UploadError> {
    let upload = validate(request)?;
    let key = upload.key.as_string();
    let presigned = photos
        .presign_upload(
            &key,
            upload.format.content_type(),
            upload.content_length,
            ttl,
        )
        .await?;
    let person = people
        .upsert_pending(&NewPerson {
            lastname: upload.lastname.into_string(),
            firstname: upload.firstname.into_string(),
            object_key: key.clone(),
        })
        .await?;
    Ok(UploadTicket {
        person,
        key,
        request: presigned,
    })
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
        assert_eq!(valid.key.as_string(), "obama_barack.jpg");
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
