//! The render job state machine: one pure function that applies an event to a job.
//!
//! Every store, the engine and the Node bindings call [`apply_event`], so the lifecycle
//! rules live here and nowhere else. The function reads no clock: the caller passes `now`.
//! Time never runs backwards for a job: a `now` earlier than the job's `updated_at` (a
//! skewed clock on another machine) is treated as `updated_at`.

use chrono::{DateTime, Utc};

use super::model::normalize_time;
use super::{JobStatus, RenderJob};
use crate::error::{Error, Result};

/// Something that happens to a render job.
///
/// Serialised with a `type` tag, e.g. `{"type": "fail", "code": "E_IO", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobEvent {
    /// A worker starts compositing: `pending -> compositing`.
    StartCompositing,
    /// Compositing produced the texture atlas (stays `compositing`).
    Composited {
        /// Where the atlas was stored.
        composited_file_url: String,
    },
    /// A worker starts rendering: `compositing -> rendering`.
    StartRendering,
    /// A rendering job records facts about its outputs: each key of `metadata` is set in
    /// the job's metadata, replacing a key of the same name (stays `rendering`).
    Annotate {
        /// The keys to set (e.g. `outputs`, `preflight`).
        metadata: serde_json::Map<String, serde_json::Value>,
    },
    /// Every output exists: `rendering -> completed`.
    Completed {
        /// The main product image.
        rendered_image_url: String,
        /// The turntable animation, when one was produced.
        #[serde(default)]
        animation_url: Option<String>,
    },
    /// The attempt failed: `pending | compositing | rendering -> failed`.
    Fail {
        /// The stable error code (`E_...`).
        code: String,
        /// What went wrong (must not be empty).
        message: String,
    },
    /// Stop the job: `pending | compositing | rendering -> cancelled`.
    Cancel,
    /// Try a failed job again: `failed -> pending`, counting one more attempt.
    Retry,
}

impl JobEvent {
    /// The event's snake_case name, as in its JSON `type`.
    pub fn name(&self) -> &'static str {
        match self {
            JobEvent::StartCompositing => "start_compositing",
            JobEvent::Composited { .. } => "composited",
            JobEvent::StartRendering => "start_rendering",
            JobEvent::Annotate { .. } => "annotate",
            JobEvent::Completed { .. } => "completed",
            JobEvent::Fail { .. } => "fail",
            JobEvent::Cancel => "cancel",
            JobEvent::Retry => "retry",
        }
    }

    /// The status a job is in after this event succeeds.
    pub fn target_status(&self) -> JobStatus {
        match self {
            JobEvent::StartCompositing | JobEvent::Composited { .. } => JobStatus::Compositing,
            JobEvent::StartRendering | JobEvent::Annotate { .. } => JobStatus::Rendering,
            JobEvent::Completed { .. } => JobStatus::Completed,
            JobEvent::Fail { .. } => JobStatus::Failed,
            JobEvent::Cancel => JobStatus::Cancelled,
            JobEvent::Retry => JobStatus::Pending,
        }
    }
}

/// Whether a job in status `from` may move to status `to`.
///
/// This is the transition table; it answers for status changes only (the `composited`
/// event updates a compositing job without changing its status, and retries also need
/// attempts left, which only [`apply_event`] can see).
///
/// | from | to |
/// |---|---|
/// | pending | compositing, failed, cancelled |
/// | compositing | rendering, failed, cancelled |
/// | rendering | completed, failed, cancelled |
/// | failed | pending (retry) |
/// | completed, cancelled | nothing |
pub fn can_transition(from: JobStatus, to: JobStatus) -> bool {
    use JobStatus::*;
    matches!(
        (from, to),
        (Pending, Compositing)
            | (Compositing, Rendering)
            | (Rendering, Completed)
            | (Pending | Compositing | Rendering, Failed | Cancelled)
            | (Failed, Pending)
    )
}

/// Applies `event` to `job` at time `now` and returns the changed job.
///
/// Refused moves return `E_INVALID_TRANSITION` naming both statuses; an event whose
/// payload is unusable (an empty failure message, an empty URL) returns `E_VALIDATION`.
/// The input job is never modified.
pub fn apply_event(job: &RenderJob, event: &JobEvent, now: DateTime<Utc>) -> Result<RenderJob> {
    let from = job.status;
    let to = event.target_status();
    let refuse = |reason: &str| Error::InvalidTransition {
        from: from.as_str().to_string(),
        to: to.as_str().to_string(),
        reason: reason.to_string(),
    };

    let allowed = match event {
        JobEvent::Composited { .. } => from == JobStatus::Compositing,
        JobEvent::Annotate { .. } => from == JobStatus::Rendering,
        _ => can_transition(from, to),
    };
    if !allowed {
        let reason = match (from, event) {
            (JobStatus::Completed | JobStatus::Cancelled, JobEvent::Retry) => {
                "only failed jobs can be retried"
            }
            _ if from.is_terminal() => "the job has finished and can no longer change",
            (_, JobEvent::Composited { .. }) => "the job is not compositing",
            (_, JobEvent::Annotate { .. }) => "the job is not rendering",
            _ => "this move is not in the lifecycle",
        };
        return Err(refuse(reason));
    }

    let now = normalize_time(now.max(job.updated_at));
    let mut next = job.clone();
    next.status = to;
    next.updated_at = now;

    match event {
        JobEvent::StartCompositing => {
            if next.started_at.is_none() {
                next.started_at = Some(now);
            }
        }
        JobEvent::Composited {
            composited_file_url,
        } => {
            require_text("composited_file_url", composited_file_url)?;
            next.composited_file_url = Some(composited_file_url.clone());
        }
        JobEvent::StartRendering => {}
        JobEvent::Annotate { metadata } => {
            let mut merged = next.metadata.take().unwrap_or_default();
            for (key, value) in metadata {
                merged.insert(key.clone(), value.clone());
            }
            let size = serde_json::to_vec(&merged)
                .map(|v| v.len())
                .unwrap_or(usize::MAX);
            if size > super::MAX_METADATA_BYTES {
                return Err(Error::validation(
                    "metadata",
                    format!(
                        "must be at most {} bytes as JSON (got {size}); keep large data in storage and link to it",
                        super::MAX_METADATA_BYTES
                    ),
                ));
            }
            next.metadata = Some(merged);
        }
        JobEvent::Completed {
            rendered_image_url,
            animation_url,
        } => {
            require_text("rendered_image_url", rendered_image_url)?;
            if let Some(url) = animation_url {
                require_text("animation_url", url)?;
            }
            next.rendered_image_url = Some(rendered_image_url.clone());
            next.animation_url = animation_url.clone();
            next.completed_at = Some(now);
        }
        JobEvent::Fail { code, message } => {
            require_text("message", message)?;
            require_text("code", code)?;
            next.error_code = Some(code.clone());
            next.error_message = Some(message.clone());
            next.completed_at = Some(now);
        }
        JobEvent::Cancel => {
            next.completed_at = Some(now);
        }
        JobEvent::Retry => {
            if job.attempt >= job.max_attempts {
                return Err(refuse(&format!(
                    "all {} attempts are spent",
                    job.max_attempts
                )));
            }
            next.attempt = job.attempt + 1;
            next.composited_file_url = None;
            next.rendered_image_url = None;
            next.animation_url = None;
            next.error_code = None;
            next.error_message = None;
            next.completed_at = None;
        }
    }
    Ok(next)
}

fn require_text(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        Err(Error::validation(field, "must not be empty"))
    } else {
        Ok(())
    }
}

impl RenderJob {
    /// Checks the invariants every job satisfies, naming the first one broken: a
    /// completed job has `completed_at` and a rendered image, a failed one an error
    /// message, `started_at <= completed_at`, `1 <= attempt <= max_attempts`,
    /// `created_at <= updated_at`. For callers that store jobs themselves and want to
    /// catch a corrupted record.
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        check_invariants(self)
    }
}

/// Checks the invariants every job must satisfy, returning the first one broken.
///
/// Stores and tests use it to catch corrupted records: completed implies `completed_at`
/// and a rendered image; failed implies an error message; `started_at <= completed_at`;
/// `1 <= attempt <= max_attempts`; `created_at <= updated_at`.
pub(crate) fn check_invariants(job: &RenderJob) -> std::result::Result<(), String> {
    if job.status == JobStatus::Completed {
        if job.completed_at.is_none() {
            return Err("completed without completed_at".into());
        }
        if job.rendered_image_url.as_deref().is_none_or(str::is_empty) {
            return Err("completed without rendered_image_url".into());
        }
    }
    if job.status == JobStatus::Failed && job.error_message.as_deref().is_none_or(str::is_empty) {
        return Err("failed without error_message".into());
    }
    if job.status.is_terminal() != job.completed_at.is_some() {
        return Err(format!(
            "status {} with completed_at {:?}",
            job.status, job.completed_at
        ));
    }
    if let (Some(started), Some(completed)) = (job.started_at, job.completed_at) {
        if started > completed {
            return Err("started_at after completed_at".into());
        }
    }
    if job.attempt == 0 || job.attempt > job.max_attempts {
        return Err(format!(
            "attempt {} outside 1..={}",
            job.attempt, job.max_attempts
        ));
    }
    if job.created_at > job.updated_at {
        return Err("created_at after updated_at".into());
    }
    Ok(())
}
