//! JPEG encoding in parallel strips.
//!
//! A JPEG's entropy-coded data can be cut into restart intervals: at each restart marker
//! (`RST0` to `RST7`, in turn) the decoder resets its DC predictions, so every interval
//! is coded independently of the others. This encodes horizontal strips of whole MCU
//! rows as separate JPEGs on separate threads (same quality, sampling and standard
//! tables), then joins their coded data with restart markers under one header that
//! declares the full height and the interval (a `DRI` segment). The result decodes to
//! exactly the pixels a single-threaded encode gives.

use image::RgbaImage;
use rayon::prelude::*;

use crate::error::{Error, Result};

/// Rows per strip: 16 MCU rows of 4:2:0 (16 pixels tall). Fixed, so the bytes written do
/// not depend on the machine's core count.
const STRIP_ROWS: u32 = 256;

/// Encodes opaque RGBA (the alpha byte is skipped) as a baseline JPEG with 4:2:0 chroma at
/// `quality` (1 to 100), in parallel strips when the image is tall enough.
/// `E_VALIDATION` when a side is over 65535 pixels (JPEG's limit).
pub(crate) fn encode_rgba(img: &RgbaImage, quality: u8) -> Result<Vec<u8>> {
    let (Ok(width), Ok(height)) = (u16::try_from(img.width()), u16::try_from(img.height())) else {
        return Err(Error::validation(
            "photo",
            format!(
                "a JPEG is at most 65535 pixels on a side; this mockup is {} x {}: use PNG or a smaller photo",
                img.width(),
                img.height()
            ),
        ));
    };
    // MCUs (16 x 16 pixels) per row; the restart interval counts MCUs and is a u16.
    let mcus_per_row = u32::from(width).div_ceil(16).max(1);
    let strip_rows = (STRIP_ROWS / 16)
        .min(u32::from(u16::MAX) / mcus_per_row)
        .max(1)
        * 16;
    if u32::from(height) <= strip_rows || width == 0 {
        return encode_whole(img.as_raw(), width, height, quality);
    }
    let row_bytes = img.width() as usize * 4;
    let strips: Vec<Vec<u8>> = img
        .as_raw()
        .par_chunks(strip_rows as usize * row_bytes)
        .map(|strip| encode_whole(strip, width, (strip.len() / row_bytes) as u16, quality))
        .collect::<Result<_>>()?;
    let interval = (strip_rows / 16 * mcus_per_row) as u16;
    match join_strips(&strips, height, interval) {
        Some(jpeg) => Ok(jpeg),
        // Not the layout this module writes (a change in the encoder): one thread.
        None => encode_whole(img.as_raw(), width, height, quality),
    }
}

/// One JPEG of `height` rows of RGBA `data`.
fn encode_whole(data: &[u8], width: u16, height: u16, quality: u8) -> Result<Vec<u8>> {
    // Roughly what a q90 photo needs; grows if not.
    let mut bytes = Vec::with_capacity(data.len() / 16);
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, quality);
    // 4:2:0 chroma, as libjpeg, sharp and browsers' own encoders default to.
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    encoder
        .encode(data, width, height, jpeg_encoder::ColorType::Rgba)
        .map_err(|e| Error::validation("photo", format!("cannot encode JPEG: {e}")))?;
    Ok(bytes)
}

/// The parts of one encoded strip.
struct Parts<'a> {
    /// Everything from SOI up to (not including) the SOS marker.
    header: &'a [u8],
    /// Where the frame height sits in `header`.
    height_at: usize,
    /// The SOS segment, marker included.
    scan_header: &'a [u8],
    /// The entropy-coded data (byte-stuffed, padded with 1 bits), before EOI.
    coded: &'a [u8],
}

/// Splits a JPEG written by [`encode_whole`] into its parts; `None` when its layout is
/// not the expected one.
fn parts(jpeg: &[u8]) -> Option<Parts<'_>> {
    if jpeg.len() < 4 || jpeg[..2] != [0xFF, 0xD8] || jpeg[jpeg.len() - 2..] != [0xFF, 0xD9] {
        return None;
    }
    let mut at = 2;
    let mut height_at = None;
    loop {
        if at + 4 > jpeg.len() || jpeg[at] != 0xFF {
            return None;
        }
        let marker = jpeg[at + 1];
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        let end = at + 2 + len;
        if end > jpeg.len() - 2 {
            return None;
        }
        match marker {
            // SOF0: length, precision, height, width, ...
            0xC0 => height_at = Some(at + 5),
            0xDA => {
                return Some(Parts {
                    header: &jpeg[..at],
                    height_at: height_at?,
                    scan_header: &jpeg[at..end],
                    coded: &jpeg[end..jpeg.len() - 2],
                })
            }
            _ => {}
        }
        at = end;
    }
}

/// Joins strips (each a whole JPEG of `interval` MCUs but the last) into one JPEG of
/// `height` rows with restart markers between them.
fn join_strips(strips: &[Vec<u8>], height: u16, interval: u16) -> Option<Vec<u8>> {
    let all = strips
        .iter()
        .map(|s| parts(s))
        .collect::<Option<Vec<_>>>()?;
    let first = &all[0];
    let total: usize = all.iter().map(|p| p.coded.len() + 2).sum();
    let mut out = Vec::with_capacity(first.header.len() + 6 + first.scan_header.len() + total);
    out.extend_from_slice(first.header);
    out[first.height_at..first.height_at + 2].copy_from_slice(&height.to_be_bytes());
    // DRI: the restart interval in MCUs.
    out.extend_from_slice(&[0xFF, 0xDD, 0x00, 0x04]);
    out.extend_from_slice(&interval.to_be_bytes());
    out.extend_from_slice(first.scan_header);
    for (i, part) in all.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(&[0xFF, 0xD0 + ((i - 1) % 8) as u8]);
        }
        out.extend_from_slice(part.coded);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A busy opaque test image: gradients and a checkerboard, so every block differs.
    fn busy(w: u32, h: u32) -> RgbaImage {
        RgbaImage::from_fn(w, h, |x, y| {
            image::Rgba([
                (x * 255 / w) as u8,
                (y * 255 / h) as u8,
                if (x / 7 + y / 5) % 2 == 0 { 30 } else { 220 },
                255,
            ])
        })
    }

    fn decode(jpeg: &[u8]) -> image::RgbImage {
        image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
            .expect("decodes")
            .to_rgb8()
    }

    #[test]
    fn strips_decode_to_exactly_the_single_encode() {
        // Heights: a whole number of strips, a partial last strip, a partial last MCU row.
        for (w, h) in [(300, 1024), (301, 1000), (129, 777)] {
            let img = busy(w, h);
            let parallel = encode_rgba(&img, 90).unwrap();
            let single = encode_whole(img.as_raw(), w as u16, h as u16, 90).unwrap();
            assert_ne!(parallel, single, "{w} x {h}: should have been split");
            // restart markers present, in turn
            let strips = (h as usize).div_ceil(STRIP_ROWS as usize);
            for i in 0..strips - 1 {
                let marker = [0xFF, 0xD0 + (i % 8) as u8];
                assert!(parallel.windows(2).any(|m| m == marker), "RST{}", i % 8);
            }
            let (a, b) = (decode(&parallel), decode(&single));
            assert_eq!(a.dimensions(), (w, h));
            assert!(
                a == b,
                "{w} x {h}: pixels differ from the single-threaded encode"
            );
        }
    }

    #[test]
    fn an_empty_image_is_an_error_not_a_panic() {
        for (w, h) in [(0, 300), (300, 0), (0, 0)] {
            let err = encode_rgba(&RgbaImage::new(w, h), 90).unwrap_err();
            assert_eq!(err.code(), "E_VALIDATION", "{w} x {h}");
        }
    }

    #[test]
    fn short_images_are_encoded_whole() {
        let img = busy(64, 100);
        assert_eq!(
            encode_rgba(&img, 80).unwrap(),
            encode_whole(img.as_raw(), 64, 100, 80).unwrap()
        );
    }

    #[test]
    fn an_unexpected_layout_is_refused_not_a_panic() {
        assert!(parts(b"not a jpeg").is_none());
        assert!(parts(&[0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x40, 0xFF, 0xD9]).is_none());
        // a scan without a frame header before it
        assert!(parts(&[0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0x12, 0xFF, 0xD9]).is_none());
        let jpeg = encode_whole(busy(32, 32).as_raw(), 32, 32, 90).unwrap();
        let p = parts(&jpeg).expect("our own layout");
        assert_eq!(
            &p.header[p.height_at..p.height_at + 2],
            &32u16.to_be_bytes()
        );
    }
}
