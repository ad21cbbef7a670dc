//! The texture atlas (garment colour inside the panels, design placed) and the pattern
//! preview.

use image::RgbaImage;
use resvg::tiny_skia;

use super::color::GarmentColor;
use super::pixels;
use crate::error::Result;
use crate::template::{PrintArea, TemplatePack};

/// Per-pixel coverage of the pattern's panels at atlas resolution (0 outside, 255
/// inside, anti-aliased at the edges).
pub(crate) struct PanelMask {
    pub width: u32,
    pub height: u32,
    pub coverage: Vec<u8>,
}

fn panel_path(polygon: &[[f64; 2]], scale: f64) -> Option<tiny_skia::Path> {
    let mut pb = tiny_skia::PathBuilder::new();
    let mut points = polygon.iter();
    let first = points.next()?;
    pb.move_to((first[0] * scale) as f32, (first[1] * scale) as f32);
    for p in points {
        pb.line_to((p[0] * scale) as f32, (p[1] * scale) as f32);
    }
    pb.close();
    pb.finish()
}

impl PanelMask {
    /// Rasterises every panel of the pack at its atlas resolution.
    pub(crate) fn new(pack: &TemplatePack) -> PanelMask {
        let (width, height) = pack.atlas_size_px();
        let ppi = f64::from(pack.pixels_per_inch());
        let mut pixmap = tiny_skia::Pixmap::new(width, height).expect("validated atlas size");
        let mut paint = tiny_skia::Paint::default();
        paint.set_color_rgba8(255, 255, 255, 255);
        paint.anti_alias = true;
        for panel in pack.panels() {
            if let Some(path) = panel_path(&panel.polygon, ppi) {
                pixmap.fill_path(
                    &path,
                    &paint,
                    tiny_skia::FillRule::Winding,
                    tiny_skia::Transform::identity(),
                    None,
                );
            }
        }
        let coverage = pixmap.data().chunks_exact(4).map(|p| p[3]).collect();
        PanelMask {
            width,
            height,
            coverage,
        }
    }
}

/// The design, premultiplied, at atlas resolution, and where its top-left corner goes.
pub(crate) struct AtlasLayer {
    pub image: RgbaImage,
    pub x: u32,
    pub y: u32,
}

impl AtlasLayer {
    /// Scales a premultiplied print canvas (the whole print area) to the area's size in
    /// the atlas.
    pub(crate) fn from_canvas(
        canvas: &RgbaImage,
        area: &PrintArea,
        ppi: u32,
    ) -> Result<AtlasLayer> {
        let ppi = f64::from(ppi);
        let x = (area.x_in * ppi).round().max(0.0) as u32;
        let y = (area.y_in * ppi).round().max(0.0) as u32;
        let w = (area.width_in * ppi).round().max(1.0) as u32;
        let h = (area.height_in * ppi).round().max(1.0) as u32;
        Ok(AtlasLayer {
            image: pixels::resized(canvas, w, h)?,
            x,
            y,
        })
    }
}

/// Composes the atlas: garment colour inside the panels, the design over it, clipped to
/// the panels; fully transparent outside them. Straight alpha.
pub(crate) fn compose_atlas(
    mask: &PanelMask,
    color: GarmentColor,
    layer: Option<&AtlasLayer>,
) -> RgbaImage {
    let g = color.to_array();
    let [gr, gg, gb] = g.map(u32::from);
    let w = mask.width as usize;
    let mut out = RgbaImage::new(mask.width, mask.height);
    let buf: &mut [u8] = out.as_mut();
    for (y, (row, cov_row)) in buf
        .chunks_exact_mut(w * 4)
        .zip(mask.coverage.chunks_exact(w))
        .enumerate()
    {
        for (px, &cov) in row.chunks_exact_mut(4).zip(cov_row) {
            if cov != 0 {
                px.copy_from_slice(&[g[0], g[1], g[2], cov]);
            }
        }
        let Some(l) = layer else { continue };
        let y = y as u32;
        if y < l.y || y >= l.y + l.image.height() || l.x >= mask.width {
            continue;
        }
        let lw = l.image.width().min(mask.width - l.x) as usize;
        let start = ((y - l.y) * l.image.width()) as usize * 4;
        let src = &l.image.as_raw()[start..start + lw * 4];
        let dst = &mut row[l.x as usize * 4..(l.x as usize + lw) * 4];
        for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
            if d[3] == 0 || s[3] == 0 {
                continue;
            }
            let inv = 255 - u32::from(s[3]);
            // premultiplied "over" onto the opaque garment colour
            d[0] = (u32::from(s[0]) + (gr * inv + 127) / 255).min(255) as u8;
            d[1] = (u32::from(s[1]) + (gg * inv + 127) / 255).min(255) as u8;
            d[2] = (u32::from(s[2]) + (gb * inv + 127) / 255).min(255) as u8;
        }
    }
    out
}

/// The plain garment's atlas: colour inside the panels, transparent outside.
pub fn garment_atlas(pack: &TemplatePack, color: GarmentColor) -> RgbaImage {
    compose_atlas(&PanelMask::new(pack), color, None)
}

/// Background of the preview outside the panels (light grey).
const PREVIEW_BACKGROUND: [u8; 3] = [0xe5, 0xe7, 0xeb];

/// Draws the atlas small (`width` pixels wide) over a light background, with the panel
/// outlines (dark grey), the print area (dashed magenta) and the fitted design's box
/// (thin blue), for checking a placement at a glance.
pub(crate) fn preview(
    pack: &TemplatePack,
    atlas: &RgbaImage,
    area: &PrintArea,
    fitted_in: [f64; 4],
    width: u32,
) -> Result<RgbaImage> {
    let (aw, ah) = atlas.dimensions();
    let width = width.clamp(16, aw.max(16));
    let height = ((f64::from(ah) * f64::from(width) / f64::from(aw)).round() as u32).max(1);
    let mut small = atlas.clone();
    pixels::premultiply(&mut small);
    let small = pixels::resized(&small, width, height)?;
    // Premultiplied "over" the background gives an opaque image, the same either way.
    let mut data = Vec::with_capacity(small.as_raw().len());
    for p in small.as_raw().chunks_exact(4) {
        let inv = 255 - u32::from(p[3]);
        for c in 0..3 {
            data.push(
                (u32::from(p[c]) + (u32::from(PREVIEW_BACKGROUND[c]) * inv + 127) / 255).min(255)
                    as u8,
            );
        }
        data.push(255);
    }
    let size = tiny_skia::IntSize::from_wh(width, height).expect("positive size");
    let mut pixmap = tiny_skia::Pixmap::from_vec(data, size).expect("buffer matches size");
    let scale = f64::from(width) / (f64::from(aw) / f64::from(pack.pixels_per_inch()));
    let mut paint = tiny_skia::Paint {
        anti_alias: true,
        ..Default::default()
    };
    let id = tiny_skia::Transform::identity();

    paint.set_color_rgba8(0x37, 0x41, 0x51, 255);
    let outline = tiny_skia::Stroke {
        width: 1.5,
        ..Default::default()
    };
    for panel in pack.panels() {
        if let Some(path) = panel_path(&panel.polygon, scale) {
            pixmap.stroke_path(&path, &paint, &outline, id, None);
        }
    }
    let rect_path = |x: f64, y: f64, w: f64, h: f64| {
        let r = tiny_skia::Rect::from_xywh(
            (x * scale) as f32,
            (y * scale) as f32,
            (w * scale) as f32,
            (h * scale) as f32,
        )?;
        Some(tiny_skia::PathBuilder::from_rect(r))
    };
    if let Some(path) = rect_path(fitted_in[0], fitted_in[1], fitted_in[2], fitted_in[3]) {
        paint.set_color_rgba8(0x25, 0x63, 0xeb, 255);
        let thin = tiny_skia::Stroke {
            width: 1.0,
            ..Default::default()
        };
        pixmap.stroke_path(&path, &paint, &thin, id, None);
    }
    if let Some(path) = rect_path(area.x_in, area.y_in, area.width_in, area.height_in) {
        paint.set_color_rgba8(0xdb, 0x27, 0x77, 255);
        let dashed = tiny_skia::Stroke {
            width: 2.0,
            dash: tiny_skia::StrokeDash::new(vec![6.0, 4.0], 0.0),
            ..Default::default()
        };
        pixmap.stroke_path(&path, &paint, &dashed, id, None);
    }
    // Opaque everywhere, so premultiplied equals straight alpha.
    Ok(RgbaImage::from_raw(width, height, pixmap.take()).expect("buffer matches size"))
}
