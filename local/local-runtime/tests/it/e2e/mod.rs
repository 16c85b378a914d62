//! The registry end to end, through the gateway, the S3 store, the indexer
//! and the face engine, with real photos and a real database.

use crate::common;

mod access;
mod dead_letters;
mod execution;
mod identify;
mod import;
mod lifecycle;
mod monitoring;
mod openapi;
mod photos;
mod rectify;

use std::io::Cursor;
use std::time::Duration;

use aws_sdk_rekognition::primitives::Blob;
use aws_sdk_rekognition::types::Image;
use common::{Harness, test_image};
use registry::PhotoFormat;
use registry::metadata::strip_metadata;
use serde_json::{Value, json};

/// Generous for a loaded machine; the benchmark measures the real figure.
const INDEXING_WITHIN: Duration = Duration::from_secs(20);

async fn search(harness: &Harness, photo: &[u8], threshold: f32) -> Vec<(String, f32)> {
    let result = harness
        .rekognition()
        .await
        .search_faces_by_image()
        .collection_id(harness.collection())
        .image(Image::builder().bytes(Blob::new(photo.to_vec())).build())
        .face_match_threshold(threshold)
        .send()
        .await;
    match result {
        Ok(output) => output
            .face_matches()
            .iter()
            .filter_map(|m| Some((m.face()?.face_id()?.to_owned(), m.similarity()?)))
            .collect(),
        Err(error) => panic!(
            "SearchFacesByImage failed: {}",
            aws_sdk_rekognition::error::DisplayErrorContext(error)
        ),
    }
}

/// Barack Obama enrolled by `admin` from `obama.jpg`, once indexed: the
/// upload ticket and his record.
async fn enrol_obama(harness: &Harness, admin: &str) -> (Value, Value) {
    let ticket = harness
        .enrol(
            admin,
            "Obama",
            "Barack",
            &test_image("obama.jpg"),
            "image/jpeg",
        )
        .await;
    let person = harness
        .settle(admin, &ticket["personId"], INDEXING_WITHIN)
        .await;
    assert_eq!(person["status"], "indexed", "{person}");
    (ticket, person)
}

/// `POST /api/search` with `photo` (a JPEG); the status and the answer.
async fn identify(harness: &Harness, token: &str, photo: &[u8], query: &str) -> (u16, Value) {
    let request = harness
        .http
        .post(harness.url(&format!("/api/search{query}")))
        .bearer_auth(token)
        .header("content-type", "image/jpeg")
        .body(photo.to_vec());
    Harness::answer(request).await
}

/// obama.jpg and biden.jpg side by side: a photo with two faces.
fn two_faces() -> Vec<u8> {
    let left = image::load_from_memory(&test_image("obama.jpg")).expect("obama.jpg decodes");
    let right = image::load_from_memory(&test_image("biden.jpg")).expect("biden.jpg decodes");
    let height = left.height().max(right.height());
    let mut canvas = image::RgbImage::new(left.width() + right.width(), height);
    image::imageops::overlay(&mut canvas, &left.to_rgb8(), 0, 0);
    image::imageops::overlay(&mut canvas, &right.to_rgb8(), i64::from(left.width()), 0);
    encode_jpeg(&image::DynamicImage::ImageRgb8(canvas))
}

/// A landscape-like gradient: a real photo-sized JPEG without any face.
fn no_face() -> Vec<u8> {
    let canvas = image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x / 3) as u8, (y / 2) as u8, ((x + y) / 5) as u8])
    });
    encode_jpeg(&image::DynamicImage::ImageRgb8(canvas))
}

fn encode_jpeg(picture: &image::DynamicImage) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    picture
        .write_to(&mut bytes, image::ImageOutputFormat::Jpeg(90))
        .expect("JPEG encoding");
    bytes.into_inner()
}

/// The file names of a listing's people: their keys without the token.
fn file_names_of(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["key"].as_str())
                .map(|key| match key.split_once('.') {
                    Some((token, file)) if token.len() == 32 => file.to_owned(),
                    _ => key.to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn erase(harness: &Harness, token: &str, path: &str) -> (u16, Value) {
    Harness::answer(harness.http.delete(harness.url(path)).bearer_auth(token)).await
}

/// Enrols Barack `lastname` with `photo` (JPEG) and waits until indexed.
async fn enrol_indexed(harness: &Harness, token: &str, lastname: &str, photo: Vec<u8>) -> Value {
    let ticket = harness
        .enrol(token, lastname, "Barack", &photo, "image/jpeg")
        .await;
    let person = harness
        .settle(token, &ticket["personId"], INDEXING_WITHIN)
        .await;
    assert_eq!(person["status"], "indexed", "{person}");
    person
}
