//! `render-engine templates`: the garments (template packs) there are, with their presets.

use render_engine::render::{bake_pack, compact_bake, BakeOptions, BakeReport, RenderProgress};
use render_engine::{CancelToken, Error, Preset, Result, TemplatePack};
use serde::Serialize;

/// Arguments of `render-engine templates`.
#[derive(Debug, clap::Args)]
pub struct TemplatesArgs {
    /// A pack folder to list too (repeatable): a merchant's own garment.
    #[arg(long = "template", value_name = "PACK-DIR")]
    pub templates: Vec<String>,
    /// Print the list as JSON (an array of packs).
    #[arg(long)]
    pub json: bool,
}

/// One pack as `--json` prints it.
#[derive(Debug, Serialize)]
struct TemplateListing {
    id: String,
    name: String,
    /// `builtin`, or the pack folder.
    source: String,
    /// Whether the pack has a bake (renders; a pack without one only composes).
    baked: bool,
    panels: Vec<String>,
    atlas_width_px: u32,
    atlas_height_px: u32,
    pixels_per_inch: u32,
    presets: Vec<PresetListing>,
}

/// One preset of a pack: its print area in inches.
#[derive(Debug, Serialize)]
struct PresetListing {
    id: &'static str,
    panel: String,
    width_in: f64,
    height_in: f64,
    /// Where the area's top edge sits, inches below the panel's collar point.
    top_below_collar_in: f64,
    align: String,
}

fn listing(pack: &TemplatePack) -> TemplateListing {
    let (atlas_width_px, atlas_height_px) = pack.atlas_size_px();
    TemplateListing {
        id: pack.id().to_string(),
        name: pack.name().to_string(),
        source: pack
            .dir()
            .map_or_else(|| "builtin".to_string(), |d| d.display().to_string()),
        baked: pack.baked_views().is_ok(),
        panels: pack.panels().iter().map(|p| p.name.clone()).collect(),
        atlas_width_px,
        atlas_height_px,
        pixels_per_inch: pack.pixels_per_inch(),
        presets: Preset::ALL
            .iter()
            .map(|&preset| {
                let area = pack.preset_area(preset);
                let collar_y = pack
                    .panel(&area.panel)
                    .map_or(0.0, |panel| panel.collar_point[1]);
                PresetListing {
                    id: preset.as_str(),
                    top_below_collar_in: round2(area.y_in - collar_y),
                    panel: area.panel,
                    width_in: area.width_in,
                    height_in: area.height_in,
                    align: area.align.as_str().to_string(),
                }
            })
            .collect(),
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Lists the built-in packs, then the `--template` folders.
pub fn run(args: TemplatesArgs) -> Result<()> {
    let packs = TemplatePack::load_all(&args.templates)?;
    let listings: Vec<TemplateListing> = TemplatePack::with_builtin(&packs)
        .iter()
        .map(listing)
        .collect();
    if args.json {
        let text = serde_json::to_string_pretty(&listings)
            .map_err(|e| Error::Internal(format!("cannot write the list as JSON: {e}")))?;
        println!("{text}");
        return Ok(());
    }
    for t in &listings {
        let state = if t.baked {
            ""
        } else {
            ", not baked: composes only"
        };
        println!("{}  {} ({}{state})", t.id, t.name, t.source);
        for p in &t.presets {
            println!(
                "  {:<20} {:<12} {:>5.2} x {:<5.2} in, top {:.2} in below the collar, {}",
                p.id, p.panel, p.width_in, p.height_in, p.top_below_collar_in, p.align
            );
        }
    }
    Ok(())
}

/// Arguments of `render-engine template`.
#[derive(Debug, clap::Args)]
pub struct TemplateArgs {
    #[command(subcommand)]
    pub command: TemplateCommand,
}

/// The `template` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TemplateCommand {
    /// Bake a template pack's garment with Blender into <PACK-DIR>/baked/ (the views the
    /// default renderer draws). Ctrl-C or SIGTERM stops Blender and keeps the previous bake.
    Bake(BakeArgs),
    /// Re-encode a pack's existing bake in the compact form `bake` writes (for bakes made
    /// before it); checked, then swapped in.
    Compact {
        /// The template pack folder (holding template.json and baked/).
        pack: std::path::PathBuf,
    },
}

/// Arguments of `render-engine template bake`.
#[derive(Debug, clap::Args)]
pub struct BakeArgs {
    /// The template pack folder (holding template.json).
    pub pack: std::path::PathBuf,
    /// The Blender executable (default: BLENDER_PATH, then `blender` on PATH).
    #[arg(long)]
    pub blender: Option<std::path::PathBuf>,
    /// Side of the square stills, pixels.
    #[arg(long, default_value_t = BakeOptions::default().still_size)]
    pub still_size: u32,
    /// Side of the square turntable frames, pixels.
    #[arg(long, default_value_t = BakeOptions::default().frame_size)]
    pub frame_size: u32,
    /// Turntable frames (at least 24).
    #[arg(long, default_value_t = BakeOptions::default().frames)]
    pub frames: u32,
    /// Cycles samples per pixel of a still.
    #[arg(long, default_value_t = BakeOptions::default().still_samples)]
    pub still_samples: u32,
    /// Cycles samples per pixel of a turntable frame.
    #[arg(long, default_value_t = BakeOptions::default().frame_samples)]
    pub frame_samples: u32,
    /// Stop the bake after this many minutes.
    #[arg(long, default_value_t = 240)]
    pub timeout_minutes: u64,
}

/// Runs `template <subcommand>`.
pub fn run_template(args: TemplateArgs) -> Result<()> {
    match args.command {
        TemplateCommand::Bake(args) => bake(args),
        TemplateCommand::Compact { pack } => {
            let report = compact_bake(&pack)?;
            print_report(&report);
            Ok(())
        }
    }
}

/// Bakes the pack with a progress bar; SIGINT (Ctrl-C) or SIGTERM cancels the bake, which stops
/// Blender's process group and leaves the previous bake in place.
fn bake(args: BakeArgs) -> Result<()> {
    use indicatif::{ProgressBar, ProgressStyle};

    let mut options = BakeOptions::default()
        .with_sizes(args.still_size, args.frame_size)
        .with_frames(args.frames)
        .with_samples(args.still_samples, args.frame_samples)
        .with_timeout(std::time::Duration::from_secs(args.timeout_minutes * 60));
    if let Some(path) = &args.blender {
        options = options.with_blender_path(path);
    }
    let bar = ProgressBar::new(3 + u64::from(args.frames));
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("valid progress template"),
    );
    bar.set_message("building the garment");
    bar.enable_steady_tick(std::time::Duration::from_millis(250));
    let cancel = CancelToken::new();
    let pack = args.pack.clone();
    let report = crate::runtime()?.block_on(async {
        let task = {
            let (bar, cancel) = (bar.clone(), cancel.clone());
            tokio::task::spawn_blocking(move || {
                let on_progress = |p: RenderProgress| {
                    bar.set_length(p.total as u64);
                    bar.set_position(p.done as u64);
                    let eta = p
                        .eta
                        .map(|d| {
                            format!(
                                ", about {} min {:02} s left",
                                d.as_secs() / 60,
                                d.as_secs() % 60
                            )
                        })
                        .unwrap_or_default();
                    bar.set_message(format!("baking views{eta}"));
                };
                bake_pack(&pack, &options, Some(&on_progress), &cancel)
            })
        };
        tokio::pin!(task);
        tokio::select! {
            joined = &mut task => joined,
            Ok(()) = crate::signals::stop_requested() => {
                bar.set_message("stopping Blender (stop signal)");
                cancel.cancel();
                task.await
            }
        }
        .map_err(|e| Error::Internal(format!("the bake thread failed: {e}")))?
    });
    bar.finish_and_clear();
    print_report(&report?);
    Ok(())
}

/// The bake's summary on stderr, then each file with its size on stdout.
fn print_report(report: &BakeReport) {
    let by = if report.blender.is_empty() {
        String::new()
    } else {
        format!(" with Blender {}", report.blender)
    };
    eprintln!(
        "baked {}{by} in {:.0} s: {} files, {:.1} MB in {}",
        report.template,
        report.elapsed.as_secs_f64(),
        report.files.len(),
        report.total_bytes() as f64 / 1e6,
        report.dir.display()
    );
    for (name, size) in &report.files {
        println!("{}\t{size}", report.dir.join(name).display());
    }
}
