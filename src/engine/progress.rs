//! Progress events: what the engine's workers are doing, as a stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use crate::job::{JobId, JobStatus};
use crate::store::{JobProgress, JobStore};

/// How often a worker writes one job's progress to the store at most; a stage change is
/// written at once.
pub(crate) const STORE_PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// The step of the pipeline an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// A worker claimed the job.
    Claimed,
    /// Decoding the design and composing the print file and atlas.
    Compositing,
    /// Rendering the stills and turntable frames.
    Rendering,
    /// Encoding the turntable (MP4, WebP).
    Encoding,
    /// Writing the outputs to storage.
    Storing,
    /// The job completed.
    Completed,
    /// The attempt failed; the job is retried later.
    Retrying,
    /// The job failed for good.
    Failed,
    /// The job was cancelled.
    Cancelled,
    /// The worker gave the job back (shutdown); another worker will pick it up.
    Released,
}

impl Stage {
    /// The stage's name as serialised: `claimed`, `compositing`, `rendering`, `encoding`,
    /// `storing`, `completed`, `retrying`, `failed`, `cancelled` or `released`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Claimed => "claimed",
            Stage::Compositing => "compositing",
            Stage::Rendering => "rendering",
            Stage::Encoding => "encoding",
            Stage::Storing => "storing",
            Stage::Completed => "completed",
            Stage::Retrying => "retrying",
            Stage::Failed => "failed",
            Stage::Cancelled => "cancelled",
            Stage::Released => "released",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of progress of one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressEvent {
    /// The job.
    pub job_id: JobId,
    /// The attempt (1-based) the event belongs to.
    pub attempt: u32,
    /// The job's status when the event was sent.
    pub status: JobStatus,
    /// The pipeline step.
    pub stage: Stage,
    /// How far the attempt is, 0 to 100; never goes down within an attempt.
    pub percent: u8,
    /// A short human message ("rendering frame 12 of 24").
    pub message: String,
    /// The estimated time left, once some progress has been made.
    pub eta: Option<Duration>,
}

/// Sends progress events, keeping each attempt's percentage monotonic.
#[derive(Debug)]
pub(crate) struct ProgressHub {
    sender: broadcast::Sender<ProgressEvent>,
    state: Mutex<HashMap<(JobId, u32), (u8, Instant)>>,
}

impl ProgressHub {
    pub(crate) fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        Self {
            sender,
            state: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<ProgressEvent> {
        self.sender.subscribe()
    }

    /// Sends an event; `percent` is raised to the attempt's last one if lower. Terminal
    /// stages forget the attempt.
    pub(crate) fn send(
        &self,
        job_id: &JobId,
        attempt: u32,
        status: JobStatus,
        stage: Stage,
        percent: u8,
        message: impl Into<String>,
    ) {
        let key = (job_id.clone(), attempt);
        // The lock is held while sending, so that events from several threads (the
        // renderer reports from its worker threads) leave in the order of their percent.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let entry = state.entry(key.clone()).or_insert((0, Instant::now()));
        entry.0 = entry.0.max(percent.min(100));
        let percent = entry.0;
        let elapsed = entry.1.elapsed();
        let eta = (percent > 0 && percent < 100)
            .then(|| elapsed.mul_f64(f64::from(100 - percent) / f64::from(percent)));
        if stage.ends_attempt() {
            state.remove(&key);
        }
        // No receiver is not an error: nobody is watching.
        let _ = self.sender.send(ProgressEvent {
            job_id: job_id.clone(),
            attempt,
            status,
            stage,
            percent,
            message: message.into(),
            eta,
        });
    }
}

impl Stage {
    /// Whether the stage ends the attempt (after it, the job is not running).
    fn ends_attempt(self) -> bool {
        matches!(
            self,
            Stage::Completed | Stage::Failed | Stage::Cancelled | Stage::Retrying | Stage::Released
        )
    }
}

/// Whether a progress event should be written, given when (and at which stage) the job's
/// attempt was last written.
fn worth_writing(
    last: Option<&(u32, Stage, Instant)>,
    event: &ProgressEvent,
    every: Duration,
) -> bool {
    match last {
        None => true,
        Some((attempt, stage, at)) => {
            *attempt != event.attempt || *stage != event.stage || at.elapsed() >= every
        }
    }
}

/// Writes the progress events of this process's worker (`worker`, the lease owner) to the
/// store, so that other processes see them: each job's attempt at most once per `every`,
/// plus every stage change. Never in the middle of a store call when `quit` is set.
pub(crate) async fn record_in_store(
    store: Arc<dyn JobStore>,
    worker: String,
    mut events: broadcast::Receiver<ProgressEvent>,
    mut quit: watch::Receiver<bool>,
    every: Duration,
) {
    let mut last: HashMap<JobId, (u32, Stage, Instant)> = HashMap::new();
    loop {
        let event = tokio::select! {
            received = events.recv() => match received {
                Ok(event) => event,
                // Skipped events only mean fewer writes; the next one is written.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = quit.wait_for(|q| *q) => return,
        };
        if event.stage.ends_attempt() {
            // The state change that ends the attempt clears the stored progress.
            last.remove(&event.job_id);
            continue;
        }
        if !worth_writing(last.get(&event.job_id), &event, every) {
            continue;
        }
        let progress = JobProgress {
            attempt: event.attempt,
            stage: event.stage.as_str().to_string(),
            percent: event.percent,
            message: event.message.clone(),
            // Tenths of a second; an estimate of nothing left mid-attempt (made in the
            // first instant of an attempt) is no estimate.
            eta_seconds: event
                .eta
                .map(|d| (d.as_secs_f64() * 10.0).round() / 10.0)
                .filter(|s| *s > 0.0),
            updated_at: crate::job::normalize_time(chrono::Utc::now()),
        };
        // A failed write (store hiccup, lease moved on) is not the job's failure: the
        // next event tries again.
        if store
            .record_progress(&event.job_id, &worker, &progress)
            .await
            .is_ok()
        {
            last.insert(event.job_id, (event.attempt, event.stage, Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_names_are_their_serialised_form() {
        for stage in [
            Stage::Claimed,
            Stage::Compositing,
            Stage::Rendering,
            Stage::Encoding,
            Stage::Storing,
            Stage::Completed,
            Stage::Retrying,
            Stage::Failed,
            Stage::Cancelled,
            Stage::Released,
        ] {
            assert_eq!(
                serde_json::to_string(&stage).unwrap(),
                format!("\"{}\"", stage.as_str())
            );
        }
    }

    #[test]
    fn percent_never_goes_down_within_an_attempt() {
        let hub = ProgressHub::new(16);
        let mut rx = hub.subscribe();
        let id = JobId::generate();
        hub.send(&id, 1, JobStatus::Compositing, Stage::Compositing, 20, "a");
        hub.send(&id, 1, JobStatus::Rendering, Stage::Rendering, 10, "b");
        hub.send(&id, 1, JobStatus::Failed, Stage::Retrying, 30, "c");
        hub.send(&id, 2, JobStatus::Compositing, Stage::Compositing, 5, "d");
        let got: Vec<u8> = (0..4).map(|_| rx.try_recv().unwrap().percent).collect();
        assert_eq!(got, vec![20, 20, 30, 5]);
    }

    #[test]
    fn events_from_several_threads_arrive_in_order() {
        let hub = ProgressHub::new(1024);
        let mut rx = hub.subscribe();
        let id = JobId::generate();
        std::thread::scope(|scope| {
            for t in 0..4u8 {
                let (hub, id) = (&hub, &id);
                scope.spawn(move || {
                    for i in 0..50u8 {
                        let p = (i * 2 + t % 2).min(100);
                        hub.send(id, 1, JobStatus::Rendering, Stage::Rendering, p, "r");
                    }
                });
            }
        });
        let mut last = 0;
        while let Ok(e) = rx.try_recv() {
            assert!(e.percent >= last, "{last} -> {}", e.percent);
            last = e.percent;
        }
        assert_eq!(last, 99);
    }
}
