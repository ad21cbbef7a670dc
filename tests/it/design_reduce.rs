//! Decoding a large PNG design straight to a reduced size for small fits (photo
//! mockups): the fitted result matches decoding the design whole, for every kind of PNG;
//! PNGs the streaming path does not take, and designs whose trimmed ink needs more
//! pixels, are decoded whole; broken input fails with the same codes as a full decode.

use image::{Rgba, RgbaImage};
use render_engine::template::Alignment;
use render_engine::{DecodeLimits, FitMode, PreparedDesign};

/// Where the design goes: a 200 x 200 canvas, as a photo mockup's print area.
const CANVAS: (u32, u32) = (200, 200);

use crate::common::png as png_chunks;
use png_chunks::chunk;

/// How a test PNG stores its pixels.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Grey,
    GreyAlpha,
    Rgb,
    Rgba,
    /// Indexed colour with per-entry transparency (tRNS).
    PaletteWithAlpha,
    Rgba16,
}

/// The 8-bit RGBA the design's pixel `(x, y)` is meant to be: a soft-edged disc with a
/// colour gradient on transparency.
fn design_pixel(x: u32, y: u32, w: u32, h: u32) -> [u8; 4] {
    let (fx, fy) = (x as f32 / w as f32 - 0.5, y as f32 / h as f32 - 0.42);
    let r = (fx * fx + fy * fy).sqrt();
    let alpha = ((0.4 - r) * 600.0).clamp(0.0, 255.0) as u8;
    [
        (255.0 * (0.5 + fx)).clamp(0.0, 255.0) as u8,
        (255.0 * (0.5 + fy)).clamp(0.0, 255.0) as u8,
        if (x / 40 + y / 40) % 2 == 0 { 40 } else { 210 },
        alpha,
    ]
}

/// The pixel as stored by `kind` (its bytes) and the RGBA it decodes to.
fn encode_pixel(kind: Kind, p: [u8; 4], palette: &mut Vec<[u8; 4]>) -> (Vec<u8>, [u8; 4]) {
    match kind {
        Kind::Grey => (vec![p[0]], [p[0], p[0], p[0], 255]),
        Kind::GreyAlpha => (vec![p[0], p[3]], [p[0], p[0], p[0], p[3]]),
        Kind::Rgb => (p[..3].to_vec(), [p[0], p[1], p[2], 255]),
        Kind::Rgba => (p.to_vec(), p),
        Kind::PaletteWithAlpha => {
            // 4 levels per channel and 4 of alpha: 256 entries.
            let q = p.map(|v| v / 64 * 85);
            let index = palette.iter().position(|e| *e == q).unwrap_or_else(|| {
                palette.push(q);
                palette.len() - 1
            });
            (vec![index as u8], q)
        }
        Kind::Rgba16 => (
            p.iter().flat_map(|&v| [v, v]).collect(),
            p, // 0xVVVV is exactly VV in 8 bits
        ),
    }
}

/// A `w` x `h` PNG of [`design_pixel`]s stored as `kind`, optionally Adam7-interlaced
/// and with an `eXIf` chunk; also returns the RGBA it decodes to.
fn png_of(
    kind: Kind,
    (w, h): (u32, u32),
    interlaced: bool,
    exif: Option<&[u8]>,
) -> (Vec<u8>, RgbaImage) {
    let mut palette = Vec::new();
    let mut rows = Vec::new();
    let mut expected = RgbaImage::new(w, h);
    for y in 0..h {
        let mut row = Vec::new();
        for x in 0..w {
            let (bytes, rgba) = encode_pixel(kind, design_pixel(x, y, w, h), &mut palette);
            row.push(bytes);
            expected.put_pixel(x, y, Rgba(rgba));
        }
        rows.push(row);
    }
    // Scanlines with filter type 0; interlaced: the seven Adam7 passes in order.
    let mut raw = Vec::new();
    let passes: &[(u32, u32, u32, u32)] = if interlaced {
        &[
            (0, 0, 8, 8),
            (4, 0, 8, 8),
            (0, 4, 4, 8),
            (2, 0, 4, 4),
            (0, 2, 2, 4),
            (1, 0, 2, 2),
            (0, 1, 1, 2),
        ]
    } else {
        &[(0, 0, 1, 1)]
    };
    for &(x0, y0, dx, dy) in passes {
        if x0 >= w {
            continue;
        }
        for y in (y0..h).step_by(dy as usize) {
            raw.push(0);
            for x in (x0..w).step_by(dx as usize) {
                raw.extend_from_slice(&rows[y as usize][x as usize]);
            }
        }
    }
    let (depth, color) = match kind {
        Kind::Grey => (8, 0),
        Kind::GreyAlpha => (8, 4),
        Kind::Rgb => (8, 2),
        Kind::Rgba => (8, 6),
        Kind::PaletteWithAlpha => (8, 3),
        Kind::Rgba16 => (16, 6),
    };
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[depth, color, 0, 0, u8::from(interlaced)]);
    chunk(&mut png, b"IHDR", &ihdr);
    if let Some(exif) = exif {
        chunk(&mut png, b"eXIf", exif);
    }
    if matches!(kind, Kind::PaletteWithAlpha) {
        let plte: Vec<u8> = palette.iter().flat_map(|e| e[..3].to_vec()).collect();
        let trns: Vec<u8> = palette.iter().map(|e| e[3]).collect();
        chunk(&mut png, b"PLTE", &plte);
        chunk(&mut png, b"tRNS", &trns);
    }
    chunk(
        &mut png,
        b"IDAT",
        &miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6),
    );
    chunk(&mut png, b"IEND", &[]);
    (png, expected)
}

fn fit(design: &PreparedDesign) -> RgbaImage {
    design
        .fit(CANVAS, FitMode::Contain, Alignment::Top, true)
        .expect("fit")
}

fn reduced(png: &[u8]) -> PreparedDesign {
    PreparedDesign::decode_for(
        png,
        &DecodeLimits::default(),
        &[CANVAS],
        FitMode::Contain,
        true,
    )
    .expect("decode_for")
}

fn whole(png: &[u8]) -> PreparedDesign {
    PreparedDesign::decode(png, &DecodeLimits::default()).expect("decode")
}

/// Mean and largest absolute difference over all channels.
fn difference(a: &RgbaImage, b: &RgbaImage) -> (f64, u8) {
    assert_eq!(a.dimensions(), b.dimensions());
    let (mut sum, mut max) = (0u64, 0u8);
    for (x, y) in a.as_raw().iter().zip(b.as_raw()) {
        let d = x.abs_diff(*y);
        sum += u64::from(d);
        max = max.max(d);
    }
    (sum as f64 / a.as_raw().len() as f64, max)
}

#[test]
fn a_reduced_decode_fits_like_a_whole_one_for_every_kind_of_png() {
    for kind in [
        Kind::Grey,
        Kind::GreyAlpha,
        Kind::Rgb,
        Kind::Rgba,
        Kind::PaletteWithAlpha,
    ] {
        let (png, _) = png_of(kind, (1200, 1440), false, None);
        let design = reduced(&png);
        // 200 px for 1440 (contain): a 7.2x reduction, of which the box takes 3x.
        assert_eq!(design.reduction(), 3, "{kind:?}");
        assert_eq!(design.size_px(), (1200, 1440));
        let (mean, max) = difference(&fit(&design), &fit(&whole(&png)));
        assert!(
            mean < 0.5 && max <= 24,
            "{kind:?}: mean difference {mean:.3}, largest {max}"
        );
    }
}

#[test]
fn a_reduced_decode_keeps_the_design_in_place_and_trimmed() {
    // Compared pixel by pixel with the whole decode above; here, what a viewer sees: the
    // disc's centre where the trimmed, top-aligned disc puts it.
    let (png, _) = png_of(Kind::Rgba, (1200, 1440), false, None);
    let design = reduced(&png);
    let fitted = fit(&design);
    let whole_fit = fit(&whole(&png));
    let opaque_rows = |img: &RgbaImage| {
        (0..img.height())
            .filter(|&y| (0..img.width()).any(|x| img.get_pixel(x, y)[3] > 128))
            .collect::<Vec<_>>()
    };
    let (rows, whole_rows) = (opaque_rows(&fitted), opaque_rows(&whole_fit));
    assert_eq!(rows.first(), whole_rows.first());
    assert!(rows.last().unwrap().abs_diff(*whole_rows.last().unwrap()) <= 1);
    // trimmed: the disc's soft edge touches the canvas's top
    assert!((0..fitted.width()).any(|x| fitted.get_pixel(x, 0)[3] > 0));
}

#[test]
fn pngs_the_streaming_path_does_not_take_are_decoded_whole() {
    let exif = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0";
    for (name, png) in [
        ("16-bit", png_of(Kind::Rgba16, (1200, 1440), false, None).0),
        ("interlaced", png_of(Kind::Rgba, (1200, 1440), true, None).0),
        (
            "eXIf",
            png_of(Kind::Rgba, (1200, 1440), false, Some(exif)).0,
        ),
    ] {
        let design = reduced(&png);
        assert_eq!(design.reduction(), 1, "{name}");
        assert_eq!(fit(&design), fit(&whole(&png)), "{name}");
    }
    // the EXIF orientation (6: rotate 90) was applied, as a whole decode does
    let rotated = reduced(&png_of(Kind::Rgba, (1200, 1440), false, Some(exif)).0);
    assert_eq!(rotated.size_px(), (1440, 1200));
}

#[test]
fn small_ink_on_a_large_transparent_canvas_is_decoded_whole() {
    // The design is 1200 x 1440 but its ink only 100 x 100: trimmed, the ink is fitted
    // at 2 canvas pixels per design pixel, more than a reduced decode keeps.
    let mut img = RgbaImage::new(1200, 1440);
    for y in 600..700 {
        for x in 500..600 {
            img.put_pixel(x, y, Rgba([200, 30, (x % 256) as u8, 255]));
        }
    }
    let png = render_engine::encode_png(&img, None).unwrap();
    let design = reduced(&png);
    assert_eq!(design.reduction(), 1);
    assert_eq!(fit(&design), fit(&whole(&png)));
    // Untrimmed, the whole canvas is fitted: reducing is fine again.
    let untrimmed = PreparedDesign::decode_for(
        &png,
        &DecodeLimits::default(),
        &[CANVAS],
        FitMode::Contain,
        false,
    )
    .unwrap();
    assert_eq!(untrimmed.reduction(), 3);
}

#[test]
fn designs_near_the_canvas_size_are_not_reduced() {
    let (png, _) = png_of(Kind::Rgba, (300, 360), false, None);
    let design = reduced(&png);
    assert_eq!(design.reduction(), 1);
    assert_eq!(fit(&design), fit(&whole(&png)));
}

#[test]
fn broken_pngs_fail_as_a_whole_decode_does() {
    let code = |r: Result<PreparedDesign, render_engine::Error>| match r {
        Ok(_) => "ok",
        Err(e) => e.code(),
    };
    let (png, _) = png_of(Kind::Rgba, (1200, 1440), false, None);
    let idat = png.windows(4).position(|w| w == b"IDAT").unwrap();
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        (
            "cut in the image data".into(),
            png[..png.len() / 2].to_vec(),
        ),
        ("cut after IDAT's header".into(), png[..idat + 40].to_vec()),
        ("cut before IDAT".into(), png[..idat - 4].to_vec()),
        ("header only".into(), png[..33].to_vec()),
        // A damaged tail, after the last row's data: still refused, as a whole decode
        // refuses it (the data is read to its end and the checksums checked).
        ("no IEND".into(), png[..png.len() - 12].to_vec()),
    ];
    let mut bad_crc = png.clone();
    let last_idat_crc = png.len() - 13;
    bad_crc[last_idat_crc] ^= 0x01;
    cases.push(("the last IDAT's CRC flipped".into(), bad_crc));
    for offset in [idat + 8, idat + 200, png.len() / 3] {
        let mut bad = png.clone();
        bad[offset] ^= 0x5a;
        cases.push((format!("byte {offset} flipped"), bad));
    }
    cases.push((
        "the fuzzer's palette panic".into(),
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/bad/png-bad-palette-panics-decoder.png"),
        )
        .unwrap(),
    ));
    for (name, bytes) in &cases {
        let via_reduced = code(PreparedDesign::decode_for(
            bytes,
            &DecodeLimits::default(),
            &[CANVAS],
            FitMode::Contain,
            true,
        ));
        let via_whole = code(PreparedDesign::decode(bytes, &DecodeLimits::default()));
        assert_eq!(via_reduced, via_whole, "{name}");
        assert_ne!(via_reduced, "ok", "{name}");
    }
}

#[test]
fn limits_hold_before_any_pixel_is_decoded() {
    let (png, _) = png_of(Kind::Rgba, (1200, 1440), false, None);
    let limits = {
        let mut f = DecodeLimits::default();
        f.max_pixels = 1_000_000;
        f
    };
    let err =
        PreparedDesign::decode_for(&png, &limits, &[CANVAS], FitMode::Contain, true).unwrap_err();
    assert_eq!(err.code(), "E_IMAGE_TOO_LARGE");
}
