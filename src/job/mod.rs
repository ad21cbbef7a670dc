//! Render jobs: the record, its identifier, status and preset, and the state machine.
//!
//! This module is pure: no I/O, no clock reads, no async. Every store and binding goes
//! through [`apply_event`] so the lifecycle rules live in one place.

mod id;
mod machine;
mod model;
mod preset;
mod status;

pub use id::JobId;
pub use machine::{apply_event, can_transition, JobEvent};
pub(crate) use model::{
    normalize_time, DEFAULT_MAX_ATTEMPTS, MAX_MAX_ATTEMPTS, MAX_METADATA_BYTES,
};
pub use model::{NewRenderJob, RenderJob};
pub use preset::Preset;
pub use status::JobStatus;
