//! The bad-input suite: odd, hostile and broken designs. Each either composes correctly
//! or fails with the right stable code — never a panic, never a fetch.

use std::time::{Duration, Instant};

use image::{Rgba, RgbaImage};
use render_engine::Preset;
use render_engine::{
    compose, decode_design, encode_png, ComposeOptions, DecodeLimits, DesignFormat, WarningCode,
};

fn options() -> ComposeOptions {
    // 72 DPI keeps the print file small; the decoding paths are the same.
    ComposeOptions::new(Preset::BackSmall).with_print_dpi(72)
}

fn code_of(bytes: &[u8]) -> &'static str {
    match compose(bytes, &options()) {
        Ok(c) => panic!(
            "expected an error, got a composition: {}",
            c.preflight.summary()
        ),
        Err(e) => e.code(),
    }
}

use crate::common::png as png_chunks;
use png_chunks::chunk;

fn ihdr(w: u32, h: u32, depth: u8, color: u8, interlace: u8) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&w.to_be_bytes());
    d.extend_from_slice(&h.to_be_bytes());
    d.extend_from_slice(&[depth, color, 0, 0, interlace]);
    d
}

/// An 8 x 8 RGBA test pattern: left half opaque red, right half opaque blue.
fn pattern_pixel(x: u32, _y: u32) -> [u8; 4] {
    if x < 4 {
        [255, 0, 0, 255]
    } else {
        [0, 0, 255, 255]
    }
}

#[test]
fn zero_bytes_is_a_decode_error() {
    assert_eq!(code_of(&[]), "E_IMAGE_DECODE");
}

#[test]
fn a_png_that_panics_the_decoder_is_a_decode_error() {
    // Found by the fuzz target: repeated IHDR/PLTE chunks whose PLTE length does not match
    // its data made the png crate panic instead of returning an error. (The fuzz build
    // skips CRC checks; the fixture's CRCs were recomputed so a normal build panics too.)
    let bytes = include_bytes!("../fixtures/bad/png-bad-palette-panics-decoder.png");
    assert_eq!(code_of(bytes), "E_IMAGE_DECODE");
}

#[test]
fn a_text_file_named_png_is_unsupported() {
    let text = b"this is not an image, whatever its name says\n";
    assert_eq!(code_of(text), "E_UNSUPPORTED_FORMAT");
    // other real formats we do not take are refused the same way
    assert_eq!(code_of(b"GIF89a\x01\x00\x01\x00"), "E_UNSUPPORTED_FORMAT");
    assert_eq!(code_of(b"%PDF-1.7\n"), "E_UNSUPPORTED_FORMAT");
}

#[test]
fn a_truncated_png_is_a_decode_error() {
    let img = RgbaImage::from_fn(64, 64, |x, y| Rgba([x as u8 * 4, y as u8 * 4, 7, 255]));
    let full = encode_png(&img, None).unwrap();
    for cut in [8, 20, 33, full.len() / 2, full.len() - 13] {
        let code = code_of(&full[..cut]);
        assert_eq!(code, "E_IMAGE_DECODE", "cut at {cut}");
    }
    // a flipped byte in the compressed data
    let mut corrupt = full.clone();
    let mid = full.len() / 2;
    corrupt[mid] ^= 0xFF;
    assert_eq!(code_of(&corrupt), "E_IMAGE_DECODE");
}

#[test]
fn a_decompression_bomb_header_is_refused_in_milliseconds() {
    // A valid PNG signature and IHDR claiming 100000 x 100000 RGBA pixels, then a tiny IDAT.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &ihdr(100_000, 100_000, 8, 6, 0));
    chunk(
        &mut png,
        b"IDAT",
        &miniz_oxide::deflate::compress_to_vec_zlib(&[0; 64], 6),
    );
    chunk(&mut png, b"IEND", &[]);
    let start = Instant::now();
    let err = compose(&png, &options()).unwrap_err();
    assert_eq!(err.code(), "E_IMAGE_TOO_LARGE");
    assert!(err.to_string().contains("100000 x 100000"), "{err}");
    assert!(
        start.elapsed() < Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
    // the header alone, with nothing after it, is also refused for its size
    let header_only = &png[..8 + 25];
    assert_eq!(code_of(header_only), "E_IMAGE_TOO_LARGE");
}

#[test]
fn limits_are_configurable() {
    // 400 x 400 = 160,000 pixels; the 4 x 4 in area at 72 DPI needs 82,944.
    let img = RgbaImage::from_pixel(400, 400, Rgba([0, 0, 0, 255]));
    let png = encode_png(&img, None).unwrap();
    let small = {
        let mut f = DecodeLimits::default();
        f.max_bytes = 1 << 20;
        f.max_pixels = 100_000;
        f
    };
    let err = compose(&png, &options().with_limits(small)).unwrap_err();
    assert_eq!(err.code(), "E_IMAGE_TOO_LARGE");
    let tiny = {
        let mut f = DecodeLimits::default();
        f.max_bytes = 100;
        f.max_pixels = 1 << 20;
        f
    };
    assert_eq!(
        compose(&png, &options().with_limits(tiny))
            .unwrap_err()
            .code(),
        "E_IMAGE_TOO_LARGE"
    );
    assert!(compose(&png, &options()).is_ok());
}

fn jpeg(
    pixels: &[u8],
    w: u16,
    h: u16,
    color: jpeg_encoder::ColorType,
    progressive: bool,
    exif: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 95);
    enc.set_progressive(progressive);
    if let Some(exif) = exif {
        enc.add_app_segment(1, exif).unwrap();
    }
    enc.encode(pixels, w, h, color).unwrap();
    out
}

#[test]
fn a_cmyk_jpeg_is_converted_to_rgb() {
    // 16 x 16, pure cyan ink: C = 255, M = Y = K = 0 (this encoder inverts, Adobe style).
    let cyan: Vec<u8> = (0..16 * 16).flat_map(|_| [255u8, 0, 0, 0]).collect();
    let bytes = jpeg(&cyan, 16, 16, jpeg_encoder::ColorType::Cmyk, false, None);
    let design = decode_design(&bytes, &DecodeLimits::default()).unwrap();
    assert_eq!(design.format(), DesignFormat::Jpeg);
    let px = design.raster().unwrap().get_pixel(8, 8).0;
    assert!(
        px[0] < 40 && px[1] > 215 && px[2] > 215 && px[3] == 255,
        "{px:?}"
    );
    assert!(compose(&bytes, &options()).is_ok());
}

#[test]
fn baseline_and_progressive_jpegs_decode() {
    let rgb: Vec<u8> = (0..32 * 32)
        .flat_map(|i| [(i % 32 * 8) as u8, 100, 50])
        .collect();
    for progressive in [false, true] {
        let bytes = jpeg(
            &rgb,
            32,
            32,
            jpeg_encoder::ColorType::Rgb,
            progressive,
            None,
        );
        let design = decode_design(&bytes, &DecodeLimits::default()).unwrap();
        assert_eq!(design.size_px(), (32, 32), "progressive: {progressive}");
        let mut truncated = bytes.clone();
        truncated.truncate(bytes.len() / 2);
        // A truncated JPEG either decodes what is there (decoders pad) or is refused
        // with E_IMAGE_DECODE; it never panics.
        if let Err(e) = decode_design(&truncated, &DecodeLimits::default()) {
            assert_eq!(e.code(), "E_IMAGE_DECODE");
        }
    }
}

/// A minimal EXIF block (big-endian TIFF) with one tag: Orientation = `value`.
fn exif_orientation(value: u16) -> Vec<u8> {
    let mut e = b"Exif\0\0".to_vec();
    e.extend_from_slice(b"MM\0\x2a\0\0\0\x08"); // TIFF header, IFD at offset 8
    e.extend_from_slice(&1u16.to_be_bytes()); // one entry
    e.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    e.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    e.extend_from_slice(&1u32.to_be_bytes()); // count
    e.extend_from_slice(&value.to_be_bytes());
    e.extend_from_slice(&[0, 0]);
    e.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    e
}

#[test]
fn exif_orientation_is_applied() {
    // 32 wide x 16 high: left half red, right half blue. Orientation 6 means "rotate 90°
    // clockwise to display": the result is 16 x 32 with red on top.
    let rgb: Vec<u8> = (0..16u32)
        .flat_map(|_y| {
            (0..32u32).flat_map(|x| {
                if x < 16 {
                    [230u8, 20, 20]
                } else {
                    [20, 20, 230]
                }
            })
        })
        .collect();
    let bytes = jpeg(
        &rgb,
        32,
        16,
        jpeg_encoder::ColorType::Rgb,
        false,
        Some(&exif_orientation(6)),
    );
    let design = decode_design(&bytes, &DecodeLimits::default()).unwrap();
    assert_eq!(design.size_px(), (16, 32));
    let img = design.raster().unwrap();
    let top = img.get_pixel(8, 4).0;
    let bottom = img.get_pixel(8, 28).0;
    assert!(top[0] > 180 && top[2] < 80, "top {top:?}");
    assert!(bottom[2] > 180 && bottom[0] < 80, "bottom {bottom:?}");
    // and the composition uses the rotated shape: 16:32 into a 4 x 4 in area
    let result = compose(&bytes, &options()).unwrap();
    let fitted = result.preflight.fitted_in;
    assert!(
        (fitted.height - 4.0).abs() < 0.02 && (fitted.width - 2.0).abs() < 0.02,
        "{fitted:?}"
    );
}

#[test]
fn a_16_bit_png_decodes() {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 8, 8);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Sixteen);
        let mut w = enc.write_header().unwrap();
        let data: Vec<u8> = (0..8u32)
            .flat_map(|y| (0..8u32).flat_map(move |x| pattern_pixel(x, y)))
            .flat_map(|c| [c, c]) // 16-bit big-endian: v * 257
            .collect();
        w.write_image_data(&data).unwrap();
    }
    let design = decode_design(&out, &DecodeLimits::default()).unwrap();
    let img = design.raster().unwrap();
    assert_eq!(img.get_pixel(1, 1).0, [255, 0, 0, 255]);
    assert_eq!(img.get_pixel(6, 6).0, [0, 0, 255, 255]);
    assert!(compose(&out, &options()).is_ok());
}

#[test]
fn grey_and_palette_pngs_with_transparency_decode() {
    // palette: index 0 transparent, 1 red, 2 blue
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 8, 8);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(vec![0, 0, 0, 255, 0, 0, 0, 0, 255]);
        enc.set_trns(vec![0, 255, 255]);
        let mut w = enc.write_header().unwrap();
        let data: Vec<u8> = (0..8u32)
            .flat_map(|y| {
                (0..8u32).map(move |x| {
                    if y < 2 {
                        0
                    } else if x < 4 {
                        1
                    } else {
                        2
                    }
                })
            })
            .collect();
        w.write_image_data(&data).unwrap();
    }
    let design = decode_design(&out, &DecodeLimits::default()).unwrap();
    let img = design.raster().unwrap();
    assert_eq!(img.get_pixel(0, 0).0[3], 0);
    assert_eq!(img.get_pixel(1, 4).0, [255, 0, 0, 255]);
    // composes, and the transparent top rows are trimmed
    let result = compose(&out, &options()).unwrap();
    assert_eq!(result.preflight.trimmed_px, Some([0, 2, 8, 6]));

    // 8-bit grey with alpha
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 4, 4);
        enc.set_color(png::ColorType::GrayscaleAlpha);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[128u8, 255].repeat(16)).unwrap();
    }
    let design = decode_design(&out, &DecodeLimits::default()).unwrap();
    assert_eq!(
        design.raster().unwrap().get_pixel(2, 2).0,
        [128, 128, 128, 255]
    );
}

#[test]
fn an_interlaced_png_decodes() {
    // Adam7 by hand: 8 x 8 RGBA, each pass's rows prefixed with filter type 0.
    const PASSES: [(u32, u32, u32, u32); 7] = [
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    ];
    let mut raw = Vec::new();
    for (x0, y0, dx, dy) in PASSES {
        let mut y = y0;
        while y < 8 {
            raw.push(0);
            let mut x = x0;
            while x < 8 {
                raw.extend_from_slice(&pattern_pixel(x, y));
                x += dx;
            }
            y += dy;
        }
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &ihdr(8, 8, 8, 6, 1));
    chunk(
        &mut png,
        b"IDAT",
        &miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6),
    );
    chunk(&mut png, b"IEND", &[]);
    let design = decode_design(&png, &DecodeLimits::default()).unwrap();
    let img = design.raster().unwrap();
    for (x, y, p) in img.enumerate_pixels() {
        assert_eq!(p.0, pattern_pixel(x, y), "({x}, {y})");
    }
}

#[test]
fn webp_decodes() {
    let img = RgbaImage::from_fn(8, 8, |x, y| Rgba(pattern_pixel(x, y)));
    let mut out = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut out)
        .encode(img.as_raw(), 8, 8, image::ExtendedColorType::Rgba8)
        .unwrap();
    let design = decode_design(&out, &DecodeLimits::default()).unwrap();
    assert_eq!(design.format(), DesignFormat::Webp);
    assert_eq!(design.raster().unwrap(), &img);
    // truncated WebP
    assert_eq!(
        decode_design(&out[..out.len() - 10], &DecodeLimits::default())
            .unwrap_err()
            .code(),
        "E_IMAGE_DECODE"
    );
}

#[test]
fn svg_external_references_are_ignored_never_fetched() {
    // A server that would notice a fetch: listen on a loopback port and check that
    // nothing connects while the SVG is composed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let secret = std::env::temp_dir().join("render-engine-compose-secret.png");
    let red = RgbaImage::from_pixel(10, 10, Rgba([255, 0, 0, 255]));
    std::fs::write(&secret, encode_png(&red, None).unwrap()).unwrap();
    let svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="100">
  <rect x="10" y="10" width="80" height="80" fill="#2563eb"/>
  <image href="http://127.0.0.1:{port}/logo.png" x="0" y="0" width="50" height="50"/>
  <image xlink:href="file://{path}" x="50" y="50" width="50" height="50"/>
  <image href="{path}" x="0" y="50" width="50" height="50"/>
</svg>"##,
        path = secret.display()
    );
    let result = compose(svg.as_bytes(), &options().with_trim(false)).unwrap();
    assert!(
        listener.accept().is_err(),
        "something connected to the listener"
    );
    assert!(result.preflight.has(WarningCode::ExternalReferenceIgnored));
    // No red from the local file anywhere in the print.
    assert!(result
        .print_file
        .pixels()
        .all(|p| !(p[0] > 200 && p[1] < 50 && p[2] < 50 && p[3] > 0)));
    // The blue rectangle is there.
    assert!(result
        .print_file
        .pixels()
        .any(|p| p[2] > 200 && p[3] == 255));
    let _ = std::fs::remove_file(secret);
}

#[test]
fn svg_with_embedded_data_images_renders_them() {
    let red = RgbaImage::from_pixel(10, 10, Rgba([255, 0, 0, 255]));
    let png = encode_png(&red, None).unwrap();
    let b64 = base64_encode(&png);
    let svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><image href="data:image/png;base64,{b64}" width="10" height="10"/></svg>"#
    );
    let result = compose(svg.as_bytes(), &options()).unwrap();
    assert!(!result.preflight.has(WarningCode::ExternalReferenceIgnored));
    let p = result.print_file.get_pixel(144, 100).0;
    assert!(p[0] > 240 && p[1] < 15 && p[3] == 255, "{p:?}");
}

fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[test]
fn broken_svgs_are_decode_errors() {
    assert_eq!(
        code_of(b"<svg xmlns='http://www.w3.org/2000/svg'><rect"),
        "E_IMAGE_DECODE"
    );
    // a zero size
    assert_eq!(
        code_of(b"<svg xmlns='http://www.w3.org/2000/svg' width='0' height='10'></svg>"),
        "E_IMAGE_DECODE"
    );
    // no size at all is the SVG default 100 x 100; with nothing drawn, it is reported
    let empty = compose(
        b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",
        &options(),
    )
    .unwrap();
    assert!(empty.preflight.has(WarningCode::FullyTransparent));
    // entity expansion ("billion laughs") is refused or bounded, never a hang or a panic
    let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE svg [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
]>
<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&f;</text></svg>"#;
    let start = Instant::now();
    let _ = compose(bomb.as_bytes(), &options());
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_fully_transparent_design_is_reported() {
    let empty = encode_png(&RgbaImage::new(50, 50), None).unwrap();
    let result = compose(&empty, &options()).unwrap();
    assert!(result.preflight.has(WarningCode::FullyTransparent));
    assert!(result.print_file.pixels().all(|p| p[3] == 0));
}

/// Found by the `svg` fuzz target (the fixture is its input, the body the target wraps in
/// a 64-pixel `<svg>` root): a circle with a radius of 85,555,555,555 units makes resvg
/// 0.45 overflow an i32 (a panic in builds with overflow checks, as tests are).
#[test]
fn an_svg_circle_with_a_huge_radius_composes_or_is_refused() {
    let body = include_str!("../fixtures/bad/svg-body-huge-circle-overflows-resvg.txt");
    let svg =
        format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">{body}</svg>"#);
    let options = ComposeOptions::new(Preset::BackSmall)
        .with_print_dpi(72)
        .with_preview_width(16);
    match compose(svg.as_bytes(), &options) {
        Ok(_) => {}
        Err(e) => assert_eq!(e.code(), "E_IMAGE_DECODE", "{e}"),
    }
}
