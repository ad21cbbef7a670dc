//! The workers: claim, heartbeat, run the pipeline, record the outcome.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::progress::Stage;
use super::{join_error, reuse, Inner, ShutdownReport};
use crate::cancel::CancelToken;
use crate::compose::{compose, encode_png, ComposeOptions, DecodeLimits, GarmentColor};
use crate::error::{Error, Result};
use crate::job::{JobEvent, JobId, JobStatus};
use crate::render::{encode_mp4, encode_webp, RenderProgress, RenderRequest};
use crate::blobs::{BlobKey, StoredBlob};
use crate::store::{JobUpdate, StoredJob};

/// How long a stopped job waits for its compose or render to notice the cancel token
/// before the worker records the outcome anyway.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// Every output name a job can have (the files under `jobs/{id}/`).
const OUTPUT_NAMES: [&str; 7] = [
    "atlas.png",
    "print.png",
    "front.png",
    "back.png",
    "three-quarter.png",
    "turntable.mp4",
    "turntable.webp",
];

/// How one claimed job ended for this worker.
enum Outcome {
    Completed,
    Failed,
    Retrying,
    Cancelled,
    Released,
    Lost,
}

/// Why the pipeline stopped before finishing.
enum Stop {
    Error(Error),
    Timeout,
    CancelRequested,
    LeaseLost,
    Shutdown,
}

/// Claims and runs jobs until `stop`, then waits for the running ones (which `hard`
/// makes release their jobs).
pub(crate) async fn supervise(
    inner: Arc<Inner>,
    mut stop: watch::Receiver<bool>,
    hard: watch::Receiver<bool>,
) -> ShutdownReport {
    let cfg = &inner.config;
    let slots = Arc::new(Semaphore::new(cfg.concurrency));
    let mut tasks: JoinSet<(JobId, Outcome)> = JoinSet::new();
    let mut report = ShutdownReport::default();
    let mut last_rescue: Option<Instant> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        while let Some(done) = tasks.try_join_next() {
            record(&mut report, done);
        }
        if last_rescue.is_none_or(|t| t.elapsed() >= cfg.lease_for / 2) {
            // Jobs of dead workers come back to the queue; a failing rescue is retried
            // at the next turn.
            let _ = inner.store.rescue(100).await;
            last_rescue = Some(Instant::now());
        }
        let free = slots.available_permits();
        let claimed = if free > 0 {
            inner
                .store
                .claim(&cfg.worker_name, free as u32, cfg.lease_for)
                .await
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let idle = claimed.is_empty();
        for job in claimed {
            let permit = slots.clone().acquire_owned().await;
            let inner = inner.clone();
            let hard = hard.clone();
            tasks.spawn(async move {
                let _permit = permit;
                run_job(inner, job, hard).await
            });
        }
        if idle {
            tokio::select! {
                // A dropped `Workers` stops the loop like a shutdown.
                changed = stop.changed() => if changed.is_err() { break },
                _ = tokio::time::sleep(cfg.poll_every) => {}
                Some(done) = tasks.join_next(), if !tasks.is_empty() => record(&mut report, done),
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        record(&mut report, done);
    }
    report
}

fn record(
    report: &mut ShutdownReport,
    done: std::result::Result<(JobId, Outcome), tokio::task::JoinError>,
) {
    let Ok((id, outcome)) = done else { return };
    let list = match outcome {
        Outcome::Completed => &mut report.completed,
        Outcome::Failed => &mut report.failed,
        Outcome::Retrying => &mut report.retrying,
        Outcome::Cancelled => &mut report.cancelled,
        Outcome::Released => &mut report.released,
        Outcome::Lost => &mut report.lost,
    };
    list.push(id);
}

/// Runs one claimed job to its end for this worker.
async fn run_job(
    inner: Arc<Inner>,
    job: StoredJob,
    mut hard: watch::Receiver<bool>,
) -> (JobId, Outcome) {
    let id = job.id().clone();
    let Some(token) = job.lease_token().map(str::to_string) else {
        return (id, Outcome::Lost);
    };
    let attempt = job.job.attempt;
    let mut current = match inner.store.apply(&job, &JobEvent::StartCompositing).await {
        Ok(j) => j,
        Err(_) => {
            // Cancelled or changed between the claim and the start: give it back.
            let _ = inner.store.release(&id, &token, "could not start").await;
            return (id, Outcome::Lost);
        }
    };
    inner.progress.send(
        &id,
        attempt,
        JobStatus::Compositing,
        Stage::Claimed,
        0,
        format!("claimed by {}", inner.config.worker_name),
    );

    // A worker that died during an earlier attempt left its staged outputs behind.
    for earlier in 1..attempt {
        for name in OUTPUT_NAMES {
            if let Ok(key) = BlobKey::parse(format!("staging/{id}/{earlier}/{name}")) {
                let _ = inner.blobs.delete(&key).await;
            }
        }
    }

    let cancel = CancelToken::new();
    // Held by the blocking compose/render while it runs: a stopped job waits for it, so
    // a cancelled render has really ended (and its slot is free) when the job is recorded.
    let busy = Arc::new(Semaphore::new(1));
    let (stop_tx, mut stop_rx) = watch::channel(None::<bool>);
    let (quit_beats, beats_quit) = watch::channel(false);
    let heartbeat = tokio::spawn(heartbeat_loop(
        inner.clone(),
        id.clone(),
        token.clone(),
        stop_tx,
        beats_quit,
    ));

    let mut staged: Vec<BlobKey> = Vec::new();
    let ended = {
        let work = pipeline(&inner, &mut current, &mut staged, &cancel, &busy);
        tokio::select! {
            r = tokio::time::timeout(inner.config.job_timeout, work) => match r {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(Stop::Error(e)),
                Err(_) => Some(Stop::Timeout),
            },
            r = stop_rx.wait_for(|s| s.is_some()) => match r.map(|s| *s) {
                Ok(Some(true)) => Some(Stop::CancelRequested),
                _ => Some(Stop::LeaseLost),
            },
            _ = hard.wait_for(|h| *h) => Some(Stop::Shutdown),
        }
    };
    cancel.cancel();
    // The compose or render stops at its next check of the token.
    let _ = tokio::time::timeout(STOP_GRACE, busy.acquire()).await;
    // Stopped between beats, never in the middle of a store call: a store future dropped
    // inside its transaction would hand its connection back mid-transaction.
    let _ = quit_beats.send(true);
    let _ = heartbeat.await;
    for key in &staged {
        let _ = inner.blobs.delete(key).await;
    }

    let outcome = match ended {
        None => Outcome::Completed,
        Some(stop) => finish(&inner, current, &token, stop).await,
    };
    let (status, stage, message) = match outcome {
        Outcome::Completed => (JobStatus::Completed, Stage::Completed, "completed"),
        Outcome::Failed => (JobStatus::Failed, Stage::Failed, "failed"),
        Outcome::Retrying => (JobStatus::Pending, Stage::Retrying, "will be retried"),
        Outcome::Cancelled => (JobStatus::Cancelled, Stage::Cancelled, "cancelled"),
        Outcome::Released => (JobStatus::Pending, Stage::Released, "released at shutdown"),
        Outcome::Lost => (JobStatus::Pending, Stage::Released, "lease lost"),
    };
    let percent = if matches!(outcome, Outcome::Completed) {
        100
    } else {
        0
    };
    inner
        .progress
        .send(&id, attempt, status, stage, percent, message);
    (id, outcome)
}

/// Whether `job` was completed by `worker` in attempt `attempt` (the pipeline records the
/// worker's name in `metadata.worker` with the completion).
fn completed_by(job: &StoredJob, attempt: u32, worker: &str) -> bool {
    job.job.status == JobStatus::Completed
        && job.job.attempt == attempt
        && job
            .job
            .metadata
            .as_ref()
            .and_then(|m| m.get("worker"))
            .and_then(Value::as_str)
            == Some(worker)
}

/// Records how a job stopped.
async fn finish(inner: &Inner, current: StoredJob, token: &str, stop: Stop) -> Outcome {
    let store = &inner.store;
    // The completion may have been written just before the stop was seen (a heartbeat
    // then finds the lease gone): the job's own record decides, not the race.
    if let Ok(fresh) = store.get(current.id()).await {
        if completed_by(&fresh, current.job.attempt, &inner.config.worker_name) {
            return Outcome::Completed;
        }
    }
    let error = match stop {
        Stop::LeaseLost => return Outcome::Lost,
        Stop::Shutdown => {
            return match store
                .release(
                    current.id(),
                    token,
                    "the worker shut down before the job finished",
                )
                .await
            {
                Ok(_) => Outcome::Released,
                Err(_) => Outcome::Lost,
            };
        }
        Stop::CancelRequested => return cancel(inner, &current).await,
        Stop::Timeout => Error::Timeout(format!(
            "the attempt took longer than the job timeout of {:.0} s",
            inner.config.job_timeout.as_secs_f64()
        )),
        Stop::Error(Error::LeaseLost(_)) => return Outcome::Lost,
        Stop::Error(Error::Conflict(_)) => {
            // Something changed the job under us: a cancel request bumps the version.
            return match store.get(current.id()).await {
                Ok(fresh) if fresh.cancel_requested_at.is_some() => cancel(inner, &fresh).await,
                _ => Outcome::Lost,
            };
        }
        Stop::Error(e) => e,
    };
    let mut events = vec![JobEvent::Fail {
        code: error.code().to_string(),
        message: error.to_string(),
    }];
    let retry = error.is_transient() && current.job.attempt < current.job.max_attempts;
    if retry {
        events.push(JobEvent::Retry);
    }
    // A write of the stopped pipeline may have landed after `current` was read: on a
    // version conflict, read the job again and, while the lease is still ours, retry.
    let mut current = current;
    for _ in 0..2 {
        let update = JobUpdate {
            current: &current,
            events: &events,
        };
        match store.apply_many(&[update]).await {
            Ok(mut results) => match results.pop() {
                Some(Ok(_)) if retry => return Outcome::Retrying,
                Some(Ok(_)) => return Outcome::Failed,
                Some(Err(Error::Conflict(_))) => match store.get(current.id()).await {
                    Ok(fresh) if fresh.lease_token() == Some(token) => current = fresh,
                    _ => return Outcome::Lost,
                },
                _ => return Outcome::Lost,
            },
            Err(_) => return Outcome::Lost,
        }
    }
    Outcome::Lost
}

async fn cancel(inner: &Inner, current: &StoredJob) -> Outcome {
    match inner.store.apply(current, &JobEvent::Cancel).await {
        Ok(_) => Outcome::Cancelled,
        Err(_) => match inner.store.get(current.id()).await {
            Ok(fresh) => match inner.store.apply(&fresh, &JobEvent::Cancel).await {
                Ok(_) => Outcome::Cancelled,
                Err(_) => Outcome::Lost,
            },
            Err(_) => Outcome::Lost,
        },
    }
}

/// Extends the lease every `heartbeat_every`; sends `Some(true)` when a cancel was
/// requested and `Some(false)` when the lease is lost.
async fn heartbeat_loop(
    inner: Arc<Inner>,
    id: JobId,
    token: String,
    stop: watch::Sender<Option<bool>>,
    mut quit: watch::Receiver<bool>,
) {
    let every = inner.config.heartbeat_every;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = quit.wait_for(|q| *q) => return,
        }
        match inner
            .store
            .heartbeat(&id, &token, inner.config.lease_for)
            .await
        {
            Ok(beat) if beat.cancel_requested => {
                let _ = stop.send(Some(true));
                return;
            }
            Ok(_) => {}
            Err(Error::LeaseLost(_)) => {
                let _ = stop.send(Some(false));
                return;
            }
            // A store hiccup: try again at the next beat (the lease outlasts several).
            Err(_) => {}
        }
    }
}

/// Applies `event` and keeps the new version in `current`.
async fn step(inner: &Inner, current: &mut StoredJob, event: JobEvent) -> Result<()> {
    let store = inner.store.clone();
    let job = current.clone();
    *current = detached(async move { store.apply(&job, &event).await }).await?;
    Ok(())
}

/// Runs a store write as its own task: when the pipeline is stopped (timeout, cancel,
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

/// One output: its final name, bytes and content type.
pub(crate) struct Output {
    pub(crate) name: String,
    pub(crate) bytes: Vec<u8>,
    pub(crate) content_type: String,
}

impl Output {
    fn new(name: &str, bytes: Vec<u8>, content_type: &str) -> Self {
        Self {
            name: name.to_string(),
            bytes,
            content_type: content_type.to_string(),
        }
    }
}

/// Writes outputs to staging keys, then renames them into `jobs/{id}/`: a stage's
/// outputs appear only once all of them were written.
pub(crate) async fn store_outputs(
    inner: &Inner,
    job: &StoredJob,
    staged: &mut Vec<BlobKey>,
    outputs: Vec<Output>,
) -> Result<Vec<(String, StoredBlob)>> {
    let id = job.id().as_str();
    let staging = BlobKey::parse(format!("staging/{id}/{}", job.job.attempt))?;
    let mut pending = Vec::new();
    for out in outputs {
        let key = staging.join(&out.name)?;
        staged.push(key.clone());
        inner
            .blobs
            .put(&key, out.bytes, &out.content_type)
            .await?;
        pending.push((out.name, key));
    }
    let mut stored = Vec::new();
    for (name, key) in pending {
        let target = BlobKey::parse(format!("jobs/{id}/{name}"))?;
        stored.push((name, inner.blobs.rename(&key, &target).await?));
        staged.retain(|k| k != &key);
    }
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
        .map_err(|_| Error::RenderFailed("the job's work guard was closed".into()))?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        f()
    })
    .await
    .map_err(join_error)?
}

fn blob_json(name: &str, blob: &StoredBlob) -> Value {
    json!({
        "name": name,
        "url": blob.url,
        "size": blob.size,
        "content_type": blob.content_type,
    })
}

/// compose -> store print file and atlas -> render -> encode -> store -> complete; or,
/// when a completed job had the same inputs, copy its outputs and complete.
async fn pipeline(
    inner: &Arc<Inner>,
    current: &mut StoredJob,
    staged: &mut Vec<BlobKey>,
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
    let color = match current
        .job
        .metadata
        .as_ref()
        .and_then(|m| m.get("color"))
        .and_then(Value::as_str)
    {
        Some(text) => GarmentColor::parse_field(text, "metadata.color")?,
        None => GarmentColor::default(),
    };

    send(
        JobStatus::Compositing,
        Stage::Compositing,
        2,
        "loading the design",
    );
    let design_key = inner
        .blobs
        .key_for_url(&current.job.design_file_url)
        .ok_or_else(|| {
            Error::validation(
                "design_file_url",
                format!(
                    "`{}` is not in this engine's storage; submit the design through the engine",
                    current.job.design_file_url
                ),
            )
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
        match reuse::copy_outputs(inner, current, staged, &earlier).await {
            Ok(blobs) => {
                let metadata = reuse::metadata(&earlier)?;
                return complete(inner, current, cancel, blobs, metadata, &fingerprint).await;
            }
            // The earlier outputs went away meanwhile: do the work.
            Err(_) => {
                for key in staged.drain(..) {
                    let _ = inner.blobs.delete(&key).await;
                }
            }
        }
    }
    let design = inner.blobs.get(&design_key).await?;
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
    let print_file = cfg.outputs.print_file;
    let (composition, print_png, atlas_png) = blocking(busy, move || {
        let c = compose(&design, &options)?;
        let print = if print_file {
            Some(c.print_png()?)
        } else {
            None
        };
        let atlas = c.atlas_png()?;
        Ok((c, print, atlas))
    })
    .await?;
    check_cancel(cancel)?;

    send(
        JobStatus::Compositing,
        Stage::Storing,
        15,
        "storing the atlas",
    );
    let mut outputs = vec![Output::new("atlas.png", atlas_png, "image/png")];
    if let Some(bytes) = print_png {
        outputs.push(Output::new("print.png", bytes, "image/png"));
    }
    let mut blobs = store_outputs(inner, current, staged, outputs).await?;
    composited(inner, current, &blobs).await?;
    check_cancel(cancel)?;

    send(JobStatus::Rendering, Stage::Rendering, 20, "rendering");
    let preflight = serde_json::to_value(&composition.preflight)
        .map_err(|e| Error::RenderFailed(format!("cannot serialise the preflight report: {e}")))?;
    let atlas = composition.atlas;
    let renderer = inner.renderer.clone();
    let request_outputs = cfg.outputs.render_outputs();
    let hub = inner.clone();
    let job_id = id.clone();
    let stop = cancel.clone();
    let rendered = blocking(busy, move || {
        let on_progress = |p: RenderProgress| {
            let percent = 20 + (60 * p.done / p.total.max(1)).min(60) as u8;
            hub.progress.send(
                &job_id,
                attempt,
                JobStatus::Rendering,
                Stage::Rendering,
                percent,
                format!("rendering {} of {}", p.done, p.total),
            );
        };
        let request = RenderRequest::new(&atlas, color)
            .with_outputs(request_outputs)
            .with_progress(&on_progress)
            .with_cancel(stop.clone());
        let out = renderer.render(&request)?;
        check_cancel(&stop)?;
        Ok(out)
    })
    .await?;
    check_cancel(cancel)?;

    send(JobStatus::Rendering, Stage::Encoding, 80, "encoding");
    let encoded = blocking(busy, move || {
        let mut files = Vec::new();
        for still in &rendered.stills {
            let name = match still.view.name() {
                "front" => "front.png",
                "back" => "back.png",
                _ => "three-quarter.png",
            };
            files.push(Output::new(
                name,
                encode_png(&still.image, None)?,
                "image/png",
            ));
        }
        if !rendered.turntable.is_empty() {
            let (mp4, webp) = rayon::join(
                || encode_mp4(&rendered.turntable, rendered.fps),
                || encode_webp(&rendered.turntable, rendered.fps),
            );
            files.push(Output::new("turntable.mp4", mp4?, "video/mp4"));
            files.push(Output::new("turntable.webp", webp?, "image/webp"));
        }
        Ok(files)
    })
    .await?;
    check_cancel(cancel)?;

    send(
        JobStatus::Rendering,
        Stage::Storing,
        90,
        "storing the renders",
    );
    blobs.extend(store_outputs(inner, current, staged, encoded).await?);
    let mut metadata = serde_json::Map::new();
    metadata.insert("preflight".into(), preflight);
    metadata.insert(
        "renderer".into(),
        Value::String(inner.renderer.name().into()),
    );
    complete(inner, current, cancel, blobs, metadata, &fingerprint).await?;
    reuse::remember(inner, &fingerprint, &id).await;
    Ok(())
}

/// Records the atlas as the composited file and moves on to rendering.
async fn composited(
    inner: &Inner,
    current: &mut StoredJob,
    blobs: &[(String, StoredBlob)],
) -> Result<()> {
    let atlas_url = blobs
        .iter()
        .find(|b| b.0 == "atlas.png")
        .map(|b| b.1.url.clone())
        .ok_or_else(|| Error::RenderFailed("no atlas was produced".into()))?;
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
    blobs: Vec<(String, StoredBlob)>,
    mut metadata: serde_json::Map<String, Value>,
    fingerprint: &str,
) -> Result<()> {
    if current.job.status == JobStatus::Compositing {
        composited(inner, current, &blobs).await?;
    }
    let url_of = |name: &str| blobs.iter().find(|b| b.0 == name).map(|b| b.1.url.clone());
    let front = url_of("front.png")
        .ok_or_else(|| Error::RenderFailed("the renderer produced no front still".into()))?;
    let animation = url_of("turntable.mp4");
    metadata.insert(
        "outputs".into(),
        Value::Array(blobs.iter().map(|(n, b)| blob_json(n, b)).collect()),
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
    .ok_or_else(|| Error::Store("apply_many returned no result for one update".into()))?;
    *current = result?;
    Ok(())
}
