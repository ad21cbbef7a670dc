//! The compact encoding of a bake: what `render-engine template bake` stores, so that
//! each garment's bake stays a few megabytes (the Rust crate registry refuses crates over
//! 10 MB, and every garment ships in the npm package).
//!
//! Blender writes 16 bits per channel, most of which is path-tracing noise that no PNG
//! compressor can squeeze. The compact form keeps what the renderer can show:
//!
//! * `<view>.uv.png` stays 16-bit grey+alpha with the lowest 3 bits cleared: 13 bits of
//!   atlas position, a fifth of an atlas pixel on a 1800-px atlas;
//! * `<view>.shade.png` becomes 8-bit RGB(A): coverage as is (a covered pixel never rounds
//!   to 0), diffuse and specular light through a square-root curve
//!   (`encoding.shade_curve: "sqrt"` in `views.json`), so the dark tones keep their steps,
//!   and the backdrop shadow (alpha, when the bake has it) as is;
//! * `<view>.indirect.png` (the indirect share of the light, when the bake has it) is
//!   already 8-bit grey and is copied as it is (the bake's check after compaction reads
//!   it as the renderer does).
//!
//! The renderer reads both forms.

use std::path::Path;

use image::DynamicImage;

use crate::design::{decode_untrusted_raster, DecodeLimits, DesignFormat};
use crate::error::{Error, Result};

/// Bits of atlas position kept in a compact UV PNG.
const UV_BITS: u32 = 13;

/// Re-encodes the 16-bit bake in folder `src` compactly into folder `dst` (created): every
/// view file `views.json` names, and `views.json` with the new encoding recorded; the
/// stored drape it names is copied. A bake already compact is copied as it is.
///
/// # Errors
///
/// `E_RENDER_FAILED` when `src` is not a readable bake (its index malformed, a view file
/// missing or not a PNG of the expected kind); I/O errors writing `dst`.
pub(crate) fn write_compact(src: &Path, dst: &Path) -> Result<()> {
    let failed = |why: String| Error::render_failed(format!("compacting the bake: {why}"));
    let index_bytes = std::fs::read(src.join("views.json"))?;
    let mut index: serde_json::Value = serde_json::from_slice(&index_bytes)
        .map_err(|e| failed(format!("views.json is malformed: {e}")))?;
    let mut files: Vec<(String, String, Option<String>)> = Vec::new();
    let views = index["stills"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .chain(std::iter::once(index["turntable"].clone()));
    for view in views {
        match (view["uv"].as_str(), view["shade"].as_str()) {
            (Some(uv), Some(shade)) => files.push((
                uv.to_string(),
                shade.to_string(),
                view["indirect"].as_str().map(str::to_string),
            )),
            _ => {
                return Err(failed(
                    "a view in views.json names no uv or shade file".into(),
                ))
            }
        }
    }
    std::fs::create_dir_all(dst)?;
    let limits = DecodeLimits::default();
    let mut with_shadow = None;
    for (uv_name, shade_name, indirect_name) in &files {
        for name in [uv_name, shade_name].into_iter().chain(indirect_name) {
            // Names come from the bake's own index: keep them inside the folder.
            crate::template::file_in_pack(src, name, "views.json")?;
        }
        let decode = |name: &str| {
            let bytes = std::fs::read(src.join(name))?;
            decode_untrusted_raster(&bytes, "baked view file", &[DesignFormat::Png], &limits)
                .map_err(|e| failed(format!("{name}: {e}")))
        };
        let uv_png = match decode(uv_name)? {
            DynamicImage::ImageLumaA16(img) => {
                let mask = !((1u16 << (16 - UV_BITS)) - 1);
                let raw: Vec<u16> = img.as_raw().iter().map(|v| v & mask).collect();
                encode_png16(
                    &raw,
                    img.width(),
                    img.height(),
                    png::ColorType::GrayscaleAlpha,
                )?
            }
            other => {
                return Err(failed(format!(
                    "{uv_name}: expected 16-bit grey+alpha, found {:?}",
                    other.color()
                )))
            }
        };
        let shade = decode(shade_name)?;
        let has_shadow = shade.color().has_alpha();
        if *with_shadow.get_or_insert(has_shadow) != has_shadow {
            return Err(failed(format!(
                "{shade_name}: some views carry the backdrop shadow (RGBA) and some do not"
            )));
        }
        let shade_png = match shade {
            DynamicImage::ImageRgb16(img) => encode_png8(
                &compact_shade(img.as_raw(), 3),
                img.width(),
                img.height(),
                png::ColorType::Rgb,
            )?,
            DynamicImage::ImageRgba16(img) => encode_png8(
                &compact_shade(img.as_raw(), 4),
                img.width(),
                img.height(),
                png::ColorType::Rgba,
            )?,
            DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => {
                std::fs::read(src.join(shade_name))?
            }
            other => {
                return Err(failed(format!(
                    "{shade_name}: expected 16-bit RGB or RGBA, found {:?}",
                    other.color()
                )))
            }
        };
        std::fs::write(dst.join(uv_name), uv_png)?;
        std::fs::write(dst.join(shade_name), shade_png)?;
        if let Some(name) = indirect_name {
            std::fs::copy(src.join(name), dst.join(name))?;
        }
    }
    // The stored drape, read and checked as the renderer reads it, is copied as it is.
    if let Some(drape) = super::baked::BakedViews::load(src)?.drape()? {
        let name = index["drape"].as_str().expect("the drape views.json names");
        std::fs::write(dst.join(name), drape)?;
    }
    let encoding = &mut index["encoding"];
    encoding["shade_curve"] = "sqrt".into();
    encoding["uv"] = format!(
        "16-bit grey+alpha PNG, {UV_BITS} significant bits: u = grey / 65535, v = alpha / 65535 \
         (v up; atlas y = (1 - v) * height)"
    )
    .into();
    encoding["shade"] = if with_shadow == Some(true) {
        "8-bit RGBA PNG: coverage = R / 255, diffuse = (G / 255)^2 * diffuse_scale, \
         specular = (B / 255)^2 * specular_scale, shadow = A / 255 (the background's light \
         factor under the garment's soft shadow; 1 = none)"
    } else {
        "8-bit RGB PNG: coverage = R / 255, diffuse = (G / 255)^2 * diffuse_scale, \
         specular = (B / 255)^2 * specular_scale"
    }
    .into();
    let mut text = serde_json::to_vec_pretty(&index).expect("a JSON value serialises");
    text.push(b'\n');
    std::fs::write(dst.join("views.json"), text)?;
    Ok(())
}

/// 16-bit shade pixels of `channels` (3 or 4) channels in 8 bits: coverage rounded (a
/// covered pixel stays above 0), light through the square root, the shadow rounded.
fn compact_shade(raw: &[u16], channels: usize) -> Vec<u8> {
    let round_8 = |v: u16| ((v as u32 * 255 + 32767) / 65535) as u8;
    raw.chunks_exact(channels)
        .flat_map(|p| {
            let coverage = match p[0] {
                0 => 0,
                c => round_8(c).max(1),
            };
            [coverage, sqrt_8(p[1]), sqrt_8(p[2])]
                .into_iter()
                .chain(p.get(3).map(|&s| round_8(s)))
        })
        .collect()
}

/// A 16-bit linear light value as its square root in 8 bits.
fn sqrt_8(v: u16) -> u8 {
    ((v as f32 / 65535.0).sqrt() * 255.0).round() as u8
}

fn encode_png16(raw: &[u16], width: u32, height: u32, color: png::ColorType) -> Result<Vec<u8>> {
    let bytes: Vec<u8> = raw.iter().flat_map(|v| v.to_be_bytes()).collect();
    encode_png(&bytes, width, height, color, png::BitDepth::Sixteen)
}

fn encode_png8(raw: &[u8], width: u32, height: u32, color: png::ColorType) -> Result<Vec<u8>> {
    encode_png(raw, width, height, color, png::BitDepth::Eight)
}

fn encode_png(
    data: &[u8],
    width: u32,
    height: u32,
    color: png::ColorType,
    depth: png::BitDepth,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    encoder.set_compression(png::Compression::High);
    encoder.set_filter(png::Filter::Adaptive);
    let failed = |e: png::EncodingError| {
        Error::render_failed(format!("compacting the bake: cannot write a PNG: {e}")).caused_by(e)
    };
    let mut writer = encoder.write_header().map_err(failed)?;
    writer.write_image_data(data).map_err(failed)?;
    writer.finish().map_err(failed)?;
    Ok(out)
}
