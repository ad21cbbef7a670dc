//! Fitting a design into a print area: the pure arithmetic of contain, cover and stretch.

use serde::{Deserialize, Serialize};

/// How the design is fitted into its print area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FitMode {
    /// Scale uniformly until the design touches the area's sides; nothing is cut off
    /// (the default).
    #[default]
    Contain,
    /// Scale uniformly until the design covers the whole area; what sticks out is cut
    /// off (reported by preflight as `W_CLIPPED_BY_COVER`).
    Cover,
    /// Scale each axis independently to fill the area exactly (distorts the design).
    Stretch,
}

impl FitMode {
    /// Every mode.
    pub const ALL: [FitMode; 3] = [FitMode::Contain, FitMode::Cover, FitMode::Stretch];

    /// The lowercase name (`contain`, `cover`, `stretch`).
    pub fn as_str(self) -> &'static str {
        match self {
            FitMode::Contain => "contain",
            FitMode::Cover => "cover",
            FitMode::Stretch => "stretch",
        }
    }
}

impl std::fmt::Display for FitMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for FitMode {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        FitMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                crate::Error::validation(
                    "fit",
                    format!("unknown fit mode `{s}`; use contain, cover or stretch"),
                )
            })
    }
}

/// The result of fitting a source region into an area of pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FitPlan {
    /// The part of the source region that is drawn, `[x, y, w, h]` in source units,
    /// relative to the region's top-left corner.
    pub src_crop: [f64; 4],
    /// Where it lands in the area, `[x, y, w, h]` in whole area pixels.
    pub dest: [u32; 4],
    /// Destination pixels per source unit on each axis.
    pub scale: (f64, f64),
    /// The share of the source region's area cut off (cover only), 0 to 1.
    pub clipped_fraction: f64,
}

/// Fits a `src` (width, height) region into an `area` of pixels with `mode`, placing it
/// by the alignment fractions `align` (0 = left/top, 0.5 = centre, 1 = right/bottom).
pub(crate) fn plan(src: (f64, f64), area: (u32, u32), mode: FitMode, align: (f64, f64)) -> FitPlan {
    let (sw, sh) = src;
    let (aw, ah) = (f64::from(area.0), f64::from(area.1));
    match mode {
        FitMode::Contain => {
            let s = (aw / sw).min(ah / sh);
            let fw = (sw * s).round().clamp(1.0, aw);
            let fh = (sh * s).round().clamp(1.0, ah);
            let x = ((aw - fw) * align.0).round();
            let y = ((ah - fh) * align.1).round();
            FitPlan {
                src_crop: [0.0, 0.0, sw, sh],
                dest: [x as u32, y as u32, fw as u32, fh as u32],
                scale: (fw / sw, fh / sh),
                clipped_fraction: 0.0,
            }
        }
        FitMode::Cover => {
            let s = (aw / sw).max(ah / sh);
            let vw = (aw / s).min(sw);
            let vh = (ah / s).min(sh);
            let x = (sw - vw) * align.0;
            let y = (sh - vh) * align.1;
            FitPlan {
                src_crop: [x, y, vw, vh],
                dest: [0, 0, area.0, area.1],
                scale: (aw / vw, ah / vh),
                clipped_fraction: (1.0 - (vw * vh) / (sw * sh)).max(0.0),
            }
        }
        FitMode::Stretch => FitPlan {
            src_crop: [0.0, 0.0, sw, sh],
            dest: [0, 0, area.0, area.1],
            scale: (aw / sw, ah / sh),
            clipped_fraction: 0.0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contain_keeps_everything_and_aligns() {
        // 4500 x 5400 into 3600 x 3600, top-aligned: 3000 x 3600 centred horizontally.
        let p = plan((4500.0, 5400.0), (3600, 3600), FitMode::Contain, (0.5, 0.0));
        assert_eq!(p.dest, [300, 0, 3000, 3600]);
        assert!((p.scale.0 - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(p.clipped_fraction, 0.0);
        // a wide design, bottom-right
        let p = plan((200.0, 100.0), (100, 100), FitMode::Contain, (1.0, 1.0));
        assert_eq!(p.dest, [0, 50, 100, 50]);
    }

    #[test]
    fn cover_fills_and_crops_by_alignment() {
        let p = plan((200.0, 100.0), (100, 100), FitMode::Cover, (0.5, 0.0));
        assert_eq!(p.dest, [0, 0, 100, 100]);
        assert_eq!(p.src_crop, [50.0, 0.0, 100.0, 100.0]);
        assert!((p.clipped_fraction - 0.5).abs() < 1e-9);
        let p = plan((100.0, 300.0), (100, 100), FitMode::Cover, (0.5, 0.0));
        assert_eq!(p.src_crop, [0.0, 0.0, 100.0, 100.0]);
    }

    #[test]
    fn stretch_scales_each_axis() {
        let p = plan((100.0, 50.0), (300, 300), FitMode::Stretch, (0.5, 0.5));
        assert_eq!(p.dest, [0, 0, 300, 300]);
        assert_eq!(p.scale, (3.0, 6.0));
    }

    #[test]
    fn fit_modes_parse() {
        assert_eq!("cover".parse::<FitMode>().unwrap(), FitMode::Cover);
        assert_eq!(
            "fill".parse::<FitMode>().unwrap_err().code(),
            "E_VALIDATION"
        );
    }
}
