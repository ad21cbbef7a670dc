//! The `template.json` manifest: the serde types of a template pack's contents.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The manifest format this version of the crate reads.
pub const FORMAT_VERSION: u32 = 1;

/// The parsed `template.json` of a template pack.
///
/// All lengths are in inches. Coordinates are *atlas inches*: x to the right, y downwards,
/// origin at the top-left corner of the atlas, so an atlas pixel is
/// `(x * pixels_per_inch, y * pixels_per_inch)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The manifest format version; must be [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The pack's identifier, kebab-case (`classic-tee`).
    pub id: String,
    /// A human-readable name.
    pub name: String,
    /// The unit of every length in the manifest; must be `"in"`.
    pub units: String,
    /// The atlas (texture) size and resolution.
    pub atlas: AtlasSpec,
    /// The garment's flat pattern: one polygon per panel.
    pub panels: Vec<Panel>,
    /// Placement presets keyed by preset name (`chest-large`, ...). A pack that leaves a
    /// preset out gets its standard definition ([`PresetSpec::standard`]).
    #[serde(default)]
    pub presets: BTreeMap<String, PresetSpec>,
}

/// The atlas: the pattern laid out in one image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AtlasSpec {
    /// Width of the atlas in inches.
    pub width_in: f64,
    /// Height of the atlas in inches.
    pub height_in: f64,
    /// Atlas pixels per inch.
    pub pixels_per_inch: u32,
}

impl AtlasSpec {
    /// The atlas size in pixels, `(width, height)`.
    pub fn size_px(&self) -> (u32, u32) {
        let ppi = f64::from(self.pixels_per_inch);
        (
            (self.width_in * ppi).round() as u32,
            (self.height_in * ppi).round() as u32,
        )
    }
}

/// One panel of the pattern (front, back, a sleeve), with its landmarks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Panel {
    /// The panel's name (`front`, `back`, `left_sleeve`, `right_sleeve`).
    pub name: String,
    /// The outline, in atlas inches, as a closed polygon (the last point joins the first).
    pub polygon: Vec<[f64; 2]>,
    /// The x of the panel's vertical centre line, in atlas inches.
    pub center_x: f64,
    /// The collar point: where the centre line meets the neckline (for a sleeve, the top
    /// of the cap), in atlas inches.
    pub collar_point: [f64; 2],
    /// The y of the hem, in atlas inches.
    pub hem_y: f64,
}

/// Where a landmark-relative print area is anchored vertically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// The area's top edge is `offset_in` below the panel's collar point.
    Collar,
    /// The area's centre is `offset_in` below the torso's middle: halfway between the
    /// collar point and the hem.
    TorsoMiddle,
}

/// Where the fitted design sits inside its print area when it does not fill it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Alignment {
    /// Top edge, left edge.
    TopLeft,
    /// Top edge, centred horizontally.
    Top,
    /// Top edge, right edge.
    TopRight,
    /// Left edge, centred vertically.
    Left,
    /// Centred both ways.
    #[default]
    Center,
    /// Right edge, centred vertically.
    Right,
    /// Bottom edge, left edge.
    BottomLeft,
    /// Bottom edge, centred horizontally.
    Bottom,
    /// Bottom edge, right edge.
    BottomRight,
}

impl Alignment {
    /// Every alignment, row by row from the top left.
    pub const ALL: [Alignment; 9] = [
        Alignment::TopLeft,
        Alignment::Top,
        Alignment::TopRight,
        Alignment::Left,
        Alignment::Center,
        Alignment::Right,
        Alignment::BottomLeft,
        Alignment::Bottom,
        Alignment::BottomRight,
    ];

    /// The kebab-case name (`top-left`, `center`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Alignment::TopLeft => "top-left",
            Alignment::Top => "top",
            Alignment::TopRight => "top-right",
            Alignment::Left => "left",
            Alignment::Center => "center",
            Alignment::Right => "right",
            Alignment::BottomLeft => "bottom-left",
            Alignment::Bottom => "bottom",
            Alignment::BottomRight => "bottom-right",
        }
    }

    /// The fractions `(fx, fy)` of the free space placed before the design on each axis:
    /// 0 is left/top, 0.5 centred, 1 right/bottom.
    pub fn fractions(self) -> (f64, f64) {
        let fx = match self {
            Alignment::TopLeft | Alignment::Left | Alignment::BottomLeft => 0.0,
            Alignment::Top | Alignment::Center | Alignment::Bottom => 0.5,
            Alignment::TopRight | Alignment::Right | Alignment::BottomRight => 1.0,
        };
        let fy = match self {
            Alignment::TopLeft | Alignment::Top | Alignment::TopRight => 0.0,
            Alignment::Left | Alignment::Center | Alignment::Right => 0.5,
            Alignment::BottomLeft | Alignment::Bottom | Alignment::BottomRight => 1.0,
        };
        (fx, fy)
    }
}

impl fmt::Display for Alignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Alignment {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        Alignment::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                let valid: Vec<_> = Alignment::ALL.iter().map(|a| a.as_str()).collect();
                crate::Error::validation(
                    "align",
                    format!("unknown alignment `{s}`; use one of {}", valid.join(", ")),
                )
            })
    }
}

/// A preset's physical definition, relative to a panel's landmarks. The area is always
/// centred horizontally on the panel's centre line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresetSpec {
    /// The panel the area is on.
    pub panel: String,
    /// The landmark the area hangs from.
    pub anchor: Anchor,
    /// Distance below the anchor, in inches (see [`Anchor`]).
    pub offset_in: f64,
    /// The area's width in inches.
    pub width_in: f64,
    /// The area's height in inches.
    pub height_in: f64,
    /// Where the design sits in the area.
    pub align: Alignment,
}

impl PresetSpec {
    /// The standard definition of a preset, used when a pack does not define it:
    ///
    /// - `chest-large`: front, 12 x 12 in, top edge 3 in below the collar point, top-aligned;
    /// - `dead-center-medium`: front, 10 x 10 in, centred on the torso's middle, centred;
    /// - `back-small`: back, 4 x 4 in, top edge 2 in below the back collar, top-aligned.
    pub fn standard(preset: crate::Preset) -> PresetSpec {
        use crate::Preset;
        let (panel, anchor, offset_in, size, align) = match preset {
            Preset::ChestLarge => ("front", Anchor::Collar, 3.0, 12.0, Alignment::Top),
            Preset::DeadCenterMedium => {
                ("front", Anchor::TorsoMiddle, 0.0, 10.0, Alignment::Center)
            }
            Preset::BackSmall => ("back", Anchor::Collar, 2.0, 4.0, Alignment::Top),
        };
        PresetSpec {
            panel: panel.to_string(),
            anchor,
            offset_in,
            width_in: size,
            height_in: size,
            align,
        }
    }
}
