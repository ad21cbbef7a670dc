//! Times the Rust call behind the Node `mockup` function on the benchmark's inputs, to
//! measure the binding's overhead (`benches/node/mockup-vs-sharp.mjs --rust` runs it).
//!
//! Usage: `mockup_timing DIR ROUNDS QUAD COLORS [stages]` where DIR holds `design.png`,
//! `photo.jpg` and `mask.png`, QUAD is `x0,y0,...,x3,y3` and COLORS `#rrggbb,...`;
//! `stages` also prints where one run of each spends its time (stderr).
//! Prints one JSON line: `{"single_ms": .., "colors_ms": ..}` (medians).

use std::time::Instant;

use render_engine::compose::{DecodeLimits, FitMode, PreparedDesign};
use render_engine::mockup::{encode_mockups, render_prepared, MockupFormat};
use render_engine::{CancelToken, GarmentColor};
use render_engine_node::functions::{mockup_images, PhotoBytes};
use render_engine_node::types::MockupOptions;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::Path::new(&args[1]);
    let rounds: usize = args[2].parse().expect("rounds");
    let corners: Vec<f64> = args[3]
        .split(',')
        .map(|v| v.parse().expect("quad"))
        .collect();
    let quad: Vec<Vec<f64>> = corners.chunks(2).map(|c| c.to_vec()).collect();
    let colors: Vec<String> = args[4].split(',').map(str::to_string).collect();
    let read = |name: &str| std::fs::read(dir.join(name)).expect("input file");
    let (design, photo, mask) = (read("design.png"), read("photo.jpg"), read("mask.png"));
    let options = |colors: Option<Vec<String>>| MockupOptions {
        colors,
        format: Some("jpeg".into()),
        quality: Some(90),
        fit: None,
        align: None,
        // as the bench's sharp side: the whole design, transparent margins included
        trim: Some(false),
    };
    let single_photo = PhotoBytes {
        image: &photo,
        quad: &quad,
        width_in: 12.0,
        height_in: 12.0,
        displacement: None,
        mask: None,
        name: None,
    };
    let masked_photo = PhotoBytes {
        mask: Some(&mask),
        ..single_photo
    };
    let cancel = CancelToken::new();
    let time = |photo: &PhotoBytes<'_>, options: &MockupOptions, expected: usize| {
        let mut samples = Vec::new();
        for round in 0..=rounds {
            let start = Instant::now();
            let images = mockup_images(&design, photo, options, &cancel).expect("mockup");
            assert_eq!(images.len(), expected);
            if round > 0 {
                samples.push(start.elapsed().as_secs_f64() * 1000.0);
            }
        }
        median(samples)
    };
    let single = time(&single_photo, &options(None), 1);
    let many = time(&masked_photo, &options(Some(colors.clone())), colors.len());
    // Where the time goes, for one run of each (stderr, with a fifth argument `stages`):
    // photo view, design decode, fit + render, encode.
    let stages = args.get(5).is_some_and(|a| a == "stages");
    for (name, photo, options) in [
        ("single", &single_photo, options(None)),
        ("8 colours", &masked_photo, options(Some(colors.clone()))),
    ] {
        if !stages {
            break;
        }
        let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        let view = photo.encoded().and_then(|v| v.decode()).expect("view");
        let view_ms = ms(t);
        let t = Instant::now();
        let prepared = PreparedDesign::decode_for(
            &design,
            &DecodeLimits::default(),
            &[view.design_canvas_size()],
            FitMode::Contain,
            false,
        )
        .expect("design");
        let decode_ms = ms(t);
        let tints: Vec<GarmentColor> = options
            .colors
            .iter()
            .flatten()
            .map(|c| GarmentColor::parse(c).expect("colour"))
            .collect();
        let t = Instant::now();
        let mockups = render_prepared(
            &prepared,
            &[view],
            &tints,
            &render_engine::MockupOptions {
                trim: false,
                ..Default::default()
            },
        )
        .expect("render");
        let render_ms = ms(t);
        let t = Instant::now();
        encode_mockups(&mockups, MockupFormat::Jpeg, 90).expect("encode");
        let encode_ms = ms(t);
        eprintln!(
            "rust stages, {name}: photo view {view_ms:.0} ms, design decode {decode_ms:.0} ms, fit + render {render_ms:.0} ms, JPEG encode {encode_ms:.0} ms"
        );
    }
    println!("{{\"single_ms\": {single}, \"colors_ms\": {many}}}");
}
