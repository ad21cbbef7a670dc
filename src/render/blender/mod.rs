//! The live Blender backend: finding Blender, running its scripts under supervision and
//! reading their progress, and [`BlenderRenderer`], the [`Renderer`](crate::render::Renderer)
//! built on them.

mod job;
mod locate;
mod log;
mod process;
mod renderer;

pub use job::{
    frame_file_name, still_file_name, CameraSpec, RenderJobSpec, StillsSpec, TurntableSpec,
    JOB_CONTRACT,
};
pub use locate::{
    locate_blender, parse_version, BlenderInstall, BlenderVersion, INSTALL_HINT,
    MIN_BLENDER_VERSION,
};
pub use log::{parse_line, LogLine, LogTail, Progress, ProgressTracker, SCRIPT_LINE_PREFIX};
pub use process::{run_supervised, RunLimits, RunOutcome};
pub use renderer::{
    classify_exit, BlenderOptions, BlenderRenderer, INVALID_JOB_EXIT_CODE,
    PYTHON_EXCEPTION_EXIT_CODE,
};
