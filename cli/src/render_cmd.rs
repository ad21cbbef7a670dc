//! `render-engine render`: the main job, compose and render with the embedded defaults.
//!
//! Writes the print file, the atlas, the preflight report, the three stills and the
//! turntable (MP4 and WebP) into one directory. By default the renders come from the views
//! baked into the library (no Blender); `--renderer blender` renders them live in Cycles.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use render_engine::render::{BlenderOptions, RenderProgress, Renderer};
use render_engine::{
    compose_stage, read_design_file, ComposeOptions, DecodeLimits, Error, GarmentColor, OutputKind,
    OutputSelection, Preset, RendererKind, Result, TemplatePack,
};

use crate::output::{ensure_dir, write_atomic};

/// Arguments of `render-engine render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The design: PNG, JPEG, WebP or SVG.
    pub design: PathBuf,
    /// The placement preset: chest-large, dead-center-medium or back-small.
    #[arg(long, default_value = "chest-large")]
    pub preset: String,
    /// The garment colour, #rrggbb.
    #[arg(long, default_value = "#ffffff")]
    pub color: String,
    /// The garment: a built-in template id (`render-engine templates` lists them) or a
    /// baked template pack folder.
    #[arg(long, default_value = render_engine::template::BUILTIN_ID)]
    pub template: String,
    /// The directory to write the outputs into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// The rendering backend: `baked` (embedded views, milliseconds, needs nothing) or
    /// `blender` (live Cycles renders; needs Blender 3.4 or newer).
    #[arg(long, default_value = "baked")]
    pub renderer: String,
    /// Cycles samples per pixel (`--renderer blender` only; default 32).
    #[arg(long)]
    pub samples: Option<u32>,
    /// The Blender executable (`--renderer blender` only; default: BLENDER_PATH, then
    /// `blender` on PATH).
    #[arg(long)]
    pub blender: Option<PathBuf>,
}

/// The backend `--renderer` names, with the Blender flags when given.
fn make_renderer(args: &RenderArgs) -> Result<Box<dyn Renderer>> {
    let blender = (args.samples.is_some() || args.blender.is_some()).then(|| {
        let mut options = BlenderOptions::default();
        if let Some(samples) = args.samples {
            options = options.with_samples(samples);
        }
        if let Some(path) = &args.blender {
            options = options.with_blender_path(path);
        }
        options
    });
    let kind: RendererKind = args.renderer.parse()?;
    if kind == RendererKind::Baked && blender.is_some() {
        let flag = if args.samples.is_some() {
            "samples"
        } else {
            "blender"
        };
        return Err(Error::validation(
            flag,
            format!("--{flag} applies to the live renderer; add --renderer blender"),
        ));
    }
    kind.open(blender)
}

/// The files `render` writes, in order.
pub const OUTPUTS: [&str; 8] = [
    "print.png",
    "atlas.png",
    "preflight.json",
    "front.png",
    "back.png",
    "three-quarter.png",
    "turntable.mp4",
    "turntable.webp",
];

/// Runs the command: writes every file of [`OUTPUTS`] into `--out` and lists them.
pub fn run(args: RenderArgs) -> Result<()> {
    let started = Instant::now();
    let preset: Preset = args.preset.parse()?;
    let color: GarmentColor = args.color.parse()?;
    let template = TemplatePack::named(&args.template)?;
    let design = read_design_file(&args.design, &DecodeLimits::default())?;
    let renderer = make_renderer(&args)?;
    // Refuse a pack this renderer cannot draw (an unbaked folder) before any work.
    renderer.check_template(&template)?;
    ensure_dir(&args.out)?;
    // Steps: compose, then each still and frame (the renderer says how many), then
    // encoding and writing.
    let bar = ProgressBar::new(3);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("valid progress template"),
    );

    bar.set_message("composing");
    let options = ComposeOptions::new(preset)
        .with_color(color)
        .with_template(template.clone());
    let stage = compose_stage(&design, &options, &OutputSelection::all())?;
    bar.inc(1);

    bar.set_message(format!("rendering ({})", renderer.name()));
    let on_progress = |p: RenderProgress| {
        bar.set_length(p.total as u64 + 3);
        bar.set_position(1 + p.done as u64);
        match p.eta {
            _ if p.done >= p.total => bar.set_message("encoding turntable"),
            Some(eta) => bar.set_message(format!(
                "rendering ({}), about {} s left",
                renderer.name(),
                eta.as_secs()
            )),
            None => {}
        }
    };
    let rendered = stage.render(renderer.as_ref(), Some(&on_progress))?;
    bar.inc(1);

    bar.set_message("writing");
    let preflight = serde_json::to_vec_pretty(stage.preflight())
        .map_err(|e| Error::Internal(format!("cannot write preflight.json: {e}")))?;
    let by_kind = |kind: OutputKind| {
        stage
            .outputs
            .iter()
            .chain(&rendered)
            .find(|o| o.kind == kind)
    };
    let mut files: Vec<(&str, &[u8])> = Vec::with_capacity(OUTPUTS.len());
    for name in OUTPUTS {
        let bytes: &[u8] = match OutputKind::from_file_name(name) {
            Some(kind) => {
                &by_kind(kind)
                    .ok_or_else(|| Error::Internal(format!("the pipeline produced no {name}")))?
                    .bytes
            }
            None => &preflight,
        };
        files.push((name, bytes));
    }
    for (name, bytes) in &files {
        write_atomic(&args.out.join(name), bytes)?;
    }
    bar.inc(1);
    bar.finish_and_clear();
    eprintln!(
        "rendered {} ({}, {}, {}) in {:.2} s",
        args.design.display(),
        template.id(),
        preset,
        color,
        started.elapsed().as_secs_f64()
    );
    for (name, _) in &files {
        println!("{}", args.out.join(name).display());
    }
    Ok(())
}
