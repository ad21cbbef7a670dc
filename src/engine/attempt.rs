//! One attempt of one claimed job: load the design, reuse identical work or run the core
//! pipeline's two stages, store each stage's files under the attempt's own keys, and record
//! the job's progress and completion in the store.
//!
//! The imaging work is `crate::pipeline`, exactly what the command line and the Node
//! binding run; this module adds only what a stored job needs around it.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::progress::Stage;
use super::{join_error, reuse, Inner};
use crate::blobs::{BlobKey, StoredBlob};
use crate::cancel::CancelToken;
use crate::color::GarmentColor;
use crate::compose::ComposeOptions;
use crate::design::DecodeLimits;
use crate::error::{Error, Result};
use crate::job::{JobEvent, JobStatus};
use crate::pipeline::{compose_stage, Output, OutputKind};
use crate::render::RenderProgress;
use crate::store::{JobUpdate, StoredJob};

/// Applies `event` and keeps the new version in `current`.
async fn step(inner: &Inner, current: &mut StoredJob, event: JobEvent) -> Result<()> {
    let store = inner.store.clone();
    let job = current.clone();
    *current = detached(async move { store.apply(&job, &event).await }).await?;
    Ok(())
}

/// Runs a store write as its own task: when the attempt is stopped (timeout, cancel,
/// shutdown) the write still runs to its end instead of being dropped inside its
/// transaction, which would leave the pooled connection mid-transaction.
async fn detached<T: Send + 'static>(
    write: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    tokio::spawn(write).await.map_err(join_error)?
}

fn check_cancel(cancel: &CancelToken) -> Result<()> {
    if cancel.is_cancelled() {
        Err(Error::Cancelled("the job was stopped".into()))
    } else {
        Ok(())
    }
}

/// A job's committed output: its kind and where it is stored.
pub(crate) type StoredOutput = (OutputKind, StoredBlob);

/// The folder of one attempt's outputs: `jobs/{id}/{attempt}`.
pub(crate) fn attempt_outputs_key(job: &StoredJob) -> Result<BlobKey> {
    BlobKey::parse(format!("jobs/{}/{}", job.id(), job.job.attempt))
}

/// Writes a stage's outputs under the attempt's own keys (`jobs/{id}/{attempt}/{name}`).
///
/// Each put is atomic (an object appears whole or not at all) and nothing refers to an
/// attempt's keys until the store records its stage, so outputs need no staging copy:
/// on S3 that saves a copy, a lookup and a delete per output. Keys written before a
/// failed put stay in `written`, which the worker deletes when the attempt ends; once
/// every output of the stage is written they leave it (the stage is committed).
pub(crate) async fn store_outputs(
    inner: &Inner,
    job: &StoredJob,
    written: &mut Vec<BlobKey>,
    outputs: Vec<Output>,
) -> Result<Vec<StoredOutput>> {
    let folder = attempt_outputs_key(job)?;
    let committed = written.len();
    let mut stored = Vec::new();
    for out in outputs {
        let key = folder.join(out.file_name())?;
        written.push(key.clone());
        let blob = inner
            .blobs
            .put(&key, out.bytes, out.kind.content_type())
            .await?;
        stored.push((out.kind, blob));
    }
    written.truncate(committed);
    Ok(stored)
}

/// Runs `f` on the blocking pool, holding `busy` until it returns (even when the caller
/// stopped waiting for it).
async fn blocking<T: Send + 'static>(
    busy: &Arc<Semaphore>,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let permit = busy
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| Error::Internal("the job's work guard was closed".into()))?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        f()
    })
    .await
    .map_err(join_error)?
}

fn blob_json(kind: OutputKind, blob: &StoredBlob) -> Value {
    json!({
        "name": kind.file_name(),
        "url": blob.url,
        "size": blob.size,
        "content_type": blob.content_type,
    })
}

/// The garment colour a job asks for (`metadata.color`; white when absent).
fn job_color(job: &StoredJob) -> Result<GarmentColor> {
    match job
        .job
        .metadata
        .as_ref()
        .and_then(|m| m.get("color"))
        .and_then(Value::as_str)
    {
        Some(text) => GarmentColor::parse_field(text, "metadata.color"),
        None => Ok(GarmentColor::default()),
    }
}

/// compose -> store print file and atlas -> render -> encode -> store -> complete; or,
/// when a completed job had the same inputs, copy its outputs and complete.
pub(crate) async fn run(
    inner: &Arc<Inner>,
    current: &mut StoredJob,
    written: &mut Vec<BlobKey>,
    cancel: &CancelToken,
    busy: &Arc<Semaphore>,
) -> Result<()> {
    let cfg = &inner.config;
    let id = current.id().clone();
    let attempt = current.job.attempt;
    let send = |status, stage, percent, message: &str| {
        inner
            .progress
            .send(&id, attempt, status, stage, percent, message)
    };
    let color = job_color(current)?;

    send(
        JobStatus::Compositing,
        Stage::Compositing,
        2,
        "loading the design",
    );
    // A design this worker cannot read (another storage, a blob not there yet or lost)
    // is this worker's trouble, not the job's: a transient failure, retried later,
    // possibly by a worker that shares the right storage.
    let design_key = inner
        .blobs
        .key_for_url(&current.job.design_file_url)
        .ok_or_else(|| {
            Error::storage(format!(
                "the design `{}` is not in this worker's blob storage; the workers of one \
                 queue must share one storage (an S3 bucket, or one folder)",
                crate::blobs::redact_url(&current.job.design_file_url)
            ))
        })?;
    let pack = cfg.template(current.job.template_id.as_deref())?;
    let fingerprint = reuse::fingerprint(inner, &design_key, &pack, current, color);
    if let Some(earlier) = reuse::find(inner, &fingerprint, &id).await {
        send(
            JobStatus::Compositing,
            Stage::Storing,
            10,
            &format!("reusing the outputs of identical job {}", earlier.id()),
        );
        match reuse::copy_outputs(inner, current, written, &earlier).await {
            Ok(blobs) => {
                let metadata = reuse::metadata(&earlier)?;
                return complete(inner, current, cancel, blobs, metadata, &fingerprint).await;
            }
            // The earlier outputs went away meanwhile: do the work.
            Err(_) => {
                for key in written.drain(..) {
                    let _ = inner.blobs.delete(&key).await;
                }
            }
        }
    }
    let design = inner.blobs.get(&design_key).await.map_err(|e| match e {
        Error::NotFound { .. } => Error::storage(format!(
            "the design `{design_key}` is missing from this worker's blob storage; the \
                 workers of one queue must share one storage"
        )),
        other => other,
    })?;
    send(JobStatus::Compositing, Stage::Compositing, 5, "composing");
    let limits = DecodeLimits {
        max_bytes: cfg.max_design_bytes,
        ..DecodeLimits::default()
    };
    let options = ComposeOptions::new(current.job.preset)
        .with_template(pack)
        .with_color(color)
        .with_limits(limits)
        .with_cancel(cancel.clone());
    let selection = cfg.outputs.clone();
    let mut stage = blocking(busy, move || compose_stage(&design, &options, &selection)).await?;
    check_cancel(cancel)?;

    send(
        JobStatus::Compositing,
        Stage::Storing,
        15,
        "storing the atlas",
    );
    let composed = std::mem::take(&mut stage.outputs);
    let mut blobs = store_outputs(inner, current, written, composed).await?;
    composited(inner, current, &blobs).await?;
    check_cancel(cancel)?;

    send(JobStatus::Rendering, Stage::Rendering, 20, "rendering");
    let preflight = serde_json::to_value(stage.preflight())
        .map_err(|e| Error::Internal(format!("cannot serialise the preflight report: {e}")))?;
    let renderer = inner.renderer.clone();
    let hub = inner.clone();
    let job_id = id.clone();
    let rendered = blocking(busy, move || {
        let on_progress = |p: RenderProgress| {
            let percent = 20 + (60 * p.done / p.total.max(1)).min(60) as u8;
            let send = |stage, message: String| {
                hub.progress.send(
                    &job_id,
                    attempt,
                    JobStatus::Rendering,
                    stage,
                    percent,
                    message,
                )
            };
            send(
                Stage::Rendering,
                format!("rendering {} of {}", p.done, p.total),
            );
            // The last image is done: the pipeline encodes next.
            if p.done >= p.total {
                send(Stage::Encoding, "encoding".to_string());
            }
        };
        stage.render(renderer.as_ref(), Some(&on_progress))
    })
    .await?;
    check_cancel(cancel)?;

    send(
        JobStatus::Rendering,
        Stage::Storing,
        90,
        "storing the renders",
    );
    blobs.extend(store_outputs(inner, current, written, rendered).await?);
    let mut metadata = serde_json::Map::new();
    metadata.insert("preflight".into(), preflight);
    metadata.insert(
        "renderer".into(),
        Value::String(inner.renderer.name().into()),
    );
    // Indexed before the job shows as completed: whoever sees it completed and submits
    // the same work finds it (`reuse::find` only takes a completed job, so an index
    // entry for a job that then fails to complete is never used).
    reuse::remember(inner, &fingerprint, &id).await;
    complete(inner, current, cancel, blobs, metadata, &fingerprint).await?;
    Ok(())
}

/// Records the atlas as the composited file and moves on to rendering.
async fn composited(inner: &Inner, current: &mut StoredJob, blobs: &[StoredOutput]) -> Result<()> {
    let atlas_url = blobs
        .iter()
        .find(|b| b.0 == OutputKind::Atlas)
        .map(|b| b.1.url.clone())
        .ok_or_else(|| Error::Internal("no atlas was produced".into()))?;
    step(
        inner,
        current,
        JobEvent::Composited {
            composited_file_url: atlas_url,
        },
    )
    .await?;
    step(inner, current, JobEvent::StartRendering).await
}

/// Completes the job with its committed outputs: `metadata.outputs` (and the rest of
/// `metadata`) and the completion in one fenced write.
async fn complete(
    inner: &Inner,
    current: &mut StoredJob,
    cancel: &CancelToken,
    blobs: Vec<StoredOutput>,
    mut metadata: serde_json::Map<String, Value>,
    fingerprint: &str,
) -> Result<()> {
    if current.job.status == JobStatus::Compositing {
        composited(inner, current, &blobs).await?;
    }
    let url_of = |kind: OutputKind| blobs.iter().find(|b| b.0 == kind).map(|b| b.1.url.clone());
    let front = url_of(OutputKind::Still(crate::render::View::Front))
        .ok_or_else(|| Error::render_failed("the renderer produced no front still"))?;
    let animation = url_of(OutputKind::TurntableMp4);
    metadata.insert(
        "outputs".into(),
        Value::Array(blobs.iter().map(|(k, b)| blob_json(*k, b)).collect()),
    );
    metadata.insert("fingerprint".into(), Value::String(fingerprint.to_string()));
    metadata.insert(
        "worker".into(),
        Value::String(inner.config.worker_name.clone()),
    );
    check_cancel(cancel)?;
    let events = [
        JobEvent::Annotate { metadata },
        JobEvent::Completed {
            rendered_image_url: front,
            animation_url: animation,
        },
    ];
    let store = inner.store.clone();
    let job = current.clone();
    let result = detached(async move {
        let update = JobUpdate {
            current: &job,
            events: &events,
        };
        store.apply_many(&[update]).await
    })
    .await?
    .pop()
    .ok_or_else(|| Error::Internal("apply_many returned no result for one update".into()))?;
    *current = result?;
    Ok(())
}
