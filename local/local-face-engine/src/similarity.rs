//! Similarity 0–100 from the Euclidean distance between two dlib embeddings.
//!
//! dlib's ResNet model is trained so that two photos of one person lie less
//! than 0.6 apart. On the test photos (`make test-images`) five photos of one
//! person measure 0.24–0.44 apart and two different people 0.81–0.88. The
//! calibration is a logistic curve
//!
//! ```text
//! similarity(d) = 100 / (1 + exp(STEEPNESS * (d - MIDPOINT)))
//! ```
//!
//! with `STEEPNESS = 15` and `MIDPOINT` chosen so that `similarity(0.6) = 80`,
//! Rekognition's default `FaceMatchThreshold`. Figures: d = 0.0 → 100.0,
//! 0.35 → 99.4, 0.43 → 98.1, 0.5 → 94.7, 0.6 → 80.0, 0.7 → 47.2, 0.81 → 14.6,
//! 0.87 → 6.5. So "similarity ≥ 80" means exactly dlib's "distance ≤ 0.6".

/// Embedding distance that maps to the default threshold of 80.
pub const SAME_PERSON_DISTANCE: f32 = 0.6;
/// Rekognition's default `FaceMatchThreshold`.
pub const DEFAULT_MATCH_THRESHOLD: f32 = 80.0;
const STEEPNESS: f32 = 15.0;

/// Distance at which the similarity is 50.
fn midpoint() -> f32 {
    // similarity(0.6) = 80  ⇔  exp(k (0.6 - m)) = 1/4  ⇔  m = 0.6 + ln(4)/k
    SAME_PERSON_DISTANCE + 4f32.ln() / STEEPNESS
}

/// Similarity 0–100 for an embedding distance.
pub fn similarity_from_distance(distance: f32) -> f32 {
    100.0 / (1.0 + (STEEPNESS * (distance - midpoint())).exp())
}

/// The largest distance whose similarity is at least `threshold`, so a scan
/// can compare squared distances and skip the exponential. `None` when no
/// distance reaches it (threshold 100), infinity for threshold 0.
pub fn max_distance_for(threshold: f32) -> Option<f32> {
    if threshold <= 0.0 {
        return Some(f32::INFINITY);
    }
    if threshold >= 100.0 {
        return None;
    }
    let distance = midpoint() + (100.0 / threshold - 1.0).ln() / STEEPNESS;
    (distance >= 0.0).then_some(distance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dlib_threshold_maps_to_rekognition_default() {
        assert!((similarity_from_distance(SAME_PERSON_DISTANCE) - 80.0).abs() < 1e-3);
    }

    #[test]
    fn measured_distances_fall_on_the_right_side() {
        for same in [0.32, 0.38, 0.43] {
            assert!(similarity_from_distance(same) > 97.0, "{same}");
        }
        for different in [0.81, 0.84, 0.87] {
            assert!(similarity_from_distance(different) < 20.0, "{different}");
        }
    }

    #[test]
    fn similarity_falls_as_distance_grows() {
        let values: Vec<f32> = (0..=20)
            .map(|i| similarity_from_distance(i as f32 * 0.1))
            .collect();
        assert!(values.windows(2).all(|w| w[0] > w[1]));
        assert!(values[0] > 99.9 && values[0] <= 100.0);
        assert!(*values.last().unwrap() >= 0.0);
    }

    #[test]
    fn max_distance_inverts_the_curve() {
        for threshold in [1.0, 50.0, 80.0, 95.0, 99.0] {
            let distance = max_distance_for(threshold).unwrap();
            assert!((similarity_from_distance(distance) - threshold).abs() < 1e-2);
        }
        assert_eq!(max_distance_for(0.0), Some(f32::INFINITY));
        assert_eq!(max_distance_for(100.0), None);
        assert!((max_distance_for(80.0).unwrap() - 0.6).abs() < 1e-4);
    }
}
