//! Photo views: a merchant's garment photo with its print area, displacement map and mask,
//! loaded from a manifest, validated, and prepared once for any number of mockups.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use image::{GrayImage, RgbaImage};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::light::{blur, lstar_code};
use super::warp::Homography;
use crate::color::{pixel_luminance, srgb_to_linear_table};
use crate::design::{decode_untrusted_raster, DecodeLimits, DesignFormat};
use crate::error::{Error, Result};

/// The largest photo (or map) accepted, in pixels.
pub const MAX_PHOTO_PIXELS: u64 = 64_000_000;

/// The displacement applied when a view has no map of its own, as a share of the photo's
/// shorter side.
pub const DERIVED_DISPLACEMENT_SHARE: f64 = 0.008;

/// The blur radius, in pixels, of the luminance that shades the print.
pub(super) const PRINT_SHADING_BLUR: usize = 1;

/// How a displacement map's channels drive the shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisplacementChannels {
    /// The map's luminance shifts both axes.
    #[default]
    Luminance,
    /// Red shifts x, green shifts y.
    Rg,
}

/// The displacement map entry of a photo view manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplacementSpec {
    /// The map's file, relative to the manifest (same size as the photo).
    pub image: String,
    /// The shift, in photo pixels, of a full-white (255) or full-black (0) value; 128
    /// means no shift (Photoshop's convention).
    pub scale_px: f64,
    /// Which channels drive which axis.
    #[serde(default)]
    pub channels: DisplacementChannels,
}

/// Where the print goes on the photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrintAreaSpec {
    /// The print area's corners on the photo, in pixels: top-left, top-right,
    /// bottom-right, bottom-left (perspective allowed).
    pub quad: [[f64; 2]; 4],
    /// The print area's physical width, in inches (sets the design's aspect and DPI).
    pub width_in: f64,
    /// The print area's physical height, in inches.
    pub height_in: f64,
}

/// One photo view as written in a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhotoViewSpec {
    /// The view's name, used in output file names.
    pub name: String,
    /// The garment photo (JPEG or PNG), relative to the manifest.
    pub photo: String,
    /// The print area.
    pub print_area: PrintAreaSpec,
    /// An optional displacement map; derived from the photo when absent.
    #[serde(default)]
    pub displacement: Option<DisplacementSpec>,
    /// An optional garment mask (white = garment), same size as the photo. Needed to
    /// re-tint the garment; the design is clipped to it.
    #[serde(default)]
    pub mask: Option<String>,
}

/// A manifest that lists photo views (a pack's `template.json` or a view file).
#[derive(Debug, Deserialize)]
struct PhotoViewsFile {
    #[serde(default)]
    photo_views: Vec<PhotoViewSpec>,
}

/// The images of one photo view, decoded.
#[derive(Debug, Clone)]
pub struct PhotoViewImages {
    /// The photo.
    pub photo: RgbaImage,
    /// The displacement map, if the view has one.
    pub displacement: Option<(RgbaImage, f64, DisplacementChannels)>,
    /// The garment mask, if the view has one (its luminance is used).
    pub mask: Option<RgbaImage>,
}

/// A photo view ready for mockups: validated, with its light and displacement maps
/// computed once.
#[derive(Debug, Clone)]
pub struct PhotoView {
    pub(crate) name: String,
    pub(crate) photo: RgbaImage,
    pub(crate) print_size_in: (f64, f64),
    pub(crate) quad: [[f64; 2]; 4],
    /// What re-tinting needs, computed the first time a colour asks for it (a mockup in
    /// the photo's own colour never does).
    fabric: OnceLock<FabricLightness>,
    /// The luminance softened by a small blur, which shades the print (so the fabric's
    /// weave and the photo's noise do not speckle it); within `print_bounds`, row by row.
    pub(crate) print_luminance: Vec<f32>,
    /// Garment coverage (0..=255) of every pixel; `None` means all garment.
    pub(crate) mask: Option<Vec<u8>>,
    /// The shift (dx, dy) in photo pixels; within `print_bounds`, row by row.
    pub(crate) shift: Vec<[f32; 2]>,
    /// Mean luminance over the print region (inside the quad and the mask).
    pub(crate) print_mean_luminance: f32,
    /// Pixel bounds `[x0, y0, x1, y1)` that the print can touch.
    pub(crate) print_bounds: [u32; 4],
}

/// The photo's lightness as the re-tint reads it.
#[derive(Debug, Clone)]
pub(crate) struct FabricLightness {
    /// The L* code (tenths of L*) of every photo pixel.
    pub lstar_codes: Vec<u16>,
    /// Mean L* of the garment (inside the mask).
    pub garment_mean_lstar: f32,
}

impl PhotoView {
    /// Loads every photo view of `path`: a pack folder (its `template.json`'s
    /// `photo_views`) or a manifest file (`photo_views`, or a single view object).
    pub fn load(path: &Path) -> Result<Vec<PhotoView>> {
        let (manifest_path, base) = if path.is_dir() {
            (path.join("template.json"), path.to_path_buf())
        } else {
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (path.to_path_buf(), base)
        };
        let text = std::fs::read_to_string(&manifest_path).map_err(|e| {
            Error::validation(
                "photo",
                format!("cannot read {}: {e}", manifest_path.display()),
            )
        })?;
        let invalid = |e: serde_json::Error| {
            Error::validation(
                "photo",
                format!(
                    "{} is not a valid photo view manifest: {e}",
                    manifest_path.display()
                ),
            )
        };
        let value: serde_json::Value = serde_json::from_str(&text).map_err(invalid)?;
        let specs = if value.get("photo_views").is_some() {
            serde_json::from_value::<PhotoViewsFile>(value)
                .map_err(invalid)?
                .photo_views
        } else {
            vec![serde_json::from_value::<PhotoViewSpec>(value).map_err(invalid)?]
        };
        if specs.is_empty() {
            return Err(Error::validation(
                "photo",
                format!("{} lists no photo views", manifest_path.display()),
            ));
        }
        specs
            .iter()
            .map(|spec| PhotoView::from_spec(spec, &base))
            .collect()
    }

    /// Builds a view from its manifest entry, reading files relative to `base`.
    pub fn from_spec(spec: &PhotoViewSpec, base: &Path) -> Result<PhotoView> {
        let read = |field: &str, file: &str| -> Result<RgbaImage> {
            let path: PathBuf = crate::template::file_in_pack(base, file, field)?;
            let bytes = std::fs::read(&path).map_err(|e| {
                Error::validation(field, format!("cannot read {}: {e}", path.display()))
            })?;
            decode_photo_image(&bytes, field)
        };
        let images = PhotoViewImages {
            photo: read("photo", &spec.photo)?,
            displacement: match &spec.displacement {
                Some(d) => Some((
                    read("displacement.image", &d.image)?,
                    d.scale_px,
                    d.channels,
                )),
                None => None,
            },
            mask: match &spec.mask {
                Some(m) => Some(read("mask", m)?),
                None => None,
            },
        };
        PhotoView::new(&spec.name, images, &spec.print_area)
    }

    /// Validates a view and prepares its maps. Errors are `E_VALIDATION` naming the
    /// problem: a quad outside the photo or degenerate, maps of the wrong size, a
    /// non-positive physical size.
    pub fn new(name: &str, images: PhotoViewImages, area: &PrintAreaSpec) -> Result<PhotoView> {
        let PhotoViewImages {
            photo,
            displacement,
            mask,
        } = images;
        let mask = mask.map(|m| mask_coverage(&m));
        Self::prepare(name, photo, displacement, mask, area)
    }

    /// [`PhotoView::new`] with the mask as coverage already (its luminance).
    fn prepare(
        name: &str,
        photo: RgbaImage,
        displacement: Option<(RgbaImage, f64, DisplacementChannels)>,
        mask: Option<GrayImage>,
        area: &PrintAreaSpec,
    ) -> Result<PhotoView> {
        let (w, h) = photo.dimensions();
        let mut problems = Vec::new();
        if !(area.width_in > 0.0
            && area.height_in > 0.0
            && area.width_in.is_finite()
            && area.height_in.is_finite())
        {
            problems.push(crate::FieldError::new(
                "print_area",
                "width_in and height_in must be positive numbers of inches",
            ));
        }
        for (i, [x, y]) in area.quad.iter().enumerate() {
            if !(x.is_finite()
                && y.is_finite()
                && *x >= 0.0
                && *y >= 0.0
                && *x <= w as f64
                && *y <= h as f64)
            {
                problems.push(crate::FieldError::new(
                    "print_area.quad",
                    format!("corner {i} ({x}, {y}) is outside the {w} x {h} photo"),
                ));
            }
        }
        if !is_convex(&area.quad) {
            problems.push(crate::FieldError::new(
                "print_area.quad",
                "the corners must form a convex quad listed top-left, top-right, bottom-right, bottom-left",
            ));
        }
        if let Some(m) = &mask {
            if m.dimensions() != (w, h) {
                problems.push(crate::FieldError::new(
                    "mask",
                    format!(
                        "is {} x {} but the photo is {w} x {h}; they must match",
                        m.width(),
                        m.height()
                    ),
                ));
            }
        }
        if let Some((d, scale, _)) = &displacement {
            if d.dimensions() != (w, h) {
                problems.push(crate::FieldError::new(
                    "displacement",
                    format!(
                        "is {} x {} but the photo is {w} x {h}; they must match",
                        d.width(),
                        d.height()
                    ),
                ));
            }
            if !scale.is_finite() || *scale < 0.0 || *scale > w.max(h) as f64 {
                problems.push(crate::FieldError::new(
                    "displacement.scale_px",
                    format!("must be between 0 and the photo's size (got {scale})"),
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Error::Validation(problems));
        }

        let to_linear = srgb_to_linear_table();
        let mask = mask.map(GrayImage::into_raw);
        let homography = Homography::rect_to_quad(1.0, 1.0, &area.quad)
            .and_then(|hm| hm.inverse())
            .ok_or_else(|| Error::validation("print_area.quad", "the quad is degenerate"))?;
        let xs = area.quad.iter().map(|p| p[0]);
        let ys = area.quad.iter().map(|p| p[1]);
        let x0 = xs.clone().fold(f64::MAX, f64::min).floor().max(0.0) as u32;
        let x1 = (xs.fold(f64::MIN, f64::max).ceil() as u32).min(w);
        let y0 = ys.clone().fold(f64::MAX, f64::min).floor().max(0.0) as u32;
        let y1 = (ys.fold(f64::MIN, f64::max).ceil() as u32).min(h);

        let derived_scale = DERIVED_DISPLACEMENT_SHARE * w.min(h) as f64;
        let max_shift = match &displacement {
            Some((_, scale, _)) => *scale,
            None => derived_scale,
        };
        let margin = max_shift.ceil() as u32 + 1;
        let print_bounds = [
            x0.saturating_sub(margin),
            y0.saturating_sub(margin),
            (x1 + margin).min(w),
            (y1 + margin).min(h),
        ];
        // Everything the print reads lies inside the print bounds. The blurred maps are
        // computed over a region that reaches past them by the blurs' full support, so
        // their values there are the same as blurring the whole photo, at a fraction
        // of the cost.
        let derived_radius = derived_blur_radius(w, h);
        let support = 3 * derived_radius.max(PRINT_SHADING_BLUR) as u32 + 1;
        let region = [
            print_bounds[0].saturating_sub(support),
            print_bounds[1].saturating_sub(support),
            (print_bounds[2] + support).min(w),
            (print_bounds[3] + support).min(h),
        ];
        let luminance = luminance_within(&photo, region, to_linear);
        let region_width = (region[2] - region[0]) as usize;

        // The mean luminance over the print region: garment pixels inside the quad.
        let (print_sum, print_n) = (y0..y1)
            .into_par_iter()
            .map(|y| {
                let (mut sum, mut n) = (0.0f64, 0u64);
                for x in x0..x1 {
                    let garment = mask.as_ref().is_none_or(|m| m[(y * w + x) as usize] >= 128);
                    let (u, v) = homography.apply(x as f64 + 0.5, y as f64 + 0.5);
                    if garment && (0.0..=1.0).contains(&u) && (0.0..=1.0).contains(&v) {
                        let at = (y - region[1]) as usize * region_width + (x - region[0]) as usize;
                        sum += luminance[at] as f64;
                        n += 1;
                    }
                }
                (sum, n)
            })
            .reduce(|| (0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        if print_n == 0 {
            return Err(Error::validation(
                "print_area.quad",
                "the print area covers no garment pixel (check the quad and the mask)",
            ));
        }
        let print_mean_luminance = (print_sum / print_n as f64).max(1e-4) as f32;

        let (print_luminance, shift) = rayon::join(
            || blurred_in_bounds(&luminance, region, print_bounds, PRINT_SHADING_BLUR),
            || match displacement {
                Some((map, scale, channels)) => shift_from_map(&map, print_bounds, scale, channels),
                None => {
                    let blurred =
                        blurred_in_bounds(&luminance, region, print_bounds, derived_radius);
                    derived_shift(&blurred, derived_scale, print_mean_luminance)
                }
            },
        );
        Ok(PhotoView {
            name: name.to_string(),
            photo,
            print_size_in: (area.width_in, area.height_in),
            quad: area.quad,
            fabric: OnceLock::new(),
            print_luminance,
            mask,
            shift,
            print_mean_luminance,
            print_bounds,
        })
    }

    /// The L* codes of every photo pixel and the garment's mean L*, which re-tinting
    /// reads: computed on first use.
    pub(crate) fn fabric(&self) -> &FabricLightness {
        if let Some(fabric) = self.fabric.get() {
            return fabric;
        }
        // Computed outside the lock (it runs rayon tasks, and a thread waiting on them
        // may pick up another task that asks for this view's fabric: inside
        // `get_or_init` that would deadlock). Two threads may both compute it; the
        // first to finish is kept.
        let computed = {
            let to_linear = srgb_to_linear_table();
            let lstar_codes: Vec<u16> = self
                .photo
                .as_raw()
                .par_chunks_exact(4)
                .map(|p| lstar_code(pixel_luminance(p, to_linear)))
                .collect();
            let garment = |i: usize| self.mask.as_ref().is_none_or(|m| m[i] >= 128);
            let (sum, n) = lstar_codes
                .par_iter()
                .enumerate()
                .filter(|&(i, _)| garment(i))
                .map(|(_, &code)| (f64::from(code) / 10.0, 1u64))
                .reduce(|| (0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
            FabricLightness {
                lstar_codes,
                garment_mean_lstar: (sum / n.max(1) as f64) as f32,
            }
        };
        let _ = self.fabric.set(computed);
        self.fabric.get().expect("set just now")
    }

    /// The view's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The photo's size in pixels.
    pub fn size(&self) -> (u32, u32) {
        self.photo.dimensions()
    }

    /// The print area's physical size in inches.
    pub fn print_size_in(&self) -> (f64, f64) {
        self.print_size_in
    }

    /// Whether the view has a garment mask (needed to re-tint).
    pub fn has_mask(&self) -> bool {
        self.mask.is_some()
    }

    /// The pixel size at which the design should be fitted for this view (see
    /// [`PrintAreaSpec::design_canvas_size`]).
    pub fn design_canvas_size(&self) -> (u32, u32) {
        PrintAreaSpec {
            quad: self.quad,
            width_in: self.print_size_in.0,
            height_in: self.print_size_in.1,
        }
        .design_canvas_size()
    }
}

impl PrintAreaSpec {
    /// The pixel size at which a design should be fitted for this print area: its
    /// aspect, as large as the quad's longer edges on the photo (at least 1 x 1).
    pub fn design_canvas_size(&self) -> (u32, u32) {
        let q = &self.quad;
        let dist =
            |a: [f64; 2], b: [f64; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
        let quad_w = dist(q[0], q[1]).max(dist(q[3], q[2]));
        let quad_h = dist(q[0], q[3]).max(dist(q[1], q[2]));
        let (w_in, h_in) = (self.width_in, self.height_in);
        let px_per_in = (quad_w / w_in).max(quad_h / h_in);
        if !px_per_in.is_finite() {
            return (1, 1);
        }
        let px_per_in = px_per_in.max(1.0);
        let side =
            |inches: f64| (inches * px_per_in).round().clamp(1.0, f64::from(u32::MAX)) as u32;
        (side(w_in), side(h_in))
    }
}

/// A photo view whose images are still encoded (JPEG or PNG bytes), as a caller holding
/// uploaded files has it: [`crate::mockup::render_mockups_encoded`] decodes and prepares
/// it while the design decodes.
#[derive(Debug, Clone)]
pub struct EncodedPhotoView<'a> {
    /// The view's name.
    pub name: &'a str,
    /// The garment photo.
    pub photo: &'a [u8],
    /// The print area on the photo.
    pub area: PrintAreaSpec,
    /// A displacement map with its scale in pixels and channels; derived from the photo
    /// when absent.
    pub displacement: Option<(&'a [u8], f64, DisplacementChannels)>,
    /// A garment mask (white = garment), same size as the photo.
    pub mask: Option<&'a [u8]>,
}

impl EncodedPhotoView<'_> {
    /// Decodes the images (in parallel) and prepares the view ([`PhotoView::new`]).
    /// Errors name the image: `photo.image`, `photo.displacement.image`, `photo.mask`.
    pub fn decode(&self) -> Result<PhotoView> {
        let decode_maps = || -> Result<_> {
            let (displacement, mask) = rayon::join(
                || {
                    self.displacement
                        .map(|(bytes, scale, channels)| {
                            decode_photo_image(bytes, "photo.displacement.image")
                                .map(|map| (map, scale, channels))
                        })
                        .transpose()
                },
                || {
                    self.mask
                        .map(|bytes| decode_photo_mask(bytes, "photo.mask"))
                        .transpose()
                },
            );
            Ok((displacement?, mask?))
        };
        let (photo, maps) = rayon::join(
            || decode_photo_image(self.photo, "photo.image"),
            decode_maps,
        );
        let photo = photo?;
        let (displacement, mask) = maps?;
        PhotoView::prepare(self.name, photo, displacement, mask, &self.area)
    }
}

/// Decodes one image of a photo view (the photo, its mask or displacement map: JPEG or
/// PNG), refusing images over [`MAX_PHOTO_PIXELS`] from the header before decoding;
/// `field` names the image in errors (`E_UNSUPPORTED_FORMAT`, `E_IMAGE_TOO_LARGE`,
/// `E_IMAGE_DECODE`).
pub fn decode_photo_image(bytes: &[u8], field: &str) -> Result<RgbaImage> {
    decode_checked(bytes, field).map(|img| match img {
        image::DynamicImage::ImageRgba8(rgba) => rgba,
        other => other.to_rgba8(),
    })
}

/// Decodes a garment mask as [`decode_photo_image`] does, straight to its coverage (the
/// luminance): a greyscale mask is used as it is.
fn decode_photo_mask(bytes: &[u8], field: &str) -> Result<GrayImage> {
    decode_checked(bytes, field).map(|img| match img {
        image::DynamicImage::ImageLuma8(grey) => grey,
        other => mask_coverage(&other.to_rgba8()),
    })
}

/// The largest photo-view image file accepted: 128 MiB.
pub const MAX_PHOTO_BYTES: u64 = 128 * 1024 * 1024;

/// Every photo-view image goes through the design module's guarded decode: content
/// sniffing, limits from the header, the allocation budget and the panic guard.
fn decode_checked(bytes: &[u8], field: &str) -> Result<image::DynamicImage> {
    let limits = DecodeLimits::default()
        .with_max_bytes(MAX_PHOTO_BYTES)
        .with_max_pixels(MAX_PHOTO_PIXELS);
    decode_untrusted_raster(
        bytes,
        field,
        &[DesignFormat::Jpeg, DesignFormat::Png],
        &limits,
    )
}

/// A mask's coverage: the luminance of each pixel (white = garment). For a grey mask in
/// RGBA this is exactly its grey value.
fn mask_coverage(mask: &RgbaImage) -> GrayImage {
    let coverage = mask
        .as_raw()
        .par_chunks_exact(4)
        .map(|p| ((p[0] as u32 * 54 + p[1] as u32 * 183 + p[2] as u32 * 19) >> 8) as u8)
        .collect::<Vec<u8>>();
    GrayImage::from_raw(mask.width(), mask.height(), coverage).expect("one byte a pixel")
}

fn is_convex(quad: &[[f64; 2]; 4]) -> bool {
    let mut sign = 0.0f64;
    for i in 0..4 {
        let [a, b, c] = [quad[i], quad[(i + 1) % 4], quad[(i + 2) % 4]];
        let cross = (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]);
        if cross.abs() < 1e-9 {
            return false;
        }
        if sign != 0.0 && cross.signum() != sign {
            return false;
        }
        sign = cross.signum();
    }
    true
}

/// Shifts from a displacement map within `bounds` (`[x0, y0, x1, y1)`, row by row):
/// `(value - 128) / 127 * scale` pixels per axis.
fn shift_from_map(
    map: &RgbaImage,
    bounds: [u32; 4],
    scale: f64,
    channels: DisplacementChannels,
) -> Vec<[f32; 2]> {
    let k = (scale / 127.0) as f32;
    let [x0, y0, x1, y1] = bounds.map(|v| v as usize);
    let w = map.width() as usize;
    (y0..y1)
        .flat_map(|y| map.as_raw()[(y * w + x0) * 4..(y * w + x1) * 4].chunks_exact(4))
        .map(|p| match channels {
            DisplacementChannels::Luminance => {
                let l =
                    (p[0] as f32 * 0.2126 + p[1] as f32 * 0.7152 + p[2] as f32 * 0.0722) - 128.0;
                [l * k, l * k]
            }
            DisplacementChannels::Rg => [(p[0] as f32 - 128.0) * k, (p[1] as f32 - 128.0) * k],
        })
        .collect()
}

/// The blur radius of the derived displacement: 1.5% of the photo's shorter side, so the
/// print bends with folds (tens of pixels) but not with the fabric's own pattern (an
/// acid wash's or heather's blotches, a few pixels, warped a print's outline into a
/// fringe at 0.5%).
fn derived_blur_radius(w: u32, h: u32) -> usize {
    (w.min(h) as usize * 3 / 200).max(2)
}

/// The photo's relative luminance within `region` (`[x0, y0, x1, y1)`), row by row.
fn luminance_within(photo: &RgbaImage, region: [u32; 4], to_linear: &[f32; 256]) -> Vec<f32> {
    let [x0, y0, x1, y1] = region.map(|v| v as usize);
    let (w, rw) = (photo.width() as usize, x1 - x0);
    let mut out = vec![0.0f32; rw * (y1 - y0)];
    out.par_chunks_mut(rw.max(1))
        .enumerate()
        .for_each(|(r, row)| {
            let y = y0 + r;
            let src = &photo.as_raw()[(y * w + x0) * 4..(y * w + x1) * 4];
            for (o, p) in row.iter_mut().zip(src.chunks_exact(4)) {
                *o = pixel_luminance(p, to_linear);
            }
        });
    out
}

/// `values` (covering `region`, row by row) blurred by [`blur`] with edges clamped to
/// the region, then cut to `bounds` (inside the region), row by row.
fn blurred_in_bounds(
    values: &[f32],
    region: [u32; 4],
    bounds: [u32; 4],
    radius: usize,
) -> Vec<f32> {
    let rw = (region[2] - region[0]) as usize;
    let rh = (region[3] - region[1]) as usize;
    let mut part = values.to_vec();
    blur(&mut part, rw, rh, radius);
    let [bx0, by0, bx1, by1] = bounds.map(|v| v as usize);
    let (ox, oy) = (bx0 - region[0] as usize, by0 - region[1] as usize);
    (0..by1 - by0)
        .flat_map(|r| part[(oy + r) * rw + ox..][..bx1 - bx0].iter().copied())
        .collect()
}

/// A displacement derived from the photo: its blurred luminance (`blurred`) relative to
/// the print region's mean, so a flat photo gives no shift and folds push the print
/// around.
fn derived_shift(blurred: &[f32], scale: f64, mean: f32) -> Vec<[f32; 2]> {
    let k = scale as f32;
    blurred
        .iter()
        .map(|&y| {
            let d = ((y / mean) - 1.0).clamp(-1.0, 1.0) * k;
            [d, d]
        })
        .collect()
}
