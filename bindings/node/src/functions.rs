//! The stateless calls: compose, render, mockup, preflight, presets and templates.
//!
//! Each async function returns a Promise computed on libuv's thread pool and takes an
//! optional `AbortSignal` last; bad arguments reject it with `E_VALIDATION`. The
//! `...Sync` twins run on the calling thread and throw instead.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use render_engine::mockup::{
    encode_mockups, render_mockups_encoded, DisplacementChannels, EncodedPhotoView, MockupFormat,
    PrintAreaSpec,
};
use render_engine::render::View;
use render_engine::{
    render_design, Alignment, CancelToken, DecodeLimits, Error, FitMode, GarmentColor, OutputKind,
    OutputSelection, Placement, Preset, RendererKind, Result, TemplatePack,
};

use crate::convert;
use crate::error::invalid;
use crate::guard::{guard, guard_js};
use crate::task::{run_sync, EngineTask};
use crate::types::{
    ComposeOptions, Composition, MockupOptions, Photo, PresetInfo, RenderOptions, RenderResult,
    Stills, TemplateInfo,
};

/// The compose fields shared by `ComposeOptions` and `RenderOptions`.
#[derive(Default)]
struct ComposeFields {
    preset: Option<String>,
    placement: Option<crate::types::CustomPlacement>,
    template: Option<String>,
    fit: Option<String>,
    color: Option<String>,
    print_dpi: Option<u32>,
    trim: Option<bool>,
    max_bytes: Option<f64>,
    max_pixels: Option<f64>,
    preview_width: Option<u32>,
}

impl From<ComposeOptions> for ComposeFields {
    fn from(o: ComposeOptions) -> Self {
        Self {
            preset: o.preset,
            placement: o.placement,
            template: o.template,
            fit: o.fit,
            color: o.color,
            print_dpi: o.print_dpi,
            trim: o.trim,
            max_bytes: o.max_bytes,
            max_pixels: o.max_pixels,
            preview_width: o.preview_width,
        }
    }
}

fn parse_fit(text: &str, field: &str) -> Result<FitMode> {
    text.parse::<FitMode>().map_err(|e| e.on_field(field))
}

fn parse_align(text: &str, field: &str) -> Result<Alignment> {
    text.parse::<Alignment>().map_err(|e| e.on_field(field))
}

fn limit(value: Option<f64>, default: u64, field: &str) -> Result<u64> {
    match value {
        None => Ok(default),
        Some(v) if v.is_finite() && v >= 1.0 && v.fract() == 0.0 => Ok(v as u64),
        Some(v) => Err(invalid(
            field,
            format!("must be a positive whole number (got {v})"),
        )),
    }
}

impl TryFrom<ComposeFields> for render_engine::ComposeOptions {
    type Error = Error;

    fn try_from(fields: ComposeFields) -> Result<render_engine::ComposeOptions> {
        let placement = match (fields.preset, fields.placement) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "placement",
                    "give either `preset` or `placement`, not both",
                ))
            }
            (_, Some(p)) => Placement::Custom(render_engine::CustomPlacement {
                panel: p.panel,
                x_in: p.x_in,
                y_in: p.y_in,
                width_in: p.width_in,
                height_in: p.height_in,
                align: match p.align {
                    Some(a) => parse_align(&a, "placement.align")?,
                    None => Alignment::default(),
                },
            }),
            (Some(name), None) => Placement::Preset(Preset::parse_field(&name, "preset")?),
            (None, None) => Placement::Preset(Preset::ChestLarge),
        };
        let mut options = render_engine::ComposeOptions::new(placement);
        if let Some(template) = fields.template {
            options = options.with_template(TemplatePack::named(&template)?);
        }
        if let Some(fit) = fields.fit {
            options = options.with_fit(parse_fit(&fit, "fit")?);
        }
        if let Some(color) = fields.color {
            options = options.with_color(GarmentColor::parse_field(&color, "color")?);
        }
        if let Some(dpi) = fields.print_dpi {
            options = options.with_print_dpi(dpi);
        }
        if let Some(trim) = fields.trim {
            options = options.with_trim(trim);
        }
        options = options.with_limits(
            DecodeLimits::default()
                .with_max_bytes(limit(
                    fields.max_bytes,
                    DecodeLimits::DEFAULT_MAX_BYTES,
                    "maxBytes",
                )?)
                .with_max_pixels(limit(
                    fields.max_pixels,
                    DecodeLimits::DEFAULT_MAX_PIXELS,
                    "maxPixels",
                )?),
        );
        if let Some(width) = fields.preview_width {
            options = options.with_preview_width(width);
        }
        Ok(options)
    }
}

/// Builds the task for `work` once the arguments checked out, or a task that rejects.
fn task<T, A>(
    checked: Result<(A, CancelToken)>,
    work: impl FnOnce(A, &CancelToken) -> Result<T> + Send + 'static,
) -> EngineTask<T>
where
    A: Send + 'static,
{
    match checked {
        Ok((args, cancel)) => EngineTask::new(cancel, move |c| work(args, c)),
        Err(e) => EngineTask::failed(e),
    }
}

// ---------------------------------------------------------------------------------------
// compose

type ComposeArgs = (Buffer, ComposeFields);

fn compose_args(
    env: &Env,
    design: Option<Unknown>,
    options: Option<Unknown>,
    signal: Option<Unknown>,
) -> Result<(ComposeArgs, CancelToken)> {
    let design = convert::buffer(design, "design")?;
    let options: Option<ComposeOptions> = convert::object(options, "options")?;
    let cancel = convert::signal(env, signal)?;
    Ok((
        (design, options.map(Into::into).unwrap_or_default()),
        cancel,
    ))
}

fn compose_work((design, fields): ComposeArgs, cancel: &CancelToken) -> Result<Composition> {
    let options = render_engine::ComposeOptions::try_from(fields)?.with_cancel(cancel.clone());
    let composition = render_engine::compose(&design, &options)?;
    Ok(Composition {
        print_file: composition.print_png()?.into(),
        atlas: composition.atlas_png()?.into(),
        preview: composition.preview_png()?.into(),
        preflight: convert::to_json(&composition.preflight)?,
    })
}

/// Composes a design: the print file, the garment texture atlas, a preview and the
/// preflight report. Rejects with `E_VALIDATION` (bad options), `E_IMAGE_DECODE`,
/// `E_UNSUPPORTED_FORMAT`, `E_IMAGE_TOO_LARGE` or `E_CANCELLED`.
#[napi(
    ts_args_type = "design: Buffer, options?: ComposeOptions | undefined | null, signal?: AbortSignal | undefined | null",
    ts_return_type = "Promise<Composition>"
)]
pub fn compose(
    env: Env,
    design: Option<Unknown>,
    options: Option<Unknown>,
    signal: Option<Unknown>,
) -> AsyncTask<EngineTask<Composition>> {
    AsyncTask::new(task(
        guard(|| compose_args(&env, design, options, signal)),
        compose_work,
    ))
}

/// `compose` on the calling thread (blocks it; throws instead of rejecting).
#[napi(
    ts_args_type = "design: Buffer, options?: ComposeOptions | undefined | null",
    ts_return_type = "Composition"
)]
pub fn compose_sync(
    env: Env,
    design: Option<Unknown>,
    options: Option<Unknown>,
) -> napi::Result<Composition> {
    run_sync(
        &env,
        task(
            guard(|| compose_args(&env, design, options, None)),
            compose_work,
        ),
    )
}

// ---------------------------------------------------------------------------------------
// preflight

fn preflight_work(args: ComposeArgs, cancel: &CancelToken) -> Result<convert::Json> {
    let (design, fields) = args;
    let options = render_engine::ComposeOptions::try_from(fields)?.with_cancel(cancel.clone());
    let composition = render_engine::compose(&design, &options)?;
    convert::to_json(&composition.preflight).map(convert::Json)
}

/// Checks a design against a placement without keeping any output: resolution
/// (effective DPI), clipping, visibility on the garment colour. Same errors as `compose`.
#[napi(
    ts_args_type = "design: Buffer, options?: ComposeOptions | undefined | null, signal?: AbortSignal | undefined | null",
    ts_return_type = "Promise<PreflightReport>"
)]
pub fn preflight(
    env: Env,
    design: Option<Unknown>,
    options: Option<Unknown>,
    signal: Option<Unknown>,
) -> AsyncTask<EngineTask<convert::Json>> {
    AsyncTask::new(task(
        guard(|| compose_args(&env, design, options, signal)),
        preflight_work,
    ))
}

/// `preflight` on the calling thread (throws instead of rejecting).
#[napi(
    ts_args_type = "design: Buffer, options?: ComposeOptions | undefined | null",
    ts_return_type = "PreflightReport"
)]
pub fn preflight_sync(
    env: Env,
    design: Option<Unknown>,
    options: Option<Unknown>,
) -> napi::Result<convert::Json> {
    run_sync(
        &env,
        task(
            guard(|| compose_args(&env, design, options, None)),
            preflight_work,
        ),
    )
}

// ---------------------------------------------------------------------------------------
// render

struct RenderArgs {
    design: Buffer,
    fields: ComposeFields,
    selection: OutputSelection,
}

fn render_args(
    env: &Env,
    design: Option<Unknown>,
    options: Option<Unknown>,
    signal: Option<Unknown>,
) -> Result<(RenderArgs, CancelToken)> {
    let design = convert::buffer(design, "design")?;
    let options: Option<RenderOptions> = convert::object(options, "options")?;
    let cancel = convert::signal(env, signal)?;
    let (fields, stills, turntable) = match options {
        None => (ComposeFields::default(), None, None),
        Some(o) => (
            ComposeFields {
                preset: o.preset,
                placement: o.placement,
                template: o.template,
                fit: o.fit,
                color: o.color,
                print_dpi: o.print_dpi,
                trim: o.trim,
                max_bytes: o.max_bytes,
                max_pixels: o.max_pixels,
                preview_width: None,
            },
            o.stills,
            o.turntable,
        ),
    };
    let mut selection = OutputSelection::all().with_print_file(false);
    if let Some(names) = stills {
        let views = names
            .iter()
            .map(|n| {
                n.parse::<View>().map_err(|_| {
                    invalid(
                        "stills",
                        format!("unknown still `{n}`; use front, back or three-quarter"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        selection = selection.with_stills(views);
    }
    if let Some(formats) = turntable {
        let (mut mp4, mut webp) = (false, false);
        for f in &formats {
            match f.as_str() {
                "mp4" => mp4 = true,
                "webp" => webp = true,
                other => {
                    return Err(invalid(
                        "turntable",
                        format!("unknown turntable format `{other}`; use mp4 or webp"),
                    ))
                }
            }
        }
        selection = selection.with_turntable(mp4, webp);
    }
    let args = RenderArgs {
        design,
        fields,
        selection,
    };
    Ok((args, cancel))
}

fn render_work(args: RenderArgs, cancel: &CancelToken) -> Result<RenderResult> {
    let options = render_engine::ComposeOptions::try_from(args.fields)?.with_cancel(cancel.clone());
    let renderer = RendererKind::Baked.open(None)?;
    let (preflight, outputs) = render_design(
        &args.design,
        &options,
        &args.selection,
        renderer.as_ref(),
        None,
    )?;
    let mut result = RenderResult {
        stills: Stills {
            front: None,
            back: None,
            three_quarter: None,
        },
        turntable_mp4: None,
        turntable_webp: None,
        preflight: convert::to_json(&preflight)?,
    };
    for output in outputs {
        let bytes = Some(Buffer::from(output.bytes));
        match output.kind {
            OutputKind::Still(View::Front) => result.stills.front = bytes,
            OutputKind::Still(View::Back) => result.stills.back = bytes,
            OutputKind::Still(View::ThreeQuarter) => result.stills.three_quarter = bytes,
            OutputKind::TurntableMp4 => result.turntable_mp4 = bytes,
            OutputKind::TurntableWebp => result.turntable_webp = bytes,
            // The atlas is not part of `render`'s result (`compose` returns it).
            _ => {}
        }
    }
    Ok(result)
}

fn cancel_point(cancel: &CancelToken) -> Result<()> {
    if cancel.is_cancelled() {
        return Err(Error::Cancelled("the AbortSignal was aborted".into()));
    }
    Ok(())
}

/// Composes a design and renders it on the built-in garment: three stills (PNG) and a
/// seamless turntable (MP4 and animated WebP). Same errors as `compose`, plus
/// `E_RENDER_FAILED`.
#[napi(
    ts_args_type = "design: Buffer, options?: RenderOptions | undefined | null, signal?: AbortSignal | undefined | null",
    ts_return_type = "Promise<RenderResult>"
)]
pub fn render(
    env: Env,
    design: Option<Unknown>,
    options: Option<Unknown>,
    signal: Option<Unknown>,
) -> AsyncTask<EngineTask<RenderResult>> {
    AsyncTask::new(task(
        guard(|| render_args(&env, design, options, signal)),
        render_work,
    ))
}

/// `render` on the calling thread (throws instead of rejecting; blocks for seconds).
#[napi(
    ts_args_type = "design: Buffer, options?: RenderOptions | undefined | null",
    ts_return_type = "RenderResult"
)]
pub fn render_sync(
    env: Env,
    design: Option<Unknown>,
    options: Option<Unknown>,
) -> napi::Result<RenderResult> {
    run_sync(
        &env,
        task(
            guard(|| render_args(&env, design, options, None)),
            render_work,
        ),
    )
}

// ---------------------------------------------------------------------------------------
// mockup

struct MockupArgs {
    design: Buffer,
    photo: Photo,
    options: Option<MockupOptions>,
}

fn mockup_args(
    env: &Env,
    design: Option<Unknown>,
    photo: Option<Unknown>,
    options: Option<Unknown>,
    signal: Option<Unknown>,
) -> Result<(MockupArgs, CancelToken)> {
    let design = convert::buffer(design, "design")?;
    let photo: Photo = convert::object(photo, "photo")?
        .ok_or_else(|| invalid("photo", "is required: { image, printArea }"))?;
    let options: Option<MockupOptions> = convert::object(options, "options")?;
    let cancel = convert::signal(env, signal)?;
    Ok((
        MockupArgs {
            design,
            photo,
            options,
        },
        cancel,
    ))
}

/// A garment photo's bytes and print area, as `mockup` receives them (no JS types).
pub struct PhotoBytes<'a> {
    /// The photo (JPEG or PNG).
    pub image: &'a [u8],
    /// The print area's four corners on the photo, each `[x, y]`.
    pub quad: &'a [Vec<f64>],
    /// The print area's physical width in inches.
    pub width_in: f64,
    /// The print area's physical height in inches.
    pub height_in: f64,
    /// A displacement map: its bytes, scale in pixels and channels (`luminance`, `rg`).
    pub displacement: Option<(&'a [u8], f64, Option<&'a str>)>,
    /// A garment mask (white = garment).
    pub mask: Option<&'a [u8]>,
    /// The view's name.
    pub name: Option<&'a str>,
}

impl<'a> PhotoBytes<'a> {
    fn of(photo: &'a Photo) -> Self {
        Self {
            image: &photo.image,
            quad: &photo.print_area.quad,
            width_in: photo.print_area.width_in,
            height_in: photo.print_area.height_in,
            displacement: photo
                .displacement
                .as_ref()
                .map(|d| (&d.image[..], d.scale_px, d.channels.as_deref())),
            mask: photo.mask.as_deref(),
            name: photo.name.as_deref(),
        }
    }

    /// The photo view with its images still encoded, checked for shape (four corners,
    /// known displacement channels); decoding happens in the core, while the design
    /// decodes.
    pub fn encoded(&self) -> Result<EncodedPhotoView<'a>> {
        if self.quad.len() != 4 || self.quad.iter().any(|p| p.len() != 2) {
            return Err(invalid(
                "photo.printArea.quad",
                "must be four [x, y] corners: top-left, top-right, bottom-right, bottom-left",
            ));
        }
        let corner = |i: usize| [self.quad[i][0], self.quad[i][1]];
        let area = PrintAreaSpec {
            quad: [corner(0), corner(1), corner(2), corner(3)],
            width_in: self.width_in,
            height_in: self.height_in,
        };
        let displacement = match self.displacement {
            None => None,
            Some((bytes, scale_px, channels)) => {
                let channels = match channels {
                    None | Some("luminance") => DisplacementChannels::Luminance,
                    Some("rg") => DisplacementChannels::Rg,
                    Some(other) => {
                        return Err(invalid(
                            "photo.displacement.channels",
                            format!("unknown channels `{other}`; use luminance or rg"),
                        ))
                    }
                };
                Some((bytes, scale_px, channels))
            }
        };
        Ok(EncodedPhotoView {
            name: self.name.unwrap_or("photo"),
            photo: self.image,
            area,
            displacement,
            mask: self.mask,
        })
    }
}

/// The JS `MockupOptions` as the core's: how to fit and place the design, the colours,
/// and how to encode the images.
struct MockupSettings {
    options: render_engine::mockup::MockupOptions,
    colors: Vec<GarmentColor>,
    format: MockupFormat,
    quality: u8,
}

impl TryFrom<&MockupOptions> for MockupSettings {
    type Error = Error;

    fn try_from(o: &MockupOptions) -> Result<MockupSettings> {
        let format = match o.format.as_deref() {
            None => MockupFormat::Jpeg,
            Some(text) => text.parse::<MockupFormat>()?,
        };
        let quality = match o.quality {
            None => 90,
            Some(q) if (1..=100).contains(&q) => q as u8,
            Some(q) => {
                return Err(invalid(
                    "quality",
                    format!("must be between 1 and 100 (got {q})"),
                ))
            }
        };
        let colors = o
            .colors
            .iter()
            .flatten()
            .map(|c| GarmentColor::parse_field(c, "colors"))
            .collect::<Result<Vec<_>>>()?;
        let mut options = render_engine::mockup::MockupOptions::default();
        if let Some(fit) = &o.fit {
            options = options.with_fit(parse_fit(fit, "fit")?);
        }
        if let Some(align) = &o.align {
            options = options.with_align(parse_align(align, "align")?);
        }
        if let Some(trim) = o.trim {
            options = options.with_trim(trim);
        }
        Ok(MockupSettings {
            options,
            colors,
            format,
            quality,
        })
    }
}

/// What `mockup` computes off the JS thread, without any JS types: the encoded images.
/// Public so the overhead benchmark can time the same call from Rust.
pub fn mockup_images(
    design: &[u8],
    photo: &PhotoBytes<'_>,
    options: &MockupOptions,
    cancel: &CancelToken,
) -> Result<Vec<Vec<u8>>> {
    let settings = MockupSettings::try_from(options)?;
    let view = photo.encoded()?;
    let options = settings.options.with_cancel(cancel.clone());
    let mockups = render_mockups_encoded(design, &[view], &settings.colors, &options)?;
    cancel_point(cancel)?;
    encode_mockups(&mockups, settings.format, settings.quality)
}

fn mockup_work(args: MockupArgs, cancel: &CancelToken) -> Result<Vec<Buffer>> {
    let options = args.options.unwrap_or(MockupOptions {
        colors: None,
        format: None,
        quality: None,
        fit: None,
        align: None,
        trim: None,
    });
    let images = mockup_images(&args.design, &PhotoBytes::of(&args.photo), &options, cancel)?;
    Ok(images.into_iter().map(Buffer::from).collect())
}

/// A design on a merchant's own garment photo: one image per garment colour (in the
/// order given), or one in the photo's own colour when no colours are given. The print
/// follows the photo's folds, is shaded by its light and clipped to the mask. Rejects
/// with `E_VALIDATION` (a bad print area, a re-tint without a mask, bad options), the
/// decoding errors of the design or the photo, or `E_CANCELLED`.
#[napi(
    ts_args_type = "design: Buffer, photo: Photo, options?: MockupOptions | undefined | null, signal?: AbortSignal | undefined | null",
    ts_return_type = "Promise<Buffer[]>"
)]
pub fn mockup(
    env: Env,
    design: Option<Unknown>,
    photo: Option<Unknown>,
    options: Option<Unknown>,
    signal: Option<Unknown>,
) -> AsyncTask<EngineTask<Vec<Buffer>>> {
    AsyncTask::new(task(
        guard(|| mockup_args(&env, design, photo, options, signal)),
        mockup_work,
    ))
}

/// `mockup` on the calling thread (throws instead of rejecting).
#[napi(
    ts_args_type = "design: Buffer, photo: Photo, options?: MockupOptions | undefined | null",
    ts_return_type = "Buffer[]"
)]
pub fn mockup_sync(
    env: Env,
    design: Option<Unknown>,
    photo: Option<Unknown>,
    options: Option<Unknown>,
) -> napi::Result<Vec<Buffer>> {
    run_sync(
        &env,
        task(
            guard(|| mockup_args(&env, design, photo, options, None)),
            mockup_work,
        ),
    )
}

// ---------------------------------------------------------------------------------------
// presets and templates

fn presets_of(pack: &TemplatePack) -> Vec<PresetInfo> {
    Preset::ALL
        .iter()
        .map(|&preset| {
            let area = pack.preset_area(preset);
            PresetInfo {
                id: preset.as_str().to_string(),
                panel: area.panel.clone(),
                width_in: area.width_in,
                height_in: area.height_in,
                align: area.align.as_str().to_string(),
            }
        })
        .collect()
}

/// A pack as the JS `TemplateInfo`.
pub(crate) fn template_info(pack: &TemplatePack) -> TemplateInfo {
    let (atlas_width, atlas_height) = pack.atlas_size_px();
    TemplateInfo {
        id: pack.id().to_string(),
        name: pack.name().to_string(),
        panels: pack.panels().iter().map(|p| p.name.clone()).collect(),
        atlas_width,
        atlas_height,
        pixels_per_inch: pack.pixels_per_inch(),
        presets: presets_of(pack),
    }
}

/// An optional array of strings argument (`undefined`/`null` give an empty list).
fn string_list(value: Option<Unknown>, field: &str) -> Result<Vec<String>> {
    if convert::is_absent(&value).map_err(|e| crate::error::wrong_type(field, e))? {
        return Ok(Vec::new());
    }
    let value = value.expect("checked present");
    if !value.is_array().unwrap_or(false) {
        return Err(invalid(field, "must be an array of template pack folders"));
    }
    // SAFETY: checked to be an array; `Vec<String>` checks every element's type.
    unsafe { value.cast::<Vec<String>>() }.map_err(|e| crate::error::wrong_type(field, e))
}

/// The placement presets (`chest-large`, `dead-center-medium`, `back-small`) with their
/// print areas on `template`: a built-in id (`classic-tee`, the default,
/// `long-sleeve-tee` or `hoodie`) or the path of a pack folder, as
/// the `template` option of `compose`, `render` and `preflight` takes it. Throws
/// `E_VALIDATION` for anything else (on `template`) or a broken pack (on the manifest's
/// field).
#[napi(ts_args_type = "template?: string | undefined | null")]
pub fn list_presets(env: Env, template: Option<Unknown>) -> napi::Result<Vec<PresetInfo>> {
    guard_js(&env, || {
        let pack = match convert::is_absent(&template) {
            Ok(true) => Ok(TemplatePack::builtin()),
            _ => convert::string(template, "template").and_then(|t| TemplatePack::named(&t)),
        };
        pack.map(|p| presets_of(&p))
            .map_err(|e| crate::error::to_js(&env, e))
    })
}

/// The template packs: the built-in garments (`classic-tee`, `long-sleeve-tee`,
/// `hoodie`), then the packs in `templates` (each a built-in id or the path of a pack
/// folder, as `RenderEngine.open`'s `templates` option takes them; a pack with a
/// built-in's id replaces it). Throws
/// `E_VALIDATION` on `templates[i]` for a folder that is not a valid pack.
#[napi(ts_args_type = "templates?: string[] | undefined | null")]
pub fn list_templates(env: Env, templates: Option<Unknown>) -> napi::Result<Vec<TemplateInfo>> {
    guard_js(&env, || {
        string_list(templates, "templates")
            .and_then(|entries| TemplatePack::load_all(&entries))
            .map(|packs| {
                TemplatePack::with_builtin(&packs)
                    .iter()
                    .map(template_info)
                    .collect()
            })
            .map_err(|e| crate::error::to_js(&env, e))
    })
}
