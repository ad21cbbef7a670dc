//! Template packs: the garment's flat pattern, its atlas layout and its print areas.
//!
//! A template pack is a folder holding a versioned `template.json` ([`Manifest`]). Its
//! heart is the garment's **pattern**: the front panel, back panel and sleeves as polygons
//! in inches, each with landmarks (centre line, collar point, hem). The **atlas** is that
//! pattern laid out in one image at `pixels_per_inch`; the 3D garment is built from the
//! same polygons, so atlas pixels and garment surface agree.
//!
//! Placement presets are defined physically relative to the landmarks ([`PresetSpec`]);
//! [`TemplatePack::preset_area`] turns one into a [`PrintArea`] in atlas inches, and
//! [`TemplatePack::custom_area`] does the same for a shop's own placement.
//!
//! ```
//! use render_engine::template::TemplatePack;
//! use render_engine::Preset;
//!
//! let pack = TemplatePack::builtin();
//! assert_eq!(pack.id(), "classic-tee");
//! let area = pack.preset_area(Preset::ChestLarge);
//! assert_eq!((area.width_in, area.height_in), (12.0, 12.0));
//! ```

pub(crate) mod builtin;
mod geometry;
mod manifest;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

pub use manifest::{Alignment, Anchor, AtlasSpec, Manifest, Panel, PresetSpec, FORMAT_VERSION};

use crate::error::{Error, FieldError, Result};
use crate::render::BakedViews;
use crate::Preset;
use geometry::Rect;

/// The id of the built-in pack.
pub const BUILTIN_ID: &str = "classic-tee";

/// The manifest's file name inside a pack folder.
pub const MANIFEST_FILE: &str = "template.json";

/// The folder inside a pack that holds its bake (`views.json` and the view PNGs the
/// baked renderer draws with).
pub const BAKE_DIR: &str = "baked";

/// The largest manifest read, in bytes.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// The largest atlas side accepted, in pixels.
const MAX_ATLAS_SIDE_PX: u32 = 16_384;

/// A validated template pack. Cheap to clone (the contents are shared).
#[derive(Debug, Clone)]
pub struct TemplatePack {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    manifest: Manifest,
    dir: Option<PathBuf>,
    /// The compiled-in pack this one is (built-in packs only).
    embedded: Option<&'static builtin::EmbeddedPack>,
    /// The pack's bake, once loaded (failures are not kept: a pack baked meanwhile loads).
    baked: OnceLock<Arc<BakedViews>>,
}

/// A print area: a rectangle on one panel, in atlas inches, with the alignment of the
/// design inside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrintArea {
    /// The panel the area is on.
    pub panel: String,
    /// Left edge, atlas inches.
    pub x_in: f64,
    /// Top edge, atlas inches.
    pub y_in: f64,
    /// Width in inches.
    pub width_in: f64,
    /// Height in inches.
    pub height_in: f64,
    /// Where the design sits in the area.
    pub align: Alignment,
}

impl PrintArea {
    fn rect(&self) -> Rect {
        Rect {
            x: self.x_in,
            y: self.y_in,
            w: self.width_in,
            h: self.height_in,
        }
    }
}

/// The path of a file a pack's manifest names, refused unless it stays inside the pack
/// folder `base`: the name must be relative, without `..` components, and once symlinks
/// are resolved the file must still lie inside the pack. A merchant's pack is untrusted
/// input: its manifest must not read files elsewhere on the machine.
///
/// Errors: `E_VALIDATION` on `field` saying why.
pub(crate) fn file_in_pack(base: &Path, name: &str, field: &str) -> Result<std::path::PathBuf> {
    use std::path::Component;
    let relative = Path::new(name);
    let refuse = |why: &str| {
        Error::validation(
            field,
            format!("`{name}` {why}; name a file inside the pack folder, relative to it"),
        )
    };
    if name.is_empty() {
        return Err(refuse("is empty"));
    }
    for component in relative.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err(refuse("leaves the pack (`..`)")),
            Component::RootDir | Component::Prefix(_) => return Err(refuse("is an absolute path")),
        }
    }
    let path = base.join(relative);
    // Symlinks: the resolved file must still be inside the resolved pack folder. A file
    // that does not exist is left to the reader's own error.
    if let (Ok(root), Ok(resolved)) = (base.canonicalize(), path.canonicalize()) {
        if !resolved.starts_with(&root) {
            return Err(refuse("leads outside the pack through a symbolic link"));
        }
    }
    Ok(path)
}

/// `E_VALIDATION` on `templates[index]` when `pack` has the id of one of `earlier`.
pub(crate) fn check_unique(
    earlier: &[TemplatePack],
    pack: &TemplatePack,
    index: usize,
) -> Result<()> {
    match earlier.iter().position(|p| p.id() == pack.id()) {
        None => Ok(()),
        Some(j) => Err(Error::validation(
            format!("templates[{index}]"),
            format!(
                "the pack `{}` has the id `{}` of templates[{j}] already; give each pack its own id",
                pack.name(),
                pack.id()
            ),
        )),
    }
}

impl TemplatePack {
    /// The built-in `classic-tee` pack (a standard adult size-M crew-neck tee), embedded
    /// in the crate so it works with no configuration: the default garment.
    pub fn builtin() -> TemplatePack {
        TemplatePack::builtins()
            .into_iter()
            .next()
            .expect("classic-tee is always built in")
    }

    /// Every built-in pack of this build, `classic-tee` first. The other garments
    /// (`long-sleeve-tee`, `hoodie`) are built in when their crate features are on (they
    /// are by default).
    pub fn builtins() -> Vec<TemplatePack> {
        static BUILTINS: OnceLock<Vec<TemplatePack>> = OnceLock::new();
        BUILTINS
            .get_or_init(|| {
                builtin::embedded_packs()
                    .iter()
                    .map(|embedded| {
                        let manifest: Manifest = serde_json::from_str(embedded.manifest)
                            .expect("the embedded manifests are valid JSON (tested)");
                        let mut pack = TemplatePack::from_manifest(manifest, None)
                            .expect("the embedded manifests are valid packs (tested)");
                        Arc::get_mut(&mut pack.inner)
                            .expect("a pack just made is not shared")
                            .embedded = Some(embedded);
                        pack
                    })
                    .collect()
            })
            .clone()
    }

    /// The built-in pack with id `id`, if this build has it.
    pub fn builtin_named(id: &str) -> Option<TemplatePack> {
        TemplatePack::builtins().into_iter().find(|p| p.id() == id)
    }

    /// A pack by name: the id of a built-in pack (`classic-tee`, `long-sleeve-tee`,
    /// `hoodie`), or else the path of a pack folder, loaded with [`TemplatePack::load`].
    pub fn named(name_or_dir: &str) -> Result<TemplatePack> {
        if let Some(pack) = TemplatePack::builtin_named(name_or_dir) {
            return Ok(pack);
        }
        let path = Path::new(name_or_dir);
        if path.is_dir() {
            return TemplatePack::load(path);
        }
        let ids: Vec<String> = TemplatePack::builtins()
            .iter()
            .map(|p| p.id().to_string())
            .collect();
        Err(Error::validation(
            "template",
            format!(
                "`{name_or_dir}` is neither a built-in template ({}) nor a template pack folder",
                ids.join(", ")
            ),
        ))
    }

    /// Loads the packs named in `entries` (each a built-in id or a pack folder, as
    /// [`TemplatePack::named`] takes them), in order, for a configuration that offers
    /// several packs.
    ///
    /// Every failure is `E_VALIDATION` on `templates[i]` (the pack's own failing field,
    /// such as `template.json` or `panels[0].polygon`, goes into the message). Two packs
    /// with the same id are refused too, since one would silently replace the other.
    pub fn load_all<S: AsRef<str>>(entries: &[S]) -> Result<Vec<TemplatePack>> {
        let mut packs: Vec<TemplatePack> = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let entry = entry.as_ref();
            let field = format!("templates[{i}]");
            let pack = TemplatePack::named(entry).map_err(|e| match e {
                Error::Validation(fields) => Error::Validation(
                    fields
                        .into_iter()
                        .map(|f| {
                            let message = if f.field == "template" {
                                f.message
                            } else {
                                format!(
                                    "`{entry}` is not a valid template pack: {}: {}",
                                    f.field, f.message
                                )
                            };
                            crate::error::FieldError::new(field.clone(), message)
                        })
                        .collect(),
                ),
                other => other,
            })?;
            check_unique(&packs, &pack, i)?;
            packs.push(pack);
        }
        Ok(packs)
    }

    /// The built-in packs (each unless one of `packs` has its id and replaces it), then
    /// `packs`: what a configuration with these packs offers.
    pub fn with_builtin(packs: &[TemplatePack]) -> Vec<TemplatePack> {
        let mut all: Vec<TemplatePack> = TemplatePack::builtins()
            .into_iter()
            .filter(|b| !packs.iter().any(|p| p.id() == b.id()))
            .collect();
        all.extend(packs.iter().cloned());
        all
    }

    /// Loads and validates the pack in folder `dir` (which holds `template.json`).
    ///
    /// Broken packs are refused with `E_VALIDATION`, every problem named: a missing or
    /// unreadable manifest, malformed JSON, an unknown format version, panels that are
    /// degenerate, cross themselves or leave the atlas, landmarks off their panel, print
    /// areas outside their panel, and so on.
    pub fn load(dir: &Path) -> Result<TemplatePack> {
        let manifest_path = dir.join(MANIFEST_FILE);
        if !dir.is_dir() {
            return Err(Error::validation(
                "template",
                format!(
                    "{} is not a folder; a template pack is a folder holding {MANIFEST_FILE}",
                    dir.display()
                ),
            ));
        }
        let meta = std::fs::metadata(&manifest_path).map_err(|_| {
            Error::validation(
                MANIFEST_FILE,
                format!("missing file: {} does not exist", manifest_path.display()),
            )
        })?;
        if meta.len() > MAX_MANIFEST_BYTES {
            return Err(Error::validation(
                MANIFEST_FILE,
                format!(
                    "{} is {} bytes; a manifest may be at most {MAX_MANIFEST_BYTES} bytes",
                    manifest_path.display(),
                    meta.len()
                ),
            ));
        }
        let text = std::fs::read_to_string(&manifest_path).map_err(|e| {
            Error::validation(
                MANIFEST_FILE,
                format!("cannot read {}: {e}", manifest_path.display()),
            )
        })?;
        TemplatePack::from_json(&text, Some(dir.to_path_buf()))
    }

    /// Parses and validates a manifest given as JSON text. `dir` is the pack's folder, if
    /// it has one (renderers look for their own files there).
    pub fn from_json(json: &str, dir: Option<PathBuf>) -> Result<TemplatePack> {
        let manifest: Manifest = serde_json::from_str(json)
            .map_err(|e| Error::validation(MANIFEST_FILE, format!("not a valid manifest: {e}")))?;
        TemplatePack::from_manifest(manifest, dir)
    }

    /// Validates a manifest already in memory.
    pub fn from_manifest(manifest: Manifest, dir: Option<PathBuf>) -> Result<TemplatePack> {
        let problems = validate(&manifest);
        if !problems.is_empty() {
            return Err(Error::Validation(problems));
        }
        Ok(TemplatePack {
            inner: Arc::new(Inner {
                manifest,
                dir,
                embedded: None,
                baked: OnceLock::new(),
            }),
        })
    }

    /// The pack's id (`classic-tee`).
    pub fn id(&self) -> &str {
        &self.inner.manifest.id
    }

    /// The pack's human-readable name.
    pub fn name(&self) -> &str {
        &self.inner.manifest.name
    }

    /// The whole manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    /// The folder the pack was loaded from; `None` for the embedded built-in pack.
    pub fn dir(&self) -> Option<&Path> {
        self.inner.dir.as_deref()
    }

    /// The pack's bake: the views the baked renderer draws this garment with. The
    /// built-in pack's is embedded; a pack folder's is its `baked/` folder (made by
    /// `render-engine template bake <pack-dir>`). Loaded once and kept.
    ///
    /// # Errors
    ///
    /// `E_VALIDATION` on `template` when the pack has no bake (it still composes: print
    /// file and atlas) or its bake belongs to another garment or atlas size, saying how to
    /// bake it; `E_RENDER_FAILED` when the bake's index is malformed.
    pub fn baked_views(&self) -> Result<Arc<BakedViews>> {
        if let Some(views) = self.inner.baked.get() {
            return Ok(views.clone());
        }
        let views = match (self.inner.embedded, self.dir()) {
            (Some(embedded), _) if embedded.id == BUILTIN_ID => BakedViews::builtin()?,
            (Some(embedded), _) => Arc::new(BakedViews::embedded(embedded)?),
            (None, None) if self.id() == BUILTIN_ID => BakedViews::builtin()?,
            (None, None) => {
                return Err(Error::validation(
                    "template",
                    format!(
                        "the template pack `{}` was given without its folder, so it has no \
                         bake; load it from its folder (which holds {BAKE_DIR}/views.json) \
                         to render it",
                        self.id()
                    ),
                ))
            }
            (None, Some(dir)) => {
                let bake = dir.join(BAKE_DIR);
                if !bake.join("views.json").is_file() {
                    return Err(Error::validation(
                        "template",
                        format!(
                            "the template pack `{}` ({}) has no bake ({} is missing): it \
                             composes (print file, atlas) but cannot be rendered until it is \
                             baked; run `render-engine template bake {}`",
                            self.id(),
                            dir.display(),
                            bake.join("views.json").display(),
                            dir.display()
                        ),
                    ));
                }
                Arc::new(BakedViews::load(&bake)?.with_pixels_per_inch(self.pixels_per_inch()))
            }
        };
        if views.template() != self.id() || views.atlas_size() != self.atlas_size_px() {
            let (w, h) = views.atlas_size();
            let (pw, ph) = self.atlas_size_px();
            return Err(Error::validation(
                "template",
                format!(
                    "the bake of the template pack `{}` was made for `{}` with a {w}x{h} px \
                     atlas, but the pack is `{}` with a {pw}x{ph} px atlas; re-bake it with \
                     `render-engine template bake <pack-dir>`",
                    self.id(),
                    views.template(),
                    self.id()
                ),
            ));
        }
        Ok(self.inner.baked.get_or_init(|| views).clone())
    }

    /// The atlas size and resolution.
    pub fn atlas(&self) -> &AtlasSpec {
        &self.inner.manifest.atlas
    }

    /// The atlas size in pixels, `(width, height)`.
    pub fn atlas_size_px(&self) -> (u32, u32) {
        self.inner.manifest.atlas.size_px()
    }

    /// The atlas resolution in pixels per inch.
    pub fn pixels_per_inch(&self) -> u32 {
        self.inner.manifest.atlas.pixels_per_inch
    }

    /// The pattern's panels.
    pub fn panels(&self) -> &[Panel] {
        &self.inner.manifest.panels
    }

    /// The panel called `name`, if the pattern has one.
    pub fn panel(&self, name: &str) -> Option<&Panel> {
        self.panels().iter().find(|p| p.name == name)
    }

    /// The physical definition of a preset in this pack (its own, or the standard one).
    pub fn preset_spec(&self, preset: Preset) -> PresetSpec {
        self.inner
            .manifest
            .presets
            .get(preset.as_str())
            .cloned()
            .unwrap_or_else(|| PresetSpec::standard(preset))
    }

    /// The print area of a preset, in atlas inches. Validated at load time: it lies
    /// inside its panel.
    pub fn preset_area(&self, preset: Preset) -> PrintArea {
        let spec = self.preset_spec(preset);
        let panel = self
            .panel(&spec.panel)
            .expect("validated: preset panels exist");
        spec_area(&spec, panel)
    }

    /// A shop's own print area on `panel`: `x_in`, `y_in` place the area's top-left corner
    /// relative to the panel's collar point (x to the right of the centre line, y below
    /// the collar point), `width_in` x `height_in` is its size.
    ///
    /// Refused with `E_VALIDATION` when the panel does not exist, the size is not
    /// positive, or the area leaves the panel.
    pub fn custom_area(
        &self,
        panel: &str,
        x_in: f64,
        y_in: f64,
        width_in: f64,
        height_in: f64,
        align: Alignment,
    ) -> Result<PrintArea> {
        let Some(p) = self.panel(panel) else {
            let names: Vec<_> = self.panels().iter().map(|p| p.name.as_str()).collect();
            return Err(Error::validation(
                "placement.panel",
                format!(
                    "template `{}` has no panel `{panel}`; its panels are {}",
                    self.id(),
                    names.join(", ")
                ),
            ));
        };
        let finite = [x_in, y_in, width_in, height_in]
            .iter()
            .all(|v| v.is_finite());
        if !finite || width_in <= 0.0 || height_in <= 0.0 {
            return Err(Error::validation(
                "placement",
                format!("a print area needs finite coordinates and a positive size; got {width_in} x {height_in} in at ({x_in}, {y_in})"),
            ));
        }
        let area = PrintArea {
            panel: panel.to_string(),
            x_in: p.collar_point[0] + x_in,
            y_in: p.collar_point[1] + y_in,
            width_in,
            height_in,
            align,
        };
        if !geometry::rect_inside(area.rect(), &p.polygon) {
            return Err(Error::validation(
                "placement",
                format!(
                    "the {width_in} x {height_in} in area at ({x_in}, {y_in}) in from the collar point leaves the `{panel}` panel; move it or make it smaller"
                ),
            ));
        }
        Ok(area)
    }

    /// Whether an atlas-inch point lies inside (or on) the panel's outline.
    pub fn panel_contains(&self, panel: &Panel, x_in: f64, y_in: f64) -> bool {
        geometry::inside_or_on([x_in, y_in], &panel.polygon)
    }
}

fn spec_area(spec: &PresetSpec, panel: &Panel) -> PrintArea {
    let collar_y = panel.collar_point[1];
    let y_in = match spec.anchor {
        Anchor::Collar => collar_y + spec.offset_in,
        Anchor::TorsoMiddle => {
            (collar_y + panel.hem_y) / 2.0 + spec.offset_in - spec.height_in / 2.0
        }
    };
    PrintArea {
        panel: spec.panel.clone(),
        x_in: panel.center_x - spec.width_in / 2.0,
        y_in,
        width_in: spec.width_in,
        height_in: spec.height_in,
        align: spec.align,
    }
}

fn validate(m: &Manifest) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut bad = |field: String, msg: String| errs.push(FieldError::new(field, msg));

    if m.format_version != FORMAT_VERSION {
        bad(
            "format_version".into(),
            format!(
                "is {}; this version reads format {FORMAT_VERSION}",
                m.format_version
            ),
        );
    }
    let id_ok = !m.id.is_empty()
        && m.id.len() <= 64
        && m.id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !id_ok {
        bad(
            "id".into(),
            format!("`{}` must be 1 to 64 characters of a-z, 0-9 and `-`", m.id),
        );
    }
    if m.units != "in" {
        bad(
            "units".into(),
            format!("is `{}`; lengths must be in inches (`in`)", m.units),
        );
    }
    let a = &m.atlas;
    let atlas_ok = a.width_in.is_finite()
        && a.height_in.is_finite()
        && a.width_in > 0.0
        && a.height_in > 0.0
        && (1..=1200).contains(&a.pixels_per_inch);
    if !atlas_ok {
        bad(
            "atlas".into(),
            "needs a positive width_in and height_in and pixels_per_inch between 1 and 1200".into(),
        );
    } else {
        let (w, h) = a.size_px();
        if w == 0 || h == 0 || w > MAX_ATLAS_SIDE_PX || h > MAX_ATLAS_SIDE_PX {
            bad(
                "atlas".into(),
                format!("is {w} x {h} px; each side must be 1 to {MAX_ATLAS_SIDE_PX} px"),
            );
        }
    }
    if m.panels.is_empty() {
        bad(
            "panels".into(),
            "the pattern needs at least one panel".into(),
        );
    }
    for (i, p) in m.panels.iter().enumerate() {
        let f = |what: &str| format!("panels[{i}].{what}");
        if p.name.is_empty() {
            bad(f("name"), "must not be empty".into());
        }
        if m.panels[..i].iter().any(|q| q.name == p.name) {
            bad(f("name"), format!("`{}` is used by two panels", p.name));
        }
        let finite = p.polygon.iter().flatten().all(|v| v.is_finite())
            && p.collar_point.iter().all(|v| v.is_finite())
            && p.center_x.is_finite()
            && p.hem_y.is_finite();
        if !finite {
            bad(
                f("polygon"),
                format!("panel `{}` has a non-finite coordinate", p.name),
            );
            continue;
        }
        if p.polygon.len() < 3 || geometry::signed_area(&p.polygon).abs() < 1e-6 {
            bad(
                f("polygon"),
                format!(
                    "panel `{}` needs at least 3 points enclosing an area",
                    p.name
                ),
            );
            continue;
        }
        if geometry::self_intersects(&p.polygon) {
            bad(
                f("polygon"),
                format!("panel `{}`'s outline crosses itself", p.name),
            );
        }
        if atlas_ok {
            let (x0, y0, x1, y1) = geometry::bounds(&p.polygon);
            if x0 < 0.0 || y0 < 0.0 || x1 > a.width_in || y1 > a.height_in {
                bad(
                    f("polygon"),
                    format!(
                        "panel `{}` spans ({x0}, {y0})-({x1}, {y1}) in, outside the {} x {} in atlas",
                        p.name, a.width_in, a.height_in
                    ),
                );
            }
        }
        if !geometry::inside_or_on(p.collar_point, &p.polygon) {
            bad(f("collar_point"), format!("is not on panel `{}`", p.name));
        }
        let (x0, _, x1, y1) = geometry::bounds(&p.polygon);
        if p.center_x <= x0 || p.center_x >= x1 {
            bad(
                f("center_x"),
                format!("{} is outside panel `{}`", p.center_x, p.name),
            );
        }
        if p.hem_y <= p.collar_point[1] || p.hem_y > y1 + geometry::EPS {
            bad(
                f("hem_y"),
                format!(
                    "{} must lie below the collar point and on panel `{}`",
                    p.hem_y, p.name
                ),
            );
        }
    }
    if let Some(garment) = &m.garment {
        for (field, message) in manifest::check_garment(garment, &m.panels) {
            bad(field, message);
        }
    }
    for name in m.presets.keys() {
        if let Err(e) = Preset::parse_field(name, &format!("presets.{name}")) {
            for fe in e.fields() {
                bad(fe.field.clone(), fe.message.clone());
            }
        }
    }
    // Every preset (the pack's own or the standard one) must fit inside its panel.
    for preset in Preset::ALL {
        let spec = m
            .presets
            .get(preset.as_str())
            .cloned()
            .unwrap_or_else(|| PresetSpec::standard(preset));
        let field = format!("presets.{preset}");
        let sizes_ok = [spec.offset_in, spec.width_in, spec.height_in]
            .iter()
            .all(|v| v.is_finite())
            && spec.width_in > 0.0
            && spec.height_in > 0.0;
        if !sizes_ok {
            bad(
                field,
                "needs a finite offset and a positive width and height".into(),
            );
            continue;
        }
        let Some(panel) = m.panels.iter().find(|p| p.name == spec.panel) else {
            bad(
                field,
                format!("refers to panel `{}`, which the pattern lacks", spec.panel),
            );
            continue;
        };
        if panel.polygon.len() < 3 {
            continue;
        }
        let area = spec_area(&spec, panel);
        if !geometry::rect_inside(area.rect(), &panel.polygon) {
            bad(
                field,
                format!(
                    "print area {} x {} in at ({:.2}, {:.2}) lies outside its panel `{}`",
                    area.width_in, area.height_in, area.x_in, area.y_in, panel.name
                ),
            );
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_pack_is_valid_and_physical() {
        let pack = TemplatePack::builtin();
        assert_eq!(pack.id(), "classic-tee");
        assert_eq!(pack.atlas_size_px(), (1800, 1640));
        assert_eq!(pack.pixels_per_inch(), 40);
        assert!(pack.dir().is_none());
        let names: Vec<_> = pack.panels().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["front", "back", "left_sleeve", "right_sleeve"]);

        // chest-large: 12 x 12 in, top edge 3 in below the front collar point (11, 4.5).
        let a = pack.preset_area(Preset::ChestLarge);
        assert_eq!((a.panel.as_str(), a.x_in, a.y_in), ("front", 5.0, 7.5));
        assert_eq!(
            (a.width_in, a.height_in, a.align),
            (12.0, 12.0, Alignment::Top)
        );
        // dead-center-medium: 10 x 10 in centred on (11, (4.5 + 30) / 2 = 17.25).
        let a = pack.preset_area(Preset::DeadCenterMedium);
        assert_eq!((a.x_in, a.y_in, a.width_in), (6.0, 12.25, 10.0));
        assert_eq!(a.align, Alignment::Center);
        // back-small: 4 x 4 in, top edge 2 in below the back collar (34, 1.75).
        let a = pack.preset_area(Preset::BackSmall);
        assert_eq!(
            (a.panel.as_str(), a.x_in, a.y_in, a.width_in),
            ("back", 32.0, 3.75, 4.0)
        );
    }

    #[test]
    fn manifest_matches_the_standard_preset_definitions() {
        let pack = TemplatePack::builtin();
        for preset in Preset::ALL {
            assert_eq!(
                pack.manifest().presets[preset.as_str()],
                PresetSpec::standard(preset)
            );
        }
    }

    #[test]
    fn custom_areas_are_relative_to_the_collar_point() {
        let pack = TemplatePack::builtin();
        let a = pack
            .custom_area("front", -6.0, 3.0, 12.0, 12.0, Alignment::Top)
            .unwrap();
        assert_eq!(a, pack.preset_area(Preset::ChestLarge));
        let err = pack
            .custom_area("front", -6.0, -3.0, 12.0, 12.0, Alignment::Top)
            .unwrap_err();
        assert_eq!(err.code(), "E_VALIDATION");
        assert!(
            err.to_string().contains("leaves the `front` panel"),
            "{err}"
        );
        let err = pack
            .custom_area("pocket", 0.0, 0.0, 1.0, 1.0, Alignment::Top)
            .unwrap_err();
        assert!(err.to_string().contains("left_sleeve"), "{err}");
        let err = pack
            .custom_area("front", 0.0, 0.0, 0.0, 1.0, Alignment::Top)
            .unwrap_err();
        assert_eq!(err.code(), "E_VALIDATION");
    }

    fn builtin_json() -> serde_json::Value {
        serde_json::from_str(builtin::CLASSIC_TEE.manifest).unwrap()
    }

    fn problems(v: serde_json::Value) -> String {
        let err = TemplatePack::from_json(&v.to_string(), None).unwrap_err();
        assert_eq!(err.code(), "E_VALIDATION");
        err.to_string()
    }

    #[test]
    fn broken_manifests_are_refused_with_the_problem_named() {
        let mut v = builtin_json();
        v["presets"]["chest-large"]["width_in"] = 30.0.into();
        let text = problems(v);
        assert!(
            text.contains("presets.chest-large") && text.contains("outside its panel"),
            "{text}"
        );

        let mut v = builtin_json();
        v["format_version"] = 2.into();
        assert!(problems(v).contains("format_version"));

        let mut v = builtin_json();
        v["panels"][0]["polygon"] = serde_json::json!([[0, 0], [1, 1]]);
        assert!(problems(v).contains("panels[0].polygon"));

        let mut v = builtin_json();
        v["panels"][1]["polygon"][0] = serde_json::json!([100.0, 1.0]);
        let text = problems(v);
        assert!(text.contains("outside the 45 x 41 in atlas"), "{text}");

        let mut v = builtin_json();
        v["panels"][1]["name"] = "front".into();
        let text = problems(v);
        assert!(text.contains("used by two panels"), "{text}");

        let mut v = builtin_json();
        v["presets"]["huge"] = v["presets"]["chest-large"].clone();
        assert!(problems(v).contains("presets.huge"));

        let mut v = builtin_json();
        v["units"] = "cm".into();
        assert!(problems(v).contains("units"));

        let err = TemplatePack::from_json("{ not json", None).unwrap_err();
        assert!(err.to_string().contains("template.json"), "{err}");
    }

    #[test]
    fn packs_load_from_folders() {
        let dir = tempfile::tempdir().unwrap();
        let err = TemplatePack::load(dir.path()).unwrap_err();
        assert_eq!(err.code(), "E_VALIDATION");
        assert!(err.to_string().contains("missing file"), "{err}");

        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            builtin::CLASSIC_TEE.manifest,
        )
        .unwrap();
        let pack = TemplatePack::load(dir.path()).unwrap();
        assert_eq!(pack.dir(), Some(dir.path()));
        assert_eq!(pack.panels(), TemplatePack::builtin().panels());
        let named = TemplatePack::named(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(named.id(), "classic-tee");
        assert!(TemplatePack::named("no-such-pack").is_err());
        assert!(TemplatePack::load(&dir.path().join("nope")).is_err());
    }

    #[test]
    fn the_assets_folder_is_a_loadable_pack() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/templates/classic-tee");
        let pack = TemplatePack::load(&dir).unwrap();
        assert_eq!(pack.manifest(), TemplatePack::builtin().manifest());
    }
}
