//! Rendering: product stills and turntable frames of the garment wearing an atlas.
//!
//! A [`Renderer`] takes the texture atlas made by the compositor and a garment colour and
//! returns the still views and the turntable frames as images. The embedded default is
//! [`BakedRenderer`]: it applies the atlas to views baked once in Blender (per pixel atlas
//! UV, coverage, diffuse light and specular), which takes milliseconds and needs nothing
//! at run time. [`BlenderRenderer`] renders the same garment live in Blender's Cycles
//! (path-traced stills, and the reference the bake is checked against). [`encode_mp4`]
//! and [`encode_webp`] turn the turntable frames into the
//! animation files.
//!
//! ```no_run
//! use render_engine::render::{BakedRenderer, RenderRequest, Renderer};
//! use render_engine::GarmentColor;
//!
//! let atlas = image::RgbaImage::new(1800, 1640); // normally the compositor's atlas
//! let renderer = BakedRenderer::builtin()?;
//! let out = renderer.render(&RenderRequest::new(&atlas, GarmentColor::parse("#1f2937")?))?;
//! let mp4 = render_engine::render::encode_mp4(&out.turntable, out.fps)?;
//! # Ok::<(), render_engine::Error>(())
//! ```

mod animation;
mod bake_encoding;
mod baked;
mod blender;
mod calibration;
pub(crate) mod knit;
mod mp4;

use image::RgbaImage;

use crate::cancel::CancelToken;
use crate::color::GarmentColor;
use crate::error::{Error, Result};
use crate::template::TemplatePack;

pub use animation::{encode_mp4, encode_webp};
pub use baked::{BakedRenderer, BakedViews};
pub use blender::{
    bake_pack, compact_bake, BakeOptions, BakeReport, BlenderInstall, BlenderOptions,
    BlenderRenderer, BlenderVersion,
};
pub use calibration::ColorCalibration;

/// A still camera preset of the product renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum View {
    /// The garment seen from the front.
    Front,
    /// The garment seen from behind.
    Back,
    /// The garment turned 35 degrees, seen slightly from above.
    ThreeQuarter,
}

impl View {
    /// Every still view, in the order renderers return them.
    pub const ALL: [View; 3] = [View::Front, View::Back, View::ThreeQuarter];

    /// The view's name: `front`, `back` or `three-quarter` (also its file stem).
    pub fn name(self) -> &'static str {
        match self {
            View::Front => "front",
            View::Back => "back",
            View::ThreeQuarter => "three-quarter",
        }
    }

    /// Parses a view name as [`View::name`] spells it.
    pub fn parse(name: &str) -> Result<View> {
        View::ALL
            .into_iter()
            .find(|v| v.name() == name)
            .ok_or_else(|| {
                Error::validation(
                    "view",
                    format!("unknown view `{name}`; use front, back or three-quarter"),
                )
            })
    }
}

impl std::str::FromStr for View {
    type Err = Error;
    fn from_str(name: &str) -> Result<View> {
        View::parse(name)
    }
}

impl std::fmt::Display for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which outputs a render should produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOutputs {
    /// The still views to render, in this order.
    pub stills: Vec<View>,
    /// Whether to render the turntable frames.
    pub turntable: bool,
}

impl Default for RenderOutputs {
    /// Every still and the turntable.
    fn default() -> Self {
        Self {
            stills: View::ALL.to_vec(),
            turntable: true,
        }
    }
}

/// Progress of a render, reported as work units complete (one per still or frame).
pub type ProgressFn<'a> = &'a (dyn Fn(RenderProgress) + Sync);

/// One progress report: `done` of `total` images are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderProgress {
    /// Images finished so far.
    pub done: usize,
    /// Images this render produces in all.
    pub total: usize,
    /// The estimated time left, when the backend can tell (the Blender backend, from
    /// the pace so far); `None` from the baked renderer, which takes milliseconds.
    pub eta: Option<std::time::Duration>,
}

/// What to render: the atlas, the garment colour and the outputs wanted.
#[derive(Clone)]
#[non_exhaustive]
pub struct RenderRequest<'a> {
    /// The texture atlas (straight alpha): the design placed on the garment's UV layout,
    /// transparent where the fabric shows its own colour.
    pub atlas: &'a RgbaImage,
    /// The fabric colour, seen wherever the atlas is transparent.
    pub color: GarmentColor,
    /// The outputs to produce.
    pub outputs: RenderOutputs,
    /// The background colour (sRGB); `None` uses the view pack's studio backdrop (the
    /// built-in garments': neutral `#f6f6f6`, as catalogue product photos use).
    pub background: Option<[u8; 3]>,
    /// The template pack the atlas was composed on: the garment to draw. `None` is the
    /// renderer's own garment (the built-in `classic-tee` unless it was built with other
    /// views). The baked renderer draws a pack folder with that pack's own bake, the
    /// Blender backend builds the garment from the pack's pattern.
    pub template: Option<&'a TemplatePack>,
    /// Called after each finished image (from worker threads).
    pub progress: Option<ProgressFn<'a>>,
    /// Set by the caller to stop the render early; the backend then returns
    /// `E_CANCELLED` (the baked renderer checks it between images, the Blender backend
    /// stops its process).
    pub cancel: Option<CancelToken>,
}

impl<'a> RenderRequest<'a> {
    /// A request for every still and the turntable on the default background.
    pub fn new(atlas: &'a RgbaImage, color: GarmentColor) -> Self {
        Self {
            atlas,
            color,
            outputs: RenderOutputs::default(),
            background: None,
            template: None,
            progress: None,
            cancel: None,
        }
    }

    /// The same request for the garment of template pack `template`.
    pub fn with_template(mut self, template: &'a TemplatePack) -> Self {
        self.template = Some(template);
        self
    }

    /// The same request producing only `outputs`.
    pub fn with_outputs(mut self, outputs: RenderOutputs) -> Self {
        self.outputs = outputs;
        self
    }

    /// The same request reporting progress to `progress`.
    pub fn with_progress(mut self, progress: ProgressFn<'a>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The same request, stopped early when `cancel` is cancelled.
    pub fn with_cancel(mut self, cancel: CancelToken) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// `Err(E_CANCELLED)` once the request's token is cancelled; backends call this
    /// between units of work.
    pub fn check_cancelled(&self) -> Result<()> {
        match &self.cancel {
            Some(token) if token.is_cancelled() => {
                Err(Error::Cancelled("the render was cancelled".into()))
            }
            _ => Ok(()),
        }
    }
}

impl std::fmt::Debug for RenderRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderRequest")
            .field("atlas", &self.atlas.dimensions())
            .field("color", &self.color)
            .field("outputs", &self.outputs)
            .field("background", &self.background)
            .field("template", &self.template.map(TemplatePack::id))
            .finish_non_exhaustive()
    }
}

/// One rendered still.
#[derive(Debug, Clone)]
pub struct Still {
    /// The camera preset.
    pub view: View,
    /// The opaque sRGB image.
    pub image: RgbaImage,
}

/// What a renderer produced.
#[derive(Debug, Clone, Default)]
pub struct RenderOutput {
    /// The stills, in the order requested.
    pub stills: Vec<Still>,
    /// The turntable frames, frame `i` showing the garment turned `360 * i / n` degrees;
    /// empty when not requested. The loop is seamless: the frame after the last is the
    /// first.
    pub turntable: Vec<RgbaImage>,
    /// The turntable's intended playback rate, frames per second.
    pub fps: u32,
}

impl RenderOutput {
    /// The still of `view`, if it was rendered.
    pub fn still(&self, view: View) -> Option<&RgbaImage> {
        self.stills
            .iter()
            .find(|s| s.view == view)
            .map(|s| &s.image)
    }
}

/// A rendering backend: the in-process [`BakedRenderer`], or a live one (Blender) beside it.
///
/// Object safe, so backends can be chosen at run time (`Box<dyn Renderer>`).
pub trait Renderer: Send + Sync {
    /// A short name of the backend (`"baked"`, `"blender"`).
    fn name(&self) -> &str;

    /// Every setting of this renderer that changes its images (samples, sizes, the
    /// version of an external renderer), as text. The engine's reuse fingerprint
    /// includes it, so changed settings render afresh. Empty by default.
    fn settings(&self) -> String {
        String::new()
    }

    /// Renders the requested stills and turntable frames.
    ///
    /// # Errors
    ///
    /// `E_VALIDATION` for a request the backend cannot serve (an atlas of the wrong
    /// size), `E_RENDER_FAILED` when rendering itself fails, `E_RENDERER_UNAVAILABLE` when
    /// the backend cannot run here.
    fn render(&self, request: &RenderRequest<'_>) -> Result<RenderOutput>;

    /// Checks, before any work is queued, that this renderer can draw the garment of
    /// `template` (the baked renderer needs the pack's bake). Accepts every pack by
    /// default.
    ///
    /// # Errors
    ///
    /// `E_VALIDATION` naming what is missing and how to make it.
    fn check_template(&self, template: &TemplatePack) -> Result<()> {
        let _ = template;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_names_round_trip() {
        for v in View::ALL {
            assert_eq!(View::parse(v.name()).unwrap(), v);
            assert_eq!(v.to_string(), v.name());
        }
        assert_eq!(View::parse("side").unwrap_err().code(), "E_VALIDATION");
        assert_eq!(
            serde_json::to_string(&View::ThreeQuarter).unwrap(),
            "\"three-quarter\""
        );
    }

    #[test]
    fn renderer_is_object_safe() {
        fn takes(_: &dyn Renderer) {}
        let _ = takes;
    }
}
