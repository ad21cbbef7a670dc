//! The baked renderer and the turntable encoders (release profile):
//!
//!     cargo bench --bench render
//!
//! For every built-in garment (`<id>/...`):
//!
//! * `front_still_1024`: the compositor's chest-large atlas to a 1024 x 1024 front still
//!   (target: under 10 ms on 2 cores);
//! * `turntable/24x512_mp4_webp`: the 24 turntable frames at 512 x 512, rendered and
//!   encoded to MP4 and WebP (target: under 200 ms);
//! * `turntable/24x512_render_only`: the frames without encoding;
//! * `turntable/24x512_mp4_only`, `turntable/24x512_webp_only`: each encoder alone on
//!   frames rendered once.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use image::{Rgba, RgbaImage};
use render_engine::render::{
    encode_mp4, encode_webp, BakedRenderer, RenderOutputs, RenderRequest, Renderer, View,
};
use render_engine::template::TemplatePack;
use render_engine::{compose, encode_png, ComposeOptions, GarmentColor, Preset};

/// A 3600 x 3600 design (12 in at 300 DPI): colour bands and a disc.
fn design_png() -> Vec<u8> {
    let img = RgbaImage::from_fn(3600, 3600, |x, y| {
        let (dx, dy) = (x as f32 - 1800.0, y as f32 - 1800.0);
        if dx * dx + dy * dy < 900.0 * 900.0 {
            Rgba([250, 200, 40, 255])
        } else if (x / 300 + y / 300) % 2 == 0 {
            Rgba([200, 40, 60, 255])
        } else {
            Rgba([0, 0, 0, 0])
        }
    });
    encode_png(&img, None).unwrap()
}

fn bench(c: &mut Criterion) {
    let color = GarmentColor::parse("#1f2937").unwrap();
    let design = design_png();
    for pack in TemplatePack::builtins() {
        let id = pack.id().to_string();
        let composition = compose(
            &design,
            &ComposeOptions::new(Preset::ChestLarge)
                .with_color(color)
                .with_template(pack.clone()),
        )
        .unwrap();
        let atlas = composition.atlas;
        let renderer = BakedRenderer::new(pack.baked_views().unwrap());
        renderer.preload().unwrap();

        let front = RenderRequest::new(&atlas, color)
            .with_template(&pack)
            .with_outputs(RenderOutputs {
                stills: vec![View::Front],
                turntable: false,
            });
        c.bench_function(&format!("{id}/front_still_1024"), |b| {
            b.iter(|| renderer.render(&front).unwrap())
        });

        let turntable = RenderRequest::new(&atlas, color)
            .with_template(&pack)
            .with_outputs(RenderOutputs {
                stills: vec![],
                turntable: true,
            });
        let mut group = c.benchmark_group(format!("{id}/turntable"));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(10));
        group.bench_function("24x512_mp4_webp", |b| {
            b.iter(|| {
                let out = renderer.render(&turntable).unwrap();
                let (mp4, webp) = rayon::join(
                    || encode_mp4(&out.turntable, out.fps).unwrap(),
                    || encode_webp(&out.turntable, out.fps).unwrap(),
                );
                (mp4.len(), webp.len())
            })
        });
        group.bench_function("24x512_render_only", |b| {
            b.iter(|| renderer.render(&turntable).unwrap())
        });
        // The two encoders alone, on frames rendered once (where the time goes).
        let frames = renderer.render(&turntable).unwrap();
        group.bench_function("24x512_mp4_only", |b| {
            b.iter(|| encode_mp4(&frames.turntable, frames.fps).unwrap().len())
        });
        group.bench_function("24x512_webp_only", |b| {
            b.iter(|| encode_webp(&frames.turntable, frames.fps).unwrap().len())
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
