//! Fuzzes the decode entry point with arbitrary bytes: recognising the format, reading
//! headers, decoding PNG/JPEG/WebP and parsing SVG must never panic, hang or allocate
//! past the limits. Designs that decode are also composed (small print file and atlas),
//! which rasterises SVGs and exercises trimming, fitting and resizing.
//!
//! Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run decode -- -max_total_time=300`.

#![no_main]

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
        let limits = DecodeLimits {
            max_bytes: 1 << 20,
            max_pixels: 4_000_000,
        };
        let mut o = ComposeOptions::new(Preset::BackSmall)
            .with_template(pack)
            .with_print_dpi(72)
            .with_limits(limits);
        o.preview_width = 32;
        o
    })
}

/// libfuzzer-sys's panic hook aborts on every panic, even one the library catches on
/// purpose (raster decoding runs under `catch_unwind`, mapping a decoder panic to
/// `E_IMAGE_DECODE`). A silent hook lets those be caught as in production; a panic that
/// escapes the library still fails the run, because the fuzz harness aborts on it.
fn quiet_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

fuzz_target!(|data: &[u8]| {
    quiet_caught_panics();
    let _ = compose_batch(data, std::slice::from_ref(options()));
});
