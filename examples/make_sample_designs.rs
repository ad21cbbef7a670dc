//! Writes the raster sample design `examples/designs/sunset-badge.png`: a 3000 x 3000
//! transparent PNG with a round sunset badge (sky gradient, striped sun, mountains),
//! drawn with plain arithmetic so it is deterministic.
//!
//! Run: `cargo run --example make_sample_designs`. The vector sample
//! (`examples/designs/wave-logo.svg`) is written by hand.

use image::{Rgba, RgbaImage};

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [0, 1, 2].map(|i| a[i] + (b[i] - a[i]) * t)
}

fn main() {
    let size = 3000u32;
    let c = size as f32 / 2.0;
    let radius = 1300.0;
    let mut img = RgbaImage::new(size, size);
    for y in 0..size {
        for x in 0..size {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            let d = ((fx - c).powi(2) + (fy - c).powi(2)).sqrt();
            // anti-aliased disc edge, a 60 px dark ring inside it
            let coverage = (radius - d + 0.5).clamp(0.0, 1.0);
            if coverage == 0.0 {
                continue;
            }
            let t = ((fy - (c - radius)) / (2.0 * radius)).clamp(0.0, 1.0);
            let mut rgb = mix([255.0, 196.0, 61.0], [214.0, 40.0, 90.0], t);
            // sun: a disc with horizontal gaps in its lower half
            let sun_d = ((fx - c).powi(2) + (fy - (c + 100.0)).powi(2)).sqrt();
            let band = ((fy - c) / 70.0).floor() as i32;
            if sun_d < 620.0 && (fy < c + 100.0 || band % 2 == 0) {
                rgb = mix(
                    [255.0, 244.0, 214.0],
                    [255.0, 170.0, 60.0],
                    ((fy - (c - 520.0)) / 1240.0).clamp(0.0, 1.0),
                );
            }
            // mountains: two triangles' union, dark plum
            let m1 = fy > c + 350.0 + (fx - (c - 450.0)).abs() * 0.8;
            let m2 = fy > c + 250.0 + (fx - (c + 380.0)).abs() * 0.7;
            if m1 || m2 {
                rgb = [58.0, 24.0, 71.0];
            }
            if d > radius - 60.0 {
                rgb = [40.0, 18.0, 52.0];
            }
            let px = rgb.map(|v| v.round().clamp(0.0, 255.0) as u8);
            img.put_pixel(
                x,
                y,
                Rgba([px[0], px[1], px[2], (coverage * 255.0).round() as u8]),
            );
        }
    }
    let out = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/designs/sunset-badge.png"
    );
    let png = render_engine::encode_png(&img, Some(300)).expect("encode");
    std::fs::write(out, png).expect("write the sample design");
    println!("wrote {out}");
}
