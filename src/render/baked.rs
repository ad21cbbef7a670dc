//! The baked renderer: stills and turntable frames by texture lookup and baked lighting.
//!
//! A view pack (`assets/templates/<id>/baked/`, made by `render-engine template bake`) holds,
//! for each still camera and each turntable frame, per pixel the atlas UV (16-bit), the
//! coverage, the diffuse light on a white fabric, the specular highlight, the shadow the
//! garment casts on the backdrop (bakes made before December 2026 have none) and the
//! share of the diffuse light that the garment bounced onto itself (bakes before
//! 2026-12-08 have none: all of it counts as direct). Rendering a view is, for every pixel,
//!
//! ```text
//! albedo   = calibrated(bilinear(atlas premultiplied, uv) + garment * (1 - alpha))
//! light    = diffuse * (1 - indirect) + diffuse * indirect * kept(garment albedo)
//! shaded   = tone(exposure * (albedo * light + specular))
//! pixel    = background * shadow * (1 - coverage) + shaded * coverage
//! ```
//!
//! in integer arithmetic over tables prepared once per pack, on all cores. `calibrated`
//! `exposure` and `tone` are the pack's [`ColorCalibration`]: together they make the
//! median front pixel show the requested colour and keep white fabric's shading.
//!
//! The bake lights a white garment, whose walls bounce nearly all the light they get; a
//! dark garment bounces little, so inside the neck or the hood, or where a sleeve meets the
//! body, the bounced share is scaled by what a garment of its colour keeps of it, per
//! channel ([`bounce_kept`]).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use image::{DynamicImage, RgbaImage};
use rayon::prelude::*;

use super::calibration::{ColorCalibration, FINISH_TABLE_LEN};
use super::knit;
use super::{RenderOutput, RenderProgress, RenderRequest, Renderer, Still, View};
use crate::color::{linear_u16_to_srgb_table, GarmentColor};
use crate::design::{decode_untrusted_raster, DecodeLimits, DesignFormat};
use crate::error::{Error, Result};
use crate::template::builtin::{EmbeddedPack, CLASSIC_TEE};
use crate::template::TemplatePack;

/// The largest `views.json` read, in bytes.
const MAX_INDEX_BYTES: u64 = 1 << 20;

/// Fixed-point scale of the diffuse factor (1.0 = 8192).
const DIFFUSE_ONE: f32 = 8192.0;
const DIFFUSE_SHIFT: u32 = 13;

#[derive(Debug, serde::Deserialize)]
struct Index {
    format_version: u32,
    template: String,
    atlas: AtlasSize,
    encoding: Encoding,
    background: String,
    /// The stored drape's file (bakes before December 2026 have none).
    #[serde(default)]
    drape: Option<String>,
    stills: Vec<StillEntry>,
    turntable: TurntableEntry,
}

/// The stored drape's layout, as `build_garment.py` writes it: this magic, the drape's
/// key (32 ASCII hex digits naming the mesh it drapes), the vertex count (u32
/// little-endian), then x, y, z of every vertex (f32 little-endian, metres).
const DRAPE_MAGIC: &[u8; 8] = b"REDRAPE1";
const DRAPE_HEADER_BYTES: usize = 8 + 32 + 4;
/// The most vertices a stored drape may hold (the built-in garments have 10k to 20k).
const DRAPE_MAX_VERTICES: usize = 1_000_000;
/// The largest stored drape, bytes.
const DRAPE_MAX_BYTES: u64 = (DRAPE_HEADER_BYTES + 12 * DRAPE_MAX_VERTICES) as u64;
/// The largest coordinate a stored drape may hold, metres (the garment is about 1 m tall).
const DRAPE_MAX_COORDINATE: f32 = 10.0;

/// Checks bytes as a stored drape: its layout, and every coordinate finite and in range.
fn check_drape(bytes: &[u8]) -> std::result::Result<(), String> {
    if bytes.len() < DRAPE_HEADER_BYTES || &bytes[..8] != DRAPE_MAGIC {
        return Err("is not a drape file (it does not start with REDRAPE1 and its header)".into());
    }
    if !bytes[8..40].iter().all(u8::is_ascii_hexdigit) {
        return Err("has a key that is not 32 hex digits".into());
    }
    let count = u32::from_le_bytes(bytes[40..44].try_into().expect("4 bytes")) as usize;
    if count == 0 || count > DRAPE_MAX_VERTICES {
        return Err(format!(
            "holds {count} vertices; a drape holds 1 to {DRAPE_MAX_VERTICES}"
        ));
    }
    if bytes.len() != DRAPE_HEADER_BYTES + 12 * count {
        return Err(format!(
            "is {} bytes; {count} vertices take {}",
            bytes.len(),
            DRAPE_HEADER_BYTES + 12 * count
        ));
    }
    let out_of_range = bytes[DRAPE_HEADER_BYTES..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .position(|v| !(v.is_finite() && v.abs() <= DRAPE_MAX_COORDINATE));
    if let Some(i) = out_of_range {
        return Err(format!(
            "has coordinate {i} not a finite number within {DRAPE_MAX_COORDINATE} m"
        ));
    }
    Ok(())
}

#[derive(Debug, serde::Deserialize)]
struct AtlasSize {
    width_px: u32,
    height_px: u32,
}

#[derive(Debug, serde::Deserialize)]
struct Encoding {
    diffuse_scale: f32,
    specular_scale: f32,
    /// How the shade PNG stores light: `linear` (the value itself, the default) or
    /// `sqrt` (its square root, so 8 bits keep the dark tones; see `bake_encoding`).
    #[serde(default)]
    shade_curve: ShadeCurve,
}

/// The transfer curve of a shade PNG's light channels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ShadeCurve {
    /// The stored value is the light (over its scale).
    #[default]
    Linear,
    /// The stored value is the light's square root (over its scale).
    Sqrt,
}

#[derive(Debug, serde::Deserialize)]
struct StillEntry {
    name: String,
    width: u32,
    height: u32,
    uv: String,
    shade: String,
    /// The indirect share PNG (bakes before 2026-12-08 have none).
    #[serde(default)]
    indirect: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct TurntableEntry {
    width: u32,
    height: u32,
    frames: usize,
    fps: u32,
    uv: String,
    shade: String,
    /// The indirect share PNG (bakes before 2026-12-08 have none).
    #[serde(default)]
    indirect: Option<String>,
}

#[derive(Debug)]
enum Source {
    /// A pack compiled into the library.
    Embedded(&'static EmbeddedPack),
    /// A pack folder's `baked/` directory.
    Dir(PathBuf),
}

/// One baked pixel, ready for the inner loop.
#[derive(Debug, Clone, Copy, Default)]
struct Px {
    /// Atlas column and row of the top-left of the four texels to blend.
    x: u16,
    y: u16,
    /// Horizontal and vertical blend weights of the right/lower texels, in 1/256.
    fx: u8,
    fy: u8,
    /// Coverage, 0 (background) to 255.
    cov: u8,
    /// Diffuse light, 1.0 = [`DIFFUSE_ONE`].
    diffuse: u16,
    /// The part of `diffuse` the garment bounced onto itself (at most `diffuse`).
    indirect: u16,
    /// Specular light, linear, 1.0 = 65535.
    specular: u16,
    /// The backdrop's light under the garment's shadow, 0 to 255 (255: unshadowed).
    shadow: u8,
}

/// A decoded view: its size and one [`Px`] per pixel, row by row.
#[derive(Debug)]
struct ViewTable {
    width: u32,
    height: u32,
    /// Whether the bake carries the backdrop shadow (else every `Px::shadow` is 255).
    has_shadow: bool,
    px: Vec<Px>,
}

type Lazy<T> = OnceLock<std::result::Result<T, String>>;

/// A pack of baked views (stills and turntable frames) for one garment template.
///
/// Files are decoded on first use and kept; a pack is cheap to share (`Arc`).
#[derive(Debug)]
pub struct BakedViews {
    source: Source,
    index: Index,
    background: [u8; 3],
    stills: Vec<(View, Lazy<Arc<ViewTable>>)>,
    turntable: Lazy<Arc<Vec<ViewTable>>>,
    content_hash: Lazy<String>,
    calibration: Lazy<ColorCalibration>,
    finish_table: OnceLock<Arc<Vec<u16>>>,
    /// Atlas pixels per inch of the pack: the scale of the knit (see [`knit`]).
    pixels_per_inch: f32,
}

impl BakedViews {
    /// The built-in classic-tee views, embedded in the library.
    ///
    /// # Errors
    ///
    /// `E_RENDER_FAILED` if the embedded index is unreadable (a broken build).
    pub fn builtin() -> Result<Arc<BakedViews>> {
        static BUILTIN: OnceLock<std::result::Result<Arc<BakedViews>, String>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                BakedViews::embedded(&CLASSIC_TEE)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(Error::render_failed)
    }

    /// The views of a pack compiled into the library.
    pub(crate) fn embedded(pack: &'static EmbeddedPack) -> Result<BakedViews> {
        let json = pack
            .bake
            .iter()
            .find(|(name, _)| *name == "views.json")
            .map(|(_, bytes)| *bytes)
            .ok_or_else(|| {
                Error::render_failed(format!("the built-in `{}` bake has no views.json", pack.id))
            })?;
        BakedViews::from_index(Source::Embedded(pack), json)
    }

    /// Loads a pack from a directory holding `views.json` and the PNGs it names (the
    /// output of `render-engine template bake`).
    ///
    /// # Errors
    ///
    /// `E_NOT_FOUND` when the directory has no `views.json`; `E_RENDER_FAILED` when the
    /// index is malformed. Image files are read when first rendered.
    pub fn load(dir: impl AsRef<Path>) -> Result<BakedViews> {
        let dir = dir.as_ref().to_path_buf();
        let index_path = dir.join("views.json");
        if let Ok(meta) = std::fs::metadata(&index_path) {
            if meta.len() > MAX_INDEX_BYTES {
                return Err(Error::render_failed(format!(
                    "{} is {} bytes; a view index may be at most {MAX_INDEX_BYTES} bytes",
                    index_path.display(),
                    meta.len()
                )));
            }
        }
        let json = std::fs::read(&index_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound {
                what: "baked view pack (views.json)",
                id: dir.display().to_string(),
            },
            _ => Error::Io(e),
        })?;
        BakedViews::from_index(Source::Dir(dir), &json)
    }

    fn from_index(source: Source, json: &[u8]) -> Result<BakedViews> {
        // An embedded pack's manifest gives its scale; a folder's pack sets it after.
        let source_ppi = match &source {
            Source::Embedded(pack) => embedded_pixels_per_inch(pack.manifest),
            Source::Dir(_) => None,
        };
        let index: Index = serde_json::from_slice(json).map_err(|e| {
            Error::render_failed(format!("views.json is malformed: {e}")).caused_by(e)
        })?;
        if index.format_version != 1 {
            return Err(Error::render_failed(format!(
                "views.json has format_version {}; this version reads 1 (re-bake with `render-engine template bake <pack-dir>`)",
                index.format_version
            )));
        }
        if index.turntable.frames < 2 {
            return Err(Error::render_failed(
                "views.json: the turntable needs at least 2 frames",
            ));
        }
        let background = GarmentColor::parse_field(&index.background, "background")
            .map_err(|e| Error::render_failed(format!("views.json: {e}")).caused_by(e))?
            .to_array();
        let mut stills = Vec::new();
        for view in View::ALL {
            if index.stills.iter().any(|s| s.name == view.name()) {
                stills.push((view, OnceLock::new()));
            }
        }
        Ok(BakedViews {
            source,
            index,
            background,
            stills,
            turntable: OnceLock::new(),
            content_hash: OnceLock::new(),
            calibration: OnceLock::new(),
            finish_table: OnceLock::new(),
            pixels_per_inch: source_ppi.unwrap_or(DEFAULT_PIXELS_PER_INCH),
        })
    }

    /// Sets the atlas's pixels per inch (the pack's `atlas.pixels_per_inch`), which sets
    /// the scale of the jersey knit the renderer draws on fabric and print. Views read
    /// from a folder assume 40 (the built-in packs' scale) until told; call this before
    /// the first render.
    pub fn with_pixels_per_inch(mut self, pixels_per_inch: u32) -> BakedViews {
        self.pixels_per_inch = pixels_per_inch.max(1) as f32;
        self
    }

    /// The atlas's pixels per inch these views draw the knit at.
    pub fn pixels_per_inch(&self) -> f32 {
        self.pixels_per_inch
    }

    /// The SHA-256 (hex) of the pack's index and every file it names: what identifies a
    /// bake (a re-bake with new images has another hash). Computed once.
    ///
    /// # Errors
    ///
    /// `E_RENDER_FAILED` when a file of the pack cannot be read.
    pub fn content_hash(&self) -> Result<String> {
        use sha2::{Digest, Sha256};
        self.content_hash
            .get_or_init(|| {
                let mut hash = Sha256::new();
                let mut names = vec!["views.json".to_string()];
                for s in &self.index.stills {
                    names.extend([s.uv.clone(), s.shade.clone()]);
                    names.extend(s.indirect.clone());
                }
                let t = &self.index.turntable;
                names.extend([t.uv.clone(), t.shade.clone()]);
                names.extend(t.indirect.clone());
                for name in names {
                    let bytes = self.read(&name).map_err(|e| e.to_string())?;
                    hash.update((name.len() as u64).to_le_bytes());
                    hash.update(name.as_bytes());
                    hash.update((bytes.len() as u64).to_le_bytes());
                    hash.update(&bytes);
                }
                // The stored drape, read bounded and checked.
                if let Some(bytes) = self.drape().map_err(|e| e.to_string())? {
                    hash.update(b"drape");
                    hash.update((bytes.len() as u64).to_le_bytes());
                    hash.update(&bytes);
                }
                Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
            })
            .clone()
            .map_err(Error::render_failed)
    }

    /// The template these views belong to (`classic-tee`).
    pub fn template(&self) -> &str {
        &self.index.template
    }

    /// The atlas size (pixels) the views expect.
    pub fn atlas_size(&self) -> (u32, u32) {
        (self.index.atlas.width_px, self.index.atlas.height_px)
    }

    /// The still views in the pack.
    pub fn views(&self) -> Vec<View> {
        self.stills.iter().map(|(v, _)| *v).collect()
    }

    /// The size (pixels) of a still view, if the pack has it.
    pub fn still_size(&self, view: View) -> Option<(u32, u32)> {
        self.entry(view).map(|s| (s.width, s.height))
    }

    /// The number of turntable frames (frame `i` at `360 * i / n` degrees).
    pub fn turntable_frames(&self) -> usize {
        self.index.turntable.frames
    }

    /// The size (pixels) of a turntable frame.
    pub fn turntable_size(&self) -> (u32, u32) {
        (self.index.turntable.width, self.index.turntable.height)
    }

    /// The turntable's playback rate, frames per second.
    pub fn fps(&self) -> u32 {
        self.index.turntable.fps
    }

    /// The default background colour (sRGB).
    pub fn background(&self) -> [u8; 3] {
        self.background
    }

    /// The fraction of each view's pixels the garment covers: every still by name, then
    /// each turntable frame (`turntable[i]`). Decodes the views.
    ///
    /// # Errors
    ///
    /// `E_RENDER_FAILED` when a view file is missing or does not decode.
    pub fn coverage_by_view(&self) -> Result<Vec<(String, f64)>> {
        let covered = |t: &ViewTable| {
            t.px.iter().filter(|p| p.cov > 0).count() as f64 / t.px.len().max(1) as f64
        };
        let mut out = Vec::new();
        for view in self.views() {
            out.push((
                view.name().to_string(),
                covered(self.still_table(view)?.as_ref()),
            ));
        }
        for (i, frame) in self.turntable_tables()?.iter().enumerate() {
            out.push((format!("turntable[{i}]"), covered(frame)));
        }
        Ok(out)
    }

    /// How this bake's studio light changes colours: the median diffuse and specular light
    /// of the fully covered pixels of the front still (the first still without one).
    /// The renderers shade the albedo it gives, so the median front fabric pixel shows the
    /// requested colour. Decodes that still once.
    ///
    /// # Errors
    ///
    /// `E_RENDER_FAILED` when the still is missing or does not decode.
    pub fn calibration(&self) -> Result<ColorCalibration> {
        self.calibration
            .get_or_init(|| {
                let view = self
                    .views()
                    .into_iter()
                    .find(|v| *v == View::Front)
                    .or_else(|| self.views().first().copied());
                let Some(view) = view else {
                    return Ok(ColorCalibration::IDENTITY);
                };
                let table = self.still_table(view).map_err(|e| e.to_string())?;
                let full = table.px.iter().filter(|p| p.cov == 255);
                let (diffuse, specular): (Vec<f32>, Vec<f32>) = full
                    .map(|p| (p.diffuse as f32 / DIFFUSE_ONE, p.specular as f32 / 65535.0))
                    .unzip();
                Ok(ColorCalibration::from_medians(diffuse, specular))
            })
            .clone()
            .map_err(Error::render_failed)
    }

    /// The calibration's exposure and tone as a table over lit values, made once.
    fn finish_table(&self) -> Result<Arc<Vec<u16>>> {
        let calibration = self.calibration()?;
        Ok(self
            .finish_table
            .get_or_init(|| Arc::new(calibration.finish_table()))
            .clone())
    }

    /// The backdrop shadow of each view (every still by name, then each turntable frame,
    /// `turntable[i]`): the darkest the background gets under the garment's shadow, as a
    /// factor of its colour (1.0 = unshadowed), or `None` for a bake without the shadow
    /// channel. Decodes the views.
    ///
    /// # Errors
    ///
    /// `E_RENDER_FAILED` when a view file is missing or does not decode.
    pub fn shadow_by_view(&self) -> Result<Vec<(String, Option<f64>)>> {
        let darkest = |t: &ViewTable| {
            t.has_shadow.then(|| {
                t.px.iter()
                    .filter(|p| p.cov == 0)
                    .map(|p| p.shadow)
                    .min()
                    .unwrap_or(255) as f64
                    / 255.0
            })
        };
        let mut out = Vec::new();
        for view in self.views() {
            out.push((
                view.name().to_string(),
                darkest(self.still_table(view)?.as_ref()),
            ));
        }
        for (i, frame) in self.turntable_tables()?.iter().enumerate() {
            out.push((format!("turntable[{i}]"), darkest(frame)));
        }
        Ok(out)
    }

    /// Whether every view stores the indirect share of its light (bakes before
    /// 2026-12-08 do not: their renders count all of it as direct, which lights the
    /// insides of dark garments too brightly).
    pub fn stores_indirect_light(&self) -> bool {
        self.index.stills.iter().all(|s| s.indirect.is_some())
            && self.index.turntable.indirect.is_some()
    }

    fn entry(&self, view: View) -> Option<&StillEntry> {
        self.index.stills.iter().find(|s| s.name == view.name())
    }

    /// The drape the bake stored (the file views.json's `drape` names): the garment's
    /// draped vertex positions. The live Blender backend hands it to its render, which
    /// then draws the very shape the bake drew instead of simulating the cloth again.
    /// `None` for a bake without one (bakes before December 2026).
    ///
    /// # Errors
    ///
    /// `E_VALIDATION` when views.json names a file outside the pack; `E_RENDER_FAILED`
    /// when the file cannot be read, is not a regular file, is larger than a drape can
    /// be, or is not a well-formed drape (its layout, and every coordinate finite and
    /// within 10 m).
    pub fn drape(&self) -> Result<Option<Cow<'_, [u8]>>> {
        let Some(name) = &self.index.drape else {
            return Ok(None);
        };
        let failed = |why: String| {
            Error::render_failed(format!(
                "the bake's drape `{name}` {why} (re-bake with `render-engine template bake <pack-dir>`)"
            ))
        };
        let bytes = self.read_at_most(name, DRAPE_MAX_BYTES)?;
        check_drape(&bytes).map_err(failed)?;
        Ok(Some(bytes))
    }

    fn read(&self, name: &str) -> Result<Cow<'_, [u8]>> {
        self.read_at_most(name, u64::MAX)
    }

    /// The bytes of the bake's file `name`, refused (`E_RENDER_FAILED`) when it is not a
    /// regular file or holds more than `max` bytes; a folder's file is never read past
    /// `max`.
    fn read_at_most(&self, name: &str, max: u64) -> Result<Cow<'_, [u8]>> {
        match &self.source {
            Source::Embedded(pack) => pack
                .bake
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, bytes)| Cow::Borrowed(*bytes))
                .ok_or_else(|| {
                    Error::render_failed(format!(
                        "the built-in `{}` bake has no file `{name}`",
                        pack.id
                    ))
                }),
            Source::Dir(dir) => {
                use std::io::Read;
                // A pack is untrusted: its index may only name files inside its folder.
                let path = crate::template::file_in_pack(dir, name, "views.json")?;
                let refused = |why: String| {
                    Error::render_failed(format!(
                        "cannot read baked view file {}: {why} (re-bake with `render-engine template bake <pack-dir>`)",
                        path.display()
                    ))
                };
                // Checked before opening: opening a FIFO would wait for a writer.
                let meta = std::fs::metadata(&path).map_err(|e| refused(e.to_string()))?;
                if !meta.is_file() {
                    return Err(refused("it is not a regular file".into()));
                }
                if meta.len() > max {
                    return Err(refused(format!("it is {} bytes, over {max}", meta.len())));
                }
                let mut bytes = Vec::with_capacity(meta.len() as usize);
                std::fs::File::open(&path)
                    .and_then(|f| f.take(max.saturating_add(1)).read_to_end(&mut bytes))
                    .map_err(|e| refused(e.to_string()))?;
                if bytes.len() as u64 > max {
                    return Err(refused(format!("it grew over {max} bytes while read")));
                }
                Ok(Cow::Owned(bytes))
            }
        }
    }

    fn still_table(&self, view: View) -> Result<Arc<ViewTable>> {
        let (_, cell) = self
            .stills
            .iter()
            .find(|(v, _)| *v == view)
            .ok_or_else(|| {
                Error::validation(
                    "outputs.stills",
                    format!("the view pack has no `{view}` view"),
                )
            })?;
        cell.get_or_init(|| {
            let entry = self.entry(view).expect("listed views have entries");
            let files = [entry.uv.as_str(), entry.shade.as_str()];
            self.decode(
                files,
                entry.indirect.as_deref(),
                entry.width,
                entry.height,
                1,
            )
            .map(|mut t| Arc::new(t.remove(0)))
            .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(Error::render_failed)
    }

    fn turntable_tables(&self) -> Result<Arc<Vec<ViewTable>>> {
        self.turntable
            .get_or_init(|| {
                let t = &self.index.turntable;
                self.decode(
                    [&t.uv, &t.shade],
                    t.indirect.as_deref(),
                    t.width,
                    t.height,
                    t.frames,
                )
                .map(Arc::new)
                .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(Error::render_failed)
    }

    /// Decodes a UV/shade PNG pair (and the indirect share PNG, when the bake has one)
    /// holding `frames` views stacked top to bottom.
    fn decode(
        &self,
        [uv_name, shade_name]: [&str; 2],
        indirect_name: Option<&str>,
        width: u32,
        height: u32,
        frames: usize,
    ) -> Result<Vec<ViewTable>> {
        let (uv_bytes, shade_bytes) = (self.read(uv_name)?, self.read(shade_name)?);
        // The guarded decoder of every untrusted image (limits, panics caught): a pack
        // folder is as hostile as a design.
        let limits = DecodeLimits::default();
        let png = [DesignFormat::Png];
        let (uv, shade) = rayon::join(
            || decode_untrusted_raster(&uv_bytes, "baked view file", &png, &limits),
            || decode_untrusted_raster(&shade_bytes, "baked view file", &png, &limits),
        );
        let bad = |name: &str, what: String| {
            Error::render_failed(format!("baked view file `{name}`: {what}"))
        };
        let uv = match uv.map_err(|e| bad(uv_name, e.to_string()))? {
            DynamicImage::ImageLumaA16(img) => img,
            other => {
                return Err(bad(
                    uv_name,
                    format!("expected 16-bit grey+alpha, found {:?}", other.color()),
                ))
            }
        };
        // 16-bit RGB(A), or 8-bit RGB(A) in a compact bake (widened to 16 bits); the alpha
        // channel, when there is one, is the backdrop shadow.
        let widen = |raw: &[u8]| raw.iter().map(|&v| v as u16 * 257).collect::<Vec<u16>>();
        let shade = shade.map_err(|e| bad(shade_name, e.to_string()))?;
        let shade_dims = (shade.width(), shade.height());
        let (shade, channels): (Vec<u16>, usize) = match shade {
            DynamicImage::ImageRgb16(img) => (img.into_raw(), 3),
            DynamicImage::ImageRgba16(img) => (img.into_raw(), 4),
            DynamicImage::ImageRgb8(img) => (widen(img.as_raw()), 3),
            DynamicImage::ImageRgba8(img) => (widen(img.as_raw()), 4),
            other => {
                return Err(bad(
                    shade_name,
                    format!(
                        "expected 8- or 16-bit RGB or RGBA, found {:?}",
                        other.color()
                    ),
                ))
            }
        };
        let expected = (width, height * frames as u32);
        let indirect = match indirect_name {
            None => None,
            Some(name) => {
                let bytes = self.read(name)?;
                match decode_untrusted_raster(&bytes, "baked view file", &png, &limits)
                    .map_err(|e| bad(name, e.to_string()))?
                {
                    DynamicImage::ImageLuma8(img) => Some((name, img)),
                    other => {
                        return Err(bad(
                            name,
                            format!("expected 8-bit grey, found {:?}", other.color()),
                        ))
                    }
                }
            }
        };
        let mut sizes = vec![(uv_name, uv.dimensions()), (shade_name, shade_dims)];
        sizes.extend(
            indirect
                .as_ref()
                .map(|(name, img)| (*name, img.dimensions())),
        );
        for (name, dims) in sizes {
            if dims != expected {
                return Err(bad(
                    name,
                    format!(
                        "is {}x{}, views.json says {}x{}",
                        dims.0, dims.1, expected.0, expected.1
                    ),
                ));
            }
        }
        let (aw, ah) = self.atlas_size();
        if aw < 2 || ah < 2 || aw > u16::MAX as u32 || ah > u16::MAX as u32 {
            return Err(Error::render_failed(format!(
                "views.json: the atlas is {aw}x{ah} px; each side must be 2 to {} px",
                u16::MAX
            )));
        }
        let dscale = self.index.encoding.diffuse_scale * DIFFUSE_ONE;
        let sscale = self.index.encoding.specular_scale * 65535.0;
        // The stored light channels, 0..=65535, back to linear light over its scale.
        let light = match self.index.encoding.shade_curve {
            ShadeCurve::Linear => |v: u16| v as f32 / 65535.0,
            ShadeCurve::Sqrt => |v: u16| {
                let s = v as f32 / 65535.0;
                s * s
            },
        };
        let uv = uv.as_raw();
        let indirect = indirect.map(|(_, img)| img.into_raw());
        let has_shadow = channels == 4;
        let per_frame = (width * height) as usize;
        let ppi = self.pixels_per_inch;
        Ok((0..frames)
            .into_par_iter()
            .map(|f| {
                let mut px: Vec<Px> = (f * per_frame..(f + 1) * per_frame)
                    .map(|i| {
                        let s = &shade[channels * i..channels * (i + 1)];
                        let shadow = if has_shadow {
                            ((s[3] as u32 * 255 + 32767) / 65535) as u8
                        } else {
                            255
                        };
                        let cov = s[0];
                        if cov == 0 {
                            return Px {
                                shadow,
                                ..Px::default()
                            };
                        }
                        let u = uv[2 * i] as f32 / 65535.0;
                        let v = uv[2 * i + 1] as f32 / 65535.0;
                        let x = (u * aw as f32 - 0.5).clamp(0.0, aw as f32 - 1.0 - 1.0 / 256.0);
                        let y =
                            ((1.0 - v) * ah as f32 - 0.5).clamp(0.0, ah as f32 - 1.0 - 1.0 / 256.0);
                        let (x0, y0) = (x.floor(), y.floor());
                        let diffuse = (light(s[1]) * dscale).round().min(u16::MAX as f32) as u16;
                        let share = indirect.as_ref().map_or(0, |v| v[i] as u32);
                        Px {
                            x: x0 as u16,
                            y: y0 as u16,
                            fx: ((x - x0) * 256.0).round().min(255.0) as u8,
                            fy: ((y - y0) * 256.0).round().min(255.0) as u8,
                            cov: ((cov as u32 * 255 + 32767) / 65535).max(1) as u8,
                            diffuse,
                            indirect: ((diffuse as u32 * share + 127) / 255) as u16,
                            specular: (light(s[2]) * sscale).round().min(u16::MAX as f32) as u16,
                            shadow,
                        }
                    })
                    .collect();
                knit_view(&mut px, width as usize, ppi);
                ViewTable {
                    width,
                    height,
                    has_shadow,
                    px,
                }
            })
            .collect())
    }
}

/// The atlas scale assumed when a pack does not say (the built-in packs' 40 px/in).
const DEFAULT_PIXELS_PER_INCH: f32 = 40.0;

/// `atlas.pixels_per_inch` from an embedded pack's `template.json`.
fn embedded_pixels_per_inch(manifest: &str) -> Option<f32> {
    let v: serde_json::Value = serde_json::from_str(manifest).ok()?;
    let ppi = v.get("atlas")?.get("pixels_per_inch")?.as_f64()?;
    (ppi >= 1.0).then_some(ppi as f32)
}

/// Multiplies a decoded view's light by the jersey knit each pixel sees (see [`knit`]).
fn knit_view(px: &mut [Px], width: usize, pixels_per_inch: f32) {
    let pos: Vec<Option<(f32, f32)>> = px
        .iter()
        .map(|p| {
            (p.cov > 0).then(|| {
                (
                    p.x as f32 + p.fx as f32 / 256.0,
                    p.y as f32 + p.fy as f32 / 256.0,
                )
            })
        })
        .collect();
    knit::apply_to_view(
        width,
        px.len(),
        pixels_per_inch,
        |i| pos[i],
        |i, k, sheen| {
            px[i].diffuse = knit::scaled(px[i].diffuse, k);
            px[i].indirect = knit::scaled(px[i].indirect, k).min(px[i].diffuse);
            px[i].specular = knit::scaled(px[i].specular, sheen);
        },
    );
}

/// The in-process renderer over a [`BakedViews`] pack: the embedded default.
#[derive(Debug, Clone)]
pub struct BakedRenderer {
    views: Arc<BakedViews>,
}

impl BakedRenderer {
    /// A renderer over the built-in classic-tee views.
    ///
    /// # Errors
    ///
    /// As [`BakedViews::builtin`].
    pub fn builtin() -> Result<BakedRenderer> {
        Ok(BakedRenderer::new(BakedViews::builtin()?))
    }

    /// A renderer over any pack (for example one loaded with [`BakedViews::load`]).
    pub fn new(views: Arc<BakedViews>) -> BakedRenderer {
        BakedRenderer { views }
    }

    /// The pack this renderer draws from.
    pub fn views(&self) -> &BakedViews {
        &self.views
    }

    /// Decodes every view now instead of on first use (the first render is then as fast
    /// as the others).
    ///
    /// # Errors
    ///
    /// `E_RENDER_FAILED` when a baked file cannot be read or decoded.
    pub fn preload(&self) -> Result<()> {
        for view in self.views.views() {
            self.views.still_table(view)?;
        }
        self.views.turntable_tables().map(|_| ())
    }
}

impl Renderer for BakedRenderer {
    fn name(&self) -> &str {
        "baked"
    }

    fn settings(&self) -> String {
        // The pack's index: its template, sizes, frames, fps and files.
        format!("{:?}", self.views.index)
    }

    fn render(&self, request: &RenderRequest<'_>) -> Result<RenderOutput> {
        let views = self.views_for(request.template)?;
        render_views(&views, request)
    }

    fn check_template(&self, template: &TemplatePack) -> Result<()> {
        self.views_for(Some(template)).map(|_| ())
    }
}

impl BakedRenderer {
    /// The views a request for `template` is drawn with: the pack's own bake when it was
    /// loaded from a folder or is another garment than this renderer's views, else this
    /// renderer's views.
    fn views_for(&self, template: Option<&TemplatePack>) -> Result<Arc<BakedViews>> {
        match template {
            Some(pack) if pack.dir().is_some() || pack.id() != self.views.template() => {
                pack.baked_views()
            }
            _ => Ok(self.views.clone()),
        }
    }
}

/// Renders `request` from `views`.
fn render_views(views: &BakedViews, request: &RenderRequest<'_>) -> Result<RenderOutput> {
    let expected = views.atlas_size();
    if request.atlas.dimensions() != expected {
        let (w, h) = request.atlas.dimensions();
        return Err(Error::validation(
            "atlas",
            format!(
                "the atlas is {w}x{h} px; the `{}` views need the template's {}x{} atlas",
                views.template(),
                expected.0,
                expected.1
            ),
        ));
    }
    let total = request.outputs.stills.len()
        + if request.outputs.turntable {
            views.turntable_frames()
        } else {
            0
        };
    let done = AtomicUsize::new(0);
    let tick = || {
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(progress) = request.progress {
            progress(RenderProgress {
                done: n,
                total,
                eta: None,
            });
        }
    };

    let stills_tables = request
        .outputs
        .stills
        .iter()
        .map(|v| views.still_table(*v).map(|t| (*v, t)))
        .collect::<Result<Vec<_>>>()?;
    let turntable_tables = if request.outputs.turntable {
        Some(views.turntable_tables()?)
    } else {
        None
    };
    if total == 0 {
        return Ok(RenderOutput {
            fps: views.fps(),
            ..RenderOutput::default()
        });
    }

    let shader = Shader::new(
        request.atlas,
        request.color,
        request.background.unwrap_or(views.background),
        &views.calibration()?,
        views.finish_table()?,
        views.pixels_per_inch,
    );
    let mut stills = Vec::with_capacity(stills_tables.len());
    for (view, table) in stills_tables {
        request.check_cancelled()?;
        stills.push(Still {
            view,
            image: shader.render(&table, true),
        });
        tick();
    }
    let turntable = match turntable_tables {
        Some(tables) => tables
            .par_iter()
            .map(|t| {
                request.check_cancelled()?;
                let img = shader.render(t, false);
                tick();
                Ok(img)
            })
            .collect::<Result<Vec<_>>>()?,
        None => Vec::new(),
    };
    Ok(RenderOutput {
        stills,
        turntable,
        fps: views.fps(),
    })
}

/// The atlas prepared for lookups: calibrated linear albedo, composited over the garment
/// colour, kept only for the region that holds the print.
///
/// Most of an atlas is bare garment (transparent, or opaque in exactly the garment's
/// colour), whose albedo is the garment's own. Only the print's bounding box, widened by
/// the ink-edge fray and the bilinear footprint, is converted per request; every lookup
/// outside it is the garment albedo. The output equals converting the whole atlas.
struct Shader {
    /// The print's region of the atlas.
    ink: InkRegion,
    /// The background in linear light (65535 = 1.0) under each shadow factor 0..=255.
    background_lin: Vec<[u32; 3]>,
    /// The same in sRGB, for pixels the garment does not cover.
    background: Vec<[u8; 3]>,
    /// Lit value `>> 2` to finished linear colour (exposure and tone), 65535 = 1.0.
    finish: Arc<Vec<u16>>,
    /// The bare garment's albedo (where the atlas is transparent).
    garment: [u16; 3],
    /// How much of the bake's bounced light this garment's colour keeps, per channel
    /// (65536 = all of it: [`bounce_kept`]).
    bounce: [u32; 3],
}

/// The share of light bounced off the garment that reaches the garment again. Measured on
/// the hoodie's front (Blender, its fabric at albedo 0.5 against 1): 0.44 where over a
/// quarter of the light is bounced, 0.50 where over 0.4 (deep in the hood), 0.18 where
/// 0.1 to 0.25.
const REBOUNCE: f32 = 0.45;

/// How much of the light a white garment (albedo 1) bounced onto itself a garment of
/// albedo `a` keeps: each bounce off its walls multiplies the light by `a`, and of what
/// leaves a wall [`REBOUNCE`] reaches the garment again, so the bounced light is
/// `a (1 - r) / (1 - a r)` of the white garment's (1 for white, about `0.55 a` for dark
/// colours). Returns it in 1/65536.
fn bounce_kept(a: u16) -> u32 {
    let a = a as f32 / 65535.0;
    (a * (1.0 - REBOUNCE) / (1.0 - a * REBOUNCE) * 65536.0).round() as u32
}

/// A rectangle of the atlas with its texels' albedo (`[r, g, b, 0]`, linear, 65535 = 1.0).
/// Texels outside it are bare garment; its outermost ring is bare garment too (unless it
/// is the atlas's own edge), so a 2 x 2 lookup block that is not wholly inside it reads
/// only bare garment.
struct InkRegion {
    x0: u16,
    y0: u16,
    width: usize,
    height: usize,
    albedo: Vec<[u16; 4]>,
}

/// How far the converted region reaches past the outermost ink texel: one texel for the
/// ink-edge fray ([`knit::soften_ink_edges`] changes bare texels next to ink) and one for
/// the bilinear block.
const INK_REGION_MARGIN: usize = 2;

impl InkRegion {
    /// Finds the texels of `atlas` that are not bare garment (bare: transparent, or of
    /// exactly `garment_srgb`, which converts to the garment albedo at any alpha) and
    /// returns their bounding box widened by [`INK_REGION_MARGIN`], clipped to the atlas,
    /// as `(x0, y0, width, height)`; `None` when every texel is bare.
    fn bounds(atlas: &RgbaImage, garment_srgb: [u8; 3]) -> Option<(usize, usize, usize, usize)> {
        let (w, h) = (atlas.width() as usize, atlas.height() as usize);
        let [r, g, b] = garment_srgb;
        let is_ink = |p: &[u8]| p[3] != 0 && (p[0] != r || p[1] != g || p[2] != b);
        let spans: Vec<(usize, usize, usize)> = atlas
            .as_raw()
            .par_chunks(4 * w)
            .enumerate()
            .filter_map(|(y, row)| {
                let first = row.chunks_exact(4).position(is_ink)?;
                let last = row.chunks_exact(4).rposition(is_ink)?;
                Some((y, first, last))
            })
            .collect();
        let (first_row, last_row) = (spans.first()?.0, spans.last()?.0);
        let left = spans.iter().map(|s| s.1).min()?;
        let right = spans.iter().map(|s| s.2).max()?;
        let x0 = left.saturating_sub(INK_REGION_MARGIN);
        let y0 = first_row.saturating_sub(INK_REGION_MARGIN);
        let x1 = (right + INK_REGION_MARGIN + 1).min(w);
        let y1 = (last_row + INK_REGION_MARGIN + 1).min(h);
        Some((x0, y0, x1 - x0, y1 - y0))
    }

    /// The region of `atlas` holding ink, converted to albedo with `lin` over the garment
    /// albedo `garment`, its edges frayed by the knit.
    fn new(
        atlas: &RgbaImage,
        garment_srgb: [u8; 3],
        garment: [u16; 3],
        lin: &[u16; 256],
        pixels_per_inch: f32,
    ) -> InkRegion {
        let Some((x0, y0, width, height)) = InkRegion::bounds(atlas, garment_srgb) else {
            return InkRegion {
                x0: 0,
                y0: 0,
                width: 0,
                height: 0,
                albedo: Vec::new(),
            };
        };
        let aw = atlas.width() as usize;
        let raw = atlas.as_raw();
        let g = garment.map(u32::from);
        let mut albedo = vec![[0u16; 4]; width * height];
        albedo
            .par_chunks_mut(width)
            .enumerate()
            .for_each(|(row, out)| {
                let start = (y0 + row) * aw + x0;
                for (o, p) in out
                    .iter_mut()
                    .zip(raw[4 * start..4 * (start + width)].chunks_exact(4))
                {
                    let a = p[3] as u32;
                    *o = match a {
                        0 => [garment[0], garment[1], garment[2], 0],
                        255 => [
                            lin[p[0] as usize],
                            lin[p[1] as usize],
                            lin[p[2] as usize],
                            0,
                        ],
                        _ => {
                            let mix = |c: u8, g: u32| {
                                ((lin[c as usize] as u32 * a + g * (255 - a)) / 255) as u16
                            };
                            [mix(p[0], g[0]), mix(p[1], g[1]), mix(p[2], g[2]), 0]
                        }
                    };
                }
            });
        knit::soften_ink_edges(
            &mut albedo,
            width,
            height,
            (x0, y0),
            pixels_per_inch,
            garment,
            |i| raw[4 * ((y0 + i / width) * aw + x0 + i % width) + 3],
        );
        InkRegion {
            x0: x0 as u16,
            y0: y0 as u16,
            width,
            height,
            albedo,
        }
    }
}

impl Shader {
    fn new(
        atlas: &RgbaImage,
        color: GarmentColor,
        background: [u8; 3],
        calibration: &ColorCalibration,
        finish: Arc<Vec<u16>>,
        pixels_per_inch: f32,
    ) -> Shader {
        // The background is not lit by the studio: it keeps its plain linear value.
        let plain = crate::color::srgb_to_linear_u16_table();
        let lin = &calibration.srgb_to_albedo_u16();
        let garment_srgb = color.to_array();
        let garment = garment_srgb.map(|c| lin[c as usize]);
        let ink = InkRegion::new(atlas, garment_srgb, garment, lin, pixels_per_inch);
        let srgb = linear_u16_to_srgb_table();
        let background_lin: Vec<[u32; 3]> = (0..=255u32)
            .map(|shadow| background.map(|c| plain[c as usize] as u32 * shadow / 255))
            .collect();
        let background = background_lin
            .iter()
            .enumerate()
            .map(|(shadow, lit)| {
                if shadow == 255 {
                    // Unshadowed: the background exactly as given.
                    background
                } else {
                    lit.map(|c| srgb[(c >> 2) as usize])
                }
            })
            .collect();
        Shader {
            ink,
            background_lin,
            background,
            finish,
            garment,
            bounce: garment.map(bounce_kept),
        }
    }

    /// Renders one view; rows in parallel when `parallel` (frames are already parallel).
    fn render(&self, table: &ViewTable, parallel: bool) -> RgbaImage {
        let w = table.width as usize;
        let mut out = vec![0u8; w * table.height as usize * 4];
        let rows_per_job = 16;
        let job = |(j, chunk): (usize, &mut [u8])| {
            let first = j * rows_per_job * w;
            for (k, dst) in chunk.chunks_exact_mut(4).enumerate() {
                self.shade(&table.px[first + k], dst);
            }
        };
        if parallel {
            out.par_chunks_mut(rows_per_job * w * 4)
                .enumerate()
                .for_each(job);
        } else {
            out.chunks_mut(rows_per_job * w * 4)
                .enumerate()
                .for_each(job);
        }
        RgbaImage::from_raw(table.width, table.height, out).expect("buffer matches size")
    }

    /// The bilinearly filtered albedo at `px` (linear, 65535 = 1.0).
    #[inline(always)]
    fn albedo(&self, px: &Px) -> [u32; 3] {
        let ink = &self.ink;
        let (dx, dy) = (
            px.x.wrapping_sub(ink.x0) as usize,
            px.y.wrapping_sub(ink.y0) as usize,
        );
        // The whole 2 x 2 block must lie inside the region; any other block is bare.
        if dx + 1 >= ink.width || dy + 1 >= ink.height {
            return self.garment.map(u32::from);
        }
        let i = dy * ink.width + dx;
        let (fx, fy) = (px.fx as u32, px.fy as u32);
        let w00 = (256 - fx) * (256 - fy);
        let w10 = fx * (256 - fy);
        let w01 = (256 - fx) * fy;
        let w11 = fx * fy;
        let (a, b) = (ink.albedo[i], ink.albedo[i + 1]);
        let (c, d) = (ink.albedo[i + ink.width], ink.albedo[i + ink.width + 1]);
        std::array::from_fn(|ch| {
            (a[ch] as u32 * w00 + b[ch] as u32 * w10 + c[ch] as u32 * w01 + d[ch] as u32 * w11)
                >> 16
        })
    }

    #[inline(always)]
    fn shade(&self, px: &Px, dst: &mut [u8]) {
        if px.cov == 0 {
            dst[..3].copy_from_slice(&self.background[px.shadow as usize]);
            dst[3] = 255;
            return;
        }
        let srgb = linear_u16_to_srgb_table();
        let albedo = self.albedo(px);
        let cov = px.cov as u32;
        let background = &self.background_lin[px.shadow as usize];
        let indirect = px.indirect as u32;
        let direct = px.diffuse as u32 - indirect;
        for ch in 0..3 {
            // The bounced light, as a garment of this colour bounces it.
            let light = direct + ((indirect * self.bounce[ch]) >> 16);
            let lit = ((albedo[ch] * light) >> DIFFUSE_SHIFT) + px.specular as u32;
            let mut lit = self.finish[((lit >> 2) as usize).min(FINISH_TABLE_LEN - 1)] as u32;
            if cov < 255 {
                lit = (lit * cov + background[ch] * (255 - cov)) / 255;
            }
            dst[ch] = srgb[(lit >> 2) as usize];
        }
        dst[3] = 255;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_tables_round_trip() {
        let lin = crate::color::srgb_to_linear_u16_table();
        let srgb = linear_u16_to_srgb_table();
        for c in 0..=255u8 {
            let back = srgb[(lin[c as usize] >> 2) as usize];
            assert!((back as i32 - c as i32).abs() <= 1, "{c} -> {back}");
        }
    }

    #[test]
    fn builtin_pack_lists_every_view() {
        let views = BakedViews::builtin().unwrap();
        assert_eq!(views.template(), "classic-tee");
        assert_eq!(views.views(), View::ALL.to_vec());
        assert!(views.turntable_frames() >= 24);
        assert_eq!(views.atlas_size(), (1800, 1640));
        let (w, h) = views.turntable_size();
        assert!(w % 2 == 0 && h % 2 == 0);
    }

    #[test]
    fn wrong_atlas_size_is_a_validation_error() {
        let r = BakedRenderer::builtin().unwrap();
        let atlas = RgbaImage::new(100, 100);
        let err = r
            .render(&RenderRequest::new(&atlas, GarmentColor::WHITE))
            .unwrap_err();
        assert_eq!(err.code(), "E_VALIDATION");
        assert!(err.to_string().contains("1800x1640"), "{err}");
    }

    #[test]
    fn a_cancelled_request_stops_with_e_cancelled() {
        let r = BakedRenderer::builtin().unwrap();
        let atlas = RgbaImage::new(1800, 1640);
        let cancel = crate::CancelToken::new();
        cancel.cancel();
        let err = r
            .render(&RenderRequest::new(&atlas, GarmentColor::WHITE).with_cancel(cancel))
            .unwrap_err();
        assert_eq!(err.code(), "E_CANCELLED");
    }

    /// The shader a classic-tee render of `atlas` in `color` uses.
    fn classic_tee_shader(atlas: &RgbaImage, color: GarmentColor) -> Shader {
        let views = BakedViews::builtin().unwrap();
        Shader::new(
            atlas,
            color,
            [240, 240, 240],
            &views.calibration().unwrap(),
            views.finish_table().unwrap(),
            views.pixels_per_inch,
        )
    }

    /// The whole atlas converted and frayed, as the renderer did before it kept only the
    /// print's region (classic-tee's calibration): the reference the region must match.
    fn whole_atlas_albedo(atlas: &RgbaImage, garment: [u16; 3]) -> Vec<[u16; 4]> {
        let views = BakedViews::builtin().unwrap();
        let lin = views.calibration().unwrap().srgb_to_albedo_u16();
        let mut albedo: Vec<[u16; 4]> = atlas
            .pixels()
            .map(|p| {
                let a = p[3] as u32;
                let c = |ch: usize| {
                    ((lin[p[ch] as usize] as u32 * a + garment[ch] as u32 * (255 - a)) / 255) as u16
                };
                [c(0), c(1), c(2), 0]
            })
            .collect();
        let (w, h) = (atlas.width() as usize, atlas.height() as usize);
        let raw = atlas.as_raw();
        let ppi = views.pixels_per_inch;
        knit::soften_ink_edges(&mut albedo, w, h, (0, 0), ppi, garment, |i| raw[4 * i + 3]);
        albedo
    }

    /// The bilinear lookup of `px` in a whole-atlas `reference` `width` texels wide.
    fn reference_lookup(reference: &[[u16; 4]], width: usize, px: &Px) -> [u32; 3] {
        let i = px.y as usize * width + px.x as usize;
        let [a, b, c, d] = [i, i + 1, i + width, i + width + 1].map(|j| reference[j]);
        let (fx, fy) = (px.fx as u32, px.fy as u32);
        std::array::from_fn(|ch| {
            (a[ch] as u32 * (256 - fx) * (256 - fy)
                + b[ch] as u32 * fx * (256 - fy)
                + c[ch] as u32 * (256 - fx) * fy
                + d[ch] as u32 * fx * fy)
                >> 16
        })
    }

    #[test]
    fn the_print_region_looks_up_exactly_what_the_whole_atlas_would() {
        let color = GarmentColor::parse("#1f2937").unwrap();
        let fabric = color.to_array();
        let (w, h) = (64u32, 48u32);
        // Ink in the middle, at the left edge and at the bottom edge of the atlas.
        for (ink_x, ink_y) in [(24..40, 10..30), (0..9, 5..20), (50..64, 30..48)] {
            let atlas = RgbaImage::from_fn(w, h, |x, y| {
                let seam = x == 20 || y == 3;
                let inside = ink_x.contains(&x) && ink_y.contains(&y);
                let rim = ink_x.contains(&(x + 1)) || ink_x.contains(&x.saturating_sub(1));
                match (seam, inside) {
                    (true, _) => image::Rgba([0, 0, 0, 0]),
                    (false, true) if x % 7 == 3 => image::Rgba([20, 200, 90, 128]),
                    (false, true) => image::Rgba([230, 40, 30, 255]),
                    // Anti-aliased fabric colour and a fabric-coloured texel at half alpha.
                    (false, false) if rim && y == 40 => {
                        image::Rgba([fabric[0], fabric[1], fabric[2], 90])
                    }
                    (false, false) => image::Rgba([fabric[0], fabric[1], fabric[2], 255]),
                }
            });
            let shader = classic_tee_shader(&atlas, color);
            assert!(shader.ink.width * shader.ink.height < (w * h) as usize / 2);
            let reference = whole_atlas_albedo(&atlas, shader.garment);
            for y in 0..h - 1 {
                for x in 0..w - 1 {
                    for (fx, fy) in [(0u8, 0u8), (255, 0), (0, 255), (128, 77)] {
                        let px = Px {
                            x: x as u16,
                            y: y as u16,
                            fx,
                            fy,
                            cov: 255,
                            ..Px::default()
                        };
                        let expected = reference_lookup(&reference, w as usize, &px);
                        assert_eq!(shader.albedo(&px), expected, "({x}, {y}) {fx} {fy}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_composed_atlas_renders_as_if_converted_whole() {
        let design = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/designs/sunset-badge.png"
        ))
        .unwrap();
        let color = GarmentColor::parse("#ffffff").unwrap();
        let options = crate::ComposeOptions::new(crate::Preset::ChestLarge).with_color(color);
        let atlas = crate::compose(&design, &options).unwrap().atlas;
        let shader = classic_tee_shader(&atlas, color);
        // The print is a small part of the atlas.
        let share = (shader.ink.width * shader.ink.height) as f64 / atlas.len() as f64 * 4.0;
        assert!(share > 0.01 && share < 0.25, "{share}");
        let reference = whole_atlas_albedo(&atlas, shader.garment);
        let table = BakedViews::builtin()
            .unwrap()
            .still_table(View::Front)
            .unwrap();
        let mut printed = 0;
        for px in table.px.iter().filter(|p| p.cov > 0) {
            let expected = reference_lookup(&reference, atlas.width() as usize, px);
            let got = shader.albedo(px);
            assert_eq!(got, expected, "{px:?}");
            printed += usize::from(got != shader.garment.map(u32::from));
        }
        assert!(printed > 10_000, "{printed} front pixels show the print");
    }

    #[test]
    fn a_bare_atlas_has_no_print_region() {
        let color = GarmentColor::parse("#b91c1c").unwrap();
        let [r, g, b] = color.to_array();
        let atlas = RgbaImage::from_fn(32, 32, |x, _| {
            image::Rgba([r, g, b, if x < 4 { 0 } else { 255 }])
        });
        let shader = classic_tee_shader(&atlas, color);
        assert_eq!((shader.ink.width, shader.ink.height), (0, 0));
        let px = Px {
            x: 10,
            y: 10,
            fx: 100,
            fy: 100,
            cov: 255,
            ..Px::default()
        };
        assert_eq!(shader.albedo(&px), shader.garment.map(u32::from));
    }

    #[test]
    fn bounced_light_takes_the_garment_colour() {
        // The same light, all direct or half bounced: a white garment (albedo 1) shows no
        // difference; a navy one loses most of the bounced half, most in its darkest
        // channel.
        let shade = |hex: &str, indirect: u16| {
            let color = GarmentColor::parse(hex).unwrap();
            let shader = classic_tee_shader(&RgbaImage::new(32, 32), color);
            let px = Px {
                x: 10,
                y: 10,
                cov: 255,
                diffuse: DIFFUSE_ONE as u16 / 2,
                indirect,
                ..Px::default()
            };
            let mut out = [0u8; 4];
            shader.shade(&px, &mut out);
            [out[0], out[1], out[2]]
        };
        let half = DIFFUSE_ONE as u16 / 4;
        assert_eq!(shade("#ffffff", 0), shade("#ffffff", half));
        // White keeps all of it, black none, a dark colour about 0.55 of its albedo.
        assert_eq!((bounce_kept(65535), bounce_kept(0)), (65536, 0));
        let dark = bounce_kept(2000) as f32 / (2000.0 / 65535.0 * 65536.0);
        assert!((0.55..0.57).contains(&dark), "{dark}");
        let (direct, bounced) = (shade("#1f2937", 0), shade("#1f2937", half));
        for ch in 0..3 {
            assert!(bounced[ch] < direct[ch], "{direct:?} vs {bounced:?}");
        }
        // Navy's blue bounces most, so it keeps the most of the bounced half.
        let kept = |ch: usize| bounced[ch] as f32 / direct[ch] as f32;
        assert!(kept(2) > kept(0), "{direct:?} vs {bounced:?}");
    }

    #[test]
    fn missing_pack_dir_is_not_found() {
        let err = BakedViews::load("/nonexistent/baked").unwrap_err();
        assert_eq!(err.code(), "E_NOT_FOUND");
    }

    /// A stored drape of `n` vertices at `value` each, in the layout build_garment.py writes.
    fn drape_bytes(n: u32, value: f32) -> Vec<u8> {
        let mut bytes = DRAPE_MAGIC.to_vec();
        bytes.extend(b"0123456789abcdef0123456789abcdef");
        bytes.extend(n.to_le_bytes());
        for _ in 0..3 * n {
            bytes.extend(value.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn a_stored_drape_is_checked_before_blender_gets_it() {
        assert_eq!(check_drape(&drape_bytes(3, 0.25)), Ok(()));
        let mut bad_magic = drape_bytes(3, 0.25);
        bad_magic[0] = b'X';
        let mut bad_key = drape_bytes(3, 0.25);
        bad_key[20] = b'/';
        let mut truncated = drape_bytes(3, 0.25);
        truncated.pop();
        let mut inflated = drape_bytes(3, 0.25);
        inflated[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        let cases: [(&str, Vec<u8>, &str); 8] = [
            ("empty", vec![], "not a drape file"),
            ("bad magic", bad_magic, "not a drape file"),
            ("bad key", bad_key, "32 hex digits"),
            ("no vertices", drape_bytes(0, 0.25), "holds 0 vertices"),
            ("a huge count", inflated, "holds 4294967295 vertices"),
            ("truncated", truncated, "bytes; 3 vertices take"),
            (
                "not a number",
                drape_bytes(3, f32::NAN),
                "not a finite number",
            ),
            ("far away", drape_bytes(3, 11.0), "within 10 m"),
        ];
        for (case, bytes, why) in cases {
            let err = check_drape(&bytes).unwrap_err();
            assert!(err.contains(why), "{case}: {err}");
        }
    }

    #[test]
    fn every_built_in_bake_stores_a_well_formed_drape() {
        for pack in crate::template::builtin::embedded_packs() {
            let views = BakedViews::embedded(pack).unwrap();
            let drape = views.drape().unwrap().expect("a stored drape");
            assert!(drape.len() > DRAPE_HEADER_BYTES + 12 * 1000, "{}", pack.id);
        }
    }
}
