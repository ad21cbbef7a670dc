//! The texture atlas (garment colour inside the panels, design placed) and the pattern
//! preview.

use std::time::{Duration, Instant};

use image::RgbaImage;
use resvg::tiny_skia;

use crate::color::GarmentColor;
use crate::error::Result;
use crate::pixels;
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

impl TemplatePack {
    /// The plain garment's atlas, with no design: `color` inside the pattern's panels,
    /// transparent outside. Rendering it shows the blank garment.
    pub fn garment_atlas(&self, color: GarmentColor) -> RgbaImage {
        compose_atlas(&PanelMask::new(self), color, None)
    }
}

/// Background of the preview outside the panels (light grey).
const PREVIEW_BACKGROUND: [u8; 3] = [0xe5, 0xe7, 0xeb];

/// The garment-colour-independent parts of a preview, shrunk once per placement so that
/// each colour of a batch only mixes small images.
///
/// The preview is the atlas, premultiplied, shrunk and laid over a light background.
/// Inside the panels the atlas is `coverage * (ink + colour * (1 - ink alpha))`
/// (premultiplied ink), which is linear in the colour; shrinking is linear too, so
/// shrinking `coverage * ink` and `coverage * (1 - ink alpha)` once gives every
/// colour's preview exactly (up to rounding). Both are kept in 16 bits with headroom so
/// the filter's overshoot at panel edges is not clipped before the colour is mixed in.
pub(crate) struct PreviewBase {
    width: u32,
    height: u32,
    /// Shrunk `coverage * ink` (RGB) and shrunk coverage (A), scaled by
    /// [`PREVIEW_SCALE`], as native-endian `u16` bytes.
    ink: Vec<u8>,
    /// Shrunk `coverage * (1 - ink alpha)` (how much garment colour shows), scaled the
    /// same way.
    fabric: Vec<u8>,
    /// How long building this took.
    pub build_time: Duration,
}

/// Fixed-point scale of [`PreviewBase`]'s 16-bit channels: 255 maps to 32640, leaving
/// room for the resampling filter's overshoot.
const PREVIEW_SCALE: u32 = 128;

fn put_u16(buf: &mut [u8], index: usize, value: u32) {
    buf[index * 2..index * 2 + 2].copy_from_slice(&(value as u16).to_ne_bytes());
}

fn get_u16(buf: &[u8], index: usize) -> u32 {
    u32::from(u16::from_ne_bytes([buf[index * 2], buf[index * 2 + 1]]))
}

impl PreviewBase {
    /// Shrinks the panel mask and the placed design to `width` pixels wide (clamped to
    /// 16 .. the atlas width; the height keeps the atlas's aspect ratio).
    pub(crate) fn new(mask: &PanelMask, layer: Option<&AtlasLayer>, width: u32) -> Result<Self> {
        let start = Instant::now();
        let (aw, ah) = (mask.width, mask.height);
        let width = width.clamp(16, aw.max(16));
        let height = ((f64::from(ah) * f64::from(width) / f64::from(aw)).round() as u32).max(1);
        let n = mask.coverage.len();
        let mut ink = vec![0u8; n * 8];
        let mut fabric = vec![0u8; n * 2];
        for (i, &cov) in mask.coverage.iter().enumerate() {
            put_u16(&mut ink, i * 4 + 3, u32::from(cov) * PREVIEW_SCALE);
            put_u16(&mut fabric, i, u32::from(cov) * PREVIEW_SCALE);
        }
        if let Some(l) = layer {
            let lw = l.image.width().min(aw.saturating_sub(l.x)) as usize;
            let rows = l.image.height().min(ah.saturating_sub(l.y)) as usize;
            for r in 0..rows {
                let src_start = r * l.image.width() as usize * 4;
                let src = &l.image.as_raw()[src_start..src_start + lw * 4];
                let row_start = (l.y as usize + r) * aw as usize + l.x as usize;
                for (k, s) in src.chunks_exact(4).enumerate() {
                    let i = row_start + k;
                    let cov = u32::from(mask.coverage[i]);
                    if cov == 0 || s[3] == 0 {
                        continue;
                    }
                    for (c, &ink_c) in s[..3].iter().enumerate() {
                        let v = (u32::from(ink_c) * cov * PREVIEW_SCALE + 127) / 255;
                        put_u16(&mut ink, i * 4 + c, v);
                    }
                    let f = ((255 - u32::from(s[3])) * cov * PREVIEW_SCALE + 127) / 255;
                    put_u16(&mut fabric, i, f);
                }
            }
        }
        let ink = pixels::resized_u16(&ink, 4, (aw, ah), (width, height))?;
        let fabric = pixels::resized_u16(&fabric, 1, (aw, ah), (width, height))?;
        Ok(PreviewBase {
            width,
            height,
            ink,
            fabric,
            build_time: start.elapsed(),
        })
    }

    /// Draws the preview for one garment colour: the atlas small over a light
    /// background, with the panel outlines (dark grey), the print area (dashed magenta)
    /// and the fitted design's box (thin blue), for checking a placement at a glance.
    pub(crate) fn draw(
        &self,
        pack: &TemplatePack,
        color: GarmentColor,
        area: &PrintArea,
        fitted_in: [f64; 4],
    ) -> Result<RgbaImage> {
        let (width, height) = (self.width, self.height);
        let aw = pack.atlas_size_px().0;
        let g = color.to_array().map(u32::from);
        let full = 255 * PREVIEW_SCALE;
        let round = |v: u32, div: u32| (v + div / 2) / div;
        // Premultiplied "over" the background gives an opaque image.
        let mut data = Vec::with_capacity((width * height * 4) as usize);
        for i in 0..(width * height) as usize {
            let alpha = get_u16(&self.ink, i * 4 + 3).min(full);
            let fabric = get_u16(&self.fabric, i);
            for c in 0..3 {
                let v = get_u16(&self.ink, i * 4 + c)
                    + round(g[c] * fabric, 255)
                    + round(u32::from(PREVIEW_BACKGROUND[c]) * (full - alpha), 255);
                data.push(round(v, PREVIEW_SCALE).min(255) as u8);
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
}
