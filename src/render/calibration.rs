//! Colour calibration: exposure, a highlight shoulder, and the albedo that makes a
//! garment's fabric read as its swatch.
//!
//! The studio light does not leave a colour as it is. On the front of a baked garment the
//! typical (median) fabric pixel is `albedo * D + S`:
//! - `D` (about 0.9) is the light a white fabric reflects;
//! - `S` is the specular reflection of the key light, a few thousandths, which alone
//!   lifts a black tee several ΔE.
//!
//! A photographer corrects for this so that the product photo shows the swatch. The
//! renderers do the same, in four steps, all in linear light:
//! 1. **exposure** `1 / D`: a white fabric's median reaches 1;
//! 2. **black point** `B = S / 2D`: `x` becomes `(x - B) / (1 - B)` (0 below `B`), so a
//!    black garment's median shows half its specular floor, not all of it, while white
//!    stays where it was;
//! 3. **tone**: a highlight shoulder above [`KNEE`], rising smoothly towards
//!    `KNEE + WIDTH`, so the lit side of a white shirt keeps its shading instead of
//!    clipping to pure white (only highlights about 12% above the median reach 255);
//! 4. **albedo**: the one that solves `tone(black((albedo * D + S) / D)) = colour`, clamped
//!    to `0..=1`.
//!
//! The median front fabric pixel then shows the requested colour. The exceptions are the
//! very darkest colours, which keep half the specular floor, and channels above the shoulder's
//! reach at albedo 1, which keep `tone(1 + S / D)`, about 0.966. Folds and sides still
//! darken around the median.
//!
//! The same mapping applies to the print's colours (ink is lit by the same studio). The
//! live Blender backend applies the albedo mapping to the atlas and colour it hands
//! Blender, and the exposure and tone to Blender's film, so baked and live renders agree.

use crate::color::{linear_to_srgb, srgb_to_linear, GarmentColor};

/// Where the highlight shoulder starts (linear light after exposure): below it, light is
/// unchanged.
pub(crate) const KNEE: f32 = 0.9;
/// How far above [`KNEE`] the shoulder rises at most: light never exceeds
/// `KNEE + WIDTH`, and reaches sRGB 255 (0.9955) only 1.12 x above the median.
pub(crate) const WIDTH: f32 = 0.11;

/// The highlight shoulder: `x` up to [`KNEE`], then `KNEE + WIDTH * (1 - exp(-(x - KNEE) /
/// WIDTH))` (continuous, with slope 1 at the knee).
pub(crate) fn tone(x: f32) -> f32 {
    if x <= KNEE {
        x
    } else {
        KNEE + WIDTH * (1.0 - (-(x - KNEE) / WIDTH).exp())
    }
}

/// The inverse of [`tone`]; `f32::INFINITY` at or above `KNEE + WIDTH`.
pub(crate) fn tone_inverse(y: f32) -> f32 {
    if y <= KNEE {
        y
    } else if y >= KNEE + WIDTH {
        f32::INFINITY
    } else {
        KNEE - WIDTH * (1.0 - (y - KNEE) / WIDTH).ln()
    }
}

/// How a bake's studio light changes colours on the front of the garment: the median
/// diffuse factor and specular addition of the fully covered pixels of its front still.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorCalibration {
    /// The median diffuse light (1.0 = a white fabric reflects all the light it gets).
    pub diffuse: f32,
    /// The median specular addition, linear light.
    pub specular: f32,
}

impl ColorCalibration {
    /// No exposure correction and no specular: albedo is the requested colour, up to the
    /// shoulder.
    pub const IDENTITY: ColorCalibration = ColorCalibration {
        diffuse: 1.0,
        specular: 0.0,
    };

    /// The calibration from per-pixel diffuse and specular light of a front view.
    /// Falls back to [`ColorCalibration::IDENTITY`] when there are no pixels or the light
    /// is implausible (a median diffuse outside 0.25..=4, or specular outside 0..=0.25).
    pub(crate) fn from_medians(mut diffuse: Vec<f32>, mut specular: Vec<f32>) -> ColorCalibration {
        let (Some(d), Some(s)) = (median(&mut diffuse), median(&mut specular)) else {
            return ColorCalibration::IDENTITY;
        };
        if !(0.25..=4.0).contains(&d) || !(0.0..=0.25).contains(&s) {
            return ColorCalibration::IDENTITY;
        }
        ColorCalibration {
            diffuse: d,
            specular: s,
        }
    }

    /// The exposure: what the renderers multiply the lit colour by before [`tone`].
    pub fn exposure(&self) -> f32 {
        1.0 / self.diffuse
    }

    /// The black point: exposed light at or below it finishes as black, and the rest is
    /// stretched back to reach 1 at 1 (half the median specular floor, `S / 2D`).
    pub fn black_point(&self) -> f32 {
        self.specular / self.diffuse / 2.0
    }

    /// The final linear colour of a lit value `albedo * diffuse + specular`.
    pub fn finish(&self, lit: f32) -> f32 {
        let b = self.black_point();
        tone(((lit * self.exposure() - b) / (1.0 - b)).max(0.0))
    }

    /// The linear albedo that renders as linear colour `target` on the median pixel.
    pub fn albedo(&self, target: f32) -> f32 {
        let b = self.black_point();
        let exposed = tone_inverse(target) * (1.0 - b) + b;
        (exposed - self.specular / self.diffuse).clamp(0.0, 1.0)
    }

    /// Per 8-bit sRGB value, the calibrated albedo in linear light (65535 = 1.0).
    pub(crate) fn srgb_to_albedo_u16(&self) -> [u16; 256] {
        std::array::from_fn(|i| {
            (self.albedo(srgb_to_linear(i as f32 / 255.0)) * 65535.0).round() as u16
        })
    }

    /// Per 8-bit sRGB value, the calibrated albedo as 8-bit sRGB (what the live backend
    /// gives Blender).
    pub(crate) fn srgb_to_albedo_srgb(&self) -> [u8; 256] {
        std::array::from_fn(|i| {
            let a = self.albedo(srgb_to_linear(i as f32 / 255.0));
            (linear_to_srgb(a) * 255.0).round().clamp(0.0, 255.0) as u8
        })
    }

    /// The calibrated albedo of a garment colour, as a colour.
    pub fn albedo_color(&self, color: GarmentColor) -> GarmentColor {
        let table = self.srgb_to_albedo_srgb();
        let [r, g, b] = color.to_array().map(|c| table[c as usize]);
        GarmentColor::rgb(r, g, b)
    }

    /// [`ColorCalibration::finish`] as a table: entry `i` is the finished colour of lit
    /// value `i * 4 / 65535` (so lit values up to 2.0), linear, 65535 = 1.0.
    pub(crate) fn finish_table(&self) -> Vec<u16> {
        (0..FINISH_TABLE_LEN)
            .map(|i| {
                let lit = (i * 4) as f32 / 65535.0;
                (self.finish(lit).min(1.0) * 65535.0).round() as u16
            })
            .collect()
    }
}

/// Entries of [`ColorCalibration::finish_table`]: lit values `0..2.0` in steps of 4/65535.
pub(crate) const FINISH_TABLE_LEN: usize = 32768;

/// The median of `values` (the upper one of an even count); `None` when empty.
fn median(values: &mut [f32]) -> Option<f32> {
    if values.is_empty() {
        return None;
    }
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, f32::total_cmp);
    Some(*m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STUDIO: ColorCalibration = ColorCalibration {
        diffuse: 0.9,
        specular: 0.003,
    };

    #[test]
    fn the_median_pixel_shows_the_swatch() {
        // what albedo 0 shows: half the specular floor, stretched by the black point
        let b = STUDIO.black_point();
        let floor = (STUDIO.specular / STUDIO.diffuse - b) / (1.0 - b);
        assert!((floor - STUDIO.specular / STUDIO.diffuse / 2.0).abs() < 1e-5);
        for target in [0.004f32, 0.01, 0.05, 0.2, 0.5, 0.9, 0.95] {
            let a = STUDIO.albedo(target);
            let shown = STUDIO.finish(a * STUDIO.diffuse + STUDIO.specular);
            assert!((shown - target).abs() < 1e-5, "{target}: {shown}");
        }
        // below the floor, the darkest colours all show the floor
        for target in [0.0f32, 0.001, floor] {
            let a = STUDIO.albedo(target);
            assert_eq!(a, 0.0, "{target}");
            let shown = STUDIO.finish(a * STUDIO.diffuse + STUDIO.specular);
            assert!((shown - floor).abs() < 1e-6, "{target}: {shown}");
        }
    }

    #[test]
    fn the_shoulder_is_smooth_and_keeps_shading_below_white() {
        assert_eq!(tone(0.5), 0.5);
        assert!((tone(KNEE + 1e-4) - (KNEE + 1e-4)).abs() < 1e-6);
        // white's median, and 10% above it, stay below sRGB 255
        assert!(tone(1.0) < 0.97 && tone(1.1) < 0.9955);
        assert!(tone(1.13) > 0.9955 && tone(10.0) <= KNEE + WIDTH);
        for y in [0.1f32, 0.91, 0.95, 1.0] {
            assert!((tone(tone_inverse(y)) - y).abs() < 1e-5);
        }
    }

    #[test]
    fn white_clamps_and_black_floors() {
        assert_eq!(STUDIO.albedo(1.0), 1.0);
        assert_eq!(STUDIO.albedo(0.0), 0.0);
        assert_eq!(STUDIO.srgb_to_albedo_u16()[0], 0);
        assert_eq!(STUDIO.srgb_to_albedo_u16()[255], 65535);
    }

    #[test]
    fn identity_changes_nothing_below_the_knee() {
        let t = ColorCalibration::IDENTITY.srgb_to_albedo_srgb();
        assert!(t
            .iter()
            .take(240)
            .enumerate()
            .all(|(i, v)| *v as usize == i));
        let f = ColorCalibration::IDENTITY.finish_table();
        assert_eq!(f[1000], 4000);
        assert_eq!(ColorCalibration::IDENTITY.black_point(), 0.0);
    }

    #[test]
    fn the_black_point_keeps_white_and_darkens_only_the_floor() {
        // the white fabric's median (exposed light 1) is unchanged
        assert!((STUDIO.finish(STUDIO.diffuse) - tone(1.0)).abs() < 1e-6);
        // a black fabric's median: the floor halved
        let black = STUDIO.finish(STUDIO.specular);
        assert!((black - STUDIO.specular / STUDIO.diffuse / 2.0).abs() < 1e-5);
        // light below the black point is black, and the finish never falls as light rises
        assert_eq!(STUDIO.finish(STUDIO.specular / 3.0), 0.0);
        let table = STUDIO.finish_table();
        assert!(table.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn medians_come_from_the_pixels_and_bad_light_is_ignored() {
        let c = ColorCalibration::from_medians(vec![0.8, 0.9, 1.0], vec![0.001, 0.002, 0.5]);
        assert_eq!(
            c,
            ColorCalibration {
                diffuse: 0.9,
                specular: 0.002
            }
        );
        assert_eq!(
            ColorCalibration::from_medians(vec![], vec![]),
            ColorCalibration::IDENTITY
        );
        assert_eq!(
            ColorCalibration::from_medians(vec![9.0], vec![0.0]),
            ColorCalibration::IDENTITY
        );
    }
}
