//! Photo mockups: exactness on a flat photo, displacement bending the print, shading in a
//! fold, re-tint contrast on dark colours, validation, and a golden image of the example
//! pack.

//!
//! Unit tests (not in `tests/it`) because the exactness check compares with the crate's
//! own sRGB tables, which are not public.

use image::{Rgba, RgbaImage};

use crate::color::{lstar, luminance, srgb_to_linear_table, GarmentColor, LinearToSrgb};
use crate::mockup::{
    render_mockup, DisplacementChannels, PhotoView, PhotoViewImages, PrintAreaSpec,
};

fn square_area(x0: f64, y0: f64, size: f64) -> PrintAreaSpec {
    PrintAreaSpec {
        quad: [
            [x0, y0],
            [x0 + size, y0],
            [x0 + size, y0 + size],
            [x0, y0 + size],
        ],
        width_in: 10.0,
        height_in: 10.0,
    }
}

fn flat_view(grey: u8, with_mask: bool) -> PhotoView {
    let photo = RgbaImage::from_pixel(200, 200, Rgba([grey, grey, grey, 255]));
    let mask = with_mask.then(|| RgbaImage::from_pixel(200, 200, Rgba([255, 255, 255, 255])));
    PhotoView::new(
        "flat",
        PhotoViewImages {
            photo,
            displacement: None,
            mask,
        },
        &square_area(50.0, 50.0, 100.0),
    )
    .unwrap()
}

/// A premultiplied test design: coloured quadrants with a transparent hole.
fn test_design(size: u32) -> RgbaImage {
    RgbaImage::from_fn(size, size, |x, y| {
        let hole = (size / 3..2 * size / 3).contains(&x) && (size / 3..2 * size / 3).contains(&y);
        if hole {
            Rgba([0, 0, 0, 0])
        } else if x < size / 2 {
            Rgba([200, 30, 40, 255])
        } else if y < size / 2 {
            Rgba([20, 160, 60, 255])
        } else {
            // Half-transparent blue, premultiplied.
            Rgba([10, 20, 100, 128])
        }
    })
}

#[test]
fn a_flat_photo_shows_exactly_the_fitted_design() {
    let view = flat_view(128, false);
    assert_eq!(view.design_canvas_size(), (100, 100));
    let design = test_design(100);
    let out = render_mockup(&view, &design, None).unwrap();
    let lin = srgb_to_linear_table();
    let to_srgb = LinearToSrgb::new();
    let mut edge_diffs = Vec::new();
    for y in 1..199u32 {
        for x in 1..199u32 {
            let got = out.get_pixel(x, y).0;
            let expected = if (50..150).contains(&x) && (50..150).contains(&y) {
                let d = design.get_pixel(x - 50, y - 50).0;
                // design over the grey garment, premultiplied "over"
                let a = d[3] as f32 / 255.0;
                let over = |c: u8| {
                    // compositing happens in linear light
                    let straight = if d[3] == 0 { 0.0 } else { c as f32 / a };
                    let v = lin[straight.round() as usize] * a + lin[128] * (1.0 - a);
                    to_srgb.convert(v)
                };
                [over(d[0]), over(d[1]), over(d[2]), 255]
            } else {
                [128, 128, 128, 255]
            };
            // The design's alpha edges (and its border) fray by the knit: checked below.
            let inside = |x: u32, y: u32| (50..150).contains(&x) && (50..150).contains(&y);
            let alpha_at = |x: u32, y: u32| {
                if inside(x, y) {
                    design.get_pixel(x - 50, y - 50).0[3]
                } else {
                    0
                }
            };
            let a = alpha_at(x, y);
            let edge = [(x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)]
                .iter()
                .any(|&(nx, ny)| alpha_at(nx, ny) != a);
            let diff = got
                .iter()
                .zip(expected.iter())
                .map(|(g, e)| (*g as i32 - *e as i32).abs())
                .max()
                .unwrap();
            if edge {
                edge_diffs.push(diff);
                continue;
            }
            assert!(diff <= 1, "({x},{y}): got {got:?}, expected {expected:?}");
        }
    }
    // Edges fray by the knit: some pixels move, none far, and the edge stays where it was.
    let moved = edge_diffs.iter().filter(|&&d| d > 1).count();
    let mean = edge_diffs.iter().sum::<i32>() as f64 / edge_diffs.len() as f64;
    assert!(
        moved * 10 > edge_diffs.len(),
        "{moved} of {}",
        edge_diffs.len()
    );
    assert!(mean < 30.0, "mean edge change {mean:.1} levels");
}

/// A photo with a vertical fold: a valley `depth` darker around x = 100.
fn folded_photo_with(depth: f32) -> RgbaImage {
    RgbaImage::from_fn(200, 200, |x, _| {
        let d = (x as f32 - 100.0) / 12.0;
        let v = (200.0 - depth * (-d * d).exp()) as u8;
        Rgba([v, v, v, 255])
    })
}

fn folded_photo() -> RgbaImage {
    folded_photo_with(110.0)
}

#[test]
fn a_strong_fold_bends_a_straight_line() {
    // Displacement: white right of the fold centre pushes down, dark left of it pulls up.
    let displacement = RgbaImage::from_fn(200, 200, |x, _| {
        let v = if x < 100 { 28 } else { 228 };
        Rgba([v, v, v, 255])
    });
    let view = PhotoView::new(
        "fold",
        PhotoViewImages {
            photo: folded_photo(),
            displacement: Some((displacement, 10.0, DisplacementChannels::Rg)),
            mask: None,
        },
        &square_area(50.0, 50.0, 100.0),
    )
    .unwrap();
    // A horizontal black line across the design's middle.
    let design = RgbaImage::from_fn(100, 100, |_, y| {
        if (48..52).contains(&y) {
            Rgba([0, 0, 0, 255])
        } else {
            Rgba([0, 0, 0, 0])
        }
    });
    let out = render_mockup(&view, &design, None).unwrap();
    let line_centre = |x: u32| -> f64 {
        let (mut sum, mut weight) = (0.0, 0.0);
        for y in 50..150u32 {
            let darkness = 255.0 - out.get_pixel(x, y).0[1] as f64;
            if darkness > 100.0 {
                sum += y as f64 * darkness;
                weight += darkness;
            }
        }
        sum / weight
    };
    let left = line_centre(70);
    let right = line_centre(130);
    // G = 28 shifts by (28 - 128) / 127 * 10 = -7.9 px, G = 228 by +7.9 px.
    assert!(
        (right - left - 15.7).abs() < 1.5,
        "left {left:.1} right {right:.1}"
    );
}

#[test]
fn shading_darkens_the_print_in_a_fold_and_leaves_flat_areas_alone() {
    let view = PhotoView::new(
        "fold",
        PhotoViewImages {
            photo: folded_photo(),
            displacement: Some((
                RgbaImage::from_pixel(200, 200, Rgba([128, 128, 128, 255])),
                10.0,
                DisplacementChannels::Luminance,
            )),
            mask: None,
        },
        &square_area(50.0, 50.0, 100.0),
    )
    .unwrap();
    let design = RgbaImage::from_pixel(100, 100, Rgba([230, 230, 230, 255]));
    let out = render_mockup(&view, &design, None).unwrap();
    let in_fold = out.get_pixel(100, 100).0[0];
    let flat = out.get_pixel(60, 100).0[0];
    assert!(in_fold + 60 < flat, "fold {in_fold} vs flat {flat}");
    // Away from the fold the photo is lighter than the print region's mean, which lifts
    // the print slightly; it never darkens it.
    assert!(flat >= 230, "{flat}");
}

#[test]
fn retint_keeps_fold_contrast_on_a_dark_colour() {
    let mask = RgbaImage::from_pixel(200, 200, Rgba([255, 255, 255, 255]));
    let view = PhotoView::new(
        "fold",
        PhotoViewImages {
            photo: folded_photo_with(45.0),
            displacement: None,
            mask: Some(mask),
        },
        &square_area(150.0, 150.0, 40.0),
    )
    .unwrap();
    let charcoal = GarmentColor::parse("#1f2937").unwrap();
    let design = RgbaImage::new(10, 10);
    let out = render_mockup(&view, &design, Some(charcoal)).unwrap();
    let lin = srgb_to_linear_table();
    let l = |p: [u8; 4]| {
        lstar(luminance(
            lin[p[0] as usize],
            lin[p[1] as usize],
            lin[p[2] as usize],
        ))
    };
    let photo = folded_photo_with(45.0);
    let ours = l(out.get_pixel(20, 20).0) - l(out.get_pixel(100, 20).0);
    // A naive multiply of the colour by the photo.
    let naive = |x: u32| {
        let p = photo.get_pixel(x, 20).0[0] as f32 / 255.0;
        let c = charcoal.to_array().map(|c| (c as f32 * p) as u8);
        l([c[0], c[1], c[2], 255])
    };
    let naive_contrast = naive(20) - naive(100);
    let photo_contrast = l(photo.get_pixel(20, 20).0) - l(photo.get_pixel(100, 20).0);
    assert!(
        ours > 0.75 * photo_contrast,
        "ours {ours:.1} L* vs the photo's {photo_contrast:.1}"
    );
    assert!(
        ours > 2.0 * naive_contrast,
        "ours {ours:.1} L* vs naive {naive_contrast:.1}"
    );
    // The flat fabric takes the requested colour.
    let flat = out.get_pixel(20, 20).0;
    assert!(flat[2] > flat[0], "charcoal is bluish: {flat:?}");
}

#[test]
fn bad_views_are_refused_with_validation_errors() {
    let photo = RgbaImage::from_pixel(100, 100, Rgba([200, 200, 200, 255]));
    let images = |mask: Option<RgbaImage>| PhotoViewImages {
        photo: photo.clone(),
        displacement: None,
        mask,
    };
    let outside = square_area(50.0, 50.0, 80.0);
    let err = PhotoView::new("v", images(None), &outside).unwrap_err();
    assert_eq!(err.code(), "E_VALIDATION");
    assert!(
        err.to_string().contains("outside the 100 x 100 photo"),
        "{err}"
    );

    let small_mask = RgbaImage::new(50, 50);
    let err = PhotoView::new(
        "v",
        images(Some(small_mask)),
        &square_area(10.0, 10.0, 50.0),
    )
    .unwrap_err();
    assert_eq!(err.code(), "E_VALIDATION");
    assert_eq!(err.fields()[0].field, "mask");

    let twisted = PrintAreaSpec {
        quad: [[10.0, 10.0], [60.0, 60.0], [60.0, 10.0], [10.0, 60.0]],
        width_in: 5.0,
        height_in: 5.0,
    };
    assert_eq!(
        PhotoView::new("v", images(None), &twisted)
            .unwrap_err()
            .code(),
        "E_VALIDATION"
    );

    // Re-tinting needs a mask.
    let view = PhotoView::new("v", images(None), &square_area(10.0, 10.0, 50.0)).unwrap();
    let err = render_mockup(&view, &RgbaImage::new(5, 5), Some(GarmentColor::WHITE)).unwrap_err();
    assert_eq!(err.code(), "E_VALIDATION");
}
