//! # render-engine
//!
//! Turns a t-shirt design into everything a print-on-demand shop needs: the print file,
//! the garment texture, product renders and a turntable animation, with each run tracked
//! as a [`RenderJob`].
//!
//! The public API is the list of re-exports below, plus five modules for the parts you
//! extend or tune: [`store`] (the job store trait and its SQLite, PostgreSQL and memory
//! stores), [`blobs`] (where designs and outputs are kept), [`render`] (the renderer
//! trait and its baked and Blender backends), [`mockup`] (photo mockups) and
//! [`template`] (template packs).
//!
//! | you want | start with |
//! |---|---|
//! | a print file, atlas and preflight report | [`compose`] |
//! | stills and a turntable, in-process | [`render_design`] (or [`compose_stage`] then [`ComposedStage::render`]) |
//! | jobs that survive restarts, workers, progress | [`Engine`] |
//! | a design on a merchant's own photo | [`mockup::render_mockups`] |
//! | the job lifecycle on your own storage | [`apply_event`], [`RenderJob`] |
//!
//! Features: `sqlite` (default) and `postgres` select the job stores
//! ([`store::SqliteStore`], [`store::PostgresStore`]); the memory store is always there.
//!
//! The image work is heavy: in a debug build of your crate it runs 30-45 times slower
//! than in release, because this crate's own profile settings do not reach dependents.
//! Optimise it in your dev profile (`Cargo.toml` of your crate):
//!
//! ```toml
//! [profile.dev.package.render-engine]
//! opt-level = 2
//! ```
//!
//! ```
//! use render_engine::{apply_event, JobEvent, JobStatus, NewRenderJob, Preset};
//!
//! let now = chrono::Utc::now();
//! let job = NewRenderJob::new("prod_123", "https://cdn.example.com/design.png", Preset::ChestLarge)
//!     .into_job(now)?;
//! let job = apply_event(&job, &JobEvent::StartCompositing, now)?;
//! assert_eq!(job.status, JobStatus::Compositing);
//! # Ok::<(), render_engine::Error>(())
//! ```

#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod blobs;
mod cancel;
mod color;
mod compose;
mod design;
mod engine;
mod error;
mod job;
pub mod mockup;
mod pipeline;
mod pixels;
pub mod render;
pub mod store;
pub mod template;

/// The `image` crate this one uses: its types (`RgbaImage`, ...) appear in the API.
pub use image;

pub use cancel::CancelToken;
pub use color::GarmentColor;
pub use compose::{
    compose, compose_batch, Axes, ComposeOptions, Composition, CustomPlacement, InchRect,
    PixelSize, Placement, PreflightReport, PreflightWarning, Severity, WarningCode,
    DEFAULT_PRINT_DPI, MAX_PRINT_DPI, MIN_PRINT_DPI,
};
pub use design::{
    decode_design, read_design_file, DecodeLimits, Design, DesignFormat, FitMode, PreparedDesign,
};
pub use engine::{
    DesignSource, Engine, EngineConfig, HttpDesigns, IpRange, JobOutput, JobPreflight,
    ProgressEvent, ShutdownReport, Stage, Submission, Workers,
};
pub use error::{BoxError, Error, FieldError, Result};
pub use job::{
    apply_event, can_transition, JobEvent, JobId, JobStatus, NewRenderJob, Preset, RenderJob,
};
pub use pipeline::{
    compose_stage, render_design, ComposedStage, Output, OutputKind, OutputSelection, RendererKind,
};
pub use pixels::{encode_png, png_dpi};
pub use render::View;
pub use store::{
    migrate_store, open_store, AttemptError, CreatedJob, JobFilter, JobPage, JobProgress,
    MigrationMode, StoredJob,
};
pub use template::{Alignment, TemplatePack};

/// The README's Rust examples, compiled and run as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
