//! The one golden-image check, with one tolerance policy for every golden test.
//!
//! An image is compared with its committed PNG under `tests/golden/`, channel by channel
//! (RGBA, 8-bit), optionally after downscaling both to a fixed width (renders and mockups
//! are large; a small golden keeps the repository lean and ignores sub-pixel noise).
//!
//! **Policy**: the mean absolute difference stays under [`MAX_MEAN`] levels, fewer than
//! [`MAX_FAR_SHARE`] of the channels differ by more than [`FAR`] levels, and none
//! differs by [`MAX_WORST`] levels or more. Resampling and SIMD paths may move a value
//! by a few levels between CPUs, never by much or in many places; a real change of
//! placement, colour or lighting breaks at least one of the three.
//!
//! Regenerate after an intended change with `UPDATE_GOLDEN=1 cargo test --test it
//! golden`, then look at every image before committing it.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::RgbaImage;

/// The largest mean absolute channel difference, in levels.
pub const MAX_MEAN: f64 = 0.5;
/// A channel this many levels off counts as "far".
pub const FAR: u8 = 8;
/// The largest share of far channels.
pub const MAX_FAR_SHARE: f64 = 0.001;
/// No channel may be this many levels off.
pub const MAX_WORST: u8 = 48;

/// The repository's golden folder (or a sub-folder of it).
pub fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(sub)
}

/// Checks `image` against `dir/name` (a PNG), resized first to `size` (width, height)
/// when given; with `UPDATE_GOLDEN` set, writes it instead.
pub fn check(dir: &Path, name: &str, image: &RgbaImage, size: Option<(u32, u32)>) {
    let actual = match size {
        Some((w, h)) => image::imageops::resize(image, w, h, FilterType::Triangle),
        None => image.clone(),
    };
    let path = dir.join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(dir).unwrap();
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
    let (mut total, mut far, mut worst) = (0u64, 0usize, 0u8);
    for (a, b) in expected.as_raw().iter().zip(actual.as_raw()) {
        let d = a.abs_diff(*b);
        total += u64::from(d);
        worst = worst.max(d);
        if d > FAR {
            far += 1;
        }
    }
    let n = expected.as_raw().len();
    let mean = total as f64 / n as f64;
    assert!(
        mean < MAX_MEAN && (far as f64) < MAX_FAR_SHARE * n as f64 && worst < MAX_WORST,
        "{name} differs from its golden image: mean {mean:.3} (max {MAX_MEAN}), {far} of {n} \
         channels off by more than {FAR}, worst {worst} (max {MAX_WORST})"
    );
}
