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

pub mod light;
mod view;
mod warp;

use image::RgbaImage;
use rayon::prelude::*;

pub use view::{
    DisplacementChannels, DisplacementSpec, PhotoView, PhotoViewImages, PhotoViewSpec,
    PrintAreaSpec, DERIVED_DISPLACEMENT_SHARE, MAX_PHOTO_PIXELS,
};
pub use warp::Homography;

use crate::compose::{DecodeLimits, FitMode, GarmentColor, PreparedDesign};
use crate::error::{Error, Result};
use crate::template::Alignment;
use light::{srgb_to_linear_table, LinearToSrgb, Retint};
use warp::sample_bilinear;

/// How strongly highlights lift the print (see [`light`]).
pub const HIGHLIGHT_STRENGTH: f32 = 0.5;

/// How a mockup image is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MockupFormat {
    /// JPEG (no transparency), the usual choice for product photos.
    Jpeg,
    /// PNG (lossless).
    Png,
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
#[derive(Debug, Clone, PartialEq)]
pub struct MockupOptions {
    /// How the design fits the print area (contain by default).
    pub fit: FitMode,
    /// Where it sits when it does not fill the area (top by default, as chest prints do).
    pub align: Alignment,
    /// Trim fully transparent margins before fitting (on by default).
    pub trim: bool,
    /// Limits for decoding the design.
    pub limits: DecodeLimits,
}

impl Default for MockupOptions {
    fn default() -> Self {
        Self {
            fit: FitMode::Contain,
            align: Alignment::Top,
            trim: true,
            limits: DecodeLimits::default(),
        }
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
    let prepared = PreparedDesign::decode(design, &options.limits)?;
    render_prepared(&prepared, views, colors, options)
}

/// Like [`render_mockups`], from a design decoded and prepared already.
pub fn render_prepared(
    design: &PreparedDesign,
    views: &[PhotoView],
    colors: &[GarmentColor],
    options: &MockupOptions,
) -> Result<Vec<Mockup>> {
    let tints: Vec<Option<GarmentColor>> = if colors.is_empty() {
        vec![None]
    } else {
        colors.iter().copied().map(Some).collect()
    };
    let mut out = Vec::with_capacity(views.len() * tints.len());
    for view in views {
        let fitted = design.fit(
            view.design_canvas_size(),
            options.fit,
            options.align,
            options.trim,
        )?;
        for color in &tints {
            out.push(Mockup {
                view: view.name.clone(),
                color: *color,
                image: render_mockup(view, &fitted, *color)?,
            });
        }
    }
    Ok(out)
}

/// Places `design` on `view`, re-tinting the garment to `color` when given.
///
/// `design` is premultiplied RGBA already fitted to the print area: its rectangle maps
/// onto the view's quad (use [`PhotoView::design_canvas_size`] for its size). Re-tinting
/// needs a view with a garment mask (`E_VALIDATION` otherwise).
pub fn render_mockup(
    view: &PhotoView,
    design: &RgbaImage,
    color: Option<GarmentColor>,
) -> Result<RgbaImage> {
    if color.is_some() && view.mask.is_none() {
        return Err(Error::validation(
            "color",
            format!(
                "the photo view `{}` has no garment mask, so its garment cannot be re-tinted; add a mask or leave the colour out",
                view.name
            ),
        ));
    }
    if design.width() == 0 || design.height() == 0 {
        return Err(Error::validation("design", "the fitted design is empty"));
    }
    let to_linear = srgb_to_linear_table();
    let to_srgb = LinearToSrgb::new();
    let retint = color.map(|c| Retint::new(c.to_array(), view.garment_mean_lstar, &to_linear));
    let inverse =
        Homography::rect_to_quad(design.width() as f64, design.height() as f64, &view.quad)
            .and_then(|h| h.inverse())
            .ok_or_else(|| Error::validation("print_area.quad", "the quad is degenerate"))?;

    let (w, _h) = view.photo.dimensions();
    let mut out = view.photo.clone();
    let [bx0, by0, bx1, by1] = view.print_bounds;
    let print_mean = view.print_mean_luminance;
    out.as_mut()
        .par_chunks_exact_mut(w as usize * 4)
        .enumerate()
        .for_each(|(y, row)| {
            let y = y as u32;
            let row_in_print = y >= by0 && y < by1;
            for x in 0..w {
                let i = (y * w + x) as usize;
                let px = &mut row[x as usize * 4..x as usize * 4 + 4];
                let coverage = view.mask.as_ref().map_or(255, |m| m[i]);
                let inside = row_in_print && x >= bx0 && x < bx1;
                if !inside {
                    // Only the fabric's colour can change here.
                    if let Some(retint) = &retint {
                        if coverage == 255 {
                            px[..3].copy_from_slice(&retint.srgb(view.lstar_codes[i]));
                        } else if coverage > 0 {
                            let tinted = retint.linear(view.lstar_codes[i]);
                            let c = coverage as f32 / 255.0;
                            for k in 0..3 {
                                let photo = to_linear[px[k] as usize];
                                px[k] = to_srgb.convert(tinted[k] * c + photo * (1.0 - c));
                            }
                        }
                    }
                    continue;
                }
                let coverage = coverage as f32 / 255.0;
                // The fabric: the photo, or its re-tint blended in through the mask.
                let mut base = [
                    to_linear[px[0] as usize],
                    to_linear[px[1] as usize],
                    to_linear[px[2] as usize],
                ];
                if let Some(retint) = &retint {
                    let tinted = retint.linear(view.lstar_codes[i]);
                    for k in 0..3 {
                        base[k] = tinted[k] * coverage + base[k] * (1.0 - coverage);
                    }
                }
                let [dx, dy] = view.shift[i];
                let (u, v) = inverse.apply(x as f64 + 0.5 - dx as f64, y as f64 + 0.5 - dy as f64);
                let s = sample_bilinear(design, u, v);
                let alpha = s[3] / 255.0 * coverage;
                if alpha > 0.0 {
                    let ratio = view.print_luminance[i] / print_mean;
                    let shade = ratio.min(1.0);
                    let highlight = HIGHLIGHT_STRENGTH * (ratio - 1.0).clamp(0.0, 1.0);
                    let straight = s[3].max(1e-3);
                    for k in 0..3 {
                        let srgb = (s[k] / straight * 255.0).clamp(0.0, 255.0);
                        let c = to_linear[srgb.round() as usize] * shade;
                        let lit = c + (1.0 - c) * highlight;
                        base[k] = lit * alpha + base[k] * (1.0 - alpha);
                    }
                }
                px[0] = to_srgb.convert(base[0]);
                px[1] = to_srgb.convert(base[1]);
                px[2] = to_srgb.convert(base[2]);
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
            let rgb: Vec<u8> = img
                .as_raw()
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect();
            let mut bytes = Vec::new();
            let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, quality);
            // 4:2:0 chroma, as libjpeg, sharp and browsers' own encoders default to.
            encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
            encoder
                .encode(
                    &rgb,
                    img.width() as u16,
                    img.height() as u16,
                    jpeg_encoder::ColorType::Rgb,
                )
                .map_err(|e| Error::validation("photo", format!("cannot encode JPEG: {e}")))?;
            Ok(bytes)
        }
        MockupFormat::Png => crate::compose::encode_png(img, None),
    }
}
