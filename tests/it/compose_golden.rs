//! Golden-image tests: each preset composed from the sample designs, compared with PNGs
//! checked by eye and committed under `tests/golden/`.
//!
//! Regenerate after an intended change with `UPDATE_GOLDEN=1 cargo test --test
//! it compose_golden`, then look at every PNG before committing it.

use std::path::PathBuf;

use image::RgbaImage;
use render_engine::{compose, ComposeOptions};
use render_engine::{GarmentColor, Preset};

use crate::common::golden;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn assert_close(name: &str, actual: &RgbaImage) {
    golden::check(&golden::dir(""), &format!("{name}.png"), actual, None);
}

fn run(design: &str, preset: Preset, color: &str, name: &str) {
    let bytes = std::fs::read(repo(design)).unwrap();
    let options = ComposeOptions::new(preset)
        .with_color(GarmentColor::parse(color).unwrap())
        .with_print_dpi(72);
    let result = compose(&bytes, &options).unwrap();
    assert_close(&format!("{name}.print"), &result.print_file);
    assert_close(&format!("{name}.atlas"), &result.atlas);
    assert_close(&format!("{name}.preview"), &result.preview);
}

#[test]
fn chest_large_raster_on_charcoal() {
    run(
        "examples/designs/sunset-badge.png",
        Preset::ChestLarge,
        "#1f2937",
        "chest-large",
    );
}

#[test]
fn dead_center_medium_svg_on_white() {
    run(
        "examples/designs/wave-logo.svg",
        Preset::DeadCenterMedium,
        "#ffffff",
        "dead-center-medium",
    );
}

#[test]
fn back_small_raster_on_sand() {
    run(
        "examples/designs/sunset-badge.png",
        Preset::BackSmall,
        "#e7d8b8",
        "back-small",
    );
}
