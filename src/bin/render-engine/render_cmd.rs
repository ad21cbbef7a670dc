//! `render-engine render`: the main job, compose and render with the embedded defaults.
//!
//! Writes the print file, the atlas, the preflight report, the three stills and the
//! turntable (MP4 and WebP) into one directory. By default the renders come from the views
//! baked into the library (no Blender); `--renderer blender` renders them live in Cycles.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use render_engine::compose::{compose, encode_png, ComposeOptions};
use render_engine::render::{
    encode_mp4, encode_webp, BakedRenderer, BlenderOptions, BlenderRenderer, RenderProgress,
    RenderRequest, Renderer,
};
use render_engine::{Error, GarmentColor, Preset, Result};

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
    /// The directory to write the outputs into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// The rendering backend: `baked` (embedded views, milliseconds, needs nothing) or
    /// `blender` (live Cycles renders; needs Blender 3.4 or newer).
    #[arg(long, default_value = "baked", value_parser = ["baked", "blender"])]
    pub renderer: String,
    /// Cycles samples per pixel (`--renderer blender` only; default 32).
    #[arg(long)]
    pub samples: Option<u32>,
    /// The Blender executable (`--renderer blender` only; default: BLENDER_PATH, then
    /// `blender` on PATH).
    #[arg(long)]
    pub blender: Option<PathBuf>,
}

/// The backend `--renderer` names, and how many turntable frames it renders.
fn make_renderer(args: &RenderArgs) -> Result<(Box<dyn Renderer>, usize)> {
    if args.renderer == "blender" {
        let mut options = BlenderOptions::default();
        if let Some(samples) = args.samples {
            options = options.with_samples(samples);
        }
        if let Some(path) = &args.blender {
            options = options.with_blender_path(path);
        }
        let renderer = BlenderRenderer::new(options)?;
        let frames = renderer.options().frames;
        return Ok((Box::new(renderer), frames));
    }
    for (given, flag) in [
        (args.samples.is_some(), "samples"),
        (args.blender.is_some(), "blender"),
    ] {
        if given {
            return Err(Error::validation(
                flag,
                format!("--{flag} applies to the live renderer; add --renderer blender"),
            ));
        }
    }
    let renderer = BakedRenderer::builtin()?;
    let frames = renderer.views().turntable_frames();
    Ok((Box::new(renderer), frames))
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
    let preset = Preset::parse_field(&args.preset, "preset")?;
    let color = GarmentColor::parse_field(&args.color, "color")?;
    let design = std::fs::read(&args.design).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound {
            what: "design file",
            id: args.design.display().to_string(),
        },
        _ => Error::Io(e),
    })?;
    let (renderer, frames) = make_renderer(&args)?;
    ensure_dir(&args.out)?;
    // Steps: compose, each still and frame, the two encodings, writing the files.
    let total = 1 + 3 + frames + 2 + 1;
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("valid progress template"),
    );

    bar.set_message("composing");
    let options = ComposeOptions::new(preset).with_color(color);
    let composition = compose(&design, &options)?;
    bar.inc(1);

    bar.set_message(format!("rendering ({})", renderer.name()));
    let base = bar.position();
    let on_progress = |p: RenderProgress| {
        bar.set_position(base + p.done as u64);
        if let Some(eta) = p.eta {
            bar.set_message(format!(
                "rendering ({}), about {} s left",
                renderer.name(),
                eta.as_secs()
            ));
        }
    };
    let rendered = renderer
        .render(&RenderRequest::new(&composition.atlas, color).with_progress(&on_progress))?;

    bar.set_message("encoding turntable");
    let (mp4, webp) = rayon::join(
        || encode_mp4(&rendered.turntable, rendered.fps),
        || encode_webp(&rendered.turntable, rendered.fps),
    );
    let (mp4, webp) = (mp4?, webp?);
    bar.inc(2);

    bar.set_message("writing");
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("print.png", composition.print_png()?),
        ("atlas.png", composition.atlas_png()?),
        (
            "preflight.json",
            serde_json::to_vec_pretty(&composition.preflight)
                .map_err(|e| Error::RenderFailed(format!("cannot write preflight.json: {e}")))?,
        ),
    ];
    for still in &rendered.stills {
        let name = match still.view.name() {
            "front" => "front.png",
            "back" => "back.png",
            _ => "three-quarter.png",
        };
        files.push((name, encode_png(&still.image, None)?));
    }
    files.push(("turntable.mp4", mp4));
    files.push(("turntable.webp", webp));
    debug_assert_eq!(files.iter().map(|f| f.0).collect::<Vec<_>>(), OUTPUTS);
    for (name, bytes) in &files {
        write_atomic(&args.out.join(name), bytes)?;
    }
    bar.inc(1);
    bar.finish_and_clear();
    eprintln!(
        "rendered {} ({}, {}) in {:.2} s",
        args.design.display(),
        preset,
        color,
        started.elapsed().as_secs_f64()
    );
    for (name, _) in &files {
        println!("{}", args.out.join(name).display());
    }
    Ok(())
}
