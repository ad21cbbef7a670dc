//! Photo mockup speed: a 4500 x 5400 PNG design on a 2000 x 2000 garment photo, JPEG q90;
//! one mockup (decode, fit, place, encode) on a prepared photo view and from the encoded
//! files, and 8 garment colours of one design (decoded and fitted once).
//!
//! `cargo bench --bench mockup`

use criterion::{criterion_group, criterion_main, Criterion};
use image::{Rgba, RgbaImage};
use render_engine::mockup::{
    encode_mockup, encode_mockups, render_mockups, render_mockups_encoded, EncodedPhotoView,
    MockupFormat, MockupOptions, PrintAreaSpec,
};
use render_engine::GarmentColor;

/// A busy 4500 x 5400 RGBA design with soft edges, as PNG bytes.
fn design_png() -> Vec<u8> {
    let (w, h) = (4500u32, 5400u32);
    let img = RgbaImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32 - 0.5, y as f32 / h as f32 - 0.5);
        let r = (fx * fx + fy * fy).sqrt();
        let alpha = ((0.45 - r) * 400.0).clamp(0.0, 255.0) as u8;
        Rgba([
            (255.0 * (0.5 + fx)) as u8,
            (255.0 * (0.5 + fy)) as u8,
            if ((x / 150) + (y / 150)) % 2 == 0 {
                40
            } else {
                210
            },
            alpha,
        ])
    });
    render_engine::encode_png(&img, None).unwrap()
}

/// The example pack's view resampled to 2000 x 2000, as encoded files (the photo as
/// JPEG q92, the displacement map and mask as PNG) and its print area.
struct EncodedView {
    photo: Vec<u8>,
    displacement: Vec<u8>,
    mask: Vec<u8>,
    area: PrintAreaSpec,
}

impl EncodedView {
    fn load() -> Self {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/photo-pack");
        let load = |name: &str| {
            let img = image::open(dir.join(name)).unwrap().to_rgb8();
            image::imageops::resize(&img, 2000, 2000, image::imageops::FilterType::Triangle)
        };
        let encode = |img: &image::RgbImage, format: image::ImageFormat| {
            let mut out = std::io::Cursor::new(Vec::new());
            match format {
                image::ImageFormat::Jpeg => {
                    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
                        .encode_image(img)
                        .unwrap()
                }
                _ => img.write_to(&mut out, format).unwrap(),
            }
            out.into_inner()
        };
        let (sx, sy) = (2000.0 / 1200.0, 2000.0 / 1400.0);
        let quad = [
            [405.0, 264.0],
            [795.0, 264.0],
            [800.0, 796.0],
            [400.0, 796.0],
        ]
        .map(|[x, y]: [f64; 2]| [x * sx, y * sy]);
        EncodedView {
            photo: encode(&load("photo.jpg"), image::ImageFormat::Jpeg),
            displacement: encode(&load("displacement.png"), image::ImageFormat::Png),
            mask: encode(&load("mask.png"), image::ImageFormat::Png),
            area: PrintAreaSpec {
                quad,
                width_in: 12.0,
                height_in: 14.0,
            },
        }
    }

    fn encoded(&self) -> EncodedPhotoView<'_> {
        EncodedPhotoView {
            name: "front",
            photo: &self.photo,
            area: self.area.clone(),
            displacement: Some((&self.displacement, 20.0, Default::default())),
            mask: Some(&self.mask),
        }
    }
}

fn bench(c: &mut Criterion) {
    let design = design_png();
    let encoded = EncodedView::load();
    let views = vec![encoded.encoded().decode().unwrap()];
    let options = MockupOptions::default();
    let colors: Vec<GarmentColor> = [
        "#1f2937", "#ffffff", "#b91c1c", "#0f766e", "#facc15", "#7c3aed", "#334155", "#f97316",
    ]
    .iter()
    .map(|c| GarmentColor::parse(c).unwrap())
    .collect();

    let mut group = c.benchmark_group("mockup");
    group.sample_size(10);
    group.bench_function("one mockup (decode + fit + place + jpeg q90)", |b| {
        b.iter(|| {
            let m = render_mockups(&design, &views, &colors[..1], &options).unwrap();
            encode_mockup(&m[0].image, MockupFormat::Jpeg, 90).unwrap()
        })
    });
    group.bench_function(
        "one mockup from encoded files (photo decode + view overlapped with the design's)",
        |b| {
            b.iter(|| {
                let m =
                    render_mockups_encoded(&design, &[encoded.encoded()], &colors[..1], &options)
                        .unwrap();
                encode_mockup(&m[0].image, MockupFormat::Jpeg, 90).unwrap()
            })
        },
    );
    group.bench_function("8 colours of one design (decode + fit once)", |b| {
        b.iter(|| {
            let ms = render_mockups(&design, &views, &colors, &options).unwrap();
            encode_mockups(&ms, MockupFormat::Jpeg, 90).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
