//! What a photo carries besides its pixels. Cameras and phones write where
//! and when a photo was taken, with what device (GPS position, serial
//! numbers, owner names), in EXIF, XMP and IPTC segments, comments, text
//! chunks, and whole extra images (a phone's multi-picture and motion
//! photos, appended after the image's end). The registry keeps none of it:
//! a photo is stored with its pixels, its colour profile and, for a JPEG,
//! its orientation only, which Rekognition, the local engine and browsers
//! all read from EXIF, so that the face box and the photo shown agree.

use bytes::Bytes;
use img_parts::jpeg::{Jpeg, JpegSegment, markers};
use img_parts::png::Png;

use crate::key::PhotoFormat;

/// The EXIF `Orientation` tag.
const ORIENTATION_TAG: u16 = 0x0112;
/// PNG chunks that hold text, EXIF or a time: metadata, not pixels.
const PNG_METADATA_CHUNKS: [&[u8; 4]; 5] = [b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {format} file's structure cannot be read: {reason}")]
pub struct UnreadablePhoto {
    pub format: &'static str,
    pub reason: String,
}

/// The photo without its metadata, or `None` when it carries none (it is
/// then stored as it is). Stripping a stripped photo changes nothing.
pub fn strip_metadata(
    format: PhotoFormat,
    photo: &[u8],
) -> Result<Option<Vec<u8>>, UnreadablePhoto> {
    let unreadable = |reason: String| UnreadablePhoto {
        format: format.name(),
        reason,
    };
    let stripped = match format {
        PhotoFormat::Jpeg => strip_jpeg(photo).map_err(unreadable)?,
        PhotoFormat::Png => strip_png(photo).map_err(unreadable)?,
    };
    Ok((stripped != photo).then_some(stripped))
}

fn strip_jpeg(photo: &[u8]) -> Result<Vec<u8>, String> {
    let orientation = orientation(photo);
    let mut jpeg = Jpeg::from_bytes(Bytes::copy_from_slice(photo)).map_err(|e| e.to_string())?;
    let segments = jpeg.segments_mut();
    segments.retain(keeps);
    // The last segment read is the first scan, whose data runs to the end
    // of the file: what lies between later scans and after the image's
    // end is not the image.
    if let Some(scan) = segments.pop() {
        let header = scan.contents().clone();
        let scans = scans(&scan.encoder().bytes()).ok_or("the image has no end marker")?;
        // Marker and length, then the header: the rest is the scans, end included.
        let data = Bytes::from(scans).slice(4 + header.len()..);
        segments.push(JpegSegment::new_with_entropy(markers::SOS, header, data));
    }
    if let Some(orientation) = orientation.filter(|o| *o != 1) {
        // Right after the JFIF header, where EXIF belongs.
        let at = segments
            .iter()
            .take_while(|s| s.marker() == markers::APP0)
            .count();
        segments.insert(
            at,
            JpegSegment::new_with_contents(markers::APP1, orientation_exif(orientation)),
        );
    }
    Ok(jpeg.encoder().bytes().to_vec())
}

/// Segments that are the image (tables, frame, scans), its colour (ICC
/// profile, Adobe's colour transform) or the JFIF header; not the
/// application segments that hold metadata, nor comments.
fn keeps(segment: &JpegSegment) -> bool {
    let contents = segment.contents();
    match segment.marker() {
        markers::APP0 => contents.starts_with(b"JFIF\0"),
        markers::APP2 => contents.starts_with(b"ICC_PROFILE\0"),
        markers::APP14 => contents.starts_with(b"Adobe"),
        markers::COM => false,
        marker => !(markers::APP0..=markers::APP15).contains(&marker),
    }
}

/// The image's scans in `jpeg` (a first scan and all that follows), up to
/// and including its end marker, without the application segments and
/// comments a progressive JPEG may hold between its scans. Scan data runs
/// to the next marker that is neither a stuffed `FF 00` nor a restart;
/// segments between scans are read by their length, since their contents
/// may hold any bytes. `None` without an end marker.
fn scans(jpeg: &[u8]) -> Option<Vec<u8>> {
    let mut kept = Vec::with_capacity(jpeg.len());
    let mut at = 0;
    loop {
        // A segment: marker, then a big-endian length that counts itself.
        if jpeg.get(at)? != &0xFF {
            return None;
        }
        let marker = *jpeg.get(at + 1)?;
        if marker == markers::EOI {
            kept.extend_from_slice(&jpeg[at..at + 2]);
            return Some(kept);
        }
        let length = u16::from_be_bytes([*jpeg.get(at + 2)?, *jpeg.get(at + 3)?]) as usize;
        let segment = jpeg.get(at..at + 2 + length)?;
        let metadata = marker == markers::COM || (markers::APP0..=markers::APP15).contains(&marker);
        if !metadata {
            kept.extend_from_slice(segment);
        }
        at += segment.len();
        if marker != markers::SOS {
            continue;
        }
        // Scan data, up to the next real marker.
        let data = at;
        loop {
            let byte = *jpeg.get(at)?;
            if byte == 0xFF {
                match *jpeg.get(at + 1)? {
                    0x00 | 0xD0..=0xD7 => at += 2,
                    // Fill bytes before a marker.
                    0xFF => at += 1,
                    _ => break,
                }
            } else {
                at += 1;
            }
        }
        kept.extend_from_slice(&jpeg[data..at]);
    }
}

/// The EXIF orientation of a JPEG (1–8), if it has one.
fn orientation(photo: &[u8]) -> Option<u32> {
    let exif = exif::Reader::new()
        .read_from_container(&mut std::io::Cursor::new(photo))
        .ok()?;
    exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)?
        .value
        .get_uint(0)
        .filter(|o| (1..=8).contains(o))
}

/// An APP1 EXIF segment holding the orientation and nothing else: a
/// big-endian TIFF header and one IFD with one SHORT entry.
fn orientation_exif(orientation: u32) -> Bytes {
    let mut segment = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
    segment.extend_from_slice(&1u16.to_be_bytes()); // one entry
    segment.extend_from_slice(&ORIENTATION_TAG.to_be_bytes());
    segment.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    segment.extend_from_slice(&1u32.to_be_bytes()); // one value
    segment.extend_from_slice(&(orientation as u16).to_be_bytes());
    segment.extend_from_slice(&[0, 0]); // padding to four bytes
    segment.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    Bytes::from(segment)
}

fn strip_png(photo: &[u8]) -> Result<Vec<u8>, String> {
    let mut png = Png::from_bytes(Bytes::copy_from_slice(photo)).map_err(|e| e.to_string())?;
    png.chunks_mut()
        .retain(|chunk| !PNG_METADATA_CHUNKS.contains(&&chunk.kind()));
    Ok(png.encoder().bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scans_end_at_the_images_own_end_marker_without_what_lies_between() {
        let mut jpeg = vec![0xFF, markers::SOS, 0, 3, 0x01];
        // Scan data: a stuffed FF 00 and a restart marker are data.
        jpeg.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56]);
        // A table between scans whose contents hold FF D9.
        jpeg.extend_from_slice(&[0xFF, markers::DHT, 0, 5, 0xFF, 0xD9, 0x00]);
        let table_end = jpeg.len();
        // Between the scans of a progressive JPEG: a comment and an XMP segment.
        jpeg.extend_from_slice(&[0xFF, markers::COM, 0, 6]);
        jpeg.extend_from_slice(b"home");
        jpeg.extend_from_slice(&[0xFF, markers::APP1, 0, 5]);
        jpeg.extend_from_slice(b"xmp");
        let second_scan = jpeg.len();
        jpeg.extend_from_slice(&[0xFF, markers::SOS, 0, 3, 0x02, 0x78, 0xFF, 0xFF]);
        jpeg.extend_from_slice(&[0xD9]);
        let end = jpeg.len();
        jpeg.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xD9]);
        let mut expected = jpeg[..table_end].to_vec();
        expected.extend_from_slice(&jpeg[second_scan..end]);
        assert_eq!(scans(&jpeg), Some(expected));
        assert_eq!(scans(&jpeg[..end - 1]), None, "no end marker");
    }
}
