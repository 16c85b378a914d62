//! The face index on an Amazon Rekognition collection.

use async_trait::async_trait;
use aws_sdk_rekognition::Client;
use aws_sdk_rekognition::primitives::Blob;
use aws_sdk_rekognition::types::BoundingBox;
use aws_sdk_rekognition::types::{Image, QualityFilter, S3Object, UnsuccessfulFaceDeletionReason};
use registry::person::FaceBox;
use registry::ports::{
    DetectedFace, FaceIndex, FaceMatch, FacePage, FaceSearch, IndexAnswer, IndexedFace, PortError,
};

use crate::sdk::{error_code, port_error};

/// DeleteFaces and ListFaces take at most this many FaceIds per call.
const FACE_ID_BATCH: usize = 4096;

#[derive(Clone)]
pub struct RekognitionFaceIndex {
    client: Client,
    collection: String,
}

impl RekognitionFaceIndex {
    pub fn new(client: Client, collection: impl Into<String>) -> Self {
        Self {
            client,
            collection: collection.into(),
        }
    }

    /// The index of `collection` with the shared AWS configuration.
    pub fn from_config(aws: &aws_config::SdkConfig, collection: impl Into<String>) -> Self {
        Self::new(Client::new(aws), collection)
    }
}

#[async_trait]
impl FaceIndex for RekognitionFaceIndex {
    fn collection(&self) -> &str {
        &self.collection
    }

    async fn index_photo(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<IndexAnswer, PortError> {
        let object = S3Object::builder()
            .bucket(bucket)
            .name(key)
            .set_version(version_id.map(str::to_owned))
            .build();
        // MaxFaces = 1: a second face comes back unindexed as
        // EXCEEDS_MAX_FACES, which tells "several faces" from "one face".
        let response = self
            .client
            .index_faces()
            .collection_id(&self.collection)
            .image(Image::builder().s3_object(object).build())
            .external_image_id(key)
            .max_faces(1)
            .quality_filter(QualityFilter::Auto)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(error)
                if matches!(
                    error_code(&error),
                    Some(
                        "InvalidImageFormatException"
                            | "ImageTooLargeException"
                            | "InvalidParameterException"
                    )
                ) =>
            {
                let message = error
                    .as_service_error()
                    .and_then(|e| e.meta().message())
                    .unwrap_or("unreadable image");
                return Ok(IndexAnswer::InvalidImage {
                    message: message.to_owned(),
                });
            }
            Err(error) => return Err(port_error("Rekognition", error)),
        };

        let indexed: Vec<IndexedFace> = response
            .face_records()
            .iter()
            .filter_map(|record| record.face())
            .filter_map(|face| {
                Some(IndexedFace {
                    face_id: face.face_id()?.to_owned(),
                    confidence: face.confidence().unwrap_or_default(),
                    face_box: face_box(face.bounding_box()?),
                })
            })
            .collect();
        let unindexed = response
            .unindexed_faces()
            .iter()
            .map(|face| {
                face.reasons()
                    .iter()
                    .map(|r| r.as_str().to_owned())
                    .collect()
            })
            .collect();
        Ok(IndexAnswer::Faces { indexed, unindexed })
    }

    async fn delete_faces(&self, face_ids: &[String]) -> Result<(), PortError> {
        for batch in face_ids.chunks(FACE_ID_BATCH) {
            let response = self
                .client
                .delete_faces()
                .collection_id(&self.collection)
                .set_face_ids(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| port_error("Rekognition", e))?;
            // A face Rekognition could not delete is listed with its
            // reasons: FACE_NOT_FOUND means it is already gone (deleting is
            // idempotent, which replays rely on); any other reason leaves
            // the face there, so the deletion must be tried again.
            let left: Vec<String> = response
                .unsuccessful_face_deletions()
                .iter()
                .filter(|failed| {
                    failed
                        .reasons()
                        .iter()
                        .any(|reason| *reason != UnsuccessfulFaceDeletionReason::FaceNotFound)
                })
                .map(|failed| {
                    let reasons: Vec<&str> = failed.reasons().iter().map(|r| r.as_str()).collect();
                    format!(
                        "{} ({})",
                        failed.face_id().unwrap_or("-"),
                        reasons.join(", ")
                    )
                })
                .collect();
            if !left.is_empty() {
                return Err(PortError::Transient(format!(
                    "Rekognition did not delete faces: {}",
                    left.join("; ")
                )));
            }
        }
        Ok(())
    }

    /// ListFaces filtered by FaceIds (permission `rekognition:ListFaces`):
    /// a face deleted from the collection is not listed.
    async fn faces_present(&self, face_ids: &[String]) -> Result<Vec<String>, PortError> {
        let mut present = Vec::new();
        for batch in face_ids.chunks(FACE_ID_BATCH) {
            let mut next_token = None;
            loop {
                let page = self
                    .client
                    .list_faces()
                    .collection_id(&self.collection)
                    .set_face_ids(Some(batch.to_vec()))
                    .set_next_token(next_token.take())
                    .send()
                    .await
                    .map_err(|e| port_error("Rekognition", e))?;
                present.extend(
                    page.faces()
                        .iter()
                        .filter_map(|face| face.face_id().map(str::to_owned)),
                );
                match page.next_token() {
                    Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                    _ => break,
                }
            }
        }
        Ok(present)
    }

    /// ListFaces (permission `rekognition:ListFaces`), one page of at most
    /// 4,096 faces.
    async fn list_faces(
        &self,
        next_token: Option<&str>,
        limit: u32,
    ) -> Result<FacePage, PortError> {
        let page = self
            .client
            .list_faces()
            .collection_id(&self.collection)
            .set_next_token(next_token.map(str::to_owned))
            .max_results(i32::try_from(limit.min(FACE_ID_BATCH as u32)).unwrap_or(1000))
            .send()
            .await
            .map_err(|e| port_error("Rekognition", e))?;
        Ok(FacePage {
            face_ids: page
                .faces()
                .iter()
                .filter_map(|face| face.face_id().map(str::to_owned))
                .collect(),
            next_token: page
                .next_token()
                .filter(|token| !token.is_empty())
                .map(str::to_owned),
        })
    }

    /// SearchFaces (permission `rekognition:SearchFaces`): the face itself
    /// is not among the matches.
    async fn search_by_face(
        &self,
        face_id: &str,
        threshold: f32,
        max_matches: u32,
    ) -> Result<Vec<FaceMatch>, PortError> {
        let response = self
            .client
            .search_faces()
            .collection_id(&self.collection)
            .face_id(face_id)
            .face_match_threshold(threshold)
            .max_faces(i32::try_from(max_matches).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| port_error("Rekognition", e))?;
        Ok(face_matches(response.face_matches()))
    }
}

fn face_box(bounding: &BoundingBox) -> FaceBox {
    FaceBox {
        left: bounding.left().unwrap_or_default(),
        top: bounding.top().unwrap_or_default(),
        width: bounding.width().unwrap_or_default(),
        height: bounding.height().unwrap_or_default(),
    }
}

#[async_trait]
impl FaceSearch for RekognitionFaceIndex {
    async fn detect_faces(&self, image: &[u8]) -> Result<Vec<DetectedFace>, PortError> {
        let response = self
            .client
            .detect_faces()
            .image(Image::builder().bytes(Blob::new(image)).build())
            .send()
            .await
            .map_err(|e| port_error("Rekognition", e))?;
        Ok(response
            .face_details()
            .iter()
            .filter_map(|face| {
                Some(DetectedFace {
                    face_box: face_box(face.bounding_box()?),
                    confidence: face.confidence().unwrap_or_default(),
                    sharpness: face.quality().and_then(|q| q.sharpness()),
                })
            })
            .collect())
    }

    async fn search_by_image(
        &self,
        image: &[u8],
        threshold: f32,
        max_matches: u32,
    ) -> Result<Option<Vec<FaceMatch>>, PortError> {
        let response = self
            .client
            .search_faces_by_image()
            .collection_id(&self.collection)
            .image(Image::builder().bytes(Blob::new(image)).build())
            .face_match_threshold(threshold)
            .max_faces(i32::try_from(max_matches).unwrap_or(i32::MAX))
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            // Rekognition answers InvalidParameterException "There are no
            // faces in the image. Should be at least 1." when it finds no face
            // to search with; the code alone also covers bad parameters.
            Err(error)
                if error_code(&error) == Some("InvalidParameterException")
                    && error
                        .as_service_error()
                        .and_then(|e| e.meta().message())
                        .is_some_and(|m| m.contains("no faces")) =>
            {
                return Ok(None);
            }
            Err(error) => return Err(port_error("Rekognition", error)),
        };
        Ok(Some(face_matches(response.face_matches())))
    }
}

fn face_matches(matches: &[aws_sdk_rekognition::types::FaceMatch]) -> Vec<FaceMatch> {
    matches
        .iter()
        .filter_map(|m| {
            Some(FaceMatch {
                face_id: m.face()?.face_id()?.to_owned(),
                similarity: m.similarity().unwrap_or_default(),
            })
        })
        .collect()
}
