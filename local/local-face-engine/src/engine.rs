//! The operations, independent of HTTP.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use local_iam::Identity;
use uuid::Uuid;

use crate::api::{self, *};
use crate::config::{DetectorKind, EngineConfig};
use crate::error::ApiError;
use crate::image_input;
use crate::pagination;
use crate::quality::{self, FivePoints, IndexDecision, PixelBox, PixelPoint, QualityFilter};
use crate::store::{
    self, BoundingBox, CollectionMeta, CollectionStore, FaceRecord, NewFace, StoreError,
};
use crate::vision::{FaceObservation, ImageAnalysis, ModelPool, Scan, VisionError};

/// The model version reported in `FaceModelVersion` and `IndexFacesModelVersion`.
pub const FACE_MODEL_VERSION: &str = "dlib-resnet-v1";

const DEFAULT_PAGE_SIZE: i64 = 1000;
/// "DetectFaces detects the 100 largest faces in the image" (its API reference).
const DETECT_FACES_MAX: usize = 100;
const MAX_PAGE_SIZE: i64 = 4096;

/// Why [`FaceEngine::open`] failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("loading face models: {0}")]
    Models(#[from] VisionError),
    #[error("opening collections: {0}")]
    Store(#[from] StoreError),
    #[error("a startup task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The face engine: collections plus models. Cheap to clone.
#[derive(Clone)]
pub struct FaceEngine {
    inner: Arc<Inner>,
}

struct Inner {
    config: EngineConfig,
    store: CollectionStore,
    models: ModelPool,
    /// The S3 endpoint images are read from; each read is signed as the
    /// caller, as Rekognition reads with the caller's permissions.
    s3: aws_sdk_s3::config::Builder,
}

impl FaceEngine {
    /// Loads the models and every collection under the data dir. `s3` says
    /// where images are read from (endpoint, region, addressing), not as whom.
    pub async fn open(
        config: EngineConfig,
        s3: aws_sdk_s3::config::Builder,
    ) -> Result<Self, OpenError> {
        let models_dir = config.models_dir.clone();
        let with_cnn = config.detector == DetectorKind::Cnn;
        let workers = config.workers;
        let data_dir = config.data_dir.clone();
        let models =
            tokio::task::spawn_blocking(move || ModelPool::load(&models_dir, with_cnn, workers));
        let store = tokio::task::spawn_blocking(move || CollectionStore::open(&data_dir));
        let (models, store) = tokio::join!(models, store);
        let (models, store) = (models??, store??);
        tracing::info!(
            data_dir = %config.data_dir.display(),
            models_dir = %config.models_dir.display(),
            detector = %config.detector,
            workers = config.workers.max(1),
            "face engine ready"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                store,
                models,
                s3,
            }),
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The ARN of a collection; `*` stands for every collection.
    pub fn arn(&self, collection_id: &str) -> String {
        format!(
            "arn:aws:rekognition:{}:{}:collection/{collection_id}",
            self.inner.config.region, self.inner.config.account_id
        )
    }

    /// An S3 client that signs as `caller`.
    fn s3_as(&self, caller: &Identity) -> aws_sdk_s3::Client {
        let credentials = aws_credential_types::Credentials::new(
            &caller.access_key_id,
            caller.secret_access_key(),
            None,
            None,
            "face-engine-caller",
        );
        aws_sdk_s3::Client::from_conf(
            self.inner
                .s3
                .clone()
                .credentials_provider(credentials)
                .build(),
        )
    }

    /// Runs blocking store work off the async runtime.
    async fn blocking<R, F>(&self, work: F) -> Result<R, ApiError>
    where
        F: FnOnce(&CollectionStore) -> Result<R, ApiError> + Send + 'static,
        R: Send + 'static,
    {
        let engine = self.clone();
        tokio::task::spawn_blocking(move || work(&engine.inner.store))
            .await
            .map_err(|e| ApiError::Internal(format!("store task failed: {e}")))?
    }

    pub async fn create_collection(
        &self,
        request: CollectionRequest,
    ) -> Result<CreateCollectionResponse, ApiError> {
        validate_collection_id(&request.collection_id)?;
        let created_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_millis() as f64 / 1000.0);
        let meta = CollectionMeta {
            collection_id: request.collection_id.clone(),
            created_at,
            face_model_version: FACE_MODEL_VERSION.to_owned(),
        };
        self.blocking(move |store| Ok(store.create(meta)?)).await?;
        tracing::info!(collection_id = %request.collection_id, "collection created");
        Ok(CreateCollectionResponse {
            status_code: 200,
            collection_arn: self.arn(&request.collection_id),
            face_model_version: FACE_MODEL_VERSION.to_owned(),
        })
    }

    pub async fn describe_collection(
        &self,
        request: CollectionRequest,
    ) -> Result<DescribeCollectionResponse, ApiError> {
        validate_collection_id(&request.collection_id)?;
        let collection = self.inner.store.get(&request.collection_id)?;
        Ok(DescribeCollectionResponse {
            face_count: collection.face_count() as u64,
            face_model_version: collection.meta().face_model_version.clone(),
            collection_arn: self.arn(&request.collection_id),
            creation_timestamp: collection.meta().created_at,
            user_count: 0,
        })
    }

    pub async fn list_collections(
        &self,
        request: ListCollectionsRequest,
    ) -> Result<ListCollectionsResponse, ApiError> {
        let limit = page_size(request.max_results)?;
        let after = request
            .next_token
            .as_deref()
            .map(pagination::parse_collection_token)
            .transpose()
            .map_err(|_| ApiError::InvalidPaginationToken("Invalid Token".to_owned()))?;
        let (page, more) = self.inner.store.list(after.as_deref(), limit);
        let next_token = more
            .then(|| page.last().map(|(id, _)| pagination::collection_token(id)))
            .flatten();
        let (collection_ids, face_model_versions) = page.into_iter().unzip();
        Ok(ListCollectionsResponse {
            collection_ids,
            next_token,
            face_model_versions,
        })
    }

    pub async fn delete_collection(
        &self,
        request: CollectionRequest,
    ) -> Result<StatusCodeResponse, ApiError> {
        validate_collection_id(&request.collection_id)?;
        let collection_id = request.collection_id.clone();
        self.blocking(move |store| Ok(store.delete(&collection_id)?))
            .await?;
        tracing::info!(collection_id = %request.collection_id, "collection deleted");
        Ok(StatusCodeResponse { status_code: 200 })
    }

    /// Fetches and decodes an image, then analyses it with a model set.
    async fn analyze(
        &self,
        caller: &Identity,
        image: Image,
        select: impl FnOnce(&[FaceObservation]) -> Vec<usize> + Send + 'static,
    ) -> Result<ImageAnalysis, ApiError> {
        let bytes = image_input::load_bytes(image, &self.s3_as(caller)).await?;
        let decoded = tokio::task::spawn_blocking(move || image_input::decode(&bytes))
            .await
            .map_err(|e| ApiError::Internal(format!("decode task failed: {e}")))??;
        let scan = match self.inner.config.detector {
            DetectorKind::Hog => Scan::Hog,
            DetectorKind::Cnn => Scan::Cnn {
                max_side: self.inner.config.cnn_max_side,
            },
        };
        let analysis = self
            .inner
            .models
            .run(move |models| models.analyze(&decoded, scan, select))
            .await?;
        tracing::debug!(
            width = analysis.width,
            height = analysis.height,
            faces = analysis.faces.len(),
            "image analysed"
        );
        Ok(analysis)
    }

    pub async fn index_faces(
        &self,
        caller: &Identity,
        request: IndexFacesRequest,
    ) -> Result<IndexFacesResponse, ApiError> {
        validate_collection_id(&request.collection_id)?;
        if let Some(id) = &request.external_image_id {
            validate_external_image_id(id)?;
        }
        validate_attributes("DetectionAttributes", &request.detection_attributes)?;
        let max_faces = api::bounded(
            "MaxFaces",
            request.max_faces,
            1,
            i64::from(u32::MAX),
            i64::from(u32::MAX),
        )?;
        let filter = request.quality_filter.unwrap_or(QualityFilter::Auto);
        // Fail before the expensive part if the collection does not exist.
        self.inner.store.get(&request.collection_id)?;

        let analysis = self
            .analyze(caller, request.image, move |faces| {
                let measured: Vec<_> = faces
                    .iter()
                    .map(|f| (f.quality, f.bounding_box.area()))
                    .collect();
                quality::decide_indexing(&measured, filter, max_faces)
                    .iter()
                    .enumerate()
                    .filter(|(_, decision)| **decision == IndexDecision::Index)
                    .map(|(i, _)| i)
                    .collect()
            })
            .await?;

        let measured: Vec<_> = analysis
            .faces
            .iter()
            .map(|f| (f.quality, f.bounding_box.area()))
            .collect();
        let decisions = quality::decide_indexing(&measured, filter, max_faces);
        let image_id = Uuid::new_v4();
        let mut new_faces = Vec::new();
        let mut face_records = Vec::new();
        let mut unindexed_faces = Vec::new();
        for (index, (face, decision)) in analysis.faces.iter().zip(decisions).enumerate() {
            let detail = face_detail(face, analysis.width, analysis.height);
            match decision {
                IndexDecision::Index => {
                    let Some((_, embedding)) =
                        analysis.embeddings.iter().find(|(i, _)| *i == index)
                    else {
                        return Err(ApiError::Internal(format!(
                            "face {index} was selected but not embedded"
                        )));
                    };
                    let record = FaceRecord {
                        face_id: Uuid::new_v4(),
                        image_id,
                        external_image_id: request.external_image_id.clone(),
                        bounding_box: detail.bounding_box,
                        confidence: detail.confidence,
                    };
                    face_records.push(FaceRecordResponse {
                        face: face_response(&record),
                        face_detail: detail,
                    });
                    new_faces.push(NewFace {
                        record,
                        embedding: *embedding,
                    });
                }
                IndexDecision::Skip(reasons) => unindexed_faces.push(UnindexedFace {
                    reasons,
                    face_detail: detail,
                }),
            }
        }
        let collection_id = request.collection_id.clone();
        let added = new_faces.len();
        self.blocking(move |store| Ok(store.get(&collection_id)?.add_faces(&new_faces)?))
            .await?;
        tracing::info!(
            collection_id = %request.collection_id,
            external_image_id = request.external_image_id.as_deref().unwrap_or(""),
            detected = analysis.faces.len(),
            indexed = added,
            unindexed = unindexed_faces.len(),
            "faces indexed"
        );
        Ok(IndexFacesResponse {
            face_records,
            face_model_version: FACE_MODEL_VERSION.to_owned(),
            unindexed_faces,
        })
    }

    pub async fn list_faces(
        &self,
        request: ListFacesRequest,
    ) -> Result<ListFacesResponse, ApiError> {
        validate_collection_id(&request.collection_id)?;
        let limit = page_size(request.max_results)?;
        let after = request
            .next_token
            .as_deref()
            .map(pagination::parse_face_token)
            .transpose()
            .map_err(|_| ApiError::InvalidPaginationToken("Invalid Token".to_owned()))?;
        let face_ids = request
            .face_ids
            .as_deref()
            .map(|ids| {
                if ids.len() > MAX_PAGE_SIZE as usize {
                    return Err(ApiError::InvalidParameter(format!(
                        "FaceIds may name at most {MAX_PAGE_SIZE} faces"
                    )));
                }
                ids.iter()
                    .map(|id| parse_face_id(id))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let collection = self.inner.store.get(&request.collection_id)?;
        if request.user_id.is_some() {
            // Users are not supported, so no face is associated with one.
            return Ok(ListFacesResponse {
                faces: Vec::new(),
                next_token: None,
                face_model_version: collection.meta().face_model_version.clone(),
            });
        }
        let (page, more) = tokio::task::spawn_blocking(move || match face_ids {
            Some(ids) => {
                let selected: Vec<FaceRecord> = collection
                    .select(&ids)
                    .into_iter()
                    .filter(|r| after.is_none_or(|after| r.face_id > after))
                    .collect();
                let more = selected.len() > limit;
                (selected.into_iter().take(limit).collect::<Vec<_>>(), more)
            }
            None => collection.list(after, limit),
        })
        .await
        .map_err(|e| ApiError::Internal(format!("list task failed: {e}")))?;
        let next_token = more
            .then(|| page.last().map(|r| pagination::face_token(r.face_id)))
            .flatten();
        Ok(ListFacesResponse {
            faces: page.iter().map(face_response).collect(),
            next_token,
            face_model_version: FACE_MODEL_VERSION.to_owned(),
        })
    }

    pub async fn delete_faces(
        &self,
        request: DeleteFacesRequest,
    ) -> Result<DeleteFacesResponse, ApiError> {
        validate_collection_id(&request.collection_id)?;
        if request.face_ids.is_empty() || request.face_ids.len() > MAX_PAGE_SIZE as usize {
            return Err(ApiError::InvalidParameter(format!(
                "FaceIds must name 1 to {MAX_PAGE_SIZE} faces"
            )));
        }
        let ids = request
            .face_ids
            .iter()
            .map(|id| parse_face_id(id))
            .collect::<Result<Vec<_>, _>>()?;
        let collection_id = request.collection_id.clone();
        let deleted = {
            let ids = ids.clone();
            self.blocking(move |store| Ok(store.get(&collection_id)?.delete_faces(&ids)?))
                .await?
        };
        let mut response = DeleteFacesResponse {
            deleted_faces: Vec::new(),
            unsuccessful_face_deletions: Vec::new(),
        };
        for (id, removed) in ids.into_iter().zip(deleted) {
            if removed {
                response.deleted_faces.push(id);
            } else {
                response
                    .unsuccessful_face_deletions
                    .push(UnsuccessfulFaceDeletion {
                        face_id: id.to_string(),
                        reasons: vec!["FACE_NOT_FOUND"],
                    });
            }
        }
        tracing::info!(
            collection_id = %request.collection_id,
            deleted = response.deleted_faces.len(),
            not_found = response.unsuccessful_face_deletions.len(),
            "faces deleted"
        );
        Ok(response)
    }

    pub async fn search_faces(
        &self,
        request: SearchFacesRequest,
    ) -> Result<SearchFacesResponse, ApiError> {
        validate_collection_id(&request.collection_id)?;
        let face_id = parse_face_id(&request.face_id)?;
        let max_faces = api::bounded(
            "MaxFaces",
            request.max_faces,
            1,
            MAX_PAGE_SIZE,
            MAX_PAGE_SIZE,
        )?;
        let threshold = match_threshold(request.face_match_threshold)?;
        let collection = self.inner.store.get(&request.collection_id)?;
        let matches = tokio::task::spawn_blocking(move || {
            let (_, embedding) = collection.get(&face_id).ok_or_else(|| {
                ApiError::InvalidParameter(format!(
                    "The face id {face_id} does not exist in the collection"
                ))
            })?;
            Ok::<_, ApiError>(collection.search(&embedding, threshold, max_faces, Some(face_id)))
        })
        .await
        .map_err(|e| ApiError::Internal(format!("search task failed: {e}")))??;
        Ok(SearchFacesResponse {
            searched_face_id: face_id,
            face_matches: matches.into_iter().map(match_response).collect(),
            face_model_version: FACE_MODEL_VERSION.to_owned(),
        })
    }

    pub async fn search_faces_by_image(
        &self,
        caller: &Identity,
        request: SearchFacesByImageRequest,
    ) -> Result<SearchFacesByImageResponse, ApiError> {
        validate_collection_id(&request.collection_id)?;
        let max_faces = api::bounded(
            "MaxFaces",
            request.max_faces,
            1,
            MAX_PAGE_SIZE,
            MAX_PAGE_SIZE,
        )?;
        let threshold = match_threshold(request.face_match_threshold)?;
        let filter = request.quality_filter.unwrap_or(QualityFilter::None);
        let collection = self.inner.store.get(&request.collection_id)?;

        let analysis = self
            .analyze(caller, request.image, move |faces| {
                largest_passing(faces, filter).into_iter().collect()
            })
            .await?;
        let Some(&(index, embedding)) = analysis.embeddings.first() else {
            let message = if analysis.faces.is_empty() {
                "There are no faces in the image. Should be at least 1."
            } else {
                "No face in the image passed the quality filter."
            };
            return Err(ApiError::InvalidParameter(message.to_owned()));
        };
        let detail = face_detail(&analysis.faces[index], analysis.width, analysis.height);
        let matches = tokio::task::spawn_blocking(move || {
            collection.search(&embedding, threshold, max_faces, None)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("search task failed: {e}")))?;
        Ok(SearchFacesByImageResponse {
            searched_face_bounding_box: detail.bounding_box,
            searched_face_confidence: detail.confidence,
            face_matches: matches.into_iter().map(match_response).collect(),
            face_model_version: FACE_MODEL_VERSION.to_owned(),
        })
    }

    pub async fn detect_faces(
        &self,
        caller: &Identity,
        request: DetectFacesRequest,
    ) -> Result<DetectFacesResponse, ApiError> {
        validate_attributes("Attributes", &request.attributes)?;
        let analysis = self.analyze(caller, request.image, |_| Vec::new()).await?;
        let mut faces: Vec<&FaceObservation> = analysis.faces.iter().collect();
        faces.sort_by(|a, b| b.bounding_box.area().total_cmp(&a.bounding_box.area()));
        faces.truncate(DETECT_FACES_MAX);
        Ok(DetectFacesResponse {
            face_details: faces
                .into_iter()
                .map(|face| face_detail(face, analysis.width, analysis.height))
                .collect(),
        })
    }
}

fn page_size(max_results: Option<i64>) -> Result<usize, ApiError> {
    // Rekognition allows 0; it means "the default page".
    let size = api::bounded(
        "MaxResults",
        max_results,
        0,
        MAX_PAGE_SIZE,
        DEFAULT_PAGE_SIZE,
    )?;
    Ok(if size == 0 {
        DEFAULT_PAGE_SIZE as usize
    } else {
        size
    })
}

/// The largest face that passes `filter`, if any.
fn largest_passing(faces: &[FaceObservation], filter: QualityFilter) -> Option<usize> {
    faces
        .iter()
        .enumerate()
        .filter(|(_, face)| filter.reasons(&face.quality).is_empty())
        .max_by(|a, b| a.1.bounding_box.area().total_cmp(&b.1.bounding_box.area()))
        .map(|(i, _)| i)
}

fn ratio_box(face: &PixelBox, width: u32, height: u32) -> BoundingBox {
    let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    BoundingBox {
        width: (face.width / w) as f32,
        height: (face.height / h) as f32,
        left: (face.left / w) as f32,
        top: (face.top / h) as f32,
    }
}

fn landmarks(points: &FivePoints, width: u32, height: u32) -> Vec<Landmark> {
    let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    let landmark = |kind, p: PixelPoint| Landmark {
        kind,
        x: (p.x / w) as f32,
        y: (p.y / h) as f32,
    };
    vec![
        landmark("eyeLeft", points.left_eye()),
        landmark("eyeRight", points.right_eye()),
        landmark("nose", points.nose),
        landmark("leftEyeLeft", points.left_eye_outer),
        landmark("leftEyeRight", points.left_eye_inner),
        landmark("rightEyeLeft", points.right_eye_inner),
        landmark("rightEyeRight", points.right_eye_outer),
    ]
}

fn face_detail(face: &FaceObservation, width: u32, height: u32) -> FaceDetail {
    FaceDetail {
        bounding_box: ratio_box(&face.bounding_box, width, height),
        landmarks: landmarks(&face.landmarks, width, height),
        pose: face.quality.pose,
        quality: ImageQuality {
            brightness: face.quality.brightness,
            sharpness: face.quality.sharpness,
        },
        confidence: face.quality.confidence,
    }
}

fn face_response(record: &FaceRecord) -> Face {
    Face {
        face_id: record.face_id,
        bounding_box: record.bounding_box,
        image_id: record.image_id,
        external_image_id: record.external_image_id.clone(),
        confidence: record.confidence,
        index_faces_model_version: FACE_MODEL_VERSION.to_owned(),
    }
}

fn match_response(found: store::FaceMatch) -> FaceMatch {
    FaceMatch {
        similarity: found.similarity,
        face: face_response(&found.record),
    }
}
