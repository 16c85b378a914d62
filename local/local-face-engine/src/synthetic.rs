//! Synthetic faces (their embeddings, and the records a collection holds
//! them in), for the benchmarks and tests of a large collection: computing
//! a million real embeddings would take days here.
//!
//! They are spread as dlib's are on the test photos: two people about 0.85
//! apart (0.81–0.88 measured), values within about ±0.3. Each is a common
//! centre plus normal noise: with 128 values of deviation `σ`, two noises
//! lie `σ·√256` apart on average, so `σ = 0.85 / 16`.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

use uuid::Uuid;

use crate::store::{BoundingBox, EMBEDDING_LEN, FaceRecord, NewFace};

const PEOPLE_APART: f32 = 0.85;
/// The length of the centre all embeddings share.
const CENTRE_LENGTH: f32 = 0.7;

/// A reproducible source of embeddings.
pub struct SyntheticFaces {
    rng: StdRng,
    centre: [f32; EMBEDDING_LEN],
    noise: Normal<f32>,
}

impl SyntheticFaces {
    pub fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let direction = random_direction(&mut rng);
        let centre = direction.map(|value| value * CENTRE_LENGTH);
        let deviation = PEOPLE_APART / (2.0 * EMBEDDING_LEN as f32).sqrt();
        let noise = Normal::new(0.0, deviation).expect("the deviation is finite and positive");
        Self { rng, centre, noise }
    }

    /// A new person's face.
    pub fn person(&mut self) -> [f32; EMBEDDING_LEN] {
        let mut face = self.centre;
        for value in &mut face {
            *value += self.noise.sample(&mut self.rng);
        }
        face
    }

    /// A new person's face as a collection holds it: `face_id`, a box
    /// and a confidence as the test photos' faces have, and
    /// [`person`](Self::person)'s embedding.
    pub fn enrolled(&mut self, face_id: Uuid, external_image_id: Option<String>) -> NewFace {
        NewFace {
            record: FaceRecord {
                face_id,
                image_id: Uuid::new_v4(),
                external_image_id,
                bounding_box: BoundingBox {
                    width: 0.3,
                    height: 0.4,
                    left: 0.35,
                    top: 0.2,
                },
                confidence: 99.0,
            },
            embedding: self.person(),
        }
    }

    /// Another photo of the person of `face`: `distance` away from it, in
    /// a random direction (dlib puts photos of one person 0.24–0.44 apart).
    pub fn another_photo_of(
        &mut self,
        face: &[f32; EMBEDDING_LEN],
        distance: f32,
    ) -> [f32; EMBEDDING_LEN] {
        let direction = random_direction(&mut self.rng);
        std::array::from_fn(|i| face[i] + direction[i] * distance)
    }
}

/// A direction drawn uniformly: normal values, scaled to length 1.
fn random_direction(rng: &mut StdRng) -> [f32; EMBEDDING_LEN] {
    let normal = Normal::new(0.0f32, 1.0).expect("the standard normal");
    let values: [f32; EMBEDDING_LEN] = std::array::from_fn(|_| normal.sample(rng));
    let length = values.iter().map(|v| v * v).sum::<f32>().sqrt();
    values.map(|value| value / length)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::squared_distance;

    #[test]
    fn people_lie_as_far_apart_as_dlib_puts_them_and_photos_of_one_as_near() {
        let mut faces = SyntheticFaces::new(7);
        let people: Vec<_> = (0..200).map(|_| faces.person()).collect();
        let apart: Vec<f32> = people
            .windows(2)
            .map(|pair| squared_distance(&pair[0], &pair[1]).sqrt())
            .collect();
        let mean = apart.iter().sum::<f32>() / apart.len() as f32;
        assert!((0.80..0.90).contains(&mean), "{mean}");
        assert!(people.iter().flatten().all(|v| v.abs() < 0.5));
        let again = faces.another_photo_of(&people[0], 0.3);
        let distance = squared_distance(&people[0], &again).sqrt();
        assert!((distance - 0.3).abs() < 1e-4, "{distance}");
    }
}
