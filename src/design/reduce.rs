//! Decoding a PNG design straight to a reduced size ("shrink on load").
//!
//! A photo mockup shows a 4500 x 5400 design a few hundred pixels tall. Decoding it
//! fully means writing ~100 MB of pixels, scanning them for ink, premultiplying them and
//! then shrinking them. Here the rows are consumed as the PNG decoder produces them: each
//! row is premultiplied, its ink bounds noted, and summed into a design reduced by a whole
//! `factor` (each reduced pixel the mean of a `factor` x `factor` block, a box filter).
//! The Lanczos3 resize that fits the design then starts from the reduced image. The box
//! stage only ever shrinks by at most half the total ratio (see [`reduction_factor`]), so
//! the final Lanczos3 stage still does the anti-aliasing, as libvips' shrink-on-load does.
//!
//! Only 8-bit, non-interlaced PNGs without EXIF data take this path (the usual print
//! design); [`decode_png_reduced`] returns `None` for the others and the caller decodes
//! them fully.

use std::io::Cursor;

use fast_image_resize as fr;
use image::RgbaImage;

use super::decode::{check_pixels, DecodeLimits};
use crate::error::{Error, Result};

/// A design decoded at `1 / factor` of its size, premultiplied.
pub(crate) struct ReducedRaster {
    /// Premultiplied RGBA, `ceil(w / factor)` x `ceil(h / factor)`: each pixel the mean of
    /// its block of design pixels (partial blocks at the right and bottom edges average
    /// the pixels they have).
    pub premultiplied: RgbaImage,
    /// The bounds `[x, y, w, h]` of the design's non-transparent pixels, in the design's
    /// own pixels; `None` when every pixel is transparent.
    pub ink: Option<[u32; 4]>,
    /// The design's own size in pixels.
    pub design_px: (u32, u32),
}

/// The box-reduction factor that keeps at least twice the pixels a fit at `scale`
/// (destination pixels per design pixel, the larger axis) needs: 1 when reducing would
/// not leave that margin.
pub(crate) fn reduction_factor(scale: f64) -> u32 {
    if !(scale.is_finite() && scale > 0.0) {
        return 1;
    }
    (1.0 / (2.0 * scale)).floor().clamp(1.0, 64.0) as u32
}

/// Decodes `bytes` (a PNG) reduced by `factor` (2 or more). `Ok(None)` when this PNG is
/// not one the streaming path handles (interlaced, 16-bit, with EXIF data that may rotate
/// it): decode it fully instead. Errors as [`super::decode_design`] gives them:
/// `E_IMAGE_TOO_LARGE` (from the header, before any pixel is decoded) and
/// `E_IMAGE_DECODE` for truncated or corrupt data. Never panics on any input.
pub(crate) fn decode_png_reduced(
    bytes: &[u8],
    limits: &DecodeLimits,
    factor: u32,
) -> Result<Option<ReducedRaster>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode_unguarded(bytes, limits, factor.max(2))
    }))
    .unwrap_or_else(|_| {
        Err(Error::image_decode(
            "the PNG is corrupt: its decoder failed on malformed data",
        ))
    })
}

fn decode_unguarded(
    bytes: &[u8],
    limits: &DecodeLimits,
    factor: u32,
) -> Result<Option<ReducedRaster>> {
    let (w, h) = super::decode::raster_dimensions(bytes, super::DesignFormat::Png)?;
    check_pixels(w, h, limits, "image")?;
    // The same allocation budget the whole decode gets.
    let budget = super::decode::alloc_budget(limits.max_pixels);
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: usize::try_from(budget).unwrap_or(usize::MAX),
        },
    );
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(map_err)?;
    let info = reader.info();
    if info.interlaced || info.bit_depth == png::BitDepth::Sixteen || info.exif_metadata.is_some() {
        return Ok(None);
    }
    let channels = match reader.output_color_type() {
        (png::ColorType::Grayscale, png::BitDepth::Eight) => 1,
        (png::ColorType::GrayscaleAlpha, png::BitDepth::Eight) => 2,
        (png::ColorType::Rgb, png::BitDepth::Eight) => 3,
        (png::ColorType::Rgba, png::BitDepth::Eight) => 4,
        _ => return Ok(None),
    };

    let k = factor as usize;
    let (wu, hu) = (w as usize, h as usize);
    let (rw, rh) = (wu.div_ceil(k), hu.div_ceil(k));
    let mut reduced = vec![0u8; rw * rh * 4];
    // Per design column and channel, the sum of the current block row's rows so far
    // (at most 64 x 255, so u16 is enough).
    let mut column_sums = vec![0u16; wu * 4];
    let mut rgba = vec![0u8; wu * 4];
    let mut decoded = vec![0u8; if channels == 4 { 0 } else { wu * channels }];
    let mut ink = InkBounds::default();
    let mul_div = fr::MulDiv::new();
    for y in 0..hu {
        let target = if channels == 4 {
            &mut rgba
        } else {
            &mut decoded
        };
        if reader.read_row(target).map_err(map_err)?.is_none() {
            return Err(Error::image_decode(format!(
                "the PNG ends after {y} of its {h} rows; the file is truncated or corrupt"
            )));
        }
        if channels != 4 {
            expand_to_rgba(&decoded, channels, &mut rgba);
        }
        ink.add_row(y as u32, &rgba);
        let mut view = fr::images::Image::from_slice_u8(w, 1, &mut rgba, fr::PixelType::U8x4)
            .expect("the row buffer is exactly w * 4 bytes");
        mul_div
            .multiply_alpha_inplace(&mut view)
            .expect("U8x4 is supported");
        for (sum, &v) in column_sums.iter_mut().zip(&rgba) {
            *sum += u16::from(v);
        }
        let block_row = y / k;
        if (y + 1) % k == 0 || y + 1 == hu {
            let rows = (y + 1 - block_row * k) as f32;
            let out = &mut reduced[block_row * rw * 4..][..rw * 4];
            for (block, px) in column_sums.chunks(k * 4).zip(out.chunks_exact_mut(4)) {
                let mut total = [0u32; 4];
                for column in block.chunks_exact(4) {
                    for c in 0..4 {
                        total[c] += u32::from(column[c]);
                    }
                }
                let scale = 1.0 / ((block.len() / 4) as f32 * rows);
                for c in 0..4 {
                    px[c] = (total[c] as f32 * scale + 0.5) as u8;
                }
            }
            column_sums.fill(0);
        }
    }
    // Past the last row: the rest of the image data and its checksums are read, as a
    // whole decode does, so a damaged tail fails here too instead of passing unseen.
    let target = if channels == 4 {
        &mut rgba
    } else {
        &mut decoded
    };
    if reader.read_row(target).map_err(map_err)?.is_some() {
        return Err(Error::image_decode(
            "the PNG has more rows than its header says; the file is corrupt",
        ));
    }
    let premultiplied =
        RgbaImage::from_raw(rw as u32, rh as u32, reduced).expect("buffer is rw * rh * 4");
    Ok(Some(ReducedRaster {
        premultiplied,
        ink: ink.bounds(),
        design_px: (w, h),
    }))
}

/// Writes one decoded row (`channels` bytes a pixel: grey, grey + alpha, RGB or RGBA) as
/// straight RGBA into `out`.
fn expand_to_rgba(row: &[u8], channels: usize, out: &mut [u8]) {
    match channels {
        4 => out.copy_from_slice(row),
        3 => {
            for (o, p) in out.chunks_exact_mut(4).zip(row.chunks_exact(3)) {
                o.copy_from_slice(&[p[0], p[1], p[2], 255]);
            }
        }
        2 => {
            for (o, p) in out.chunks_exact_mut(4).zip(row.chunks_exact(2)) {
                o.copy_from_slice(&[p[0], p[0], p[0], p[1]]);
            }
        }
        _ => {
            for (o, &g) in out.chunks_exact_mut(4).zip(row) {
                o.copy_from_slice(&[g, g, g, 255]);
            }
        }
    }
}

/// The bounds of the pixels that are not fully transparent, gathered row by row.
#[derive(Default)]
struct InkBounds {
    /// `(left, top, right, bottom)`, inclusive.
    seen: Option<(u32, u32, u32, u32)>,
}

impl InkBounds {
    fn add_row(&mut self, y: u32, rgba: &[u8]) {
        let first = |part: &[u8]| part.chunks_exact(4).position(|p| p[3] != 0);
        let last = |part: &[u8]| part.chunks_exact(4).rposition(|p| p[3] != 0);
        match self.seen {
            None => {
                if let (Some(l), Some(r)) = (first(rgba), last(rgba)) {
                    self.seen = Some((l as u32, y, r as u32, y));
                }
            }
            Some((l, t, r, b)) => {
                // Only the parts outside the bounds so far need an exact search; the
                // inside only needs to know whether it has ink (a fast vector scan).
                let (l, r) = (l as usize, r as usize);
                let (left, rest) = rgba.split_at(l * 4);
                let (middle, right) = rest.split_at((r + 1 - l) * 4);
                let new_l = if has_ink(left) { first(left) } else { None };
                let new_r = if has_ink(right) {
                    last(right).map(|x| r + 1 + x)
                } else {
                    None
                };
                if new_l.is_some() || new_r.is_some() || has_ink(middle) {
                    let l = new_l.unwrap_or(l) as u32;
                    let r = new_r.unwrap_or(r) as u32;
                    self.seen = Some((l, t, r, y));
                } else {
                    self.seen = Some((l as u32, t, r as u32, b));
                }
            }
        }
    }

    fn bounds(&self) -> Option<[u32; 4]> {
        self.seen.map(|(l, t, r, b)| [l, t, r - l + 1, b - t + 1])
    }
}

/// Whether any pixel of straight RGBA `pixels` is not fully transparent.
fn has_ink(pixels: &[u8]) -> bool {
    // Two pixels a word, OR-ed together: the alpha bytes are the words' top bytes.
    let pairs = pixels.chunks_exact(8);
    let rest = pairs.remainder();
    let bits = pairs.fold(0u64, |acc, p| {
        acc | u64::from_le_bytes(p.try_into().expect("chunks of 8 bytes"))
    });
    bits & 0xFF00_0000_FF00_0000 != 0 || rest.chunks_exact(4).any(|p| p[3] != 0)
}

fn map_err(e: png::DecodingError) -> Error {
    match e {
        png::DecodingError::LimitsExceeded => {
            Error::ImageTooLarge("the PNG exceeds the decoder's limits".into())
        }
        png::DecodingError::IoError(io) => Error::image_decode(format!(
            "the PNG ends early or cannot be read ({io}); the file is truncated or corrupt"
        ))
        .caused_by(io),
        other => Error::image_decode(format!("the PNG is corrupt: {other}")).caused_by(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factor_keeps_twice_the_needed_pixels() {
        assert_eq!(reduction_factor(1.0), 1);
        assert_eq!(reduction_factor(0.3), 1);
        assert_eq!(reduction_factor(0.25), 2);
        assert_eq!(reduction_factor(0.148), 3);
        assert_eq!(reduction_factor(0.0), 1);
        assert_eq!(reduction_factor(f64::NAN), 1);
    }

    #[test]
    fn ink_bounds_match_a_full_scan() {
        let mut img = RgbaImage::new(9, 7);
        img.put_pixel(2, 1, image::Rgba([0, 0, 0, 1]));
        img.put_pixel(6, 5, image::Rgba([9, 9, 9, 200]));
        let mut ink = InkBounds::default();
        for (y, row) in img.as_raw().chunks_exact(9 * 4).enumerate() {
            ink.add_row(y as u32, row);
        }
        assert_eq!(ink.bounds(), crate::pixels::opaque_bounds(&img));
        assert_eq!(ink.bounds(), Some([2, 1, 5, 5]));
        assert_eq!(InkBounds::default().bounds(), None);
    }

    #[test]
    fn ink_bounds_grow_from_any_side_of_the_bounds_so_far() {
        // Rows with ink only left of, only right of, or only inside the bounds found so
        // far, and transparent rows in between; odd width (a pixel left over in has_ink).
        let mut img = RgbaImage::new(21, 9);
        for (x, y) in [(10, 1), (3, 3), (19, 5), (12, 6), (20, 7)] {
            img.put_pixel(x, y, image::Rgba([1, 2, 3, 255]));
        }
        let mut ink = InkBounds::default();
        for (y, row) in img.as_raw().chunks_exact(21 * 4).enumerate() {
            ink.add_row(y as u32, row);
        }
        assert_eq!(ink.bounds(), Some([3, 1, 18, 7]));
        assert_eq!(ink.bounds(), crate::pixels::opaque_bounds(&img));
        assert!(!has_ink(&[9, 9, 9, 0, 9, 9, 9, 0, 9, 9, 9, 0]));
        assert!(has_ink(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]));
        assert!(has_ink(&[0, 0, 0, 0, 0, 0, 0, 1]));
    }
}
