//! Request and response shapes of the Rekognition JSON API, and the checks
//! Rekognition applies to their fields.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::quality::{Pose, QualityFilter, UnindexedReason};
use crate::store::BoundingBox;

/// `Image`: exactly one of `Bytes` (base64 in JSON) or `S3Object`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Image {
    pub bytes: Option<String>,
    pub s3_object: Option<S3Object>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct S3Object {
    pub bucket: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CollectionRequest {
    pub collection_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListCollectionsRequest {
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexFacesRequest {
    pub collection_id: String,
    pub image: Image,
    pub external_image_id: Option<String>,
    #[serde(default)]
    pub detection_attributes: Vec<String>,
    pub max_faces: Option<i64>,
    pub quality_filter: Option<QualityFilter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFacesRequest {
    pub collection_id: String,
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
    pub user_id: Option<String>,
    pub face_ids: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteFacesRequest {
    pub collection_id: String,
    pub face_ids: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchFacesRequest {
    pub collection_id: String,
    pub face_id: String,
    pub max_faces: Option<i64>,
    pub face_match_threshold: Option<f32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchFacesByImageRequest {
    pub collection_id: String,
    pub image: Image,
    pub max_faces: Option<i64>,
    pub face_match_threshold: Option<f32>,
    pub quality_filter: Option<QualityFilter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectFacesRequest {
    pub image: Image,
    #[serde(default)]
    pub attributes: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateCollectionResponse {
    pub status_code: u16,
    pub collection_arn: String,
    pub face_model_version: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeCollectionResponse {
    pub face_count: u64,
    pub face_model_version: String,
    #[serde(rename = "CollectionARN")]
    pub collection_arn: String,
    /// Epoch seconds, as the AWS JSON protocol sends timestamps.
    pub creation_timestamp: f64,
    pub user_count: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListCollectionsResponse {
    pub collection_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub face_model_versions: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StatusCodeResponse {
    pub status_code: u16,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Face {
    pub face_id: Uuid,
    pub bounding_box: BoundingBox,
    pub image_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_image_id: Option<String>,
    pub confidence: f32,
    pub index_faces_model_version: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Landmark {
    #[serde(rename = "Type")]
    pub kind: &'static str,
    #[serde(rename = "X")]
    pub x: f32,
    #[serde(rename = "Y")]
    pub y: f32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageQuality {
    pub brightness: f32,
    pub sharpness: f32,
}

/// The attributes dlib can measure; age, emotions and the like are omitted.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FaceDetail {
    pub bounding_box: BoundingBox,
    pub landmarks: Vec<Landmark>,
    pub pose: Pose,
    pub quality: ImageQuality,
    pub confidence: f32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FaceRecordResponse {
    pub face: Face,
    pub face_detail: FaceDetail,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnindexedFace {
    pub reasons: Vec<UnindexedReason>,
    pub face_detail: FaceDetail,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexFacesResponse {
    pub face_records: Vec<FaceRecordResponse>,
    pub face_model_version: String,
    pub unindexed_faces: Vec<UnindexedFace>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFacesResponse {
    pub faces: Vec<Face>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub face_model_version: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnsuccessfulFaceDeletion {
    pub face_id: String,
    pub reasons: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteFacesResponse {
    pub deleted_faces: Vec<Uuid>,
    pub unsuccessful_face_deletions: Vec<UnsuccessfulFaceDeletion>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FaceMatch {
    pub similarity: f32,
    pub face: Face,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchFacesResponse {
    pub searched_face_id: Uuid,
    pub face_matches: Vec<FaceMatch>,
    pub face_model_version: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchFacesByImageResponse {
    pub searched_face_bounding_box: BoundingBox,
    pub searched_face_confidence: f32,
    pub face_matches: Vec<FaceMatch>,
    pub face_model_version: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectFacesResponse {
    pub face_details: Vec<FaceDetail>,
}

fn is_id_char(c: char, extra: &[char]) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') || extra.contains(&c)
}

/// `CollectionId`: 1–255 of `[a-zA-Z0-9_.\-]`.
pub fn validate_collection_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 255 || !id.chars().all(|c| is_id_char(c, &[])) {
        return Err(ApiError::InvalidParameter(format!(
            "CollectionId {id:?} must be 1 to 255 characters of a-z, A-Z, 0-9, '_', '.' or '-'"
        )));
    }
    Ok(())
}

/// `ExternalImageId`: 1–255 of `[a-zA-Z0-9_.\-:]`.
pub fn validate_external_image_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 255 || !id.chars().all(|c| is_id_char(c, &[':'])) {
        return Err(ApiError::InvalidParameter(format!(
            "ExternalImageId {id:?} must be 1 to 255 characters of a-z, A-Z, 0-9, '_', '.', '-' or ':'"
        )));
    }
    Ok(())
}

/// A `FaceId`: a lower-case hyphenated UUID.
pub fn parse_face_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id)
        .ok()
        .filter(|uuid| uuid.hyphenated().to_string() == id)
        .ok_or_else(|| {
            ApiError::InvalidParameter(format!(
                "FaceId {id:?} is not a valid face id (a lower-case UUID)"
            ))
        })
}

/// An optional integer in `[min, max]`, or `default`.
pub fn bounded(
    name: &str,
    value: Option<i64>,
    min: i64,
    max: i64,
    default: i64,
) -> Result<usize, ApiError> {
    let value = value.unwrap_or(default);
    if !(min..=max).contains(&value) {
        return Err(ApiError::InvalidParameter(format!(
            "{name} must be between {min} and {max}, got {value}"
        )));
    }
    usize::try_from(value)
        .map_err(|_| ApiError::InvalidParameter(format!("{name} must not be negative")))
}

/// `FaceMatchThreshold` in [0, 100], default 80.
pub fn match_threshold(value: Option<f32>) -> Result<f32, ApiError> {
    let value = value.unwrap_or(crate::similarity::DEFAULT_MATCH_THRESHOLD);
    if !(0.0..=100.0).contains(&value) {
        return Err(ApiError::InvalidParameter(format!(
            "FaceMatchThreshold must be between 0 and 100, got {value}"
        )));
    }
    Ok(value)
}

/// `DetectionAttributes` / `Attributes`: known names only.
pub fn validate_attributes(name: &str, values: &[String]) -> Result<(), ApiError> {
    const KNOWN: &[&str] = &[
        "DEFAULT",
        "ALL",
        "AGE_RANGE",
        "BEARD",
        "EMOTIONS",
        "EYE_DIRECTION",
        "EYEGLASSES",
        "EYES_OPEN",
        "GENDER",
        "MOUTH_OPEN",
        "MUSTACHE",
        "FACE_OCCLUDED",
        "SMILE",
        "SUNGLASSES",
    ];
    match values.iter().find(|v| !KNOWN.contains(&v.as_str())) {
        Some(unknown) => Err(ApiError::InvalidParameter(format!(
            "{name} contains {unknown:?}; valid values are {}",
            KNOWN.join(", ")
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_rekognition_patterns() {
        assert!(validate_collection_id("people_2024.v-1").is_ok());
        assert!(validate_collection_id("").is_err());
        assert!(validate_collection_id("a:b").is_err());
        assert!(validate_collection_id(&"a".repeat(256)).is_err());
        assert!(validate_external_image_id("obama_barack.jpg").is_ok());
        assert!(validate_external_image_id("s3:bucket:key-1").is_ok());
        assert!(validate_external_image_id("has space").is_err());
        assert!(validate_external_image_id("obama/barack.jpg").is_err());
        assert!(validate_external_image_id("").is_err());
    }

    #[test]
    fn face_ids_must_be_canonical_uuids() {
        let id = Uuid::new_v4();
        assert_eq!(parse_face_id(&id.to_string()).unwrap(), id);
        assert!(parse_face_id(&id.to_string().to_uppercase()).is_err());
        assert!(parse_face_id(&id.simple().to_string()).is_err());
        assert!(parse_face_id("face-1").is_err());
    }

    #[test]
    fn numeric_limits_are_checked() {
        assert_eq!(bounded("MaxFaces", None, 1, 4096, 80).unwrap(), 80);
        assert_eq!(bounded("MaxFaces", Some(1), 1, 4096, 80).unwrap(), 1);
        assert!(bounded("MaxFaces", Some(0), 1, 4096, 80).is_err());
        assert!(bounded("MaxFaces", Some(4097), 1, 4096, 80).is_err());
        assert_eq!(match_threshold(None).unwrap(), 80.0);
        assert!(match_threshold(Some(100.5)).is_err());
        assert!(match_threshold(Some(-1.0)).is_err());
    }

    #[test]
    fn attributes_are_checked() {
        assert!(validate_attributes("Attributes", &["ALL".to_owned()]).is_ok());
        assert!(validate_attributes("Attributes", &["SMELL".to_owned()]).is_err());
    }
}
