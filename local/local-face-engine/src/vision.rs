//! The dlib models: detection, five-point landmarks, 128-d embeddings.
//!
//! dlib's detectors and networks keep scratch state and are not safe to share
//! between threads (the wrapper marks them `Send` but not `Sync`). The engine
//! therefore owns a small pool of model sets: an async caller first takes a
//! permit from a semaphore (waiting without blocking the runtime), then runs
//! the work on a blocking thread with a model set of its own.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use dlib_face_recognition::{
    FaceDetectorCnn, FaceDetectorTrait, FaceEncoderNetwork, FaceEncoderTrait, FaceLandmarks,
    ImageMatrix, LandmarkPredictor, LandmarkPredictorTrait, Rectangle,
};
use image::{RgbImage, imageops};
use tokio::sync::Semaphore;

use crate::hog::HogDetector;
use crate::quality::{self, FivePoints, PixelBox, PixelPoint, QualityMeasures};
use crate::store::EMBEDDING_LEN;

pub const LANDMARK_MODEL: &str = "shape_predictor_5_face_landmarks.dat";
pub const EMBEDDING_MODEL: &str = "dlib_face_recognition_resnet_model_v1.dat";
pub const CNN_DETECTOR_MODEL: &str = "mmod_human_face_detector.dat";

#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    #[error("model file {path} is missing (run `make models`)")]
    MissingModel { path: PathBuf },
    #[error("could not load model {path}: {reason}")]
    BadModel { path: PathBuf, reason: String },
    #[error("the face model worker stopped unexpectedly")]
    WorkerFailed,
}

/// Rekognition's smallest face: "no smaller than 40x40 pixels in an image
/// with 1920X1080 pixels", and "proportionally" larger in larger images
/// (Amazon Rekognition's guidelines and quotas).
pub const REKOGNITION_MIN_FACE: f64 = 40.0;
const REKOGNITION_REFERENCE: (f64, f64) = (1920.0, 1080.0);
/// The side of dlib's HOG detection window: the smallest face it finds.
const HOG_WINDOW: f64 = 80.0;

/// The smallest face Rekognition detects in a `width` × `height` image.
pub fn smallest_face(width: u32, height: u32) -> f64 {
    let (long, short) = (width.max(height), width.min(height));
    let ratio = (f64::from(long) / REKOGNITION_REFERENCE.0)
        .max(f64::from(short) / REKOGNITION_REFERENCE.1)
        .max(1.0);
    REKOGNITION_MIN_FACE * ratio
}

/// How the detector scans a photo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    /// dlib's HOG detector, on the photo scaled so that Rekognition's
    /// smallest face fills its window: doubled up to 1920 × 1080 (as
    /// face_recognition's default upsampling), less above, halved and more
    /// in photos over twice that size.
    Hog,
    /// dlib's CNN detector, on a copy whose longest side is at most this.
    Cnn { max_side: u32 },
}

/// One face found in an image, in pixels of the original image.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceObservation {
    pub bounding_box: PixelBox,
    pub landmarks: FivePoints,
    pub quality: QualityMeasures,
}

/// Observations of one image plus embeddings of the faces asked for.
#[derive(Clone, Debug)]
pub struct ImageAnalysis {
    pub width: u32,
    pub height: u32,
    pub faces: Vec<FaceObservation>,
    /// `(index into faces, embedding)` for each face the selector chose.
    pub embeddings: Vec<(usize, [f32; EMBEDDING_LEN])>,
}

/// One set of loaded models; used by one thread at a time.
pub struct FaceModels {
    hog: HogDetector,
    cnn: Option<FaceDetectorCnn>,
    landmarks: LandmarkPredictor,
    encoder: FaceEncoderNetwork,
}

fn model_path(dir: &Path, name: &str) -> Result<PathBuf, VisionError> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(VisionError::MissingModel { path })
    }
}

// OpenBLAS, which dlib's embedding network and CNN detector multiply with
// (`dlib-face-recognition`'s `openblas` feature links it).
unsafe extern "C" {
    fn openblas_set_num_threads(num_threads: std::ffi::c_int);
}

impl FaceModels {
    /// Loads the models from `dir`; the CNN detector only when `with_cnn`.
    pub fn load(dir: &Path, with_cnn: bool) -> Result<Self, VisionError> {
        // The engine keeps both cores busy itself (the HOG detector's two
        // threads, photos analysed side by side); OpenBLAS's own threads spin
        // between calls and take those cores from the detector (obama.jpg:
        // 69 to 121 ms over three benchmark runs, 69 to 72 ms with one
        // BLAS thread).
        // SAFETY: sets a process-wide count; no BLAS call needs more.
        unsafe { openblas_set_num_threads(1) };
        let landmark_path = model_path(dir, LANDMARK_MODEL)?;
        let encoder_path = model_path(dir, EMBEDDING_MODEL)?;
        let landmarks =
            LandmarkPredictor::open(&landmark_path).map_err(|reason| VisionError::BadModel {
                path: landmark_path,
                reason,
            })?;
        let encoder =
            FaceEncoderNetwork::open(&encoder_path).map_err(|reason| VisionError::BadModel {
                path: encoder_path,
                reason,
            })?;
        let cnn = if with_cnn {
            let path = model_path(dir, CNN_DETECTOR_MODEL)?;
            Some(
                FaceDetectorCnn::open(&path)
                    .map_err(|reason| VisionError::BadModel { path, reason })?,
            )
        } else {
            None
        };
        Ok(Self {
            hog: HogDetector::new(),
            cnn,
            landmarks,
            encoder,
        })
    }

    /// Finds faces, measures them, and embeds those `select` picks.
    ///
    /// Detection scans the photo as `scan` says; landmarks and embeddings
    /// use the full image.
    pub fn analyze(
        &self,
        image: &RgbImage,
        scan: Scan,
        select: impl FnOnce(&[FaceObservation]) -> Vec<usize>,
    ) -> ImageAnalysis {
        let (width, height) = image.dimensions();
        let matrix = ImageMatrix::from_image(image);
        let rectangles = self.detect(&matrix, width, height, scan);

        let mut faces = Vec::with_capacity(rectangles.len());
        let mut shapes: Vec<FaceLandmarks> = Vec::with_capacity(rectangles.len());
        for rect in &rectangles {
            let shape = self.landmarks.face_landmarks(&matrix, rect);
            if shape.len() != 5 {
                tracing::warn!(
                    points = shape.len(),
                    "landmark model did not give five points; face skipped"
                );
                continue;
            }
            let points: [PixelPoint; 5] = std::array::from_fn(|i| PixelPoint {
                x: shape[i].x() as f64,
                y: shape[i].y() as f64,
            });
            let landmarks = FivePoints::from_dlib_order(points);
            let bounding_box = PixelBox {
                left: rect.left as f64,
                top: rect.top as f64,
                width: (rect.right - rect.left + 1) as f64,
                height: (rect.bottom - rect.top + 1) as f64,
            };
            let patch = face_patch(image, &bounding_box);
            faces.push(FaceObservation {
                quality: QualityMeasures {
                    face_size: bounding_box.width.min(bounding_box.height),
                    pose: quality::estimate_pose(&landmarks),
                    brightness: patch.as_ref().map_or(0.0, quality::brightness_score),
                    sharpness: patch.as_ref().map_or(0.0, quality::sharpness_score),
                    confidence: quality::landmark_confidence(&bounding_box, &landmarks),
                    visible_fraction: bounding_box.visible_fraction(width, height),
                },
                bounding_box,
                landmarks,
            });
            shapes.push(shape);
        }

        let mut chosen: Vec<usize> = select(&faces)
            .into_iter()
            .filter(|&i| i < faces.len())
            .collect();
        chosen.sort_unstable();
        chosen.dedup();
        let chosen_shapes: Vec<FaceLandmarks> = chosen.iter().map(|&i| shapes[i].clone()).collect();
        let encodings = if chosen_shapes.is_empty() {
            Vec::new()
        } else {
            self.encoder
                .get_face_encodings(&matrix, &chosen_shapes, 0)
                .iter()
                .map(|encoding| {
                    let values: &[f64] = encoding.as_ref();
                    std::array::from_fn(|i| values.get(i).copied().unwrap_or_default() as f32)
                })
                .collect()
        };
        ImageAnalysis {
            width,
            height,
            faces,
            embeddings: chosen.into_iter().zip(encodings).collect(),
        }
    }

    fn detect(&self, matrix: &ImageMatrix, width: u32, height: u32, scan: Scan) -> Vec<Rectangle> {
        let scale = match (scan, &self.cnn) {
            (Scan::Cnn { max_side }, Some(_)) => {
                let longest = width.max(height).max(1);
                (f64::from(max_side) / f64::from(longest)).min(1.0)
            }
            _ => HOG_WINDOW / smallest_face(width, height),
        };
        if scan == Scan::Hog && scale == 2.0 {
            // dlib's own doubling, so that the boxes are those dlib finds
            // with one upsampling, box for box.
            return self
                .hog
                .face_locations_doubled(matrix)
                .iter()
                .copied()
                .collect();
        }
        let target = (
            ((f64::from(width) * scale).round() as usize).max(1),
            ((f64::from(height) * scale).round() as usize).max(1),
        );
        let scaled;
        let matrix = if scale < 1.0 {
            scaled = downscale(matrix, (width as usize, height as usize), target);
            &scaled
        } else if scale > 1.0 {
            scaled = matrix.resize(target.0, target.1);
            &scaled
        } else {
            matrix
        };
        let found = match (scan, &self.cnn) {
            (Scan::Cnn { .. }, Some(cnn)) => cnn.face_locations(matrix),
            _ => self.hog.face_locations(matrix),
        };
        let unscale = |v: std::os::raw::c_long| (v as f64 / scale).round() as std::os::raw::c_long;
        found
            .iter()
            .map(|r| Rectangle {
                left: unscale(r.left),
                top: unscale(r.top),
                right: unscale(r.right),
                bottom: unscale(r.bottom),
            })
            .collect()
    }
}

/// Scales an image down in dlib (bilinear), halving at most per step so
/// that every source pixel still contributes and fine detail does not alias.
fn downscale(matrix: &ImageMatrix, from: (usize, usize), to: (usize, usize)) -> ImageMatrix {
    let (mut width, mut height) = from;
    let mut current: Option<ImageMatrix> = None;
    while width >= to.0 * 2 && height >= to.1 * 2 {
        width /= 2;
        height /= 2;
        let source = current.as_ref().unwrap_or(matrix);
        current = Some(source.resize(width, height));
    }
    current.as_ref().unwrap_or(matrix).resize(to.0, to.1)
}

/// The part of the face box inside the image, in gray; `None` if it is empty.
fn face_patch(image: &RgbImage, face: &PixelBox) -> Option<image::GrayImage> {
    let left = face.left.max(0.0) as u32;
    let top = face.top.max(0.0) as u32;
    let right = ((face.left + face.width).min(f64::from(image.width()))).max(0.0) as u32;
    let bottom = ((face.top + face.height).min(f64::from(image.height()))).max(0.0) as u32;
    if right <= left + 2 || bottom <= top + 2 {
        return None;
    }
    let crop = imageops::crop_imm(image, left, top, right - left, bottom - top).to_image();
    Some(imageops::grayscale(&crop))
}

/// A pool of model sets shared by the engine; cheap to clone.
#[derive(Clone)]
pub struct ModelPool {
    idle: Arc<Mutex<Vec<FaceModels>>>,
    permits: Arc<Semaphore>,
}

/// Returns the model set to the pool even if the work panics.
struct Lease {
    idle: Arc<Mutex<Vec<FaceModels>>>,
    models: Option<FaceModels>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(models) = self.models.take() {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(models);
        }
    }
}

impl ModelPool {
    /// Loads `workers` model sets (at least one).
    pub fn load(dir: &Path, with_cnn: bool, workers: usize) -> Result<Self, VisionError> {
        let workers = workers.max(1);
        let sets = (0..workers)
            .map(|_| FaceModels::load(dir, with_cnn))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            idle: Arc::new(Mutex::new(sets)),
            permits: Arc::new(Semaphore::new(workers)),
        })
    }

    /// Runs `work` with a model set on a blocking thread.
    pub async fn run<R, F>(&self, work: F) -> Result<R, VisionError>
    where
        F: FnOnce(&FaceModels) -> R + Send + 'static,
        R: Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| VisionError::WorkerFailed)?;
        let idle = self.idle.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let models = idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            // A permit guarantees a free set; none means a set was lost to a panic.
            let lease = Lease {
                idle: idle.clone(),
                models: Some(models.ok_or(VisionError::WorkerFailed)?),
            };
            let models = lease.models.as_ref().ok_or(VisionError::WorkerFailed)?;
            Ok(work(models))
        })
        .await
        .map_err(|_| VisionError::WorkerFailed)?
    }
}
