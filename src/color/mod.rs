//! Colour in one place: the garment colour callers give as `#rrggbb`, sRGB <-> linear
//! light, relative luminance and CIE L*/L*a*b*.
//!
//! The compositor (preflight visibility), the baked renderer (linear-light shading) and
//! the photo mockups (shading and re-tint) all convert through these functions and
//! tables, so they agree to the last bit.

use std::fmt;
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// sRGB-encoded value (0.0..=1.0) to linear light (0.0..=1.0), the IEC 61966-2-1 curve.
pub(crate) fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// Linear light (0.0..=1.0) to an sRGB-encoded value (0.0..=1.0).
pub(crate) fn linear_to_srgb(c: f32) -> f32 {
    if c <= 0.003_130_8 {
        c * 12.92
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    }
}

/// Relative luminance (Rec. 709 / WCAG weights) of linear RGB.
#[inline]
pub(crate) fn luminance(r: f32, g: f32, b: f32) -> f32 {
    0.2126 * r + 0.7152 * g + 0.0722 * b
}

/// CIE L* (0..=100) of a relative luminance (0..=1).
pub(crate) fn lstar(y: f32) -> f32 {
    if y > 216.0 / 24389.0 {
        116.0 * y.cbrt() - 16.0
    } else {
        y * 24389.0 / 27.0
    }
}

/// Relative luminance (0..=1) of a CIE L* value (0..=100).
pub(crate) fn lstar_to_y(l: f32) -> f32 {
    if l > 8.0 {
        ((l + 16.0) / 116.0).powi(3)
    } else {
        l * 27.0 / 24389.0
    }
}

/// 8-bit sRGB to linear light as `f32` (0.0..=1.0), one entry per byte value.
pub(crate) fn srgb_to_linear_table() -> &'static [f32; 256] {
    static T: OnceLock<[f32; 256]> = OnceLock::new();
    T.get_or_init(|| std::array::from_fn(|i| srgb_to_linear(i as f32 / 255.0)))
}

/// 8-bit sRGB to 16-bit linear light (65535 = 1.0).
pub(crate) fn srgb_to_linear_u16_table() -> &'static [u16; 256] {
    static T: OnceLock<[u16; 256]> = OnceLock::new();
    T.get_or_init(|| {
        std::array::from_fn(|i| (srgb_to_linear(i as f32 / 255.0) * 65535.0).round() as u16)
    })
}

/// Entries of [`linear_u16_to_srgb_table`], indexed by `linear >> 2`.
pub(crate) const LINEAR_U16_TO_SRGB_LEN: usize = 16384;

/// 16-bit linear light (shifted right by 2) to 8-bit sRGB.
pub(crate) fn linear_u16_to_srgb_table() -> &'static [u8] {
    static T: OnceLock<Vec<u8>> = OnceLock::new();
    T.get_or_init(|| {
        (0..LINEAR_U16_TO_SRGB_LEN)
            .map(|i| {
                let lin = (i as f32 + 0.5) / LINEAR_U16_TO_SRGB_LEN as f32;
                (linear_to_srgb(lin) * 255.0).round() as u8
            })
            .collect()
    })
}

/// Resolution of [`LinearToSrgb`].
const LINEAR_STEPS: usize = 4096;

/// Linear light (`f32`, 0.0..=1.0) back to sRGB bytes, through a table.
#[derive(Clone)]
pub(crate) struct LinearToSrgb(Box<[u8; LINEAR_STEPS + 1]>);

impl LinearToSrgb {
    /// Builds the table.
    pub(crate) fn new() -> Self {
        let mut table = Box::new([0u8; LINEAR_STEPS + 1]);
        for (i, v) in table.iter_mut().enumerate() {
            let c = linear_to_srgb(i as f32 / LINEAR_STEPS as f32);
            *v = (c * 255.0).round().clamp(0.0, 255.0) as u8;
        }
        Self(table)
    }

    /// Converts one value (clamped to 0..=1).
    #[inline]
    pub(crate) fn convert(&self, linear: f32) -> u8 {
        let i = (linear.clamp(0.0, 1.0) * LINEAR_STEPS as f32 + 0.5) as usize;
        self.0[i.min(LINEAR_STEPS)]
    }
}

/// The luminance (linear light) of one sRGB pixel (`[r, g, b, ...]`).
#[inline]
pub(crate) fn pixel_luminance(p: &[u8], to_linear: &[f32; 256]) -> f32 {
    luminance(
        to_linear[p[0] as usize],
        to_linear[p[1] as usize],
        to_linear[p[2] as usize],
    )
}

/// CIE L*a*b* (D65) of an 8-bit sRGB colour given as `f64` components (0..=255).
///
/// Computed in `f64` throughout (the sRGB curve included) for colour differences.
pub(crate) fn srgb_to_lab(rgb: [f64; 3]) -> [f64; 3] {
    let lin = |c: f64| {
        let c = c / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let (r, g, b) = (lin(rgb[0]), lin(rgb[1]), lin(rgb[2]));
    let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
    let f = |t: f64| {
        if t > 0.008856 {
            t.cbrt()
        } else {
            7.787 * t + 16.0 / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// The colour of the garment fabric, in sRGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GarmentColor {
    /// Red, 0 to 255.
    pub r: u8,
    /// Green, 0 to 255.
    pub g: u8,
    /// Blue, 0 to 255.
    pub b: u8,
}

impl GarmentColor {
    /// White, the default garment colour.
    pub const WHITE: GarmentColor = GarmentColor::rgb(255, 255, 255);

    /// Builds a colour from its sRGB components.
    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Self { r, g, b }
    }

    /// Parses `#rrggbb` (the `#` is optional, hex digits in either case).
    pub fn parse(text: &str) -> Result<Self> {
        Self::parse_field(text, "color")
    }

    /// Like [`GarmentColor::parse`], reporting a validation error on `field`.
    pub fn parse_field(text: &str, field: &str) -> Result<Self> {
        let hex = text.trim().strip_prefix('#').unwrap_or(text.trim());
        let bad = || {
            Error::validation(
                field,
                format!("`{text}` is not a colour; write it as #rrggbb, e.g. #1f2937"),
            )
        };
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
        Ok(Self::rgb(channel(0)?, channel(2)?, channel(4)?))
    }

    /// The components as an array `[r, g, b]`.
    pub fn to_array(self) -> [u8; 3] {
        [self.r, self.g, self.b]
    }

    /// Relative luminance (WCAG definition), 0.0 for black to 1.0 for white.
    pub fn relative_luminance(self) -> f32 {
        let linear = |c: u8| srgb_to_linear(f32::from(c) / 255.0);
        luminance(linear(self.r), linear(self.g), linear(self.b))
    }
}

impl Default for GarmentColor {
    fn default() -> Self {
        Self::WHITE
    }
}

impl fmt::Display for GarmentColor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }
}

impl std::str::FromStr for GarmentColor {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl serde::Serialize for GarmentColor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for GarmentColor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srgb_round_trips_through_linear() {
        let to_linear = srgb_to_linear_table();
        let to_srgb = LinearToSrgb::new();
        for v in 0..=255u8 {
            assert_eq!(to_srgb.convert(to_linear[v as usize]), v);
        }
    }

    #[test]
    fn lstar_round_trips() {
        for l in [0.0f32, 5.0, 8.0, 20.0, 50.0, 99.0, 100.0] {
            assert!((lstar(lstar_to_y(l)) - l).abs() < 1e-3, "{l}");
        }
    }

    #[test]
    fn parses_and_prints_hex() {
        let c = GarmentColor::parse("#1F2937").unwrap();
        assert_eq!(c, GarmentColor::rgb(0x1f, 0x29, 0x37));
        assert_eq!(c.to_string(), "#1f2937");
        assert_eq!(GarmentColor::parse("ffffff").unwrap(), GarmentColor::WHITE);
        for bad in ["", "#fff", "#12345g", "red", "#1234567"] {
            let err = GarmentColor::parse(bad).unwrap_err();
            assert_eq!(err.code(), "E_VALIDATION", "{bad}");
        }
    }

    #[test]
    fn luminance_spans_black_to_white() {
        assert_eq!(GarmentColor::rgb(0, 0, 0).relative_luminance(), 0.0);
        assert!((GarmentColor::WHITE.relative_luminance() - 1.0).abs() < 1e-6);
    }
}
