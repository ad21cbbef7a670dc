//! SSIM (Wang et al. 2004) on luma, the image-quality measure of the render tests.

use image::RgbaImage;

/// Luma (BT.601) of an sRGB image, 0 to 255.
pub fn luma(img: &RgbaImage) -> Vec<f64> {
    img.pixels()
        .map(|p| 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64)
        .collect()
}

/// Separable Gaussian blur (sigma 1.5, 11 taps, edges clamped).
pub fn gaussian(values: &[f64], w: usize, h: usize) -> Vec<f64> {
    let kernel: Vec<f64> = {
        let k: Vec<f64> = (-5..=5)
            .map(|i: i32| (-(i * i) as f64 / (2.0 * 1.5 * 1.5)).exp())
            .collect();
        let sum: f64 = k.iter().sum();
        k.into_iter().map(|v| v / sum).collect()
    };
    let mut tmp = vec![0.0; w * h];
    for y in 0..h {
        for x in 0..w {
            tmp[y * w + x] = (0..11)
                .map(|k| {
                    let xx = (x as i64 + k as i64 - 5).clamp(0, w as i64 - 1) as usize;
                    kernel[k] * values[y * w + xx]
                })
                .sum();
        }
    }
    let mut out = vec![0.0; w * h];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] = (0..11)
                .map(|k| {
                    let yy = (y as i64 + k as i64 - 5).clamp(0, h as i64 - 1) as usize;
                    kernel[k] * tmp[yy * w + x]
                })
                .sum();
        }
    }
    out
}

/// The SSIM map of two same-size images (Wang et al. 2004: Gaussian window, sigma 1.5,
/// K1 = 0.01, K2 = 0.03, on luma).
pub fn ssim_map(a: &RgbaImage, b: &RgbaImage) -> Vec<f64> {
    let (w, h) = (a.width() as usize, a.height() as usize);
    let (x, y) = (luma(a), luma(b));
    let product = |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(u, v)| u * v).collect::<Vec<_>>();
    let (mx, my) = (gaussian(&x, w, h), gaussian(&y, w, h));
    let sxx = gaussian(&product(&x, &x), w, h);
    let syy = gaussian(&product(&y, &y), w, h);
    let sxy = gaussian(&product(&x, &y), w, h);
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    (0..w * h)
        .map(|i| {
            let (vx, vy, cxy) = (
                sxx[i] - mx[i] * mx[i],
                syy[i] - my[i] * my[i],
                sxy[i] - mx[i] * my[i],
            );
            ((2.0 * mx[i] * my[i] + c1) * (2.0 * cxy + c2))
                / ((mx[i] * mx[i] + my[i] * my[i] + c1) * (vx + vy + c2))
        })
        .collect()
}

/// The mean of an SSIM map.
pub fn mean_ssim(a: &RgbaImage, b: &RgbaImage) -> f64 {
    let map = ssim_map(a, b);
    map.iter().sum::<f64>() / map.len().max(1) as f64
}
