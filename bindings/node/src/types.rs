//! The plain JS objects that cross the boundary, as napi-rs objects (their TypeScript
//! interfaces are generated from these definitions, doc comments included).
//!
//! Options are camelCase, as Node users expect; jobs and progress events keep the Rust
//! JSON's snake_case so they drop into a Medusa model unchanged.

use napi::bindgen_prelude::*;
use napi_derive::napi;

/// A print area given directly in inches, relative to a panel's collar point.
#[napi(object)]
pub struct CustomPlacement {
    /// The panel: `front`, `back`, `left_sleeve` or `right_sleeve` on `classic-tee`.
    pub panel: String,
    /// The area's left edge, inches right of the panel's centre line (negative: left).
    pub x_in: f64,
    /// The area's top edge, inches below the panel's collar point.
    pub y_in: f64,
    /// The area's width in inches.
    pub width_in: f64,
    /// The area's height in inches.
    pub height_in: f64,
    /// Where the design sits in the area: `top` (default), `center`, `bottom`, `left`,
    /// `right` or a corner such as `top-left`.
    pub align: Option<String>,
}

/// How a design is composed: placement, fit, garment colour, resolution and limits.
#[napi(object)]
pub struct ComposeOptions {
    /// The placement preset: `chest-large` (default), `dead-center-medium` or `back-small`.
    pub preset: Option<String>,
    /// A custom print area instead of a preset.
    pub placement: Option<CustomPlacement>,
    /// The template pack: a built-in id (`classic-tee`, the default, `long-sleeve-tee`
    /// or `hoodie`) or the path of a pack folder.
    pub template: Option<String>,
    /// How the design fits the area: `contain` (default), `cover` or `stretch`.
    pub fit: Option<String>,
    /// The garment colour as `#rrggbb` (default white).
    pub color: Option<String>,
    /// The print file's resolution, 72 to 1200 (default 300).
    pub print_dpi: Option<u32>,
    /// Trim fully transparent margins before fitting (default true).
    pub trim: Option<bool>,
    /// The largest design file accepted, in bytes (default 25 MiB).
    pub max_bytes: Option<f64>,
    /// The largest design accepted, in pixels (default 100 million).
    pub max_pixels: Option<f64>,
    /// The preview's width in pixels (default 600).
    pub preview_width: Option<u32>,
}

/// What `compose` produces.
#[napi(object)]
pub struct Composition {
    /// The print file: PNG at the print DPI (written into the file), transparent around
    /// the design.
    pub print_file: Buffer,
    /// The garment texture atlas: PNG, the design on the garment's UV layout.
    pub atlas: Buffer,
    /// A small PNG preview of the pattern.
    pub preview: Buffer,
    /// The preflight report (resolution, clipping, visibility warnings).
    #[napi(ts_type = "PreflightReport")]
    pub preflight: serde_json::Value,
}

/// How a design is composed and rendered (the compose options plus the outputs wanted).
#[napi(object)]
pub struct RenderOptions {
    /// The placement preset: `chest-large` (default), `dead-center-medium` or `back-small`.
    pub preset: Option<String>,
    /// A custom print area instead of a preset.
    pub placement: Option<CustomPlacement>,
    /// The template pack: a built-in id (`classic-tee`, the default, `long-sleeve-tee`
    /// or `hoodie`) or the path of a pack folder.
    pub template: Option<String>,
    /// How the design fits the area: `contain` (default), `cover` or `stretch`.
    pub fit: Option<String>,
    /// The garment colour as `#rrggbb` (default white).
    pub color: Option<String>,
    /// The print file's resolution, 72 to 1200 (default 300).
    pub print_dpi: Option<u32>,
    /// Trim fully transparent margins before fitting (default true).
    pub trim: Option<bool>,
    /// The largest design file accepted, in bytes (default 25 MiB).
    pub max_bytes: Option<f64>,
    /// The largest design accepted, in pixels (default 100 million).
    pub max_pixels: Option<f64>,
    /// The stills to render: any of `front`, `back`, `three-quarter` (default all three).
    pub stills: Option<Vec<String>>,
    /// The turntable encodings: any of `mp4`, `webp` (default both; `[]` for none).
    pub turntable: Option<Vec<String>>,
}

/// The rendered stills, PNG each; a still not asked for is absent.
#[napi(object)]
pub struct Stills {
    /// The front view.
    pub front: Option<Buffer>,
    /// The back view.
    pub back: Option<Buffer>,
    /// The three-quarter view.
    pub three_quarter: Option<Buffer>,
}

/// What `render` produces.
#[napi(object)]
pub struct RenderResult {
    /// The product stills.
    pub stills: Stills,
    /// The seamless turntable as MP4 (H.264), when asked for.
    pub turntable_mp4: Option<Buffer>,
    /// The seamless turntable as animated WebP, when asked for.
    pub turntable_webp: Option<Buffer>,
    /// The preflight report of the composition the renders wear.
    #[napi(ts_type = "PreflightReport")]
    pub preflight: serde_json::Value,
}

/// Where the print goes on a garment photo.
#[napi(object)]
pub struct PhotoPrintArea {
    /// The print area's corners on the photo, in pixels: top-left, top-right,
    /// bottom-right, bottom-left (perspective allowed).
    #[napi(ts_type = "[[number, number], [number, number], [number, number], [number, number]]")]
    pub quad: Vec<Vec<f64>>,
    /// The print area's physical width in inches (sets the design's aspect).
    pub width_in: f64,
    /// The print area's physical height in inches.
    pub height_in: f64,
}

/// A displacement map that bends the print along the photo's folds.
#[napi(object)]
pub struct PhotoDisplacement {
    /// The map (JPEG or PNG, the photo's size); 128 means no shift.
    pub image: Buffer,
    /// The shift in photo pixels of a full-white (255) or full-black (0) value.
    pub scale_px: f64,
    /// Which channels drive the shift: `luminance` (default) or `rg` (red x, green y).
    pub channels: Option<String>,
}

/// A merchant's own garment photo, ready to wear a design.
#[napi(object)]
pub struct Photo {
    /// The photo (JPEG or PNG).
    pub image: Buffer,
    /// Where the print goes on it.
    pub print_area: PhotoPrintArea,
    /// An optional displacement map; a gentle one is derived from the photo otherwise.
    pub displacement: Option<PhotoDisplacement>,
    /// An optional garment mask (white = garment, the photo's size), needed to re-tint.
    pub mask: Option<Buffer>,
    /// A name for the view (default `photo`), used in error messages.
    pub name: Option<String>,
}

/// How mockups are fitted and encoded.
#[napi(object)]
pub struct MockupOptions {
    /// Garment colours as `#rrggbb`: one mockup each (needs a mask). Without any, one
    /// mockup in the photo's own colour.
    pub colors: Option<Vec<String>>,
    /// `jpeg` (default) or `png`.
    pub format: Option<String>,
    /// JPEG quality, 1 to 100 (default 90).
    pub quality: Option<u32>,
    /// How the design fits the print area: `contain` (default), `cover` or `stretch`.
    pub fit: Option<String>,
    /// Where it sits when it does not fill the area (default `top`).
    pub align: Option<String>,
    /// Trim fully transparent margins before fitting (default true).
    pub trim: Option<bool>,
}

/// A placement preset of a template.
#[napi(object)]
pub struct PresetInfo {
    /// The preset's id (`chest-large`, ...).
    pub id: String,
    /// The panel it is on.
    pub panel: String,
    /// The print area's width in inches.
    pub width_in: f64,
    /// The print area's height in inches.
    pub height_in: f64,
    /// Where the design sits in the area.
    pub align: String,
}

/// A template pack (a garment with its pattern, atlas and presets).
#[napi(object)]
pub struct TemplateInfo {
    /// The pack's id (`classic-tee`).
    pub id: String,
    /// Its human name.
    pub name: String,
    /// The pattern's panels (`front`, `back`, ...).
    pub panels: Vec<String>,
    /// The atlas width in pixels.
    pub atlas_width: u32,
    /// The atlas height in pixels.
    pub atlas_height: u32,
    /// The atlas resolution in pixels per inch.
    pub pixels_per_inch: u32,
    /// Its placement presets.
    pub presets: Vec<PresetInfo>,
}
