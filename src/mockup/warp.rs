//! Projective mapping between the design's rectangle and the print-area quad on a photo,
//! and bilinear sampling of premultiplied pixels.

use image::RgbaImage;

/// A 3 x 3 projective transform (row-major), mapping `(x, y, 1)` to homogeneous points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Homography(pub [f64; 9]);

impl Homography {
    /// The transform that maps the rectangle `(0,0)-(w,h)` onto `quad` (top-left, top-right,
    /// bottom-right, bottom-left). `None` when the quad is degenerate.
    pub fn rect_to_quad(w: f64, h: f64, quad: &[[f64; 2]; 4]) -> Option<Self> {
        let src = [[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]];
        // Solve A * p = b for the eight unknowns (h33 = 1).
        let mut a = [[0.0f64; 9]; 8];
        for i in 0..4 {
            let [x, y] = src[i];
            let [u, v] = quad[i];
            a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
            a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
        }
        let p = solve8(a)?;
        Some(Homography([
            p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], 1.0,
        ]))
    }

    /// The inverse transform; `None` when singular.
    pub fn inverse(&self) -> Option<Self> {
        let m = &self.0;
        let det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6])
            + m[2] * (m[3] * m[7] - m[4] * m[6]);
        if det.abs() < 1e-12 {
            return None;
        }
        let inv = [
            (m[4] * m[8] - m[5] * m[7]) / det,
            (m[2] * m[7] - m[1] * m[8]) / det,
            (m[1] * m[5] - m[2] * m[4]) / det,
            (m[5] * m[6] - m[3] * m[8]) / det,
            (m[0] * m[8] - m[2] * m[6]) / det,
            (m[2] * m[3] - m[0] * m[5]) / det,
            (m[3] * m[7] - m[4] * m[6]) / det,
            (m[1] * m[6] - m[0] * m[7]) / det,
            (m[0] * m[4] - m[1] * m[3]) / det,
        ];
        Some(Homography(inv))
    }

    /// Applies the transform to a point.
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let m = &self.0;
        let w = m[6] * x + m[7] * y + m[8];
        (
            (m[0] * x + m[1] * y + m[2]) / w,
            (m[3] * x + m[4] * y + m[5]) / w,
        )
    }
}

/// Gaussian elimination with partial pivoting on an 8 x 9 augmented matrix.
fn solve8(mut a: [[f64; 9]; 8]) -> Option<[f64; 8]> {
    for col in 0..8 {
        let pivot = (col..8).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        let pivot_row = a[col];
        for (row, values) in a.iter_mut().enumerate() {
            if row != col {
                let factor = values[col] / pivot_row[col];
                for (v, p) in values.iter_mut().zip(pivot_row.iter()).skip(col) {
                    *v -= factor * p;
                }
            }
        }
    }
    Some(std::array::from_fn(|i| a[i][8] / a[i][i]))
}

/// `x.floor() as i64`, without a call into libm (the baseline x86-64 target has no
/// rounding instruction, and this runs for every pixel of a mockup's print).
#[inline]
fn floor_i64(x: f64) -> i64 {
    let t = x as i64;
    if (t as f64) > x {
        t.saturating_sub(1)
    } else {
        t
    }
}

/// Samples a premultiplied RGBA image at a fractional position (pixel centres at
/// `i + 0.5`), bilinearly; positions outside the image read as transparent, so edges fade
/// over one pixel (anti-aliased, with no dark fringe since the data is premultiplied).
pub(super) fn sample_bilinear(img: &RgbaImage, x: f64, y: f64) -> [f32; 4] {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let fx = x - 0.5;
    let fy = y - 0.5;
    let (x0, y0) = (floor_i64(fx), floor_i64(fy));
    let tx = (fx - x0 as f64) as f32;
    let ty = (fy - y0 as f64) as f32;
    if x0 < -1 || y0 < -1 || x0 >= w || y0 >= h {
        return [0.0; 4];
    }
    let raw = img.as_raw();
    let texel = |xi: i64, yi: i64| -> [f32; 4] {
        if xi < 0 || yi < 0 || xi >= w || yi >= h {
            [0.0; 4]
        } else {
            let i = ((yi * w + xi) * 4) as usize;
            [
                raw[i] as f32,
                raw[i + 1] as f32,
                raw[i + 2] as f32,
                raw[i + 3] as f32,
            ]
        }
    };
    let (a, b, c, d) = (
        texel(x0, y0),
        texel(x0 + 1, y0),
        texel(x0, y0 + 1),
        texel(x0 + 1, y0 + 1),
    );
    let mut out = [0.0f32; 4];
    for k in 0..4 {
        let top = a[k] + (b[k] - a[k]) * tx;
        let bottom = c[k] + (d[k] - c[k]) * tx;
        out[k] = top + (bottom - top) * ty;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rectangle_maps_onto_the_quad_and_back() {
        let quad = [[100.0, 50.0], [400.0, 80.0], [380.0, 500.0], [90.0, 470.0]];
        let h = Homography::rect_to_quad(300.0, 400.0, &quad).unwrap();
        let corners = [[0.0, 0.0], [300.0, 0.0], [300.0, 400.0], [0.0, 400.0]];
        for (c, q) in corners.iter().zip(quad.iter()) {
            let (x, y) = h.apply(c[0], c[1]);
            assert!(
                (x - q[0]).abs() < 1e-6 && (y - q[1]).abs() < 1e-6,
                "{c:?} -> {x},{y}"
            );
        }
        let inv = h.inverse().unwrap();
        let (u, v) = inv.apply(240.0, 275.0);
        let (x, y) = h.apply(u, v);
        assert!((x - 240.0).abs() < 1e-6 && (y - 275.0).abs() < 1e-6);
    }

    #[test]
    fn floor_matches_the_standard_floor() {
        for x in [
            -2.5, -1.0, -0.5, -1e-9, 0.0, 1e-9, 0.5, 1.0, 2.999, 1e12, -1e12,
        ] {
            assert_eq!(floor_i64(x), x.floor() as i64, "{x}");
        }
    }

    #[test]
    fn a_degenerate_quad_has_no_transform() {
        let line = [[0.0, 0.0], [10.0, 0.0], [20.0, 0.0], [30.0, 0.0]];
        assert!(Homography::rect_to_quad(10.0, 10.0, &line).is_none());
    }

    #[test]
    fn sampling_interpolates_and_fades_at_edges() {
        let mut img = RgbaImage::new(2, 1);
        img.put_pixel(0, 0, image::Rgba([0, 0, 0, 255]));
        img.put_pixel(1, 0, image::Rgba([200, 200, 200, 255]));
        assert_eq!(sample_bilinear(&img, 0.5, 0.5), [0.0, 0.0, 0.0, 255.0]);
        assert_eq!(sample_bilinear(&img, 1.0, 0.5)[0], 100.0);
        // Half a pixel beyond the edge: half coverage.
        assert_eq!(sample_bilinear(&img, 2.0, 0.5)[3], 127.5);
        assert_eq!(sample_bilinear(&img, 50.0, 0.5), [0.0; 4]);
    }
}
