//! Submitting jobs: the design is loaded, checked and stored before the job is created.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::config::{inside_root, EngineConfig};
use crate::blobs::BlobKey;
use crate::color::GarmentColor;
use crate::design::{
    checked_raster_dimensions, sniff_format, validate_design, DecodeLimits, DesignFormat,
};
use crate::error::{Error, Result};
use crate::job::{NewRenderJob, Preset};

/// Where a submitted design comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DesignSource {
    /// The design's bytes.
    Bytes(Vec<u8>),
    /// A `file://` URL inside the configured allowed root, or an `http(s)://` URL when
    /// downloads are enabled ([`crate::engine::HttpDesigns`]): never from a loopback,
    /// private, link-local, unspecified or multicast address unless allowed.
    Url(String),
}

/// A job to submit: its fields and its design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Submission {
    /// The Medusa product the renders are for.
    pub product_id: String,
    /// The Medusa variant, if any.
    pub variant_id: Option<String>,
    /// The placement preset.
    pub preset: Preset,
    /// The garment colour (white when absent); kept in the job's `metadata.color`.
    pub color: Option<GarmentColor>,
    /// The template id (the built-in classic tee when absent).
    pub template_id: Option<String>,
    /// Free metadata kept on the job (an object).
    pub metadata: Option<Map<String, Value>>,
    /// The design.
    pub design: DesignSource,
    /// Submissions with the same key make one job.
    pub idempotency_key: Option<String>,
    /// Higher runs first (0 by default).
    pub priority: i32,
}

impl Submission {
    /// A submission with the required fields and every other field at its default.
    pub fn new(product_id: impl Into<String>, preset: Preset, design: DesignSource) -> Self {
        Self {
            product_id: product_id.into(),
            variant_id: None,
            preset,
            color: None,
            template_id: None,
            metadata: None,
            design,
            idempotency_key: None,
            priority: 0,
        }
    }

    /// Sets the garment colour.
    pub fn with_color(mut self, color: GarmentColor) -> Self {
        self.color = Some(color);
        self
    }

    /// Sets the variant.
    pub fn with_variant(mut self, variant_id: impl Into<String>) -> Self {
        self.variant_id = Some(variant_id.into());
        self
    }

    /// Sets the idempotency key.
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Sets the template pack by id (one the engine was configured with).
    pub fn with_template(mut self, template_id: impl Into<String>) -> Self {
        self.template_id = Some(template_id.into());
        self
    }

    /// Sets the free metadata kept on the job.
    pub fn with_metadata(mut self, metadata: Map<String, Value>) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Sets the priority: higher runs first.
    pub fn with_priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }
}

/// A design that passed the checks, ready to store.
pub(crate) struct CheckedDesign {
    pub(crate) bytes: Vec<u8>,
    pub(crate) key: BlobKey,
    pub(crate) format: DesignFormat,
}

/// Loads the design's bytes from its source.
pub(crate) async fn load(source: DesignSource, config: &EngineConfig) -> Result<Vec<u8>> {
    match source {
        DesignSource::Bytes(bytes) => Ok(bytes),
        DesignSource::Url(url) => {
            let parsed = url::Url::parse(&url)
                .map_err(|e| Error::validation("design", format!("`{url}` is not a URL: {e}")))?;
            match parsed.scheme() {
                "file" => {
                    let Some(root) = &config.allowed_file_root else {
                        return Err(Error::validation(
                            "design",
                            "file:// designs are refused: no allowed root directory is \
                             configured (EngineConfig::with_allowed_file_root)",
                        ));
                    };
                    let path = parsed.to_file_path().map_err(|()| {
                        Error::validation("design", format!("`{url}` is not a local file path"))
                    })?;
                    // Refused on the path's text before the file system is touched, so
                    // a path outside the root gets the same answer whether or not it
                    // exists (no existence oracle); symlinks are checked after.
                    if !lexically_inside(root, &path) {
                        return Err(outside_root(root, &path));
                    }
                    let path = inside_root(root, &path)?;
                    read_capped(&path, config.max_design_bytes).await
                }
                "http" | "https" => {
                    if !config.http.enabled {
                        return Err(Error::validation(
                            "design",
                            "http(s) design URLs are refused: downloads are not enabled \
                             (EngineConfig::with_http_designs); pass the bytes or a file:// URL",
                        ));
                    }
                    let policy = config.http.clone();
                    let max = config.max_design_bytes;
                    tokio::task::spawn_blocking(move || super::fetch::fetch(&url, &policy, max))
                        .await
                        .map_err(super::join_error)?
                }
                other => Err(Error::validation(
                    "design",
                    format!("the URL scheme `{other}` is not supported; use file:// or http(s)://"),
                )),
            }
        }
    }
}

/// `path` with `.` and `..` resolved on its text alone (`..` at the top stays at the top).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Whether the absolute `path` names something inside `root` (as configured or as
/// resolved), judged on the text of both: no file under `path` is looked at.
fn lexically_inside(root: &Path, path: &Path) -> bool {
    if !path.is_absolute() {
        return false;
    }
    let path = lexical(path);
    let resolved_root = root.canonicalize().ok();
    std::iter::once(lexical(root))
        .chain(resolved_root)
        .any(|r| path.starts_with(&r))
}

/// The one refusal of a `file://` design outside the allowed root.
fn outside_root(root: &Path, path: &Path) -> Error {
    Error::validation(
        "design",
        format!(
            "`{}` is outside the allowed directory `{}`",
            path.display(),
            root.display()
        ),
    )
}

async fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>> {
    let len = tokio::fs::metadata(path).await?.len();
    if len > max {
        return Err(too_large(len, max));
    }
    Ok(tokio::fs::read(path).await?)
}

pub(crate) fn too_large(len: u64, max: u64) -> Error {
    Error::ImageTooLarge(format!(
        "the design is {len} bytes; the limit is {max} bytes ({:.1} MiB)",
        max as f64 / (1024.0 * 1024.0)
    ))
}

/// Checks the design completely before anything is stored: size, format by magic bytes,
/// the pixel count from the header, then the whole file through the guarded decode path
/// (`design::validate_design`: a PNG streamed row by row to `IEND` with its checksums,
/// a JPEG or WebP decoded, an SVG parsed), so a truncated or corrupt design is refused
/// here rather than failing its job later.
pub(crate) fn check(bytes: Vec<u8>, max_bytes: u64) -> Result<CheckedDesign> {
    if bytes.is_empty() {
        return Err(Error::validation("design", "the design is empty (0 bytes)"));
    }
    if bytes.len() as u64 > max_bytes {
        return Err(too_large(bytes.len() as u64, max_bytes));
    }
    let format = sniff_format(&bytes).ok_or_else(|| {
        Error::UnsupportedFormat(
            "the design is not a PNG, JPEG, WebP or SVG file (checked by content)".into(),
        )
    })?;
    // The limits a worker decodes the design with.
    let limits = DecodeLimits::default().with_max_bytes(max_bytes);
    if format != DesignFormat::Svg {
        // The header first: an oversized image is refused before any pixel is decoded.
        checked_raster_dimensions(&bytes, format, &limits, "design")?;
    }
    validate_design(&bytes, format, &limits)?;
    let ext = match format {
        DesignFormat::Jpeg => "jpg",
        other => other.as_str(),
    };
    let key = BlobKey::content_addressed("designs", &bytes, ext)?;
    Ok(CheckedDesign { bytes, key, format })
}

/// The job to create for a submission whose design is stored at `design_url`.
pub(crate) fn new_job(
    submission: &Submission,
    design_url: String,
    format: DesignFormat,
    max_attempts: u32,
) -> NewRenderJob {
    let mut metadata = submission.metadata.clone().unwrap_or_default();
    let color = submission.color.unwrap_or_default();
    metadata.insert("color".into(), Value::String(color.to_string()));
    metadata.insert(
        "design_format".into(),
        Value::String(format.as_str().into()),
    );
    let mut new = NewRenderJob::new(&submission.product_id, design_url, submission.preset);
    new.variant_id = submission.variant_id.clone();
    new.template_id = submission.template_id.clone();
    new.metadata = Some(Value::Object(metadata));
    new.max_attempts = Some(max_attempts);
    new
}
