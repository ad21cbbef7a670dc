//! Fuzzes the decode entry point with arbitrary bytes: recognising the format, reading
//! headers, decoding PNG/JPEG/WebP and parsing SVG must never panic, hang or allocate
//! past the limits. Designs that decode are also composed (small print file and atlas),
//! which rasterises SVGs and exercises trimming, fitting and resizing.
//!
//! Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run decode -- -max_total_time=300`.

#![no_main]

mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use render_engine::template::TemplatePack;
use render_engine::{compose_batch, ComposeOptions, DecodeLimits, Preset};

fn options() -> &'static ComposeOptions {
    static OPTIONS: OnceLock<ComposeOptions> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        let mut manifest = TemplatePack::builtin().manifest().clone();
        manifest.atlas.pixels_per_inch = 4;
        let pack = TemplatePack::from_manifest(manifest, None).unwrap();
        // Small limits keep each run fast; the limit checks themselves are under test.
        let limits = DecodeLimits::default()
            .with_max_bytes(1 << 20)
            .with_max_pixels(4_000_000);
        let mut o = ComposeOptions::new(Preset::BackSmall)
            .with_template(pack)
            .with_print_dpi(72)
            .with_limits(limits);
        o.preview_width = 32;
        o
    })
}

fuzz_target!(|data: &[u8]| {
    common::quiet_caught_panics();
    let _ = compose_batch(data, std::slice::from_ref(options()));
});
