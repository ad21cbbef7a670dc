//! Compositing: from an uploaded design to the print file, the garment texture atlas, a
//! pattern preview and a preflight report.
//!
//! Pure: bytes in, images and a report out; no store, no files.
//!
//! The pipeline for one design:
//!
//! 1. **decode** ([`decode_design`]): the format is recognised by content; size limits
//!    ([`DecodeLimits`]) are checked from the header before any pixel is decoded; EXIF
//!    orientation is applied; SVG is parsed with external references ignored.
//! 2. **trim** transparent margins (on by default) and **fit** the design into the
//!    placement's print area ([`FitMode`]: contain, cover, stretch), resizing with
//!    premultiplied alpha (Lanczos3 when shrinking); SVG is rasterised directly at the
//!    print resolution instead.
//! 3. **print file**: the whole print area at the print DPI (default 300), transparent
//!    around the design ([`Composition::print_png`] writes the DPI into the PNG).
//! 4. **atlas**: the garment colour inside the pattern's panels with the design placed on
//!    its panel at the pack's atlas resolution; transparent outside the panels.
//! 5. **preview** and **preflight** ([`PreflightReport`]).
//!
//! ```
//! use render_engine::{compose, encode_png, ComposeOptions};
//! use render_engine::{GarmentColor, Preset};
//!
//! // A 600 x 600 opaque red square, as PNG bytes.
//! let img = image::RgbaImage::from_pixel(600, 600, image::Rgba([220, 30, 30, 255]));
//! let png = encode_png(&img, None)?;
//!
//! let options = ComposeOptions::new(Preset::ChestLarge).with_color(GarmentColor::parse("#1f2937")?);
//! let result = compose(&png, &options)?;
//! assert_eq!(result.print_file.dimensions(), (3600, 3600)); // 12 x 12 in at 300 DPI
//! assert_eq!(result.preflight.effective_dpi.x, 50.0);       // 600 px over 12 in
//! # Ok::<(), render_engine::Error>(())
//! ```

mod atlas;
mod preflight;

use std::sync::Arc;
use std::time::{Duration, Instant};

use image::RgbaImage;
use serde::{Deserialize, Serialize};

pub use preflight::{
    Axes, InchRect, PixelSize, PreflightReport, PreflightWarning, Severity, WarningCode,
};

use crate::color::GarmentColor;
use crate::design::{decode_design, DecodeLimits, Design, FitMode};
use crate::pixels::encode_png;

use crate::cancel::CancelToken;
use crate::design::{FitPlan, Source, SourceContent};
use crate::error::{Error, Result};
use crate::pixels;
use crate::template::{Alignment, PrintArea, TemplatePack};
use crate::Preset;

/// The default print resolution.
pub const DEFAULT_PRINT_DPI: u32 = 300;
/// The lowest print resolution accepted.
pub const MIN_PRINT_DPI: u32 = 72;
/// The highest print resolution accepted.
pub const MAX_PRINT_DPI: u32 = 1200;
/// The default width of the pattern preview, in pixels.
pub(crate) const DEFAULT_PREVIEW_WIDTH: u32 = 600;

/// Where the design goes: a named preset, or an area given directly in inches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Placement {
    /// A preset, defined physically by the template pack (see [`crate::template`]).
    Preset(Preset),
    /// A shop's own area.
    Custom(CustomPlacement),
}

impl From<Preset> for Placement {
    fn from(preset: Preset) -> Self {
        Placement::Preset(preset)
    }
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Placement::Preset(p) => write!(f, "{p}"),
            Placement::Custom(_) => f.write_str("custom"),
        }
    }
}

/// A print area given directly in inches, relative to a panel's collar point: `x_in`
/// to the right of the centre line, `y_in` below the collar point, locating the area's
/// top-left corner. `chest-large` on `classic-tee` is
/// `{ panel: "front", x_in: -6, y_in: 3, width_in: 12, height_in: 12, align: top }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomPlacement {
    /// The panel (`front`, `back`, `left_sleeve`, `right_sleeve` on `classic-tee`).
    pub panel: String,
    /// The area's left edge, inches right of the panel's centre line (negative: left).
    pub x_in: f64,
    /// The area's top edge, inches below the panel's collar point.
    pub y_in: f64,
    /// The area's width in inches.
    pub width_in: f64,
    /// The area's height in inches.
    pub height_in: f64,
    /// Where the design sits in the area.
    #[serde(default)]
    pub align: Alignment,
}

/// Everything [`compose`] needs besides the design.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ComposeOptions {
    /// The template pack (default: the built-in `classic-tee`).
    pub template: TemplatePack,
    /// Where the design goes.
    pub placement: Placement,
    /// How it is fitted into the area (default `contain`).
    pub fit: FitMode,
    /// The garment colour (default white).
    pub color: GarmentColor,
    /// The print file's resolution (default 300, 72 to 1200).
    pub print_dpi: u32,
    /// Trim fully transparent margins before fitting (default on).
    pub trim: bool,
    /// Decoding limits.
    pub limits: DecodeLimits,
    /// The preview's width in pixels (default 600).
    pub preview_width: u32,
    /// Set by the caller to stop compositing early (checked between stages); the
    /// compositor then returns `E_CANCELLED`.
    pub cancel: Option<CancelToken>,
}

impl Default for ComposeOptions {
    fn default() -> Self {
        ComposeOptions::new(Preset::ChestLarge)
    }
}

impl ComposeOptions {
    /// The same options with a preview `width` pixels wide (16 to 8192; default 600).
    pub fn with_preview_width(mut self, width: u32) -> Self {
        self.preview_width = width;
        self
    }

    /// Options with the given placement and every default.
    pub fn new(placement: impl Into<Placement>) -> Self {
        ComposeOptions {
            template: TemplatePack::builtin(),
            placement: placement.into(),
            fit: FitMode::default(),
            color: GarmentColor::WHITE,
            print_dpi: DEFAULT_PRINT_DPI,
            trim: true,
            limits: DecodeLimits::default(),
            preview_width: DEFAULT_PREVIEW_WIDTH,
            cancel: None,
        }
    }

    /// Stops compositing early (`E_CANCELLED`) once `cancel` is cancelled.
    pub fn with_cancel(mut self, cancel: CancelToken) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// Sets the template pack.
    pub fn with_template(mut self, template: TemplatePack) -> Self {
        self.template = template;
        self
    }

    /// Sets the fit mode.
    pub fn with_fit(mut self, fit: FitMode) -> Self {
        self.fit = fit;
        self
    }

    /// Sets the garment colour.
    pub fn with_color(mut self, color: GarmentColor) -> Self {
        self.color = color;
        self
    }

    /// Sets the print resolution.
    pub fn with_print_dpi(mut self, dpi: u32) -> Self {
        self.print_dpi = dpi;
        self
    }

    /// Turns trimming of transparent margins on or off.
    pub fn with_trim(mut self, trim: bool) -> Self {
        self.trim = trim;
        self
    }

    /// Sets the decoding limits.
    pub fn with_limits(mut self, limits: DecodeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The print area these options place the design in, in atlas inches; checks the
    /// options (`E_VALIDATION`).
    pub fn area(&self) -> Result<PrintArea> {
        if !(MIN_PRINT_DPI..=MAX_PRINT_DPI).contains(&self.print_dpi) {
            return Err(Error::validation(
                "print_dpi",
                format!("{} is out of range; use {MIN_PRINT_DPI} to {MAX_PRINT_DPI} (300 is ideal for garments)", self.print_dpi),
            ));
        }
        if !(16..=8192).contains(&self.preview_width) {
            return Err(Error::validation(
                "preview_width",
                format!(
                    "{} is out of range; use 16 to 8192 pixels",
                    self.preview_width
                ),
            ));
        }
        let area = match &self.placement {
            Placement::Preset(p) => self.template.preset_area(*p),
            Placement::Custom(c) => self.template.custom_area(
                &c.panel,
                c.x_in,
                c.y_in,
                c.width_in,
                c.height_in,
                c.align,
            )?,
        };
        let (w, h) = area_px(&area, self.print_dpi);
        if u64::from(w) * u64::from(h) > self.limits.max_pixels {
            return Err(Error::validation(
                "print_dpi",
                format!(
                    "a {} x {} in area at {} DPI is {w} x {h} px, more than the {:.0} megapixel limit; lower the DPI",
                    area.width_in,
                    area.height_in,
                    self.print_dpi,
                    self.limits.max_pixels as f64 / 1e6
                ),
            ));
        }
        Ok(area)
    }
}

fn area_px(area: &PrintArea, dpi: u32) -> (u32, u32) {
    let dpi = f64::from(dpi);
    (
        ((area.width_in * dpi).round() as u32).max(1),
        ((area.height_in * dpi).round() as u32).max(1),
    )
}

/// The outputs of one composition.
#[derive(Clone)]
pub struct Composition {
    /// The print file: the whole print area at [`Composition::print_dpi`], the fitted
    /// design on a transparent background (straight alpha). Shared between the
    /// compositions of a batch that differ only in garment colour.
    pub print_file: Arc<RgbaImage>,
    /// The print file's resolution.
    pub print_dpi: u32,
    /// The texture atlas at the pack's resolution: garment colour inside the panels, the
    /// design placed on its panel, transparent outside the panels.
    pub atlas: RgbaImage,
    /// The atlas resolution (the template pack's pixels per inch).
    pub atlas_ppi: u32,
    /// A small picture of the atlas with panel outlines and the print area marked.
    pub preview: RgbaImage,
    /// The print-quality report.
    pub preflight: PreflightReport,
    /// The print area used, in atlas inches.
    pub area: PrintArea,
    /// How long each stage took.
    pub timings: StageTimings,
}

/// Wall-clock time of each compositing stage. In a batch, the decode, prepare and fit
/// stages and the colour-independent half of the preview are shared: each composition
/// reports the time of the shared work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageTimings {
    /// Decoding the file (zero when composing a design decoded beforehand).
    pub decode: Duration,
    /// Finding the ink's bounds for trimming and premultiplying alpha.
    pub prepare: Duration,
    /// Fitting and resizing into the print file (or rasterising an SVG), and scaling it
    /// to atlas resolution.
    pub fit: Duration,
    /// Composing the texture atlas.
    pub atlas: Duration,
    /// Drawing the preview and writing the preflight report.
    pub preview: Duration,
}

impl StageTimings {
    /// The sum of the stages.
    pub fn total(&self) -> Duration {
        self.decode + self.prepare + self.fit + self.atlas + self.preview
    }
}

impl std::fmt::Debug for Composition {
    /// Sizes and the report, not the pixels.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Composition")
            .field("print_file", &self.print_file.dimensions())
            .field("print_dpi", &self.print_dpi)
            .field("atlas", &self.atlas.dimensions())
            .field("atlas_ppi", &self.atlas_ppi)
            .field("preview", &self.preview.dimensions())
            .field("preflight", &self.preflight)
            .field("area", &self.area)
            .field("timings", &self.timings)
            .finish()
    }
}

impl Composition {
    /// The print file as PNG, its DPI recorded in the pHYs chunk.
    pub fn print_png(&self) -> Result<Vec<u8>> {
        encode_png(&self.print_file, Some(self.print_dpi))
    }

    /// The atlas as PNG, with the pack's pixels per inch recorded.
    pub fn atlas_png(&self) -> Result<Vec<u8>> {
        encode_png(&self.atlas, Some(self.atlas_ppi))
    }

    /// The preview as PNG.
    pub fn preview_png(&self) -> Result<Vec<u8>> {
        encode_png(&self.preview, None)
    }
}

/// Composes one design: decode, trim, fit, print file, atlas, preview and preflight.
pub fn compose(design: &[u8], options: &ComposeOptions) -> Result<Composition> {
    let mut all = compose_batch(design, std::slice::from_ref(options))?;
    Ok(all.pop().expect("one composition per option set"))
}

/// Composes one design for many option sets (placements, colours, ...), decoding it once
/// and resizing it once per distinct placement: option sets that differ only in garment
/// colour (or preview width) share the same print file.
///
/// The strictest of the option sets' [`DecodeLimits`] applies to decoding.
pub fn compose_batch(design: &[u8], options: &[ComposeOptions]) -> Result<Vec<Composition>> {
    let limits = options.iter().fold(
        DecodeLimits {
            max_bytes: u64::MAX,
            max_pixels: u64::MAX,
        },
        |acc, o| DecodeLimits {
            max_bytes: acc.max_bytes.min(o.limits.max_bytes),
            max_pixels: acc.max_pixels.min(o.limits.max_pixels),
        },
    );
    if options.is_empty() {
        return Ok(Vec::new());
    }
    // Check every option set before spending time on decoding.
    for o in options {
        o.area()?;
    }
    check_cancelled(options)?;
    let start = Instant::now();
    let decoded = decode_design(design, &limits)?;
    compose_timed(decoded, options, start.elapsed())
}

fn compose_timed(
    design: Design,
    options: &[ComposeOptions],
    decode: Duration,
) -> Result<Vec<Composition>> {
    check_cancelled(options)?;
    let start = Instant::now();
    let source = Source::prepare(design);
    let prepare = start.elapsed();
    let mut placed: Vec<(PlaceKey, Arc<Placed>)> = Vec::new();
    let mut masks: Vec<(TemplatePack, Arc<atlas::PanelMask>)> = Vec::new();
    // The colour-independent half of each preview, per placement, mask and width.
    type SharedPreview = (
        Arc<Placed>,
        Arc<atlas::PanelMask>,
        u32,
        Arc<atlas::PreviewBase>,
    );
    let mut previews: Vec<SharedPreview> = Vec::new();
    let mut out = Vec::with_capacity(options.len());
    for o in options {
        check_cancelled(options)?;
        let area = o.area()?;
        let key = PlaceKey {
            area: area.clone(),
            ppi: o.template.pixels_per_inch(),
            fit: o.fit,
            dpi: o.print_dpi,
            trim: o.trim,
        };
        let p = match placed.iter().find(|(k, _)| *k == key) {
            Some((_, p)) => p.clone(),
            None => {
                let start = Instant::now();
                let mut p = place(&source, &area, o)?;
                p.fit_time = start.elapsed();
                let p = Arc::new(p);
                placed.push((key, p.clone()));
                p
            }
        };
        let mask = match masks.iter().find(|(t, _)| same_pattern(t, &o.template)) {
            Some((_, m)) => m.clone(),
            None => {
                let m = Arc::new(atlas::PanelMask::new(&o.template));
                masks.push((o.template.clone(), m.clone()));
                m
            }
        };
        let base = match previews.iter().find(|(pp, mm, w, _)| {
            Arc::ptr_eq(pp, &p) && Arc::ptr_eq(mm, &mask) && *w == o.preview_width
        }) {
            Some((_, _, _, b)) => b.clone(),
            None => {
                let layer = (!p.transparent).then_some(&p.layer);
                let b = Arc::new(atlas::PreviewBase::new(&mask, layer, o.preview_width)?);
                previews.push((p.clone(), mask.clone(), o.preview_width, b.clone()));
                b
            }
        };
        check_cancelled(options)?;
        let mut c = finish(&source, &p, &mask, &base, &area, o)?;
        c.timings.preview += base.build_time;
        c.timings.decode = decode;
        c.timings.prepare = prepare;
        out.push(c);
    }
    Ok(out)
}

/// `E_CANCELLED` once any option set's token is cancelled.
fn check_cancelled(options: &[ComposeOptions]) -> Result<()> {
    if options
        .iter()
        .any(|o| o.cancel.as_ref().is_some_and(CancelToken::is_cancelled))
    {
        return Err(Error::Cancelled("compositing was cancelled".into()));
    }
    Ok(())
}

fn same_pattern(a: &TemplatePack, b: &TemplatePack) -> bool {
    a.atlas() == b.atlas() && a.panels() == b.panels()
}

#[derive(PartialEq)]
struct PlaceKey {
    area: PrintArea,
    ppi: u32,
    fit: FitMode,
    dpi: u32,
    trim: bool,
}

/// A design fitted into one print area.
struct Placed {
    print: Arc<RgbaImage>,
    layer: atlas::AtlasLayer,
    plan: Option<FitPlan>,
    trimmed_px: Option<[u32; 4]>,
    transparent: bool,
    fit_time: Duration,
}

/// Fits the design into one print area and lays it on the atlas.
fn place(source: &Source, area: &PrintArea, o: &ComposeOptions) -> Result<Placed> {
    let (mut canvas, plan, trimmed_px) = source.fit_canvas(
        area_px(area, o.print_dpi),
        o.fit,
        area.align.fractions(),
        o.trim,
    )?;
    let layer = atlas::AtlasLayer::from_canvas(&canvas, area, o.template.pixels_per_inch())?;
    let transparent = pixels::fully_transparent(&canvas);
    pixels::unpremultiply(&mut canvas);
    Ok(Placed {
        print: Arc::new(canvas),
        layer,
        plan,
        trimmed_px,
        transparent,
        fit_time: Duration::ZERO,
    })
}

fn finish(
    source: &Source,
    p: &Placed,
    mask: &atlas::PanelMask,
    preview_base: &atlas::PreviewBase,
    area: &PrintArea,
    o: &ComposeOptions,
) -> Result<Composition> {
    let atlas_start = Instant::now();
    let atlas_img = atlas::compose_atlas(mask, o.color, (!p.transparent).then_some(&p.layer));
    let atlas_time = atlas_start.elapsed();
    let preview_start = Instant::now();
    let dpi = f64::from(o.print_dpi);
    let (fitted_px, fitted_in, scale, effective_dpi) = match &p.plan {
        Some(plan) => {
            let [x, y, w, h] = plan.dest.map(f64::from);
            let scale = Axes {
                x: plan.scale.0,
                y: plan.scale.1,
            };
            let effective = match source.content {
                SourceContent::Vector(_) => Axes { x: dpi, y: dpi },
                SourceContent::Raster { .. } => Axes {
                    x: dpi / plan.scale.0,
                    y: dpi / plan.scale.1,
                },
            };
            (
                PixelSize {
                    width: plan.dest[2],
                    height: plan.dest[3],
                },
                InchRect {
                    x: x / dpi,
                    y: y / dpi,
                    width: w / dpi,
                    height: h / dpi,
                },
                scale,
                effective,
            )
        }
        None => (
            PixelSize {
                width: 0,
                height: 0,
            },
            InchRect {
                x: 0.0,
                y: 0.0,
                width: 0.0,
                height: 0.0,
            },
            Axes { x: 0.0, y: 0.0 },
            Axes { x: 0.0, y: 0.0 },
        ),
    };
    let visible_share = if p.transparent {
        None
    } else {
        preflight::visible_share(&p.layer.image, o.color).or(Some(0.0))
    };
    let mut report = PreflightReport {
        format: source.format,
        vector: matches!(source.content, SourceContent::Vector(_)),
        design_px: PixelSize {
            width: source.design_px.0,
            height: source.design_px.1,
        },
        trimmed_px: p.trimmed_px,
        template: o.template.id().to_string(),
        placement: o.placement.to_string(),
        area: area.clone(),
        fit: o.fit,
        garment_color: o.color,
        print_dpi: o.print_dpi,
        print_px: PixelSize {
            width: p.print.width(),
            height: p.print.height(),
        },
        fitted_px,
        fitted_in,
        effective_dpi,
        scale,
        clipped_fraction: p.plan.map_or(0.0, |pl| pl.clipped_fraction),
        visible_share,
        warnings: Vec::new(),
    };
    report.add_warnings(source.ignored_references);
    let fitted_atlas = [
        area.x_in + fitted_in.x,
        area.y_in + fitted_in.y,
        fitted_in.width,
        fitted_in.height,
    ];
    let preview = preview_base.draw(&o.template, o.color, area, fitted_atlas)?;
    Ok(Composition {
        print_file: p.print.clone(),
        print_dpi: o.print_dpi,
        atlas: atlas_img,
        preview,
        preflight: report,
        area: area.clone(),
        atlas_ppi: o.template.pixels_per_inch(),
        timings: StageTimings {
            fit: p.fit_time,
            atlas: atlas_time,
            preview: preview_start.elapsed(),
            ..StageTimings::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_token_stops_compositing_with_e_cancelled() {
        let design = encode_png(
            &RgbaImage::from_pixel(40, 40, image::Rgba([9, 9, 9, 255])),
            None,
        )
        .unwrap();
        let cancel = CancelToken::new();
        let options = ComposeOptions::new(Preset::BackSmall).with_cancel(cancel.clone());
        assert!(compose(&design, &options).is_ok());
        cancel.cancel();
        assert_eq!(
            compose(&design, &options).unwrap_err().code(),
            "E_CANCELLED"
        );
    }
}
