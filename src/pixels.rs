//! Pixel work: premultiplied alpha, trimming, resizing (fast_image_resize) and PNG output.

use fast_image_resize as fr;
use image::RgbaImage;

use crate::error::{Error, Result};

fn view(img: &mut RgbaImage) -> fr::images::Image<'_> {
    let (w, h) = img.dimensions();
    fr::images::Image::from_slice_u8(w, h, img.as_mut(), fr::PixelType::U8x4)
        .expect("an RgbaImage buffer is exactly w * h * 4 bytes")
}

/// Multiplies the colour channels by alpha, in place.
pub(crate) fn premultiply(img: &mut RgbaImage) {
    if img.width() == 0 || img.height() == 0 {
        return;
    }
    fr::MulDiv::new()
        .multiply_alpha_inplace(&mut view(img))
        .expect("U8x4 is supported");
}

/// Divides the colour channels by alpha, in place (the inverse of [`premultiply`]).
pub(crate) fn unpremultiply(img: &mut RgbaImage) {
    if img.width() == 0 || img.height() == 0 {
        return;
    }
    fr::MulDiv::new()
        .divide_alpha_inplace(&mut view(img))
        .expect("U8x4 is supported");
}

/// The bounding box `[x, y, w, h]` of the pixels that are not fully transparent, or
/// `None` when every pixel is.
pub(crate) fn opaque_bounds(img: &RgbaImage) -> Option<[u32; 4]> {
    let (w, h) = img.dimensions();
    let row_has_ink = |y: u32| {
        let start = (y * w * 4) as usize;
        img.as_raw()[start..start + (w * 4) as usize]
            .chunks_exact(4)
            .any(|p| p[3] != 0)
    };
    let top = (0..h).find(|&y| row_has_ink(y))?;
    let bottom = (0..h).rev().find(|&y| row_has_ink(y))?;
    let (mut left, mut right) = (w, 0);
    for y in top..=bottom {
        let row = &img.as_raw()[(y * w * 4) as usize..((y + 1) * w * 4) as usize];
        if let Some(x) = row.chunks_exact(4).position(|p| p[3] != 0) {
            left = left.min(x as u32);
        }
        if let Some(x) = row.chunks_exact(4).rposition(|p| p[3] != 0) {
            right = right.max(x as u32);
        }
    }
    Some([left, top, right - left + 1, bottom - top + 1])
}

/// Whether every pixel is fully transparent.
pub(crate) fn fully_transparent(img: &RgbaImage) -> bool {
    img.as_raw().chunks_exact(4).all(|p| p[3] == 0)
}

/// Resizes the `crop` (`[x, y, w, h]`, source pixels, fractional allowed) of a
/// premultiplied `src` into the `dest` rectangle (`[x, y, w, h]`) of a premultiplied
/// `canvas`. Lanczos3 when shrinking; Catmull-Rom when enlarging (less ringing).
pub(crate) fn resize_into(
    src: &RgbaImage,
    crop: [f64; 4],
    canvas: &mut RgbaImage,
    dest: [u32; 4],
) -> Result<()> {
    let src_view =
        fr::images::ImageRef::new(src.width(), src.height(), src.as_raw(), fr::PixelType::U8x4)
            .map_err(|e| Error::Internal(format!("image buffer size mismatch: {e}")))?;
    let enlarging = f64::from(dest[2]) > crop[2] || f64::from(dest[3]) > crop[3];
    let filter = if enlarging {
        fr::FilterType::CatmullRom
    } else {
        fr::FilterType::Lanczos3
    };
    let options = fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(filter))
        .crop(crop[0], crop[1], crop[2], crop[3])
        // The buffers are premultiplied already: no second multiply.
        .use_alpha(false);
    let mut canvas_view = view(canvas);
    let mut dst =
        fr::images::CroppedImageMut::new(&mut canvas_view, dest[0], dest[1], dest[2], dest[3])
            .map_err(|e| Error::Internal(format!("placement outside its canvas: {e}")))?;
    fr::Resizer::new()
        .resize(&src_view, &mut dst, &options)
        .map_err(|e| Error::Internal(format!("resizing failed: {e}")))
}

/// Resizes a whole premultiplied image to `width` x `height`.
pub(crate) fn resized(src: &RgbaImage, width: u32, height: u32) -> Result<RgbaImage> {
    let mut out = RgbaImage::new(width.max(1), height.max(1));
    let crop = [0.0, 0.0, f64::from(src.width()), f64::from(src.height())];
    let dest = [0, 0, out.width(), out.height()];
    resize_into(src, crop, &mut out, dest)?;
    Ok(out)
}

/// Resizes a 16-bit image with `channels` channels per pixel (1 or 4, native-endian
/// bytes, `size` = width x height) to `to`: Lanczos3 when shrinking, Catmull-Rom when
/// enlarging; channels are filtered independently (no alpha handling).
pub(crate) fn resized_u16(
    src: &[u8],
    channels: u8,
    size: (u32, u32),
    to: (u32, u32),
) -> Result<Vec<u8>> {
    let kind = if channels == 1 {
        fr::PixelType::U16
    } else {
        fr::PixelType::U16x4
    };
    let src_view = fr::images::ImageRef::new(size.0, size.1, src, kind)
        .map_err(|e| Error::Internal(format!("image buffer size mismatch: {e}")))?;
    let enlarging = to.0 > size.0 || to.1 > size.1;
    let filter = if enlarging {
        fr::FilterType::CatmullRom
    } else {
        fr::FilterType::Lanczos3
    };
    let mut dst = fr::images::Image::new(to.0.max(1), to.1.max(1), kind);
    let options = fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(filter))
        .use_alpha(false);
    fr::Resizer::new()
        .resize(&src_view, &mut dst, &options)
        .map_err(|e| Error::Internal(format!("resizing failed: {e}")))?;
    Ok(dst.into_vec())
}

/// Encodes straight-alpha RGBA as PNG, recording `dpi` in the pHYs chunk (as pixels per
/// metre, the unit PNG uses).
pub fn encode_png(img: &RgbaImage, dpi: Option<u32>) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(img.as_raw().len() / 4);
    {
        let mut enc = png::Encoder::new(&mut out, img.width(), img.height());
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        if let Some(dpi) = dpi {
            let ppm = dpi_to_ppm(dpi);
            enc.set_pixel_dims(Some(png::PixelDimensions {
                xppu: ppm,
                yppu: ppm,
                unit: png::Unit::Meter,
            }));
        }
        let encode_err = |e: png::EncodingError| {
            Error::Io(std::io::Error::other(format!("PNG encoding failed: {e}")))
        };
        let mut writer = enc.write_header().map_err(encode_err)?;
        writer.write_image_data(img.as_raw()).map_err(encode_err)?;
        writer.finish().map_err(encode_err)?;
    }
    Ok(out)
}

/// Dots per inch to pixels per metre, rounded (300 DPI is 11811 px/m).
pub(crate) fn dpi_to_ppm(dpi: u32) -> u32 {
    (f64::from(dpi) / 0.0254).round() as u32
}

/// Reads the DPI recorded in a PNG's pHYs chunk, if any (rounded to whole dots per inch).
pub fn png_dpi(png_bytes: &[u8]) -> Option<u32> {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let reader = decoder.read_info().ok()?;
    let dims = reader.info().pixel_dims?;
    (dims.unit == png::Unit::Meter).then(|| (f64::from(dims.xppu) * 0.0254).round() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    #[test]
    fn trims_to_the_inked_pixels() {
        let mut img = RgbaImage::new(10, 8);
        assert_eq!(opaque_bounds(&img), None);
        assert!(fully_transparent(&img));
        img.put_pixel(2, 3, Rgba([0, 0, 0, 1]));
        img.put_pixel(6, 5, Rgba([0, 0, 0, 255]));
        assert_eq!(opaque_bounds(&img), Some([2, 3, 5, 3]));
    }

    #[test]
    fn png_records_the_dpi() {
        let img = RgbaImage::from_pixel(3, 2, Rgba([1, 2, 3, 4]));
        let bytes = encode_png(&img, Some(300)).unwrap();
        assert_eq!(png_dpi(&bytes), Some(300));
        assert_eq!(dpi_to_ppm(300), 11811);
        let back = image::load_from_memory(&bytes).unwrap().to_rgba8();
        assert_eq!(back, img);
        assert_eq!(png_dpi(&encode_png(&img, None).unwrap()), None);
    }

    #[test]
    fn premultiplied_resizing_has_no_dark_fringe() {
        // Opaque red next to transparent *black*: a straight-alpha resize would pull the
        // edge towards black; premultiplied keeps it red.
        let mut img = RgbaImage::new(64, 64);
        for y in 0..64 {
            for x in 0..32 {
                img.put_pixel(x, y, Rgba([255, 0, 0, 255]));
            }
        }
        premultiply(&mut img);
        let mut out = resized(&img, 16, 16).unwrap();
        unpremultiply(&mut out);
        for p in out.pixels().filter(|p| p[3] > 8) {
            assert!(p[0] > 240 && p[1] < 10 && p[2] < 10, "{p:?}");
        }
    }
}
