//! Properties of the compositor, checked on generated designs and placements:
//! the placed design never leaves its print area, a fully transparent design leaves the
//! plain garment, and the effective DPI matches a hand computation. Also the batch API.

use std::sync::Arc;

use image::{Rgba, RgbaImage};
use proptest::prelude::*;
use render_engine::template::{Alignment, PrintArea, TemplatePack};
use render_engine::{
    compose, compose_batch, encode_png, ComposeOptions, CustomPlacement, FitMode, Placement,
    Severity, WarningCode,
};
use render_engine::{GarmentColor, Preset};

fn design_strategy() -> impl Strategy<Value = RgbaImage> {
    (1u32..48, 1u32..48, any::<u64>()).prop_map(|(w, h, seed)| {
        RgbaImage::from_fn(w, h, |x, y| {
            let v = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(u64::from(x * 131 + y * 7919));
            let b = v.to_le_bytes();
            // a mix of opaque, partly and fully transparent pixels
            let a = match b[7] % 4 {
                0 => 0,
                1 => b[6],
                _ => 255,
            };
            Rgba([b[1], b[2], b[3], a])
        })
    })
}

fn placement_strategy() -> impl Strategy<Value = Placement> {
    prop_oneof![
        prop::sample::select(Preset::ALL.to_vec()).prop_map(Placement::Preset),
        (
            prop::sample::select(vec!["front", "back"]),
            -8.0f64..2.0,
            0.5f64..14.0,
            1.0f64..7.0,
            1.0f64..7.0,
            prop::sample::select(Alignment::ALL.to_vec()),
        )
            .prop_map(|(panel, x, y, w, h, align)| {
                Placement::Custom(CustomPlacement {
                    panel: panel.into(),
                    x_in: x,
                    y_in: y,
                    width_in: w,
                    height_in: h,
                    align,
                })
            }),
    ]
}

fn color_strategy() -> impl Strategy<Value = GarmentColor> {
    any::<[u8; 3]>().prop_map(|[r, g, b]| GarmentColor::rgb(r, g, b))
}

fn fit_strategy() -> impl Strategy<Value = FitMode> {
    prop::sample::select(FitMode::ALL.to_vec())
}

/// The area in atlas pixels, widened by one pixel for rounding.
fn area_px(area: &PrintArea, ppi: u32) -> (i64, i64, i64, i64) {
    let p = f64::from(ppi);
    let x0 = (area.x_in * p).round() as i64 - 1;
    let y0 = (area.y_in * p).round() as i64 - 1;
    let x1 = ((area.x_in + area.width_in) * p).round() as i64 + 1;
    let y1 = ((area.y_in + area.height_in) * p).round() as i64 + 1;
    (x0, y0, x1, y1)
}

/// The built-in pattern at 10 pixels per inch: the same geometry, a 16x smaller atlas,
/// so that many cases run quickly in debug builds.
fn small_pack() -> TemplatePack {
    let mut manifest = TemplatePack::builtin().manifest().clone();
    manifest.atlas.pixels_per_inch = PPI;
    TemplatePack::from_manifest(manifest, None).unwrap()
}

const PPI: u32 = 10;

fn options(placement: Placement, fit: FitMode, color: GarmentColor) -> ComposeOptions {
    let mut o = ComposeOptions::new(placement)
        .with_template(small_pack())
        .with_fit(fit)
        .with_color(color)
        .with_print_dpi(72);
    o.preview_width = 64;
    o
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn the_design_never_leaves_its_print_area(
        design in design_strategy(),
        placement in placement_strategy(),
        fit in fit_strategy(),
        color in color_strategy(),
    ) {
        let opts = options(placement, fit, color);
        // custom areas that leave their panel are refused, not placed
        let Ok(area) = opts.area() else { return Ok(()) };
        let png = encode_png(&design, None).unwrap();
        let result = compose(&png, &opts).unwrap();
        let plain = small_pack().garment_atlas(color);
        let (x0, y0, x1, y1) = area_px(&area, PPI);
        for (x, y, p) in result.atlas.enumerate_pixels() {
            let (xi, yi) = (i64::from(x), i64::from(y));
            if xi < x0 || xi >= x1 || yi < y0 || yi >= y1 {
                prop_assert_eq!(p, plain.get_pixel(x, y), "({}, {}) outside the area changed", x, y);
            }
        }
        // the print file is exactly the area at the print DPI
        let expect = ((area.width_in * 72.0).round() as u32, (area.height_in * 72.0).round() as u32);
        prop_assert_eq!(result.print_file.dimensions(), expect);
        let f = result.preflight.fitted_in;
        prop_assert!(f.x >= 0.0 && f.y >= 0.0);
        // the area is rounded to whole print pixels: half a pixel of slack
        let slack = 0.5 / 72.0 + 1e-9;
        prop_assert!(f.x + f.width <= area.width_in + slack && f.y + f.height <= area.height_in + slack);
    }

    #[test]
    fn a_fully_transparent_design_leaves_the_plain_garment(
        (w, h) in (1u32..300, 1u32..300),
        placement in placement_strategy(),
        fit in fit_strategy(),
        color in color_strategy(),
        trim in any::<bool>(),
    ) {
        let opts = options(placement, fit, color).with_trim(trim);
        let Ok(_) = opts.area() else { return Ok(()) };
        let png = encode_png(&RgbaImage::new(w, h), None).unwrap();
        let result = compose(&png, &opts).unwrap();
        let plain = small_pack().garment_atlas(color);
        prop_assert!(result.atlas == plain, "the atlas differs from the plain garment");
        prop_assert!(result.preflight.has(WarningCode::FullyTransparent));
        prop_assert!(result.print_file.pixels().all(|p| p[3] == 0));
    }

    #[test]
    fn effective_dpi_matches_a_hand_computation(w in 50u32..1500, h in 50u32..1500) {
        // chest-large is 12 x 12 in; contain scales the longer side to 12 in, so the
        // design prints at max(w, h) / 12 pixels per inch on both axes.
        let png = encode_png(&RgbaImage::from_pixel(w, h, Rgba([0, 0, 0, 255])), None).unwrap();
        let result = compose(&png, &options(Preset::ChestLarge.into(), FitMode::Contain, GarmentColor::WHITE)).unwrap();
        let hand = f64::from(w.max(h)) / 12.0;
        let r = &result.preflight;
        // the short side is rounded to whole print pixels: allow that much
        let tolerance = hand / f64::from(w.min(h)) + 1e-9;
        prop_assert!((r.effective_dpi.x - hand).abs() <= tolerance, "x {} vs {}", r.effective_dpi.x, hand);
        prop_assert!((r.effective_dpi.y - hand).abs() <= tolerance, "y {} vs {}", r.effective_dpi.y, hand);
        prop_assert_eq!(r.has(WarningCode::LowResolution), hand < 150.0 - tolerance || r.effective_dpi.x.min(r.effective_dpi.y) < 150.0);
    }
}

#[test]
fn resolution_thresholds() {
    let at = |px: u32| {
        let png = encode_png(&RgbaImage::from_pixel(px, px, Rgba([0, 0, 0, 255])), None).unwrap();
        compose(&png, &ComposeOptions::new(Preset::ChestLarge))
            .unwrap()
            .preflight
    };
    // 12 in at 300 DPI: 3600 px is exact, no warning
    let r = at(3600);
    assert_eq!(r.effective_dpi.x, 300.0);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    // 1800 px: 150 DPI, upscaled but not low
    let r = at(1800);
    assert_eq!(r.effective_dpi.x, 150.0);
    assert!(r.has(WarningCode::Upscaled) && !r.has(WarningCode::LowResolution));
    // 1200 px: 100 DPI, low (warning)
    let r = at(1200);
    let low = r
        .warnings
        .iter()
        .find(|w| w.code == WarningCode::LowResolution)
        .unwrap();
    assert_eq!(low.severity, Severity::Warning);
    // 1199 px: below 100 DPI, severe
    let r = at(1199);
    let low = r
        .warnings
        .iter()
        .find(|w| w.code == WarningCode::LowResolution)
        .unwrap();
    assert_eq!(low.severity, Severity::Severe);
    assert_eq!(r.worst(), Some(Severity::Severe));
}

#[test]
fn cover_clips_and_says_so_stretch_does_not() {
    let png = encode_png(
        &RgbaImage::from_pixel(400, 200, Rgba([200, 0, 0, 255])),
        None,
    )
    .unwrap();
    let cover = compose(
        &png,
        &ComposeOptions::new(Preset::BackSmall).with_fit(FitMode::Cover),
    )
    .unwrap();
    assert!((cover.preflight.clipped_fraction - 0.5).abs() < 1e-9);
    assert!(cover.preflight.has(WarningCode::ClippedByCover));
    assert!(
        cover.print_file.pixels().all(|p| p[3] == 255),
        "cover fills the area"
    );
    let stretch = compose(
        &png,
        &ComposeOptions::new(Preset::BackSmall).with_fit(FitMode::Stretch),
    )
    .unwrap();
    assert!(!stretch.preflight.has(WarningCode::ClippedByCover));
    assert_eq!(stretch.preflight.effective_dpi.x, 100.0);
    assert_eq!(stretch.preflight.effective_dpi.y, 50.0);
    let contain = compose(&png, &ComposeOptions::new(Preset::BackSmall)).unwrap();
    // 2:1 in a 4 x 4 in top-aligned area: 4 x 2 in at the top
    let f = contain.preflight.fitted_in;
    assert_eq!((f.x, f.y, f.width, f.height), (0.0, 0.0, 4.0, 2.0));
    assert_eq!(contain.print_file.get_pixel(600, 100)[3], 255);
    assert_eq!(contain.print_file.get_pixel(600, 1000)[3], 0);
}

#[test]
fn low_contrast_depends_on_the_garment_colour() {
    let png = encode_png(
        &RgbaImage::from_pixel(300, 300, Rgba([20, 20, 20, 255])),
        None,
    )
    .unwrap();
    let on = |hex: &str| {
        compose(
            &png,
            &ComposeOptions::new(Preset::BackSmall).with_color(GarmentColor::parse(hex).unwrap()),
        )
        .unwrap()
        .preflight
    };
    assert!(on("#000000").has(WarningCode::LowContrast));
    assert!(on("#1f2937").has(WarningCode::LowContrast));
    assert!(!on("#ffffff").has(WarningCode::LowContrast));
}

#[test]
fn the_print_png_carries_its_dpi() {
    let png = encode_png(&RgbaImage::from_pixel(90, 90, Rgba([9, 9, 9, 255])), None).unwrap();
    let result = compose(
        &png,
        &ComposeOptions::new(Preset::BackSmall).with_print_dpi(150),
    )
    .unwrap();
    let print = result.print_png().unwrap();
    assert_eq!(render_engine::png_dpi(&print), Some(150));
    assert_eq!(
        image::load_from_memory(&print).unwrap().to_rgba8(),
        *result.print_file
    );
    assert_eq!(
        render_engine::png_dpi(&result.atlas_png().unwrap()),
        Some(40)
    );
    let json = serde_json::to_value(&result.preflight).unwrap();
    assert_eq!(json["print_px"]["width"], 600);
    assert_eq!(json["format"], "png");
}

#[test]
fn a_batch_decodes_once_and_matches_single_compositions() {
    let badge = RgbaImage::from_fn(400, 300, |x, y| {
        let inside = (x as i32 - 200).pow(2) + (y as i32 - 150).pow(2) < 140 * 140;
        Rgba([
            (x / 2) as u8,
            (y / 2) as u8,
            90,
            if inside { 255 } else { 0 },
        ])
    });
    let design = encode_png(&badge, None).unwrap();
    let colors = [
        "#ffffff", "#000000", "#1f2937", "#b91c1c", "#15803d", "#1d4ed8", "#fef3c7", "#6b7280",
    ];
    let mut all: Vec<ComposeOptions> = colors
        .iter()
        .map(|c| {
            ComposeOptions::new(Preset::ChestLarge)
                .with_color(GarmentColor::parse(c).unwrap())
                .with_print_dpi(72)
        })
        .collect();
    all.push(
        ComposeOptions::new(Preset::BackSmall)
            .with_print_dpi(72)
            .with_template(small_pack()),
    );
    let batch = compose_batch(&design, &all).unwrap();
    assert_eq!(batch.len(), 9);
    // same placement: one shared print file
    for c in &batch[1..8] {
        assert!(Arc::ptr_eq(&batch[0].print_file, &c.print_file));
    }
    assert!(!Arc::ptr_eq(&batch[0].print_file, &batch[8].print_file));
    for (i, o) in [0usize, 3, 8].map(|i| (i, &all[i])) {
        let single = compose(&design, o).unwrap();
        assert_eq!(*single.print_file, *batch[i].print_file, "print {i}");
        assert!(single.atlas == batch[i].atlas, "atlas {i}");
        assert!(single.preview == batch[i].preview, "preview {i}");
        assert_eq!(single.preflight, batch[i].preflight, "report {i}");
    }
    assert!(compose_batch(&design, &[]).unwrap().is_empty());
}
