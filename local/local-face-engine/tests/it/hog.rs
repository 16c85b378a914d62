//! The face engine's HOG detector, scanning dlib's image pyramid on two
//! threads, finds what dlib's own detector finds, box for box: in every test
//! photo, in photos with several faces, at other sizes, and in images too
//! small to hold a face; and, on photos doubled first, what dlib finds when
//! asked to upsample once.

use std::path::PathBuf;

use dlib_face_recognition::{FaceDetector, FaceDetectorTrait, ImageMatrix, Rectangle};
use image::{RgbImage, imageops};
use local_face_engine::hog::{self, HogDetector};

fn test_photos() -> Vec<(String, RgbImage)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.local/test-images");
    let mut photos: Vec<(String, RgbImage)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run `make test-images`)", dir.display()))
        .map(|entry| entry.expect("a test photo").path())
        .filter(|path| path.extension().is_some_and(|e| e == "jpg" || e == "png"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let image = image::open(&path).expect("a photo").to_rgb8();
            (name, image)
        })
        .collect();
    photos.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(photos.len() >= 4, "the test photos are missing");
    photos
}

/// Photos side by side on a grey ground, each at its own height.
fn side_by_side(photos: &[&RgbImage]) -> RgbImage {
    let width = photos.iter().map(|p| p.width()).sum();
    let height = photos.iter().map(|p| p.height()).max().unwrap();
    let mut canvas = RgbImage::from_pixel(width, height, image::Rgb([128, 128, 128]));
    let mut left = 0;
    for photo in photos {
        imageops::overlay(&mut canvas, *photo, i64::from(left), 0);
        left += photo.width();
    }
    canvas
}

fn boxes(found: &[Rectangle]) -> Vec<(i64, i64, i64, i64)> {
    found
        .iter()
        .map(|r| (r.left, r.top, r.right, r.bottom))
        .collect()
}

#[test]
fn the_two_thread_scan_finds_what_dlib_finds() {
    let photos = test_photos();
    let mut images: Vec<(String, RgbImage)> = Vec::new();
    for (name, photo) in &photos {
        images.push((name.clone(), photo.clone()));
        let third = imageops::resize(
            photo,
            photo.width() / 3,
            photo.height() / 3,
            imageops::FilterType::Triangle,
        );
        images.push((format!("{name} at a third"), third));
    }
    let find = |name: &str| &photos.iter().find(|(n, _)| n == name).unwrap().1;
    let small_obama = imageops::resize(find("obama.jpg"), 260, 325, imageops::FilterType::Triangle);
    images.push((
        "obama, biden and a small obama side by side".into(),
        side_by_side(&[find("obama.jpg"), find("biden.jpg"), &small_obama]),
    ));
    images.push((
        "smaller than the detection window".into(),
        imageops::crop_imm(find("obama.jpg"), 300, 300, 60, 50).to_image(),
    ));

    let dlib = FaceDetector::new();
    let two_threads = HogDetector::new();
    let mut faces = 0;
    for (name, image) in &images {
        let matrix = ImageMatrix::from_image(image);
        let expected = boxes(&dlib.face_locations(&matrix));
        // Twice: the detector is reused from one image to the next.
        for _ in 0..2 {
            assert_eq!(
                boxes(&two_threads.face_locations(&matrix)),
                expected,
                "{name}"
            );
        }
        faces += expected.len();
    }
    assert!(
        faces >= photos.len() + 3,
        "the photos hold faces, and the composite three: {faces}"
    );
}

#[test]
fn the_doubled_scan_finds_what_dlib_finds_upsampling_once() {
    let photos = test_photos();
    let dlib = FaceDetector::new();
    let two_threads = HogDetector::new();
    let mut faces = 0;
    for (name, photo) in &photos {
        // At a third: the doubled photo is still smaller than the photo.
        let third = imageops::resize(
            photo,
            photo.width() / 3,
            photo.height() / 3,
            imageops::FilterType::Triangle,
        );
        let matrix = ImageMatrix::from_image(&third);
        let expected: Vec<Rectangle> = dlib
            .face_locations(&hog::pyramid_up(&matrix))
            .iter()
            .map(hog::rect_down)
            .collect();
        assert_eq!(
            boxes(&two_threads.face_locations_doubled(&matrix)),
            boxes(&expected),
            "{name} at a third"
        );
        faces += expected.len();
    }
    assert!(faces >= photos.len(), "the photos hold faces: {faces}");
}
