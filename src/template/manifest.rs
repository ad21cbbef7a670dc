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
    /// How the 3D garment is built from the panels (body form, sleeves, cuffs, hood,
    /// pocket: `docs/template-packs.md#garment-parameters`); `None` builds the classic
    /// tee's form. Checked against the documented keys and ranges when the pack loads
    /// ([`check_garment`]); read by the Blender scripts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garment: Option<serde_json::Value>,
}

/// What one garment parameter may hold.
#[derive(Clone, Copy)]
enum Param {
    /// A number in the range.
    Number(f64, f64),
    /// `true` or `false`.
    Bool,
    /// One of the strings.
    Choice(&'static [&'static str]),
    /// A panel name of the pattern.
    Panel,
    /// Two panel names of the pattern.
    TwoPanels,
    /// An object with these parameters, or `null`.
    Part(&'static [(&'static str, Param)]),
}

/// The garment parameters, as `docs/template-packs.md#garment-parameters` documents them.
const GARMENT_PARAMS: &[(&str, Param)] = &[
    ("body_length_in", Param::Number(10.0, 50.0)),
    ("lift_in", Param::Number(-10.0, 10.0)),
    ("physical_wrap", Param::Bool),
    ("tube_width", Param::Number(0.5, 1.2)),
    ("chest_depth_in", Param::Number(1.0, 10.0)),
    ("hem_depth_in", Param::Number(1.0, 10.0)),
    ("fold_radius_in", Param::Number(0.5, 6.0)),
    ("armhole_open_in", Param::Number(0.5, 5.0)),
    ("box", Param::Number(0.3, 1.5)),
    ("hem_flare_in", Param::Number(0.0, 3.0)),
    ("waist_in", Param::Number(0.0, 2.0)),
    ("hem_ripple_in", Param::Number(0.0, 1.0)),
    ("drag_fold_in", Param::Number(0.0, 1.0)),
    ("sleeve_drop_deg", Param::Number(0.0, 89.0)),
    ("sleeve_length_in", Param::Number(1.0, 40.0)),
    ("sleeve_open_r_in", Param::Number(0.5, 6.0)),
    ("sleeve_open_lift_in", Param::Number(-5.0, 5.0)),
    ("sleeve_fullness_in", Param::Number(0.0, 2.0)),
    ("collar", Param::Choice(&["rib", "none"])),
    ("rib_texture", Param::Bool),
    ("rib_spacing_in", Param::Number(0.04, 0.5)),
    (
        "cuffs",
        Param::Part(&[
            ("length_in", Param::Number(0.5, 6.0)),
            ("radius_in", Param::Number(0.5, 5.0)),
        ]),
    ),
    (
        "hem_band",
        Param::Part(&[
            ("height_in", Param::Number(0.5, 6.0)),
            ("taper", Param::Number(0.7, 1.0)),
        ]),
    ),
    (
        "hood",
        Param::Part(&[
            ("panels", Param::TwoPanels),
            ("rise_in", Param::Number(2.0, 16.0)),
            ("lean_in", Param::Number(-3.0, 6.0)),
            ("depth_in", Param::Number(1.0, 12.0)),
            ("opening_half_width_in", Param::Number(0.5, 6.0)),
            ("bulge_in", Param::Number(0.0, 5.0)),
        ]),
    ),
    (
        "pocket",
        Param::Part(&[
            ("panel", Param::Panel),
            ("top_in", Param::Number(0.0, 40.0)),
            ("standoff_in", Param::Number(0.0, 1.0)),
            ("puff_in", Param::Number(0.0, 2.0)),
        ]),
    ),
];

/// Checks a manifest's `garment` object against the documented parameters: every key
/// known, every value of its kind and in its range, every named panel in `panels`.
/// Returns `(field, message)` for each problem (`garment.hood.rise_in`, ...).
pub(crate) fn check_garment(
    garment: &serde_json::Value,
    panels: &[Panel],
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    check_object(garment, "garment", GARMENT_PARAMS, panels, &mut problems);
    problems
}

fn check_object(
    value: &serde_json::Value,
    field: &str,
    params: &[(&str, Param)],
    panels: &[Panel],
    problems: &mut Vec<(String, String)>,
) {
    let Some(object) = value.as_object() else {
        problems.push((field.to_string(), "must be an object".to_string()));
        return;
    };
    for (key, value) in object {
        let field = format!("{field}.{key}");
        let Some((_, param)) = params.iter().find(|(name, _)| name == key) else {
            let known: Vec<&str> = params.iter().map(|(name, _)| *name).collect();
            problems.push((
                field,
                format!("is not a garment parameter; known: {}", known.join(", ")),
            ));
            continue;
        };
        let is_panel = |v: &serde_json::Value| {
            v.as_str()
                .is_some_and(|name| panels.iter().any(|p| p.name == name))
        };
        let problem = match *param {
            Param::Number(lo, hi) => match value.as_f64() {
                Some(x) if (lo..=hi).contains(&x) => None,
                _ => Some(format!("must be a number from {lo} to {hi}")),
            },
            Param::Bool => (!value.is_boolean()).then(|| "must be true or false".to_string()),
            Param::Choice(options) => (!value.as_str().is_some_and(|s| options.contains(&s)))
                .then(|| format!("must be one of {}", options.join(", "))),
            Param::Panel => {
                (!is_panel(value)).then(|| "must name a panel of the pattern".to_string())
            }
            Param::TwoPanels => {
                let ok = value
                    .as_array()
                    .is_some_and(|names| names.len() == 2 && names.iter().all(is_panel));
                (!ok).then(|| "must name two panels of the pattern".to_string())
            }
            Param::Part(inner) => {
                if !value.is_null() {
                    check_object(value, &field, inner, panels, problems);
                }
                None
            }
        };
        if let Some(message) = problem {
            problems.push((field, message));
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn panels(names: &[&str]) -> Vec<Panel> {
        names
            .iter()
            .map(|name| Panel {
                name: name.to_string(),
                polygon: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]],
                center_x: 0.5,
                collar_point: [0.5, 0.1],
                hem_y: 0.9,
            })
            .collect()
    }

    #[test]
    fn garment_parameters_are_checked_by_key_kind_range_and_panel() {
        let p = panels(&["front", "back", "hood_left", "hood_right", "pocket"]);
        let good = json!({
            "body_length_in": 28.0, "physical_wrap": true, "collar": "none",
            "cuffs": {"length_in": 2.75, "radius_in": 1.45}, "hem_band": null,
            "hood": {"panels": ["hood_left", "hood_right"], "rise_in": 5.0},
            "pocket": {"panel": "pocket", "top_in": 14.25}
        });
        assert_eq!(check_garment(&good, &p), Vec::<(String, String)>::new());
        let bad = json!({
            "body_length_in": 99, "physical_wrap": "yes", "collar": "polo", "sleeves": 2,
            "cuffs": {"length_in": -1}, "hood": {"panels": ["hood_left"]},
            "pocket": {"panel": "kangaroo"}
        });
        let fields: Vec<String> = check_garment(&bad, &p)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        for field in [
            "garment.body_length_in",
            "garment.physical_wrap",
            "garment.collar",
            "garment.sleeves",
            "garment.cuffs.length_in",
            "garment.hood.panels",
            "garment.pocket.panel",
        ] {
            assert!(
                fields.contains(&field.to_string()),
                "{field} not in {fields:?}"
            );
        }
        assert_eq!(check_garment(&json!([1]), &p)[0].0, "garment");
    }
}
