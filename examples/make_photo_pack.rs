//! Generates `examples/photo-pack/`: a photo-like garment template (a light tee with real
//! folds, lit from the upper left, on a studio backdrop), its garment mask, its
//! displacement map and its manifest. The output is deterministic.
//!
//! `cargo run --release --example make_photo_pack`

use std::path::Path;

use image::{GrayImage, Luma, Rgb, RgbImage};

const W: u32 = 1200;
const H: u32 = 1400;
/// Photo pixels per inch of garment.
const PX_PER_IN: f64 = 38.0;

/// The tee's outline in inches around the centre-front neck (x right, y down): body,
/// sleeves and neckline, as in the built-in pattern (adult M).
fn inside_tee(x: f64, y: f64) -> bool {
    if in_neck_opening(x, y) && !inside_back_neck(x, y) {
        return false;
    }
    // The shoulder line slopes from the neck (y = 0, |x| = 3.75) outwards and down.
    let shoulder_y = (x.abs() - 3.75).max(0.0) / 3.0;
    let body = x.abs() <= 10.0 && y >= shoulder_y && y <= 28.0;
    // Sleeves continue the shoulder line out to the cuff at |x| = 15.5.
    let t = (x.abs() - 8.5) / 7.0;
    let drop = (x.abs() - 10.0).max(0.0) / 5.5 * 1.2;
    let sleeve = (0.0..=1.0).contains(&t) && y >= shoulder_y + drop && y <= 9.5 - t * 1.8;
    body || sleeve || inside_back_neck(x, y)
}

/// The front neckline's opening.
fn in_neck_opening(x: f64, y: f64) -> bool {
    (x / 3.75).powi(2) + (y / 3.5).powi(2) < 1.0 && y >= 0.0
}

/// The inside of the back of the shirt, seen through the neck opening.
fn inside_back_neck(x: f64, y: f64) -> bool {
    in_neck_opening(x, y) && y >= 0.9 - 0.9 * (x / 3.75).powi(2)
}

/// The fabric's height field (inches): a few soft diagonal folds and drape below the
/// arms. Returns height; its gradient shades the fabric.
fn folds(x: f64, y: f64) -> f64 {
    let ridge = |cx: f64, cy: f64, angle: f64, width: f64, depth: f64, length: f64| {
        let (s, c) = angle.to_radians().sin_cos();
        let (dx, dy) = (x - cx, y - cy);
        let across = dx * c + dy * s;
        let along = -dx * s + dy * c;
        depth * (-(across / width).powi(2)).exp() * (-(along / length).powi(2)).exp()
    };
    ridge(-5.5, 11.0, 65.0, 0.9, -0.55, 5.0)
        + ridge(5.8, 12.5, 115.0, 0.8, -0.5, 4.5)
        + ridge(1.5, 21.0, 80.0, 1.3, -0.45, 6.0)
        + ridge(-2.5, 24.5, 95.0, 1.0, 0.3, 4.0)
        + ridge(7.5, 20.0, 100.0, 1.1, -0.35, 5.0)
        - 0.25 * (x / 10.0).powi(2)
}

/// A tiny deterministic hash noise in 0..1, for the weave.
fn noise(x: u32, y: u32) -> f64 {
    let mut h = x.wrapping_mul(374_761_393) ^ y.wrapping_mul(668_265_263);
    h = (h ^ (h >> 13)).wrapping_mul(1_274_126_177);
    ((h ^ (h >> 16)) & 0xffff) as f64 / 65535.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/photo-pack");
    std::fs::create_dir_all(&out)?;
    let origin = (W as f64 / 2.0, 150.0); // where the centre-front neck sits
    let to_in = |px: u32, py: u32| {
        (
            (px as f64 + 0.5 - origin.0) / PX_PER_IN,
            (py as f64 + 0.5 - origin.1) / PX_PER_IN,
        )
    };

    let mut photo = RgbImage::new(W, H);
    let mut mask = GrayImage::new(W, H);
    let mut displacement = GrayImage::new(W, H);
    let light = {
        let l: [f64; 3] = [-0.45, -0.55, 0.7];
        let n = (l[0] * l[0] + l[1] * l[1] + l[2] * l[2]).sqrt();
        [l[0] / n, l[1] / n, l[2] / n]
    };
    for py in 0..H {
        for px in 0..W {
            let (x, y) = to_in(px, py);
            // Supersample the outline 4x for a clean, anti-aliased edge.
            let mut cover = 0.0;
            for (ox, oy) in [(-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)] {
                if inside_tee(x + ox / PX_PER_IN, y + oy / PX_PER_IN) {
                    cover += 0.25;
                }
            }
            let backdrop = 222.0 - 18.0 * (py as f64 / H as f64) + 4.0 * (noise(px, py) - 0.5);
            let e = 0.02;
            let gx = (folds(x + e, y) - folds(x - e, y)) / (2.0 * e);
            let gy = (folds(x, y + e) - folds(x, y - e)) / (2.0 * e);
            let n = {
                let len = (gx * gx + gy * gy + 1.0).sqrt();
                [-gx / len, -gy / len, 1.0 / len]
            };
            let lambert = (n[0] * light[0] + n[1] * light[1] + n[2] * light[2]).max(0.0);
            let weave =
                1.0 + 0.025 * (noise(px / 2, py / 2) - 0.5) + 0.015 * ((px + py) % 3) as f64 / 2.0;
            // Slightly darker towards the sides: the body turns away from the camera.
            let turn = 1.0 - 0.12 * (x.abs().min(10.5) / 10.5).powi(4);
            let turn = if inside_back_neck(x, y) {
                turn * 0.72
            } else {
                turn
            };
            let fabric = (250.0 * (0.28 + 0.78 * lambert) * weave * turn).clamp(0.0, 255.0);
            let shade = [fabric, fabric * 0.995, fabric * 0.985];
            let px_rgb: Vec<u8> = shade
                .iter()
                .map(|f| {
                    (f * cover + backdrop * (1.0 - cover))
                        .round()
                        .clamp(0.0, 255.0) as u8
                })
                .collect();
            photo.put_pixel(px, py, Rgb([px_rgb[0], px_rgb[1], px_rgb[2]]));
            mask.put_pixel(px, py, Luma([(cover * 255.0).round() as u8]));
            // Displacement: 128 + the fold height, scaled (Photoshop's convention).
            let d = 128.0 + folds(x, y) * 160.0 * cover;
            displacement.put_pixel(px, py, Luma([d.round().clamp(0.0, 255.0) as u8]));
        }
    }
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 88).encode_image(&photo)?;
    std::fs::write(out.join("photo.jpg"), jpeg)?;
    mask.save(out.join("mask.png"))?;
    displacement.save(out.join("displacement.png"))?;

    // The print area: a 12 x 14 in chest area 3 in below the neck, with a slight
    // perspective (the top edge a little narrower), as a real photo would show it.
    let corner = |x_in: f64, y_in: f64| {
        [
            (origin.0 + x_in * PX_PER_IN).round(),
            (origin.1 + y_in * PX_PER_IN).round(),
        ]
    };
    let manifest = serde_json::json!({
        "format_version": 1,
        "id": "studio-tee-photo",
        "name": "Studio photo of a light tee (generated)",
        "photo_views": [{
            "name": "front",
            "photo": "photo.jpg",
            "mask": "mask.png",
            "displacement": { "image": "displacement.png", "scale_px": 14.0, "channels": "luminance" },
            "print_area": {
                "quad": [corner(-5.85, 3.0), corner(5.85, 3.0), corner(6.0, 17.0), corner(-6.0, 17.0)],
                "width_in": 12.0,
                "height_in": 14.0
            }
        }]
    });
    std::fs::write(
        out.join("template.json"),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )?;
    println!("wrote {}", out.display());
    Ok(())
}
