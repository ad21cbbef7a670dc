//! Baking a template pack: Blender as a build-time tool renders the pack's garment into
//! the views the baked renderer draws (`<pack>/baked/`). What `render-engine template
//! bake` runs.
//!
//! The bake is written into a temporary folder inside the pack, checked as the renderer
//! will read it (index, sizes, every image through the guarded decoder, the garment
//! visible in every view), and only then swapped in for the pack's `baked/`. A failed,
//! timed-out or cancelled bake (Blender's whole process group is stopped) leaves the
//! previous bake as it was and nothing else behind.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::locate::{locate_blender, minimal_env, BlenderInstall, INSTALL_HINT};
use super::log::{parse_line, LogLine, LogTail, ProgressTracker};
use super::process::{run_supervised, RunLimits, RunOutcome};
use super::renderer::classify_exit;
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::render::bake_encoding::write_compact;
use crate::render::{BakedRenderer, BakedViews, RenderProgress};
use crate::template::{TemplatePack, BAKE_DIR, MANIFEST_FILE};

/// The bake script, embedded so an installed binary needs no source tree.
const BAKE_VIEWS_PY: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/scripts/blender/bake_views.py"
));
/// The garment builder the bake script imports.
const BUILD_GARMENT_PY: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/scripts/blender/build_garment.py"
));

/// How many of Blender's last output lines an error quotes.
const LOG_TAIL_LINES: usize = 20;

/// Settings of a bake. The defaults are those of the built-in garments' bakes.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BakeOptions {
    /// The Blender executable; `None` looks at `BLENDER_PATH`, then `PATH`.
    pub blender_path: Option<PathBuf>,
    /// Side of the square stills, pixels (64 to 4096).
    pub still_size: u32,
    /// Side of the square turntable frames, pixels (32 to 2048).
    pub frame_size: u32,
    /// Turntable frames (24 to 360).
    pub frames: u32,
    /// Cycles samples per pixel of a still (1 to 4096).
    pub still_samples: u32,
    /// Cycles samples per pixel of a turntable frame (1 to 4096).
    pub frame_samples: u32,
    /// How long the bake may run before it is stopped.
    pub timeout: Duration,
}

impl Default for BakeOptions {
    fn default() -> Self {
        Self {
            blender_path: None,
            still_size: 1024,
            frame_size: 512,
            frames: 24,
            still_samples: 64,
            frame_samples: 32,
            timeout: Duration::from_secs(4 * 3600),
        }
    }
}

impl BakeOptions {
    /// Uses the Blender executable at `path`.
    pub fn with_blender_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.blender_path = Some(path.into());
        self
    }

    /// Sets the still and turntable frame sizes, pixels.
    pub fn with_sizes(mut self, still_size: u32, frame_size: u32) -> Self {
        self.still_size = still_size;
        self.frame_size = frame_size;
        self
    }

    /// Sets the number of turntable frames.
    pub fn with_frames(mut self, frames: u32) -> Self {
        self.frames = frames;
        self
    }

    /// Sets the Cycles samples of stills and of turntable frames.
    pub fn with_samples(mut self, still_samples: u32, frame_samples: u32) -> Self {
        self.still_samples = still_samples;
        self.frame_samples = frame_samples;
        self
    }

    /// Sets the deadline of the whole bake.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Every out-of-range setting, as one `E_VALIDATION`.
    fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        let mut check = |field: &str, value: u32, range: std::ops::RangeInclusive<u32>| {
            if !range.contains(&value) {
                problems.push(crate::error::FieldError::new(
                    field,
                    format!(
                        "{value} is out of range; use {} to {}",
                        range.start(),
                        range.end()
                    ),
                ));
            }
        };
        check("still_size", self.still_size, 64..=4096);
        check("frame_size", self.frame_size, 32..=2048);
        check("frames", self.frames, 24..=360);
        check("still_samples", self.still_samples, 1..=4096);
        check("frame_samples", self.frame_samples, 1..=4096);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(problems))
        }
    }
}

/// What a finished bake wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct BakeReport {
    /// The pack's id.
    pub template: String,
    /// The bake folder now in place (`<pack>/baked`).
    pub dir: PathBuf,
    /// Each file of the bake with its size in bytes, by name.
    pub files: Vec<(String, u64)>,
    /// How long the bake took.
    pub elapsed: Duration,
    /// The Blender that baked it (empty for [`compact_bake`], which runs none).
    pub blender: String,
}

impl BakeReport {
    /// The bake's size in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|(_, size)| size).sum()
    }
}

/// Bakes the template pack in folder `pack_dir` into `pack_dir/baked/` with Blender.
///
/// `progress` hears of each finished view (stills, then turntable frames) with an
/// estimate of the time left; `cancel` stops Blender's whole process group.
///
/// # Errors
///
/// `E_VALIDATION` for a folder that is not a valid pack or settings out of range;
/// `E_RENDERER_UNAVAILABLE` without a usable Blender; `E_TIMEOUT` past the deadline;
/// `E_CANCELLED` when cancelled; `E_RENDER_FAILED` when Blender fails or its output does
/// not pass the checks (quoting the last lines of Blender's output). On every error the
/// pack's previous bake is left as it was.
pub fn bake_pack(
    pack_dir: &Path,
    options: &BakeOptions,
    progress: Option<&(dyn Fn(RenderProgress) + Sync)>,
    cancel: &CancelToken,
) -> Result<BakeReport> {
    let started = Instant::now();
    options.validate()?;
    let pack = TemplatePack::load(pack_dir)?;
    let install = locate_blender(options.blender_path.as_deref())?;

    // Everything of this bake lives here, inside the pack (so the final rename stays on
    // one file system), and is removed when `staging` drops, on every path out.
    let staging = tempfile::Builder::new()
        .prefix(".bake-")
        .tempdir_in(pack_dir)
        .map_err(|e| {
            Error::render_failed(format!(
                "cannot make a temporary folder in {}: {e}",
                pack_dir.display()
            ))
            .caused_by(e)
        })?;
    let work = staging.path();
    std::fs::write(work.join("bake_views.py"), BAKE_VIEWS_PY)?;
    std::fs::write(work.join("build_garment.py"), BUILD_GARMENT_PY)?;
    // The manifest as the pack holds it (garment parameters included).
    std::fs::copy(pack_dir.join(MANIFEST_FILE), work.join(MANIFEST_FILE))?;
    let out = work.join(BAKE_DIR);

    run_blender(&install, work, &out, options, progress, cancel)?;
    check_bake(&pack, &out, true)?;
    // Stored compactly, and checked again in that form.
    let compact = work.join("compact");
    write_compact(&out, &compact)?;
    let files = check_bake(&pack, &compact, true)?;
    if cancel.is_cancelled() {
        return Err(Error::Cancelled("the bake was cancelled".into()));
    }
    let dir = swap_in(pack_dir, &compact, work)?;
    Ok(BakeReport {
        template: pack.id().to_string(),
        dir,
        files,
        elapsed: started.elapsed(),
        blender: install.version.to_string(),
    })
}

/// Re-encodes the bake of the pack in folder `pack_dir` in the compact form `template
/// bake` writes (8-bit shade with a square-root curve, 13-bit UV; see
/// `render::bake_encoding`), checked and swapped in like a bake. For bakes made before
/// the compact form; a compact bake comes out the same.
///
/// # Errors
///
/// `E_VALIDATION` for a folder that is not a valid pack or has no bake;
/// `E_RENDER_FAILED` when the bake does not read or the result does not pass the checks
/// (the previous bake is then left as it was).
pub fn compact_bake(pack_dir: &Path) -> Result<BakeReport> {
    let started = Instant::now();
    let pack = TemplatePack::load(pack_dir)?;
    pack.baked_views()?;
    let staging = tempfile::Builder::new()
        .prefix(".bake-")
        .tempdir_in(pack_dir)?;
    let compact = staging.path().join("compact");
    write_compact(&pack_dir.join(BAKE_DIR), &compact)?;
    // A bake older than the backdrop shadow keeps having none.
    let files = check_bake(&pack, &compact, false)?;
    let dir = swap_in(pack_dir, &compact, staging.path())?;
    Ok(BakeReport {
        template: pack.id().to_string(),
        dir,
        files,
        elapsed: started.elapsed(),
        blender: String::new(),
    })
}

/// Runs the bake script in `work`, writing into `out`.
fn run_blender(
    install: &BlenderInstall,
    work: &Path,
    out: &Path,
    options: &BakeOptions,
    progress: Option<&(dyn Fn(RenderProgress) + Sync)>,
    cancel: &CancelToken,
) -> Result<()> {
    let mut command = Command::new(&install.path);
    command
        .current_dir(work)
        .args(["-b", "--factory-startup", "-noaudio", "--python-exit-code"])
        .arg(super::renderer::PYTHON_EXCEPTION_EXIT_CODE.to_string())
        .arg("--python")
        .arg(work.join("bake_views.py"))
        .arg("--")
        .arg("--template")
        .arg(work.join(MANIFEST_FILE))
        .arg("--out")
        .arg(out);
    for (flag, value) in [
        ("--still-size", options.still_size),
        ("--frame-size", options.frame_size),
        ("--frames", options.frames),
        ("--still-samples", options.still_samples),
        ("--frame-samples", options.frame_samples),
    ] {
        command.arg(flag).arg(value.to_string());
    }
    minimal_env(&mut command);

    let total = 3 + options.frames as usize;
    let mut tracker = ProgressTracker::new(total as u64);
    let mut tail = LogTail::new(LOG_TAIL_LINES);
    let mut script_error = None;
    let mut result_seen = false;
    let started = Instant::now();
    let outcome = run_supervised(
        command,
        RunLimits {
            timeout: options.timeout,
            grace: Duration::from_secs(3),
        },
        cancel,
        |line| {
            if !line.trim().is_empty() {
                tail.push(line);
            }
            let Some(parsed) = parse_line(line) else {
                return;
            };
            match &parsed {
                LogLine::ScriptError { code, message } => {
                    script_error = Some((code.clone(), message.clone()));
                }
                LogLine::ScriptResult(_) => result_seen = true,
                LogLine::ScriptProgress { done, total, .. } => {
                    if let Some(p) = tracker.observe(&parsed, started.elapsed()) {
                        if let Some(progress) = progress {
                            progress(RenderProgress {
                                done: *done as usize,
                                total: *total as usize,
                                eta: p.eta,
                            });
                        }
                    }
                }
                _ => {}
            }
        },
    )
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
            Error::RendererUnavailable(format!(
                "cannot run Blender at {}: {e}; {INSTALL_HINT}",
                install.path.display()
            ))
        }
        _ => Error::render_failed(format!("cannot run Blender: {e}")).caused_by(e),
    })?;
    match outcome {
        RunOutcome::TimedOut => Err(Error::Timeout(format!(
            "the bake did not finish within {:.0?} and Blender was stopped; the pack's \
             previous bake is unchanged (raise the timeout or lower the samples or sizes)",
            options.timeout
        ))),
        RunOutcome::Cancelled => Err(Error::Cancelled(
            "the bake was cancelled and Blender stopped; the pack's previous bake is unchanged"
                .into(),
        )),
        RunOutcome::Exited(status) => {
            classify_exit(status, script_error.as_ref(), result_seen, &tail.text())
        }
    }
}

/// The darkest a bake's backdrop shadow may make the background (a factor of its colour).
const MIN_SHADOW: f64 = 0.5;
/// The darkest point of a bake's backdrop shadow must be at least this dark (a shadow
/// that darkens nothing is a broken bake).
const MAX_SHADOW: f64 = 0.97;

/// Checks a finished bake in `out` as the baked renderer reads it: the index names this
/// pack and its atlas size, every image decodes (guarded) at the size the index gives,
/// the garment covers part of every view, and the backdrop shadow of every view that has
/// one is soft (the background never darker than [`MIN_SHADOW`] of its colour) but
/// present, and a stored drape, if any, is well formed. A `fresh` bake (one Blender just
/// made) must carry everything a current bake does: every view a shadow and the indirect
/// share of its light, and a stored drape. Returns each file with its size.
fn check_bake(pack: &TemplatePack, out: &Path, fresh: bool) -> Result<Vec<(String, u64)>> {
    let failed = |why: String| {
        Error::render_failed(format!(
            "the bake Blender wrote in {} does not pass the checks: {why}",
            out.display()
        ))
    };
    let views = BakedViews::load(out).map_err(|e| failed(e.to_string()))?;
    if views.template() != pack.id() || views.atlas_size() != pack.atlas_size_px() {
        return Err(failed(format!(
            "it is for `{}` with a {:?} px atlas, the pack is `{}` with {:?}",
            views.template(),
            views.atlas_size(),
            pack.id(),
            pack.atlas_size_px()
        )));
    }
    let renderer = BakedRenderer::new(Arc::new(views));
    renderer.preload().map_err(|e| failed(e.to_string()))?;
    let coverage = renderer.views().coverage_by_view()?;
    if let Some((name, _)) = coverage.iter().find(|(_, covered)| *covered < 0.01) {
        return Err(failed(format!(
            "the garment covers under 1% of the `{name}` view (is the camera on it?)"
        )));
    }
    for (name, darkest) in renderer.views().shadow_by_view()? {
        match darkest {
            None if !fresh => {}
            None => {
                return Err(failed(format!(
                    "the `{name}` view has no backdrop shadow (its shade PNG has no alpha channel)"
                )))
            }
            Some(d) if !(MIN_SHADOW..=MAX_SHADOW).contains(&d) => {
                return Err(failed(format!(
                    "the backdrop shadow of the `{name}` view darkens the background to {d:.2} \
                     of its colour; a soft shadow stays between {MIN_SHADOW} and {MAX_SHADOW}"
                )))
            }
            Some(_) => {}
        }
    }
    if fresh && !renderer.views().stores_indirect_light() {
        return Err(failed(
            "a view stores no indirect share of its light (views.json names no `indirect` \
             file for it)"
                .into(),
        ));
    }
    match renderer.views().drape() {
        Ok(Some(_)) => {}
        Ok(None) if !fresh => {}
        Ok(None) => {
            return Err(failed(
                "it stores no drape (views.json names no `drape` file)".into(),
            ))
        }
        Err(e) => return Err(failed(e.to_string())),
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(out)? {
        let entry = entry?;
        files.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.metadata()?.len(),
        ));
    }
    files.sort();
    Ok(files)
}

/// Puts the checked bake `new` in place of `<pack>/baked`: the old bake is first moved
/// into `work` (removed with it), and moved back if the new one cannot go in.
fn swap_in(pack_dir: &Path, new: &Path, work: &Path) -> Result<PathBuf> {
    let target = pack_dir.join(BAKE_DIR);
    let old = work.join("previous-bake");
    let had_old = target.exists();
    if had_old {
        std::fs::rename(&target, &old)?;
    }
    if let Err(e) = std::fs::rename(new, &target) {
        if had_old {
            let _ = std::fs::rename(&old, &target);
        }
        return Err(Error::render_failed(format!(
            "cannot move the new bake into {}: {e}",
            target.display()
        ))
        .caused_by(e));
    }
    Ok(target)
}
