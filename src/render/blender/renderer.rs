//! [`BlenderRenderer`]: the live backend, rendering the garment in Cycles per request.
//!
//! Each render writes the bundled scripts, the template, the atlas and a job file
//! (contract in `job.rs`) into a fresh temporary directory, runs
//! `blender -b --factory-startup -noaudio --python-exit-code 17 --python render_job.py --
//! job.json` under [`run_supervised`] (own process group, timeout, cancellation), turns
//! its output into progress, checks every image it wrote and returns them decoded. The
//! temporary directory, partial output included, is removed on every path out.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::RgbaImage;

use super::job::{
    frame_file_name, still_file_name, CameraSpec, RenderJobSpec, StillsSpec, ToneSpec,
    TurntableSpec, JOB_CONTRACT,
};
use super::locate::{locate_blender, minimal_env, BlenderInstall, INSTALL_HINT};
use super::log::{parse_line, LogLine, LogTail, ProgressTracker};
use super::process::{run_supervised, RunLimits, RunOutcome};
use crate::error::{Error, Result};
use crate::render::{
    BakedViews, ColorCalibration, RenderOutput, RenderProgress, RenderRequest, Renderer, Still,
};
use crate::template::TemplatePack;

/// The render script, embedded so an installed binary needs no source tree.
const RENDER_JOB_PY: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/scripts/blender/render_job.py"
));
/// The garment builder the render script imports.
const BUILD_GARMENT_PY: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/scripts/blender/build_garment.py"
));
/// The built-in classic-tee pattern, the garment of requests that name no pack.
const TEMPLATE_JSON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/templates/classic-tee/template.json"
));

/// The status Blender exits with when the render script raises (`--python-exit-code`).
pub(super) const PYTHON_EXCEPTION_EXIT_CODE: i32 = 17;
/// The status the render script exits with when it refuses a job (after an error line).
pub(super) const INVALID_JOB_EXIT_CODE: i32 = 2;
/// How many of Blender's last output lines an `E_RENDER_FAILED` message quotes.
const LOG_TAIL_LINES: usize = 20;

/// Settings of the live backend. The defaults match the baked pack's sizes (stills
/// 1024 x 1024, 24 turntable frames of 512 x 512 at 12 fps).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BlenderOptions {
    /// The Blender executable; `None` looks at `BLENDER_PATH`, then `PATH`.
    pub blender_path: Option<PathBuf>,
    /// Cycles samples per pixel (1 to 4096).
    pub samples: u32,
    /// Still image size, pixels.
    pub still_size: (u32, u32),
    /// Turntable frame size, pixels.
    pub frame_size: (u32, u32),
    /// Turntable frames (at least 2).
    pub frames: usize,
    /// Turntable playback rate, frames per second.
    pub fps: u32,
    /// The longest a render may take before it is stopped with `E_TIMEOUT`.
    pub timeout: Duration,
    /// How long Blender gets to exit after SIGINT before its group is killed.
    pub grace: Duration,
    /// Where temporary job directories are made; `None` is the system temp directory.
    pub work_dir: Option<PathBuf>,
}

impl Default for BlenderOptions {
    fn default() -> Self {
        Self {
            blender_path: None,
            samples: 32,
            still_size: (1024, 1024),
            frame_size: (512, 512),
            frames: 24,
            fps: 12,
            timeout: Duration::from_secs(30 * 60),
            grace: Duration::from_secs(3),
            work_dir: None,
        }
    }
}

impl BlenderOptions {
    /// The same options with this Blender executable.
    pub fn with_blender_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.blender_path = Some(path.into());
        self
    }

    /// The same options with `samples` Cycles samples per pixel.
    pub fn with_samples(mut self, samples: u32) -> Self {
        self.samples = samples;
        self
    }

    /// The same options with stills of `width` x `height` pixels.
    pub fn with_still_size(mut self, width: u32, height: u32) -> Self {
        self.still_size = (width, height);
        self
    }

    /// The same options with a turntable of `frames` frames of `width` x `height`.
    pub fn with_turntable(mut self, frames: usize, width: u32, height: u32) -> Self {
        self.frames = frames;
        self.frame_size = (width, height);
        self
    }

    /// The same options with this deadline and SIGINT grace period.
    pub fn with_limits(mut self, timeout: Duration, grace: Duration) -> Self {
        self.timeout = timeout;
        self.grace = grace;
        self
    }

    /// The same options making temporary job directories under `dir`.
    pub fn with_work_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.work_dir = Some(dir.into());
        self
    }

    fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if !(1..=4096).contains(&self.samples) {
            problems.push((
                "samples",
                format!("{} is out of range; use 1 to 4096", self.samples),
            ));
        }
        for (field, (w, h)) in [
            ("still_size", self.still_size),
            ("frame_size", self.frame_size),
        ] {
            if !(1..=8192).contains(&w) || !(1..=8192).contains(&h) {
                problems.push((
                    field,
                    format!("{w}x{h} is out of range; use 1 to 8192 a side"),
                ));
            }
        }
        if !(2..=720).contains(&self.frames) {
            problems.push((
                "frames",
                format!("{} is out of range; use 2 to 720", self.frames),
            ));
        }
        if !(1..=120).contains(&self.fps) {
            problems.push(("fps", format!("{} is out of range; use 1 to 120", self.fps)));
        }
        if self.timeout.is_zero() {
            problems.push(("timeout", "must be longer than zero".to_string()));
        }
        match problems.len() {
            0 => Ok(()),
            _ => Err(Error::Validation(
                problems
                    .into_iter()
                    .map(|(field, message)| crate::error::FieldError::new(field, message))
                    .collect(),
            )),
        }
    }
}

/// The live Blender backend: path-traced stills and turntable frames of the garment
/// wearing the atlas, rendered per request (seconds to minutes, not milliseconds).
///
/// The turntable comes back as frames, so the MP4 and WebP are made by the library's own
/// encoders ([`crate::render::encode_mp4`] is fast-start; Blender's MP4 is not).
#[derive(Debug, Clone)]
pub struct BlenderRenderer {
    options: BlenderOptions,
    install: BlenderInstall,
}

impl BlenderRenderer {
    /// Finds Blender (the options' path, `BLENDER_PATH`, then `PATH`) and checks the
    /// options.
    ///
    /// # Errors
    ///
    /// `E_RENDERER_UNAVAILABLE` (with how to install it) when Blender is missing or older
    /// than 3.4; `E_VALIDATION` for options out of range.
    pub fn new(options: BlenderOptions) -> Result<BlenderRenderer> {
        options.validate()?;
        let install = locate_blender(options.blender_path.as_deref())?;
        Ok(BlenderRenderer { options, install })
    }

    /// The Blender this renderer runs.
    pub fn install(&self) -> &BlenderInstall {
        &self.install
    }

    /// The renderer's settings.
    pub fn options(&self) -> &BlenderOptions {
        &self.options
    }

    fn job_for(
        &self,
        request: &RenderRequest<'_>,
        calibration: &ColorCalibration,
        dir: &Path,
        out: &Path,
        drape: Option<PathBuf>,
    ) -> RenderJobSpec {
        let [r, g, b] = calibration.albedo_color(request.color).to_array();
        let [br, bgc, bb] = request.background.unwrap_or(DEFAULT_BACKGROUND);
        let o = &self.options;
        RenderJobSpec {
            contract: JOB_CONTRACT,
            template: dir.join("template.json"),
            atlas: Some(dir.join("atlas.png")),
            drape,
            color: format!("#{r:02x}{g:02x}{b:02x}"),
            background: format!("#{br:02x}{bgc:02x}{bb:02x}"),
            samples: o.samples,
            tone: ToneSpec {
                exposure: calibration.exposure() as f64,
                black: calibration.black_point() as f64,
                knee: crate::render::calibration::KNEE as f64,
                width: crate::render::calibration::WIDTH as f64,
            },
            stills: StillsSpec {
                width: o.still_size.0,
                height: o.still_size.1,
                cameras: request
                    .outputs
                    .stills
                    .iter()
                    .map(|v| CameraSpec {
                        name: v.name().to_string(),
                        rotation_deg: None,
                        elevation_deg: None,
                    })
                    .collect(),
            },
            turntable: request.outputs.turntable.then_some(TurntableSpec {
                width: o.frame_size.0,
                height: o.frame_size.1,
                frames: o.frames,
                elevation_deg: TURNTABLE_ELEVATION_DEG,
            }),
            output_dir: out.to_path_buf(),
        }
    }
}

/// The studio background of the baked pack (`views.json`), used when the request names
/// none, so live and baked renders sit on the same grey.
const DEFAULT_BACKGROUND: [u8; 3] = [0xf6, 0xf6, 0xf6];
/// The turntable camera's elevation in the bake (`build_garment.TURNTABLE_ELEVATION`).
const TURNTABLE_ELEVATION_DEG: f64 = 2.0;

impl Renderer for BlenderRenderer {
    fn name(&self) -> &str {
        "blender"
    }

    fn settings(&self) -> String {
        let o = &self.options;
        format!(
            "blender {}; samples {}; stills {}x{}; turntable {} frames {}x{} at {} fps",
            self.install.version,
            o.samples,
            o.still_size.0,
            o.still_size.1,
            o.frames,
            o.frame_size.0,
            o.frame_size.1,
            o.fps
        )
    }

    fn render(&self, request: &RenderRequest<'_>) -> Result<RenderOutput> {
        let builtin = TemplatePack::builtin();
        let pack = request.template.unwrap_or(&builtin);
        let expected = pack.atlas_size_px();
        if request.atlas.dimensions() != expected {
            let (w, h) = request.atlas.dimensions();
            return Err(Error::validation(
                "atlas",
                format!(
                    "the atlas is {w}x{h} px; the {} garment needs its {}x{} atlas",
                    pack.id(),
                    expected.0,
                    expected.1
                ),
            ));
        }
        request.check_cancelled()?;
        let total = request.outputs.stills.len()
            + if request.outputs.turntable {
                self.options.frames
            } else {
                0
            };
        if total == 0 {
            return Ok(RenderOutput {
                fps: self.options.fps,
                ..RenderOutput::default()
            });
        }

        // Everything of this render lives here and is removed when `work` drops: on
        // success, on every error and on a panic.
        let mut builder = tempfile::Builder::new();
        builder.prefix("render-engine-blender-");
        let work = match &self.options.work_dir {
            Some(dir) => builder.tempdir_in(dir),
            None => builder.tempdir(),
        }
        .map_err(|e| {
            Error::render_failed(format!("cannot make a temporary directory: {e}")).caused_by(e)
        })?;
        let dir = work.path();
        let out = dir.join("out");
        std::fs::create_dir(&out)?;
        std::fs::write(dir.join("render_job.py"), RENDER_JOB_PY)?;
        std::fs::write(dir.join("build_garment.py"), BUILD_GARMENT_PY)?;
        // The garment is built from the request's pack (its pattern), else the built-in.
        match request.template {
            Some(pack) => std::fs::write(
                dir.join("template.json"),
                serde_json::to_vec_pretty(pack.manifest()).map_err(|e| {
                    Error::Internal(format!("a template manifest did not serialise: {e}"))
                })?,
            )?,
            None => std::fs::write(dir.join("template.json"), TEMPLATE_JSON)?,
        }
        let bake = pack_bake(pack)?;
        let calibration = live_calibration(bake.as_deref())?;
        write_atlas(request.atlas, &calibration, &dir.join("atlas.png"))?;
        let drape = write_stored_drape(bake.as_deref(), &dir.join("drape.bin"))?;
        let job = self.job_for(request, &calibration, dir, &out, drape);
        let job_path = dir.join("job.json");
        std::fs::write(
            &job_path,
            serde_json::to_vec_pretty(&job).expect("the job serialises"),
        )?;

        let mut command = Command::new(&self.install.path);
        command
            .current_dir(dir)
            .args(["-b", "--factory-startup", "-noaudio", "--python-exit-code"])
            .arg(PYTHON_EXCEPTION_EXIT_CODE.to_string())
            .arg("--python")
            .arg(dir.join("render_job.py"))
            .arg("--")
            .arg(&job_path);
        minimal_env(&mut command);

        let cancel = request.cancel.clone().unwrap_or_default();
        let mut report = RunReport::new(total);
        let started = Instant::now();
        let outcome = run_supervised(
            command,
            RunLimits {
                timeout: self.options.timeout,
                grace: self.options.grace,
            },
            &cancel,
            |line| {
                if let Some(p) = report.observe(line, started.elapsed()) {
                    if let Some(progress) = request.progress {
                        progress(p);
                    }
                }
            },
        )
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                Error::RendererUnavailable(format!(
                    "cannot run Blender at {}: {e}; {INSTALL_HINT}",
                    self.install.path.display()
                ))
            }
            _ => Error::render_failed(format!("cannot run Blender: {e}")).caused_by(e),
        })?;

        match outcome {
            RunOutcome::TimedOut => {
                return Err(Error::Timeout(format!(
                    "the Blender render did not finish within {:.0?} and was stopped; \
                     raise the timeout or lower the samples or sizes",
                    self.options.timeout
                )))
            }
            RunOutcome::Cancelled => {
                return Err(Error::Cancelled(
                    "the Blender render was cancelled and its process stopped".into(),
                ))
            }
            RunOutcome::Exited(status) => classify_exit(
                status,
                report.script_error.as_ref(),
                report.result_seen,
                &report.tail.text(),
            )?,
        }
        request.check_cancelled()?;

        let stills = request
            .outputs
            .stills
            .iter()
            .map(|view| {
                read_output(
                    &out.join(still_file_name(view.name())),
                    self.options.still_size,
                )
                .map(|image| Still { view: *view, image })
            })
            .collect::<Result<Vec<_>>>()?;
        let turntable = if request.outputs.turntable {
            (0..self.options.frames)
                .map(|i| read_output(&out.join(frame_file_name(i)), self.options.frame_size))
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let written = std::fs::read_dir(&out)?.count();
        if written != total {
            return Err(Error::render_failed(format!(
                "Blender wrote {written} images; {total} were asked for"
            )));
        }
        Ok(RenderOutput {
            stills,
            turntable,
            fps: self.options.fps,
        })
    }
}

/// The pack's bake, or `None` for a pack without one.
fn pack_bake(pack: &TemplatePack) -> Result<Option<Arc<BakedViews>>> {
    match pack.baked_views() {
        Ok(views) => Ok(Some(views)),
        Err(Error::Validation(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The colour calibration of a live render: the pack's bake's (the same studio and
/// material), so live and baked renders show the same colours; a pack without a bake
/// takes the built-in garment's.
fn live_calibration(bake: Option<&BakedViews>) -> Result<ColorCalibration> {
    match bake {
        Some(views) => views.calibration(),
        None => BakedViews::builtin()?.calibration(),
    }
}

/// Writes the drape the pack's bake stored to `path`, so Blender draws the very shape the
/// bake drew instead of simulating the cloth again; `None` (Blender drapes) for a pack
/// without a bake or a bake without a stored drape.
fn write_stored_drape(bake: Option<&BakedViews>, path: &Path) -> Result<Option<PathBuf>> {
    match bake.map(BakedViews::drape).transpose()?.flatten() {
        Some(bytes) => {
            std::fs::write(path, bytes)?;
            Ok(Some(path.to_path_buf()))
        }
        None => Ok(None),
    }
}

/// Writes the atlas Blender textures the garment with: its colours calibrated as the
/// baked renderer calibrates them, alpha kept.
fn write_atlas(atlas: &RgbaImage, calibration: &ColorCalibration, path: &Path) -> Result<()> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    use image::ImageEncoder;
    let table = calibration.srgb_to_albedo_srgb();
    let mut calibrated = atlas.clone();
    for p in calibrated.pixels_mut() {
        for c in &mut p.0[..3] {
            *c = table[*c as usize];
        }
    }
    let atlas = &calibrated;
    let file = std::fs::File::create(path)?;
    PngEncoder::new_with_quality(
        std::io::BufWriter::new(file),
        CompressionType::Fast,
        FilterType::Adaptive,
    )
    .write_image(
        atlas.as_raw(),
        atlas.width(),
        atlas.height(),
        image::ExtendedColorType::Rgba8,
    )
    .map_err(|e| {
        Error::render_failed(format!("cannot write the atlas for Blender: {e}")).caused_by(e)
    })
}

/// Reads one image the script wrote and checks its size.
fn read_output(path: &Path, size: (u32, u32)) -> Result<RgbaImage> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bytes = std::fs::read(path).map_err(|e| {
        Error::render_failed(format!(
            "Blender reported success but {name} is missing ({e})"
        ))
    })?;
    let image = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .map_err(|e| {
            Error::render_failed(format!("Blender's {name} does not decode: {e}")).caused_by(e)
        })?
        .to_rgba8();
    if image.dimensions() != size {
        return Err(Error::render_failed(format!(
            "Blender's {name} is {}x{}; {}x{} was asked for",
            image.width(),
            image.height(),
            size.0,
            size.1
        )));
    }
    Ok(image)
}

/// What the output of one run told us.
struct RunReport {
    tracker: ProgressTracker,
    total: usize,
    tail: LogTail,
    script_error: Option<(Option<String>, String)>,
    result_seen: bool,
    last_sent: Option<(usize, Instant)>,
}

impl RunReport {
    fn new(total: usize) -> Self {
        Self {
            tracker: ProgressTracker::new(total as u64),
            total,
            tail: LogTail::new(LOG_TAIL_LINES),
            script_error: None,
            result_seen: false,
            last_sent: None,
        }
    }

    /// Takes one output line; returns a progress event when one is due (a new image
    /// finished, or at most four ETA updates a second within an image).
    fn observe(&mut self, line: &str, elapsed: Duration) -> Option<RenderProgress> {
        if !line.trim().is_empty() {
            self.tail.push(line);
        }
        let parsed = parse_line(line)?;
        match &parsed {
            LogLine::ScriptError { code, message } => {
                self.script_error = Some((code.clone(), message.clone()));
                return None;
            }
            LogLine::ScriptResult(_) => {
                self.result_seen = true;
                return None;
            }
            _ => {}
        }
        let progress = self.tracker.observe(&parsed, elapsed)?;
        let done = match parsed {
            LogLine::ScriptProgress { done, .. } => (done as usize).min(self.total),
            _ => ((progress.fraction * self.total as f64 + 1e-9).floor() as usize).min(self.total),
        };
        let now = Instant::now();
        let due = match self.last_sent {
            None => true,
            Some((last_done, at)) => {
                done != last_done || now.duration_since(at) >= Duration::from_millis(250)
            }
        };
        if !due {
            return None;
        }
        self.last_sent = Some((done, now));
        Some(RenderProgress {
            done,
            total: self.total,
            eta: progress.eta,
        })
    }
}

/// Maps how Blender exited (and what the script said) to the render's result.
///
/// * an `error` line from the script: its code (`E_VALIDATION` stays a validation error,
///   anything else is `E_RENDER_FAILED`) and message;
/// * status 0 with a `result` line: success (the images are checked next);
/// * status 0 without one, status 17 (a Python exception), any other status or a signal:
///   `E_RENDER_FAILED` quoting the last lines of Blender's output.
pub(super) fn classify_exit(
    status: ExitStatus,
    script_error: Option<&(Option<String>, String)>,
    result_seen: bool,
    tail: &str,
) -> Result<()> {
    use std::os::unix::process::ExitStatusExt;
    if let Some((code, message)) = script_error {
        return Err(match code.as_deref() {
            Some("E_VALIDATION") => Error::validation("blender job", message.clone()),
            _ => Error::render_failed(format!(
                "the Blender render script failed: {message}\n--- last lines of Blender's output ---\n{tail}"
            )),
        });
    }
    let why = match (status.code(), status.signal()) {
        (Some(0), _) if result_seen => return Ok(()),
        (Some(0), _) => "Blender exited without the render script reporting a result".to_string(),
        (Some(PYTHON_EXCEPTION_EXIT_CODE), _) => {
            "the Blender render script raised an exception".to_string()
        }
        (Some(INVALID_JOB_EXIT_CODE), _) => {
            "the Blender render script refused the job without saying why".to_string()
        }
        (Some(code), _) => format!("Blender exited with status {code}"),
        (None, Some(signal)) => format!("Blender was killed by signal {signal}"),
        (None, None) => format!("Blender ended abnormally ({status})"),
    };
    Err(Error::render_failed(format!(
        "{why}\n--- last lines of Blender's output ---\n{tail}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn exited(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn exit_codes_map_to_stable_errors() {
        assert!(classify_exit(exited(0), None, true, "").is_ok());

        let err = classify_exit(exited(0), None, false, "Blender quit").unwrap_err();
        assert_eq!(err.code(), "E_RENDER_FAILED");
        assert!(
            err.to_string()
                .contains("without the render script reporting"),
            "{err}"
        );
        assert!(err.to_string().contains("Blender quit"), "{err}");

        let tail = "ValueError: boom\nError: script failed, file: 'render_job.py', exiting.";
        let err = classify_exit(exited(PYTHON_EXCEPTION_EXIT_CODE), None, false, tail).unwrap_err();
        assert_eq!(err.code(), "E_RENDER_FAILED");
        assert!(err.to_string().contains("raised an exception"), "{err}");
        assert!(err.to_string().contains("ValueError: boom"), "{err}");

        let err = classify_exit(exited(1), None, false, "").unwrap_err();
        assert!(err.to_string().contains("status 1"), "{err}");

        let err = classify_exit(ExitStatus::from_raw(libc::SIGSEGV), None, false, "").unwrap_err();
        assert_eq!(err.code(), "E_RENDER_FAILED");
        assert!(err.to_string().contains("signal 11"), "{err}");

        let refused = (
            Some("E_VALIDATION".to_string()),
            "stills.width must be ...".to_string(),
        );
        let err = classify_exit(exited(2), Some(&refused), false, "").unwrap_err();
        assert_eq!(err.code(), "E_VALIDATION");
        assert!(err.to_string().contains("stills.width"), "{err}");

        // A script error wins even when Blender then exits 0.
        let failed = (
            Some("E_RENDER_FAILED".to_string()),
            "Blender did not write x.png".to_string(),
        );
        let err = classify_exit(exited(0), Some(&failed), true, "tail line").unwrap_err();
        assert_eq!(err.code(), "E_RENDER_FAILED");
        assert!(err.to_string().contains("did not write x.png"), "{err}");
        assert!(err.to_string().contains("tail line"), "{err}");
    }

    #[test]
    fn progress_follows_a_real_run_with_an_eta() {
        let log = include_str!("../../../tests/fixtures/blender/render-job.log");
        let mut report = RunReport::new(3);
        let mut events = Vec::new();
        for (i, line) in log.lines().enumerate() {
            // Pretend each line arrives 10 ms after the previous one.
            if let Some(p) = report.observe(line, Duration::from_millis(10 * i as u64)) {
                events.push(p);
            }
        }
        assert!(report.result_seen);
        assert!(report.script_error.is_none());
        let last = events.last().unwrap();
        assert_eq!((last.done, last.total), (3, 3));
        assert!(
            events.windows(2).all(|w| w[0].done <= w[1].done),
            "{events:?}"
        );
        let dones: Vec<usize> = events.iter().map(|e| e.done).collect();
        for k in 1..=3 {
            assert!(dones.contains(&k), "{dones:?}");
        }
        assert!(events.iter().any(|e| e.eta.is_some()));
        assert!(report.tail.text().contains("Blender quit"));
    }

    #[test]
    fn blender_status_lines_alone_still_give_progress() {
        // Blender's own `Fra:n ... | Sample a/b` lines, with no script progress after the
        // start: two frames of four samples.
        let log = include_str!("../../../tests/fixtures/blender/cycles-two-frames.log");
        let mut report = RunReport::new(2);
        let events: Vec<RenderProgress> = log
            .lines()
            .enumerate()
            .filter_map(|(i, line)| report.observe(line, Duration::from_millis(100 * i as u64)))
            .collect();
        assert!(!report.result_seen);
        let last = events.last().expect("progress from sample lines");
        assert_eq!(last.total, 2);
        assert!(last.done >= 1, "{events:?}");
        assert!(last.eta.is_some(), "{events:?}");
    }

    #[test]
    fn default_options_match_the_baked_pack() {
        let views = crate::render::BakedViews::builtin().unwrap();
        let o = BlenderOptions::default();
        assert_eq!(
            Some(o.still_size),
            views.still_size(crate::render::View::Front)
        );
        assert_eq!(o.frame_size, views.turntable_size());
        assert_eq!(o.frames, views.turntable_frames());
        assert_eq!(o.fps, views.fps());
        assert_eq!(DEFAULT_BACKGROUND, views.background());
        assert!(o.validate().is_ok());
        let bad = BlenderOptions::default()
            .with_samples(0)
            .with_turntable(1, 0, 10);
        let err = bad.validate().unwrap_err();
        assert_eq!(err.code(), "E_VALIDATION");
        let text = err.to_string();
        for field in ["samples", "frame_size", "frames"] {
            assert!(text.contains(field), "{text}");
        }
    }
}
