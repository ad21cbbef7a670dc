//! The engine: submitted designs become finished jobs.
//!
//! [`Engine::open`] connects the job store, the blob storage and the renderer named in an
//! [`EngineConfig`]. [`Engine::submit`] takes the design as bytes, a `file://` URL
//! inside an allowed root or, when enabled, an `http(s)://` URL fetched with SSRF checks
//! ([`HttpDesigns`]); it checks the design (size, format by magic bytes, pixel count from
//! the header) before anything is written, stores it under a
//! content-addressed key and creates a `pending` job. [`Engine::start`] runs workers that
//! claim jobs with a lease, heartbeat while working, and carry each job through
//! `compositing` and `rendering` to `completed`, or to `failed` / `cancelled`:
//!
//! - outputs are staged under `staging/{job}/{attempt}/` and renamed to `jobs/{job}/`
//!   only when their stage succeeded; staged leftovers are deleted whatever happens;
//! - `composited_file_url` is the atlas, `rendered_image_url` the front still,
//!   `animation_url` the MP4; `metadata.outputs` lists every output (name, URL, size,
//!   content type) and `metadata.preflight` holds the preflight report, written with
//!   the completion in one fenced store write;
//! - a transient failure (I/O, store, storage, timeout) fails the attempt and schedules a
//!   retry with backoff while attempts remain; a permanent one (a corrupt design) fails
//!   the job for good;
//! - each attempt has a time limit; a cancel request seen at a heartbeat stops the job
//!   and it ends `cancelled`. Either way the job's [`crate::CancelToken`] is passed to the
//!   compositor and the renderer, which stop at their next check (the Blender backend
//!   kills its process), and the worker waits for them before recording the outcome;
//! - identical work is not redone: when a completed job had the same design, template
//!   pack, preset, colour, outputs and renderer, its outputs are copied to the new job
//!   and `metadata.reused_from` names it (see `reuse.rs` for why copies);
//! - a job's `template_id` picks one of the configured template packs
//!   ([`EngineConfig::with_template`]); an unknown one is refused at submit;
//! - [`Workers::shutdown`] stops claiming, lets running jobs finish within a deadline and
//!   releases the rest so another worker picks them up.
//!
//! Progress is a broadcast stream of [`ProgressEvent`]s ([`Engine::subscribe`]).

mod config;
mod fetch;
mod progress;
mod reuse;
mod submit;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::job::JobId;
use crate::render::{BakedRenderer, Renderer};
use crate::blobs::{BlobStorage, LocalStorage};
use crate::store::{open_store, CreateOptions, CreatedJob, JobStore};

pub use config::{
    EngineConfig, OutputSelection, DEFAULT_CONCURRENCY, DEFAULT_HEARTBEAT, DEFAULT_JOB_TIMEOUT,
    DEFAULT_LEASE, DEFAULT_MAX_DESIGN_BYTES, DEFAULT_POLL,
};
pub use fetch::{refused_kind, HttpDesigns, IpRange, DEFAULT_HTTP_REDIRECTS, DEFAULT_HTTP_TIMEOUT};
pub use progress::{ProgressEvent, Stage};
pub use submit::{DesignSource, Submission};

/// The shared parts of an engine and its workers.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: EngineConfig,
    pub(crate) store: Arc<dyn JobStore>,
    pub(crate) blobs: Arc<dyn BlobStorage>,
    pub(crate) renderer: Arc<dyn Renderer>,
    pub(crate) progress: progress::ProgressHub,
}

impl std::fmt::Debug for dyn Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Renderer({})", self.name())
    }
}

/// The render pipeline: a job store, a blob storage and a renderer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// Opens the store (running its migrations), the storage and the renderer of
    /// `config`, creating the data directory if needed.
    ///
    /// Errors: `E_VALIDATION` for a configuration out of range; store, I/O and renderer
    /// errors as they come.
    pub async fn open(config: EngineConfig) -> Result<Self> {
        config.validate()?;
        tokio::fs::create_dir_all(&config.data_dir).await?;
        let store = open_store(&config.effective_store_url()).await?;
        let blobs: Arc<dyn BlobStorage> = match &config.storage {
            Some(s) => s.clone(),
            None => {
                let mut local = LocalStorage::open(config.blob_dir())?;
                if let Some(base) = &config.public_base_url {
                    local = local.with_public_base_url(base.clone())?;
                }
                Arc::new(local)
            }
        };
        let renderer: Arc<dyn Renderer> = match &config.renderer {
            Some(r) => r.clone(),
            None => Arc::new(BakedRenderer::builtin()?),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                store,
                blobs,
                renderer,
                progress: progress::ProgressHub::new(1024),
            }),
        })
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The job store (to get, list, cancel or retry jobs).
    pub fn store(&self) -> &Arc<dyn JobStore> {
        &self.inner.store
    }

    /// The blob storage holding designs and outputs.
    pub fn blobs(&self) -> &Arc<dyn BlobStorage> {
        &self.inner.blobs
    }

    /// A receiver of every progress event sent from now on. A receiver that falls more
    /// than 1024 events behind misses the oldest ones (`RecvError::Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<ProgressEvent> {
        self.inner.progress.subscribe()
    }

    /// Checks and stores the design, then creates the job `pending`.
    ///
    /// Nothing is written when the submission is refused: `E_VALIDATION` (bad fields, a
    /// `file://` URL outside the allowed root, an unsupported URL scheme,
    /// a `template_id` that names no configured pack, an `http(s)://` URL when downloads
    /// are off or whose host is a refused address, a download that fails),
    /// `E_UNSUPPORTED_FORMAT` (not PNG, JPEG, WebP or SVG by content),
    /// `E_IMAGE_TOO_LARGE` (over the size or pixel limit), `E_IMAGE_DECODE` (an
    /// unreadable image header), `E_NOT_FOUND` (a missing file). With an idempotency key
    /// already used, the existing job is returned with `created == false`.
    pub async fn submit(&self, submission: Submission) -> Result<CreatedJob> {
        let inner = &self.inner;
        // An unknown template is refused before the design is even loaded.
        inner.config.template(submission.template_id.as_deref())?;
        let bytes = submit::load(submission.design.clone(), &inner.config).await?;
        let max = inner.config.max_design_bytes;
        let checked = tokio::task::spawn_blocking(move || submit::check(bytes, max))
            .await
            .map_err(join_error)??;
        // Validate the job's fields with the URL the design will get, before storing it.
        let url = inner.blobs.url_for(&checked.key);
        let new = submit::new_job(&submission, url, checked.format, inner.config.max_attempts);
        new.validate()?;
        let stored = if inner.blobs.exists(&checked.key).await? {
            inner.blobs.url_for(&checked.key)
        } else {
            let content_type = crate::blobs::content_type_for(&checked.key);
            inner
                .blobs
                .put(&checked.key, checked.bytes, content_type)
                .await?
                .url
        };
        let new = crate::job::NewRenderJob {
            design_file_url: stored,
            ..new
        };
        let options = CreateOptions {
            idempotency_key: submission.idempotency_key.clone(),
            priority: submission.priority,
            run_at: None,
        };
        inner.store.create(new, options).await
    }

    /// Starts the workers: up to `concurrency` jobs at once, until
    /// [`Workers::shutdown`].
    pub fn start(&self) -> Workers {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (hard_tx, hard_rx) = watch::channel(false);
        let handle = tokio::spawn(worker::supervise(self.inner.clone(), stop_rx, hard_rx));
        Workers {
            stop: stop_tx,
            hard: hard_tx,
            handle,
        }
    }
}

/// Running workers; stop them with [`Workers::shutdown`].
#[derive(Debug)]
pub struct Workers {
    stop: watch::Sender<bool>,
    hard: watch::Sender<bool>,
    handle: JoinHandle<ShutdownReport>,
}

/// What the workers did, returned by [`Workers::shutdown`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Jobs that completed.
    pub completed: Vec<JobId>,
    /// Jobs that failed for good.
    pub failed: Vec<JobId>,
    /// Jobs whose attempt failed and that were scheduled for a retry.
    pub retrying: Vec<JobId>,
    /// Jobs that were cancelled.
    pub cancelled: Vec<JobId>,
    /// Jobs given back to the queue at shutdown.
    pub released: Vec<JobId>,
    /// Jobs whose lease was lost (another worker or the rescuer took them).
    pub lost: Vec<JobId>,
}

impl Workers {
    /// Stops claiming, waits up to `deadline` for running jobs to finish, then releases
    /// the rest (an in-flight job's attempt counts as failed and the job returns to the
    /// queue with a backoff, as when a worker dies).
    pub async fn shutdown(self, deadline: Duration) -> Result<ShutdownReport> {
        let _ = self.stop.send(true);
        let mut handle = self.handle;
        match tokio::time::timeout(deadline, &mut handle).await {
            Ok(report) => report.map_err(join_error),
            Err(_) => {
                let _ = self.hard.send(true);
                handle.await.map_err(join_error)
            }
        }
    }
}

pub(crate) fn join_error(e: tokio::task::JoinError) -> Error {
    Error::RenderFailed(format!("a worker task stopped unexpectedly: {e}"))
}
