//! The print on a photo mockup takes the light of the fabric under it: a flat mid-grey
//! design on the example photo pack (`examples/photo-pack`), measured over 16 x 16 px
//! blocks across the print, in the photo's own colour and re-tinted to navy.

use std::path::PathBuf;

use image::RgbaImage;
use render_engine::mockup::{render_mockups, MockupOptions, PhotoView};
use render_engine::GarmentColor;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn linear(c: u8) -> f64 {
    let c = c as f64 / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

fn luminance(p: &image::Rgba<u8>) -> f64 {
    0.2126 * linear(p[0]) + 0.7152 * linear(p[1]) + 0.0722 * linear(p[2])
}

/// A 600 x 700 PNG (the 12 x 14 in print area's aspect) of one premultiplied colour.
fn flat_design(grey: u8, alpha: u8) -> Vec<u8> {
    let img = RgbaImage::from_pixel(600, 700, image::Rgba([grey, grey, grey, alpha]));
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

fn mockup(design: &[u8], color: Option<GarmentColor>) -> RgbaImage {
    let views = PhotoView::load(&root().join("examples/photo-pack")).unwrap();
    let colors: Vec<GarmentColor> = color.into_iter().collect();
    let options = MockupOptions::default().with_trim(false);
    render_mockups(design, &views, &colors, &options)
        .unwrap()
        .remove(0)
        .image
}

/// Mean luminance of 16 x 16 blocks inside the print (the quad's box inset by 12 px,
/// garment pixels only, as the mask says).
fn blocks(img: &RgbaImage, mask: &image::GrayImage) -> Vec<f64> {
    let (x0, y0, x1, y1) = (390u32, 276u32, 810u32, 784u32);
    let mut out = Vec::new();
    for by in (y0..y1 - 15).step_by(16) {
        for bx in (x0..x1 - 15).step_by(16) {
            let (mut sum, mut n) = (0.0, 0);
            for y in by..by + 16 {
                for x in bx..bx + 16 {
                    if mask.get_pixel(x, y)[0] >= 250 {
                        sum += luminance(img.get_pixel(x, y));
                        n += 1;
                    }
                }
            }
            out.push(if n == 256 { sum / n as f64 } else { f64::NAN });
        }
    }
    out
}

/// Least-squares slope and Pearson correlation of `y` on `x` (NaN pairs skipped).
fn regress(x: &[f64], y: &[f64]) -> (f64, f64) {
    let pairs: Vec<(f64, f64)> = x
        .iter()
        .zip(y)
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(a, b)| (*a, *b))
        .collect();
    let n = pairs.len() as f64;
    let (mx, my) = (
        pairs.iter().map(|p| p.0).sum::<f64>() / n,
        pairs.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxy: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pairs.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let syy: f64 = pairs.iter().map(|p| (p.1 - my).powi(2)).sum();
    (sxy / sxx, sxy / (sxx * syy).sqrt())
}

/// Ratio of each block to the mean of all blocks.
fn relative(v: &[f64]) -> Vec<f64> {
    let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    let mean = finite.iter().sum::<f64>() / finite.len() as f64;
    v.iter().map(|x| x / mean).collect()
}

/// Regresses the print's luminance ratio (output / design, as a ratio to its mean over the
/// print) on the fabric's (the garment shown without a print, likewise) over blocks, and
/// requires the print to follow: slope 0.85-1.15, correlation at least 0.97, in the
/// photo's colour and on a navy re-tint (figures before and after: docs/mockups.md).
#[test]
fn the_print_brightness_follows_the_garment_under_it() {
    let mask = image::open(root().join("examples/photo-pack/mask.png"))
        .unwrap()
        .to_luma8();
    let grey = flat_design(128, 255);
    // A design of 1/255 opacity shows the fabric as it is rendered under the print.
    let bare = flat_design(1, 1);
    for color in [None, Some(GarmentColor::parse("#1f2937").unwrap())] {
        let print = relative(&blocks(&mockup(&grey, color), &mask));
        let fabric = relative(&blocks(&mockup(&bare, color), &mask));
        let (slope, r) = regress(&fabric, &print);
        let spread = {
            let f: Vec<f64> = fabric.iter().copied().filter(|x| x.is_finite()).collect();
            f.iter().cloned().fold(f64::MIN, f64::max) - f.iter().cloned().fold(f64::MAX, f64::min)
        };
        eprintln!("{color:?}: slope {slope:.3}, r {r:.3}, fabric ratio spread {spread:.3}");
        assert!(spread > 0.3, "the photo has folds to follow ({spread})");
        assert!(
            (0.85..=1.15).contains(&slope) && r >= 0.97,
            "{color:?}: the print's brightness must follow the fabric's: slope {slope:.3}, r {r:.3}"
        );
    }
}
