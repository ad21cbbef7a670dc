//! Single jersey knit at physical scale, for the baked renderer.
//!
//! Cotton jersey shows, on its face, columns of V-shaped loops (wales, about 28-40 per
//! inch) stacked in rows (courses, a few more per inch). At a product still's scale one
//! loop is about one pixel, so the knit is not drawn as a picture: it is a tiling table
//! of yarn height over [`TILE_STITCHES`] x [`TILE_STITCHES`] stitches (V legs, the
//! grooves between wales, the interlock line between courses, and the irregularity of
//! real yarn: thicker and thinner stitches, courses and wales), kept at several box-filter
//! widths (a mip chain over the same tiling, so a lookup is one read). Each baked view
//! pixel reads the level matching its footprint on the garment (from the atlas positions
//! of its neighbours), once, when a pack's views are decoded; the result multiplies that
//! pixel's diffuse light (and, a little more strongly, its sheen). Fabric and print get
//! the same factor, because ink sits on the knit: its micro-shading crosses the print,
//! and the print never gets more sheen than the fabric. The render itself costs nothing
//! more.
//!
//! The factor averages 1 over any whole tile, so the garment's mean brightness (and the
//! colour calibration) is unchanged; only its texture is.
//!
//! Print edges: [`soften_ink_edges`] widens the print's anti-aliased alpha edge by a
//! texel and modulates the ink coverage there by the unfiltered knit, so an edge is
//! ragged at yarn scale (ink wicks along the loops) instead of a clean vector cut.

use std::sync::OnceLock;

/// Wales (loop columns) per inch of the modelled jersey.
pub(crate) const WALES_PER_INCH: f32 = 32.0;
/// Courses (loop rows) per inch of the modelled jersey.
pub(crate) const COURSES_PER_INCH: f32 = 42.0;
/// Stitches per side of the tiling table (a tile is 2 x 1.5 inches).
const TILE_STITCHES: usize = 64;
/// Table samples per stitch, along each axis.
const SAMPLES_PER_STITCH: usize = 8;
/// Table samples per side.
const TILE: usize = TILE_STITCHES * SAMPLES_PER_STITCH;
/// Mip levels: level `k` is the tile box-filtered over `2^k` samples per axis.
const LEVELS: usize = 9;
/// Contrast of the loops: the standard deviation of the unfiltered loop structure.
const LOOP_CONTRAST: f32 = 0.14;
/// The yarn's irregularity, as standard deviations of the factor: per course (the faint
/// horizontal striation of jersey), per wale, per stitch, and a slub over a few stitches.
/// Course and wale irregularity stay faint: constant along a whole row or column of the
/// tile, they survive any filtering along it and, repeating with the tile, read as a
/// woven grid at still scale (a blind reviewer saw one at 0.025 / 0.012).
const COURSE_IRREGULARITY: f32 = 0.006;
const WALE_IRREGULARITY: f32 = 0.004;
const STITCH_IRREGULARITY: f32 = 0.02;
const SLUB_IRREGULARITY: f32 = 0.025;
/// Stitches per cell of the slub's value noise.
const SLUB_CELL: usize = 4;
/// Contrast of the knit: the standard deviation of the unfiltered factor, about.
const KNIT_CONTRAST: f32 = 0.15;
/// How strongly the knit moves ink coverage at a print edge (coverage units per unit of
/// normalised knit deviation at coverage 1/2).
const EDGE_GAIN: f32 = 0.45;

/// The knit's brightness factor (mean 1) per sample, at every filter level.
pub(crate) struct KnitTable {
    /// `LEVELS` tiles of `TILE * TILE` factors, 1.0 = 4096.
    levels: Vec<Vec<u16>>,
}

/// Fixed-point one of the knit factor.
pub(crate) const KNIT_ONE: u32 = 4096;
const KNIT_SHIFT: u32 = 12;

/// A small deterministic hash to 0..1.
fn hash(a: u32, b: u32, salt: u32) -> f32 {
    let mut h =
        a.wrapping_mul(0x9E37_79B1) ^ b.wrapping_mul(0x85EB_CA77) ^ salt.wrapping_mul(0xC2B2_AE3D);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^= h >> 12;
    h = h.wrapping_mul(0x297A_2D39);
    h ^= h >> 15;
    (h & 0xffff) as f32 / 65535.0
}

impl KnitTable {
    /// The table, built once per process (a few milliseconds).
    pub(crate) fn get() -> &'static KnitTable {
        static TABLE: OnceLock<KnitTable> = OnceLock::new();
        TABLE.get_or_init(KnitTable::build)
    }

    fn build() -> KnitTable {
        let n = TILE_STITCHES as u32;
        // A uniform hash scaled to a standard deviation of 1.
        let unit = |a: u32, b: u32, salt: u32| (hash(a % n, b % n, salt) - 0.5) * 12f32.sqrt();
        let mut loops = vec![0.0f32; TILE * TILE];
        for y in 0..TILE {
            for x in 0..TILE {
                let s = (x % SAMPLES_PER_STITCH) as f32 / SAMPLES_PER_STITCH as f32
                    + 0.5 / SAMPLES_PER_STITCH as f32;
                let t = (y % SAMPLES_PER_STITCH) as f32 / SAMPLES_PER_STITCH as f32
                    + 0.5 / SAMPLES_PER_STITCH as f32;
                // The two legs of the V meet at the bottom centre of the stitch.
                let spread = 0.27 * (1.0 - t) + 0.05;
                let leg = |centre: f32| {
                    let d = (s - centre).abs() / 0.2;
                    (1.0 - d * d).max(0.0)
                };
                let yarn = leg(0.5 - spread).max(leg(0.5 + spread));
                // The interlock line where this course's loops pass under the previous.
                let interlock = 1.0 - 0.35 * (-((t - 0.02) / 0.1).powi(2)).exp();
                loops[y * TILE + x] = yarn * interlock;
            }
        }
        let mean = loops.iter().sum::<f32>() / loops.len() as f32;
        let std =
            (loops.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / loops.len() as f32).sqrt();
        let cells = (TILE_STITCHES / SLUB_CELL) as u32;
        let slub = |w: f32, c: f32| {
            // Value noise over cells of a few stitches, smoothly interpolated, tiling.
            let (fw, fc) = (w / SLUB_CELL as f32, c / SLUB_CELL as f32);
            let (w0, c0) = (fw.floor(), fc.floor());
            let (aw, ac) = (fw - w0, fc - c0);
            let (aw, ac) = (aw * aw * (3.0 - 2.0 * aw), ac * ac * (3.0 - 2.0 * ac));
            let at = |i: f32, j: f32| unit((i as u32) % cells, (j as u32) % cells, 4);
            let top = at(w0, c0) * (1.0 - aw) + at(w0 + 1.0, c0) * aw;
            let bottom = at(w0, c0 + 1.0) * (1.0 - aw) + at(w0 + 1.0, c0 + 1.0) * aw;
            top * (1.0 - ac) + bottom * ac
        };
        let mut factor = vec![0.0f32; TILE * TILE];
        for y in 0..TILE {
            for x in 0..TILE {
                let (w, c) = (
                    (x / SAMPLES_PER_STITCH) as u32,
                    (y / SAMPLES_PER_STITCH) as u32,
                );
                let (wf, cf) = (
                    x as f32 / SAMPLES_PER_STITCH as f32,
                    y as f32 / SAMPLES_PER_STITCH as f32,
                );
                factor[y * TILE + x] = 1.0
                    + LOOP_CONTRAST * (loops[y * TILE + x] - mean) / std
                    + COURSE_IRREGULARITY * unit(c, 0, 2)
                    + WALE_IRREGULARITY * unit(w, 0, 3)
                    + STITCH_IRREGULARITY * unit(w, c, 1)
                    + SLUB_IRREGULARITY * slub(wf, cf);
            }
        }
        // Exactly mean 1 (the irregularities' sample means are not quite 0).
        let mean = factor.iter().sum::<f32>() / factor.len() as f32;
        for v in &mut factor {
            *v /= mean;
        }
        let mut levels = Vec::with_capacity(LEVELS);
        for k in 0..LEVELS {
            let width = 1usize << k;
            let filtered = box_cyclic(&factor, width);
            levels.push(
                filtered
                    .iter()
                    .map(|v| (v * KNIT_ONE as f32).round().clamp(0.0, u16::MAX as f32) as u16)
                    .collect(),
            );
        }
        KnitTable { levels }
    }

    /// The factor (1.0 = [`KNIT_ONE`]) at stitch coordinates `(wale, course)` (any real
    /// numbers; the table tiles), box-filtered over `footprint` stitches.
    #[inline]
    pub(crate) fn factor(&self, wale: f32, course: f32, footprint: f32) -> u32 {
        let samples = footprint.max(0.0) * SAMPLES_PER_STITCH as f32;
        let level = if samples <= 1.0 {
            0
        } else {
            (samples.log2().round() as usize).min(LEVELS - 1)
        };
        let wrap = |v: f32| {
            (v * SAMPLES_PER_STITCH as f32)
                .floor()
                .rem_euclid(TILE as f32) as usize
        };
        self.levels[level][wrap(course) * TILE + wrap(wale)] as u32
    }
}

/// `values` (a `TILE x TILE` tile) box-filtered over `width` samples per axis, wrapping
/// (running sums, so every level costs the same).
fn box_cyclic(values: &[f32], width: usize) -> Vec<f32> {
    if width <= 1 {
        return values.to_vec();
    }
    let width = width.min(TILE);
    let start = width / 2;
    let pass = |src: &[f32], at: &dyn Fn(usize, usize) -> usize| {
        let mut out = vec![0.0f32; src.len()];
        for line in 0..TILE {
            let get = |i: usize| src[at(line, i % TILE)] as f64;
            let mut sum: f64 = (0..width).map(|i| get(TILE + i - start)).sum();
            for i in 0..TILE {
                out[at(line, i)] = (sum / width as f64) as f32;
                sum += get(TILE + i + width - start) - get(TILE + i - start);
            }
        }
        out
    };
    let rows = pass(values, &|line, i| line * TILE + i);
    pass(&rows, &|line, i| i * TILE + line)
}

/// Ink coverage `alpha` (0..=1) at a print edge, moved up or down by the unfiltered knit
/// factor `k` under it (most at coverage 1/2, not at all at 0 or 1): the edge frays at
/// yarn scale, as ink wicks along some loops and misses others.
#[inline]
pub(crate) fn fray(alpha: f32, k: u32) -> f32 {
    let n = (k as f32 / KNIT_ONE as f32 - 1.0) / KNIT_CONTRAST;
    let edge = 4.0 * alpha * (1.0 - alpha);
    (alpha + EDGE_GAIN * n * edge * 0.5).clamp(0.0, 1.0)
}

/// Stitches per atlas texel along x (wales) and y (courses) at `pixels_per_inch`.
#[inline]
fn stitches_per_texel(pixels_per_inch: f32) -> (f32, f32) {
    let ppi = pixels_per_inch.max(1.0);
    (WALES_PER_INCH / ppi, COURSES_PER_INCH / ppi)
}

/// Multiplies a view's diffuse and specular light by the knit seen through each pixel.
///
/// `pos(i)` is pixel `i`'s atlas position in texels (`None` off the garment), for a view
/// of `width` pixels per row. The footprint of a pixel is the larger atlas step to its
/// right or lower neighbour (steps across a seam, over 8 texels, are ignored), so the knit
/// is filtered to what one pixel can show and never aliases into moiré.
pub(crate) fn apply_to_view(
    width: usize,
    len: usize,
    pixels_per_inch: f32,
    pos: impl Fn(usize) -> Option<(f32, f32)>,
    mut scale: impl FnMut(usize, u32, u32),
) {
    let table = KnitTable::get();
    let (kw, kc) = stitches_per_texel(pixels_per_inch);
    for i in 0..len {
        let Some((x, y)) = pos(i) else { continue };
        let mut step: f32 = 0.0;
        let x_col = i % width;
        for j in [
            (x_col + 1 < width).then_some(i + 1),
            (x_col > 0).then(|| i - 1),
            Some(i + width).filter(|&j| j < len),
            i.checked_sub(width),
        ]
        .into_iter()
        .flatten()
        {
            if let Some((nx, ny)) = pos(j) {
                let d = (nx - x).abs().max((ny - y).abs());
                if d < 8.0 {
                    step = step.max(d);
                }
            }
        }
        let step = if step == 0.0 { 1.0 } else { step };
        let footprint = step * kw.max(kc);
        let k = table.factor(x * kw, y * kc, footprint);
        // Sheen sits on the yarn tops: it follows the knit a little more strongly.
        let sheen = (k * k) >> KNIT_SHIFT;
        scale(i, k, sheen);
    }
}

/// Applies a knit factor (1.0 = [`KNIT_ONE`]) to a fixed-point light value.
#[inline]
pub(crate) fn scaled(light: u16, factor: u32) -> u16 {
    ((light as u32 * factor) >> KNIT_SHIFT).min(u16::MAX as u32) as u16
}

/// Softens the print's edges in `albedo` (linear `[r, g, b, _]` per atlas texel, `width`
/// texels per row, the print already composited over the garment). Ink is any texel
/// inside the panels (`alpha(i) == 255`) that differs from the bare `garment` albedo; where
/// ink meets bare garment, the ink (as its difference from the garment) and its coverage
/// are spread by a 3 x 3 binomial filter, then the coverage there is moved up or down by
/// the knit at that texel ([`fray`]), so the edge frays at yarn scale. Texels with no such
/// edge nearby, panel borders and edges between two inks are untouched. `albedo` may be a
/// rectangle of the atlas whose top-left texel is at atlas `origin` (the knit is laid out
/// in atlas coordinates); its outermost texels are never changed.
pub(crate) fn soften_ink_edges(
    albedo: &mut [[u16; 4]],
    width: usize,
    height: usize,
    origin: (usize, usize),
    pixels_per_inch: f32,
    garment: [u16; 3],
    alpha: impl Fn(usize) -> u8 + Sync,
) {
    use rayon::prelude::*;
    if width < 3 || height < 3 {
        return;
    }
    let table = KnitTable::get();
    let (kw, kc) = stitches_per_texel(pixels_per_inch);
    let src: &[[u16; 4]] = albedo;
    let is_ink =
        |j: usize| src[j][0] != garment[0] || src[j][1] != garment[1] || src[j][2] != garment[2];
    // The columns holding ink in each row (most of an atlas is bare garment): only
    // texels within one of them can be next to an ink edge.
    let ink_span: Vec<Option<(usize, usize)>> = (0..height)
        .into_par_iter()
        .map(|y| {
            let row = y * width;
            let first = (0..width).find(|&x| is_ink(row + x))?;
            let last = (first..width).rev().find(|&x| is_ink(row + x))?;
            Some((first, last))
        })
        .collect();
    let updates: Vec<(usize, [u16; 4])> = (1..height - 1)
        .into_par_iter()
        .flat_map_iter(|y| {
            let mut row = Vec::new();
            let near = ink_span[y - 1..=y + 1].iter().flatten();
            let (Some(lo), Some(hi)) = (near.clone().map(|s| s.0).min(), near.map(|s| s.1).max())
            else {
                return row.into_iter();
            };
            let (x0, x1) = (lo.saturating_sub(1).max(1), (hi + 2).min(width - 1));
            let mut prev_ink = is_ink(y * width + x0 - 1);
            for x in x0..x1 {
                let i = y * width + x;
                let here = is_ink(i);
                let left = prev_ink;
                prev_ink = here;
                let (r, u, d) = (is_ink(i + 1), is_ink(i - width), is_ink(i + width));
                if here == left && here == r && here == u && here == d {
                    continue;
                }
                let (mut cover, mut ink) = (0u32, [0i64; 3]);
                let mut in_panel = true;
                for (dy, wy) in [(-1isize, 1u32), (0, 2), (1, 1)] {
                    for (dx, wx) in [(-1isize, 1u32), (0, 2), (1, 1)] {
                        let j = (i as isize + dy * width as isize + dx) as usize;
                        in_panel &= alpha(j) == 255;
                        let wgt = wx * wy;
                        if is_ink(j) {
                            cover += wgt;
                        }
                        for (ch, v) in ink.iter_mut().enumerate() {
                            *v += (src[j][ch] as i64 - garment[ch] as i64) * wgt as i64;
                        }
                    }
                }
                if !in_panel || cover == 0 {
                    continue;
                }
                let blurred = cover as f32 / 16.0;
                let (ax, ay) = ((origin.0 + x) as f32, (origin.1 + y) as f32);
                let coverage = fray(blurred, table.factor(ax * kw, ay * kc, 0.0));
                // The ink difference of the blurred texels, rescaled to the new coverage.
                let gain = coverage / blurred / 16.0;
                let mut out = src[i];
                for ch in 0..3 {
                    out[ch] = (garment[ch] as f32 + ink[ch] as f32 * gain)
                        .round()
                        .clamp(0.0, 65535.0) as u16;
                }
                row.push((i, out));
            }
            row.into_iter()
        })
        .collect();
    for (i, v) in updates {
        albedo[i] = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_knit_averages_one_at_every_level_and_filters_out_with_distance() {
        let t = KnitTable::get();
        let mut stds = Vec::new();
        for level in &t.levels {
            let mean = level.iter().map(|&v| v as f64).sum::<f64>() / level.len() as f64;
            assert!((mean / KNIT_ONE as f64 - 1.0).abs() < 0.002, "mean {mean}");
            let var = level
                .iter()
                .map(|&v| (v as f64 / KNIT_ONE as f64 - 1.0).powi(2))
                .sum::<f64>()
                / level.len() as f64;
            stds.push(var.sqrt());
        }
        assert!((stds[0] - KNIT_CONTRAST as f64).abs() < 0.02, "{stds:?}");
        // Wider footprints keep less of the knit: never more, and nearly flat at the top.
        assert!(stds.windows(2).all(|w| w[1] <= w[0] + 1e-6), "{stds:?}");
        assert!(stds[LEVELS - 1] < 0.01, "{stds:?}");
        // A pixel about two stitches wide still shows the yarn's irregularity.
        assert!(stds[4] > 0.015, "{stds:?}");
    }

    #[test]
    fn the_knit_has_wales_and_courses_at_their_pitch() {
        let t = KnitTable::get();
        // Along a course (x), the unfiltered knit repeats with the stitch: its mean over
        // the wale grooves (stitch edges) is darker than over the legs.
        let (mut groove, mut leg) = (0.0, 0.0);
        for c in 0..TILE_STITCHES {
            for w in 0..TILE_STITCHES {
                let (wf, cf) = (w as f32, c as f32 + 0.3);
                groove += t.factor(wf + 0.01, cf, 0.0) as f64;
                leg += t.factor(wf + 0.3, cf, 0.0) as f64;
            }
        }
        assert!(groove < leg * 0.85, "groove {groove} leg {leg}");
    }

    #[test]
    fn ink_edges_fray_but_the_inside_and_outside_stay() {
        let (w, h) = (64usize, 64usize);
        let garment = [1000u16, 2000, 3000];
        let ink = [60000u16, 30000, 100];
        // One panel (opaque) with ink on its left half; a seam (transparent) on row 40.
        let alpha: Vec<u8> = (0..w * h)
            .map(|i| if i / w == 40 { 0 } else { 255 })
            .collect();
        let mut albedo: Vec<[u16; 4]> = (0..w * h)
            .map(|i| {
                if i % w < 32 {
                    [ink[0], ink[1], ink[2], 0]
                } else {
                    [garment[0], garment[1], garment[2], 0]
                }
            })
            .collect();
        let before = albedo.clone();
        soften_ink_edges(&mut albedo, w, h, (0, 0), 40.0, garment, |i| alpha[i]);
        for y in 1..h - 1 {
            for x in [0usize, 10, 30, 33, 50, 63] {
                assert_eq!(albedo[y * w + x], before[y * w + x], "({x}, {y})");
            }
        }
        // Next to the seam the panel's edge is left alone.
        for y in 39..=41 {
            assert_eq!(albedo[y * w + 31], before[y * w + 31]);
        }
        // The two texels at the edge became partial, and differ from row to row.
        let rows = (1..h - 1).filter(|y| !(39..=41).contains(y));
        let col = |x: usize| {
            rows.clone()
                .map(|y| albedo[y * w + x][0])
                .collect::<Vec<_>>()
        };
        for x in [31, 32] {
            let c = col(x);
            assert!(
                c.iter().all(|&v| v > garment[0] && v < ink[0]),
                "{x}: {c:?}"
            );
            let distinct = c.iter().collect::<std::collections::BTreeSet<_>>().len();
            assert!(distinct > 10, "the edge frays along its length: {c:?}");
        }
    }
}
