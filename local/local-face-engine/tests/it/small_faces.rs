//! Faces down to Rekognition's smallest: 40 × 40 px in a 1920 × 1080 photo
//! (Amazon Rekognition's guidelines and quotas), so that the registry
//! decides the same in both runtimes (one face, several, none). Photos are
//! made by pasting the test photos, scaled so that their face is 40, 60 or
//! 80 px wide, onto a 1920 × 1080 ground.

use std::path::PathBuf;

use dlib_face_recognition::ImageMatrix;
use image::{RgbImage, imageops};
use local_face_engine::hog::HogDetector;
use local_face_engine::vision::{FaceModels, Scan, smallest_face};

fn local(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../.local")
        .join(name)
}

fn photo(name: &str) -> RgbImage {
    image::open(local("test-images").join(name))
        .unwrap_or_else(|e| panic!("{name}: {e} (run `make test-images`)"))
        .to_rgb8()
}

fn models() -> FaceModels {
    FaceModels::load(&local("models"), false).expect("the models (run `make models`)")
}

/// `photo` scaled so that its one face is `face` px wide.
fn with_face_of(photo: &RgbImage, face: f64) -> RgbImage {
    let found = HogDetector::new().face_locations(&ImageMatrix::from_image(photo));
    assert_eq!(found.len(), 1, "one face in the photo");
    let width = (found[0].right - found[0].left + 1) as f64;
    let scale = face / width;
    imageops::resize(
        photo,
        (f64::from(photo.width()) * scale).round() as u32,
        (f64::from(photo.height()) * scale).round() as u32,
        imageops::FilterType::Lanczos3,
    )
}

/// A 1920 × 1080 grey ground with `photos` at the given places.
fn ground(photos: &[(&RgbImage, i64, i64)]) -> RgbImage {
    let mut canvas = RgbImage::from_pixel(1920, 1080, image::Rgb([128, 128, 128]));
    for (photo, x, y) in photos {
        imageops::overlay(&mut canvas, *photo, *x, *y);
    }
    canvas
}

fn face_widths(models: &FaceModels, image: &RgbImage) -> Vec<f64> {
    models
        .analyze(image, Scan::Hog, |_| Vec::new())
        .faces
        .iter()
        .map(|f| f.bounding_box.width)
        .collect()
}

#[test]
fn rekognitions_smallest_face_grows_with_the_photo_beyond_1920_by_1080() {
    assert_eq!(smallest_face(1920, 1080), 40.0);
    assert_eq!(smallest_face(640, 480), 40.0);
    assert_eq!(smallest_face(1080, 1920), 40.0);
    assert_eq!(smallest_face(3840, 2160), 80.0);
    assert!((smallest_face(1434, 2333) - 40.0 * 1434.0 / 1080.0).abs() < 1e-9);
}

#[test]
fn faces_of_40_60_and_80_px_are_found_in_a_1920_by_1080_photo() {
    let models = models();
    let obama = photo("obama.jpg");
    let plain = HogDetector::new();
    for size in [40.0, 60.0, 80.0] {
        let small = with_face_of(&obama, size);
        let scene = ground(&[(&small, 900, 400)]);
        let widths = face_widths(&models, &scene);
        assert_eq!(widths.len(), 1, "a face of {size} px: {widths:?}");
        assert!(
            (widths[0] - size).abs() <= size * 0.3,
            "a face of {size} px found {} px wide",
            widths[0]
        );
        // dlib's window is 80 px: without the doubling, the smallest face
        // is not found at all.
        if size == 40.0 {
            let unscaled = plain.face_locations(&ImageMatrix::from_image(&scene));
            assert!(unscaled.is_empty(), "40 px without doubling");
        }
    }
}

#[test]
fn a_group_photo_with_a_small_second_face_holds_two_faces() {
    let models = models();
    let obama = with_face_of(&photo("obama.jpg"), 200.0);
    let biden = with_face_of(&photo("biden.jpg"), 50.0);
    let scene = ground(&[(&obama, 300, 100), (&biden, 1400, 500)]);
    let mut widths = face_widths(&models, &scene);
    widths.sort_by(f64::total_cmp);
    assert_eq!(widths.len(), 2, "{widths:?}");
    assert!(widths[0] < 70.0 && widths[1] > 150.0, "{widths:?}");
}
