//! Photo mockups: a merchant's own garment photo wearing the design, with the print
//! following the photo's folds (displacement), shaded by its light, clipped to the
//! garment, and the fabric optionally re-tinted.
//!
//! A [`PhotoView`] is prepared once (light and displacement maps); [`render_mockup`] then
//! places a fitted design on it for one garment colour. The formulas are in [`light`].
//!
//! ```
//! use render_engine::mockup::{render_mockup, PhotoView, PhotoViewImages, PrintAreaSpec};
//!
//! // A flat light-grey "photo" and a print area in its middle.
//! let photo = image::RgbaImage::from_pixel(200, 200, image::Rgba([200, 200, 200, 255]));
//! let area = PrintAreaSpec { quad: [[50.0, 50.0], [150.0, 50.0], [150.0, 150.0], [50.0, 150.0]], width_in: 10.0, height_in: 10.0 };
//! let view = PhotoView::new("flat", PhotoViewImages { photo, displacement: None, mask: None }, &area)?;
//! let design = image::RgbaImage::from_pixel(100, 100, image::Rgba([255, 0, 0, 255])); // premultiplied
//! let out = render_mockup(&view, &design, None)?;
//! assert_eq!(out.get_pixel(100, 100).0, [255, 0, 0, 255]);
//! # Ok::<(), render_engine::Error>(())
//! ```

mod jpeg;
mod light;
mod view;
mod warp;

use image::RgbaImage;
use rayon::prelude::*;

pub use view::{
    decode_photo_image, DisplacementChannels, DisplacementSpec, EncodedPhotoView, PhotoView,
    PhotoViewImages, PhotoViewSpec, PrintAreaSpec, DERIVED_DISPLACEMENT_SHARE, MAX_PHOTO_BYTES,
    MAX_PHOTO_PIXELS,
};
pub use warp::Homography;

use crate::cancel::CancelToken;
use crate::color::GarmentColor;
use crate::color::{srgb_to_linear_table, LinearToSrgb};
use crate::design::{DecodeLimits, FitMode, PreparedDesign};
use crate::error::{Error, Result};
use crate::render::knit;
use crate::template::Alignment;
use light::Retint;
use warp::sample_bilinear;

/// How a mockup image is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MockupFormat {
    /// JPEG (no transparency), the usual choice for product photos.
    Jpeg,
    /// PNG (lossless).
    Png,
}

impl std::str::FromStr for MockupFormat {
    type Err = Error;

    /// `jpeg` (or `jpg`) or `png`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "jpeg" | "jpg" => Ok(MockupFormat::Jpeg),
            "png" => Ok(MockupFormat::Png),
            other => Err(Error::validation(
                "format",
                format!("unknown format `{other}`; use jpeg or png"),
            )),
        }
    }
}

impl MockupFormat {
    /// The file extension (`jpg` or `png`).
    pub fn extension(self) -> &'static str {
        match self {
            MockupFormat::Jpeg => "jpg",
            MockupFormat::Png => "png",
        }
    }
}

/// How a batch of mockups fits the design and encodes the images.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MockupOptions {
    /// How the design fits the print area (contain by default).
    pub fit: FitMode,
    /// Where it sits when it does not fill the area (top by default, as chest prints do).
    pub align: Alignment,
    /// Trim fully transparent margins before fitting (on by default).
    pub trim: bool,
    /// Limits for decoding the design.
    pub limits: DecodeLimits,
    /// Set by the caller to stop the batch early (checked between stages and images);
    /// it then returns `E_CANCELLED`.
    pub cancel: Option<CancelToken>,
}

impl Default for MockupOptions {
    fn default() -> Self {
        Self {
            fit: FitMode::Contain,
            align: Alignment::Top,
            trim: true,
            limits: DecodeLimits::default(),
            cancel: None,
        }
    }
}

impl MockupOptions {
    /// The same options fitting the design with `fit`.
    pub fn with_fit(mut self, fit: FitMode) -> Self {
        self.fit = fit;
        self
    }

    /// The same options placing the design with `align` where it does not fill the area.
    pub fn with_align(mut self, align: Alignment) -> Self {
        self.align = align;
        self
    }

    /// The same options trimming transparent margins first (or not).
    pub fn with_trim(mut self, trim: bool) -> Self {
        self.trim = trim;
        self
    }

    /// The same options decoding the design within `limits`.
    pub fn with_limits(mut self, limits: DecodeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Stops the batch early (`E_CANCELLED`) once `cancel` is cancelled.
    pub fn with_cancel(mut self, cancel: CancelToken) -> Self {
        self.cancel = Some(cancel);
        self
    }

    fn check_cancelled(&self) -> Result<()> {
        if self.cancel.as_ref().is_some_and(CancelToken::is_cancelled) {
            return Err(Error::Cancelled("the mockups were cancelled".into()));
        }
        Ok(())
    }
}

/// One mockup image of a batch.
#[derive(Debug, Clone)]
pub struct Mockup {
    /// The photo view's name.
    pub view: String,
    /// The garment colour, or `None` for the photo's own colour.
    pub color: Option<GarmentColor>,
    /// The image (sRGB, opaque where the photo is).
    pub image: RgbaImage,
}

/// Renders one design on many photo views in many garment colours, decoding the design
/// once and fitting it once per view. With no colours, each view is rendered once in the
/// photo's own colour. Views come out in order, each with its colours in order.
pub fn render_mockups(
    design: &[u8],
    views: &[PhotoView],
    colors: &[GarmentColor],
    options: &MockupOptions,
) -> Result<Vec<Mockup>> {
    check_views(views, colors)?;
    options.check_cancelled()?;
    let tints = tints(colors);
    let canvases: Vec<(u32, u32)> = views.iter().map(PhotoView::design_canvas_size).collect();
    // The fabric's re-tint does not depend on the design: do it while decoding.
    let (prepared, fabrics) = rayon::join(
        || decode_design_for(design, &canvases, options),
        || tint_fabrics(views, &tints),
    );
    place_on_fabrics(&prepared?, views, &tints, fabrics?, options)
}

/// Like [`render_mockups`], from photo views whose images are still encoded: the photos
/// are decoded and prepared, and their fabrics re-tinted, while the design decodes (on
/// separate threads), so a one-off mockup costs little more than its slower half.
/// Returns the views' errors first, then the design's.
pub fn render_mockups_encoded(
    design: &[u8],
    views: &[EncodedPhotoView<'_>],
    colors: &[GarmentColor],
    options: &MockupOptions,
) -> Result<Vec<Mockup>> {
    if views.is_empty() {
        return Err(Error::validation("photo", "give at least one photo view"));
    }
    options.check_cancelled()?;
    let tints = tints(colors);
    let canvases: Vec<(u32, u32)> = views.iter().map(|v| v.area.design_canvas_size()).collect();
    let (prepared, decoded) = rayon::join(
        || decode_design_for(design, &canvases, options),
        || -> Result<(Vec<PhotoView>, Vec<RgbaImage>)> {
            let views = views
                .par_iter()
                .map(EncodedPhotoView::decode)
                .collect::<Result<Vec<_>>>()?;
            check_views(&views, colors)?;
            options.check_cancelled()?;
            let fabrics = tint_fabrics(&views, &tints)?;
            Ok((views, fabrics))
        },
    );
    let (views, fabrics) = decoded?;
    let prepared = prepared?;
    let mockups = place_on_fabrics(&prepared, &views, &tints, fabrics, options)?;
    // Freeing the photos, maps and design (tens of MB) takes milliseconds: not on
    // the caller's time.
    rayon::spawn(move || drop((views, prepared)));
    Ok(mockups)
}

/// At least one view, and a garment mask on each when re-tinting.
fn check_views(views: &[PhotoView], colors: &[GarmentColor]) -> Result<()> {
    if views.is_empty() {
        return Err(Error::validation("photo", "give at least one photo view"));
    }
    if !colors.is_empty() {
        if let Some(view) = views.iter().find(|v| !v.has_mask()) {
            return Err(Error::validation(
                "color",
                format!(
                    "the photo view `{}` has no garment mask, so it cannot be re-tinted",
                    view.name
                ),
            ));
        }
    }
    Ok(())
}

/// Decodes the design at no more pixels than fitting it into every one of `canvases`
/// needs (see [`PreparedDesign::decode_for`]).
fn decode_design_for(
    design: &[u8],
    canvases: &[(u32, u32)],
    options: &MockupOptions,
) -> Result<PreparedDesign> {
    PreparedDesign::decode_for(design, &options.limits, canvases, options.fit, options.trim)
}

/// Like [`render_mockups`], from a design decoded and prepared already.
pub fn render_prepared(
    design: &PreparedDesign,
    views: &[PhotoView],
    colors: &[GarmentColor],
    options: &MockupOptions,
) -> Result<Vec<Mockup>> {
    let tints = tints(colors);
    let fabrics = tint_fabrics(views, &tints)?;
    place_on_fabrics(design, views, &tints, fabrics, options)
}

/// The garment colours of a batch: `None` (the photo's own) when none are given.
fn tints(colors: &[GarmentColor]) -> Vec<Option<GarmentColor>> {
    if colors.is_empty() {
        vec![None]
    } else {
        colors.iter().copied().map(Some).collect()
    }
}

/// Every view's fabric in every tint ([`tint_outside_print`]): views in order, each with
/// its tints in order.
fn tint_fabrics(views: &[PhotoView], tints: &[Option<GarmentColor>]) -> Result<Vec<RgbaImage>> {
    views
        .iter()
        .flat_map(|v| tints.iter().map(move |c| tint_outside_print(v, *c)))
        .collect()
}

/// Fits the design once per view, places it once, and finishes each colour's fabric
/// (`fabrics`: views in order, each with its colours in order).
fn place_on_fabrics(
    design: &PreparedDesign,
    views: &[PhotoView],
    tints: &[Option<GarmentColor>],
    fabrics: Vec<RgbaImage>,
    options: &MockupOptions,
) -> Result<Vec<Mockup>> {
    let mut fabrics = fabrics.into_iter();
    let mut out = Vec::with_capacity(views.len() * tints.len());
    for view in views {
        options.check_cancelled()?;
        let fitted = design.fit(
            view.design_canvas_size(),
            options.fit,
            options.align,
            options.trim,
        )?;
        let placed = PlacedPrint::new(view, &fitted)?;
        for color in tints {
            options.check_cancelled()?;
            let mut image = fabrics.next().expect("one fabric per view and colour");
            placed.finish(view, *color, &mut image);
            out.push(Mockup {
                view: view.name.clone(),
                color: *color,
                image,
            });
        }
    }
    Ok(out)
}

/// Places `design` on `view`, re-tinting the garment to `color` when given.
///
/// `design` is premultiplied RGBA already fitted to the print area: its rectangle maps
/// onto the view's quad (use [`PhotoView::design_canvas_size`] for its size). Re-tinting
/// needs a view with a garment mask (`E_VALIDATION` otherwise). For many colours of one
/// design, [`PlacedPrint`] does the colour-independent half once.
pub fn render_mockup(
    view: &PhotoView,
    design: &RgbaImage,
    color: Option<GarmentColor>,
) -> Result<RgbaImage> {
    check_tint(view, color)?;
    PlacedPrint::new(view, design)?.render(view, color)
}

fn check_tint(view: &PhotoView, color: Option<GarmentColor>) -> Result<()> {
    if color.is_some() && view.mask.is_none() {
        return Err(Error::validation(
            "color",
            format!(
                "the photo view `{}` has no garment mask, so its garment cannot be re-tinted; add a mask or leave the colour out",
                view.name
            ),
        ));
    }
    Ok(())
}

/// A fitted design laid onto one photo view: for every photo pixel the print can
/// touch, the design's colour as the photo's folds bend it (linear RGB), its opacity
/// there (including the garment mask, frayed at the print's edges by the knit) and the
/// L* code of the photo's light under it. None of it depends on the garment colour, so
/// a batch computes it once per view; each colour then shades the ink like the fabric it
/// is printed on (see [`light`]), re-tints and blends.
pub struct PlacedPrint {
    /// `[r, g, b, alpha]` per pixel of the view's print bounds, row by row: the design's
    /// linear colour (unshaded) and opacity.
    ink: Vec<[f32; 4]>,
    /// The L* code (see [`light::lstar_code`]) of the blurred photo luminance per pixel
    /// of the print bounds: the fabric's light under the print.
    light_codes: Vec<u16>,
}

impl PlacedPrint {
    /// Warps `design` (premultiplied, fitted to the print area) onto `view` and frays its
    /// edges by the knit. `E_VALIDATION` for an empty design or a degenerate print-area
    /// quad.
    pub fn new(view: &PhotoView, design: &RgbaImage) -> Result<Self> {
        if design.width() == 0 || design.height() == 0 {
            return Err(Error::validation("design", "the fitted design is empty"));
        }
        let to_linear = srgb_to_linear_table();
        let inverse =
            Homography::rect_to_quad(design.width() as f64, design.height() as f64, &view.quad)
                .and_then(|h| h.inverse())
                .ok_or_else(|| Error::validation("print_area.quad", "the quad is degenerate"))?;
        let w = view.photo.width() as usize;
        let [bx0, by0, bx1, by1] = view.print_bounds;
        let bw = bx1.saturating_sub(bx0) as usize;
        let bh = by1.saturating_sub(by0) as usize;
        let light_codes: Vec<u16> = view
            .print_luminance
            .par_iter()
            .map(|&y| light::lstar_code(y))
            .collect();
        let mut ink = vec![[0.0f32; 4]; bw * bh];
        if bw == 0 {
            return Ok(Self { ink, light_codes });
        }
        // Stitches of the knit per design pixel, along the print's width and height.
        let (width_in, height_in) = view.print_size_in;
        let wales_per_px = (width_in * f64::from(knit::WALES_PER_INCH)) / design.width() as f64;
        let courses_per_px =
            (height_in * f64::from(knit::COURSES_PER_INCH)) / design.height() as f64;
        let knit_table = knit::KnitTable::get();
        ink.par_chunks_exact_mut(bw)
            .enumerate()
            .for_each(|(row, out)| {
                let y = by0 as usize + row;
                for (col, o) in out.iter_mut().enumerate() {
                    let x = bx0 as usize + col;
                    let i = y * w + x;
                    let coverage = view.mask.as_ref().map_or(255, |m| m[i]) as f32 / 255.0;
                    // The maps cover the print bounds only, row by row.
                    let at = row * bw + col;
                    let [dx, dy] = view.shift[at];
                    let (u, v) =
                        inverse.apply(x as f64 + 0.5 - dx as f64, y as f64 + 0.5 - dy as f64);
                    let s = sample_bilinear(design, u, v);
                    let mut alpha = s[3] / 255.0;
                    if alpha <= 0.0 {
                        continue;
                    }
                    let at_edge = || {
                        [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)]
                            .iter()
                            .any(|(du, dv)| {
                                (sample_bilinear(design, u + du, v + dv)[3] - s[3]).abs() > 2.0
                            })
                    };
                    if alpha < 1.0 && at_edge() {
                        // The ink's edge (not an evenly translucent area) frays along the
                        // loops of the knit under it.
                        let k = knit_table.factor(
                            (u * wales_per_px) as f32,
                            (v * courses_per_px) as f32,
                            0.0,
                        );
                        alpha = knit::fray(alpha, k);
                    }
                    let straight = s[3].max(1e-3);
                    for k in 0..3 {
                        let srgb = (s[k] / straight * 255.0).clamp(0.0, 255.0);
                        // srgb is within 0..=255: adding a half rounds it.
                        o[k] = to_linear[(srgb + 0.5) as usize];
                    }
                    o[3] = alpha * coverage;
                }
            });
        Ok(Self { ink, light_codes })
    }

    /// The mockup in one garment colour (`None`: the photo's own colour): the photo,
    /// its fabric re-tinted through the mask, the placed print blended over it.
    /// `E_VALIDATION` when re-tinting a view without a garment mask.
    pub fn render(&self, view: &PhotoView, color: Option<GarmentColor>) -> Result<RgbaImage> {
        let mut out = tint_outside_print(view, color)?;
        self.finish(view, color, &mut out);
        Ok(out)
    }

    /// Completes `out` (from [`tint_outside_print`] with the same colour) inside the
    /// print bounds: the fabric re-tinted, the print shaded like it and blended over it.
    fn finish(&self, view: &PhotoView, color: Option<GarmentColor>, out: &mut RgbaImage) {
        let to_linear = srgb_to_linear_table();
        let to_srgb = LinearToSrgb::new();
        let retint = color.map(|c| {
            let fabric = view.fabric();
            (
                Retint::new(c.to_array(), fabric.garment_mean_lstar, to_linear),
                &fabric.lstar_codes,
            )
        });
        // The garment's brightness under the print relative to the print region's, per
        // L* code of the photo's light: the print is shaded by exactly the ratio the
        // fabric shown around it has (the photo's, or its re-tint's).
        let shading =
            light::print_shading(view.print_mean_luminance, retint.as_ref().map(|(r, _)| r));
        let w = view.photo.width() as usize;
        let [bx0, by0, bx1, by1] = view.print_bounds;
        let (bx0, bw) = (bx0 as usize, bx1.saturating_sub(bx0) as usize);
        if bw == 0 {
            return;
        }
        out.as_mut()
            .par_chunks_exact_mut(w * 4)
            .enumerate()
            .skip(by0 as usize)
            .take(by1.saturating_sub(by0) as usize)
            .for_each(|(y, row)| {
                let ink_row = &self.ink[(y - by0 as usize) * bw..][..bw];
                let code_row = &self.light_codes[(y - by0 as usize) * bw..][..bw];
                let row = &mut row[bx0 * 4..(bx0 + bw) * 4];
                for (col, (px, ink)) in row.chunks_exact_mut(4).zip(ink_row).enumerate() {
                    let i = y * w + bx0 + col;
                    let coverage = view.mask.as_ref().map_or(255, |m| m[i]) as f32 / 255.0;
                    // The fabric: the photo, or its re-tint blended in through the mask.
                    let mut base = [
                        to_linear[px[0] as usize],
                        to_linear[px[1] as usize],
                        to_linear[px[2] as usize],
                    ];
                    if let Some((retint, lstar_codes)) = &retint {
                        let tinted = retint.linear(lstar_codes[i]);
                        for k in 0..3 {
                            base[k] = tinted[k] * coverage + base[k] * (1.0 - coverage);
                        }
                    }
                    let alpha = ink[3];
                    if alpha > 0.0 {
                        let ratio = shading[code_row[col] as usize];
                        for k in 0..3 {
                            let lit = light::shade_ink(ink[k], ratio);
                            base[k] = lit * alpha + base[k] * (1.0 - alpha);
                        }
                    }
                    px[0] = to_srgb.convert(base[0]);
                    px[1] = to_srgb.convert(base[1]);
                    px[2] = to_srgb.convert(base[2]);
                }
            });
    }
}

/// The photo with its fabric re-tinted to `color` everywhere except inside the print
/// bounds (left as the photo for [`PlacedPrint`] to finish). Independent of the design,
/// so a batch does it while the design is still decoding.
fn tint_outside_print(view: &PhotoView, color: Option<GarmentColor>) -> Result<RgbaImage> {
    check_tint(view, color)?;
    let mut out = view.photo.clone();
    let Some(color) = color else {
        return Ok(out);
    };
    let to_linear = srgb_to_linear_table();
    let to_srgb = LinearToSrgb::new();
    let fabric = view.fabric();
    let lstar_codes = &fabric.lstar_codes;
    let retint = Retint::new(color.to_array(), fabric.garment_mean_lstar, to_linear);
    let mask = view.mask.as_ref().expect("checked: a re-tint has a mask");
    let w = view.photo.width() as usize;
    let [bx0, by0, bx1, by1] = view.print_bounds.map(|v| v as usize);
    out.as_mut()
        .par_chunks_exact_mut(w * 4)
        .enumerate()
        .for_each(|(y, row)| {
            let row_in_print = y >= by0 && y < by1;
            for (x, px) in row.chunks_exact_mut(4).enumerate() {
                if row_in_print && x >= bx0 && x < bx1 {
                    continue;
                }
                let i = y * w + x;
                let coverage = mask[i];
                if coverage == 255 {
                    px[..3].copy_from_slice(&retint.srgb(lstar_codes[i]));
                } else if coverage > 0 {
                    let tinted = retint.linear(lstar_codes[i]);
                    let c = coverage as f32 / 255.0;
                    for k in 0..3 {
                        let photo = to_linear[px[k] as usize];
                        px[k] = to_srgb.convert(tinted[k] * c + photo * (1.0 - c));
                    }
                }
            }
        });
    Ok(out)
}

/// Encodes every mockup of a batch (in parallel), in the batch's order.
pub fn encode_mockups(
    mockups: &[Mockup],
    format: MockupFormat,
    quality: u8,
) -> Result<Vec<Vec<u8>>> {
    mockups
        .par_iter()
        .map(|m| encode_mockup(&m.image, format, quality))
        .collect()
}

/// Encodes a mockup as JPEG (`quality` 1 to 100) or PNG.
pub fn encode_mockup(img: &RgbaImage, format: MockupFormat, quality: u8) -> Result<Vec<u8>> {
    match format {
        MockupFormat::Jpeg => {
            if !(1..=100).contains(&quality) {
                return Err(Error::validation(
                    "quality",
                    format!("must be between 1 and 100 (got {quality})"),
                ));
            }
            jpeg::encode_rgba(img, quality)
        }
        MockupFormat::Png => crate::pixels::encode_png(img, None),
    }
}

#[cfg(test)]
mod tests;
