//! What each of the domain's errors tells a caller, and why a photo was
//! rejected: a key in the `api` catalogue and the values its translation
//! needs (the English is the error's own `Display`, the reason as
//! recorded). One function per type, each match exhaustive, so that a new
//! error cannot reach a page without its words.

use registry::audit::{AuditError, MAX_SUBJECT_CHARS};
use registry::duplicates::DuplicateError;
use registry::erasure::ErasureError;
use registry::listing::{ListError, MAX_QUERY_CHARS};
use registry::names::{MAX_NAME_CHARS, NameError};
use registry::photo::PhotoError;
use registry::ports::PortError;
use registry::rejection::Rejection;
use registry::search::{
    MAX_MATCHES, MAX_SEARCH_PIXELS, SEARCHES_PER_MINUTE, SearchError, VIEWER_MIN_THRESHOLD,
};
use registry::upload::{MAX_IDEMPOTENCY_KEY_CHARS, UploadError};

use crate::i18n::Message;

/// "No person with id N", whichever flow looked for them.
pub(crate) fn no_such_person(error: impl std::fmt::Display, id: impl std::fmt::Display) -> Message {
    Message::new("person.not_found", error).text("id", id)
}

fn port(error: &PortError) -> Message {
    // Never shown: a port's failure answers 503 or 500 with a fixed text.
    Message::new("http.internal", error)
}

pub(crate) fn name(error: &NameError) -> Message {
    let (key, field) = match error {
        NameError::Empty { field } => ("name.empty", field),
        NameError::TooLong { field } => ("name.too_long", field),
        NameError::ControlCharacters { field } => ("name.control_characters", field),
        NameError::FormatCharacters { field } => ("name.format_characters", field),
        NameError::NoSlug { field } => ("name.no_slug", field),
    };
    let message = Message::new(key, error).term("field", field);
    match error {
        NameError::TooLong { .. } => message.number("max", MAX_NAME_CHARS),
        _ => message,
    }
}

pub(crate) fn upload(error: &UploadError) -> Message {
    match error {
        UploadError::Name(inner) => name(inner),
        UploadError::UnsupportedContentType(found) => {
            Message::new("upload.unsupported_content_type", error).text("type", found)
        }
        UploadError::EmptyFile => Message::new("upload.empty", error),
        UploadError::TooLarge { size, max } => Message::new("upload.too_large", error)
            .number("size", *size)
            .number("max", *max),
        UploadError::NoSuchPerson(id) => no_such_person(error, id),
        UploadError::FormatChanged { id, kept } => Message::new("upload.format_changed", error)
            .text("id", id)
            .text("kept", kept),
        UploadError::NotReplaceable(id) => {
            Message::new("upload.not_replaceable", error).text("id", id)
        }
        UploadError::NothingToRename => Message::new("upload.nothing_to_rename", error),
        UploadError::BadIdempotencyKey => Message::new("upload.bad_idempotency_key", error)
            .number("max", MAX_IDEMPOTENCY_KEY_CHARS),
        UploadError::IdempotencyKeyReused => Message::new("upload.idempotency_key_reused", error),
        UploadError::AlreadyCarriedOut(id) => {
            Message::new("upload.already_carried_out", error).text("id", id)
        }
        UploadError::EarlierPersonErased => Message::new("upload.earlier_person_erased", error),
        UploadError::PhotoOnItsWay(id) => {
            Message::new("upload.photo_on_its_way", error).text("id", id)
        }
        UploadError::Port(inner) => port(inner),
    }
}

/// A recorded rejection reason in either language; `None` for a reason that
/// is none of the registry's sentences (shown as recorded).
pub(crate) fn rejection(recorded: &str) -> Option<Message> {
    let message = |key| Message::new(key, recorded);
    Some(match Rejection::read(recorded)? {
        Rejection::NoFace => message("rejection.no_face"),
        Rejection::SeveralFaces => message("rejection.several_faces"),
        Rejection::PoorQuality(codes) if codes.is_empty() => message("rejection.not_clear"),
        Rejection::PoorQuality(codes) => message("rejection.poor_quality").terms("problems", codes),
        // The details are the index's or the checks' own words, in English.
        Rejection::UnreadableImage(why) => {
            message("rejection.unreadable_image").text("reason", why)
        }
        Rejection::UnusableFileName(why) => {
            message("rejection.unusable_file_name").text("reason", why)
        }
        Rejection::UnusablePhoto(why) => message("rejection.unusable_photo").text("reason", why),
        Rejection::NoPhotoArrived => message("rejection.no_photo_arrived"),
        Rejection::PhotoGone => message("rejection.photo_gone"),
    })
}

pub(crate) fn photo(error: &PhotoError) -> Message {
    match error {
        PhotoError::Empty => Message::new("photo.empty", error),
        PhotoError::TooLarge { size, max } => Message::new("photo.too_large", error)
            .number("size", *size)
            .number("max", *max),
        PhotoError::NotAnImage => Message::new("photo.not_an_image", error),
        PhotoError::WrongFormat { expected, found } => Message::new("photo.wrong_format", error)
            .text("expected", expected)
            .text("found", found),
        PhotoError::Truncated { format } => {
            Message::new("photo.truncated", error).text("format", format)
        }
    }
}

pub(crate) fn search(error: &SearchError) -> Message {
    match error {
        SearchError::NotAPhoto(inner) => {
            Message::new("search.not_a_photo", error).message("reason", photo(inner))
        }
        // The decoder's own words, in English.
        SearchError::Unreadable(detail) => {
            Message::new("search.unreadable", error).text("reason", detail)
        }
        SearchError::NoFace => Message::new("search.no_face", error),
        SearchError::TooManyPixels { width, height } => {
            Message::new("search.too_many_pixels", error)
                .number("width", *width)
                .number("height", *height)
                .number("max", MAX_SEARCH_PIXELS / 1_000_000)
        }
        SearchError::BadThreshold => Message::new("search.bad_threshold", error),
        SearchError::ThresholdBelowFloor => {
            Message::new("search.threshold_below_floor", error).text("floor", VIEWER_MIN_THRESHOLD)
        }
        SearchError::TooMany {
            retry_after_seconds,
        } => Message::new("search.too_many", error)
            .number("max", SEARCHES_PER_MINUTE)
            .number("seconds", *retry_after_seconds),
        SearchError::BadMaxMatches => {
            Message::new("search.bad_max_matches", error).number("max", MAX_MATCHES)
        }
        SearchError::Port(inner) => port(inner),
    }
}

pub(crate) fn erasure(error: &ErasureError) -> Message {
    match error {
        ErasureError::NoSuchPerson(id) => no_such_person(error, id),
        ErasureError::Unfinished { id, .. } => {
            Message::new("erasure.unfinished", error).text("id", id)
        }
        ErasureError::Port(inner) => port(inner),
    }
}

pub(crate) fn duplicate(error: &DuplicateError) -> Message {
    match error {
        DuplicateError::NoSuchPerson(id) => no_such_person(error, id),
        DuplicateError::NotFlagged(id) => {
            Message::new("duplicate.not_flagged", error).text("id", id)
        }
        DuplicateError::Port(inner) => port(inner),
    }
}

pub(crate) fn audit(error: &AuditError) -> Message {
    match error {
        AuditError::BadAction(action) => Message::new("audit.bad_action", error)
            .text("action", action)
            .text(
                "actions",
                registry::audit::AuditAction::ALL
                    .map(registry::audit::AuditAction::as_str)
                    .join(", "),
            ),
        AuditError::BadPerson => Message::new("audit.bad_person", error),
        AuditError::BadCaller => {
            Message::new("audit.bad_caller", error).number("max", MAX_SUBJECT_CHARS)
        }
        AuditError::BadLimit => {
            Message::new("query.bad_limit", error).number("max", registry::audit::MAX_PAGE_SIZE)
        }
        AuditError::BadCursor => Message::new("audit.bad_cursor", error),
        AuditError::Port(inner) => port(inner),
    }
}

pub(crate) fn listing(error: &ListError) -> Message {
    match error {
        ListError::BadLimit => {
            Message::new("query.bad_limit", error).number("max", registry::listing::MAX_PAGE_SIZE)
        }
        ListError::BadCursor => Message::new("listing.bad_cursor", error),
        ListError::BadStatus(unknown) => {
            Message::new("listing.bad_status", error).text("status", &unknown.0)
        }
        ListError::BadQuery => {
            Message::new("listing.bad_query", error).number("max", MAX_QUERY_CHARS)
        }
        ListError::BadDuplicates => Message::new("listing.bad_duplicates", error),
        ListError::BadSha256 => Message::new("listing.bad_sha256", error),
        ListError::Port(inner) => port(inner),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use registry::person::{PersonId, UnknownStatus};

    use super::rejection as rejection_message;
    use super::*;
    use crate::i18n::{Lang, placeholders};

    /// Every key an error is told with has its French, and every French
    /// message is some error's.
    #[test]
    fn every_message_has_its_french() {
        // Keys are the literals shaped `area.name` in the code that builds messages.
        let is_key = |text: &&str| {
            text.split_once('.').is_some_and(|(area, name)| {
                !area.is_empty()
                    && !name.is_empty()
                    && text.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'
                    })
                    && !name.contains('.')
            })
        };
        let code = |source: &'static str| source.split("#[cfg(test)]").next().unwrap_or(source);
        let used: BTreeSet<&str> = [
            code(include_str!("mod.rs")),
            code(include_str!("messages.rs")),
        ]
        .into_iter()
        .flat_map(|source| source.split('"'))
        .filter(is_key)
        .collect();
        let french: BTreeSet<&str> = Lang::Fr
            .catalogue()
            .api
            .keys()
            .map(String::as_str)
            .filter(|key| !key.starts_with("term."))
            .collect();
        assert_eq!(used, french);
    }

    /// Every reason the registry records is told in French, wholly.
    #[test]
    fn each_rejection_is_told_in_french() {
        use registry::rejection::QUALITY_PROBLEMS;
        let all = [
            Rejection::NoFace,
            Rejection::SeveralFaces,
            Rejection::PoorQuality(vec![]),
            Rejection::PoorQuality(QUALITY_PROBLEMS.iter().map(|(code, _)| *code).collect()),
            Rejection::UnreadableImage("x".into()),
            Rejection::UnusableFileName("x".into()),
            Rejection::UnusablePhoto("x".into()),
            Rejection::NoPhotoArrived,
            Rejection::PhotoGone,
        ];
        for rejection in all {
            let recorded = rejection.to_string();
            let message = rejection_message(&recorded).unwrap_or_else(|| panic!("{recorded}"));
            assert_eq!(message.render(Lang::En), recorded);
            let french = message.render(Lang::Fr);
            assert!(placeholders(&french).is_empty(), "{french}");
            assert_ne!(french, recorded);
            assert!(
                !french.contains("EXTREME_POSE") && !french.contains("the "),
                "{french}"
            );
        }
        assert_eq!(
            rejection_message("The face is not clear enough to index: the photo is too dark, the face is too small.")
                .unwrap()
                .render(Lang::Fr),
            "Le visage n’est pas assez net pour être indexé\u{a0}: la photo est trop sombre, le visage est trop petit."
        );
        assert!(rejection_message("Something else.").is_none());
    }

    /// Each message's French takes exactly the values the message gives.
    #[test]
    fn each_french_message_takes_the_values_given() {
        let id = PersonId(7);
        let port = PortError::Transient("t".into());
        let mut messages = vec![
            name(&NameError::TooLong { field: "lastname" }),
            name(&NameError::NoSlug { field: "firstname" }),
            upload(&UploadError::UnsupportedContentType("image/gif".into())),
            upload(&UploadError::TooLarge { size: 2, max: 1 }),
            upload(&UploadError::FormatChanged { id, kept: "JPEG" }),
            upload(&UploadError::NotReplaceable(id)),
            upload(&UploadError::BadIdempotencyKey),
            upload(&UploadError::AlreadyCarriedOut(id)),
            upload(&UploadError::PhotoOnItsWay(id)),
            upload(&UploadError::NoSuchPerson(id)),
            search(&SearchError::NotAPhoto(PhotoError::WrongFormat {
                expected: "PNG",
                found: "JPEG",
            })),
            search(&SearchError::NotAPhoto(PhotoError::TooLarge {
                size: 2,
                max: 1,
            })),
            search(&SearchError::NotAPhoto(PhotoError::Truncated {
                format: "PNG",
            })),
            search(&SearchError::Unreadable("x".into())),
            search(&SearchError::TooManyPixels {
                width: 1,
                height: 2,
            }),
            search(&SearchError::ThresholdBelowFloor),
            search(&SearchError::TooMany {
                retry_after_seconds: 3,
            }),
            search(&SearchError::BadMaxMatches),
            erasure(&ErasureError::Unfinished {
                id,
                faces_left: 1,
                versions_left: 1,
            }),
            duplicate(&DuplicateError::NotFlagged(id)),
            audit(&AuditError::BadAction("x".into())),
            audit(&AuditError::BadCaller),
            audit(&AuditError::BadLimit),
            listing(&ListError::BadStatus(UnknownStatus("x".into()))),
            listing(&ListError::BadQuery),
            listing(&ListError::BadLimit),
        ];
        messages.extend([
            upload(&UploadError::Port(port.clone())),
            crate::ApiError::no_route("/x").message(),
            crate::ApiError::not_a_person_id("x").message(),
            crate::ApiError::repeated_parameter("q").message(),
            crate::ApiError::MethodNotAllowed("PUT".into()).message(),
            crate::ApiError::PayloadTooLarge(10).message(),
        ]);
        for message in messages {
            let template = &Lang::Fr.catalogue().api[message.key()];
            let mut expected: Vec<&str> = placeholders(template);
            let mut given: Vec<&str> = message.arg_names().collect();
            expected.sort_unstable();
            expected.dedup();
            given.sort_unstable();
            assert_eq!(expected, given, "{}", message.key());
            let french = message.render(Lang::Fr);
            assert!(placeholders(&french).is_empty(), "{french}");
            assert_ne!(french, message.render(Lang::En), "{}", message.key());
        }
    }
}
