//! Fuzzes SVG designs: the input is placed inside an `<svg>` root so every run reaches the
//! SVG parser and rasteriser (external references must be ignored, sizes limited); it
//! must compose or be refused with a code, never panic, hang or allocate past the limits.
//!
//! Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run svg -- -max_total_time=600`.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use render_engine::{compose, ComposeOptions, DecodeLimits, Preset};

fuzz_target!(|data: &[u8]| {
    common::quiet_caught_panics();
    let mut svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"64\" height=\"64\">".to_vec();
    svg.extend_from_slice(data);
    svg.extend_from_slice(b"</svg>");
    let options = ComposeOptions::new(Preset::BackSmall)
        .with_print_dpi(72)
        .with_preview_width(16)
        .with_limits(DecodeLimits::default().with_max_pixels(4_000_000));
    let _ = compose(&svg, &options);
});
