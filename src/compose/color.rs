//! Garment colours, given by callers as `#rrggbb`.

use std::fmt;

use crate::error::{Error, Result};

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
        fn linear(c: u8) -> f32 {
            let c = c as f32 / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        }
        0.2126 * linear(self.r) + 0.7152 * linear(self.g) + 0.0722 * linear(self.b)
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
