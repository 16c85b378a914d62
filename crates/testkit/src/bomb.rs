//! A decompression bomb: a PNG of a few hundred KB that declares, and
//! holds, more pixels than a function's memory can decode.

use std::io::Write;

/// A grey-scale PNG of `width` × `height` black pixels, written row by row
/// (its pixels are never all in memory here).
pub fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Best);
    let mut header = encoder.write_header().expect("a PNG header");
    let mut writer = header.stream_writer().expect("a stream writer");
    let row = vec![0_u8; width as usize];
    for _ in 0..height {
        writer.write_all(&row).expect("a row of pixels");
    }
    writer.finish().expect("the PNG's end");
    drop(header);
    bytes
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bomb_is_small_and_declares_its_pixels() {
        let bomb = super::png_bomb(9_000, 9_000);
        assert!(bomb.len() < 1024 * 1024, "{} bytes", bomb.len());
        let decoder = png::Decoder::new(bomb.as_slice());
        let info = decoder.read_info().unwrap();
        assert_eq!((info.info().width, info.info().height), (9_000, 9_000));
    }
}
