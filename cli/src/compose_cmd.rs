//! `render-engine compose`: a design in, `print.png`, `atlas.png`, `preview.png` and
//! `preflight.json` out.

use std::path::PathBuf;

use clap::Args;
use render_engine::{
    compose, read_design_file, Alignment, ComposeOptions, CustomPlacement, DecodeLimits, Error,
    FitMode, GarmentColor, Placement, Preset, Result, TemplatePack,
};

use crate::output::{ensure_dir, write_atomic};

/// Arguments of `render-engine compose`.
#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// The design file: PNG, JPEG, WebP or SVG (recognised by content, not by name).
    pub design: PathBuf,
    /// Placement preset: chest-large, dead-center-medium or back-small.
    #[arg(long, default_value = "chest-large", conflicts_with = "panel")]
    pub preset: String,
    /// Custom placement instead of a preset: the panel (front, back, left_sleeve, right_sleeve).
    #[arg(long, requires_all = ["x", "y", "width", "height"])]
    pub panel: Option<String>,
    /// Custom placement: the area's left edge, inches right of the panel's centre line.
    #[arg(long, allow_hyphen_values = true, requires = "panel")]
    pub x: Option<f64>,
    /// Custom placement: the area's top edge, inches below the panel's collar point.
    #[arg(long, allow_hyphen_values = true, requires = "panel")]
    pub y: Option<f64>,
    /// Custom placement: the area's width in inches.
    #[arg(long, requires = "panel")]
    pub width: Option<f64>,
    /// Custom placement: the area's height in inches.
    #[arg(long, requires = "panel")]
    pub height: Option<f64>,
    /// Custom placement: where the design sits in the area (top-left, top, ..., center, ...).
    #[arg(long, default_value = "top", requires = "panel")]
    pub align: String,
    /// How the design fits its area: contain, cover or stretch.
    #[arg(long, default_value = "contain")]
    pub fit: String,
    /// Garment colour as #rrggbb.
    #[arg(long, default_value = "#ffffff")]
    pub color: String,
    /// Template pack: a built-in id (classic-tee) or a pack folder.
    #[arg(long, default_value = "classic-tee")]
    pub template: String,
    /// Print resolution in DPI.
    #[arg(long, default_value_t = render_engine::DEFAULT_PRINT_DPI)]
    pub dpi: u32,
    /// Keep fully transparent margins instead of trimming them before fitting.
    #[arg(long)]
    pub no_trim: bool,
    /// Largest design file accepted, in bytes.
    #[arg(long, default_value_t = DecodeLimits::DEFAULT_MAX_BYTES)]
    pub max_bytes: u64,
    /// Most design pixels accepted (width x height).
    #[arg(long, default_value_t = DecodeLimits::DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    /// Output folder (created if needed).
    #[arg(long)]
    pub out: PathBuf,
}

impl ComposeArgs {
    /// Turns the arguments into options, reporting every bad one.
    pub fn options(&self) -> Result<ComposeOptions> {
        let template = TemplatePack::named(&self.template)?;
        let placement = match &self.panel {
            Some(panel) => Placement::Custom(CustomPlacement {
                panel: panel.clone(),
                x_in: self.x.unwrap_or_default(),
                y_in: self.y.unwrap_or_default(),
                width_in: self.width.unwrap_or_default(),
                height_in: self.height.unwrap_or_default(),
                align: self.align.parse::<Alignment>()?,
            }),
            None => Placement::Preset(Preset::parse_field(&self.preset, "preset")?),
        };
        let options = ComposeOptions::new(placement)
            .with_template(template)
            .with_fit(self.fit.parse::<FitMode>()?)
            .with_color(GarmentColor::parse(&self.color)?)
            .with_print_dpi(self.dpi)
            .with_trim(!self.no_trim)
            .with_limits(
                DecodeLimits::default()
                    .with_max_bytes(self.max_bytes)
                    .with_max_pixels(self.max_pixels),
            );
        options.area()?;
        Ok(options)
    }
}

/// Runs the subcommand.
pub fn run(args: ComposeArgs) -> Result<()> {
    let options = args.options()?;
    let design = read_design_file(&args.design, &options.limits)?;
    let result = compose(&design, &options)?;
    let report = serde_json::to_vec_pretty(&result.preflight)
        .map_err(|e| Error::Internal(format!("cannot serialise the report: {e}")))?;
    // Encode everything before writing anything.
    let files = [
        ("print.png", result.print_png()?),
        ("atlas.png", result.atlas_png()?),
        ("preview.png", result.preview_png()?),
        ("preflight.json", report),
    ];
    ensure_dir(&args.out)?;
    for (name, bytes) in &files {
        write_atomic(&args.out.join(name), bytes)?;
    }
    println!("{}", result.preflight.summary());
    Ok(())
}
