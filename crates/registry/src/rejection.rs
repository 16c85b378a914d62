//! Why a person's photo was rejected. A record keeps the reason as an
//! English sentence (`status_reason`, what API clients read); the sentence
//! reads back into a [`Rejection`], so that the pages can say it in another
//! language, for records written before this type as well.

use std::fmt;

use crate::reconcile::{NO_PHOTO_ARRIVED, PHOTO_GONE};

/// Rekognition's `UnindexedFaces` reasons, and how a person reads them.
pub const QUALITY_PROBLEMS: [(&str, &str); 6] = [
    ("EXTREME_POSE", "the head is turned too far"),
    ("LOW_BRIGHTNESS", "the photo is too dark"),
    ("LOW_SHARPNESS", "the photo is blurred"),
    ("LOW_CONFIDENCE", "the face is not clearly a face"),
    ("SMALL_BOUNDING_BOX", "the face is too small"),
    ("LOW_FACE_QUALITY", "the face quality is too low"),
];

const NO_FACE: &str = "No face was found in the photo.";
const SEVERAL_FACES: &str = "The photo shows several faces; it must show exactly one.";
const NOT_CLEAR: &str = "The face is not clear enough to index";
const UNREADABLE_IMAGE: &str = "The photo could not be read as an image: ";
const UNUSABLE_FILE_NAME: &str = "The file name is not usable: ";
const UNUSABLE_PHOTO: &str = "The photo cannot be used: ";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    NoFace,
    SeveralFaces,
    /// The face is too poor to index, for these of Rekognition's reasons
    /// ([`QUALITY_PROBLEMS`]' codes; none when it gave none known).
    PoorQuality(Vec<&'static str>),
    /// The face index could not decode the photo; its message.
    UnreadableImage(String),
    /// The key does not follow the naming convention; why.
    UnusableFileName(String),
    /// Empty, too large, not the format its name says, truncated; why.
    UnusablePhoto(String),
    /// Reconcile: the upload URL expired with no photo.
    NoPhotoArrived,
    /// Reconcile: the recorded photo is no longer in the bucket.
    PhotoGone,
}

/// The first of [`QUALITY_PROBLEMS`] that `matches` (code, words).
fn quality_problem(matches: impl Fn((&str, &str)) -> bool) -> Option<(&'static str, &'static str)> {
    QUALITY_PROBLEMS
        .iter()
        .copied()
        .find(|&(code, said)| matches((code, said)))
}

impl Rejection {
    /// From Rekognition's reasons; those it does not know are left out.
    pub fn poor_quality(reasons: &[String]) -> Self {
        Rejection::PoorQuality(
            reasons
                .iter()
                .filter_map(|reason| quality_problem(|(code, _)| code == reason))
                .map(|(code, _)| code)
                .collect(),
        )
    }

    /// The rejection a recorded reason states, if it is one of these
    /// sentences (a reason cut to the column's length may not be).
    pub fn read(recorded: &str) -> Option<Self> {
        let detail = |prefix: &str| {
            recorded
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix('.'))
                .map(str::to_owned)
        };
        match recorded {
            NO_FACE => return Some(Rejection::NoFace),
            SEVERAL_FACES => return Some(Rejection::SeveralFaces),
            NO_PHOTO_ARRIVED => return Some(Rejection::NoPhotoArrived),
            PHOTO_GONE => return Some(Rejection::PhotoGone),
            _ => {}
        }
        if let Some(rest) = recorded.strip_prefix(NOT_CLEAR) {
            let words = rest.strip_suffix('.')?;
            if words.is_empty() {
                return Some(Rejection::PoorQuality(Vec::new()));
            }
            let codes = words
                .strip_prefix(": ")?
                .split(", ")
                .map(|word| quality_problem(|(_, said)| said == word).map(|(code, _)| code))
                .collect::<Option<Vec<_>>>()?;
            return Some(Rejection::PoorQuality(codes));
        }
        detail(UNREADABLE_IMAGE)
            .map(Rejection::UnreadableImage)
            .or_else(|| detail(UNUSABLE_FILE_NAME).map(Rejection::UnusableFileName))
            .or_else(|| detail(UNUSABLE_PHOTO).map(Rejection::UnusablePhoto))
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A detail's own final period is not doubled.
        let detail = |prefix: &str, detail: &str| {
            format!("{prefix}{}.", detail.strip_suffix('.').unwrap_or(detail))
        };
        match self {
            Rejection::NoFace => f.write_str(NO_FACE),
            Rejection::SeveralFaces => f.write_str(SEVERAL_FACES),
            Rejection::PoorQuality(codes) if codes.is_empty() => write!(f, "{NOT_CLEAR}."),
            Rejection::PoorQuality(codes) => {
                let words: Vec<&str> = codes
                    .iter()
                    .filter_map(|code| quality_problem(|(known, _)| known == *code))
                    .map(|(_, said)| said)
                    .collect();
                write!(f, "{NOT_CLEAR}: {}.", words.join(", "))
            }
            Rejection::UnreadableImage(message) => f.write_str(&detail(UNREADABLE_IMAGE, message)),
            Rejection::UnusableFileName(why) => f.write_str(&detail(UNUSABLE_FILE_NAME, why)),
            Rejection::UnusablePhoto(why) => f.write_str(&detail(UNUSABLE_PHOTO, why)),
            Rejection::NoPhotoArrived => f.write_str(NO_PHOTO_ARRIVED),
            Rejection::PhotoGone => f.write_str(PHOTO_GONE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_problems_read_well() {
        assert_eq!(
            Rejection::poor_quality(&[
                "LOW_SHARPNESS".into(),
                "NEW_REASON".into(),
                "EXTREME_POSE".into()
            ])
            .to_string(),
            "The face is not clear enough to index: the photo is blurred, the head is turned too far."
        );
        assert_eq!(
            Rejection::poor_quality(&[]).to_string(),
            "The face is not clear enough to index."
        );
    }

    /// Every rejection reads back from the sentence recorded for it.
    #[test]
    fn each_recorded_reason_reads_back() {
        let all = [
            Rejection::NoFace,
            Rejection::SeveralFaces,
            Rejection::PoorQuality(vec![]),
            Rejection::PoorQuality(QUALITY_PROBLEMS.iter().map(|(code, _)| *code).collect()),
            Rejection::UnreadableImage("Request has invalid image format".into()),
            Rejection::UnusableFileName(
                "object key \"x.gif\" does not follow lastname_firstname.jpg or lastname_firstname.png"
                    .into(),
            ),
            Rejection::UnusablePhoto("the file is a PNG image but its name says JPEG".into()),
            Rejection::NoPhotoArrived,
            Rejection::PhotoGone,
        ];
        for rejection in all {
            let recorded = rejection.to_string();
            assert_eq!(Rejection::read(&recorded), Some(rejection), "{recorded}");
        }
        // As the indexer wrote them before this type.
        assert_eq!(
            Rejection::read("The photo cannot be used: the file is empty."),
            Some(Rejection::UnusablePhoto("the file is empty".into()))
        );
        assert_eq!(Rejection::read("Something else."), None);
        assert_eq!(
            Rejection::read("The face is not clear enough to index: the photo is purple."),
            None
        );
        // A reason cut to the column's length is not read as another.
        assert_eq!(Rejection::read("The photo cannot be used: the fil…"), None);
    }
}
