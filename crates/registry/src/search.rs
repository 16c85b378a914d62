//! Identify: who are the people in a photo? Every face in it is answered,
//! not only the largest (all that `SearchFacesByImage` looks at): each face
//! found is cut out of the photo, with a margin, and searched on its own.
//! Nothing is stored: the photo is neither kept nor indexed.
//!
//! A search is bounded, because one request must not take the function
//! down for everyone: the pixels a photo declares are counted before it is
//! decoded, the faces searched per photo are capped, a viewer cannot lower
//! the similarity floor, and each caller has a rate per minute.

use std::collections::HashMap;
use std::io::Cursor;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use crate::key::PhotoFormat;
use crate::person::{FaceBox, Person};
use crate::photo::{PhotoError, check_photo, sniff};
use crate::ports::{CallCounter, FaceSearch, PersonStore, PortError};

/// Rekognition's default `FaceMatchThreshold`.
pub const DEFAULT_THRESHOLD: f32 = 80.0;
/// The lowest threshold a viewer may ask for. Below it, the "matches" are
/// the registry's nearest members to any face, not likely the same person;
/// admins may go lower (the threshold is in the audit trail).
pub const VIEWER_MIN_THRESHOLD: f32 = 70.0;
/// Faces searched in one photo, the largest first (one `SearchFacesByImage`
/// each); the others are answered as not searched.
pub const MAX_FACES_SEARCHED: usize = 10;
/// Searches one caller may start in a minute; more are refused until the
/// next minute.
pub const SEARCHES_PER_MINUTE: u32 = 20;
/// The most pixels a searched photo may declare in its header, checked
/// before it is decoded: a PNG of zeros of a few hundred KB can declare 81
/// megapixels. 16 MP is a 4,900 × 3,300 photo, more than a phone's 12 MP.
pub const MAX_SEARCH_PIXELS: u64 = 16_000_000;
/// The most memory the decoder may take for the decoded pixels: 16 MP at 4
/// bytes a pixel. The faces function has 256 MB (`template.yaml`), which
/// must also hold the runtime, the event (the photo base64-encoded, then
/// decoded) and the cut-outs; a test checks this stays a quarter of it.
pub const MAX_DECODED_BYTES: u64 = 64 * 1024 * 1024;
// A photo within the pixel bound decodes within the decoder's, at 4 bytes a
// pixel (RGBA).
const _: () = assert!(MAX_SEARCH_PIXELS * 4 <= MAX_DECODED_BYTES);
/// Matches answered per face, unless asked otherwise.
pub const DEFAULT_MATCHES: u32 = 5;
pub const MAX_MATCHES: u32 = 20;
/// The largest photo a search takes. Rekognition takes 5 MB of image bytes,
/// but the photo reaches the function base64-encoded in its event (a binary
/// body), and Lambda takes 6 MB of synchronous payload: what is left of it
/// once 64 KiB are kept for the rest of the event, as base64 carries it
/// (3 bytes in 4 characters), about 4.45 MiB.
pub const MAX_SEARCH_PHOTO_BYTES: u64 = (LAMBDA_SYNC_PAYLOAD_BYTES - EVENT_ENVELOPE_BYTES) / 4 * 3;
/// "For synchronous invocations, the maximum payload size is 6 MB" (Lambda quotas).
const LAMBDA_SYNC_PAYLOAD_BYTES: u64 = 6 * 1024 * 1024;
/// The headers, the request context and the JSON around the body.
const EVENT_ENVELOPE_BYTES: u64 = 64 * 1024;
/// What a face's cut-out keeps around the face's box, as a share of the
/// box's width and height on each side: enough for the index to find the
/// face again, little enough that a neighbour's face stays smaller.
const MARGIN: f32 = 0.3;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SearchError {
    #[error("the photo cannot be searched: {0}")]
    NotAPhoto(#[from] PhotoError),
    #[error("the photo cannot be read as an image: {0}")]
    Unreadable(String),
    #[error("no face was found in the photo")]
    NoFace,
    #[error(
        "the photo is {width} × {height} pixels; a search takes at most {} megapixels",
        MAX_SEARCH_PIXELS / 1_000_000
    )]
    TooManyPixels { width: u32, height: u32 },
    #[error("threshold must be a number from 0 to 100")]
    BadThreshold,
    #[error("a threshold below {VIEWER_MIN_THRESHOLD} is for admins")]
    ThresholdBelowFloor,
    #[error(
        "at most {SEARCHES_PER_MINUTE} searches a minute; try again in {retry_after_seconds} s"
    )]
    TooMany { retry_after_seconds: u32 },
    #[error("maxMatches must be a whole number from 1 to {MAX_MATCHES}")]
    BadMaxMatches,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// How to search, as asked (query string values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchParams {
    pub threshold: Option<String>,
    pub max_matches: Option<String>,
}

/// How to search, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchSettings {
    /// Lowest similarity (0–100) that counts as a match.
    pub threshold: f32,
    pub max_matches: u32,
}

/// The settings asked for; `may_lower_floor` for callers allowed a
/// threshold below [`VIEWER_MIN_THRESHOLD`].
pub fn parse_params(
    params: &SearchParams,
    may_lower_floor: bool,
) -> Result<SearchSettings, SearchError> {
    fn value(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
    let threshold = match value(&params.threshold) {
        None => DEFAULT_THRESHOLD,
        Some(t) => t
            .parse::<f32>()
            .ok()
            .filter(|t| (0.0..=100.0).contains(t))
            .ok_or(SearchError::BadThreshold)?,
    };
    if threshold < VIEWER_MIN_THRESHOLD && !may_lower_floor {
        return Err(SearchError::ThresholdBelowFloor);
    }
    let max_matches =
        crate::paging::parse_limit(value(&params.max_matches), DEFAULT_MATCHES, MAX_MATCHES)
            .ok_or(SearchError::BadMaxMatches)?;
    Ok(SearchSettings {
        threshold,
        max_matches,
    })
}

/// Counts a search of `caller` (a subject) against its rate, before anything
/// else is done: a refused search costs a row's update.
pub async fn admit<C: CallCounter + ?Sized>(
    counter: &C,
    caller: &str,
    now: DateTime<Utc>,
) -> Result<(), SearchError> {
    let minute = TimeDelta::minutes(1);
    let window = now.duration_trunc(minute).unwrap_or(now);
    if counter.count_call(caller, window).await? <= SEARCHES_PER_MINUTE {
        return Ok(());
    }
    let left = (window + minute - now).num_seconds().clamp(1, 60);
    Err(SearchError::TooMany {
        retry_after_seconds: u32::try_from(left).unwrap_or(60),
    })
}

/// A person whose face matches, and how closely (0–100).
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub person: Person,
    pub similarity: f32,
}

/// One face of the photo: where it is, and who it may be, most similar
/// first. No match is an explicit "unknown".
#[derive(Debug, Clone, PartialEq)]
pub struct FoundFace {
    pub face_box: FaceBox,
    /// 0–100, when the index measured it.
    pub sharpness: Option<f32>,
    pub matches: Vec<Match>,
}

impl FoundFace {
    pub fn is_unknown(&self) -> bool {
        self.matches.is_empty()
    }
}

/// What a search found: the faces searched, and those left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Identified {
    /// The largest faces, at most [`MAX_FACES_SEARCHED`].
    pub faces: Vec<FoundFace>,
    /// The boxes of the other faces found, not searched.
    pub not_searched: Vec<FaceBox>,
}

/// Identifies the faces of `photo` (the bytes of a JPEG or PNG), the
/// largest [`MAX_FACES_SEARCHED`] of them.
pub async fn identify<P, F>(
    people: &P,
    faces: &F,
    photo: &[u8],
    settings: SearchSettings,
) -> Result<Identified, SearchError>
where
    P: PersonStore + ?Sized,
    F: FaceSearch + ?Sized,
{
    let size = photo.len() as u64;
    if size > MAX_SEARCH_PHOTO_BYTES {
        return Err(PhotoError::TooLarge {
            size,
            max: MAX_SEARCH_PHOTO_BYTES,
        }
        .into());
    }
    let format = sniff(photo).ok_or(PhotoError::NotAnImage)?;
    check_photo(format, size, photo)?;
    let image = decode(photo, format)?;

    let mut detected = faces.detect_faces(photo).await?;
    if detected.is_empty() {
        return Err(SearchError::NoFace);
    }
    let area = |face: &crate::ports::DetectedFace| face.face_box.width * face.face_box.height;
    detected.sort_by(|a, b| area(b).total_cmp(&area(a)));
    let not_searched = detected
        .split_off(detected.len().min(MAX_FACES_SEARCHED))
        .into_iter()
        .map(|face| face.face_box)
        .collect();
    let mut found = Vec::with_capacity(detected.len());
    for face in detected {
        let cut = cut_out(&image, &face.face_box)?;
        // A face too small to search once cut out is answered as unknown.
        let matches = faces
            .search_by_image(&cut, settings.threshold, settings.max_matches)
            .await?
            .unwrap_or_default();
        found.push((face, matches));
    }

    // Who the matched faces are, in one query.
    let face_ids: Vec<String> = found
        .iter()
        .flat_map(|(_, matches)| matches.iter().map(|m| m.face_id.clone()))
        .collect();
    let by_face: HashMap<String, Person> = people
        .find_by_identities(&face_ids)
        .await?
        .into_iter()
        .filter_map(|p| p.identity.clone().map(|id| (id, p)))
        .collect();
    let faces = found
        .into_iter()
        .map(|(face, matches)| {
            let mut matches: Vec<Match> = matches
                .into_iter()
                // A face no person records now (replaced, being erased) is nobody.
                .filter_map(|m| {
                    by_face.get(&m.face_id).map(|person| Match {
                        person: person.clone(),
                        similarity: m.similarity,
                    })
                })
                .collect();
            matches.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
            FoundFace {
                face_box: face.face_box,
                sharpness: face.sharpness,
                matches,
            }
        })
        .collect();
    Ok(Identified {
        faces,
        not_searched,
    })
}

/// Decodes the photo within bounds: its declared size is read from its
/// header and checked before any pixel is, and the decoder's own
/// allocations are limited too.
fn decode(photo: &[u8], format: PhotoFormat) -> Result<image::DynamicImage, SearchError> {
    let format = match format {
        PhotoFormat::Jpeg => image::ImageFormat::Jpeg,
        PhotoFormat::Png => image::ImageFormat::Png,
    };
    let reader = || image::io::Reader::with_format(Cursor::new(photo), format);
    let unreadable = |e: image::ImageError| SearchError::Unreadable(e.to_string());
    let (width, height) = reader().into_dimensions().map_err(unreadable)?;
    if u64::from(width) * u64::from(height) > MAX_SEARCH_PIXELS {
        return Err(SearchError::TooManyPixels { width, height });
    }
    let mut limits = image::io::Limits::default();
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    let mut reader = reader();
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => SearchError::TooManyPixels { width, height },
        other => unreadable(other),
    })
}

/// The face's box with a margin, cut out of the photo as a JPEG.
fn cut_out(image: &image::DynamicImage, face: &FaceBox) -> Result<Vec<u8>, SearchError> {
    let (width, height) = (image.width() as f32, image.height() as f32);
    let left = (face.left - MARGIN * face.width).clamp(0.0, 1.0);
    let top = (face.top - MARGIN * face.height).clamp(0.0, 1.0);
    let right = (face.left + face.width * (1.0 + MARGIN)).clamp(0.0, 1.0);
    let bottom = (face.top + face.height * (1.0 + MARGIN)).clamp(0.0, 1.0);
    // Pixel bounds of ratios within 0–1 of the image's size.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let pixels = |ratio: f32, size: f32| (ratio * size).round() as u32;
    let (x, y) = (pixels(left, width), pixels(top, height));
    let w = pixels(right, width).saturating_sub(x).max(1);
    let h = pixels(bottom, height).saturating_sub(y).max(1);
    let cut = image.crop_imm(x, y, w, h).to_rgb8();
    let mut bytes = Vec::new();
    cut.write_to(
        &mut Cursor::new(&mut bytes),
        image::ImageOutputFormat::Jpeg(90),
    )
    .map_err(|e| SearchError::Unreadable(e.to_string()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_searchable_photo_fits_lambdas_payload_once_base64_encoded() {
        use base64::Engine;
        let photo = vec![0xA5_u8; MAX_SEARCH_PHOTO_BYTES as usize];
        let body = base64::engine::general_purpose::STANDARD.encode(&photo);
        assert!(body.len() as u64 + EVENT_ENVELOPE_BYTES <= LAMBDA_SYNC_PAYLOAD_BYTES);
    }

    #[test]
    fn settings_default_to_rekognitions_and_are_checked() {
        let defaults = parse_params(&SearchParams::default(), false).unwrap();
        assert_eq!((defaults.threshold, defaults.max_matches), (80.0, 5));
        let asked = parse_params(
            &SearchParams {
                threshold: Some("95.5".into()),
                max_matches: Some("1".into()),
            },
            false,
        )
        .unwrap();
        assert_eq!((asked.threshold, asked.max_matches), (95.5, 1));
        for threshold in ["-1", "100.1", "high", "NaN"] {
            let params = SearchParams {
                threshold: Some(threshold.into()),
                ..Default::default()
            };
            assert_eq!(
                parse_params(&params, true),
                Err(SearchError::BadThreshold),
                "{threshold}"
            );
        }
        for count in ["0", "21", "2.5"] {
            let params = SearchParams {
                max_matches: Some(count.into()),
                ..Default::default()
            };
            assert_eq!(
                parse_params(&params, true),
                Err(SearchError::BadMaxMatches),
                "{count}"
            );
        }
    }

    #[test]
    fn a_cut_out_keeps_a_margin_within_the_photo() {
        let image = image::DynamicImage::new_rgb8(200, 100);
        let face = FaceBox {
            left: 0.1,
            top: 0.2,
            width: 0.2,
            height: 0.4,
        };
        let cut = image::load_from_memory(&cut_out(&image, &face).unwrap()).unwrap();
        // 0.1 - 0.06 = 0.04 to 0.1 + 0.26 = 0.36 of 200; 0.08 to 0.72 of 100.
        assert_eq!((cut.width(), cut.height()), (64, 64));
        let corner = FaceBox {
            left: 0.0,
            top: 0.0,
            width: 0.5,
            height: 0.5,
        };
        let cut = image::load_from_memory(&cut_out(&image, &corner).unwrap()).unwrap();
        assert_eq!((cut.width(), cut.height()), (130, 65));
    }
}
