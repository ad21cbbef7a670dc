//! The baked renderer and the turntable encoders, end to end on the built-in views.
//!
//! Golden images live in `tests/golden/render/`; after a deliberate change (a re-bake),
//! regenerate them with `UPDATE_GOLDEN=1 cargo test --test it render` and look at them.

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::OnceLock;

use image::{Rgba, RgbaImage};
use render_engine::render::{
    encode_mp4, encode_webp, BakedRenderer, BakedViews, RenderOutput, RenderOutputs, RenderRequest,
    Renderer, View,
};
use render_engine::GarmentColor;

use crate::common::golden;

const ATLAS_W: u32 = 1800;
const ATLAS_H: u32 = 1640;
const PPI: f64 = 40.0;

fn template() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/templates/classic-tee/template.json"
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Fills a polygon given in atlas inches (scanline, even-odd).
fn fill_polygon(img: &mut RgbaImage, poly: &[(f64, f64)], color: Rgba<u8>) {
    for y in 0..img.height() {
        let yc = (y as f64 + 0.5) / PPI;
        let mut xs = Vec::new();
        for i in 0..poly.len() {
            let (x1, y1) = poly[i];
            let (x2, y2) = poly[(i + 1) % poly.len()];
            if (y1 > yc) != (y2 > yc) {
                xs.push(x1 + (yc - y1) * (x2 - x1) / (y2 - y1));
            }
        }
        xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
        for pair in xs.chunks(2) {
            if let [a, b] = pair {
                let (x0, x1) = (
                    (a * PPI - 0.5).ceil() as u32,
                    (b * PPI - 0.5).floor() as u32,
                );
                for x in x0..=x1.min(img.width() - 1) {
                    img.put_pixel(x, y, color);
                }
            }
        }
    }
}

fn panel(t: &serde_json::Value, name: &str) -> serde_json::Value {
    t["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap()
        .clone()
}

/// A garment atlas like the compositor's: the colour inside the panels, transparent
/// outside; with `design`, a 12 x 12 in checkerboard with a yellow disc where
/// `chest-large` goes (top 3 in below the front collar point, centred) and a green
/// 4 x 2 in bar on the back.
fn test_atlas(color: GarmentColor, design: bool) -> RgbaImage {
    let t = template();
    let mut img = RgbaImage::new(ATLAS_W, ATLAS_H);
    let [r, g, b] = color.to_array();
    for p in t["panels"].as_array().unwrap() {
        let poly: Vec<(f64, f64)> = p["polygon"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| (q[0].as_f64().unwrap(), q[1].as_f64().unwrap()))
            .collect();
        fill_polygon(&mut img, &poly, Rgba([r, g, b, 255]));
    }
    if design {
        let front = panel(&t, "front");
        let (cx, cy) = (
            front["collar_point"][0].as_f64().unwrap(),
            front["collar_point"][1].as_f64().unwrap(),
        );
        let (x0, y0) = (((cx - 6.0) * PPI) as u32, ((cy + 3.0) * PPI) as u32);
        let side = (12.0 * PPI) as u32;
        for y in 0..side {
            for x in 0..side {
                let (i, j) = (x * 8 / side, y * 8 / side);
                let (dx, dy) = (x as f64 - side as f64 / 2.0, y as f64 - side as f64 / 2.0);
                let c = if dx * dx + dy * dy < (1.8 * PPI) * (1.8 * PPI) {
                    Rgba([250, 215, 30, 255])
                } else if (i + j) % 2 == 0 {
                    Rgba([220, 30, 40, 255])
                } else {
                    Rgba([30, 70, 220, 255])
                };
                img.put_pixel(x0 + x, y0 + y, c);
            }
        }
        let back = panel(&t, "back");
        let (bx, by) = (
            back["collar_point"][0].as_f64().unwrap(),
            back["collar_point"][1].as_f64().unwrap(),
        );
        for y in ((by + 2.0) * PPI) as u32..((by + 4.0) * PPI) as u32 {
            for x in ((bx - 2.0) * PPI) as u32..((bx + 2.0) * PPI) as u32 {
                img.put_pixel(x, y, Rgba([30, 160, 60, 255]));
            }
        }
    }
    img
}

fn renderer() -> &'static BakedRenderer {
    static R: OnceLock<BakedRenderer> = OnceLock::new();
    R.get_or_init(|| BakedRenderer::builtin().unwrap())
}

fn render_all(color: GarmentColor, design: bool) -> &'static RenderOutput {
    type Cache = Vec<((GarmentColor, bool), &'static RenderOutput)>;
    static CACHE: OnceLock<std::sync::Mutex<Cache>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap();
    if let Some((_, out)) = cache.iter().find(|(k, _)| *k == (color, design)) {
        return out;
    }
    let atlas = test_atlas(color, design);
    let out = renderer()
        .render(&RenderRequest::new(&atlas, color))
        .unwrap();
    if let Some(dir) = std::env::var_os("RENDER_DUMP") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        for s in &out.stills {
            let name = format!("{}-{}-{}.png", s.view, color, design);
            s.image.save(dir.join(name.replace('#', ""))).unwrap();
        }
        for (i, f) in out.turntable.iter().enumerate() {
            let name = format!("turntable-{i:02}-{color}-{design}.png");
            f.save(dir.join(name.replace('#', ""))).unwrap();
        }
    }
    let out: &'static RenderOutput = Box::leak(Box::new(out));
    cache.push(((color, design), out));
    out
}

/// Mean absolute difference per channel (0..255) over RGB.
fn mean_diff(a: &RgbaImage, b: &RgbaImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a
        .pixels()
        .zip(b.pixels())
        .map(|(p, q)| (0..3).map(|c| p[c].abs_diff(q[c]) as u64).sum::<u64>())
        .sum();
    sum as f64 / (a.width() * a.height() * 3) as f64
}

/// Compares a render, downscaled to 192 x 192, with its golden image (see
/// `common::golden` for the tolerance); with UPDATE_GOLDEN=1, writes it.
fn check_golden(name: &str, img: &RgbaImage) {
    golden::check(&golden::dir("render"), name, img, Some((192, 192)));
}

#[test]
fn stills_match_golden_images() {
    let white = render_all(GarmentColor::WHITE, true);
    let dark = render_all(GarmentColor::parse("#1f2937").unwrap(), true);
    for view in View::ALL {
        check_golden(&format!("{view}-white.png"), white.still(view).unwrap());
        check_golden(&format!("{view}-dark.png"), dark.still(view).unwrap());
    }
    check_golden("turntable-05-white.png", &white.turntable[5]);
}

#[test]
fn stills_have_the_pack_sizes_and_an_opaque_background() {
    let out = render_all(GarmentColor::WHITE, true);
    let views = renderer().views();
    assert_eq!(out.stills.len(), 3);
    for s in &out.stills {
        let (w, h) = views.still_size(s.view).unwrap();
        assert_eq!(s.image.dimensions(), (w, h));
        assert!(s.image.pixels().all(|p| p[3] == 255));
        // The corner is background.
        let bg = views.background();
        assert_eq!(&s.image.get_pixel(0, 0).0[..3], &bg);
    }
}

/// Pixels whose colour is clearly the checkerboard's red or blue.
fn design_pixels(img: &RgbaImage) -> usize {
    img.pixels()
        .filter(|p| {
            let (r, g, b) = (p[0] as i32, p[1] as i32, p[2] as i32);
            (r > 120 && r > 2 * g && r > 2 * b) || (b > 120 && b > 2 * r && b > g + 60)
        })
        .count()
}

#[test]
fn the_chest_design_shows_on_the_front_and_not_the_back() {
    let with = render_all(GarmentColor::WHITE, true);
    let plain = render_all(GarmentColor::WHITE, false);
    let front = with.still(View::Front).unwrap();
    let back = with.still(View::Back).unwrap();
    let (w, h) = front.dimensions();
    // The 12 x 12 in print covers a good part of the front still...
    let share = design_pixels(front) as f64 / (w * h) as f64;
    assert!(share > 0.08, "design covers only {share:.3} of the front");
    // ...with its yellow disc centred horizontally, in the upper half.
    let yellow: Vec<(u32, u32)> = front
        .enumerate_pixels()
        .filter(|(_, _, p)| p[0] > 150 && p[1] > 120 && (p[2] as i32) < p[1] as i32 / 2)
        .map(|(x, y, _)| (x, y))
        .collect();
    assert!(yellow.len() > 1000, "{} yellow px", yellow.len());
    let cx = yellow.iter().map(|p| p.0 as f64).sum::<f64>() / yellow.len() as f64;
    let cy = yellow.iter().map(|p| p.1 as f64).sum::<f64>() / yellow.len() as f64;
    assert!((cx / w as f64 - 0.5).abs() < 0.03, "disc at x {cx}");
    assert!(cy / (h as f64) < 0.5, "disc at y {cy}");
    assert_eq!(design_pixels(back), 0, "the chest print shows on the back");
    assert_eq!(design_pixels(plain.still(View::Front).unwrap()), 0);
    // The back differs from a plain shirt only where the green back bar is.
    let green = back
        .pixels()
        .filter(|p| p[1] as i32 > p[0] as i32 + 40 && p[1] as i32 > p[2] as i32 + 40)
        .count();
    assert!(green > 500, "back bar missing: {green} px");
    let plain_back = plain.still(View::Back).unwrap();
    let changed = back
        .pixels()
        .zip(plain_back.pixels())
        .filter(|(p, q)| (0..3).any(|c| p[c].abs_diff(q[c]) > 12))
        .count();
    assert!(
        changed <= green + green / 5,
        "{changed} changed vs {green} green"
    );
}

#[test]
fn garment_colour_shows_where_the_atlas_is_transparent() {
    // An atlas with nothing on it: every covered pixel is the garment colour, shaded.
    let atlas = RgbaImage::new(ATLAS_W, ATLAS_H);
    let red = GarmentColor::rgb(200, 20, 20);
    let out = renderer()
        .render(
            &RenderRequest::new(&atlas, red).with_outputs(RenderOutputs {
                stills: vec![View::Front],
                turntable: false,
            }),
        )
        .unwrap();
    assert!(out.turntable.is_empty());
    let front = out.still(View::Front).unwrap();
    let (w, h) = front.dimensions();
    let p = front.get_pixel(w / 2, h / 2);
    assert!(p[0] > 120 && p[1] < 40 && p[2] < 40, "{p:?}");
}

#[test]
fn turntable_frames_are_distinct_and_the_loop_closes() {
    let out = render_all(GarmentColor::WHITE, true);
    let frames = &out.turntable;
    let n = renderer().views().turntable_frames();
    assert!(n >= 24);
    assert_eq!(frames.len(), n);
    assert!(out.fps > 0);
    let steps: Vec<f64> = (0..n)
        .map(|i| mean_diff(&frames[i], &frames[(i + 1) % n]))
        .collect();
    for (i, d) in steps.iter().enumerate() {
        assert!(
            *d > 0.5,
            "frames {i} and {} are nearly identical ({d:.3})",
            (i + 1) % n
        );
    }
    // The step from the last frame back to the first is an ordinary step...
    let closing = steps[n - 1];
    let max_step = steps[..n - 1].iter().cloned().fold(0.0, f64::max);
    let min_step = steps[..n - 1].iter().cloned().fold(f64::MAX, f64::min);
    assert!(
        closing <= max_step * 1.1 && closing >= min_step * 0.9,
        "loop jumps: {closing:.2} vs steps {min_step:.2}..{max_step:.2}"
    );
    // ...and the last frames approach the first again, from the other side.
    let to_first = |i: usize| mean_diff(&frames[i], &frames[0]);
    assert!(
        to_first(n - 1) < to_first(n - 2),
        "the last frame is not next to the first"
    );
    assert!(to_first(n - 2) < to_first(n / 2));
    assert!(to_first(1) < to_first(2));
}

#[test]
fn a_pack_loaded_from_its_directory_renders_like_the_builtin() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/templates/classic-tee/baked"
    );
    let loaded = BakedRenderer::new(std::sync::Arc::new(BakedViews::load(dir).unwrap()));
    let atlas = test_atlas(GarmentColor::WHITE, true);
    let only_back = RenderOutputs {
        stills: vec![View::Back],
        turntable: false,
    };
    let a = loaded
        .render(&RenderRequest::new(&atlas, GarmentColor::WHITE).with_outputs(only_back.clone()))
        .unwrap();
    let b = renderer()
        .render(&RenderRequest::new(&atlas, GarmentColor::WHITE).with_outputs(only_back))
        .unwrap();
    assert_eq!(a.stills[0].image, b.stills[0].image);
}

// ---------------------------------------------------------------------------------------
// MP4

struct Mp4Box<'a> {
    kind: [u8; 4],
    body: &'a [u8],
}

fn boxes(mut bytes: &[u8]) -> Vec<Mp4Box<'_>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 8, "truncated box header");
        let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert!(len >= 8 && len <= bytes.len(), "bad box length {len}");
        out.push(Mp4Box {
            kind: bytes[4..8].try_into().unwrap(),
            body: &bytes[8..len],
        });
        bytes = &bytes[len..];
    }
    out
}

fn child<'a>(parent: &'a [u8], path: &[&[u8; 4]]) -> &'a [u8] {
    let mut body = parent;
    for kind in path {
        body = boxes(body)
            .into_iter()
            .find(|b| &b.kind == *kind)
            .unwrap_or_else(|| panic!("no {} box", String::from_utf8_lossy(*kind)))
            .body;
    }
    body
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

#[test]
fn mp4_is_fast_start_h264_and_decodes_to_every_frame() {
    let out = render_all(GarmentColor::WHITE, true);
    let frames = &out.turntable;
    let mp4 = encode_mp4(frames, out.fps).unwrap();

    let top = boxes(&mp4);
    let kinds: Vec<&[u8; 4]> = top.iter().map(|b| &b.kind).collect();
    assert_eq!(kinds, [b"ftyp", b"moov", b"mdat"], "not fast-start");
    let moov = top[1].body;
    let stbl = child(moov, &[b"trak", b"mdia", b"minf", b"stbl"]);
    let stsz = child(stbl, &[b"stsz"]);
    let count = be32(stsz, 8) as usize;
    assert_eq!(count, frames.len());
    let sizes: Vec<usize> = (0..count)
        .map(|i| be32(stsz, 12 + 4 * i) as usize)
        .collect();
    let offset = be32(child(stbl, &[b"stco"]), 8) as usize;
    let stsd = child(stbl, &[b"stsd"]);
    let avc1 = &stsd[8..];
    assert_eq!(&avc1[4..8], b"avc1");
    let width = u16::from_be_bytes(avc1[8 + 24..8 + 26].try_into().unwrap()) as u32;
    let height = u16::from_be_bytes(avc1[8 + 26..8 + 28].try_into().unwrap()) as u32;
    assert_eq!((width, height), frames[0].dimensions());
    assert!(width % 2 == 0 && height % 2 == 0);
    let avcc = child(&avc1[8 + 78..], &[b"avcC"]);
    let sps_len = u16::from_be_bytes(avcc[6..8].try_into().unwrap()) as usize;
    let sps = &avcc[8..8 + sps_len];
    let pps_len = u16::from_be_bytes(avcc[9 + sps_len..11 + sps_len].try_into().unwrap()) as usize;
    let pps = &avcc[11 + sps_len..11 + sps_len + pps_len];
    // The media duration is frames / fps.
    let mdhd = child(moov, &[b"trak", b"mdia", b"mdhd"]);
    let (timescale, duration) = (be32(mdhd, 12), be32(mdhd, 16));
    assert_eq!(
        duration as u64 * out.fps as u64,
        timescale as u64 * count as u64
    );

    // Decode every sample: Annex B = start code + NAL, from the 4-byte length prefixes.
    let mut decoder = openh264::decoder::Decoder::new().unwrap();
    let mut annexb = Vec::new();
    for ps in [sps, pps] {
        annexb.extend_from_slice(&[0, 0, 0, 1]);
        annexb.extend_from_slice(ps);
    }
    decoder.decode(&annexb).unwrap();
    let mut at = offset;
    let mut decoded = 0;
    let mut first_luma_error = None;
    for (i, size) in sizes.iter().enumerate() {
        let mut sample = &mp4[at..at + size];
        at += size;
        let mut unit = Vec::new();
        while !sample.is_empty() {
            let n = be32(sample, 0) as usize;
            unit.extend_from_slice(&[0, 0, 0, 1]);
            unit.extend_from_slice(&sample[4..4 + n]);
            sample = &sample[4 + n..];
        }
        if let Some(yuv) = decoder.decode(&unit).unwrap() {
            use openh264::formats::YUVSource;
            decoded += 1;
            if i == 0 {
                // The decoded luma is close to the source frame's.
                let (w, _) = yuv.dimensions();
                let stride = yuv.strides().0;
                let y = yuv.y();
                let mut err = 0u64;
                for (k, p) in frames[0].pixels().enumerate() {
                    let (x, r) = (k % w, k / w);
                    let l =
                        ((66 * p[0] as i32 + 129 * p[1] as i32 + 25 * p[2] as i32 + 128) >> 8) + 16;
                    err += (y[r * stride + x] as i32 - l).unsigned_abs() as u64;
                }
                first_luma_error =
                    Some(err as f64 / (frames[0].width() * frames[0].height()) as f64);
            }
        }
    }
    decoded += decoder.flush_remaining().map(|v| v.len()).unwrap_or(0);
    assert_eq!(decoded, frames.len());
    let err = first_luma_error.unwrap();
    assert!(
        err < 3.0,
        "decoded frame 0 is far from the source: {err:.2}"
    );
}

// ---------------------------------------------------------------------------------------
// WebP

#[test]
fn webp_is_animated_with_every_frame() {
    let out = render_all(GarmentColor::WHITE, true);
    let frames = &out.turntable;
    let webp = encode_webp(frames, out.fps).unwrap();
    let mut decoder = image_webp::WebPDecoder::new(Cursor::new(&webp)).unwrap();
    assert!(decoder.is_animated());
    assert_eq!(decoder.num_frames() as usize, frames.len());
    assert_eq!(decoder.dimensions(), frames[0].dimensions());
    let (w, h) = decoder.dimensions();
    let mut buf = vec![0u8; decoder.output_buffer_size().unwrap()];
    let mut total_ms = 0u32;
    for i in 0..frames.len() {
        let ms = decoder.read_frame(&mut buf).unwrap();
        total_ms += ms;
        if i == 3 {
            let channels = buf.len() / (w * h) as usize;
            let img: RgbaImage = if channels == 4 {
                RgbaImage::from_raw(w, h, buf.clone()).unwrap()
            } else {
                let rgb = image::RgbImage::from_raw(w, h, buf.clone()).unwrap();
                image::DynamicImage::ImageRgb8(rgb).to_rgba8()
            };
            let d = mean_diff(&img, &frames[3]);
            assert!(d < 4.0, "decoded frame 3 differs by {d:.2}");
        }
    }
    // One full turn takes frames / fps seconds (each frame within a millisecond).
    let expected = frames.len() as u32 * 1000 / out.fps;
    assert!(
        total_ms.abs_diff(expected) <= frames.len() as u32,
        "{total_ms} ms vs {expected} ms"
    );
}
