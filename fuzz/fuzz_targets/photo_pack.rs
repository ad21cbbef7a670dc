//! Fuzzes a photo pack's manifest (`template.json` of a merchant's pack): any bytes as
//! the manifest of a pack folder that also holds valid images. It must load or be refused
//! with a code, never panic, and never read a file outside the pack folder.
//!
//! Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run photo_pack -- -max_total_time=600`.

#![no_main]

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use render_engine::mockup::PhotoView;

/// A pack folder with small valid images, made once per process.
fn pack_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("re-fuzz-pack-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let img = render_engine::image::RgbaImage::from_pixel(
            32,
            32,
            render_engine::image::Rgba([200, 200, 200, 255]),
        );
        let png = render_engine::encode_png(&img, None).unwrap();
        for name in ["photo.png", "mask.png", "map.png"] {
            std::fs::write(dir.join(name), &png).unwrap();
        }
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    common::quiet_caught_panics();
    let dir = pack_dir();
    std::fs::write(dir.join("template.json"), data).unwrap();
    let _ = PhotoView::load(dir);
});
