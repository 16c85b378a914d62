//! Recognising a photo by its bytes.

use crate::key::PhotoFormat;

const JPEG_SOI: &[u8] = &[0xFF, 0xD8, 0xFF];
const JPEG_EOI: &[u8] = &[0xFF, 0xD9];
const PNG_SIGNATURE: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
/// A PNG ends with an empty IEND chunk: length 0, type, CRC.
const PNG_IEND: &[u8] = &[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82];

/// How many bytes of the end [`check_photo`] looks at for the end marker.
const TAIL_BYTES: usize = 12;

/// A photo's content hash as the registry records it: SHA-256, 64 lowercase
/// hexadecimal digits. S3's ETag cannot serve: it is not an MD5 of the
/// bytes for objects encrypted with KMS.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// A SHA-256 as given (64 hexadecimal digits, either case), as recorded.
pub fn parse_sha256_hex(text: &str) -> Option<String> {
    (text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| text.to_ascii_lowercase())
}

/// The format of a file, judged by its first bytes.
pub fn sniff(head: &[u8]) -> Option<PhotoFormat> {
    if head.starts_with(JPEG_SOI) {
        Some(PhotoFormat::Jpeg)
    } else if head.starts_with(PNG_SIGNATURE) {
        Some(PhotoFormat::Png)
    } else {
        None
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is {size} bytes; the largest accepted is {max} bytes")]
    TooLarge { size: u64, max: u64 },
    #[error("the file is not a JPEG or PNG image")]
    NotAnImage,
    #[error("the file is a {found} image but its name says {expected}")]
    WrongFormat {
        expected: &'static str,
        found: &'static str,
    },
    #[error("the {format} file is truncated")]
    Truncated { format: &'static str },
}

/// Checks a photo of `size` bytes: not empty, not too large, a complete
/// JPEG or PNG of the format its key names. `photo` is its bytes (none when
/// it was too large to read).
pub fn check_photo(expected: PhotoFormat, size: u64, photo: &[u8]) -> Result<(), PhotoError> {
    if size == 0 {
        return Err(PhotoError::Empty);
    }
    if size > crate::MAX_PHOTO_BYTES {
        return Err(PhotoError::TooLarge {
            size,
            max: crate::MAX_PHOTO_BYTES,
        });
    }
    let found = sniff(photo).ok_or(PhotoError::NotAnImage)?;
    let tail = &photo[photo.len().saturating_sub(TAIL_BYTES)..];
    if found != expected {
        return Err(PhotoError::WrongFormat {
            expected: expected.name(),
            found: found.name(),
        });
    }
    let complete = match found {
        // Encoders may pad after EOI; a missing EOI in the last bytes is a cut file.
        PhotoFormat::Jpeg => tail.windows(2).any(|w| w == JPEG_EOI),
        PhotoFormat::Png => tail.ends_with(PNG_IEND),
    };
    if !complete {
        return Err(PhotoError::Truncated {
            format: found.name(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const JPEG_HEAD: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F'];

    #[test]
    fn complete_photos_pass() {
        assert_eq!(
            check_photo(
                PhotoFormat::Jpeg,
                100,
                &[JPEG_HEAD, &[0; 10], JPEG_EOI].concat()
            ),
            Ok(())
        );
        assert_eq!(
            check_photo(PhotoFormat::Png, 100, &[PNG_SIGNATURE, PNG_IEND].concat()),
            Ok(())
        );
    }

    #[test]
    fn bad_photos_say_why() {
        assert_eq!(
            check_photo(PhotoFormat::Jpeg, 0, &[]),
            Err(PhotoError::Empty)
        );
        assert!(matches!(
            check_photo(PhotoFormat::Jpeg, crate::MAX_PHOTO_BYTES + 1, &[]),
            Err(PhotoError::TooLarge { .. })
        ));
        assert_eq!(
            check_photo(PhotoFormat::Jpeg, 5, b"hello"),
            Err(PhotoError::NotAnImage)
        );
        assert_eq!(
            check_photo(PhotoFormat::Png, 100, &[JPEG_HEAD, JPEG_EOI].concat()),
            Err(PhotoError::WrongFormat {
                expected: "PNG",
                found: "JPEG"
            })
        );
        assert_eq!(
            check_photo(PhotoFormat::Jpeg, 100, &[JPEG_HEAD, &[1, 2, 3, 4]].concat()),
            Err(PhotoError::Truncated { format: "JPEG" })
        );
        assert_eq!(
            check_photo(
                PhotoFormat::Png,
                100,
                &[PNG_SIGNATURE, &PNG_IEND[..8]].concat()
            ),
            Err(PhotoError::Truncated { format: "PNG" })
        );
    }
}
