//! One design's whole work, the same for every front end: compose -> render -> encode ->
//! named outputs.
//!
//! The command line's `render`, the Node `render` and the engine's workers all call these
//! two stages. They are split so the engine can store the atlas (and record the job as
//! composited) before it renders; a caller that wants everything at once runs
//! [`compose_stage`] and then [`ComposedStage::render`].
//!
//! Pure like the modules it calls: bytes in, named encoded files out; no store, no blobs.

use std::str::FromStr;

use image::RgbaImage;

use crate::cancel::CancelToken;
use crate::color::GarmentColor;
use crate::compose::{compose, ComposeOptions, Composition, PreflightReport};
use crate::error::{Error, Result};
use crate::pixels::encode_png;
use crate::render::{
    encode_mp4, encode_webp, BakedRenderer, BlenderOptions, BlenderRenderer, RenderOutputs,
    RenderProgress, RenderRequest, Renderer, View,
};
use crate::template::TemplatePack;

/// One file the pipeline produces. Its [`file_name`](OutputKind::file_name) is the name
/// it has everywhere: in the command line's output folder, under a job's blob prefix and
/// in a job's `metadata.outputs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutputKind {
    /// The garment texture atlas (`atlas.png`).
    Atlas,
    /// The print file at the print DPI (`print.png`).
    PrintFile,
    /// A product still (`front.png`, `back.png`, `three-quarter.png`).
    Still(View),
    /// The turntable as H.264 MP4 (`turntable.mp4`).
    TurntableMp4,
    /// The turntable as animated WebP (`turntable.webp`).
    TurntableWebp,
}

impl OutputKind {
    /// Every kind, in the order the pipeline produces them.
    pub const ALL: [OutputKind; 7] = [
        OutputKind::Atlas,
        OutputKind::PrintFile,
        OutputKind::Still(View::Front),
        OutputKind::Still(View::Back),
        OutputKind::Still(View::ThreeQuarter),
        OutputKind::TurntableMp4,
        OutputKind::TurntableWebp,
    ];

    /// The file name of this output (`atlas.png`, `front.png`, `turntable.mp4`, ...).
    pub fn file_name(self) -> &'static str {
        match self {
            OutputKind::Atlas => "atlas.png",
            OutputKind::PrintFile => "print.png",
            OutputKind::Still(View::Front) => "front.png",
            OutputKind::Still(View::Back) => "back.png",
            OutputKind::Still(View::ThreeQuarter) => "three-quarter.png",
            OutputKind::TurntableMp4 => "turntable.mp4",
            OutputKind::TurntableWebp => "turntable.webp",
        }
    }

    /// The kind whose [`file_name`](OutputKind::file_name) is `name`.
    pub fn from_file_name(name: &str) -> Option<OutputKind> {
        OutputKind::ALL.into_iter().find(|k| k.file_name() == name)
    }

    /// The kind's stable snake_case name, as a job's typed outputs carry it
    /// ([`crate::JobOutput::kind`]): `atlas`, `print_file`, `still_front`, `still_back`,
    /// `still_three_quarter`, `turntable_mp4`, `turntable_webp`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputKind::Atlas => "atlas",
            OutputKind::PrintFile => "print_file",
            OutputKind::Still(View::Front) => "still_front",
            OutputKind::Still(View::Back) => "still_back",
            OutputKind::Still(View::ThreeQuarter) => "still_three_quarter",
            OutputKind::TurntableMp4 => "turntable_mp4",
            OutputKind::TurntableWebp => "turntable_webp",
        }
    }

    /// The kind whose [`as_str`](OutputKind::as_str) name is `name`.
    pub fn from_name(name: &str) -> Option<OutputKind> {
        OutputKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The MIME type of the encoded file.
    pub fn content_type(self) -> &'static str {
        match self {
            OutputKind::TurntableMp4 => "video/mp4",
            OutputKind::TurntableWebp => "image/webp",
            _ => "image/png",
        }
    }
}

impl serde::Serialize for OutputKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for OutputKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        OutputKind::from_name(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown output kind `{name}`; expected one of: {}",
                OutputKind::ALL.map(OutputKind::as_str).join(", ")
            ))
        })
    }
}

impl std::fmt::Display for OutputKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.file_name())
    }
}

/// One encoded output file.
#[derive(Clone, PartialEq, Eq)]
pub struct Output {
    /// What it is (and so its file name and content type).
    pub kind: OutputKind,
    /// The encoded bytes.
    pub bytes: Vec<u8>,
}

impl Output {
    /// The file name (`front.png`, ...).
    pub fn file_name(&self) -> &'static str {
        self.kind.file_name()
    }

    /// The MIME type.
    pub fn content_type(&self) -> &'static str {
        self.kind.content_type()
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("kind", &self.kind)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// Which outputs to produce. The atlas always is (the renders wear it).
///
/// Parses from a comma-separated list ([`FromStr`]): `print`, `stills` (all three),
/// `front`, `back`, `three-quarter`, `turntable` (MP4 and WebP), `mp4`, `webp`, `all`,
/// or `none` for the atlas alone.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutputSelection {
    /// Produce the print file.
    pub print_file: bool,
    /// The stills to render, in this order.
    pub stills: Vec<View>,
    /// Encode the turntable as MP4.
    pub turntable_mp4: bool,
    /// Encode the turntable as animated WebP.
    pub turntable_webp: bool,
}

impl Default for OutputSelection {
    /// Everything: the print file, every still, both turntable encodings.
    fn default() -> Self {
        Self::all()
    }
}

impl OutputSelection {
    /// Everything: the print file, every still, both turntable encodings.
    pub fn all() -> Self {
        Self {
            print_file: true,
            stills: View::ALL.to_vec(),
            turntable_mp4: true,
            turntable_webp: true,
        }
    }

    /// Nothing but the atlas.
    pub fn none() -> Self {
        Self {
            print_file: false,
            stills: Vec::new(),
            turntable_mp4: false,
            turntable_webp: false,
        }
    }

    /// The same selection with or without the print file.
    pub fn with_print_file(mut self, on: bool) -> Self {
        self.print_file = on;
        self
    }

    /// The same selection rendering `stills` (in this order, duplicates dropped).
    pub fn with_stills(mut self, stills: impl IntoIterator<Item = View>) -> Self {
        self.stills.clear();
        self.with_more_stills(stills)
    }

    /// The same selection with `stills` added after the ones it has (duplicates dropped).
    pub fn with_more_stills(mut self, stills: impl IntoIterator<Item = View>) -> Self {
        for view in stills {
            if !self.stills.contains(&view) {
                self.stills.push(view);
            }
        }
        self
    }

    /// The same selection with the turntable encoded as MP4 and/or WebP.
    pub fn with_turntable(mut self, mp4: bool, webp: bool) -> Self {
        self.turntable_mp4 = mp4;
        self.turntable_webp = webp;
        self
    }

    /// Whether the turntable frames are rendered at all.
    pub fn turntable(&self) -> bool {
        self.turntable_mp4 || self.turntable_webp
    }

    /// Whether `kind` is selected.
    pub fn contains(&self, kind: OutputKind) -> bool {
        match kind {
            OutputKind::Atlas => true,
            OutputKind::PrintFile => self.print_file,
            OutputKind::Still(view) => self.stills.contains(&view),
            OutputKind::TurntableMp4 => self.turntable_mp4,
            OutputKind::TurntableWebp => self.turntable_webp,
        }
    }

    /// What the renderer is asked for.
    pub(crate) fn render_outputs(&self) -> RenderOutputs {
        RenderOutputs {
            stills: self.stills.clone(),
            turntable: self.turntable(),
        }
    }
}

impl FromStr for OutputSelection {
    type Err = Error;

    fn from_str(list: &str) -> Result<Self> {
        let mut selection = OutputSelection::none();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "all" => selection = OutputSelection::all(),
                "none" => {}
                "print" => selection.print_file = true,
                "stills" => selection = selection.with_more_stills(View::ALL),
                "turntable" => selection = selection.with_turntable(true, true),
                "mp4" => selection.turntable_mp4 = true,
                "webp" => selection.turntable_webp = true,
                other => match other.parse::<View>() {
                    Ok(view) => selection = selection.with_more_stills([view]),
                    Err(_) => {
                        return Err(Error::validation(
                            "outputs",
                            format!(
                                "unknown output `{other}`; use print, stills, front, back, \
                                 three-quarter, turntable, mp4, webp, all or none"
                            ),
                        ))
                    }
                },
            }
        }
        Ok(selection)
    }
}

/// Which renderer draws the garment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RendererKind {
    /// The views baked into the library: milliseconds, needs nothing (the default).
    #[default]
    Baked,
    /// Live Blender (Cycles) renders; needs Blender installed.
    Blender,
}

impl RendererKind {
    /// The kind's name: `baked` or `blender`.
    pub fn as_str(self) -> &'static str {
        match self {
            RendererKind::Baked => "baked",
            RendererKind::Blender => "blender",
        }
    }

    /// Opens a renderer of this kind: the built-in baked views, or Blender located as
    /// `blender` says (which runs `blender --version` once).
    ///
    /// Errors: `E_VALIDATION` when Blender options are given for the baked renderer,
    /// `E_RENDERER_UNAVAILABLE` when Blender cannot be found or is too old.
    pub fn open(self, blender: Option<BlenderOptions>) -> Result<Box<dyn Renderer>> {
        match (self, blender) {
            (RendererKind::Baked, None) => Ok(Box::new(BakedRenderer::builtin()?)),
            (RendererKind::Baked, Some(_)) => Err(Error::validation(
                "renderer",
                "Blender options apply to the live renderer; choose the `blender` renderer",
            )),
            (RendererKind::Blender, options) => {
                Ok(Box::new(BlenderRenderer::new(options.unwrap_or_default())?))
            }
        }
    }
}

impl std::fmt::Display for RendererKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RendererKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "baked" => Ok(RendererKind::Baked),
            "blender" => Ok(RendererKind::Blender),
            other => Err(Error::validation(
                "renderer",
                format!("unknown renderer `{other}`; use baked or blender"),
            )),
        }
    }
}

/// The first stage done: the composition and its encoded files (the atlas, and the print
/// file when selected).
#[derive(Debug)]
pub struct ComposedStage {
    /// The composition: print file, atlas, preview and preflight report as images.
    pub composition: Composition,
    /// The encoded atlas, then the print file when selected.
    pub outputs: Vec<Output>,
    color: GarmentColor,
    template: TemplatePack,
    selection: OutputSelection,
    cancel: Option<CancelToken>,
}

/// Composes `design` with `options` and encodes the stage's files: the atlas, and the
/// print file when `selection` asks for it.
///
/// Errors: those of [`compose`].
pub fn compose_stage(
    design: &[u8],
    options: &ComposeOptions,
    selection: &OutputSelection,
) -> Result<ComposedStage> {
    let composition = compose(design, options)?;
    let mut outputs = vec![Output {
        kind: OutputKind::Atlas,
        bytes: composition.atlas_png()?,
    }];
    if selection.print_file {
        outputs.push(Output {
            kind: OutputKind::PrintFile,
            bytes: composition.print_png()?,
        });
    }
    Ok(ComposedStage {
        composition,
        outputs,
        color: options.color,
        template: options.template.clone(),
        selection: selection.clone(),
        cancel: options.cancel.clone(),
    })
}

impl ComposedStage {
    /// The preflight report of the composition.
    pub fn preflight(&self) -> &PreflightReport {
        &self.composition.preflight
    }

    /// The texture atlas the renders wear.
    pub fn atlas(&self) -> &RgbaImage {
        &self.composition.atlas
    }

    /// Renders the selected stills and turntable with `renderer` and encodes them (PNG
    /// stills; MP4 and WebP encoded side by side). `progress` hears of every finished
    /// image. Returns the new files only (not this stage's own [`outputs`](Self::outputs)).
    ///
    /// Errors: the renderer's, the encoders' (`E_RENDER_FAILED`), or `E_CANCELLED` once
    /// the compose options' cancel token is set.
    pub fn render(
        &self,
        renderer: &dyn Renderer,
        progress: Option<&(dyn Fn(RenderProgress) + Sync)>,
    ) -> Result<Vec<Output>> {
        let mut request = RenderRequest::new(&self.composition.atlas, self.color)
            .with_outputs(self.selection.render_outputs())
            .with_template(&self.template);
        if let Some(progress) = progress {
            request = request.with_progress(progress);
        }
        if let Some(cancel) = &self.cancel {
            request = request.with_cancel(cancel.clone());
        }
        let rendered = renderer.render(&request)?;
        request.check_cancelled()?;
        let mut outputs = Vec::with_capacity(rendered.stills.len() + 2);
        for still in &rendered.stills {
            outputs.push(Output {
                kind: OutputKind::Still(still.view),
                bytes: encode_png(&still.image, None)?,
            });
        }
        if !rendered.turntable.is_empty() {
            let (mp4, webp) = rayon::join(
                || {
                    self.selection
                        .turntable_mp4
                        .then(|| encode_mp4(&rendered.turntable, rendered.fps))
                        .transpose()
                },
                || {
                    self.selection
                        .turntable_webp
                        .then(|| encode_webp(&rendered.turntable, rendered.fps))
                        .transpose()
                },
            );
            if let Some(bytes) = mp4? {
                outputs.push(Output {
                    kind: OutputKind::TurntableMp4,
                    bytes,
                });
            }
            if let Some(bytes) = webp? {
                outputs.push(Output {
                    kind: OutputKind::TurntableWebp,
                    bytes,
                });
            }
        }
        request.check_cancelled()?;
        Ok(outputs)
    }
}

/// Both stages at once: composes `design` and renders it, returning the composition's
/// preflight report and every selected file (atlas and print file first, then stills and
/// turntables).
pub fn render_design(
    design: &[u8],
    options: &ComposeOptions,
    selection: &OutputSelection,
    renderer: &dyn Renderer,
    progress: Option<&(dyn Fn(RenderProgress) + Sync)>,
) -> Result<(PreflightReport, Vec<Output>)> {
    let stage = compose_stage(design, options, selection)?;
    let rendered = stage.render(renderer, progress)?;
    let ComposedStage {
        composition,
        mut outputs,
        ..
    } = stage;
    outputs.extend(rendered);
    Ok((composition.preflight, outputs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip_and_are_distinct() {
        for kind in OutputKind::ALL {
            assert_eq!(OutputKind::from_file_name(kind.file_name()), Some(kind));
        }
        assert_eq!(OutputKind::from_file_name("side.png"), None);
        let mut names: Vec<_> = OutputKind::ALL.iter().map(|k| k.file_name()).collect();
        names.dedup();
        assert_eq!(names.len(), OutputKind::ALL.len());
    }

    #[test]
    fn output_lists_parse() {
        let none: OutputSelection = "none".parse().unwrap();
        assert_eq!(none, OutputSelection::none());
        assert_eq!(
            "all".parse::<OutputSelection>().unwrap(),
            OutputSelection::all()
        );
        let some: OutputSelection = "print, front,mp4".parse().unwrap();
        assert!(some.print_file && some.turntable_mp4 && !some.turntable_webp);
        assert_eq!(some.stills, vec![View::Front]);
        let stills: OutputSelection = "back,stills".parse().unwrap();
        assert_eq!(
            stills.stills,
            vec![View::Back, View::Front, View::ThreeQuarter]
        );
        let err = "print,side".parse::<OutputSelection>().unwrap_err();
        assert_eq!(err.code(), "E_VALIDATION");
        assert!(err.to_string().contains("`side`"), "{err}");
    }

    #[test]
    fn renderer_kinds_parse() {
        assert_eq!(
            "baked".parse::<RendererKind>().unwrap(),
            RendererKind::Baked
        );
        assert_eq!(
            "blender".parse::<RendererKind>().unwrap(),
            RendererKind::Blender
        );
        assert_eq!(
            "cycles".parse::<RendererKind>().unwrap_err().code(),
            "E_VALIDATION"
        );
        assert_eq!(
            RendererKind::Baked
                .open(Some(BlenderOptions::default()))
                .err()
                .map(|e| e.code()),
            Some("E_VALIDATION")
        );
    }
}
