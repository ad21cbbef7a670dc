//! The preflight report: print quality figures and warnings with stable codes.

use image::RgbaImage;
use serde::{Deserialize, Serialize};

use crate::color::{srgb_to_lab, GarmentColor};
use crate::design::{DesignFormat, FitMode};
use crate::template::PrintArea;

/// Effective DPI below which preflight warns (`W_LOW_RESOLUTION`, severity `warning`).
pub(crate) const LOW_DPI: f64 = 150.0;
/// Effective DPI below which the warning is `severe`.
pub(crate) const SEVERE_DPI: f64 = 100.0;
/// Colour difference (CIE76 ΔE) from the garment above which a design pixel counts as
/// clearly visible.
pub(crate) const VISIBLE_DELTA_E: f64 = 20.0;
/// Preflight warns `W_LOW_CONTRAST` when less than this share of the design (weighted by
/// opacity) is clearly visible on the garment.
pub(crate) const MIN_VISIBLE_SHARE: f64 = 0.15;
/// Preflight warns `W_CLIPPED_BY_COVER` when `cover` cuts off more than this share.
pub(crate) const CLIP_TOLERANCE: f64 = 0.005;

/// A preflight warning's stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WarningCode {
    /// The effective DPI is below 150 on some axis (below 100: severity `severe`).
    #[serde(rename = "W_LOW_RESOLUTION")]
    LowResolution,
    /// The design is enlarged to fit (fewer design pixels than print pixels).
    #[serde(rename = "W_UPSCALED")]
    Upscaled,
    /// Every pixel of the design is fully transparent: nothing would print.
    #[serde(rename = "W_FULLY_TRANSPARENT")]
    FullyTransparent,
    /// The design is nearly invisible on the chosen garment colour.
    #[serde(rename = "W_LOW_CONTRAST")]
    LowContrast,
    /// `cover` cut part of the design off.
    #[serde(rename = "W_CLIPPED_BY_COVER")]
    ClippedByCover,
    /// An SVG referred to external files or URLs; they were ignored, never fetched.
    #[serde(rename = "W_EXTERNAL_REFERENCE_IGNORED")]
    ExternalReferenceIgnored,
}

impl WarningCode {
    /// Every code, in documentation order.
    pub const ALL: [WarningCode; 6] = [
        WarningCode::LowResolution,
        WarningCode::Upscaled,
        WarningCode::FullyTransparent,
        WarningCode::LowContrast,
        WarningCode::ClippedByCover,
        WarningCode::ExternalReferenceIgnored,
    ];

    /// The code as text (`W_LOW_RESOLUTION`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            WarningCode::LowResolution => "W_LOW_RESOLUTION",
            WarningCode::Upscaled => "W_UPSCALED",
            WarningCode::FullyTransparent => "W_FULLY_TRANSPARENT",
            WarningCode::LowContrast => "W_LOW_CONTRAST",
            WarningCode::ClippedByCover => "W_CLIPPED_BY_COVER",
            WarningCode::ExternalReferenceIgnored => "W_EXTERNAL_REFERENCE_IGNORED",
        }
    }
}

impl std::fmt::Display for WarningCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a warning matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; the print will be fine.
    Info,
    /// The print may disappoint.
    Warning,
    /// The print will very likely disappoint; fix the design first.
    Severe,
}

impl Severity {
    /// The lowercase name (`info`, `warning`, `severe`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Severe => "severe",
        }
    }
}

/// One preflight finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightWarning {
    /// The stable code.
    pub code: WarningCode,
    /// How much it matters.
    pub severity: Severity,
    /// What was found and what to do about it.
    pub message: String,
}

/// A width and height in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PixelSize {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// A pair of values for the horizontal and vertical axes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Axes {
    /// Horizontal.
    pub x: f64,
    /// Vertical.
    pub y: f64,
}

/// A rectangle in inches.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InchRect {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

/// The print-quality report of one composition. Serialisable (it is `preflight.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightReport {
    /// The design's format.
    pub format: DesignFormat,
    /// Whether the design is vector artwork (rasterised at print resolution).
    pub vector: bool,
    /// The design's own pixel size (for SVG, its width and height in user units).
    pub design_px: PixelSize,
    /// The part of the design used after trimming transparent margins, `[x, y, w, h]` in
    /// design pixels; `None` when nothing was trimmed or the design is empty.
    pub trimmed_px: Option<[u32; 4]>,
    /// The template pack's id.
    pub template: String,
    /// The placement: a preset name or `custom`.
    pub placement: String,
    /// The print area, in atlas inches.
    pub area: PrintArea,
    /// The fit mode.
    pub fit: FitMode,
    /// The garment colour.
    pub garment_color: GarmentColor,
    /// The print file's resolution.
    pub print_dpi: u32,
    /// The print file's size in pixels (the whole print area).
    pub print_px: PixelSize,
    /// The design's size in the print file, in pixels.
    pub fitted_px: PixelSize,
    /// The design's position and size in the print area, in inches from the area's
    /// top-left corner.
    pub fitted_in: InchRect,
    /// Design pixels per printed inch on each axis (for SVG, the print DPI).
    pub effective_dpi: Axes,
    /// Print pixels per design pixel on each axis (above 1 is enlargement).
    pub scale: Axes,
    /// The share of the design cut off by `cover`, 0 to 1.
    pub clipped_fraction: f64,
    /// The share of the design (weighted by opacity) that clearly differs from the
    /// garment colour, 0 to 1; `None` for a fully transparent design.
    pub visible_share: Option<f64>,
    /// Findings, most severe first.
    pub warnings: Vec<PreflightWarning>,
}

impl PreflightReport {
    /// Whether a warning with `code` was raised.
    pub fn has(&self, code: WarningCode) -> bool {
        self.warnings.iter().any(|w| w.code == code)
    }

    /// The most severe warning's severity, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.warnings.iter().map(|w| w.severity).max()
    }

    /// A one-line summary: effective DPI and warning codes.
    pub fn summary(&self) -> String {
        let warnings = if self.warnings.is_empty() {
            "no warnings".to_string()
        } else {
            let codes: Vec<_> = self
                .warnings
                .iter()
                .map(|w| format!("{} ({})", w.code, w.severity.as_str()))
                .collect();
            format!("warnings: {}", codes.join(", "))
        };
        format!(
            "{} on {}: {}x{} px {} -> {:.2} x {:.2} in at {:.0} x {:.0} DPI (print {} DPI); {}",
            self.placement,
            self.template,
            self.design_px.width,
            self.design_px.height,
            self.format.as_str(),
            self.fitted_in.width,
            self.fitted_in.height,
            self.effective_dpi.x,
            self.effective_dpi.y,
            self.print_dpi,
            warnings
        )
    }

    /// Computes the warnings from the figures already in the report.
    pub(crate) fn add_warnings(&mut self, ignored_references: usize) {
        let mut w = Vec::new();
        let mut warn = |code, severity, message: String| {
            w.push(PreflightWarning {
                code,
                severity,
                message,
            })
        };
        let transparent = self.visible_share.is_none();
        if transparent {
            warn(
                WarningCode::FullyTransparent,
                Severity::Severe,
                "every pixel of the design is fully transparent; nothing would be printed".into(),
            );
        }
        if !self.vector && !transparent {
            let dpi = self.effective_dpi.x.min(self.effective_dpi.y);
            if dpi < LOW_DPI {
                let severity = if dpi < SEVERE_DPI {
                    Severity::Severe
                } else {
                    Severity::Warning
                };
                let need_w = (self.fitted_in.width * LOW_DPI).ceil();
                let need_h = (self.fitted_in.height * LOW_DPI).ceil();
                warn(
                    WarningCode::LowResolution,
                    severity,
                    format!(
                        "the design prints at {dpi:.0} DPI (below {LOW_DPI:.0}); supply at least {need_w:.0} x {need_h:.0} px for this size, or choose a smaller placement"
                    ),
                );
            }
            if self.scale.x > 1.0 + 1e-6 || self.scale.y > 1.0 + 1e-6 {
                warn(
                    WarningCode::Upscaled,
                    Severity::Info,
                    format!(
                        "the design is enlarged {:.2}x to fill the area at {} DPI; a larger original prints sharper",
                        self.scale.x.max(self.scale.y),
                        self.print_dpi
                    ),
                );
            }
        }
        if let Some(share) = self.visible_share {
            if share < MIN_VISIBLE_SHARE {
                warn(
                    WarningCode::LowContrast,
                    Severity::Warning,
                    format!(
                        "only {:.0}% of the design stands out from the {} garment; it will be nearly invisible — choose another garment colour or recolour the design",
                        share * 100.0,
                        self.garment_color
                    ),
                );
            }
        }
        if self.clipped_fraction > CLIP_TOLERANCE {
            warn(
                WarningCode::ClippedByCover,
                Severity::Warning,
                format!(
                    "`cover` cuts off {:.0}% of the design; use `contain` to keep all of it",
                    self.clipped_fraction * 100.0
                ),
            );
        }
        if ignored_references > 0 {
            warn(
                WarningCode::ExternalReferenceIgnored,
                Severity::Warning,
                format!(
                    "the SVG refers to {ignored_references} external file(s) or URL(s); they were ignored (never fetched) — embed images as data: URLs"
                ),
            );
        }
        w.sort_by_key(|w| std::cmp::Reverse(w.severity));
        self.warnings = w;
    }
}

/// The share of a premultiplied design layer (weighted by opacity) whose colour, laid on
/// the garment, differs from the garment by more than [`VISIBLE_DELTA_E`]. `None` when
/// the layer is fully transparent.
pub(crate) fn visible_share(layer: &RgbaImage, garment: GarmentColor) -> Option<f64> {
    let g = garment.to_array().map(f64::from);
    let g_lab = srgb_to_lab(g);
    let mut total = 0.0;
    let mut visible = 0.0;
    // Memoise per colour: designs repeat colours a lot.
    let mut cache: std::collections::HashMap<[u8; 4], bool> = std::collections::HashMap::new();
    for p in layer.pixels() {
        let a = p[3];
        if a == 0 {
            continue;
        }
        let weight = f64::from(a) / 255.0;
        total += weight;
        let seen = *cache.entry(p.0).or_insert_with(|| {
            let inv = 1.0 - weight;
            let over = [0, 1, 2].map(|c| f64::from(p[c]) + g[c] * inv);
            let lab = srgb_to_lab(over);
            let de = ((lab[0] - g_lab[0]).powi(2)
                + (lab[1] - g_lab[1]).powi(2)
                + (lab[2] - g_lab[2]).powi(2))
            .sqrt();
            de > VISIBLE_DELTA_E
        });
        if seen {
            visible += weight;
        }
    }
    (total > 0.0).then(|| visible / total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    #[test]
    fn visibility_depends_on_the_garment() {
        let black = RgbaImage::from_pixel(4, 4, Rgba([0, 0, 0, 255]));
        assert_eq!(visible_share(&black, GarmentColor::WHITE), Some(1.0));
        assert_eq!(visible_share(&black, GarmentColor::rgb(0, 0, 0)), Some(0.0));
        // black on a charcoal tee is nearly invisible
        assert_eq!(
            visible_share(&black, GarmentColor::rgb(0x1f, 0x29, 0x37)),
            Some(0.0)
        );
        assert_eq!(
            visible_share(&RgbaImage::new(3, 3), GarmentColor::WHITE),
            None
        );
        // white at 10% opacity (premultiplied 25) on black barely shows
        let faint = RgbaImage::from_pixel(2, 2, Rgba([25, 25, 25, 25]));
        assert_eq!(visible_share(&faint, GarmentColor::rgb(0, 0, 0)), Some(0.0));
    }

    #[test]
    fn codes_serialise_as_their_text() {
        for code in WarningCode::ALL {
            assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{code}\""));
        }
    }
}
