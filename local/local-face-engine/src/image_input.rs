//! Getting the pixels of an `Image`: base64 bytes or an S3 object, JPEG or
//! PNG only, within Rekognition's size limits.

use std::io::Cursor;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use image::{ImageFormat, RgbImage};

use crate::api::{Image, S3Object};
use crate::error::ApiError;

/// Largest image Rekognition accepts as `Bytes`.
pub const MAX_BYTES_IMAGE: usize = 5 * 1024 * 1024;
/// Largest image Rekognition accepts from S3.
pub const MAX_S3_IMAGE: usize = 15 * 1024 * 1024;
/// Decoded images larger than this are refused, whatever their file size.
const MAX_PIXELS: u64 = 80_000_000;
/// Longest side Rekognition accepts.
const MAX_SIDE: u32 = 16_000;

/// Reads the image's encoded bytes from the request or from S3.
pub async fn load_bytes(image: Image, s3: &aws_sdk_s3::Client) -> Result<Vec<u8>, ApiError> {
    match (image.bytes, image.s3_object) {
        (Some(_), Some(_)) => Err(ApiError::InvalidParameter(
            "Image must have either Bytes or S3Object, not both".to_owned(),
        )),
        (None, None) => Err(ApiError::InvalidParameter(
            "Image must have Bytes or S3Object".to_owned(),
        )),
        (Some(encoded), None) => {
            // base64 grows 4/3; refuse before decoding what cannot fit.
            if encoded.len() > MAX_BYTES_IMAGE.div_ceil(3) * 4 + 4 {
                return Err(too_large(MAX_BYTES_IMAGE));
            }
            let bytes = STANDARD.decode(encoded.as_bytes()).map_err(|e| {
                ApiError::InvalidParameter(format!("Image.Bytes is not valid base64: {e}"))
            })?;
            if bytes.is_empty() {
                return Err(ApiError::InvalidParameter(
                    "Image.Bytes is empty".to_owned(),
                ));
            }
            if bytes.len() > MAX_BYTES_IMAGE {
                return Err(too_large(MAX_BYTES_IMAGE));
            }
            Ok(bytes)
        }
        (None, Some(object)) => fetch_s3(object, s3).await,
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::ImageTooLarge(format!(
        "Image size is too large; the limit is {} MB",
        limit / (1024 * 1024)
    ))
}

async fn fetch_s3(object: S3Object, s3: &aws_sdk_s3::Client) -> Result<Vec<u8>, ApiError> {
    let bucket = object
        .bucket
        .filter(|b| (3..=255).contains(&b.len()))
        .ok_or_else(|| {
            ApiError::InvalidParameter("S3Object.Bucket must be 3 to 255 characters".to_owned())
        })?;
    let key = object
        .name
        .filter(|n| (1..=1024).contains(&n.len()))
        .ok_or_else(|| {
            ApiError::InvalidParameter("S3Object.Name must be 1 to 1024 characters".to_owned())
        })?;
    let mut request = s3.get_object().bucket(&bucket).key(&key);
    if let Some(version) = object.version.filter(|v| !v.is_empty()) {
        request = request.version_id(version);
    }
    // Whatever S3 answers (a missing object or version, or access denied to
    // the caller), Rekognition reports that it could not read the object.
    let output = request.send().await.map_err(|error| {
        let code = match &error {
            SdkError::ServiceError(service) => service.err().code().unwrap_or("unknown").to_owned(),
            other => other.to_string(),
        };
        tracing::info!(%bucket, %key, code, "could not fetch the S3 object as the caller");
        ApiError::InvalidS3Object(
            "Unable to get object metadata from S3. Check object key, region and/or access permissions.".to_owned(),
        )
    })?;
    if output
        .content_length()
        .is_some_and(|length| length > MAX_S3_IMAGE as i64)
    {
        return Err(too_large(MAX_S3_IMAGE));
    }
    let mut body = output.body;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.try_next().await.map_err(|e| {
        tracing::info!(%bucket, %key, error = %e, "S3 object body failed");
        ApiError::InvalidS3Object(format!("Could not read s3://{bucket}/{key}"))
    })? {
        if bytes.len() + chunk.len() > MAX_S3_IMAGE {
            return Err(too_large(MAX_S3_IMAGE));
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.is_empty() {
        return Err(ApiError::InvalidImageFormat(format!(
            "s3://{bucket}/{key} is empty"
        )));
    }
    Ok(bytes)
}

/// Decodes JPEG or PNG into RGB. Blocking: call from a blocking thread.
pub fn decode(bytes: &[u8]) -> Result<RgbImage, ApiError> {
    let format = image::guess_format(bytes).map_err(|_| {
        ApiError::InvalidImageFormat(
            "Request has invalid image format: not a JPEG or PNG".to_owned(),
        )
    })?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png) {
        return Err(ApiError::InvalidImageFormat(format!(
            "Request has invalid image format: {format:?}; only JPEG and PNG are supported"
        )));
    }
    let mut reader = image::io::Reader::with_format(Cursor::new(bytes), format);
    let mut limits = image::io::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 4);
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => ApiError::ImageTooLarge(format!(
            "Image dimensions are too large; at most {MAX_SIDE} pixels a side"
        )),
        other => ApiError::InvalidImageFormat(format!("Request has invalid image format: {other}")),
    })?;
    Ok(apply_orientation(
        decoded.to_rgb8(),
        exif_orientation(bytes),
    ))
}

/// The EXIF `Orientation` of a photo (1–8), 1 when it has none.
///
/// Cameras store pixels as the sensor saw them and record the rotation in
/// EXIF; Rekognition applies it before detecting faces and reports boxes in
/// the upright image, and so does this engine.
pub fn exif_orientation(bytes: &[u8]) -> u32 {
    exif::Reader::new()
        .read_from_container(&mut Cursor::new(bytes))
        .ok()
        .and_then(|exif| {
            exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
                .and_then(|field| field.value.get_uint(0))
        })
        .filter(|orientation| (1..=8).contains(orientation))
        .unwrap_or(1)
}

/// Turns the pixels upright according to an EXIF orientation.
pub fn apply_orientation(image: RgbImage, orientation: u32) -> RgbImage {
    use image::imageops::{flip_horizontal, flip_vertical, rotate90, rotate180, rotate270};
    match orientation {
        2 => flip_horizontal(&image),
        3 => rotate180(&image),
        4 => flip_vertical(&image),
        5 => flip_horizontal(&rotate90(&image)),
        6 => rotate90(&image),
        7 => flip_horizontal(&rotate270(&image)),
        8 => rotate270(&image),
        _ => image,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_other_formats_are_refused() {
        assert!(matches!(
            decode(b"not an image at all"),
            Err(ApiError::InvalidImageFormat(_))
        ));
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
        assert!(matches!(decode(gif), Err(ApiError::InvalidImageFormat(_))));
        // A JPEG header with nothing after it.
        assert!(matches!(
            decode(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]),
            Err(ApiError::InvalidImageFormat(_))
        ));
    }

    #[test]
    fn png_decodes() {
        let image = RgbImage::from_pixel(3, 2, image::Rgb([10, 20, 30]));
        let mut bytes = Vec::new();
        image::DynamicImage::ImageRgb8(image.clone())
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .unwrap();
        assert_eq!(decode(&bytes).unwrap(), image);
    }

    /// A JPEG with an EXIF APP1 segment holding only `Orientation`.
    fn jpeg_with_orientation(image: &RgbImage, orientation: u16) -> Vec<u8> {
        let mut jpeg = Vec::new();
        image::DynamicImage::ImageRgb8(image.clone())
            .write_to(
                &mut Cursor::new(&mut jpeg),
                image::ImageOutputFormat::Jpeg(95),
            )
            .unwrap();
        let mut tiff = b"MM\0*\0\0\0\x08".to_vec();
        tiff.extend_from_slice(&1u16.to_be_bytes()); // one IFD entry
        tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_be_bytes());
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // padding, no next IFD
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&(app1.len() as u16 + 2).to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn exif_orientation_is_applied() {
        // Red on the left half, blue on the right, wider than tall.
        let sideways = RgbImage::from_fn(40, 20, |x, _| {
            if x < 20 {
                image::Rgb([255, 0, 0])
            } else {
                image::Rgb([0, 0, 255])
            }
        });
        let jpeg = jpeg_with_orientation(&sideways, 6);
        assert_eq!(exif_orientation(&jpeg), 6);
        let upright = decode(&jpeg).unwrap();
        assert_eq!(upright.dimensions(), (20, 40));
        // Turned clockwise, the left (red) half is now on top.
        assert!(upright.get_pixel(10, 5)[0] > 200 && upright.get_pixel(10, 5)[2] < 60);
        assert!(upright.get_pixel(10, 35)[2] > 200 && upright.get_pixel(10, 35)[0] < 60);

        let plain = jpeg_with_orientation(&sideways, 1);
        assert_eq!(decode(&plain).unwrap().dimensions(), (40, 20));
        assert_eq!(exif_orientation(b"no exif here"), 1);
    }

    #[test]
    fn every_orientation_lands_upright() {
        // A 2x3 image with distinct pixels; orientation n applied to the
        // image stored as EXIF n describes must give back the original.
        let original = RgbImage::from_fn(2, 3, |x, y| image::Rgb([(x * 10 + y) as u8, 0, 0]));
        use image::imageops::{flip_horizontal, flip_vertical, rotate90, rotate180, rotate270};
        let stored = [
            (1, original.clone()),
            (2, flip_horizontal(&original)),
            (3, rotate180(&original)),
            (4, flip_vertical(&original)),
            (5, flip_horizontal(&rotate90(&original))),
            (6, rotate270(&original)),
            (7, flip_horizontal(&rotate90(&rotate180(&original)))),
            (8, rotate90(&original)),
        ];
        for (orientation, image) in stored {
            assert_eq!(
                apply_orientation(image, orientation),
                original,
                "orientation {orientation}"
            );
        }
    }

    #[tokio::test]
    async fn bytes_limits_are_rekognitions() {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .build(),
        );
        let both = Image {
            bytes: Some("AA==".to_owned()),
            s3_object: Some(S3Object {
                bucket: Some("bucket".to_owned()),
                name: Some("key".to_owned()),
                version: None,
            }),
        };
        assert!(matches!(
            load_bytes(both, &s3).await,
            Err(ApiError::InvalidParameter(_))
        ));
        let big = Image {
            bytes: Some(STANDARD.encode(vec![0u8; MAX_BYTES_IMAGE + 1])),
            s3_object: None,
        };
        assert!(matches!(
            load_bytes(big, &s3).await,
            Err(ApiError::ImageTooLarge(_))
        ));
        let not_base64 = Image {
            bytes: Some("***".to_owned()),
            s3_object: None,
        };
        assert!(matches!(
            load_bytes(not_base64, &s3).await,
            Err(ApiError::InvalidParameter(_))
        ));
    }
}
