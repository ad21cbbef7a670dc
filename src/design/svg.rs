//! SVG designs: parsed with usvg (external references ignored, never fetched) and
//! rasterised with resvg at the resolution the print needs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use resvg::tiny_skia;
use resvg::usvg;

use super::decode::{
    check_pixels, guarded, raster_dimensions, sniff_format, DecodeLimits, DesignFormat,
};
use crate::error::{Error, Result};

/// A parsed SVG design.
pub(crate) struct SvgDesign {
    pub(crate) tree: usvg::Tree,
    /// `href`s to files or URLs that were ignored (never fetched).
    pub(crate) ignored_references: usize,
}

/// The system fonts, loaded once per process, for SVG text.
fn fonts() -> Arc<usvg::fontdb::Database> {
    static FONTS: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut db = usvg::fontdb::Database::new();
            db.load_system_fonts();
            Arc::new(db)
        })
        .clone()
}

impl SvgDesign {
    /// Parses an SVG. Embedded (`data:`) PNG, JPEG and WebP images are kept when their
    /// header passes `limits`; references to files or URLs are dropped and counted.
    pub(crate) fn parse(bytes: &[u8], limits: &DecodeLimits) -> Result<SvgDesign> {
        let ignored = Arc::new(AtomicUsize::new(0));
        let counter = ignored.clone();
        let limits = *limits;
        let mut options = usvg::Options {
            resources_dir: None,
            fontdb: fonts(),
            ..usvg::Options::default()
        };
        options.image_href_resolver = usvg::ImageHrefResolver {
            resolve_data: Box::new(move |mime, data, opts| {
                let format = sniff_format(&data);
                match format {
                    Some(f @ (DesignFormat::Png | DesignFormat::Jpeg | DesignFormat::Webp)) => {
                        let (w, h) = raster_dimensions(&data, f).ok()?;
                        check_pixels(w, h, &limits, "embedded image").ok()?;
                        Some(match f {
                            DesignFormat::Png => usvg::ImageKind::PNG(data),
                            DesignFormat::Jpeg => usvg::ImageKind::JPEG(data),
                            _ => usvg::ImageKind::WEBP(data),
                        })
                    }
                    Some(DesignFormat::Svg) => {
                        (usvg::ImageHrefResolver::default_data_resolver())(mime, data, opts)
                    }
                    None => None,
                }
            }),
            resolve_string: Box::new(move |_href, _opts| {
                counter.fetch_add(1, Ordering::Relaxed);
                None
            }),
        };
        // usvg only inflates gzip (svgz) when the data starts with its magic, which the
        // sniffer never lets through; plain text is all that reaches here.
        // Parsing and rendering run under the same panic guard as raster decoding: the SVG
        // crates are not fuzzed against our inputs (resvg 0.45 overflows an i32 on a
        // circle of radius 85,555,555,555, found by `fuzz/` `svg`).
        let parsed = guarded(DesignFormat::Svg, "SVG", || {
            Ok(usvg::Tree::from_data(bytes, &options))
        })?;
        let tree = parsed.map_err(|e| {
            Error::image_decode(match e {
                usvg::Error::InvalidSize => {
                    "the SVG has no valid size: give it a positive width and height or a viewBox"
                        .into()
                }
                usvg::Error::ElementsLimitReached => {
                    "the SVG has too many elements (over 1,000,000)".into()
                }
                other => format!("the SVG is not valid: {other}"),
            })
        })?;
        let ignored_references = ignored.load(Ordering::Relaxed);
        Ok(SvgDesign {
            tree,
            ignored_references,
        })
    }

    /// The SVG's own size (width and height attributes or viewBox), rounded up.
    pub(crate) fn size_px(&self) -> (u32, u32) {
        let s = self.tree.size();
        (
            s.width().ceil().min(u32::MAX as f32) as u32,
            s.height().ceil().min(u32::MAX as f32) as u32,
        )
    }

    /// The region to print, in SVG canvas units `[x, y, w, h]`: the whole canvas, or with
    /// `trim` the drawn content's bounds clipped to the canvas. `None` when nothing is
    /// drawn on the canvas.
    pub(crate) fn region(&self, trim: bool) -> Option<[f64; 4]> {
        let s = self.tree.size();
        let (cw, ch) = (f64::from(s.width()), f64::from(s.height()));
        if !trim {
            return Some([0.0, 0.0, cw, ch]);
        }
        if !self.tree.root().has_children() {
            return None;
        }
        let b = self.tree.root().abs_layer_bounding_box();
        let x0 = f64::from(b.left()).max(0.0);
        let y0 = f64::from(b.top()).max(0.0);
        let x1 = f64::from(b.right()).min(cw);
        let y1 = f64::from(b.bottom()).min(ch);
        (x1 > x0 && y1 > y0).then_some([x0, y0, x1 - x0, y1 - y0])
    }

    /// Rasterises `region` (canvas units) scaled by `(sx, sy)` with its top-left corner at
    /// `(dx, dy)` into a transparent `width` x `height` premultiplied RGBA buffer.
    pub(crate) fn render_premultiplied(
        &self,
        region: [f64; 4],
        scale: (f64, f64),
        offset: (f64, f64),
        size: (u32, u32),
    ) -> Result<Vec<u8>> {
        let mut pixmap = tiny_skia::Pixmap::new(size.0, size.1).ok_or_else(|| {
            Error::ImageTooLarge(format!(
                "cannot rasterise the SVG at {} x {} pixels",
                size.0, size.1
            ))
        })?;
        let (sx, sy) = scale;
        let transform = tiny_skia::Transform::from_row(
            sx as f32,
            0.0,
            0.0,
            sy as f32,
            (offset.0 - region[0] * sx) as f32,
            (offset.1 - region[1] * sy) as f32,
        );
        guarded(DesignFormat::Svg, "SVG", || {
            resvg::render(&self.tree, transform, &mut pixmap.as_mut());
            Ok(())
        })?;
        Ok(pixmap.take())
    }
}
