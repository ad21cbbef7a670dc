//! Untrusted design input: recognise the format by content, check the limits from the
//! header before any pixel is decoded, decode (with a guard against decoder panics),
//! reduce large PNGs while they decode, parse SVG with external references ignored, and
//! fit the result into a canvas.
//!
//! [`PreparedDesign`] is the design decoded once and ready to fit: the compositor and the
//! photo mockups both start from it.

mod decode;
mod fit;
mod reduce;
mod svg;

use image::RgbaImage;

pub use decode::{decode_design, DecodeLimits, Design, DesignFormat};
pub use fit::FitMode;

pub(crate) use decode::{
    checked_raster_dimensions, decode_untrusted_raster, sniff_format, validate_design,
    DesignContent,
};
pub(crate) use fit::FitPlan;

use crate::error::Result;
use crate::pixels;
use crate::template::Alignment;

/// A design decoded and prepared once (premultiplied, its ink bounds found), to be fitted
/// into any number of canvases: the photo-mockup path uses it to decode a design once for
/// many views and colours.
pub struct PreparedDesign(pub(crate) Source);

impl PreparedDesign {
    /// Decodes `bytes` within `limits` and prepares the design.
    pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<Self> {
        Ok(Self(Source::prepare(decode_design(bytes, limits)?)))
    }

    /// Prepares a design decoded already.
    pub fn new(design: Design) -> Self {
        Self(Source::prepare(design))
    }

    /// Decodes `bytes` for fitting into canvases no larger than `canvases` (with `fit`
    /// and `trim`), as photo mockups need: a large PNG design is decoded straight to a
    /// reduced size (each pixel the mean of a block of design pixels) that still has at
    /// least as many pixels as every such fit needs, which is much faster and smaller
    /// than decoding it whole. Other designs, and PNGs whose trimmed ink would need
    /// more pixels than the reduced size keeps, are decoded as [`PreparedDesign::decode`]
    /// does. Errors as [`PreparedDesign::decode`].
    pub fn decode_for(
        bytes: &[u8],
        limits: &DecodeLimits,
        canvases: &[(u32, u32)],
        fit: FitMode,
        trim: bool,
    ) -> Result<Self> {
        if let Some(source) = Source::reduced_for(bytes, limits, canvases, fit, trim)? {
            return Ok(Self(source));
        }
        Self::decode(bytes, limits)
    }

    /// How many design pixels each stored pixel averages, per axis: 1 for a design
    /// decoded whole, more for one from [`PreparedDesign::decode_for`].
    pub fn reduction(&self) -> u32 {
        match &self.0.content {
            SourceContent::Raster { factor, .. } => *factor,
            SourceContent::Vector(_) => 1,
        }
    }

    /// The design's own size in pixels.
    pub fn size_px(&self) -> (u32, u32) {
        self.0.design_px
    }

    /// Fits the design into a transparent canvas of `size` pixels with `fit` and
    /// `align`ment, trimming transparent margins first when `trim` is set. Returns
    /// premultiplied RGBA; SVG designs are rasterised at the canvas's resolution.
    pub fn fit(
        &self,
        size: (u32, u32),
        fit: FitMode,
        align: Alignment,
        trim: bool,
    ) -> Result<RgbaImage> {
        Ok(self.0.fit_canvas(size, fit, align.fractions(), trim)?.0)
    }
}

impl std::fmt::Debug for PreparedDesign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedDesign")
            .field("format", &self.0.format)
            .field("size_px", &self.0.design_px)
            .field("reduction", &self.reduction())
            .finish()
    }
}

/// A decoded design ready for placing: raster pixels premultiplied, with the bounds of
/// their ink, or a parsed SVG.
pub(crate) struct Source {
    pub(crate) format: DesignFormat,
    pub(crate) design_px: (u32, u32),
    pub(crate) content: SourceContent,
    pub(crate) ignored_references: usize,
}

pub(crate) enum SourceContent {
    Raster {
        /// The design's pixels premultiplied, at `1 / factor` of its size.
        premultiplied: RgbaImage,
        /// The bounds of its ink, in the design's own pixels.
        ink: Option<[u32; 4]>,
        /// How many design pixels a stored pixel averages per axis (1: all of them kept).
        factor: u32,
    },
    Vector(Box<svg::SvgDesign>),
}

impl Source {
    pub(crate) fn prepare(design: Design) -> Source {
        let design_px = design.size_px();
        let ignored_references = design.ignored_references();
        let content = match design.content {
            DesignContent::Raster(mut img) => {
                let ink = pixels::opaque_bounds(&img);
                pixels::premultiply(&mut img);
                SourceContent::Raster {
                    premultiplied: img,
                    ink,
                    factor: 1,
                }
            }
            DesignContent::Vector(svg) => SourceContent::Vector(svg),
        };
        Source {
            format: design.format,
            design_px,
            content,
            ignored_references,
        }
    }

    /// A large 8-bit PNG decoded at a reduced size that is enough for every fit into
    /// `canvases`, or `None` when that does not apply (not such a PNG, too small to
    /// reduce, or its trimmed ink needs more pixels than the reduced size keeps).
    fn reduced_for(
        bytes: &[u8],
        limits: &DecodeLimits,
        canvases: &[(u32, u32)],
        fit: FitMode,
        trim: bool,
    ) -> Result<Option<Source>> {
        if bytes.is_empty()
            || bytes.len() as u64 > limits.max_bytes
            || sniff_format(bytes) != Some(DesignFormat::Png)
        {
            return Ok(None);
        }
        let Ok((w, h)) = decode::raster_dimensions(bytes, DesignFormat::Png) else {
            return Ok(None);
        };
        let full = (f64::from(w), f64::from(h));
        let needed = |region: (f64, f64)| {
            canvases
                .iter()
                .map(|&canvas| {
                    let p = fit::plan(region, canvas, fit, (0.0, 0.0));
                    p.scale.0.max(p.scale.1)
                })
                .fold(0.0, f64::max)
        };
        let factor = reduce::reduction_factor(needed(full));
        if factor < 2 || w == 0 || h == 0 {
            return Ok(None);
        }
        let Some(r) = reduce::decode_png_reduced(bytes, limits, factor)? else {
            return Ok(None);
        };
        if trim {
            if let Some([_, _, iw, ih]) = r.ink {
                // The trimmed ink is fitted larger than the whole design: keep the
                // reduced pixels only if they still are enough (no enlarging).
                if needed((f64::from(iw), f64::from(ih))) * f64::from(factor) > 1.0 {
                    return Ok(None);
                }
            }
        }
        Ok(Some(Source {
            format: DesignFormat::Png,
            design_px: r.design_px,
            content: SourceContent::Raster {
                premultiplied: r.premultiplied,
                ink: r.ink,
                factor,
            },
            ignored_references: 0,
        }))
    }

    /// Fits the design into a transparent `(aw, ah)` canvas (premultiplied), returning
    /// the canvas, the fit plan (`None` for an invisible design) and the trimmed region.
    pub(crate) fn fit_canvas(
        &self,
        (aw, ah): (u32, u32),
        fit: FitMode,
        align: (f64, f64),
        trim: bool,
    ) -> Result<(RgbaImage, Option<FitPlan>, Option<[u32; 4]>)> {
        let mut canvas = RgbaImage::new(aw.max(1), ah.max(1));
        let (plan, trimmed_px) = match &self.content {
            SourceContent::Raster {
                premultiplied,
                ink,
                factor,
            } => {
                let (w, h) = self.design_px;
                let region = if trim { *ink } else { Some([0, 0, w, h]) };
                match region {
                    None => (None, None),
                    Some(r) => {
                        let plan =
                            fit::plan((f64::from(r[2]), f64::from(r[3])), (aw, ah), fit, align);
                        let c = plan.src_crop;
                        // In the stored pixels' units (the design's own when not reduced).
                        let k = f64::from(*factor);
                        let crop = [
                            (f64::from(r[0]) + c[0]) / k,
                            (f64::from(r[1]) + c[1]) / k,
                            c[2] / k,
                            c[3] / k,
                        ];
                        pixels::resize_into(premultiplied, crop, &mut canvas, plan.dest)?;
                        let trimmed = (r != [0, 0, w, h]).then_some(r);
                        (Some(plan), trimmed)
                    }
                }
            }
            SourceContent::Vector(svg) => match svg.region(trim) {
                None => (None, None),
                Some(r) => {
                    let plan = fit::plan((r[2], r[3]), (aw, ah), fit, align);
                    let [dx, dy, dw, dh] = plan.dest;
                    let c = plan.src_crop;
                    let offset = (-c[0] * plan.scale.0, -c[1] * plan.scale.1);
                    let data = svg.render_premultiplied(r, plan.scale, offset, (dw, dh))?;
                    let tile = RgbaImage::from_raw(dw, dh, data).expect("pixmap is dw x dh");
                    image::imageops::replace(&mut canvas, &tile, i64::from(dx), i64::from(dy));
                    let (cw, ch) = svg.size_px();
                    let px = |v: f64| v.round().max(0.0) as u32;
                    let trimmed = [px(r[0]), px(r[1]), px(r[2]), px(r[3])];
                    (Some(plan), (trimmed != [0, 0, cw, ch]).then_some(trimmed))
                }
            },
        };
        Ok((canvas, plan, trimmed_px))
    }
}

/// Reads a design file from disk, as every front end does: the same checks and error
/// codes everywhere.
///
/// Errors: `E_NOT_FOUND` when nothing is at `path`, `E_VALIDATION` (on `design`) when it
/// is not a regular file, `E_IMAGE_TOO_LARGE` when it is larger than
/// `limits.max_bytes` (checked before reading), `E_IO` for any other I/O failure. The
/// bytes are not decoded here.
pub fn read_design_file(path: &std::path::Path, limits: &DecodeLimits) -> Result<Vec<u8>> {
    use crate::error::Error;
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound {
            what: "design file",
            id: path.display().to_string(),
        },
        kind => Error::Io(std::io::Error::new(
            kind,
            format!("cannot read the design {}: {e}", path.display()),
        )),
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(Error::validation(
            "design",
            format!("{} is not a file", path.display()),
        ));
    }
    if meta.len() > limits.max_bytes {
        return Err(Error::ImageTooLarge(format!(
            "{} is {} bytes; the limit is {} bytes",
            path.display(),
            meta.len(),
            limits.max_bytes
        )));
    }
    // Read at most one byte past the limit: the file may grow after the check.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open(path).map_err(io)?, limits.max_bytes + 1),
        &mut bytes,
    )
    .map_err(io)?;
    if bytes.len() as u64 > limits.max_bytes {
        return Err(Error::ImageTooLarge(format!(
            "{} grew past the limit of {} bytes while it was read",
            path.display(),
            limits.max_bytes
        )));
    }
    Ok(bytes)
}
