//! `render-engine mockup`: a design on a merchant's own garment photos, one image per
//! photo view and garment colour.

use std::path::PathBuf;

use clap::Args;
use render_engine::mockup::{
    encode_mockups, render_mockups, MockupFormat, MockupOptions, PhotoView,
};
use render_engine::{read_design_file, Alignment, DecodeLimits, FitMode, GarmentColor, Result};

use crate::output::{ensure_dir, write_atomic};

/// Arguments of `render-engine mockup`.
#[derive(Debug, Args)]
pub struct MockupArgs {
    /// The design file: PNG, JPEG, WebP or SVG.
    pub design: PathBuf,
    /// A photo pack folder (its template.json lists `photo_views`) or a view manifest file.
    #[arg(long)]
    pub photo: PathBuf,
    /// Garment colour(s) as #rrggbb; repeat for several. Without one, the photo keeps its
    /// own colour. Re-tinting needs a view with a garment mask.
    #[arg(long = "color")]
    pub colors: Vec<String>,
    /// The folder to write the images into.
    #[arg(long)]
    pub out: PathBuf,
    /// Image format: jpeg or png.
    #[arg(long, default_value = "jpeg")]
    pub format: String,
    /// JPEG quality, 1 to 100.
    #[arg(long, default_value_t = 90)]
    pub quality: u8,
    /// How the design fits the print area: contain, cover or stretch.
    #[arg(long, default_value = "contain")]
    pub fit: String,
    /// Where the design sits in the print area (top, center, ...).
    #[arg(long, default_value = "top")]
    pub align: String,
}

/// Runs the command.
pub fn run(args: MockupArgs) -> Result<()> {
    let format: MockupFormat = args.format.parse()?;
    let colors = args
        .colors
        .iter()
        .map(|c| GarmentColor::parse_field(c, "color"))
        .collect::<Result<Vec<_>>>()?;
    let fit: FitMode = args.fit.parse()?;
    let align: Alignment = args.align.parse()?;
    let design = read_design_file(&args.design, &DecodeLimits::default())?;
    let views = PhotoView::load(&args.photo)?;
    let options = MockupOptions::default().with_fit(fit).with_align(align);
    let mockups = render_mockups(&design, &views, &colors, &options)?;
    ensure_dir(&args.out)?;
    let encoded = encode_mockups(&mockups, format, args.quality)?;
    for (mockup, bytes) in mockups.iter().zip(encoded) {
        let colour = match mockup.color {
            Some(c) => c.to_string().trim_start_matches('#').to_string(),
            None => "photo".to_string(),
        };
        let name = format!("{}-{colour}.{}", mockup.view, format.extension());
        write_atomic(&args.out.join(&name), &bytes)?;
        println!("{}", args.out.join(&name).display());
    }
    Ok(())
}
