//! Golden images of the example photo pack (`examples/photo-pack`) wearing the sample
//! design in three garment colours, and the batch's decode-once behaviour.
//!
//! Regenerate after an intended change with
//! `UPDATE_GOLDEN=1 cargo test --test it mockup_golden`, and look at the images first.

use std::path::{Path, PathBuf};

use image::RgbaImage;
use render_engine::mockup::{
    encode_mockup, render_mockups, MockupFormat, MockupOptions, PhotoView,
};
use render_engine::GarmentColor;

use crate::common::golden;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compares at a quarter of the size (see `common::golden` for the tolerance).
fn check_golden(name: &str, img: &RgbaImage) {
    let size = (img.width() / 4, img.height() / 4);
    golden::check(
        &golden::dir("mockup"),
        &format!("{name}.png"),
        img,
        Some(size),
    );
}

fn views() -> Vec<PhotoView> {
    PhotoView::load(&root().join("examples/photo-pack")).unwrap()
}

#[test]
fn the_example_pack_in_three_colours_matches_the_golden_images() {
    let design = std::fs::read(root().join("examples/designs/sunset-badge.png")).unwrap();
    let colors: Vec<_> = ["#1f2937", "#ffffff", "#b91c1c"]
        .iter()
        .map(|c| GarmentColor::parse(c).unwrap())
        .collect();
    let views = views();
    let mockups = render_mockups(&design, &views, &colors, &MockupOptions::default()).unwrap();
    assert_eq!(mockups.len(), 3);
    for mockup in &mockups {
        assert_eq!(mockup.view, "front");
        let color = mockup.color.unwrap().to_string();
        check_golden(&format!("front-{}", &color[1..]), &mockup.image);
    }
    // The photo's own colour (no re-tint) leaves everything outside the print untouched.
    let own = render_mockups(&design, &views, &[], &MockupOptions::default()).unwrap();
    assert_eq!(own.len(), 1);
    let photo = image::open(root().join("examples/photo-pack/photo.jpg"))
        .unwrap()
        .to_rgba8();
    assert_eq!(own[0].image.get_pixel(10, 10), photo.get_pixel(10, 10));
    assert_eq!(
        own[0].image.get_pixel(600, 1300),
        photo.get_pixel(600, 1300)
    );
}

#[test]
fn an_svg_design_is_sharp_on_the_photo_and_jpeg_output_decodes() {
    let design = std::fs::read(root().join("examples/designs/wave-logo.svg")).unwrap();
    let views = views();
    let mockups = render_mockups(
        &design,
        &views,
        &[GarmentColor::parse("#0f766e").unwrap()],
        &MockupOptions::default(),
    )
    .unwrap();
    let jpeg = encode_mockup(&mockups[0].image, MockupFormat::Jpeg, 90).unwrap();
    let back = image::load_from_memory(&jpeg).unwrap();
    assert_eq!((back.width(), back.height()), views[0].size());
    let png = encode_mockup(&mockups[0].image, MockupFormat::Png, 90).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert_eq!(
        encode_mockup(&mockups[0].image, MockupFormat::Jpeg, 0)
            .unwrap_err()
            .code(),
        "E_VALIDATION"
    );
}

#[test]
fn bad_designs_and_packs_fail_with_their_codes() {
    let views = views();
    let err = render_mockups(b"not an image", &views, &[], &MockupOptions::default()).unwrap_err();
    assert_eq!(err.code(), "E_UNSUPPORTED_FORMAT");
    let err = PhotoView::load(Path::new("/nonexistent/pack")).unwrap_err();
    assert_eq!(err.code(), "E_VALIDATION");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("template.json"),
        r#"{"photo_views": [{"name": "x"}]}"#,
    )
    .unwrap();
    let err = PhotoView::load(dir.path()).unwrap_err();
    assert_eq!(err.code(), "E_VALIDATION");
    assert!(err.to_string().contains("template.json"), "{err}");
}
