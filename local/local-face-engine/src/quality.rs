//! Face quality: pose from the five landmarks, sharpness, brightness, size,
//! and the filter that turns them into Rekognition's `UnindexedFaces` reasons.
//!
//! Every measure is computed on what dlib gives (a box and five points) plus
//! the pixels of the face, so the thresholds below are the whole story:
//!
//! | measure | how | `LOW` | `AUTO`/`MEDIUM` | `HIGH` |
//! | --- | --- | --- | --- | --- |
//! | size (`SMALL_BOUNDING_BOX`) | shorter side of the box, pixels | < 40 | < 60 | < 100 |
//! | pose (`EXTREME_POSE`) | max(\|yaw\|, \|pitch\|), degrees | > 60 | > 45 | > 30 |
//! | brightness (`LOW_BRIGHTNESS`) | mean luma of the face, 0–100 | < 5 | < 10 | < 20 |
//! | sharpness (`LOW_SHARPNESS`) | Laplacian variance of the face at 128×128, mapped to 0–100 | < 6 | < 12 | < 25 |
//! | confidence (`LOW_CONFIDENCE`) | landmark plausibility, 0–100 | < 50 | < 70 | < 85 |
//! | visibility (`LOW_FACE_QUALITY`) | share of the box inside the image | < 0.5 | < 0.75 | < 0.9 |
//!
//! `NONE` filters nothing. The cut-offs were set on the test portraits
//! (faces of 220–360 pixels): as taken they score sharpness 39–74 and
//! brightness 42–57; after a Gaussian blur of σ 1.5 pixels sharpness falls to
//! 12–35, after σ 3 to 3.5–11; darkened by 100 of 255 levels brightness falls
//! to 7–20, by 150 levels to 2–6. So `AUTO` refuses the heavy blur and the
//! near-black face and keeps the merely soft or dim ones, which still embed
//! close to the sharp originals. The face cut by the image edge in
//! `obama_partial_face.jpg` is 78 % visible: `AUTO` keeps it, `HIGH` does not.

use image::{GrayImage, imageops};
use serde::{Deserialize, Serialize};

/// Side of the square the face is resampled to before measuring sharpness,
/// so that the figure does not depend on the face's size in the photo.
pub const SHARPNESS_PATCH: u32 = 128;

/// Laplacian variance at which the sharpness score reaches 63 (1 - 1/e).
const SHARPNESS_SCALE: f64 = 300.0;

/// A point in pixels of the original image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelPoint {
    pub x: f64,
    pub y: f64,
}

/// A face box in pixels of the original image; it may reach past the edges.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelBox {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
}

impl PixelBox {
    pub fn area(&self) -> f64 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    /// Share of the box that lies inside an image of the given size.
    pub fn visible_fraction(&self, image_width: u32, image_height: u32) -> f64 {
        let area = self.area();
        if area <= 0.0 {
            return 0.0;
        }
        let left = self.left.max(0.0);
        let top = self.top.max(0.0);
        let right = (self.left + self.width).min(f64::from(image_width));
        let bottom = (self.top + self.height).min(f64::from(image_height));
        ((right - left).max(0.0) * (bottom - top).max(0.0)) / area
    }
}

/// dlib's five-point landmarks, named by where they are in the image.
///
/// The model's order is: 0 and 1 the outer and inner corner of the eye on the
/// image's right, 2 and 3 the outer and inner corner of the eye on the
/// image's left, 4 the base of the nose.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FivePoints {
    pub right_eye_outer: PixelPoint,
    pub right_eye_inner: PixelPoint,
    pub left_eye_outer: PixelPoint,
    pub left_eye_inner: PixelPoint,
    pub nose: PixelPoint,
}

impl FivePoints {
    pub fn from_dlib_order(points: [PixelPoint; 5]) -> Self {
        Self {
            right_eye_outer: points[0],
            right_eye_inner: points[1],
            left_eye_outer: points[2],
            left_eye_inner: points[3],
            nose: points[4],
        }
    }

    pub fn left_eye(&self) -> PixelPoint {
        midpoint(self.left_eye_outer, self.left_eye_inner)
    }

    pub fn right_eye(&self) -> PixelPoint {
        midpoint(self.right_eye_outer, self.right_eye_inner)
    }
}

fn midpoint(a: PixelPoint, b: PixelPoint) -> PixelPoint {
    PixelPoint {
        x: (a.x + b.x) / 2.0,
        y: (a.y + b.y) / 2.0,
    }
}

/// Head pose in degrees, as Rekognition reports it (each in [-180, 180]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Pose {
    pub roll: f32,
    pub yaw: f32,
    pub pitch: f32,
}

/// Vertical drop from the eye line to the nose base, in inter-ocular
/// distances, of a frontal face with dlib's five-point model.
const FRONTAL_NOSE_DROP: f64 = 0.7;
/// Horizontal reach of the nose base, in inter-ocular distances, when the
/// head is turned 90 degrees (the nose base sits in front of the eye plane).
const NOSE_DEPTH: f64 = 0.55;

/// Estimates the head pose from five landmarks.
///
/// Roll is the angle of the eye line. After undoing it, yaw follows from how
/// far the nose base sits beside the eyes' midpoint and pitch from how far
/// it sits below them, both relative to the inter-ocular distance. This is a
/// coarse estimate, good to about ten degrees, which is all a pose filter needs.
pub fn estimate_pose(points: &FivePoints) -> Pose {
    let left = points.left_eye();
    let right = points.right_eye();
    let dx = right.x - left.x;
    let dy = right.y - left.y;
    let inter_ocular = dx.hypot(dy);
    if inter_ocular < f64::EPSILON {
        return Pose {
            roll: 0.0,
            yaw: 0.0,
            pitch: 0.0,
        };
    }
    let roll = dy.atan2(dx);
    let centre = midpoint(left, right);
    let (sin, cos) = (-roll).sin_cos();
    let nx = points.nose.x - centre.x;
    let ny = points.nose.y - centre.y;
    let along = (nx * cos - ny * sin) / inter_ocular;
    let below = (nx * sin + ny * cos) / inter_ocular;

    // Turning the head shortens the visible eye distance by cos(yaw), so the
    // nose offset, measured in visible eye distances, grows as tan(yaw).
    let yaw = (along / NOSE_DEPTH).atan();
    let pitch = ((FRONTAL_NOSE_DROP - below) / FRONTAL_NOSE_DROP)
        .clamp(-1.0, 1.0)
        .asin();
    Pose {
        roll: roll.to_degrees() as f32,
        yaw: yaw.to_degrees() as f32,
        pitch: pitch.to_degrees() as f32,
    }
}

/// Variance of the 4-neighbour Laplacian: high when edges are crisp.
pub fn laplacian_variance(gray: &GrayImage) -> f64 {
    let (width, height) = gray.dimensions();
    if width < 3 || height < 3 {
        return 0.0;
    }
    let mut sum = 0.0;
    let mut sum_sq = 0.0;
    let mut count = 0.0;
    for y in 1..height - 1 {
        for x in 1..width - 1 {
            let at = |x: u32, y: u32| f64::from(gray.get_pixel(x, y)[0]);
            let value = at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4.0 * at(x, y);
            sum += value;
            sum_sq += value * value;
            count += 1.0;
        }
    }
    let mean = sum / count;
    sum_sq / count - mean * mean
}

/// Sharpness 0–100 from a face patch (any size; it is resampled first).
pub fn sharpness_score(face: &GrayImage) -> f32 {
    if face.width() == 0 || face.height() == 0 {
        return 0.0;
    }
    let patch = imageops::resize(
        face,
        SHARPNESS_PATCH,
        SHARPNESS_PATCH,
        imageops::FilterType::Triangle,
    );
    let variance = laplacian_variance(&patch);
    (100.0 * (1.0 - (-variance / SHARPNESS_SCALE).exp())) as f32
}

/// Brightness 0–100: the mean luma of the face patch.
pub fn brightness_score(face: &GrayImage) -> f32 {
    let pixels = face.as_raw();
    if pixels.is_empty() {
        return 0.0;
    }
    let total: u64 = pixels.iter().map(|&p| u64::from(p)).sum();
    (total as f64 / pixels.len() as f64 / 255.0 * 100.0) as f32
}

/// Expected inter-ocular distance as a share of the box width for dlib's
/// detectors (HOG and MMOD boxes are tight around eyes, nose and mouth).
const EXPECTED_EYE_SPAN: f64 = 0.42;

/// How plausible the landmarks are as a face inside this box, 0–100.
///
/// dlib's detectors, as wrapped, give no score, so the engine's `Confidence`
/// is this: 100 when the eyes sit level in the upper part of the box, about
/// the expected distance apart, with the nose between and below them, and
/// falling as the geometry departs from that.
pub fn landmark_confidence(face: &PixelBox, points: &FivePoints) -> f32 {
    if face.width <= 0.0 || face.height <= 0.0 {
        return 0.0;
    }
    let left = points.left_eye();
    let right = points.right_eye();
    let span = (right.x - left.x).hypot(right.y - left.y) / face.width;
    let eye_y = ((left.y + right.y) / 2.0 - face.top) / face.height;
    let nose_y = (points.nose.y - face.top) / face.height;
    let nose_x = (points.nose.x - face.left) / face.width;

    let mut penalty = 0.0;
    // Eyes the wrong way round means the points are not a face at all.
    if right.x <= left.x {
        penalty += 60.0;
    }
    penalty += 200.0 * ((span - EXPECTED_EYE_SPAN).abs() - 0.12).max(0.0);
    penalty += 200.0 * (eye_y - 0.45).max(0.0) + 200.0 * (0.1 - eye_y).max(0.0);
    penalty += 200.0 * (nose_y - 0.85).max(0.0) + 200.0 * (eye_y + 0.05 - nose_y).max(0.0);
    penalty += 200.0 * (nose_x - 0.85).max(0.0) + 200.0 * (0.15 - nose_x).max(0.0);
    (100.0 - penalty).clamp(0.0, 100.0) as f32
}

/// Rekognition's `QualityFilter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum QualityFilter {
    None,
    Auto,
    Low,
    Medium,
    High,
}

/// Rekognition's reasons for not indexing a face.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UnindexedReason {
    ExceedsMaxFaces,
    ExtremePose,
    LowBrightness,
    LowSharpness,
    LowConfidence,
    SmallBoundingBox,
    LowFaceQuality,
}

/// The figures the filter looks at for one face.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QualityMeasures {
    /// Shorter side of the face box, in pixels.
    pub face_size: f64,
    pub pose: Pose,
    pub brightness: f32,
    pub sharpness: f32,
    pub confidence: f32,
    /// Share of the face box inside the image, 0–1.
    pub visible_fraction: f64,
}

/// Cut-offs for one filter level; a face below any of them is not indexed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QualityThresholds {
    pub min_face_size: f64,
    pub max_pose_degrees: f32,
    pub min_brightness: f32,
    pub min_sharpness: f32,
    pub min_confidence: f32,
    pub min_visible_fraction: f64,
}

impl QualityFilter {
    /// The thresholds of this level, or `None` for `NONE`.
    pub fn thresholds(self) -> Option<QualityThresholds> {
        let low = QualityThresholds {
            min_face_size: 40.0,
            max_pose_degrees: 60.0,
            min_brightness: 5.0,
            min_sharpness: 6.0,
            min_confidence: 50.0,
            min_visible_fraction: 0.5,
        };
        let medium = QualityThresholds {
            min_face_size: 60.0,
            max_pose_degrees: 45.0,
            min_brightness: 10.0,
            min_sharpness: 12.0,
            min_confidence: 70.0,
            min_visible_fraction: 0.75,
        };
        let high = QualityThresholds {
            min_face_size: 100.0,
            max_pose_degrees: 30.0,
            min_brightness: 20.0,
            min_sharpness: 25.0,
            min_confidence: 85.0,
            min_visible_fraction: 0.9,
        };
        match self {
            QualityFilter::None => None,
            QualityFilter::Low => Some(low),
            QualityFilter::Auto | QualityFilter::Medium => Some(medium),
            QualityFilter::High => Some(high),
        }
    }

    /// The reasons a face fails this filter; empty when it passes.
    pub fn reasons(self, measures: &QualityMeasures) -> Vec<UnindexedReason> {
        let Some(limits) = self.thresholds() else {
            return Vec::new();
        };
        let mut reasons = Vec::new();
        let pose = measures.pose.yaw.abs().max(measures.pose.pitch.abs());
        if pose > limits.max_pose_degrees {
            reasons.push(UnindexedReason::ExtremePose);
        }
        if measures.brightness < limits.min_brightness {
            reasons.push(UnindexedReason::LowBrightness);
        }
        if measures.sharpness < limits.min_sharpness {
            reasons.push(UnindexedReason::LowSharpness);
        }
        if measures.confidence < limits.min_confidence {
            reasons.push(UnindexedReason::LowConfidence);
        }
        if measures.face_size < limits.min_face_size {
            reasons.push(UnindexedReason::SmallBoundingBox);
        }
        if measures.visible_fraction < limits.min_visible_fraction {
            reasons.push(UnindexedReason::LowFaceQuality);
        }
        reasons
    }
}

/// What to do with each detected face of an `IndexFaces` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexDecision {
    Index,
    Skip(Vec<UnindexedReason>),
}

/// Applies the quality filter, then keeps the `max_faces` largest of the
/// faces that passed; the rest are `EXCEEDS_MAX_FACES`, as in Rekognition.
///
/// `faces` holds each face's measures and box area, in detection order; the
/// result is in the same order.
pub fn decide_indexing(
    faces: &[(QualityMeasures, f64)],
    filter: QualityFilter,
    max_faces: usize,
) -> Vec<IndexDecision> {
    let mut decisions: Vec<IndexDecision> = faces
        .iter()
        .map(|(measures, _)| {
            let reasons = filter.reasons(measures);
            if reasons.is_empty() {
                IndexDecision::Index
            } else {
                IndexDecision::Skip(reasons)
            }
        })
        .collect();
    let mut passed: Vec<usize> = (0..faces.len())
        .filter(|&i| decisions[i] == IndexDecision::Index)
        .collect();
    passed.sort_by(|&a, &b| faces[b].1.total_cmp(&faces[a].1));
    for &index in passed.iter().skip(max_faces) {
        decisions[index] = IndexDecision::Skip(vec![UnindexedReason::ExceedsMaxFaces]);
    }
    decisions
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma};

    fn point(x: f64, y: f64) -> PixelPoint {
        PixelPoint { x, y }
    }

    /// A frontal face in a 100×100 box at the origin.
    fn frontal() -> FivePoints {
        FivePoints {
            left_eye_outer: point(20.0, 35.0),
            left_eye_inner: point(38.0, 35.0),
            right_eye_inner: point(62.0, 35.0),
            right_eye_outer: point(80.0, 35.0),
            nose: point(50.0, 35.0 + 42.0 * FRONTAL_NOSE_DROP),
        }
    }

    fn good_measures() -> QualityMeasures {
        QualityMeasures {
            face_size: 200.0,
            pose: Pose {
                roll: 0.0,
                yaw: 5.0,
                pitch: -3.0,
            },
            brightness: 50.0,
            sharpness: 60.0,
            confidence: 99.0,
            visible_fraction: 1.0,
        }
    }

    #[test]
    fn frontal_face_has_no_pose() {
        let pose = estimate_pose(&frontal());
        assert!(pose.roll.abs() < 0.5, "{pose:?}");
        assert!(pose.yaw.abs() < 0.5, "{pose:?}");
        assert!(pose.pitch.abs() < 0.5, "{pose:?}");
    }

    #[test]
    fn turned_and_tilted_faces_are_measured() {
        let mut turned = frontal();
        turned.nose.x += 30.0;
        let pose = estimate_pose(&turned);
        assert!(pose.yaw > 35.0, "{pose:?}");

        // Rotate every point by 30 degrees around the eyes' midpoint.
        let centre = point(50.0, 35.0);
        let (sin, cos) = 30f64.to_radians().sin_cos();
        let rotate = |p: PixelPoint| {
            let (x, y) = (p.x - centre.x, p.y - centre.y);
            point(centre.x + x * cos - y * sin, centre.y + x * sin + y * cos)
        };
        let face = frontal();
        let tilted = FivePoints {
            left_eye_outer: rotate(face.left_eye_outer),
            left_eye_inner: rotate(face.left_eye_inner),
            right_eye_inner: rotate(face.right_eye_inner),
            right_eye_outer: rotate(face.right_eye_outer),
            nose: rotate(face.nose),
        };
        let pose = estimate_pose(&tilted);
        assert!((pose.roll - 30.0).abs() < 0.5, "{pose:?}");
        assert!(pose.yaw.abs() < 0.5, "{pose:?}");
    }

    #[test]
    fn sharp_patterns_score_higher_than_flat_ones() {
        let checker = GrayImage::from_fn(64, 64, |x, y| {
            Luma([if (x / 4 + y / 4) % 2 == 0 { 30 } else { 220 }])
        });
        let flat = GrayImage::from_pixel(64, 64, Luma([128]));
        let blurred = imageops::blur(&checker, 6.0);
        assert!(sharpness_score(&checker) > 50.0);
        assert!(sharpness_score(&blurred) < sharpness_score(&checker));
        assert_eq!(sharpness_score(&flat), 0.0);
    }

    #[test]
    fn brightness_is_mean_luma() {
        assert_eq!(
            brightness_score(&GrayImage::from_pixel(4, 4, Luma([255]))),
            100.0
        );
        assert_eq!(
            brightness_score(&GrayImage::from_pixel(4, 4, Luma([0]))),
            0.0
        );
    }

    #[test]
    fn plausible_landmarks_are_confident() {
        let face = PixelBox {
            left: 0.0,
            top: 0.0,
            width: 100.0,
            height: 100.0,
        };
        assert_eq!(landmark_confidence(&face, &frontal()), 100.0);
        let mut swapped = frontal();
        std::mem::swap(&mut swapped.left_eye_outer, &mut swapped.right_eye_outer);
        std::mem::swap(&mut swapped.left_eye_inner, &mut swapped.right_eye_inner);
        assert!(landmark_confidence(&face, &swapped) < 50.0);
    }

    #[test]
    fn visible_fraction_counts_the_part_inside() {
        let face = PixelBox {
            left: -50.0,
            top: 0.0,
            width: 100.0,
            height: 100.0,
        };
        assert!((face.visible_fraction(200, 200) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn filter_levels_name_each_failing_measure() {
        let good = good_measures();
        assert!(QualityFilter::Auto.reasons(&good).is_empty());
        assert!(QualityFilter::High.reasons(&good).is_empty());

        let mut poor = good;
        poor.face_size = 50.0;
        poor.brightness = 8.0;
        poor.sharpness = 5.0;
        poor.pose.yaw = -50.0;
        poor.confidence = 20.0;
        poor.visible_fraction = 0.6;
        assert_eq!(
            QualityFilter::Auto.reasons(&poor),
            vec![
                UnindexedReason::ExtremePose,
                UnindexedReason::LowBrightness,
                UnindexedReason::LowSharpness,
                UnindexedReason::LowConfidence,
                UnindexedReason::SmallBoundingBox,
                UnindexedReason::LowFaceQuality,
            ]
        );
        assert_eq!(
            QualityFilter::Low.reasons(&poor),
            vec![
                UnindexedReason::LowSharpness,
                UnindexedReason::LowConfidence
            ]
        );
        assert!(QualityFilter::None.reasons(&poor).is_empty());
    }

    #[test]
    fn faces_beyond_max_faces_are_the_smaller_ones() {
        let good = good_measures();
        let mut poor = good;
        poor.sharpness = 1.0;
        let faces = [(good, 100.0), (good, 400.0), (poor, 900.0), (good, 200.0)];
        let decisions = decide_indexing(&faces, QualityFilter::Auto, 1);
        assert_eq!(
            decisions,
            vec![
                IndexDecision::Skip(vec![UnindexedReason::ExceedsMaxFaces]),
                IndexDecision::Index,
                IndexDecision::Skip(vec![UnindexedReason::LowSharpness]),
                IndexDecision::Skip(vec![UnindexedReason::ExceedsMaxFaces]),
            ]
        );
        let all = decide_indexing(&faces, QualityFilter::None, 10);
        assert!(all.iter().all(|d| *d == IndexDecision::Index));
    }

    #[test]
    fn filter_names_match_rekognition() {
        let filter: QualityFilter = serde_json::from_str("\"AUTO\"").unwrap();
        assert_eq!(filter, QualityFilter::Auto);
        let reason = serde_json::to_string(&UnindexedReason::ExceedsMaxFaces).unwrap();
        assert_eq!(reason, "\"EXCEEDS_MAX_FACES\"");
        let reason = serde_json::to_string(&UnindexedReason::SmallBoundingBox).unwrap();
        assert_eq!(reason, "\"SMALL_BOUNDING_BOX\"");
    }
}
