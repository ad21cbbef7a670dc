//! Golden-image tests: each preset composed from the sample designs, compared with PNGs
//! checked by eye and committed under `tests/golden/`.
//!
//! Regenerate after an intended change with `UPDATE_GOLDEN=1 cargo test --test
//! compose_golden`, then look at every PNG before committing it.

use std::path::PathBuf;

use image::RgbaImage;
use render_engine::compose::{compose, ComposeOptions};
use render_engine::{GarmentColor, Preset};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Compares with a tolerance: resampling and rasterisation may differ by a few levels
/// between CPUs (SIMD paths), never by much or in many places.
fn assert_close(name: &str, actual: &RgbaImage) {
    let path = repo(&format!("tests/golden/{name}.png"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        actual.save(&path).unwrap();
        return;
    }
    let expected = image::open(&path)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
                path.display()
            )
        })
        .to_rgba8();
    assert_eq!(expected.dimensions(), actual.dimensions(), "{name}: size");
    let mut total = 0u64;
    let mut far = 0usize;
    for (a, b) in expected.as_raw().iter().zip(actual.as_raw()) {
        let d = a.abs_diff(*b);
        total += u64::from(d);
        if d > 8 {
            far += 1;
        }
    }
    let n = expected.as_raw().len();
    let mean = total as f64 / n as f64;
    assert!(mean < 0.5, "{name}: mean channel difference {mean:.3}");
    assert!(
        far * 1000 < n,
        "{name}: {far} of {n} channels differ by more than 8"
    );
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
