//! The worker loop: claim jobs, heartbeat while an attempt runs, record how it ended.
//!
//! What one attempt does (design, reuse, compose, render, store, complete) is in
//! `attempt.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::attempt;
use super::progress::{self, Stage};
use super::{Inner, ShutdownReport};
use crate::blobs::BlobKey;
use crate::cancel::CancelToken;
use crate::error::Error;
use crate::job::{JobEvent, JobId, JobStatus};
use crate::store::{JobUpdate, StoredJob};

/// How long a stopped job waits for its compose or render to notice the cancel token
/// before the worker records the outcome anyway.
const STOP_GRACE: Duration = Duration::from_secs(30);

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
    // Progress goes to the store too, for readers in other processes.
    let (quit_recorder, recorder_quit) = watch::channel(false);
    let recorder = tokio::spawn(progress::record_in_store(
        inner.store.clone(),
        cfg.worker_name.clone(),
        inner.progress.subscribe(),
        recorder_quit,
        progress::STORE_PROGRESS_EVERY,
    ));
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
    let _ = quit_recorder.send(true);
    let _ = recorder.await;
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

    // A worker that died during an earlier attempt may have left outputs behind, and a
    // failed attempt keeps the outputs of the stages it finished: this attempt writes
    // its own, so the earlier attempts' go (one listing, then deletes).
    if attempt > 1 {
        remove_earlier_outputs(&inner, &current).await;
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

    // Keys of a stage this attempt began to write and did not finish.
    let mut written: Vec<BlobKey> = Vec::new();
    let ended = {
        let work = attempt::run(&inner, &mut current, &mut written, &cancel, &busy);
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
    for key in &written {
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

/// Deletes what earlier attempts of `job` left under `jobs/{id}/` (best effort: a
/// leftover costs space, not correctness, since nothing refers to it).
async fn remove_earlier_outputs(inner: &Inner, job: &StoredJob) {
    let (Ok(all), Ok(own)) = (
        BlobKey::parse(format!("jobs/{}", job.id())),
        attempt::attempt_outputs_key(job),
    ) else {
        return;
    };
    let Ok(keys) = inner.blobs.list(Some(&all)).await else {
        return;
    };
    let own = format!("{own}/");
    for key in keys.iter().filter(|k| !k.as_str().starts_with(&own)) {
        let _ = inner.blobs.delete(key).await;
    }
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
