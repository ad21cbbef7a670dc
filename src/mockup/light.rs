//! Light and colour on a garment photo: blurring, the
//! shading/highlight maps that fold the print, and the re-tint that recolours the fabric.
//!
//! ## Formulas
//!
//! Let `Y(p)` be the photo's relative luminance (linear light, softened by a 1-pixel
//! blur so the weave does not speckle the print) at pixel `p` and `Ȳ` its
//! mean over the print region (inside the quad and the mask).
//!
//! Re-tinting to colour `C` keeps the photo's lightness *differences* in CIE L* rather
//! than multiplying: `L*out = L*C + (L*photo - L̄*garment)` (eased, not clipped, within 8
//! of black and white), then the output is `C` scaled to that luminance. A fold 15 L*
//! darker than the fabric's mean stays 15 L* darker on a charcoal shirt, where a plain
//! multiply would squash it to almost nothing.
//!
//! The print is shaded by the brightness of the fabric shown under it, relative to the
//! print region: `R(p) = G(p) / G(Ȳ)`, where `G` is the shown fabric's luminance for a
//! photo light `Y` (the photo itself, `G(Y) = Y`, or its re-tint to `C`). The design's
//! linear colour `c` becomes `c · R` up to a shoulder (0.8, or `c` itself when higher),
//! above which it eases towards 1 (never past it), so:
//!
//! - the print darkens in folds and at the sides by exactly the ratio the fabric around
//!   it does, on the photo's own colour and on a re-tint alike (a navy re-tint deepens
//!   folds, and the print follows),
//! - highlights brighten ink multiplicatively, like matte cotton, never by washing it
//!   towards white (the glossy-decal look),
//! - on a flat photo `R = 1` everywhere and the design is unchanged.

use rayon::prelude::*;

use crate::color::{lstar, lstar_to_y, luminance, LinearToSrgb};

/// A box blur of `radius` pixels applied three times (close to a Gaussian), in place.
/// Edges are clamped. Rows, and strips of columns, are blurred in parallel.
pub(super) fn blur(values: &mut [f32], width: usize, height: usize, radius: usize) {
    if radius == 0 || width == 0 || height == 0 {
        return;
    }
    let mut scratch = vec![0.0f32; values.len()];
    for _ in 0..3 {
        horizontal_box_pass(values, &mut scratch, width, radius);
        vertical_box_pass(&scratch, values, width, height, radius);
    }
}

/// One box pass along each row, from `src` into `dst`.
fn horizontal_box_pass(src: &[f32], dst: &mut [f32], width: usize, radius: usize) {
    let window = (2 * radius + 1) as f32;
    let last = width as isize - 1;
    dst.par_chunks_mut(width)
        .zip(src.par_chunks(width))
        .for_each(|(out, row)| {
            let at = |i: isize| row[i.clamp(0, last) as usize];
            let mut sum: f32 = (-(radius as isize)..=radius as isize).map(at).sum();
            for (i, o) in out.iter_mut().enumerate() {
                *o = sum / window;
                let i = i as isize;
                sum += at(i + radius as isize + 1) - at(i - radius as isize);
            }
        });
}

/// How many columns one task of [`vertical_box_pass`] takes.
const COLUMN_STRIP: usize = 128;

/// One box pass down each column, from `src` into `dst`: a running sum per column,
/// carried row by row (so memory is read in rows), strips of columns in parallel. Each
/// column sees exactly the additions of a column-by-column pass.
fn vertical_box_pass(src: &[f32], dst: &mut [f32], width: usize, height: usize, radius: usize) {
    let window = (2 * radius + 1) as f32;
    let last = height as isize - 1;
    let strips = width.div_ceil(COLUMN_STRIP);
    let columns: Vec<Vec<f32>> = (0..strips)
        .into_par_iter()
        .map(|strip| {
            let x0 = strip * COLUMN_STRIP;
            let n = COLUMN_STRIP.min(width - x0);
            let row = |y: isize| &src[y.clamp(0, last) as usize * width + x0..][..n];
            let mut sums = vec![0.0f32; n];
            for y in -(radius as isize)..=radius as isize {
                for (s, v) in sums.iter_mut().zip(row(y)) {
                    *s += v;
                }
            }
            let mut out = vec![0.0f32; n * height];
            for (y, out_row) in out.chunks_exact_mut(n).enumerate() {
                let y = y as isize;
                let (add, sub) = (row(y + radius as isize + 1), row(y - radius as isize));
                for (((o, s), a), b) in out_row.iter_mut().zip(&mut sums).zip(add).zip(sub) {
                    *o = *s / window;
                    *s += a - b;
                }
            }
            out
        })
        .collect();
    for (strip, out) in columns.iter().enumerate() {
        let x0 = strip * COLUMN_STRIP;
        let n = COLUMN_STRIP.min(width - x0);
        for (y, out_row) in out.chunks_exact(n).enumerate() {
            dst[y * width + x0..][..n].copy_from_slice(out_row);
        }
    }
}

/// How close to black or white (in L*) the re-tint starts to compress differences
/// instead of clipping them.
const KNEE: f32 = 8.0;

/// Keeps an L* value inside 0..=100, easing into both ends over [`KNEE`] so that folds
/// deeper than a dark colour's lightness fade smoothly rather than clipping flat.
fn soft_clip(l: f32) -> f32 {
    if l < KNEE {
        KNEE * ((l - KNEE) / KNEE).exp()
    } else if l > 100.0 - KNEE {
        100.0 - KNEE * ((100.0 - KNEE - l) / KNEE).exp()
    } else {
        l
    }
}

/// Where [`shade_ink`] starts to ease lit ink towards 1 instead of clipping (or at the
/// ink's own value, when that is higher, so flat fabric leaves the design as it is).
const INK_SHOULDER: f32 = 0.8;

/// A design's linear colour channel `c` under a shading ratio `ratio` (see the module
/// docs): `c · ratio` up to the shoulder (the higher of [`INK_SHOULDER`] and `c`), then
/// easing towards 1 with the same slope at first: highlights never clip, and on flat
/// fabric (`ratio` 1) the design is unchanged.
#[inline]
pub(super) fn shade_ink(c: f32, ratio: f32) -> f32 {
    let x = c * ratio;
    let knee = INK_SHOULDER.max(c);
    if x <= knee {
        return x;
    }
    let room = 1.0 - knee;
    if room <= 0.0 {
        return knee;
    }
    knee + room * (1.0 - (-(x - knee) / room).exp())
}

/// The print's shading ratio `R` per L* code of the photo's light (see the module docs):
/// the shown fabric's luminance at that light over its luminance at the print region's
/// mean light `print_mean` (linear). `retint` is the fabric's re-tint, if any.
pub(super) fn print_shading(print_mean: f32, retint: Option<&Retint>) -> Vec<f32> {
    let shown = |code: u16| match retint {
        Some(r) => {
            let c = r.linear(code);
            luminance(c[0], c[1], c[2])
        }
        None => lstar_to_y(code as f32 / 10.0),
    };
    let reference = match retint {
        Some(_) => shown(lstar_code(print_mean)),
        None => print_mean,
    }
    .max(1e-5);
    (0..LSTAR_CODES as u16)
        .map(|code| shown(code) / reference)
        .collect()
}

/// The number of steps of the L* codes that index a [`Retint`] (tenths of L*, 0..=1000).
pub(super) const LSTAR_CODES: usize = 1001;

/// The L* code (tenths of L*, 0..=1000) of a relative luminance.
#[inline]
pub(super) fn lstar_code(y: f32) -> u16 {
    ((lstar(y.clamp(0.0, 1.0)) * 10.0 + 0.5) as u16).min(1000)
}

/// The re-tint to one colour, as lookup tables from a photo pixel's L* code to the output
/// colour (linear and sRGB), implementing the formula in the module docs.
pub(super) struct Retint {
    linear: Vec<[f32; 3]>,
    srgb: Vec<[u8; 3]>,
}

impl Retint {
    /// Prepares the re-tint to `color` (sRGB bytes) for a fabric whose mean L* is
    /// `garment_mean_lstar`.
    pub(super) fn new(color: [u8; 3], garment_mean_lstar: f32, to_linear: &[f32; 256]) -> Self {
        let mut color_linear = color.map(|c| to_linear[c as usize]);
        let mut y_color = luminance(color_linear[0], color_linear[1], color_linear[2]);
        if y_color < 1e-5 {
            // Pure black has no hue to scale: treat it as the darkest neutral.
            color_linear = [1e-5; 3];
            y_color = 1e-5;
        }
        let l_color = lstar(y_color);
        let to_srgb = LinearToSrgb::new();
        let linear: Vec<[f32; 3]> = (0..LSTAR_CODES)
            .map(|code| {
                let l_photo = code as f32 / 10.0;
                let l_out = soft_clip(l_color + (l_photo - garment_mean_lstar));
                let factor = lstar_to_y(l_out) / y_color;
                color_linear.map(|c| (c * factor).min(1.0))
            })
            .collect();
        let srgb = linear
            .iter()
            .map(|c| c.map(|v| to_srgb.convert(v)))
            .collect();
        Self { linear, srgb }
    }

    /// The re-tinted linear colour of a photo pixel with L* code `code`.
    #[inline]
    pub(super) fn linear(&self, code: u16) -> [f32; 3] {
        self.linear[code as usize]
    }

    /// The re-tinted sRGB colour of a photo pixel with L* code `code`.
    #[inline]
    pub(super) fn srgb(&self, code: u16) -> [u8; 3] {
        self.srgb[code as usize]
    }

    /// The re-tinted linear colour of a photo pixel with luminance `y`.
    #[cfg(test)]
    fn apply(&self, y: f32) -> [f32; 3] {
        self.linear(lstar_code(y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::color::srgb_to_linear_table;

    /// The blur one line at a time (columns read down the image), as a reference.
    fn blur_line_by_line(values: &mut [f32], width: usize, height: usize, radius: usize) {
        let window = (2 * radius + 1) as f32;
        let pass = |src: &[f32], dst: &mut [f32], horizontal: bool| {
            let (lines, len) = if horizontal {
                (height, width)
            } else {
                (width, height)
            };
            let index = |line: usize, i: usize| {
                if horizontal {
                    line * width + i
                } else {
                    i * width + line
                }
            };
            for line in 0..lines {
                let at = |i: isize| src[index(line, i.clamp(0, len as isize - 1) as usize)];
                let mut sum: f32 = (-(radius as isize)..=radius as isize).map(at).sum();
                for i in 0..len {
                    dst[index(line, i)] = sum / window;
                    sum += at(i as isize + radius as isize + 1) - at(i as isize - radius as isize);
                }
            }
        };
        let mut scratch = vec![0.0f32; values.len()];
        for _ in 0..3 {
            pass(values, &mut scratch, true);
            pass(&scratch, values, false);
        }
    }

    #[test]
    fn blur_gives_exactly_the_line_by_line_sums() {
        // Widths below, at and past a column strip, not a multiple of it.
        for (w, h, r) in [(7, 5, 2), (128, 40, 3), (300, 77, 10), (129, 3, 4)] {
            let values: Vec<f32> = (0..w * h)
                .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
                .collect();
            let (mut fast, mut reference) = (values.clone(), values);
            blur(&mut fast, w, h, r);
            blur_line_by_line(&mut reference, w, h, r);
            assert!(fast == reference, "{w} x {h}, radius {r}");
        }
    }

    #[test]
    fn blur_keeps_flat_fields_and_spreads_a_spike() {
        let mut flat = vec![0.5f32; 100];
        blur(&mut flat, 10, 10, 2);
        assert!(flat.iter().all(|v| (v - 0.5).abs() < 1e-6));
        let mut spike = vec![0.0f32; 21 * 21];
        spike[10 * 21 + 10] = 1.0;
        blur(&mut spike, 21, 21, 1);
        let total: f32 = spike.iter().sum();
        assert!(
            (total - 1.0).abs() < 1e-4,
            "blur preserves the total: {total}"
        );
        assert!(spike[10 * 21 + 10] < 0.2 && spike[10 * 21 + 11] > 0.0);
    }

    #[test]
    fn the_print_follows_the_shown_fabric() {
        let to_linear = srgb_to_linear_table();
        let mean = lstar_to_y(80.0);
        let photo = print_shading(mean, None);
        let fold = lstar_code(lstar_to_y(70.0)) as usize;
        let flat = lstar_code(mean) as usize;
        assert!((photo[flat] - 1.0).abs() < 0.01, "{}", photo[flat]);
        assert!((photo[fold] - lstar_to_y(70.0) / mean).abs() < 0.01);
        // On a navy re-tint the fabric darkens far more in the same fold; so does the ink.
        let navy = Retint::new([0x1f, 0x29, 0x37], 80.0, to_linear);
        let shading = print_shading(mean, Some(&navy));
        let (f, m) = (navy.linear(fold as u16), navy.linear(flat as u16));
        let fabric_ratio = luminance(f[0], f[1], f[2]) / luminance(m[0], m[1], m[2]);
        assert!(
            (shading[fold] - fabric_ratio).abs() < 0.01,
            "{} {fabric_ratio}",
            shading[fold]
        );
        assert!(shading[fold] < photo[fold] - 0.1);
        // Ink is scaled in shadow, left as it is on flat fabric, and brightened about
        // multiplicatively in highlights, easing below 1, never lifted towards white.
        assert_eq!(shade_ink(0.5, 0.7), 0.5 * 0.7);
        for c in [0.0f32, 0.2, 0.9, 1.0] {
            assert_eq!(shade_ink(c, 1.0), c);
        }
        assert_eq!(shade_ink(0.0, 1.5), 0.0);
        assert_eq!(shade_ink(0.1, 1.2), 0.1 * 1.2);
        assert!(shade_ink(0.9, 1.5) < 1.0 && shade_ink(0.9, 1.5) > shade_ink(0.9, 1.1));
        assert_eq!(shade_ink(1.0, 1.5), 1.0);
    }

    #[test]
    fn retint_keeps_lightness_differences() {
        let to_linear = srgb_to_linear_table();
        let mean = 80.0;
        let charcoal = Retint::new([0x1f, 0x29, 0x37], mean, to_linear);
        let flat = charcoal.apply(lstar_to_y(mean));
        let fold = charcoal.apply(lstar_to_y(mean - 7.0));
        let l_flat = lstar(luminance(flat[0], flat[1], flat[2]));
        let l_fold = lstar(luminance(fold[0], fold[1], fold[2]));
        assert!((l_flat - l_fold - 7.0).abs() < 0.5, "{l_flat} {l_fold}");
        // Deeper folds ease towards black instead of clipping: still darker, never flat.
        let deeper = charcoal.apply(lstar_to_y(mean - 20.0));
        let deepest = charcoal.apply(lstar_to_y(mean - 30.0));
        let l_deeper = lstar(luminance(deeper[0], deeper[1], deeper[2]));
        let l_deepest = lstar(luminance(deepest[0], deepest[1], deepest[2]));
        assert!(l_fold > l_deeper && l_deeper > l_deepest && l_deepest > 0.0);
        // At the fabric's mean lightness the output is the requested colour.
        let to_srgb = LinearToSrgb::new();
        assert_eq!(flat.map(|c| to_srgb.convert(c)), [0x1f, 0x29, 0x37]);
    }
}
