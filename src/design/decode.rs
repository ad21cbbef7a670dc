//! Decoding untrusted design files, with limits checked before any large allocation.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, RgbaImage};
use serde::{Deserialize, Serialize};

use super::svg::SvgDesign;
use crate::error::{Error, Result};

/// Limits applied to a design before and while decoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DecodeLimits {
    /// The largest file accepted, in bytes (default 25 MiB).
    pub max_bytes: u64,
    /// The most pixels (width x height) a raster design may have, checked from its header
    /// before decoding (default 100 megapixels). Also caps the size an SVG is rasterised at.
    pub max_pixels: u64,
}

impl DecodeLimits {
    /// The default maximum file size: 25 MiB.
    pub const DEFAULT_MAX_BYTES: u64 = 25 * 1024 * 1024;
    /// The default maximum pixel count: 100 megapixels.
    pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;

    /// The same limits accepting files of at most `max_bytes` bytes.
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The same limits accepting designs of at most `max_pixels` pixels.
    pub fn with_max_pixels(mut self, max_pixels: u64) -> Self {
        self.max_pixels = max_pixels;
        self
    }
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_pixels: Self::DEFAULT_MAX_PIXELS,
        }
    }
}

/// The format of a design, recognised by its content (magic bytes), never its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DesignFormat {
    /// PNG: 8 or 16 bit, grey, RGB, palette (with transparency), interlaced or not.
    Png,
    /// JPEG: baseline, progressive, greyscale, RGB or CMYK; EXIF orientation applied.
    Jpeg,
    /// WebP, lossy or lossless.
    Webp,
    /// SVG, rasterised at the resolution the print needs.
    Svg,
}

impl DesignFormat {
    /// The lowercase name (`png`, `jpeg`, `webp`, `svg`).
    pub fn as_str(self) -> &'static str {
        match self {
            DesignFormat::Png => "png",
            DesignFormat::Jpeg => "jpeg",
            DesignFormat::Webp => "webp",
            DesignFormat::Svg => "svg",
        }
    }
}

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Recognises a design's format from its first bytes; `None` when it is none of the
/// supported ones.
pub(crate) fn sniff_format(bytes: &[u8]) -> Option<DesignFormat> {
    if bytes.starts_with(PNG_MAGIC) {
        Some(DesignFormat::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(DesignFormat::Jpeg)
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(DesignFormat::Webp)
    } else if looks_like_svg(bytes) {
        Some(DesignFormat::Svg)
    } else {
        None
    }
}

/// An SVG is XML text whose first element is `<svg`: skip a BOM, whitespace, an XML
/// declaration, comments and a doctype, all within the first 64 KiB.
fn looks_like_svg(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(64 * 1024)];
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let Ok(text) =
        std::str::from_utf8(head).or_else(|e| std::str::from_utf8(&head[..e.valid_up_to()]))
    else {
        return false;
    };
    let mut rest = text.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("<?") {
            let Some(end) = r.find("?>") else {
                return false;
            };
            rest = r[end + 2..].trim_start();
        } else if let Some(r) = rest.strip_prefix("<!--") {
            let Some(end) = r.find("-->") else {
                return false;
            };
            rest = r[end + 3..].trim_start();
        } else if let Some(r) = rest.strip_prefix("<!DOCTYPE") {
            // A doctype may hold an internal subset in brackets.
            let end = match (r.find('['), r.find('>')) {
                (Some(b), Some(g)) if b < g => r.find("]>").map(|e| e + 2),
                (_, Some(g)) => Some(g + 1),
                _ => None,
            };
            let Some(end) = end else { return false };
            rest = r[end..].trim_start();
        } else {
            return rest.starts_with("<svg")
                && rest[4..].starts_with(|c: char| c.is_whitespace() || c == '>' || c == '/');
        }
    }
}

/// A decoded design: raster pixels, or a parsed vector drawing rasterised later at the
/// resolution its placement needs.
pub struct Design {
    pub(crate) format: DesignFormat,
    pub(crate) content: DesignContent,
}

pub(crate) enum DesignContent {
    /// Straight (not premultiplied) 8-bit RGBA, orientation applied.
    Raster(RgbaImage),
    /// A parsed SVG.
    Vector(Box<SvgDesign>),
}

impl std::fmt::Debug for Design {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (w, h) = self.size_px();
        f.debug_struct("Design")
            .field("format", &self.format)
            .field("width", &w)
            .field("height", &h)
            .finish()
    }
}

impl Design {
    /// The format the design was recognised as.
    pub fn format(&self) -> DesignFormat {
        self.format
    }

    /// Whether the design is vector artwork (SVG).
    pub fn is_vector(&self) -> bool {
        matches!(self.content, DesignContent::Vector(_))
    }

    /// The design's own size in pixels: decoded pixels for raster designs (after EXIF
    /// orientation), the SVG's width and height (rounded up) for vector ones.
    pub fn size_px(&self) -> (u32, u32) {
        match &self.content {
            DesignContent::Raster(img) => img.dimensions(),
            DesignContent::Vector(svg) => svg.size_px(),
        }
    }

    /// The decoded pixels of a raster design (straight alpha, 8-bit RGBA); `None` for SVG.
    pub fn raster(&self) -> Option<&RgbaImage> {
        match &self.content {
            DesignContent::Raster(img) => Some(img),
            DesignContent::Vector(_) => None,
        }
    }

    /// How many external references (`href`s to files or URLs) an SVG design had; they
    /// are ignored, never fetched. Always 0 for raster designs.
    pub fn ignored_references(&self) -> usize {
        match &self.content {
            DesignContent::Raster(_) => 0,
            DesignContent::Vector(svg) => svg.ignored_references,
        }
    }
}

/// Decodes a design from its bytes, recognising the format by content.
///
/// Errors: `E_IMAGE_TOO_LARGE` when the file or its pixel count (read from the header,
/// before any pixel is decoded) exceeds `limits`; `E_UNSUPPORTED_FORMAT` when the bytes
/// are not PNG, JPEG, WebP or SVG; `E_IMAGE_DECODE` when they are truncated or corrupt.
/// Never panics on any input.
pub fn decode_design(bytes: &[u8], limits: &DecodeLimits) -> Result<Design> {
    if bytes.is_empty() {
        return Err(Error::image_decode(
            "the file is empty (0 bytes); upload a PNG, JPEG, WebP or SVG design",
        ));
    }
    if bytes.len() as u64 > limits.max_bytes {
        return Err(Error::ImageTooLarge(format!(
            "the file is {} bytes; the limit is {} bytes ({:.0} MiB)",
            bytes.len(),
            limits.max_bytes,
            limits.max_bytes as f64 / (1024.0 * 1024.0)
        )));
    }
    let Some(format) = sniff_format(bytes) else {
        return Err(Error::UnsupportedFormat(
            "the file is not a PNG, JPEG, WebP or SVG image (recognised by its content, not its name)".into(),
        ));
    };
    let content = match format {
        DesignFormat::Svg => DesignContent::Vector(Box::new(SvgDesign::parse(bytes, limits)?)),
        raster => DesignContent::Raster(decode_raster(bytes, raster, limits)?),
    };
    Ok(Design { format, content })
}

/// Reads a raster image's pixel size from its header without decoding it.
pub(crate) fn raster_dimensions(bytes: &[u8], format: DesignFormat) -> Result<(u32, u32)> {
    if format == DesignFormat::Png {
        // IHDR is always the first chunk: length(4) "IHDR" width(4) height(4).
        if bytes.len() >= 24 && &bytes[12..16] == b"IHDR" {
            let w = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
            let h = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
            return Ok((w, h));
        }
        return Err(Error::image_decode(
            "the PNG has no valid header (IHDR); the file is truncated or corrupt",
        ));
    }
    let decoder = reader(bytes, format, None)
        .into_decoder()
        .map_err(|e| map_err(e, format))?;
    Ok(decoder.dimensions())
}

/// Reads an untrusted raster image's pixel size from its header, under the panic guard,
/// and checks it against `limits`: what a submission checks before it stores a design.
pub(crate) fn checked_raster_dimensions(
    bytes: &[u8],
    format: DesignFormat,
    limits: &DecodeLimits,
    what: &str,
) -> Result<(u32, u32)> {
    let (w, h) = guarded(format, what, || raster_dimensions(bytes, format))?;
    check_pixels(w, h, limits, what)?;
    Ok((w, h))
}

/// Checks that a design decodes completely, on the guarded path and within `limits`,
/// without keeping its pixels: what a submission checks before it stores a design, so a
/// truncated or corrupt file is refused at once instead of failing its job later.
///
/// - PNG: streamed row by row through the `png` decoder (one row buffer, never the whole
///   image), then read to `IEND`: every chunk's CRC and the image data's checksum are
///   verified, as a full decode would.
/// - JPEG, WebP: decoded completely (the decoders have no row-by-row mode), within the
///   same allocation budget as a job's decode, then dropped; a JPEG must also end with
///   its end-of-image marker (its decoder fills a truncated scan with grey).
/// - SVG: parsed as a job would parse it (external references ignored).
///
/// Errors as [`decode_design`] gives them: `E_IMAGE_TOO_LARGE`, `E_IMAGE_DECODE` (naming
/// the `design`), `E_UNSUPPORTED_FORMAT` for a variant the decoders do not read. A
/// decoder panic is `E_IMAGE_DECODE`.
pub(crate) fn validate_design(
    bytes: &[u8],
    format: DesignFormat,
    limits: &DecodeLimits,
) -> Result<()> {
    match format {
        DesignFormat::Svg => guarded(format, "design", || {
            SvgDesign::parse(bytes, limits).map(drop)
        }),
        DesignFormat::Png => guarded(format, "design", || validate_png(bytes, limits)),
        DesignFormat::Jpeg => guarded(format, "design", || {
            // The JPEG decoder fills a truncated scan with grey instead of failing, so
            // the end is checked first.
            check_jpeg_end(bytes)?;
            decode_raster_unguarded(bytes, format, limits, "design", false).map(drop)
        }),
        raster => guarded(format, "design", || {
            decode_raster_unguarded(bytes, raster, limits, "design", false).map(drop)
        }),
    }
}

/// Refuses a JPEG whose image data is not followed by the end-of-image marker (`FF D9`):
/// a truncated file. The marker segments before the first scan are skipped by their
/// lengths (an EXIF thumbnail in `APP1` has scans and an end marker of its own); in the
/// scan data `FF D9` cannot occur (an `FF` there is stuffed or a restart marker), so
/// the first one after the scan starts is the image's end.
fn check_jpeg_end(bytes: &[u8]) -> Result<()> {
    let truncated = || {
        Error::image_decode(
            "the JPEG ends before its end-of-image marker; the file is truncated (upload the \
             whole file)",
        )
    };
    let mut at = 2; // after SOI
    loop {
        // Fill bytes (`FF FF ...`) may precede a marker.
        while bytes.get(at) == Some(&0xff) && bytes.get(at + 1) == Some(&0xff) {
            at += 1;
        }
        match (bytes.get(at), bytes.get(at + 1)) {
            (Some(0xff), Some(0xda)) => break,
            // Markers without a length: TEM and the restart markers.
            (Some(0xff), Some(0x01 | 0xd0..=0xd7)) => at += 2,
            (Some(0xff), Some(_)) => {
                let len = match (bytes.get(at + 2), bytes.get(at + 3)) {
                    (Some(&hi), Some(&lo)) => usize::from(u16::from_be_bytes([hi, lo])),
                    _ => return Err(truncated()),
                };
                at += 2 + len;
            }
            (None, _) | (_, None) => return Err(truncated()),
            // Not a marker where one must be: leave the verdict to the decoder.
            _ => return Ok(()),
        }
    }
    if bytes[at..].windows(2).any(|w| w == [0xff, 0xd9]) {
        Ok(())
    } else {
        Err(truncated())
    }
}

/// [`validate_design`] for a PNG: header limits, every row, then the chunks to `IEND`.
fn validate_png(bytes: &[u8], limits: &DecodeLimits) -> Result<()> {
    let (w, h) = raster_dimensions(bytes, DesignFormat::Png)?;
    check_pixels(w, h, limits, "design")?;
    let budget = alloc_budget(limits.max_pixels);
    let decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: usize::try_from(budget).unwrap_or(usize::MAX),
        },
    );
    let png_err = |e: png::DecodingError| match e {
        png::DecodingError::LimitsExceeded => {
            Error::ImageTooLarge("the PNG exceeds the decoder's limits".into())
        }
        png::DecodingError::IoError(io) => Error::image_decode(format!(
            "the PNG ends early ({io}); the file is truncated or corrupt"
        )),
        other => Error::image_decode(format!("the PNG is corrupt: {other}")),
    };
    let mut reader = decoder.read_info().map_err(png_err)?;
    let mut rows = 0u64;
    while reader.next_row().map_err(png_err)?.is_some() {
        rows += 1;
    }
    if rows == 0 {
        return Err(Error::image_decode(
            "the PNG has no image rows; the file is truncated or corrupt",
        ));
    }
    // The rest of the file: the image data's tail and checksum, the chunks after it and
    // their CRCs, up to IEND.
    reader.finish().map_err(png_err)
}

pub(crate) fn check_pixels(w: u32, h: u32, limits: &DecodeLimits, what: &str) -> Result<()> {
    if w == 0 || h == 0 {
        return Err(Error::image_decode(format!(
            "the {what} is {w} x {h} pixels; it has no pixels"
        )));
    }
    let pixels = u64::from(w) * u64::from(h);
    if pixels > limits.max_pixels {
        return Err(Error::ImageTooLarge(format!(
            "the {what} is {w} x {h} pixels ({:.1} megapixels); the limit is {:.1} megapixels",
            pixels as f64 / 1e6,
            limits.max_pixels as f64 / 1e6
        )));
    }
    Ok(())
}

fn image_format(format: DesignFormat) -> ImageFormat {
    match format {
        DesignFormat::Png => ImageFormat::Png,
        DesignFormat::Jpeg => ImageFormat::Jpeg,
        DesignFormat::Webp => ImageFormat::WebP,
        DesignFormat::Svg => unreachable!("SVG is not decoded by the image crate"),
    }
}

/// What a decoder may allocate for an image of at most `max_pixels`: 16-bit RGBA is 8
/// bytes a pixel, plus decoder working memory.
pub(crate) fn alloc_budget(max_pixels: u64) -> u64 {
    max_pixels.saturating_mul(8).saturating_add(64 << 20)
}

fn reader(
    bytes: &[u8],
    format: DesignFormat,
    max_pixels: Option<u64>,
) -> ImageReader<Cursor<&[u8]>> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format(format));
    let mut limits = image::Limits::default();
    if let Some(max_pixels) = max_pixels {
        limits.max_alloc = Some(alloc_budget(max_pixels));
    }
    reader.limits(limits);
    reader
}

/// Decodes raster bytes, turning a panic inside a decoder (a bug in a codec crate, found
/// by fuzzing: a corrupt palette PNG panicked in `png` 0.18.1) into `E_IMAGE_DECODE`, so
/// untrusted input can never crash the caller.
fn decode_raster(bytes: &[u8], format: DesignFormat, limits: &DecodeLimits) -> Result<RgbaImage> {
    guarded(format, "design", || {
        let img = decode_raster_unguarded(bytes, format, limits, "image", true)?;
        Ok(match img {
            DynamicImage::ImageRgba8(rgba) => rgba,
            other => other.to_rgba8(),
        })
    })
}

/// Decodes an untrusted raster image that is not a design (a garment photo, its mask or
/// displacement map, a template pack's image) on the same guarded path as designs: the
/// format recognised by content and one of `accepted`, the file size and the pixel
/// count (from the header, before any pixel is decoded) within `limits`, the decoder's
/// allocations within the same budget, and a decoder panic caught. `what` names the
/// image in errors (`E_UNSUPPORTED_FORMAT`, `E_IMAGE_TOO_LARGE`, `E_IMAGE_DECODE`).
/// EXIF orientation is not applied: coordinates on such images are the file's own.
pub(crate) fn decode_untrusted_raster(
    bytes: &[u8],
    what: &str,
    accepted: &[DesignFormat],
    limits: &DecodeLimits,
) -> Result<DynamicImage> {
    let names = || {
        accepted
            .iter()
            .map(|f| f.as_str().to_uppercase())
            .collect::<Vec<_>>()
            .join(" or ")
    };
    if bytes.is_empty() {
        return Err(Error::image_decode(format!(
            "the {what} is empty (0 bytes)"
        )));
    }
    if bytes.len() as u64 > limits.max_bytes {
        return Err(Error::ImageTooLarge(format!(
            "the {what} is {} bytes; the limit is {} bytes",
            bytes.len(),
            limits.max_bytes
        )));
    }
    let format = match sniff_format(bytes) {
        Some(f) if f != DesignFormat::Svg && accepted.contains(&f) => f,
        _ => {
            return Err(Error::UnsupportedFormat(format!(
                "the {what} must be a {} image (recognised by its content)",
                names()
            )))
        }
    };
    guarded(format, what, || {
        decode_raster_unguarded(bytes, format, limits, what, false)
    })
}

/// Runs a decode, turning a panic inside the decoder into `E_IMAGE_DECODE` on `what`.
pub(super) fn guarded<T>(
    format: DesignFormat,
    what: &str,
    decode: impl FnOnce() -> Result<T>,
) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).unwrap_or_else(|_| {
        Err(Error::image_decode(format!(
            "the {what} ({}) is corrupt: its decoder failed on malformed data",
            format.as_str().to_uppercase()
        )))
    })
}

fn decode_raster_unguarded(
    bytes: &[u8],
    format: DesignFormat,
    limits: &DecodeLimits,
    what: &str,
    orient: bool,
) -> Result<DynamicImage> {
    if format == DesignFormat::Png {
        // Read straight from IHDR: refused even when nothing follows the header.
        let (w, h) = raster_dimensions(bytes, format)?;
        check_pixels(w, h, limits, what)?;
    }
    let mut decoder = reader(bytes, format, Some(limits.max_pixels))
        .into_decoder()
        .map_err(|e| map_err(e, format))?;
    let (w, h) = decoder.dimensions();
    check_pixels(w, h, limits, what)?;
    // A missing or unreadable EXIF block means "no rotation", not a broken image.
    let orientation = match orient {
        true => decoder
            .orientation()
            .unwrap_or(image::metadata::Orientation::NoTransforms),
        false => image::metadata::Orientation::NoTransforms,
    };
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| map_err(e, format))?;
    img.apply_orientation(orientation);
    Ok(img)
}

fn map_err(e: ImageError, format: DesignFormat) -> Error {
    let name = format.as_str().to_uppercase();
    match e {
        ImageError::Limits(l) => {
            Error::ImageTooLarge(format!("the {name} exceeds the decoder's limits: {l}"))
        }
        ImageError::Unsupported(u) => {
            Error::UnsupportedFormat(format!("this {name} variant is not supported: {u}"))
        }
        ImageError::IoError(io) => Error::image_decode(format!(
            "the {name} ends early or cannot be read ({io}); the file is truncated or corrupt"
        ))
        .caused_by(io),
        other => Error::image_decode(format!("the {name} is corrupt: {other}")).caused_by(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_recognised_by_content() {
        assert_eq!(
            sniff_format(b"\x89PNG\r\n\x1a\nrest"),
            Some(DesignFormat::Png)
        );
        assert_eq!(
            sniff_format(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(DesignFormat::Jpeg)
        );
        assert_eq!(
            sniff_format(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(DesignFormat::Webp)
        );
        assert_eq!(sniff_format(b"<svg xmlns='x'/>"), Some(DesignFormat::Svg));
        assert_eq!(
            sniff_format(b"\xEF\xBB\xBF<?xml version='1.0'?>\n<!-- hi -->\n<!DOCTYPE svg [<!ENTITY a 'b'>]>\n<svg>"),
            Some(DesignFormat::Svg)
        );
        assert_eq!(sniff_format(b"<svgfoo>"), None);
        assert_eq!(sniff_format(b"<html><svg>"), None);
        assert_eq!(sniff_format(b"GIF89a"), None);
        assert_eq!(sniff_format(b"hello, this is text"), None);
    }

    #[test]
    fn size_limits_apply_before_decoding() {
        let limits = DecodeLimits {
            max_bytes: 10,
            ..DecodeLimits::default()
        };
        let err = decode_design(&[0u8; 11], &limits).unwrap_err();
        assert_eq!(err.code(), "E_IMAGE_TOO_LARGE");
        assert_eq!(
            decode_design(&[], &limits).unwrap_err().code(),
            "E_IMAGE_DECODE"
        );
    }
}
