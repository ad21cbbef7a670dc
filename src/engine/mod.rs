//! The engine: submitted designs become finished jobs.
//!
//! [`Engine::open`] connects the job store, the blob storage and the renderer named in an
//! [`EngineConfig`]. [`Engine::submit`] takes the design as bytes, a `file://` URL
//! inside an allowed root or, when enabled, an `http(s)://` URL fetched with SSRF checks
//! ([`HttpDesigns`]); it checks the design (size, format by magic bytes, pixel count from
//! the header, then the whole file decoded on the guarded path: a PNG streamed row by row
//! to its end with its checksums) before anything is written, stores it under a
//! content-addressed key and creates a `pending` job. [`Engine::start`] runs workers that
//! claim jobs with a lease, heartbeat while working, and carry each job through
//! `compositing` and `rendering` to `completed`, or to `failed` / `cancelled`:
//!
//! - each attempt writes its outputs under its own keys, `jobs/{job}/{attempt}/`, one
//!   atomic put each (nothing refers to them until the store records the stage); a
//!   stage left half-written is deleted by its attempt, and the next attempt deletes
//!   whatever earlier attempts left;
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
//! A completed job's outputs are typed ([`StoredJob::outputs`], [`StoredJob::preflight`])
//! and readable through the engine whatever the storage ([`Engine::read_output`],
//! [`Engine::output_url`]).
//!
//! Progress is a broadcast stream of [`ProgressEvent`]s ([`Engine::subscribe`]).

mod attempt;
mod config;
mod fetch;
mod outputs;
mod progress;
mod reuse;
mod submit;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::blobs::{open_storage_url, BlobKey, BlobStorage, LocalStorage};
use crate::error::{Error, Result};
use crate::job::JobId;
use crate::render::{BakedRenderer, Renderer};
use crate::store::{
    open_store_with, CreateOptions, CreatedJob, JobFilter, JobPage, JobStore, StoredJob,
};

pub use config::EngineConfig;
pub use fetch::{HttpDesigns, IpRange};
pub use outputs::{JobOutput, JobPreflight};
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
    /// Opens the store (running its migrations, unless [`EngineConfig::migrations`] says
    /// to only check the schema), the storage and the renderer of `config`, creating the
    /// data directory if needed.
    ///
    /// Errors: `E_VALIDATION` for a configuration out of range or a malformed storage URL
    /// (on `storage`); `E_STORAGE` when the blob storage does not answer (an unreachable
    /// endpoint, a missing bucket), naming it without credentials; `E_STORE` when the
    /// database cannot be reached or, with
    /// [`crate::store::MigrationMode::RequireCurrent`], its schema
    /// is behind (the message says how to migrate); I/O and renderer errors as they come.
    pub async fn open(config: EngineConfig) -> Result<Self> {
        config.validate()?;
        tokio::fs::create_dir_all(&config.data_dir).await?;
        let store = open_store_with(&config.effective_store_url(), config.migrations).await?;
        let blobs: Arc<dyn BlobStorage> = match (&config.storage, &config.storage_url) {
            (Some(s), _) => s.clone(),
            (None, Some(url)) => open_storage_url(url, &config.storage_options())?,
            (None, None) => LocalStorage::open(config.blob_dir())
                .and_then(|local| {
                    Ok(match &config.public_base_url {
                        Some(base) => local.with_public_base_url(base.clone())?,
                        None => local,
                    })
                })
                .map(|l| Arc::new(l) as Arc<dyn BlobStorage>)?,
        };
        // An unreachable endpoint or a missing bucket is reported now, not at the first job.
        blobs.check().await?;
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

    /// The job store's kind: `"memory"`, `"sqlite"` or `"postgres"`.
    pub fn store_backend(&self) -> &'static str {
        self.inner.store.backend()
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
    /// `E_IMAGE_TOO_LARGE` (over the size or pixel limit), `E_IMAGE_DECODE` (a design
    /// that does not decode completely: a truncated or corrupt PNG, JPEG, WebP or SVG),
    /// `E_NOT_FOUND` (a missing file). With an idempotency key
    /// already used, the existing job is returned with `created == false`.
    pub async fn submit(&self, submission: Submission) -> Result<CreatedJob> {
        let inner = &self.inner;
        // An unknown template, or one the renderer cannot draw (a pack without its bake),
        // is refused before the design is even loaded.
        let pack = inner.config.template(submission.template_id.as_deref())?;
        let renders = inner.config.outputs.render_outputs();
        if !renders.stills.is_empty() || renders.turntable {
            inner.renderer.check_template(&pack)?;
        }
        let bytes = submit::load(submission.design.clone(), &inner.config).await?;
        let max = inner.config.max_design_bytes;
        let checked = tokio::task::spawn_blocking(move || submit::check(bytes, max))
            .await
            .map_err(join_error)??;
        // Validate the job's fields with the URL the design will get, before storing it.
        let url = inner.blobs.url_for(&checked.key);
        let new = submit::new_job(&submission, url, checked.format, inner.config.max_attempts);
        new.validate()?;
        // The job keeps the design's stable URL (`url_for`), never a presigned one that
        // would expire before a late retry reads it.
        if !inner.blobs.exists(&checked.key).await? {
            let content_type = crate::blobs::content_type_for(&checked.key);
            inner
                .blobs
                .put(&checked.key, checked.bytes, content_type)
                .await?;
        }
        let options = CreateOptions {
            idempotency_key: submission.idempotency_key.clone(),
            priority: submission.priority,
            run_at: None,
        };
        inner.store.create(new, options).await
    }

    /// The job with this id, with its attempt history. `E_NOT_FOUND` when there is none
    /// (or it was deleted).
    pub async fn job(&self, id: &JobId) -> Result<StoredJob> {
        self.inner.store.get(id).await
    }

    /// One page of jobs, newest first, as `filter` selects them.
    pub async fn jobs(&self, filter: &JobFilter) -> Result<JobPage> {
        self.inner.store.list(filter).await
    }

    /// The bytes of output `name` (`front.png`, `turntable.mp4`, ... as in
    /// [`StoredJob::outputs`]) of the completed job `id`, read from the blob storage
    /// whatever it is (a folder, a bucket): a front end can serve outputs through its own
    /// route without knowing the storage.
    ///
    /// Errors: `E_NOT_FOUND` for an unknown or deleted job, or a name that is not one of
    /// the job's outputs; `E_CONFLICT` when the job has not completed (it has no outputs
    /// yet, or never will); `E_STORAGE` when the file is gone from the storage.
    pub async fn read_output(&self, id: &JobId, name: &str) -> Result<Vec<u8>> {
        let key = self.output_key(id, name).await?;
        self.inner.blobs.get(&key).await.map_err(|e| match e {
            Error::NotFound { .. } => Error::storage(format!(
                "output `{name}` of job {id} is recorded but missing from the blob storage \
                 (`{key}`); it was deleted outside the engine; retry the job to render it again"
            )),
            other => other,
        })
    }

    /// A URL to fetch output `name` of the completed job `id` now: for a bucket without a
    /// public base URL a newly presigned one (the URL recorded in the job expires), else
    /// the stable URL. Errors as [`Engine::read_output`] (the file's presence is not
    /// checked).
    pub async fn output_url(&self, id: &JobId, name: &str) -> Result<String> {
        let key = self.output_key(id, name).await?;
        self.inner.blobs.fresh_url(&key).await
    }

    /// The blob key of output `name` of the completed job `id`.
    async fn output_key(&self, id: &JobId, name: &str) -> Result<BlobKey> {
        let job = self.inner.store.get(id).await?;
        if job.job.status != crate::job::JobStatus::Completed {
            return Err(Error::Conflict(format!(
                "job {id} is {}: a job has outputs once it has completed; wait for it \
                 (poll the job, or Engine::wait)",
                job.job.status
            )));
        }
        // The job's outputs are listed in it (`outputs`): a name not there is unknown.
        let output = job.job.output(name).ok_or_else(|| Error::NotFound {
            what: "output",
            id: format!("{name}` of job `{id}"),
        })?;
        self.inner.blobs.key_for_url(&output.url).ok_or_else(|| {
            Error::storage(format!(
                "output `{name}` of job {id} is stored at `{}`, which is not in this engine's \
                 blob storage; open the engine with the storage the workers use",
                crate::blobs::redact_url(&output.url)
            ))
        })
    }

    /// Retries a failed job with its configuration intact. `E_NOT_FOUND`, or
    /// `E_INVALID_TRANSITION` when the job has not failed or has no attempts left.
    pub async fn retry(&self, id: &JobId) -> Result<StoredJob> {
        self.inner.store.retry(id).await
    }

    /// Cancels a job: at once when it is pending, at its worker's next heartbeat when it
    /// is running. `E_NOT_FOUND`, or `E_INVALID_TRANSITION` when it completed or failed.
    pub async fn cancel(&self, id: &JobId) -> Result<StoredJob> {
        self.inner.store.cancel(id).await
    }

    /// Soft-deletes a job: kept for audit, hidden from [`Engine::job`] and
    /// [`Engine::jobs`]. `E_NOT_FOUND` when there is none.
    pub async fn delete(&self, id: &JobId) -> Result<StoredJob> {
        self.inner.store.delete(id).await
    }

    /// Waits until the job has ended (`completed`, `failed` for good, or `cancelled`)
    /// and returns it. Something must work on it meanwhile: workers of this engine
    /// ([`Engine::start`]) or of another process sharing the store. Wakes on this
    /// engine's progress events and polls the store every `poll_every` otherwise.
    ///
    /// Errors: `E_NOT_FOUND` (unknown or deleted job), `E_TIMEOUT` after `timeout`.
    pub async fn wait(&self, id: &JobId, timeout: Duration) -> Result<StoredJob> {
        let mut events = self.subscribe();
        let poll = self.inner.config.poll_every;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let job = self.job(id).await?;
            if job.job.status.is_terminal() {
                return Ok(job);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(Error::Timeout(format!(
                    "job {id} was still {} after {:.1} s",
                    job.job.status,
                    timeout.as_secs_f64()
                )));
            }
            let wake = (now + poll).min(deadline);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(wake) => break,
                    event = events.recv() => match event {
                        Ok(e) if &e.job_id == id => break,
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => {
                            tokio::time::sleep_until(wake).await;
                            break;
                        }
                    },
                }
            }
        }
    }

    /// Starts the workers: up to `concurrency` jobs at once, until
    /// [`Workers::shutdown`]. Dropping the returned [`Workers`] stops them claiming jobs:
    /// keep it for as long as the workers should run.
    #[must_use = "dropping `Workers` stops the workers at once; keep it and call `shutdown`"]
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

/// Running workers; stop them with [`Workers::shutdown`]. Dropping this handle stops
/// them claiming new jobs at once (jobs already running finish in the background).
#[derive(Debug)]
#[must_use = "dropping `Workers` stops the workers at once; keep it and call `shutdown`"]
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
    Error::Internal(format!("a worker task stopped unexpectedly: {e}"))
}
