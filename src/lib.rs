//! # render-engine
//!
//! Turns a t-shirt design into everything a print-on-demand shop needs: the print file,
//! the garment texture, product renders and a turntable animation, with each run tracked
//! as a [`RenderJob`].
//!
//! The public API is this short list of re-exports; the modules hold the details.
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

pub mod cancel;
pub mod compose;
pub mod engine;
pub mod error;
pub mod job;
pub mod mockup;
pub mod render;
pub mod blobs;
pub mod store;
pub mod template;

pub use cancel::CancelToken;
pub use compose::{
    compose, compose_batch, ComposeOptions, Composition, CustomPlacement, DecodeLimits, FitMode,
    GarmentColor, Placement, PreflightReport, WarningCode,
};
pub use engine::{
    DesignSource, Engine, EngineConfig, HttpDesigns, IpRange, OutputSelection, ProgressEvent,
    ShutdownReport, Stage, Submission, Workers,
};
pub use error::{Error, FieldError, Result};
pub use job::{
    apply_event, can_transition, JobEvent, JobId, JobStatus, NewRenderJob, Preset, RenderJob,
};
pub use mockup::{render_mockups, Mockup, MockupFormat, MockupOptions, PhotoView};
pub use render::{
    encode_mp4, encode_webp, BakedRenderer, BakedViews, RenderOutput, RenderOutputs, RenderRequest,
    Renderer, View,
};
pub use blobs::{BlobKey, BlobStorage, LocalStorage, StoredBlob};
pub use store::{
    backoff_delay, open_store, AttemptError, CreateOptions, CreatedJob, Heartbeat, JobFilter,
    JobPage, JobStore, JobUpdate, Lease, MemoryStore, RescueReport, StoredJob,
};
pub use template::TemplatePack;
