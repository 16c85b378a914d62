//! Photos are stored without what a phone writes into them, with their
//! pixels and orientation intact.

use bytes::Bytes;
use image::RgbImage;
use img_parts::png::{Png, PngChunk};
use registry::PhotoFormat;
use registry::metadata::strip_metadata;
use registry_testkit::{REVEALING_TEXT, jpeg_with_revealing_metadata};

fn plain_jpeg() -> Vec<u8> {
    let image = RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 120]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageOutputFormat::Jpeg(90))
        .unwrap();
    bytes.into_inner()
}

fn exif_fields(photo: &[u8]) -> Vec<exif::Tag> {
    exif::Reader::new()
        .read_from_container(&mut std::io::Cursor::new(photo))
        .map(|exif| exif.fields().map(|f| f.tag).collect())
        .unwrap_or_default()
}

fn holds(photo: &[u8], text: &str) -> bool {
    photo.windows(text.len()).any(|w| w == text.as_bytes())
}

#[test]
fn a_jpeg_keeps_its_pixels_and_orientation_and_nothing_else() {
    let photo = jpeg_with_revealing_metadata(&plain_jpeg(), 6);
    assert!(exif_fields(&photo).contains(&exif::Tag::GPSLatitudeRef));
    let stripped = strip_metadata(PhotoFormat::Jpeg, &photo)
        .unwrap()
        .expect("there was metadata");
    for text in REVEALING_TEXT {
        assert!(holds(&photo, text), "{text}");
        assert!(!holds(&stripped, text), "{text} is left");
    }
    assert_eq!(exif_fields(&stripped), [exif::Tag::Orientation]);
    let before = image::load_from_memory(&plain_jpeg()).unwrap().to_rgb8();
    let after = image::load_from_memory(&stripped).unwrap().to_rgb8();
    assert_eq!(before, after, "the same pixels");
    assert!(stripped.ends_with(&[0xFF, 0xD9]));
    assert_eq!(
        strip_metadata(PhotoFormat::Jpeg, &stripped),
        Ok(None),
        "stripped once is clean"
    );
}

#[test]
fn an_upright_jpeg_keeps_no_exif_and_a_clean_one_is_left_alone() {
    let plain = plain_jpeg();
    let stripped = strip_metadata(PhotoFormat::Jpeg, &jpeg_with_revealing_metadata(&plain, 1))
        .unwrap()
        .unwrap();
    assert!(exif_fields(&stripped).is_empty());
    assert_eq!(stripped, plain);
    assert_eq!(strip_metadata(PhotoFormat::Jpeg, &plain), Ok(None));
}

#[test]
fn segments_between_the_scans_of_a_progressive_jpeg_go_too() {
    // A second scan after the first, with a comment and XMP before it, as a
    // progressive JPEG may carry them.
    let plain = plain_jpeg();
    let end = plain.len() - 2;
    assert_eq!(&plain[end..], [0xFF, 0xD9]);
    let mut photo = plain[..end].to_vec();
    for (marker, text) in [
        (0xFE, &b"taken at home"[..]),
        (0xE1, &b"owner Jane Doe"[..]),
    ] {
        photo.extend_from_slice(&[0xFF, marker]);
        photo.extend_from_slice(&u16::try_from(text.len() + 2).unwrap().to_be_bytes());
        photo.extend_from_slice(text);
    }
    photo.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x01, 0x3F, 0x00]);
    photo.extend_from_slice(&[0x2A, 0x2B, 0xFF, 0xD9]);
    let stripped = strip_metadata(PhotoFormat::Jpeg, &photo)
        .unwrap()
        .expect("changed");
    for text in ["taken at home", "owner Jane Doe"] {
        assert!(
            !stripped.windows(text.len()).any(|w| w == text.as_bytes()),
            "{text} is left"
        );
    }
    assert!(
        stripped.ends_with(&[0x2A, 0x2B, 0xFF, 0xD9]),
        "the second scan stays"
    );
    assert_eq!(strip_metadata(PhotoFormat::Jpeg, &stripped).unwrap(), None);
}

#[test]
fn a_png_loses_its_text_and_exif_chunks() {
    let image = RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8, y as u8, 7]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageOutputFormat::Png)
        .unwrap();
    let clean = bytes.into_inner();
    assert_eq!(strip_metadata(PhotoFormat::Png, &clean), Ok(None));
    let mut png = Png::from_bytes(Bytes::from(clean.clone())).unwrap();
    let at = png.chunks().len() - 1;
    png.chunks_mut().insert(
        at,
        PngChunk::new(*b"tEXt", Bytes::from_static(b"Author\0Jane Doe")),
    );
    let revealing = png.encoder().bytes().to_vec();
    assert_eq!(
        strip_metadata(PhotoFormat::Png, &revealing),
        Ok(Some(clean))
    );
}

#[test]
fn a_file_whose_structure_cannot_be_read_is_said_so() {
    let error = strip_metadata(PhotoFormat::Jpeg, b"\xFF\xD8\xFF\xE1\xFF\xFF").unwrap_err();
    assert_eq!(error.format, "JPEG");
}
