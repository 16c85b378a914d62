//! Photos that carry what a phone writes into them: an EXIF segment with a
//! GPS position and a camera serial number, XMP naming an owner, an IPTC
//! block, a comment, and a second picture appended after the image's end.

/// Text each of those holds: none of it may be left in a stored photo.
pub const REVEALING_TEXT: [&str; 5] = [
    "SN-8H3K2",
    "owner Jane Doe",
    "IPTC by Jane",
    "taken at home",
    "appended picture",
];

/// `jpeg` (a whole JPEG) with all of the above, and EXIF `orientation`.
pub fn jpeg_with_revealing_metadata(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    assert!(jpeg.starts_with(&[0xFF, 0xD8]), "not a JPEG");
    let segments: [(u8, Vec<u8>); 4] = [
        (0xE1, revealing_exif(orientation)),
        (
            0xE1,
            b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>owner Jane Doe</x:xmpmeta>".to_vec(),
        ),
        (0xED, b"Photoshop 3.0\0IPTC by Jane".to_vec()),
        (0xFE, b"taken at home".to_vec()),
    ];
    let mut photo = jpeg[..2].to_vec();
    for (marker, contents) in segments {
        photo.extend_from_slice(&[0xFF, marker]);
        photo.extend_from_slice(
            &u16::try_from(contents.len() + 2)
                .expect("short")
                .to_be_bytes(),
        );
        photo.extend_from_slice(&contents);
    }
    photo.extend_from_slice(&jpeg[2..]);
    // Phones append further pictures (with their own EXIF) after the end.
    photo.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x12]);
    photo.extend_from_slice(b"appended picture");
    photo.extend_from_slice(&[0xFF, 0xD9]);
    photo
}

/// EXIF, big-endian TIFF: IFD0 with the orientation, a body serial number
/// and a pointer to a GPS IFD holding a latitude reference.
fn revealing_exif(orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&3u16.to_be_bytes());
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    // BodySerialNumber, ASCII, 9 bytes at offset 50.
    tiff.extend_from_slice(&[0xA4, 0x31, 0, 2, 0, 0, 0, 9, 0, 0, 0, 50]);
    // GPSInfo IFD pointer at offset 60.
    tiff.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 60]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    debug_assert_eq!(tiff.len(), 50);
    tiff.extend_from_slice(b"SN-8H3K2\0\0");
    // The GPS IFD: GPSLatitudeRef "N".
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    let mut segment = b"Exif\0\0".to_vec();
    segment.extend_from_slice(&tiff);
    segment
}
