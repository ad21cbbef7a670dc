//! The live Blender backend: finding Blender, running its scripts under supervision and
//! reading their progress.

mod locate;
mod log;
mod process;

pub use locate::{
    locate_blender, parse_version, BlenderInstall, BlenderVersion, INSTALL_HINT,
    MIN_BLENDER_VERSION,
};
pub use log::{parse_line, LogLine, LogTail, Progress, ProgressTracker, SCRIPT_LINE_PREFIX};
pub use process::{run_supervised, RunLimits, RunOutcome};
