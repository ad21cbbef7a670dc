//! Fuzzes a template pack's manifest (`template.json`: panels, landmarks, presets, atlas):
//! any bytes must load and validate or be refused with `E_VALIDATION`, never panic.
//! Packs that load are composed against (tiny print DPI), which exercises the geometry.
//!
//! Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run template_pack -- -max_total_time=600`.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use render_engine::template::TemplatePack;
use render_engine::{compose, ComposeOptions, Preset};

fuzz_target!(|data: &[u8]| {
    common::quiet_caught_panics();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pack) = TemplatePack::from_json(text, None) {
        let design = render_engine::encode_png(
            &render_engine::image::RgbaImage::from_pixel(
                8,
                8,
                render_engine::image::Rgba([10, 20, 30, 255]),
            ),
            None,
        )
        .unwrap();
        let (w, h) = pack.atlas_size_px();
        if u64::from(w) * u64::from(h) <= 4_000_000 {
            let options = ComposeOptions::new(Preset::BackSmall)
                .with_template(pack)
                .with_print_dpi(72)
                .with_preview_width(16);
            let _ = compose(&design, &options);
        }
    }
});
